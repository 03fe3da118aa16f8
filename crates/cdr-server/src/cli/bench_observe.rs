//! `cdr bench observe`: what the request log and the metrics cost, side by side in one run.
//! Two servers share one store on a temporary managed cluster: one logs every request at info
//! level as JSON lines (into a file of the run's directory, as `cdr serve --log-format json`
//! writes them to standard error) and keeps its Prometheus metrics; the other has both off
//! (`ServeOptions::observe`). Clients commit the same composition over keep-alive
//! connections, the servers alternating in rounds so that drift of a shared machine falls on
//! both. Beside throughput, the CPU time the cdr process spends per commit (servers and
//! clients) is taken from `/proc/self/stat`. `--control` runs both servers with logs and
//! metrics on (an A/A run: what the bench tells apart by itself). The last line is one JSON
//! object with the figures.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cdr_server::http::observe::{init_logging_to, LogFormat};
use cdr_server::http::{self, ServeOptions};
use cdr_store::{CommitMeta, Principal};

use super::bench::{cluster_cpu, process_cpu, stat_cpu, testdata};
use super::bench_auth::commits;

#[derive(clap::Args, Debug)]
pub(crate) struct ObserveArgs {
    /// How many clients commit at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = super::bench::positive)]
    clients: usize,
    /// How many compositions each round commits
    #[arg(long, value_name = "M", default_value_t = 1000, value_parser = super::bench::positive)]
    count: usize,
    /// How many rounds of each server
    #[arg(long, value_name = "R", default_value_t = 10, value_parser = super::bench::positive)]
    rounds: usize,
    /// Both servers with logs and metrics on (an A/A run)
    #[arg(long)]
    control: bool,
}

/// Runs `cdr bench observe`.
pub fn run(args: ObserveArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let rt = match super::runtime("bench", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(bench(&args, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench observe: {e}");
            1
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

/// CPU microseconds of one request's log line and metrics (`Metrics::record`, as the
/// observed server runs it after a commit, into the same log), over `n` requests on this
/// thread.
fn record_alone(n: usize) -> f64 {
    let metrics = http::observe::Metrics::new(Duration::from_secs(1));
    let (method, path) = (
        actix_web::http::Method::POST,
        format!("/openehr/v1/ehr/{}/composition", uuid::Uuid::new_v4()),
    );
    let id = uuid::Uuid::new_v4().simple().to_string();
    let before = thread_cpu();
    let started = std::time::Instant::now();
    for i in 0..n {
        metrics.record(&http::observe::Seen {
            id: &id,
            method: &method,
            path: &path,
            route: "/openehr/v1/ehr/{ehr_id}/composition",
            status: 201,
            elapsed: Duration::from_micros(900 + (i % 200) as u64),
            caller: "",
        });
    }
    let spent = match (before, thread_cpu()) {
        (Some(b), Some(a)) => a.saturating_sub(b),
        _ => started.elapsed(),
    };
    spent.as_secs_f64() * 1e6 / n.max(1) as f64
}

/// The CPU time of the calling thread (`/proc/thread-self/stat`); `None` where there is no
/// `/proc`.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    stat_cpu(&stat, false).map(|(_, t)| t)
}

async fn bench(args: &ObserveArgs, out: &mut dyn Write) -> Result<(), BoxError> {
    let opt = std::fs::read_to_string(testdata(super::bench::DEFAULT_TEMPLATE))?;
    let json = std::fs::read(testdata(super::bench::DEFAULT_COMPOSITION))?;
    let super::bench::TempStore {
        dir,
        cluster,
        store,
        _watchdog,
    } = super::bench::temp_store("cdr-bench-observe", 2 * args.clients + 4).await?;
    let log_path = dir.join("requests.log");
    let log = Arc::new(std::fs::File::create(&log_path)?);
    init_logging_to(
        LogFormat::Json,
        Some("info"),
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(log),
    )?;
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
    let base = ServeOptions {
        bind: "127.0.0.1:0".into(),
        ..ServeOptions::default()
    };
    let quiet = http::start(
        store.clone(),
        &ServeOptions {
            observe: args.control,
            ..base.clone()
        },
    )?;
    let observed = http::start(store.clone(), &base)?;
    let modes = [("quiet", quiet.addr), ("observed", observed.addr)];
    let handles = [quiet.handle.clone(), observed.handle.clone()];
    tokio::spawn(quiet.server);
    tokio::spawn(observed.server);
    let _ = writeln!(
        out,
        "cdr bench observe: {} clients × {} commits per server and round, {} rounds; request \
         log (JSON, info, to {}) and metrics against {}, same store",
        args.clients,
        args.count,
        args.rounds,
        log_path.display(),
        if args.control {
            "the same (control)"
        } else {
            "neither"
        }
    );
    let (ehrs, body, none) = (Arc::new(ehrs), Arc::new(json), Arc::new(String::new()));
    // Warm-up: each server, its pool and caches.
    for (_, addr) in &modes {
        commits(
            *addr,
            none.clone(),
            args.clients,
            200,
            ehrs.clone(),
            body.clone(),
        )
        .await?;
    }
    let mut rate = [Vec::new(), Vec::new()];
    let mut cpu = [Duration::ZERO, Duration::ZERO];
    let mut pg_cpu = [Duration::ZERO, Duration::ZERO];
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for m in order {
            let (name, addr) = modes[m];
            let before = process_cpu();
            let pg_before = cluster_cpu(&cluster);
            let per_s = commits(
                addr,
                none.clone(),
                args.clients,
                args.count,
                ehrs.clone(),
                body.clone(),
            )
            .await?;
            if let (Some(b), Some(a)) = (before, process_cpu()) {
                cpu[m] += a.saturating_sub(b);
            }
            if let (Some(b), Some(a)) = (pg_before, cluster_cpu(&cluster)) {
                pg_cpu[m] += a.saturating_sub(b);
            }
            let _ = writeln!(out, "round {round} {name:>8}: {per_s:.0} commits/s");
            rate[m].push(per_s);
        }
    }
    for h in handles {
        h.stop(true).await;
    }
    let alone_us = record_alone(100_000);
    store.shutdown().await?;
    cluster.stop()?;
    let log_bytes = std::fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let (quiet_rate, observed_rate) = (mean(&rate[0]), mean(&rate[1]));
    // Per round pair: the observed server's rate over the quiet one's.
    let ratios: Vec<f64> = rate[1].iter().zip(&rate[0]).map(|(o, q)| o / q).collect();
    let commits_run = (args.count * args.rounds) as f64;
    let cpu_us = cpu.map(|c| c.as_secs_f64() * 1e6 / commits_run);
    let pg_cpu_us = pg_cpu.map(|c| c.as_secs_f64() * 1e6 / commits_run);
    let _ = writeln!(
        out,
        "commits/s: quiet {quiet_rate:.0}, observed {observed_rate:.0} ({:.1} % of quiet; median \
         of the rounds' ratios {:.1} %); cdr's CPU per commit (clients included): quiet {:.0} µs, \
         observed {:.0} µs ({:+.1} %); PostgreSQL's: quiet {:.0} µs, observed {:.0} µs; {} bytes \
         of log; the log line and metrics of one request timed alone: {alone_us:.2} µs ({:.2} % \
         of the quiet server's CPU per commit, cdr and PostgreSQL)",
        100.0 * observed_rate / quiet_rate,
        100.0 * median(&ratios),
        cpu_us[0],
        cpu_us[1],
        100.0 * (cpu_us[1] / cpu_us[0] - 1.0),
        pg_cpu_us[0],
        pg_cpu_us[1],
        log_bytes,
        100.0 * alone_us / (cpu_us[0] + pg_cpu_us[0])
    );
    let _ = std::fs::remove_dir_all(&dir);
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let result = serde_json::json!({
        "clients": args.clients,
        "count": args.count,
        "rounds": args.rounds,
        "control": args.control,
        "quiet_commits_per_s": round(quiet_rate, 1),
        "observed_commits_per_s": round(observed_rate, 1),
        "commit_ratio": round(observed_rate / quiet_rate, 3),
        "median_round_ratio": round(median(&ratios), 3),
        "quiet_cpu_us_per_commit": round(cpu_us[0], 0),
        "observed_cpu_us_per_commit": round(cpu_us[1], 0),
        "quiet_pg_cpu_us_per_commit": round(pg_cpu_us[0], 0),
        "observed_pg_cpu_us_per_commit": round(pg_cpu_us[1], 0),
        "log_bytes": log_bytes,
        "record_alone_us": round(alone_us, 2),
        "record_share_of_commit_cpu": round(alone_us / (cpu_us[0] + pg_cpu_us[0]), 4),
    });
    let _ = writeln!(out, "{result}");
    Ok(())
}
