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

/// What a template makes of things: web templates, FLAT conversions, examples, OET builds
#[derive(clap::Args, Debug)]
pub(crate) struct TemplateArgs {
    #[command(subcommand)]
    command: TemplateCommand,
}

#[derive(clap::Subcommand, Debug)]
enum TemplateCommand {
    /// Prints the web template of an OPT 1.4
    ///
    /// Prints the web template (format 2.3, as EHRbase and Better publish it) of an OPT 1.4 as
    /// JSON. Exit 1 when the OPT does not parse, 2 on usage errors or an unreadable file.
    #[command(verbatim_doc_comment)]
    Webtemplate {
        /// JSON on one line
        #[arg(long)]
        compact: bool,
        /// The operational template (OPT 1.4 XML)
        #[arg(value_name = "file.opt")]
        opt: String,
    },
    /// Converts a FLAT composition to canonical JSON
    ///
    /// Converts a FLAT composition to canonical JSON through the template's web template.
    /// Exit 1 when the input does not convert (the message names the FLAT key or the place),
    /// 2 on usage errors or an unreadable template.
    #[command(verbatim_doc_comment)]
    FlatToCanonical {
        /// JSON on one line
        #[arg(long)]
        compact: bool,
        /// The operational template (OPT 1.4 XML)
        #[arg(value_name = "file.opt")]
        opt: String,
        /// The FLAT composition
        #[arg(value_name = "flat.json")]
        file: String,
    },
    /// Converts a canonical composition to FLAT
    ///
    /// Converts a canonical composition (JSON, or XML by its extension) to FLAT through the
    /// template's web template. Exit 1 when the input does not convert (the message names the
    /// place), 2 on usage errors or an unreadable template.
    #[command(verbatim_doc_comment)]
    CanonicalToFlat {
        /// JSON on one line
        #[arg(long)]
        compact: bool,
        /// The operational template (OPT 1.4 XML)
        #[arg(value_name = "file.opt")]
        opt: String,
        /// The canonical composition
        #[arg(value_name = "composition.json|.xml")]
        file: String,
    },
    /// Prints an example composition of a template
    ///
    /// Prints an example composition of the template (every node once, values the template
    /// allows), canonical JSON by default. Exit 1 when the OPT does not parse.
    #[command(verbatim_doc_comment)]
    Example {
        /// The format: json, xml, flat or structured [default: json]
        #[arg(long, value_name = "FORMAT", value_parser = Form::parse)]
        format: Option<Form>,
        /// JSON on one line
        #[arg(long)]
        compact: bool,
        /// The operational template (OPT 1.4 XML)
        #[arg(value_name = "file.opt")]
        opt: String,
    },
    /// Compiles an OET template to an OPT 1.4
    ///
    /// Compiles an OET template (Ocean Template Designer) with the ADL 1.4 archetypes found by
    /// id anywhere below <dir> (specialised ones flattened onto their parents) and prints the
    /// operational template (OPT 1.4 XML). Exit 1 when it does not compile (every error as
    /// file:line: message: a missing archetype, a rule or slot filling whose path matches no
    /// node), 2 on usage errors or unreadable input.
    #[command(verbatim_doc_comment)]
    Build {
        /// The directory whose archetypes (and templates) the OET uses
        #[arg(long, value_name = "dir")]
        archetypes: String,
        /// The OET template
        #[arg(value_name = "file.oet")]
        oet: String,
    },
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

pub fn run(args: TemplateArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match args.command {
        TemplateCommand::Example {
            format,
            compact,
            opt,
        } => {
            let t = match template(&opt, err) {
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
        TemplateCommand::Webtemplate { compact, opt } => match template(&opt, err) {
            Ok(t) => {
                print(out, &t.web_template().to_json(), compact);
                0
            }
            Err(code) => code,
        },
        TemplateCommand::FlatToCanonical { compact, opt, file } => {
            convert(&opt, &file, Form::Flat, Form::Json, compact, out, err)
        }
        TemplateCommand::CanonicalToFlat { compact, opt, file } => {
            let from = Form::by_extension(std::path::Path::new(&file));
            convert(&opt, &file, from, Form::Flat, compact, out, err)
        }
        TemplateCommand::Build { archetypes, oet } => build(&archetypes, &oet, out, err),
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
fn build(dir: &str, oet: &str, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
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
