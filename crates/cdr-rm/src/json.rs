//! Canonical JSON (ITS-JSON / ITS-REST): decoding with positions, encoding through reflection
//! under a named `_type` policy.
//!
//! Decoding accepts `_type` anywhere, requires it where the declared type is abstract, and
//! rejects unknown attributes (a value is never dropped silently). Keys starting with `_` other
//! than `_type` are ignored as meta keys.

use crate::meta::{Attr, AttrInfo, RmList, RmObject, Value};
use serde::de::DeserializeOwned;
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use std::borrow::Cow;

mod reader;

/// Which objects get a `_type` key when encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTags {
    /// Every object, as EHRbase and Archie emit (the ITS-REST recommendation for producers).
    All,
    /// Only where ITS-JSON requires it: the root, abstract declared types, and a subtype used
    /// where its supertype is declared.
    Required,
}

/// A named canonical-JSON encoding configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonConfig {
    pub type_tags: TypeTags,
}

impl JsonConfig {
    /// The configuration cdr emits: `_type` on every object.
    pub const CANONICAL: JsonConfig = JsonConfig {
        type_tags: TypeTags::All,
    };
    /// The smallest output ITS-JSON allows: `_type` only where it is required.
    pub const MINIMAL: JsonConfig = JsonConfig {
        type_tags: TypeTags::Required,
    };

    fn tag(&self, info: &AttrInfo, obj: &dyn RmObject) -> bool {
        match self.type_tags {
            TypeTags::All => true,
            TypeTags::Required => obj.rm_type() != info.declared,
        }
    }
}

/// Why a document could not be decoded; `line` and `column` are 1-based (0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (line {line}, column {column})")]
pub struct DecodeError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Decodes canonical JSON into an RM type (e.g. [`crate::Composition`]).
///
/// Reads with [`reader`], which accepts what serde_json accepts and reports errors alike (the
/// same messages, 1-based line and byte column), only faster on canonical JSON.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut r = reader::Reader::new(bytes);
    let value = T::deserialize(&mut r).and_then(|v| r.end().map(|()| v));
    value.map_err(|e| {
        let (line, column) = r.position_of(&e);
        DecodeError {
            line,
            column,
            message: e.message().to_owned(),
        }
    })
}

/// Decodes an already-parsed JSON value, as [`from_json`] decodes its text (a value has no
/// positions: `line` and `column` are 0).
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, DecodeError> {
    reread(&value).map_err(|message| DecodeError {
        line: 0,
        column: 0,
        message,
    })
}

/// Decodes a JSON value through cdr-rm's reader (serde_json's own value deserializer would
/// refuse primitives written as strings); the error message on failure.
pub(crate) fn reread<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, String> {
    // Writing a value into a Vec cannot fail.
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut r = reader::Reader::new(&bytes);
    T::deserialize(&mut r)
        .and_then(|v| r.end().map(|()| v))
        .map_err(|e| e.message().to_owned())
}

/// Encodes an RM object as canonical JSON.
pub fn to_json(obj: &dyn RmObject, config: &JsonConfig) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    // Serialising reflection values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &RmSer::root(obj, config));
    out
}

/// Encodes an RM object as pretty-printed canonical JSON.
pub fn to_json_pretty(obj: &dyn RmObject, config: &JsonConfig) -> Vec<u8> {
    let mut out = Vec::with_capacity(8192);
    let _ = serde_json::to_writer_pretty(&mut out, &RmSer::root(obj, config));
    out
}

/// Encodes an RM object as a `serde_json::Value`.
pub fn to_json_value(obj: &dyn RmObject, config: &JsonConfig) -> serde_json::Value {
    serde_json::to_value(RmSer::root(obj, config)).unwrap_or(serde_json::Value::Null)
}

/// A map key or short string, borrowed from the input when possible.
#[derive(Debug)]
pub struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Serialises any RM object through reflection.
#[derive(Debug, Clone, Copy)]
pub struct RmSer<'a> {
    obj: &'a dyn RmObject,
    config: &'a JsonConfig,
    tag: bool,
}

impl<'a> RmSer<'a> {
    /// The root of a document always carries `_type`.
    pub fn root(obj: &'a dyn RmObject, config: &'a JsonConfig) -> Self {
        RmSer {
            obj,
            config,
            tag: true,
        }
    }
}

impl Serialize for RmSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let obj = self.obj;
        let mut m = s.serialize_map(None)?;
        if self.tag {
            m.serialize_entry("_type", obj.rm_type())?;
        }
        for (i, info) in obj.attr_infos().iter().enumerate() {
            match obj.attr_at(i) {
                Attr::Absent => {}
                Attr::One(v) => m.serialize_entry(
                    info.name,
                    &ValSer {
                        v,
                        info,
                        config: self.config,
                    },
                )?,
                Attr::Many(list) => m.serialize_entry(
                    info.name,
                    &ListSer {
                        list,
                        info,
                        config: self.config,
                    },
                )?,
            }
        }
        m.end()
    }
}

struct ValSer<'a> {
    v: Value<'a>,
    info: &'a AttrInfo,
    config: &'a JsonConfig,
}

impl Serialize for ValSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.v {
            Value::Object(o) => RmSer {
                obj: o,
                config: self.config,
                tag: self.config.tag(self.info, o),
            }
            .serialize(s),
            Value::Str(x) => s.serialize_str(x),
            Value::Int(x) => s.serialize_i64(x),
            Value::Real(x) => s.serialize_f64(x),
            Value::Bool(x) => s.serialize_bool(x),
        }
    }
}

struct ListSer<'a> {
    list: &'a dyn RmList,
    info: &'a AttrInfo,
    config: &'a JsonConfig,
}

impl Serialize for ListSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.list.len()))?;
        for i in 0..self.list.len() {
            seq.serialize_element(&ValSer {
                v: self.list.get(i),
                info: self.info,
                config: self.config,
            })?;
        }
        seq.end()
    }
}
