//! COMPOSITION and its content; EHR_STATUS and FOLDER.

use crate::{
    AnyDvText, AnyObjectRef, AnyPartyIdentified, CodePhrase, DvCodedText, DvDateTime, DvParsable,
    History, ItemStructure, ItemTree, LocatableRef, Participation, PartyProxy, PartySelf,
};

rm_struct! {
    /// COMPOSITION: the unit of commit of clinical content.
    locatable Composition = "COMPOSITION" {
        language "language": man CodePhrase,
        territory "territory": man CodePhrase,
        category "category": man DvCodedText,
        composer "composer": man PartyProxy,
        context "context": opt EventContext,
        content "content": list ContentItem,
    }
}
rm_struct! {
    /// EVENT_CONTEXT: the clinical session of a composition.
    EventContext = "EVENT_CONTEXT" {
        start_time "start_time": man DvDateTime,
        end_time "end_time": opt DvDateTime,
        location "location": opt String,
        setting "setting": man DvCodedText,
        other_context "other_context": opt ItemStructure,
        health_care_facility "health_care_facility": opt AnyPartyIdentified,
        participations "participations": list Participation,
    }
}
rm_struct! {
    /// SECTION: a heading grouping content.
    locatable Section = "SECTION" { items "items": list ContentItem }
}
rm_struct! {
    /// OBSERVATION.
    care_entry Observation = "OBSERVATION" {
        data "data": man History,
        state "state": opt Box<History>,
    }
}
rm_struct! {
    /// EVALUATION.
    care_entry Evaluation = "EVALUATION" {
        data "data": man ItemStructure,
    }
}
rm_struct! {
    /// INSTRUCTION.
    care_entry Instruction = "INSTRUCTION" {
        narrative "narrative": man AnyDvText,
        expiry_time "expiry_time": opt DvDateTime,
        wf_definition "wf_definition": opt DvParsable,
        activities "activities": list Activity,
    }
}
rm_struct! {
    /// ACTIVITY of an INSTRUCTION.
    locatable Activity = "ACTIVITY" {
        description "description": man ItemStructure,
        timing "timing": opt DvParsable,
        action_archetype_id "action_archetype_id": man String,
    }
}
rm_struct! {
    /// ACTION.
    care_entry Action = "ACTION" {
        time "time": man DvDateTime,
        description "description": man ItemStructure,
        ism_transition "ism_transition": man IsmTransition,
        instruction_details "instruction_details": opt InstructionDetails,
    }
}
rm_struct! {
    /// ISM_TRANSITION: the state-machine step an ACTION records.
    IsmTransition = "ISM_TRANSITION" {
        current_state "current_state": man DvCodedText,
        transition "transition": opt DvCodedText,
        careflow_step "careflow_step": opt DvCodedText,
        reason "reason": list AnyDvText,
    }
}
rm_struct! {
    /// INSTRUCTION_DETAILS: which instruction and activity an ACTION carries out.
    InstructionDetails = "INSTRUCTION_DETAILS" {
        instruction_id "instruction_id": man LocatableRef,
        activity_id "activity_id": man String,
        wf_details "wf_details": opt ItemStructure,
    }
}
rm_struct! {
    /// ADMIN_ENTRY.
    entry AdminEntry = "ADMIN_ENTRY" {
        data "data": man ItemStructure,
    }
}
rm_struct! {
    /// GENERIC_ENTRY (integration).
    locatable GenericEntry = "GENERIC_ENTRY" { data "data": man ItemTree }
}
rm_enum! {
    /// CONTENT_ITEM (abstract).
    ContentItem = "CONTENT_ITEM" {
        Section, Observation, Evaluation, Instruction, Action, AdminEntry, GenericEntry,
    }
}
rm_struct! {
    /// EHR_STATUS: subject, queryability and modifiability of an EHR.
    locatable EhrStatus = "EHR_STATUS" {
        subject "subject": man PartySelf,
        is_queryable "is_queryable": man bool,
        is_modifiable "is_modifiable": man bool,
        other_details "other_details": opt ItemStructure,
    }
}
rm_struct! {
    /// FOLDER: a directory node.
    locatable Folder = "FOLDER" {
        folders "folders": list Folder,
        items "items": list AnyObjectRef,
        details "details": opt ItemStructure,
    }
}
