//! A wrong value shows its message under its own field, and the form is not submitted while
//! it is there.

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::harness::{self, css_str, Submitted};
use crate::roundtrip;

const TEMPLATE: &str = "cdr_urgent_care_plan.v0";
/// Required (min 1) in an optional, repeatable entry: empty when the entry has other values.
const DIAGNOSIS: &str = "urgent_care_plan/diagnoses_and_medical_background/diagnosis_or_problem:0";
const CONTACT: &str = "urgent_care_plan/personal_details_and_key_contacts/key_contact:0";

/// Types `text` into the control of `key`.
async fn type_into(client: &Client, key: &str, text: &str) {
    let control = client
        .find(Locator::Css(&format!(
            "cdr-form [data-flat-path={}]",
            css_str(key)
        )))
        .await
        .unwrap_or_else(|e| panic!("no control for {key}: {e}"));
    control.clear().await.unwrap();
    control.send_keys(text).await.unwrap();
}

/// Where the issue shown for `key` is, relative to the control of `key`.
async fn issue_placement(client: &Client, key: &str) -> Value {
    client
        .execute(
            "const key = arguments[0]; const f = document.querySelector('cdr-form'); \
             const q = s => f.querySelector(s); \
             const control = q('[data-flat-path=\"' + CSS.escape(key) + '\"]'); \
             const issue = q('.cdr-issue[data-issue-for=\"' + CSS.escape(key) + '\"]'); \
             if (!control || !issue) return {control: !!control, issue: !!issue}; \
             const all = [...f.querySelectorAll('[data-flat-path], .cdr-issue')]; \
             const ci = all.indexOf(control), ii = all.indexOf(issue); \
             const cr = control.getBoundingClientRect(), ir = issue.getBoundingClientRect(); \
             return {control: true, issue: true, after: ii > ci, \
               between: all.slice(ci + 1, Math.max(ci + 1, ii)).map(e => \
                 e.getAttribute('data-flat-path') || 'issue for ' + e.getAttribute('data-issue-for')), \
               under: ir.top >= cr.bottom - 1, visible: ir.width > 0 && ir.height > 0, \
               text: issue.textContent.trim(), \
               describedby: (control.getAttribute('aria-describedby') || '').split(/\\s+/) \
                 .includes(issue.id) && issue.id !== '', \
               invalid: control.getAttribute('aria-invalid')};",
            vec![json!(key)],
        )
        .await
        .unwrap()
}

/// Asserts that an issue for `key` is shown directly under the control of `key` (no other
/// control between them), visible, described by the control, which is marked invalid.
async fn assert_shown_under_its_field(client: &Client, issues: &[(String, String)], key: &str) {
    assert!(
        issues.iter().any(|(k, _)| k == key),
        "no issue shown for {key}: {issues:?}"
    );
    let at = issue_placement(client, key).await;
    assert_eq!(at["control"], true, "{key}: {at}");
    assert_eq!(at["issue"], true, "{key}: {at}");
    assert_eq!(
        at["after"], true,
        "{key}: the issue is before its field: {at}"
    );
    assert_eq!(
        at["between"],
        json!([]),
        "{key}: other fields between it and its issue: {at}"
    );
    assert_eq!(
        at["under"], true,
        "{key}: the issue is not under its field: {at}"
    );
    assert_eq!(at["visible"], true, "{key}: {at}");
    assert!(
        at["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{key}: {at}"
    );
    assert_eq!(at["describedby"], true, "{key}: not aria-describedby: {at}");
    assert_eq!(at["invalid"], "true", "{key}: not aria-invalid: {at}");
}

#[tokio::test]
async fn a_missing_required_value_shows_its_message_under_its_field_and_blocks_the_submit() {
    let Some(env) = harness::env("the field issues").await else {
        return;
    };
    let client = harness::browser(&env.driver).await;
    let ehr = env.cdr.ehr().await;
    harness::open_form(&client, &env.cdr, &harness::form_query(TEMPLATE, &ehr))
        .await
        .unwrap();
    // Values beside the two required ones, which stay empty.
    type_into(
        &client,
        &format!("{DIAGNOSIS}/description"),
        "Breathless at night",
    )
    .await;
    type_into(
        &client,
        &format!("{CONTACT}/role_details"),
        "Daughter, lives nearby",
    )
    .await;

    let refused = harness::submit(&client).await;
    let Submitted::Refused(issues) = refused else {
        panic!("the submit was not refused: {refused:?}");
    };
    for key in [format!("{DIAGNOSIS}/diagnosis"), format!("{CONTACT}/name")] {
        assert_shown_under_its_field(&client, &issues, &key).await;
    }
    harness::screenshot(&client, "urgent_care_plan.issues").await;
    assert!(
        env.cdr.compositions(&ehr).await.is_empty(),
        "a composition was saved despite the issues"
    );

    // Given the values, the issues go and the form saves.
    type_into(&client, &format!("{DIAGNOSIS}/diagnosis"), "Heart failure").await;
    type_into(&client, &format!("{CONTACT}/name"), "Ann Example").await;
    let saved = harness::submit(&client).await;
    let Submitted::Saved(uid) = saved else {
        panic!("not saved once the values are there: {saved:?}");
    };
    let stored = env.cdr.flat(&ehr, &uid).await.json();
    assert_eq!(stored[format!("{DIAGNOSIS}/diagnosis")], "Heart failure");
    assert_eq!(stored[format!("{CONTACT}/name")], "Ann Example");
    let left = client
        .find_all(Locator::Css("cdr-form .cdr-issue"))
        .await
        .unwrap();
    let mut shown = Vec::new();
    for issue in left {
        if issue.is_displayed().await.unwrap_or(false) {
            shown.push(issue.text().await.unwrap_or_default());
        }
    }
    assert!(
        shown.is_empty(),
        "issues still shown after saving: {shown:?}"
    );
    let _ = client.close().await;
}

#[tokio::test]
async fn a_date_outside_its_pattern_shows_its_message_under_its_field() {
    let Some(env) = harness::env("the date issue").await else {
        return;
    };
    let Some(corpus) = roundtrip::upload_corpus(&env.cdr).await else {
        return;
    };
    let template = corpus
        .into_iter()
        .find(|t| t.slug == "test-all-types.en.v1")
        .expect("test-all-types.en.v1 in the corpus")
        .id;
    let client = harness::browser(&env.driver).await;
    let ehr = env.cdr.ehr().await;
    harness::open_form(&client, &env.cdr, &harness::form_query(&template, &ehr))
        .await
        .unwrap();
    // The template allows a year and a month here (`yyyy-??-XX`), never a day.
    let key = "test_all_types/test_all_types3:0/section_2/section_3/test_all_types:0/\
               current_activity/partial_date";
    type_into(&client, key, "2026-12-06").await;
    let refused = harness::submit(&client).await;
    let Submitted::Refused(issues) = refused else {
        panic!("the submit was not refused: {refused:?}");
    };
    assert_shown_under_its_field(&client, &issues, key).await;
    harness::screenshot(&client, "test_all_types.issues").await;
    assert!(
        env.cdr.compositions(&ehr).await.is_empty(),
        "a composition was saved despite the issues"
    );
    let _ = client.close().await;
}
