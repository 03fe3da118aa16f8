//! ADMIN: physical deletion of an EHR and everything in it, of a composition, of an EHR's
//! directory, of templates no composition uses, and of a stored query version; replacing a
//! template no composition uses. Besides cdr's own paths, EHRbase's
//! (`/admin/template/{template_id}`, `/admin/template/all`, `/admin/ehr/{ehr_id}/directory/…`,
//! `/admin/ehr/{ehr_id}/contribution/…`, which is not implemented) with EHRbase's answers and
//! messages.

use actix_web::http::{header, StatusCode};
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use cdr_store::StoreError;

use super::definition::read_opt_body;
use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_ONLY};
use super::{ehr_id, existing_uuid_segment, segment, AppState};

fn done() -> HttpResponse {
    Answer::default().respond(StatusCode::NO_CONTENT)
}

/// `DELETE {base}/admin/ehr/{ehr_id}`: 204 when done, 404 for an unknown EHR.
pub async fn delete_ehr(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    state.store.delete_ehr(&state.caller(&req), ehr).await?;
    Ok(done())
}

/// `DELETE {base}/admin/ehr/{ehr_id}/composition/{versioned_object_id}`: every version of the
/// composition is removed (the EHR stays); 204, or 404 for an unknown EHR or composition.
pub async fn delete_composition(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let vo = existing_uuid_segment(&req, "versioned_object_id", "composition")?;
    state
        .store
        .delete_composition_physically(&state.caller(&req), ehr, vo)
        .await?;
    Ok(done())
}

/// `DELETE {base}/admin/ehr/{ehr_id}/directory/{directory_id}` (EHRbase's admin API): the EHR's
/// directory with every version is removed (the EHR may then get a new one); 204, or 404 for
/// an unknown EHR or when the id is not the EHR's directory.
pub async fn delete_directory(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let vo = existing_uuid_segment(&req, "directory_id", "directory")?;
    state
        .store
        .delete_directory_physically(&state.caller(&req), ehr, vo)
        .await?;
    Ok(done())
}

/// `DELETE {base}/admin/ehr/{ehr_id}/contribution/{contribution_uid}` (EHRbase's admin API):
/// 501, as EHRbase answers. A contribution is not a unit that can be taken out of a history:
/// its versions may precede versions of later contributions, and removing a latest version
/// would mean rewinding its object to an earlier one. Compositions, the directory and whole
/// EHRs are deleted physically instead.
pub async fn delete_contribution(_req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        Code::NotImplemented,
        "a contribution cannot be deleted physically: later versions may build on its versions; \
         delete the compositions, the directory or the EHR instead",
    ))
}

/// `PUT {base}/admin/template/{template_id}` (EHRbase's admin API): replaces the template's OPT
/// and answers 200 with it (empty with `Prefer: return=minimal`). The body is read as an OPT
/// whatever `Content-Type` says and parsed before the template is looked up, as EHRbase does:
/// an empty body, one that is not an OPT (JSON) or an OPT naming another template is 400; then
/// an unknown template is 404 ("Template with id … does not exist"); 422 `in_use` (naming
/// compositions in `used_by`) while compositions were committed with it, as EHRbase refuses to
/// change a template in use.
pub async fn replace_template(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let id = segment(&req, "template_id");
    let opt = read_opt_body(&req, &state, payload).await?;
    if opt.trim().is_empty() {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must be the template's new OPT",
        ));
    }
    let meta = state
        .store
        .replace_template(&state.caller(&req), id, &opt)
        .await
        .map_err(|e| unknown_template(e, format!("Template with id {id} does not exist")))?;
    if headers::wants_minimal(&req) {
        return Ok(HttpResponse::Ok()
            .insert_header((header::ETAG, format!("\"{}\"", meta.template_id)))
            .finish());
    }
    Ok(Answer {
        etag: Some(meta.template_id),
        body: Some((Format::Xml, opt)),
        ..Answer::default()
    }
    .respond(StatusCode::OK))
}

/// An unknown template named in EHRbase's words (`message`); other errors as they are.
fn unknown_template(e: StoreError, message: String) -> ApiError {
    match e {
        StoreError::NotFound {
            kind: "template", ..
        } => ApiError::new(Code::NotFound, message),
        other => other.into(),
    }
}

/// EHRbase's message for deleting a template it does not have.
fn template_not_found(id: &str) -> String {
    format!("Operational template with id {id} not found.")
}

/// EHRbase's answer to an admin delete: `{"deleted": n}`.
fn deleted(req: &HttpRequest, n: u64) -> ApiResult<HttpResponse> {
    let format = media::negotiate(req, JSON_ONLY)?;
    Ok(Answer::ok(format, json!({ "deleted": n }).to_string()))
}

/// `DELETE {base}/admin/template/{template_id}` (EHRbase's admin API): 200 `{"deleted": 1}`;
/// 404 for an unknown template; 422 `in_use` while compositions use it.
pub async fn delete_template_counted(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = segment(&req, "template_id");
    state
        .store
        .delete_template(&state.caller(&req), id)
        .await
        .map_err(|e| unknown_template(e, template_not_found(id)))?;
    deleted(&req, 1)
}

/// `DELETE {base}/admin/template/all` (EHRbase's admin API): 200 `{"deleted": n}`; 422 `in_use`,
/// deleting nothing, while compositions use any of them (the message names those templates).
pub async fn delete_all_templates(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let n = state
        .store
        .delete_all_templates(&state.caller(&req))
        .await?;
    deleted(&req, n)
}

/// `DELETE {base}/admin/template/adl1.4/{template_id}`: 204; 404 for an unknown template; 422
/// while compositions (current or past versions) use it, as EHRbase answers.
pub async fn delete_template(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> ApiResult<HttpResponse> {
    let id = segment(&req, "template_id");
    state
        .store
        .delete_template(&state.caller(&req), id)
        .await
        .map_err(|e| unknown_template(e, template_not_found(id)))?;
    Ok(done())
}

/// `DELETE {base}/admin/query/{qualified_query_name}/{version}`: 200 without a body, as EHRbase
/// answers it; 400 unless the version is exact; 404 when that version is not stored.
pub async fn delete_query(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let name = segment(&req, "qualified_query_name");
    let version = segment(&req, "version");
    state
        .store
        .delete_stored_query(&state.caller(&req), name, version)
        .await?;
    Ok(HttpResponse::Ok().finish())
}
