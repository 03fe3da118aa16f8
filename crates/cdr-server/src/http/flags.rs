//! Care-plan flags for clinical systems (cdr's own API): `GET /flags?subject_id=…&subject_namespace=…`
//! for one person, `POST /flags` with `{"subject_namespace", "subject_ids": […]}` for up to
//! 1,000 (a GP system flagging its list). Each answer says whether the person has an EHR the
//! caller may see and which care plans it holds ([`cdr_store::SubjectFlags`]).

use actix_web::http::header;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult, Code};
use super::{headers, media, AppState};

fn answer(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// `GET /flags?subject_id=…&subject_namespace=…`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, media::JSON_ONLY)?;
    let params = headers::query(&req)?;
    let subject = headers::required(&params, "subject_id")?;
    let namespace = headers::required(&params, "subject_namespace")?;
    let caller = state.caller(&req);
    let subjects = [subject.to_owned()];
    let flags = headers::read_side(
        &req,
        state
            .store
            .care_plan_flags(&caller, namespace, &subjects, &state.care_plans),
    )
    .await??;
    Ok(answer(
        flags.first().map(|f| f.to_json()).unwrap_or(Value::Null),
    ))
}

/// `POST /flags` with `{"subject_namespace": "…", "subject_ids": ["…", …]}`: `{"flags": […]}`
/// in the order asked.
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    media::negotiate(&req, media::JSON_ONLY)?;
    media::body_format(&req, media::JSON_ONLY)?;
    let body = media::read_body(&req, payload, state.limits.document).await?;
    let bad = |m: String| ApiError::new(Code::BadRequest, m);
    let value = media::decode_value(&body)?;
    let namespace = value
        .get("subject_namespace")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"subject_namespace\" must be a string".into()))?;
    let ids = value
        .get("subject_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("\"subject_ids\" must be a list of strings".into()))?;
    let ids: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("subject_ids[{i}] must be a string, not {v}")))
        })
        .collect::<ApiResult<_>>()?;
    let caller = state.caller(&req);
    let flags = headers::read_side(
        &req,
        state
            .store
            .care_plan_flags(&caller, namespace, &ids, &state.care_plans),
    )
    .await??;
    Ok(answer(json!({
        "flags": flags.iter().map(|f| f.to_json()).collect::<Vec<_>>()
    })))
}
