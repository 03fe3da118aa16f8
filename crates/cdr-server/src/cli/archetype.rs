//! `cdr archetype check FILE|DIR…`: parses and checks ADL 1.4 archetypes (every `.adl` file
//! below a directory), specialised ones against their parents found among them, and prints
//! each finding as `file:line:col: CODE: message`.

use std::io::Write;
use std::path::{Path, PathBuf};

const NAME: &str = "cdr archetype";

/// Checks ADL 1.4 archetypes
#[derive(clap::Args, Debug)]
pub(crate) struct ArchetypeArgs {
    #[command(subcommand)]
    command: ArchetypeCommand,
}

#[derive(clap::Subcommand, Debug)]
enum ArchetypeCommand {
    /// Parses and checks ADL 1.4 archetypes
    ///
    /// Parses and checks ADL 1.4 archetypes (every .adl file below a directory): codes used
    /// but not defined or defined but not used, node ids repeated among siblings, occurrences
    /// outside their attribute's cardinality, slot assertions that are not archetype id
    /// patterns, RM types and attributes, use_node paths; a specialised archetype also against
    /// its parent found among them (occurrences, existence, cardinality, types, codes, values
    /// no wider than the parent's). Prints each finding as file:line:col: CODE: message (the
    /// openEHR validity rule's code; W and I codes are warnings). Exit 0 when there are no
    /// errors (with --strict: no warnings either), 1 when a file has errors or does not read
    /// or parse, 2 on usage errors.
    #[command(verbatim_doc_comment)]
    Check {
        /// Warnings fail too
        #[arg(long)]
        strict: bool,
        /// Archetype files, or directories to search for .adl files
        #[arg(required = true, value_name = "file.adl|dir")]
        roots: Vec<PathBuf>,
    },
}

pub fn run(args: ArchetypeArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let ArchetypeCommand::Check { strict, roots } = args.command;
    check(strict, &roots, out, err)
}

fn check(strict: bool, roots: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut failed = false;
    let mut files = Vec::new();
    for root in roots {
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
