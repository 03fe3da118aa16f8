//! Integration tests for the OPT 1.4 parser: hand-written fixtures, error handling, the real
//! corpus under `shared/testdata`, and robustness against truncated and mutated input.

mod compile;
mod compile_corpus;
mod corpus;
mod dialect;
mod errors;
mod example;
mod fixtures;
mod flat;
mod opt_builder;
mod robustness;
mod shipped;
mod structured;
mod support;
mod webtemplate;
mod webtemplate_corpus;
