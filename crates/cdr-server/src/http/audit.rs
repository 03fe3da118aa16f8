//! The audit of requests, and the audit trail's REST views.
//!
//! [`audit_requests`] is the outermost middleware: every request under the base path (but the
//! capabilities and OpenAPI documents) leaves one event. A write that committed its own event
//! in its transaction (the store marks the request's scope, `cdr_store::in_request`) is not
//! recorded again; everything else — reads, queries, dry runs, refused and failed requests —
//! goes to the store's audit writer after the answer is made. A 401 is recorded as
//! `login_failure`, a 403 as `denied`, whichever layer answered them, because this middleware
//! wraps all others.
//!
//! Who: [`AppState::caller`] (the principal the authentication layer found); a 401 names the
//! subject `anonymous`. Where: [`client_address`].
//!
//! Views: `GET {base}/admin/audit` (filters `ehr_id`, `user`, `from`, `to`, `action`; pages
//! of `limit` events, newest first, `before` = the position of the last one seen, as the
//! `next` link gives it) and
//! `GET {base}/ehr/{ehr_id}/access_log` (the same for one EHR, so that a patient can see who
//! looked at their record).

use std::collections::HashMap;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use uuid::Uuid;

use cdr_store::{AuditAction, AuditEvent, AuditFilter, Principal, RequestAudit};

use super::definition::encode_segment;
use super::error::{ApiError, ApiResult, Code};
use super::headers::{self, Answer};
use super::media::{self, Format, JSON_ONLY};
use super::{ehr_id, AppState};

/// Events per page when `limit` is not given, and at most.
const PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

/// The path segments that name an object or version, in the order they are looked for.
const OBJECT_SEGMENTS: &[&str] = &[
    "version_uid",
    "uid_based_id",
    "versioned_object_uid",
    "versioned_object_id",
    "directory_id",
    "contribution_uid",
];

/// The client's address: the peer, and what `X-Forwarded-For` claims before it
/// (`203.0.113.7 via 10.0.0.2`); the claim alone cannot be trusted, the peer can.
pub fn client_address(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip().to_string());
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match (forwarded, peer) {
        (Some(f), Some(p)) => Some(format!("{f} via {p}")),
        (Some(f), None) => Some(format!("{f} via unknown")),
        (None, p) => p,
    }
}

/// Whether a request is audited: everything under the base path but the documents that
/// describe the server.
fn audited(path: &str, base: &str) -> bool {
    if super::ui::is_ui(path) {
        return false;
    }
    let Some(rest) = path.strip_prefix(base) else {
        return false;
    };
    rest.starts_with('/')
        && !matches!(
            rest.trim_end_matches('/'),
            "" | "/openapi.json" | "/health" | "/ready"
        )
}

/// Records one event per request (see the module's documentation).
pub async fn audit_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next.call(req).await;
    };
    if !audited(req.path(), &state.base) {
        return next.call(req).await;
    }
    let resource = format!("{} {}", req.method(), req.uri());
    let method = req.method().clone();
    let (res, noted) = cdr_store::in_request(resource.clone(), next.call(req)).await;
    let res = match res {
        Ok(res) => res,
        Err(e) => {
            // No answer to read the request from: what is known.
            let status = e.as_response_error().status_code();
            let unknown = Principal {
                subject: "unknown".into(),
                ..Principal::default()
            };
            let mut event = AuditEvent::new(&unknown, action(status, method.as_str(), false));
            event.success = false;
            event.status = Some(status.as_u16() as i16);
            event.resource = Some(resource);
            state.store.record(event).await;
            return Err(e);
        }
    };
    if !noted.recorded {
        let event = event_for(&state, res.request(), res.response(), resource, noted);
        state.store.record(event).await;
    }
    Ok(res)
}

fn event_for(
    state: &AppState,
    req: &HttpRequest,
    res: &HttpResponse<impl MessageBody>,
    resource: String,
    noted: RequestAudit,
) -> AuditEvent {
    let status = res.status();
    let caller = match status {
        StatusCode::UNAUTHORIZED => Principal {
            subject: "anonymous".into(),
            address: client_address(req),
            ..Principal::default()
        },
        _ => state.caller(req),
    };
    let query = noted.query.is_some() || is_query(req, &state.base);
    let mut event = AuditEvent::new(&caller, action(status, req.method().as_str(), query));
    event.success = status.as_u16() < 400;
    event.status = Some(status.as_u16() as i16);
    event.resource = Some(resource);
    event.ehr_id = req
        .match_info()
        .get("ehr_id")
        .and_then(cdr_store::parse_uuid)
        .or(noted.query_ehr);
    let etag = res
        .headers()
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("W/").trim_matches('"').to_owned());
    let named = OBJECT_SEGMENTS
        .iter()
        .find_map(|s| req.match_info().get(s))
        .map(str::to_owned);
    event.versions = etag.or(named).into_iter().collect();
    if let Some((text, params)) = noted.query {
        event.query = Some(text);
        event.query_params = Some(params);
    }
    event
}

/// The action of a request answered with `status`.
fn action(status: StatusCode, method: &str, query: bool) -> AuditAction {
    match (status, method) {
        (StatusCode::UNAUTHORIZED, _) => AuditAction::LoginFailure,
        (StatusCode::FORBIDDEN, _) => AuditAction::Denied,
        _ if query => AuditAction::Query,
        (_, "POST") => AuditAction::Create,
        (_, "PUT") => AuditAction::Update,
        (_, "DELETE") => AuditAction::Delete,
        _ => AuditAction::Read,
    }
}

/// Whether the request runs a query (ad hoc or stored).
fn is_query(req: &HttpRequest, base: &str) -> bool {
    req.path()
        .strip_prefix(base)
        .is_some_and(|p| p.starts_with("/query/") || p == "/query")
}

/// The filters and page of a listing from the query parameters.
fn filter(params: &HashMap<String, String>) -> ApiResult<AuditFilter> {
    let bad = |name: &str, why: String| {
        ApiError::new(
            Code::InvalidParameter,
            format!("query parameter '{name}': {why}"),
        )
    };
    let number = |name: &str| -> ApiResult<Option<i64>> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad(name, format!("'{v}' is not a positive integer")))
            })
            .transpose()
    };
    let time = |name: &str| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        params
            .get(name)
            .map(|v| headers::parse_time(v).map_err(|e| bad(name, e.detail)))
            .transpose()
    };
    let ehr_id = params
        .get("ehr_id")
        .map(|v| {
            cdr_store::parse_uuid(v).ok_or_else(|| bad("ehr_id", format!("'{v}' is not a UUID")))
        })
        .transpose()?;
    let action = params
        .get("action")
        .map(|v| {
            AuditAction::parse(v).ok_or_else(|| {
                let all: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
                bad("action", format!("'{v}' is not one of {}", all.join(", ")))
            })
        })
        .transpose()?;
    let limit = number("limit")?.unwrap_or(PAGE);
    if limit > MAX_PAGE {
        return Err(bad("limit", format!("at most {MAX_PAGE} events per page")));
    }
    Ok(AuditFilter {
        ehr_id,
        subject: params.get("user").cloned(),
        from: time("from")?,
        to: time("to")?,
        action,
        after: params
            .get("before")
            .map(|v| {
                let position = v.split_once('.').is_some_and(|(xid, seq)| {
                    xid.parse::<u64>().is_ok() && seq.parse::<i64>().is_ok()
                });
                match position {
                    true => Ok(v.clone()),
                    false => Err(bad(
                        "before",
                        format!("'{v}' is not a position in the trail (see `next`)"),
                    )),
                }
            })
            .transpose()?,
        limit,
    })
}

/// A page of events as JSON: `events`, newest first, and `next`, the URL of the next page
/// (absent on the last).
async fn listing(
    req: &HttpRequest,
    state: &AppState,
    path: &str,
    mut filter: AuditFilter,
    mut params: HashMap<String, String>,
) -> ApiResult<HttpResponse> {
    media::negotiate(req, JSON_ONLY)?;
    let limit = filter.limit;
    // One more than the page says whether there is a next one.
    filter.limit += 1;
    let mut records = state
        .store
        .audit_events(&state.caller(req), &filter)
        .await?;
    let more = records.len() as i64 > limit;
    records.truncate(limit as usize);
    let next = match (more, records.last()) {
        (true, Some(last)) => {
            params.insert("before".into(), last.cursor());
            let mut pairs: Vec<_> = params.into_iter().collect();
            pairs.sort();
            let query: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode_segment(k), encode_segment(v)))
                .collect();
            Some(state.url(req, &format!("{path}?{}", query.join("&"))))
        }
        _ => None,
    };
    let body = json!({
        "events": records.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        "next": next,
    });
    Ok(Answer::ok(Format::Json, body.to_string()))
}

/// `GET {base}/admin/audit`: the audit trail, filtered and paged.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let params = headers::query(&req)?;
    let filter = filter(&params)?;
    listing(&req, &state, "/admin/audit", filter, params).await
}

/// `GET {base}/ehr/{ehr_id}/access_log`: every event of one EHR (who read or changed it, when,
/// from where), paged as the audit trail; 404 for an unknown EHR.
pub async fn access_log(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let ehr: Uuid = ehr_id(&req)?;
    let mut params = headers::query(&req)?;
    params.remove("ehr_id");
    let mut filter = filter(&params)?;
    filter.ehr_id = Some(ehr);
    state.store.get_ehr(&state.caller(&req), ehr).await?;
    listing(
        &req,
        &state,
        &format!("/ehr/{ehr}/access_log"),
        filter,
        params,
    )
    .await
}
