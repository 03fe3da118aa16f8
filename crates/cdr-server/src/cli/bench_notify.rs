//! `cdr bench notify`: commit throughput with a webhook subscriber attached against without,
//! in alternating rounds on one temporary store with the change-event dispatcher running, and
//! the delay from a commit's return to its webhook's arrival at a receiver in this process.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use cdr_server::http::{observe::Metrics, webhook};
use cdr_store::{CommitMeta, EventFilter, NewSubscription, Principal, Store};

use super::bench::{
    percentile, round, temp_store, testdata, without_uid, DEFAULT_COMPOSITION as COMPOSITION,
    DEFAULT_TEMPLATE as TEMPLATE,
};

type BoxError = Box<dyn std::error::Error>;

#[derive(clap::Args, Debug)]
pub(crate) struct NotifyArgs {
    /// How many clients commit at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = super::bench::positive)]
    clients: usize,
    /// How many compositions each round commits
    #[arg(long, value_name = "M", default_value_t = 2000, value_parser = super::bench::positive)]
    count: usize,
    /// How many rounds of each kind
    #[arg(long, value_name = "R", default_value_t = 3, value_parser = super::bench::positive)]
    rounds: usize,
}

/// Runs `cdr bench notify`.
pub fn run(args: NotifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    // Failed deliveries are logged (standard error) at RUST_LOG's level, warnings by default.
    let _ = cdr_server::http::observe::init_logging(
        cdr_server::http::observe::LogFormat::Text,
        Some("warn"),
    );
    let rt = match super::runtime("bench notify", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(bench(&args, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench notify: {e}");
            1
        }
    }
}

/// When each version uid's webhook arrived.
pub(super) type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A webhook receiver on loopback that notes when each event's version arrived.
pub(super) async fn receiver() -> Result<(String, Arrivals), BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let arrivals: Arrivals = Arc::default();
    let noted = arrivals.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let noted = noted.clone();
            tokio::spawn(async move {
                // Requests one after another on the connection (keep-alive).
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let body = loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length: usize = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse().ok())
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                let body = buf[end + 4..end + 4 + length].to_vec();
                                buf.drain(..end + 4 + length);
                                break body;
                            }
                        }
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    };
                    let at = Instant::now();
                    if sock
                        .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let event: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    if let Some(uid) = event["version_uid"].as_str() {
                        noted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(uid.to_owned(), at);
                    }
                }
            });
        }
    });
    Ok((url, arrivals))
}

/// Commits `count` compositions with `clients` clients; the rate, and when each returned.
async fn commits(
    store: &Store,
    ehrs: &Arc<Vec<uuid::Uuid>>,
    json: &Arc<Vec<u8>>,
    args: &NotifyArgs,
) -> Result<(f64, Vec<(String, Instant)>), BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (store, json, ehrs, next, count) = (
            store.clone(),
            json.clone(),
            ehrs.clone(),
            next.clone(),
            args.count,
        );
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let c: cdr_rm::Composition = cdr_rm::from_json(&json).map_err(|e| e.to_string())?;
                let v = store
                    .create_composition(
                        &Principal::local(),
                        ehrs[i % ehrs.len()],
                        without_uid(c),
                        CommitMeta::default(),
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                done.push((v.uid.to_string(), Instant::now()));
            }
            Ok::<_, String>(done)
        }));
    }
    let mut all = Vec::with_capacity(args.count);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((args.count as f64 / started.elapsed().as_secs_f64(), all))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn bench(args: &NotifyArgs, out: &mut dyn Write) -> Result<(), BoxError> {
    let opt = std::fs::read_to_string(testdata(TEMPLATE))?;
    let json = Arc::new(std::fs::read(testdata(COMPOSITION))?);
    let temp = temp_store("cdr-bench-notify", args.clients + 4).await?;
    let store = temp.store.clone();
    let caller = Principal::local();
    store.put_template(&caller, &opt).await?;
    let mut ehrs = Vec::new();
    for _ in 0..64 {
        ehrs.push(
            store
                .create_ehr(&caller, None, None, CommitMeta::default())
                .await?
                .ehr_id,
        );
    }
    let ehrs = Arc::new(ehrs);
    let hub = webhook::start(
        store.clone(),
        Arc::new(Metrics::new(Duration::from_secs(1))),
    );
    let (url, arrivals) = receiver().await?;
    let _ = writeln!(
        out,
        "cdr bench notify: {} clients, {} commits per round, {} rounds of each",
        args.clients, args.count, args.rounds
    );
    // Warm-up: a round of each, not counted.
    commits(&store, &ehrs, &json, args).await?;

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut delays = Vec::new();
    for round in 0..args.rounds {
        for attached in [round % 2 == 1, round % 2 == 0] {
            // Let the dispatcher publish what earlier rounds committed.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if !attached {
                let (rate, _) = commits(&store, &ehrs, &json, args).await?;
                let _ = writeln!(
                    out,
                    "round {}: without a subscriber {rate:.0} commits/s",
                    round + 1
                );
                without.push(rate);
                continue;
            }
            let sub = store
                .create_subscription(
                    &caller,
                    NewSubscription {
                        target_url: url.clone(),
                        secret: "the benchmark's secret".into(),
                        filter: EventFilter::default(),
                    },
                )
                .await?;
            hub.subscriptions_changed.notify_one();
            let (rate, done) = commits(&store, &ehrs, &json, args).await?;
            // Every event of the round must arrive.
            let round_p50;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let arrived: Option<Vec<Duration>> = {
                    let got = arrivals.lock().unwrap_or_else(|e| e.into_inner());
                    done.iter()
                        .map(|(uid, returned)| {
                            got.get(uid)
                                .map(|at| at.saturating_duration_since(*returned))
                        })
                        .collect()
                };
                if let Some(mut d) = arrived {
                    d.sort();
                    round_p50 = percentile(&d, 0.5);
                    delays.extend(d);
                    break;
                }
                if Instant::now() > deadline {
                    return Err("not every event arrived within 120 s".into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            store.delete_subscription(sub.id).await?;
            hub.subscriptions_changed.notify_one();
            let _ = writeln!(
                out,
                "round {}: with a subscriber    {rate:.0} commits/s, commit → webhook p50 {round_p50:.2} ms",
                round + 1
            );
            with.push(rate);
        }
    }
    delays.sort();
    let (a, b) = (median(without), median(with));
    let _ = writeln!(
        out,
        "median: without {a:.0} commits/s, with {b:.0} commits/s, ratio {:.3}; commit → webhook p50 {:.2} ms, p99 {:.2} ms over {} events",
        b / a,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
        delays.len()
    );
    let result = serde_json::json!({
        "commits_per_s_without": round(a, 1),
        "commits_per_s_with": round(b, 1),
        "ratio": round(b / a, 3),
        "delivery_p50_ms": round(percentile(&delays, 0.5), 3),
        "delivery_p99_ms": round(percentile(&delays, 0.99), 3),
        "clients": args.clients,
        "count": args.count,
        "rounds": args.rounds,
    });
    let _ = writeln!(out, "{result}");
    store.shutdown().await?;
    temp.cluster.stop()?;
    Ok(())
}
