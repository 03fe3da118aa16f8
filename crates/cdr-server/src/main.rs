//! The `cdr` binary.
fn main() {}
