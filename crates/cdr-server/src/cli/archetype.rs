//! `cdr archetype check FILE|DIR…`: parses and checks ADL 1.4 archetypes (every `.adl` file
//! below a directory), specialised ones against their parents found among them, and prints
//! each finding as `file:line:col: CODE: message`.

use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "cdr archetype";

fn usage(err: &mut dyn Write, what: &str) -> i32 {
    let _ = writeln!(err, "{NAME}: {what}\n\n{}", super::USAGE);
    2
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match args.first().map(String::as_str) {
        Some("check") => check(&args[1..], out, err),
        Some(other) => usage(err, &format!("unknown subcommand `{other}`")),
        None => usage(err, "a subcommand is needed (check)"),
    }
}

fn check(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut strict = false;
    let mut roots = Vec::new();
    for a in args {
        match a.as_str() {
            "--strict" => strict = true,
            s if s.starts_with('-') && s.len() > 1 => {
                return usage(err, &format!("unknown option `{s}`"))
            }
            _ => roots.push(PathBuf::from(a)),
        }
    }
    if roots.is_empty() {
        return usage(err, "no archetype files or directories given");
    }
    let mut failed = false;
    let mut files = Vec::new();
    for root in &roots {
        if root.is_dir() {
            if let Err(e) = adl_files(root, &mut files) {
                let _ = writeln!(out, "{}: cannot read directory: {e}", root.display());
                failed = true;
            }
        } else {
            files.push(root.clone());
        }
    }
    // Parse everything first: a specialised archetype is checked against its parent, which
    // may come later.
    let mut parsed = Vec::new();
    for file in &files {
        let name = file.display().to_string();
        let text = match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(t) => t,
                Err(e) => {
                    let _ = writeln!(out, "{name}: not UTF-8 text: {e}");
                    failed = true;
                    continue;
                }
            },
            Err(e) => {
                let _ = writeln!(out, "{name}: cannot read file: {e}");
                failed = true;
                continue;
            }
        };
        match cdr_adl::parse(&text, &name) {
            Ok(a) => parsed.push((name, a)),
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{}:{}:{}: parse: {}",
                    e.source_name, e.line, e.column, e.message
                );
                failed = true;
            }
        }
    }
    let archetypes: Vec<cdr_adl::Archetype> = parsed.iter().map(|(_, a)| a.clone()).collect();
    let (mut errors, mut warnings) = (0, 0);
    for ((name, _), findings) in parsed.iter().zip(cdr_adl::check_set(&archetypes)) {
        for f in findings {
            let (line, column) = f.line_col.unwrap_or((1, 1));
            let severity = match f.severity {
                cdr_adl::Severity::Error => {
                    errors += 1;
                    ""
                }
                cdr_adl::Severity::Warning => {
                    warnings += 1;
                    "warning: "
                }
            };
            let at = f.path.map(|p| format!(" (at {p})")).unwrap_or_default();
            let _ = writeln!(
                out,
                "{name}:{line}:{column}: {}: {severity}{}{at}",
                f.code, f.message
            );
        }
    }
    let _ = writeln!(
        err,
        "{NAME} check: {} archetypes checked, {} did not parse or read, {errors} errors, {warnings} warnings",
        parsed.len(),
        files.len() - parsed.len()
    );
    if failed || errors > 0 || (strict && warnings > 0) {
        1
    } else {
        0
    }
}

/// Every `.adl` file below `dir`, sorted by path.
fn adl_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    out.extend(cdr_server::models::files_below(dir, "adl")?);
    Ok(())
}
