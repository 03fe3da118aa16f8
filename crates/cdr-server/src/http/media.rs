//! Formats: content negotiation (`Accept` → 406, `Content-Type` → 415), reading bodies under a
//! size limit (413), decoding canonical JSON and XML (400 with line and column), and encoding
//! canonical JSON documents as XML.

use actix_web::http::header;
use actix_web::web::{Bytes, BytesMut, Payload};
use actix_web::HttpRequest;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{ApiError, ApiResult, Code};

/// A representation: canonical JSON or XML, or (for templates) the web template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
    /// `application/openehr.wt+json`: a template's web template (never a request body).
    WebTemplate,
    /// `application/openehr.wt.flat+json`: a composition as FLAT (converted through its
    /// template by the composition handlers, never by `decode`/`render`).
    Flat,
    /// `application/openehr.wt.structured+json`: a composition as STRUCTURED (as FLAT).
    Structured,
}

impl Format {
    /// The media type sent in `Content-Type`.
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
            Format::WebTemplate => "application/openehr.wt+json",
            Format::Flat => "application/openehr.wt.flat+json",
            Format::Structured => "application/openehr.wt.structured+json",
        }
    }

    /// EHRbase's `format=` values.
    fn of_param(name: &str) -> Option<Format> {
        match name.to_ascii_uppercase().as_str() {
            "JSON" => Some(Format::Json),
            "XML" => Some(Format::Xml),
            "FLAT" => Some(Format::Flat),
            "STRUCTURED" => Some(Format::Structured),
            _ => None,
        }
    }

    fn of_media_type(essence: &str) -> Option<Format> {
        match essence {
            "application/json" => Some(Format::Json),
            "application/xml" | "text/xml" => Some(Format::Xml),
            "application/openehr.wt+json" => Some(Format::WebTemplate),
            "application/openehr.wt.flat+json" => Some(Format::Flat),
            "application/openehr.wt.structured+json" => Some(Format::Structured),
            _ => None,
        }
    }
}

/// Offered by endpoints that answer JSON only.
pub const JSON_ONLY: &[Format] = &[Format::Json];
/// Offered by endpoints that answer canonical JSON or XML (JSON preferred).
pub const JSON_OR_XML: &[Format] = &[Format::Json, Format::Xml];
/// Offered by the composition endpoints: canonical JSON or XML, FLAT or STRUCTURED.
pub const COMPOSITION: &[Format] = &[Format::Json, Format::Xml, Format::Flat, Format::Structured];

/// The response format: EHRbase's `format=JSON|XML` query parameter when given, else the best
/// `Accept` match among `offered` (the first offered when `Accept` is absent or a wildcard).
pub fn negotiate(req: &HttpRequest, offered: &[Format]) -> ApiResult<Format> {
    let pick = |f: Format| offered.contains(&f).then_some(f);
    if let Some(fmt) = format_param(req) {
        return Format::of_param(&fmt).and_then(pick).ok_or_else(|| {
            ApiError::new(
                Code::NotAcceptable,
                format!("format '{fmt}' is not offered by this resource"),
            )
        });
    }
    let accept = match req.headers().get(header::ACCEPT).map(|v| v.to_str()) {
        None => return Ok(offered[0]),
        Some(Ok(s)) if s.trim().is_empty() => return Ok(offered[0]),
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            return Err(ApiError::new(Code::InvalidHeader, "Accept is not ASCII"));
        }
    };
    for essence in accepted_ranges(accept) {
        let found = match essence.as_str() {
            "*/*" | "application/*" => Some(offered[0]),
            "text/*" => pick(Format::Xml),
            other => Format::of_media_type(other).and_then(pick),
        };
        if let Some(f) = found {
            return Ok(f);
        }
    }
    let offered: Vec<_> = offered.iter().map(|f| f.media_type()).collect();
    Err(ApiError::new(
        Code::NotAcceptable,
        format!(
            "cannot answer '{accept}'; this resource offers {}",
            offered.join(", ")
        ),
    ))
}

/// The media ranges of an `Accept` value that it admits (q > 0), lower case, best first.
pub fn accepted_ranges(accept: &str) -> Vec<String> {
    let mut ranges: Vec<(f32, String)> = accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (q > 0.0 && !essence.is_empty()).then_some((q, essence))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranges.into_iter().map(|(_, essence)| essence).collect()
}

/// Whether the request's `Accept` admits XML and no JSON (`application/xml`, `text/xml`,
/// `text/*`, `…+xml`, but no `*/*`, `application/*` or `…json`): such a client gets its error
/// bodies as XML.
pub fn accepts_only_xml(headers: &header::HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let ranges = accepted_ranges(accept);
    let json = |e: &String| e == "*/*" || e == "application/*" || e.ends_with("json");
    let xml = |e: &String| e == "text/*" || e.ends_with("/xml") || e.ends_with("+xml");
    !ranges.iter().any(json) && ranges.iter().any(xml)
}

/// Appends `<name>text</name>`, the text escaped (`<`, `>`, `&`).
pub fn xml_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&quick_xml::escape::partial_escape(text));
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends a JSON value as the element `name`: an object's members as child elements (in the
/// order of the map) with its `_type` as `xsi:type`, an array as one element per item, a
/// scalar as text. For resources without an RM type (the EHR, error bodies).
pub fn json_xml_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Object(members) => {
            out.push('<');
            out.push_str(name);
            if let Some(t) = members.get("_type").and_then(Value::as_str) {
                out.push_str(" xsi:type=\"");
                out.push_str(&quick_xml::escape::escape(t));
                out.push('"');
            }
            out.push('>');
            for (key, member) in members.iter().filter(|(k, _)| *k != "_type") {
                json_xml_element(out, key, member);
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Array(items) => {
            for item in items {
                json_xml_element(out, name, item);
            }
        }
        Value::String(text) => xml_element(out, name, text),
        Value::Null => {}
        other => xml_element(out, name, &other.to_string()),
    }
}

/// The XML declaration every XML answer starts with.
pub const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The format of the representation a write answers with (`Prefer: return=representation`),
/// negotiated before anything is written; `None` when the client wants the minimal answer.
pub fn write_format(req: &HttpRequest, offered: &[Format]) -> ApiResult<Option<Format>> {
    match super::headers::wants_representation(req) {
        true => negotiate(req, offered).map(Some),
        false => Ok(None),
    }
}

/// Of a write with a body: the body's `Content-Type` first, which must be one of `body` (415,
/// JSON when absent), then [`write_format`] (406) — what cannot be read is refused before what
/// cannot be answered, as the template upload does and EHRbase answers.
pub fn body_then_write_format(
    req: &HttpRequest,
    body: &[Format],
    offered: &[Format],
) -> ApiResult<Option<Format>> {
    body_format(req, body)?;
    write_format(req, offered)
}

fn format_param(req: &HttpRequest) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "format").then(|| v.to_owned())
    })
}

/// Whether the request says its body is FLAT or STRUCTURED (which then it is):
/// `Content-Type: application/openehr.wt.flat+json` or `…wt.structured+json`, or EHRbase's
/// `format=FLAT|STRUCTURED` parameter.
pub fn form_body(req: &HttpRequest) -> Option<Format> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    let by_type = content_type
        .as_deref()
        .and_then(Format::of_media_type)
        .filter(|f| matches!(f, Format::Flat | Format::Structured));
    let by_param = format_param(req)
        .and_then(|f| Format::of_param(&f))
        .filter(|f| matches!(f, Format::Flat | Format::Structured));
    by_type.or(by_param)
}

/// The body's format from `Content-Type` (JSON when absent); anything else is 415.
pub fn body_format(req: &HttpRequest, accepted: &[Format]) -> ApiResult<Format> {
    match req.headers().contains_key(header::CONTENT_TYPE) {
        true => declared_body_format(req, accepted),
        false => Ok(Format::Json),
    }
}

/// The body's format from `Content-Type`, which must be there and one of `accepted` (415
/// otherwise).
pub fn declared_body_format(req: &HttpRequest, accepted: &[Format]) -> ApiResult<Format> {
    let text = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default());
    let essence = text.map(|t| t.split(';').next().unwrap_or_default().trim());
    essence
        .and_then(|e| Format::of_media_type(&e.to_ascii_lowercase()))
        .filter(|f| accepted.contains(f))
        .ok_or_else(|| {
            let names: Vec<_> = accepted.iter().map(|f| f.media_type()).collect();
            let given = match text {
                Some(t) => format!("Content-Type '{t}' is not accepted here"),
                None => "a Content-Type is required here".to_owned(),
            };
            ApiError::new(
                Code::UnsupportedMediaType,
                format!("{given}; use {}", names.join(" or ")),
            )
        })
}

/// Reads the whole body, refusing more than `limit` bytes.
pub async fn read_body(req: &HttpRequest, mut payload: Payload, limit: usize) -> ApiResult<Bytes> {
    let too_large = || {
        ApiError::new(
            Code::PayloadTooLarge,
            format!("the body is larger than this resource accepts ({limit} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(Code::BadRequest, format!("the body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Reads and decodes an RM body (canonical JSON or XML by `Content-Type`) of at most `limit`
/// bytes.
pub async fn read_rm<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
) -> ApiResult<T> {
    let format = body_format(req, JSON_OR_XML)?;
    let body = read_body(req, payload, limit).await?;
    decode(&body, format)
}

/// Decodes a canonical JSON or XML body into an RM type. NUL characters are refused (400 with
/// their position): PostgreSQL text cannot hold them.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], format: Format) -> ApiResult<T> {
    reject_nul(bytes, format)?;
    match format {
        Format::Json => cdr_rm::from_json(bytes),
        Format::Xml => cdr_rm::from_xml(bytes),
        Format::WebTemplate | Format::Flat | Format::Structured => {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                format!("{} is not accepted as this body", format.media_type()),
            ))
        }
    }
    .map_err(ApiError::decode)
}

/// Decodes a JSON body that is not an RM object (e.g. a contribution envelope) into a value.
pub fn decode_value(bytes: &[u8]) -> ApiResult<Value> {
    reject_nul(bytes, Format::Json)?;
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(Code::MalformedBody, e.to_string()).at_position(e.line(), e.column())
    })
}

fn reject_nul(bytes: &[u8], format: Format) -> ApiResult<()> {
    match nul_escape(bytes, format) {
        None => Ok(()),
        Some(at) => {
            let (line, column) = line_col(bytes, at);
            Err(ApiError::new(
                Code::MalformedBody,
                format!(
                    "the NUL character (U+0000) is not accepted (line {line}, column {column})"
                ),
            )
            .at_position(line, column))
        }
    }
}

/// Byte offset of an escaped NUL: `\u0000` in JSON (an unescaped backslash before it), `&#0;` or
/// `&#x0;` (any number of zeros) in XML.
fn nul_escape(bytes: &[u8], format: Format) -> Option<usize> {
    match format {
        Format::Json | Format::WebTemplate | Format::Flat | Format::Structured => {
            bytes.windows(6).enumerate().find_map(|(i, w)| {
                let escaped = w == b"\\u0000"
                    && bytes[..i].iter().rev().take_while(|b| **b == b'\\').count() % 2 == 0;
                escaped.then_some(i)
            })
        }
        Format::Xml => bytes.windows(2).enumerate().find_map(|(i, w)| {
            if w != b"&#" {
                return None;
            }
            let mut rest = &bytes[i + 2..];
            if let Some(r) = rest.strip_prefix(b"x").or_else(|| rest.strip_prefix(b"X")) {
                rest = r;
            }
            let zeros = rest.iter().take_while(|b| **b == b'0').count();
            (zeros > 0 && rest.get(zeros) == Some(&b';')).then_some(i)
        }),
    }
}

fn line_col(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// Renders a canonical JSON document (text) in `format`: JSON as it is; XML through the RM type
/// its `_type` names.
pub fn render(json: &str, format: Format) -> ApiResult<String> {
    match format {
        Format::Json | Format::WebTemplate | Format::Flat | Format::Structured => {
            Ok(json.to_owned())
        }
        Format::Xml => {
            let value: Value = serde_json::from_str(json)
                .map_err(|e| ApiError::new(Code::Internal, format!("stored JSON: {e}")))?;
            to_xml(value)
        }
    }
}

/// Renders a canonical JSON value in `format`.
pub fn render_value(value: Value, format: Format) -> ApiResult<String> {
    match format {
        Format::Json | Format::WebTemplate | Format::Flat | Format::Structured => {
            Ok(value.to_string())
        }
        Format::Xml => to_xml(value),
    }
}

fn to_xml(value: Value) -> ApiResult<String> {
    fn typed<T: DeserializeOwned + cdr_rm::meta::RmObject>(
        value: Value,
        root: &str,
    ) -> ApiResult<String> {
        let obj: T = cdr_rm::json::from_json_value(value)
            .map_err(|e| ApiError::new(Code::Internal, format!("re-encoding as XML: {e}")))?;
        Ok(cdr_rm::to_xml(&obj, root))
    }
    let rm_type = value
        .get("_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match rm_type.as_str() {
        "COMPOSITION" => typed::<cdr_rm::Composition>(value, "composition"),
        "EHR_STATUS" => typed::<cdr_rm::EhrStatus>(value, "ehr_status"),
        "FOLDER" => typed::<cdr_rm::Folder>(value, "folder"),
        "ORIGINAL_VERSION" => typed::<cdr_rm::OriginalVersion>(value, "version"),
        "CONTRIBUTION" => typed::<cdr_rm::Contribution>(value, "contribution"),
        "REVISION_HISTORY" => typed::<cdr_rm::RevisionHistory>(value, "revision_history"),
        "VERSIONED_COMPOSITION" => {
            typed::<cdr_rm::VersionedComposition>(value, "versioned_composition")
        }
        "VERSIONED_EHR_STATUS" => {
            typed::<cdr_rm::VersionedEhrStatus>(value, "versioned_ehr_status")
        }
        "VERSIONED_FOLDER" => typed::<cdr_rm::VersionedFolder>(value, "versioned_folder"),
        other => Err(ApiError::new(
            Code::NotAcceptable,
            format!("{other} has no XML representation here"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert_eq!(nul_escape(br#"{"a":"x\u0000"}"#, Format::Json), Some(7));
        assert_eq!(nul_escape(br#"{"a":"x\\u0000"}"#, Format::Json), None);
        assert_eq!(nul_escape(br#"{"a":"x\\\u0000"}"#, Format::Json), Some(9));
        assert_eq!(nul_escape(b"<a>&#0;</a>", Format::Xml), Some(3));
        assert_eq!(nul_escape(b"<a>&#x000;</a>", Format::Xml), Some(3));
        assert_eq!(nul_escape(b"<a>&#10;</a>", Format::Xml), None);
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
    }
}
