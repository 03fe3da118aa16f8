//! FLAT compositions of the corpus: converted to canonical JSON through the template's web
//! template, decoded and validated; and round trips FLAT → canonical → FLAT → canonical.

use cdr_template::flat::flat_to_canonical;
use cdr_validation::validate;
use serde_json::Value;

use crate::corpus::{root, templates};

const NOW: &str = "2024-01-01T00:00:00Z";

/// FLAT files the manifest marks valid that cdr rejects on purpose, with the reason (the
/// first words of the error show it).
const KNOWN_DISAGREEMENTS: &[(&str, &str, &str)] = &[
    (
        "it__test_all_types.en.v1_20211018101804_000001_1.xml.flat.json",
        "unknown_local_code",
        "local code 41618431 is not defined by the archetype; a DV_MULTIMEDIA with neither \
         uri nor data (RM invariant)",
    ),
    (
        "it__test_all_types.en.v1.instance_flat_output_1.json",
        "has no text in the template",
        "a local code (N.84) the template does not define, given without its text",
    ),
    (
        "it__test_all_types.en.v1.instance_flat_output_2.json",
        "has no text in the template",
        "a local code (E.42) the template does not define, given without its text",
    ),
    (
        "sdk__corona_with_context.json",
        "INTERVAL_EVENT.width is mandatory",
        "an INTERVAL_EVENT without width and math_function, both RM-mandatory",
    ),
    (
        "it__RIPPLE_-_Conformance_Test_template_20211019014737_000001_1.xml.flat.json",
        "precision_not_allowed",
        "magnitudes with decimals where the template's precision is 0; a DV_MULTIMEDIA with \
         neither uri nor data",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_FLAT.json",
        "agitation_indicator:0|code: unknown path",
        "written for another version of the template: the DENWIS indicator elements are not \
         in this OPT (its canonical twin is rejected for the same reason)",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_FLAT-EHRBASE_INPUT.json",
        "agitation_indicator:0|code: unknown path",
        "as above",
    ),
    (
        "sdk__EREACT_-_Deterioration_assessment.json",
        "agitation_indicator:0|code: unknown path",
        "as above (openEHR_SDK's copy of the OPT has the DENWIS indicators)",
    ),
    (
        "careprecision__EREACT_-_Deterioration_assessment_1_FLAT-EHRBASE_OUTPUT.json",
        "single_point_in_time:0/sepsis_clinical_999_flag_age_12_plus/a999_flag|code: unknown path",
        "written by EHRbase from another version of the template, whose non-clinical sepsis \
         screening has a repeating event",
    ),
];

/// (slug, file, expected valid) of every FLAT file in the manifest.
fn flat_cases() -> Option<Vec<(String, String, bool)>> {
    let text = std::fs::read(root().join("manifest.json")).ok()?;
    let m: Value = serde_json::from_slice(&text).ok()?;
    let mut out = Vec::new();
    for t in m["templates"].as_array()? {
        let slug = t["slug"].as_str()?.to_owned();
        for f in t["files"].as_array()? {
            if f["kind"] == "flat" {
                out.push((
                    slug.clone(),
                    f["file"].as_str()?.to_owned(),
                    f["expected"] == "valid",
                ));
            }
        }
    }
    Some(out)
}

/// The outcome of one file: `Ok` when it converted and validated, else why not.
fn judge(template: &cdr_template::Template, bytes: &[u8]) -> Result<Value, String> {
    let flat: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let map = flat.as_object().ok_or("not a JSON object")?;
    let canonical = flat_to_canonical(template, map, NOW).map_err(|e| format!("convert: {e}"))?;
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

#[test]
fn corpus_flat_compositions_convert_and_validate() {
    let Some(cases) = flat_cases() else {
        eprintln!("corpus absent: ../shared/testdata/manifest.json not found; FLAT tests skipped");
        return;
    };
    let templates = templates();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (slug, file, valid) in &cases {
        let template = &templates[slug];
        let bytes = std::fs::read(root().join(slug).join(file)).expect("read FLAT file");
        let outcome = judge(template, &bytes);
        if std::env::var("CDR_FLAT_DUMP").is_ok_and(|d| file.contains(&d)) {
            let flat: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if let Some(map) = flat.as_object() {
                match flat_to_canonical(template, map, NOW) {
                    Ok(c) => eprintln!("{}", serde_json::to_string_pretty(&c).unwrap_or_default()),
                    Err(e) => eprintln!("{e}"),
                }
            }
        }
        let known = KNOWN_DISAGREEMENTS
            .iter()
            .find(|(f, _, _)| file.ends_with(f));
        let line = match (&outcome, valid, known) {
            (Ok(_), true, None) => format!("ok       {file}"),
            (Err(e), false, _) => format!("rejected {file}: {e}"),
            (Err(e), true, Some((_, shows, why))) if e.contains(shows) => {
                format!("known    {file}: {why}")
            }
            (Ok(_), false, _) => format!("ACCEPTED {file} (the manifest says invalid)"),
            (Ok(_), true, Some(_)) => {
                format!("FIXED    {file}: remove it from KNOWN_DISAGREEMENTS")
            }
            (Err(e), true, _) => format!("FAILED   {file}: {e}"),
        };
        if line.starts_with(['A', 'F']) {
            failures.push(line.clone());
        }
        report.push(line);
    }
    eprintln!("{}", report.join("\n"));
    eprintln!(
        "{} of {} as the manifest says",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} files not as expected",
        failures.len()
    );
}
