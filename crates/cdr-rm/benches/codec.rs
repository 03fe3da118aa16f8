//! Canonical JSON and XML decode/encode throughput on corpus compositions: the blood-pressure
//! composition (8 KB) and the largest canonical JSON of the corpus (IPS, 294 KB), in decimal
//! MB/s. `json/*/decode_serde_json` is the baseline for `json/*/decode`: the same visitors fed
//! by serde_json's `from_str` after a UTF-8 check, as `from_json` decoded before cdr-rm had
//! its own reader.

use cdr_rm::{from_json, from_xml, to_json, to_xml, Composition, JsonConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;

fn corpus(rel: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .join(rel);
    let b = std::fs::read(&p).ok();
    if b.is_none() {
        eprintln!(
            "corpus absent: {} not found; benchmark skipped",
            p.display()
        );
    }
    b
}

const FILES: &[(&str, &str)] = &[
    ("blood_pressure", "ehrbase-blood-pressure-simple.de.v0/compositions/it__ehrbase_blood_pressure_simple.de.v0.json"),
    ("ips_largest", "international-patient-summary/compositions/sdk__ips_canonical.json"),
];

fn bench(c: &mut Criterion) {
    for (name, rel) in FILES {
        let Some(json) = corpus(rel) else { continue };
        let comp: Composition = from_json(&json).expect("decodes");
        let mut g = c.benchmark_group(format!("json/{name}"));
        g.throughput(Throughput::BytesDecimal(json.len() as u64));
        g.bench_function("decode", |b| {
            b.iter(|| from_json::<Composition>(std::hint::black_box(&json)).unwrap())
        });
        g.bench_function("decode_serde_json", |b| {
            b.iter(|| {
                let text = std::str::from_utf8(std::hint::black_box(&json)).unwrap();
                serde_json::from_str::<Composition>(text).unwrap()
            })
        });
        g.bench_function("encode", |b| {
            b.iter(|| to_json(std::hint::black_box(&comp), &JsonConfig::CANONICAL))
        });
        g.finish();

        let xml = to_xml(&comp, "composition");
        let mut g = c.benchmark_group(format!("xml/{name}"));
        g.throughput(Throughput::BytesDecimal(xml.len() as u64));
        g.bench_function("decode", |b| {
            b.iter(|| from_xml::<Composition>(std::hint::black_box(xml.as_bytes())).unwrap())
        });
        g.bench_function("encode", |b| {
            b.iter(|| to_xml(std::hint::black_box(&comp), "composition"))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
