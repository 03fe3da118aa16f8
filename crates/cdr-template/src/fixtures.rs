//! Builders of small OPT 1.4 documents, for the tests of this crate and of the crates that read
//! templates (forms, validation): an OPT around a definition body, objects, attributes,
//! elements, terms and an OBSERVATION, as XML text.

/// An OPT document around `definition_body` (the content of a COMPOSITION root).
pub fn opt(definition_body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<template xmlns="http://schemas.openehr.org/v1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <language><terminology_id><value>ISO_639-1</value></terminology_id><code_string>en</code_string></language>
  <description><original_author id="x">y</original_author></description>
  <uid><value>0b7e5e3d-0000-4000-8000-000000000001</value></uid>
  <template_id><value>fixture.v1</value></template_id>
  <concept>Fixture</concept>
  <definition xsi:type="C_ARCHETYPE_ROOT">
    <rm_type_name>COMPOSITION</rm_type_name>
    <occurrences><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>1</lower><upper>1</upper></occurrences>
    <node_id>at0000</node_id>
    {definition_body}
    <archetype_id><value>openEHR-EHR-COMPOSITION.fixture.v1</value></archetype_id>
    <template_id><value>fixture.v1</value></template_id>
    <term_definitions code="at0000"><items id="text">Fixture</items><items id="description">A fixture</items></term_definitions>
  </definition>
</template>"#
    )
}

/// A closed `lower..upper` occurrences element.
pub fn occ(lower: i64, upper: i64) -> String {
    format!(
        "<occurrences><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>{lower}</lower><upper>{upper}</upper></occurrences>"
    )
}

pub fn object(rm: &str, node_id: &str, lower: i64, upper: i64, attributes: &str) -> String {
    format!(
        r#"<children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>{rm}</rm_type_name>{}<node_id>{node_id}</node_id>{attributes}</children>"#,
        occ(lower, upper)
    )
}

pub fn unbounded(rm: &str, node_id: &str, attributes: &str) -> String {
    format!(
        r#"<children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>{rm}</rm_type_name><occurrences><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></occurrences><node_id>{node_id}</node_id>{attributes}</children>"#
    )
}

pub fn single(name: &str, children: &str) -> String {
    format!(
        r#"<attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>{name}</rm_attribute_name>{children}</attributes>"#
    )
}

pub fn multiple(name: &str, children: &str) -> String {
    format!(
        r#"<attributes xsi:type="C_MULTIPLE_ATTRIBUTE"><rm_attribute_name>{name}</rm_attribute_name>{children}<cardinality><is_ordered>true</is_ordered><is_unique>false</is_unique><interval><lower_included>true</lower_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></interval></cardinality></attributes>"#
    )
}

/// A `name` constraint fixing the name to `text`.
pub fn fixed_name(text: &str) -> String {
    single(
        "name",
        &object(
            "DV_TEXT",
            "",
            1,
            1,
            &single(
                "value",
                &format!(
                    r#"<children xsi:type="C_PRIMITIVE_OBJECT"><rm_type_name>STRING</rm_type_name>{}<node_id/><item xsi:type="C_STRING"><list>{text}</list></item></children>"#,
                    occ(1, 1)
                ),
            ),
        ),
    )
}

pub fn element(node_id: &str, lower: i64, upper: i64, values: &str, extra: &str) -> String {
    object(
        "ELEMENT",
        node_id,
        lower,
        upper,
        &format!("{}{extra}", single("value", values)),
    )
}

pub fn dv(rm: &str) -> String {
    object(rm, "", 1, 1, "")
}

pub fn term(code: &str, text: &str) -> String {
    format!(
        r#"<term_definitions code="{code}"><items id="text">{text}</items><items id="description">{text} description</items></term_definitions>"#
    )
}

/// An OBSERVATION archetype root with the given events (in `data[at0001]`).
pub fn observation(events: &str, terms: &str) -> String {
    format!(
        r#"<children xsi:type="C_ARCHETYPE_ROOT"><rm_type_name>OBSERVATION</rm_type_name>{o}<node_id>at0000</node_id>{data}<archetype_id><value>openEHR-EHR-OBSERVATION.demo.v1</value></archetype_id>{t0}{t1}{terms}</children>"#,
        o = r#"<occurrences><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></occurrences>"#,
        data = single(
            "data",
            &object("HISTORY", "at0001", 1, 1, &multiple("events", events))
        ),
        t0 = term("at0000", "Blood pressure"),
        t1 = term("at0001", "History"),
    )
}

/// One EVENT `at0002` (0..1) whose ITEM_TREE `at0003` holds `items`.
pub fn single_event(items: &[String]) -> String {
    object(
        "EVENT",
        "at0002",
        0,
        1,
        &single(
            "data",
            &object(
                "ITEM_TREE",
                "at0003",
                1,
                1,
                &multiple("items", &items.concat()),
            ),
        ),
    )
}

/// A DV_CODED_TEXT with a C_CODE_PHRASE of `terminology` listing `codes`.
pub fn coded(terminology: &str, codes: &[&str]) -> String {
    let list: String = codes
        .iter()
        .map(|c| format!("<code_list>{c}</code_list>"))
        .collect();
    format!(
        r#"<children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>DV_CODED_TEXT</rm_type_name>{o}<node_id/>{a}</children>"#,
        o = occ(1, 1),
        a = single(
            "defining_code",
            &format!(
                r#"<children xsi:type="C_CODE_PHRASE"><rm_type_name>CODE_PHRASE</rm_type_name>{}<node_id/><terminology_id><value>{terminology}</value></terminology_id>{list}</children>"#,
                occ(1, 1)
            )
        )
    )
}

/// A C_DV_QUANTITY allowing `units` (with the magnitude interval `magnitude`, if any).
pub fn quantity(units: &str, magnitude: &str) -> String {
    format!(
        r#"<children xsi:type="C_DV_QUANTITY"><rm_type_name>DV_QUANTITY</rm_type_name>{}<node_id/><list>{magnitude}<units>{units}</units></list></children>"#,
        occ(1, 1)
    )
}
