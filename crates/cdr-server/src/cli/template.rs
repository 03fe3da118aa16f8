//! `cdr template webtemplate <file.opt>`: prints the web template of an OPT as JSON.

use std::io::Write;

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (file, compact) = match args {
        [cmd, rest @ ..] if cmd == "webtemplate" => {
            let compact = rest.iter().any(|a| a == "--compact");
            let files: Vec<&String> = rest.iter().filter(|a| *a != "--compact").collect();
            match files.as_slice() {
                [f] if !f.starts_with('-') => ((*f).clone(), compact),
                _ => {
                    let _ = writeln!(
                        err,
                        "cdr template webtemplate: expected one OPT file\n\n{}",
                        super::USAGE
                    );
                    return 2;
                }
            }
        }
        _ => {
            let _ = writeln!(
                err,
                "cdr template: expected `webtemplate <file.opt>`\n\n{}",
                super::USAGE
            );
            return 2;
        }
    };
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            let _ = writeln!(err, "cdr template webtemplate: cannot read {file}: {e}");
            return 2;
        }
    };
    let template = match cdr_template::parse_opt(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "cdr template webtemplate: {file}: {e}");
            return 1;
        }
    };
    let json = template.web_template().to_json();
    let text = if compact {
        json.to_string()
    } else {
        serde_json::to_string_pretty(&json).unwrap_or_else(|_| json.to_string())
    };
    let _ = writeln!(out, "{text}");
    0
}
