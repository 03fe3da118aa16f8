//! Small self-contained OPT fixtures, one concern each: document fields, intervals, attributes,
//! every constraint kind, namespaces, text handling and the path index.

use cdr_template::*;

use cdr_template::fixtures::{occ, opt};

fn parse(xml: &str) -> Template {
    parse_opt(xml.as_bytes()).unwrap_or_else(|e| panic!("fixture should parse: {e}\n{xml}"))
}

/// A COMPOSITION whose `content` holds one C_ARCHETYPE_ROOT OBSERVATION with an ITEM_TREE whose
/// single ELEMENT `at0004` has a `value` attribute with the given children.
fn element_value(value_children: &str) -> String {
    opt(&format!(
        r#"<attributes xsi:type="C_MULTIPLE_ATTRIBUTE">
      <rm_attribute_name>content</rm_attribute_name>
      <children xsi:type="C_ARCHETYPE_ROOT">
        <rm_type_name>OBSERVATION</rm_type_name>{o01}<node_id>at0000</node_id>
        <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>data</rm_attribute_name>
          <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>ITEM_TREE</rm_type_name>{o11}<node_id>at0003</node_id>
            <attributes xsi:type="C_MULTIPLE_ATTRIBUTE"><rm_attribute_name>items</rm_attribute_name>
              <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>ELEMENT</rm_type_name>{o01}<node_id>at0004</node_id>
                <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>value</rm_attribute_name>
                  {value_children}
                </attributes>
              </children>
              <cardinality><is_ordered>false</is_ordered><is_unique>false</is_unique><interval><lower_included>true</lower_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></interval></cardinality>
            </attributes>
          </children>
        </attributes>
        <archetype_id><value>openEHR-EHR-OBSERVATION.fixture.v1</value></archetype_id>
        <term_definitions code="at0000"><items id="text">Obs</items></term_definitions>
      </children>
      <cardinality><is_ordered>false</is_ordered><is_unique>false</is_unique><interval><lower_included>true</lower_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></interval></cardinality>
    </attributes>"#,
        o01 = occ(0, 1),
        o11 = occ(1, 1),
    ))
}

const VALUE_PATH: &str =
    "/content[openEHR-EHR-OBSERVATION.fixture.v1]/data[at0003]/items[at0004]/value";

/// The single object at [`VALUE_PATH`].
fn value_node(t: &Template) -> &CObject {
    let nodes = t.nodes_at(VALUE_PATH);
    assert_eq!(
        nodes.len(),
        1,
        "one node at {VALUE_PATH}: {:?}",
        t.path_index.keys().collect::<Vec<_>>()
    );
    nodes[0]
}

/// `DV_x` complex object at the value path with one attribute `attr` holding `children`.
fn dv_with(rm_type: &str, attr: &str, children: &str) -> String {
    element_value(&format!(
        r#"<children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>{rm_type}</rm_type_name>{o}<node_id/>
             <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>{attr}</rm_attribute_name>{children}</attributes>
           </children>"#,
        o = occ(1, 1)
    ))
}

/// The first child of the first attribute of the value node.
fn leaf(t: &Template) -> &CObject {
    &value_node(t).attributes()[0].children[0]
}

fn primitive_item(rm_type: &str, item: &str) -> String {
    dv_with(
        "DV_X",
        "value",
        &format!(
            r#"<children xsi:type="C_PRIMITIVE_OBJECT"><rm_type_name>{rm_type}</rm_type_name>{o}<node_id/>{item}</children>"#,
            o = occ(1, 1)
        ),
    )
}

fn primitive(t: &Template) -> &CPrimitive {
    match &leaf(t).kind {
        CObjectKind::Primitive(p) => p,
        other => panic!("expected a primitive, got {other:?}"),
    }
}

#[test]
fn document_fields() {
    let t = parse(&opt(""));
    assert_eq!(t.template_id, "fixture.v1");
    assert_eq!(
        t.uid.as_deref(),
        Some("0b7e5e3d-0000-4000-8000-000000000001")
    );
    assert_eq!(t.concept, "Fixture");
    assert_eq!(t.language, "en");
    assert!(t.annotations.is_empty());
    let d = &t.definition;
    assert_eq!(d.rm_type_name, "COMPOSITION");
    assert_eq!(d.node_id, "at0000");
    assert_eq!(d.occurrences, Interval::closed(1, 1));
    let root = d
        .as_archetype_root()
        .expect("definition is a C_ARCHETYPE_ROOT");
    assert_eq!(root.archetype_id, "openEHR-EHR-COMPOSITION.fixture.v1");
    assert_eq!(root.template_id.as_deref(), Some("fixture.v1"));
    assert_eq!(
        root.terms["at0000"],
        Term {
            text: "Fixture".into(),
            description: "A fixture".into(),
            other: Vec::new(),
        }
    );
    assert!(root.attributes.is_empty());
    assert_eq!(d.instance_node_id(), "openEHR-EHR-COMPOSITION.fixture.v1");
    assert_eq!(t.path_index.len(), 1);
    assert_eq!(t.path_index["/"], vec![Vec::<(u32, u32)>::new()]);
}

#[test]
fn definition_without_xsi_type_is_an_archetype_root() {
    let xml = opt("").replace(
        r#"<definition xsi:type="C_ARCHETYPE_ROOT">"#,
        "<definition>",
    );
    let t = parse(&xml);
    assert!(t.definition.as_archetype_root().is_some());
}

fn occurrences_of(occ_xml: &str) -> Interval<i64> {
    let xml = opt(&format!(
        r#"<attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>context</rm_attribute_name>
             <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>EVENT_CONTEXT</rm_type_name>{occ_xml}<node_id/></children>
           </attributes>"#
    ));
    let t = parse(&xml);
    t.nodes_at("/context")[0].occurrences.clone()
}

#[test]
fn interval_closed() {
    assert_eq!(occurrences_of(&occ(0, 1)), Interval::closed(0, 1));
}

#[test]
fn interval_unbounded_upper() {
    let i = occurrences_of(
        "<occurrences><lower_included>true</lower_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></occurrences>",
    );
    assert_eq!(i, Interval::at_least(0));
    assert_eq!(i.max_count(), None);
    assert!(i.contains(1_000_000));
}

#[test]
fn interval_open_upper() {
    let i = occurrences_of(
        "<occurrences><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>1</lower><upper>3</upper></occurrences>",
    );
    assert_eq!(
        i,
        Interval {
            lower: Some(1),
            upper: Some(3),
            lower_included: true,
            upper_included: false
        }
    );
    assert_eq!(i.max_count(), Some(2));
    assert!(!i.contains(3));
}

#[test]
fn interval_open_lower() {
    let i = occurrences_of(
        "<occurrences><lower_included>false</lower_included><upper_included>true</upper_included><lower>0</lower><upper>2</upper></occurrences>",
    );
    assert_eq!(
        i,
        Interval {
            lower: Some(0),
            upper: Some(2),
            lower_included: false,
            upper_included: true
        }
    );
    assert_eq!(i.min_count(), 1);
}

#[test]
fn interval_missing_bounds_are_unbounded() {
    let i = occurrences_of("<occurrences><upper>5</upper></occurrences>");
    assert_eq!(
        i,
        Interval {
            lower: None,
            upper: Some(5),
            lower_included: false,
            upper_included: true
        }
    );
    let i = occurrences_of("<occurrences/>");
    assert_eq!(
        i,
        Interval {
            lower: None,
            upper: None,
            lower_included: false,
            upper_included: false
        }
    );
}

#[test]
fn interval_unbounded_flag_wins_over_a_stated_bound() {
    let i = occurrences_of(
        "<occurrences><lower_unbounded>true</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>4</lower><upper>7</upper></occurrences>",
    );
    assert_eq!(
        i,
        Interval {
            lower: None,
            upper: None,
            lower_included: false,
            upper_included: false
        }
    );
}

#[test]
fn missing_occurrences_default_to_one() {
    assert_eq!(occurrences_of(""), Interval::closed(1, 1));
}

#[test]
fn attributes_existence_and_cardinality() {
    let xml = opt(&format!(
        r#"<attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>context</rm_attribute_name>
             <existence><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>0</lower><upper>1</upper></existence>
             <match_negated>false</match_negated>
           </attributes>
           <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>category</rm_attribute_name>
             <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>DV_CODED_TEXT</rm_type_name>{o}<node_id/></children>
           </attributes>
           <attributes xsi:type="C_MULTIPLE_ATTRIBUTE"><rm_attribute_name>content</rm_attribute_name>
             <existence><lower>0</lower><upper>1</upper></existence>
             <cardinality><is_ordered>true</is_ordered><is_unique>true</is_unique>
               <interval><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>1</lower><upper>5</upper></interval>
             </cardinality>
           </attributes>"#,
        o = occ(1, 1)
    ));
    let t = parse(&xml);
    let attrs = t.definition.attributes();
    assert_eq!(attrs.len(), 3);

    let context = t.definition.attribute("context").expect("context");
    assert_eq!(context.existence, Interval::closed(0, 1));
    assert!(!context.is_multiple());
    assert!(context.children.is_empty(), "no children: open");

    let category = t.definition.attribute("category").expect("category");
    assert_eq!(
        category.existence,
        Interval::closed(1, 1),
        "existence defaults to 1..1"
    );
    assert_eq!(category.cardinality, None);
    assert_eq!(category.children[0].rm_type_name, "DV_CODED_TEXT");
    assert!(
        matches!(&category.children[0].kind, CObjectKind::Complex { attributes } if attributes.is_empty())
    );

    let content = t.definition.attribute("content").expect("content");
    assert!(content.is_multiple());
    assert_eq!(
        content.cardinality,
        Some(Cardinality {
            is_ordered: true,
            is_unique: true,
            interval: Interval::closed(1, 5)
        })
    );
    assert_eq!(content.existence, Interval::closed(0, 1));
}

#[test]
fn nested_archetype_root_terms_and_bindings() {
    let xml = element_value("").replace(
        r#"<term_definitions code="at0000"><items id="text">Obs</items></term_definitions>"#,
        r#"<template_id><value>inner.v1</value></template_id>
           <term_definitions code="at0000"><items id="description">An observation</items><items id="text">Obs</items><items id="comment">ignored</items></term_definitions>
           <term_definitions code="at0004"><items id="text">Systolic</items></term_definitions>
           <term_bindings terminology="SNOMED-CT">
             <items code="at0000"><value><terminology_id><value>SNOMED-CT</value></terminology_id><code_string>163020007</code_string></value></items>
             <items code="at0004"><value><terminology_id><value>SNOMED-CT</value></terminology_id><code_string>271649006</code_string></value></items>
           </term_bindings>
           <term_bindings terminology="LOINC">
             <items code="at0004"><value><terminology_id><value>LOINC</value></terminology_id><code_string>8480-6</code_string></value></items>
           </term_bindings>"#,
    );
    let t = parse(&xml);
    let obs = t.nodes_at("/content[openEHR-EHR-OBSERVATION.fixture.v1]");
    assert_eq!(obs.len(), 1);
    let root = obs[0].as_archetype_root().expect("archetype root");
    assert_eq!(obs[0].node_id, "at0000");
    assert_eq!(obs[0].occurrences, Interval::closed(0, 1));
    assert_eq!(root.archetype_id, "openEHR-EHR-OBSERVATION.fixture.v1");
    assert_eq!(root.template_id.as_deref(), Some("inner.v1"));
    assert_eq!(root.terms.len(), 2);
    assert_eq!(root.terms["at0000"].text, "Obs");
    assert_eq!(root.terms["at0000"].description, "An observation");
    assert_eq!(root.terms["at0004"].text, "Systolic");
    assert_eq!(root.terms["at0004"].description, "");
    assert_eq!(root.term_bindings["SNOMED-CT"]["at0000"], "163020007");
    assert_eq!(root.term_bindings["SNOMED-CT"]["at0004"], "271649006");
    assert_eq!(root.term_bindings["LOINC"]["at0004"], "8480-6");
    // The at-code paths below the root.
    let element =
        t.nodes_at("/content[openEHR-EHR-OBSERVATION.fixture.v1]/data[at0003]/items[at0004]");
    assert_eq!(element.len(), 1);
    assert_eq!(element[0].rm_type_name, "ELEMENT");
    assert_eq!(
        element[0].attribute("value").map(|a| a.children.len()),
        Some(0)
    );
}

#[test]
fn slot_with_expression_and_string_expression() {
    let xml = element_value("").replace(
        r#"<attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>value</rm_attribute_name>"#,
        &format!(
            r#"</children>
            <children xsi:type="ARCHETYPE_SLOT"><rm_type_name>CLUSTER</rm_type_name>{o}<node_id>at0010</node_id>
              <includes>
                <string_expression>archetype_id/value matches {{/openEHR-EHR-CLUSTER\.device(-[a-zA-Z0-9_]+)*\.v1/}}</string_expression>
                <expression xsi:type="EXPR_BINARY_OPERATOR"><type>Boolean</type><operator>2007</operator><precedence_overridden>false</precedence_overridden>
                  <left_operand xsi:type="EXPR_LEAF"><type>String</type><item xsi:type="xsd:string">archetype_id/value</item><reference_type>attribute</reference_type></left_operand>
                  <right_operand xsi:type="EXPR_LEAF"><type>C_STRING</type><item xsi:type="C_STRING"><pattern>openEHR-EHR-CLUSTER\.device(-[a-zA-Z0-9_]+)*\.v1|openEHR-EHR-CLUSTER\.dev\.v2</pattern></item><reference_type>constraint</reference_type></right_operand>
                </expression>
              </includes>
              <includes>
                <string_expression>archetype_id/value matches
                    {{/openEHR-EHR-CLUSTER\.level_of_exertion(-[a-zA-Z0-9_]+)*\.v1/}}
                </string_expression>
              </includes>
              <excludes><string_expression>archetype_id/value matches {{/.*/}}</string_expression></excludes>
            </children>
            <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>ELEMENT</rm_type_name>{o}<node_id>at0011</node_id>
            <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>value</rm_attribute_name>"#,
            o = occ(0, 1)
        ),
    );
    let t = parse(&xml);
    let slot =
        t.nodes_at("/content[openEHR-EHR-OBSERVATION.fixture.v1]/data[at0003]/items[at0010]");
    assert_eq!(slot.len(), 1);
    assert_eq!(slot[0].rm_type_name, "CLUSTER");
    match &slot[0].kind {
        CObjectKind::Slot(s) => {
            assert_eq!(
                s.includes,
                vec![
                    r"openEHR-EHR-CLUSTER\.device(-[a-zA-Z0-9_]+)*\.v1|openEHR-EHR-CLUSTER\.dev\.v2".to_owned(),
                    r"openEHR-EHR-CLUSTER\.level_of_exertion(-[a-zA-Z0-9_]+)*\.v1".to_owned(),
                ]
            );
            assert_eq!(s.excludes, vec![".*".to_owned()]);
            assert!(s.attributes.is_empty());
        }
        other => panic!("expected a slot, got {other:?}"),
    }
    assert_eq!(
        t.nodes_at("/content[openEHR-EHR-OBSERVATION.fixture.v1]/data[at0003]/items[at0011]")
            .len(),
        1
    );
}

#[test]
fn internal_ref_and_constraint_ref() {
    let xml = element_value(&format!(
        r#"<children xsi:type="ARCHETYPE_INTERNAL_REF"><rm_type_name>DV_TEXT</rm_type_name>{o}<node_id/>
             <target_path>/data[at0003]/items[at0005]/value</target_path></children>
           <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>DV_CODED_TEXT</rm_type_name>{o}<node_id/>
             <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>defining_code</rm_attribute_name>
               <children xsi:type="CONSTRAINT_REF"><rm_type_name>CODE_PHRASE</rm_type_name>{o}<node_id/><reference>ac0001</reference></children>
             </attributes>
           </children>"#,
        o = occ(1, 1)
    ));
    let t = parse(&xml);
    let values = t.nodes_at(VALUE_PATH);
    assert_eq!(values.len(), 2, "two alternatives share the value path");
    assert_eq!(
        values[0].kind,
        CObjectKind::InternalRef {
            target_path: "/data[at0003]/items[at0005]/value".into()
        }
    );
    assert_eq!(values[1].rm_type_name, "DV_CODED_TEXT");
    let code = t.nodes_at(&format!("{VALUE_PATH}/defining_code"));
    assert_eq!(code.len(), 1);
    assert_eq!(
        code[0].kind,
        CObjectKind::ConstraintRef {
            reference: "ac0001".into()
        }
    );
}

#[test]
fn c_string_pattern() {
    let t = parse(&primitive_item(
        "STRING",
        r#"<item xsi:type="C_STRING"><pattern>[A-Z]{2}\d+</pattern></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::String {
            pattern: Some(r"[A-Z]{2}\d+".into()),
            list: vec![],
            list_open: false,
            assumed: None
        }
    );
    assert_eq!(leaf(&t).rm_type_name, "STRING");
    assert_eq!(t.nodes_at(&format!("{VALUE_PATH}/value")).len(), 1);
}

#[test]
fn c_string_list_open_and_assumed() {
    let t = parse(&primitive_item(
        "STRING",
        r#"<item xsi:type="C_STRING"><list>Systolic</list><list>Tom &amp; Jerry</list><list><![CDATA[a<b]]></list><list_open>true</list_open><assumed_value>Systolic</assumed_value></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::String {
            pattern: None,
            list: vec!["Systolic".into(), "Tom & Jerry".into(), "a<b".into()],
            list_open: true,
            assumed: Some("Systolic".into()),
        }
    );
}

#[test]
fn c_integer_list_and_range() {
    let t = parse(&primitive_item(
        "INTEGER",
        r#"<item xsi:type="C_INTEGER"><list>1</list><list>-2</list><list>3</list><assumed_value>1</assumed_value></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Integer {
            list: vec![1, -2, 3],
            range: None,
            assumed: Some(1)
        }
    );

    let t = parse(&primitive_item(
        "INTEGER",
        r#"<item xsi:type="C_INTEGER"><range><lower_included>false</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>true</upper_unbounded><lower>0</lower></range></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Integer {
            list: vec![],
            range: Some(Interval {
                lower: Some(0),
                upper: None,
                lower_included: false,
                upper_included: false
            }),
            assumed: None
        }
    );
}

#[test]
fn c_real_range() {
    let t = parse(&primitive_item(
        "REAL",
        r#"<item xsi:type="C_REAL"><range><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>0.5</lower><upper>100</upper></range><assumed_value>21</assumed_value></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Real {
            list: vec![],
            range: Some(Interval {
                lower: Some(0.5),
                upper: Some(100.0),
                lower_included: true,
                upper_included: false
            }),
            assumed: Some(21.0)
        }
    );
    let t = parse(&primitive_item(
        "REAL",
        r#"<item xsi:type="C_REAL"><list>1.5</list><list>-2e3</list></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Real {
            list: vec![1.5, -2000.0],
            range: None,
            assumed: None
        }
    );
}

#[test]
fn c_boolean() {
    let t = parse(&primitive_item(
        "BOOLEAN",
        r#"<item xsi:type="C_BOOLEAN"><true_valid>false</true_valid><false_valid>true</false_valid><assumed_value>false</assumed_value></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Boolean {
            true_valid: false,
            false_valid: true,
            assumed: Some(false)
        }
    );
}

#[test]
fn temporal_primitives() {
    let t = parse(&primitive_item(
        "DATE",
        r#"<item xsi:type="C_DATE"><pattern>yyyy-mm-XX</pattern><timezone_validity>1003</timezone_validity></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Date {
            pattern: Some("yyyy-mm-XX".into()),
            timezone_validity: Some(1003),
            range: None
        }
    );

    let t = parse(&primitive_item(
        "TIME",
        r#"<item xsi:type="C_TIME"><range><lower_included>true</lower_included><upper_included>true</upper_included><lower>08:00:00</lower><upper>17:30:00</upper></range></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Time {
            pattern: None,
            timezone_validity: None,
            range: Some(Interval::closed(
                "08:00:00".to_owned(),
                "17:30:00".to_owned()
            )),
        }
    );

    // Whitespace around values (as in pretty-printed real OPTs) is trimmed.
    let t = parse(&primitive_item(
        "DATE_TIME",
        "<item xsi:type=\"C_DATE_TIME\"><pattern>\n      yyyy-??-??T??:??:??\n    </pattern><timezone_validity><value>1001</value></timezone_validity></item>",
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::DateTime {
            pattern: Some("yyyy-??-??T??:??:??".into()),
            timezone_validity: Some(1001),
            range: None
        }
    );

    let t = parse(&primitive_item(
        "DURATION",
        r#"<item xsi:type="C_DURATION"><pattern>PTHMS</pattern><range><lower>PT0S</lower><upper>PT24H</upper></range></item>"#,
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Duration {
            pattern: Some("PTHMS".into()),
            range: Some(Interval::closed("PT0S".to_owned(), "PT24H".to_owned())),
        }
    );
}

#[test]
fn primitive_item_without_xsi_type_uses_rm_type_name() {
    let t = parse(&primitive_item(
        "BOOLEAN",
        "<item><true_valid>true</true_valid><false_valid>false</false_valid></item>",
    ));
    assert_eq!(
        primitive(&t),
        &CPrimitive::Boolean {
            true_valid: true,
            false_valid: false,
            assumed: None
        }
    );
}

#[test]
fn code_phrase_and_code_reference() {
    let t = parse(&dv_with(
        "DV_CODED_TEXT",
        "defining_code",
        &format!(
            r#"<children xsi:type="C_CODE_PHRASE"><rm_type_name>CODE_PHRASE</rm_type_name>{o}<node_id/>
                 <assumed_value><terminology_id><value>local</value></terminology_id><code_string>at1001</code_string></assumed_value>
                 <terminology_id><value>local</value></terminology_id>
                 <code_list>at1000</code_list><code_list>at1001</code_list>
               </children>"#,
            o = occ(1, 1)
        ),
    ));
    assert_eq!(
        leaf(&t).kind,
        CObjectKind::CodePhrase(CCodePhrase {
            terminology_id: Some("local".into()),
            code_list: vec!["at1000".into(), "at1001".into()],
            assumed: Some(("local".into(), "at1001".into())),
            reference_set_uri: None,
        })
    );
    assert_eq!(t.nodes_at(&format!("{VALUE_PATH}/defining_code")).len(), 1);

    let t = parse(&dv_with(
        "DV_CODED_TEXT",
        "defining_code",
        &format!(
            r#"<children xsi:type="C_CODE_REFERENCE"><rm_type_name>CODE_PHRASE</rm_type_name>{o}<node_id/>
                 <referenceSetUri>terminology://snomed.info</referenceSetUri></children>"#,
            o = occ(1, 1)
        ),
    ));
    assert_eq!(
        leaf(&t).kind,
        CObjectKind::CodePhrase(CCodePhrase {
            terminology_id: None,
            code_list: vec![],
            assumed: None,
            reference_set_uri: Some("terminology://snomed.info".into()),
        })
    );
}

#[test]
fn dv_quantity() {
    let t = parse(&element_value(&format!(
        r#"<children xsi:type="C_DV_QUANTITY"><rm_type_name>DV_QUANTITY</rm_type_name>{o}<node_id />
             <assumed_value><magnitude>120</magnitude><units>mm[Hg]</units><precision>0</precision></assumed_value>
             <property><terminology_id><value>openehr</value></terminology_id><code_string>125</code_string></property>
             <list>
               <magnitude><lower_included>true</lower_included><upper_included>false</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>0</lower><upper>1000</upper></magnitude>
               <precision><lower_included>true</lower_included><upper_included>true</upper_included><lower_unbounded>false</lower_unbounded><upper_unbounded>false</upper_unbounded><lower>0</lower><upper>0</upper></precision>
               <units>mm[Hg]</units>
             </list>
             <list><units>kPa</units></list>
           </children>"#,
        o = occ(1, 1)
    )));
    assert_eq!(
        value_node(&t).kind,
        CObjectKind::DvQuantity(CDvQuantity {
            property: Some(("openehr".into(), "125".into())),
            list: vec![
                CQuantityItem {
                    units: "mm[Hg]".into(),
                    magnitude: Some(Interval {
                        lower: Some(0.0),
                        upper: Some(1000.0),
                        lower_included: true,
                        upper_included: false
                    }),
                    precision: Some(Interval::closed(0, 0)),
                },
                CQuantityItem {
                    units: "kPa".into(),
                    magnitude: None,
                    precision: None
                },
            ],
            assumed: Some((120.0, "mm[Hg]".into())),
        })
    );
}

#[test]
fn dv_ordinal() {
    let item = |v: i64, code: &str| {
        format!(
            "<list><value>{v}</value><symbol><value>ignored</value><defining_code><terminology_id><value>local</value></terminology_id><code_string>{code}</code_string></defining_code></symbol></list>"
        )
    };
    let t = parse(&element_value(&format!(
        r#"<children xsi:type="C_DV_ORDINAL"><rm_type_name>DV_ORDINAL</rm_type_name>{o}<node_id/>{a}{b}{c}
             <assumed_value><value>2</value><symbol><defining_code><terminology_id><value>local</value></terminology_id><code_string>at0016</code_string></defining_code></symbol></assumed_value>
           </children>"#,
        o = occ(1, 1),
        a = item(0, "at0014"),
        b = item(1, "at0015"),
        c = item(-2, "at0016"),
    )));
    let ord = |value, code: &str| COrdinalItem {
        value,
        terminology_id: "local".into(),
        code_string: code.into(),
    };
    assert_eq!(
        value_node(&t).kind,
        CObjectKind::DvOrdinal(CDvOrdinal {
            list: vec![ord(0, "at0014"), ord(1, "at0015"), ord(-2, "at0016")],
            assumed: Some(2)
        })
    );
}

#[test]
fn dv_state_is_opaque() {
    let t = parse(&element_value(&format!(
        r#"<children xsi:type="C_DV_STATE"><rm_type_name>DV_STATE</rm_type_name>{o}<node_id/>
             <value><states xsi:type="STATE"><name>x</name></states></value></children>"#,
        o = occ(1, 1)
    )));
    assert_eq!(value_node(&t).kind, CObjectKind::DvState);
}

#[test]
fn annotations() {
    let xml = opt("").replace(
        "</definition>",
        r#"</definition>
  <annotations path="[openEHR-EHR-COMPOSITION.fixture.v1]/content[openEHR-EHR-SECTION.adhoc.v1,'Allergies &amp; Intolerances']">
    <items id="source">openEHR,FHIR</items>
    <items id="FHIR">AllergyIntolerance</items>
  </annotations>
  <annotations path="[openEHR-EHR-COMPOSITION.fixture.v1]">
    <items id="Notes.Authors Note">Shown in the UI</items>
  </annotations>
  <annotations path="[openEHR-EHR-COMPOSITION.fixture.v1]">
    <items id="more">x</items>
  </annotations>"#,
    );
    let t = parse(&xml);
    assert_eq!(t.annotations.len(), 2);
    assert_eq!(
        t.annotations["[openEHR-EHR-COMPOSITION.fixture.v1]/content[openEHR-EHR-SECTION.adhoc.v1,'Allergies & Intolerances']"],
        vec![("source".to_owned(), "openEHR,FHIR".to_owned()), ("FHIR".to_owned(), "AllergyIntolerance".to_owned())]
    );
    assert_eq!(
        t.annotations["[openEHR-EHR-COMPOSITION.fixture.v1]"],
        vec![
            (
                "Notes.Authors Note".to_owned(),
                "Shown in the UI".to_owned()
            ),
            ("more".to_owned(), "x".to_owned())
        ]
    );
}

#[test]
fn unknown_elements_are_ignored() {
    let xml = opt(&format!(
        r#"<attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>category</rm_attribute_name>
             <match_negated>false</match_negated><unknown_thing><deep><er/></deep></unknown_thing>
             <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>DV_CODED_TEXT</rm_type_name>{o}<node_id/>
               <default_value xsi:type="DV_TEXT"><value>x</value></default_value></children>
           </attributes>"#,
        o = occ(1, 1)
    ))
    .replace(
        "</definition>",
        r#"</definition>
  <ontology archetype_id="x"><term_definitions language="de"><items code="at0001"><items id="text">T</items></items></term_definitions></ontology>
  <constraints><attributes><rm_attribute_name>value</rm_attribute_name><children><default_value xsi:type="DV_TEXT"><value>v</value></default_value></children></attributes></constraints>
  <view><constraints path="/x"><items id="pass_through"><value>true</value></items></constraints></view>
  <!-- a comment --><?pi stuff?>"#,
    );
    let t = parse(&xml);
    assert_eq!(t.definition.attributes().len(), 1);
    assert_eq!(t.nodes_at("/category").len(), 1);
    assert_eq!(t.path_index.len(), 2);
}

#[test]
fn namespace_prefixes_are_tolerated() {
    let xml = r#"<?xml version="1.0"?>
<o:template xmlns:o="http://schemas.openehr.org/v1" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
  <o:language><o:terminology_id><o:value>ISO_639-1</o:value></o:terminology_id><o:code_string>de</o:code_string></o:language>
  <o:template_id><o:value>prefixed</o:value></o:template_id>
  <o:concept>Prefixed</o:concept>
  <o:definition i:type="o:C_ARCHETYPE_ROOT">
    <o:rm_type_name>COMPOSITION</o:rm_type_name><o:node_id>at0000</o:node_id>
    <o:attributes i:type="C_MULTIPLE_ATTRIBUTE"><o:rm_attribute_name>content</o:rm_attribute_name>
      <o:children i:type="o:C_COMPLEX_OBJECT"><o:rm_type_name>SECTION</o:rm_type_name><o:node_id>at0001</o:node_id></o:children>
      <o:cardinality><o:is_ordered>true</o:is_ordered><o:is_unique>false</o:is_unique><o:interval><o:lower>0</o:lower></o:interval></o:cardinality>
    </o:attributes>
    <o:archetype_id><o:value>openEHR-EHR-COMPOSITION.p.v1</o:value></o:archetype_id>
  </o:definition>
</o:template>"#;
    let t = parse(xml);
    assert_eq!(t.template_id, "prefixed");
    assert_eq!(t.language, "de");
    assert_eq!(t.uid, None);
    let sections = t.nodes_at("/content[at0001]");
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].rm_type_name, "SECTION");
    let content = t.definition.attribute("content").expect("content");
    assert_eq!(
        content.cardinality.as_ref().map(|c| c.interval.clone()),
        Some(Interval::at_least(0))
    );

    // No namespace declarations at all, and xsi declared only where used.
    let xml = r#"<template><template_id><value>bare</value></template_id>
      <definition><rm_type_name>COMPOSITION</rm_type_name><node_id>at0000</node_id>
        <attributes xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>context</rm_attribute_name></attributes>
        <archetype_id><value>openEHR-EHR-COMPOSITION.b.v1</value></archetype_id></definition></template>"#;
    let t = parse(xml);
    assert_eq!(t.template_id, "bare");
    assert_eq!(t.concept, "");
    assert_eq!(t.definition.attributes()[0].rm_attribute_name, "context");
}

#[test]
fn utf8_bom_and_text_forms() {
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend_from_slice(
        opt("")
            .replace(
                "<concept>Fixture</concept>",
                "<concept>\n   Blutdruck &#x2013; Übersicht <![CDATA[&]]> \n</concept>",
            )
            .as_bytes(),
    );
    let t = parse_opt(&bytes).expect("parses with a BOM");
    assert_eq!(t.concept, "Blutdruck \u{2013} Übersicht&");
}

/// Two ELEMENTs with the same at-code, told apart by name constraints, share one path; objects
/// without a node id take the attribute name only.
#[test]
fn path_index_shared_paths_and_routes() {
    let named = |name: &str| {
        format!(
            r#"<children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>ELEMENT</rm_type_name>{o}<node_id>at0004</node_id>
                 <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>name</rm_attribute_name>
                   <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>DV_TEXT</rm_type_name>{o1}<node_id/>
                     <attributes xsi:type="C_SINGLE_ATTRIBUTE"><rm_attribute_name>value</rm_attribute_name>
                       <children xsi:type="C_PRIMITIVE_OBJECT"><rm_type_name>STRING</rm_type_name>{o1}<node_id/>
                         <item xsi:type="C_STRING"><list>{name}</list></item></children>
                     </attributes>
                   </children>
                 </attributes>
               </children>"#,
            o = occ(0, 1),
            o1 = occ(1, 1)
        )
    };
    let xml = opt(&format!(
        r#"<attributes xsi:type="C_MULTIPLE_ATTRIBUTE"><rm_attribute_name>content</rm_attribute_name>
             <children xsi:type="C_COMPLEX_OBJECT"><rm_type_name>SECTION</rm_type_name>{o}<node_id>at0001</node_id>
               <attributes xsi:type="C_MULTIPLE_ATTRIBUTE"><rm_attribute_name>items</rm_attribute_name>{a}{b}
                 <cardinality><is_ordered>true</is_ordered><is_unique>false</is_unique><interval><lower>0</lower></interval></cardinality>
               </attributes>
             </children>
             <cardinality><is_ordered>true</is_ordered><is_unique>false</is_unique><interval><lower>0</lower></interval></cardinality>
           </attributes>"#,
        o = occ(1, 1),
        a = named("First"),
        b = named("Second"),
    ));
    let t = parse(&xml);
    let mut paths: Vec<&str> = t.path_index.keys().map(String::as_str).collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        vec![
            "/",
            "/content[at0001]",
            "/content[at0001]/items[at0004]",
            "/content[at0001]/items[at0004]/name",
            "/content[at0001]/items[at0004]/name/value",
        ]
    );
    assert_eq!(t.path_index["/content[at0001]"], vec![vec![(0, 0)]]);
    assert_eq!(
        t.path_index["/content[at0001]/items[at0004]"],
        vec![vec![(0, 0), (0, 0)], vec![(0, 0), (0, 1)]]
    );
    let names: Vec<&CPrimitive> = t
        .nodes_at("/content[at0001]/items[at0004]/name/value")
        .into_iter()
        .map(|n| match &n.kind {
            CObjectKind::Primitive(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names.len(), 2);
    assert!(matches!(names[0], CPrimitive::String { list, .. } if list == &["First".to_owned()]));
    assert!(matches!(names[1], CPrimitive::String { list, .. } if list == &["Second".to_owned()]));

    assert!(t.nodes_at("/content[at0002]").is_empty());
    assert!(t.nodes_at("content[at0001]").is_empty());
    assert_eq!(
        t.node(&vec![]).map(|n| n.rm_type_name.as_str()),
        Some("COMPOSITION")
    );
    assert!(t.node(&vec![(0, 1)]).is_none());
    assert!(t.node(&vec![(3, 0)]).is_none());
    assert!(t
        .node(&vec![(0, 0), (0, 0), (0, 0), (0, 0), (0, 0), (0, 0)])
        .is_none());
}

/// A deep (but allowed) constraint tree parses, indexes and drops without trouble.
#[test]
fn deep_constraint_tree_within_limits() {
    let levels = 240;
    let mut body = String::new();
    for i in 0..levels {
        body.push_str(&format!(
            "<attributes xsi:type=\"C_SINGLE_ATTRIBUTE\"><rm_attribute_name>a</rm_attribute_name><children xsi:type=\"C_COMPLEX_OBJECT\"><rm_type_name>CLUSTER</rm_type_name><node_id>at{i:04}</node_id>"
        ));
    }
    for _ in 0..levels {
        body.push_str("</children></attributes>");
    }
    let t = parse(&opt(&body));
    assert_eq!(t.path_index.len(), levels + 1);
    let deepest: String = (0..levels).map(|i| format!("/a[at{i:04}]")).collect();
    assert_eq!(t.nodes_at(&deepest).len(), 1);
}
