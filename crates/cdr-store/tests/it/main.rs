//! Integration tests of the store against real PostgreSQL (a cluster per test process, a fresh
//! database per test, from cdr-testkit).

mod common;
mod composition;
mod contribution;
mod directory;
mod ehr;
mod migrations;
mod templates;
