//! OPT 1.4 (operational template XML) parser into a constraint tree with an index from
//! AQL-style paths to constraint nodes, and the compiler of OET templates and ADL 1.4 archetypes
//! into such a tree and back to OPT XML.
//!
//! Architecture invariant: this crate knows nothing about RM instances, forms, storage or HTTP;
//! it does no IO (callers pass bytes).

pub mod compile;
#[doc(hidden)]
pub mod fixtures;
mod index;
mod model;
mod parser;
mod tree;
pub mod writer;
mod xml;

pub use model::*;
pub use parser::{parse_opt, parse_opt_with_limits, OptError, ParseLimits, MAX_SUPPORTED_DEPTH};
