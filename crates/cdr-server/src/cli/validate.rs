//! `cdr validate`: decode compositions and validate them against a template.

use cdr_rm::{from_json, from_xml, Composition, DecodeError};
use serde_json::json;
use std::io::Write;
use std::path::Path;

struct Args {
    template: String,
    json: bool,
    files: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut template = None;
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
        json,
        files,
    })
}

/// Decodes a composition by file extension.
pub fn read_composition(path: &Path, bytes: &[u8]) -> Result<Composition, DecodeError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext == "xml" {
        from_xml(bytes)
    } else {
        from_json(bytes)
    }
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr validate: {e}\n\n{}", super::USAGE);
            return 2;
        }
    };
    let opt = match std::fs::read(&args.template) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(
                err,
                "cdr validate: cannot read template {}: {e}",
                args.template
            );
            return 2;
        }
    };
    let template = match cdr_template::parse_opt(&opt) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "cdr validate: {}: {e}", args.template);
            return 2;
        }
    };
    let mut all_valid = true;
    for file in &args.files {
        let path = Path::new(file);
        let outcome = match std::fs::read(path) {
            Err(e) => Err(format!("cannot read file: {e}")),
            Ok(bytes) => read_composition(path, &bytes)
                .map_err(|e| format!("not a readable composition: {e}")),
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
                if args.json {
                    let _ = writeln!(
                        out,
                        "{}",
                        json!({"file": file, "valid": valid, "issues": issues})
                    );
                } else if valid {
                    let _ = writeln!(out, "{file}: valid");
                } else {
                    let _ = writeln!(out, "{file}: INVALID ({} issues)", issues.len());
                    for i in &issues {
                        let _ = writeln!(out, "  {} [{}] {}", i.path, i.constraint, i.message);
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
