//! cdr's outgoing HTTP/1.1 requests: the GET of a JSON document authentication makes (the
//! issuer's discovery document and its JWKS; the answer must be 200), and the POST of a
//! webhook (any status is returned). Over TLS (rustls with the system's trusted roots), or
//! over plain HTTP to a loopback address only (a service on the same host, and the tests).
//! One connection per request; redirects are not followed; answers of at most 1 MiB, within
//! 10 s.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest answer read.
const MAX_BODY: usize = 1 << 20;
/// The time one fetch may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A URL split into what a GET needs.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    path: String,
}

fn parse_url(url: &str) -> Result<Target, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!(
            "{url}: only https:// URLs (or http:// to a loopback host)"
        ));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if authority.contains('@') {
        return Err(format!("{url}: credentials in the URL are not supported"));
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (
            &authority[..i],
            authority[i + 1..]
                .parse::<u16>()
                .map_err(|_| format!("{url}: the port is not a number"))?,
        ),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok(Target {
        tls,
        host: host.to_owned(),
        port,
        path,
    })
}

/// Whether plain HTTP may be used to `host`: a loopback address or `localhost`.
fn loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a URL the fetcher would refuse, before any request (for start-up checks).
pub fn check_url(url: &str) -> Result<(), String> {
    let t = parse_url(url)?;
    match t.tls || loopback_host(&t.host) {
        true => Ok(()),
        false => Err(format!(
            "{url}: plain http:// is accepted for loopback hosts only; use https://"
        )),
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        for cert in found.certs {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err("no trusted root certificates found on this system".to_owned());
        }
        // The provider is the one the crate features give (ring, the only one built).
        Ok(Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        ))
    });
    config.clone().map(tokio_rustls::TlsConnector::from)
}

/// GETs `url` and parses the answer as JSON.
pub async fn get_json(url: &str) -> Result<serde_json::Value, String> {
    let (status, body) = tokio::time::timeout(TIMEOUT, send(url, "GET", &[], b""))
        .await
        .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))??;
    if status != 200 {
        return Err(format!("{url}: answered {status}, not 200"));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{url}: the answer is not JSON: {e}"))
}

/// POSTs `body` (JSON) with `headers` to `url`; the answer's status.
pub async fn post_json(url: &str, headers: &[(&str, String)], body: &[u8]) -> Result<u16, String> {
    let (status, _) = tokio::time::timeout(TIMEOUT, send(url, "POST", headers, body))
        .await
        .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))??;
    Ok(status)
}

async fn send(
    url: &str,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    check_url(url)?;
    let t = parse_url(url)?;
    let tcp = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| format!("{url}: cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let host_header = match (t.tls, t.port) {
        (true, 443) | (false, 80) => t.host.clone(),
        _ if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
        _ => format!("{}:{}", t.host, t.port),
    };
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\n\
         User-Agent: cdr/{}\r\nConnection: close\r\n",
        t.path,
        env!("CARGO_PKG_VERSION")
    );
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    let raw = if t.tls {
        let name = ServerName::try_from(t.host.clone())
            .map_err(|e| format!("{url}: not a server name: {e}"))?;
        let tls = tls_connector()?
            .connect(name, tcp)
            .await
            .map_err(|e| format!("{url}: TLS: {e}"))?;
        exchange(tls, &request, url).await?
    } else {
        exchange(tcp, &request, url).await?
    };
    parse_response(&raw).map_err(|e| format!("{url}: {e}"))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    url: &str,
) -> Result<Vec<u8>, String> {
    stream
        .write_all(request)
        .await
        .map_err(|e| format!("{url}: sending: {e}"))?;
    let mut raw = Vec::new();
    let mut limited = (&mut stream).take((MAX_BODY + 16 * 1024) as u64);
    // A TLS peer that closes without close_notify still gave its whole answer when the
    // length says so; the parser judges completeness.
    let _ = limited.read_to_end(&mut raw).await;
    Ok(raw)
}

/// The status and body of a complete answer (`Content-Length`, chunked, or up to the close).
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("no status line")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)?
    } else if let Some(n) = length {
        body.get(..n)
            .ok_or("the answer is shorter than its length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    match body.len() > MAX_BODY {
        true => Err(format!("the answer is larger than {MAX_BODY} bytes")),
        false => Ok((status, body)),
    }
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk is cut off")?;
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = data
            .get(eol + 2..eol + 2 + size)
            .ok_or("a chunk is cut off")?;
        out.extend_from_slice(chunk);
        data = data.get(eol + 2 + size + 2..).ok_or("a chunk is cut off")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("https://kc.example.org/realms/cdr").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port),
            (true, "kc.example.org", 443)
        );
        assert_eq!(t.path, "/realms/cdr");
        let t = parse_url("http://[::1]:8081?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8081, "/?x=1")
        );
        assert!(check_url("http://127.0.0.1:9/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://kc.example.org/jwks").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    #[test]
    fn answers() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(parse_response(plain).unwrap(), (200, b"{}".to_vec()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (200, b"{}".to_vec()));
        assert_eq!(
            parse_response(b"HTTP/1.1 302 Found\r\n\r\n").unwrap().0,
            302
        );
        assert!(parse_response(b"HTTP/1.1 OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}").is_err());
    }
}
