//! Integration tests of cdr-rm: corpus round trips (JSON, XML, JSON↔XML) and decoding rules.

mod corpus;
mod decode;
mod reader;
mod rm_type;
mod roundtrip;
