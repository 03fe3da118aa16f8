//! The AQL oracle: a plain in-memory interpreter of the AQL syntax tree over canonical JSON,
//! written to be obviously correct rather than fast, plus a seeded query generator. Tests use
//! it to check the SQL engine (differential tests); nothing in production depends on it.
//!
//! It implements `crates/cdr-aql/SEMANTICS.md` point by point, with the readings listed in that
//! file's "Notes from the oracle". It evaluates the bound query of `cdr-aql-bind`, the same the
//! SQL compiler prints: variables, RM typing of paths, row nodes and which containments can
//! hold come from there; evaluation (candidates, comparisons, rows) is its own. What it does
//! not define (TERMINOLOGY, functions, coded names in predicates) is an
//! [`OracleError::Unsupported`].
//!
//! ```
//! use cdr_aql_oracle::{evaluate, Dataset, Ehr, Version, VersionedObject};
//! use serde_json::json;
//!
//! let doc = json!({"_type": "COMPOSITION", "name": {"_type": "DV_TEXT", "value": "Visit"},
//!                  "archetype_node_id": "openEHR-EHR-COMPOSITION.encounter.v1"});
//! let data = Dataset { ehrs: vec![Ehr {
//!     ehr_id: "e1".into(), system_id: "sys".into(), time_created: "2024-01-01T00:00:00Z".into(),
//!     json: json!({}),
//!     compositions: vec![VersionedObject { id: "c1".into(), versions: vec![Version {
//!         uid: "c1::sys::1".into(), committed: "2024-01-02T00:00:00Z".into(),
//!         lifecycle_state: "532".into(), document: Some(doc), json: json!({}) }] }],
//!     ehr_status: VersionedObject::default(), directory: None,
//! }] };
//! let q = cdr_aql::parse("SELECT e/ehr_id/value, c/name/value FROM EHR e CONTAINS COMPOSITION c").unwrap();
//! let rs = evaluate(&q, &Default::default(), &data).unwrap();
//! assert_eq!(rs.rows, vec![vec![json!("e1"), json!("Visit")]]);
//! ```

mod catalog;
mod compare;
mod cond;
mod context;
mod error;
mod from;
mod generate;
mod model;
mod path;
mod select;
mod value;

pub use catalog::{ArchetypeInfo, Catalog, LeafPath};
pub use compare::{same_rows, values_match};
pub use context::MAX_ROWS;
pub use error::OracleError;
pub use generate::generate;
pub use model::{Dataset, Ehr, Version, VersionedObject};

use serde_json::{Map, Value};

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The alias, else `#0`, `#1`, ... by position.
    pub name: String,
    /// The column expression as canonical AQL (without the alias).
    pub path: String,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSet {
    /// The columns.
    pub columns: Vec<Column>,
    /// The rows, one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// Evaluates a query over the data, with `params` giving the `$name` parameters (without `$`).
///
/// # Errors
///
/// [`OracleError`]: unsupported constructs, unknown parameters or variables, or a result too
/// large to build.
pub fn evaluate(
    query: &cdr_aql::ast::Query,
    params: &Map<String, Value>,
    data: &Dataset,
) -> Result<ResultSet, OracleError> {
    let unsupported = |t: &cdr_aql::ast::TerminologyCall| Err(format!("unsupported: {t}"));
    let inputs = cdr_aql_bind::Inputs {
        params,
        terminology: &unsupported,
    };
    let bound = cdr_aql_bind::bind(query, &inputs).map_err(|e| match e.message {
        m if m.starts_with("unsupported: ") => OracleError::Unsupported(m[13..].to_owned()),
        m => OracleError::Bind(m),
    })?;
    let ctx = context::Ctx::new(data, params, &bound);
    let tuples = from::bindings(&ctx, &bound.from)?;
    let rows = select::rows(&ctx, &tuples)?;
    let mut kept = Vec::new();
    for row in rows {
        let keep = match &bound.condition {
            Some(w) => cond::holds(&ctx, w, &tuples[row.tuple], &row)?,
            None => true,
        };
        if keep {
            kept.push(row);
        }
    }
    select::project(&ctx, &tuples, kept)
}
