//! FLAT compositions of the corpus: converted to canonical JSON through the template's web
//! template, decoded and validated; and round trips FLAT → canonical → FLAT → canonical.

use cdr_forms::flat::{canonical_to_flat, flat_to_canonical};
use cdr_forms::Forms;
use cdr_validation::validate;
use serde_json::{json, Value};

use crate::corpus::{root, templates};

pub const NOW: &str = "2024-01-01T00:00:00Z";

/// One FLAT or STRUCTURED file of the manifest.
pub struct FormCase {
    pub slug: String,
    pub file: String,
    /// The manifest's `expected` is `valid`.
    pub valid: bool,
    /// Why the manifest overrules its source project's expectation, if it does.
    pub ruling: Option<String>,
}

/// Every file of `kind` (`flat`, `structured`) in the manifest.
pub fn form_cases(kind: &str) -> Option<Vec<FormCase>> {
    let text = std::fs::read(root().join("manifest.json")).ok()?;
    let m: Value = serde_json::from_slice(&text).ok()?;
    let mut out = Vec::new();
    for t in m["templates"].as_array()? {
        let slug = t["slug"].as_str()?.to_owned();
        for f in t["files"].as_array()? {
            if f["kind"] == kind {
                out.push(FormCase {
                    slug: slug.clone(),
                    file: f["file"].as_str()?.to_owned(),
                    valid: f["expected"] == "valid",
                    ruling: f["ruling"].as_str().map(str::to_owned),
                });
            }
        }
    }
    Some(out)
}

/// The outcome of one file: `Ok` when it reads cleanly and validates, else why not.
pub fn judge(template: &cdr_template::Template, bytes: &[u8]) -> Result<Value, String> {
    let flat: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let map = flat.as_object().ok_or("not a JSON object")?;
    read(cdr_forms::flat::read_flat(template, map, NOW), template)
}

/// `Ok` (the canonical composition) when a reading found no problem and what it gives
/// validates, else its problems (then the first validation issues).
pub fn read(
    reading: cdr_forms::flat::FormReading,
    template: &cdr_template::Template,
) -> Result<Value, String> {
    if !reading.issues.is_empty() {
        let problems: Vec<String> = reading.issues.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} problems: {}",
            problems.len(),
            problems.join(" | ")
        ));
    }
    validated(template, reading.canonical)
}

/// `canonical` when it decodes and validates, else the first issues.
pub fn validated(template: &cdr_template::Template, canonical: Value) -> Result<Value, String> {
    let composition: cdr_rm::Composition =
        cdr_rm::json::from_json_value(canonical.clone()).map_err(|e| format!("decode: {e}"))?;
    let issues = validate(template, &composition);
    if issues.is_empty() {
        Ok(canonical)
    } else {
        Err(format!(
            "{} issues: {}",
            issues.len(),
            issues
                .iter()
                .take(4)
                .map(|i| format!("{} [{}] {}", i.path, i.constraint, i.message))
                .collect::<Vec<_>>()
                .join(" | ")
        ))
    }
}

/// Judges every file of a form corpus as the manifest says.
pub fn judge_corpus(
    kind: &str,
    judge: impl Fn(&cdr_template::Template, &[u8]) -> Result<Value, String>,
) {
    let Some(cases) = form_cases(kind) else {
        eprintln!(
            "corpus absent: ../shared/testdata/manifest.json not found; {kind} tests skipped"
        );
        return;
    };
    let templates = templates();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let file = &case.file;
        let template = &templates[&case.slug];
        let bytes = std::fs::read(root().join(&case.slug).join(file)).expect("read corpus file");
        let outcome = judge(template, &bytes);
        if std::env::var("CDR_FORM_DUMP").is_ok_and(|d| file.contains(&d)) {
            match &outcome {
                Ok(c) => eprintln!("{}", serde_json::to_string_pretty(c).unwrap_or_default()),
                Err(e) => eprintln!("{e}"),
            }
        }
        let ruling = case
            .ruling
            .as_deref()
            .map(|r| format!(" (the manifest's ruling: {r})"))
            .unwrap_or_default();
        let line = match (&outcome, case.valid) {
            (Ok(_), true) => format!("ok       {file}"),
            (Err(e), false) => format!("rejected {file}{ruling}: {e}"),
            (Ok(_), false) => format!("ACCEPTED {file} (the manifest says invalid){ruling}"),
            (Err(e), true) => format!("FAILED   {file}: {e}"),
        };
        if line.starts_with(['A', 'F']) {
            failures.push(line.clone());
        }
        report.push(line);
    }
    eprintln!("{}", report.join("\n"));
    eprintln!(
        "{} of {} {kind} files as the manifest says",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} files not as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_flat_compositions_convert_and_validate() {
    judge_corpus("flat", judge);
}

/// Canonical JSON with every `_type` written and numbers as the RM holds them, without what
/// FLAT rebuilds from the template instead of carrying it: `archetype_details.rm_version`, the
/// archetype details of archetype roots below the composition, and the `_type` of a uid in
/// version form.
pub fn normalise(v: &Value) -> Result<Value, String> {
    let c: cdr_rm::Composition =
        cdr_rm::json::from_json_value(v.clone()).map_err(|e| format!("decode: {e}"))?;
    let mut v = cdr_rm::json::to_json_value(&c, &cdr_rm::JsonConfig::CANONICAL);
    strip_details(&mut v, true);
    // A composition uid `uuid::system::version` is the version id FLAT reads it as, whatever
    // `_type` the original gave it.
    if let Some(Value::Object(uid)) = v.get_mut("uid") {
        let versioned = uid
            .get("value")
            .and_then(Value::as_str)
            .is_some_and(|u| u.split("::").count() == 3);
        if versioned {
            uid.insert("_type".into(), json!("OBJECT_VERSION_ID"));
        }
    }
    Ok(v)
}

fn strip_details(v: &mut Value, root: bool) {
    match v {
        Value::Object(m) => {
            if root {
                if let Some(Value::Object(d)) = m.get_mut("archetype_details") {
                    d.remove("rm_version");
                }
            } else {
                m.remove("archetype_details");
            }
            for (k, x) in m.iter_mut() {
                if k != "archetype_details" {
                    strip_details(x, false);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip_details(x, false)),
        _ => {}
    }
}

/// The first place two JSON values differ, as a path.
pub fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = first_difference(p, q, &format!("{at}/{k}")) {
                            return Some(d);
                        }
                    }
                    (p, q) => return Some(format!("{at}/{k}: {p:?} vs {q:?}")),
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, &format!("{at}[{i}]"))),
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(format!("{at}: {a} vs {b}")),
    }
}

/// Every file of a form corpus that converts and validates (`judge`) gives the same
/// composition after `round` (canonical → the form → canonical).
pub fn form_round_trips(
    kind: &str,
    judge: impl Fn(&cdr_template::Template, &[u8]) -> Result<Value, String>,
    round: impl Fn(&cdr_template::Template, &Value) -> Result<Value, String>,
) {
    let Some(cases) = form_cases(kind) else {
        return;
    };
    let templates = templates();
    let mut report = Vec::new();
    let mut failures = 0;
    for FormCase { slug, file, .. } in &cases {
        let template = &templates[slug];
        let bytes = std::fs::read(root().join(slug).join(file)).expect("read corpus file");
        let Ok(first) = judge(template, &bytes) else {
            continue;
        };
        let outcome = round(template, &first).and_then(|second| same(&first, &second));
        match outcome {
            Ok(()) => report.push(format!("lossless {file}")),
            Err(e) => {
                failures += 1;
                report.push(format!("LOSSY    {file}: {e}"));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(failures, 0, "{failures} {kind} files do not round-trip");
}

/// `Ok` when two canonical compositions are the same after [`normalise`], else where not.
pub fn same(a: &Value, b: &Value) -> Result<(), String> {
    let (a, b) = (normalise(a)?, normalise(b)?);
    match first_difference(&a, &b, "") {
        None => Ok(()),
        Some(d) => Err(format!("differs at {d}")),
    }
}

/// canonical → FLAT → canonical.
pub fn through_flat(template: &cdr_template::Template, c: &Value) -> Result<Value, String> {
    let flat = canonical_to_flat(template, c).map_err(|e| format!("to FLAT: {e}"))?;
    flat_to_canonical(template, &flat, NOW).map_err(|e| format!("back: {e}"))
}

/// FLAT → canonical → FLAT → canonical gives the same composition, for every corpus FLAT file
/// that converts.
#[test]
fn corpus_flat_round_trips() {
    form_round_trips("flat", judge, through_flat);
}

/// Every canonical composition of the corpus that validates gives the same composition after
/// `round` (canonical → a form → canonical), or is refused by the form naming what it cannot
/// say (never changed silently); most go through.
pub fn canonical_round_trips(
    round: impl Fn(&cdr_template::Template, &Value) -> Result<Value, String>,
) {
    let Some(cases) = crate::corpus::cases() else {
        return;
    };
    let templates = templates();
    let mut report = Vec::new();
    let (mut lossless, mut refused, mut failures) = (0, 0, 0);
    for case in cases.iter().filter(|c| c.valid) {
        let template = &templates[&case.slug];
        let Ok(composition) = crate::corpus::decode(&case.path) else {
            continue;
        };
        if !validate(template, &composition).is_empty() {
            continue;
        }
        let file = case.path.file_name().unwrap_or_default().to_string_lossy();
        let original = cdr_rm::json::to_json_value(&composition, &cdr_rm::JsonConfig::CANONICAL);
        match round(template, &original).and_then(|back| same(&original, &back)) {
            Ok(()) => {
                lossless += 1;
                report.push(format!("lossless {file}"));
            }
            Err(e) if e.contains("cannot be written as FLAT") => {
                refused += 1;
                report.push(format!("refused  {file}: {e}"));
            }
            Err(e) => {
                failures += 1;
                report.push(format!("LOSSY    {file}: {e}"));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(failures, 0, "{failures} canonical files changed");
    assert!(
        lossless >= 4 * refused,
        "{lossless} round trips, {refused} refused"
    );
}

/// canonical → FLAT → canonical gives the same composition, for every corpus canonical
/// composition that validates.
#[test]
fn corpus_canonical_round_trips_through_flat() {
    canonical_round_trips(through_flat);
}

/// Every issue of a corpus FLAT file that converts but does not validate is placed in the FLAT:
/// at one of the file's keys, or beside them (a missing attribute).
#[test]
fn corpus_flat_issues_are_located() {
    let Some(cases) = form_cases("flat") else {
        return;
    };
    let templates = templates();
    let mut located = 0;
    for FormCase { slug, file, .. } in &cases {
        let template = &templates[slug];
        let bytes = std::fs::read(root().join(slug).join(file)).expect("read FLAT file");
        let Ok(Value::Object(flat)) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let Ok(canonical) = flat_to_canonical(template, &flat, NOW) else {
            continue;
        };
        let Ok(composition) =
            cdr_rm::json::from_json_value::<cdr_rm::Composition>(canonical.clone())
        else {
            continue;
        };
        let at = cdr_forms::flat::locate(template, &canonical);
        for issue in validate(template, &composition) {
            let place = at
                .find(&issue.path)
                .unwrap_or_else(|| panic!("{file}: {} not located", issue.path));
            // A missing attribute is placed where it belongs: beside the keys of its node.
            let key = place.flat_path.split('|').next().unwrap_or_default();
            let node = key.rsplit_once('/').map_or(key, |(n, _)| n);
            assert!(
                flat.keys()
                    .any(|k| k.starts_with(key) || k.starts_with(node)),
                "{file}: {} → {} names no key of the file",
                issue.path,
                place.flat_path
            );
            eprintln!("{file}: {} → {}", issue.path, place.flat_path);
            located += 1;
        }
    }
    eprintln!("{located} issues located");
}

/// The web template node a FLAT key (without `_` segments) names.
fn node_of<'w>(
    web: &'w cdr_forms::webtemplate::WebTemplate,
    key: &str,
) -> Option<&'w cdr_forms::webtemplate::WebTemplateNode> {
    let body = key.split('|').next()?;
    let mut segments = body.split('/').map(|s| s.split(':').next().unwrap_or(s));
    let mut node = &web.tree;
    if segments.next()? != node.id {
        return None;
    }
    for id in segments {
        node = node.child(id)?;
    }
    Some(node)
}

/// Whether `text` is the template's term for `code` at `node` (its list's label) and for no
/// other code of the list.
fn is_term_of(node: &cdr_forms::webtemplate::WebTemplateNode, code: &str, text: &str) -> bool {
    let mut named = node
        .inputs
        .iter()
        .flat_map(|i| &i.list)
        .filter(|i| i.label == text);
    named.next().is_some_and(|item| item.value == code) && named.next().is_none()
}

/// Every corpus FLAT file that converts and validates, its coded values rewritten as older
/// form tools write them (the term text alone, bare or as `|value`; ordinals by their text;
/// booleans as `True`/`False`), gives the same composition wherever the text is the
/// template's term for the code. The rewrites come from the files, the expectation from the
/// web template, not from the converter's matching.
#[test]
fn corpus_flat_in_the_older_dialect() {
    let Some(cases) = form_cases("flat") else {
        return;
    };
    let templates = templates();
    let (mut checked, mut failures) = (0, Vec::new());
    for FormCase { slug, file, .. } in &cases {
        let template = &templates[slug];
        let bytes = std::fs::read(root().join(slug).join(file)).expect("read corpus file");
        let Ok(first) = judge(template, &bytes) else {
            continue;
        };
        let flat = canonical_to_flat(template, &first).expect("to FLAT");
        let web = template.web_template();
        // Two rewrites of the whole file: term texts bare, and as `|value` alone.
        for bare in [true, false] {
            let mut g = flat.clone();
            for (key, value) in &flat {
                if let Value::Bool(b) = value {
                    g.insert(key.clone(), json!(if *b { "True" } else { "False" }));
                    checked += 1;
                }
                let Some(node) = key.strip_suffix("|code") else {
                    continue;
                };
                let text = flat.get(&format!("{node}|value")).and_then(Value::as_str);
                let (Some(text), Some(w)) = (text, node_of(&web, key)) else {
                    continue;
                };
                if !is_term_of(w, value.as_str().unwrap_or_default(), text) {
                    continue;
                }
                for suffix in ["code", "terminology", "ordinal"] {
                    g.remove(&format!("{node}|{suffix}"));
                }
                if bare {
                    g.remove(&format!("{node}|value"));
                    g.insert(node.to_owned(), json!(text));
                }
                checked += 1;
            }
            let outcome = flat_to_canonical(template, &g, NOW)
                .map_err(|e| e.to_string())
                .and_then(|c| same(&first, &c));
            if let Err(e) = outcome {
                failures.push(format!("{file} (bare: {bare}): {e}"));
            }
        }
    }
    eprintln!("{checked} values rewritten");
    assert!(
        checked >= 300,
        "only {checked} values rewritten: the corpus is not exercised"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
