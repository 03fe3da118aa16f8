//! Integration tests of cdr-adl.

mod corpus;
mod parse;
