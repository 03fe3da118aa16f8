//! An update from a form opened on a version someone else has since replaced shows the
//! conflict, and the reload button brings the latest version into the form.

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::harness::{self, css_str, encode, Submitted};

const TEMPLATE: &str = "cdr_urgent_care_plan.v0";
const NAME: &str =
    "urgent_care_plan/personal_details_and_key_contacts/personal_details/preferred_name";
const COMMENT: &str = "urgent_care_plan/personal_details_and_key_contacts/personal_details/comment";

/// The value the control of `key` holds now.
async fn held(client: &Client, key: &str) -> Value {
    client
        .execute(
            "const c = document.querySelector('cdr-form [data-flat-path=\"' \
               + CSS.escape(arguments[0]) + '\"]'); return c ? c.value : null;",
            vec![json!(key)],
        )
        .await
        .unwrap()
}

/// Waits until the control of `key` holds `value`.
async fn wait_for_value(client: &Client, key: &str, value: &str) {
    let waited = harness::wait_for(
        client,
        &format!("{key} to hold {value:?}"),
        "const c = document.querySelector('cdr-form [data-flat-path=\"' \
           + CSS.escape(arguments[0]) + '\"]'); return !!c && c.value === arguments[1];",
        vec![json!(key), json!(value)],
    )
    .await;
    if let Err(e) = waited {
        panic!("{e}; it holds {}", held(client, key).await);
    }
}

#[tokio::test]
async fn a_stale_update_shows_the_conflict_and_reload_brings_the_latest() {
    let Some(env) = harness::env("the conflict").await else {
        return;
    };
    let cdr = &env.cdr;
    let ehr = cdr.ehr().await;
    let mut flat = cdr.example_flat(TEMPLATE).await;
    flat[NAME] = json!("Sam");
    let path = format!("/ehr/{ehr}/composition?templateId={}", encode(TEMPLATE));
    let res = cdr
        .api("POST", &path)
        .body("application/openehr.wt.flat+json", flat.to_string())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v1 = res.etag();
    let object = v1.split("::").next().unwrap().to_owned();

    let client = harness::browser(&env.driver).await;
    let query = format!(
        "{}&composition={}",
        harness::form_query(TEMPLATE, &ehr),
        encode(&object)
    );
    harness::open_form(&client, cdr, &query).await.unwrap();
    wait_for_value(&client, NAME, "Sam").await;

    // Meanwhile someone saves a new version through the API.
    flat[NAME] = json!("Samuel");
    let res = cdr
        .api(
            "PUT",
            &format!(
                "/ehr/{ehr}/composition/{object}?templateId={}",
                encode(TEMPLATE)
            ),
        )
        .header("If-Match", &format!("\"{v1}\""))
        .header("Content-Type", "application/openehr.wt.flat+json")
        .untyped_body(flat.to_string())
        .send()
        .await;
    assert!(res.status == 200 || res.status == 204, "{}", res.text());
    let v2 = res.etag();
    assert!(v2.ends_with("::2"), "{v2}");

    // The form, still on version 1, changes a field and submits.
    let comment = client
        .find(Locator::Css(&format!(
            "cdr-form [data-flat-path={}]",
            css_str(COMMENT)
        )))
        .await
        .unwrap();
    comment.clear().await.unwrap();
    comment.send_keys("Prefers mornings").await.unwrap();
    let outcome = harness::submit(&client).await;
    assert!(
        matches!(outcome, Submitted::Conflict),
        "no conflict shown: {outcome:?}"
    );
    let conflict = client
        .find(Locator::Css("cdr-form [data-conflict]"))
        .await
        .unwrap();
    assert!(conflict.is_displayed().await.unwrap());
    harness::screenshot(&client, "urgent_care_plan.conflict").await;
    let latest = cdr.flat(&ehr, &object).await;
    assert_eq!(latest.etag(), v2, "the stale update was stored");

    // Reload: the form shows version 2, and saving from it makes version 3.
    client
        .find(Locator::Css("cdr-form button[data-action=reload]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_value(&client, NAME, "Samuel").await;
    let comment = client
        .find(Locator::Css(&format!(
            "cdr-form [data-flat-path={}]",
            css_str(COMMENT)
        )))
        .await
        .unwrap();
    comment.clear().await.unwrap();
    comment.send_keys("Prefers mornings").await.unwrap();
    let outcome = harness::submit(&client).await;
    let Submitted::Saved(v3) = outcome else {
        panic!("not saved after the reload: {outcome:?}");
    };
    assert!(v3.ends_with("::3"), "{v3}");
    let stored = cdr.flat(&ehr, &v3).await.json();
    assert_eq!(stored[NAME], "Samuel");
    assert_eq!(stored[COMMENT], "Prefers mornings");
    let _ = client.close().await;
}
