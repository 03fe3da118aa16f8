//! DEFINITION: ADL 1.4 operational templates — upload (OPT XML), list, get (the OPT, or its
//! web template), an example composition of a template — and stored queries — put (AQL as
//! `text/plain`, or `{"q": …}` as JSON), list by name prefix, get by (partial) version.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use cdr_forms::Forms;
use cdr_store::{format_time, StoredQuery};

use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_ONLY};
use super::{segment, AppState};

pub const OPT_ONLY: &[Format] = &[Format::Xml];
/// A template as its OPT (the default) or its web template; `application/json` asks for the
/// web template too, as EHRbase answers it.
const OPT_OR_WEB_TEMPLATE: &[Format] = &[Format::Xml, Format::WebTemplate, Format::Json];

/// Percent-encodes a path segment (template ids may contain spaces and other characters).
pub(super) fn encode_segment(s: &str) -> String {
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

/// The OPT of a request: `Content-Type` must say XML (415 otherwise, also when it is absent,
/// and before `Accept` is looked at), the body must be UTF-8.
pub async fn read_opt(req: &HttpRequest, state: &AppState, payload: Payload) -> ApiResult<String> {
    media::declared_body_format(req, OPT_ONLY)?;
    read_opt_body(req, state, payload).await
}

/// The body as an OPT's text (UTF-8), whatever `Content-Type` says.
pub async fn read_opt_body(
    req: &HttpRequest,
    state: &AppState,
    payload: Payload,
) -> ApiResult<String> {
    let body = media::read_body(req, payload, state.limits.template).await?;
    String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::new(Code::MalformedBody, format!("the OPT is not UTF-8: {e}")))
}

/// `POST /definition/template/adl1.4`: 201; 415 unless `Content-Type` says XML; 409 when the
/// template id is taken (even by the same OPT, as EHRbase answers); 400 for an OPT that does
/// not parse.
pub async fn upload(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let opt = read_opt(&req, &state, payload).await?;
    let format = media::write_format(&req, OPT_ONLY)?;
    let opt = opt.as_str();
    let upload = state.store.put_template(&state.caller(&req), opt).await?;
    let id = &upload.meta.template_id;
    if !upload.created {
        return Err(cdr_store::StoreError::template_exists(id).into());
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
    Ok(Answer::ok(
        format,
        serde_json::Value::from(body).to_string(),
    ))
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
    let example = cdr_forms::example::example_composition(&template, &now)
        .map_err(|e| ApiError::new(Code::NoExample, e.to_string()))?;
    let body = super::forms::render(&template, example, format)?;
    Ok(Answer {
        body: Some((format, body)),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}

// ---- Stored queries -------------------------------------------------------------------------

/// The StoredQuery resource.
fn stored_query_json(q: &StoredQuery) -> Value {
    json!({
        "name": q.name,
        "type": q.query_type,
        "version": q.version,
        "saved": format_time(q.saved),
        "q": q.q,
    })
}

/// The AQL text of a put: the body itself (`text/plain`, also when `Content-Type` is absent) or
/// the `q` of a JSON object (`application/json`, as the ad hoc POST takes it).
fn query_text(req: &HttpRequest, body: &[u8]) -> ApiResult<String> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let essence = content_type.as_deref().map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    match essence.as_deref() {
        None | Some("text/plain") => String::from_utf8(body.to_vec()).map_err(|e| {
            ApiError::new(Code::MalformedBody, format!("the query is not UTF-8: {e}"))
        }),
        Some("application/json") => match media::decode_value(body)? {
            Value::Object(mut obj) => match obj.remove("q") {
                Some(Value::String(q)) => Ok(q),
                _ => Err(ApiError::new(
                    Code::BadRequest,
                    "the JSON body must have \"q\": the AQL text",
                )),
            },
            _ => Err(ApiError::new(
                Code::BadRequest,
                "the JSON body must be an object with \"q\"",
            )),
        },
        Some(_) => Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!(
                "Content-Type '{}' is not accepted here; use text/plain or application/json",
                content_type.unwrap_or_default()
            ),
        )),
    }
}

/// `PUT /definition/query/{qualified_query_name}[/{version}][?query_type=AQL]`: 200 with
/// `Location` and the StoredQuery; 400 for a bad name, version, type or AQL (with its line and
/// column); 409 when the exact version exists.
pub async fn put_query(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let name = segment(&req, "qualified_query_name");
    let version = req.match_info().get("version");
    let params = headers::query(&req)?;
    // The specification names it `query_type`; EHRbase reads `type`.
    let query_type = params
        .get("query_type")
        .or_else(|| params.get("type"))
        .map(String::as_str)
        .unwrap_or(cdr_store::AQL);
    let body = media::read_body(&req, payload, state.limits.small).await?;
    let q = query_text(&req, &body)?;
    let stored = state
        .store
        .put_stored_query(&state.caller(&req), name, version, query_type, &q)
        .await?;
    let location = state.url(
        &req,
        &format!("/definition/query/{}/{}", stored.name, stored.version),
    );
    Ok(Answer {
        location: Some(location),
        body: Some((format, stored_query_json(&stored).to_string())),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}

/// `GET /definition/query[/{qualified_query_name}]`: every version of every stored query whose
/// name starts with the given text (all of them without one), by name, newest version first.
pub async fn list_queries(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let prefix = req.match_info().get("qualified_query_name").unwrap_or("");
    let queries = state
        .store
        .list_stored_queries(&state.caller(&req), prefix)
        .await?;
    let body: Vec<Value> = queries.iter().map(stored_query_json).collect();
    Ok(Answer::ok(format, Value::from(body).to_string()))
}

/// `GET /definition/query/{qualified_query_name}/{version}`: the StoredQuery at that exact
/// version, or the highest one a partial version (`1`, `1.0`) matches; 404 when none.
pub async fn get_query(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let name = segment(&req, "qualified_query_name");
    let version = segment(&req, "version");
    let stored = state
        .store
        .get_stored_query(&state.caller(&req), name, Some(version))
        .await?;
    Ok(Answer::ok(format, stored_query_json(&stored).to_string()))
}
