//! Integration tests of the binder: one binary, one module per area.

mod binding;
