//! QUERY: ad hoc AQL, `GET` and `POST /query/aql`, answered with a RESULT_SET.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value};
use uuid::Uuid;

use cdr_store::aql::{QueryLimits, QueryRequest};

use super::error::{ApiError, ApiResult, Code};
use super::headers;
use super::media;
use super::AppState;

/// Reserved GET parameters; every other one is a query parameter (as EHRbase accepts them).
const RESERVED: [&str; 5] = ["q", "ehr_id", "offset", "fetch", "query_parameters"];

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

async fn run(
    state: &AppState,
    req: &HttpRequest,
    q: &str,
    params: Map<String, Value>,
    ehr: Option<Uuid>,
    fetch: Option<u64>,
    offset: Option<u64>,
) -> ApiResult<HttpResponse> {
    let request = QueryRequest {
        aql: q,
        params,
        ehr_id: ehr,
        fetch,
        offset,
    };
    let rs = state
        .store
        .query(&state.caller(req), &request, &QueryLimits::default())
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body(rs.to_json_string()))
}

/// `GET /query/aql?q=…[&ehr_id=…][&offset=…][&fetch=…][&name=value…]`.
pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let query: HashMap<String, String> = headers::query(&req)?;
    let q = headers::required(&query, "q")?.to_owned();
    let mut params = Map::new();
    for (k, v) in &query {
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
    let ehr = ehr_id(get("ehr_id").as_ref())?;
    let fetch = number("fetch", get("fetch").as_ref())?;
    let offset = number("offset", get("offset").as_ref())?;
    run(&state, &req, &q, params, ehr, fetch, offset).await
}

/// `POST /query/aql` with `{"q", "offset"?, "fetch"?, "query_parameters"?}`; `ehr_id` may be
/// given as a query parameter, in `query_parameters`, or in the URL.
pub async fn post(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: Payload,
) -> ApiResult<HttpResponse> {
    let body = media::read_body(&req, payload, state.limits.document).await?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(Code::MalformedBody, e.to_string()).at_position(e.line(), e.column())
    })?;
    let Value::Object(mut obj) = v else {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must be a JSON object with \"q\"",
        ));
    };
    let Some(Value::String(q)) = obj.remove("q") else {
        return Err(ApiError::new(
            Code::BadRequest,
            "the body must have \"q\": the AQL text",
        ));
    };
    let mut params = match obj.remove("query_parameters") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            return Err(ApiError::new(
                Code::BadRequest,
                "\"query_parameters\" must be an object",
            ))
        }
    };
    let url = headers::query(&req)?;
    let ehr_value = url
        .get("ehr_id")
        .map(|s| Value::String(s.clone()))
        .or_else(|| obj.get("ehr_id").cloned())
        .or_else(|| params.remove("ehr_id"));
    let ehr = ehr_id(ehr_value.as_ref())?;
    let fetch = number("fetch", obj.get("fetch"))?;
    let offset = number("offset", obj.get("offset"))?;
    run(&state, &req, &q, params, ehr, fetch, offset).await
}
