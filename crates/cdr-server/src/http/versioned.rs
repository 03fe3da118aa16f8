//! What the versioned resources share: the answer for one version (its data or the
//! ORIGINAL_VERSION), and the VERSIONED_EHR_STATUS / VERSIONED_COMPOSITION endpoints.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

use cdr_store::{CommittedVersion, VersionRecord, VoKind};

use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_OR_XML};
use super::{ehr_id, existing_id_segment, existing_uuid_segment, AppState};

/// Which versioned object the path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The EHR's one VERSIONED_EHR_STATUS.
    EhrStatus,
    /// The VERSIONED_COMPOSITION `{versioned_object_uid}`.
    Composition,
}

impl Kind {
    fn vo_kind(self) -> VoKind {
        match self {
            Kind::EhrStatus => VoKind::EhrStatus,
            Kind::Composition => VoKind::Composition,
        }
    }

    /// The collection path of this kind's versions, below the EHR.
    fn versions_path(self, ehr: Uuid, vo: Uuid) -> String {
        match self {
            Kind::EhrStatus => format!("/ehr/{ehr}/versioned_ehr_status/version/"),
            Kind::Composition => format!("/ehr/{ehr}/versioned_composition/{vo}/version/"),
        }
    }

    async fn object(self, req: &HttpRequest, state: &AppState) -> ApiResult<(Uuid, Uuid)> {
        let ehr = ehr_id(req)?;
        let vo = match self {
            Kind::EhrStatus => state.store.ehr_status_id(&state.caller(req), ehr).await?,
            Kind::Composition => {
                existing_uuid_segment(req, "versioned_object_uid", "versioned object")?
            }
        };
        Ok((ehr, vo))
    }
}

/// The answer carrying one version's data: 200 with the document, or 204 (no body) when the
/// version is a deletion. `ETag`, `Location` (`location_prefix` + version uid) and
/// `Last-Modified` either way.
pub fn data_answer(
    rec: &VersionRecord,
    format: Format,
    location_prefix: String,
) -> ApiResult<HttpResponse> {
    let body = match &rec.document {
        Some(doc) => Some((format, media::render(doc, format)?)),
        None => None,
    };
    Ok(Answer {
        etag: Some(rec.uid.to_string()),
        location: Some(format!("{location_prefix}{}", rec.uid)),
        last_modified: Some(rec.committed_at),
        body,
    }
    .respond(StatusCode::OK))
}

/// The answer to a write of one version: `ETag`, `Location` (`prefix` + version uid) and
/// `Last-Modified` of the new version; its data as body when `format` is given (representation);
/// `status`, or 204 when there is no body and `status` is 200.
pub fn committed_answer(
    done: &CommittedVersion,
    format: Option<Format>,
    prefix: &str,
    status: StatusCode,
) -> ApiResult<HttpResponse> {
    let body = match (format, &done.document) {
        (Some(f), Some(doc)) => Some((f, media::render(doc, f)?)),
        _ => None,
    };
    Ok(Answer {
        etag: Some(done.uid.to_string()),
        location: Some(format!("{prefix}{}", done.uid)),
        last_modified: Some(done.time_committed),
        body,
    }
    .respond(status))
}

fn original_version_answer(
    rec: &VersionRecord,
    format: Format,
    location_prefix: String,
) -> ApiResult<HttpResponse> {
    let body = media::render_value(rec.original_version_json(), format)?;
    Ok(Answer {
        etag: Some(rec.uid.to_string()),
        location: Some(format!("{location_prefix}{}", rec.uid)),
        last_modified: Some(rec.committed_at),
        body: Some((format, body)),
    }
    .respond(StatusCode::OK))
}

/// `GET …/versioned_ehr_status`, `GET …/versioned_composition/{id}`.
pub async fn info(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: Kind,
) -> ApiResult<HttpResponse> {
    about_object(req, state, kind, false).await
}

/// `GET …/revision_history`.
pub async fn history(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: Kind,
) -> ApiResult<HttpResponse> {
    about_object(req, state, kind, true).await
}

/// The versioned object's attributes, or its revision history.
async fn about_object(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: Kind,
    history: bool,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let (ehr, vo) = kind.object(&req, &state).await?;
    let value = match history {
        true => {
            state
                .store
                .revision_history(&state.caller(&req), ehr, kind.vo_kind(), vo)
                .await?
        }
        false => state
            .store
            .versioned_object(&state.caller(&req), ehr, kind.vo_kind(), vo)
            .await?
            .to_json(),
    };
    let body = media::render_value(value, format)?;
    Ok(Answer::ok(format, body))
}

/// `GET …/version{?version_at_time}`: the latest version, or the one extant at that time.
pub async fn version_at(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: Kind,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let at = headers::version_at_time(&headers::query(&req)?)?;
    let (ehr, vo) = kind.object(&req, &state).await?;
    let rec = match at {
        Some(t) => {
            state
                .store
                .version_at_time(&state.caller(&req), ehr, kind.vo_kind(), vo, t)
                .await?
        }
        None => {
            state
                .store
                .latest_version(&state.caller(&req), ehr, kind.vo_kind(), vo)
                .await?
        }
    };
    original_version_answer(&rec, format, state.url(&req, &kind.versions_path(ehr, vo)))
}

/// `GET …/version/{version_uid}`.
pub async fn version_by_uid(
    req: HttpRequest,
    state: web::Data<AppState>,
    kind: Kind,
) -> ApiResult<HttpResponse> {
    let format = media::negotiate(&req, JSON_OR_XML)?;
    let uid: cdr_store::VersionUid = existing_id_segment(&req, "version_uid", "version")?;
    let (ehr, vo) = kind.object(&req, &state).await?;
    if uid.object_id != vo {
        return Err(ApiError::new(
            Code::NotFound,
            format!("version {uid} is not a version of object {vo}"),
        ));
    }
    let rec = state
        .store
        .version_by_uid(&state.caller(&req), ehr, kind.vo_kind(), &uid)
        .await?;
    original_version_answer(&rec, format, state.url(&req, &kind.versions_path(ehr, vo)))
}
