//! The FLAT format (simSDT): a composition as `path → value` pairs whose paths are web
//! template ids (`vitals/blood_pressure:0/any_event:0/systolic|magnitude`), plus `ctx/*`
//! defaults; converted to and from canonical JSON, driven by the template's web template.
//!
//! FLAT → canonical: every key must resolve, against the web template or, for `_`-segments
//! (`_uid`, `_link:0`, `_feeder_audit/…`, `_normal_range/lower`), against the RM shapes in
//! `shapes.rs`; an unknown key is an error naming it, never dropped. The levels the web
//! template leaves out are rebuilt from each node's steps; RM-mandatory attributes missing
//! from the FLAT come from `ctx` and the template (`defaults.rs`).

mod ctx;
mod defaults;
mod path;
mod shapes;
mod to_rm;

use serde_json::{Map, Value};

use crate::model::Template;

/// Why a FLAT composition could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlatError {
    /// The key names no node of the web template and no RM attribute there.
    #[error("{path}: unknown path")]
    UnknownPath { path: String },
    /// The key is not a well-formed FLAT path, or repeats what occurs once.
    #[error("{path}: {message}")]
    BadPath { path: String, message: String },
    /// The value does not fit the attribute (a number where text is needed, …).
    #[error("{path}: {message}")]
    BadValue { path: String, message: String },
    /// Canonical data that FLAT cannot express.
    #[error("{path}: cannot be written as FLAT: {message}")]
    NotRepresentable { path: String, message: String },
}

impl FlatError {
    /// The FLAT path (or instance path) the error is about.
    pub fn path(&self) -> &str {
        match self {
            FlatError::UnknownPath { path }
            | FlatError::BadPath { path, .. }
            | FlatError::BadValue { path, .. }
            | FlatError::NotRepresentable { path, .. } => path,
        }
    }
}

/// Converts a FLAT composition for `template` to canonical JSON (every object with `_type`).
/// `now` (ISO 8601) stands in for `ctx/time` when the FLAT gives none.
pub fn flat_to_canonical(
    template: &Template,
    flat: &Map<String, Value>,
    now: &str,
) -> Result<Value, FlatError> {
    to_rm::convert(template, flat, now)
}
