//! `cdr bench commit`: commits through the store, then raw INSERTs of the same JSON into a
//! one-table baseline, in the same run, on the same managed temporary cluster, with the same
//! clients. The last output line is one JSON object with the figures.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cdr_store::cluster::{ClusterOptions, ManagedCluster};
use cdr_store::{
    AuditAction, AuditEvent, CommitMeta, Principal, Store, StoreConfig, UidBasedId, VersionUid,
};

const DEFAULT_TEMPLATE: &str = "ehrbase-blood-pressure-simple.de.v0/template.opt";
const DEFAULT_COMPOSITION: &str =
    "ehrbase-blood-pressure-simple.de.v0/compositions/it__ehrbase_blood_pressure_simple.de.v0.json";
/// Compositions are spread over this many EHRs.
const EHRS: usize = 64;

struct Args {
    clients: usize,
    count: usize,
    template: PathBuf,
    composition: PathBuf,
    /// `--caller ROLE[:ORGANISATION]`: who commits and reads (default: the local admin). The
    /// EHRs are created by this caller, so a clinician's organisation holds their write grant
    /// and every statement carries the caller's access predicate.
    caller: Principal,
}

/// The caller `ROLE[:ORGANISATION]` names, for the benchmarks' `--caller`.
pub(super) fn caller(value: &str) -> Principal {
    let (role, org) = value.split_once(':').unwrap_or((value, ""));
    Principal {
        subject: "bench-caller".into(),
        roles: vec![role.to_owned()],
        organisation: Some(org.to_owned()).filter(|o| !o.is_empty()),
        ..Principal::default()
    }
}

/// A file of the repository (`templates/…`), from the working directory or beside this crate.
pub(super) fn repo_file(rel: &str) -> PathBuf {
    let here = Path::new(rel);
    if here.exists() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

pub(super) fn testdata(rel: &str) -> PathBuf {
    let beside_cwd = Path::new("../shared/testdata").join(rel);
    if beside_cwd.exists() {
        return beside_cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata")
        .join(rel)
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        clients: 8,
        count: 2000,
        template: testdata(DEFAULT_TEMPLATE),
        composition: testdata(DEFAULT_COMPOSITION),
        caller: Principal::local(),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--clients" => {
                a.clients = value("--clients")?
                    .parse()
                    .map_err(|_| "--clients needs a positive number".to_owned())?
            }
            "--count" => {
                a.count = value("--count")?
                    .parse()
                    .map_err(|_| "--count needs a positive number".to_owned())?
            }
            "--template" => a.template = PathBuf::from(value("--template")?),
            "--composition" => a.composition = PathBuf::from(value("--composition")?),
            "--caller" => a.caller = caller(&value("--caller")?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if a.clients == 0 || a.count == 0 {
        return Err("--clients and --count must be at least 1".into());
    }
    Ok(a)
}

/// Runs `cdr bench <what> …`.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if let Some(cmd @ ("load" | "aql")) = args.first().map(String::as_str) {
        return super::bench_aql::run(cmd, &args[1..], out, err);
    }
    if args.first().map(String::as_str) == Some("auth") {
        return super::bench_auth::run(&args[1..], out, err);
    }
    if args.first().map(String::as_str) == Some("observe") {
        return super::bench_observe::run(&args[1..], out, err);
    }
    if args.first().map(String::as_str) == Some("flags") {
        return super::bench_flags::run(&args[1..], out, err);
    }
    if args.first().map(String::as_str) == Some("export") {
        return super::bench_export::run(&args[1..], out, err);
    }
    if args.first().map(String::as_str) != Some("commit") {
        let _ = writeln!(
            err,
            "usage: cdr bench commit [--clients N] [--count M] [--template T --composition C] \
             [--caller ROLE[:ORGANISATION]]"
        );
        return 2;
    }
    let args = match parse(&args[1..]) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr bench: {e}");
            return 2;
        }
    };
    let (opt, json) = match (
        std::fs::read_to_string(&args.template),
        std::fs::read(&args.composition),
    ) {
        (Ok(o), Ok(j)) => (o, j),
        (Err(e), _) => {
            let _ = writeln!(err, "cdr bench: {}: {e}", args.template.display());
            return 2;
        }
        (_, Err(e)) => {
            let _ = writeln!(err, "cdr bench: {}: {e}", args.composition.display());
            return 2;
        }
    };
    let rt = match super::runtime("bench", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(bench_commit(&args, opt, json, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench: {e}");
            1
        }
    }
}

/// The CPU time (user and system, all threads) of the process whose `/proc/…/stat` is `stat`,
/// with its waited-for children's when `children`; clock ticks of 10 ms.
pub(super) fn stat_cpu(stat: &str, children: bool) -> Option<(u32, Duration)> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let mut ticks = num(11)? + num(12)?;
    if children {
        ticks += num(13)? + num(14)?;
    }
    Some((num(1)? as u32, Duration::from_millis(ticks * 10)))
}

/// The CPU time this process has used; `None` where there is no `/proc`.
pub(super) fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    stat_cpu(&stat, false).map(|(_, t)| t)
}

/// The CPU time a managed cluster has used: its postmaster (with the backends that have
/// exited) and every live backend; `None` where there is no `/proc`.
pub(super) fn cluster_cpu(cluster: &ManagedCluster) -> Option<Duration> {
    let pid_file = std::fs::read_to_string(cluster.data_dir().join("postmaster.pid")).ok()?;
    let postmaster: u32 = pid_file.lines().next()?.trim().parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{postmaster}/stat")).ok()?;
    let mut total = stat_cpu(&stat, true)?.1;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((parent, t)) = stat_cpu(&stat, false) {
            if parent == postmaster {
                total += t;
            }
        }
    }
    Some(total)
}

/// CPU of this process and the cluster together.
fn all_cpu(cluster: &ManagedCluster) -> Option<Duration> {
    Some(process_cpu()? + cluster_cpu(cluster)?)
}

/// Milliseconds of CPU per operation between two `all_cpu` readings.
fn cpu_per_op(before: Option<Duration>, after: Option<Duration>, ops: usize) -> Option<f64> {
    Some(after?.saturating_sub(before?).as_secs_f64() * 1000.0 / ops as f64)
}

pub(super) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

async fn bench_commit(
    args: &Args,
    opt: String,
    json: Vec<u8>,
    out: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("cdr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cluster = ManagedCluster::start(&ClusterOptions::new(&dir))?;
    let _watchdog = cluster.stop_when_process_exits(Some(&dir))?;
    cdr_store::create_database(&cluster, "cdr").await?;
    let config = StoreConfig {
        database_url: None,
        data_dir: dir.clone(),
        system_id: "bench.cdr".into(),
        pool_size: args.clients + 2,
        read_database_url: None,
    };
    let store = Store::connect(cluster.pg_config("cdr"), &config, None).await?;
    store.put_template(&Principal::local(), &opt).await?;
    let caller = &args.caller;
    // The composition must decode and validate before anything is timed.
    let probe: cdr_rm::Composition = cdr_rm::from_json(&json)?;
    let mut ehrs = Vec::with_capacity(EHRS);
    for _ in 0..EHRS {
        ehrs.push(
            store
                .create_ehr(caller, None, None, CommitMeta::default())
                .await?
                .ehr_id,
        );
    }
    let warm = store
        .create_composition(caller, ehrs[0], without_uid(probe), CommitMeta::default())
        .await?;
    let _ = writeln!(
        out,
        "cdr bench commit: {} clients, {} commits, template {}, composition {} ({} bytes)",
        args.clients,
        args.count,
        args.template.display(),
        args.composition.display(),
        json.len()
    );

    // Phase 1: commits through the store.
    let json = Arc::new(json);
    let ehrs = Arc::new(ehrs);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = all_cpu(&cluster);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (store, json, ehrs, next, count, caller) = (
            store.clone(),
            json.clone(),
            ehrs.clone(),
            next.clone(),
            args.count,
            caller.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut uids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let t = Instant::now();
                let c: cdr_rm::Composition = cdr_rm::from_json(&json).map_err(|e| e.to_string())?;
                let ehr_id = ehrs[i % ehrs.len()];
                let v = store
                    .create_composition(&caller, ehr_id, without_uid(c), CommitMeta::default())
                    .await
                    .map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
                uids.push((ehr_id, v.uid));
            }
            Ok::<_, String>((lat, uids))
        }));
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut uids: Vec<(uuid::Uuid, VersionUid)> = Vec::with_capacity(args.count);
    for t in tasks {
        let (l, u) = t.await??;
        latencies.extend(l);
        uids.extend(u);
    }
    let store_elapsed = started.elapsed();
    let store_cpu = cpu_per_op(cpu_before, all_cpu(&cluster), args.count);
    latencies.sort();
    let commits_per_s = args.count as f64 / store_elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "store:  {:.0} commits/s, p50 {:.3} ms, p99 {:.3} ms, CPU {:.3} ms per commit (cdr and PostgreSQL)",
        commits_per_s,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        store_cpu.unwrap_or(f64::NAN)
    );

    // Phase 2: raw INSERTs of the same JSON into one table, same clients, same cluster (as
    // the role that owns the schema: cdr's own role may not create tables).
    {
        let client = store.owner_pool().get().await?;
        client
            .batch_execute(
                "CREATE TABLE bench_raw (id uuid PRIMARY KEY, ehr_id uuid NOT NULL, doc json NOT NULL)",
            )
            .await?;
    }
    let text = Arc::new(String::from_utf8_lossy(&json).into_owned());
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = all_cpu(&cluster);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (store, text, ehrs, next, count) = (
            store.clone(),
            text.clone(),
            ehrs.clone(),
            next.clone(),
            args.count,
        );
        tasks.push(tokio::spawn(async move {
            let client = store.owner_pool().get().await.map_err(|e| e.to_string())?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO bench_raw (id, ehr_id, doc) VALUES ($1, $2, $3::text::json)",
                )
                .await
                .map_err(|e| e.to_string())?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let ehr_id = ehrs[i % ehrs.len()];
                client
                    .execute(&stmt, &[&uuid::Uuid::new_v4(), &ehr_id, &*text])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let raw_elapsed = started.elapsed();
    let raw_cpu = cpu_per_op(cpu_before, all_cpu(&cluster), args.count);
    let raw_per_s = args.count as f64 / raw_elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "raw:    {raw_per_s:.0} inserts/s, CPU {:.3} ms per insert",
        raw_cpu.unwrap_or(f64::NAN)
    );

    // Reads by version uid, one client, over the committed versions.
    let mut reads = Vec::new();
    let step = (uids.len() / 2000).max(1);
    let warm = (ehrs[0], warm.uid);
    for (ehr_id, uid) in uids.iter().step_by(step).chain(std::iter::once(&warm)) {
        let t = Instant::now();
        let v = store
            .get_composition(caller, *ehr_id, &UidBasedId::Version(uid.clone()))
            .await?;
        // The read's audit event, as the HTTP layer records it.
        let mut event = AuditEvent::new(caller, AuditAction::Read);
        event.ehr_id = Some(*ehr_id);
        event.versions = vec![uid.to_string()];
        event.status = Some(200);
        store.record(event).await;
        reads.push(t.elapsed());
        if v.document.is_none() {
            return Err("a committed version read back without its document".into());
        }
    }
    reads.sort();
    let get_p50 = percentile(&reads, 0.5);
    let _ = writeln!(
        out,
        "get by version uid: p50 {get_p50:.3} ms over {} reads",
        reads.len()
    );

    store.shutdown().await?;
    cluster.stop()?;
    let result = serde_json::json!({
        "commits_per_s": round(commits_per_s, 1),
        "raw_insert_per_s": round(raw_per_s, 1),
        "ratio": round(commits_per_s / raw_per_s, 3),
        "p50_ms": round(percentile(&latencies, 0.5), 3),
        "p99_ms": round(percentile(&latencies, 0.99), 3),
        "clients": args.clients,
        "count": args.count,
        "get_p50_ms": round(get_p50, 3),
        "cpu_ms_per_commit": store_cpu.map(|c| round(c, 3)),
        "cpu_ms_per_raw_insert": raw_cpu.map(|c| round(c, 3)),
    });
    let _ = writeln!(out, "{result}");
    Ok(())
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The composition without a client uid, so each commit creates a new object.
fn without_uid(mut c: cdr_rm::Composition) -> cdr_rm::Composition {
    c.uid = None;
    c
}
