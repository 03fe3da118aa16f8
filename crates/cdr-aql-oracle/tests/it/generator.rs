//! The catalog and the query generator: generated queries parse, and the oracle evaluates them
//! over the fixture and (when present) the shared corpus without panicking.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cdr_aql_oracle::{evaluate, generate, Catalog, Dataset, OracleError, VersionedObject};
use serde_json::{json, Map, Value};

use crate::support::{ehr, versioned};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> Value {
    let path = crate_dir().join("../cdr-validation/tests/fixtures/cdr_test_vitals.v1.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// Canonical JSON compositions of the shared corpus (`*/compositions/*.json`, negative tests
/// excluded), or none when the corpus is not there.
fn corpus() -> Vec<Value> {
    let root = crate_dir().join("../../../shared/testdata");
    let Ok(templates) = std::fs::read_dir(&root) else {
        eprintln!("shared corpus not found at {root:?}: generator tests use the fixture only");
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = templates
        .flatten()
        .filter_map(|t| std::fs::read_dir(t.path().join("compositions")).ok())
        .flat_map(|dir| dir.flatten().map(|f| f.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files.iter().filter_map(|p| read_composition(p)).collect()
}

fn read_composition(path: &Path) -> Option<Value> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    (doc.get("_type") == Some(&json!("COMPOSITION"))).then_some(doc)
}

fn documents() -> Vec<Value> {
    let mut docs = vec![fixture()];
    docs.extend(corpus());
    docs
}

/// The documents spread over three EHRs; some with a second version, some deleted.
fn dataset(docs: &[Value]) -> Dataset {
    let no_status = VersionedObject::default;
    let mut ehrs = vec![
        ehr("e0", vec![], no_status()),
        ehr("e1", vec![], no_status()),
        ehr("e2", vec![], no_status()),
    ];
    for (i, doc) in docs.iter().enumerate() {
        let versions = match i % 7 {
            1 => vec![Some(doc.clone()), Some(doc.clone())],
            3 => vec![Some(doc.clone()), None],
            _ => vec![Some(doc.clone())],
        };
        ehrs[i % 3]
            .compositions
            .push(versioned(&format!("vc{i}"), versions));
    }
    Dataset { ehrs }
}

#[test]
fn catalog_collects_archetypes_paths_and_samples() {
    let catalog = Catalog::from_documents(&[fixture()]);
    let comp = catalog.get("openEHR-EHR-COMPOSITION.encounter.v1").unwrap();
    assert_eq!(comp.rm_type, "COMPOSITION");
    assert_eq!(comp.names, vec!["Encounter".to_owned()]);
    assert!(comp
        .contains
        .contains(&"openEHR-EHR-OBSERVATION.cdr_test_vitals.v1".to_owned()));
    let obs = catalog
        .get("openEHR-EHR-OBSERVATION.cdr_test_vitals.v1")
        .unwrap();
    assert_eq!(obs.rm_type, "OBSERVATION");
    let systolic = obs
        .paths
        .iter()
        .find(|p| {
            p.path == "/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude"
        })
        .unwrap();
    assert_eq!(systolic.samples, vec![json!(120.0)]);
    assert!(obs.paths.iter().all(|p| !p.path.contains("_type")));
}

#[test]
fn generation_is_deterministic_and_parses_without_data() {
    let catalog = Catalog::from_documents(&documents());
    assert_eq!(generate(7, &catalog, 50), generate(7, &catalog, 50));
    assert_ne!(generate(7, &catalog, 50), generate(8, &catalog, 50));
    for q in generate(1, &Catalog::default(), 100) {
        cdr_aql::parse(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
    }
}

#[test]
fn generated_queries_parse_and_evaluate() {
    let docs = documents();
    let catalog = Catalog::from_documents(&docs);
    let data = dataset(&docs);
    let queries = generate(20_240_301, &catalog, 500);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut nonempty = 0;
    for q in &queries {
        let query = cdr_aql::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let outcome = match evaluate(&query, &Map::new(), &data) {
            Ok(rs) => {
                if rs.rows.iter().any(|r| r.iter().any(|v| !v.is_null())) {
                    nonempty += 1;
                }
                "ok".to_owned()
            }
            Err(OracleError::Unsupported(why)) => {
                eprintln!("unsupported: {why}\n  {q}");
                "unsupported".to_owned()
            }
            Err(e) => panic!("{q}: {e}"),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!(
        "{} documents, {} archetypes; outcomes {outcomes:?}; {nonempty} with a non-null value",
        docs.len(),
        catalog.archetypes.len()
    );
    assert!(
        outcomes.get("ok").copied().unwrap_or(0) >= 475,
        "{outcomes:?}"
    );
    assert!(nonempty >= 250, "only {nonempty} queries found data");
}

#[test]
fn generated_queries_mix_every_construct() {
    let catalog = Catalog::from_documents(&documents());
    let queries = generate(20_240_301, &catalog, 500);
    let features = [
        "EHR e CONTAINS COMPOSITION",
        "CONTAINS VERSION v[ALL_VERSIONS]",
        " AND ",
        " OR ",
        "NOT CONTAINS",
        "CONTAINS ELEMENT",
        "ENTRY x",
        ", '",
        "[archetype_node_id=",
        "[at0",
        " WHERE ",
        " = ",
        " != ",
        " < ",
        " >= ",
        " LIKE ",
        " MATCHES {",
        "EXISTS ",
        "NOT ",
        "+05:30'",
        "SELECT DISTINCT",
        "ORDER BY",
        " DESC",
        " LIMIT ",
        " OFFSET ",
        "SELECT TOP ",
        "COUNT(*)",
        "COUNT(DISTINCT",
        "MIN(",
        "MAX(",
        "SUM(",
        "AVG(",
        " AS ",
    ];
    for f in features {
        let n = queries.iter().filter(|q| q.contains(f)).count();
        assert!(n > 0, "no generated query has {f:?}");
    }
}

#[test]
fn grammar_corpus_queries_evaluate_or_fail_cleanly() {
    let dir = crate_dir().join("../../aql-grammar/corpus/ok");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .flatten()
        .map(|f| f.path())
        .collect();
    files.sort();
    let data = crate::support::sample();
    let params: Map<String, Value> = ["ehrUid", "ehr_id", "itemName", "n", "archetypeId"]
        .iter()
        .map(|p| ((*p).to_owned(), json!("e1")))
        .collect();
    let mut ok = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let query = cdr_aql::parse(&text).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        match evaluate(&query, &params, &data) {
            Ok(_) => ok += 1,
            Err(e) => eprintln!("{}: {e}", file.display()),
        }
    }
    assert!(ok >= files.len() / 2, "{ok} of {} evaluated", files.len());
}
