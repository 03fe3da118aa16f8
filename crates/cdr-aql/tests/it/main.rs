//! Integration tests for cdr-aql: one binary, one module per area.

mod ast_shape;
mod corpus;
mod errors;
mod no_panic;
mod support;
