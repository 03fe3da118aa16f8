//! Criterion benchmark of the OET compiler: the largest OET template of `../shared/models`
//! that compiles with the archetypes found there (the archetypes are parsed once, before
//! timing; the compile flattens, applies the rules and writes the OPT XML). Skips when the
//! models corpus is absent.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn compile(c: &mut Criterion) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/models");
    if !dir.is_dir() {
        eprintln!("models corpus absent: ../shared/models not found; skipping compile benchmark");
        return;
    }
    let mut adl = Vec::new();
    files(&dir, "adl", &mut adl);
    let archetypes: Vec<cdr_adl::Archetype> = adl
        .iter()
        .filter_map(|p| cdr_adl::parse(&std::fs::read_to_string(p).ok()?, "bench").ok())
        .collect();
    let mut oets = Vec::new();
    files(&dir, "oet", &mut oets);
    let mut sized: Vec<(Vec<u8>, PathBuf)> = oets
        .into_iter()
        .filter_map(|p| Some((std::fs::read(&p).ok()?, p)))
        .collect();
    sized.sort_by_key(|(bytes, _)| std::cmp::Reverse(bytes.len()));
    let Some((bytes, path)) = sized
        .into_iter()
        .find(|(bytes, _)| cdr_template::compile::compile(bytes, &archetypes).is_ok())
    else {
        eprintln!("no OET of the models corpus compiles; skipping");
        return;
    };
    eprintln!(
        "compiling {} ({} bytes)",
        path.file_name().unwrap_or_default().to_string_lossy(),
        bytes.len()
    );
    let mut group = c.benchmark_group("oet_compile");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("largest_compiling_oet", |b| {
        b.iter(|| cdr_template::compile::compile(black_box(&bytes), &archetypes).map(|x| x.len()))
    });
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
