//! Integration tests of the REST API: the real server on an ephemeral port, over real HTTP,
//! against real PostgreSQL (a fresh database per test from cdr-testkit).

mod access;
mod admin;
mod audit;
mod auth;
mod cli;
mod common;
mod composition;
mod composition_data;
mod contribution;
mod definition;
mod directory;
mod ehr;
mod ehr_status;
mod events;
mod flags;
mod forms;
mod import;
mod query;
mod replica;
mod serve;
mod stored_query;
mod system;
mod tour;
mod ui;
