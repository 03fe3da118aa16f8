//! cdr-validation (work in progress).
