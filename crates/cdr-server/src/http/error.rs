//! Every error the API answers, as `application/problem+json` (or as XML, by [`xml_errors`], to
//! a client that accepts only XML). HTTP meaning is assigned here only: [`Code`] lists each
//! error code once with its status and title, and
//! [`From<StoreError>`](ApiError#impl-From<StoreError>-for-ApiError) is the one table from store
//! errors to codes. No handler picks a status by hand.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Value};

use cdr_forms::flat::{FlatIssue, FlatLocation};
use cdr_rm::DecodeError;
use cdr_store::StoreError;
use cdr_validation::ValidationIssue;

use super::media;

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
    Unauthenticated => UNAUTHORIZED, "unauthenticated", "Authentication required";
    Forbidden => FORBIDDEN, "forbidden", "Not allowed for the caller's roles";
    AccessDenied => FORBIDDEN, "access_denied", "Not allowed for this record";
    OriginNotAllowed => FORBIDDEN, "origin_not_allowed", "Cross-origin requests from this origin are not allowed";
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
    NotImplemented => NOT_IMPLEMENTED, "not_implemented", "Not implemented by this server";
    Unavailable => SERVICE_UNAVAILABLE, "database_unavailable", "The database is unavailable";
    IdentityProviderUnavailable => SERVICE_UNAVAILABLE, "identity_provider_unavailable", "The identity provider's keys could not be fetched";
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
    /// Problems reading a FLAT or STRUCTURED body (422), listed before `issues`.
    form_issues: Vec<FlatIssue>,
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
    /// What still uses a resource that cannot be removed (composition ids), on `in_use`.
    used_by: Vec<String>,
    /// The `WWW-Authenticate` challenge of a 401.
    challenge: Option<String>,
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

    /// With the problems of a FLAT or STRUCTURED body and the validation issues of what it
    /// gave, answered together in `issues`.
    pub fn with_form_issues(
        mut self,
        form: Vec<FlatIssue>,
        issues: Vec<ValidationIssue>,
    ) -> ApiError {
        let extra = self.extra();
        extra.form_issues = form;
        extra.issues = issues;
        self
    }

    /// Whether the error carries validation issues.
    pub fn has_issues(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| !e.issues.is_empty())
    }

    /// Places each validation issue (by its instance path) in the FLAT form the composition
    /// came in: `flat_path` and `web_template_id` join `path` in the body.
    pub fn locate_issues(
        mut self,
        find: impl Fn(&ValidationIssue) -> Option<FlatLocation>,
    ) -> ApiError {
        if let Some(extra) = self.extra.as_deref_mut() {
            extra.locations = extra.issues.iter().map(find).collect();
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

    /// With the `WWW-Authenticate` challenge of a 401 (`Bearer realm="cdr"`, …).
    pub fn challenging(mut self, challenge: String) -> ApiError {
        self.extra().challenge = Some(challenge);
        self
    }

    /// With the methods the resource offers (the `Allow` header of a 405).
    pub fn allowing(mut self, methods: String) -> ApiError {
        self.extra().allow = Some(methods);
        self
    }

    /// The problem+json body, with the members of ITS-REST's `Error` beside it: `message` (the
    /// detail), `error` (the status's reason phrase, as EHRbase writes it) and, on 422,
    /// `validationErrors` (one line per issue).
    pub fn body(&self) -> Value {
        let status = self.code.status();
        let mut body = json!({
            "type": format!("urn:cdr:problem:{}", self.code.name()),
            "title": self.code.title(),
            "status": status.as_u16(),
            "detail": self.detail,
            "code": self.code.name(),
            "message": self.detail,
            "error": status.canonical_reason().unwrap_or_default(),
        });
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            // A form's problems by their FLAT keys, then validation issues by their FLAT key
            // where the body was a form, else by their instance path.
            let lines: Vec<String> = self
                .extra
                .iter()
                .flat_map(|e| {
                    let form = e
                        .form_issues
                        .iter()
                        .map(|i| format!("{}: {}", i.flat_path, i.message));
                    let issues = e.issues.iter().enumerate().map(|(n, i)| {
                        let place = match e.locations.get(n).and_then(Option::as_ref) {
                            Some(at) => at.flat_path.as_str(),
                            None => i.path.as_str(),
                        };
                        format!("{place}: {}", i.message)
                    });
                    form.chain(issues)
                })
                .collect();
            body["validationErrors"] = json!(lines);
        }
        let Some(extra) = &self.extra else {
            return body;
        };
        if !extra.issues.is_empty() || !extra.form_issues.is_empty() {
            let form = extra.form_issues.iter().map(|issue| json!(issue));
            let issues = extra.issues.iter().enumerate().map(|(i, issue)| {
                issue_json(issue, extra.locations.get(i).and_then(Option::as_ref))
            });
            body["issues"] = form.chain(issues).collect();
        }
        if let Some((line, column)) = extra.position {
            body["line"] = json!(line);
            body["column"] = json!(column);
        }
        if let Some(latest) = &extra.latest {
            body["latest_version_uid"] = json!(latest);
        }
        if !extra.used_by.is_empty() {
            body["used_by"] = json!(extra.used_by);
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
            StoreError::VersionConflict { .. } | StoreError::NoLatest { .. } => {
                Code::VersionConflict
            }
            StoreError::Forbidden(_) => Code::AccessDenied,
            StoreError::Conflict(_) => Code::Conflict,
            StoreError::Deleted { .. } => Code::ObjectDeleted,
            StoreError::Invalid(_) => Code::ValidationFailed,
            StoreError::Malformed(_) => Code::MalformedContent,
            StoreError::InUse { .. } => Code::InUse,
            StoreError::BadRequest(_) | StoreError::Query { .. } => Code::BadRequest,
            // The QUERY specification's status for a query cancelled at its time limit.
            StoreError::QueryTimeout => Code::QueryTimeout,
            StoreError::Terminology(_) => Code::TerminologyUnavailable,
            StoreError::Pool(_) => Code::Unavailable,
            StoreError::Db(_) if e.database_unreachable() => Code::Unavailable,
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
            StoreError::InUse { users, .. } => err.extra().used_by = users,
            StoreError::VersionConflict { latest, .. } => err.extra().latest = Some(latest),
            _ => {}
        }
        err
    }
}

/// `Retry-After` of a 503, in seconds.
const RETRY_AFTER_SECS: &str = "5";

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.code.status();
        // A 501 says what is not offered: its detail is for the client.
        let body = if status.is_server_error() && self.code != Code::NotImplemented {
            // The cause is for the server log, not for the client.
            tracing::error!(
                target: "cdr::error",
                status = status.as_u16(),
                code = self.code.name(),
                detail = %self.detail,
            );
            let mut hidden = ApiError::new(self.code, "the server could not complete the request");
            hidden.detail = match self.code {
                Code::Unavailable => "the database is not reachable; try again later".into(),
                Code::IdentityProviderUnavailable => {
                    "the identity provider's keys could not be fetched; try again later".into()
                }
                _ => hidden.detail,
            };
            hidden.body()
        } else {
            self.body()
        };
        let mut res = HttpResponse::build(status);
        res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Long enough for a restarted database to come back; the pool reconnects by itself.
            res.insert_header((
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            ));
        }
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
        if let Some(challenge) = extra.and_then(|e| e.challenge.as_ref()) {
            if let Ok(v) = HeaderValue::from_str(challenge) {
                res.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        // An error that leaves the middleware as an error (a panic) is rendered here, past
        // `transport::secure`: it carries the same headers.
        for (name, value) in super::transport::SECURITY_HEADERS {
            res.insert_header((*name, *value));
        }
        res.body(body.to_string())
    }
}

/// An error body as XML, for clients that accept only XML: `<error>` with the reason phrase
/// (`error`), `message`, `status`, `code`, `title`, `type`, then what the JSON body has besides
/// (`line`, `column`, `latest_version_uid`, `used_by`, `validationErrors`).
pub fn xml_body(body: &Value) -> String {
    let mut out = format!("{}<error>", media::XML_DECLARATION);
    for name in [
        "error",
        "message",
        "status",
        "code",
        "title",
        "type",
        "line",
        "column",
        "latest_version_uid",
        "used_by",
    ] {
        if let Some(value) = body.get(name) {
            media::json_xml_element(&mut out, name, value);
        }
    }
    if let Some(Value::Array(lines)) = body.get("validationErrors") {
        out.push_str("<validationErrors>");
        for line in lines {
            media::json_xml_element(&mut out, "validationError", line);
        }
        out.push_str("</validationErrors>");
    }
    out.push_str("</error>\n");
    out
}

/// Middleware (`middleware::from_fn(xml_errors)`): a problem+json answer to a client whose
/// `Accept` admits only XML is rewritten as [`xml_body`] (`application/xml`), headers kept.
pub async fn xml_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let xml = media::accepts_only_xml(req.headers());
    let res = next.call(req).await?;
    let problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if !xml || !problem {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let Ok(bytes) = actix_web::body::to_bytes(body).await else {
        return Err(ApiError::new(Code::Internal, "an error body could not be read").into());
    };
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(json) => {
            head.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(media::Format::Xml.media_type()),
            );
            BoxBody::new(xml_body(&json))
        }
        Err(_) => BoxBody::new(bytes),
    };
    Ok(ServiceResponse::new(req, head.set_body(body)))
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
