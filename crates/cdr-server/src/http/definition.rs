//! DEFINITION: ADL 1.4 operational templates — upload (OPT XML), list, get (the OPT, or its
//! web template), and an example composition of a template.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use cdr_store::format_time;

use super::error::{ApiError, ApiResult, Code};
use super::headers::Answer;
use super::media::{self, Format, JSON_ONLY};
use super::{segment, AppState};

const OPT_ONLY: &[Format] = &[Format::Xml];
/// A template as its OPT (the default) or its web template; `application/json` asks for the
/// web template too, as EHRbase answers it.
const OPT_OR_WEB_TEMPLATE: &[Format] = &[Format::Xml, Format::WebTemplate, Format::Json];

/// Percent-encodes a path segment (template ids may contain spaces and other characters).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn location(state: &AppState, req: &HttpRequest, template_id: &str) -> String {
    state.url(
        req,
        &format!(
            "/definition/template/adl1.4/{}",
            encode_segment(template_id)
        ),
    )
}

/// `POST /definition/template/adl1.4`: 201; 409 when the template id is taken (even by the
/// same OPT, as EHRbase answers); 400 for an OPT that does not parse.
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let format = media::write_format(&req, OPT_ONLY)?;
    if req.headers().contains_key("content-type") {
        media::body_format(&req, OPT_ONLY)?;
    }
    let body = media::read_body(&req, payload, state.limits.template).await?;
    let opt = std::str::from_utf8(&body)
        .map_err(|e| ApiError::new(Code::MalformedBody, format!("the OPT is not UTF-8: {e}")))?;
    let upload = state.store.put_template(&state.caller(&req), opt).await?;
    let id = &upload.meta.template_id;
    if !upload.created {
        return Err(ApiError::new(
            Code::Conflict,
            format!("template '{id}' already exists"),
        ));
    }
    Ok(Answer {
        etag: Some(id.clone()),
        location: Some(location(&state, &req, id)),
        last_modified: Some(upload.meta.created_at),
        body: format.map(|f| (f, opt.to_owned())),
    }
    .respond(StatusCode::CREATED))
}

/// `GET /definition/template/adl1.4`: the templates' metadata.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let templates = state.store.list_templates(&state.caller(&req)).await?;
    let body: Vec<_> = templates
        .iter()
        .map(|t| {
            json!({
                "template_id": t.template_id,
                "concept": t.concept,
                "archetype_id": t.archetype_id,
                "created_timestamp": format_time(t.created_at),
            })
        })
        .collect();
    Ok(Answer {
        body: Some((format, serde_json::Value::from(body).to_string())),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}

/// `GET /definition/template/adl1.4/{template_id}`: the OPT XML, or with
/// `Accept: application/openehr.wt+json` (or `application/json`) the web template, built once
/// per cached template.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, OPT_OR_WEB_TEMPLATE)?;
    let id = segment(&req, "template_id");
    let caller = state.caller(&req);
    let body = match format {
        Format::Json | Format::WebTemplate => {
            let template = state.store.get_template(&caller, id).await?;
            template.web_template().to_json().to_string()
        }
        Format::Xml | Format::Flat | Format::Structured => {
            state.store.get_template_opt(&caller, id).await?
        }
    };
    Ok(Answer {
        etag: Some(id.to_owned()),
        body: Some((format, body)),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}

/// `GET /definition/template/adl1.4/{template_id}/example`: an example composition of the
/// template (every node once, values the template allows), as EHRbase offers it: canonical
/// JSON by default, XML, FLAT or STRUCTURED by `Accept` or `format=`.
pub async fn example(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, media::COMPOSITION)?;
    let id = segment(&req, "template_id");
    let template = state.store.get_template(&state.caller(&req), id).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let example = cdr_template::example::example_composition(&template, &now)
        .map_err(|e| ApiError::new(Code::NoExample, e.to_string()))?;
    let body = super::forms::render(&template, example, format)?;
    Ok(Answer {
        body: Some((format, body)),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}
