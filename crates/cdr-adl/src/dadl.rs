//! dADL, the data syntax of ADL: nested `< >` objects with named attributes, keyed maps
//! (`["k"] = < >`), and primitive values (strings, numbers, booleans, dates and durations,
//! intervals, term codes, URIs), alone or in lists. One generic value type serves the
//! `language`, `description` and `ontology` sections and the domain types of cADL.

use crate::model::{Interval, Pos};

/// A dADL object: the content of one `< >` block.
#[derive(Debug, Clone, PartialEq)]
pub enum Dadl {
    /// `<>`
    Empty,
    /// `< name = <…> name = <…> >`
    Attrs(Vec<(String, Dadl)>),
    /// `< ["k"] = <…> ["k"] = <…> >`
    Keyed(Vec<DadlEntry>),
    /// `<v>`, `<v1, v2>`, or `<v, ...>` (a list of one: `list` is set).
    Values {
        /// The values.
        items: Vec<DadlPrim>,
        /// Whether one value was written as a list (`<v, ...>`).
        list: bool,
    },
}

/// One entry of a keyed map.
#[derive(Debug, Clone, PartialEq)]
pub struct DadlEntry {
    /// The key (a string or an integer).
    pub key: DadlPrim,
    /// The object.
    pub value: Dadl,
    /// Where the entry starts.
    pub pos: Pos,
}

/// A primitive dADL value.
#[derive(Debug, Clone, PartialEq)]
pub enum DadlPrim {
    /// `"text"` (unescaped).
    String(String),
    /// `'c'` (as written between the quotes).
    Character(String),
    /// `42`
    Integer(i64),
    /// `4.2`
    Real(f64),
    /// `True`
    Boolean(bool),
    /// `2020-01-31`
    Date(String),
    /// `12:30:00`
    Time(String),
    /// `2020-01-31T12:30:00`
    DateTime(String),
    /// `P1DT2H`
    Duration(String),
    /// `|a..b|`
    Interval(Box<Interval<DadlPrim>>),
    /// `[terminology::code]`
    TermCode(TermCode),
    /// `terminology:SNOMED-CT?subset=x`
    Uri(String),
}

impl PartialOrd for DadlPrim {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        use DadlPrim::*;
        match (self, other) {
            (Integer(a), Integer(b)) => a.partial_cmp(b),
            (Real(a), Real(b)) => a.partial_cmp(b),
            (Integer(a), Real(b)) => (*a as f64).partial_cmp(b),
            (Real(a), Integer(b)) => a.partial_cmp(&(*b as f64)),
            (String(a), String(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

/// A coded term: `[terminology::code]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TermCode {
    /// The terminology id.
    pub terminology: String,
    /// The code (may be empty: `[openEHR::]`).
    pub code: String,
}

impl std::fmt::Display for TermCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}::{}]", self.terminology, self.code)
    }
}

impl Dadl {
    /// The attribute `name` of an object with attributes.
    pub fn attr(&self, name: &str) -> Option<&Dadl> {
        match self {
            Dadl::Attrs(a) => a.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The single value of `<v>`.
    pub fn single(&self) -> Option<&DadlPrim> {
        match self {
            Dadl::Values { items, list: false } if items.len() == 1 => items.first(),
            _ => None,
        }
    }

    /// The single string of `<"v">`.
    pub fn as_str(&self) -> Option<&str> {
        match self.single()? {
            DadlPrim::String(s) => Some(s),
            _ => None,
        }
    }

    /// The single term code of `<[t::c]>`.
    pub fn as_term_code(&self) -> Option<&TermCode> {
        match self.single()? {
            DadlPrim::TermCode(t) => Some(t),
            _ => None,
        }
    }

    /// The entry with the string key `key` of a keyed map.
    pub fn entry(&self, key: &str) -> Option<&Dadl> {
        match self {
            Dadl::Keyed(e) => e
                .iter()
                .find(|e| matches!(&e.key, DadlPrim::String(k) if k == key))
                .map(|e| &e.value),
            _ => None,
        }
    }
}

impl DadlPrim {
    /// The key as text: a string's content, or an integer's digits.
    pub fn key_text(&self) -> Option<String> {
        match self {
            DadlPrim::String(s) => Some(s.clone()),
            DadlPrim::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    }
}
