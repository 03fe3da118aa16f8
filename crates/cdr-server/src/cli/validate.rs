//! `cdr validate`: read compositions (canonical JSON or XML, FLAT or STRUCTURED) and validate
//! them against a template.

use serde_json::json;
use std::io::Write;
use std::path::Path;

use super::forms::{self, Form};

struct Args {
    template: String,
    /// `None`: by file extension (canonical XML or JSON).
    format: Option<Form>,
    json: bool,
    files: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut template = None;
    let mut format = None;
    let mut json = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--template" | "-t" => {
                template = Some(it.next().ok_or("--template needs a file")?.clone());
            }
            s if s.starts_with("--template=") => {
                template = Some(s["--template=".len()..].to_owned())
            }
            "--format" | "-f" => {
                format = Some(Form::parse(it.next().ok_or("--format needs a format")?)?);
            }
            s if s.starts_with("--format=") => format = Some(Form::parse(&s["--format=".len()..])?),
            "--json" => json = true,
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option `{s}`")),
            _ => files.push(a.clone()),
        }
    }
    let template = template.ok_or("--template <file.opt> is required")?;
    if files.is_empty() {
        return Err("no composition files given".into());
    }
    Ok(Args {
        template,
        format,
        json,
        files,
    })
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr validate: {e}\n\n{}", super::USAGE);
            return 2;
        }
    };
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
            Ok(bytes) => forms::read(form, Some(&template), &bytes),
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
            Ok(composition) => {
                let issues = cdr_validation::validate(&template, &composition);
                let valid = issues.is_empty();
                all_valid &= valid;
                // Issues of a FLAT or STRUCTURED file also say where they are in it.
                let at = (!valid && form.needs_template()).then(|| {
                    let canonical =
                        cdr_rm::json::to_json_value(&composition, &cdr_rm::JsonConfig::CANONICAL);
                    cdr_template::flat::locate(&template, &canonical)
                });
                let located: Vec<_> = issues
                    .iter()
                    .map(|i| at.as_ref().and_then(|at| at.find(&i.path)))
                    .collect();
                if args.json {
                    let issues: Vec<_> = issues
                        .iter()
                        .zip(&located)
                        .map(|(i, at)| cdr_server::http::error::issue_json(i, at.as_ref()))
                        .collect();
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({"file": file, "valid": valid, "issues": issues})
                    );
                } else if valid {
                    let _ = writeln!(out, "{file}: valid");
                } else {
                    let _ = writeln!(out, "{file}: INVALID ({} issues)", issues.len());
                    for (i, at) in issues.iter().zip(&located) {
                        let flat = at
                            .as_ref()
                            .map(|at| format!(" (FLAT {})", at.flat_path))
                            .unwrap_or_default();
                        let _ =
                            writeln!(out, "  {}{flat} [{}] {}", i.path, i.constraint, i.message);
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
