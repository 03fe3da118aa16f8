//! `cdr template …`: what a template makes of things, without a server.
//! - `webtemplate <file.opt>`: the web template as JSON;
//! - `flat-to-canonical <file.opt> <flat.json>`: a FLAT composition as canonical JSON;
//! - `canonical-to-flat <file.opt> <composition.json|xml>`: a composition as FLAT.

use std::io::Write;

use serde_json::Value;

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
    let compact = args.iter().any(|a| a == "--compact");
    let rest: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--compact")
        .collect();
    if rest.iter().skip(1).any(|a| a.starts_with('-')) {
        return usage(err, "unknown option");
    }
    match rest.as_slice() {
        ["webtemplate", opt] => match template(opt, err) {
            Ok(t) => {
                print(out, &t.web_template().to_json(), compact);
                0
            }
            Err(code) => code,
        },
        ["flat-to-canonical", opt, file] => {
            let t = match template(opt, err) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let flat = match std::fs::read(file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()))
            {
                Ok(Value::Object(m)) => m,
                Ok(_) => {
                    let _ = writeln!(err, "{NAME}: {file}: a FLAT composition is a JSON object");
                    return 1;
                }
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: {file}: {e}");
                    return 1;
                }
            };
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            match cdr_template::flat::flat_to_canonical(&t, &flat, &now) {
                Ok(c) => {
                    print(out, &c, compact);
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: {file}: {e}");
                    1
                }
            }
        }
        ["canonical-to-flat", opt, file] => {
            let t = match template(opt, err) {
                Ok(t) => t,
                Err(code) => return code,
            };
            let composition = match std::fs::read(file) {
                Ok(bytes) => super::validate::read_composition(std::path::Path::new(file), &bytes),
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: cannot read {file}: {e}");
                    return 1;
                }
            };
            let composition = match composition {
                Ok(c) => c,
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: {file}: {e}");
                    return 1;
                }
            };
            let json = cdr_rm::json::to_json_value(&composition, &cdr_rm::JsonConfig::CANONICAL);
            match cdr_template::flat::canonical_to_flat(&t, &json) {
                Ok(flat) => {
                    print(out, &Value::Object(flat), compact);
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "{NAME}: {file}: {e}");
                    1
                }
            }
        }
        _ => usage(
            err,
            "expected `webtemplate <opt>`, `flat-to-canonical <opt> <flat.json>` or \
             `canonical-to-flat <opt> <composition>`",
        ),
    }
}
