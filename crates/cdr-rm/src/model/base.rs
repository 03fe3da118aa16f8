//! BASE: object identifiers and references.

rm_struct! {
    /// HIER_OBJECT_ID: a UUID, OID or internet id, optionally with an extension.
    HierObjectId = "HIER_OBJECT_ID" { value "value": man String }
}
rm_struct! {
    /// OBJECT_VERSION_ID: `object_id::creating_system_id::version_tree_id`.
    ObjectVersionId = "OBJECT_VERSION_ID" { value "value": man String }
}
rm_struct! {
    /// ARCHETYPE_ID, e.g. `openEHR-EHR-OBSERVATION.blood_pressure.v2`.
    ArchetypeId = "ARCHETYPE_ID" { value "value": man String }
}
rm_struct! {
    /// TEMPLATE_ID.
    TemplateId = "TEMPLATE_ID" { value "value": man String }
}
rm_struct! {
    /// TERMINOLOGY_ID, e.g. `openehr`, `local`, `SNOMED-CT`.
    TerminologyId = "TERMINOLOGY_ID" { value "value": man String }
}
rm_struct! {
    /// GENERIC_ID: an identifier in a named scheme.
    GenericId = "GENERIC_ID" { value "value": man String, scheme "scheme": man String }
}

rm_enum! {
    /// OBJECT_ID (abstract).
    ObjectId = "OBJECT_ID" { HierObjectId, ObjectVersionId, ArchetypeId, TemplateId, TerminologyId, GenericId }
}
rm_enum! {
    /// UID_BASED_ID (abstract): the `uid` of a LOCATABLE.
    UidBasedId = "UID_BASED_ID" { HierObjectId, ObjectVersionId }
}

impl ObjectId {
    /// The `value` of whichever identifier this is; empty when it is missing (which the
    /// validator reports).
    pub fn value(&self) -> &str {
        let value = match self {
            ObjectId::HierObjectId(x) => &x.value,
            ObjectId::ObjectVersionId(x) => &x.value,
            ObjectId::ArchetypeId(x) => &x.value,
            ObjectId::TemplateId(x) => &x.value,
            ObjectId::TerminologyId(x) => &x.value,
            ObjectId::GenericId(x) => &x.value,
        };
        value.as_deref().unwrap_or_default()
    }
}

impl UidBasedId {
    /// The `value` of whichever identifier this is; empty when it is missing (which the
    /// validator reports).
    pub fn value(&self) -> &str {
        let value = match self {
            UidBasedId::HierObjectId(x) => &x.value,
            UidBasedId::ObjectVersionId(x) => &x.value,
        };
        value.as_deref().unwrap_or_default()
    }
}

rm_struct! {
    /// OBJECT_REF: a reference to an object in another service or namespace.
    ObjectRef = "OBJECT_REF" {
        id "id": man ObjectId,
        namespace "namespace": man String,
        r#type "type": man String,
    }
}
rm_struct! {
    /// PARTY_REF: a reference to a demographic party.
    PartyRef = "PARTY_REF" {
        id "id": man ObjectId,
        namespace "namespace": man String,
        r#type "type": man String,
    }
}
rm_struct! {
    /// ACCESS_GROUP_REF.
    AccessGroupRef = "ACCESS_GROUP_REF" {
        id "id": man ObjectId,
        namespace "namespace": man String,
        r#type "type": man String,
    }
}
rm_struct! {
    /// LOCATABLE_REF: a reference to a LOCATABLE inside a versioned object, with a path.
    LocatableRef = "LOCATABLE_REF" {
        id "id": man ObjectId,
        namespace "namespace": man String,
        r#type "type": man String,
        path "path": opt String,
    }
}
