//! Every control of a rendered form has a label bound to it (or an `aria-label`), with ids
//! unique in the page — on the care-plan templates and on the corpus's test-all-types.

use serde_json::Value;

use crate::harness;
use crate::roundtrip::{self, SHIPPED};

/// The controls of the rendered form without a bound label, and ids used more than once.
const UNLABELLED: &str = "const f = document.querySelector('cdr-form'); \
    const controls = [...f.querySelectorAll('input, select, textarea')] \
      .filter(c => c.type !== 'hidden'); \
    const named = c => (c.getAttribute('aria-label') || '').trim() !== '' \
      || (c.getAttribute('aria-labelledby') || '').split(/\\s+/) \
           .some(id => id && document.getElementById(id)) \
      || (c.id && [...document.querySelectorAll('label[for=\"' + CSS.escape(c.id) + '\"]')] \
           .some(l => l.textContent.trim() !== '')); \
    const what = c => c.tagName.toLowerCase() + (c.type ? '[type=' + c.type + ']' : '') \
      + ' ' + (c.getAttribute('data-flat-path') || c.getAttribute('data-choice') \
      || c.getAttribute('data-action') || c.id || c.name || '?'); \
    const ids = [...document.querySelectorAll('[id]')].map(e => e.id); \
    return { controls: controls.length, unlabelled: controls.filter(c => !named(c)).map(what), \
      duplicate_ids: [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))] };";

#[tokio::test]
async fn every_control_has_a_bound_label() {
    let Some(env) = harness::env("the labels").await else {
        return;
    };
    let mut templates: Vec<String> = SHIPPED.iter().map(|s| s.to_string()).collect();
    if let Some(corpus) = roundtrip::upload_corpus(&env.cdr).await {
        let all_types = corpus
            .into_iter()
            .find(|t| t.slug == "test-all-types.en.v1")
            .expect("test-all-types.en.v1 in the corpus");
        templates.push(all_types.id);
    }
    let client = harness::browser(&env.driver).await;
    let ehr = env.cdr.ehr().await;
    let mut failures = Vec::new();
    for template in &templates {
        if let Err(e) =
            harness::open_form(&client, &env.cdr, &harness::form_query(template, &ehr)).await
        {
            failures.push(format!("{template}: {e}"));
            continue;
        }
        let found: Value = client.execute(UNLABELLED, vec![]).await.unwrap();
        let controls = found["controls"].as_u64().unwrap_or(0);
        eprintln!(
            "labels {template}: {controls} controls, {} without a label, duplicate ids {}",
            found["unlabelled"].as_array().map_or(0, Vec::len),
            found["duplicate_ids"]
        );
        if controls == 0 {
            failures.push(format!("{template}: no controls rendered"));
        }
        if found["unlabelled"]
            .as_array()
            .is_some_and(|u| !u.is_empty())
        {
            failures.push(format!(
                "{template}: controls without a label: {}",
                found["unlabelled"]
            ));
        }
        if found["duplicate_ids"]
            .as_array()
            .is_some_and(|d| !d.is_empty())
        {
            failures.push(format!(
                "{template}: ids used more than once: {}",
                found["duplicate_ids"]
            ));
        }
    }
    let _ = client.close().await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
