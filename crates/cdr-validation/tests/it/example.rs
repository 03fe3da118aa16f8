//! Example compositions of every corpus OPT: each validates, and converts to FLAT and back (and
//! to STRUCTURED and back) to the same composition.

use cdr_forms::example::{example_composition, example_flat};

use crate::flat::{same, through_flat, validated, NOW};
use crate::structured::through_structured;

#[test]
fn corpus_examples_validate_and_round_trip() {
    let templates = crate::corpus::templates();
    if templates.is_empty() {
        eprintln!("corpus absent: no templates under ../shared/testdata; example tests skipped");
        return;
    }
    let mut slugs: Vec<&String> = templates.keys().collect();
    slugs.sort();
    let mut report = Vec::new();
    let mut failures = 0;
    for slug in slugs {
        let t = &templates[slug];
        let outcome = example_composition(t, NOW)
            .map_err(|e| format!("convert: {e}"))
            .and_then(|c| validated(t, c))
            .and_then(|c| {
                same(&c, &through_flat(t, &c)?).map_err(|e| format!("through FLAT: {e}"))?;
                same(&c, &through_structured(t, &c)?)
                    .map_err(|e| format!("through STRUCTURED: {e}"))
            })
            .map(|()| example_flat(t, NOW).len());
        match outcome {
            Ok(size) => report.push(format!("ok     {slug} ({size} FLAT keys)")),
            Err(e) => {
                failures += 1;
                report.push(format!("FAILED {slug}: {e}"));
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(failures, 0, "{failures} examples not valid");
}

/// The example of the fixture OPT (patterns, ranges, units, ordinals, a proportion, a duration)
/// validates without the corpus; its values follow the template.
#[test]
fn fixture_example_validates() {
    let t = cdr_template::parse_opt(include_bytes!("../fixtures/cdr_test_vitals.v1.opt"))
        .expect("fixture parses");
    let flat = example_flat(&t, NOW);
    let event = "encounter/test_vitals/any_event:0";
    assert_eq!(
        flat[&format!("{event}/device_id")],
        "AA-0",
        "the pattern's shortest match"
    );
    assert_eq!(flat[&format!("{event}/systolic|unit")], "mm[Hg]");
    assert_eq!(flat["ctx/time"], NOW);
    let c = example_composition(&t, NOW).expect("converts");
    assert_eq!(c["content"][0]["data"]["events"][0]["time"]["value"], NOW);
    validated(&t, c.clone()).expect("the example validates");
    same(&c, &through_flat(&t, &c).expect("FLAT")).expect("FLAT round trip");
    // The same example for the same time; any `now` that is not a date-time stands for one.
    assert_eq!(example_composition(&t, NOW).expect("again"), c);
    let odd = example_composition(&t, "yesterday").expect("converts");
    validated(&t, odd).expect("still valid");
}
