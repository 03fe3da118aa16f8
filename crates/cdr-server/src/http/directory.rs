//! DIRECTORY: the EHR's versioned FOLDER tree: create, update and delete with `If-Match`, get
//! (latest, at a time, by version uid) with an optional `path` of folder names.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use cdr_rm::Folder;
use cdr_store::VersionRecord;

use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_OR_XML};
use super::versioned::{committed_answer, data_answer};
use super::{ehr_id, existing_id_segment, if_match_after, AppState};

/// `POST /ehr/{ehr_id}/directory`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let format = media::body_then_write_format(&req, JSON_OR_XML, JSON_OR_XML)?;
    let folder: Folder = media::read_rm(&req, payload, state.limits.document).await?;
    let meta = headers::commit_meta(&req)?;
    let done = state
        .store
        .create_directory(&state.caller(&req), ehr, folder, meta)
        .await?;
    let prefix = state.versions_url(&req, ehr, "directory");
    committed_answer(&done, format, &prefix, StatusCode::CREATED)
}

/// `PUT /ehr/{ehr_id}/directory` with `If-Match`.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let prefix = state.versions_url(&req, ehr, "directory");
    let format = media::body_then_write_format(&req, JSON_OR_XML, JSON_OR_XML)?;
    let preceding = if_match_after(&req, &state, ehr, None).await?;
    let folder: Folder = media::read_rm(&req, payload, state.limits.document).await?;
    let meta = headers::commit_meta(&req)?;
    let done = state
        .store
        .update_directory(&state.caller(&req), ehr, &preceding, folder, meta)
        .await
        .map_err(|e| ApiError::from(e).latest_under(&prefix))?;
    committed_answer(&done, format, &prefix, StatusCode::OK)
}

/// `DELETE /ehr/{ehr_id}/directory` with `If-Match`.
pub async fn delete(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let prefix = state.versions_url(&req, ehr, "directory");
    let preceding = if_match_after(&req, &state, ehr, None).await?;
    let meta = headers::commit_meta(&req)?;
    let done = state
        .store
        .delete_directory(&state.caller(&req), ehr, &preceding, meta)
        .await
        .map_err(|e| ApiError::from(e).latest_under(&prefix))?;
    committed_answer(&done, None, &prefix, StatusCode::NO_CONTENT)
}

/// `GET /ehr/{ehr_id}/directory{?version_at_time,path}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let ehr = ehr_id(&req)?;
    let params = headers::query(&req)?;
    let at = headers::version_at_time(&params)?;
    let rec = state
        .store
        .get_directory(&state.caller(&req), ehr, at)
        .await?;
    answer(
        &rec,
        format,
        params.get("path"),
        state.versions_url(&req, ehr, "directory"),
    )
}

/// `GET /ehr/{ehr_id}/directory/{version_uid}{?path}`.
pub async fn get_version(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let ehr = ehr_id(&req)?;
    let uid: cdr_store::VersionUid = existing_id_segment(&req, "version_uid", "directory version")?;
    let params = headers::query(&req)?;
    let rec = state
        .store
        .get_directory_version(&state.caller(&req), ehr, &uid)
        .await?;
    answer(
        &rec,
        format,
        params.get("path"),
        state.versions_url(&req, ehr, "directory"),
    )
}

/// The whole folder, or the sub-folder at `path` (folder names separated by `/`).
fn answer(
    rec: &VersionRecord,
    format: Format,
    path: Option<&String>,
    prefix: String,
) -> ApiResult<HttpResponse> {
    let (Some(path), Some(doc)) = (
        path.filter(|p| !p.trim_matches('/').is_empty()),
        &rec.document,
    ) else {
        return data_answer(rec, format, prefix);
    };
    let root: Value = serde_json::from_str(doc)
        .map_err(|e| ApiError::new(Code::Internal, format!("stored folder: {e}")))?;
    let mut folder = &root;
    for name in path.split('/').filter(|s| !s.is_empty()) {
        folder = folder
            .get("folders")
            .and_then(Value::as_array)
            .and_then(|subs| {
                subs.iter()
                    .find(|f| f.pointer("/name/value").and_then(Value::as_str) == Some(name))
            })
            .ok_or_else(|| {
                ApiError::new(
                    Code::NotFound,
                    format!("the directory has no folder at '{path}'"),
                )
            })?;
    }
    let body = media::render_value(folder.clone(), format)?;
    Ok(Answer {
        etag: Some(rec.uid.to_string()),
        location: Some(format!("{prefix}{}", rec.uid)),
        last_modified: Some(rec.committed_at),
        body: Some((format, body)),
    }
    .respond(StatusCode::OK))
}
