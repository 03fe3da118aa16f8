//! The composition formats of the command line: canonical JSON and XML, and FLAT and
//! STRUCTURED read and written through a template's web template. Failures are messages for
//! the user (the conversion's name the FLAT key or the place).

use std::path::Path;

use cdr_forms::flat::FormReading;
use cdr_rm::Composition;
use cdr_template::Template;
use serde_json::Value;

/// A composition format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Xml,
    Flat,
    Structured,
}

impl Form {
    /// `json`, `xml`, `flat` or `structured` (any case).
    pub fn parse(s: &str) -> Result<Form, String> {
        match s.to_ascii_lowercase().as_str() {
            "json" | "canonical" => Ok(Form::Json),
            "xml" => Ok(Form::Xml),
            "flat" => Ok(Form::Flat),
            "structured" => Ok(Form::Structured),
            _ => Err(format!(
                "unknown format `{s}` (json, xml, flat or structured)"
            )),
        }
    }

    /// Canonical XML for `*.xml`, canonical JSON otherwise.
    pub fn by_extension(path: &Path) -> Form {
        let xml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("xml"));
        if xml {
            Form::Xml
        } else {
            Form::Json
        }
    }

    /// Whether reading or writing this format needs a template.
    pub fn needs_template(self) -> bool {
        matches!(self, Form::Flat | Form::Structured)
    }

    fn name(self) -> &'static str {
        match self {
            Form::Json => "JSON",
            Form::Xml => "XML",
            Form::Flat => "FLAT",
            Form::Structured => "STRUCTURED",
        }
    }
}

/// The time FLAT and STRUCTURED compositions without `ctx/time` are given.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The template a format needs, or why there is none.
fn need(form: Form, template: Option<&Template>) -> Result<&Template, String> {
    template.ok_or_else(|| format!("{} needs --template", form.name()))
}

/// Reads a composition in `form`.
pub fn read(form: Form, template: Option<&Template>, bytes: &[u8]) -> Result<Composition, String> {
    let unreadable = |e: cdr_rm::DecodeError| format!("not a readable composition: {e}");
    match form {
        Form::Json => cdr_rm::from_json(bytes).map_err(unreadable),
        Form::Xml => cdr_rm::from_xml(bytes).map_err(unreadable),
        Form::Flat | Form::Structured => {
            let reading = read_form(form, need(form, template)?, bytes)?;
            match reading.composition {
                Some(c) if reading.issues.is_empty() => Ok(c),
                _ => Err(format!(
                    "does not convert from {}: {}",
                    form.name(),
                    reading
                        .issues
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                )),
            }
        }
    }
}

/// Reads a FLAT or STRUCTURED composition through `template`, every problem at once; an error
/// when the bytes are not such a composition at all.
pub fn read_form(form: Form, template: &Template, bytes: &[u8]) -> Result<FormReading, String> {
    match (form, json(bytes)?) {
        (Form::Structured, v) => Ok(cdr_forms::structured::read_structured(template, &v, &now())),
        (_, Value::Object(flat)) => Ok(cdr_forms::flat::read_flat(template, &flat, &now())),
        _ => Err("a FLAT composition is a JSON object of paths and values".into()),
    }
}

fn json(bytes: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))
}

/// Writes a composition in `form` (JSON pretty-printed unless `compact`).
pub fn write(
    form: Form,
    template: Option<&Template>,
    composition: &Composition,
    compact: bool,
) -> Result<String, String> {
    let canonical = || cdr_rm::json::to_json_value(composition, &cdr_rm::JsonConfig::CANONICAL);
    let value = match form {
        Form::Xml => return Ok(cdr_rm::to_xml(composition, "composition")),
        Form::Json => canonical(),
        Form::Flat => cdr_forms::flat::canonical_to_flat(need(form, template)?, &canonical())
            .map(Value::Object)
            .map_err(|e| e.to_string())?,
        Form::Structured => {
            cdr_forms::structured::canonical_to_structured(need(form, template)?, &canonical())
                .map_err(|e| e.to_string())?
        }
    };
    Ok(if compact {
        value.to_string()
    } else {
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
    })
}

/// Reads and parses an OPT, or says why not (the caller picks the exit code).
pub fn template(file: &str) -> Result<Template, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read template {file}: {e}"))?;
    cdr_template::parse_opt(&bytes).map_err(|e| format!("{file}: {e}"))
}

/// Reads `file` in `from` and writes it in `to`.
pub fn convert_file(
    file: &str,
    from: Form,
    to: Form,
    template: Option<&Template>,
    compact: bool,
) -> Result<String, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read file: {e}"))?;
    write(to, template, &read(from, template, &bytes)?, compact)
}

/// The example composition of a template (written now).
pub fn example(template: &Template) -> Result<Composition, String> {
    let canonical = cdr_forms::example::example_composition(template, &now())
        .map_err(|e| format!("no example: {e}"))?;
    cdr_rm::json::from_json_value(canonical).map_err(|e| format!("no example: {e}"))
}
