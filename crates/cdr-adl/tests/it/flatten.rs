//! Flattening a specialised archetype of our own onto its parent.

use cdr_adl::*;

use crate::parse::fixture;

const PARENT: &str = "openEHR-EHR-CLUSTER.cdr_parent.v1.adl";
const CHILD: &str = "openEHR-EHR-CLUSTER.cdr_parent-child.v1.adl";

fn pair() -> (Archetype, Archetype) {
    (
        parse(&fixture(PARENT), PARENT).unwrap(),
        parse(&fixture(CHILD), CHILD).unwrap(),
    )
}

fn items(a: &Archetype) -> &[CObject] {
    &a.definition.attribute("items").unwrap().children
}

fn ids(a: &Archetype) -> Vec<&str> {
    items(a).iter().filter_map(CObject::node_id).collect()
}

#[test]
fn the_child_is_merged_onto_its_parent() {
    let (parent, child) = pair();
    let flat = flatten(&child, &parent).unwrap();
    assert_eq!(flat.archetype_id, child.archetype_id);
    assert_eq!(
        flat.specialise.as_deref(),
        Some("openEHR-EHR-CLUSTER.cdr_parent.v1")
    );
    assert_eq!(flat.definition.node_id.as_deref(), Some("at0000.1"));
    // Redefined in place, inherited, then added.
    assert_eq!(ids(&flat), ["at0001.1", "at0005", "at0006", "at0.1"]);
    let CObject::Complex(severity) = &items(&flat)[0] else {
        panic!()
    };
    let CObject::Complex(coded) = &severity.attribute("value").unwrap().children[0] else {
        panic!()
    };
    let CObject::CodePhrase(codes) = &coded.attribute("defining_code").unwrap().children[0] else {
        panic!()
    };
    assert_eq!(codes.codes, ["at0002", "at0003"]);
    let CObject::Complex(count) = &items(&flat)[1] else {
        panic!()
    };
    assert_eq!(count.occurrences, Some(Multiplicity::new(0, Some(1))));
    // The ontology: the child's terms over the parent's, the parent's others kept.
    let terms: Vec<&str> = flat
        .ontology
        .terms("en")
        .unwrap()
        .iter()
        .map(|t| t.code.as_str())
        .collect();
    assert_eq!(
        terms,
        [
            "at0000", "at0001", "at0002", "at0003", "at0004", "at0005", "at0006", "at0000.1",
            "at0001.1", "at0.1"
        ]
    );
    assert_eq!(
        flat.ontology.term("en", "at0006").unwrap().item("text"),
        Some("Comment")
    );
    // Every code the flat definition uses is defined; the flat form writes and reads back.
    let findings = check(&flat);
    assert!(
        findings.iter().all(|f| f.severity == Severity::Warning),
        "{findings:#?}"
    );
    assert_eq!(parse(&write(&flat), "flat").unwrap(), flat);
}

#[test]
fn a_child_narrowing_a_value_replaces_the_parents_alternative() {
    let parent_text = fixture(PARENT).replace(
        "DV_TEXT matches {*}",
        "DV_TEXT matches {*}\n\t\t\t\t\tDV_CODED_TEXT matches {*}",
    );
    let parent = parse(&parent_text, PARENT).unwrap();
    let child_text = fixture(CHILD).replace(
        "\t\t\tELEMENT[at0.1]",
        "\t\t\tELEMENT[at0006] occurrences matches {1..1} matches {\n\t\t\t\tvalue matches {\n\t\t\t\t\tDV_CODED_TEXT matches {\n\t\t\t\t\t\tdefining_code matches {[local::at0002]}\n\t\t\t\t\t}\n\t\t\t\t}\n\t\t\t}\n\t\t\tELEMENT[at0.1]",
    );
    let child = parse(&child_text, CHILD).unwrap();
    let flat = flatten(&child, &parent).unwrap();
    let CObject::Complex(comment) = &items(&flat)[2] else {
        panic!()
    };
    assert_eq!(comment.node_id.as_deref(), Some("at0006"));
    assert_eq!(comment.occurrences, Some(Multiplicity::new(1, Some(1))));
    let types: Vec<&str> = comment
        .attribute("value")
        .unwrap()
        .children
        .iter()
        .map(CObject::rm_type)
        .collect();
    assert_eq!(types, ["DV_CODED_TEXT"]);
    assert!(check_specialisation(&child, &parent).is_empty());
}

#[test]
fn chains_and_errors() {
    let (parent, child) = pair();
    let grandchild_text = fixture(CHILD)
        .replace(
            "cdr_parent-child.v1\nspecialise\n\topenEHR-EHR-CLUSTER.cdr_parent.v1",
            "cdr_parent-child-grand.v1\nspecialise\n\topenEHR-EHR-CLUSTER.cdr_parent-child.v1",
        )
        .replace("at0000.1", "at0000.1.1");
    let grandchild = parse(&grandchild_text, "grandchild").unwrap();
    let set = vec![parent.clone(), child.clone(), grandchild.clone()];
    let flat = flatten::flatten_in(&grandchild, &set).unwrap();
    assert_eq!(flat.definition.node_id.as_deref(), Some("at0000.1.1"));
    assert_eq!(ids(&flat), ["at0001.1", "at0005", "at0006", "at0.1"]);
    assert_eq!(flatten::flatten_in(&parent, &set).unwrap(), parent);

    assert!(matches!(
        flatten(&parent, &child),
        Err(FlattenError::NotSpecialised(_))
    ));
    assert!(matches!(
        flatten(&grandchild, &parent),
        Err(FlattenError::WrongParent { .. })
    ));
    let e = flatten::flatten_in(&child, std::slice::from_ref(&child)).unwrap_err();
    assert_eq!(e.to_string(), "openEHR-EHR-CLUSTER.cdr_parent-child.v1 specialises openEHR-EHR-CLUSTER.cdr_parent.v1, which is not among the archetypes given");
    let mut looped = parent.clone();
    looped.specialise = Some(child.archetype_id.clone());
    let e = flatten::flatten_in(&child, &[looped, child.clone()]).unwrap_err();
    assert!(matches!(e, FlattenError::Cycle(_)), "{e}");
}
