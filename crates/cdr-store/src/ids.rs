//! Identifiers, codes and the caller.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// `OBJECT_VERSION_ID`: `object_id::creating_system_id::version_tree_id` (trunk versions only).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionUid {
    pub object_id: Uuid,
    pub system_id: String,
    pub version: i32,
}

impl VersionUid {
    /// A version uid.
    pub fn new(object_id: Uuid, system_id: impl Into<String>, version: i32) -> Self {
        VersionUid {
            object_id,
            system_id: system_id.into(),
            version,
        }
    }
}

impl fmt::Display for VersionUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.object_id, self.system_id, self.version
        )
    }
}

/// Why an id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{input}' is not a valid {what}: {reason}")]
pub struct IdError {
    pub input: String,
    pub what: &'static str,
    pub reason: &'static str,
}

impl FromStr for VersionUid {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let err = |reason| IdError {
            input: s.to_owned(),
            what: "version uid (object_id::system_id::version)",
            reason,
        };
        let mut parts = s.splitn(3, "::");
        let (Some(obj), Some(system), Some(tree)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err("expected three parts separated by '::'"));
        };
        let object_id = parse_uuid(obj).ok_or_else(|| err("the object id is not a UUID"))?;
        if system.is_empty() || system.contains("::") {
            return Err(err("the system id is empty or malformed"));
        }
        let version = tree
            .parse::<i32>()
            .ok()
            .filter(|v| *v >= 1 && tree.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| err("the version is not a positive trunk number"))?;
        Ok(VersionUid::new(object_id, system, version))
    }
}

/// A `uid_based_id` of the REST API: a versioned object id or a version uid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UidBasedId {
    Object(Uuid),
    Version(VersionUid),
}

impl UidBasedId {
    /// The versioned object id either way.
    pub fn object_id(&self) -> Uuid {
        match self {
            UidBasedId::Object(id) => *id,
            UidBasedId::Version(v) => v.object_id,
        }
    }
}

impl FromStr for UidBasedId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.contains("::") {
            return s.parse().map(UidBasedId::Version);
        }
        parse_uuid(s).map(UidBasedId::Object).ok_or(IdError {
            input: s.to_owned(),
            what: "object id or version uid",
            reason: "not a UUID and not object_id::system_id::version",
        })
    }
}

/// Parses a UUID in its hyphenated form only.
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    (s.len() == 36).then(|| Uuid::parse_str(s).ok()).flatten()
}

/// The openEHR "audit change type" codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeType {
    Creation,
    Amendment,
    Modification,
    Synthesis,
    Unknown,
    Deleted,
    Attestation,
}

impl ChangeType {
    /// The openEHR code.
    pub fn code(self) -> i16 {
        match self {
            ChangeType::Creation => 249,
            ChangeType::Amendment => 250,
            ChangeType::Modification => 251,
            ChangeType::Synthesis => 252,
            ChangeType::Unknown => 253,
            ChangeType::Deleted => 523,
            ChangeType::Attestation => 666,
        }
    }

    /// The English rubric.
    pub fn rubric(self) -> &'static str {
        match self {
            ChangeType::Creation => "creation",
            ChangeType::Amendment => "amendment",
            ChangeType::Modification => "modification",
            ChangeType::Synthesis => "synthesis",
            ChangeType::Unknown => "unknown",
            ChangeType::Deleted => "deleted",
            ChangeType::Attestation => "attestation",
        }
    }

    /// The change type with this code.
    pub fn from_code(code: &str) -> Option<ChangeType> {
        Some(match code {
            "249" => ChangeType::Creation,
            "250" => ChangeType::Amendment,
            "251" => ChangeType::Modification,
            "252" => ChangeType::Synthesis,
            "253" => ChangeType::Unknown,
            "523" => ChangeType::Deleted,
            "666" => ChangeType::Attestation,
            _ => return None,
        })
    }

    pub(crate) fn from_i16(code: i16) -> ChangeType {
        ChangeType::from_code(&code.to_string()).unwrap_or(ChangeType::Unknown)
    }
}

/// The openEHR "version lifecycle state" codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    Complete,
    Incomplete,
    Deleted,
}

impl LifecycleState {
    /// The openEHR code.
    pub fn code(self) -> i16 {
        match self {
            LifecycleState::Complete => 532,
            LifecycleState::Incomplete => 553,
            LifecycleState::Deleted => 523,
        }
    }

    /// The English rubric.
    pub fn rubric(self) -> &'static str {
        match self {
            LifecycleState::Complete => "complete",
            LifecycleState::Incomplete => "incomplete",
            LifecycleState::Deleted => "deleted",
        }
    }

    /// The state with this code.
    pub fn from_code(code: &str) -> Option<LifecycleState> {
        Some(match code {
            "532" => LifecycleState::Complete,
            "553" => LifecycleState::Incomplete,
            "523" => LifecycleState::Deleted,
            _ => return None,
        })
    }

    pub(crate) fn from_i16(code: i16) -> LifecycleState {
        LifecycleState::from_code(&code.to_string()).unwrap_or(LifecycleState::Complete)
    }
}

/// What kind of versioned object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoKind {
    Composition,
    EhrStatus,
    Folder,
}

impl VoKind {
    pub(crate) fn code(self) -> i16 {
        match self {
            VoKind::Composition => 1,
            VoKind::EhrStatus => 2,
            VoKind::Folder => 3,
        }
    }

    pub(crate) fn from_i16(code: i16) -> VoKind {
        match code {
            2 => VoKind::EhrStatus,
            3 => VoKind::Folder,
            _ => VoKind::Composition,
        }
    }

    /// The RM type of the versioned data (`COMPOSITION`, `EHR_STATUS`, `FOLDER`).
    pub fn rm_type(self) -> &'static str {
        match self {
            VoKind::Composition => "COMPOSITION",
            VoKind::EhrStatus => "EHR_STATUS",
            VoKind::Folder => "FOLDER",
        }
    }

    /// The name used in messages.
    pub fn label(self) -> &'static str {
        match self {
            VoKind::Composition => "composition",
            VoKind::EhrStatus => "EHR_STATUS",
            VoKind::Folder => "directory",
        }
    }
}

/// Who is calling: every operation takes it, for access control and audit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principal {
    /// Stable subject identifier (e.g. the `sub` of a token).
    pub subject: String,
    /// Display name, used as the default committer name.
    pub name: Option<String>,
    /// Roles granted.
    pub roles: Vec<String>,
    /// The organisation the caller acts for (clinicians and services), when known.
    pub organisation: Option<String>,
    /// The teams the caller belongs to (grants to a team are theirs too).
    pub teams: Vec<String>,
    /// For a patient: their external id (matched to the EHR_STATUS subject's external ref).
    pub patient_id: Option<String>,
    /// The client's address as the server saw it (for the audit), when known.
    pub address: Option<String>,
    /// A break-glass reason given with the request, when any.
    pub break_glass: Option<String>,
}

impl Principal {
    /// The principal for local, unauthenticated use (CLI, tests, development server).
    pub fn local() -> Principal {
        Principal {
            subject: "local".to_owned(),
            name: Some("cdr local user".to_owned()),
            roles: vec!["admin".to_owned()],
            ..Principal::default()
        }
    }

    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// 64-bit FNV-1a of `text` as a signed integer: the id of dictionary entries.
pub fn dict_id(text: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// The dictionary id of an archetype-rooted path to a data value of one RM type:
/// `archetype_id`, a newline, `path`, a newline, `rm_type`. The type is part of the key so that
/// a query knows, from the path and the attribute it compares, exactly which leaf rows hold that
/// attribute (a `magnitude` is in DV_QUANTITY and DV_COUNT leaves, never in a DV_ORDINAL one).
pub fn path_id(archetype_id: &str, path: &str, rm_type: &str) -> i64 {
    let mut key = String::with_capacity(archetype_id.len() + path.len() + rm_type.len() + 2);
    key.push_str(archetype_id);
    key.push('\n');
    key.push_str(path);
    key.push('\n');
    key.push_str(rm_type);
    dict_id(&key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_uids_parse_and_print() {
        let s = "8849182c-82ad-4088-a07f-48ead4180515::local.ehrbase.org::3";
        let v: VersionUid = s.parse().unwrap();
        assert_eq!(v.version, 3);
        assert_eq!(v.system_id, "local.ehrbase.org");
        assert_eq!(v.to_string(), s);
        for bad in [
            "8849182c-82ad-4088-a07f-48ead4180515::sys",
            "8849182c::sys::1",
            "8849182c-82ad-4088-a07f-48ead4180515::::1",
            "8849182c-82ad-4088-a07f-48ead4180515::sys::0",
            "8849182c-82ad-4088-a07f-48ead4180515::sys::1.1.1",
            "8849182c-82ad-4088-a07f-48ead4180515::sys::+1",
        ] {
            assert!(bad.parse::<VersionUid>().is_err(), "{bad}");
        }
        assert!(matches!(
            "8849182c-82ad-4088-a07f-48ead4180515".parse::<UidBasedId>(),
            Ok(UidBasedId::Object(_))
        ));
        assert!("8849182c82ad4088a07f48ead4180515"
            .parse::<UidBasedId>()
            .is_err());
    }

    #[test]
    fn dictionary_ids_are_stable() {
        assert_eq!(dict_id(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_eq!(dict_id("a"), 0xaf63_dc4c_8601_ec8c_u64 as i64);
        assert_ne!(path_id("x", "/a", "T"), path_id("x/", "a", "T"));
        assert_ne!(
            path_id("x", "/a", "DV_TEXT"),
            path_id("x", "/a", "DV_CODED_TEXT")
        );
    }
}
