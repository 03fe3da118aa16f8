//! The forms of an operational template: its web template, FLAT and STRUCTURED compositions
//! converted to and from canonical ones, and example compositions.
//!
//! Architecture invariant: this crate works on a parsed [`cdr_template::Template`] and RM JSON;
//! it knows nothing about storage or HTTP and does no IO (callers pass bytes and values).

pub mod example;
pub mod flat;
pub mod structured;
pub mod webtemplate;

pub use webtemplate::Forms;
