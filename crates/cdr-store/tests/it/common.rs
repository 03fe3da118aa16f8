//! Fixtures shared by the store tests.

use cdr_rm::Composition;
use cdr_store::{CommitMeta, Principal, Store};

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
