//! Integration tests for the forms of a template: web templates (hand-written fixtures and the
//! corpus), FLAT and STRUCTURED conversion, example compositions, and the forms of compiled
//! templates, the fixture's and the care-plan templates cdr ships.

mod compile_corpus;
mod compiled;
mod dialect;
mod example;
mod flat;
mod shipped;
mod structured;
mod support;
mod webtemplate;
mod webtemplate_corpus;
