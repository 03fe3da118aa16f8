//! `cdr validate`: read compositions (canonical JSON or XML, FLAT or STRUCTURED) and validate
//! them against a template.

use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

use cdr_forms::flat::FlatLocation;
use cdr_server::http::error::issue_json;
use cdr_template::Template;
use cdr_validation::ValidationIssue;

use super::forms::{self, Form};

/// Validates compositions against an OPT 1.4
///
/// Validates compositions against an OPT 1.4: canonical JSON (*.json) or XML (*.xml), or with
/// --format the given format (FLAT and STRUCTURED are converted through the template first).
/// Exit 0 when all are valid, 1 when any is invalid, unreadable or does not convert, 2 on
/// usage errors or an unreadable template. --json prints one JSON object per file:
/// {file, valid, issues} (and error when the file does not read or convert).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct ValidateArgs {
    /// The operational template (OPT 1.4 XML)
    #[arg(short, long, value_name = "file.opt")]
    template: String,
    /// The compositions' format: json, xml, flat or structured [default: by extension]
    #[arg(short, long, value_name = "FORMAT", value_parser = Form::parse)]
    format: Option<Form>,
    /// One JSON object per file: {file, valid, issues}
    #[arg(long)]
    json: bool,
    /// The composition files
    #[arg(required = true, value_name = "composition")]
    files: Vec<String>,
}

pub fn run(args: ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let template = match forms::template(&args.template) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "cdr validate: {e}");
            return 2;
        }
    };
    let mut all_valid = true;
    for file in &args.files {
        let path = Path::new(file);
        let form = args.format.unwrap_or_else(|| Form::by_extension(path));
        let outcome = match std::fs::read(path) {
            Err(e) => Err(format!("cannot read file: {e}")),
            Ok(bytes) => issues_of(form, &template, &bytes),
        };
        match outcome {
            Err(message) => {
                all_valid = false;
                if args.json {
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({"file": file, "valid": false, "error": message, "issues": []})
                    );
                } else {
                    let _ = writeln!(out, "{file}: INVALID\n  {message}");
                }
            }
            Ok(issues) => {
                let valid = issues.is_empty();
                all_valid &= valid;
                if args.json {
                    let issues: Vec<&Value> = issues.iter().map(|(v, _)| v).collect();
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({"file": file, "valid": valid, "issues": issues})
                    );
                } else if valid {
                    let _ = writeln!(out, "{file}: valid");
                } else {
                    let _ = writeln!(out, "{file}: INVALID ({} issues)", issues.len());
                    for (_, line) in &issues {
                        let _ = writeln!(out, "  {line}");
                    }
                }
            }
        }
    }
    if all_valid {
        0
    } else {
        1
    }
}

/// The issues of one composition file, each as JSON and as a line of text; an error when it is
/// not a composition at all. A FLAT or STRUCTURED file's problems come first, all of them, each
/// at its FLAT key; then the validation issues of what it gives, with their FLAT place.
fn issues_of(
    form: Form,
    template: &Template,
    bytes: &[u8],
) -> Result<Vec<(Value, String)>, String> {
    let line = |i: &ValidationIssue, flat: Option<&FlatLocation>| {
        let flat = flat
            .map(|at| format!(" (FLAT {})", at.flat_path))
            .unwrap_or_default();
        format!("{}{flat} [{}] {}", i.path, i.constraint, i.message)
    };
    if !form.needs_template() {
        let composition = forms::read(form, Some(template), bytes)?;
        let issues = cdr_validation::validate(template, &composition);
        return Ok(issues
            .iter()
            .map(|i| (issue_json(i, None), line(i, None)))
            .collect());
    }
    let reading = forms::read_form(form, template, bytes)?;
    let mut out: Vec<(Value, String)> = reading
        .issues
        .iter()
        .map(|i| (json!(i), i.to_string()))
        .collect();
    let at = cdr_forms::flat::locate(template, &reading.canonical);
    let issues = reading
        .composition
        .as_ref()
        .map(|c| cdr_validation::validate(template, c))
        .unwrap_or_default();
    for i in issues
        .iter()
        .filter(|i| !reading.follows_from_issues(&i.path))
    {
        let place = at.find_issue(&i.path, &i.archetype_path);
        out.push((issue_json(i, place.as_ref()), line(i, place.as_ref())));
    }
    Ok(out)
}
