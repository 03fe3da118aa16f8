//! Decoding rules: `_type` handling, unknown attributes, positions in errors.
