//! `cdr convert`: a composition from one format to another (canonical JSON or XML, FLAT,
//! STRUCTURED), through a template where FLAT or STRUCTURED is involved. The composition is
//! converted, not validated (`cdr validate` does that).

use std::io::Write;
use std::path::Path;

use super::forms::{self, Form};

const NAME: &str = "cdr convert";

struct Args {
    template: Option<String>,
    from: Form,
    to: Form,
    compact: bool,
    file: String,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut template = None;
    let mut from = None;
    let mut to = None;
    let mut compact = false;
    let mut files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs {what}"))
        };
        match flag {
            "--template" | "-t" => template = Some(value("a file")?),
            "--from" => from = Some(Form::parse(&value("a format")?)?),
            "--to" => to = Some(Form::parse(&value("a format")?)?),
            "--compact" => compact = true,
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option `{s}`")),
            _ => files.push(a.clone()),
        }
    }
    let to = to.ok_or("--to json|xml|flat|structured is required")?;
    let file = match files.as_slice() {
        [one] => one.clone(),
        [] => return Err("no composition file given".into()),
        _ => return Err("one composition file at a time".into()),
    };
    let from = from.unwrap_or_else(|| Form::by_extension(Path::new(&file)));
    if template.is_none() && (from.needs_template() || to.needs_template()) {
        return Err("FLAT and STRUCTURED need --template <file.opt>".into());
    }
    Ok(Args {
        template,
        from,
        to,
        compact,
        file,
    })
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: {e}\n\n{}", super::USAGE);
            return 2;
        }
    };
    let template = match args.template.as_deref().map(forms::template).transpose() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{NAME}: {e}");
            return 2;
        }
    };
    let file = &args.file;
    match forms::convert_file(file, args.from, args.to, template.as_ref(), args.compact) {
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
