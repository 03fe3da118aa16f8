//! CONTRIBUTION: commit several versions at once (all or nothing), and read one back.
//!
//! The body is ITS-REST's relaxed CONTRIBUTION: `{uid?, audit, versions: [{uid?,
//! preceding_version_uid?, lifecycle_state, commit_audit, data?, attestations?}]}`. The server
//! sets `time_committed` and `system_id`, and names every version itself (a version's `uid` is
//! not read); a version whose change type is deleted is a deletion whatever `data` it carries.
//! Attestations are read as RM ATTESTATIONs and kept as canonical JSON.
//! Other unknown keys are refused rather than dropped.

use actix_web::http::StatusCode;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use uuid::Uuid;

use cdr_rm::VersionData;
use cdr_store::{
    ChangeType, CommitMeta, LifecycleState, NewContribution, NewVersion, Principal, Store,
    StoreError, VersionUid, VoKind,
};

use super::error::{ApiError, ApiResult, Code};
use super::headers::Answer;
use super::media::{self, Format, JSON_ONLY, JSON_OR_XML};
use super::{ehr_id, existing_uuid_segment, AppState};

fn bad(at: &str, what: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::BadRequest, format!("{at}: {what}"))
}

fn object<'a>(v: &'a Value, at: &str, allowed: &[&str]) -> ApiResult<&'a Map<String, Value>> {
    let map = v.as_object().ok_or_else(|| bad(at, "expected an object"))?;
    if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(at, format!("unknown attribute '{k}'")));
    }
    Ok(map)
}

/// The code of a DV_CODED_TEXT (`defining_code.code_string`) or a bare `code_string`.
fn code_of<'a>(v: &'a Value, at: &str) -> ApiResult<&'a str> {
    v.pointer("/defining_code/code_string")
        .or_else(|| v.get("code_string"))
        .and_then(Value::as_str)
        .ok_or_else(|| bad(at, "expected a coded text with defining_code.code_string"))
}

fn id_value<'a>(v: &'a Value, at: &str) -> ApiResult<&'a str> {
    v.get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(at, "expected an id object with a string 'value'"))
}

/// An UPDATE_AUDIT: change type, committer, description.
fn audit(v: &Value, at: &str) -> ApiResult<CommitMeta> {
    let map = object(
        v,
        at,
        &[
            "_type",
            "change_type",
            "committer",
            "description",
            "system_id",
            "time_committed",
        ],
    )?;
    let mut meta = CommitMeta::default();
    if let Some(ct) = map.get("change_type") {
        let at = format!("{at}.change_type");
        let code = code_of(ct, &at)?;
        meta.change_type =
            Some(ChangeType::from_code(code).ok_or_else(|| bad(&at, "unknown change type code"))?);
    }
    if let Some(c) = map.get("committer") {
        meta.committer = Some(
            cdr_rm::json::from_json_value(c.clone())
                .map_err(|e| bad(&format!("{at}.committer"), e.message))?,
        );
    }
    if let Some(d) = map.get("description") {
        let text = d
            .get("value")
            .and_then(Value::as_str)
            .or_else(|| d.as_str());
        meta.description = Some(
            text.ok_or_else(|| bad(&format!("{at}.description"), "expected a DV_TEXT"))?
                .to_owned(),
        );
    }
    Ok(meta)
}

/// A version's ATTESTATIONs, read as the RM types and written back as canonical JSON, so
/// they read back (JSON or XML) as the rest of an ORIGINAL_VERSION does.
fn attestations(v: &Value, at: &str) -> ApiResult<Value> {
    let list: Vec<cdr_rm::Attestation> = cdr_rm::json::from_json_value(v.clone())
        .map_err(|e| ApiError::new(Code::MalformedBody, format!("{at}: {}", e.message)))?;
    Ok(list
        .iter()
        .map(|a| cdr_rm::json::to_json_value(a, &cdr_rm::JsonConfig::CANONICAL))
        .collect())
}

/// The kind of an existing object (for a deletion, which carries no data).
async fn kind_of(store: &Store, caller: &Principal, ehr: Uuid, vo: Uuid) -> ApiResult<VoKind> {
    for kind in [VoKind::Composition, VoKind::Folder, VoKind::EhrStatus] {
        match store.versioned_object(caller, ehr, kind, vo).await {
            Ok(_) => return Ok(kind),
            Err(StoreError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::from(StoreError::NotFound {
        kind: "versioned object",
        id: vo.to_string(),
    }))
}

async fn version(
    store: &Store,
    caller: &Principal,
    ehr: Uuid,
    v: &Value,
    at: &str,
) -> ApiResult<NewVersion> {
    let map = object(
        v,
        at,
        &[
            "_type",
            "uid",
            "preceding_version_uid",
            "lifecycle_state",
            "commit_audit",
            "data",
            "attestations",
        ],
    )?;
    if let Some(t) = map.get("_type").and_then(Value::as_str) {
        if t != "ORIGINAL_VERSION" {
            return Err(bad(
                at,
                format!("'{t}' is not accepted; send ORIGINAL_VERSIONs"),
            ));
        }
    }
    let preceding = match map.get("preceding_version_uid") {
        Some(p) => Some(
            id_value(p, &format!("{at}.preceding_version_uid"))?
                .parse::<VersionUid>()
                .map_err(|e| bad(&format!("{at}.preceding_version_uid"), e))?,
        ),
        None => None,
    };
    let mut meta = match map.get("commit_audit") {
        Some(a) => audit(a, &format!("{at}.commit_audit"))?,
        None => return Err(bad(at, "commit_audit is required")),
    };
    if let Some(ls) = map.get("lifecycle_state") {
        let at = format!("{at}.lifecycle_state");
        let code = code_of(ls, &at)?;
        meta.lifecycle_state = Some(
            LifecycleState::from_code(code).ok_or_else(|| bad(&at, "unknown lifecycle code"))?,
        );
    }
    // A deletion carries no data: what a deleted version brings along is not read.
    let data: Option<VersionData> = match map.get("data") {
        Some(_) if meta.change_type == Some(ChangeType::Deleted) => None,
        Some(d) => Some(cdr_rm::json::from_json_value(d.clone()).map_err(|e| {
            ApiError::new(Code::MalformedBody, format!("{at}.data: {}", e.message))
        })?),
        None => None,
    };
    let kind = match (&data, &preceding) {
        (Some(VersionData::Composition(_)), _) => VoKind::Composition,
        (Some(VersionData::EhrStatus(_)), _) => VoKind::EhrStatus,
        (Some(VersionData::Folder(_)), _) => VoKind::Folder,
        (None, Some(p)) => kind_of(store, caller, ehr, p.object_id).await?,
        (None, None) => {
            return Err(bad(
                at,
                "a version without data needs preceding_version_uid",
            ))
        }
    };
    let attestations = match map.get("attestations") {
        Some(a) => Some(attestations(a, &format!("{at}.attestations"))?),
        None => None,
    };
    Ok(NewVersion {
        data,
        preceding,
        kind,
        meta,
        attestations,
    })
}

async fn contribution(
    store: &Store,
    caller: &Principal,
    ehr: Uuid,
    body: &Value,
) -> ApiResult<NewContribution> {
    let map = object(body, "contribution", &["_type", "uid", "audit", "versions"])?;
    let uid = match map.get("uid") {
        Some(u) => {
            let s = id_value(u, "uid")?;
            Some(cdr_store::parse_uuid(s).ok_or_else(|| bad("uid", "not a UUID"))?)
        }
        None => None,
    };
    let meta = match map.get("audit") {
        Some(a) => audit(a, "audit")?,
        None => return Err(bad("contribution", "audit is required")),
    };
    let list = match map.get("versions") {
        // EHRbase's words, which its clients compare.
        Some(Value::Array(l)) if l.is_empty() => {
            return Err(ApiError::new(
                Code::BadRequest,
                "Invalid Contribution, must have at least one Version object.",
            ))
        }
        Some(Value::Array(l)) => l,
        _ => return Err(bad("contribution", "versions must be a non-empty array")),
    };
    let mut versions = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        versions.push(version(store, caller, ehr, v, &format!("versions[{i}]")).await?);
    }
    Ok(NewContribution {
        uid,
        meta,
        versions,
    })
}

fn answer(state: &AppState, req: &HttpRequest, ehr: Uuid, uid: Uuid) -> Answer {
    Answer {
        etag: Some(uid.to_string()),
        location: Some(state.url(req, &format!("/ehr/{ehr}/contribution/{uid}"))),
        ..Answer::default()
    }
}

/// `POST /ehr/{ehr_id}/contribution`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let format = media::body_then_write_format(&req, JSON_ONLY, JSON_OR_XML)?;
    let body = media::read_body(&req, payload, state.limits.contribution).await?;
    let value = media::decode_value(&body)?;
    let mut new = contribution(&state.store, &state.caller(&req), ehr, &value).await?;
    // An authenticated caller commits as themselves: committers in the body are replaced.
    if let Some(me) = super::auth::committer(&req) {
        for v in &mut new.versions {
            v.meta.committer = Some(me.clone());
        }
        new.meta.committer = Some(me);
    }
    let caller = state.caller(&req);
    let done = state.store.commit_contribution(&caller, ehr, new).await?;
    let mut answer = answer(&state, &req, ehr, done.contribution_id);
    answer.last_modified = Some(done.time_committed);
    if let Some(f) = format {
        let rec = state
            .store
            .get_contribution(&caller, ehr, done.contribution_id)
            .await?;
        answer.body = Some((f, media::render_value(rec.to_json(), f)?));
    }
    Ok(answer.respond(StatusCode::CREATED))
}

/// `GET /ehr/{ehr_id}/contribution/{contribution_uid}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let format: Format = media::negotiate(&req, JSON_OR_XML)?;
    let ehr = ehr_id(&req)?;
    let uid = existing_uuid_segment(&req, "contribution_uid", "contribution")?;
    let rec = state
        .store
        .get_contribution(&state.caller(&req), ehr, uid)
        .await?;
    let mut answer = answer(&state, &req, ehr, uid);
    answer.body = Some((format, media::render_value(rec.to_json(), format)?));
    Ok(answer.respond(StatusCode::OK))
}
