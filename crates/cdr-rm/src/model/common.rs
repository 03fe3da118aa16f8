//! COMMON: archetyping, feeder audit, party proxies, participation, change control.

use crate::{
    AnyDvText, AnyObjectRef, AnyPartyIdentified, ArchetypeId, DvCodedText, DvDateTime, DvEhrUri,
    DvEncapsulated, DvIdentifier, DvInterval, DvMultimedia, HierObjectId, ItemStructure,
    ObjectVersionId, PartyRef, TemplateId,
};

rm_struct! {
    /// ARCHETYPED: archetype and template identity of an archetype root.
    Archetyped = "ARCHETYPED" {
        archetype_id "archetype_id": man ArchetypeId,
        template_id "template_id": opt TemplateId,
        rm_version "rm_version": man String,
    }
}
rm_struct! {
    /// LINK: a typed link to another LOCATABLE.
    Link = "LINK" {
        meaning "meaning": man AnyDvText,
        r#type "type": man AnyDvText,
        target "target": man DvEhrUri,
    }
}
rm_struct! {
    /// FEEDER_AUDIT: provenance of data imported from a feeder system.
    FeederAudit = "FEEDER_AUDIT" {
        originating_system_item_ids "originating_system_item_ids": list DvIdentifier,
        feeder_system_item_ids "feeder_system_item_ids": list DvIdentifier,
        original_content "original_content": opt DvEncapsulated,
        originating_system_audit "originating_system_audit": man FeederAuditDetails,
        feeder_system_audit "feeder_system_audit": opt FeederAuditDetails,
    }
}
rm_struct! {
    /// FEEDER_AUDIT_DETAILS.
    FeederAuditDetails = "FEEDER_AUDIT_DETAILS" {
        system_id "system_id": man String,
        location "location": opt AnyPartyIdentified,
        provider "provider": opt AnyPartyIdentified,
        subject "subject": opt PartyProxy,
        time "time": opt DvDateTime,
        version_id "version_id": opt String,
        other_details "other_details": opt ItemStructure,
    }
}
rm_struct! {
    /// PARTY_SELF: the subject of the record.
    PartySelf = "PARTY_SELF" { external_ref "external_ref": opt PartyRef }
}
rm_struct! {
    /// PARTY_IDENTIFIED: a party known by name, reference or identifiers.
    PartyIdentified = "PARTY_IDENTIFIED" {
        external_ref "external_ref": opt PartyRef,
        name "name": opt String,
        identifiers "identifiers": list DvIdentifier,
    }
}
rm_struct! {
    /// PARTY_RELATED: a party related to the subject.
    PartyRelated = "PARTY_RELATED" {
        external_ref "external_ref": opt PartyRef,
        name "name": opt String,
        identifiers "identifiers": list DvIdentifier,
        relationship "relationship": man DvCodedText,
    }
}
rm_enum! {
    /// PARTY_PROXY (abstract).
    PartyProxy = "PARTY_PROXY" { PartySelf, PartyIdentified, PartyRelated }
}
rm_struct! {
    /// PARTICIPATION: a party's part in an activity.
    Participation = "PARTICIPATION" {
        function "function": man AnyDvText,
        performer "performer": man PartyProxy,
        time "time": opt DvInterval,
        mode "mode": opt Box<DvCodedText>,
    }
}
rm_struct! {
    /// AUDIT_DETAILS: who committed what, when and why.
    AuditDetails = "AUDIT_DETAILS" {
        system_id "system_id": man String,
        committer "committer": man PartyProxy,
        time_committed "time_committed": man DvDateTime,
        change_type "change_type": man DvCodedText,
        description "description": opt AnyDvText,
    }
}
rm_struct! {
    /// ATTESTATION: an audit that attests content.
    Attestation = "ATTESTATION" {
        system_id "system_id": man String,
        committer "committer": man PartyProxy,
        time_committed "time_committed": man DvDateTime,
        change_type "change_type": man DvCodedText,
        description "description": opt AnyDvText,
        attested_view "attested_view": opt DvMultimedia,
        proof "proof": opt String,
        items "items": list DvEhrUri,
        reason "reason": man AnyDvText,
        is_pending "is_pending": man bool,
    }
}
rm_struct! {
    /// CONTRIBUTION: the set of versions committed together.
    Contribution = "CONTRIBUTION" {
        uid "uid": man HierObjectId,
        versions "versions": list AnyObjectRef,
        audit "audit": man AuditDetails,
    }
}
rm_struct! {
    /// ORIGINAL_VERSION: one version of a versioned object, with its data.
    OriginalVersion = "ORIGINAL_VERSION" {
        contribution "contribution": man AnyObjectRef,
        commit_audit "commit_audit": man AuditDetails,
        signature "signature": opt String,
        uid "uid": man ObjectVersionId,
        data "data": opt Box<VersionData>,
        preceding_version_uid "preceding_version_uid": opt ObjectVersionId,
        other_input_version_uids "other_input_version_uids": list ObjectVersionId,
        attestations "attestations": list Attestation,
        lifecycle_state "lifecycle_state": man DvCodedText,
    }
}
rm_struct! {
    /// IMPORTED_VERSION: a version imported from another system.
    ImportedVersion = "IMPORTED_VERSION" {
        contribution "contribution": man AnyObjectRef,
        commit_audit "commit_audit": man AuditDetails,
        signature "signature": opt String,
        item "item": man Box<OriginalVersion>,
    }
}
rm_enum! {
    /// VERSION (abstract).
    Version = "VERSION" { OriginalVersion, ImportedVersion }
}
rm_enum! {
    /// The data of a version: the top-level versioned classes of an EHR.
    VersionData = "LOCATABLE" { Composition, EhrStatus, Folder }
}
use crate::{Composition, EhrStatus, Folder};

rm_struct! {
    /// VERSIONED_COMPOSITION (without its versions).
    VersionedComposition = "VERSIONED_COMPOSITION" {
        uid "uid": man HierObjectId,
        owner_id "owner_id": man AnyObjectRef,
        time_created "time_created": man DvDateTime,
    }
}
rm_struct! {
    /// VERSIONED_EHR_STATUS (without its versions).
    VersionedEhrStatus = "VERSIONED_EHR_STATUS" {
        uid "uid": man HierObjectId,
        owner_id "owner_id": man AnyObjectRef,
        time_created "time_created": man DvDateTime,
    }
}
rm_struct! {
    /// VERSIONED_FOLDER (without its versions).
    VersionedFolder = "VERSIONED_FOLDER" {
        uid "uid": man HierObjectId,
        owner_id "owner_id": man AnyObjectRef,
        time_created "time_created": man DvDateTime,
    }
}
rm_struct! {
    /// REVISION_HISTORY_ITEM.
    RevisionHistoryItem = "REVISION_HISTORY_ITEM" {
        version_id "version_id": man ObjectVersionId,
        audits "audits": mlist AuditDetails,
    }
}
rm_struct! {
    /// REVISION_HISTORY.
    RevisionHistory = "REVISION_HISTORY" { items "items": list RevisionHistoryItem }
}
