//! Integration tests of the store against real PostgreSQL (a cluster per test process, a fresh
//! database per test, from cdr-testkit).

mod access;
mod admin;
mod aql;
mod aql_diff;
mod aql_semantics;
mod aql_snapshots;
mod audit;
mod common;
mod composition;
mod contribution;
mod directory;
mod durability;
mod ehr;
mod events;
mod managed;
mod migrations;
mod sql_scope;
mod stored_queries;
mod templates;
mod terminology;
