//! EHR: create (`POST /ehr`, `PUT /ehr/{ehr_id}`), get by id, find by subject; canonical JSON or
//! XML.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use uuid::Uuid;

use cdr_rm::EhrStatus;
use cdr_store::EhrRecord;

use super::error::ApiResult;
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_OR_XML};
use super::{ehr_id, uuid_segment, AppState};

fn answer(state: &AppState, req: &HttpRequest, ehr: &EhrRecord, body: Option<Format>) -> Answer {
    Answer {
        etag: Some(ehr.ehr_id.to_string()),
        location: Some(state.url(req, &format!("/ehr/{}", ehr.ehr_id))),
        last_modified: Some(ehr.time_created),
        body: body.map(|f| (f, represent(ehr, f))),
    }
}

/// The EHR as canonical JSON, or as XML: `<ehr>` with the same members in the specification's
/// order (`system_id`, `ehr_id`, `ehr_status`, `ehr_access`, `time_created`), without a
/// namespace as EHRbase writes it (ITS-XML has no EHR type); `xsi:type` only where the declared
/// type is abstract (the references' `id`): each member is of its declared type, and EHRbase's
/// clients look for a bare `<ehr_status>`.
fn represent(ehr: &EhrRecord, format: Format) -> String {
    let mut json = ehr.to_json();
    if format != Format::Xml {
        return json.to_string();
    }
    let mut out = format!(
        "{}<ehr xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
        media::XML_DECLARATION
    );
    for name in [
        "system_id",
        "ehr_id",
        "ehr_status",
        "ehr_access",
        "time_created",
    ] {
        let member = &mut json[name];
        if let Some(declared) = member.as_object_mut() {
            declared.remove("_type");
        }
        media::json_xml_element(&mut out, name, member);
    }
    out.push_str("</ehr>\n");
    out
}

async fn create_ehr(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
    id: Option<Uuid>,
) -> ApiResult<HttpResponse> {
    let format = media::write_format(&req, JSON_OR_XML)?;
    let body = media::read_body(&req, payload, state.limits.small).await?;
    let status: Option<EhrStatus> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let fmt = media::body_format(&req, JSON_OR_XML)?;
        Some(media::decode(&body, fmt)?)
    };
    let meta = headers::commit_meta(&req)?;
    let caller = state.caller(&req);
    let ehr = state.store.create_ehr(&caller, id, status, meta).await?;
    Ok(answer(&state, &req, &ehr, format).respond(StatusCode::CREATED))
}

/// `POST /ehr`: a new EHR with a server-chosen id and an optional EHR_STATUS.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    create_ehr(req, state, payload, None).await
}

/// `PUT /ehr/{ehr_id}`: a new EHR with the client's id (409 when it is taken; 400 when it is
/// not a UUID, as the specification lists for this operation).
pub async fn create_with_id(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let id = uuid_segment(&req, "ehr_id", "ehr_id")?;
    create_ehr(req, state, payload, Some(id)).await
}

/// `GET /ehr/{ehr_id}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let id = ehr_id(&req)?;
    let ehr = state.store.get_ehr(&state.caller(&req), id).await?;
    Ok(answer(&state, &req, &ehr, Some(format)).respond(StatusCode::OK))
}

/// `GET /ehr?subject_id=…&subject_namespace=…`.
pub async fn find_by_subject(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let params = headers::query(&req)?;
    let subject = headers::required(&params, "subject_id")?;
    let namespace = headers::required(&params, "subject_namespace")?;
    let ehr = state
        .store
        .find_ehr_by_subject(&state.caller(&req), subject, namespace)
        .await?;
    Ok(answer(&state, &req, &ehr, Some(format)).respond(StatusCode::OK))
}
