//! Validation issues: what is wrong, where (instance and archetype paths), and a stable code.

use serde::Serialize;

/// A stable, snake_case identifier of the violated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Constraint {
    /// The composition names another template than the one it is validated against.
    TemplateMismatch,
    /// The root archetype differs from the template's root archetype.
    ArchetypeMismatch,
    /// The RM type does not conform to the type the template allows.
    RmTypeMismatch,
    /// No constraint in the template has this node id at this place.
    UnknownNode,
    /// An archetype root's `archetype_details/archetype_id` differs from its node id.
    ArchetypeDetailsMismatch,
    /// A filled slot holds an archetype the slot does not allow.
    SlotNotAllowed,
    /// A required attribute (template existence) is absent.
    AttributeMissing,
    /// An attribute the template forbids is present.
    AttributeNotAllowed,
    /// A container has too few or too many members.
    Cardinality,
    /// Fewer members match a constraint than its occurrences require.
    OccurrencesTooFew,
    /// More members match a constraint than its occurrences allow.
    OccurrencesTooMany,
    /// A string is not in the allowed list.
    StringNotAllowed,
    /// A string does not match the required pattern.
    PatternMismatch,
    /// A number is outside the allowed range or list.
    NumberNotAllowed,
    /// A boolean value is not allowed.
    BooleanNotAllowed,
    /// A date, time or date-time value is not valid ISO 8601.
    InvalidTemporal,
    /// A date/time value's precision violates the template's pattern or zone rule.
    TemporalPattern,
    /// A date/time or duration value is outside the allowed range.
    TemporalOutOfRange,
    /// A duration is not valid ISO 8601.
    InvalidDuration,
    /// A DV_URI or DV_EHR_URI value is not a URI (RFC 3986).
    InvalidUri,
    /// A duration uses designators the template does not allow.
    DurationPattern,
    /// A code's terminology differs from the one the template requires.
    TerminologyMismatch,
    /// A code is not in the template's list.
    CodeNotAllowed,
    /// A local code is not defined by its archetype.
    UnknownLocalCode,
    /// A code is not in the openEHR terminology group the RM binds the attribute to.
    InvalidCode,
    /// Quantity units the template does not list.
    UnitNotAllowed,
    /// Quantity magnitude outside every allowed interval for its units.
    MagnitudeOutOfRange,
    /// Quantity precision not allowed.
    PrecisionNotAllowed,
    /// An ordinal value/symbol pair not in the template's list, or a symbol whose text is not
    /// the template's term for its code.
    OrdinalNotAllowed,
    /// An attribute the RM requires is absent.
    RmMandatoryMissing,
    /// An RM invariant is violated.
    RmInvariant,
}

impl Constraint {
    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            Constraint::TemplateMismatch => "template_mismatch",
            Constraint::ArchetypeMismatch => "archetype_mismatch",
            Constraint::RmTypeMismatch => "rm_type_mismatch",
            Constraint::UnknownNode => "unknown_node",
            Constraint::ArchetypeDetailsMismatch => "archetype_details_mismatch",
            Constraint::SlotNotAllowed => "slot_not_allowed",
            Constraint::AttributeMissing => "attribute_missing",
            Constraint::AttributeNotAllowed => "attribute_not_allowed",
            Constraint::Cardinality => "cardinality",
            Constraint::OccurrencesTooFew => "occurrences_too_few",
            Constraint::OccurrencesTooMany => "occurrences_too_many",
            Constraint::StringNotAllowed => "string_not_allowed",
            Constraint::PatternMismatch => "pattern_mismatch",
            Constraint::NumberNotAllowed => "number_not_allowed",
            Constraint::BooleanNotAllowed => "boolean_not_allowed",
            Constraint::InvalidTemporal => "invalid_temporal",
            Constraint::TemporalPattern => "temporal_pattern",
            Constraint::TemporalOutOfRange => "temporal_out_of_range",
            Constraint::InvalidDuration => "invalid_duration",
            Constraint::InvalidUri => "invalid_uri",
            Constraint::DurationPattern => "duration_pattern",
            Constraint::TerminologyMismatch => "terminology_mismatch",
            Constraint::CodeNotAllowed => "code_not_allowed",
            Constraint::UnknownLocalCode => "unknown_local_code",
            Constraint::InvalidCode => "invalid_code",
            Constraint::UnitNotAllowed => "unit_not_allowed",
            Constraint::MagnitudeOutOfRange => "magnitude_out_of_range",
            Constraint::PrecisionNotAllowed => "precision_not_allowed",
            Constraint::OrdinalNotAllowed => "ordinal_not_allowed",
            Constraint::RmMandatoryMissing => "rm_mandatory_missing",
            Constraint::RmInvariant => "rm_invariant",
        }
    }
}

impl Constraint {
    /// Whether the issue is a literal that does not parse as its RM type at all (an ISO 8601
    /// date, time, date-time or duration, a URI), as opposed to a value that parses but breaks
    /// a rule. Callers may treat such data as malformed rather than invalid.
    pub fn is_malformed_literal(self) -> bool {
        matches!(
            self,
            Constraint::InvalidTemporal | Constraint::InvalidDuration | Constraint::InvalidUri
        )
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One violation found in a composition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationIssue {
    /// Instance path in the canonical document, with 0-based indexes into lists, e.g.
    /// `/content[0]/data/events[0]/data/items[1]/value/magnitude`.
    pub path: String,
    /// Archetype (AQL-style) path of the constraint involved, e.g.
    /// `/content[openEHR-EHR-OBSERVATION.blood_pressure.v2]/data[at0001]/…/value`.
    pub archetype_path: String,
    /// The violated rule.
    pub constraint: Constraint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ValidationIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} [{}]", self.path, self.message, self.constraint)
    }
}
