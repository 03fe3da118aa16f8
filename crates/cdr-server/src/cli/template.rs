//! `cdr template …`: what a template makes of things, without a server.
//! - `webtemplate <file.opt>`: the web template as JSON;
//! - `flat-to-canonical <file.opt> <flat.json>`: a FLAT composition as canonical JSON;
//! - `canonical-to-flat <file.opt> <composition.json|xml>`: a composition as FLAT;
//! - `example <file.opt> [--format F]`: an example composition in any format;
//! - `build --archetypes <dir> <file.oet>`: the OPT 1.4 compiled from an OET template and the
//!   archetypes (and the templates it embeds) found by id below the directory.

use std::io::Write;

use serde_json::Value;

use cdr_forms::Forms;

use super::forms::{self, Form};

const NAME: &str = "cdr template";

fn usage(err: &mut dyn Write, what: &str) -> i32 {
    let _ = writeln!(err, "{NAME}: {what}\n\n{}", super::USAGE);
    2
}

/// Reads and parses an OPT; exit code 2 (unreadable) or 1 (not an OPT) on failure.
fn template(file: &str, err: &mut dyn Write) -> Result<cdr_template::Template, i32> {
    let bytes = std::fs::read(file).map_err(|e| {
        let _ = writeln!(err, "{NAME}: cannot read {file}: {e}");
        2
    })?;
    cdr_template::parse_opt(&bytes).map_err(|e| {
        let _ = writeln!(err, "{NAME}: {file}: {e}");
        1
    })
}

fn print(out: &mut dyn Write, json: &Value, compact: bool) {
    let text = if compact {
        json.to_string()
    } else {
        serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
    };
    let _ = writeln!(out, "{text}");
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if args.first().map(String::as_str) == Some("build") {
        return build(&args[1..], out, err);
    }
    let mut compact = false;
    let mut format = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        let given = match a {
            "--compact" => {
                compact = true;
                continue;
            }
            "--format" => it.next(),
            _ => match a.strip_prefix("--format=") {
                Some(f) => Some(f),
                None => {
                    rest.push(a);
                    continue;
                }
            },
        };
        match given.map(Form::parse) {
            Some(Ok(f)) => format = Some(f),
            Some(Err(e)) => return usage(err, &e),
            None => return usage(err, "--format needs a format"),
        }
    }
    if rest.iter().skip(1).any(|a| a.starts_with('-')) {
        return usage(err, "unknown option");
    }
    if format.is_some() && rest.first() != Some(&"example") {
        return usage(err, "--format goes with `example`");
    }
    match rest.as_slice() {
        ["example", opt] => {
            let t = match template(opt, err) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let form = format.unwrap_or(Form::Json);
            match forms::example(&t).and_then(|c| forms::write(form, Some(&t), &c, compact)) {
                Ok(text) => {
                    let _ = writeln!(out, "{text}");
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: {opt}: {e}");
                    1
                }
            }
        }
        ["webtemplate", opt] => match template(opt, err) {
            Ok(t) => {
                print(out, &t.web_template().to_json(), compact);
                0
            }
            Err(code) => code,
        },
        ["flat-to-canonical", opt, file] => {
            convert(opt, file, Form::Flat, Form::Json, compact, out, err)
        }
        ["canonical-to-flat", opt, file] => {
            let from = Form::by_extension(std::path::Path::new(file));
            convert(opt, file, from, Form::Flat, compact, out, err)
        }
        _ => usage(
            err,
            "expected `webtemplate <opt>`, `flat-to-canonical <opt> <flat.json>`, \
             `canonical-to-flat <opt> <composition>` or `example <opt> [--format F]`",
        ),
    }
}

/// Converts `file` from one format to another through the template `opt`.
fn convert(
    opt: &str,
    file: &str,
    from: Form,
    to: Form,
    compact: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let t = match template(opt, err) {
        Ok(t) => t,
        Err(code) => return code,
    };
    match forms::convert_file(file, from, to, Some(&t), compact) {
        Ok(text) => {
            let _ = writeln!(out, "{text}");
            0
        }
        Err(e) => {
            let _ = writeln!(err, "{NAME}: {file}: {e}");
            1
        }
    }
}

/// `build --archetypes <dir> <file.oet>`: prints the compiled OPT. Exit 1 when the template
/// does not compile (every error printed as `file:line: message`), 2 on usage errors or
/// unreadable input.
fn build(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut dir = None;
    let mut files = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "--archetypes" => match it.next() {
                Some(d) => dir = Some(d),
                None => return usage(err, "--archetypes needs a directory"),
            },
            _ => match a.strip_prefix("--archetypes=") {
                Some(d) => dir = Some(d),
                None if a.starts_with('-') => return usage(err, &format!("unknown option `{a}`")),
                None => files.push(a),
            },
        }
    }
    let (Some(dir), [oet]) = (dir, files.as_slice()) else {
        return usage(err, "expected `build --archetypes <dir> <file.oet>`");
    };
    let dir_path = std::path::Path::new(dir);
    let loaded = cdr_server::models::load_archetypes(dir_path)
        .and_then(|(a, p)| Ok((a, p, cdr_server::models::load_templates(dir_path)?)));
    let (archetypes, problems, templates) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: cannot read {dir}: {e}");
            return 2;
        }
    };
    let bytes = match std::fs::read(oet) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: cannot read {oet}: {e}");
            return 2;
        }
    };
    match cdr_template::compile::compile_with(&bytes, &archetypes, &templates) {
        Ok(xml) => {
            let _ = write!(out, "{xml}");
            0
        }
        Err(errors) => {
            for e in &errors {
                let _ = writeln!(err, "{}", e.located(oet));
            }
            // Archetypes that did not parse may be the ones the template misses.
            for p in &problems {
                let _ = writeln!(err, "{NAME}: skipped {p}");
            }
            1
        }
    }
}
