//! From [`Archetype`] back to ADL 1.4 text, laid out as the openEHR tools lay it out (tabs,
//! one constraint per line, the term's text as a comment after each at-code). Domain types
//! are written in their short forms (`[local::at0001]`, `0|[local::at0002]`) except
//! C_DV_QUANTITY, which has none.

use std::fmt::Write as _;

use crate::dadl::{Dadl, DadlPrim};
use crate::model::*;

/// The ADL text of `archetype`.
pub fn write(archetype: &Archetype) -> String {
    let mut w = Writer {
        out: String::with_capacity(64 * 1024),
        archetype,
    };
    w.archetype();
    w.out
}

struct Writer<'a> {
    out: String,
    archetype: &'a Archetype,
}

fn tabs(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push('\t');
    }
}

impl Writer<'_> {
    fn archetype(&mut self) {
        let a = self.archetype;
        self.out.push_str("archetype");
        if !a.meta.is_empty() {
            self.out.push_str(" (");
            for (i, (k, v)) in a.meta.iter().enumerate() {
                if i > 0 {
                    self.out.push_str("; ");
                }
                self.out.push_str(k);
                if let Some(v) = v {
                    self.out.push('=');
                    self.out.push_str(v);
                }
            }
            self.out.push(')');
        }
        let _ = write!(self.out, "\n\t{}\n", a.archetype_id);
        if let Some(parent) = &a.specialise {
            let _ = write!(self.out, "specialise\n\t{parent}\n");
        }
        let _ = write!(self.out, "\nconcept\n\t[{}]", a.concept);
        self.comment(&a.concept);
        self.out.push_str("\nlanguage\n");
        write_attrs(&mut self.out, &a.language, 1);
        if let Some(d) = &a.description {
            self.out.push_str("\ndescription\n");
            write_attrs(&mut self.out, d, 1);
        }
        self.out.push_str("\ndefinition\n");
        self.complex(&a.definition, 1);
        if let Some(inv) = &a.invariant {
            let _ = write!(self.out, "\ninvariant\n\t{inv}\n");
        }
        self.out.push_str("\nontology\n");
        self.ontology(&a.ontology);
    }

    /// `\t-- text` after an at-code, from the first language's term.
    fn comment(&mut self, code: &str) {
        let text = self
            .archetype
            .ontology
            .term_definitions
            .first()
            .and_then(|(_, terms)| terms.iter().find(|t| t.code == code))
            .and_then(|t| t.item("text"));
        if let Some(text) = text {
            let line = text.lines().next().unwrap_or("");
            let _ = write!(self.out, "\t-- {line}");
        }
    }

    fn complex(&mut self, c: &CComplexObject, depth: usize) {
        tabs(&mut self.out, depth);
        self.out.push_str(&c.rm_type);
        if let Some(id) = &c.node_id {
            let _ = write!(self.out, "[{id}]");
        }
        if let Some(o) = &c.occurrences {
            let _ = write!(self.out, " occurrences matches {{{o}}}");
        }
        if c.any {
            self.out.push_str(" matches {*}");
            if let Some(id) = &c.node_id {
                self.comment(id);
            }
            self.out.push('\n');
            return;
        }
        self.out.push_str(" matches {");
        if let Some(id) = &c.node_id {
            self.comment(id);
        }
        self.out.push('\n');
        for a in &c.attributes {
            self.attribute(a, depth + 1);
        }
        tabs(&mut self.out, depth);
        self.out.push_str("}\n");
    }

    fn attribute(&mut self, a: &CAttribute, depth: usize) {
        tabs(&mut self.out, depth);
        self.out.push_str(&a.name);
        if let Some(e) = &a.existence {
            let _ = write!(self.out, " existence matches {{{e}}}");
        }
        if let Some(c) = &a.cardinality {
            let _ = write!(
                self.out,
                " cardinality matches {{{}; {}{}}}",
                c.interval,
                if c.ordered { "ordered" } else { "unordered" },
                if c.unique { "; unique" } else { "" }
            );
        }
        if a.any {
            self.out.push_str(" matches {*}\n");
            return;
        }
        self.out.push_str(" matches {\n");
        for child in &a.children {
            self.object(child, depth + 1);
        }
        tabs(&mut self.out, depth);
        self.out.push_str("}\n");
    }

    fn object(&mut self, o: &CObject, depth: usize) {
        match o {
            CObject::Complex(c) => self.complex(c, depth),
            CObject::Slot(s) => self.slot(s, depth),
            CObject::InternalRef(r) => {
                tabs(&mut self.out, depth);
                let _ = write!(self.out, "use_node {}", r.rm_type);
                if let Some(o) = &r.occurrences {
                    let _ = write!(self.out, " occurrences matches {{{o}}}");
                }
                let _ = writeln!(self.out, " {}", r.target);
            }
            CObject::ConstraintRef(r) => {
                tabs(&mut self.out, depth);
                let _ = writeln!(self.out, "[{}]", r.code);
            }
            CObject::Primitive(p) => {
                tabs(&mut self.out, depth);
                primitive(&mut self.out, p);
                self.out.push('\n');
            }
            CObject::CodePhrase(c) => {
                tabs(&mut self.out, depth);
                let _ = write!(self.out, "[{}::", c.terminology);
                if c.codes.len() > 1 {
                    for (i, code) in c.codes.iter().enumerate() {
                        self.out.push('\n');
                        tabs(&mut self.out, depth);
                        self.out.push_str(code);
                        let last = i + 1 == c.codes.len();
                        if !last {
                            self.out.push(',');
                        } else if c.assumed.is_some() {
                            self.out.push(';');
                        } else {
                            self.out.push(']');
                        }
                        if c.terminology == "local" {
                            self.comment(code);
                        }
                    }
                    if let Some(a) = &c.assumed {
                        self.out.push('\n');
                        tabs(&mut self.out, depth);
                        let _ = write!(self.out, "{a}]");
                    }
                } else {
                    if let Some(code) = c.codes.first() {
                        self.out.push_str(code);
                    }
                    if let Some(a) = &c.assumed {
                        let _ = write!(self.out, "; {a}");
                    }
                    self.out.push(']');
                }
                self.out.push('\n');
            }
            CObject::Ordinal(o) => {
                for (i, item) in o.items.iter().enumerate() {
                    tabs(&mut self.out, depth);
                    let _ = write!(self.out, "{}|{}", item.value, item.symbol);
                    let last = i + 1 == o.items.len();
                    if !last {
                        self.out.push(',');
                    } else if o.assumed.is_some() {
                        self.out.push(';');
                    }
                    if item.symbol.terminology == "local" {
                        self.comment(&item.symbol.code);
                    }
                    self.out.push('\n');
                }
                if let Some(a) = o.assumed {
                    tabs(&mut self.out, depth);
                    let _ = writeln!(self.out, "{a}");
                }
            }
            CObject::Quantity(q) => {
                tabs(&mut self.out, depth);
                self.out.push_str("C_DV_QUANTITY <\n");
                let d = depth + 1;
                if let Some(p) = &q.property {
                    tabs(&mut self.out, d);
                    let _ = writeln!(self.out, "property = <{p}>");
                }
                if !q.list.is_empty() {
                    tabs(&mut self.out, d);
                    self.out.push_str("list = <\n");
                    for (i, item) in q.list.iter().enumerate() {
                        tabs(&mut self.out, d + 1);
                        let _ = writeln!(self.out, "[\"{}\"] = <", i + 1);
                        tabs(&mut self.out, d + 2);
                        self.out.push_str("units = <");
                        string(&mut self.out, &item.units);
                        self.out.push_str(">\n");
                        if let Some(m) = &item.magnitude {
                            tabs(&mut self.out, d + 2);
                            self.out.push_str("magnitude = <");
                            interval(&mut self.out, m, |o, v| real(o, *v));
                            self.out.push_str(">\n");
                        }
                        if let Some(p) = &item.precision {
                            tabs(&mut self.out, d + 2);
                            self.out.push_str("precision = <");
                            interval(&mut self.out, p, |o, v| {
                                let _ = write!(o, "{v}");
                            });
                            self.out.push_str(">\n");
                        }
                        tabs(&mut self.out, d + 1);
                        self.out.push_str(">\n");
                    }
                    tabs(&mut self.out, d);
                    self.out.push_str(">\n");
                }
                if let Some(a) = &q.assumed {
                    tabs(&mut self.out, d);
                    self.out.push_str("assumed_value = <\n");
                    if let Some(u) = &a.units {
                        tabs(&mut self.out, d + 1);
                        self.out.push_str("units = <");
                        string(&mut self.out, u);
                        self.out.push_str(">\n");
                    }
                    if let Some(p) = a.precision {
                        tabs(&mut self.out, d + 1);
                        let _ = writeln!(self.out, "precision = <{p}>");
                    }
                    if let Some(m) = a.magnitude {
                        tabs(&mut self.out, d + 1);
                        self.out.push_str("magnitude = <");
                        real(&mut self.out, m);
                        self.out.push_str(">\n");
                    }
                    tabs(&mut self.out, d);
                    self.out.push_str(">\n");
                }
                tabs(&mut self.out, depth);
                self.out.push_str(">\n");
            }
        }
    }

    fn slot(&mut self, s: &ArchetypeSlot, depth: usize) {
        tabs(&mut self.out, depth);
        let _ = write!(self.out, "allow_archetype {}", s.rm_type);
        if let Some(id) = &s.node_id {
            let _ = write!(self.out, "[{id}]");
        }
        if let Some(o) = &s.occurrences {
            let _ = write!(self.out, " occurrences matches {{{o}}}");
        }
        if s.any {
            self.out.push_str(" matches {*}\n");
            return;
        }
        self.out.push_str(" matches {");
        if let Some(id) = &s.node_id {
            self.comment(id);
        }
        self.out.push('\n');
        for (word, list) in [("include", &s.includes), ("exclude", &s.excludes)] {
            if list.is_empty() {
                continue;
            }
            tabs(&mut self.out, depth + 1);
            self.out.push_str(word);
            self.out.push('\n');
            for a in list {
                tabs(&mut self.out, depth + 2);
                let _ = write!(self.out, "{} matches {{", a.path);
                primitive(&mut self.out, &a.constraint);
                self.out.push_str("}\n");
            }
        }
        tabs(&mut self.out, depth);
        self.out.push_str("}\n");
    }

    fn ontology(&mut self, o: &Ontology) {
        let out = &mut self.out;
        if !o.terminologies_available.is_empty() {
            out.push_str("\tterminologies_available = <");
            for (i, t) in o.terminologies_available.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(out, t);
            }
            if o.terminologies_available.len() == 1 {
                out.push_str(", ...");
            }
            out.push_str(">\n");
        }
        for (name, defs) in [
            ("term_definitions", &o.term_definitions),
            ("constraint_definitions", &o.constraint_definitions),
        ] {
            if defs.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\t{name} = <");
            for (lang, terms) in defs {
                out.push_str("\t\t[");
                string(out, lang);
                out.push_str("] = <\n\t\t\titems = <\n");
                for t in terms {
                    out.push_str("\t\t\t\t[");
                    string(out, &t.code);
                    out.push_str("] = <\n");
                    for (k, v) in &t.items {
                        let _ = write!(out, "\t\t\t\t\t{k} = <");
                        string(out, v);
                        out.push_str(">\n");
                    }
                    out.push_str("\t\t\t\t>\n");
                }
                out.push_str("\t\t\t>\n\t\t>\n");
            }
            out.push_str("\t>\n");
        }
        for (name, bindings) in [
            ("term_bindings", &o.term_bindings),
            ("constraint_bindings", &o.constraint_bindings),
        ] {
            if bindings.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\t{name} = <");
            for (terminology, items) in bindings {
                out.push_str("\t\t[");
                string(out, terminology);
                out.push_str("] = <\n\t\t\titems = <\n");
                for (code, value) in items {
                    out.push_str("\t\t\t\t[");
                    string(out, code);
                    out.push_str("] = ");
                    write_block(out, value, 4);
                }
                out.push_str("\t\t\t>\n\t\t>\n");
            }
            out.push_str("\t>\n");
        }
        write_attrs(out, &o.other, 1);
    }
}

/// `name = <…>` lines at `depth`.
pub(crate) fn write_attrs(out: &mut String, attrs: &[(String, Dadl)], depth: usize) {
    for (k, v) in attrs {
        tabs(out, depth);
        out.push_str(k);
        out.push_str(" = ");
        write_block(out, v, depth);
    }
}

/// `<…>` and a newline; nested objects indented one level deeper than `depth`.
fn write_block(out: &mut String, d: &Dadl, depth: usize) {
    match d {
        Dadl::Empty => out.push_str("<>\n"),
        Dadl::Values { items, list } => {
            out.push('<');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                prim(out, v);
            }
            if *list && items.len() == 1 {
                out.push_str(", ...");
            }
            out.push_str(">\n");
        }
        Dadl::Attrs(attrs) => {
            out.push_str("<\n");
            write_attrs(out, attrs, depth + 1);
            tabs(out, depth);
            out.push_str(">\n");
        }
        Dadl::Keyed(entries) => {
            out.push_str("<\n");
            for e in entries {
                tabs(out, depth + 1);
                out.push('[');
                prim(out, &e.key);
                out.push_str("] = ");
                write_block(out, &e.value, depth + 1);
            }
            tabs(out, depth);
            out.push_str(">\n");
        }
    }
}

fn prim(out: &mut String, v: &DadlPrim) {
    match v {
        DadlPrim::String(s) => string(out, s),
        DadlPrim::Character(c) => {
            let _ = write!(out, "'{c}'");
        }
        DadlPrim::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        DadlPrim::Real(r) => real(out, *r),
        DadlPrim::Boolean(b) => out.push_str(if *b { "True" } else { "False" }),
        DadlPrim::Date(s)
        | DadlPrim::Time(s)
        | DadlPrim::DateTime(s)
        | DadlPrim::Duration(s)
        | DadlPrim::Uri(s) => out.push_str(s),
        DadlPrim::Interval(i) => interval(out, i, prim),
        DadlPrim::TermCode(t) => {
            let _ = write!(out, "{t}");
        }
    }
}

/// A string literal with `\` and `"` escaped.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A real, always with a decimal point so that it reads back as a real.
fn real(out: &mut String, r: f64) {
    let s = format!("{r}");
    out.push_str(&s);
    if !s.contains(['.', 'e', 'E', 'N', 'i']) {
        out.push_str(".0");
    }
}

fn interval<T: PartialEq>(out: &mut String, i: &Interval<T>, value: impl Fn(&mut String, &T)) {
    out.push('|');
    match (&i.lower, &i.upper) {
        (Some(l), Some(u)) if l == u && i.lower_included && i.upper_included => value(out, l),
        (Some(l), Some(u)) => {
            if !i.lower_included {
                out.push('>');
            }
            value(out, l);
            out.push_str("..");
            if !i.upper_included {
                out.push('<');
            }
            value(out, u);
        }
        (Some(l), None) => {
            out.push_str(if i.lower_included { ">=" } else { ">" });
            value(out, l);
        }
        (None, Some(u)) => {
            out.push_str(if i.upper_included { "<=" } else { "<" });
            value(out, u);
        }
        (None, None) => out.push('*'),
    }
    out.push('|');
}

fn primitive(out: &mut String, p: &CPrimitive) {
    fn list<T>(out: &mut String, items: &[Item<T>], value: impl Fn(&mut String, &T) + Copy)
    where
        T: PartialEq,
    {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match item {
                Item::Value(v) => value(out, v),
                Item::Range(r) => interval(out, r, value),
            }
        }
    }
    match &p.kind {
        PrimitiveKind::String {
            values,
            pattern,
            assumed,
        } => {
            if let Some(p) = pattern {
                out.push('/');
                out.push_str(&p.replace('/', "\\/"));
                out.push('/');
            }
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                string(out, v);
            }
            if let Some(a) = assumed {
                out.push_str("; ");
                string(out, a);
            }
        }
        PrimitiveKind::Integer { items, assumed } => {
            list(out, items, |o, v| {
                let _ = write!(o, "{v}");
            });
            if let Some(a) = assumed {
                let _ = write!(out, "; {a}");
            }
        }
        PrimitiveKind::Real { items, assumed } => {
            list(out, items, |o, v| real(o, *v));
            if let Some(a) = assumed {
                out.push_str("; ");
                real(out, *a);
            }
        }
        PrimitiveKind::Boolean { values, assumed } => {
            let b = |b: bool| if b { "True" } else { "False" };
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(b(*v));
            }
            if let Some(a) = assumed {
                let _ = write!(out, "; {}", b(*a));
            }
        }
        PrimitiveKind::Temporal {
            pattern,
            items,
            assumed,
            ..
        } => {
            if let Some(p) = pattern {
                out.push_str(p);
                if !items.is_empty() {
                    out.push('/');
                }
            }
            list(out, items, |o, v| o.push_str(v));
            if let Some(a) = assumed {
                let _ = write!(out, "; {a}");
            }
        }
    }
}

/// The text of a primitive constraint, as written inside `matches {…}`.
pub fn primitive_text(p: &CPrimitive) -> String {
    let mut s = String::new();
    primitive(&mut s, p);
    s
}
