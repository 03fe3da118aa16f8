//! What the fuzz targets share: the fixed template that compositions are decoded against (the
//! urgent care plan cdr ships, compiled from the repository's own OET and archetypes) and one
//! function per target that runs the code under test on the fuzzer's bytes.
//!
//! Every function here must return normally for every input: a panic, an abort or a hang is a
//! bug in the crate under test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cdr_template::Template;
use serde_json::{Map, Value};

/// The time FLAT conversion uses when the form gives no `ctx/time`.
const NOW: &str = "2026-12-06T09:00:00Z";

/// The template every composition target decodes against.
pub const TEMPLATE_FOLDER: &str = "urgent_care_plan";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn archetypes(dir: &Path, out: &mut Vec<cdr_adl::Archetype>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            archetypes(&p, out);
        } else if p.extension().is_some_and(|x| x == "adl") {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let source = p.display().to_string();
            out.push(cdr_adl::parse(&text, &source).unwrap_or_else(|e| panic!("{source}: {e}")));
        }
    }
}

/// The fixed template as OPT XML, compiled once per process.
pub fn template_opt() -> &'static str {
    static OPT: OnceLock<String> = OnceLock::new();
    OPT.get_or_init(|| {
        let mut found = Vec::new();
        archetypes(&repo().join("archetypes"), &mut found);
        let oet = repo()
            .join("templates")
            .join(TEMPLATE_FOLDER)
            .join(format!("{TEMPLATE_FOLDER}.oet"));
        let bytes = std::fs::read(&oet).unwrap_or_else(|e| panic!("{}: {e}", oet.display()));
        cdr_template::compile::compile(&bytes, &found)
            .unwrap_or_else(|e| panic!("{}: {e:?}", oet.display()))
    })
}

/// The fixed template, parsed once per process.
pub fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        cdr_template::parse_opt(template_opt().as_bytes())
            .unwrap_or_else(|e| panic!("compiled OPT: {e}"))
    })
}

/// AQL: the query text, optionally followed by a NUL byte and a JSON object of `$parameter`
/// values; parsed, printed and parsed again, then bound and compiled to SQL.
pub fn aql(data: &[u8]) {
    let (text, params) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let params = match serde_json::from_slice::<Value>(params) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if let Ok(q) = cdr_aql::parse(text) {
        let printed = q.to_string();
        match cdr_aql::parse(&printed) {
            Ok(again) => assert_eq!(again, q, "printing changed the query: {printed}"),
            Err(e) => panic!("the printed query does not parse: {e}: {printed}"),
        }
    }
    let req = cdr_store::aql::QueryRequest {
        aql: text,
        params,
        ..Default::default()
    };
    let _ = cdr_store::aql::compile_to_sql(&req, &cdr_store::aql::QueryLimits::default());
}

/// OPT 1.4 XML: parsed; a template that parses is made a web template.
pub fn opt(data: &[u8]) {
    if let Ok(t) = cdr_template::parse_opt(data) {
        let _ = cdr_forms::webtemplate::WebTemplate::from_template(&t).to_json();
    }
}

fn validate(composition: &cdr_rm::Composition) {
    let _ = cdr_validation::validate(template(), composition);
}

/// Encodes `c` as canonical and minimal JSON and as XML, and decodes each again: every one must
/// decode to `c`.
fn round_trips(c: &cdr_rm::Composition) {
    for config in [&cdr_rm::JsonConfig::CANONICAL, &cdr_rm::JsonConfig::MINIMAL] {
        let json = cdr_rm::to_json(c, config);
        match cdr_rm::from_json::<cdr_rm::Composition>(&json) {
            Ok(again) => assert!(again == *c, "JSON round trip changed the composition"),
            Err(e) => panic!("the JSON written does not decode: {e}"),
        }
    }
    let xml = cdr_rm::to_xml(c, "composition");
    match cdr_rm::from_xml::<cdr_rm::Composition>(xml.as_bytes()) {
        Ok(again) => assert!(again == *c, "XML round trip changed the composition"),
        Err(e) => panic!("the XML written does not decode: {e}"),
    }
}

/// A composition in canonical JSON: decoded, validated against the fixed template, and written
/// as JSON and XML that decode to the same composition.
pub fn canonical_json(data: &[u8]) {
    if let Ok(c) = cdr_rm::from_json::<cdr_rm::Composition>(data) {
        validate(&c);
        round_trips(&c);
    }
}

/// A composition in canonical XML: decoded, validated against the fixed template, and written
/// as JSON and XML that decode to the same composition.
pub fn canonical_xml(data: &[u8]) {
    if let Ok(c) = cdr_rm::from_xml::<cdr_rm::Composition>(data) {
        validate(&c);
        round_trips(&c);
    }
}

/// A FLAT composition for the fixed template: read to canonical JSON, decoded and validated,
/// then written back to FLAT. A form that reads without a problem must write back to FLAT that
/// reads to the same canonical composition.
pub fn flat(data: &[u8]) {
    let Ok(Value::Object(form)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let t = template();
    let reading = cdr_forms::flat::read_flat(t, &form, NOW);
    if let Some(c) = &reading.composition {
        validate(c);
    }
    let back = cdr_forms::flat::canonical_to_flat(t, &reading.canonical);
    if reading.is_clean() {
        let back = back.unwrap_or_else(|e| panic!("what FLAT gave cannot be written as FLAT: {e}"));
        let again = cdr_forms::flat::read_flat(t, &back, NOW);
        assert!(
            again.issues.is_empty(),
            "the FLAT written does not read: {:?}",
            again.issues
        );
        assert!(
            again.canonical == reading.canonical,
            "FLAT round trip changed the composition"
        );
    }
}
