//! Reading the `definition` constraint tree.
//!
//! The object/attribute nesting (the only unbounded recursion in an OPT) is read with an
//! explicit stack of builders, so hostile nesting can never overflow the call stack; leaf
//! constraints (intervals, primitives, code phrases, quantities, ordinals, slot assertions, term
//! definitions) have a fixed, shallow shape and are read by plain functions.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};

use crate::model::*;
use crate::parser::OptError;
use crate::xml::{attribute, xsi_type, Cursor};

/// The C_OBJECT subtypes, from `xsi:type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjType {
    Complex,
    ArchetypeRoot,
    Slot,
    InternalRef,
    ConstraintRef,
    Primitive,
    CodePhrase,
    CodeReference,
    DvQuantity,
    DvOrdinal,
    DvState,
}

fn obj_type(name: &[u8]) -> Option<ObjType> {
    Some(match name {
        b"C_COMPLEX_OBJECT" => ObjType::Complex,
        b"C_ARCHETYPE_ROOT" => ObjType::ArchetypeRoot,
        b"ARCHETYPE_SLOT" => ObjType::Slot,
        b"ARCHETYPE_INTERNAL_REF" => ObjType::InternalRef,
        b"CONSTRAINT_REF" => ObjType::ConstraintRef,
        b"C_PRIMITIVE_OBJECT" => ObjType::Primitive,
        b"C_CODE_PHRASE" => ObjType::CodePhrase,
        b"C_CODE_REFERENCE" => ObjType::CodeReference,
        b"C_DV_QUANTITY" => ObjType::DvQuantity,
        b"C_DV_ORDINAL" => ObjType::DvOrdinal,
        b"C_DV_STATE" => ObjType::DvState,
        _ => return None,
    })
}

/// Kind-specific state of an object being read.
#[derive(Debug)]
enum KindData {
    None,
    Root {
        archetype_id: Option<String>,
        template_id: Option<String>,
        terms: HashMap<String, Term>,
        term_bindings: HashMap<String, HashMap<String, String>>,
    },
    Slot {
        includes: Vec<String>,
        excludes: Vec<String>,
    },
    Text(Option<String>),
    Primitive(Option<CPrimitive>),
    Code(CCodePhrase),
    Quantity(CDvQuantity),
    Ordinal(CDvOrdinal),
}

/// An object (`definition` or `children`) being read.
#[derive(Debug)]
struct ObjBuilder {
    ty: ObjType,
    /// Byte offset of the start tag, for error messages.
    at: usize,
    rm_type_name: Option<String>,
    node_id: String,
    occurrences: Option<Interval<i64>>,
    attributes: Vec<CAttribute>,
    data: KindData,
}

impl ObjBuilder {
    fn new(ty: ObjType, at: usize) -> Self {
        let data = match ty {
            ObjType::ArchetypeRoot => KindData::Root {
                archetype_id: None,
                template_id: None,
                terms: HashMap::new(),
                term_bindings: HashMap::new(),
            },
            ObjType::Slot => KindData::Slot {
                includes: Vec::new(),
                excludes: Vec::new(),
            },
            ObjType::InternalRef | ObjType::ConstraintRef => KindData::Text(None),
            ObjType::Primitive => KindData::Primitive(None),
            ObjType::CodePhrase | ObjType::CodeReference => KindData::Code(CCodePhrase {
                terminology_id: None,
                code_list: Vec::new(),
                assumed: None,
                reference_set_uri: None,
            }),
            ObjType::DvQuantity => KindData::Quantity(CDvQuantity {
                property: None,
                list: Vec::new(),
                assumed: None,
            }),
            ObjType::DvOrdinal => KindData::Ordinal(CDvOrdinal {
                list: Vec::new(),
                assumed: None,
            }),
            ObjType::Complex | ObjType::DvState => KindData::None,
        };
        ObjBuilder {
            ty,
            at,
            rm_type_name: None,
            node_id: String::new(),
            occurrences: None,
            attributes: Vec::new(),
            data,
        }
    }

    /// Whether this kind of object holds `attributes`.
    fn has_attributes(&self) -> bool {
        matches!(
            self.ty,
            ObjType::Complex | ObjType::ArchetypeRoot | ObjType::Slot
        )
    }

    /// Reads one non-container child element of the object.
    fn element(
        &mut self,
        cur: &mut Cursor<'_>,
        name: &[u8],
        e: &BytesStart<'_>,
        empty: bool,
    ) -> Result<(), OptError> {
        match name {
            b"rm_type_name" => self.rm_type_name = Some(cur.string(empty)?),
            b"node_id" => self.node_id = cur.string(empty)?,
            b"occurrences" => {
                self.occurrences = Some(cur.interval(empty, "occurrences", parse_i64)?)
            }
            _ => match &mut self.data {
                KindData::None => cur.skip(empty)?,
                KindData::Root {
                    archetype_id,
                    template_id,
                    terms,
                    term_bindings,
                } => match name {
                    b"archetype_id" => *archetype_id = Some(cur.string(empty)?),
                    b"template_id" => *template_id = Some(cur.string(empty)?),
                    b"term_definitions" => term_definition(cur, e, empty, terms)?,
                    b"term_bindings" => term_binding(cur, e, empty, term_bindings)?,
                    _ => cur.skip(empty)?,
                },
                KindData::Slot { includes, excludes } => match name {
                    b"includes" => includes.extend(assertion(cur, empty)?),
                    b"excludes" => excludes.extend(assertion(cur, empty)?),
                    _ => cur.skip(empty)?,
                },
                KindData::Text(value) => match (self.ty, name) {
                    (ObjType::InternalRef, b"target_path")
                    | (ObjType::ConstraintRef, b"reference") => *value = Some(cur.string(empty)?),
                    _ => cur.skip(empty)?,
                },
                KindData::Primitive(item) => match name {
                    b"item" => {
                        *item = Some(primitive(cur, e, empty, self.rm_type_name.as_deref())?)
                    }
                    _ => cur.skip(empty)?,
                },
                KindData::Code(code) => match name {
                    b"terminology_id" => code.terminology_id = Some(cur.string(empty)?),
                    b"code_list" => code.code_list.push(cur.string(empty)?),
                    b"assumed_value" => {
                        let (terminology, code_string) = code_phrase(cur, empty)?;
                        code.assumed = Some((
                            terminology.unwrap_or_default(),
                            code_string.unwrap_or_default(),
                        ));
                    }
                    b"referenceSetUri" => code.reference_set_uri = Some(cur.string(empty)?),
                    _ => cur.skip(empty)?,
                },
                KindData::Quantity(q) => match name {
                    b"property" => {
                        let (terminology, code_string) = code_phrase(cur, empty)?;
                        q.property = Some((
                            terminology.unwrap_or_default(),
                            code_string.unwrap_or_default(),
                        ));
                    }
                    b"list" => q.list.push(quantity_item(cur, empty)?),
                    b"assumed_value" => q.assumed = quantity_assumed(cur, empty)?,
                    _ => cur.skip(empty)?,
                },
                KindData::Ordinal(o) => match name {
                    b"list" => o.list.push(ordinal_item(cur, empty)?),
                    b"assumed_value" => o.assumed = Some(ordinal_item(cur, empty)?.value),
                    _ => cur.skip(empty)?,
                },
            },
        }
        Ok(())
    }

    fn finish(self, cur: &Cursor<'_>) -> Result<CObject, OptError> {
        let Some(rm_type_name) = self.rm_type_name.filter(|s| !s.is_empty()) else {
            return Err(cur.invalid_at(self.at, "constraint object without rm_type_name"));
        };
        let kind = match self.data {
            KindData::None => match self.ty {
                ObjType::DvState => CObjectKind::DvState,
                _ => CObjectKind::Complex {
                    attributes: self.attributes,
                },
            },
            KindData::Root {
                archetype_id,
                template_id,
                terms,
                term_bindings,
            } => {
                let Some(archetype_id) = archetype_id.filter(|s| !s.is_empty()) else {
                    return Err(cur.invalid_at(self.at, "C_ARCHETYPE_ROOT without archetype_id"));
                };
                CObjectKind::ArchetypeRoot(Box::new(ArchetypeRoot {
                    archetype_id,
                    template_id: template_id.filter(|s| !s.is_empty()),
                    attributes: self.attributes,
                    terms,
                    term_bindings,
                }))
            }
            KindData::Slot { includes, excludes } => CObjectKind::Slot(ArchetypeSlot {
                includes,
                excludes,
                attributes: self.attributes,
            }),
            KindData::Text(value) => {
                let (what, elem) = match self.ty {
                    ObjType::InternalRef => ("ARCHETYPE_INTERNAL_REF", "target_path"),
                    _ => ("CONSTRAINT_REF", "reference"),
                };
                let Some(value) = value.filter(|s| !s.is_empty()) else {
                    return Err(cur.invalid_at(self.at, format!("{what} without {elem}")));
                };
                match self.ty {
                    ObjType::InternalRef => CObjectKind::InternalRef { target_path: value },
                    _ => CObjectKind::ConstraintRef { reference: value },
                }
            }
            KindData::Primitive(item) => match item {
                Some(item) => CObjectKind::Primitive(item),
                None => {
                    return Err(cur.invalid_at(self.at, "C_PRIMITIVE_OBJECT without item"));
                }
            },
            KindData::Code(mut code) => {
                if self.ty == ObjType::CodeReference && code.reference_set_uri.is_none() {
                    code.reference_set_uri = Some(String::new());
                }
                CObjectKind::CodePhrase(code)
            }
            KindData::Quantity(q) => CObjectKind::DvQuantity(q),
            KindData::Ordinal(o) => CObjectKind::DvOrdinal(o),
        };
        Ok(CObject {
            rm_type_name,
            node_id: self.node_id,
            occurrences: self.occurrences.unwrap_or_else(|| Interval::closed(1, 1)),
            kind,
        })
    }
}

/// An attribute (`attributes`) being read.
#[derive(Debug)]
struct AttrBuilder {
    /// `Some(true)` for C_MULTIPLE_ATTRIBUTE, `Some(false)` for C_SINGLE_ATTRIBUTE, `None` when
    /// `xsi:type` is absent (then the presence of `cardinality` decides).
    multiple: Option<bool>,
    at: usize,
    name: Option<String>,
    existence: Option<Interval<i64>>,
    cardinality: Option<Cardinality>,
    children: Vec<CObject>,
}

impl AttrBuilder {
    fn element(&mut self, cur: &mut Cursor<'_>, name: &[u8], empty: bool) -> Result<(), OptError> {
        match name {
            b"rm_attribute_name" => self.name = Some(cur.string(empty)?),
            b"existence" => self.existence = Some(cur.interval(empty, "existence", parse_i64)?),
            b"cardinality" => self.cardinality = Some(cardinality(cur, empty)?),
            _ => cur.skip(empty)?,
        }
        Ok(())
    }

    fn finish(self, cur: &Cursor<'_>) -> Result<CAttribute, OptError> {
        let Some(name) = self.name.filter(|s| !s.is_empty()) else {
            return Err(cur.invalid_at(self.at, "attribute constraint without rm_attribute_name"));
        };
        let multiple = self.multiple.unwrap_or(self.cardinality.is_some());
        let cardinality = if multiple {
            // C_MULTIPLE_ATTRIBUTE requires a cardinality; default to an ordered 0..* list.
            Some(self.cardinality.unwrap_or(Cardinality {
                is_ordered: true,
                is_unique: false,
                interval: Interval::at_least(0),
            }))
        } else {
            None
        };
        Ok(CAttribute {
            rm_attribute_name: name,
            existence: self.existence.unwrap_or_else(|| Interval::closed(1, 1)),
            cardinality,
            children: self.children,
        })
    }
}

#[derive(Debug)]
enum Frame {
    Obj(ObjBuilder),
    Attr(AttrBuilder),
}

/// Reads a constraint object whose start tag `start` was just read (the template's
/// `definition`), with everything below it. Without `xsi:type` it is a C_ARCHETYPE_ROOT.
pub(crate) fn read_definition(
    cur: &mut Cursor<'_>,
    start: &BytesStart<'_>,
    empty: bool,
) -> Result<CObject, OptError> {
    let ty = object_type(cur, start, empty, ObjType::ArchetypeRoot)?;
    let mut stack = vec![Frame::Obj(ObjBuilder::new(ty, cur.tag_start(start, empty)))];
    if empty {
        return close(cur, &mut stack)?.ok_or_else(|| cur.invalid("empty definition"));
    }
    loop {
        let (e, empty) = match cur.next()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if let Some(root) = close(cur, &mut stack)? {
                    return Ok(root);
                }
                continue;
            }
            Event::Eof => return Err(cur.eof_error()),
            _ => continue,
        };
        let name = e.local_name();
        let name = name.as_ref();
        match stack.last_mut() {
            Some(Frame::Obj(obj)) => {
                if name == b"attributes" {
                    if !obj.has_attributes() {
                        cur.skip(empty)?;
                        continue;
                    }
                    let multiple = match xsi_type(&e).as_deref() {
                        None => None,
                        Some(b"C_MULTIPLE_ATTRIBUTE") => Some(true),
                        Some(b"C_SINGLE_ATTRIBUTE") => Some(false),
                        Some(other) => {
                            return Err(cur.invalid_at(
                                cur.tag_start(&e, empty),
                                format!(
                                    "unknown attribute type {:?}",
                                    String::from_utf8_lossy(other)
                                ),
                            ))
                        }
                    };
                    stack.push(Frame::Attr(AttrBuilder {
                        multiple,
                        at: cur.tag_start(&e, empty),
                        name: None,
                        existence: None,
                        cardinality: None,
                        children: Vec::new(),
                    }));
                    if empty {
                        close(cur, &mut stack)?;
                    }
                } else {
                    obj.element(cur, name, &e, empty)?;
                }
            }
            Some(Frame::Attr(attr)) => {
                if name == b"children" {
                    let ty = object_type(cur, &e, empty, ObjType::Complex)?;
                    stack.push(Frame::Obj(ObjBuilder::new(ty, cur.tag_start(&e, empty))));
                    if empty {
                        close(cur, &mut stack)?;
                    }
                } else {
                    attr.element(cur, name, empty)?;
                }
            }
            None => return Err(cur.invalid("internal error: empty constraint stack")),
        }
    }
}

/// The object type named by `e`'s `xsi:type`, or `default` when there is none.
fn object_type(
    cur: &Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    default: ObjType,
) -> Result<ObjType, OptError> {
    match xsi_type(e) {
        None => Ok(default),
        Some(t) => obj_type(&t).ok_or_else(|| {
            cur.invalid_at(
                cur.tag_start(e, empty),
                format!(
                    "unknown constraint object type {:?}",
                    String::from_utf8_lossy(&t)
                ),
            )
        }),
    }
}

/// Finishes the top frame and attaches it to its parent. Returns the root object once the
/// outermost frame is closed.
fn close(cur: &Cursor<'_>, stack: &mut Vec<Frame>) -> Result<Option<CObject>, OptError> {
    match stack.pop() {
        Some(Frame::Obj(b)) => {
            let obj = b.finish(cur)?;
            match stack.last_mut() {
                None => Ok(Some(obj)),
                Some(Frame::Attr(a)) => {
                    a.children.push(obj);
                    Ok(None)
                }
                Some(Frame::Obj(_)) => {
                    Err(cur.invalid("internal error: object directly inside object"))
                }
            }
        }
        Some(Frame::Attr(b)) => {
            let attr = b.finish(cur)?;
            match stack.last_mut() {
                Some(Frame::Obj(o)) => {
                    o.attributes.push(attr);
                    Ok(None)
                }
                _ => Err(cur.invalid("internal error: attribute outside an object")),
            }
        }
        None => Err(cur.invalid("internal error: unbalanced constraint stack")),
    }
}

fn parse_i64(s: &str) -> Option<i64> {
    s.parse().ok()
}

fn parse_f64(s: &str) -> Option<f64> {
    s.parse().ok()
}

fn parse_string(s: &str) -> Option<String> {
    Some(s.to_owned())
}

fn cardinality(cur: &mut Cursor<'_>, empty: bool) -> Result<Cardinality, OptError> {
    let mut c = Cardinality {
        is_ordered: true,
        is_unique: false,
        interval: Interval::at_least(0),
    };
    if empty {
        return Ok(c);
    }
    while let Some((e, empty)) = cur.next_child()? {
        match e.local_name().as_ref() {
            b"is_ordered" => c.is_ordered = cur.boolean(empty, "is_ordered")?,
            b"is_unique" => c.is_unique = cur.boolean(empty, "is_unique")?,
            b"interval" => c.interval = cur.interval(empty, "interval", parse_i64)?,
            _ => cur.skip(empty)?,
        }
    }
    Ok(c)
}

/// A CODE_PHRASE-shaped element: (`terminology_id/value`, `code_string`).
fn code_phrase(
    cur: &mut Cursor<'_>,
    empty: bool,
) -> Result<(Option<String>, Option<String>), OptError> {
    let (mut terminology, mut code) = (None, None);
    if empty {
        return Ok((terminology, code));
    }
    while let Some((e, empty)) = cur.next_child()? {
        match e.local_name().as_ref() {
            b"terminology_id" => terminology = Some(cur.string(empty)?),
            b"code_string" => code = Some(cur.string(empty)?),
            _ => cur.skip(empty)?,
        }
    }
    Ok((terminology, code))
}

/// `<term_definitions code="at0000"><items id="text">…</items>…</term_definitions>`.
fn term_definition(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    terms: &mut HashMap<String, Term>,
) -> Result<(), OptError> {
    let code = attribute(e, b"code");
    let mut term = Term::default();
    if !empty {
        while let Some((item, empty)) = cur.next_child()? {
            if item.local_name().as_ref() != b"items" {
                cur.skip(empty)?;
                continue;
            }
            match attribute(&item, b"id").as_deref() {
                Some("text") => term.text = cur.string(empty)?,
                Some("description") => term.description = cur.string(empty)?,
                Some(other) => {
                    let key = other.to_owned();
                    term.other.push((key, cur.string(empty)?));
                }
                None => cur.skip(empty)?,
            }
        }
    }
    match code {
        Some(code) if !code.is_empty() => {
            terms.insert(code, term);
            Ok(())
        }
        _ => Err(cur.invalid("term_definitions without code")),
    }
}

/// `<term_bindings terminology="SNOMED-CT"><items code="at0000"><value>CODE_PHRASE</value>…`.
fn term_binding(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    bindings: &mut HashMap<String, HashMap<String, String>>,
) -> Result<(), OptError> {
    let terminology = attribute(e, b"terminology").unwrap_or_default();
    if empty {
        return Ok(());
    }
    let map = bindings.entry(terminology).or_default();
    while let Some((item, empty)) = cur.next_child()? {
        if item.local_name().as_ref() != b"items" {
            cur.skip(empty)?;
            continue;
        }
        let code = attribute(&item, b"code").unwrap_or_default();
        let mut bound = String::new();
        if !empty {
            while let Some((v, empty)) = cur.next_child()? {
                if v.local_name().as_ref() == b"value" {
                    bound = code_phrase(cur, empty)?.1.unwrap_or_default();
                } else {
                    cur.skip(empty)?;
                }
            }
        }
        map.insert(code, bound);
    }
    Ok(())
}

/// A slot assertion (`includes` / `excludes`): the archetype-id regexes it states. Patterns of
/// the expression tree's C_STRING operands are preferred; the `string_expression` text
/// (`archetype_id/value matches {/regex/}`) is the fallback.
fn assertion(cur: &mut Cursor<'_>, empty: bool) -> Result<Vec<String>, OptError> {
    let mut patterns = Vec::new();
    let mut string_expression = None;
    if empty {
        return Ok(patterns);
    }
    let mut level = 0usize;
    loop {
        let (e, empty) = match cur.next()? {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                if level == 0 {
                    break;
                }
                level -= 1;
                continue;
            }
            Event::Eof => return Err(cur.eof_error()),
            _ => continue,
        };
        match e.local_name().as_ref() {
            b"pattern" => {
                let p = cur.string(empty)?;
                if !p.is_empty() {
                    patterns.push(p);
                }
            }
            b"list" => {
                let s = cur.text(empty)?;
                patterns.push(escape_regex(&s));
            }
            b"string_expression" => string_expression = Some(cur.string(empty)?),
            _ => {
                if !empty {
                    level += 1;
                }
            }
        }
    }
    if patterns.is_empty() {
        if let Some(expr) = string_expression {
            patterns = slash_regexes(&expr);
        }
    }
    Ok(patterns)
}

/// The `/…/` regexes inside `{…}` of an ADL assertion string.
pub(crate) fn slash_regexes(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find("{/") {
        let body = &rest[open + 2..];
        match body.find("/}") {
            Some(close) => {
                out.push(body[..close].to_owned());
                rest = &body[close + 2..];
            }
            None => break,
        }
    }
    out
}

fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '.'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '|'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
                | '$'
                | '-'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The `item` of a C_PRIMITIVE_OBJECT. Without `xsi:type`, the object's `rm_type_name`
/// (`STRING`, `INTEGER`, …) decides.
fn primitive(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    rm_type_name: Option<&str>,
) -> Result<CPrimitive, OptError> {
    let ty: Vec<u8> = match xsi_type(e) {
        Some(t) => t.into_owned(),
        None => match rm_type_name.unwrap_or("") {
            "STRING" => b"C_STRING".to_vec(),
            "INTEGER" => b"C_INTEGER".to_vec(),
            "REAL" => b"C_REAL".to_vec(),
            "BOOLEAN" => b"C_BOOLEAN".to_vec(),
            "DATE" => b"C_DATE".to_vec(),
            "TIME" => b"C_TIME".to_vec(),
            "DATE_TIME" => b"C_DATE_TIME".to_vec(),
            "DURATION" => b"C_DURATION".to_vec(),
            other => {
                return Err(cur.invalid(format!("primitive item without xsi:type for {other:?}")))
            }
        },
    };
    match ty.as_slice() {
        b"C_STRING" => c_string(cur, empty),
        b"C_INTEGER" => {
            let (mut list, mut range, mut assumed) = (Vec::new(), None, None);
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    match c.local_name().as_ref() {
                        b"list" => list.push(cur.int(empty, "list")?),
                        b"range" => range = Some(cur.interval(empty, "range", parse_i64)?),
                        b"assumed_value" => assumed = Some(cur.int(empty, "assumed_value")?),
                        _ => cur.skip(empty)?,
                    }
                }
            }
            Ok(CPrimitive::Integer {
                list,
                range,
                assumed,
            })
        }
        b"C_REAL" => {
            let (mut list, mut range, mut assumed) = (Vec::new(), None, None);
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    match c.local_name().as_ref() {
                        b"list" => list.push(cur.real(empty, "list")?),
                        b"range" => range = Some(cur.interval(empty, "range", parse_f64)?),
                        b"assumed_value" => assumed = Some(cur.real(empty, "assumed_value")?),
                        _ => cur.skip(empty)?,
                    }
                }
            }
            Ok(CPrimitive::Real {
                list,
                range,
                assumed,
            })
        }
        b"C_BOOLEAN" => {
            let (mut true_valid, mut false_valid, mut assumed) = (true, true, None);
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    match c.local_name().as_ref() {
                        b"true_valid" => true_valid = cur.boolean(empty, "true_valid")?,
                        b"false_valid" => false_valid = cur.boolean(empty, "false_valid")?,
                        b"assumed_value" => assumed = Some(cur.boolean(empty, "assumed_value")?),
                        _ => cur.skip(empty)?,
                    }
                }
            }
            Ok(CPrimitive::Boolean {
                true_valid,
                false_valid,
                assumed,
            })
        }
        b"C_DATE" | b"C_TIME" | b"C_DATE_TIME" => {
            let (mut pattern, mut timezone_validity, mut range) = (None, None, None);
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    match c.local_name().as_ref() {
                        b"pattern" => pattern = Some(cur.string(empty)?).filter(|p| !p.is_empty()),
                        b"timezone_validity" => {
                            timezone_validity = Some(cur.int(empty, "timezone_validity")?);
                        }
                        b"range" => range = Some(cur.interval(empty, "range", parse_string)?),
                        _ => cur.skip(empty)?,
                    }
                }
            }
            Ok(match ty.as_slice() {
                b"C_DATE" => CPrimitive::Date {
                    pattern,
                    timezone_validity,
                    range,
                },
                b"C_TIME" => CPrimitive::Time {
                    pattern,
                    timezone_validity,
                    range,
                },
                _ => CPrimitive::DateTime {
                    pattern,
                    timezone_validity,
                    range,
                },
            })
        }
        b"C_DURATION" => {
            let (mut pattern, mut range) = (None, None);
            if !empty {
                while let Some((c, empty)) = cur.next_child()? {
                    match c.local_name().as_ref() {
                        b"pattern" => pattern = Some(cur.string(empty)?).filter(|p| !p.is_empty()),
                        b"range" => range = Some(cur.interval(empty, "range", parse_string)?),
                        _ => cur.skip(empty)?,
                    }
                }
            }
            Ok(CPrimitive::Duration { pattern, range })
        }
        other => Err(cur.invalid(format!(
            "unknown primitive type {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn c_string(cur: &mut Cursor<'_>, empty: bool) -> Result<CPrimitive, OptError> {
    let (mut pattern, mut list, mut list_open, mut assumed) = (None, Vec::new(), false, None);
    if !empty {
        while let Some((c, empty)) = cur.next_child()? {
            match c.local_name().as_ref() {
                b"pattern" => pattern = Some(cur.string(empty)?),
                b"list" => list.push(cur.string(empty)?),
                b"list_open" => list_open = cur.boolean(empty, "list_open")?,
                b"assumed_value" => assumed = Some(cur.string(empty)?),
                _ => cur.skip(empty)?,
            }
        }
    }
    Ok(CPrimitive::String {
        pattern,
        list,
        list_open,
        assumed,
    })
}

/// One `list` entry of a C_DV_QUANTITY.
fn quantity_item(cur: &mut Cursor<'_>, empty: bool) -> Result<CQuantityItem, OptError> {
    let mut item = CQuantityItem {
        units: String::new(),
        magnitude: None,
        precision: None,
    };
    if empty {
        return Ok(item);
    }
    while let Some((c, empty)) = cur.next_child()? {
        match c.local_name().as_ref() {
            b"units" => item.units = cur.string(empty)?,
            b"magnitude" => item.magnitude = Some(cur.interval(empty, "magnitude", parse_f64)?),
            b"precision" => item.precision = Some(cur.interval(empty, "precision", parse_i64)?),
            _ => cur.skip(empty)?,
        }
    }
    Ok(item)
}

/// The `assumed_value` DV_QUANTITY of a C_DV_QUANTITY: (magnitude, units).
fn quantity_assumed(cur: &mut Cursor<'_>, empty: bool) -> Result<Option<(f64, String)>, OptError> {
    let (mut magnitude, mut units) = (None, String::new());
    if empty {
        return Ok(None);
    }
    while let Some((c, empty)) = cur.next_child()? {
        match c.local_name().as_ref() {
            b"magnitude" => magnitude = Some(cur.real(empty, "magnitude")?),
            b"units" => units = cur.string(empty)?,
            _ => cur.skip(empty)?,
        }
    }
    Ok(magnitude.map(|m| (m, units)))
}

/// A DV_ORDINAL (`list` entry or `assumed_value` of a C_DV_ORDINAL).
fn ordinal_item(cur: &mut Cursor<'_>, empty: bool) -> Result<COrdinalItem, OptError> {
    let mut item = COrdinalItem {
        value: 0,
        terminology_id: String::new(),
        code_string: String::new(),
    };
    if empty {
        return Ok(item);
    }
    let mut has_value = false;
    while let Some((c, empty)) = cur.next_child()? {
        match c.local_name().as_ref() {
            b"value" => {
                item.value = cur.int(empty, "value")?;
                has_value = true;
            }
            b"symbol" => {
                if !empty {
                    while let Some((s, empty)) = cur.next_child()? {
                        if s.local_name().as_ref() == b"defining_code" {
                            let (terminology, code) = code_phrase(cur, empty)?;
                            item.terminology_id = terminology.unwrap_or_default();
                            item.code_string = code.unwrap_or_default();
                        } else {
                            cur.skip(empty)?;
                        }
                    }
                }
            }
            _ => cur.skip(empty)?,
        }
    }
    if !has_value {
        return Err(cur.invalid("DV_ORDINAL without value"));
    }
    Ok(item)
}
