//! Parsing and writing one fixture that uses every constraint form, and parse errors.

use cdr_adl::*;

pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const ALL: &str = "openEHR-EHR-OBSERVATION.cdr_all_constraints.v1.adl";

/// The object at `path` (a chain of `attribute[code]` steps) below the root.
fn at<'a>(a: &'a Archetype, path: &str) -> &'a CObject {
    let mut obj: Option<&CObject> = None;
    let mut cur = &a.definition;
    for step in path.trim_start_matches('/').split('/') {
        let (attr, code) = match step.split_once('[') {
            Some((n, c)) => (n, Some(c.trim_end_matches(']'))),
            None => (step, None),
        };
        let attr = cur
            .attribute(attr)
            .unwrap_or_else(|| panic!("no {attr} in {path}"));
        let child = attr
            .children
            .iter()
            .find(|c| code.is_none() || c.node_id() == code)
            .unwrap_or_else(|| panic!("no {step} in {path}"));
        obj = Some(child);
        if let CObject::Complex(c) = child {
            cur = c;
        }
    }
    obj.unwrap()
}

fn value_of<'a>(a: &'a Archetype, element: &str) -> &'a CObject {
    at(
        a,
        &format!("/data[at0001]/events[at0002]/data[at0003]/items[{element}]/value"),
    )
}

fn only_attr<'a>(o: &'a CObject, name: &str) -> &'a CObject {
    let CObject::Complex(c) = o else {
        panic!("not complex: {o:?}")
    };
    &c.attribute(name).unwrap().children[0]
}

fn kind(o: &CObject) -> &PrimitiveKind {
    match o {
        CObject::Primitive(p) => &p.kind,
        other => panic!("not a primitive: {other:?}"),
    }
}

#[test]
fn header_sections_and_ontology() {
    let a = parse(&fixture(ALL), ALL).unwrap();
    assert_eq!(
        a.archetype_id,
        "openEHR-EHR-OBSERVATION.cdr_all_constraints.v1"
    );
    assert_eq!(a.adl_version(), Some("1.4"));
    assert_eq!(a.meta[2], ("controlled".to_owned(), None));
    assert_eq!(a.concept, "at0000");
    let d = a.description.as_ref().unwrap();
    let author = &d.iter().find(|(k, _)| k == "original_author").unwrap().1;
    let name = author.entry("name").unwrap().as_str();
    assert_eq!(name, Some("A \"quoted\" name \\ with a backslash"));
    let other = &d.iter().find(|(k, _)| k == "other_details").unwrap().1;
    assert_eq!(
        other.entry("count").unwrap().single(),
        Some(&DadlPrim::Integer(3))
    );
    assert_eq!(
        other.entry("ratio").unwrap().single(),
        Some(&DadlPrim::Real(0.5))
    );
    assert_eq!(
        other.entry("when").unwrap().single(),
        Some(&DadlPrim::DateTime("2026-12-06T05:00:00Z".into()))
    );
    assert_eq!(
        other.entry("span").unwrap().single(),
        Some(&DadlPrim::Duration("P1DT2H".into()))
    );
    assert!(
        matches!(other.entry("one").unwrap(), Dadl::Values { list: true, items } if items.len() == 1)
    );
    let o = &a.ontology;
    assert_eq!(o.terminologies_available, ["SNOMED-CT"]);
    assert_eq!(
        o.term("en", "at0004").unwrap().item("comment"),
        Some("A comment -- not an ADL comment")
    );
    assert_eq!(o.constraint_definitions[0].1[0].code, "ac0001");
    assert_eq!(o.term_bindings[0].1.len(), 2);
    assert_eq!(
        o.constraint_bindings[0].1[0].1.single(),
        Some(&DadlPrim::Uri(
            "terminology:SNOMED-CT?subset=ClinicalFinding".into()
        ))
    );
}

#[test]
fn definition_constraints() {
    let a = parse(&fixture(ALL), ALL).unwrap();
    let events = a.definition.attribute("data").unwrap();
    let CObject::Complex(history) = &events.children[0] else {
        panic!()
    };
    let card = history.attribute("events").unwrap().cardinality.unwrap();
    assert_eq!(
        (card.interval, card.ordered, card.unique),
        (Multiplicity::new(1, None), false, false)
    );
    let tree = at(&a, "/data[at0001]/events[at0002]/data[at0003]");
    let CObject::Complex(tree) = tree else {
        panic!()
    };
    let card = tree.attribute("items").unwrap().cardinality.unwrap();
    assert!(card.ordered && card.unique);
    assert_eq!(
        at(
            &a,
            "/data[at0001]/events[at0002]/data[at0003]/items[at0005]"
        )
        .occurrences(),
        Some(Multiplicity::new(1, Some(1)))
    );

    let text = only_attr(value_of(&a, "at0004"), "value");
    assert_eq!(
        kind(text),
        &PrimitiveKind::String {
            values: vec!["one".into(), "two".into()],
            pattern: None,
            assumed: Some("one".into())
        }
    );
    let regex = only_attr(value_of(&a, "at0005"), "value");
    assert!(
        matches!(kind(regex), PrimitiveKind::String { pattern: Some(p), .. } if p == "[a-z]+/x")
    );
    let count = only_attr(value_of(&a, "at0006"), "magnitude");
    assert_eq!(
        kind(count),
        &PrimitiveKind::Integer {
            items: vec![Item::Range(Interval {
                lower: Some(0),
                upper: Some(100),
                lower_included: true,
                upper_included: true
            })],
            assumed: Some(5)
        }
    );
    let proportion = value_of(&a, "at0007");
    let den = only_attr(proportion, "denominator");
    assert_eq!(
        kind(den),
        &PrimitiveKind::Real {
            items: vec![Item::Range(Interval {
                lower: Some(0.5),
                upper: Some(100.0),
                lower_included: false,
                upper_included: false
            })],
            assumed: Some(50.0)
        }
    );
    let num = only_attr(proportion, "numerator");
    assert!(
        matches!(kind(num), PrimitiveKind::Real { items, .. } if items[0] == Item::Range(Interval { lower: Some(0.0), upper: None, lower_included: true, upper_included: false }))
    );
    assert_eq!(
        kind(only_attr(proportion, "type")),
        &PrimitiveKind::Integer {
            items: vec![Item::Value(0), Item::Value(2)],
            assumed: None
        }
    );
    assert_eq!(
        kind(only_attr(proportion, "is_integral")),
        &PrimitiveKind::Boolean {
            values: vec![true, false],
            assumed: Some(false)
        }
    );
    assert!(matches!(kind(only_attr(value_of(&a, "at0008"), "value")),
        PrimitiveKind::Temporal { kind: TemporalKind::Date, pattern: Some(p), .. } if p == "yyyy-mm-??"));
    assert!(matches!(
        kind(only_attr(value_of(&a, "at0009"), "value")),
        PrimitiveKind::Temporal {
            kind: TemporalKind::DateTime,
            pattern: Some(_),
            ..
        }
    ));
    assert!(matches!(kind(only_attr(value_of(&a, "at0010"), "value")),
        PrimitiveKind::Temporal { kind: TemporalKind::Time, items, .. } if items.len() == 1));
    assert_eq!(
        kind(only_attr(value_of(&a, "at0011"), "value")),
        &PrimitiveKind::Temporal {
            kind: TemporalKind::Duration,
            pattern: Some("PDTH".into()),
            items: vec![Item::Range(Interval {
                lower: Some("PT0H".into()),
                upper: Some("P2D".into()),
                lower_included: true,
                upper_included: true
            })],
            assumed: Some("PT1H".into())
        }
    );
    let CObject::Quantity(q) = value_of(&a, "at0012") else {
        panic!()
    };
    assert_eq!(q.property.as_ref().unwrap().code, "125");
    assert_eq!(q.list[0].units, "mm[Hg]");
    assert_eq!(q.list[0].magnitude.as_ref().unwrap().upper, Some(1000.0));
    assert!(!q.list[0].magnitude.as_ref().unwrap().upper_included);
    assert_eq!(q.list[0].precision.as_ref().unwrap().lower, Some(0));
    assert_eq!(q.assumed.as_ref().unwrap().magnitude, Some(120.0));
    let CObject::Ordinal(o) = value_of(&a, "at0013") else {
        panic!()
    };
    assert_eq!(o.items.len(), 2);
    assert_eq!(
        (o.items[1].value, o.items[1].symbol.code.as_str(), o.assumed),
        (1, "at0015", Some(0))
    );
    let CObject::CodePhrase(c) = only_attr(value_of(&a, "at0016"), "defining_code") else {
        panic!()
    };
    assert_eq!(
        (c.terminology.as_str(), c.codes.len(), c.assumed.as_deref()),
        ("local", 2, Some("at0017"))
    );
    assert!(
        matches!(only_attr(value_of(&a, "at0019"), "defining_code"), CObject::ConstraintRef(r) if r.code == "ac0001")
    );
    let CObject::Ordinal(o) = value_of(&a, "at0020") else {
        panic!()
    };
    assert_eq!(o.items[0].symbol.code, "at0014");
    let CObject::CodePhrase(c) = only_attr(value_of(&a, "at0021"), "defining_code") else {
        panic!()
    };
    assert_eq!(c.codes, ["at0017", "at0018"]);
    let CObject::Complex(iv) = value_of(&a, "at0022") else {
        panic!()
    };
    assert_eq!(iv.rm_type, "DV_INTERVAL<DV_COUNT>");
    assert_eq!(
        iv.attribute("lower").unwrap().existence,
        Some(Multiplicity::new(0, Some(1)))
    );

    let CObject::Complex(protocol) = at(&a, "/protocol[at0023]") else {
        panic!()
    };
    let items = &protocol.attribute("items").unwrap().children;
    let CObject::Slot(slot) = &items[0] else {
        panic!()
    };
    assert_eq!((slot.includes.len(), slot.excludes.len()), (1, 1));
    assert_eq!(slot.includes[0].path, "archetype_id/value");
    let CObject::InternalRef(r) = &items[1] else {
        panic!()
    };
    assert_eq!(r.target, "/data[at0001]/events[at0002]/data[at0003]");
    assert_eq!(r.occurrences, Some(Multiplicity::new(0, Some(1))));
}

#[test]
fn written_fixture_parses_to_the_same_model() {
    let a = parse(&fixture(ALL), ALL).unwrap();
    let written = write(&a);
    let b = parse(&written, "written").unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(a, b);
    // Writing is stable: the written text is its own fixed point.
    assert_eq!(write(&b), written);
}

#[test]
fn models_differ_when_a_constraint_differs() {
    let text = fixture(ALL);
    let a = parse(&text, ALL).unwrap();
    let b = parse(&text.replace("|0..100|; 5", "|0..101|; 5"), ALL).unwrap();
    assert_ne!(a, b);
}

fn error_of(text: &str) -> ParseError {
    parse(text, "bad.adl").expect_err("should not parse")
}

#[test]
fn errors_name_file_line_and_column() {
    let text = fixture(ALL);
    let broken = text.replace(
        "ELEMENT[at0006] occurrences matches {0..1} matches {",
        "ELEMENT[at0006] occurrences matches {0..1} matched {",
    );
    let e = error_of(&broken);
    let line = broken
        .lines()
        .position(|l| l.contains("matched {"))
        .unwrap()
        + 1;
    assert_eq!((e.source_name.as_str(), e.line), ("bad.adl", line));
    assert_eq!(
        e.column,
        broken
            .lines()
            .nth(line - 1)
            .unwrap()
            .find("matched")
            .unwrap()
            + 1
    );
    assert!(e.message.contains("`matches`"), "{e}");
    assert!(
        e.to_string().starts_with(&format!("bad.adl:{line}:")),
        "{e}"
    );

    // A missing `]` is found where it is missing, not at the start of the object.
    let broken = text.replace("ELEMENT[at0007] occurrences", "ELEMENT[at0007 occurrences");
    let e = error_of(&broken);
    let line = broken
        .lines()
        .position(|l| l.contains("[at0007 occ"))
        .unwrap()
        + 1;
    assert_eq!(e.line, line, "{e}");
    assert_eq!(e.message, "expected `]`, found `occurrences`");

    let e = error_of(&text.replace("|0..100|; 5", "|100..0|; 5"));
    assert!(e.message.contains("lower bound exceeds"), "{e}");
    let e = error_of(&text.replace("{\"one\", \"two\"; \"one\"}", "{\"one\", 2}"));
    assert!(e.message.contains("mixes kinds"), "{e}");
    let e = error_of(&text.replace(
        "\topenEHR-EHR-OBSERVATION.cdr_all_constraints.v1\n",
        "\tnot-an-id\n",
    ));
    assert_eq!(e.line, 2);
    assert!(e.message.contains("not an archetype id"), "{e}");
    let e = error_of(&text.replace("C_DV_ORDINAL <", "C_DV_UNKNOWN <"));
    assert!(e.message.contains("unknown domain type"), "{e}");
    let e = error_of(&text.replace(
        "lifecycle_state = <\"Draft\">",
        "lifecycle_state = <\"Draft>",
    ));
    assert!(e.line > 1, "{e}");
    let e = error_of("");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("`archetype`"), "{e}");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let text = format!(
        "archetype\n\topenEHR-EHR-CLUSTER.x.v1\nconcept\n\t[at0000]\nlanguage\n\tx = {}{}",
        "<[\"k\"] = ".repeat(10_000),
        ">".repeat(10_000)
    );
    let e = error_of(&text);
    assert!(e.message.contains("nested deeper"), "{e}");
    // Object constraints: the builder's limit, or pest's stack guard for deeper text.
    for depth in [300, 100_000] {
        let open = "ELEMENT[at0001] matches {value matches {".repeat(depth);
        let close = "}}".repeat(depth);
        let text = fixture(ALL).replacen(
            "OBSERVATION[at0000] matches {",
            &format!("OBSERVATION[at0000] matches {{data matches {{{open}{close}}}"),
            1,
        );
        let e = error_of(&text);
        assert!(e.message.contains("nested"), "{depth}: {e}");
    }
}

#[test]
fn header_variants_and_invariant() {
    let text = fixture("openEHR-EHR-CLUSTER.cdr_parent-child.v1.adl")
        .replacen("archetype (adl_version=1.4)", "ARCHETYPE", 1)
        .replacen("specialise\n", "specialize\n", 1)
        .replacen(
            "\nontology\n",
            "\ninvariant\n\tvalidity: /items[at0005]/value/magnitude > 0\n\nontology\n",
            1,
        );
    let a = parse(&text, "variant").unwrap();
    assert!(a.meta.is_empty());
    assert_eq!(
        a.specialise.as_deref(),
        Some("openEHR-EHR-CLUSTER.cdr_parent.v1")
    );
    assert_eq!(
        a.invariant.as_deref(),
        Some("validity: /items[at0005]/value/magnitude > 0")
    );
    assert_eq!(parse(&write(&a), "written").unwrap(), a);
    // Trailing text after the ontology is an error at its place.
    let e = error_of(&format!("{text}\nsurplus"));
    assert_eq!(e.line, text.lines().count() + 2, "{e}");
    assert!(e.message.contains("end of input"), "{e}");
}

/// Every prefix of the fixture, and the fixture with each of a spread of bytes removed or
/// doubled, parses or fails with an error; nothing panics, and what parses also checks and
/// writes.
#[test]
fn damaged_text_never_panics() {
    let text = fixture(ALL);
    let cuts: Vec<usize> = (0..text.len())
        .step_by(13)
        .filter(|&i| text.is_char_boundary(i))
        .collect();
    let mut failures = 0;
    let mut variants: Vec<String> = cuts.iter().map(|&i| text[..i].to_owned()).collect();
    for &i in cuts.iter().step_by(3) {
        let next = (i + 1..=text.len())
            .find(|&j| text.is_char_boundary(j))
            .unwrap_or(text.len());
        variants.push(format!("{}{}", &text[..i], &text[next..]));
        variants.push(format!("{}{}", &text[..next], &text[i..]));
    }
    for v in &variants {
        match std::panic::catch_unwind(|| {
            parse(v, "damaged").map(|a| (check(&a).len(), write(&a).len()))
        }) {
            Ok(Err(e)) => {
                failures += 1;
                assert!(e.line >= 1 && e.column >= 1, "{e}");
            }
            Ok(Ok(_)) => {}
            Err(_) => panic!("panicked on:\n{v}"),
        }
    }
    // Most damage is an error (a cut almost never leaves a whole archetype).
    assert!(
        failures > variants.len() / 2,
        "{failures} of {}",
        variants.len()
    );
}
