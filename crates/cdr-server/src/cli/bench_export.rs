//! `cdr bench export`: a whole query result exported over HTTP as CSV and as NDJSON from the
//! store under a data directory (e.g. the 1M compositions of `cdr bench load`), with the
//! server in this process: rows per second, and this process's resident memory before and at
//! its peak during each export (sampled every 20 ms), which stays flat when the rows stream.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use cdr_server::http::{self, ServeOptions};
use cdr_store::{Store, StoreConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Every current composition with its EHR. (Columns read from inside the stored documents,
/// such as `c/context/start_time/value`, cost a document read per row: about 9,000 rows/s.)
const DEFAULT_QUERY: &str =
    "SELECT e/ehr_id/value AS ehr_id, c/uid/value AS uid FROM EHR e CONTAINS COMPOSITION c";

struct Args {
    data_dir: PathBuf,
    query: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct ExportArgs {
    /// The data directory of the benchmark's store
    #[arg(long, value_name = "DIR", default_value = "./bench-data")]
    data_dir: PathBuf,
    /// The query exported [default: every composition's uid with its EHR id]
    #[arg(long, value_name = "AQL")]
    query: Option<String>,
}

pub fn run(a: ExportArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = Args {
        data_dir: a.data_dir,
        query: a.query.unwrap_or_else(|| DEFAULT_QUERY.to_owned()),
    };
    let rt = match super::runtime("bench", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let config = StoreConfig {
            data_dir: args.data_dir.clone(),
            system_id: "bench.cdr".into(),
            ..StoreConfig::from_env()
        };
        let store = Store::open(&config).await?;
        let r = exports(&store, &args, out).await;
        let _ = store.shutdown().await;
        r
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench export: {e}");
            1
        }
    }
}

/// This process's resident set size in KiB (`VmRSS`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn exports(store: &Store, args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let running = http::start(
        store.clone(),
        &ServeOptions {
            bind: "127.0.0.1:0".into(),
            ..ServeOptions::default()
        },
    )?;
    let addr = running.addr;
    let handle = running.handle.clone();
    tokio::spawn(running.server);
    let mut figures = serde_json::Map::new();
    for (name, accept) in [("csv", "text/csv"), ("ndjson", "application/x-ndjson")] {
        let before = rss_kib();
        let peak = Arc::new(AtomicU64::new(before));
        let sampling = {
            let peak = peak.clone();
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let started = Instant::now();
        let (bytes, lines) = export(addr, &args.query, accept).await?;
        let secs = started.elapsed().as_secs_f64();
        sampling.abort();
        let peak = peak.load(Ordering::Relaxed).max(rss_kib());
        // CSV has a header row.
        let rows = if name == "csv" { lines - 1 } else { lines };
        let rate = rows as f64 / secs;
        let _ = writeln!(
            out,
            "{name}: {rows} rows, {:.1} MB in {secs:.2} s: {rate:.0} rows/s; RSS {} MiB before, \
             {} MiB at peak",
            bytes as f64 / 1e6,
            before / 1024,
            peak / 1024
        );
        figures.insert(
            name.into(),
            serde_json::json!({"rows": rows, "bytes": bytes, "seconds": secs, "rows_per_s": rate.round(),
                "rss_before_kib": before, "rss_peak_kib": peak}),
        );
    }
    handle.stop(true).await;
    let _ = writeln!(out, "{}", serde_json::Value::Object(figures));
    Ok(())
}

/// POSTs the query with `Accept: accept` and reads the chunked answer to its end, keeping
/// nothing: the bytes of the body and its line count.
pub(super) async fn export(
    addr: SocketAddr,
    query: &str,
    accept: &str,
) -> Result<(u64, u64), BoxError> {
    let body = serde_json::json!({ "q": query }).to_string();
    let mut stream = TcpStream::connect(addr).await?;
    let head = format!(
        "POST /openehr/v1/query/aql HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut reader = Chunked {
        stream,
        buf: Vec::with_capacity(1 << 16),
        at: 0,
    };
    let status_line = reader.line().await?;
    if !status_line.starts_with("HTTP/1.1 200") {
        return Err(format!("the export answered {status_line}").into());
    }
    while !reader.line().await?.is_empty() {}
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let size = usize::from_str_radix(reader.line().await?.trim(), 16)?;
        if size == 0 {
            break;
        }
        let (b, l) = reader.skip(size).await?;
        bytes += b;
        lines += l;
        reader.line().await?;
    }
    Ok((bytes, lines))
}

/// A buffered reader of a chunked HTTP/1.1 answer.
struct Chunked {
    stream: TcpStream,
    buf: Vec<u8>,
    at: usize,
}

impl Chunked {
    async fn fill(&mut self) -> Result<(), BoxError> {
        if self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        }
        let mut tmp = [0u8; 65536];
        let n = self.stream.read(&mut tmp).await?;
        if n == 0 {
            return Err("the server closed the connection early".into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// The next line, without its CRLF.
    async fn line(&mut self) -> Result<String, BoxError> {
        loop {
            if let Some(i) = self.buf[self.at..].windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[self.at..self.at + i]).into_owned();
                self.at += i + 2;
                return Ok(line);
            }
            self.fill().await?;
        }
    }

    /// Skips `n` bytes; how many and the newlines among them.
    async fn skip(&mut self, mut n: usize) -> Result<(u64, u64), BoxError> {
        let (total, mut lines) = (n as u64, 0u64);
        while n > 0 {
            if self.at == self.buf.len() {
                self.fill().await?;
            }
            let take = n.min(self.buf.len() - self.at);
            lines += memchr_count(&self.buf[self.at..self.at + take]);
            self.at += take;
            n -= take;
        }
        Ok((total, lines))
    }
}

fn memchr_count(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}
