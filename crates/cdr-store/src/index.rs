//! Query index rows of a stored version: one [`NodeRow`] per archetype root (nested-set
//! numbered, with where its subtree sits in the document) and one [`LeafRow`] per ELEMENT value
//! (typed columns for `WHERE` and `ORDER BY`).
//!
//! The rows are derived by one walk over the RM tree through reflection
//! ([`cdr_rm::meta::RmObject`]), building AQL paths in a single reusable buffer. The walk never
//! panics: unknown shapes are skipped, unparsable values give `None` columns.
//!
//! Path rules: every attribute step is `/attr`; a LOCATABLE adds the predicate
//! `[archetype_node_id]`; list indices never appear. Node paths run from the version's root
//! object (the root itself is `/`); leaf paths run from the nearest enclosing node row.

use cdr_rm::meta::{conforms_to, Attr, RmObject, Value};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

/// Objects nested deeper than this (counted in RM objects from the root) are not walked. Decoded
/// documents are far shallower (the decoders bound nesting to 128); the bound only keeps a
/// hand-built pathological tree from exhausting the stack.
const MAX_DEPTH: usize = 512;

/// One archetype-rooted LOCATABLE of a version (COMPOSITION, SECTION, ENTRY, archetyped
/// CLUSTER, FOLDER, EHR_STATUS …).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    /// Pre-order number among the node rows of the version; the root is 0.
    pub num: i32,
    /// Largest `num` in this node's subtree: descendants have `num` in `(num, num_cap]`.
    pub num_cap: i32,
    /// `num` of the enclosing node row; `None` for the root.
    pub parent: Option<i32>,
    /// Runtime RM type (`OBSERVATION`, …).
    pub rm_type: &'static str,
    /// The node's `archetype_node_id`, e.g. `openEHR-EHR-OBSERVATION.blood_pressure.v2` (empty
    /// when the root has none).
    pub archetype_id: String,
    /// `name/value`.
    pub name: Option<String>,
    /// AQL path from the version's root object to this node, e.g.
    /// `/content[openEHR-EHR-SECTION.a.v1]/items[openEHR-EHR-OBSERVATION.b.v1]`; `/` for the root.
    pub path: String,
    /// Where the node's canonical JSON sits in the version's document, as the keys of a JSON
    /// pointer (attribute names, and list positions in decimal); empty for the root. AQL reads
    /// a node's subtree from the document through it (`document #> pointer`).
    pub pointer: Vec<String>,
    /// The lists in the node's own part of the tree (outside nested node rows) that hold two
    /// LOCATABLEs with the same `archetype_node_id`, each as its path relative to the node
    /// ending with that step (`/data[at0001]/events[at0002]`). A path whose steps all name a
    /// node id and pass through none of these reaches at most one object, so AQL may read a
    /// selected value from the node's leaf rows alone (one row: the value, or null).
    pub repeats: Vec<String>,
}

/// One typed ELEMENT value, for `WHERE` and `ORDER BY`.
#[derive(Debug, Clone, PartialEq)]
pub struct LeafRow {
    /// `num` of the nearest enclosing node row.
    pub num: i32,
    /// Archetype id of that node row.
    pub archetype_id: String,
    /// AQL path relative to that node, e.g.
    /// `/data[at0001]/events[at0006]/data[at0003]/items[at0004]/value`.
    pub path: String,
    /// Runtime RM type of the value (`DV_QUANTITY`, …).
    pub rm_type: &'static str,
    /// Numeric value: magnitude, ordinal value, ratio, duration in seconds, boolean as 1/0.
    pub v_num: Option<f64>,
    /// Instant of a DV_DATE_TIME or DV_DATE (see [`parse_instant`]).
    pub v_ts: Option<DateTime<Utc>>,
    /// Code: `defining_code/code_string` of coded text, the symbol code of an ordinal or scale,
    /// the state code of a DV_STATE.
    pub v_code: Option<String>,
    /// Text: the value string, units of a quantity, symbol text of an ordinal or scale, …
    pub v_text: Option<String>,
}

/// The index rows of one version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRows {
    /// Node rows in pre-order (`nodes[i].num == i`).
    pub nodes: Vec<NodeRow>,
    /// Leaf rows in document order.
    pub leaves: Vec<LeafRow>,
}

/// Derives the index rows of a version whose root object (COMPOSITION, EHR_STATUS, FOLDER …) is
/// `root`.
///
/// The root always gets node row 0. Below it, every LOCATABLE whose `archetype_node_id` is an
/// archetype id gets a node row; every DATA_VALUE reached gets a leaf row, except the `name` of
/// a LOCATABLE. The walk does not enter data values, `links` or FEEDER_AUDIT.
pub fn derive(root: &dyn RmObject) -> IndexRows {
    let anid = root.archetype_node_id();
    let mut w = Walker {
        nodes: Vec::with_capacity(8),
        leaves: Vec::with_capacity(32),
        path: String::with_capacity(256),
        pointer: String::with_capacity(64),
        cur: 0,
        base: 0,
    };
    w.nodes.push(NodeRow {
        num: 0,
        num_cap: 0,
        parent: None,
        rm_type: root.rm_type(),
        archetype_id: anid.unwrap_or_default().to_owned(),
        name: root.name_value().map(str::to_owned),
        path: "/".to_owned(),
        pointer: Vec::new(),
        repeats: Vec::new(),
    });
    w.walk_attrs(root, anid.is_some(), 0);
    w.close_node(0);
    IndexRows {
        nodes: w.nodes,
        leaves: w.leaves,
    }
}

/// The `archetype_node_id`s that two or more LOCATABLEs of a list share, once each.
fn repeated_node_ids(list: &dyn cdr_rm::meta::RmList) -> Vec<&str> {
    let ids: Vec<&str> = (0..list.len())
        .filter_map(|i| list.get(i).as_object()?.archetype_node_id())
        .collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) && !out.contains(id) {
            out.push(id);
        }
    }
    out
}

/// The walk state: rows so far, the path buffer and the enclosing node row.
struct Walker {
    nodes: Vec<NodeRow>,
    leaves: Vec<LeafRow>,
    /// Absolute path of the current position (without the root's `/`).
    path: String,
    /// JSON pointer of the current position, each key preceded by a `,`.
    pointer: String,
    /// Index in `nodes` of the nearest enclosing node row.
    cur: usize,
    /// Offset in `path` where paths relative to `cur` begin.
    base: usize,
}

impl Walker {
    /// Visits the attributes of `obj`.
    fn walk_attrs(&mut self, obj: &dyn RmObject, locatable: bool, depth: usize) {
        if depth >= MAX_DEPTH {
            return;
        }
        for (i, info) in obj.attr_infos().iter().enumerate() {
            if is_primitive(info.declared)
                || (locatable
                    && matches!(
                        info.name,
                        "name" | "links" | "feeder_audit" | "uid" | "archetype_details"
                    ))
            {
                continue;
            }
            match obj.attr_at(i) {
                Attr::Absent => {}
                Attr::One(v) => self.visit(info.name, None, v, depth),
                Attr::Many(list) => {
                    for id in repeated_node_ids(list) {
                        let rel = self.path.get(self.base..).unwrap_or_default();
                        let step = format!("{rel}/{}[{id}]", info.name);
                        match self.nodes.get_mut(self.cur) {
                            Some(n) if !n.repeats.contains(&step) => n.repeats.push(step),
                            _ => {}
                        }
                    }
                    for j in 0..list.len() {
                        self.visit(info.name, Some(j), list.get(j), depth);
                    }
                }
            }
        }
    }

    /// Visits one value of attribute `attr` (at position `at` of its list).
    fn visit(&mut self, attr: &str, at: Option<usize>, v: Value<'_>, depth: usize) {
        let Value::Object(o) = v else { return };
        let t = o.rm_type();
        if holds_no_index_data(t) {
            return;
        }
        let mark = self.path.len();
        let pointer_mark = self.pointer.len();
        self.pointer.push(',');
        self.pointer.push_str(attr);
        if let Some(j) = at {
            use std::fmt::Write as _;
            let _ = write!(self.pointer, ",{j}");
        }
        self.path.push('/');
        self.path.push_str(attr);
        if is_data_value(t) {
            // Only an ELEMENT's value is what AQL compares and selects through leaf rows (see
            // `leaf_path_ids` in aql/compile.rs); data values of RM attributes (event times,
            // category, setting, …) are read from the document.
            if attr == "value" {
                self.leaf(o, t);
            }
        } else {
            let anid = o.archetype_node_id();
            if let Some(id) = anid.filter(|id| !id.is_empty()) {
                self.path.push('[');
                self.path.push_str(id);
                self.path.push(']');
            }
            match anid.filter(|id| is_archetype_id(id)) {
                Some(id) => self.node(o, id, depth),
                None => self.walk_attrs(o, anid.is_some(), depth + 1),
            }
        }
        self.path.truncate(mark);
        self.pointer.truncate(pointer_mark);
    }

    /// Opens a node row for `o` (the path buffer already ends with its step), walks it and
    /// closes it.
    fn node(&mut self, o: &dyn RmObject, id: &str, depth: usize) {
        let idx = self.nodes.len();
        let num = to_num(idx);
        self.nodes.push(NodeRow {
            num,
            num_cap: num,
            parent: Some(to_num(self.cur)),
            rm_type: o.rm_type(),
            archetype_id: id.to_owned(),
            name: o.name_value().map(str::to_owned),
            path: self.path.clone(),
            pointer: self.pointer.split(',').skip(1).map(str::to_owned).collect(),
            repeats: Vec::new(),
        });
        let (cur, base) = (self.cur, self.base);
        self.cur = idx;
        self.base = self.path.len();
        self.walk_attrs(o, true, depth + 1);
        self.close_node(idx);
        self.cur = cur;
        self.base = base;
    }

    /// Sets `num_cap` of node `idx` to the last number given out so far.
    fn close_node(&mut self, idx: usize) {
        let cap = to_num(self.nodes.len().saturating_sub(1));
        if let Some(n) = self.nodes.get_mut(idx) {
            n.num_cap = cap;
        }
    }

    /// Emits the leaf row of data value `o` of type `t`.
    fn leaf(&mut self, o: &dyn RmObject, t: &'static str) {
        let (num, archetype_id) = match self.nodes.get(self.cur) {
            Some(n) => (n.num, n.archetype_id.clone()),
            None => (0, String::new()),
        };
        let mut row = LeafRow {
            num,
            archetype_id,
            path: self.path.get(self.base..).unwrap_or_default().to_owned(),
            rm_type: t,
            v_num: None,
            v_ts: None,
            v_code: None,
            v_text: None,
        };
        fill_values(&mut row, o, t);
        self.leaves.push(row);
    }
}

/// Fills the typed columns of a leaf row from data value `o` of type `t`.
fn fill_values(row: &mut LeafRow, o: &dyn RmObject, t: &str) {
    match t {
        "DV_QUANTITY" => {
            row.v_num = num_attr(o, "magnitude");
            row.v_text = owned(str_attr(o, "units"));
        }
        "DV_COUNT" => row.v_num = num_attr(o, "magnitude"),
        "DV_PROPORTION" => {
            row.v_num = match (num_attr(o, "numerator"), num_attr(o, "denominator")) {
                (Some(n), Some(d)) if d != 0.0 => finite(n / d),
                _ => None,
            };
        }
        "DV_ORDINAL" | "DV_SCALE" => {
            row.v_num = num_attr(o, "value");
            let symbol = obj_attr(o, "symbol");
            row.v_code = owned(symbol.and_then(code_of));
            row.v_text = owned(symbol.and_then(|s| str_attr(s, "value")));
        }
        "DV_DURATION" => {
            let value = str_attr(o, "value");
            row.v_num = value.and_then(duration_seconds);
            row.v_text = owned(value);
        }
        "DV_BOOLEAN" => {
            if let Some(Value::Bool(b)) = o.attr("value").one() {
                row.v_num = Some(if b { 1.0 } else { 0.0 });
                row.v_text = Some(if b { "true" } else { "false" }.to_owned());
            }
        }
        "DV_DATE_TIME" | "DV_DATE" => {
            let value = str_attr(o, "value");
            row.v_ts = value.and_then(parse_instant);
            row.v_text = owned(value);
        }
        "DV_CODED_TEXT" => {
            row.v_code = owned(code_of(o));
            row.v_text = owned(str_attr(o, "value"));
        }
        "DV_TIME" | "DV_TEXT" | "DV_URI" | "DV_EHR_URI" | "DV_PARSABLE" => {
            row.v_text = owned(str_attr(o, "value"));
        }
        "DV_IDENTIFIER" => row.v_text = owned(str_attr(o, "id")),
        "DV_STATE" => {
            let value = obj_attr(o, "value");
            row.v_code = owned(value.and_then(code_of));
            row.v_text = owned(value.and_then(|v| str_attr(v, "value")));
        }
        "DV_MULTIMEDIA" => {
            row.v_text = owned(obj_attr(o, "uri").and_then(|u| str_attr(u, "value")));
        }
        _ => {}
    }
}

/// Converts a row index into a row number (saturating; a version never has 2^31 nodes).
fn to_num(idx: usize) -> i32 {
    i32::try_from(idx).unwrap_or(i32::MAX)
}

fn owned(s: Option<&str>) -> Option<String> {
    s.map(str::to_owned)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A string attribute.
fn str_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a str> {
    o.attr(name).one()?.as_str()
}

/// An object attribute.
fn obj_attr<'a>(o: &'a dyn RmObject, name: &str) -> Option<&'a dyn RmObject> {
    o.attr(name).one()?.as_object()
}

/// A numeric (Real or Integer) attribute, when finite.
fn num_attr(o: &dyn RmObject, name: &str) -> Option<f64> {
    match o.attr(name).one()? {
        Value::Real(x) => finite(x),
        Value::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// `defining_code/code_string` of a coded text.
fn code_of(o: &dyn RmObject) -> Option<&str> {
    str_attr(obj_attr(o, "defining_code")?, "code_string")
}

/// Whether a declared attribute type is a primitive (never an object).
fn is_primitive(declared: &str) -> bool {
    matches!(declared, "String" | "Integer" | "Real" | "Boolean")
}

/// Whether the walk may skip an object of type `t`: FEEDER_AUDIT and LINK are excluded by rule;
/// the others are RM types that can hold neither a data value nor a LOCATABLE.
fn holds_no_index_data(t: &str) -> bool {
    matches!(
        t,
        "FEEDER_AUDIT"
            | "LINK"
            | "CODE_PHRASE"
            | "TERMINOLOGY_ID"
            | "ARCHETYPED"
            | "ARCHETYPE_ID"
            | "TEMPLATE_ID"
            | "HIER_OBJECT_ID"
            | "OBJECT_VERSION_ID"
            | "GENERIC_ID"
            | "OBJECT_REF"
            | "PARTY_REF"
            | "LOCATABLE_REF"
            | "ACCESS_GROUP_REF"
            | "PARTY_SELF"
    )
}

/// Whether RM type `t` is a DATA_VALUE.
fn is_data_value(t: &str) -> bool {
    t.starts_with("DV_") && conforms_to(t, "DATA_VALUE")
}

/// Whether `s` is an archetype id, i.e. matches
/// `^[A-Za-z][A-Za-z0-9_]*-[A-Za-z0-9_]+-[A-Za-z0-9_]+\.[^.]+\.v[0-9]`.
fn is_archetype_id(s: &str) -> bool {
    fn word(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_'
    }
    let b = s.as_bytes();
    let mut c = Cursor { b, i: 0 };
    if !c.peek().is_some_and(|x| x.is_ascii_alphabetic()) {
        return false;
    }
    c.skip_while(word);
    // Originator, then RM package: each a non-empty word after a '-'.
    for sep in [b'-', b'-'] {
        if !c.eat(sep) || c.skip_while(word) == 0 {
            return false;
        }
    }
    // Concept (anything but '.'), then the version.
    c.eat(b'.')
        && c.skip_while(|x| x != b'.') > 0
        && c.eat(b'.')
        && c.eat(b'v')
        && c.peek().is_some_and(|x| x.is_ascii_digit())
}

/// A byte cursor for the small hand-written parsers.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    fn peek_digit(&self) -> bool {
        self.peek().is_some_and(|x| x.is_ascii_digit())
    }

    /// Consumes `c` if it is next.
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Consumes bytes while `f` holds; returns how many.
    fn skip_while(&mut self, f: impl Fn(u8) -> bool) -> usize {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
        self.i - start
    }

    /// Consumes exactly `n` (≤ 9) digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let d = self.peek().filter(u8::is_ascii_digit)?;
            v = v * 10 + u32::from(d - b'0');
            self.i += 1;
        }
        Some(v)
    }
}

/// Parses an ISO 8601 date or date-time into the instant it starts at.
///
/// Accepted: extended or basic format; partial dates `YYYY`, `YYYY-MM`, `YYYY-MM-DD` (basic
/// `YYYYMM`, `YYYYMMDD`); a time after `T` (only after a complete date) as `hh`, `hh:mm`,
/// `hh:mm:ss` (basic `hhmm`, `hhmmss`), with fractional seconds after `.` or `,`, `24:00`
/// meaning the end of the day, and a second of 60 read as a leap second; an offset `Z`,
/// `±hh`, `±hh:mm` or `±hhmm` after a time. Without an offset the value is read as UTC. Returns
/// `None` for anything else, including out-of-range fields and trailing text.
pub fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let year = c.digits(4)?;
    let (mut month, mut day) = (1, 1);
    let mut full_date = false;
    if c.eat(b'-') {
        month = c.digits(2)?;
        if c.eat(b'-') {
            day = c.digits(2)?;
            full_date = true;
        }
    } else if c.peek_digit() {
        month = c.digits(2)?;
        if c.peek_digit() {
            day = c.digits(2)?;
            full_date = true;
        }
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let (mut hour, mut min, mut sec, mut nano) = (0, 0, 0, 0);
    let mut offset_secs = 0i64;
    if c.eat(b'T') {
        if !full_date {
            return None;
        }
        hour = c.digits(2)?;
        let mut has_sec = false;
        if c.eat(b':') {
            min = c.digits(2)?;
            if c.eat(b':') {
                sec = c.digits(2)?;
                has_sec = true;
            }
        } else if c.peek_digit() {
            min = c.digits(2)?;
            if c.peek_digit() {
                sec = c.digits(2)?;
                has_sec = true;
            }
        }
        if has_sec && (c.eat(b'.') || c.eat(b',')) {
            let start = c.i;
            let mut scale = 100_000_000u32;
            while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                nano += u32::from(d - b'0') * scale;
                scale /= 10;
                c.i += 1;
            }
            if c.i == start {
                return None;
            }
        }
        if !c.eat(b'Z') {
            let sign = if c.eat(b'+') {
                1
            } else if c.eat(b'-') {
                -1
            } else {
                0
            };
            if sign != 0 {
                let oh = c.digits(2)?;
                let om = if c.eat(b':') || c.peek_digit() {
                    c.digits(2)?
                } else {
                    0
                };
                if oh > 23 || om > 59 {
                    return None;
                }
                offset_secs = sign * i64::from(oh * 3600 + om * 60);
            }
        }
    }
    if !c.at_end() {
        return None;
    }
    let mut extra_day = false;
    if hour == 24 {
        if min != 0 || sec != 0 || nano != 0 {
            return None;
        }
        hour = 0;
        extra_day = true;
    }
    let time = if sec == 60 {
        NaiveTime::from_hms_nano_opt(hour, min, 59, 1_000_000_000 + nano)?
    } else {
        NaiveTime::from_hms_nano_opt(hour, min, sec, nano)?
    };
    let mut local = NaiveDateTime::new(date, time);
    if extra_day {
        local = local.checked_add_signed(TimeDelta::try_days(1)?)?;
    }
    let utc = local.checked_sub_signed(TimeDelta::try_seconds(offset_secs)?)?;
    Some(utc.and_utc())
}

/// Approximate length in seconds of an ISO 8601 duration (`P1Y2M3W4DT5H6M7.5S`, optionally
/// signed), with a year of 365.25 days and a month of 30.4375 days. `None` when unparsable.
fn duration_seconds(s: &str) -> Option<f64> {
    const DAY: f64 = 86_400.0;
    let s = s.trim();
    let (neg, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix('P')?;
    let mut c = Cursor {
        b: rest.as_bytes(),
        i: 0,
    };
    let (mut total, mut rank, mut in_time, mut any, mut time_any) = (0.0, 0, false, false, false);
    while !c.at_end() {
        if c.eat(b'T') {
            if in_time {
                return None;
            }
            in_time = true;
            continue;
        }
        let start = c.i;
        if c.skip_while(|x| x.is_ascii_digit()) == 0 {
            return None;
        }
        let comma = c.peek() == Some(b',');
        if comma || c.peek() == Some(b'.') {
            c.i += 1;
            if c.skip_while(|x| x.is_ascii_digit()) == 0 {
                return None;
            }
        }
        let text = rest.get(start..c.i)?;
        let n: f64 = if comma {
            text.replace(',', ".").parse().ok()?
        } else {
            text.parse().ok()?
        };
        let unit = c.peek()?;
        c.i += 1;
        let (r, factor) = match (in_time, unit) {
            (false, b'Y') => (1, 365.25 * DAY),
            (false, b'M') => (2, 30.4375 * DAY),
            (false, b'W') => (3, 7.0 * DAY),
            (false, b'D') => (4, DAY),
            (true, b'H') => (5, 3600.0),
            (true, b'M') => (6, 60.0),
            (true, b'S') => (7, 1.0),
            _ => return None,
        };
        if r <= rank {
            return None;
        }
        rank = r;
        total += n * factor;
        any = true;
        time_any |= in_time;
    }
    if !any || (in_time && !time_any) {
        return None;
    }
    finite(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdr_rm::json::{to_json, JsonConfig};
    use cdr_rm::{from_json, Composition, ContentItem, EhrStatus, Folder, Item};

    /// The canonical JSON of a whole version, as the store writes it.
    fn document(root: &dyn RmObject) -> serde_json::Value {
        serde_json::from_slice(&to_json(root, &JsonConfig::CANONICAL)).expect("JSON")
    }

    /// The node's subtree in the document, found through its pointer.
    fn subtree<'a>(doc: &'a serde_json::Value, n: &NodeRow) -> &'a serde_json::Value {
        let mut v = doc;
        for key in &n.pointer {
            v = match v {
                serde_json::Value::Array(a) => &a[key.parse::<usize>().expect("list position")],
                _ => &v[key.as_str()],
            };
        }
        v
    }

    /// Where the shared openEHR test corpus lives. Inside the repo (crates/<name>) use
    /// `concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata")`, as the other crates'
    /// corpus tests do.
    const TESTDATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/testdata");

    const CP_EN: &str = r#"{"terminology_id":{"value":"ISO_639-1"},"code_string":"en"}"#;

    fn composition_json() -> String {
        r#"{
  "_type": "COMPOSITION",
  "archetype_node_id": "openEHR-EHR-COMPOSITION.encounter.v1",
  "name": {"_type": "DV_TEXT", "value": "Encounter"},
  "uid": {"_type": "OBJECT_VERSION_ID", "value": "8849182c-82ad-4088-a07f-48ead4180515::test::1"},
  "archetype_details": {
    "archetype_id": {"value": "openEHR-EHR-COMPOSITION.encounter.v1"},
    "template_id": {"value": "index_test.v1"},
    "rm_version": "1.0.4"
  },
  "language": CP,
  "territory": {"terminology_id": {"value": "ISO_3166-1"}, "code_string": "DE"},
  "category": {"_type": "DV_CODED_TEXT", "value": "event",
    "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": "433"}},
  "composer": {"_type": "PARTY_IDENTIFIED", "name": "Dr X"},
  "context": {
    "start_time": {"_type": "DV_DATE_TIME", "value": "2024-01-02T03:04:05+01:00"},
    "setting": {"_type": "DV_CODED_TEXT", "value": "other care",
      "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": "238"}},
    "participations": [{
      "function": {"_type": "DV_TEXT", "value": "Pos1"},
      "performer": {"_type": "PARTY_IDENTIFIED", "name": "Nurse"},
      "time": {"_type": "DV_INTERVAL",
        "lower": {"_type": "DV_DATE_TIME", "value": "2024-01-01"},
        "lower_unbounded": false, "upper_unbounded": true}
    }]
  },
  "content": [
    {
      "_type": "SECTION",
      "archetype_node_id": "openEHR-EHR-SECTION.vitals.v1",
      "name": {"value": "Vitals"},
      "items": [{
        "_type": "OBSERVATION",
        "archetype_node_id": "openEHR-EHR-OBSERVATION.test.v1",
        "name": {"value": "Test"},
        "links": [{"meaning": {"value": "m"}, "type": {"value": "t"},
          "target": {"value": "ehr://x/y"}}],
        "feeder_audit": {"originating_system_audit": {"system_id": "feeder",
          "time": {"value": "2020-01-01T00:00:00Z"}}},
        "language": CP,
        "encoding": {"terminology_id": {"value": "IANA_character-sets"}, "code_string": "UTF-8"},
        "subject": {"_type": "PARTY_SELF"},
        "data": {
          "_type": "HISTORY",
          "archetype_node_id": "at0001",
          "name": {"value": "History"},
          "origin": {"value": "2024-01-02T02:00:00Z"},
          "events": [{
            "_type": "POINT_EVENT",
            "archetype_node_id": "at0002",
            "name": {"value": "Any event"},
            "time": {"value": "2024-01-02T02:00:00Z"},
            "data": {
              "_type": "ITEM_TREE",
              "archetype_node_id": "at0003",
              "name": {"value": "Tree"},
              "items": [
                {"_type": "ELEMENT", "archetype_node_id": "at0004", "name": {"value": "Systolic"},
                 "value": {"_type": "DV_QUANTITY", "magnitude": 120.5, "units": "mm[Hg]"}},
                {"_type": "ELEMENT", "archetype_node_id": "at0005", "name": {"value": "Position"},
                 "value": {"_type": "DV_CODED_TEXT", "value": "Sitting",
                   "defining_code": {"terminology_id": {"value": "local"}, "code_string": "at1001"}}},
                {"_type": "ELEMENT", "archetype_node_id": "at0006", "name": {"value": "Score"},
                 "value": {"_type": "DV_ORDINAL", "value": 2,
                   "symbol": {"value": "Moderate",
                     "defining_code": {"terminology_id": {"value": "local"}, "code_string": "at0010"}}}},
                {"_type": "ELEMENT", "archetype_node_id": "at0007", "name": {"value": "Measured"},
                 "value": {"_type": "DV_DATE_TIME", "value": "2024-01-02T01:30:00.250-02:30"}},
                {"_type": "ELEMENT", "archetype_node_id": "at0008", "name": {"value": "Confirmed"},
                 "value": {"_type": "DV_BOOLEAN", "value": true}},
                {"_type": "CLUSTER", "archetype_node_id": "openEHR-EHR-CLUSTER.device.v1",
                 "name": {"value": "Device"},
                 "items": [
                   {"_type": "ELEMENT", "archetype_node_id": "at0001", "name": {"value": "Device name"},
                    "value": {"_type": "DV_TEXT", "value": "Cuff"}}
                 ]}
              ]
            }
          }]
        }
      }]
    },
    {
      "_type": "OBSERVATION",
      "archetype_node_id": "openEHR-EHR-OBSERVATION.other.v1",
      "name": {"value": "Other"},
      "language": CP,
      "encoding": {"terminology_id": {"value": "IANA_character-sets"}, "code_string": "UTF-8"},
      "subject": {"_type": "PARTY_SELF"},
      "data": {
        "archetype_node_id": "at0001",
        "name": {"value": "History"},
        "origin": {"value": "2024-01-02"},
        "events": [{
          "_type": "POINT_EVENT",
          "archetype_node_id": "at0002",
          "name": {"value": "Any event"},
          "time": {"value": "2024-01-02"},
          "data": {
            "_type": "ITEM_LIST",
            "archetype_node_id": "at0003",
            "name": {"value": "List"},
            "items": [{"_type": "ELEMENT", "archetype_node_id": "at0004", "name": {"value": "Count"},
              "value": {"_type": "DV_COUNT", "magnitude": 3}}]
          }
        }]
      }
    }
  ]
}"#
        .replace("CP", CP_EN)
    }

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test timestamp")
            .with_timezone(&Utc)
    }

    /// Compact expected leaf: (num, archetype id, path, type, v_num, v_ts, v_code, v_text).
    type Expected<'a> = (
        i32,
        &'a str,
        &'a str,
        &'a str,
        Option<f64>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
    );

    fn leaf_tuple(l: &LeafRow) -> Expected<'_> {
        (
            l.num,
            &l.archetype_id,
            &l.path,
            l.rm_type,
            l.v_num,
            None,
            l.v_code.as_deref(),
            l.v_text.as_deref(),
        )
    }

    fn check_leaves(rows: &IndexRows, expected: &[(Expected<'_>, Option<&str>)]) {
        let got: Vec<_> = rows.leaves.iter().map(leaf_tuple).collect();
        let want: Vec<_> = expected.iter().map(|(e, _)| *e).collect();
        assert_eq!(got, want);
        for (l, (_, t)) in rows.leaves.iter().zip(expected) {
            assert_eq!(l.v_ts, t.map(ts), "v_ts of {}", l.path);
        }
    }

    #[test]
    fn hand_written_composition() {
        let c: Composition = from_json(composition_json().as_bytes()).expect("decodes");
        let rows = derive(&c);

        const COMP: &str = "openEHR-EHR-COMPOSITION.encounter.v1";
        const SEC: &str = "openEHR-EHR-SECTION.vitals.v1";
        const OBS: &str = "openEHR-EHR-OBSERVATION.test.v1";
        const CLU: &str = "openEHR-EHR-CLUSTER.device.v1";
        const OTH: &str = "openEHR-EHR-OBSERVATION.other.v1";
        let nodes: Vec<_> = rows
            .nodes
            .iter()
            .map(|n| {
                (
                    n.num,
                    n.num_cap,
                    n.parent,
                    n.rm_type,
                    n.archetype_id.as_str(),
                    n.name.as_deref(),
                    n.path.as_str(),
                )
            })
            .collect();
        assert_eq!(
            nodes,
            vec![
                (0, 4, None, "COMPOSITION", COMP, Some("Encounter"), "/"),
                (
                    1,
                    3,
                    Some(0),
                    "SECTION",
                    SEC,
                    Some("Vitals"),
                    "/content[openEHR-EHR-SECTION.vitals.v1]"
                ),
                (
                    2,
                    3,
                    Some(1),
                    "OBSERVATION",
                    OBS,
                    Some("Test"),
                    "/content[openEHR-EHR-SECTION.vitals.v1]/items[openEHR-EHR-OBSERVATION.test.v1]"
                ),
                (
                    3,
                    3,
                    Some(2),
                    "CLUSTER",
                    CLU,
                    Some("Device"),
                    "/content[openEHR-EHR-SECTION.vitals.v1]/items[openEHR-EHR-OBSERVATION.test.v1]\
                     /data[at0001]/events[at0002]/data[at0003]/items[openEHR-EHR-CLUSTER.device.v1]"
                ),
                (
                    4,
                    4,
                    Some(0),
                    "OBSERVATION",
                    OTH,
                    Some("Other"),
                    "/content[openEHR-EHR-OBSERVATION.other.v1]"
                ),
            ]
        );

        // Pointers: empty for the root; the keys of the subtree in the document otherwise.
        assert!(rows.nodes[0].pointer.is_empty());
        assert_eq!(rows.nodes[1].pointer, ["content", "0"]);
        assert_eq!(
            rows.nodes[3].pointer,
            ["content", "0", "items", "0", "data", "events", "0", "data", "items", "5"]
        );
        assert_eq!(rows.nodes[4].pointer, ["content", "1"]);
        let doc = document(&c);
        let section = &c.content[0];
        assert_eq!(
            subtree(&doc, &rows.nodes[1]),
            &serde_json::from_slice::<serde_json::Value>(&to_json(section, &JsonConfig::CANONICAL))
                .expect("json")
        );
        for n in &rows.nodes[1..] {
            let v = subtree(&doc, n);
            assert_eq!(v["_type"], n.rm_type);
            assert_eq!(v["archetype_node_id"], n.archetype_id.as_str());
        }
        let obs: ContentItem =
            from_json(subtree(&doc, &rows.nodes[4]).to_string().as_bytes()).expect("decodes");
        assert_eq!(&obs, &c.content[1]);

        const ITEMS: &str = "/data[at0001]/events[at0002]/data[at0003]/items";
        let p = |s: &str| format!("{ITEMS}{s}");
        let (sys, pos, score, measured, confirmed) = (
            p("[at0004]/value"),
            p("[at0005]/value"),
            p("[at0006]/value"),
            p("[at0007]/value"),
            p("[at0008]/value"),
        );
        check_leaves(
            &rows,
            &[
                (
                    (
                        2,
                        OBS,
                        &sys,
                        "DV_QUANTITY",
                        Some(120.5),
                        None,
                        None,
                        Some("mm[Hg]"),
                    ),
                    None,
                ),
                (
                    (
                        2,
                        OBS,
                        &pos,
                        "DV_CODED_TEXT",
                        None,
                        None,
                        Some("at1001"),
                        Some("Sitting"),
                    ),
                    None,
                ),
                (
                    (
                        2,
                        OBS,
                        &score,
                        "DV_ORDINAL",
                        Some(2.0),
                        None,
                        Some("at0010"),
                        Some("Moderate"),
                    ),
                    None,
                ),
                (
                    (
                        2,
                        OBS,
                        &measured,
                        "DV_DATE_TIME",
                        None,
                        None,
                        None,
                        Some("2024-01-02T01:30:00.250-02:30"),
                    ),
                    Some("2024-01-02T04:00:00.250Z"),
                ),
                (
                    (
                        2,
                        OBS,
                        &confirmed,
                        "DV_BOOLEAN",
                        Some(1.0),
                        None,
                        None,
                        Some("true"),
                    ),
                    None,
                ),
                (
                    (
                        3,
                        CLU,
                        "/items[at0001]/value",
                        "DV_TEXT",
                        None,
                        None,
                        None,
                        Some("Cuff"),
                    ),
                    None,
                ),
                (
                    (
                        4,
                        OTH,
                        "/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value",
                        "DV_COUNT",
                        Some(3.0),
                        None,
                        None,
                        None,
                    ),
                    None,
                ),
            ],
        );
    }

    fn element(code: &str, value: &str) -> String {
        format!(
            r#"{{"_type": "ELEMENT", "archetype_node_id": "{code}", "name": {{"value": "e"}},
                "value": {value}}}"#
        )
    }

    #[test]
    fn other_data_value_types_under_ehr_status() {
        let coded = |c: &str, v: &str| {
            format!(
                r#"{{"value": "{v}", "defining_code": {{"terminology_id": {{"value": "local"}},
                    "code_string": "{c}"}}}}"#
            )
        };
        let values = [
            r#"{"_type": "DV_PROPORTION", "numerator": 1, "denominator": 4, "type": 0}"#.to_owned(),
            r#"{"_type": "DV_PROPORTION", "numerator": 1, "denominator": 0, "type": 0}"#.to_owned(),
            r#"{"_type": "DV_DURATION", "value": "-P1DT1H30M"}"#.to_owned(),
            r#"{"_type": "DV_DURATION", "value": "P1Q"}"#.to_owned(),
            format!(
                r#"{{"_type": "DV_SCALE", "value": 1.5, "symbol": {}}}"#,
                coded("at9", "mild")
            ),
            format!(
                r#"{{"_type": "DV_STATE", "value": {}, "is_terminal": false}}"#,
                coded("532", "active")
            ),
            r#"{"_type": "DV_IDENTIFIER", "id": "12345", "type": "MRN"}"#.to_owned(),
            r#"{"_type": "DV_URI", "value": "https://example.org/x"}"#.to_owned(),
            r#"{"_type": "DV_EHR_URI", "value": "ehr://a/b"}"#.to_owned(),
            r#"{"_type": "DV_PARSABLE", "value": "x > 1", "formalism": "text"}"#.to_owned(),
            r#"{"_type": "DV_MULTIMEDIA", "uri": {"value": "https://example.org/img.png"},
                "media_type": {"terminology_id": {"value": "IANA_media-types"},
                "code_string": "image/png"}, "size": 10}"#
                .to_owned(),
            r#"{"_type": "DV_DATE", "value": "2023-07"}"#.to_owned(),
            r#"{"_type": "DV_TIME", "value": "10:30"}"#.to_owned(),
            r#"{"_type": "DV_DATE_TIME", "value": "not a date"}"#.to_owned(),
            r#"{"_type": "DV_BOOLEAN", "value": false}"#.to_owned(),
            r#"{"_type": "DV_PARAGRAPH", "items": [{"value": "p"}]}"#.to_owned(),
            r#"{"_type": "DV_QUANTITY", "magnitude": 2, "units": "kg",
                "normal_range": {"lower": {"_type": "DV_QUANTITY", "magnitude": 1,
                "units": "kg"}, "lower_unbounded": false, "upper_unbounded": true}}"#
                .to_owned(),
        ];
        let items: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(i, v)| element(&format!("at{:04}", i + 1), v))
            .collect();
        let json = format!(
            r#"{{"_type": "EHR_STATUS", "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
                "name": {{"value": "EHR status"}}, "subject": {{"external_ref": {{
                "id": {{"_type": "GENERIC_ID", "value": "p1", "scheme": "id"}},
                "namespace": "demo", "type": "PERSON"}}}},
                "is_queryable": true, "is_modifiable": true,
                "other_details": {{"_type": "ITEM_TREE", "archetype_node_id": "at0000",
                "name": {{"value": "Tree"}}, "items": [{}]}}}}"#,
            items.join(",")
        );
        let s: EhrStatus = from_json(json.as_bytes()).expect("decodes");
        let rows = derive(&s);
        assert_eq!(rows.nodes.len(), 1);
        assert_eq!(rows.nodes[0].rm_type, "EHR_STATUS");
        assert_eq!(rows.nodes[0].path, "/");
        let got: Vec<_> = rows
            .leaves
            .iter()
            .map(|l| {
                (
                    l.path.as_str(),
                    l.rm_type,
                    l.v_num,
                    l.v_code.as_deref(),
                    l.v_text.as_deref(),
                )
            })
            .collect();
        let p: Vec<String> = (1..=values.len())
            .map(|i| format!("/other_details[at0000]/items[at{i:04}]/value"))
            .collect();
        let h = 3600.0;
        assert_eq!(
            got,
            vec![
                (p[0].as_str(), "DV_PROPORTION", Some(0.25), None, None),
                (&p[1], "DV_PROPORTION", None, None, None),
                (
                    &p[2],
                    "DV_DURATION",
                    Some(-(24.0 + 1.5) * h),
                    None,
                    Some("-P1DT1H30M")
                ),
                (&p[3], "DV_DURATION", None, None, Some("P1Q")),
                (&p[4], "DV_SCALE", Some(1.5), Some("at9"), Some("mild")),
                (&p[5], "DV_STATE", None, Some("532"), Some("active")),
                (&p[6], "DV_IDENTIFIER", None, None, Some("12345")),
                (&p[7], "DV_URI", None, None, Some("https://example.org/x")),
                (&p[8], "DV_EHR_URI", None, None, Some("ehr://a/b")),
                (&p[9], "DV_PARSABLE", None, None, Some("x > 1")),
                (
                    &p[10],
                    "DV_MULTIMEDIA",
                    None,
                    None,
                    Some("https://example.org/img.png")
                ),
                (&p[11], "DV_DATE", None, None, Some("2023-07")),
                (&p[12], "DV_TIME", None, None, Some("10:30")),
                (&p[13], "DV_DATE_TIME", None, None, Some("not a date")),
                (&p[14], "DV_BOOLEAN", Some(0.0), None, Some("false")),
                (&p[15], "DV_PARAGRAPH", None, None, None),
                (&p[16], "DV_QUANTITY", Some(2.0), None, Some("kg")),
            ]
        );
        let ts_of: Vec<_> = rows.leaves.iter().map(|l| l.v_ts).collect();
        for (i, t) in ts_of.iter().enumerate() {
            let want = (i == 11).then(|| ts("2023-07-01T00:00:00Z"));
            assert_eq!(*t, want, "v_ts of {}", p[i]);
        }
    }

    #[test]
    fn folder_tree() {
        let json = r#"{"_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.root.v1",
            "name": {"value": "root"},
            "folders": [
              {"archetype_node_id": "openEHR-EHR-FOLDER.episode.v1", "name": {"value": "ep"},
               "items": [{"_type": "OBJECT_REF", "id": {"_type": "HIER_OBJECT_ID", "value": "x"},
                 "namespace": "local", "type": "VERSIONED_COMPOSITION"}]},
              {"archetype_node_id": "at0001", "name": {"value": "plain"},
               "folders": [{"archetype_node_id": "openEHR-EHR-FOLDER.inner.v2",
                 "name": {"value": "inner"},
                 "details": {"_type": "ITEM_TREE", "archetype_node_id": "at0002",
                   "name": {"value": "d"}, "items": [
                   {"_type": "ELEMENT", "archetype_node_id": "at0003", "name": {"value": "n"},
                    "value": {"_type": "DV_TEXT", "value": "hello"}}]}}]}
            ]}"#;
        let f: Folder = from_json(json.as_bytes()).expect("decodes");
        let rows = derive(&f);
        let nodes: Vec<_> = rows
            .nodes
            .iter()
            .map(|n| (n.num, n.num_cap, n.parent, n.path.as_str()))
            .collect();
        assert_eq!(
            nodes,
            vec![
                (0, 2, None, "/"),
                (1, 1, Some(0), "/folders[openEHR-EHR-FOLDER.episode.v1]"),
                (
                    2,
                    2,
                    Some(0),
                    "/folders[at0001]/folders[openEHR-EHR-FOLDER.inner.v2]"
                ),
            ]
        );
        assert_eq!(rows.leaves.len(), 1);
        let l = &rows.leaves[0];
        assert_eq!(
            (l.num, l.archetype_id.as_str(), l.path.as_str()),
            (
                2,
                "openEHR-EHR-FOLDER.inner.v2",
                "/details[at0002]/items[at0003]/value"
            )
        );
    }

    #[test]
    fn very_deep_tree_is_cut_off_not_overflowed() {
        let folder = |id: &str, folders: Vec<Folder>| Folder {
            archetype_node_id: Some(id.to_owned()),
            name: None,
            uid: None,
            links: Vec::new(),
            archetype_details: None,
            feeder_audit: None,
            folders,
            items: Vec::new(),
            details: None,
        };
        let mut f = folder("openEHR-EHR-FOLDER.leaf.v1", Vec::new());
        for _ in 0..2_000 {
            f = folder("at0001", vec![f]);
        }
        let rows = derive(&folder("openEHR-EHR-FOLDER.root.v1", vec![f]));
        assert_eq!(rows.nodes.len(), 1);
        assert_eq!(rows.nodes[0].num_cap, 0);
    }

    #[test]
    fn parse_instant_cases() {
        let ok = |s: &str, want: &str| {
            assert_eq!(parse_instant(s), Some(ts(want)), "{s}");
        };
        ok("2024", "2024-01-01T00:00:00Z");
        ok("2024-03", "2024-03-01T00:00:00Z");
        ok("2024-03-05", "2024-03-05T00:00:00Z");
        ok("202403", "2024-03-01T00:00:00Z");
        ok("20240305", "2024-03-05T00:00:00Z");
        ok("2024-03-05T10", "2024-03-05T10:00:00Z");
        ok("2024-03-05T10:20", "2024-03-05T10:20:00Z");
        ok("2024-03-05T10:20:30", "2024-03-05T10:20:30Z");
        ok("2024-03-05T10:20:30Z", "2024-03-05T10:20:30Z");
        ok("20240305T102030Z", "2024-03-05T10:20:30Z");
        ok("20240305T1020+0130", "2024-03-05T08:50:00Z");
        ok("2024-03-05T10:20:30.5Z", "2024-03-05T10:20:30.5Z");
        ok(
            "2024-03-05T10:20:30,123456789Z",
            "2024-03-05T10:20:30.123456789Z",
        );
        ok(
            "2024-03-05T10:20:30.1234567891234Z",
            "2024-03-05T10:20:30.123456789Z",
        );
        ok("2024-03-05T10:20:30+02:00", "2024-03-05T08:20:30Z");
        ok("2024-03-05T10:20:30-05", "2024-03-05T15:20:30Z");
        ok("2024-03-05T01:00:00+03:00", "2024-03-04T22:00:00Z");
        ok("2024-12-31T24:00:00Z", "2025-01-01T00:00:00Z");
        ok("  2024-03-05 ", "2024-03-05T00:00:00Z");
        // A leap second sorts after :59 and before the next minute.
        let leap = parse_instant("2016-12-31T23:59:60Z").expect("leap second");
        assert!(leap > ts("2016-12-31T23:59:59Z") && leap < ts("2017-01-01T00:00:00Z"));

        for bad in [
            "",
            "garbage",
            "24",
            "2024-",
            "2024-1",
            "2024-13",
            "2024-02-30",
            "2024-03-05T",
            "2024-03-05T25:00",
            "2024-03-05T24:00:01",
            "2024-03-05T10:60",
            "2024-03-05T10:20:61",
            "2024-03-05T10:20:30.",
            "2024-03-05T10:20.5",
            "2024-03-05T10:20:30+24:00",
            "2024-03-05T10:20:30+01:60",
            "2024-03-05T10:20:30+1",
            "2024-03-05T10:20:30Zjunk",
            "2024-03T10:00",
            "2024T10",
            "2024-03-05Z",
            "2024-03-05+01:00",
            "2024-03-05T10:20:30 Z",
            "०१२३-03-05",
            "2024-03-05T10:20:30.\u{e9}",
            "-2024-03-05",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
        // Extremes do not overflow.
        assert_eq!(
            parse_instant("0000-01-01T00:00:00+23:59"),
            Some(ts("0000-01-01T00:00:00Z") - TimeDelta::minutes(23 * 60 + 59))
        );
        assert!(parse_instant("9999-12-31T24:00:00-23:59").is_some());
    }

    #[test]
    fn duration_seconds_cases() {
        const D: f64 = 86_400.0;
        let cases: &[(&str, Option<f64>)] = &[
            ("P1Y", Some(365.25 * D)),
            ("P1M", Some(30.4375 * D)),
            ("P2W", Some(14.0 * D)),
            ("P1D", Some(D)),
            ("PT1H", Some(3600.0)),
            ("PT1M", Some(60.0)),
            ("PT1.5S", Some(1.5)),
            ("PT0,5S", Some(0.5)),
            ("PT0S", Some(0.0)),
            (
                "P1Y2M3DT4H5M6S",
                Some(365.25 * D + 2.0 * 30.4375 * D + 3.0 * D + 14706.0),
            ),
            ("P1W2D", Some(9.0 * D)),
            ("-P1D", Some(-D)),
            ("+PT1H", Some(3600.0)),
            ("P", None),
            ("PT", None),
            ("P1DT", None),
            ("1D", None),
            ("P1H", None),
            ("PT1D", None),
            ("P1D1Y", None),
            ("P1D1D", None),
            ("PD", None),
            ("P.5D", None),
            ("P1.D", None),
            ("P1", None),
            ("P1DTT1H", None),
            ("P1D ", Some(D)),
            ("P1e5D", None),
            ("--P1D", None),
        ];
        for (s, want) in cases {
            assert_eq!(duration_seconds(s), *want, "{s:?}");
        }
        let huge = format!("P{}Y", "9".repeat(400));
        assert_eq!(duration_seconds(&huge), None);
    }

    #[test]
    fn archetype_id_recognition() {
        for yes in [
            "openEHR-EHR-OBSERVATION.blood_pressure.v2",
            "openEHR-EHR-CLUSTER.device.v1",
            "openEHR-EHR-OBSERVATION.blood_pressure-extended.v1.0.2",
            "openEHR-EHR-COMPOSITION.encounter.v1",
            "org_x-DEMOGRAPHIC-PERSON.p.v10",
        ] {
            assert!(is_archetype_id(yes), "{yes}");
        }
        for no in [
            "at0001",
            "at0001.1",
            "",
            "openEHR",
            "openEHR-EHR-OBSERVATION.bp",
            "openEHR-EHR-OBSERVATION.bp.v",
            "openEHR-EHR-OBSERVATION..v1",
            "openEHR-EHR.bp.v1",
            "1penEHR-EHR-OBSERVATION.bp.v1",
            "openEHR--OBSERVATION.bp.v1",
            "openEHR-EHR-OBSERVATION.bp.x1",
            "id1",
        ] {
            assert!(!is_archetype_id(no), "{no}");
        }
    }

    /// Checks the invariants every derivation must satisfy.
    fn check_invariants(rows: &IndexRows, doc: &serde_json::Value, what: &str) {
        let nodes = &rows.nodes;
        assert!(!nodes.is_empty(), "{what}: no root row");
        let root = &nodes[0];
        assert_eq!(
            (root.num, root.parent, root.path.as_str()),
            (0, None, "/"),
            "{what}"
        );
        assert!(root.pointer.is_empty(), "{what}");
        assert_eq!(root.num_cap as usize, nodes.len() - 1, "{what}");
        for (i, n) in nodes.iter().enumerate() {
            assert_eq!(n.num as usize, i, "{what}: numbering");
            assert!(
                n.num <= n.num_cap && (n.num_cap as usize) < nodes.len(),
                "{what}"
            );
            // Descendants are exactly the rows in (num, num_cap] whose parent chain reaches n.
            for d in &nodes[i + 1..=n.num_cap as usize] {
                assert!(d.num_cap <= n.num_cap, "{what}: nested set of {}", d.path);
                let mut p = d.parent;
                while let Some(q) = p.filter(|&q| q > n.num) {
                    p = nodes[q as usize].parent;
                }
                assert_eq!(p, Some(n.num), "{what}: {} not under {}", d.path, n.path);
            }
            if let Some(p) = n.parent {
                let parent = &nodes[p as usize];
                assert!(parent.num < n.num && n.num <= parent.num_cap, "{what}");
                assert!(n.path.len() > 1, "{what}");
                if p > 0 {
                    assert!(n.path.starts_with(&format!("{}/", parent.path)), "{what}");
                }
                assert!(
                    is_archetype_id(&n.archetype_id),
                    "{what}: {}",
                    n.archetype_id
                );
                let frag = subtree(doc, n);
                assert_eq!(frag["_type"], n.rm_type, "{what}");
                assert_eq!(frag["archetype_node_id"], n.archetype_id.as_str(), "{what}");
            } else {
                assert_eq!(i, 0, "{what}: only the root has no parent");
            }
            check_path(&n.path, what);
        }
        for l in &rows.leaves {
            let n = nodes
                .get(l.num as usize)
                .unwrap_or_else(|| panic!("{what}: leaf num {} has no node", l.num));
            assert_eq!(l.archetype_id, n.archetype_id, "{what}");
            assert!(
                conforms_to(l.rm_type, "DATA_VALUE"),
                "{what}: {}",
                l.rm_type
            );
            assert!(
                l.path.starts_with('/') && l.path.len() > 1,
                "{what}: {}",
                l.path
            );
            check_path(&l.path, what);
            for step in l.path.split('/').skip(1) {
                let attr = step.split('[').next().unwrap_or_default();
                assert!(
                    !matches!(attr, "name" | "links" | "feeder_audit"),
                    "{what}: {}",
                    l.path
                );
            }
        }
    }

    /// No list index and no empty step or predicate in a path.
    fn check_path(path: &str, what: &str) {
        if path == "/" {
            return;
        }
        for step in path.split('/').skip(1) {
            assert!(!step.is_empty(), "{what}: empty step in {path}");
            if let Some((attr, pred)) = step.split_once('[') {
                assert!(!attr.is_empty(), "{what}: {path}");
                let pred = pred.strip_suffix(']').expect("predicate closed");
                assert!(!pred.is_empty(), "{what}: {path}");
                assert!(
                    !pred.bytes().all(|b| b.is_ascii_digit()),
                    "{what}: index in {path}"
                );
            }
        }
    }

    /// Re-derives the subtree of each CONTENT_ITEM or ITEM node on its own: it must give
    /// the same leaves (renumbered) as the whole document does for that subtree.
    fn check_subtrees_rederive(rows: &IndexRows, doc: &serde_json::Value, what: &str) {
        for n in &rows.nodes[1..] {
            let frag = subtree(doc, n).to_string();
            let frag = frag.as_bytes();
            let sub = if conforms_to(n.rm_type, "CONTENT_ITEM") {
                derive(&from_json::<ContentItem>(frag).expect("content fragment decodes"))
            } else if conforms_to(n.rm_type, "ITEM") {
                derive(&from_json::<Item>(frag).expect("item fragment decodes"))
            } else {
                continue;
            };
            assert_eq!(
                sub.nodes.len() as i32,
                n.num_cap - n.num + 1,
                "{what}: {}",
                n.path
            );
            let want: Vec<_> = rows
                .leaves
                .iter()
                .filter(|l| l.num >= n.num && l.num <= n.num_cap)
                .cloned()
                .collect();
            let got: Vec<_> = sub
                .leaves
                .into_iter()
                .map(|mut l| {
                    l.num += n.num;
                    l
                })
                .collect();
            assert_eq!(got, want, "{what}: {}", n.path);
        }
    }

    #[test]
    fn invariants_on_hand_written_documents() {
        let c: Composition = from_json(composition_json().as_bytes()).expect("decodes");
        let rows = derive(&c);
        let doc = document(&c);
        check_invariants(&rows, &doc, "hand-written");
        check_subtrees_rederive(&rows, &doc, "hand-written");
    }

    #[test]
    fn testdata_compositions() {
        let dir = std::path::Path::new(TESTDATA_DIR);
        let Ok(manifest) = std::fs::read(dir.join("manifest.json")) else {
            eprintln!("note: {TESTDATA_DIR} not found; skipping the corpus test");
            return;
        };
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).expect("manifest");
        let (mut derived, mut nodes, mut leaves, mut undecodable) = (0, 0, 0, 0);
        let (mut temporals, mut unparsed) = (0, Vec::new());
        for t in manifest["templates"].as_array().into_iter().flatten() {
            let slug = t["slug"].as_str().unwrap_or_default();
            for f in t["files"].as_array().into_iter().flatten() {
                if f["kind"] != "canonical" || f["format"] != "json" {
                    continue;
                }
                let file = f["file"].as_str().unwrap_or_default();
                let what = format!("{slug}/{file}");
                let bytes = std::fs::read(dir.join(slug).join(file)).expect("readable");
                let Ok(c) = from_json::<Composition>(&bytes) else {
                    assert_ne!(f["expected"], "valid", "{what} should decode");
                    undecodable += 1;
                    continue;
                };
                let rows = derive(&c);
                let doc = document(&c);
                check_invariants(&rows, &doc, &what);
                check_subtrees_rederive(&rows, &doc, &what);
                for l in &rows.leaves {
                    // ELEMENT values only, never RM attributes such as the category.
                    assert!(l.path.ends_with("]/value"), "{what}: {}", l.path);
                    match l.rm_type {
                        "DV_QUANTITY" | "DV_COUNT" => {
                            assert!(l.v_num.is_some(), "{what}: {}", l.path)
                        }
                        "DV_CODED_TEXT" => assert!(l.v_code.is_some(), "{what}: {}", l.path),
                        "DV_DATE_TIME" | "DV_DATE" => {
                            temporals += 1;
                            if l.v_ts.is_none() {
                                unparsed.push(format!("{what}: {:?}", l.v_text));
                            }
                        }
                        _ => {}
                    }
                }
                derived += 1;
                nodes += rows.nodes.len();
                leaves += rows.leaves.len();
            }
        }
        eprintln!(
            "corpus: {derived} compositions derived ({undecodable} undecodable skipped), \
             {nodes} node rows, {leaves} leaf rows, {temporals} dates/date-times, \
             unparsed: {unparsed:#?}"
        );
        assert!(derived >= 20, "only {derived} compositions derived");
    }
}
