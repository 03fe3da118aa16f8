//! cdr-rm (work in progress).
