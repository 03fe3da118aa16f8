//! RM classes, grouped by RM package.

mod any;
mod base;
mod common;
mod composition;
mod datatypes;
mod structures;

pub use any::*;
pub use base::*;
pub use common::*;
pub use composition::*;
pub use datatypes::*;
pub use structures::*;
