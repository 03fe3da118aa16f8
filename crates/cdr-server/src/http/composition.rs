//! COMPOSITION: create, get (latest, by version uid, at a time), update and delete with
//! `If-Match`.
//!
//! Deleted compositions: a GET by versioned object id whose latest version is the deletion
//! answers 404 (as EHRbase does); a GET of the deletion version itself, by version uid or through
//! `version_at_time`, answers 204 (as the specification says).

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use uuid::Uuid;

use cdr_rm::{Composition, VersionData};

use cdr_store::{NewContribution, UidBasedId, VersionUid, VoKind};

use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, COMPOSITION};
use super::versioned::{committed_answer, data_answer};
use super::{ehr_id, existing_id_segment, forms, if_match_after, uid_based_segment, AppState};

/// EHRbase's `dry_run` parameter: validate (and answer) without storing.
fn dry_run(req: &HttpRequest) -> ApiResult<bool> {
    match headers::query(req)?.get("dry_run").map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::new(
            Code::InvalidParameter,
            format!("dry_run must be true or false, not '{other}'"),
        )),
    }
}

/// `POST /ehr/{ehr_id}/composition{?dry_run}`: with `dry_run=true` the composition is
/// validated as a commit would validate it, and answered (200, per `Prefer`) or refused with
/// the same 422, but not stored.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let format = media::body_then_write_format(&req, COMPOSITION, COMPOSITION)?;
    let dry_run = dry_run(&req)?;
    let (composition, placer) = forms::read_composition(&req, &state, payload).await?;
    let meta = headers::commit_meta(&req)?;
    let caller = state.caller(&req);
    if dry_run {
        state
            .store
            .check_composition(&caller, ehr, &composition)
            .await
            .map_err(|e| placer.place(e.into()))?;
        return dry_run_answer(&state, &req, &composition, format).await;
    }
    let mut done = state
        .store
        .create_composition(&caller, ehr, composition, meta)
        .await
        .map_err(|e| placer.place(e.into()))?;
    done.document = forms::answer_document(&state, &caller, done.document, format).await?;
    let prefix = state.versions_url(&req, ehr, "composition");
    committed_answer(&done, format, &prefix, StatusCode::CREATED)
}

/// `GET /ehr/{ehr_id}/composition/{uid_based_id}{?version_at_time}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, COMPOSITION)?;
    let ehr = ehr_id(&req)?;
    let id: UidBasedId = existing_id_segment(&req, "uid_based_id", "composition")?;
    let at = headers::version_at_time(&headers::query(&req)?)?;
    let caller = state.caller(&req);
    let mut rec = match (&id, at) {
        (UidBasedId::Object(vo), Some(t)) => {
            state.store.get_composition_at(&caller, ehr, *vo, t).await?
        }
        (UidBasedId::Object(vo), None) => {
            let rec = state.store.get_composition(&caller, ehr, &id).await?;
            if rec.is_deletion() {
                return Err(ApiError::new(
                    Code::NotFound,
                    format!("composition {vo} is deleted (deletion version {})", rec.uid),
                ));
            }
            rec
        }
        (UidBasedId::Version(_), _) => state.store.get_composition(&caller, ehr, &id).await?,
    };
    rec.document = forms::answer_document(&state, &caller, rec.document, Some(format)).await?;
    data_answer(&rec, format, state.versions_url(&req, ehr, "composition"))
}

/// The preceding version of an update or delete: `If-Match`, which must name a version of the
/// object in the path. A version of another object is a stale precondition (412 naming the
/// path object's latest version).
async fn preceding(
    req: &HttpRequest,
    state: &AppState,
    ehr: Uuid,
    id: &UidBasedId,
    given: VersionUid,
) -> ApiResult<VersionUid> {
    if given.object_id == id.object_id() {
        return Ok(given);
    }
    let latest = state
        .store
        .get_composition(&state.caller(req), ehr, &UidBasedId::Object(id.object_id()))
        .await?;
    Err(ApiError::from(cdr_store::StoreError::VersionConflict {
        given: given.to_string(),
        latest: latest.uid.to_string(),
    }))
}

/// The answer of a dry run: 200 with the composition as a commit would answer it (per
/// `Prefer`, without uid or `ETag`), else 200 without a body (a 204 would read as "stored,
/// nothing to say").
async fn dry_run_answer(
    state: &AppState,
    req: &HttpRequest,
    composition: &Composition,
    format: Option<media::Format>,
) -> ApiResult<HttpResponse> {
    Ok(match format {
        Some(f) => Answer {
            body: Some((
                f,
                forms::represent(state, &state.caller(req), composition, f).await?,
            )),
            ..Answer::default()
        }
        .respond(StatusCode::OK),
        None => HttpResponse::Ok().finish(),
    })
}

/// `PUT /ehr/{ehr_id}/composition/{versioned_object_uid}{?dry_run}` with `If-Match`: with
/// `dry_run=true` the update is checked as a commit would check it (the same 422, 404, 409 and
/// 412) and answered as the POST dry run answers, but not stored.
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let id = uid_based_segment(&req, "uid_based_id")?;
    let prefix = state.versions_url(&req, ehr, "composition");
    let format = media::body_then_write_format(&req, COMPOSITION, COMPOSITION)?;
    let dry_run = dry_run(&req)?;
    let object = Some((VoKind::Composition, id.object_id()));
    let given = if_match_after(&req, &state, ehr, object).await?;
    let (composition, placer) = forms::read_composition(&req, &state, payload).await?;
    let meta = headers::commit_meta(&req)?;
    if dry_run {
        async {
            let preceding = preceding(&req, &state, ehr, &id, given).await?;
            let data = VersionData::Composition(Box::new(composition.clone()));
            let one = NewContribution::one(VoKind::Composition, Some(preceding), Some(data), meta);
            let caller = state.caller(&req);
            state.store.check_contribution(&caller, ehr, one).await?;
            Ok::<_, ApiError>(())
        }
        .await
        .map_err(|e| placer.place(e).latest_under(&prefix))?;
        return dry_run_answer(&state, &req, &composition, format).await;
    }
    let done = async {
        let preceding = preceding(&req, &state, ehr, &id, given).await?;
        let done = state
            .store
            .update_composition(&state.caller(&req), ehr, &preceding, composition, meta)
            .await?;
        Ok::<_, ApiError>(done)
    }
    .await
    .map_err(|e| placer.place(e).latest_under(&prefix))?;
    let mut done = done;
    done.document =
        forms::answer_document(&state, &state.caller(&req), done.document, format).await?;
    committed_answer(&done, format, &prefix, StatusCode::OK)
}

/// `DELETE /ehr/{ehr_id}/composition/{uid_based_id}`: the latest version comes from
/// `If-Match`, or (ITS-REST 1.0.3) from the path when it is a version uid.
pub async fn delete(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let id = uid_based_segment(&req, "uid_based_id")?;
    let prefix = state.versions_url(&req, ehr, "composition");
    let given = match (&id, req.headers().contains_key("if-match")) {
        (UidBasedId::Version(v), false) => v.clone(),
        _ => {
            let object = Some((VoKind::Composition, id.object_id()));
            if_match_after(&req, &state, ehr, object).await?
        }
    };
    let meta = headers::commit_meta(&req)?;
    let done = async {
        let preceding = preceding(&req, &state, ehr, &id, given).await?;
        let done = state
            .store
            .delete_composition(&state.caller(&req), ehr, &preceding, meta)
            .await?;
        Ok::<_, ApiError>(done)
    }
    .await
    .map_err(|e| e.latest_under(&prefix))?;
    committed_answer(&done, None, &prefix, StatusCode::NO_CONTENT)
}
