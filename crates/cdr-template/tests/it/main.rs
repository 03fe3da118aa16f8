//! Integration tests for the OPT 1.4 parser: hand-written fixtures, error handling, the real
//! corpus under `shared/testdata`, and robustness against truncated and mutated input.

mod compile;
mod corpus;
mod errors;
mod fixtures;
mod robustness;
mod support;
