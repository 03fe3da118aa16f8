//! QUERY: ad hoc AQL (`GET` and `POST /query/aql`) and stored queries (`GET` and
//! `POST /query/{qualified_query_name}[/{version}]`), answered with a RESULT_SET. Both run
//! through [`run`]; a stored query's RESULT_SET also carries its `name`.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Payload};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use tracing::Level;
use uuid::Uuid;

use cdr_store::aql::{ExportFormat, ExportWriter, QueryLimits, QueryRequest};
use cdr_store::StoredQuery;

use super::error::{ApiError, ApiResult, Code};
use super::headers;
use super::media;
use super::{segment, AppState};

/// Reserved GET parameters; every other one is a query parameter (as EHRbase accepts them).
const RESERVED: [&str; 5] = ["q", "ehr_id", "offset", "fetch", "query_parameters"];

/// `meta._generator` of every RESULT_SET: this software and its version.
const GENERATOR: &str = concat!("cdr/", env!("CARGO_PKG_VERSION"));

/// How long an export may run (a RESULT_SET: [`QueryLimits::default`]).
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3600);

/// Rows written per chunk of an export.
const EXPORT_BATCH: usize = 1024;

/// The export format `Accept` asks for, if it prefers one to JSON: `text/csv` (or `text/*`),
/// `application/x-ndjson` (or `application/ndjson`, `application/jsonl`).
fn export_format(req: &HttpRequest) -> Option<ExportFormat> {
    let accept = req.headers().get(header::ACCEPT)?.to_str().ok()?;
    for range in media::accepted_ranges(accept) {
        match range.as_str() {
            "text/csv" | "text/*" => return Some(ExportFormat::Csv),
            "application/x-ndjson" | "application/ndjson" | "application/jsonl" => {
                return Some(ExportFormat::Ndjson)
            }
            "application/json" | "application/*" | "*/*" => return None,
            _ => {}
        }
    }
    None
}

/// The request header that may carry the EHR id instead of the `ehr_id` parameter.
const EHR_ID_HEADER: &str = "openehr-ehr-id";

/// How to run a query: its parameters, the EHR it is bound to, and paging.
#[derive(Debug, Default)]
struct Execution {
    params: Map<String, Value>,
    ehr: Option<Uuid>,
    fetch: Option<u64>,
    offset: Option<u64>,
}

fn number(name: &str, v: Option<&Value>) -> ApiResult<Option<u64>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| bad(name, n)),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| bad(name, s)),
        Some(other) => Err(bad(name, other)),
    }
}

fn bad(name: &str, v: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        Code::InvalidParameter,
        format!("{name} must be a non-negative integer, not {v}"),
    )
}

fn ehr_id(v: Option<&Value>) -> ApiResult<Option<Uuid>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|e| ApiError::new(Code::InvalidParameter, format!("ehr_id '{s}': {e}"))),
        Some(other) => Err(ApiError::new(
            Code::InvalidParameter,
            format!("ehr_id must be a string, not {other}"),
        )),
    }
}

/// The `openEHR-EHR-id` header, if sent.
fn ehr_id_header(req: &HttpRequest) -> ApiResult<Option<Value>> {
    req.headers()
        .get(EHR_ID_HEADER)
        .map(|v| {
            v.to_str()
                .map(|s| Value::String(s.trim().to_owned()))
                .map_err(|_| ApiError::new(Code::InvalidHeader, "openEHR-EHR-id is not ASCII"))
        })
        .transpose()
}

/// From the URL of a GET: `ehr_id`, `offset`, `fetch`, and every other parameter by name
/// (also inside `query_parameters=a=1&b=2`); the EHR id may come as a header or as the
/// parameter `ehr_id` instead.
fn from_url(req: &HttpRequest, query: &HashMap<String, String>) -> ApiResult<Execution> {
    let mut params = Map::new();
    for (k, v) in query {
        if !RESERVED.contains(&k.as_str()) {
            params.insert(k.clone(), Value::String(v.clone()));
        }
    }
    if let Some(qp) = query.get("query_parameters") {
        for pair in qp.split('&') {
            if let Some((k, v)) = pair.split_once('=') {
                params.insert(k.to_owned(), Value::String(v.to_owned()));
            }
        }
    }
    let get = |k: &str| query.get(k).map(|s| Value::String(s.clone()));
    let ehr = match get("ehr_id") {
        Some(v) => Some(v),
        None => ehr_id_header(req)?,
    };
    let ehr = ehr.or_else(|| params.get("ehr_id").cloned());
    Ok(Execution {
        params,
        ehr: ehr_id(ehr.as_ref())?,
        fetch: number("fetch", get("fetch").as_ref())?,
        offset: number("offset", get("offset").as_ref())?,
    })
}

/// From a POST body `{"offset"?, "fetch"?, "query_parameters"?}` (the object without `q`);
/// `ehr_id` may be a URL parameter, the header, a body member or one of `query_parameters`
/// (which then is `$ehr_id` too).
fn from_body(req: &HttpRequest, mut obj: Map<String, Value>) -> ApiResult<Execution> {
    let params = match obj.remove("query_parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::new(
                Code::BadRequest,
                "\"query_parameters\" must be an object",
            ))
        }
    };
    let url = headers::query(req)?;
    let ehr = match url.get("ehr_id") {
        Some(s) => Some(Value::String(s.clone())),
        None => ehr_id_header(req)?,
    };
    let ehr = ehr
        .or_else(|| obj.get("ehr_id").cloned())
        .or_else(|| params.get("ehr_id").cloned());
    Ok(Execution {
        ehr: ehr_id(ehr.as_ref())?,
        fetch: number("fetch", obj.get("fetch"))?,
        offset: number("offset", obj.get("offset"))?,
        params,
    })
}

/// Reads a POST body as a JSON object; an empty body is an empty object when `optional`.
async fn body_object(
    req: &HttpRequest,
    state: &AppState,
    payload: Payload,
    optional: bool,
) -> ApiResult<Map<String, Value>> {
    media::body_format(req, media::JSON_ONLY)?;
    let body = media::read_body(req, payload, state.limits.document).await?;
    if optional && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match media::decode_value(&body)? {
        Value::Object(obj) => Ok(obj),
        _ => Err(ApiError::new(
            Code::BadRequest,
            "the body must be a JSON object",
        )),
    }
}

/// Runs a query and answers its RESULT_SET; `stored` names the stored query it came from.
/// The EHR the query is bound to is also `$ehr_id`, unless the parameters say otherwise.
async fn run(
    state: &AppState,
    req: &HttpRequest,
    q: &str,
    mut exec: Execution,
    stored: Option<&StoredQuery>,
) -> ApiResult<HttpResponse> {
    let export = export_format(req);
    if export.is_none() {
        media::negotiate(req, media::JSON_ONLY).map_err(|_| {
            ApiError::new(
                Code::NotAcceptable,
                "a query answers application/json (a RESULT_SET), text/csv or \
                 application/x-ndjson",
            )
        })?;
    }
    if let Some(ehr) = exec.ehr {
        exec.params
            .entry("ehr_id")
            .or_insert_with(|| Value::String(ehr.to_string()));
    }
    let request = QueryRequest {
        aql: q,
        params: exec.params,
        ehr_id: exec.ehr,
        fetch: exec.fetch,
        offset: exec.offset,
    };
    if let Some(format) = export {
        return export_rows(state, req, &request, format).await;
    }
    let started = std::time::Instant::now();
    let caller = state.caller(req);
    let limits = QueryLimits::default();
    let rs = headers::read_side(req, state.store.query(&caller, &request, &limits)).await?;
    let took = started.elapsed();
    if took >= state.metrics.slow_query && tracing::enabled!(target: "cdr::aql", Level::WARN) {
        let id = req
            .extensions()
            .get::<super::observe::RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        log_slow(state, caller, &request, id, took, rs.is_ok());
    }
    let mut rs = rs?;
    rs.name = stored.map(|sq| sq.name.clone());
    rs.generator = Some(GENERATOR.to_owned());
    // A GET's `_href` is the query resource it ran, without the request's parameters, as the
    // specification's example and EHRbase have it: `/query/aql`, or the stored query's name
    // with the version only when the request gave one (as given). A POST has none.
    if req.method() == actix_web::http::Method::GET {
        let path = match (stored, req.match_info().get("version")) {
            (None, _) => "/query/aql".to_owned(),
            (Some(sq), None) => format!("/query/{}", sq.name),
            (Some(sq), Some(version)) => format!("/query/{}/{version}", sq.name),
        };
        rs.href = Some(state.url(req, &path));
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(rs.to_json_string()))
}

/// How long the slow-query log waits for a plan.
const EXPLAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Logs a slow query (`cdr::aql`) with PostgreSQL's planning time and an outline of its plan
/// (`EXPLAIN (SUMMARY, FORMAT JSON)` of the same statement and parameters, which plans it
/// without running it). The plan is asked for on a task of its own, so the answer never waits
/// for it; at most [`observe::EXPLAIN_SLOTS`](super::observe::EXPLAIN_SLOTS) at once, each
/// given [`EXPLAIN_TIMEOUT`]: beyond that the line is written without a plan (`plan` says
/// why). Only asked for when the log keeps the line.
fn log_slow(
    state: &AppState,
    caller: cdr_store::Principal,
    request: &QueryRequest<'_>,
    id: String,
    took: std::time::Duration,
    ok: bool,
) {
    let store = state.store.clone();
    let slot = state.metrics.explain_slots.clone().try_acquire_owned();
    let (aql, params, ehr_id, fetch, offset) = (
        request.aql.to_owned(),
        request.params.clone(),
        request.ehr_id,
        request.fetch,
        request.offset,
    );
    tokio::spawn(async move {
        let request = QueryRequest {
            aql: &aql,
            params,
            ehr_id,
            fetch,
            offset,
        };
        let plan = match (ok, slot) {
            (false, _) => Err("the query failed".to_owned()),
            (true, Err(_)) => Err("skipped: other plans are being read".to_owned()),
            (true, Ok(_slot)) => {
                let limits = QueryLimits::default();
                let explain = store.explain_query(&caller, &request, &limits);
                match tokio::time::timeout(EXPLAIN_TIMEOUT, explain).await {
                    Ok(Ok(plan)) => Ok(plan),
                    Ok(Err(e)) => Err(format!("EXPLAIN failed: {e}")),
                    Err(_) => Err("EXPLAIN did not answer in time".to_owned()),
                }
            }
        };
        let duration_ms = took.as_secs_f64() * 1000.0;
        match plan {
            Ok(plan) => tracing::warn!(
                target: "cdr::aql",
                request_id = %id,
                duration_ms,
                ok,
                planning_ms = plan.planning_ms,
                plan = %plan.outline,
                plan_cost = plan.total_cost,
                query = %aql,
                "slow AQL query",
            ),
            Err(why) => tracing::warn!(
                target: "cdr::aql",
                request_id = %id,
                duration_ms,
                ok,
                plan = %why,
                query = %aql,
                "slow AQL query",
            ),
        }
    });
}

/// Answers a query's rows as CSV or NDJSON, streamed from the database as the client reads
/// them: no row limit (the request's `fetch` and `offset` still page), a longer timeout.
async fn export_rows(
    state: &AppState,
    req: &HttpRequest,
    request: &QueryRequest<'_>,
    format: ExportFormat,
) -> ApiResult<HttpResponse> {
    use futures_util::StreamExt;
    let limits = QueryLimits {
        timeout: EXPORT_TIMEOUT,
        default_rows: None,
        max_rows: None,
    };
    let caller = state.caller(req);
    let rows = headers::read_side(req, state.store.query_rows(&caller, request, &limits)).await??;
    let writer = ExportWriter::new(format, &rows.columns);
    let head = writer.header();
    let body = rows.ready_chunks(EXPORT_BATCH).map(move |batch| {
        let rows: Vec<_> = batch
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok::<_, std::io::Error>(bytes::Bytes::from(writer.rows(&rows)))
    });
    let body = futures_util::stream::once(async move { Ok(bytes::Bytes::from(head)) }).chain(body);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, format.media_type()))
        .streaming(body))
}

/// `GET /query/aql?q=…[&ehr_id=…][&offset=…][&fetch=…][&name=value…]`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query = headers::query(&req)?;
    let q = headers::required(&query, "q")?;
    let exec = from_url(&req, &query)?;
    run(&state, &req, q, exec, None).await
}

/// `POST /query/aql` with `{"q", "offset"?, "fetch"?, "query_parameters"?}`.
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let mut obj = body_object(&req, &state, payload, false).await?;
    let Some(Value::String(q)) = obj.remove("q") else {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must have \"q\": the AQL text",
        ));
    };
    let exec = from_body(&req, obj)?;
    run(&state, &req, &q, exec, None).await
}

/// The stored query the path names: `{qualified_query_name}` at `{version}` (exact or
/// partial) or at its highest version.
async fn stored(req: &HttpRequest, state: &AppState) -> ApiResult<StoredQuery> {
    let name = segment(req, "qualified_query_name");
    let version = req.match_info().get("version");
    Ok(state
        .store
        .get_stored_query(&state.caller(req), name, version)
        .await?)
}

/// `GET /query/{qualified_query_name}[/{version}]?[ehr_id=…][&offset=…][&fetch=…][&name=value…]`.
pub async fn get_stored(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query = headers::query(&req)?;
    let exec = from_url(&req, &query)?;
    let sq = stored(&req, &state).await?;
    run(&state, &req, &sq.q, exec, Some(&sq)).await
}

/// `POST /query/{qualified_query_name}[/{version}]` with `{"offset"?, "fetch"?,
/// "query_parameters"?}` (an empty body runs the query without any).
pub async fn post_stored(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let obj = body_object(&req, &state, payload, true).await?;
    let exec = from_body(&req, obj)?;
    let sq = stored(&req, &state).await?;
    run(&state, &req, &sq.q, exec, Some(&sq)).await
}
