//! EHR: create (`POST /ehr`, `PUT /ehr/{ehr_id}`), get by id, find by subject.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use uuid::Uuid;

use cdr_rm::EhrStatus;
use cdr_store::EhrRecord;

use super::error::ApiResult;
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_ONLY, JSON_OR_XML};
use super::{ehr_id, AppState};

fn answer(state: &AppState, req: &HttpRequest, ehr: &EhrRecord, body: Option<Format>) -> Answer {
    Answer {
        etag: Some(ehr.ehr_id.to_string()),
        location: Some(state.url(req, &format!("/ehr/{}", ehr.ehr_id))),
        last_modified: Some(ehr.time_created),
        body: body.map(|f| (f, ehr.to_json().to_string())),
    }
}

async fn create_ehr(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
    id: Option<Uuid>,
) -> ApiResult<HttpResponse> {
    let format = media::write_format(&req, JSON_ONLY)?;
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

/// `PUT /ehr/{ehr_id}`: a new EHR with the client's id (409 when it is taken).
pub async fn create_with_id(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let id = ehr_id(&req)?;
    create_ehr(req, state, payload, Some(id)).await
}

/// `GET /ehr/{ehr_id}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let id = ehr_id(&req)?;
    let ehr = state.store.get_ehr(&state.caller(&req), id).await?;
    Ok(answer(&state, &req, &ehr, Some(format)).respond(StatusCode::OK))
}

/// `GET /ehr?subject_id=…&subject_namespace=…`.
pub async fn find_by_subject(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_ONLY)?;
    let params = headers::query(&req)?;
    let subject = headers::required(&params, "subject_id")?;
    let namespace = headers::required(&params, "subject_namespace")?;
    let ehr = state
        .store
        .find_ehr_by_subject(&state.caller(&req), subject, namespace)
        .await?;
    Ok(answer(&state, &req, &ehr, Some(format)).respond(StatusCode::OK))
}
