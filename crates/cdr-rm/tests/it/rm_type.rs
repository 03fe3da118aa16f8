//! `RmType`: names, the hierarchy and attribute metadata of every RM class.

use cdr_rm::meta::{conforms_to, is_abstract, parent_type, RmType};

#[test]
fn every_class_parses_back_from_its_name() {
    for t in RmType::ALL {
        assert_eq!(RmType::parse(t.name()), Some(*t), "{t}");
        assert_eq!(t.is_abstract(), t.attributes().is_empty(), "{t}");
    }
    assert_eq!(
        RmType::parse("DV_INTERVAL<DV_COUNT>"),
        Some(RmType::DvInterval)
    );
    assert_eq!(RmType::parse("String"), None);
    assert_eq!(RmType::parse("EHR"), None);
}

#[test]
fn hierarchy_follows_rm_1_0_4() {
    // GENERIC_ENTRY is a CONTENT_ITEM, not an ENTRY.
    assert!(RmType::GenericEntry.conforms_to(RmType::ContentItem));
    assert!(!RmType::GenericEntry.conforms_to(RmType::Entry));
    assert!(RmType::Observation.conforms_to(RmType::CareEntry));
    assert!(RmType::DvDateTime.conforms_to(RmType::DvOrdered));
    assert!(!RmType::DvText.conforms_to(RmType::DvOrdered));
    let entries: Vec<&str> = RmType::Entry.concrete().map(RmType::name).collect();
    assert_eq!(
        entries,
        [
            "ADMIN_ENTRY",
            "OBSERVATION",
            "EVALUATION",
            "INSTRUCTION",
            "ACTION"
        ]
    );
    let structures: Vec<&str> = RmType::DataStructure.concrete().map(RmType::name).collect();
    assert_eq!(
        structures,
        [
            "ITEM_TREE",
            "ITEM_LIST",
            "ITEM_SINGLE",
            "ITEM_TABLE",
            "HISTORY"
        ]
    );
    // The string forms agree.
    assert!(conforms_to("DV_CODED_TEXT", "DATA_VALUE"));
    assert!(conforms_to("Foo", "Foo"));
    assert!(!conforms_to("Foo", "DATA_VALUE"));
    assert_eq!(parent_type("POINT_EVENT"), Some("EVENT"));
    assert!(is_abstract("CARE_ENTRY") && !is_abstract("OBSERVATION"));
}

#[test]
fn attributes_carry_declared_types_and_multiplicity() {
    let events = RmType::History.attribute("events").unwrap();
    assert_eq!(events.declared, "EVENT");
    assert!(events.kind.is_list() && events.polymorphic);
    let data = RmType::Observation.attribute("data").unwrap();
    assert_eq!(data.declared, "HISTORY");
    assert!(!data.kind.is_list());
    // Inherited LOCATABLE attributes come first.
    assert_eq!(RmType::Element.attributes()[0].name, "archetype_node_id");
    assert!(RmType::Cluster.attribute("items").unwrap().kind.is_list());
    assert!(RmType::ItemSingle.attribute("items").is_none());
}
