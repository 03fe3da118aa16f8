//! `cdr import`: loads composition files into the store in parallel — canonical JSON or XML
//! (by extension), or FLAT or STRUCTURED through an uploaded template — each into the EHR given,
//! or into a new EHR per file. A progress bar on a terminal, then a summary; every refused file
//! is reported with why (its validation issues, or what did not read or convert).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use cdr_store::{CommitMeta, Principal, Store, StoreError};
use uuid::Uuid;

use super::forms::{self, Form};
use super::Settings;

/// Loads compositions into the store
///
/// Loads compositions (files given, and *.json/*.xml below directories) into the store,
/// N at a time (8): canonical JSON or XML by extension, or FLAT/STRUCTURED through the
/// uploaded template ID; into the EHR ID, else a new EHR per file. Prints a progress bar on
/// a terminal and a summary; each refused file with why. Exit 1 when any was refused.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    store: super::StoreDir,
    /// Commits into the EHR ID, else into a new EHR per file
    #[arg(long, value_name = "ID")]
    ehr_id: Option<Uuid>,
    /// The files' format: json, xml, flat or structured [default: by extension]
    #[arg(long = "format", value_name = "json|xml|flat|structured", value_parser = Form::parse)]
    form: Option<Form>,
    /// The uploaded template (its id) that FLAT and STRUCTURED files are read through
    #[arg(long, value_name = "ID")]
    template: Option<String>,
    /// How many files are committed at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: u32,
    /// Composition files, or directories to search for *.json and *.xml
    #[arg(required = true, value_name = "file|dir")]
    files: Vec<PathBuf>,
}

/// The files to import: those given, and those below the directories given whose extension is
/// `json` or `xml`, in path order.
fn files(given: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for g in given {
        if g.is_dir() {
            for ext in ["json", "xml"] {
                out.extend(
                    cdr_server::models::files_below(g, ext)
                        .map_err(|e| format!("{}: {e}", g.display()))?,
                );
            }
        } else {
            out.push(g.clone());
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Why a file was refused, for the report.
fn refusal(e: &StoreError) -> String {
    match e {
        StoreError::Invalid(issues) | StoreError::Malformed(issues) => issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

pub fn run(args: ImportArgs, settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if args.form.is_some_and(Form::needs_template) && args.template.is_none() {
        return super::usage(
            err,
            "cdr import",
            "FLAT and STRUCTURED need --template (the id of an uploaded template)",
        );
    }
    let files = match files(&args.files) {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "cdr import: {e}");
            return 2;
        }
    };
    let (config, stop) = super::store_config(args.store.data_dir.clone(), settings);
    let runtime = match super::runtime("import", err) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let Some(store) = super::open_store("import", &config, err).await else {
            return 2;
        };
        let code = import(&store, &args, files, out, err).await;
        if stop {
            let _ = store.shutdown().await;
        }
        code
    })
}

async fn import(
    store: &Store,
    args: &ImportArgs,
    files: Vec<PathBuf>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let caller = Principal {
        name: Some(format!(
            "cdr import ({})",
            std::env::var("USER").unwrap_or_default()
        )),
        ..Principal::local()
    };
    let template = match &args.template {
        Some(id) => match store.get_template(&caller, id).await {
            Ok(t) => Some(t),
            Err(e) => {
                let _ = writeln!(err, "cdr import: --template {id}: {e}");
                return 2;
            }
        },
        None => None,
    };
    if let Some(ehr) = args.ehr_id {
        if let Err(e) = store.get_ehr(&caller, ehr).await {
            let _ = writeln!(err, "cdr import: --ehr-id {ehr}: {e}");
            return 2;
        }
    }
    let progress = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} files, {per_sec}, {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(files.into_iter().enumerate()));
    let mut tasks = Vec::new();
    for _ in 0..args.jobs {
        let (store, caller, queue) = (store.clone(), caller.clone(), queue.clone());
        let (template, progress) = (template.clone(), progress.clone());
        let (form, ehr_id) = (args.form, args.ehr_id);
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((i, file)) = next else { break };
                let outcome = one(&store, &caller, &file, form, template.as_deref(), ehr_id).await;
                progress.inc(1);
                results.push((i, file, outcome));
            }
            results
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        if let Ok(r) = t.await {
            results.extend(r);
        }
    }
    progress.finish_and_clear();
    results.sort_by_key(|(i, _, _)| *i);
    let refused: Vec<_> = results.iter().filter(|(_, _, r)| r.is_err()).collect();
    for (_, file, r) in &refused {
        if let Err(why) = r {
            let _ = writeln!(err, "{}: refused: {why}", file.display());
        }
    }
    let imported = results.len() - refused.len();
    let secs = started.elapsed().as_secs_f64();
    let _ = writeln!(
        out,
        "cdr import: {imported} imported, {} refused, of {} files in {secs:.1} s ({:.0}/s)",
        refused.len(),
        results.len(),
        results.len() as f64 / secs.max(1e-9)
    );
    i32::from(!refused.is_empty())
}

/// Imports one file; the version uid, or why not.
async fn one(
    store: &Store,
    caller: &Principal,
    file: &std::path::Path,
    form: Option<Form>,
    template: Option<&cdr_template::Template>,
    ehr_id: Option<Uuid>,
) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let form = form.unwrap_or_else(|| Form::by_extension(file));
    let composition = forms::read(form, template, &bytes)?;
    let ehr = match ehr_id {
        Some(e) => e,
        None => {
            store
                .create_ehr(caller, None, None, CommitMeta::default())
                .await
                .map_err(|e| refusal(&e))?
                .ehr_id
        }
    };
    store
        .create_composition(caller, ehr, composition, CommitMeta::default())
        .await
        .map(|v| v.uid.to_string())
        .map_err(|e| refusal(&e))
}
