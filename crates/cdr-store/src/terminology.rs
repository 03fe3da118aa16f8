//! `TERMINOLOGY(operation, service_api, params)` of AQL, answered by a FHIR R4 terminology
//! server (`cdr serve --terminology-url`). Each distinct call of a query is resolved once,
//! before the query is compiled; its result becomes a value of the query like a parameter.
//!
//! | operation  | FHIR operation                                   | AQL value                 |
//! |------------|--------------------------------------------------|---------------------------|
//! | `expand`   | `ValueSet/$expand`                               | the codes, as a list      |
//! | `validate` | `ValueSet/$validate-code` (`url` given), else `CodeSystem/$validate-code` | `result`, a Boolean |
//! | `lookup`   | `CodeSystem/$lookup`                             | `display`, a string       |
//! | `subsumes` | `CodeSystem/$subsumes`                           | `outcome`, a string       |
//! | `map`      | `ConceptMap/$translate`                          | the matched codes, a list |
//!
//! `params` is the operation's query string (`system=…&code=…`); a bare URL stands for
//! `url=<it>` (`'http://snomed.info/sct?fhir_vs=isa/50697003'`). The client speaks plain
//! HTTP/1.1 (`http://` base URLs; a TLS-terminating proxy serves an `https://` server).

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body read from the terminology server.
const MAX_BODY: usize = 32 << 20;

/// A FHIR R4 terminology server.
#[derive(Debug, Clone)]
pub struct TerminologyService {
    host: String,
    port: u16,
    /// The base path, without a trailing `/` (e.g. `/fhir`).
    path: String,
    timeout: Duration,
}

/// Why a TERMINOLOGY call has no value.
#[derive(Debug)]
pub enum TerminologyError {
    /// The call is wrong (operation, service API, or parameters the server refused).
    Call(String),
    /// The server could not be reached or failed.
    Unavailable(String),
}

impl TerminologyService {
    /// A service at `base_url` (`http://host[:port][/path]`).
    pub fn new(base_url: &str) -> Result<TerminologyService, String> {
        let rest = base_url.strip_prefix("http://").ok_or_else(|| {
            format!(
                "terminology URL {base_url:?} must start with http:// \
                 (put a TLS-terminating proxy in front of an https server)"
            )
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (h, after) = v6
                    .split_once(']')
                    .ok_or_else(|| format!("terminology URL {base_url:?}: bad host"))?;
                (h, after.strip_prefix(':').unwrap_or("80"))
            }
            None => authority.split_once(':').unwrap_or((authority, "80")),
        };
        let port: u16 = port
            .parse()
            .map_err(|_| format!("terminology URL {base_url:?}: bad port {port:?}"))?;
        if host.is_empty() {
            return Err(format!("terminology URL {base_url:?} has no host"));
        }
        Ok(TerminologyService {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            timeout: Duration::from_secs(10),
        })
    }

    /// The value of `TERMINOLOGY(operation, service_api, params)`.
    pub async fn call(
        &self,
        operation: &str,
        service_api: &str,
        params: &str,
    ) -> Result<Value, TerminologyError> {
        let api = service_api
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        if !matches!(
            api.as_str(),
            "hl7.org/fhir/4.0" | "hl7.org/fhir/r4" | "hl7.org/fhir/4.0.1"
        ) {
            return Err(TerminologyError::Call(format!(
                "terminology service API '{service_api}' is not supported (hl7.org/fhir/4.0 is)"
            )));
        }
        let query = query_string(params);
        let has_url = query.split('&').any(|p| p.starts_with("url="));
        let resource = match operation {
            "expand" => "ValueSet/$expand",
            "validate" if has_url => "ValueSet/$validate-code",
            "validate" => "CodeSystem/$validate-code",
            "lookup" => "CodeSystem/$lookup",
            "subsumes" => "CodeSystem/$subsumes",
            "map" => "ConceptMap/$translate",
            other => {
                return Err(TerminologyError::Call(format!(
                    "terminology operation '{other}' is not one of expand, validate, lookup, \
                     map, subsumes"
                )))
            }
        };
        let target = format!("{}/{resource}?{query}", self.path);
        let (status, body) = tokio::time::timeout(self.timeout, self.get(&target))
            .await
            .map_err(|_| {
                TerminologyError::Unavailable(format!(
                    "the terminology server did not answer within {} s",
                    self.timeout.as_secs()
                ))
            })??;
        let json: Value = serde_json::from_slice(&body).map_err(|e| {
            TerminologyError::Unavailable(format!(
                "the terminology server answered {status} with a body that is not JSON: {e}"
            ))
        })?;
        if !(200..300).contains(&status) {
            let why = outcome_text(&json).unwrap_or_else(|| format!("HTTP status {status}"));
            let e = format!("the terminology server refused {operation} ({params}): {why}");
            return Err(if (400..500).contains(&status) {
                TerminologyError::Call(e)
            } else {
                TerminologyError::Unavailable(e)
            });
        }
        let missing = |what: &str| {
            TerminologyError::Unavailable(format!(
                "the terminology server's answer to {operation} has no {what}"
            ))
        };
        Ok(match operation {
            "expand" => {
                let mut codes = Vec::new();
                let contains = json.pointer("/expansion/contains");
                collect_codes(contains.ok_or_else(|| missing("expansion"))?, &mut codes);
                Value::Array(codes)
            }
            "validate" => parameter(&json, "result", "valueBoolean")
                .ok_or_else(|| missing("result"))?
                .clone(),
            "lookup" => parameter(&json, "display", "valueString")
                .ok_or_else(|| missing("display"))?
                .clone(),
            "subsumes" => parameter(&json, "outcome", "valueCode")
                .ok_or_else(|| missing("outcome"))?
                .clone(),
            _ => {
                // Each `match` lists its parts; the `concept` part codes the target.
                let codes = parameters(&json, "match")
                    .filter_map(|m| {
                        m.get("part")?
                            .as_array()?
                            .iter()
                            .filter(|p| p.get("name").and_then(Value::as_str) == Some("concept"))
                            .find_map(|c| c.pointer("/valueCoding/code").cloned())
                    })
                    .collect();
                Value::Array(codes)
            }
        })
    }

    /// One GET over a fresh connection: the status and the body.
    async fn get(&self, target: &str) -> Result<(u16, Vec<u8>), TerminologyError> {
        let unavailable =
            |e: std::io::Error| TerminologyError::Unavailable(format!("terminology server: {e}"));
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(unavailable)?;
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/fhir+json\r\n\
             User-Agent: cdr\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(unavailable)?;
        let mut raw = Vec::new();
        let mut chunk = [0u8; 16 << 10];
        loop {
            let n = stream.read(&mut chunk).await.map_err(unavailable)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
            if raw.len() > MAX_BODY {
                return Err(TerminologyError::Unavailable(
                    "the terminology server's answer is too large".into(),
                ));
            }
        }
        parse_response(&raw).map_err(TerminologyError::Unavailable)
    }
}

/// The operation's query string: `params` itself when it is one (`a=b&c=d`), `url=<params>`
/// when it is a bare URL. Characters a request target cannot hold are percent-encoded.
fn query_string(params: &str) -> String {
    let params = params.trim();
    let bare_url = match (params.find("://"), params.find('=')) {
        (Some(scheme), Some(eq)) => eq > scheme,
        (Some(_), None) => true,
        _ => false,
    };
    if bare_url {
        return format!("url={}", encode(params, true));
    }
    encode(params, false)
}

/// Percent-encoding for a request target; `all` also encodes the query's own delimiters.
fn encode(s: &str, all: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/' | b':' | b'%')
            || (!all && matches!(b, b'=' | b'&' | b'?' | b'+' | b',' | b'|' | b'$' | b'@'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Status and body of an HTTP/1.1 response (Content-Length, chunked, or read to close).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the terminology server's answer has no complete header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "response header is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("the terminology server's answer ended early")?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunked body")?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(body.get(..size).ok_or("chunked body ended early")?);
        body = body.get(size + 2..).ok_or("chunked body ended early")?;
    }
}

/// Codes of a ValueSet expansion's `contains`, nested ones included, in order.
fn collect_codes(contains: &Value, out: &mut Vec<Value>) {
    for c in contains.as_array().into_iter().flatten() {
        if let Some(code) = c.get("code") {
            out.push(code.clone());
        }
        if let Some(inner) = c.get("contains") {
            collect_codes(inner, out);
        }
    }
}

/// The `parameter` entries of a FHIR Parameters resource (or `part`s) named `name`.
fn parameters<'a>(json: &'a Value, name: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    json.get("parameter")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |p| p.get("name").and_then(Value::as_str) == Some(name))
}

fn parameter<'a>(json: &'a Value, name: &'a str, value: &str) -> Option<&'a Value> {
    parameters(json, name).find_map(|p| p.get(value))
}

/// The text of an OperationOutcome's first issue.
fn outcome_text(json: &Value) -> Option<String> {
    let issue = json.get("issue")?.as_array()?.first()?;
    issue
        .pointer("/details/text")
        .or_else(|| issue.get("diagnostics"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let t = TerminologyService::new("http://localhost:8090/fhir/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("localhost", 8090, "/fhir")
        );
        let t = TerminologyService::new("http://tx.example").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("tx.example", 80, "")
        );
        assert!(TerminologyService::new("https://tx.example").is_err());
        assert!(TerminologyService::new("http://:80").is_err());
        assert!(TerminologyService::new("http://h:x").is_err());
    }

    #[test]
    fn query_strings() {
        assert_eq!(
            query_string("http://snomed.info/sct?fhir_vs=isa/50697003"),
            "url=http://snomed.info/sct%3Ffhir_vs%3Disa/50697003"
        );
        assert_eq!(
            query_string("url=http://x/vs&code=a b"),
            "url=http://x/vs&code=a%20b"
        );
        assert_eq!(
            query_string("system=http://loinc.org&code=1-8"),
            "system=http://loinc.org&code=1-8"
        );
    }

    #[test]
    fn responses() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk";
        assert_eq!(parse_response(raw).unwrap(), (200, b"{}".to_vec()));
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap(), (404, b"{\"a\":1}".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }
}
