//! Criterion benchmark of OPT parsing throughput on corpus templates of three sizes: the
//! smallest (minimal-evaluation, ~10 KB), a typical one (ehrbase blood pressure, ~137 KB) and
//! the largest (international-patient-summary, ~1.9 MB). Skips when the corpus is absent.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const SLUGS: [&str; 3] = [
    "minimal-evaluation.en.v1",
    "ehrbase-blood-pressure-simple.de.v0",
    "international-patient-summary",
];

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    dir.is_dir().then_some(dir)
}

fn opt_parse(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus absent: ../shared/testdata not found; skipping opt_parse benchmarks");
        return;
    };
    let mut group = c.benchmark_group("opt_parse");
    for slug in SLUGS {
        let Ok(bytes) = std::fs::read(dir.join(slug).join("template.opt")) else {
            eprintln!("{slug}/template.opt not found; skipping");
            continue;
        };
        if let Err(e) = cdr_template::parse_opt(&bytes) {
            eprintln!("{slug}: does not parse ({e}); skipping");
            continue;
        }
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(slug, |b| {
            b.iter(|| cdr_template::parse_opt(black_box(&bytes)).map(|t| t.path_index.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, opt_parse);
criterion_main!(benches);
