//! `cdr convert`: a composition from one format to another (canonical JSON or XML, FLAT,
//! STRUCTURED), through a template where FLAT or STRUCTURED is involved. The composition is
//! converted, not validated (`cdr validate` does that).

use std::io::Write;
use std::path::Path;

use super::forms::{self, Form};

const NAME: &str = "cdr convert";

/// Converts a composition between json, xml, flat and structured
///
/// Converts a composition between json, xml, flat and structured; --from defaults to the file
/// extension (xml, else json); FLAT and STRUCTURED need the template. Prints the result.
/// Exit 1 when the input does not read or convert (the message names the FLAT key or the
/// place), 2 on usage errors or an unreadable template.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct ConvertArgs {
    /// The operational template (OPT 1.4 XML), for FLAT and STRUCTURED
    #[arg(short, long, value_name = "file.opt")]
    template: Option<String>,
    /// The input's format: json, xml, flat or structured [default: by extension]
    #[arg(long, value_name = "F", value_parser = Form::parse)]
    from: Option<Form>,
    /// The output's format: json, xml, flat or structured
    #[arg(long, value_name = "F", value_parser = Form::parse)]
    to: Form,
    /// JSON on one line
    #[arg(long)]
    compact: bool,
    /// The composition file
    #[arg(value_name = "composition")]
    file: String,
}

pub fn run(args: ConvertArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let from = args
        .from
        .unwrap_or_else(|| Form::by_extension(Path::new(&args.file)));
    if args.template.is_none() && (from.needs_template() || args.to.needs_template()) {
        return super::usage(err, NAME, "FLAT and STRUCTURED need --template <file.opt>");
    }
    let template = match args.template.as_deref().map(forms::template).transpose() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: {e}");
            return 2;
        }
    };
    let file = &args.file;
    match forms::convert_file(file, from, args.to, template.as_ref(), args.compact) {
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
