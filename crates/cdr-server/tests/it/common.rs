//! The test server and a small HTTP/1.1 client (raw bytes over TCP, so tests can send exactly
//! what they mean to, malformed or not).

use std::collections::HashMap;
use std::net::SocketAddr;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use cdr_server::http::{self, Limits, ServeOptions};
use cdr_store::Store;

pub const OPT: &str = include_str!("../../../cdr-validation/tests/fixtures/cdr_test_vitals.v1.opt");
pub const COMPOSITION: &str =
    include_str!("../../../cdr-validation/tests/fixtures/cdr_test_vitals.v1.json");
pub const BASE: &str = "/openehr/v1";

/// A running server on a fresh database.
pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    pub handle: actix_web::dev::ServerHandle,
    pub stopped: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the server (one worker) on `127.0.0.1:0` over a fresh store.
pub async fn server() -> Server {
    server_with(Limits::default()).await
}

/// Starts the server with given body limits.
pub async fn server_with(limits: Limits) -> Server {
    server_with_options(ServeOptions {
        limits,
        ..test_options()
    })
    .await
}

/// The options of the test server: `127.0.0.1:0`, the base path, one worker.
pub fn test_options() -> ServeOptions {
    ServeOptions {
        bind: "127.0.0.1:0".into(),
        base_path: BASE.into(),
        workers: Some(1),
        ..ServeOptions::default()
    }
}

/// Starts the server with given options over a fresh store.
pub async fn server_with_options(options: ServeOptions) -> Server {
    server_on(cdr_testkit::fresh_store().await, options)
}

/// Starts the server with given options over `store`.
pub fn server_on(store: Store, options: ServeOptions) -> Server {
    let running = http::start(store.clone(), &options).expect("server starts");
    Server {
        addr: running.addr,
        store,
        handle: running.handle,
        stopped: tokio::spawn(running.server),
    }
}

/// Starts the server (the test options) over `store`, its callers decided by `identify`.
pub fn server_identified(store: Store, identify: http::Identify) -> Server {
    let running = http::start_with(store.clone(), &test_options(), Some(identify)).expect("starts");
    Server {
        addr: running.addr,
        store,
        handle: running.handle,
        stopped: tokio::spawn(running.server),
    }
}

/// A server with the fixture template uploaded.
pub async fn server_with_template() -> Server {
    let srv = server().await;
    let res = srv.upload(OPT).await;
    assert_eq!(res.status, 201, "{}", res.text());
    srv
}

impl Server {
    /// A request to `path` below the base path.
    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            addr: self.addr,
            method: method.to_owned(),
            target: format!("{BASE}{path}"),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.req("PUT", path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.req("DELETE", path)
    }

    /// A request to a path outside the base path.
    pub fn raw(&self, method: &str, target: &str) -> Req {
        Req {
            target: target.to_owned(),
            ..self.req(method, "")
        }
    }

    /// Creates an EHR; returns its id.
    pub async fn ehr(&self) -> String {
        let res = self.post("/ehr").send().await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.etag()
    }

    /// A new EHR with the fixture composition: `(ehr_id, version uid, versioned object id)`.
    pub async fn ehr_with_composition(&self) -> (String, String, String) {
        let ehr = self.ehr().await;
        let v1 = self.composition(&ehr).await;
        let vo = v1.split("::").next().unwrap().to_owned();
        (ehr, v1, vo)
    }

    /// Uploads an OPT; returns the response.
    pub async fn upload(&self, opt: &str) -> Resp {
        self.post("/definition/template/adl1.4")
            .body("application/xml", opt)
            .send()
            .await
    }

    /// Creates the fixture composition in `ehr`; returns its version uid.
    pub async fn composition(&self, ehr: &str) -> String {
        self.composition_json(ehr, &serde_json::from_str(COMPOSITION).unwrap())
            .await
    }

    /// Creates `composition` (canonical JSON) in `ehr`; returns its version uid.
    pub async fn composition_json(&self, ehr: &str, composition: &Value) -> String {
        let res = self
            .post(&format!("/ehr/{ehr}/composition"))
            .json(composition)
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.etag()
    }
}

/// A request to any address (for servers other than the API's).
pub fn request_to(addr: SocketAddr, method: &str, target: &str) -> Req {
    Req {
        addr,
        method: method.to_owned(),
        target: target.to_owned(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A request being built.
pub struct Req {
    addr: SocketAddr,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(self, content_type: &str, body: impl Into<Vec<u8>>) -> Req {
        let mut r = self.header("Content-Type", content_type);
        r.body = body.into();
        r
    }

    /// A body without `Content-Type`.
    pub fn untyped_body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    pub fn json(self, value: &Value) -> Req {
        self.body("application/json", value.to_string())
    }

    /// Sends the request (`Connection: close`) and reads the whole response. The body is
    /// written concurrently with reading, so a server that answers early (413) is heard.
    pub async fn send(self) -> Resp {
        Resp::parse(&self.send_raw().await)
    }

    /// Sends the request and returns the raw bytes of the answer (none when the server closes
    /// without answering).
    pub async fn send_raw(self) -> Vec<u8> {
        let stream = TcpStream::connect(self.addr).await.expect("connect");
        let (mut rd, mut wr) = stream.into_split();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.method,
            self.target,
            self.addr,
            self.body.len()
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let body = self.body;
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&body).await;
            wr
        });
        let mut raw = Vec::new();
        let _ = rd.read_to_end(&mut raw).await;
        let _ = writer.await;
        raw
    }
}

/// A response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Resp {
    fn parse(raw: &[u8]) -> Resp {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut body = raw[split + 4..].to_vec();
        if headers.get("transfer-encoding").map(String::as_str) == Some("chunked") {
            body = dechunk(&body);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The ETag without quotes.
    pub fn etag(&self) -> String {
        self.header("etag")
            .expect("an ETag")
            .trim_matches('"')
            .to_owned()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a problem+json answer with this status and code; returns the body.
    pub fn problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert_eq!(body["code"], code, "{body}");
        assert!(body["title"].is_string() && body["detail"].is_string());
        assert_eq!(body["type"], format!("urn:cdr:problem:{code}"));
        body
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
}

/// The fixture composition as JSON, edited by `f`.
/// The uses a `GET /admin/break_glass` answer lists: (EHR id, subject, reason), sorted.
pub fn break_glass_uses(res: &Resp) -> Vec<(String, String, String)> {
    assert_eq!(res.status, 200, "{}", res.text());
    let mut uses: Vec<(String, String, String)> = res.json()["break_glass"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap().to_owned();
            (s("ehr_id"), s("subject"), s("reason"))
        })
        .collect();
    uses.sort();
    uses
}

/// The whole audit trail of `store` once its queued events are written, oldest first (by
/// (xid, seq), the chain's order), optionally only `action`.
pub async fn audit_trail(
    store: &Store,
    action: Option<cdr_store::AuditAction>,
) -> Vec<cdr_store::AuditRecord> {
    store.flush_audit().await.unwrap();
    let mut trail = store
        .audit_events(
            &cdr_store::Principal::local(),
            &cdr_store::AuditFilter {
                action,
                limit: 100_000,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    trail.reverse();
    trail
}

pub fn composition_with(f: impl FnOnce(&mut Value)) -> Value {
    let mut v: Value = serde_json::from_str(COMPOSITION).unwrap();
    f(&mut v);
    v
}

/// A version uid no object has.
pub fn unknown_version() -> String {
    format!("{}::test.cdr::1", uuid::Uuid::new_v4())
}

/// The fixture composition without the CLUSTER it puts in a slot the template does not name
/// (FLAT and STRUCTURED have no path for it).
pub fn composition_without_slot() -> Value {
    composition_with(|c| {
        if let Some(items) = c["content"][0]["data"]["events"][0]["data"]["items"].as_array_mut() {
            items.retain(|i| i["archetype_node_id"] != "openEHR-EHR-CLUSTER.device.v1");
        }
    })
}

/// The fixture composition with a name of its own on a level FLAT and STRUCTURED rebuild from
/// the template (the event's ITEM_TREE): valid, but not representable in those formats.
pub fn composition_not_flat() -> Value {
    composition_with(|c| {
        c["content"][0]["data"]["events"][0]["data"]["name"]["value"] = json!("Another tree");
    })
}

/// `DATABASE_URL` (key-value form) of the test database `pg` on the shared test cluster, for the
/// `cdr` commands a test runs.
pub fn database_url_of(pg: &tokio_postgres::Config) -> String {
    cdr_testkit::url_of(cdr_testkit::cluster(), pg.get_dbname().unwrap_or("cdr"))
}
