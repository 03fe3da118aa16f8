//! The checks, one broken fixture per rule, and the specialisation checks.

use cdr_adl::*;

use crate::parse::fixture;

const ALL: &str = "openEHR-EHR-OBSERVATION.cdr_all_constraints.v1.adl";
const PARENT: &str = "openEHR-EHR-CLUSTER.cdr_parent.v1.adl";
const CHILD: &str = "openEHR-EHR-CLUSTER.cdr_parent-child.v1.adl";

fn errors(f: &[Finding]) -> Vec<&Finding> {
    f.iter().filter(|f| f.severity == Severity::Error).collect()
}

/// The findings of the fixture with `from` replaced by `to` (which must occur).
fn findings_after(name: &str, from: &str, to: &str) -> Vec<Finding> {
    let text = fixture(name);
    assert!(text.contains(from), "{from} not in {name}");
    check(&parse(&text.replacen(from, to, 1), name).unwrap())
}

/// Asserts that `code` is among `findings`, at `line` when given, and returns it.
fn expect(findings: &[Finding], code: &str, text_line: Option<usize>) -> Finding {
    let f = findings
        .iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} among {findings:#?}"));
    if let Some(l) = text_line {
        assert_eq!(f.line_col.map(|(l, _)| l), Some(l), "{f}");
    }
    f.clone()
}

fn line_of(name: &str, needle: &str) -> usize {
    fixture(name)
        .lines()
        .position(|l| l.contains(needle))
        .unwrap()
        + 1
}

#[test]
fn the_fixtures_have_no_errors() {
    for name in [ALL, PARENT, CHILD] {
        let f = check(&parse(&fixture(name), name).unwrap());
        assert!(errors(&f).is_empty(), "{name}: {f:#?}");
    }
    // The only warning of the all-constraints fixture: `is_integral` is an RM function.
    let f = check(&parse(&fixture(ALL), ALL).unwrap());
    assert_eq!(f.iter().map(|f| f.code).collect::<Vec<_>>(), ["ICARM"]);
}

#[test]
fn undefined_and_unused_codes() {
    let f = findings_after(ALL, "ELEMENT[at0022]", "ELEMENT[at0099]");
    let v = expect(&f, "VATDF", Some(line_of(ALL, "ELEMENT[at0022]")));
    assert!(v.message.contains("at0099"), "{v}");
    assert_eq!(
        v.path.as_deref(),
        Some("/data[at0001]/events[at0002]/data[at0003]/items[at0099]")
    );
    let w = expect(&f, "WOUC", Some(line_of(ALL, "[\"at0022\"] = <")));
    assert_eq!(w.severity, Severity::Warning);
    assert!(w.message.contains("at0022"));

    let f = findings_after(ALL, "at0017]\n", "at0088]\n");
    expect(&f, "VATDF", None);
    expect(&f, "VOBAV", None);

    let f = findings_after(ALL, "[ac0001]}", "[ac0002]}");
    let v = expect(&f, "VACDF", Some(line_of(ALL, "[ac0001]}")));
    assert!(v.message.contains("ac0002"));
    expect(&f, "WOUC", None);

    let f = findings_after(ALL, "[\"at0015\"] = <\n\t\t\t\t\ttext = <\"High\">", "[\"at0015\"] = <\n\t\t\t\t\ttext = <\"High\">\n\t\t\t\t>\n\t\t\t\t[\"at0015\"] = <\n\t\t\t\t\ttext = <\"Again\">");
    expect(&f, "VOKU", None);
}

#[test]
fn codes_and_languages() {
    let f = findings_after(
        ALL,
        "OBSERVATION[at0000] matches",
        "OBSERVATION[at0001] matches",
    );
    expect(
        &f,
        "VACCD",
        Some(line_of(ALL, "OBSERVATION[at0000] matches")),
    );
    let f = findings_after(
        ALL,
        "OBSERVATION[at0000] matches",
        "EVALUATION[at0000] matches",
    );
    expect(&f, "VARDT", None);
    let f = findings_after(
        ALL,
        "[at0000]\t-- All constraints\nlanguage",
        "[at0000.1]\t-- All constraints\nlanguage",
    );
    expect(&f, "VACSD", None);
    let f = findings_after(ALL, "ELEMENT[at0022]", "ELEMENT[at0022.1]");
    expect(&f, "VATCD", None);
    let f = findings_after(
        ALL,
        "\t\t\t\t[\"ac0001\"] = <",
        "\t\t\t\t[\"ac0001.1\"] = <\n\t\t\t\t\ttext = <\"x\">\n\t\t\t\t>\n\t\t\t\t[\"ac0001\"] = <",
    );
    expect(&f, "VONSD", None);
    // The original language and a translation without term definitions.
    let f = findings_after(
        ALL,
        "original_language = <[ISO_639-1::en]>",
        "original_language = <[ISO_639-1::fr]>",
    );
    assert!(expect(&f, "VOTM", None)
        .message
        .contains("original language `fr`"));
    let f = findings_after(
        ALL,
        "original_language = <[ISO_639-1::en]>",
        "original_language = <[ISO_639-1::en]>\n\ttranslations = <\n\t\t[\"de\"] = <\n\t\t\tlanguage = <[ISO_639-1::de]>\n\t\t>\n\t>",
    );
    assert!(expect(&f, "VOTM", None)
        .message
        .contains("translation `de`"));
    // A second language that lacks terms the definition uses.
    let f = findings_after(
        ALL,
        "\t\t>\n\t>\n\tconstraint_definitions = <",
        "\t\t>\n\t\t[\"de\"] = <\n\t\t\titems = <\n\t\t\t\t[\"at0000\"] = <\n\t\t\t\t\ttext = <\"Alle\">\n\t\t\t\t>\n\t\t\t>\n\t\t>\n\t>\n\tconstraint_definitions = <",
    );
    let v = expect(&f, "VONLC", None);
    assert!(v.message.contains("`de` lack at0001"), "{v}");
}

#[test]
fn siblings_occurrences_and_cardinality() {
    let f = findings_after(
        ALL,
        "ELEMENT[at0005] occurrences",
        "ELEMENT[at0004] occurrences",
    );
    let v = expect(
        &f,
        "VACMM",
        Some(line_of(ALL, "ELEMENT[at0005] occurrences")),
    );
    assert_eq!(
        v.path.as_deref(),
        Some("/data[at0001]/events[at0002]/data[at0003]/items")
    );
    let f = findings_after(ALL, "ELEMENT[at0005] occurrences", "ELEMENT occurrences");
    expect(&f, "VACMI", None);
    let text = fixture(ALL).replacen("DV_TEXT matches {\n\t\t\t\t\t\t\t\t\t\t\t\tvalue matches {/", "DV_TEXT matches {*}\n\t\t\t\t\t\t\t\t\t\t\tDV_TEXT matches {\n\t\t\t\t\t\t\t\t\t\t\t\tvalue matches {/", 1);
    let f = check(&parse(&text, ALL).unwrap());
    expect(&f, "VACSIT", None);
    let f = findings_after(
        ALL,
        "ITEM_TREE[at0023] matches",
        "ITEM_TREE[at0023] occurrences matches {0..*} matches",
    );
    expect(&f, "VACSO", Some(line_of(ALL, "ITEM_TREE[at0023] matches")));
    let text = fixture(ALL)
        .replacen(
            "events cardinality matches {1..*;",
            "events cardinality matches {3..*;",
            1,
        )
        .replacen(
            "EVENT[at0002] occurrences matches {0..*}",
            "EVENT[at0002] occurrences matches {0..1}",
            1,
        );
    let f = check(&parse(&text, ALL).unwrap());
    let v = expect(&f, "VACMC", Some(line_of(ALL, "events cardinality")));
    assert!(
        v.message.contains("0..1") && v.message.contains("3..*"),
        "{v}"
    );
    let f = findings_after(
        ALL,
        "items cardinality matches {0..*; ordered; unique}",
        "items cardinality matches {0..0; ordered; unique}",
    );
    let v = expect(
        &f,
        "VACMC",
        Some(line_of(ALL, "ELEMENT[at0005] occurrences")),
    );
    assert!(v.message.contains("cannot be met"), "{v}");
}

#[test]
fn rm_types_attributes_and_references() {
    let f = findings_after(
        ALL,
        "magnitude matches {|0..100|; 5}",
        "magnitde matches {|0..100|; 5}",
    );
    expect(
        &f,
        "VCARM",
        Some(line_of(ALL, "magnitude matches {|0..100|")),
    );
    let f = findings_after(ALL, "ITEM_TREE[at0023]", "ITEM_TRE[at0023]");
    expect(&f, "VCORM", None);
    let f = findings_after(ALL, "\t\tprotocol matches {", "\t\tprotocol matches {\n\t\t\tITEM_TREE[at0023] matches {*}\n\t\t}\n\t\tprotocol matches {");
    expect(&f, "VCATU", None);
    let f = findings_after(
        ALL,
        "/data[at0001]/events[at0002]/data[at0003]\n",
        "/data[at0001]/events[at0002]/data[at0009]\n",
    );
    expect(&f, "VUNP", Some(line_of(ALL, "use_node ITEM_TREE")));
    let f = findings_after(ALL, "use_node ITEM_TREE", "use_node ITEM_LIST");
    expect(&f, "VUNT", None);
    let f = findings_after(
        ALL,
        "[\"at0017\"] = <[SNOMED-CT::373066001]>",
        "[\"at0097\"] = <[SNOMED-CT::373066001]>",
    );
    expect(&f, "WITB", None);
    let f = findings_after(ALL, "|0..100|; 5", "|0..100|; 500");
    expect(&f, "VOBAV", Some(line_of(ALL, "|0..100|; 5")));
}

#[test]
fn slot_assertions_must_be_archetype_id_patterns() {
    let slot_line = line_of(ALL, "include");
    let f = findings_after(
        ALL,
        "openEHR-EHR-CLUSTER\\.device(",
        "openEHR-EHR-OBSERVATION\\.device(",
    );
    let v = expect(&f, "VDFAI", Some(slot_line + 1));
    assert!(v.message.contains("OBSERVATION"), "{v}");
    let f = findings_after(
        ALL,
        "openEHR-EHR-CLUSTER\\.device(",
        "openEHR-EHR-CLUSTER\\.device((",
    );
    let v = expect(&f, "VDFAI", None);
    assert!(v.message.contains("not a valid regular expression"), "{v}");
    let f = findings_after(
        ALL,
        "openEHR-EHR-CLUSTER\\.device(",
        "openEHR-CLUSTER\\.device(",
    );
    expect(&f, "VDFAI", None);
    let f = findings_after(
        ALL,
        "openEHR-EHR-CLUSTER\\.device(",
        "openEHR-EHR-BLOB\\.device(",
    );
    expect(&f, "VDFAI", None);
    // Alternatives are checked one by one; `.*` and ENTRY-conforming types pass.
    let f = findings_after(
        ALL,
        "{/openEHR-EHR-CLUSTER\\.device(-[a-zA-Z0-9_]+)*\\.v1/}",
        "{/openEHR-EHR-CLUSTER\\.a\\.v1|openEHR-EHR-SECTION\\.b\\.v1|.*/}",
    );
    let v: Vec<_> = f.iter().filter(|f| f.code == "VDFAI").collect();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].message.contains("SECTION"));
    let f = findings_after(
        ALL,
        "{/openEHR-EHR-CLUSTER\\.device(-[a-zA-Z0-9_]+)*\\.v1/}",
        "{\"openEHR-EHR-CLUSTER.device.v1\", \"not an id\"}",
    );
    let v: Vec<_> = f.iter().filter(|f| f.code == "VDFAI").collect();
    assert_eq!(v.len(), 1, "{v:#?}");
}

#[test]
fn findings_are_all_reported_at_once() {
    let text = fixture(ALL)
        .replacen("ELEMENT[at0022]", "ELEMENT[at0099]", 1)
        .replacen("[ac0001]}", "[ac0002]}", 1)
        .replacen("|0..100|; 5", "|0..100|; 500", 1);
    let f = check(&parse(&text, ALL).unwrap());
    for code in ["VATDF", "VACDF", "VOBAV", "WOUC"] {
        expect(&f, code, None);
    }
}

fn pair() -> (Archetype, Archetype) {
    (
        parse(&fixture(PARENT), PARENT).unwrap(),
        parse(&fixture(CHILD), CHILD).unwrap(),
    )
}

#[test]
fn a_conforming_specialisation_has_no_findings() {
    let (parent, child) = pair();
    assert_eq!(check_specialisation(&child, &parent), []);
}

fn specialisation_after(from: &str, to: &str) -> Vec<Finding> {
    let parent = parse(&fixture(PARENT), PARENT).unwrap();
    let text = fixture(CHILD);
    assert!(text.contains(from), "{from}");
    let child = parse(&text.replacen(from, to, 1), CHILD).unwrap();
    check_specialisation(&child, &parent)
}

#[test]
fn specialisations_that_break_the_parent() {
    let line = |needle| line_of(CHILD, needle);
    let f = specialisation_after(
        "ELEMENT[at0005] occurrences matches {0..1}",
        "ELEMENT[at0005] occurrences matches {0..*}",
    );
    assert!(f.is_empty(), "0..* is the parent's own: {f:#?}");
    let f = specialisation_after(
        "ELEMENT[at0001.1] occurrences matches {0..1}",
        "ELEMENT[at0001.1] occurrences matches {0..2}",
    );
    expect(&f, "VSONCO", Some(line("ELEMENT[at0001.1]")));
    let f = specialisation_after(
        "items cardinality matches {1..*;",
        "items cardinality matches {0..*;",
    );
    expect(&f, "VSANCC", Some(line("items cardinality")));
    let f = specialisation_after(
        "value matches {\n\t\t\t\t\tDV_COUNT",
        "value existence matches {0..1} matches {\n\t\t\t\t\tDV_COUNT",
    );
    assert!(f.is_empty(), "{f:#?}");
    let f = specialisation_after("ELEMENT[at0001.1]", "CLUSTER[at0001.1]");
    expect(&f, "VSONCT", None);
    let f = specialisation_after("|0..5|", "|0..50|");
    let v = expect(&f, "VSONNC", Some(line("|0..5|")));
    assert!(v.message.contains("integers"), "{v}");
    let f = specialisation_after("at0003]\t-- Moderate", "at0003, at0099]\t-- Moderate");
    let v = expect(&f, "VSONNC", None);
    assert!(v.message.contains("at0099"), "{v}");
    let f = specialisation_after("ELEMENT[at0.1]", "ELEMENT[at0007]");
    expect(&f, "VSONCI", Some(line("ELEMENT[at0.1]")));
    let f = specialisation_after(
        "DV_COUNT matches {\n\t\t\t\t\t\tmagnitude matches {|0..5|}\n\t\t\t\t\t}",
        "DV_QUANTITY matches {*}",
    );
    expect(&f, "VSONCT", None);
    let f = specialisation_after(
        "openEHR-EHR-CLUSTER.cdr_parent.v1",
        "openEHR-EHR-CLUSTER.other.v1",
    );
    expect(&f, "VASID", None);
}

#[test]
fn a_set_checks_specialisations_against_parents_found_in_it() {
    let (parent, child) = pair();
    let alone = check_set(std::slice::from_ref(&child));
    let v = expect(&alone[0], "VASID", Some(1));
    assert_eq!(v.severity, Severity::Warning);
    let both = check_set(&[child.clone(), parent.clone()]);
    assert!(
        both.iter()
            .flatten()
            .all(|f| f.severity == Severity::Warning),
        "{both:#?}"
    );
    let wider = parse(&fixture(CHILD).replacen("|0..5|", "|0..50|", 1), CHILD).unwrap();
    let found = check_set(&[wider, parent]);
    expect(&found[0], "VSONNC", Some(line_of(CHILD, "|0..5|")));
}
