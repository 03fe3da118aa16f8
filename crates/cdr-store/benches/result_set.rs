//! Criterion benchmark of writing a RESULT_SET of whole compositions (`ResultSet::to_json_string`,
//! which leaves `_type` out of ARCHETYPED, ARCHETYPE_ID, TEMPLATE_ID, LINK and HISTORY objects
//! as EHRbase does) beside the same bytes as string cells, which are copied unchanged: the
//! difference is the cost of that pass. 1000 rows of the fixture composition as cdr stores it,
//! and of the corpus's International Patient Summary (~120 KB) when the corpus is present.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::value::RawValue;

use cdr_rm::{from_json, to_json, Composition, JsonConfig};
use cdr_store::aql::{ResultColumn, ResultSet};

const ROWS: usize = 1000;

/// A composition as the store keeps it: canonical JSON, `_type` on every object.
fn stored(bytes: &[u8]) -> String {
    let c: Composition = from_json(bytes).expect("the composition decodes");
    String::from_utf8(to_json(&c, &JsonConfig::CANONICAL)).expect("UTF-8")
}

fn result_set(cell: &str) -> ResultSet {
    ResultSet {
        name: None,
        href: None,
        generator: None,
        created: "2024-01-01T00:00:00.000+00:00".into(),
        q: "SELECT c FROM COMPOSITION c".into(),
        fetch: None,
        offset: None,
        columns: vec![ResultColumn {
            name: "#0".into(),
            path: "c".into(),
            is_path: true,
        }],
        rows: (0..ROWS)
            .map(|_| vec![RawValue::from_string(cell.to_owned()).expect("JSON")])
            .collect(),
        total: None,
    }
}

fn bench(c: &mut Criterion) {
    let mut docs = vec![(
        "fixture",
        stored(include_bytes!(
            "../../cdr-validation/tests/fixtures/cdr_test_vitals.v1.json"
        )),
    )];
    let ips = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/testdata/international-patient-summary/compositions/sdk__ips_canonical.json",
    );
    match std::fs::read(&ips) {
        Ok(bytes) => docs.push(("ips", stored(&bytes))),
        Err(_) => eprintln!("corpus absent: benchmarking the fixture composition only"),
    }
    let mut group = c.benchmark_group("result_set");
    for (name, doc) in &docs {
        group.throughput(Throughput::Bytes((doc.len() * ROWS) as u64));
        let whole = result_set(doc);
        group.bench_function(format!("{name}/whole_compositions"), |b| {
            b.iter(|| black_box(whole.to_json_string()))
        });
        // The same number of bytes as one JSON string per cell.
        let text = serde_json::Value::String("x".repeat(doc.len() - 2)).to_string();
        let strings = result_set(&text);
        group.bench_function(format!("{name}/same_bytes_as_strings"), |b| {
            b.iter(|| black_box(strings.to_json_string()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
