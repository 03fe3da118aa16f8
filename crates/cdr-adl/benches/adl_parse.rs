//! Criterion benchmark of ADL parsing throughput: every archetype of ../shared/models (292
//! files, about 4.4 MB), parsed into the typed model, reported in bytes per second; and the
//! same set written back to ADL. Skips when the corpus is absent.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn corpus() -> Option<Vec<(String, String)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if !dir.is_dir() {
        return None;
    }
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "adl") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p.display().to_string(), text))
        })
        .collect()
}

fn adl_parse(c: &mut Criterion) {
    let Some(files) = corpus() else {
        eprintln!("corpus absent: ../shared/models not found; skipping adl_parse benchmarks");
        return;
    };
    let bytes: usize = files.iter().map(|(_, t)| t.len()).sum();
    let parsed: Vec<cdr_adl::Archetype> = files
        .iter()
        .map(|(n, t)| cdr_adl::parse(t, n).expect("the corpus parses"))
        .collect();
    let mut group = c.benchmark_group("adl");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse_corpus", |b| {
        b.iter(|| {
            files
                .iter()
                .map(|(n, t)| {
                    cdr_adl::parse(black_box(t), n).map(|a| a.definition.attributes.len())
                })
                .filter(Result::is_ok)
                .count()
        })
    });
    group.bench_function("write_corpus", |b| {
        b.iter(|| {
            parsed
                .iter()
                .map(|a| cdr_adl::write(black_box(a)).len())
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, adl_parse);
criterion_main!(benches);
