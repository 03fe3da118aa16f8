//! ADL 1.4 archetypes: a parser into a typed model, a writer back to ADL text, checks of an
//! archetype's validity, and the flattening of a specialised archetype onto its parent.
//!
//! ```text
//! ADL text ──parse──▶ Archetype ──write──▶ ADL text      (parse(write(a)) == a)
//!                        │
//!                        ├──check──▶ Vec<Finding>          (all findings at once)
//!                        └──flatten(parent)──▶ Archetype  (specialised onto its parent)
//! ```
//!
//! The library does no IO: callers pass the text and a name for it (used in errors). The
//! grammar is `src/adl.pest`:
//!
//! ```text
#![doc = include_str!("adl.pest")]
//! ```

pub mod check;
pub mod dadl;
mod error;
pub mod flatten;
pub mod model;
mod parser;
pub mod writer;

pub use check::{check, check_set, check_specialisation, Finding, Severity};
pub use dadl::{Dadl, DadlPrim, TermCode};
pub use error::ParseError;
pub use flatten::{flatten, flatten_in, FlattenError};

pub use model::*;
pub use parser::MAX_NESTING;
pub use writer::write;

/// Parses the ADL 1.4 archetype `text`; `source` names it in errors (a file name or a label).
pub fn parse(text: &str, source: &str) -> Result<Archetype, ParseError> {
    parser::parse(text, source)
}

/// Whether `id` has the shape of an archetype id: `originator-rm_name-RM_TYPE.concept.vN`
/// (the concept may carry `-specialisation` parts; the version may have `.minor` parts).
pub fn is_archetype_id(id: &str) -> bool {
    let Some((qualified, rest)) = id.split_once('.') else {
        return false;
    };
    let parts: Vec<&str> = qualified.split('-').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(is_id_char))
    {
        return false;
    }
    let Some((concept, version)) = rest.split_once(".v") else {
        return false;
    };
    let concept_ok = !concept.is_empty()
        && concept
            .split('-')
            .all(|p| !p.is_empty() && p.chars().all(is_id_char));
    let version_ok = !version.is_empty()
        && version
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && version.starts_with(|c: char| c.is_ascii_digit());
    concept_ok && version_ok
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    #[test]
    fn archetype_ids() {
        for ok in [
            "openEHR-EHR-OBSERVATION.blood_pressure.v1",
            "openEHR-EHR-CLUSTER.tnm_staging_7th-lung.v1",
            "openEHR-EHR-OBSERVATION.x.v1.0.2",
        ] {
            assert!(super::is_archetype_id(ok), "{ok}");
        }
        for bad in [
            "openEHR-EHR.x.v1",
            "openEHR-EHR-OBSERVATION.x",
            "a-b-c..v1",
            "a-b-c.x.v",
        ] {
            assert!(!super::is_archetype_id(bad), "{bad}");
        }
    }
}
