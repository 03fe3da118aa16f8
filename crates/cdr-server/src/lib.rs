//! cdr-server: the openEHR REST API over the store (the only crate that knows HTTP), and the
//! command-line tools of the `cdr` binary.

pub mod http;
pub mod models;
