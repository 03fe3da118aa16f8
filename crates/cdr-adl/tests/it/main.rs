//! Integration tests of cdr-adl.

mod check;
mod corpus;
mod flatten;
mod parse;
mod shipped;
