//! [`OptDocument`] → OPT 1.4 XML, laid out as the openEHR tools write operational templates
//! (namespace `http://schemas.openehr.org/v1`, intervals with their four flags, archetype roots
//! carrying their `term_definitions`), so that [`crate::parse_opt`] and other OPT readers take
//! it.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use crate::model::{CAttribute, CObject, CObjectKind, CPrimitive, DefaultValue, Interval};

/// What an operational template document holds.
#[derive(Debug, Clone)]
pub struct OptDocument {
    /// `template_id/value`.
    pub template_id: String,
    /// `uid/value`.
    pub uid: Option<String>,
    /// `concept`.
    pub concept: String,
    /// `language/code_string` (ISO 639-1).
    pub language: String,
    /// `description/other_details`: the template's metadata (key, value).
    pub other_details: Vec<(String, String)>,
    /// The definition: the root archetype (a C_ARCHETYPE_ROOT).
    pub definition: CObject,
    /// Default values (`constraints/attributes`); paths as [`DefaultValue::path`], from the
    /// root archetype.
    pub default_values: Vec<DefaultValue>,
    /// Paths (from the root archetype, as default value paths) of nodes hidden on forms
    /// (`view/constraints` with `pass_through`).
    pub hidden: Vec<String>,
}

/// Writes `doc` as OPT 1.4 XML.
pub fn write_opt(doc: &OptDocument) -> String {
    let mut w = W {
        out: String::with_capacity(64 * 1024),
        depth: 1,
    };
    w.out.push_str(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<template \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns=\"http://schemas.openehr.org/v1\">\n",
    );
    w.code_phrase("language", "ISO_639-1", &doc.language);
    w.open("description");
    w.leaf_attr("original_author", "id", "Original Author", "Not Specified");
    w.leaf("lifecycle_state", "Initial");
    for (key, value) in &doc.other_details {
        w.leaf_attr("other_details", "id", key, value);
    }
    w.open("details");
    w.code_phrase("language", "ISO_639-1", &doc.language);
    w.leaf("purpose", "Not Specified");
    w.close("details");
    w.close("description");
    if let Some(uid) = &doc.uid {
        w.open("uid");
        w.leaf("value", uid);
        w.close("uid");
    }
    w.open("template_id");
    w.leaf("value", &doc.template_id);
    w.close("template_id");
    w.leaf("concept", &doc.concept);
    w.object_body("definition", &doc.definition);
    let root_id = doc
        .definition
        .as_archetype_root()
        .map_or("", |r| r.archetype_id.as_str());
    if !doc.default_values.is_empty() {
        w.open("constraints");
        for d in &doc.default_values {
            w.default_value(root_id, d);
        }
        w.close("constraints");
    }
    if !doc.hidden.is_empty() {
        w.open("view");
        for path in &doc.hidden {
            w.indent();
            let _ = writeln!(
                w.out,
                "<constraints path=\"{}\">",
                escape(differential(root_id, path))
            );
            w.depth += 1;
            w.indent();
            w.out.push_str("<items id=\"pass_through\">\n");
            w.depth += 1;
            w.leaf("value", "true");
            w.close("items");
            w.close("constraints");
        }
        w.close("view");
    }
    w.out.push_str("</template>\n");
    w.out
}

/// `[root]/content[…]` from a path written from the root archetype.
fn differential(root_id: &str, path: &str) -> String {
    format!("[{root_id}]{}", path.replace(",'", ", '"))
}

struct W {
    out: String,
    depth: usize,
}

impl W {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, tag: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag}>");
        self.depth += 1;
    }

    fn open_typed(&mut self, tag: &str, xsi: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{tag} xsi:type=\"{xsi}\">");
        self.depth += 1;
    }

    fn close(&mut self, tag: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{tag}>");
    }

    fn leaf(&mut self, tag: &str, text: &str) {
        self.indent();
        if text.is_empty() {
            let _ = writeln!(self.out, "<{tag} />");
        } else {
            let _ = writeln!(self.out, "<{tag}>{}</{tag}>", escape(text));
        }
    }

    fn leaf_attr(&mut self, tag: &str, attr: &str, value: &str, text: &str) {
        self.indent();
        let _ = writeln!(
            self.out,
            "<{tag} {attr}=\"{}\">{}</{tag}>",
            escape(value),
            escape(text)
        );
    }

    fn interval<T: ToString>(&mut self, tag: &str, i: &Interval<T>) {
        self.open(tag);
        self.leaf(
            "lower_included",
            bool_text(i.lower.is_some() && i.lower_included),
        );
        if i.upper.is_some() {
            self.leaf("upper_included", bool_text(i.upper_included));
        }
        self.leaf("lower_unbounded", bool_text(i.lower.is_none()));
        self.leaf("upper_unbounded", bool_text(i.upper.is_none()));
        if let Some(l) = &i.lower {
            self.leaf("lower", &l.to_string());
        }
        if let Some(u) = &i.upper {
            self.leaf("upper", &u.to_string());
        }
        self.close(tag);
    }

    fn code_phrase(&mut self, tag: &str, terminology: &str, code: &str) {
        self.open(tag);
        self.open("terminology_id");
        self.leaf("value", terminology);
        self.close("terminology_id");
        self.leaf("code_string", code);
        self.close(tag);
    }

    /// `<tag xsi:type="…">` for a constraint object, its body, and the end tag.
    fn object_body(&mut self, tag: &str, o: &CObject) {
        if tag == "definition" {
            self.open(tag);
        } else {
            self.open_typed(tag, xsi_type(o));
        }
        self.leaf("rm_type_name", &o.rm_type_name);
        self.interval("occurrences", &o.occurrences);
        self.leaf("node_id", &o.node_id);
        match &o.kind {
            CObjectKind::Complex { attributes } => self.attributes(attributes),
            CObjectKind::ArchetypeRoot(root) => {
                self.attributes(&root.attributes);
                self.open("archetype_id");
                self.leaf("value", &root.archetype_id);
                self.close("archetype_id");
                if let Some(t) = &root.template_id {
                    self.open("template_id");
                    self.leaf("value", t);
                    self.close("template_id");
                }
                // The code itself breaks ties (`at0.1` and `at0000.1` number alike), so the
                // same template always compiles to the same text.
                let mut terms: Vec<_> = root.terms.iter().collect();
                terms.sort_by(|a, b| code_order(a.0).cmp(&code_order(b.0)).then(a.0.cmp(b.0)));
                for (code, term) in terms {
                    self.indent();
                    let _ = writeln!(self.out, "<term_definitions code=\"{}\">", escape(code));
                    self.depth += 1;
                    self.leaf_attr("items", "id", "text", &term.text);
                    self.leaf_attr("items", "id", "description", &term.description);
                    for (k, v) in &term.other {
                        self.leaf_attr("items", "id", k, v);
                    }
                    self.close("term_definitions");
                }
                let mut bindings: Vec<_> = root.term_bindings.iter().collect();
                bindings.sort_by(|a, b| a.0.cmp(b.0));
                for (terminology, items) in bindings {
                    self.indent();
                    let _ = writeln!(
                        self.out,
                        "<term_bindings terminology=\"{}\">",
                        escape(terminology)
                    );
                    self.depth += 1;
                    let mut items: Vec<_> = items.iter().collect();
                    items.sort();
                    for (code, bound) in items {
                        self.indent();
                        let _ = writeln!(self.out, "<items code=\"{}\">", escape(code));
                        self.depth += 1;
                        self.code_phrase("value", terminology, bound);
                        self.close("items");
                    }
                    self.close("term_bindings");
                }
            }
            CObjectKind::Slot(slot) => {
                for (tag, patterns) in [("includes", &slot.includes), ("excludes", &slot.excludes)]
                {
                    for p in patterns {
                        self.open(tag);
                        self.open_typed("expression", "EXPR_BINARY_OPERATOR");
                        self.leaf("type", "Boolean");
                        self.leaf("operator", "2007");
                        self.leaf("precedence_overridden", "false");
                        self.open_typed("left_operand", "EXPR_LEAF");
                        self.leaf("type", "String");
                        self.indent();
                        self.out
                            .push_str("<item xsi:type=\"xsd:string\">archetype_id/value</item>\n");
                        self.leaf("reference_type", "attribute");
                        self.close("left_operand");
                        self.open_typed("right_operand", "EXPR_LEAF");
                        self.leaf("type", "C_STRING");
                        self.open_typed("item", "C_STRING");
                        self.leaf("pattern", p);
                        self.close("item");
                        self.leaf("reference_type", "constraint");
                        self.close("right_operand");
                        self.close("expression");
                        self.close(tag);
                    }
                }
            }
            CObjectKind::InternalRef { target_path } => self.leaf("target_path", target_path),
            CObjectKind::ConstraintRef { reference } => self.leaf("reference", reference),
            CObjectKind::Primitive(p) => self.primitive(p),
            CObjectKind::CodePhrase(c) => {
                if let Some(t) = &c.terminology_id {
                    self.open("terminology_id");
                    self.leaf("value", t);
                    self.close("terminology_id");
                }
                for code in &c.code_list {
                    self.leaf("code_list", code);
                }
                if let Some((t, code)) = &c.assumed {
                    self.code_phrase("assumed_value", t, code);
                }
                if let Some(uri) = &c.reference_set_uri {
                    self.leaf("referenceSetUri", uri);
                }
            }
            CObjectKind::DvQuantity(q) => {
                if let Some((t, code)) = &q.property {
                    self.code_phrase("property", t, code);
                }
                for item in &q.list {
                    self.open("list");
                    if let Some(m) = &item.magnitude {
                        self.interval("magnitude", m);
                    }
                    if let Some(p) = &item.precision {
                        self.interval("precision", p);
                    }
                    self.leaf("units", &item.units);
                    self.close("list");
                }
                if let Some((magnitude, units)) = &q.assumed {
                    self.open("assumed_value");
                    self.leaf("magnitude", &magnitude.to_string());
                    self.leaf("units", units);
                    self.close("assumed_value");
                }
            }
            CObjectKind::DvOrdinal(o) => {
                for item in &o.list {
                    self.open("list");
                    self.leaf("value", &item.value.to_string());
                    self.open("symbol");
                    self.leaf("value", "");
                    self.code_phrase("defining_code", &item.terminology_id, &item.code_string);
                    self.close("symbol");
                    self.close("list");
                }
                if let Some(v) = o.assumed {
                    if let Some(item) = o.list.iter().find(|i| i.value == v) {
                        self.open("assumed_value");
                        self.leaf("value", &v.to_string());
                        self.open("symbol");
                        self.leaf("value", "");
                        self.code_phrase("defining_code", &item.terminology_id, &item.code_string);
                        self.close("symbol");
                        self.close("assumed_value");
                    }
                }
            }
            CObjectKind::DvState => {}
        }
        self.close(tag);
    }

    fn attributes(&mut self, attributes: &[CAttribute]) {
        for a in attributes {
            let xsi = if a.is_multiple() {
                "C_MULTIPLE_ATTRIBUTE"
            } else {
                "C_SINGLE_ATTRIBUTE"
            };
            self.open_typed("attributes", xsi);
            self.leaf("rm_attribute_name", &a.rm_attribute_name);
            self.interval("existence", &a.existence);
            for c in &a.children {
                self.object_body("children", c);
            }
            if let Some(c) = &a.cardinality {
                self.open("cardinality");
                self.leaf("is_ordered", bool_text(c.is_ordered));
                self.leaf("is_unique", bool_text(c.is_unique));
                self.interval("interval", &c.interval);
                self.close("cardinality");
            }
            self.close("attributes");
        }
    }

    fn primitive(&mut self, p: &CPrimitive) {
        match p {
            CPrimitive::String {
                pattern,
                list,
                list_open,
                assumed,
            } => {
                self.open_typed("item", "C_STRING");
                if let Some(p) = pattern {
                    self.leaf("pattern", p);
                }
                for v in list {
                    self.leaf("list", v);
                }
                if *list_open {
                    self.leaf("list_open", "true");
                }
                if let Some(a) = assumed {
                    self.leaf("assumed_value", a);
                }
            }
            CPrimitive::Integer {
                list,
                range,
                assumed,
            } => self.numbers("C_INTEGER", list, range.as_ref(), assumed.as_ref()),
            CPrimitive::Real {
                list,
                range,
                assumed,
            } => self.numbers("C_REAL", list, range.as_ref(), assumed.as_ref()),
            CPrimitive::Boolean {
                true_valid,
                false_valid,
                assumed,
            } => {
                self.open_typed("item", "C_BOOLEAN");
                self.leaf("true_valid", bool_text(*true_valid));
                self.leaf("false_valid", bool_text(*false_valid));
                if let Some(a) = assumed {
                    self.leaf("assumed_value", bool_text(*a));
                }
            }
            CPrimitive::Date {
                pattern,
                timezone_validity,
                range,
            }
            | CPrimitive::Time {
                pattern,
                timezone_validity,
                range,
            }
            | CPrimitive::DateTime {
                pattern,
                timezone_validity,
                range,
            } => {
                let xsi = match p {
                    CPrimitive::Date { .. } => "C_DATE",
                    CPrimitive::Time { .. } => "C_TIME",
                    _ => "C_DATE_TIME",
                };
                self.open_typed("item", xsi);
                if let Some(p) = pattern {
                    self.leaf("pattern", p);
                }
                if let Some(t) = timezone_validity {
                    self.leaf("timezone_validity", &t.to_string());
                }
                if let Some(r) = range {
                    self.interval("range", r);
                }
            }
            CPrimitive::Duration { pattern, range } => {
                self.open_typed("item", "C_DURATION");
                if let Some(p) = pattern {
                    self.leaf("pattern", p);
                }
                if let Some(r) = range {
                    self.interval("range", r);
                }
            }
        }
        self.close("item");
    }

    /// The body of a C_INTEGER or C_REAL `item` (left open for the caller to close).
    fn numbers<T: ToString>(
        &mut self,
        xsi: &str,
        list: &[T],
        range: Option<&Interval<T>>,
        assumed: Option<&T>,
    ) {
        self.open_typed("item", xsi);
        for v in list {
            self.leaf("list", &v.to_string());
        }
        if let Some(r) = range {
            self.interval("range", r);
        }
        if let Some(a) = assumed {
            self.leaf("assumed_value", &a.to_string());
        }
    }

    fn default_value(&mut self, root_id: &str, d: &DefaultValue) {
        self.open("attributes");
        self.leaf("rm_attribute_name", &d.attribute);
        self.open("children");
        self.leaf("rm_type_name", &d.rm_type);
        self.interval("occurrences", &Interval::closed(1, 1));
        self.leaf("node_id", "");
        self.open_typed("default_value", &d.rm_type);
        let terminology = d
            .fields
            .iter()
            .find(|(k, _)| k == "terminology_id")
            .map_or("local", |(_, v)| v.as_str())
            .to_owned();
        for (k, v) in &d.fields {
            match k.as_str() {
                "terminology_id" => {}
                "defining_code" => self.code_phrase("defining_code", &terminology, v),
                _ => self.leaf(k, v),
            }
        }
        self.close("default_value");
        self.close("children");
        self.leaf("differential_path", &differential(root_id, &d.path));
        self.close("attributes");
    }
}

fn bool_text(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// The XML type of a constraint object.
fn xsi_type(o: &CObject) -> &'static str {
    match &o.kind {
        CObjectKind::Complex { .. } => "C_COMPLEX_OBJECT",
        CObjectKind::ArchetypeRoot(_) => "C_ARCHETYPE_ROOT",
        CObjectKind::Slot(_) => "ARCHETYPE_SLOT",
        CObjectKind::InternalRef { .. } => "ARCHETYPE_INTERNAL_REF",
        CObjectKind::ConstraintRef { .. } => "CONSTRAINT_REF",
        CObjectKind::Primitive(_) => "C_PRIMITIVE_OBJECT",
        CObjectKind::CodePhrase(c) if c.reference_set_uri.is_some() => "C_CODE_REFERENCE",
        CObjectKind::CodePhrase(_) => "C_CODE_PHRASE",
        CObjectKind::DvQuantity(_) => "C_DV_QUANTITY",
        CObjectKind::DvOrdinal(_) => "C_DV_ORDINAL",
        CObjectKind::DvState => "C_DV_STATE",
    }
}

/// Codes in numeric order (`at0002` before `at0010`, `at0000.1` after `at0000`).
fn code_order(code: &str) -> (String, Vec<u64>) {
    let prefix: String = code
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    let numbers = code[prefix.len()..]
        .split('.')
        .map(|n| n.parse().unwrap_or(u64::MAX))
        .collect();
    (prefix, numbers)
}
