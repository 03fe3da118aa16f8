//! The versioned openEHR store on PostgreSQL — the only crate that knows SQL.
//!
//! - [`cluster`]: a private PostgreSQL cluster when no `DATABASE_URL` is given;
//! - [`Store`]: migrations, EHRs, versioned compositions, EHR_STATUS, directories,
//!   contributions, templates, stored queries and the users of Basic authentication; every
//!   operation takes the caller ([`Principal`]);
//! - [`index`]: the node and leaf rows derived from each version for AQL.
//!
//! Invariants: every write is one transaction touching one EHR, prepared (validated, serialised,
//! indexed) before BEGIN; every SQL statement of an EHR-scoped operation constrains `ehr_id`;
//! every user value is a bind parameter.

mod access;
mod admin;
pub mod aql;
mod audit;
mod audit_chain;
mod audit_roles;
pub mod cluster;
mod commit;
mod error;
mod events;
mod flags;
mod ids;
pub mod index;
mod ops;
mod replica;
mod settings;
mod store;
mod stored_queries;
mod templates;
pub mod terminology;
mod users;
mod versions;
mod write;

pub use access::{
    BreakGlass, BreakGlassFilter, Consent, ConsentState, Grant, GrantAccess, GranteeKind,
    NewConsent, NewGrant, BREAK_GLASS_MINUTES,
};
pub use audit::{in_request, AuditAction, AuditEvent, AuditFilter, AuditRecord, RequestAudit};
pub use audit_chain::{AuditFault, AuditVerification};
pub use audit_roles::RUNTIME_ROLE;
pub use commit::{
    format_time, CommitMeta, Committed, CommittedVersion, NewContribution, NewVersion,
};
pub use error::{Result, StoreError};
pub use events::{
    ChangeEvent, DeliveryProgress, EventFilter, EventPublisher, NewSubscription, Subscription,
    EVENT_RETENTION, MAX_SUBSCRIPTIONS,
};
pub use flags::{
    CarePlanFlag, CarePlanKinds, SubjectFlags, CARE_PLAN_ARCHETYPE, MAX_FLAG_SUBJECTS,
};
pub use ids::{
    dict_id, parse_uuid, path_id, ChangeType, IdError, LifecycleState, Principal, UidBasedId,
    VersionUid, VoKind,
};
pub use ops::{default_ehr_status, EhrRecord};
pub use replica::reading_from_primary;
pub use store::{
    create_database, migrate, quote_ident, schema_version, Store, StoreConfig, MIGRATIONS,
};
pub use stored_queries::{check_query_name, StoredQuery, VersionPattern, AQL};
pub use templates::{TemplateMeta, TemplateUpload};
pub use terminology::TerminologyService;
pub use users::{check_username, User};
pub use versions::{ContributionRecord, VersionRecord, VersionedObjectInfo};
