//! Change notifications: webhook subscriptions (signed, in commit order, retried), the
//! Server-Sent Events stream, and delivery across a killed server.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::common::{composition_with, request_to, server_with_template, Server, OPT};

/// One request a receiver got.
#[derive(Debug)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub raw_body: Vec<u8>,
    pub body: Value,
}

/// A local webhook receiver: records each POST and answers the next status queued (200 when
/// none is).
pub struct Receiver {
    pub addr: SocketAddr,
    pub got: mpsc::UnboundedReceiver<Received>,
    pub statuses: Arc<Mutex<VecDeque<u16>>>,
    /// Connections accepted.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        Self::on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    pub fn on(listener: TcpListener) -> Receiver {
        let addr = listener.local_addr().unwrap();
        let (tx, got) = mpsc::unbounded_channel();
        let statuses = Arc::new(Mutex::new(VecDeque::new()));
        let queued = statuses.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let accepted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let tx = tx.clone();
                let queued = queued.clone();
                let connections = accepted.clone();
                connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::spawn(async move {
                    // Requests one after another on the connection (keep-alive).
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    loop {
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i;
                            }
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        };
                        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                        let headers: HashMap<String, String> = head
                            .lines()
                            .skip(1)
                            .filter_map(|l| l.split_once(':'))
                            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                            .collect();
                        let length: usize = headers
                            .get("content-length")
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0);
                        while buf.len() < head_end + 4 + length {
                            let n = sock.read(&mut chunk).await.unwrap_or(0);
                            if n == 0 {
                                return;
                            }
                            buf.extend_from_slice(&chunk[..n]);
                        }
                        let raw_body = buf[head_end + 4..head_end + 4 + length].to_vec();
                        buf.drain(..head_end + 4 + length);
                        let status = queued.lock().unwrap().pop_front().unwrap_or(200);
                        let answer = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                        if sock.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        if (200..300).contains(&status) {
                            let body = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
                            let _ = tx.send(Received {
                                headers,
                                raw_body,
                                body,
                            });
                        }
                    }
                });
            }
        });
        Receiver {
            addr,
            got,
            statuses,
            connections,
        }
    }

    /// The next delivered request, within `secs` seconds.
    pub async fn next(&mut self, secs: u64) -> Received {
        tokio::time::timeout(Duration::from_secs(secs), self.got.recv())
            .await
            .expect("a webhook arrives in time")
            .expect("the receiver runs")
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }
}

/// Whether the request's signature is the HMAC-SHA256 of `id.timestamp.body` under the key
/// the secret names (Standard Webhooks): the base64 after `whsec_`, else the secret's bytes.
fn signed_with(r: &Received, secret: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match secret.strip_prefix("whsec_") {
        Some(k) => b64.decode(k).unwrap(),
        None => secret.as_bytes().to_vec(),
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let mut msg = format!(
        "{}.{}.",
        r.headers["webhook-id"], r.headers["webhook-timestamp"]
    )
    .into_bytes();
    msg.extend_from_slice(&r.raw_body);
    let tag = ring::hmac::sign(&key, &msg);
    r.headers["webhook-signature"] == format!("v1,{}", b64.encode(tag.as_ref()))
}

async fn subscribe(srv: &Server, body: Value) -> Value {
    let res = srv.post("/subscriptions").json(&body).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(res.header("location").unwrap().contains("/subscriptions/"));
    res.json()
}

fn template_id() -> String {
    let c: Value = serde_json::from_str(crate::common::COMPOSITION).unwrap();
    c["archetype_details"]["template_id"]["value"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn webhooks_get_signed_events_in_commit_order_until_unsubscribed() {
    let srv = server_with_template().await;
    let mut rx = Receiver::start().await;
    let sub = subscribe(
        &srv,
        json!({"target_url": rx.url(), "filter": {"template_id": [template_id()]}}),
    )
    .await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{sub}");
    let id = sub["id"].as_str().unwrap().to_owned();

    // A composition, two updates and its deletion, in one EHR; the EHR's own creation does not
    // match the template filter.
    let (ehr, v1, vo) = srv.ehr_with_composition().await;
    let mut uid = v1.clone();
    for _ in 0..2 {
        let res = srv
            .put(&format!("/ehr/{ehr}/composition/{vo}"))
            .header("If-Match", &format!("\"{uid}\""))
            .json(&composition_with(|_| {}))
            .send()
            .await;
        assert!(matches!(res.status, 200 | 204), "{}", res.text());
        uid = res.etag();
    }
    let res = srv
        .delete(&format!("/ehr/{ehr}/composition/{uid}"))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());

    let mut types = Vec::new();
    let mut last_id = 0i64;
    for version in 1..=4 {
        let r = rx.next(10).await;
        assert!(signed_with(&r, &secret), "{:?}", r.headers);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.body["ehr_id"], json!(ehr));
        let system = v1.split("::").nth(1).unwrap();
        assert_eq!(
            r.body["version_uid"],
            json!(format!("{vo}::{system}::{version}"))
        );
        assert_eq!(r.body["template_id"], json!(template_id()));
        let event_id: i64 = r.headers["webhook-id"].parse().unwrap();
        assert!(event_id > last_id, "events arrive in order");
        last_id = event_id;
        types.push(r.body["type"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        types,
        [
            "composition.created",
            "composition.updated",
            "composition.updated",
            "composition.deleted"
        ]
    );
    // One EHR's events went one after another over one kept-alive connection.
    assert_eq!(rx.connections.load(std::sync::atomic::Ordering::Relaxed), 1);

    let res = srv.get(&format!("/subscriptions/{id}")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let shown = res.json();
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown only once"
    );
    assert_eq!(shown["delivery"]["failed_attempts"], 0);
    let list = srv.get("/subscriptions").send().await.json();
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);

    let res = srv.delete(&format!("/subscriptions/{id}")).send().await;
    assert_eq!(res.status, 204, "{}", res.text());
    assert_eq!(
        srv.get(&format!("/subscriptions/{id}")).send().await.status,
        404
    );
    srv.composition(&ehr).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        rx.got.try_recv().is_err(),
        "nothing after the subscription is deleted"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_and_later_events_wait_for_it() {
    let srv = server_with_template().await;
    let mut rx = Receiver::start().await;
    rx.statuses.lock().unwrap().extend([500, 503]);
    let sub = subscribe(
        &srv,
        json!({"target_url": rx.url(), "secret": "a shared secret of the tests"}),
    )
    .await;
    let id = sub["id"].as_str().unwrap().to_owned();
    let ehr = srv.ehr().await;
    let first = srv.composition(&ehr).await;
    let second = srv.composition(&ehr).await;

    // The first attempt fails at once; while the retry waits, the subscription says why.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let shown = srv.get(&format!("/subscriptions/{id}")).send().await.json();
    assert!(
        shown["delivery"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("500")),
        "{shown}"
    );
    // Retried after 1 s and 2 s: the events still come in commit order, each once.
    let mut got = Vec::new();
    let mut types = Vec::new();
    while got.len() < 3 {
        let r = rx.next(15).await;
        // A plain secret is its own key.
        assert!(
            signed_with(&r, "a shared secret of the tests"),
            "{:?}",
            r.headers
        );
        got.push(
            r.body["version_uid"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        types.push(r.body["type"].as_str().unwrap_or_default().to_owned());
    }
    // The new EHR's EHR_STATUS first (no filter), then the compositions.
    assert_eq!(
        types,
        [
            "ehr_status.created",
            "composition.created",
            "composition.created"
        ]
    );
    assert_eq!(got[1], first);
    assert_eq!(got[2], second);
    // The success is recorded just after the receiver answered.
    let mut shown = Value::Null;
    for _ in 0..50 {
        shown = srv.get(&format!("/subscriptions/{id}")).send().await.json();
        if shown["delivery"]["failed_attempts"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shown["delivery"]["failed_attempts"], 0, "{shown}");
    assert!(shown["delivery"]["last_error"].is_null(), "{shown}");
    assert!(
        shown["delivery"]["last_delivered_at"].is_string(),
        "{shown}"
    );
}

#[tokio::test]
async fn subscription_requests_are_checked() {
    let srv = server_with_template().await;
    for (body, needle) in [
        (json!({}), "target_url"),
        (json!({"target_url": "http://example.org/hook"}), "loopback"),
        (json!({"target_url": "ftp://x/"}), "target_url"),
        (
            json!({"target_url": "https://example.org/hook", "secret": "short"}),
            "secret",
        ),
        (
            json!({"target_url": "https://example.org/hook", "colour": "red"}),
            "colour",
        ),
        (
            json!({"target_url": "https://example.org/hook", "filter": {"ehr_id": ["nope"]}}),
            "filter.ehr_id",
        ),
        (
            json!({"target_url": "https://example.org/hook", "filter": {"subject": [{"id": "1"}]}}),
            "filter.subject[0].namespace",
        ),
        (
            json!({"target_url": "https://example.org/hook", "filter": {"room": 3}}),
            "filter.room",
        ),
    ] {
        let res = srv.post("/subscriptions").json(&body).send().await;
        let problem = res.problem(400, "bad_request");
        assert!(problem.to_string().contains(needle), "{body}: {problem}");
    }
    let ok = subscribe(
        &srv,
        json!({"target_url": "https://example.org/hook", "filter": {"ehr_id": "7d44b88c-4199-4bad-97dc-d78268e01398", "subject": {"id": "9990001", "namespace": "nhs"}}}),
    )
    .await;
    assert_eq!(
        ok["filter"],
        json!({"ehr_id": ["7d44b88c-4199-4bad-97dc-d78268e01398"], "subject": [{"id": "9990001", "namespace": "nhs"}]})
    );
    assert_eq!(
        srv.get("/subscriptions/not-a-uuid").send().await.status,
        404
    );
    assert_eq!(
        srv.delete("/subscriptions/7d44b88c-4199-4bad-97dc-d78268e01398")
            .send()
            .await
            .status,
        404
    );
}

/// Reads Server-Sent Events messages from a raw response stream until `n` messages about
/// compositions came (a stream starts after the newest event published, so the creation of an
/// EHR made just before may come too); those messages.
async fn read_messages(
    (sock, text): &mut (tokio::net::TcpStream, String),
    n: usize,
) -> Vec<(String, String, Value)> {
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let messages: Vec<(String, String, Value)> = text
            .split("\n\n")
            .filter_map(|m| {
                let field = |name: &str| {
                    m.lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned))
                };
                Some((
                    field("id")?,
                    field("event")?,
                    serde_json::from_str(&field("data")?).ok()?,
                ))
            })
            .filter(|m| m.1.starts_with("composition."))
            .collect();
        if messages.len() >= n {
            return messages;
        }
        let n = tokio::time::timeout_at(deadline, sock.read(&mut chunk))
            .await
            .expect("events arrive in time")
            .unwrap();
        assert!(n > 0, "the stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
}

/// Opens the event stream and waits for its first line (the stream's start is fixed then).
async fn open_stream(
    srv: &Server,
    query: &str,
    last_event_id: Option<&str>,
) -> (tokio::net::TcpStream, String) {
    let mut sock = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /openehr/v1/events{query} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{resume}\r\n"
    );
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    let mut chunk = [0u8; 8192];
    while !text.contains("retry: 2000") {
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk))
            .await
            .expect("the stream starts")
            .unwrap();
        assert!(n > 0, "the stream ended: {text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    (sock, text)
}

#[tokio::test]
async fn the_event_stream_sends_matching_events_and_resumes_after_the_last_one() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let other = srv.ehr().await;
    let mut sock = open_stream(&srv, &format!("?ehr_id={ehr}"), None).await;
    let a = srv.composition(&ehr).await;
    srv.composition(&other).await;
    let b = srv.composition(&ehr).await;
    let got = read_messages(&mut sock, 2).await;
    assert_eq!(got[0].1, "composition.created");
    assert_eq!(got[0].2["version_uid"], json!(a));
    assert_eq!(got[1].2["version_uid"], json!(b));
    assert!(got.iter().all(|m| m.2["ehr_id"] == json!(ehr)));

    // Resuming after the first gives the second again, and the stream then goes on.
    let mut again = open_stream(&srv, &format!("?ehr_id={ehr}"), Some(&got[0].0)).await;
    let c = srv.composition(&ehr).await;
    let resumed = read_messages(&mut again, 2).await;
    assert_eq!(resumed[0].2["version_uid"], json!(b));
    assert_eq!(resumed[1].2["version_uid"], json!(c));

    let res = srv
        .get("/events")
        .header("Accept", "application/json")
        .send()
        .await;
    res.problem(406, "not_acceptable");
    let res = srv.get("/events?subject_id=1").send().await;
    res.problem(400, "invalid_parameter");
    let res = srv.get("/events").header("Last-Event-ID", "x").send().await;
    res.problem(400, "invalid_parameter");
}

/// `cdr serve` on `db`, listening on a free port; its address and process.
fn serve(db: &str) -> (SocketAddr, std::process::Child) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--no-default-models"])
        .env("DATABASE_URL", db)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("cdr serve starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|u| u.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    (addr, child)
}

#[tokio::test]
async fn an_event_committed_before_the_server_is_killed_arrives_once_it_is_back() {
    let db = crate::serve::database_url().await;
    // The receiver's port, not listening yet: the first delivery fails.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/hook", port.local_addr().unwrap());
    let reserved = port.local_addr().unwrap();
    drop(port);

    let (addr, mut child) = serve(&db);
    let res = request_to(addr, "POST", "/openehr/v1/definition/template/adl1.4")
        .body("application/xml", OPT)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = request_to(addr, "POST", "/openehr/v1/subscriptions")
        .json(&json!({"target_url": target, "filter": {"template_id": template_id()}}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let secret = res.json()["secret"].as_str().unwrap().to_owned();
    let res = request_to(addr, "POST", "/openehr/v1/ehr").send().await;
    let ehr = res.etag();
    let mut committed = Vec::new();
    for _ in 0..3 {
        let res = request_to(addr, "POST", &format!("/openehr/v1/ehr/{ehr}/composition"))
            .json(&serde_json::from_str(crate::common::COMPOSITION).unwrap())
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text());
        committed.push(res.etag());
    }
    // Killed at once: no chance to deliver (the receiver is not there anyway).
    child.kill().unwrap();
    child.wait().unwrap();

    let mut rx = Receiver::on(TcpListener::bind(reserved).await.unwrap());
    let (_, mut child) = serve(&db);
    let mut got = Vec::new();
    while got.len() < 3 {
        let r = rx.next(20).await;
        assert!(signed_with(&r, &secret));
        got.push(r.body["version_uid"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, committed, "every committed change, in commit order");
    child.kill().unwrap();
    child.wait().unwrap();
}
