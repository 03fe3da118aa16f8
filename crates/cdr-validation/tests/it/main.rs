//! Integration tests of cdr-validation: corpus acceptance, mutations, small fixtures.

mod compiled_twins;
mod corpus;
mod example;
mod fixtures;
mod flat;
mod mutations;
mod shipped;
mod structured;
