//! `cdr bench soak`: `cdr serve` (this binary, on a temporary data directory of its own) under
//! mixed load over HTTP for a set time: commits, reads by version uid, AQL queries and CSV
//! exports, with a webhook subscriber attached. Each minute it prints what was done, the errors,
//! and the server's resident memory; at the end, whether every commit's event arrived.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bench::{testdata, DEFAULT_COMPOSITION, DEFAULT_TEMPLATE};
use super::bench_auth::Conn;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(clap::Args, Debug)]
pub(crate) struct SoakArgs {
    /// How long the load runs, in minutes
    #[arg(long, value_name = "M", default_value_t = 30, value_parser = super::bench::positive)]
    minutes: usize,
    /// How many clients send requests at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = super::bench::positive)]
    clients: usize,
}

/// Runs `cdr bench soak`.
pub fn run(args: SoakArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let rt = match super::runtime("bench soak", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(soak(&args, out)) {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(e) => {
            let _ = writeln!(err, "cdr bench soak: {e}");
            1
        }
    }
}

/// The kinds of operation, in the order of the counters.
const KINDS: [&str; 4] = ["commit", "read", "aql", "export"];

#[derive(Default)]
struct Tally {
    done: [AtomicU64; 4],
    errors: AtomicU64,
    /// The first errors, for the report.
    first_errors: Mutex<Vec<String>>,
    /// Every committed version uid (the events that must arrive).
    committed: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_errors.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < 10 {
            first.push(what);
        }
    }
}

/// The resident memory of process `pid`, MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

const BASE: &str = "/openehr/v1";

fn head(method: &str, path: &str, extra: &str, length: usize) -> String {
    format!(
        "{method} {BASE}{path} HTTP/1.1\r\nHost: soak\r\n{extra}Content-Length: {length}\r\n\r\n"
    )
}

/// One client's loop until `until`: four commits, two reads, two queries, one export and one
/// more commit in every ten operations.
async fn client(
    addr: SocketAddr,
    n: usize,
    ehrs: Arc<Vec<String>>,
    body: Arc<Vec<u8>>,
    tally: Arc<Tally>,
    until: Instant,
) -> Result<(), BoxError> {
    let mut conn = Conn::open(addr).await?;
    let mut mine: Vec<(String, String)> = Vec::new();
    let mut i = n;
    while Instant::now() < until {
        i += 1;
        let ehr = &ehrs[i % ehrs.len()];
        let kind = match i % 10 {
            0..=3 | 9 => 0,
            4 | 5 => 1,
            6 | 7 => 2,
            _ => 3,
        };
        let outcome: Result<(), String> = match kind {
            0 => {
                let h = head(
                    "POST",
                    &format!("/ehr/{ehr}/composition"),
                    "Content-Type: application/json\r\nPrefer: return=minimal\r\n",
                    body.len(),
                );
                match conn.exchange(&h, &body).await {
                    Ok((201, head, _)) => {
                        let uid = head
                            .lines()
                            .find_map(|l| l.strip_prefix("etag:"))
                            .map(|v| v.trim().trim_matches('"').to_owned())
                            .unwrap_or_default();
                        tally
                            .committed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(uid.clone());
                        mine.push((ehr.clone(), uid));
                        if mine.len() > 1000 {
                            mine.remove(0);
                        }
                        Ok(())
                    }
                    Ok((status, _, b)) => {
                        Err(format!("commit: {status} {}", String::from_utf8_lossy(&b)))
                    }
                    Err(e) => Err(format!("commit: {e}")),
                }
            }
            1 => match mine.get(i % mine.len().max(1)) {
                None => Ok(()),
                Some((e, uid)) => {
                    let h = head("GET", &format!("/ehr/{e}/composition/{uid}"), "", 0);
                    match conn.call(&h, b"").await {
                        Ok((200, _)) => Ok(()),
                        Ok((status, _)) => Err(format!("read {uid}: {status}")),
                        Err(e) => Err(format!("read: {e}")),
                    }
                }
            },
            2 => {
                let q = serde_json::json!({
                    "q": "SELECT c/uid/value AS uid, c/context/start_time/value AS start \
                          FROM EHR e[ehr_id/value=$ehr_id] CONTAINS COMPOSITION c \
                          ORDER BY c/context/start_time/value DESC LIMIT 20",
                    "query_parameters": {"ehr_id": ehr},
                })
                .to_string();
                let h = head(
                    "POST",
                    "/query/aql",
                    "Content-Type: application/json\r\n",
                    q.len(),
                );
                match conn.call(&h, q.as_bytes()).await {
                    Ok((200, _)) => Ok(()),
                    Ok((status, b)) => {
                        Err(format!("aql: {status} {}", String::from_utf8_lossy(&b)))
                    }
                    Err(e) => Err(format!("aql: {e}")),
                }
            }
            _ => {
                let q = format!(
                    "SELECT c/uid/value AS uid FROM EHR e[ehr_id/value='{ehr}'] CONTAINS COMPOSITION c"
                );
                super::bench_export::export(addr, &q, "text/csv")
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("export: {e}"))
            }
        };
        match outcome {
            Ok(()) => {
                tally.done[kind].fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tally.error(e);
                // The connection may be unusable after an error.
                conn = Conn::open(addr).await?;
            }
        }
    }
    Ok(())
}

/// Starts `cdr serve` on `dir`; its address and process.
fn serve(dir: &std::path::Path) -> Result<(SocketAddr, std::process::Child), BoxError> {
    let log = std::fs::File::create(dir.join("serve.log"))?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-default-models"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--log-level", "warn"])
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().ok_or("no output")?).read_line(&mut line)?;
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .and_then(|u| u.split('/').next())
        .ok_or_else(|| format!("cdr serve did not start: {line:?}"))?
        .parse()?;
    Ok((addr, child))
}

async fn soak(args: &SoakArgs, out: &mut dyn Write) -> Result<bool, BoxError> {
    let opt = std::fs::read(testdata(DEFAULT_TEMPLATE))?;
    let body = Arc::new(std::fs::read(testdata(DEFAULT_COMPOSITION))?);
    let dir = std::env::temp_dir().join(format!("cdr-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (addr, mut child) = serve(&dir)?;
    let pid = child.id();
    let result = run_load(args, addr, pid, &opt, body, out).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    if result.as_ref().is_ok_and(|ok| *ok) {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        let _ = writeln!(
            out,
            "the server's data and log are kept in {}",
            dir.display()
        );
    }
    result
}

async fn run_load(
    args: &SoakArgs,
    addr: SocketAddr,
    pid: u32,
    opt: &[u8],
    body: Arc<Vec<u8>>,
    out: &mut dyn Write,
) -> Result<bool, BoxError> {
    let mut conn = Conn::open(addr).await?;
    let h = head(
        "POST",
        "/definition/template/adl1.4",
        "Content-Type: application/xml\r\n",
        opt.len(),
    );
    let (status, b) = conn.call(&h, opt).await?;
    if status != 201 {
        return Err(format!("template upload: {status} {}", String::from_utf8_lossy(&b)).into());
    }
    let (url, arrivals) = super::bench_notify::receiver()
        .await
        .map_err(|e| e.to_string())?;
    let sub = serde_json::json!({ "target_url": url }).to_string();
    let h = head(
        "POST",
        "/subscriptions",
        "Content-Type: application/json\r\n",
        sub.len(),
    );
    let (status, b) = conn.call(&h, sub.as_bytes()).await?;
    if status != 201 {
        return Err(format!("subscription: {status} {}", String::from_utf8_lossy(&b)).into());
    }
    let mut ehrs = Vec::new();
    for _ in 0..64 {
        let h = head("POST", "/ehr", "Prefer: return=minimal\r\n", 0);
        let (status, head, _) = conn.exchange(&h, b"").await?;
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("etag:"))
            .map(|v| v.trim().trim_matches('"').to_owned());
        match (status, id) {
            (201, Some(id)) => ehrs.push(id),
            _ => return Err(format!("creating an EHR answered {status}").into()),
        }
    }
    let ehrs = Arc::new(ehrs);
    let rss_start = rss_mib(pid).unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "cdr bench soak: {} minutes, {} clients, cdr serve at {addr} (pid {pid}), RSS {rss_start:.1} MiB",
        args.minutes, args.clients
    );
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let until = started + Duration::from_secs(args.minutes as u64 * 60);
    let running = Arc::new(AtomicUsize::new(args.clients));
    let mut tasks = Vec::new();
    for n in 0..args.clients {
        let (ehrs, body, tally, running) =
            (ehrs.clone(), body.clone(), tally.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let r = client(addr, n, ehrs, body, tally.clone(), until).await;
            running.fetch_sub(1, Ordering::Relaxed);
            if let Err(e) = r {
                tally.error(format!("a client stopped: {e}"));
            }
        }));
    }
    let mut samples = vec![rss_start];
    let mut minute = 0;
    while running.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() >= Duration::from_secs((minute + 1) * 60) {
            minute += 1;
            let rss = rss_mib(pid).unwrap_or(f64::NAN);
            samples.push(rss);
            let done: Vec<String> = KINDS
                .iter()
                .zip(&tally.done)
                .map(|(k, n)| format!("{k} {}", n.load(Ordering::Relaxed)))
                .collect();
            let _ = writeln!(
                out,
                "minute {minute}: {}, errors {}, RSS {rss:.1} MiB",
                done.join(", "),
                tally.errors.load(Ordering::Relaxed)
            );
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    let rss_end = rss_mib(pid).unwrap_or(f64::NAN);
    // Every commit's event must arrive.
    let committed = std::mem::take(&mut *tally.committed.lock().unwrap_or_else(|e| e.into_inner()));
    let deadline = Instant::now() + Duration::from_secs(300);
    let arrived = loop {
        let n = {
            let got = arrivals.lock().unwrap_or_else(|e| e.into_inner());
            committed.iter().filter(|u| got.contains_key(*u)).count()
        };
        if n == committed.len() || Instant::now() > deadline {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let errors = tally.errors.load(Ordering::Relaxed);
    for e in tally
        .first_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(out, "error: {e}");
    }
    let ops: serde_json::Map<String, serde_json::Value> = KINDS
        .iter()
        .zip(&tally.done)
        .map(|(k, n)| (k.to_string(), n.load(Ordering::Relaxed).into()))
        .collect();
    let rss_max = samples.iter().copied().fold(rss_end, f64::max);
    let result = serde_json::json!({
        "minutes": args.minutes,
        "clients": args.clients,
        "ops": ops,
        "errors": errors,
        "events_expected": committed.len(),
        "events_arrived": arrived,
        "rss_mib_start": super::bench::round(rss_start, 1),
        "rss_mib_after_1_min": samples.get(1).map(|r| super::bench::round(*r, 1)),
        "rss_mib_end": super::bench::round(rss_end, 1),
        "rss_mib_max": super::bench::round(rss_max, 1),
    });
    let _ = writeln!(out, "{result}");
    Ok(errors == 0 && arrived == committed.len())
}
