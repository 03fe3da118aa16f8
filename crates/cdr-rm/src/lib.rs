//! The openEHR reference model (RM 1.0.4 / 1.1.0) as Rust types, with canonical JSON and
//! canonical XML, and a reflection view ([`meta::RmObject`]) for generic walkers.
//!
//! Architecture invariant: cdr-rm knows nothing about templates, storage or HTTP, and does no
//! IO. Every RM class is declared once (see `macros.rs`); JSON, XML and reflection are derived
//! from that single declaration.

#[macro_use]
mod macros;
mod field;
pub mod json;
pub mod meta;
mod model;
pub mod terminology;
pub mod xml;

pub use json::{from_json, to_json, DecodeError, JsonConfig, TypeTags};
pub use model::*;
pub use xml::{from_xml, to_xml};
