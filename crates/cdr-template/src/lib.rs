//! OPT 1.4 (operational template XML) parser into a constraint tree with an index from
//! AQL-style paths to constraint nodes.
//!
//! Architecture invariant: this crate knows nothing about RM instances, storage or HTTP; it
//! does no IO (callers pass bytes).

pub mod example;
pub mod flat;
mod index;
mod model;
mod parser;
pub mod structured;
mod tree;
pub mod webtemplate;
mod xml;

pub use model::*;
pub use parser::{parse_opt, parse_opt_with_limits, OptError, ParseLimits, MAX_SUPPORTED_DEPTH};
pub mod compile;
pub mod writer;
