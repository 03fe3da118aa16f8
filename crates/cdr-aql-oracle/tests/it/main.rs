//! Integration tests for cdr-aql-oracle: one binary, one module per area.

mod compare;
mod conditions;
mod containment;
mod generator;
mod projection;
mod support;
