//! The processes a browser test drives: `chromedriver` (one per test process, shared by the
//! tests running at the same time) and `cdr serve` on a fresh database (likewise shared), each
//! stopped by a guard when the last test using it ends, also when that test fails; and a
//! WebDriver session of headless Chromium per test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tokio_postgres::config::Host;

use crate::common::{request_to, Req, Resp};

/// How long a page may take to reach a state the test waits for.
pub const WAIT: Duration = Duration::from_secs(20);

/// A child process stopped with SIGTERM (then killed if it lingers) when dropped.
#[derive(Debug)]
struct Stopping(Child);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `chromedriver` listening on a free local port.
#[derive(Debug)]
pub struct Driver {
    pub url: String,
    _process: Stopping,
}

impl Drop for Driver {
    /// Asks chromedriver to quit, which also ends the browsers of sessions still open (a test
    /// that failed half-way); SIGTERM alone would leave them running.
    fn drop(&mut self) {
        let addr = self.url.trim_start_matches("http://");
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                s,
                "GET /shutdown HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            );
            let _ = s.read_to_end(&mut Vec::new());
        }
    }
}

/// `cdr serve` over a fresh test database, with the care-plan templates it installs on a
/// store's first start.
#[derive(Debug)]
pub struct Cdr {
    pub addr: SocketAddr,
    _process: Stopping,
}

/// An executable on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The Chromium binary: `/usr/bin/chromium` when present, else `chromium` on `PATH`.
fn chromium() -> Option<PathBuf> {
    let debian = Path::new("/usr/bin/chromium");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    on_path("chromium")
}

/// A port no one listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Shares one value between the tests running at the same time: the live one, or a new one.
async fn shared<T, F, Fut>(slot: &Mutex<Weak<T>>, start: F) -> Arc<T>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut slot = slot.lock().await;
    if let Some(live) = slot.upgrade() {
        return live;
    }
    let new = Arc::new(start().await);
    *slot = Arc::downgrade(&new);
    new
}

static DRIVER: Mutex<Weak<Driver>> = Mutex::const_new(Weak::new());
static CDR: Mutex<Weak<Cdr>> = Mutex::const_new(Weak::new());

/// What a browser test needs: the driver, the server and a browser session.
#[derive(Debug)]
pub struct Env {
    pub driver: Arc<Driver>,
    pub cdr: Arc<Cdr>,
}

/// The driver and the server, or `None` (said plainly on stderr) when chromedriver or
/// Chromium is not installed.
pub async fn env(test: &str) -> Option<Env> {
    let Some(chromedriver) = on_path("chromedriver") else {
        eprintln!("browser absent: no chromedriver on PATH; {test} skipped");
        return None;
    };
    if chromium().is_none() {
        eprintln!("browser absent: no /usr/bin/chromium nor chromium on PATH; {test} skipped");
        return None;
    }
    let driver = shared(&DRIVER, || async { start_driver(&chromedriver) }).await;
    let cdr = shared(&CDR, start_cdr).await;
    Some(Env { driver, cdr })
}

fn start_driver(chromedriver: &Path) -> Driver {
    let port = free_port();
    let process = Stopping(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver does not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver {
        url: format!("http://127.0.0.1:{port}"),
        _process: process,
    }
}

/// `DATABASE_URL` (key-value form) of a fresh test database.
async fn database_url() -> String {
    let pg = cdr_testkit::fresh_database().await;
    let host = match &pg.get_hosts()[0] {
        Host::Unix(path) => path.display().to_string(),
        Host::Tcp(name) => name.clone(),
    };
    format!(
        "host={host} port={} user={} dbname={}",
        pg.get_ports()[0],
        pg.get_user().unwrap_or("cdr"),
        pg.get_dbname().unwrap_or("cdr")
    )
}

async fn start_cdr() -> Cdr {
    start_cdr_with(&[]).await
}

/// `cdr serve` over a fresh test database with `extra` options.
pub async fn start_cdr_with(extra: &[&str]) -> Cdr {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("DATABASE_URL", database_url().await)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cdr serve starts");
    let stdout = child.stdout.take().unwrap();
    let process = Stopping(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    // "cdr: serving the openEHR REST API on http://127.0.0.1:PORT/openehr/v1 (…)"
    let url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr = url
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    Cdr {
        addr,
        _process: process,
    }
}

/// The API's base path (cdr serve's default).
pub const BASE: &str = "/openehr/v1";

impl Cdr {
    /// A request to `path` below the API's base path.
    pub fn api(&self, method: &str, path: &str) -> Req {
        request_to(self.addr, method, &format!("{BASE}{path}"))
    }

    /// The page at `path` (from `/ui/…`) as a URL for the browser.
    pub fn page(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Creates an EHR; returns its id.
    pub async fn ehr(&self) -> String {
        let res = self.api("POST", "/ehr").send().await;
        assert_eq!(res.status, 201, "{}", res.text());
        res.etag()
    }

    /// Uploads an OPT (one already there is fine: tests share the server).
    pub async fn upload(&self, opt: &[u8]) {
        let res = self
            .api("POST", "/definition/template/adl1.4")
            .body("application/xml", opt)
            .send()
            .await;
        assert!(
            res.status == 201 || res.status == 409,
            "upload: {}",
            res.text()
        );
    }

    /// The web template of `template`.
    pub async fn web_template(&self, template: &str) -> Value {
        let res = self
            .api(
                "GET",
                &format!("/definition/template/adl1.4/{}", encode(template)),
            )
            .header("Accept", "application/openehr.wt+json")
            .send()
            .await;
        assert_eq!(
            res.status,
            200,
            "web template of {template}: {}",
            res.text()
        );
        res.json()
    }

    /// The example composition of `template` as FLAT.
    pub async fn example_flat(&self, template: &str) -> Value {
        let res = self
            .api(
                "GET",
                &format!(
                    "/definition/template/adl1.4/{}/example?format=FLAT",
                    encode(template)
                ),
            )
            .send()
            .await;
        assert_eq!(res.status, 200, "example of {template}: {}", res.text());
        res.json()
    }

    /// A stored composition (any version uid or versioned object id) as FLAT.
    pub async fn flat(&self, ehr: &str, id: &str) -> Resp {
        self.api("GET", &format!("/ehr/{ehr}/composition/{id}"))
            .header("Accept", "application/openehr.wt.flat+json")
            .send()
            .await
    }

    /// The ids of the compositions `ehr` holds.
    pub async fn compositions(&self, ehr: &str) -> Vec<String> {
        let q = json!({
            "q": format!(
                "SELECT c/uid/value FROM EHR e[ehr_id/value='{ehr}'] CONTAINS COMPOSITION c"
            )
        });
        let res = self.api("POST", "/query/aql").json(&q).send().await;
        assert_eq!(res.status, 200, "{}", res.text());
        res.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Percent-encodes everything but unreserved characters (for a path segment or query value).
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A headless Chromium session.
pub async fn browser(driver: &Driver) -> Client {
    let mut options = json!({
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1800",
        ]
    });
    if let Some(binary) = chromium() {
        options["binary"] = json!(binary.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("a Chromium session from {}: {e}", driver.url))
}

/// Runs `script` (a function body) until it returns something other than `null`/`false`/
/// `undefined`; returns that, or says what it waited for after `WAIT`.
pub async fn wait_for(
    client: &Client,
    what: &str,
    script: &str,
    args: Vec<Value>,
) -> Result<Value, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = client
            .execute(script, args.clone())
            .await
            .map_err(|e| format!("waiting for {what}: {e}"))?;
        if !(v.is_null() || v == Value::Bool(false)) {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {WAIT:?} waiting for {what}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens the form page with `query` and waits until `<cdr-form>` says it rendered; returns
/// the render time it reports (ms).
pub async fn open_form(client: &Client, cdr: &Cdr, query: &str) -> Result<f64, String> {
    client
        .goto(&cdr.page(&format!("/ui/form.html?{query}")))
        .await
        .map_err(|e| format!("opening the form page: {e}"))?;
    let ms = wait_for(
        client,
        &format!("data-render-ms on cdr-form ({query})"),
        "const f = document.querySelector('cdr-form'); \
         return f && f.getAttribute('data-render-ms');",
        vec![],
    )
    .await?;
    let ms = ms.as_str().unwrap_or_default();
    ms.parse()
        .map_err(|_| format!("data-render-ms is not a number: {ms:?}"))
}

/// The query of the form page for a new composition of `template` in `ehr`.
pub fn form_query(template: &str, ehr: &str) -> String {
    format!("template={}&ehr={}", encode(template), encode(ehr))
}

/// Where the screenshots go: `target/browser/` (of `CARGO_TARGET_DIR` when set).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).expect("creating target/browser");
    dir
}

/// Saves a PNG of the rendered form (the whole element) as `target/browser/<name>.png`.
pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // The whole form: the window as tall as the page (within what Chromium captures), then
    // back to the size the tests run at.
    let height = client
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .ok()
        .and_then(|h| h.as_u64())
        .unwrap_or(1800);
    let tall = u32::try_from(height.clamp(1800, 16000)).unwrap_or(1800);
    let _ = client.set_window_size(1280, tall + 200).await;
    let png = match client.find(Locator::Css("cdr-form")).await {
        Ok(form) => form.screenshot().await,
        Err(e) => Err(e),
    };
    let _ = client.set_window_size(1280, 1800).await;
    let png = match png {
        Ok(png) => png,
        Err(_) => client.screenshot().await.expect("a screenshot"),
    };
    let path = screenshot_dir().join(format!("{file}.png"));
    std::fs::write(&path, png).expect("writing the screenshot");
    path
}

/// A CSS attribute selector value, quoted.
pub fn css_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What clicking the form's submit button led to.
#[derive(Debug)]
pub enum Submitted {
    /// Saved: the new version uid (`data-version-uid`).
    Saved(String),
    /// Not saved: the issues shown, as `(data-issue-for, text)`.
    Refused(Vec<(String, String)>),
    /// The save answered 412: `[data-conflict]` is shown.
    Conflict,
    /// Anything else: what was seen.
    Failed(String),
}

/// Clicks `button[data-action=submit]` and waits for what follows.
pub async fn submit(client: &Client) -> Submitted {
    const WATCH: &str = "const f = document.querySelector('cdr-form'); \
        window.cdrTest = {}; \
        for (const t of ['submit', 'invalid', 'error', 'conflict']) \
          f.addEventListener(t, e => { window.cdrTest[t] = e.detail === undefined ? null : e.detail; }); \
        return f.getAttribute('data-version-uid');";
    const STATE: &str = "const f = document.querySelector('cdr-form'); \
        const c = f.querySelector('[data-conflict]'); \
        const b = f.querySelector('button[data-action=submit]'); \
        return { uid: f.getAttribute('data-version-uid'), seen: Object.keys(window.cdrTest || {}), \
          error: window.cdrTest && window.cdrTest.error ? JSON.stringify(window.cdrTest.error) : null, \
          disabled: !!(b && b.disabled), \
          conflict: !!(c && c.getClientRects().length > 0), \
          issues: [...f.querySelectorAll('.cdr-issue')].filter(e => e.textContent.trim()) \
            .map(e => [e.getAttribute('data-issue-for') || '', e.textContent.trim()]) };";
    let before = match client.execute(WATCH, vec![]).await {
        Ok(v) => v.as_str().map(str::to_owned),
        Err(e) => return Submitted::Failed(format!("no cdr-form to submit: {e}")),
    };
    let button = match client
        .find(Locator::Css("cdr-form button[data-action=submit]"))
        .await
    {
        Ok(b) => b,
        Err(e) => return Submitted::Failed(format!("no button[data-action=submit]: {e}")),
    };
    if let Err(e) = button.click().await {
        return Submitted::Failed(format!("clicking submit: {e}"));
    }
    let clicked = Instant::now();
    let mut last = Value::Null;
    while clicked.elapsed() < WAIT {
        let state = match client.execute(STATE, vec![]).await {
            Ok(v) => v,
            Err(e) => return Submitted::Failed(format!("reading the form: {e}")),
        };
        if let Some(uid) = state["uid"]
            .as_str()
            .filter(|u| Some(*u) != before.as_deref())
        {
            return Submitted::Saved(uid.to_owned());
        }
        if state["conflict"] == true {
            return Submitted::Conflict;
        }
        if let Some(error) = state["error"].as_str() {
            return Submitted::Failed(format!("error event: {error}"));
        }
        let issues: Vec<(String, String)> =
            serde_json::from_value(state["issues"].clone()).unwrap_or_default();
        let refused = state["disabled"] == true
            || state["seen"]
                .as_array()
                .is_some_and(|s| s.contains(&json!("invalid")));
        if refused && !issues.is_empty() && clicked.elapsed() > Duration::from_secs(3) {
            return Submitted::Refused(issues);
        }
        last = state;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Submitted::Failed(format!("nothing after {WAIT:?}; the form's state: {last}"))
}
