//! The data the oracle queries: EHRs with their versioned compositions, EHR_STATUS and
//! directory, as plain JSON.

use serde_json::{Map, Value};

/// Everything a query can see.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// The EHRs.
    pub ehrs: Vec<Ehr>,
}

/// One EHR.
#[derive(Debug, Clone, PartialEq)]
pub struct Ehr {
    /// `ehr_id/value`.
    pub ehr_id: String,
    /// `system_id/value`.
    pub system_id: String,
    /// `time_created/value`, ISO 8601.
    pub time_created: String,
    /// The EHR as the REST endpoint returns it (what `SELECT e` gives).
    pub json: Value,
    /// The EHR's versioned compositions.
    pub compositions: Vec<VersionedObject>,
    /// The versions of the EHR's EHR_STATUS (no versions: the EHR has none).
    pub ehr_status: VersionedObject,
    /// The versions of the EHR's directory (its root FOLDER), if it has one.
    pub directory: Option<VersionedObject>,
}

/// A versioned object (a composition, the EHR_STATUS, the directory): versions 1..n in
/// order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VersionedObject {
    /// The versioned object's uuid.
    pub id: String,
    /// Versions in commit order; the last one is the latest.
    pub versions: Vec<Version>,
}

/// One version of a versioned object.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// `<uuid>::<system>::<n>`.
    pub uid: String,
    /// `commit_audit/time_committed/value`, ISO 8601.
    pub committed: String,
    /// The lifecycle state code, e.g. `532`.
    pub lifecycle_state: String,
    /// The composition, EHR_STATUS or root FOLDER in canonical JSON; `None` for a deletion.
    pub document: Option<Value>,
    /// The ORIGINAL_VERSION JSON (what `SELECT v` gives).
    pub json: Value,
}

impl VersionedObject {
    /// The current version: the latest, unless that is a deletion.
    pub(crate) fn current(&self) -> Option<usize> {
        let last = self.versions.len().checked_sub(1)?;
        self.versions[last].document.is_some().then_some(last)
    }

    /// The current version's document.
    pub(crate) fn current_document(&self) -> Option<&Value> {
        self.versions[self.current()?].document.as_ref()
    }
}

/// The object a bare `e` selects and EHR paths start from: `ehr.json`, with `ehr_id`,
/// `system_id` and `time_created` filled in from the struct fields where the JSON lacks them.
pub(crate) fn ehr_object(ehr: &Ehr) -> Value {
    let mut obj = match &ehr.json {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    fill(&mut obj, "ehr_id", || {
        wrapped("HIER_OBJECT_ID", &ehr.ehr_id)
    });
    fill(&mut obj, "system_id", || {
        wrapped("HIER_OBJECT_ID", &ehr.system_id)
    });
    fill(&mut obj, "time_created", || {
        wrapped("DV_DATE_TIME", &ehr.time_created)
    });
    Value::Object(obj)
}

/// The object a bare `v` selects and VERSION paths start from: `version.json`, with `uid`,
/// `commit_audit/time_committed`, `lifecycle_state` and `data` filled in from the struct fields
/// where the JSON lacks them.
pub(crate) fn version_object(version: &Version) -> Value {
    let mut obj = match &version.json {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    fill(&mut obj, "_type", || Value::from("ORIGINAL_VERSION"));
    fill(&mut obj, "uid", || {
        wrapped("OBJECT_VERSION_ID", &version.uid)
    });
    let audit = obj
        .entry("commit_audit")
        .or_insert_with(|| serde_json::json!({"_type": "AUDIT_DETAILS"}));
    if let Value::Object(audit) = audit {
        fill(audit, "time_committed", || {
            wrapped("DV_DATE_TIME", &version.committed)
        });
    }
    fill(&mut obj, "lifecycle_state", || {
        serde_json::json!({
            "_type": "DV_CODED_TEXT",
            "defining_code": {
                "_type": "CODE_PHRASE",
                "terminology_id": {"_type": "TERMINOLOGY_ID", "value": "openehr"},
                "code_string": version.lifecycle_state,
            }
        })
    });
    if let Some(doc) = &version.document {
        fill(&mut obj, "data", || doc.clone());
    }
    Value::Object(obj)
}

fn fill(obj: &mut Map<String, Value>, key: &str, make: impl FnOnce() -> Value) {
    if !obj.contains_key(key) {
        obj.insert(key.to_owned(), make());
    }
}

fn wrapped(rm_type: &str, value: &str) -> Value {
    serde_json::json!({"_type": rm_type, "value": value})
}
