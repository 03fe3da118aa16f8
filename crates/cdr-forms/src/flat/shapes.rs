//! How RM objects look in FLAT: the `|suffix` attributes of each RM type and the `/segment`s
//! that reach nested RM objects the web template does not list (`_uid`, `_link:0`,
//! `_normal_range/lower`, `_feeder_audit/…`). One table serves both directions.

use crate::webtemplate::WebTemplateNode;

/// RM functions a template may constrain but an instance does not carry (`EVENT.offset`, the
/// event's time minus the history's origin). A web template lists them; FLAT refuses values for
/// them (the RM computes them) and examples leave them out.
pub(crate) const COMPUTED: &[&str] = &["offset"];

/// Whether `node` is one of the [`COMPUTED`] RM functions.
pub(crate) fn is_computed(node: &WebTemplateNode) -> bool {
    node.steps
        .last()
        .is_some_and(|s| COMPUTED.contains(&s.attribute.as_str()))
}

/// The units of a DV_DURATION as the web template's inputs (and FLAT suffixes) name them, in
/// their order: (suffix, ISO 8601 designator, whether it is in the time part).
pub(crate) const DURATION_UNITS: &[(&str, char, bool)] = &[
    ("year", 'Y', false),
    ("month", 'M', false),
    ("day", 'D', false),
    ("week", 'W', false),
    ("hour", 'H', true),
    ("minute", 'M', true),
    ("second", 'S', true),
];

/// The JSON type of a FLAT leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    Str,
    Int,
    Real,
    Bool,
}

/// A FLAT attribute: `|suffix` (`""`: the bare value) ↔ the JSON value at `path` below the
/// object. Each step is (attribute, `_type` of the object created there); the last step's type
/// is empty. An attribute written `name[]` is a list whose element the suffix's index selects
/// (`|identifiers_id:1`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub suffix: &'static str,
    pub path: &'static [(&'static str, &'static str)],
    pub leaf: Leaf,
}

/// A nested RM object reached with `/segment` (`:n` when `multiple`). `rm_type` `"*"` means the
/// data value type of the enclosing object (normal ranges, interval bounds); `attribute` may
/// go through an intermediate object (`range/lower`, typed by `via`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Nested {
    pub segment: &'static str,
    pub attribute: &'static str,
    /// An intermediate object (attribute, `_type`) the attribute belongs to, if any.
    pub via: Option<(&'static str, &'static str)>,
    pub rm_type: &'static str,
    pub multiple: bool,
}

/// A value set on an object when the object exists but the value is missing (terminology ids
/// FLAT leaves out). Not written back to FLAT when equal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Implied {
    pub path: &'static [(&'static str, &'static str)],
    pub value: &'static str,
}

const fn f(
    suffix: &'static str,
    path: &'static [(&'static str, &'static str)],
    leaf: Leaf,
) -> Field {
    Field { suffix, path, leaf }
}

const fn n(
    segment: &'static str,
    attribute: &'static str,
    rm_type: &'static str,
    multiple: bool,
) -> Nested {
    Nested {
        segment,
        attribute,
        via: None,
        rm_type,
        multiple,
    }
}

const fn via(
    segment: &'static str,
    via: (&'static str, &'static str),
    attribute: &'static str,
    rm_type: &'static str,
) -> Nested {
    Nested {
        segment,
        attribute,
        via: Some(via),
        rm_type,
        multiple: false,
    }
}

use Leaf::*;

const CODE: &[(&str, &str)] = &[("defining_code", "CODE_PHRASE"), ("code_string", "")];
const TERMINOLOGY: &[(&str, &str)] = &[
    ("defining_code", "CODE_PHRASE"),
    ("terminology_id", "TERMINOLOGY_ID"),
    ("value", ""),
];

const ORDERED: &[Field] = &[f(
    "normal_status",
    &[("normal_status", "CODE_PHRASE"), ("code_string", "")],
    Str,
)];
const QUANTIFIED: &[Field] = &[
    f("magnitude_status", &[("magnitude_status", "")], Str),
    f("accuracy", &[("accuracy", "")], Real),
    f("accuracy_is_percent", &[("accuracy_is_percent", "")], Bool),
];
const NORMAL_STATUS: Implied = Implied {
    path: &[
        ("normal_status", "CODE_PHRASE"),
        ("terminology_id", "TERMINOLOGY_ID"),
        ("value", ""),
    ],
    value: "openehr_normal_statuses",
};
const RANGES: &[Nested] = &[
    n("_normal_range", "normal_range", "*", false),
    n(
        "_other_reference_ranges",
        "other_reference_ranges",
        "REFERENCE_RANGE",
        true,
    ),
];
const TEXT_NESTED: &[Nested] = &[n("_mapping", "mappings", "TERM_MAPPING", true)];
const LANGUAGE_ENCODING: &[Nested] = &[
    n("_language", "language", "CODE_PHRASE", false),
    n("_encoding", "encoding", "CODE_PHRASE", false),
];
const PARTY_FIELDS: &[Field] = &[
    f("name", &[("name", "")], Str),
    f(
        "id",
        &[
            ("external_ref", "PARTY_REF"),
            ("id", "GENERIC_ID"),
            ("value", ""),
        ],
        Str,
    ),
    f(
        "id_scheme",
        &[
            ("external_ref", "PARTY_REF"),
            ("id", "GENERIC_ID"),
            ("scheme", ""),
        ],
        Str,
    ),
    f(
        "id_namespace",
        &[("external_ref", "PARTY_REF"), ("namespace", "")],
        Str,
    ),
    f(
        "id_type",
        &[("external_ref", "PARTY_REF"), ("type", "")],
        Str,
    ),
    f(
        "identifiers_id",
        &[("identifiers[]", "DV_IDENTIFIER"), ("id", "")],
        Str,
    ),
    f(
        "identifiers_issuer",
        &[("identifiers[]", "DV_IDENTIFIER"), ("issuer", "")],
        Str,
    ),
    f(
        "identifiers_assigner",
        &[("identifiers[]", "DV_IDENTIFIER"), ("assigner", "")],
        Str,
    ),
    f(
        "identifiers_type",
        &[("identifiers[]", "DV_IDENTIFIER"), ("type", "")],
        Str,
    ),
];
const PARTY_NESTED: &[Nested] = &[
    n("_identifier", "identifiers", "DV_IDENTIFIER", true),
    n("relationship", "relationship", "DV_CODED_TEXT", false),
];

/// The FLAT attributes of an RM type.
pub(crate) fn fields(rm_type: &str) -> Vec<Field> {
    let own: &[Field] = match base(rm_type) {
        "DV_TEXT" => &[
            f("", &[("value", "")], Str),
            f("value", &[("value", "")], Str),
            f("formatting", &[("formatting", "")], Str),
        ],
        "DV_CODED_TEXT" => &[
            f("code", CODE, Str),
            f("value", &[("value", "")], Str),
            f("terminology", TERMINOLOGY, Str),
            f(
                "preferred_term",
                &[("defining_code", "CODE_PHRASE"), ("preferred_term", "")],
                Str,
            ),
            f("formatting", &[("formatting", "")], Str),
            f("", &[("value", "")], Str),
        ],
        "CODE_PHRASE" => &[
            f("code", &[("code_string", "")], Str),
            f(
                "terminology",
                &[("terminology_id", "TERMINOLOGY_ID"), ("value", "")],
                Str,
            ),
            f("preferred_term", &[("preferred_term", "")], Str),
            f("", &[("code_string", "")], Str),
        ],
        "DV_QUANTITY" => &[
            f("magnitude", &[("magnitude", "")], Real),
            f("unit", &[("units", "")], Str),
            f("precision", &[("precision", "")], Int),
            f("units_system", &[("units_system", "")], Str),
            f("units_display_name", &[("units_display_name", "")], Str),
        ],
        "DV_COUNT" => &[
            f("", &[("magnitude", "")], Int),
            f("magnitude", &[("magnitude", "")], Int),
        ],
        "DV_PROPORTION" => &[
            f("numerator", &[("numerator", "")], Real),
            f("denominator", &[("denominator", "")], Real),
            f("type", &[("type", "")], Int),
            f("precision", &[("precision", "")], Int),
        ],
        "DV_ORDINAL" => &[
            f(
                "code",
                &[
                    ("symbol", "DV_CODED_TEXT"),
                    ("defining_code", "CODE_PHRASE"),
                    ("code_string", ""),
                ],
                Str,
            ),
            f("value", &[("symbol", "DV_CODED_TEXT"), ("value", "")], Str),
            f(
                "terminology",
                &[
                    ("symbol", "DV_CODED_TEXT"),
                    ("defining_code", "CODE_PHRASE"),
                    ("terminology_id", "TERMINOLOGY_ID"),
                    ("value", ""),
                ],
                Str,
            ),
            f("ordinal", &[("value", "")], Int),
            // The bare value: a term text (or ordinal) of the template's list.
            f("", &[("symbol", "DV_CODED_TEXT"), ("value", "")], Str),
            f(
                "terminology_id",
                &[
                    ("symbol", "DV_CODED_TEXT"),
                    ("defining_code", "CODE_PHRASE"),
                    ("terminology_id", "TERMINOLOGY_ID"),
                    ("value", ""),
                ],
                Str,
            ),
        ],
        "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" | "DV_DURATION" | "DV_URI" | "DV_EHR_URI" => &[
            f("", &[("value", "")], Str),
            f("value", &[("value", "")], Str),
        ],
        "DV_BOOLEAN" => &[
            f("", &[("value", "")], Bool),
            f("value", &[("value", "")], Bool),
        ],
        "DV_IDENTIFIER" => &[
            f("", &[("id", "")], Str),
            f("id", &[("id", "")], Str),
            f("issuer", &[("issuer", "")], Str),
            f("assigner", &[("assigner", "")], Str),
            f("type", &[("type", "")], Str),
        ],
        "DV_PARSABLE" => &[
            f("", &[("value", "")], Str),
            f("value", &[("value", "")], Str),
            f("formalism", &[("formalism", "")], Str),
        ],
        "DV_MULTIMEDIA" => &[
            f("", &[("uri", "DV_URI"), ("value", "")], Str),
            f(
                "mediatype",
                &[("media_type", "CODE_PHRASE"), ("code_string", "")],
                Str,
            ),
            f("size", &[("size", "")], Int),
            f("alternatetext", &[("alternate_text", "")], Str),
            f(
                "compression_algorithm",
                &[
                    ("compression_algorithm", "CODE_PHRASE"),
                    ("code_string", ""),
                ],
                Str,
            ),
            f("integrity_check", &[("integrity_check", "")], Str),
            f(
                "integrity_check_algorithm",
                &[
                    ("integrity_check_algorithm", "CODE_PHRASE"),
                    ("code_string", ""),
                ],
                Str,
            ),
            f("data", &[("data", "")], Str),
        ],
        "DV_INTERVAL" => &[
            f("lower_included", &[("lower_included", "")], Bool),
            f("upper_included", &[("upper_included", "")], Bool),
            f("lower_unbounded", &[("lower_unbounded", "")], Bool),
            f("upper_unbounded", &[("upper_unbounded", "")], Bool),
        ],
        "PARTY_PROXY" | "PARTY_IDENTIFIED" | "PARTY_RELATED" | "PARTY_SELF" => PARTY_FIELDS,
        "PARTICIPATION" => &[f(
            "function",
            &[("function", "DV_TEXT"), ("value", "")],
            Str,
        )],
        "LINK" => &[
            f("type", &[("type", "DV_TEXT"), ("value", "")], Str),
            f("meaning", &[("meaning", "DV_TEXT"), ("value", "")], Str),
            f("target", &[("target", "DV_EHR_URI"), ("value", "")], Str),
        ],
        "OBJECT_REF" => &[
            f("id", &[("id", "GENERIC_ID"), ("value", "")], Str),
            f("id_scheme", &[("id", "GENERIC_ID"), ("scheme", "")], Str),
            f("namespace", &[("namespace", "")], Str),
            f("type", &[("type", "")], Str),
        ],
        "INSTRUCTION_DETAILS" => &[
            f(
                "composition_uid",
                &[
                    ("instruction_id", "LOCATABLE_REF"),
                    ("id", "OBJECT_VERSION_ID"),
                    ("value", ""),
                ],
                Str,
            ),
            f(
                "path",
                &[("instruction_id", "LOCATABLE_REF"), ("path", "")],
                Str,
            ),
            f("activity_id", &[("activity_id", "")], Str),
        ],
        "FEEDER_AUDIT_DETAILS" => &[
            f("system_id", &[("system_id", "")], Str),
            f("version_id", &[("version_id", "")], Str),
            f("time", &[("time", "DV_DATE_TIME"), ("value", "")], Str),
        ],
        "HIER_OBJECT_ID" | "OBJECT_VERSION_ID" => &[f("", &[("value", "")], Str)],
        "TERM_MAPPING" => &[f("match", &[("match", "")], Str)],
        "REFERENCE_RANGE" => &[
            f(
                "lower_included",
                &[("range", "DV_INTERVAL"), ("lower_included", "")],
                Bool,
            ),
            f(
                "upper_included",
                &[("range", "DV_INTERVAL"), ("upper_included", "")],
                Bool,
            ),
            f(
                "lower_unbounded",
                &[("range", "DV_INTERVAL"), ("lower_unbounded", "")],
                Bool,
            ),
            f(
                "upper_unbounded",
                &[("range", "DV_INTERVAL"), ("upper_unbounded", "")],
                Bool,
            ),
        ],
        "INTERVAL_EVENT" | "POINT_EVENT" => &[f("sample_count", &[("sample_count", "")], Int)],
        "String" => &[f("", &[], Str)],
        _ => &[],
    };
    let mut out = own.to_vec();
    match base(rm_type) {
        "DV_QUANTITY" | "DV_PROPORTION" | "DV_DURATION" | "DV_COUNT" => {
            out.extend_from_slice(ORDERED);
            out.extend_from_slice(QUANTIFIED);
        }
        "DV_ORDINAL" => out.extend_from_slice(ORDERED),
        "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" => {
            out.extend_from_slice(ORDERED);
            out.push(QUANTIFIED[0]);
        }
        _ => {}
    }
    out
}

/// The object whose attributes an RM type's unknown suffixes are (a participation's
/// `|name`, `|id`, … are its performer's), as (attribute, `_type`).
pub(crate) fn delegate(rm_type: &str) -> Option<(&'static str, &'static str)> {
    match base(rm_type) {
        "PARTICIPATION" => Some(("performer", "PARTY_IDENTIFIED")),
        _ => None,
    }
}

/// Values implied when their object exists.
pub(crate) fn implied(rm_type: &str) -> &'static [Implied] {
    const MEDIA: &[Implied] = &[
        Implied {
            path: &[
                ("media_type", "CODE_PHRASE"),
                ("terminology_id", "TERMINOLOGY_ID"),
                ("value", ""),
            ],
            value: "IANA_media-types",
        },
        Implied {
            path: &[
                ("compression_algorithm", "CODE_PHRASE"),
                ("terminology_id", "TERMINOLOGY_ID"),
                ("value", ""),
            ],
            value: "openehr_compression_algorithms",
        },
        Implied {
            path: &[
                ("integrity_check_algorithm", "CODE_PHRASE"),
                ("terminology_id", "TERMINOLOGY_ID"),
                ("value", ""),
            ],
            value: "openehr_integrity_check_algorithms",
        },
    ];
    const ORDERED_ONLY: &[Implied] = &[NORMAL_STATUS];
    match base(rm_type) {
        "DV_QUANTITY" | "DV_PROPORTION" | "DV_DURATION" | "DV_COUNT" | "DV_ORDINAL"
        | "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" => ORDERED_ONLY,
        "DV_MULTIMEDIA" => MEDIA,
        "INSTRUCTION_DETAILS" => &[
            Implied {
                path: &[("instruction_id", "LOCATABLE_REF"), ("namespace", "")],
                value: "local",
            },
            Implied {
                path: &[("instruction_id", "LOCATABLE_REF"), ("type", "")],
                value: "COMPOSITION",
            },
        ],
        _ => &[],
    }
}

/// The nested objects (`/segment`) of an RM type.
pub(crate) fn nested(rm_type: &str) -> Vec<Nested> {
    let mut out: Vec<Nested> = Vec::new();
    let t = base(rm_type);
    if is_locatable(t) {
        out.extend_from_slice(&[
            n("_name", "name", "DV_TEXT", false),
            n("_uid", "uid", "HIER_OBJECT_ID", false),
            n("_link", "links", "LINK", true),
            n("_feeder_audit", "feeder_audit", "FEEDER_AUDIT", false),
        ]);
    }
    match t {
        "OBSERVATION" | "EVALUATION" | "INSTRUCTION" | "ACTION" | "ADMIN_ENTRY"
        | "GENERIC_ENTRY" => out.extend_from_slice(&[
            n(
                "_other_participation",
                "other_participations",
                "PARTICIPATION",
                true,
            ),
            n("_work_flow_id", "workflow_id", "OBJECT_REF", false),
            n("_guideline_id", "guideline_id", "OBJECT_REF", false),
            n("_provider", "provider", "PARTY_IDENTIFIED", false),
        ]),
        _ => {}
    }
    match t {
        "ACTION" => out.push(n(
            "_instruction_details",
            "instruction_details",
            "INSTRUCTION_DETAILS",
            false,
        )),
        "INSTRUCTION" => out.push(n("_wf_definition", "wf_definition", "DV_PARSABLE", false)),
        "EVENT_CONTEXT" => out.extend_from_slice(&[
            n("_end_time", "end_time", "DV_DATE_TIME", false),
            n("_location", "location", "String", false),
            n(
                "_health_care_facility",
                "health_care_facility",
                "PARTY_IDENTIFIED",
                false,
            ),
            n("_participation", "participations", "PARTICIPATION", true),
        ]),
        "ELEMENT" => out.extend_from_slice(&[
            n("_null_flavour", "null_flavour", "DV_CODED_TEXT", false),
            n("_null_reason", "null_reason", "DV_TEXT", false),
        ]),
        "DV_TEXT" | "DV_CODED_TEXT" => {
            out.extend_from_slice(TEXT_NESTED);
            out.extend_from_slice(LANGUAGE_ENCODING);
        }
        "DV_PARSABLE" => out.extend_from_slice(&[
            n("_language", "language", "CODE_PHRASE", false),
            n("_charset", "charset", "CODE_PHRASE", false),
        ]),
        "DV_MULTIMEDIA" => out.extend_from_slice(&[
            n("_language", "language", "CODE_PHRASE", false),
            n("_charset", "charset", "CODE_PHRASE", false),
            n("_thumbnail", "thumbnail", "DV_MULTIMEDIA", false),
        ]),
        "DV_QUANTITY" | "DV_PROPORTION" | "DV_DURATION" | "DV_COUNT" | "DV_ORDINAL" => {
            out.extend_from_slice(RANGES)
        }
        "DV_DATE_TIME" | "DV_DATE" | "DV_TIME" => {
            out.extend_from_slice(RANGES);
            out.push(n("_accuracy", "accuracy", "DV_DURATION", false));
        }
        "DV_INTERVAL" => out.extend_from_slice(&[
            n("lower", "lower", "*", false),
            n("upper", "upper", "*", false),
        ]),
        "REFERENCE_RANGE" => out.extend_from_slice(&[
            n("meaning", "meaning", "DV_TEXT", false),
            via("lower", ("range", "DV_INTERVAL"), "lower", "*"),
            via("upper", ("range", "DV_INTERVAL"), "upper", "*"),
        ]),
        "TERM_MAPPING" => out.extend_from_slice(&[
            n("target", "target", "CODE_PHRASE", false),
            n("purpose", "purpose", "DV_CODED_TEXT", false),
        ]),
        "PARTY_PROXY" | "PARTY_IDENTIFIED" | "PARTY_RELATED" => out.extend_from_slice(PARTY_NESTED),
        "PARTICIPATION" => out.push(via(
            "relationship",
            ("performer", "PARTY_RELATED"),
            "relationship",
            "DV_CODED_TEXT",
        )),
        "OBSERVATION" => out.push(via(
            "history_origin",
            ("data", "HISTORY"),
            "origin",
            "DV_DATE_TIME",
        )),
        "ISM_TRANSITION" => out.push(n("_reason", "reason", "DV_TEXT", true)),
        "POINT_EVENT" | "INTERVAL_EVENT" => out.extend_from_slice(&[
            n("width", "width", "DV_DURATION", false),
            n("math_function", "math_function", "DV_CODED_TEXT", false),
        ]),
        "FEEDER_AUDIT" => out.extend_from_slice(&[
            n(
                "originating_system_item_id",
                "originating_system_item_ids",
                "DV_IDENTIFIER",
                true,
            ),
            n(
                "feeder_system_item_id",
                "feeder_system_item_ids",
                "DV_IDENTIFIER",
                true,
            ),
            n(
                "originating_system_audit",
                "originating_system_audit",
                "FEEDER_AUDIT_DETAILS",
                false,
            ),
            n(
                "feeder_system_audit",
                "feeder_system_audit",
                "FEEDER_AUDIT_DETAILS",
                false,
            ),
            n("original_content", "original_content", "DV_PARSABLE", false),
            n(
                "original_content_multimedia",
                "original_content",
                "DV_MULTIMEDIA",
                false,
            ),
        ]),
        "FEEDER_AUDIT_DETAILS" => out.extend_from_slice(&[
            n("location", "location", "PARTY_IDENTIFIED", false),
            n("provider", "provider", "PARTY_IDENTIFIED", false),
            n("subject", "subject", "PARTY_IDENTIFIED", false),
        ]),
        _ => {}
    }
    out
}

/// The RM type without generic parameters.
pub(crate) fn base(rm_type: &str) -> &str {
    cdr_rm::meta::base_type_name(rm_type)
}

/// Whether an RM type is a LOCATABLE.
pub(crate) fn is_locatable(rm_type: &str) -> bool {
    cdr_rm::meta::conforms_to(rm_type, "LOCATABLE")
}

/// The concrete `_type` to write for a (possibly abstract or generic) constrained type.
pub(crate) fn concrete(rm_type: &str) -> &str {
    match base(rm_type) {
        "EVENT" => "POINT_EVENT",
        "ITEM_STRUCTURE" => "ITEM_TREE",
        "PARTY_PROXY" => "PARTY_IDENTIFIED",
        "OBJECT_REF" => "OBJECT_REF",
        b => b,
    }
}
