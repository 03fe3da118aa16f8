//! The AQL binder: a parsed query ([`cdr_aql::Query`]) bound to the reference model, as a
//! [`BoundQuery`] — the logical plan between the syntax tree and its evaluation, as DataFusion
//! keeps a logical plan apart from the physical one.
//!
//! [`bind`] resolves every variable, parameter and TERMINOLOGY() value, types each path with
//! [`cdr_rm::meta::RmType`] (which attributes are multi-valued, which RM types a path can
//! reach), decides which multi-valued nodes make rows and which row node each path binds to
//! ([`RowNode`], [`Anchor`]), and decides which containments can never hold. Every semantic
//! error is raised there, at the node it concerns ([`BindError`]); nothing downstream checks
//! meaning again. The SQL compiler (cdr-store) prints SQL from the bound query, and the oracle
//! (cdr-aql-oracle) evaluates it; `crates/cdr-aql/SEMANTICS.md` says what it means.
//!
//! ```
//! use cdr_aql_bind::{bind, ColumnExpr, Inputs};
//!
//! let q = cdr_aql::parse(
//!     "SELECT o/data/events/time/value FROM COMPOSITION c CONTAINS OBSERVATION o",
//! )
//! .unwrap();
//! let no_terminology = |_: &_| Err("no terminology".to_owned());
//! let inputs = Inputs { params: &Default::default(), terminology: &no_terminology };
//! let b = bind(&q, &inputs).unwrap();
//! // HISTORY.events is multi-valued: each event is its own row.
//! assert_eq!(b.rows.len(), 1);
//! let ColumnExpr::Path(p) = &b.columns[0].expr else { unreachable!() };
//! assert!(p.steps[1].multiple && p.anchor.is_some());
//! ```
//!
//! Architecture invariant: no IO, no SQL, no templates; the only model is the RM.

mod bind;
mod error;
mod like;
mod model;
mod types;

pub use bind::{bind, literal_json, Inputs};
pub use error::BindError;
pub use like::{LikePattern, LikeToken};
pub use model::*;
pub use types::{can_contain, reachable, Attribute, Types, ValueType};
