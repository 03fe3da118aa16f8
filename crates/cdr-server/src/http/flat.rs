//! FLAT compositions over REST. A FLAT body (`Content-Type: application/openehr.wt.flat+json`
//! or `format=FLAT`) is converted to canonical JSON through the template named by the
//! `templateId` parameter (or the `openEHR-TEMPLATE_ID` header); a FLAT answer is converted from
//! the stored canonical JSON through the template the composition names. Conversion failures
//! are 422 `invalid_flat` (naming the FLAT key) and 406 `not_representable`.

use actix_web::web::Payload;
use actix_web::HttpRequest;
use serde_json::Value;

use cdr_rm::Composition;
use cdr_store::Principal;
use cdr_template::Template;

use super::error::{ApiError, ApiResult, Code};
use super::media::{self, Format};
use super::AppState;

/// The template id a FLAT body is for.
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
                "a FLAT composition needs its template: give templateId (or openEHR-TEMPLATE_ID)",
            )
        })
}

/// Reads a composition body: canonical JSON or XML, or FLAT converted through its template.
pub async fn read_composition(
    req: &HttpRequest,
    state: &AppState,
    payload: Payload,
) -> ApiResult<Composition> {
    if !media::flat_body(req) {
        return media::read_rm(req, payload, state.limits.document).await;
    }
    let template_id = template_id(req)?;
    let body = media::read_body(req, payload, state.limits.document).await?;
    let flat = match media::decode_value(&body)? {
        Value::Object(m) => m,
        _ => {
            return Err(ApiError::new(
                Code::MalformedBody,
                "a FLAT composition is a JSON object of paths and values",
            ))
        }
    };
    let template = state
        .store
        .get_template(&state.caller(req), &template_id)
        .await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let canonical =
        cdr_template::flat::flat_to_canonical(&template, &flat, &now).map_err(ApiError::flat)?;
    cdr_rm::json::from_json_value(canonical).map_err(ApiError::decode)
}

/// A stored composition document as FLAT text, when `format` asks for FLAT.
pub async fn answer_document(
    state: &AppState,
    caller: &Principal,
    document: Option<String>,
    format: Option<Format>,
) -> ApiResult<Option<String>> {
    let (Some(doc), Some(Format::Flat)) = (&document, format) else {
        return Ok(document);
    };
    let value: Value = serde_json::from_str(doc)
        .map_err(|e| ApiError::new(Code::Internal, format!("stored JSON: {e}")))?;
    let template_id = value
        .pointer("/archetype_details/template_id/value")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::new(Code::NotRepresentable, "the composition names no template")
        })?;
    let template = state.store.get_template(caller, template_id).await?;
    render(&template, value, Format::Flat).map(Some)
}

/// A canonical composition in `format`: as it is, as XML, or converted through its template.
pub fn render(template: &Template, value: Value, format: Format) -> ApiResult<String> {
    match format {
        Format::Flat => {
            let flat =
                cdr_template::flat::canonical_to_flat(template, &value).map_err(ApiError::flat)?;
            Ok(Value::Object(flat).to_string())
        }
        other => media::render_value(value, other),
    }
}
