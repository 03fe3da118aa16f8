//! Small self-contained fixtures.
