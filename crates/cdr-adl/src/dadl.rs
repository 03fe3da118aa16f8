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

/// Reads dADL by hand: blanks, comments, `< >` blocks, `name = `, `["key"] = `, strings and
/// term codes. The other primitive values (numbers, booleans, dates and durations,
/// intervals, URIs) are handed to `value`, which reads them with the ADL grammar, so that
/// dADL and cADL read them alike. dADL makes up most of an archetype's text (descriptions
/// and term definitions in every language); pest spends most of its time on the
/// bookkeeping of each combinator (stack and call limits), which a byte scanner does not
/// need.
pub(crate) struct Reader<'t, 'v> {
    /// The whole text (positions are offsets into it).
    pub text: &'t str,
    /// Where reading continues.
    pub pos: usize,
    /// Names the text in errors.
    pub source: &'t str,
    /// Reads the primitive value in `text[start..end]`.
    pub value: &'v dyn Fn(usize, usize) -> Result<DadlPrim, ParseError>,
    /// How many blocks are open.
    depth: usize,
}

use crate::error::ParseError;

type Read<T> = Result<T, ParseError>;

impl<'t, 'v> Reader<'t, 'v> {
    pub fn new(
        text: &'t str,
        pos: usize,
        source: &'t str,
        value: &'v dyn Fn(usize, usize) -> Result<DadlPrim, ParseError>,
    ) -> Self {
        Reader {
            text,
            pos,
            source,
            value,
            depth: 0,
        }
    }

    pub fn err(&self, offset: usize, message: impl Into<String>) -> ParseError {
        ParseError::new(self.source, self.text, offset, message.into())
    }

    fn expected(&self, what: &str) -> ParseError {
        let rest = &self.text[self.pos..];
        let word: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace())
            .take(24)
            .collect();
        let found = if rest.is_empty() {
            "end of input".to_owned()
        } else {
            format!("`{word}`")
        };
        self.err(self.pos, format!("expected {what}, found {found}"))
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips blanks (a byte-order mark too) and `--` comments.
    pub fn skip(&mut self) {
        let bytes = self.text.as_bytes();
        loop {
            match bytes.get(self.pos) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(0xEF) if bytes[self.pos..].starts_with(&[0xEF, 0xBB, 0xBF]) => self.pos += 3,
                Some(b'-') if bytes.get(self.pos + 1) == Some(&b'-') => {
                    self.pos = bytes[self.pos..]
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(bytes.len(), |i| self.pos + i);
                }
                _ => return,
            }
        }
    }

    /// The end of the identifier at `at`, if one starts there.
    fn ident_end(&self, at: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        let first = *bytes.get(at)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let len = bytes[at..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .unwrap_or(bytes.len() - at);
        Some(at + len)
    }

    /// After blanks, the keyword `kw` (any case, not followed by a name character): consumed.
    pub fn keyword(&mut self, kw: &str) -> bool {
        self.skip();
        match self.ident_end(self.pos) {
            Some(end) if self.text[self.pos..end].eq_ignore_ascii_case(kw) => {
                self.pos = end;
                true
            }
            _ => false,
        }
    }

    /// The keyword `kw`, or an error naming it.
    pub fn expect_keyword(&mut self, kw: &str) -> Read<()> {
        if self.keyword(kw) {
            Ok(())
        } else {
            Err(self.expected(&format!("`{kw}`")))
        }
    }

    /// The end of the text, after blanks, or an error.
    pub fn expect_end(&mut self) -> Read<()> {
        self.skip();
        if self.pos < self.text.len() {
            Err(self.expected("end of input"))
        } else {
            Ok(())
        }
    }

    /// `name = <…>` attributes, as many as follow (a section's body); each with where its
    /// name starts.
    pub fn attrs(&mut self) -> Read<Vec<(String, Dadl, Pos)>> {
        let mut out = Vec::new();
        loop {
            self.skip();
            let start = self.pos;
            let Some(end) = self.ident_end(start) else {
                break;
            };
            self.pos = end;
            self.skip();
            if self.peek() != Some(b'=') {
                self.pos = start;
                break;
            }
            self.pos += 1;
            let value = self.block()?;
            out.push((self.text[start..end].to_owned(), value, Pos(start)));
        }
        Ok(out)
    }

    /// One `< … >` block.
    pub fn block(&mut self) -> Read<Dadl> {
        self.skip();
        if self.peek() != Some(b'<') {
            return Err(self.expected("`<`"));
        }
        self.depth += 1;
        if self.depth > crate::parser::MAX_NESTING {
            return Err(self.err(
                self.pos,
                format!(
                    "blocks nested deeper than {} levels",
                    crate::parser::MAX_NESTING
                ),
            ));
        }
        self.pos += 1;
        self.skip();
        let bytes = self.text.as_bytes();
        let value = match self.peek() {
            Some(b'>') => Dadl::Empty,
            Some(b'[') if self.keyed_ahead() => {
                let mut entries = Vec::new();
                while self.peek() == Some(b'[') {
                    let start = self.pos;
                    self.pos += 1;
                    self.skip();
                    let key = match self.peek() {
                        Some(b'"') => DadlPrim::String(self.string()?),
                        _ => self.other_value()?,
                    };
                    self.skip();
                    self.expect_byte(b']')?;
                    self.skip();
                    self.expect_byte(b'=')?;
                    let value = self.block()?;
                    entries.push(DadlEntry {
                        key,
                        value,
                        pos: Pos(start),
                    });
                    self.skip();
                }
                Dadl::Keyed(entries)
            }
            Some(c) if (c.is_ascii_alphabetic() || c == b'_') && self.attr_ahead() => {
                let attrs = self.attrs()?;
                Dadl::Attrs(attrs.into_iter().map(|(k, v, _)| (k, v)).collect())
            }
            Some(_) => {
                let mut items = Vec::new();
                let mut list = false;
                loop {
                    items.push(self.value()?);
                    self.skip();
                    if self.peek() != Some(b',') {
                        break;
                    }
                    self.pos += 1;
                    self.skip();
                    if bytes[self.pos..].starts_with(b"...") {
                        self.pos += 3;
                        list = true;
                        break;
                    }
                }
                Dadl::Values { items, list }
            }
            None => return Err(self.expected("`>`")),
        };
        self.skip();
        self.expect_byte(b'>')?;
        self.depth -= 1;
        Ok(value)
    }

    fn expect_byte(&mut self, b: u8) -> Read<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(&format!("`{}`", b as char)))
        }
    }

    /// Whether the `[` here opens a keyed entry (`["k"] =`, `[1] =`) rather than a term code.
    fn keyed_ahead(&self) -> bool {
        let rest = &self.text.as_bytes()[self.pos + 1..];
        let i = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        matches!(rest.get(i), Some(b'"' | b'0'..=b'9' | b'-'))
    }

    /// Whether an identifier here is followed by `=`.
    fn attr_ahead(&self) -> bool {
        let Some(end) = self.ident_end(self.pos) else {
            return false;
        };
        let rest = &self.text.as_bytes()[end..];
        rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'=')
    }

    fn value(&mut self) -> Read<DadlPrim> {
        match self.peek() {
            Some(b'"') => Ok(DadlPrim::String(self.string()?)),
            Some(b'[') => self.term_code(),
            _ => self.other_value(),
        }
    }

    /// `"…"`, unescaped.
    fn string(&mut self) -> Read<String> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut i = self.pos + 1;
        loop {
            match bytes[i..].iter().position(|&b| b == b'"' || b == b'\\') {
                None => return Err(self.err(start, "unterminated string")),
                Some(k) if bytes[i + k] == b'\\' => i += k + 2,
                Some(k) => {
                    i += k;
                    break;
                }
            }
            if i > bytes.len() {
                return Err(self.err(start, "unterminated string"));
            }
        }
        self.pos = i + 1;
        Ok(crate::parser::unescape(&self.text[start + 1..i]))
    }

    /// `[terminology::code]`
    fn term_code(&mut self) -> Read<DadlPrim> {
        let start = self.pos;
        let Some(close) = self.text[start..].find(']') else {
            return Err(self.err(start, "expected a term code `[terminology::code]`"));
        };
        let inner = &self.text[start + 1..start + close];
        let Some((terminology, code)) = inner.split_once("::") else {
            return Err(self.err(start, "expected a term code `[terminology::code]`"));
        };
        let (terminology, code) = (terminology.trim(), code.trim());
        let terminology_ok = !terminology.is_empty()
            && terminology
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.()".contains(&b));
        if !terminology_ok || code.contains(|c: char| c.is_whitespace() || c == ',' || c == ';') {
            return Err(self.err(start, format!("`[{inner}]` is not a term code")));
        }
        self.pos = start + close + 1;
        Ok(DadlPrim::TermCode(TermCode {
            terminology: terminology.to_owned(),
            code: code.to_owned(),
        }))
    }

    /// Any other value: up to the next `,`, `>`, `]` or blank (an interval to its closing
    /// `|`), read by `value`.
    fn other_value(&mut self) -> Read<DadlPrim> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let end = if bytes.get(start) == Some(&b'|') {
            match bytes[start + 1..].iter().position(|&b| b == b'|') {
                Some(k) => start + 1 + k + 1,
                None => return Err(self.err(start, "unterminated interval")),
            }
        } else {
            start
                + bytes[start..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'>' | b']' | b' ' | b'\t' | b'\r' | b'\n'))
                    .unwrap_or(bytes.len() - start)
        };
        if end == start {
            return Err(self.expected("a value"));
        }
        let v = (self.value)(start, end)?;
        self.pos = end;
        Ok(v)
    }
}
