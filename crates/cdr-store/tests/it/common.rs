//! Fixtures shared by the store tests.

use cdr_rm::{Composition, VersionData};
use cdr_store::{CommitMeta, CommittedVersion, NewVersion, Principal, Store, StoreError, VoKind};

pub const OPT: &str = include_str!("../../../cdr-validation/tests/fixtures/cdr_test_vitals.v1.opt");
pub const COMPOSITION: &str =
    include_str!("../../../cdr-validation/tests/fixtures/cdr_test_vitals.v1.json");

pub fn caller() -> Principal {
    Principal::local()
}

pub fn meta() -> CommitMeta {
    CommitMeta::default()
}

/// The fixture composition, decoded.
pub fn composition() -> Composition {
    cdr_rm::from_json(COMPOSITION.as_bytes()).expect("fixture composition decodes")
}

/// The fixture composition with `f` applied to its JSON first.
pub fn composition_with(f: impl FnOnce(&mut serde_json::Value)) -> Composition {
    let mut v: serde_json::Value = serde_json::from_str(COMPOSITION).unwrap();
    f(&mut v);
    cdr_rm::json::from_json_value(v).expect("edited composition decodes")
}

/// A fresh store with the fixture template uploaded.
pub async fn store_with_template() -> Store {
    let store = cdr_testkit::fresh_store().await;
    store.put_template(&caller(), OPT).await.expect("upload");
    store
}

/// Parses stored canonical JSON.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("stored JSON parses")
}

/// A contribution's version creating composition `c`.
pub fn new_composition(c: Composition) -> NewVersion {
    NewVersion {
        data: Some(VersionData::Composition(Box::new(c))),
        preceding: None,
        kind: VoKind::Composition,
        meta: CommitMeta::default(),
        attestations: None,
    }
}

/// Asserts that `err` says a `kind` (EHR, composition, template, …) was not found.
#[track_caller]
pub fn assert_not_found(err: &StoreError, kind: &str) {
    assert!(
        matches!(err, StoreError::NotFound { kind: k, .. } if *k == kind),
        "expected {kind} not found: {err:?}"
    );
}

/// A new EHR with the fixture composition: the EHR id and the composition's first version.
pub async fn ehr_with_composition(store: &Store) -> (uuid::Uuid, CommittedVersion) {
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .expect("EHR")
        .ehr_id;
    let v1 = store
        .create_composition(&caller(), ehr, composition(), meta())
        .await
        .expect("composition");
    (ehr, v1)
}
