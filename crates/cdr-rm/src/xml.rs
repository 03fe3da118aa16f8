//! Canonical XML (ITS-XML, namespace `http://schemas.openehr.org/v1`).
//!
//! Reading: quick-xml builds a small element tree (bounded depth, no DTDs), which is then fed
//! to the same serde visitors as JSON: `xsi:type` becomes `_type` (always first, so the
//! polymorphic fast path applies), XML attributes and child elements become keys, repeated
//! elements become lists, and leaf text is parsed as the visitor asks.
//!
//! Writing walks the reflection view: `archetype_node_id` is an XML attribute, attributes are
//! written in RM/XSD order, and `xsi:type` is written where the declared type is polymorphic.

use crate::json::DecodeError;
use crate::meta::{Attr, AttrInfo, RmObject, Value};
use quick_xml::events::Event;
use quick_xml::Reader;
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::fmt::Write as _;

/// The openEHR XML namespace.
pub const NAMESPACE: &str = "http://schemas.openehr.org/v1";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Maximum element depth accepted when reading (the same nesting limit serde_json applies to
/// JSON, and deep enough for any real composition).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Default)]
struct XNode {
    name: String,
    xsi_type: Option<String>,
    attrs: Vec<(String, String)>,
    children: Vec<XNode>,
    text: String,
    pos: usize,
}

fn line_col(input: &[u8], pos: usize) -> (usize, usize) {
    let pos = pos.min(input.len());
    let before = &input[..pos];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = match before.iter().rposition(|&b| b == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    (line, col)
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

fn parse_tree(input: &[u8]) -> Result<XNode, DecodeError> {
    let err = |pos: usize, message: String| {
        let (line, column) = line_col(input, pos);
        DecodeError {
            line,
            column,
            message,
        }
    };
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    reader.config_mut().expand_empty_elements = true;
    let mut stack: Vec<XNode> = Vec::new();
    let mut root: Option<XNode> = None;
    loop {
        let pos = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| {
            err(
                reader.error_position() as usize,
                format!("malformed XML: {e}"),
            )
        })?;
        match ev {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(err(pos, "content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(err(pos, format!("elements nested deeper than {MAX_DEPTH}")));
                }
                let name = String::from_utf8_lossy(local(start.name().as_ref())).into_owned();
                let mut node = XNode {
                    name,
                    pos,
                    ..XNode::default()
                };
                for a in start.attributes() {
                    let a = a.map_err(|e| err(pos, format!("malformed attribute: {e}")))?;
                    let key = a.key.as_ref();
                    let value = a
                        .unescape_value()
                        .map_err(|e| err(pos, format!("malformed attribute value: {e}")))?
                        .into_owned();
                    if key == b"xmlns" || key.starts_with(b"xmlns:") {
                        continue;
                    }
                    let lname = local(key);
                    if lname == b"type" && key.len() > 4 {
                        // xsi:type (any prefix); strip a prefix from the value too.
                        let v = match value.rfind(':') {
                            Some(i) => value[i + 1..].to_owned(),
                            None => value,
                        };
                        node.xsi_type = Some(v);
                    } else if key.contains(&b':') {
                        // other namespaced attributes (xsi:schemaLocation, …) carry no RM data
                    } else {
                        node.attrs
                            .push((String::from_utf8_lossy(lname).into_owned(), value));
                    }
                }
                stack.push(node);
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| err(pos, "unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => root = Some(node),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t
                        .unescape()
                        .map_err(|e| err(pos, format!("malformed text: {e}")))?;
                    top.text.push_str(&s);
                } else if !t.iter().all(|b| b.is_ascii_whitespace()) {
                    return Err(err(pos, "text outside the root element".into()));
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::DocType(_) => return Err(err(pos, "DTDs are not accepted".into())),
            Event::Eof => break,
            Event::Empty(_) | Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(err(input.len(), "document ends inside an element".into()));
    }
    root.ok_or_else(|| err(0, "no root element".into()))
}

/// Decodes canonical XML into an RM type (e.g. [`crate::Composition`]). The root element's name
/// is free (`composition`, `version`, …); its `xsi:type`, if any, must fit `T`.
pub fn from_xml<T: DeserializeOwned>(input: &[u8]) -> Result<T, DecodeError> {
    let root = parse_tree(input)?;
    T::deserialize(NodeDe { node: &root }).map_err(|e| {
        let (line, column) = e.pos.map(|p| line_col(input, p)).unwrap_or((0, 0));
        DecodeError {
            line,
            column,
            message: e.message,
        }
    })
}

/// Deserialisation error with the position of the innermost element involved.
#[derive(Debug)]
pub(crate) struct XmlDeError {
    message: String,
    pos: Option<usize>,
}

impl std::fmt::Display for XmlDeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for XmlDeError {}
impl de::Error for XmlDeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        XmlDeError {
            message: msg.to_string(),
            pos: None,
        }
    }
}

trait At<T> {
    fn at(self, node: &XNode) -> Result<T, XmlDeError>;
}
impl<T> At<T> for Result<T, XmlDeError> {
    fn at(self, node: &XNode) -> Result<T, XmlDeError> {
        self.map_err(|mut e| {
            if e.pos.is_none() {
                e.pos = Some(node.pos);
                e.message = format!("{} (in <{}>)", e.message, node.name);
            }
            e
        })
    }
}

struct NodeDe<'a> {
    node: &'a XNode,
}

impl NodeDe<'_> {
    fn is_leaf(&self) -> bool {
        self.node.children.is_empty() && self.node.attrs.is_empty() && self.node.xsi_type.is_none()
    }
    fn text(&self) -> &str {
        self.node.text.trim()
    }
    fn parse<T: std::str::FromStr>(&self, what: &str) -> Result<T, XmlDeError> {
        self.text()
            .parse()
            .map_err(|_| de::Error::custom(format_args!("`{}` is not a valid {what}", self.text())))
            .at(self.node)
    }
}

macro_rules! forward_text {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
            v.visit_borrowed_str(&self.node.text).at(self.node)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for NodeDe<'de> {
    type Error = XmlDeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        if self.is_leaf() {
            v.visit_borrowed_str(&self.node.text).at(self.node)
        } else {
            self.deserialize_map(v)
        }
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        let mut groups: Vec<(&'de str, Vec<&'de XNode>)> = Vec::new();
        for c in &self.node.children {
            match groups.iter_mut().find(|(n, _)| *n == c.name) {
                Some((_, g)) => g.push(c),
                None => groups.push((&c.name, vec![c])),
            }
        }
        let map = NodeMap {
            node: self.node,
            stage: 0,
            attr: 0,
            groups,
            group: 0,
            pending: None,
        };
        v.visit_map(map).at(self.node)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, XmlDeError> {
        self.deserialize_map(v)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        let b = match self.text() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                return Err(de::Error::custom(format_args!(
                    "`{other}` is not a boolean"
                )))
                .at(self.node)
            }
        };
        v.visit_bool(b).at(self.node)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        let i: i64 = self.parse("integer")?;
        v.visit_i64(i).at(self.node)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        self.deserialize_i64(v)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        self.deserialize_i64(v)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        let f: f64 = self.parse("number")?;
        v.visit_f64(f).at(self.node)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        self.deserialize_f64(v)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_some(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        let node = self.node;
        v.visit_seq(GroupSeq {
            nodes: vec![node].into_iter(),
        })
        .at(node)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_unit()
    }
    forward_text!(deserialize_str deserialize_string deserialize_identifier deserialize_char);
    serde::forward_to_deserialize_any! {
        i8 i16 u8 u16 u32 i128 u128 bytes byte_buf unit unit_struct newtype_struct tuple
        tuple_struct enum
    }
}

struct NodeMap<'a> {
    node: &'a XNode,
    /// 0: `_type` pending; 1: attributes; 2: child groups.
    stage: u8,
    attr: usize,
    groups: Vec<(&'a str, Vec<&'a XNode>)>,
    group: usize,
    pending: Option<Pending<'a>>,
}

enum Pending<'a> {
    Str(&'a str),
    Group(usize),
}

impl<'de> MapAccess<'de> for NodeMap<'de> {
    type Error = XmlDeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, XmlDeError> {
        if self.stage == 0 {
            self.stage = 1;
            if let Some(t) = self.node.xsi_type.as_deref() {
                self.pending = Some(Pending::Str(t));
                return seed.deserialize(StrDe("_type")).map(Some);
            }
        }
        if self.stage == 1 {
            if let Some((k, v)) = self.node.attrs.get(self.attr) {
                self.attr += 1;
                self.pending = Some(Pending::Str(v));
                return seed.deserialize(StrDe(k)).map(Some);
            }
            self.stage = 2;
        }
        if self.group < self.groups.len() {
            let k = self.groups[self.group].0;
            self.pending = Some(Pending::Group(self.group));
            self.group += 1;
            return seed.deserialize(StrDe(k)).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, XmlDeError> {
        match self.pending.take() {
            Some(Pending::Str(s)) => seed.deserialize(StrDe(s)),
            Some(Pending::Group(g)) => seed.deserialize(GroupDe {
                nodes: self.groups[g].1.clone(),
            }),
            None => Err(de::Error::custom("value requested before key")),
        }
    }
}

/// A string value (attribute value, `_type`, or key).
struct StrDe<'a>(&'a str);

impl<'de> de::Deserializer<'de> for StrDe<'de> {
    type Error = XmlDeError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_borrowed_str(self.0)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_some(self)
    }
    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        match self.0.trim() {
            "true" | "1" => v.visit_bool(true),
            "false" | "0" => v.visit_bool(false),
            other => Err(de::Error::custom(format_args!(
                "`{other}` is not a boolean"
            ))),
        }
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        match self.0.trim().parse() {
            Ok(i) => v.visit_i64(i),
            Err(_) => Err(de::Error::custom(format_args!(
                "`{}` is not an integer",
                self.0
            ))),
        }
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        match self.0.trim().parse() {
            Ok(f) => v.visit_f64(f),
            Err(_) => Err(de::Error::custom(format_args!(
                "`{}` is not a number",
                self.0
            ))),
        }
    }
    serde::forward_to_deserialize_any! {
        i8 i16 i32 u8 u16 u32 u64 i128 u128 f32 char str string bytes byte_buf unit unit_struct
        newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

/// The elements sharing one name inside a parent.
struct GroupDe<'a> {
    nodes: Vec<&'a XNode>,
}

impl<'de> GroupDe<'de> {
    fn single(self) -> Result<NodeDe<'de>, XmlDeError> {
        match self.nodes.as_slice() {
            [one] => Ok(NodeDe { node: one }),
            [first, ..] => Err(de::Error::custom(format_args!(
                "element <{}> is repeated where only one is allowed",
                first.name
            )))
            .at(first),
            [] => Err(de::Error::custom("empty element group")),
        }
    }
}

macro_rules! forward_single {
    ($($m:ident)*) => {$(
        fn $m<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
            self.single()?.$m(v)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for GroupDe<'de> {
    type Error = XmlDeError;
    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        if self.nodes.len() > 1 {
            self.deserialize_seq(v)
        } else {
            self.single()?.deserialize_any(v)
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_seq(GroupSeq {
            nodes: self.nodes.into_iter(),
        })
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_some(self)
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, XmlDeError> {
        self.single()?.deserialize_struct(name, fields, v)
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, XmlDeError> {
        v.visit_unit()
    }
    forward_single!(deserialize_map deserialize_bool deserialize_i64 deserialize_i32 deserialize_u64
        deserialize_f64 deserialize_f32 deserialize_str deserialize_string deserialize_identifier
        deserialize_char);
    serde::forward_to_deserialize_any! {
        i8 i16 u8 u16 u32 i128 u128 bytes byte_buf unit unit_struct newtype_struct tuple
        tuple_struct enum
    }
}

struct GroupSeq<'a> {
    nodes: std::vec::IntoIter<&'a XNode>,
}

impl<'de> SeqAccess<'de> for GroupSeq<'de> {
    type Error = XmlDeError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, XmlDeError> {
        match self.nodes.next() {
            Some(node) => seed.deserialize(NodeDe { node }).map(Some),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Encodes an RM object as canonical XML with the given root element name (e.g. `composition`).
pub fn to_xml(obj: &dyn RmObject, root: &str) -> String {
    let mut out = String::with_capacity(8192);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = write!(
        out,
        "<{root} xmlns=\"{NAMESPACE}\" xmlns:xsi=\"{XSI}\" xsi:type=\"{}\"",
        obj.rm_type()
    );
    write_object_body(&mut out, obj, root, 0);
    out.push('\n');
    out
}

fn indent(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Writes the rest of the start tag (XML attributes), the children and the end tag.
fn write_object_body(out: &mut String, obj: &dyn RmObject, name: &str, depth: usize) {
    let infos = obj.attr_infos();
    for (i, info) in infos.iter().enumerate() {
        if info.is_xml_attribute() {
            if let Attr::One(Value::Str(s)) = obj.attr_at(i) {
                let _ = write!(out, " {}=\"{}\"", info.name, quick_xml::escape::escape(s));
            }
        }
    }
    let mut any_child = false;
    for (i, info) in infos.iter().enumerate() {
        if info.is_xml_attribute() {
            continue;
        }
        let attr = obj.attr_at(i);
        if matches!(attr, Attr::Absent) {
            continue;
        }
        if !any_child {
            out.push('>');
            any_child = true;
        }
        for v in attr.values() {
            write_value(out, info, v, depth + 1);
        }
    }
    if any_child {
        indent(out, depth);
        let _ = write!(out, "</{name}>");
    } else {
        out.push_str("/>");
    }
}

fn write_value(out: &mut String, info: &AttrInfo, v: Value<'_>, depth: usize) {
    indent(out, depth);
    let name = info.name;
    match v {
        Value::Object(o) => {
            let _ = write!(out, "<{name}");
            if info.polymorphic {
                let _ = write!(out, " xsi:type=\"{}\"", o.rm_type());
            }
            write_object_body(out, o, name, depth);
        }
        Value::Str(s) => {
            let _ = write!(out, "<{name}>{}</{name}>", quick_xml::escape::escape(s));
        }
        Value::Int(i) => {
            let _ = write!(out, "<{name}>{i}</{name}>");
        }
        Value::Real(r) => {
            let _ = write!(out, "<{name}>{r:?}</{name}>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<{name}>{b}</{name}>");
        }
    }
}
