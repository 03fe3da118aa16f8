//! Change notifications (cdr's own API, admin only): webhook subscriptions
//! (`POST`/`GET /subscriptions`, `GET`/`DELETE /subscriptions/{id}`) and a Server-Sent Events
//! stream of the same events (`GET /events`). Delivery is [`super::webhook`]'s.
//!
//! A subscription's body: `{"target_url": "https://…", "secret"?: "…", "filter"?:
//! {"template_id"?: [...], "ehr_id"?: [...], "subject"?: [{"id", "namespace"}]}}`; each list
//! given must contain the event's value. Without a secret one is made; the secret is shown
//! only in the answer that creates the subscription.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use cdr_store::{ChangeEvent, EventFilter, NewSubscription, Store};

use super::error::{ApiError, ApiResult, Code};
use super::{headers, media, AppState};

/// The largest subscription body.
const SUBSCRIPTION_BODY_MAX: usize = 256 * 1024;
/// A comment line is sent this long after the last message, so proxies keep the stream open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Events read per round of a stream.
const STREAM_BATCH: i64 = 256;

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::new(Code::BadRequest, m.into())
}

fn json_answer(status: actix_web::http::StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(body.to_string())
}

/// A list of strings given as a list or as one string.
fn strings(v: &Value, field: &str) -> ApiResult<Vec<String>> {
    let must = || bad(format!("\"{field}\" must be a string or a list of strings"));
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned).ok_or_else(must))
            .collect(),
        _ => Err(must()),
    }
}

fn uuids(items: Vec<String>, field: &str) -> ApiResult<Vec<Uuid>> {
    items
        .iter()
        .map(|s| {
            cdr_store::parse_uuid(s).ok_or_else(|| bad(format!("\"{field}\": '{s}' is not a UUID")))
        })
        .collect()
}

/// A filter from a subscription's `filter` object.
fn filter_from_json(v: &Value) -> ApiResult<EventFilter> {
    let Some(obj) = v.as_object() else {
        return Err(bad("\"filter\" must be an object"));
    };
    let mut f = EventFilter::default();
    for (key, value) in obj {
        match key.as_str() {
            "template_id" => f.template_ids = Some(strings(value, "filter.template_id")?),
            "ehr_id" => f.ehr_ids = Some(uuids(strings(value, "filter.ehr_id")?, "filter.ehr_id")?),
            "subject" => {
                let items = match value {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let mut subjects = Vec::new();
                for (i, s) in items.iter().enumerate() {
                    let part = |name: &str| {
                        s.get(name)
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| {
                                bad(format!("\"filter.subject[{i}].{name}\" must be a string"))
                            })
                    };
                    subjects.push((part("id")?, part("namespace")?));
                }
                f.subjects = Some(subjects);
            }
            other => {
                return Err(bad(format!(
                    "\"filter.{other}\" is not a filter (template_id, ehr_id, subject)"
                )))
            }
        }
    }
    Ok(f)
}

/// `POST /subscriptions`: 201 with the subscription, its secret and its `Location`.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    media::negotiate(&req, media::JSON_ONLY)?;
    media::body_format(&req, media::JSON_ONLY)?;
    let body = media::read_body(&req, payload, SUBSCRIPTION_BODY_MAX).await?;
    let value = media::decode_value(&body)?;
    let Some(obj) = value.as_object() else {
        return Err(bad("the body must be a JSON object"));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "target_url" | "secret" | "filter"))
    {
        return Err(bad(format!(
            "\"{k}\" is not a field of a subscription (target_url, secret, filter)"
        )));
    }
    let target_url = obj
        .get("target_url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("\"target_url\" must be a string"))?
        .trim()
        .to_owned();
    super::outgoing::check_url(&target_url).map_err(|e| bad(format!("\"target_url\": {e}")))?;
    let secret = match obj.get("secret") {
        None | Some(Value::Null) => {
            super::webhook::new_secret().map_err(|e| ApiError::new(Code::Internal, e))?
        }
        Some(Value::String(s)) if s.len() >= 16 && s.len() <= 256 => s.clone(),
        Some(_) => return Err(bad("\"secret\" must be a string of 16 to 256 characters")),
    };
    let filter = match obj.get("filter") {
        None | Some(Value::Null) => EventFilter::default(),
        Some(f) => filter_from_json(f)?,
    };
    let created = state
        .store
        .create_subscription(
            &state.caller(&req),
            NewSubscription {
                target_url,
                secret,
                filter,
            },
        )
        .await?;
    state.events.subscriptions_changed.notify_one();
    let mut body = created.to_json();
    body["secret"] = json!(created.secret);
    let location = state.url(&req, &format!("/subscriptions/{}", created.id));
    Ok(HttpResponse::Created()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header((header::LOCATION, location))
        .body(body.to_string()))
}

/// `GET /subscriptions`: `{"subscriptions": […]}`, oldest first.
pub async fn list(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, media::JSON_ONLY)?;
    let all = state.store.list_subscriptions().await?;
    let items: Vec<Value> = all.iter().map(|s| s.to_json()).collect();
    Ok(json_answer(
        actix_web::http::StatusCode::OK,
        json!({ "subscriptions": items }),
    ))
}

fn subscription_id(req: &HttpRequest) -> ApiResult<Uuid> {
    let s = req.match_info().get("subscription_id").unwrap_or_default();
    cdr_store::parse_uuid(s)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("no subscription '{s}'")))
}

/// `GET /subscriptions/{id}`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    media::negotiate(&req, media::JSON_ONLY)?;
    let s = state.store.get_subscription(subscription_id(&req)?).await?;
    Ok(json_answer(actix_web::http::StatusCode::OK, s.to_json()))
}

/// `DELETE /subscriptions/{id}`: 204.
pub async fn delete(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    state
        .store
        .delete_subscription(subscription_id(&req)?)
        .await?;
    state.events.subscriptions_changed.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

/// The filter of a stream from its query (`template_id`, `ehr_id`: comma-separated;
/// `subject_id` with `subject_namespace`).
fn stream_filter(params: &std::collections::HashMap<String, String>) -> ApiResult<EventFilter> {
    let list = |name: &str| {
        params.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    let subjects = match (params.get("subject_id"), params.get("subject_namespace")) {
        (Some(id), Some(ns)) => Some(vec![(id.clone(), ns.clone())]),
        (None, None) => None,
        _ => {
            return Err(ApiError::new(
                Code::InvalidParameter,
                "subject_id and subject_namespace go together".to_owned(),
            ))
        }
    };
    Ok(EventFilter {
        template_ids: list("template_id"),
        ehr_ids: list("ehr_id").map(|ids| uuids(ids, "ehr_id")).transpose()?,
        subjects,
    })
}

/// One Server-Sent Events message.
fn message(e: &ChangeEvent) -> Bytes {
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {}\n\n",
        e.position,
        e.event_type(),
        e.to_json()
    ))
}

struct Stream {
    store: Store,
    filter: EventFilter,
    after: i64,
    newest: tokio::sync::watch::Receiver<i64>,
    ready: std::collections::VecDeque<Bytes>,
}

impl Stream {
    /// The next chunk to send: a message, or a keep-alive comment; `None` ends the stream
    /// (the database failed).
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.ready.pop_front() {
                return Some(b);
            }
            let events = self
                .store
                .events_after(self.after, STREAM_BATCH)
                .await
                .ok()?;
            if let Some(last) = events.last() {
                self.after = last.position;
                self.ready.extend(
                    events
                        .iter()
                        .filter(|e| self.filter.matches(e))
                        .map(message),
                );
                continue;
            }
            let after = self.after;
            let wait = self.newest.wait_for(|n| *n > after);
            if tokio::time::timeout(KEEP_ALIVE, wait).await.is_err() {
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
        }
    }
}

/// `GET /events`: a `text/event-stream` of change events from now on, or after
/// `Last-Event-ID` (or `?after=`), filtered as a subscription's are.
pub async fn stream(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if !["text/event-stream", "*/*", "text/*"]
        .iter()
        .any(|m| accept.contains(m))
    {
        return Err(ApiError::new(
            Code::NotAcceptable,
            "the event stream is text/event-stream".to_owned(),
        ));
    }
    let params = headers::query(&req)?;
    let filter = stream_filter(&params)?;
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| params.get("after").cloned());
    let after = match resume {
        Some(p) => p.trim().parse::<i64>().map_err(|_| {
            ApiError::new(
                Code::InvalidParameter,
                format!("'{p}' is not an event id (Last-Event-ID or after)"),
            )
        })?,
        None => state.store.latest_event_position().await?,
    };
    let stream = Stream {
        store: state.store.clone(),
        filter,
        after,
        newest: state.events.newest.clone(),
        ready: std::collections::VecDeque::from([Bytes::from_static(b"retry: 2000\n\n")]),
    };
    let body = futures_util::stream::unfold(stream, |mut s| async move {
        let chunk = s.next().await?;
        Some((Ok::<_, actix_web::Error>(chunk), s))
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body))
}
