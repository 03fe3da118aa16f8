//! Access policy of an EHR: the patient's consent, grants, and the break-glass review list.
//! Who may call what is the store's rule (`cdr_store`'s access module, ARCHITECTURE.md): a
//! record the caller may not see is 404 here as everywhere (a patient's request for another
//! EHR is 403: [`patients_only_their_own`]); one they may see but not change is 403.

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

use cdr_store::{BreakGlassFilter, NewConsent, NewGrant};

use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_ONLY};
use super::{ehr_id, existing_uuid_segment, AppState};

/// The largest policy body (a consent or a grant is a few hundred bytes).
const POLICY_BODY_MAX: usize = 64 * 1024;

/// Reads a JSON body (JSON that does not parse is 400 with its line and column).
async fn json_body(req: &HttpRequest, payload: Payload) -> ApiResult<Value> {
    media::body_format(req, JSON_ONLY)?;
    let body = media::read_body(req, payload, POLICY_BODY_MAX).await?;
    media::decode_value(&body)
}

fn answer(status: StatusCode, value: Value) -> HttpResponse {
    Answer {
        body: Some((Format::Json, value.to_string())),
        ..Answer::default()
    }
    .respond(status)
}

/// `GET {base}/ehr/{ehr_id}/consent`: the recorded consent, or the defaults (`recorded`
/// false) when none is.
pub async fn get_consent(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, JSON_ONLY)?;
    let ehr = ehr_id(&req)?;
    let consent = state.store.get_consent(&state.caller(&req), ehr).await?;
    Ok(answer(StatusCode::OK, consent.to_json()))
}

/// `PUT {base}/ehr/{ehr_id}/consent` `{"state": "given"|"withheld"|"withdrawn",
/// "secondary_use"?: bool, "note"?: text}`: 200 with the consent as recorded.
pub async fn put_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let consent = NewConsent::from_json(&json_body(&req, payload).await?)?;
    media::negotiate(&req, JSON_ONLY)?;
    let done = state
        .store
        .put_consent(&state.caller(&req), ehr, consent)
        .await?;
    Ok(answer(StatusCode::OK, done.to_json()))
}

/// `GET {base}/ehr/{ehr_id}/grants`: the EHR's grants.
pub async fn list_grants(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, JSON_ONLY)?;
    let ehr = ehr_id(&req)?;
    let grants = state.store.list_grants(&state.caller(&req), ehr).await?;
    let grants: Vec<Value> = grants.iter().map(|g| g.to_json()).collect();
    Ok(answer(StatusCode::OK, json!({ "grants": grants })))
}

/// `POST {base}/ehr/{ehr_id}/grants` `{"grantee_type": "organisation"|"user", "grantee",
/// "access": "read"|"write", "valid_from"?, "valid_until"?}`: 201 with the grant and its
/// `Location`.
pub async fn add_grant(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let grant = NewGrant::from_json(&json_body(&req, payload).await?)?;
    media::negotiate(&req, JSON_ONLY)?;
    let done = state
        .store
        .add_grant(&state.caller(&req), ehr, grant)
        .await?;
    let location = state.url(&req, &format!("/ehr/{ehr}/grants/{}", done.id));
    Ok(Answer {
        location: Some(location),
        body: Some((Format::Json, done.to_json().to_string())),
        ..Answer::default()
    }
    .respond(StatusCode::CREATED))
}

/// `DELETE {base}/ehr/{ehr_id}/grants/{grant_id}`: 204; 404 for an unknown grant.
pub async fn remove_grant(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr = ehr_id(&req)?;
    let id = existing_uuid_segment(&req, "grant_id", "grant")?;
    state
        .store
        .remove_grant(&state.caller(&req), ehr, id)
        .await?;
    Ok(Answer::default().respond(StatusCode::NO_CONTENT))
}

/// `GET {base}/admin/break_glass{?ehr_id,subject,since}`: break-glass uses, newest first.
pub async fn break_glass(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, JSON_ONLY)?;
    let params = headers::query(&req)?;
    let invalid = |name: &str, e: String| {
        ApiError::new(Code::InvalidParameter, format!("parameter {name}: {e}"))
    };
    let filter = BreakGlassFilter {
        ehr_id: match params.get("ehr_id").filter(|v| !v.is_empty()) {
            Some(v) => Some(
                cdr_store::parse_uuid(v)
                    .ok_or_else(|| invalid("ehr_id", format!("'{v}' is not a UUID")))?,
            ),
            None => None,
        },
        subject: params.get("subject").filter(|v| !v.is_empty()).cloned(),
        since: match params.get("since").filter(|v| !v.is_empty()) {
            Some(v) => Some(
                chrono::DateTime::parse_from_rfc3339(v)
                    .map_err(|e| invalid("since", format!("'{v}' is not an RFC 3339 time: {e}")))?
                    .with_timezone(&chrono::Utc),
            ),
            None => None,
        },
    };
    let uses = state
        .store
        .list_break_glass(&state.caller(&req), &filter)
        .await?;
    let uses: Vec<Value> = uses.iter().map(|u| u.to_json()).collect();
    Ok(answer(StatusCode::OK, json!({ "break_glass": uses })))
}

/// Whether the caller reads records only as a patient (no role that reads others' records).
fn patient_only(caller: &cdr_store::Principal) -> bool {
    caller.has_role("patient")
        && !["admin", "clinician", "reader", "service"]
            .iter()
            .any(|r| caller.has_role(r))
}

/// A patient asking for an EHR other than their own is refused with 403, whether that EHR
/// exists or not (so the answer tells nothing of other records); on their own EHR a missing
/// version or object stays 404. Runs after the handler, and asks the store only when the
/// answer is a 404 to a patient on a path with an `ehr_id`.
pub async fn patients_only_their_own(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let res = next.call(req).await?;
    if res.status() != StatusCode::NOT_FOUND {
        return Ok(res);
    }
    let Some(state) = res.request().app_data::<web::Data<AppState>>().cloned() else {
        return Ok(res);
    };
    let caller = state.caller(res.request());
    if !patient_only(&caller) {
        return Ok(res);
    }
    let Some(ehr) = res
        .request()
        .match_info()
        .get("ehr_id")
        .and_then(cdr_store::parse_uuid)
    else {
        return Ok(res);
    };
    match state.store.get_ehr(&caller, ehr).await {
        Err(cdr_store::StoreError::NotFound { .. }) => {
            let refusal = ApiError::new(
                Code::AccessDenied,
                "a patient may read only their own record",
            );
            let (req, _) = res.into_parts();
            Ok(ServiceResponse::new(req, refusal.error_response()))
        }
        _ => Ok(res),
    }
}
