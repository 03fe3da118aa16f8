//! Validation throughput beside decoding, on the blood-pressure composition and the largest
//! canonical JSON composition of the corpus (IPS), each with its own OPT. Throughput is in bytes
//! of the canonical JSON, so decode and validate figures compare directly.

use cdr_rm::{from_json, Composition};
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

const CASES: &[(&str, &str, &str)] = &[
    (
        "blood_pressure",
        "ehrbase-blood-pressure-simple.de.v0/template.opt",
        "ehrbase-blood-pressure-simple.de.v0/compositions/it__ehrbase_blood_pressure_simple.de.v0.json",
    ),
    (
        "ips_largest",
        "international-patient-summary/template.opt",
        "international-patient-summary/compositions/sdk__ips_canonical.json",
    ),
];

fn bench(c: &mut Criterion) {
    for (name, opt, comp) in CASES {
        let (Some(opt), Some(json)) = (corpus(opt), corpus(comp)) else {
            continue;
        };
        let template = cdr_template::parse_opt(&opt).expect("OPT parses");
        let composition: Composition = from_json(&json).expect("decodes");
        assert!(
            cdr_validation::validate(&template, &composition).is_empty(),
            "{name} must be valid"
        );
        let mut g = c.benchmark_group(format!("validate/{name}"));
        g.throughput(Throughput::Bytes(json.len() as u64));
        g.bench_function("decode", |b| {
            b.iter(|| from_json::<Composition>(std::hint::black_box(&json)).unwrap())
        });
        g.bench_function("validate", |b| {
            b.iter(|| cdr_validation::validate(&template, std::hint::black_box(&composition)))
        });
        g.bench_function("decode+validate", |b| {
            b.iter(|| {
                let c: Composition = from_json(std::hint::black_box(&json)).unwrap();
                cdr_validation::validate(&template, &c)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
