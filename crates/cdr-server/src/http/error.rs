//! Every error the API answers, as `application/problem+json`. HTTP meaning is assigned here
//! only: [`Code`] lists each error code once with its status and title, and
//! [`From<StoreError>`](ApiError#impl-From<StoreError>-for-ApiError) is the one table from store
//! errors to codes. No handler picks a status by hand.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use cdr_rm::DecodeError;
use cdr_store::StoreError;
use cdr_template::flat::FlatLocation;
use cdr_validation::ValidationIssue;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

macro_rules! error_codes {
    ($($name:ident => $status:ident, $code:literal, $title:literal;)*) => {
        /// A stable error code with its HTTP status and title.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Code { $($name,)* }

        impl Code {
            /// The HTTP status.
            pub fn status(self) -> StatusCode {
                match self { $(Code::$name => StatusCode::$status,)* }
            }
            /// The stable snake_case code (the `code` of the body; `type` ends with it).
            pub fn name(self) -> &'static str {
                match self { $(Code::$name => $code,)* }
            }
            /// A short human title.
            pub fn title(self) -> &'static str {
                match self { $(Code::$name => $title,)* }
            }
        }
    };
}

error_codes! {
    BadRequest => BAD_REQUEST, "bad_request", "Bad request";
    MalformedBody => BAD_REQUEST, "malformed_body", "The body could not be decoded";
    MalformedContent => BAD_REQUEST, "malformed_content", "The content is malformed";
    InvalidId => BAD_REQUEST, "invalid_id", "Malformed identifier";
    InvalidParameter => BAD_REQUEST, "invalid_parameter", "Invalid or missing parameter";
    InvalidHeader => BAD_REQUEST, "invalid_header", "Invalid or missing header";
    NotFound => NOT_FOUND, "not_found", "Not found";
    RouteNotFound => NOT_FOUND, "route_not_found", "No such resource";
    MethodNotAllowed => METHOD_NOT_ALLOWED, "method_not_allowed", "Method not allowed";
    NotAcceptable => NOT_ACCEPTABLE, "not_acceptable", "No acceptable representation";
    QueryTimeout => REQUEST_TIMEOUT, "query_timeout", "The query ran out of time";
    Conflict => CONFLICT, "conflict", "Conflict with existing data";
    ObjectDeleted => CONFLICT, "object_deleted", "The object is deleted";
    VersionConflict => PRECONDITION_FAILED, "version_conflict", "Not the latest version";
    PayloadTooLarge => PAYLOAD_TOO_LARGE, "payload_too_large", "Body too large";
    UnsupportedMediaType => UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Unsupported body media type";
    ValidationFailed => UNPROCESSABLE_ENTITY, "validation_failed", "The content is not valid";
    InvalidFlat => UNPROCESSABLE_ENTITY, "invalid_flat", "The FLAT composition does not fit its template";
    InvalidStructured => UNPROCESSABLE_ENTITY, "invalid_structured", "The STRUCTURED composition does not fit its template";
    NoExample => UNPROCESSABLE_ENTITY, "no_example", "cdr cannot write an example of this template";
    NotRepresentable => NOT_ACCEPTABLE, "not_representable", "The data has no representation in the requested format";
    InUse => UNPROCESSABLE_ENTITY, "in_use", "The resource is still in use";
    Internal => INTERNAL_SERVER_ERROR, "internal_error", "Internal server error";
    Unavailable => SERVICE_UNAVAILABLE, "database_unavailable", "The database is unavailable";
    TerminologyUnavailable => BAD_GATEWAY, "terminology_unavailable", "The terminology server failed";
}

/// A validation issue as JSON, with its FLAT path and web template node when it has them.
pub fn issue_json(issue: &ValidationIssue, at: Option<&FlatLocation>) -> Value {
    let mut v = json!(issue);
    if let Some(at) = at {
        v["flat_path"] = json!(at.flat_path);
        v["web_template_id"] = json!(at.web_template_id);
    }
    v
}

/// An error answer: a code, a detail for the client, and what goes with it. Small (the
/// rarely used parts are boxed) because every handler result carries it.
#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub detail: String,
    extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
struct Extra {
    /// Validation issues (422), or what makes the content malformed (400), all of them.
    issues: Vec<ValidationIssue>,
    /// For a FLAT or STRUCTURED composition: each issue's FLAT path and web template node.
    locations: Vec<Option<FlatLocation>>,
    /// Position of a decoding error (1-based line and column).
    position: Option<(usize, usize)>,
    /// The latest version uid, on a version conflict.
    latest: Option<String>,
    /// URL of the latest version, on a version conflict (set by the handler that knows it).
    location: Option<String>,
    /// The methods a resource offers, on 405.
    allow: Option<String>,
}

impl ApiError {
    /// An error with a detail.
    pub fn new(code: Code, detail: impl Into<String>) -> ApiError {
        ApiError {
            code,
            detail: detail.into(),
            extra: None,
        }
    }

    fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// With the (1-based) position of the problem in the body.
    pub fn at_position(mut self, line: usize, column: usize) -> ApiError {
        if line > 0 {
            self.extra().position = Some((line, column));
        }
        self
    }

    /// A body that could not be decoded, with its position.
    pub fn decode(e: DecodeError) -> ApiError {
        ApiError::new(Code::MalformedBody, e.to_string()).at_position(e.line, e.column)
    }

    /// Whether the error carries validation issues.
    pub fn has_issues(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| !e.issues.is_empty())
    }

    /// Places each validation issue (by its instance path) in the FLAT form the composition
    /// came in: `flat_path` and `web_template_id` join `path` in the body.
    pub fn locate_issues(mut self, find: impl Fn(&str) -> Option<FlatLocation>) -> ApiError {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.locations = extra.issues.iter().map(|i| find(&i.path)).collect();
        }
        self
    }

    /// On a version conflict, points `Location` at the latest version: `prefix` + its uid.
    pub fn latest_under(mut self, prefix: &str) -> ApiError {
        if let Some(extra) = self.extra.as_deref_mut() {
            if let Some(latest) = &extra.latest {
                extra.location = Some(format!("{prefix}{latest}"));
            }
        }
        self
    }

    /// With the methods the resource offers (the `Allow` header of a 405).
    pub fn allowing(mut self, methods: String) -> ApiError {
        self.extra().allow = Some(methods);
        self
    }

    /// The problem+json body.
    pub fn body(&self) -> Value {
        let status = self.code.status();
        let mut body = json!({
            "type": format!("urn:cdr:problem:{}", self.code.name()),
            "title": self.code.title(),
            "status": status.as_u16(),
            "detail": self.detail,
            "code": self.code.name(),
        });
        let Some(extra) = &self.extra else {
            return body;
        };
        if !extra.issues.is_empty() {
            let issues: Vec<Value> = extra
                .issues
                .iter()
                .enumerate()
                .map(|(i, issue)| {
                    issue_json(issue, extra.locations.get(i).and_then(Option::as_ref))
                })
                .collect();
            body["issues"] = Value::Array(issues);
        }
        if let Some((line, column)) = extra.position {
            body["line"] = json!(line);
            body["column"] = json!(column);
        }
        if let Some(latest) = &extra.latest {
            body["latest_version_uid"] = json!(latest);
        }
        body
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.detail)
    }
}

/// The table from store errors to codes.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let code = match &e {
            StoreError::NotFound { .. } => Code::NotFound,
            StoreError::VersionConflict { .. } => Code::VersionConflict,
            StoreError::Conflict(_) => Code::Conflict,
            StoreError::Deleted { .. } => Code::ObjectDeleted,
            StoreError::Invalid(_) => Code::ValidationFailed,
            StoreError::Malformed(_) => Code::MalformedContent,
            StoreError::InUse(_) => Code::InUse,
            StoreError::BadRequest(_) | StoreError::Query { .. } => Code::BadRequest,
            // The QUERY specification's status for a query cancelled at its time limit.
            StoreError::QueryTimeout => Code::QueryTimeout,
            StoreError::Terminology(_) => Code::TerminologyUnavailable,
            StoreError::Pool(_) => Code::Unavailable,
            StoreError::Db(db) if db.is_closed() => Code::Unavailable,
            StoreError::Db(_)
            | StoreError::SchemaTooNew { .. }
            | StoreError::Migration(_)
            | StoreError::Cluster(_) => Code::Internal,
        };
        let mut err = ApiError::new(code, e.to_string());
        if let StoreError::Query { line, column, .. } = &e {
            err = err.at_position(*line, *column);
        }
        match e {
            StoreError::Invalid(issues) | StoreError::Malformed(issues) => {
                err.extra().issues = issues
            }
            StoreError::VersionConflict { latest, .. } => err.extra().latest = Some(latest),
            _ => {}
        }
        err
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.code.status();
        let body = if status.is_server_error() {
            // The cause is for the server log, not for the client.
            eprintln!(
                "cdr: {} {}: {}",
                status.as_u16(),
                self.code.name(),
                self.detail
            );
            let mut hidden = ApiError::new(self.code, "the server could not complete the request");
            hidden.detail = match self.code {
                Code::Unavailable => "the database is not reachable; try again later".into(),
                _ => hidden.detail,
            };
            hidden.body()
        } else {
            self.body()
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        let extra = self.extra.as_deref();
        if let Some(latest) = extra.and_then(|e| e.latest.as_ref()) {
            if let Ok(v) = HeaderValue::from_str(&format!("\"{latest}\"")) {
                res.insert_header((header::ETAG, v));
            }
        }
        if let Some(location) = extra.and_then(|e| e.location.as_ref()) {
            if let Ok(v) = HeaderValue::from_str(location) {
                res.insert_header((header::LOCATION, v));
            }
        }
        if let Some(allow) = extra.and_then(|e| e.allow.as_ref()) {
            if let Ok(v) = HeaderValue::from_str(allow) {
                res.insert_header((header::ALLOW, v));
            }
        }
        res.body(body.to_string())
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_timeout_is_408() {
        let err = ApiError::from(StoreError::QueryTimeout);
        assert_eq!(err.code.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(err.body()["code"], "query_timeout");
    }

    #[test]
    fn a_failed_terminology_server_is_502() {
        let err = ApiError::from(StoreError::Terminology(
            "terminology server: refused".into(),
        ));
        assert_eq!(err.code.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(err.body()["code"], "terminology_unavailable");
        assert_eq!(err.body()["detail"], "terminology server: refused");
    }
}
