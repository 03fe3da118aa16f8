//! Request headers (`If-Match`, `Prefer`, `openEHR-VERSION`, `openEHR-AUDIT_DETAILS`), query
//! parameters, and the response headers of versioned resources (`ETag`, `Location`,
//! `Last-Modified`).

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::json;

use cdr_store::{ChangeType, CommitMeta, LifecycleState, VersionUid};

use super::error::{ApiError, ApiResult, Code};
use super::media::Format;

/// `If-Match`: the version uid of the latest version, quoted or bare. Required. A weak
/// validator (`W/"…"`) is refused (400): openEHR ETags are version uids and always strong, and
/// a weak tag never matches in `If-Match` (RFC 9110 §13.1.1), as EHRbase answers too. Handlers
/// read it through `super::if_match_after`, which looks at the path's resource first.
pub fn if_match(req: &HttpRequest) -> ApiResult<VersionUid> {
    let raw = req
        .headers()
        .get(header::IF_MATCH)
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidHeader,
                "If-Match with the latest version uid is required",
            )
        })?
        .to_str()
        .map_err(|_| ApiError::new(Code::InvalidHeader, "If-Match is not ASCII"))?;
    let tag = raw.trim();
    if tag.starts_with("W/") {
        return Err(ApiError::new(
            Code::InvalidHeader,
            format!(
                "If-Match: '{tag}' is a weak validator, which never matches; send the version uid \
                 as the ETag gave it"
            ),
        ));
    }
    let tag = tag
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(tag);
    tag.parse()
        .map_err(|e| ApiError::new(Code::InvalidHeader, format!("If-Match: {e}")))
}

/// Whether `Prefer: return=representation` was sent (minimal is the default).
pub fn wants_representation(req: &HttpRequest) -> bool {
    prefers(req, "return=representation")
}

/// Whether `Prefer: return=minimal` was sent, for answers whose default is the representation.
pub fn wants_minimal(req: &HttpRequest) -> bool {
    prefers(req, "return=minimal")
}

fn prefers(req: &HttpRequest, preference: &str) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(preference))
}

/// The `openEHR-Break-Glass` reason, when the header is there (a value that is not visible
/// ASCII text counts as no reason, which the store refuses).
pub fn break_glass(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("openehr-break-glass")
        .map(|v| v.to_str().unwrap_or_default().trim().to_owned())
}

/// The header by which a client asks that its reads (AQL, flags) run on the primary database
/// rather than a read replica: `Cdr-Read-From: primary` (`any`, the default, lets cdr choose).
pub const READ_FROM: &str = "cdr-read-from";

/// Runs `read` on the primary when the request's [`READ_FROM`] asks for it.
pub async fn read_side<F: std::future::Future>(req: &HttpRequest, read: F) -> ApiResult<F::Output> {
    let primary = match req.headers().get(READ_FROM).map(|v| v.to_str()) {
        None => false,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("primary") => true,
        Some(Ok(v)) if v.trim().eq_ignore_ascii_case("any") => false,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidHeader,
                "Cdr-Read-From must be \"primary\" or \"any\"",
            ))
        }
    };
    Ok(match primary {
        true => cdr_store::reading_from_primary(read).await,
        false => read.await,
    })
}

/// The query parameters, decoded.
pub fn query(req: &HttpRequest) -> ApiResult<HashMap<String, String>> {
    actix_web::web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|e| ApiError::new(Code::InvalidParameter, e.to_string()))
}

/// `version_at_time`, if given: ISO 8601 extended with an offset, or without one (UTC). An
/// empty value is the same as none.
pub fn version_at_time(params: &HashMap<String, String>) -> ApiResult<Option<DateTime<Utc>>> {
    params
        .get("version_at_time")
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_time(s))
        .transpose()
}

/// An ISO 8601 date-time (with an offset, or UTC without one).
pub fn parse_time(text: &str) -> ApiResult<DateTime<Utc>> {
    // An unencoded '+' in a query string arrives as a space.
    let text = text.trim().replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&text, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(ApiError::new(
        Code::InvalidParameter,
        format!("version_at_time '{text}' is not an ISO 8601 date-time (YYYY-MM-DDThh:mm:ss[.sss][Z|±hh:mm])"),
    ))
}

/// A required query parameter.
pub fn required<'a>(params: &'a HashMap<String, String>, name: &str) -> ApiResult<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::new(Code::InvalidParameter, format!("'{name}' is required")))
}

/// Commit metadata from `openEHR-VERSION` and `openEHR-AUDIT_DETAILS`, in the 1.0.3 form
/// (`openEHR-AUDIT_DETAILS.committer: name="…"`), the same with a bare value
/// (`openEHR-VERSION.lifecycle_state: complete`, as EHRbase's clients send it) and the 1.1.0 form
/// (`openehr-audit-details: committer.name="…"`). Attributes cdr does not know are ignored; a
/// known attribute with a value that does not fit is refused (400). When the caller
/// authenticated, the committer is the caller whatever the headers say (they may still give a
/// description, change type and lifecycle state).
pub fn commit_meta(req: &HttpRequest) -> ApiResult<CommitMeta> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for (name, value) in req.headers() {
        let name = name.as_str().to_ascii_lowercase();
        let Some(attr) = audit_header_attribute(&name) else {
            continue;
        };
        let value = value
            .to_str()
            .map_err(|_| ApiError::new(Code::InvalidHeader, format!("{name} is not ASCII")))?;
        match attr {
            // `openEHR-VERSION.lifecycle_state: complete`: the value of the attribute itself.
            Some(attr) if !value.contains('=') => {
                let bare = value.trim();
                let bare = bare
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(bare);
                fields.push((attr.to_owned(), bare.to_owned()));
            }
            _ => {
                let pairs = key_values(value)
                    .map_err(|e| ApiError::new(Code::InvalidHeader, format!("{name}: {e}")))?;
                for (k, v) in pairs {
                    let key = match attr {
                        Some(attr) => format!("{attr}.{k}"),
                        None => k,
                    };
                    fields.push((key, v));
                }
            }
        }
    }
    let mut meta = CommitMeta::default();
    let mut committer = serde_json::Map::new();
    let mut external = serde_json::Map::new();
    for (key, value) in fields {
        let bad =
            |what: &str| ApiError::new(Code::InvalidHeader, format!("{key}=\"{value}\": {what}"));
        match key.as_str() {
            "lifecycle_state" | "lifecycle_state.code_string" => {
                meta.lifecycle_state = Some(lifecycle_state(&value).ok_or_else(|| {
                    bad("not a version lifecycle state (532|complete, 553|incomplete, 523|deleted)")
                })?)
            }
            "change_type" | "change_type.code_string" => {
                meta.change_type =
                    Some(change_type(&value).ok_or_else(|| bad("not an audit change type code"))?)
            }
            "description" | "description.value" => meta.description = Some(value),
            "committer" | "committer.name" => {
                committer.insert("name".into(), json!(value));
            }
            "committer.external_ref.id" | "committer.external_ref.id.value" => {
                external.insert("id".into(), json!(value));
            }
            "committer.external_ref.scheme" | "committer.external_ref.id.scheme" => {
                external.insert("scheme".into(), json!(value));
            }
            "committer.external_ref.namespace" | "committer.external_ref.type" => {
                let attr = key.rsplit('.').next().unwrap_or_default();
                external.insert(attr.into(), json!(value));
            }
            // Rubrics beside codes, terminology ids, the system id (the server's own), and
            // attributes cdr does not keep.
            _ => {}
        }
    }
    if !external.is_empty() {
        let id = external.remove("id").ok_or_else(|| {
            ApiError::new(Code::InvalidHeader, "committer.external_ref needs an id")
        })?;
        let scheme = external.remove("scheme").unwrap_or_else(|| json!("local"));
        committer.insert(
            "external_ref".into(),
            json!({
                "_type": "PARTY_REF",
                "id": {"_type": "GENERIC_ID", "value": id, "scheme": scheme},
                "namespace": external.remove("namespace").unwrap_or_else(|| json!("local")),
                "type": external.remove("type").unwrap_or_else(|| json!("PERSON")),
            }),
        );
    }
    if !committer.is_empty() {
        committer.insert("_type".into(), json!("PARTY_IDENTIFIED"));
        meta.committer = Some(
            cdr_rm::json::from_json_value(serde_json::Value::Object(committer)).map_err(|e| {
                ApiError::new(Code::InvalidHeader, format!("committer: {}", e.message))
            })?,
        );
    }
    // An authenticated caller commits as themselves: a committer in the headers is replaced.
    if let Some(me) = super::auth::committer(req) {
        meta.committer = Some(me);
    }
    Ok(meta)
}

/// Whether a (lower-case) header name is an audit or version header: `Some(None)` for the
/// 1.1.0 names, which carry attribute paths in their value, `Some(Some(attr))` for the 1.0.3
/// names with the attribute after a dot (`openehr-version.lifecycle_state`).
fn audit_header_attribute(name: &str) -> Option<Option<&str>> {
    [
        "openehr-version",
        "openehr-audit_details",
        "openehr-audit-details",
    ]
    .into_iter()
    .find_map(|prefix| {
        let rest = name.strip_prefix(prefix)?;
        match rest.strip_prefix('.') {
            Some(attr) => Some(Some(attr)),
            None => rest.is_empty().then_some(None),
        }
    })
}

/// A version lifecycle state by code or English rubric.
fn lifecycle_state(value: &str) -> Option<LifecycleState> {
    LifecycleState::from_code(value).or_else(|| {
        [
            LifecycleState::Complete,
            LifecycleState::Incomplete,
            LifecycleState::Deleted,
        ]
        .into_iter()
        .find(|s| s.rubric().eq_ignore_ascii_case(value))
    })
}

/// An audit change type by code or English rubric.
fn change_type(value: &str) -> Option<ChangeType> {
    ChangeType::from_code(value).or_else(|| {
        [
            ChangeType::Creation,
            ChangeType::Amendment,
            ChangeType::Modification,
            ChangeType::Synthesis,
            ChangeType::Unknown,
            ChangeType::Deleted,
            ChangeType::Attestation,
        ]
        .into_iter()
        .find(|t| t.rubric().eq_ignore_ascii_case(value))
    })
}

/// Parses `key="value", key2="value2"` (quoted values with `\"` and `\\` escapes, or bare
/// tokens).
fn key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim().to_owned();
        if key.is_empty() {
            return Err("expected key=\"value\"".into());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("unterminated escape")?),
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value of '{key}'")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        out.push((key, value));
    }
}

/// An HTTP date (RFC 9110 IMF-fixdate) for `Last-Modified`.
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The headers of a response about one version or object.
#[derive(Debug, Default)]
pub struct Answer {
    pub etag: Option<String>,
    pub location: Option<String>,
    pub last_modified: Option<DateTime<Utc>>,
    pub body: Option<(Format, String)>,
}

impl Answer {
    /// 200 with a body and no other headers.
    pub fn ok(format: Format, body: String) -> HttpResponse {
        Answer {
            body: Some((format, body)),
            ..Answer::default()
        }
        .respond(StatusCode::OK)
    }

    /// The response with `status` (or 204 when a success has no body).
    pub fn respond(self, status: StatusCode) -> HttpResponse {
        let status = if self.body.is_none() && status == StatusCode::OK {
            StatusCode::NO_CONTENT
        } else {
            status
        };
        let mut res = HttpResponseBuilder::new(status);
        set(
            &mut res,
            header::ETAG,
            self.etag.map(|e| format!("\"{e}\"")),
        );
        set(&mut res, header::LOCATION, self.location);
        set(
            &mut res,
            header::LAST_MODIFIED,
            self.last_modified.map(http_date),
        );
        match self.body {
            Some((format, body)) => {
                res.insert_header((header::CONTENT_TYPE, format.media_type()));
                res.body(body)
            }
            None => res.finish(),
        }
    }
}

fn set(res: &mut HttpResponseBuilder, name: header::HeaderName, value: Option<String>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
        res.insert_header((name, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_parse_quoted_and_bare() {
        let kv =
            key_values(r#"name="John \"J\" Doe", external_ref.id="123",code_string=532"#).unwrap();
        assert_eq!(
            kv,
            vec![
                ("name".to_owned(), "John \"J\" Doe".to_owned()),
                ("external_ref.id".to_owned(), "123".to_owned()),
                ("code_string".to_owned(), "532".to_owned()),
            ]
        );
        assert!(key_values(r#"name="open"#).is_err());
        assert!(key_values(r#"="x""#).is_err());
    }

    #[test]
    fn times_parse_with_and_without_offset() {
        let t = parse_time("2024-01-02T03:04:05.123 01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-01-02T02:04:05.123+00:00");
        assert!(parse_time("2024-01-02T03:04:05").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
