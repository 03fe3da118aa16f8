//! Criterion benchmark of FLAT → canonical and STRUCTURED → canonical conversion throughput
//! (bytes of the form per second), on the largest FLAT file of the corpus (the International
//! Patient Summary, ~120 KB), the same data regrouped as STRUCTURED, and the largest corpus
//! STRUCTURED file that converts (the corona anamnesis; the larger EREACT one was written for
//! another template version and does not convert). The template is parsed and its web template
//! built before timing. Skips when the corpus is absent.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;

use cdr_forms::flat::flat_to_canonical;
use cdr_forms::structured::{flat_to_structured, structured_to_canonical};
use cdr_forms::Forms;
use cdr_template::Template;

const NOW: &str = "2024-01-01T00:00:00Z";

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata");
    dir.is_dir().then_some(dir)
}

/// The template of a corpus slug (its web template built) and a file of it as bytes and JSON.
fn load(dir: &Path, slug: &str, file: &str) -> Option<(Template, Vec<u8>, Value)> {
    let opt = std::fs::read(dir.join(slug).join("template.opt")).ok()?;
    let template = cdr_template::parse_opt(&opt).ok()?;
    template.web_template();
    let bytes = std::fs::read(dir.join(slug).join(file)).ok()?;
    let value = serde_json::from_slice(&bytes).ok()?;
    Some((template, bytes, value))
}

fn forms(c: &mut Criterion) {
    let Some(dir) = corpus_dir() else {
        eprintln!("corpus absent: ../shared/testdata not found; skipping forms benchmarks");
        return;
    };
    let mut group = c.benchmark_group("forms_to_canonical");
    if let Some((t, bytes, Value::Object(flat))) = load(
        &dir,
        "international-patient-summary",
        "flat/sdk__ips_flat.json",
    ) {
        assert!(
            flat_to_canonical(&t, &flat, NOW).is_ok(),
            "the IPS FLAT converts"
        );
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("flat/ips", |b| {
            b.iter(|| flat_to_canonical(&t, black_box(&flat), NOW).map(|c| c.is_object()))
        });
        if let Ok(structured) = flat_to_structured(&flat) {
            let size = serde_json::to_vec(&structured).map_or(0, |v| v.len());
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function("structured/ips", |b| {
                b.iter(|| {
                    structured_to_canonical(&t, black_box(&structured), NOW).map(|c| c.is_object())
                })
            });
        }
    } else {
        eprintln!("the IPS FLAT file is missing or not a JSON object; skipping");
    }
    if let Some((t, bytes, structured)) =
        load(&dir, "corona-anamnese", "structured/sdk__corona.json")
    {
        assert!(
            structured_to_canonical(&t, &structured, NOW).is_ok(),
            "corona converts"
        );
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("structured/corona", |b| {
            b.iter(|| {
                structured_to_canonical(&t, black_box(&structured), NOW).map(|c| c.is_object())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, forms);
criterion_main!(benches);
