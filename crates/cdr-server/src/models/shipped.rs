//! The sources of the models cdr ships, built into the binary: the repository's `archetypes/`
//! and `templates/` (a test keeps these lists equal to the folders).

/// Every archetype of `archetypes/`: its path in the repository and its ADL text.
pub const ARCHETYPES: &[(&str, &str)] = &[
    (
        "archetypes/composition/openEHR-EHR-COMPOSITION.cdr_care_plan.v0.adl",
        include_str!("../../../../archetypes/composition/openEHR-EHR-COMPOSITION.cdr_care_plan.v0.adl"),
    ),
    (
        "archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_access_information.v0.adl",
        include_str!("../../../../archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_access_information.v0.adl"),
    ),
    (
        "archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_key_contact.v0.adl",
        include_str!("../../../../archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_key_contact.v0.adl"),
    ),
    (
        "archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_plan_agreement.v0.adl",
        include_str!("../../../../archetypes/entry/admin_entry/openEHR-EHR-ADMIN_ENTRY.cdr_plan_agreement.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_about_me.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_about_me.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_advance_decision.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_advance_decision.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_allergy.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_allergy.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_care_need.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_care_need.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_care_preferences.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_care_preferences.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_clinical_background.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_clinical_background.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_contingency_plan.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_contingency_plan.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_cpr_decision.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_cpr_decision.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_diagnosis.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_diagnosis.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_goal.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_goal.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_safeguarding.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_safeguarding.v0.adl"),
    ),
    (
        "archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_treatment_recommendations.v0.adl",
        include_str!("../../../../archetypes/entry/evaluation/openEHR-EHR-EVALUATION.cdr_treatment_recommendations.v0.adl"),
    ),
    (
        "archetypes/entry/instruction/openEHR-EHR-INSTRUCTION.cdr_medication_order.v0.adl",
        include_str!("../../../../archetypes/entry/instruction/openEHR-EHR-INSTRUCTION.cdr_medication_order.v0.adl"),
    ),
    (
        "archetypes/section/openEHR-EHR-SECTION.cdr_care_plan_section.v0.adl",
        include_str!("../../../../archetypes/section/openEHR-EHR-SECTION.cdr_care_plan_section.v0.adl"),
    ),
];

/// Every template of `templates/`: its path in the repository and its OET text.
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "templates/care_and_support_plan/care_and_support_plan.oet",
        include_str!("../../../../templates/care_and_support_plan/care_and_support_plan.oet"),
    ),
    (
        "templates/emergency_care_and_treatment_plan/emergency_care_and_treatment_plan.oet",
        include_str!("../../../../templates/emergency_care_and_treatment_plan/emergency_care_and_treatment_plan.oet"),
    ),
    (
        "templates/urgent_care_plan/urgent_care_plan.oet",
        include_str!("../../../../templates/urgent_care_plan/urgent_care_plan.oet"),
    ),
];

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The repository paths of the files below `folder` with extension `ext`.
    fn files(folder: &str, ext: &str) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        super::super::files_below(&root.join(folder), ext)
            .unwrap()
            .iter()
            .map(|p| {
                let rel = p.strip_prefix(&root).unwrap();
                rel.to_string_lossy().replace('\\', "/")
            })
            .collect()
    }

    #[test]
    fn the_built_in_lists_are_the_folders() {
        let names = |list: &[(&str, &str)]| -> Vec<String> {
            list.iter().map(|(n, _)| n.to_string()).collect()
        };
        assert_eq!(names(super::ARCHETYPES), files("archetypes", "adl"));
        assert_eq!(names(super::TEMPLATES), files("templates", "oet"));
    }
}
