//! FLAT and STRUCTURED compositions over REST. A FLAT or STRUCTURED body
//! (`Content-Type: application/openehr.wt.flat+json` or `…wt.structured+json`, or
//! `format=FLAT|STRUCTURED`) is converted to canonical JSON through the template named by the
//! `templateId` parameter (or the `openEHR-TEMPLATE_ID` header); a FLAT or STRUCTURED answer is
//! converted from the stored canonical JSON through the template the composition names.
//! A body that does not read cleanly is 422 `invalid_flat` / `invalid_structured` with every
//! problem at once (keys that name nothing, values that do not convert, RM attributes left
//! out) beside the validation issues of what converted, each with its FLAT key and web
//! template node; what the format cannot say is 406 `not_representable`.

use std::sync::Arc;

use actix_web::web::Payload;
use actix_web::HttpRequest;
use serde_json::Value;

use cdr_forms::flat::{FlatError, FormReading};
use cdr_rm::Composition;
use cdr_store::Principal;
use cdr_template::Template;

use super::error::{ApiError, ApiResult, Code};
use super::media::{self, Format};
use super::AppState;

/// The template id a FLAT or STRUCTURED body is for.
fn template_id(req: &HttpRequest) -> ApiResult<String> {
    let params = super::headers::query(req)?;
    let header = req
        .headers()
        .get("openehr-template_id")
        .and_then(|v| v.to_str().ok());
    params
        .get("templateId")
        .map(String::as_str)
        .or(header)
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidParameter,
                "a FLAT or STRUCTURED composition needs its template: give templateId (or \
                 openEHR-TEMPLATE_ID)",
            )
        })
}

/// A conversion error of `format`: the key's problem (422) or what the format cannot say (406).
fn conversion_error(e: FlatError, format: Format) -> ApiError {
    let code = match (&e, format) {
        (FlatError::NotRepresentable { .. }, _) => Code::NotRepresentable,
        (_, Format::Structured) => Code::InvalidStructured,
        _ => Code::InvalidFlat,
    };
    ApiError::new(code, e.to_string())
}

/// Where the issues of a composition are in the form it came in (nothing for canonical JSON
/// and XML, whose issue paths are their own).
#[derive(Debug, Default)]
pub struct Placer {
    /// The template and canonical JSON of a FLAT or STRUCTURED body.
    form: Option<(Arc<Template>, Value)>,
}

impl Placer {
    /// `err` with each validation issue placed at its FLAT path and web template node.
    pub fn place(&self, err: ApiError) -> ApiError {
        match &self.form {
            Some((template, canonical)) if err.has_issues() => {
                let at = cdr_forms::flat::locate(template, canonical);
                err.locate_issues(|i| at.find_issue(&i.path, &i.archetype_path))
            }
            _ => err,
        }
    }
}

/// Reads a composition body: canonical JSON or XML, or FLAT or STRUCTURED converted through
/// its template (with what places its issues in that form).
pub async fn read_composition(
    req: &HttpRequest,
    state: &AppState,
    payload: Payload,
) -> ApiResult<(Composition, Placer)> {
    let Some(format) = media::form_body(req) else {
        let composition = media::read_rm(req, payload, state.limits.document).await?;
        return Ok((composition, Placer::default()));
    };
    let template_id = template_id(req)?;
    let body = media::read_body(req, payload, state.limits.document).await?;
    let value = media::decode_value(&body)?;
    let template = state
        .store
        .get_template(&state.caller(req), &template_id)
        .await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let reading = match (format, value) {
        (Format::Structured, v) => cdr_forms::structured::read_structured(&template, &v, &now),
        (_, Value::Object(flat)) => cdr_forms::flat::read_flat(&template, &flat, &now),
        _ => {
            return Err(ApiError::new(
                Code::MalformedBody,
                "a FLAT composition is a JSON object of paths and values",
            ))
        }
    };
    match reading {
        FormReading {
            composition: Some(composition),
            canonical,
            ref issues,
            ..
        } if issues.is_empty() => {
            let placer = Placer {
                form: Some((template, canonical)),
            };
            Ok((composition, placer))
        }
        reading => Err(unreadable(&template, reading, format)),
    }
}

/// A FLAT or STRUCTURED body that did not read cleanly: its problems and the validation issues
/// of what converted (those that only repeat a problem left out), all at once.
fn unreadable(template: &Template, reading: FormReading, format: Format) -> ApiError {
    let code = match format {
        Format::Structured => Code::InvalidStructured,
        _ => Code::InvalidFlat,
    };
    let issues: Vec<_> = reading
        .composition
        .as_ref()
        .map(|c| cdr_validation::validate(template, c))
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !reading.follows_from_issues(&i.path))
        .collect();
    let first = reading.issues.first().map(ToString::to_string);
    let detail = format!(
        "{} problem(s) reading the composition{}; {} validation issue(s) in what it gives",
        reading.issues.len(),
        first
            .map(|f| format!(", the first: {f}"))
            .unwrap_or_default(),
        issues.len()
    );
    let at = cdr_forms::flat::locate(template, &reading.canonical);
    ApiError::new(code, detail)
        .with_form_issues(reading.issues, issues)
        .locate_issues(|i| at.find_issue(&i.path, &i.archetype_path))
}

/// A stored composition document as FLAT or STRUCTURED text, when `format` asks for one.
pub async fn answer_document(
    state: &AppState,
    caller: &Principal,
    document: Option<String>,
    format: Option<Format>,
) -> ApiResult<Option<String>> {
    let (Some(doc), Some(format @ (Format::Flat | Format::Structured))) = (&document, format)
    else {
        return Ok(document);
    };
    let value: Value = serde_json::from_str(doc)
        .map_err(|e| ApiError::new(Code::Internal, format!("stored JSON: {e}")))?;
    through_its_template(state, caller, value, format)
        .await
        .map(Some)
}

/// A canonical composition converted through the template it names.
async fn through_its_template(
    state: &AppState,
    caller: &Principal,
    value: Value,
    format: Format,
) -> ApiResult<String> {
    let template_id = value
        .pointer("/archetype_details/template_id/value")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(Code::NotRepresentable, "the composition names no template")
        })?;
    let template = state.store.get_template(caller, template_id).await?;
    render(&template, value, format)
}

/// A composition that is not stored, in `format`, as a stored one would be answered.
pub async fn represent(
    state: &AppState,
    caller: &Principal,
    composition: &Composition,
    format: Format,
) -> ApiResult<String> {
    let value = cdr_rm::json::to_json_value(composition, &cdr_rm::JsonConfig::CANONICAL);
    match format {
        Format::Flat | Format::Structured => {
            through_its_template(state, caller, value, format).await
        }
        Format::Xml => Ok(cdr_rm::to_xml(composition, "composition")),
        other => media::render_value(value, other),
    }
}

/// A canonical composition in `format`: as it is, as XML, or converted through its template.
pub fn render(template: &Template, value: Value, format: Format) -> ApiResult<String> {
    let converted = match format {
        Format::Flat => cdr_forms::flat::canonical_to_flat(template, &value).map(Value::Object),
        Format::Structured => cdr_forms::structured::canonical_to_structured(template, &value),
        other => return media::render_value(value, other),
    };
    converted
        .map(|v| v.to_string())
        .map_err(|e| conversion_error(e, format))
}
