//! Concrete declared types that have subtypes: DV_TEXT (DV_CODED_TEXT), DV_URI (DV_EHR_URI),
//! PARTY_IDENTIFIED (PARTY_RELATED) and OBJECT_REF (PARTY_REF, LOCATABLE_REF,
//! ACCESS_GROUP_REF).
//!
//! Where such a type is declared, `_type` is optional. Each family decodes through its widest
//! member in one pass (no buffering) and then narrows: by `_type` when given, otherwise to the
//! declared type, except that a DV_TEXT carrying `defining_code` is read as DV_CODED_TEXT and a
//! PARTY_IDENTIFIED carrying `relationship` as PARTY_RELATED (lenient input, exact output).

use crate::{
    AccessGroupRef, DvCodedText, DvEhrUri, DvText, DvUri, LocatableRef, ObjectRef, PartyIdentified,
    PartyRef, PartyRelated,
};
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

rm_enum!(@common
    /// A DV_TEXT or a DV_CODED_TEXT (declared type DV_TEXT).
    AnyDvText = "DV_TEXT" { DvText, DvCodedText });
rm_enum!(@common
    /// A DV_URI or a DV_EHR_URI (declared type DV_URI).
    AnyDvUri = "DV_URI" { DvUri, DvEhrUri });
rm_enum!(@common
    /// A PARTY_IDENTIFIED or a PARTY_RELATED (declared type PARTY_IDENTIFIED).
    AnyPartyIdentified = "PARTY_IDENTIFIED" { PartyIdentified, PartyRelated });
rm_enum!(@common
    /// An OBJECT_REF or one of its subtypes (declared type OBJECT_REF).
    AnyObjectRef = "OBJECT_REF" { ObjectRef, PartyRef, LocatableRef, AccessGroupRef });

impl AnyDvText {
    /// `value` of either kind of text; empty when it is missing (which the validator reports).
    pub fn value(&self) -> &str {
        let value = match self {
            AnyDvText::DvText(t) => &t.value,
            AnyDvText::DvCodedText(t) => &t.value,
        };
        value.as_deref().unwrap_or_default()
    }

    /// The defining code, for coded text.
    pub fn defining_code(&self) -> Option<&crate::CodePhrase> {
        match self {
            AnyDvText::DvText(_) => None,
            AnyDvText::DvCodedText(t) => t.defining_code.as_ref(),
        }
    }

    /// A plain DV_TEXT.
    pub fn plain(value: impl Into<String>) -> Self {
        AnyDvText::DvText(Box::new(DvText {
            value: Some(value.into()),
            hyperlink: None,
            formatting: None,
            mappings: Vec::new(),
            language: None,
            encoding: None,
        }))
    }
}

impl AnyObjectRef {
    /// The referenced id.
    pub fn id(&self) -> Option<&crate::ObjectId> {
        match self {
            AnyObjectRef::ObjectRef(r) => r.id.as_ref(),
            AnyObjectRef::PartyRef(r) => r.id.as_ref(),
            AnyObjectRef::LocatableRef(r) => r.id.as_ref(),
            AnyObjectRef::AccessGroupRef(r) => r.id.as_ref(),
        }
    }
}

fn unexpected<E: serde::de::Error>(ty: &str, declared: &str) -> E {
    E::custom(format_args!(
        "_type `{ty}` found where {declared} or a subtype is expected"
    ))
}

fn not_in<E: serde::de::Error>(attr: &str, ty: &str) -> E {
    E::custom(format_args!("unknown attribute `{attr}` in {ty}"))
}

macro_rules! widest_visitor {
    ($name:ident, $widest:ident, $declared:literal, |$w:ident, $t:ident| $body:expr) => {
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        write!(f, "an object of type {} or a subtype", $declared)
                    }
                    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<$name, A::Error> {
                        let mut $t = None;
                        let $w = $widest::from_map_typed_as(map, $declared, Some(&mut $t))?;
                        $body
                    }
                }
                d.deserialize_map(V)
            }
        }
    };
}

widest_visitor!(AnyDvText, DvCodedText, "DV_TEXT", |w, t| {
    let coded = match t.as_ref().map(|k| crate::meta::base_type_name(k.as_str())) {
        Some("DV_CODED_TEXT") => true,
        Some("DV_TEXT") => {
            if w.defining_code.is_some() {
                return Err(not_in("defining_code", "DV_TEXT"));
            }
            false
        }
        Some(other) => return Err(unexpected(other, "DV_TEXT")),
        None => w.defining_code.is_some(),
    };
    Ok(if coded {
        AnyDvText::DvCodedText(Box::new(w))
    } else {
        AnyDvText::DvText(Box::new(DvText {
            value: w.value,
            hyperlink: w.hyperlink,
            formatting: w.formatting,
            mappings: w.mappings,
            language: w.language,
            encoding: w.encoding,
        }))
    })
});

widest_visitor!(AnyDvUri, DvUri, "DV_URI", |w, t| {
    match t.as_ref().map(|k| crate::meta::base_type_name(k.as_str())) {
        None | Some("DV_URI") => Ok(AnyDvUri::DvUri(Box::new(w))),
        Some("DV_EHR_URI") => Ok(AnyDvUri::DvEhrUri(Box::new(DvEhrUri { value: w.value }))),
        Some(other) => Err(unexpected(other, "DV_URI")),
    }
});

widest_visitor!(
    AnyPartyIdentified,
    PartyRelated,
    "PARTY_IDENTIFIED",
    |w, t| {
        let related = match t.as_ref().map(|k| crate::meta::base_type_name(k.as_str())) {
            Some("PARTY_RELATED") => true,
            Some("PARTY_IDENTIFIED") => {
                if w.relationship.is_some() {
                    return Err(not_in("relationship", "PARTY_IDENTIFIED"));
                }
                false
            }
            Some(other) => return Err(unexpected(other, "PARTY_IDENTIFIED")),
            None => w.relationship.is_some(),
        };
        Ok(if related {
            AnyPartyIdentified::PartyRelated(Box::new(w))
        } else {
            AnyPartyIdentified::PartyIdentified(Box::new(PartyIdentified {
                external_ref: w.external_ref,
                name: w.name,
                identifiers: w.identifiers,
            }))
        })
    }
);

widest_visitor!(AnyObjectRef, LocatableRef, "OBJECT_REF", |w, t| {
    let kind = match t.as_ref().map(|k| crate::meta::base_type_name(k.as_str())) {
        Some(k @ ("OBJECT_REF" | "PARTY_REF" | "ACCESS_GROUP_REF")) => {
            if w.path.is_some() {
                return Err(not_in("path", k));
            }
            k.to_owned()
        }
        Some("LOCATABLE_REF") => "LOCATABLE_REF".to_owned(),
        Some(other) => return Err(unexpected(other, "OBJECT_REF")),
        None if w.path.is_some() => "LOCATABLE_REF".to_owned(),
        None => "OBJECT_REF".to_owned(),
    };
    let LocatableRef {
        id,
        namespace,
        r#type,
        path,
    } = w;
    Ok(match kind.as_str() {
        "LOCATABLE_REF" => AnyObjectRef::LocatableRef(Box::new(LocatableRef {
            id,
            namespace,
            r#type,
            path,
        })),
        "PARTY_REF" => AnyObjectRef::PartyRef(Box::new(PartyRef {
            id,
            namespace,
            r#type,
        })),
        "ACCESS_GROUP_REF" => AnyObjectRef::AccessGroupRef(Box::new(AccessGroupRef {
            id,
            namespace,
            r#type,
        })),
        _ => AnyObjectRef::ObjectRef(Box::new(ObjectRef {
            id,
            namespace,
            r#type,
        })),
    })
});
