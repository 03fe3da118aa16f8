//! Error handling.
