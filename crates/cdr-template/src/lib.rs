//! OPT 1.4 (operational template XML) parser into a constraint tree with an index from
//! AQL-style paths to constraint nodes.
//!
//! Architecture invariant: this crate knows nothing about RM instances, storage or HTTP; it
//! does no IO (callers pass bytes).

mod model;
mod parser;

pub use model::*;
pub use parser::{parse_opt, OptError, ParseLimits};
