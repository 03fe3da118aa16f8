//! Validation of RM instances against operational templates and the reference model.
//!
//! [`validate`] reports every issue it finds (never only the first), each with the instance
//! path, the archetype path, a stable snake_case constraint code, expected and actual values,
//! and a message. It never panics on bad data: user-data problems are values, not errors.
//!
//! Architecture invariant: this crate does no IO and knows nothing of storage or HTTP; it sees
//! RM objects only through `cdr_rm::meta::RmObject` reflection and templates through
//! `cdr_template`'s constraint tree.

pub mod iso8601;
mod issue;
mod rm;
mod validate;

pub use cdr_rm::terminology;
pub use issue::{Constraint, ValidationIssue};

use cdr_rm::meta::RmObject;
use cdr_template::Template;

/// Validates a composition (or any LOCATABLE root) against its template and the RM rules.
pub fn validate(template: &Template, root: &dyn RmObject) -> Vec<ValidationIssue> {
    let mut w = validate::Walker::new(template);
    w.validate_root(root);
    let mut issues = w.issues;
    issues.extend(validate_rm(root));
    dedup(issues)
}

/// Checks only the reference-model rules (mandatory attributes, invariants, openEHR codes).
pub fn validate_rm(root: &dyn RmObject) -> Vec<ValidationIssue> {
    let mut w = rm::RmWalker::new();
    w.walk(root);
    w.issues
}

/// Drops duplicates (the template and RM walks can see the same fault), keeping order: the
/// same code at the same path, and a template's `attribute_missing` where the RM walk reports
/// the attribute as `rm_mandatory_missing`.
fn dedup(issues: Vec<ValidationIssue>) -> Vec<ValidationIssue> {
    if issues.is_empty() {
        return issues;
    }
    let rm_missing: std::collections::HashSet<String> = issues
        .iter()
        .filter(|i| i.constraint == Constraint::RmMandatoryMissing)
        .map(|i| i.path.clone())
        .collect();
    let mut seen = std::collections::HashSet::new();
    issues
        .into_iter()
        .filter(|i| !(i.constraint == Constraint::AttributeMissing && rm_missing.contains(&i.path)))
        .filter(|i| seen.insert((i.path.clone(), i.constraint)))
        .collect()
}
