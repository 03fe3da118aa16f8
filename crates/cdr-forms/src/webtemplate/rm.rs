//! Which RM attributes a web template shows, where, and how.
//!
//! A web template lists, besides the nodes the template constrains, the RM attributes a form
//! must (or usually does) fill: `language`, `subject`, `time`, `context/start_time`, … Each RM
//! type has a fixed layout: attributes shown before the template's own attributes (`leading`)
//! and after them (`trailing`), in the order published web templates use. An attribute of the
//! layout is shown whether or not the template constrains it; when it does, the template's
//! constraint supplies the node.

/// One RM attribute shown by default.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RmAttribute {
    pub name: &'static str,
    /// The RM type of the attribute's node.
    pub rm_type: &'static str,
    pub min: i64,
    pub max: i64,
    /// Filled from `ctx/*` fields by FLAT converters.
    pub in_context: bool,
}

const fn attr(
    name: &'static str,
    rm_type: &'static str,
    min: i64,
    in_context: bool,
) -> RmAttribute {
    RmAttribute {
        name,
        rm_type,
        min,
        max: 1,
        in_context,
    }
}

/// The attributes of an RM type shown before and after the template's own.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    pub leading: &'static [RmAttribute],
    pub trailing: &'static [RmAttribute],
}

const ENTRY: &[RmAttribute] = &[
    attr("language", "CODE_PHRASE", 1, true),
    attr("encoding", "CODE_PHRASE", 1, true),
    attr("subject", "PARTY_PROXY", 1, true),
];

/// The layout of `rm_type` (generic parameters ignored); empty for types with none.
pub(crate) fn layout(rm_type: &str) -> Layout {
    const COMPOSITION_LEADING: &[RmAttribute] = &[attr("context", "EVENT_CONTEXT", 0, false)];
    const COMPOSITION: &[RmAttribute] = &[
        attr("category", "DV_CODED_TEXT", 1, true),
        attr("language", "CODE_PHRASE", 1, true),
        attr("territory", "CODE_PHRASE", 1, true),
        attr("composer", "PARTY_PROXY", 1, true),
    ];
    const EVENT_CONTEXT: &[RmAttribute] = &[
        attr("start_time", "DV_DATE_TIME", 1, true),
        attr("setting", "DV_CODED_TEXT", 1, true),
    ];
    const INSTRUCTION: &[RmAttribute] = &[
        attr("expiry_time", "DV_DATE_TIME", 0, false),
        attr("narrative", "DV_TEXT", 1, true),
        attr("language", "CODE_PHRASE", 1, true),
        attr("encoding", "CODE_PHRASE", 1, true),
        attr("subject", "PARTY_PROXY", 1, true),
    ];
    const ACTIVITY: &[RmAttribute] = &[
        attr("timing", "DV_PARSABLE", 0, true),
        attr("action_archetype_id", "STRING", 1, true),
    ];
    const ACTION_LEADING: &[RmAttribute] = &[attr("ism_transition", "ISM_TRANSITION", 1, true)];
    const ACTION: &[RmAttribute] = &[
        attr("time", "DV_DATE_TIME", 1, true),
        attr("language", "CODE_PHRASE", 1, true),
        attr("encoding", "CODE_PHRASE", 1, true),
        attr("subject", "PARTY_PROXY", 1, true),
    ];
    const EVENT: &[RmAttribute] = &[attr("time", "DV_DATE_TIME", 1, true)];
    const INTERVAL_EVENT: &[RmAttribute] = &[
        attr("width", "DV_DURATION", 1, true),
        attr("math_function", "DV_CODED_TEXT", 1, true),
        attr("time", "DV_DATE_TIME", 1, true),
    ];
    const ISM_TRANSITION: &[RmAttribute] = &[
        attr("current_state", "DV_CODED_TEXT", 1, true),
        attr("transition", "DV_CODED_TEXT", 0, true),
        attr("careflow_step", "DV_CODED_TEXT", 0, true),
    ];
    match cdr_rm::meta::base_type_name(rm_type) {
        "COMPOSITION" => Layout {
            leading: COMPOSITION_LEADING,
            trailing: COMPOSITION,
        },
        "EVENT_CONTEXT" => Layout {
            leading: &[],
            trailing: EVENT_CONTEXT,
        },
        "OBSERVATION" | "EVALUATION" | "ADMIN_ENTRY" => Layout {
            leading: &[],
            trailing: ENTRY,
        },
        "INSTRUCTION" => Layout {
            leading: &[],
            trailing: INSTRUCTION,
        },
        "ACTIVITY" => Layout {
            leading: &[],
            trailing: ACTIVITY,
        },
        "ACTION" => Layout {
            leading: ACTION_LEADING,
            trailing: ACTION,
        },
        "EVENT" | "POINT_EVENT" => Layout {
            leading: &[],
            trailing: EVENT,
        },
        "INTERVAL_EVENT" => Layout {
            leading: &[],
            trailing: INTERVAL_EVENT,
        },
        "ISM_TRANSITION" => Layout {
            leading: &[],
            trailing: ISM_TRANSITION,
        },
        _ => Layout::default(),
    }
}

impl Layout {
    /// The layout entry for `name`, if any.
    pub(crate) fn find(&self, name: &str) -> Option<&'static RmAttribute> {
        self.leading
            .iter()
            .chain(self.trailing)
            .find(|a| a.name == name)
    }
}

/// RM attributes a template may constrain but a web template never shows as nodes (their
/// values are derived or set from other nodes).
pub(crate) fn is_hidden_attribute(name: &str) -> bool {
    matches!(
        name,
        "name"
            | "archetype_node_id"
            | "origin"
            | "media_type"
            | "upper_included"
            | "lower_included"
            | "upper_unbounded"
            | "lower_unbounded"
    )
}

/// Whether an RM type is a LOCATABLE (has `archetype_node_id` and `name`).
pub(crate) fn is_locatable(rm_type: &str) -> bool {
    matches!(
        cdr_rm::meta::base_type_name(rm_type),
        "COMPOSITION"
            | "SECTION"
            | "OBSERVATION"
            | "EVALUATION"
            | "INSTRUCTION"
            | "ACTION"
            | "ADMIN_ENTRY"
            | "GENERIC_ENTRY"
            | "ACTIVITY"
            | "HISTORY"
            | "EVENT"
            | "POINT_EVENT"
            | "INTERVAL_EVENT"
            | "ITEM_TREE"
            | "ITEM_LIST"
            | "ITEM_SINGLE"
            | "ITEM_TABLE"
            | "ITEM_STRUCTURE"
            | "CLUSTER"
            | "ELEMENT"
            | "FOLDER"
            | "EHR_STATUS"
            | "PARTY_IDENTITY"
            | "CONTACT"
            | "ADDRESS"
            | "PARTICIPATION"
    )
}

/// Structural levels a web template leaves out (their children take their place).
pub(crate) fn is_structure(rm_type: &str) -> bool {
    matches!(
        cdr_rm::meta::base_type_name(rm_type),
        "HISTORY" | "ITEM_TREE" | "ITEM_LIST" | "ITEM_SINGLE" | "ITEM_TABLE" | "ITEM_STRUCTURE"
    )
}

/// Whether an RM type is an EVENT.
pub(crate) fn is_event(rm_type: &str) -> bool {
    matches!(
        cdr_rm::meta::base_type_name(rm_type),
        "EVENT" | "POINT_EVENT" | "INTERVAL_EVENT"
    )
}

/// The data value types an unconstrained ELEMENT value may take, in the order web templates
/// list them.
pub(crate) const ANY_VALUE_TYPES: &[&str] = &[
    "DV_CODED_TEXT",
    "DV_TEXT",
    "DV_MULTIMEDIA",
    "DV_PARSABLE",
    "DV_STATE",
    "DV_BOOLEAN",
    "DV_IDENTIFIER",
    "DV_URI",
    "DV_EHR_URI",
    "DV_DURATION",
    "DV_QUANTITY",
    "DV_COUNT",
    "DV_PROPORTION",
    "DV_DATE_TIME",
    "DV_DATE",
    "DV_TIME",
    "DV_ORDINAL",
];

/// The id of one alternative of an ELEMENT value choice: `DV_QUANTITY` → `quantity_value`,
/// `DV_INTERVAL<DV_COUNT>` → `interval_of_count_value`.
pub(crate) fn choice_id(rm_type: &str) -> String {
    let t = rm_type.trim();
    let lower = |s: &str| s.strip_prefix("DV_").unwrap_or(s).to_ascii_lowercase();
    if let Some(inner) = t
        .strip_prefix("DV_INTERVAL<")
        .and_then(|r| r.strip_suffix('>'))
    {
        return format!("interval_of_{}_value", lower(inner.trim()));
    }
    format!("{}_value", lower(t))
}
