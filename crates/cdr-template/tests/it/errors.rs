//! Error reporting: malformed XML, limits, documents that are not OPTs, and invalid content.

use cdr_template::*;

use cdr_template::fixtures::{occ, opt};

fn err(xml: &str) -> OptError {
    match parse_opt(xml.as_bytes()) {
        Ok(t) => panic!("expected an error, parsed {:?}", t.template_id),
        Err(e) => e,
    }
}

fn invalid_at(e: &OptError) -> (usize, usize, &str) {
    match e {
        OptError::Invalid {
            line,
            column,
            message,
        } => (*line, *column, message.as_str()),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn mismatched_end_tag_is_xml_error_with_position() {
    let xml = "<template>\n  <template_id><value>x</value></template_id>\n  <concept>x</concpt>\n</template>";
    match err(xml) {
        OptError::Xml {
            line,
            column,
            message,
        } => {
            assert_eq!(line, 3, "{message}");
            assert!((3..=20).contains(&column), "column {column}: {message}");
        }
        other => panic!("expected Xml, got {other:?}"),
    }
}

#[test]
fn unclosed_document_is_xml_error() {
    let xml = opt("");
    let cut = &xml[..xml.len() - "</template>".len()];
    match err(cut) {
        OptError::Xml { line, message, .. } => {
            assert!(message.contains("end of input"), "{message}");
            assert_eq!(
                line,
                cut.matches('\n').count() + 1,
                "reported at the end of input"
            );
        }
        other => panic!("expected Xml, got {other:?}"),
    }
}

#[test]
fn broken_markup_is_xml_error() {
    let xml = "<template>\n<template_id><value>x</value></template_id>\n<concept attr=\"unterminated>x</concept></template>";
    assert!(matches!(err(xml), OptError::Xml { .. }));
    let xml = "<template>\n\n<concept>a &bogus; b</concept></template>";
    match err(xml) {
        OptError::Xml { line, .. } => assert_eq!(line, 3),
        other => panic!("expected Xml, got {other:?}"),
    }
    let xml = "<template></concept>";
    assert!(matches!(err(xml), OptError::Xml { line: 1, .. }));
}

#[test]
fn invalid_utf8_is_an_error_not_a_panic() {
    let mut bytes = opt("").into_bytes();
    let at = bytes
        .windows(7)
        .position(|w| w == b"Fixture")
        .expect("concept text");
    bytes[at] = 0xFF;
    assert!(matches!(parse_opt(&bytes), Err(OptError::Xml { .. })));
}

#[test]
fn too_deep_nesting_is_a_limit_error() {
    let mut xml = String::from("<template><description>");
    for _ in 0..600 {
        xml.push_str("<x>");
    }
    for _ in 0..600 {
        xml.push_str("</x>");
    }
    xml.push_str("</description></template>");
    match err(&xml) {
        OptError::Limit(message) => {
            assert!(message.contains("nesting deeper than 512"), "{message}")
        }
        other => panic!("expected Limit, got {other:?}"),
    }
}

#[test]
fn depth_limit_applies_to_empty_elements_and_custom_limits() {
    let xml = opt("");
    let limits = ParseLimits {
        max_depth: 3,
        ..ParseLimits::default()
    };
    assert!(matches!(
        parse_opt_with_limits(xml.as_bytes(), limits),
        Err(OptError::Limit(_))
    ));
    // <template><definition><occurrences><lower_included> is depth 4.
    let limits = ParseLimits {
        max_depth: 4,
        ..ParseLimits::default()
    };
    assert!(parse_opt_with_limits(xml.as_bytes(), limits).is_ok());

    let xml = "<template><a><b/></a></template>";
    let limits = ParseLimits {
        max_depth: 2,
        ..ParseLimits::default()
    };
    assert!(matches!(
        parse_opt_with_limits(xml.as_bytes(), limits),
        Err(OptError::Limit(_))
    ));
}

#[test]
fn huge_max_depth_is_capped_and_never_overflows_the_stack() {
    // 5000 nested constraint objects (10000 elements) with an effectively unlimited depth.
    let levels = 5000;
    let mut body = String::new();
    for _ in 0..levels {
        body.push_str("<attributes><rm_attribute_name>a</rm_attribute_name><children><rm_type_name>CLUSTER</rm_type_name>");
    }
    for _ in 0..levels {
        body.push_str("</children></attributes>");
    }
    let xml = opt(&body);
    let limits = ParseLimits {
        max_depth: usize::MAX,
        ..ParseLimits::default()
    };
    match parse_opt_with_limits(xml.as_bytes(), limits) {
        Err(OptError::Limit(message)) => {
            assert!(
                message.contains(&MAX_SUPPORTED_DEPTH.to_string()),
                "{message}"
            )
        }
        other => panic!("expected Limit, got {other:?}"),
    }
}

#[test]
fn too_large_input_is_a_limit_error() {
    let xml = opt("");
    let limits = ParseLimits {
        max_bytes: 100,
        ..ParseLimits::default()
    };
    match parse_opt_with_limits(xml.as_bytes(), limits) {
        Err(OptError::Limit(message)) => assert!(message.contains("100"), "{message}"),
        other => panic!("expected Limit, got {other:?}"),
    }
    let limits = ParseLimits {
        max_bytes: xml.len(),
        ..ParseLimits::default()
    };
    assert!(parse_opt_with_limits(xml.as_bytes(), limits).is_ok());
}

#[test]
fn wrong_root_is_invalid() {
    let xml = "<?xml version=\"1.0\"?>\n<archetype xmlns=\"http://schemas.openehr.org/v1\"><concept>x</concept></archetype>";
    let e = err(xml);
    let (line, _, message) = invalid_at(&e);
    assert_eq!(line, 2);
    assert!(
        message.contains("not an OPT") && message.contains("archetype"),
        "{message}"
    );

    let e = err("{\"_type\": \"COMPOSITION\"}");
    assert!(invalid_at(&e).2.contains("no root element"));
    let e = err("");
    assert!(invalid_at(&e).2.contains("no root element"));
    let e = err("<!-- only a comment -->");
    assert!(invalid_at(&e).2.contains("no root element"));
}

#[test]
fn missing_template_id_is_invalid() {
    let xml = opt("").replace(
        "<template_id><value>fixture.v1</value></template_id>\n  <concept>",
        "<concept>",
    );
    let e = err(&xml);
    let (line, column, message) = invalid_at(&e);
    assert!(message.contains("template_id"), "{message}");
    assert_eq!((line, column), (2, 1), "reported at the root element");

    let xml = opt("").replace(
        "<template_id><value>fixture.v1</value></template_id>\n  <concept>",
        "<template_id><value/></template_id><concept>",
    );
    assert!(invalid_at(&err(&xml)).2.contains("template_id"));
}

#[test]
fn missing_definition_is_invalid() {
    let xml =
        "<template><template_id><value>x</value></template_id><concept>x</concept></template>";
    assert!(invalid_at(&err(xml)).2.contains("definition"));
    assert!(invalid_at(&err("<template/>")).2.contains("template_id"));
}

#[test]
fn bad_numbers_and_booleans_are_invalid_with_position() {
    let xml = opt("").replace("<lower>1</lower>", "<lower>one</lower>");
    let e = err(&xml);
    let (line, _, message) = invalid_at(&e);
    assert_eq!(line, 10, "{message}");
    assert!(message.contains("\"one\""), "{message}");

    let xml = opt("").replace(
        "<lower_included>true</lower_included>",
        "<lower_included>yes</lower_included>",
    );
    assert!(invalid_at(&err(&xml)).2.contains("boolean"));
}

#[test]
fn structural_problems_are_invalid() {
    // An attribute `a` of the root holding `child`.
    let attr = |child: &str| {
        format!(
            "<attributes xsi:type=\"C_SINGLE_ATTRIBUTE\"><rm_attribute_name>a</rm_attribute_name>{child}</attributes>"
        )
    };
    let cases = [
        (
            attr("<children xsi:type=\"C_WHATEVER\"><rm_type_name>X</rm_type_name></children>"),
            "unknown constraint object type",
        ),
        (
            "<attributes xsi:type=\"C_ODD_ATTRIBUTE\"><rm_attribute_name>a</rm_attribute_name></attributes>".to_owned(),
            "unknown attribute type",
        ),
        (
            attr(&format!("<children xsi:type=\"C_COMPLEX_OBJECT\">{}</children>", occ(1, 1))),
            "without rm_type_name",
        ),
        ("<attributes xsi:type=\"C_SINGLE_ATTRIBUTE\"/>".to_owned(), "without rm_attribute_name"),
        (
            attr("<children xsi:type=\"C_ARCHETYPE_ROOT\"><rm_type_name>X</rm_type_name></children>"),
            "without archetype_id",
        ),
        (
            attr("<children xsi:type=\"ARCHETYPE_INTERNAL_REF\"><rm_type_name>X</rm_type_name></children>"),
            "without target_path",
        ),
        (
            attr("<children xsi:type=\"CONSTRAINT_REF\"><rm_type_name>X</rm_type_name></children>"),
            "without reference",
        ),
        (
            attr("<children xsi:type=\"C_PRIMITIVE_OBJECT\"><rm_type_name>STRING</rm_type_name></children>"),
            "without item",
        ),
        (
            attr("<children xsi:type=\"C_PRIMITIVE_OBJECT\"><rm_type_name>STRING</rm_type_name><item xsi:type=\"C_FOO\"/></children>"),
            "unknown primitive type",
        ),
        (
            attr("<children xsi:type=\"C_DV_ORDINAL\"><rm_type_name>DV_ORDINAL</rm_type_name><list><symbol/></list></children>"),
            "DV_ORDINAL without value",
        ),
        (
            attr("<children xsi:type=\"C_ARCHETYPE_ROOT\"><rm_type_name>X</rm_type_name><term_definitions><items id=\"text\">t</items></term_definitions></children>"),
            "term_definitions without code",
        ),
    ];
    for (body, expected) in cases {
        let e = err(&opt(&body));
        let (line, column, message) = invalid_at(&e);
        assert!(
            message.contains(expected),
            "{expected:?} not in {message:?}"
        );
        assert!(line >= 8 && column >= 1, "{line}:{column} {message}");
    }
}

#[test]
fn errors_display_line_and_column() {
    let e = err("<template>\n<concept>x</concpt></template>");
    let text = e.to_string();
    assert!(
        text.starts_with("OPT is not well-formed XML at line 2, column "),
        "{text}"
    );
}

#[test]
fn element_errors_point_at_the_start_tag() {
    let xml = "<template><template_id><value>x</value></template_id>\n<definition>\n<rm_type_name>COMPOSITION</rm_type_name>\n    <attributes xsi:type=\"C_SINGLE_ATTRIBUTE\"/>\n</definition></template>";
    let e = err(xml);
    let (line, column, message) = invalid_at(&e);
    assert!(message.contains("rm_attribute_name"), "{message}");
    assert_eq!((line, column), (4, 5));

    let xml = "<template><template_id><value>x</value></template_id>\n<definition>\n<rm_type_name>COMPOSITION</rm_type_name>\n  <attributes><rm_attribute_name>a</rm_attribute_name>\n      <children xsi:type=\"C_NOPE\">\n";
    let e = err(xml);
    let (line, column, message) = invalid_at(&e);
    assert!(message.contains("C_NOPE"), "{message}");
    assert_eq!((line, column), (5, 7));

    // Columns count characters, not bytes.
    let xml = "<template><template_id><value>x</value></template_id>\n<definition>\n<rm_type_name>Ä</rm_type_name><attributes><rm_attribute_name>a</rm_attribute_name><children/>";
    let e = err(xml);
    let (line, column, message) = invalid_at(&e);
    assert!(message.contains("rm_type_name"), "{message}");
    assert_eq!((line, column), (3, 83));
}
