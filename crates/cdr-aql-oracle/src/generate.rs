//! Seeded random AQL queries over a catalog, for differential tests.
//!
//! The queries stay where results are deterministic: LIMIT/OFFSET/TOP only after an ORDER BY
//! over every (leaf) column, or on a single aggregate row.

use cdr_aql::ast::write_quoted;
use serde_json::Value;

use crate::catalog::{ArchetypeInfo, Catalog, LeafPath};
use crate::value::instant;

/// `n` AQL queries drawn from `seed`; the same seed and catalog give the same queries.
pub fn generate(seed: u64, catalog: &Catalog, n: usize) -> Vec<String> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| Gen::new(&mut rng, catalog).query())
        .collect()
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'t, T>(&mut self, items: &'t [T]) -> Option<&'t T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[self.below(items.len())])
        }
    }
}

/// Something a query can select or test: a path text and values seen there.
#[derive(Debug, Clone)]
struct Leaf {
    text: String,
    samples: Vec<Value>,
}

/// A FROM variable that SELECT and WHERE may use.
#[derive(Debug, Clone)]
struct Var<'k> {
    name: String,
    kind: VarKind<'k>,
}

#[derive(Debug, Clone, Copy)]
enum VarKind<'k> {
    Ehr,
    Version,
    /// An archetyped object (or a composition without a known archetype).
    Archetyped(Option<&'k ArchetypeInfo>),
    /// An ELEMENT or CLUSTER without predicate.
    Generic,
}

struct Gen<'r, 'k> {
    rng: &'r mut Rng,
    catalog: &'k Catalog,
    vars: Vec<Var<'k>>,
}

impl<'r, 'k> Gen<'r, 'k> {
    fn new(rng: &'r mut Rng, catalog: &'k Catalog) -> Self {
        Gen {
            rng,
            catalog,
            vars: Vec::new(),
        }
    }

    fn query(mut self) -> String {
        let from = self.from();
        let mut text = String::from("SELECT ");
        let mode = self.rng.below(10);
        let (columns, distinct, aggregated, orderable) = match mode {
            0..=5 => self.plain_columns(),
            6..=7 => (self.aggregates(), false, true, false),
            _ => {
                let mut cols = vec![self.column(false)];
                cols.extend(self.aggregates());
                (cols, false, true, false)
            }
        };
        if distinct {
            text.push_str("DISTINCT ");
        }
        let mut order = Vec::new();
        let mut covered = false;
        if orderable && self.rng.chance(45) {
            order = columns
                .iter()
                .map(|c| c.order_key.clone().unwrap_or_default())
                .collect();
            covered = order.iter().all(|k| !k.is_empty());
            order.retain(|k| !k.is_empty());
            if !covered || self.rng.chance(30) {
                let keep = 1 + self.rng.below(order.len().max(1));
                order.truncate(keep);
                covered = covered && keep == columns.len();
            }
            order = order
                .into_iter()
                .map(|k| {
                    if self.rng.chance(40) {
                        format!("{k} DESC")
                    } else {
                        k
                    }
                })
                .collect();
        }
        let single_row = aggregated && columns.iter().all(|c| c.aggregate);
        let paged = (covered || single_row) && self.rng.chance(50);
        let top = paged && !single_row && self.rng.chance(25);
        if top {
            text.push_str(&format!("TOP {} ", 1 + self.rng.below(5)));
        }
        let cols: Vec<String> = columns.into_iter().map(|c| c.text).collect();
        text.push_str(&cols.join(", "));
        text.push_str(" FROM ");
        text.push_str(&from);
        if self.rng.chance(50) {
            if let Some(cond) = self.condition(2) {
                text.push_str(" WHERE ");
                text.push_str(&cond);
            }
        }
        if !order.is_empty() {
            text.push_str(" ORDER BY ");
            text.push_str(&order.join(", "));
        }
        if paged && !top {
            text.push_str(&format!(" LIMIT {}", self.rng.below(6)));
            if self.rng.chance(50) {
                text.push_str(&format!(" OFFSET {}", self.rng.below(4)));
            }
        }
        text
    }

    // ------------------------------------------------------------------ FROM

    fn declare(&mut self, name: &str, kind: VarKind<'k>) -> String {
        self.vars.push(Var {
            name: name.to_owned(),
            kind,
        });
        name.to_owned()
    }

    fn of_type(&self, rm_type: &str) -> Vec<&'k ArchetypeInfo> {
        self.catalog
            .archetypes
            .iter()
            .filter(|a| a.rm_type == rm_type)
            .collect()
    }

    /// Archetypes found inside `outer` (or anywhere, without one), compositions excluded.
    fn inside(&self, outer: Option<&ArchetypeInfo>) -> Vec<&'k ArchetypeInfo> {
        self.catalog
            .archetypes
            .iter()
            .filter(|a| a.rm_type != "COMPOSITION")
            .filter(|a| outer.is_none_or(|o| o.contains.contains(&a.archetype_id)))
            .collect()
    }

    /// `[archetype-id]`, sometimes with a name or as a standard predicate.
    fn archetype_predicate(&mut self, a: &ArchetypeInfo) -> String {
        let id = &a.archetype_id;
        match self.rng.below(10) {
            0..=1 if !a.names.is_empty() => {
                let name = self.rng.pick(&a.names).cloned().unwrap_or_default();
                format!("[{id}, {}]", quoted(&name))
            }
            2 => format!("[archetype_node_id={id}]"),
            _ => format!("[{id}]"),
        }
    }

    /// A class expression for an archetype, sometimes with an abstract class name.
    fn class(&mut self, a: &'k ArchetypeInfo, var: &str) -> String {
        let care = ["OBSERVATION", "EVALUATION", "INSTRUCTION", "ACTION"];
        let class = match a.rm_type.as_str() {
            t if care.contains(&t) && self.rng.chance(15) => {
                if self.rng.chance(50) {
                    "ENTRY"
                } else {
                    "CARE_ENTRY"
                }
            }
            "ADMIN_ENTRY" if self.rng.chance(15) => "ENTRY",
            "CLUSTER" if self.rng.chance(15) => "ITEM",
            t => t,
        }
        .to_owned();
        let pred = self.archetype_predicate(a);
        self.declare(var, VarKind::Archetyped(Some(a)));
        format!("{class} {var}{pred}")
    }

    /// `COMPOSITION c[...]`, the composition's archetype when it has one.
    fn composition(&mut self) -> (String, Option<&'k ArchetypeInfo>) {
        let comps = self.of_type("COMPOSITION");
        match self.rng.pick(&comps).copied() {
            Some(a) if self.rng.chance(80) => (self.class(a, "c"), Some(a)),
            _ => {
                self.declare("c", VarKind::Archetyped(None));
                ("COMPOSITION c".to_owned(), None)
            }
        }
    }

    fn ehr(&mut self) -> String {
        self.declare("e", VarKind::Ehr);
        "EHR e".to_owned()
    }

    /// A class expression for an archetype of `rm_type` (any of them), else the bare class
    /// with generic leaves.
    fn of_class(&mut self, rm_type: &str, var: &str) -> String {
        let found = self.of_type(rm_type);
        match self.rng.pick(&found).copied() {
            Some(a) if self.rng.chance(70) => self.class(a, var),
            _ => {
                self.declare(var, VarKind::Generic);
                format!("{rm_type} {var}")
            }
        }
    }

    fn version(&mut self) -> String {
        self.declare("v", VarKind::Version);
        let version = ["", "[ALL_VERSIONS]", "[LATEST_VERSION]"][self.rng.below(3)];
        format!("VERSION v{version}")
    }

    fn from(&mut self) -> String {
        let shape = self.rng.below(17);
        match shape {
            0 => {
                let e = self.ehr();
                let (c, _) = self.composition();
                format!("{e} CONTAINS {c}")
            }
            1..=3 => {
                let e = self.ehr();
                let (c, comp) = self.composition();
                match self.entry_inside(comp, "x") {
                    Some(x) => format!("{e} CONTAINS {c} CONTAINS {x}"),
                    None => format!("{e} CONTAINS {c}"),
                }
            }
            4 => {
                let (c, comp) = self.composition();
                let Some(x) = self.entry_inside(comp, "x") else {
                    return c;
                };
                let outer = self.vars.last().and_then(|v| match v.kind {
                    VarKind::Archetyped(a) => a,
                    _ => None,
                });
                match self.entry_inside(outer, "y") {
                    Some(y) => format!("{c} CONTAINS {x} CONTAINS {y}"),
                    None => format!("{c} CONTAINS {x}"),
                }
            }
            5 | 6 => {
                let e = self.ehr();
                let (c, comp) = self.composition();
                let joiner = if shape == 5 { "AND" } else { "OR" };
                match (self.entry_inside(comp, "x"), self.entry_inside(comp, "y")) {
                    (Some(x), Some(y)) => format!("{e} CONTAINS {c} CONTAINS ({x} {joiner} {y})"),
                    (Some(x), None) => format!("{e} CONTAINS {c} CONTAINS {x}"),
                    _ => format!("{e} CONTAINS {c}"),
                }
            }
            7 => {
                let e = self.ehr();
                let (c, comp) = self.composition();
                let inner = self.inside(comp);
                match self.rng.pick(&inner).copied() {
                    Some(a) => {
                        let class = self.class(a, "x");
                        // The NOT CONTAINS variable is never bound: do not use it.
                        self.vars.pop();
                        format!("{e} CONTAINS {c} NOT CONTAINS {class}")
                    }
                    None => format!("{e} CONTAINS {c}"),
                }
            }
            8 => match self.entry_inside(None, "x") {
                Some(x) => x,
                None => self.ehr(),
            },
            9 => {
                let e = self.ehr();
                let v = self.version();
                let (c, _) = self.composition();
                format!("{e} CONTAINS {v} CONTAINS {c}")
            }
            12 => {
                let e = self.ehr();
                let s = self.of_class("EHR_STATUS", "s");
                format!("{e} CONTAINS {s}")
            }
            13 => {
                let e = self.ehr();
                let v = self.version();
                let s = self.of_class("EHR_STATUS", "s");
                format!("{e} CONTAINS {v} CONTAINS {s}")
            }
            14 => {
                let e = self.ehr();
                let f = self.of_class("FOLDER", "f");
                let (c, comp) = self.composition();
                let deeper = self.rng.chance(40);
                match deeper.then(|| self.entry_inside(comp, "x")).flatten() {
                    Some(x) => format!("{e} CONTAINS {f} CONTAINS {c} CONTAINS {x}"),
                    None => format!("{e} CONTAINS {f} CONTAINS {c}"),
                }
            }
            15 => {
                let e = self.ehr();
                let f = self.of_class("FOLDER", "f");
                if self.rng.chance(50) {
                    let v = self.version();
                    format!("{e} CONTAINS {f} CONTAINS {v}")
                } else {
                    let g = self.of_class("FOLDER", "g");
                    format!("{e} CONTAINS {f} CONTAINS {g}")
                }
            }
            16 => {
                // Below EHR: the EHR_STATUS's content and the compositions'.
                let e = self.ehr();
                let class = ["ELEMENT", "CLUSTER", "ITEM_TREE"][self.rng.below(3)];
                self.declare("el", VarKind::Generic);
                format!("{e} CONTAINS {class} el")
            }
            _ => {
                let (c, _) = self.composition();
                let class = if self.rng.chance(70) {
                    "ELEMENT"
                } else {
                    "CLUSTER"
                };
                self.declare("el", VarKind::Generic);
                format!("{c} CONTAINS {class} el")
            }
        }
    }

    /// A class expression for an archetype found inside `outer`.
    fn entry_inside(&mut self, outer: Option<&ArchetypeInfo>, var: &str) -> Option<String> {
        let inner = self.inside(outer);
        let a = *self.rng.pick(&inner)?;
        Some(self.class(a, var))
    }

    // ------------------------------------------------------------------ SELECT

    /// The leaves a variable offers.
    fn leaves(&self, var: &Var<'k>) -> Vec<Leaf> {
        let fixed = |paths: &[&str]| -> Vec<Leaf> {
            paths
                .iter()
                .map(|p| Leaf {
                    text: format!("{}/{p}", var.name),
                    samples: Vec::new(),
                })
                .collect()
        };
        match var.kind {
            VarKind::Ehr => fixed(&["ehr_id/value", "time_created/value", "system_id/value"]),
            VarKind::Version => fixed(&[
                "uid/value",
                "commit_audit/time_committed/value",
                "lifecycle_state/defining_code/code_string",
            ]),
            VarKind::Generic => fixed(&["name/value", "archetype_node_id", "value/value"]),
            VarKind::Archetyped(None) => fixed(&[
                "name/value",
                "context/start_time/value",
                "archetype_details/template_id/value",
            ]),
            VarKind::Archetyped(Some(a)) => a
                .paths
                .iter()
                .map(|LeafPath { path, samples }| Leaf {
                    text: format!("{}{path}", var.name),
                    samples: samples.clone(),
                })
                .collect(),
        }
    }

    fn any_leaf(&mut self, with_samples: bool) -> Option<Leaf> {
        let var = self.rng.pick(&self.vars)?.clone();
        let mut leaves = self.leaves(&var);
        if with_samples {
            leaves.retain(|l| !l.samples.is_empty());
        }
        // Prefer data values over RM attributes.
        let values: Vec<Leaf> = leaves
            .iter()
            .filter(|l| l.text.contains("/value"))
            .cloned()
            .collect();
        if !values.is_empty() && self.rng.chance(70) {
            leaves = values;
        }
        self.rng.pick(&leaves).cloned()
    }

    fn column(&mut self, allow_object: bool) -> Column {
        if allow_object && self.rng.chance(15) {
            if let Some(v) = self.rng.pick(&self.vars) {
                return Column {
                    text: v.name.clone(),
                    order_key: None,
                    aggregate: false,
                };
            }
        }
        let text = self
            .any_leaf(false)
            .map_or_else(|| "'none'".to_owned(), |l| l.text);
        Column {
            order_key: Some(text.clone()),
            text,
            aggregate: false,
        }
    }

    /// 1-3 plain columns; whether DISTINCT; not aggregated; orderable.
    fn plain_columns(&mut self) -> (Vec<Column>, bool, bool, bool) {
        let n = 1 + self.rng.below(3);
        let mut cols: Vec<Column> = (0..n).map(|_| self.column(true)).collect();
        for (i, c) in cols.iter_mut().enumerate() {
            if c.order_key.is_some() && self.rng.chance(30) {
                let alias = format!("col{i}");
                c.text = format!("{} AS {alias}", c.text);
                c.order_key = Some(alias);
            }
        }
        (cols, self.rng.chance(20), false, true)
    }

    /// 1-3 aggregates.
    fn aggregates(&mut self) -> Vec<Column> {
        let n = 1 + self.rng.below(3);
        (0..n)
            .map(|i| {
                let text = self.aggregate();
                let text = if self.rng.chance(30) {
                    format!("{text} AS agg{i}")
                } else {
                    text
                };
                Column {
                    text,
                    order_key: None,
                    aggregate: true,
                }
            })
            .collect()
    }

    fn aggregate(&mut self) -> String {
        let numeric = |l: &Leaf| !l.samples.is_empty() && l.samples.iter().all(Value::is_number);
        let strings = |l: &Leaf| !l.samples.is_empty() && l.samples.iter().all(Value::is_string);
        let (function, leaf) = match self.rng.below(7) {
            0 => return "COUNT(*)".to_owned(),
            1 => ("COUNT", self.any_leaf(false)),
            2 => ("COUNT(DISTINCT", self.any_leaf(false)),
            3 => ("MIN", self.leaf_where(|l| numeric(l) || strings(l))),
            4 => ("MAX", self.leaf_where(|l| numeric(l) || strings(l))),
            5 => ("SUM", self.leaf_where(numeric)),
            _ => ("AVG", self.leaf_where(numeric)),
        };
        match leaf {
            Some(l) if function == "COUNT(DISTINCT" => format!("COUNT(DISTINCT {})", l.text),
            Some(l) => format!("{function}({})", l.text),
            None => "COUNT(*)".to_owned(),
        }
    }

    /// A leaf of any variable that satisfies `keep`.
    fn leaf_where(&mut self, keep: impl Fn(&Leaf) -> bool) -> Option<Leaf> {
        let all: Vec<Leaf> = self
            .vars
            .iter()
            .flat_map(|v| self.leaves(v))
            .filter(|l| keep(l))
            .collect();
        self.rng.pick(&all).cloned()
    }

    // ------------------------------------------------------------------ WHERE

    fn condition(&mut self, depth: u32) -> Option<String> {
        if depth > 0 && self.rng.chance(35) {
            let a = self.condition(depth - 1)?;
            let b = self.condition(depth - 1)?;
            let op = if self.rng.chance(50) { "AND" } else { "OR" };
            return Some(format!("({a} {op} {b})"));
        }
        if depth > 0 && self.rng.chance(10) {
            return Some(format!("NOT {}", self.condition(depth - 1)?));
        }
        let leaf = match self.any_leaf(true) {
            Some(l) => l,
            None => return self.any_leaf(false).map(|l| format!("EXISTS {}", l.text)),
        };
        let sample = self.rng.pick(&leaf.samples)?.clone();
        let path = &leaf.text;
        Some(match self.rng.below(10) {
            0 => format!("EXISTS {path}"),
            1 if sample.is_string() => {
                let s = sample.as_str().unwrap_or_default();
                format!("{path} LIKE {}", quoted(&like_pattern(self.rng, s)))
            }
            2 => {
                let other = self.rng.pick(&leaf.samples)?.clone();
                format!(
                    "{path} MATCHES {{{}, {}}}",
                    literal(&sample)?,
                    literal(&other)?
                )
            }
            _ => {
                let ops: &[&str] = if sample.is_boolean() {
                    &["=", "!="]
                } else {
                    &["=", "!=", "<", "<=", ">", ">="]
                };
                let op = self.rng.pick(ops)?;
                let value = match sample.as_str().and_then(|s| in_other_zone(self.rng, s)) {
                    Some(shifted) => Value::String(shifted),
                    None => sample,
                };
                format!("{path} {op} {}", literal(&value)?)
            }
        })
    }
}

/// A SELECT column as text, with what ORDER BY may call it (None: a whole object or an
/// aggregate).
struct Column {
    text: String,
    order_key: Option<String>,
    aggregate: bool,
}

fn quoted(s: &str) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_quoted(&mut out, s);
    out
}

/// The AQL literal for a sample value.
fn literal(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(quoted(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(i.to_string()),
            None => Some(format!("{:?}", n.as_f64()?)),
        },
        _ => None,
    }
}

/// Sometimes, a date-time string as the same instant in another zone.
fn in_other_zone(rng: &mut Rng, s: &str) -> Option<String> {
    if !s.contains('T') || !rng.chance(40) {
        return None;
    }
    let (secs, nanos) = instant(s)?;
    let offset = [-5 * 3600, 3600, 5 * 3600 + 1800][rng.below(3)];
    let zone = chrono::FixedOffset::east_opt(offset)?;
    let t = chrono::DateTime::from_timestamp(secs, nanos)?.with_timezone(&zone);
    Some(t.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string())
}

/// A LIKE pattern that matches `s`: a prefix then `*`, or `s` with one character as `?`.
fn like_pattern(rng: &mut Rng, s: &str) -> String {
    let escape = |c: char| match c {
        '*' | '?' | '\\' => format!("\\{c}"),
        c => c.to_string(),
    };
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return "*".to_owned();
    }
    if rng.chance(50) {
        let keep = rng.below(chars.len() + 1);
        let mut p: String = chars[..keep].iter().map(|&c| escape(c)).collect();
        p.push('*');
        p
    } else {
        let hole = rng.below(chars.len());
        chars
            .iter()
            .enumerate()
            .map(|(i, &c)| if i == hole { "?".to_owned() } else { escape(c) })
            .collect()
    }
}
