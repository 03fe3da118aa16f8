//! cdr's outgoing HTTP/1.1 requests: the GET of a JSON document authentication makes (the
//! issuer's discovery document and its JWKS; the answer must be 200), and the POST of a
//! webhook (any status is returned). Over TLS (rustls with the system's trusted roots), or
//! over plain HTTP to a loopback address only (a service on the same host, and the tests).
//! Connections are kept alive and reused (at most 32 idle per target, for 30 s); redirects
//! are not followed; answers of at most 1 MiB, within 10 s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

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

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Connection = Box<dyn Io>;

/// Idle connections kept per target.
const IDLE_PER_TARGET: usize = 32;
/// How long an idle connection is kept.
const IDLE_FOR: Duration = Duration::from_secs(30);

/// Idle keep-alive connections by target (`tls host port`), with when each went idle.
type Idle = Mutex<HashMap<String, Vec<(Instant, Connection)>>>;

fn idle() -> &'static Idle {
    static IDLE: OnceLock<Idle> = OnceLock::new();
    IDLE.get_or_init(Mutex::default)
}

fn take_idle(target: &str) -> Option<Connection> {
    let mut all = idle().lock().unwrap_or_else(|e| e.into_inner());
    let list = all.get_mut(target)?;
    while let Some((since, c)) = list.pop() {
        if since.elapsed() < IDLE_FOR {
            return Some(c);
        }
    }
    None
}

fn put_idle(target: String, c: Connection) {
    let mut all = idle().lock().unwrap_or_else(|e| e.into_inner());
    let list = all.entry(target).or_default();
    list.retain(|(since, _)| since.elapsed() < IDLE_FOR);
    if list.len() < IDLE_PER_TARGET {
        list.push((Instant::now(), c));
    }
}

async fn connect(t: &Target, url: &str) -> Result<Connection, String> {
    let tcp = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| format!("{url}: cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if !t.tls {
        return Ok(Box::new(tcp));
    }
    let name = ServerName::try_from(t.host.clone())
        .map_err(|e| format!("{url}: not a server name: {e}"))?;
    let tls = tls_connector()?
        .connect(name, tcp)
        .await
        .map_err(|e| format!("{url}: TLS: {e}"))?;
    Ok(Box::new(tls))
}

async fn send(
    url: &str,
    method: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<(u16, Vec<u8>), String> {
    check_url(url)?;
    let t = parse_url(url)?;
    let host_header = match (t.tls, t.port) {
        (true, 443) | (false, 80) => t.host.clone(),
        _ if t.host.contains(':') => format!("[{}]:{}", t.host, t.port),
        _ => format!("{}:{}", t.host, t.port),
    };
    let mut request = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\n\
         User-Agent: cdr/{}\r\n",
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
    let target = format!("{} {} {}", t.tls, t.host, t.port);
    // A kept connection the server has closed meanwhile fails at once: then a new one.
    if let Some(c) = take_idle(&target) {
        if let Ok((answer, c)) = exchange(c, &request).await {
            if answer.keep_alive {
                put_idle(target, c);
            }
            return Ok((answer.status, answer.body));
        }
    }
    let c = connect(&t, url).await?;
    let (answer, c) = exchange(c, &request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if answer.keep_alive {
        put_idle(target, c);
    }
    Ok((answer.status, answer.body))
}

/// Sends a request and reads its answer; the connection back for reuse.
async fn exchange(mut c: Connection, request: &[u8]) -> Result<(Answer, Connection), String> {
    c.write_all(request)
        .await
        .map_err(|e| format!("sending: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(answer) = complete(&raw, false)? {
            return Ok((answer, c));
        }
        // A TLS peer that closes without close_notify still gave its whole answer when the
        // length says so: a read error ends the answer like the end of the stream.
        let n = c.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            let answer = complete(&raw, true)?.ok_or("the connection closed before the answer")?;
            return Ok((answer, c));
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_BODY + 16 * 1024 {
            return Err(format!("the answer is larger than {MAX_BODY} bytes"));
        }
    }
}

/// A complete answer.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// Whether the connection may carry another request.
    keep_alive: bool,
}

/// The answer in `raw` when it is complete (`Content-Length`, chunked, or up to the end of the
/// stream, `eof`); `None` when more must be read.
fn complete(raw: &[u8], eof: bool) -> Result<Option<Answer>, String> {
    let more = |what: &str| match eof {
        true => Err(what.to_owned()),
        false => Ok(None),
    };
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return more("no complete answer");
    };
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("no status line")?;
    let mut length = None;
    let mut chunked = false;
    let mut close = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let rest = &raw[split + 4..];
    // These answers never have a body.
    let bodiless = status == 204 || status == 304 || (100..200).contains(&status);
    let (body, delimited) = if bodiless {
        (Vec::new(), true)
    } else if chunked {
        match dechunk(rest)? {
            Some(b) => (b, true),
            None => return more("a chunk is cut off"),
        }
    } else if let Some(n) = length {
        match rest.get(..n) {
            Some(b) => (b.to_vec(), true),
            None => return more("the answer is shorter than its length"),
        }
    } else if eof {
        (rest.to_vec(), false)
    } else {
        return Ok(None);
    };
    match body.len() > MAX_BODY {
        true => Err(format!("the answer is larger than {MAX_BODY} bytes")),
        false => Ok(Some(Answer {
            status,
            body,
            keep_alive: delimited && !close,
        })),
    }
}

/// The body of a chunked answer; `None` when it is cut off.
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        if size == 0 {
            // No trailers are sent to cdr's requests; the empty line ends the answer.
            return Ok(data.get(eol + 2..eol + 4).map(|_| out));
        }
        let Some(chunk) = data.get(eol + 2..eol + 2 + size) else {
            return Ok(None);
        };
        out.extend_from_slice(chunk);
        let Some(next) = data.get(eol + 2 + size + 2..) else {
            return Ok(None);
        };
        data = next;
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
        let answer = |status, body: &[u8], keep_alive| {
            Some(Answer {
                status,
                body: body.to_vec(),
                keep_alive,
            })
        };
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}trailing";
        assert_eq!(complete(plain, false).unwrap(), answer(200, b"{}", true));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n1\r\n}\r\n0\r\n\r\n";
        assert_eq!(complete(chunked, false).unwrap(), answer(200, b"{}", true));
        // Cut off: more must be read, unless the stream ended.
        let cut = &chunked[..chunked.len() - 2];
        assert_eq!(complete(cut, false).unwrap(), None);
        assert!(complete(cut, true).is_err());
        assert_eq!(complete(&plain[..39], false).unwrap(), None);
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}";
        assert!(complete(short, true).is_err());
        // Without a length the answer ends with the stream, and the connection with it.
        let unbounded = b"HTTP/1.1 302 Found\r\n\r\n";
        assert_eq!(complete(unbounded, false).unwrap(), None);
        assert_eq!(complete(unbounded, true).unwrap(), answer(302, b"", false));
        let closing = b"HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(complete(closing, false).unwrap(), answer(204, b"", false));
        assert!(complete(b"HTTP/1.1 OK\r\n\r\n", true).is_err());
        // A 204 has no body, whatever its headers say.
        let no_content = b"HTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(complete(no_content, false).unwrap(), answer(204, b"", true));
    }
}
