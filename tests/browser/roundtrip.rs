//! Every template's example through the form: rendered, filled through the controls,
//! submitted, and stored as the example (FLAT round trip) — for every corpus template and for
//! the care-plan templates cdr ships. Also the render times, and the largest template's.

use std::path::PathBuf;

use fantoccini::Client;

use crate::fill::{self, Skip};
use crate::harness::{self, Cdr, Submitted};

/// The care-plan templates `cdr serve` installs on a store's first start.
pub const SHIPPED: [&str; 3] = [
    "cdr_urgent_care_plan.v0",
    "cdr_care_and_support_plan.v0",
    "cdr_emergency_care_and_treatment_plan.v0",
];

/// A corpus template: its folder, id and OPT.
#[derive(Debug)]
pub struct CorpusTemplate {
    pub slug: String,
    pub id: String,
    pub opt: Vec<u8>,
}

/// Every `<slug>/template.opt` of `../shared/testdata`, by slug; `None` (said plainly) when the
/// corpus is absent.
pub fn corpus() -> Option<Vec<CorpusTemplate>> {
    let Some(dir) = cdr_testkit::testdata_dir() else {
        eprintln!("note: ../shared/testdata is absent; the corpus templates are skipped");
        return None;
    };
    let mut slugs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("reading ../shared/testdata")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("template.opt").is_file())
        .collect();
    slugs.sort();
    let templates = slugs
        .into_iter()
        .map(|p| {
            let opt = std::fs::read(p.join("template.opt")).expect("reading an OPT");
            let text = String::from_utf8_lossy(&opt);
            let id = text
                .split_once("<template_id>")
                .and_then(|(_, rest)| rest.split_once("<value>"))
                .and_then(|(_, rest)| rest.split_once("</value>"))
                .map(|(id, _)| id.trim().to_owned())
                .unwrap_or_else(|| panic!("no template_id in {}", p.display()));
            CorpusTemplate {
                slug: p.file_name().unwrap().to_string_lossy().into_owned(),
                id,
                opt,
            }
        })
        .collect();
    Some(templates)
}

/// Uploads the corpus templates; returns them (`None` when the corpus is absent).
pub async fn upload_corpus(cdr: &Cdr) -> Option<Vec<CorpusTemplate>> {
    let templates = corpus()?;
    for t in &templates {
        cdr.upload(&t.opt).await;
    }
    Some(templates)
}

/// What the round trip of one template found.
#[derive(Debug)]
struct Outcome {
    render_ms: f64,
    line: String,
    problems: Vec<String>,
}

/// The example of `template` through the form: render, screenshot, fill, submit, compare.
async fn round_trip(client: &Client, cdr: &Cdr, template: &str) -> Result<Outcome, String> {
    let ehr = cdr.ehr().await;
    let web_template = cdr.web_template(template).await;
    let example = cdr.example_flat(template).await;
    let nodes = fill::nodes(&web_template);
    let example = example.as_object().expect("FLAT is an object");
    let plan = fill::plan(example, &nodes);

    let render_ms = harness::open_form(client, cdr, &harness::form_query(template, &ehr)).await?;
    let png = harness::screenshot(client, template).await;
    let filled = fill::fill(client, &plan, example, &nodes).await;

    let context = plan
        .skipped
        .values()
        .filter(|s| **s == Skip::Context)
        .count();
    let absent = plan.skipped.len() - context;
    let line = format!(
        "{template}: rendered in {render_ms} ms ({}); filled {} / {} keys the form shows \
         ({} more written from another control of their node, {} under a sibling's id named by \
         `_name`); skipped {} (inContext {context}, not in the web template {absent}), {} of \
         them filled all the same as the form shows them; not fillable {}",
        png.display(),
        filled.filled.len(),
        plan.shown.len(),
        filled.derived.len(),
        plan.renamed,
        plan.skipped.len(),
        filled.extra.len(),
        filled.missing.len(),
    );
    let mut problems: Vec<String> = filled
        .missing
        .iter()
        .map(|m| format!("cannot fill {m}"))
        .collect();

    match harness::submit(client).await {
        Submitted::Saved(uid) => {
            let stored = cdr.flat(&ehr, &uid).await;
            if stored.status != 200 {
                problems.push(format!("reading {uid} as FLAT: {}", stored.text()));
            } else {
                let stored = stored.json();
                let stored = stored.as_object().expect("FLAT is an object");
                problems.extend(
                    fill::differences(&plan, example, &filled, stored)
                        .into_iter()
                        .map(|d| format!("stored ≠ example: {d}")),
                );
            }
        }
        Submitted::Refused(issues) => problems.extend(
            issues
                .into_iter()
                .map(|(k, m)| format!("submit refused: issue at {k}: {m}")),
        ),
        Submitted::Conflict => problems.push("submit answered a conflict".into()),
        Submitted::Failed(why) => problems.push(format!("submit failed: {why}")),
    }
    Ok(Outcome {
        render_ms,
        line,
        problems,
    })
}

/// Round-trips each template; fails listing every problem of every template.
async fn round_trip_all(client: &Client, cdr: &Cdr, templates: &[String]) {
    let mut failures = Vec::new();
    let mut times = Vec::new();
    for template in templates {
        match round_trip(client, cdr, template).await {
            Ok(o) => {
                eprintln!("form {}", o.line);
                times.push((o.render_ms, template.clone()));
                if !o.problems.is_empty() {
                    failures.push(format!(
                        "{template} ({} problems):\n  {}",
                        o.problems.len(),
                        o.problems.join("\n  ")
                    ));
                }
            }
            Err(e) => {
                harness::screenshot(client, &format!("{template}.failed")).await;
                failures.push(format!("{template}: {e}"));
            }
        }
    }
    for (ms, template) in &times {
        eprintln!("render ms {ms:>8.1}  {template}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} templates do not round-trip through the form:\n{}",
        failures.len(),
        templates.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn every_corpus_template_example_round_trips_through_the_form() {
    let Some(env) = harness::env("the corpus round trip").await else {
        return;
    };
    let Some(corpus) = upload_corpus(&env.cdr).await else {
        return;
    };
    let client = harness::browser(&env.driver).await;
    let ids: Vec<String> = corpus.into_iter().map(|t| t.id).collect();
    round_trip_all(&client, &env.cdr, &ids).await;
    let _ = client.close().await;
}

#[tokio::test]
async fn every_shipped_care_plan_example_round_trips_through_the_form() {
    let Some(env) = harness::env("the care-plan round trip").await else {
        return;
    };
    let client = harness::browser(&env.driver).await;
    let ids: Vec<String> = SHIPPED.iter().map(|s| s.to_string()).collect();
    round_trip_all(&client, &env.cdr, &ids).await;
    let _ = client.close().await;
}

#[tokio::test]
async fn the_largest_corpus_template_render_time_is_measured() {
    let Some(env) = harness::env("the render time").await else {
        return;
    };
    let Some(corpus) = upload_corpus(&env.cdr).await else {
        return;
    };
    let largest = corpus
        .iter()
        .max_by_key(|t| t.opt.len())
        .expect("a corpus template");
    let client = harness::browser(&env.driver).await;
    let ehr = env.cdr.ehr().await;
    let query = harness::form_query(&largest.id, &ehr);
    let mut times = Vec::new();
    for _ in 0..3 {
        let ms = harness::open_form(&client, &env.cdr, &query)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", largest.id));
        assert!(ms > 0.0, "data-render-ms {ms}");
        times.push(ms);
    }
    let controls = client
        .find_all(fantoccini::Locator::Css("cdr-form [data-flat-path]"))
        .await
        .unwrap()
        .len();
    assert!(
        controls > 100,
        "{} shows only {controls} controls",
        largest.id
    );
    times.sort_by(f64::total_cmp);
    eprintln!(
        "render ms of the largest corpus template, {} ({} bytes of OPT, {controls} controls): \
         {times:?} (median {})",
        largest.id,
        largest.opt.len(),
        times[1]
    );
    let _ = client.close().await;
}
