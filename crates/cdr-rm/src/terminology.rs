//! The openEHR terminology groups the RM binds attributes to (codes with English rubrics), and
//! simple checks of external code sets.

/// "composition category".
pub const COMPOSITION_CATEGORY: &[(&str, &str)] =
    &[("431", "persistent"), ("435", "episodic"), ("433", "event")];
/// "setting".
pub const SETTING: &[(&str, &str)] = &[
    ("225", "home"),
    ("227", "emergency care"),
    ("228", "primary medical care"),
    ("229", "primary nursing care"),
    ("230", "primary allied health care"),
    ("231", "midwifery care"),
    ("232", "secondary medical care"),
    ("233", "secondary nursing care"),
    ("234", "secondary allied health care"),
    ("235", "complementary health care"),
    ("236", "dental care"),
    ("237", "nursing home care"),
    ("238", "other care"),
];
/// "null flavours".
pub const NULL_FLAVOURS: &[(&str, &str)] = &[
    ("271", "no information"),
    ("253", "unknown"),
    ("272", "masked"),
    ("273", "not applicable"),
];
/// "instruction states".
pub const INSTRUCTION_STATES: &[(&str, &str)] = &[
    ("524", "initial"),
    ("526", "planned"),
    ("527", "postponed"),
    ("528", "cancelled"),
    ("529", "scheduled"),
    ("245", "active"),
    ("530", "suspended"),
    ("531", "aborted"),
    ("532", "completed"),
    ("533", "expired"),
];
/// "instruction transitions".
pub const INSTRUCTION_TRANSITIONS: &[(&str, &str)] = &[
    ("535", "initiate"),
    ("536", "plan step"),
    ("537", "postpone"),
    ("538", "restore"),
    ("166", "cancel"),
    ("542", "postponed step"),
    ("539", "schedule"),
    ("534", "scheduled step"),
    ("540", "start"),
    ("541", "do"),
    ("543", "active step"),
    ("544", "suspend"),
    ("545", "suspended step"),
    ("546", "resume"),
    ("547", "abort"),
    ("548", "finish"),
    ("549", "time out"),
    ("550", "notify aborted"),
    ("551", "notify completed"),
    ("552", "notify cancelled"),
];
/// "event math function".
pub const EVENT_MATH_FUNCTION: &[(&str, &str)] = &[
    ("145", "minimum"),
    ("144", "maximum"),
    ("267", "mode"),
    ("268", "median"),
    ("146", "mean"),
    ("147", "change"),
    ("148", "total"),
    ("149", "variation"),
    ("521", "decrease"),
    ("522", "increase"),
    ("640", "actual"),
];
/// "participation mode".
pub const PARTICIPATION_MODE: &[(&str, &str)] = &[
    ("193", "not specified"),
    ("216", "face-to-face communication"),
    ("223", "interpreted face-to-face communication"),
    ("217", "signing (face-to-face)"),
    ("195", "live audiovisual; videoconference; videophone"),
    ("198", "videoconferencing"),
    ("197", "videophone"),
    ("218", "signing over video"),
    ("224", "interpreted video communication"),
    ("194", "asynchronous audiovisual; recorded video"),
    ("196", "recorded video"),
    (
        "202",
        "live audio-only; telephone; internet phone; teleconference",
    ),
    ("204", "telephone"),
    ("203", "teleconference"),
    ("205", "internet telephone"),
    ("222", "interpreted audio-only"),
    ("199", "asynchronous audio-only; dictated; voice mail"),
    ("200", "dictated"),
    ("201", "voice-mail"),
    (
        "212",
        "live text-only; internet chat; SMS chat; interactive written note",
    ),
    ("213", "internet chat"),
    ("214", "SMS chat"),
    ("215", "interactive written note"),
    (
        "206",
        "asynchronous text; email; fax; letter; handwritten note; SMS message",
    ),
    ("211", "handwritten note"),
    ("210", "printed/typed letter"),
    ("207", "email"),
    ("208", "facsimile/telefax"),
    ("221", "translated text"),
    ("209", "SMS message"),
    ("219", "physically present"),
    ("220", "physically remote"),
];
/// "subject relationship".
pub const SUBJECT_RELATIONSHIP: &[(&str, &str)] = &[
    ("0", "self"),
    ("3", "foetus"),
    ("10", "mother"),
    ("9", "father"),
    ("6", "donor"),
    ("253", "unknown"),
    ("261", "adopted daughter"),
    ("260", "adopted son"),
    ("259", "adoptive father"),
    ("258", "adoptive mother"),
    ("256", "biological father"),
    ("255", "biological mother"),
    ("23", "brother"),
    ("28", "child"),
    ("265", "cohabitee"),
    ("257", "cousin"),
    ("29", "daughter"),
    ("264", "guardian"),
    ("39", "maternal aunt"),
    ("8", "maternal grandfather"),
    ("7", "maternal grandmother"),
    ("38", "maternal uncle"),
    ("189", "neonate"),
    ("254", "parent"),
    ("22", "partner/spouse"),
    ("41", "paternal aunt"),
    ("36", "paternal grandfather"),
    ("37", "paternal grandmother"),
    ("40", "paternal uncle"),
    ("27", "sibling"),
    ("24", "sister"),
    ("31", "son"),
    ("263", "step father"),
    ("262", "step mother"),
    ("25", "step or half brother"),
    ("26", "step or half sister"),
];
/// "term mapping purpose".
pub const TERM_MAPPING_PURPOSE: &[(&str, &str)] = &[
    ("669", "public health"),
    ("670", "reimbursement"),
    ("671", "research study"),
];
/// "audit change type".
pub const AUDIT_CHANGE_TYPE: &[(&str, &str)] = &[
    ("249", "creation"),
    ("250", "amendment"),
    ("251", "modification"),
    ("252", "synthesis"),
    ("523", "deleted"),
    ("666", "attestation"),
    ("253", "unknown"),
];
/// "version lifecycle state".
pub const VERSION_LIFECYCLE_STATE: &[(&str, &str)] = &[
    ("532", "complete"),
    ("553", "incomplete"),
    ("523", "deleted"),
];
/// "attestation reason".
pub const ATTESTATION_REASON: &[(&str, &str)] = &[("240", "signed"), ("648", "witnessed")];
/// Normal statuses (code set "normal statuses").
pub const NORMAL_STATUSES: &[&str] = &["HHH", "HH", "H", "N", "L", "LL", "LLL"];
/// `DV_QUANTIFIED.magnitude_status` values.
pub const MAGNITUDE_STATUS: &[&str] = &["=", "<", ">", "<=", ">=", "~"];
/// `TERM_MAPPING.match` values.
pub const MAPPING_MATCH: &[&str] = &[">", "=", "<", "?"];

/// Which openEHR group, if any, the RM binds `attribute` of `rm_type` to.
pub fn openehr_group(
    rm_type: &str,
    attribute: &str,
) -> Option<(&'static str, &'static [(&'static str, &'static str)])> {
    Some(match (rm_type, attribute) {
        ("COMPOSITION", "category") => ("composition category", COMPOSITION_CATEGORY),
        ("EVENT_CONTEXT", "setting") => ("setting", SETTING),
        ("ELEMENT", "null_flavour") => ("null flavours", NULL_FLAVOURS),
        ("ISM_TRANSITION", "current_state") => ("instruction states", INSTRUCTION_STATES),
        ("ISM_TRANSITION", "transition") => ("instruction transitions", INSTRUCTION_TRANSITIONS),
        ("INTERVAL_EVENT", "math_function") => ("event math function", EVENT_MATH_FUNCTION),
        ("PARTICIPATION", "mode") => ("participation mode", PARTICIPATION_MODE),
        ("PARTY_RELATED", "relationship") => ("subject relationship", SUBJECT_RELATIONSHIP),
        ("TERM_MAPPING", "purpose") => ("term mapping purpose", TERM_MAPPING_PURPOSE),
        ("AUDIT_DETAILS" | "ATTESTATION", "change_type") => {
            ("audit change type", AUDIT_CHANGE_TYPE)
        }
        ("ORIGINAL_VERSION", "lifecycle_state") => {
            ("version lifecycle state", VERSION_LIFECYCLE_STATE)
        }
        ("ATTESTATION", "reason") => ("attestation reason", ATTESTATION_REASON),
        _ => return None,
    })
}

/// Whether `code` looks like an ISO 639-1 language code (`en`, optionally `en-GB`).
pub fn is_language_code(code: &str) -> bool {
    let b = code.as_bytes();
    (b.len() == 2 || (b.len() == 5 && b[2] == b'-' && b[3..].iter().all(u8::is_ascii_alphabetic)))
        && b[..2].iter().all(u8::is_ascii_lowercase)
}

/// Whether `code` looks like an ISO 3166-1 alpha-2 territory code.
pub fn is_territory_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|c| c.is_ascii_uppercase())
}

/// The English rubric of `code` in a group, if the code belongs to it.
pub fn rubric(group: &[(&'static str, &'static str)], code: &str) -> Option<&'static str> {
    group.iter().find(|(c, _)| *c == code).map(|(_, r)| *r)
}
