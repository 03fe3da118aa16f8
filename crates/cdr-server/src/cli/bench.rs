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

pub(super) const DEFAULT_TEMPLATE: &str = "ehrbase-blood-pressure-simple.de.v0/template.opt";
pub(super) const DEFAULT_COMPOSITION: &str =
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

/// A number of at least 1, for the benchmarks' counts.
pub(super) fn positive(v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{v}: a positive number"))
}

/// Measures cdr on a machine of its own
#[derive(clap::Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand, Debug)]
enum BenchCommand {
    /// Commits through the store beside raw INSERTs of the same JSON
    ///
    /// Commits M compositions with N clients through the store (decode, validate, index, one
    /// transaction each) on a temporary managed PostgreSQL, then raw INSERTs of the same JSON
    /// into one table with the same clients; the last line is a JSON object with the figures.
    /// Default: the blood-pressure template and composition of ../shared/testdata.
    #[command(verbatim_doc_comment)]
    Commit(CommitArgs),
    /// Commits and reads over HTTP without and with authentication
    ///
    /// Commits and reads over HTTP through two servers on one temporary store, one without
    /// authentication and one with --auth oidc (a key made for the run), in alternating rounds;
    /// prints commits/s, cdr's CPU per commit and GET-by-version-uid p50 of each, the last line
    /// as one JSON object. --control: both servers without authentication (an A/A run).
    #[command(verbatim_doc_comment)]
    Auth(super::bench_auth::AuthArgs),
    /// Commits over HTTP with the request log and metrics beside without
    ///
    /// Two servers on one temporary store, one logging every request at info as JSON (to a
    /// file) with its metrics, one with neither, in alternating rounds of M commits by N
    /// clients; prints commits/s and cdr's CPU per commit of each, the time one request's log
    /// line and metrics take on their own, the last line as one JSON object. --control: both
    /// with logs and metrics (an A/A run).
    #[command(verbatim_doc_comment)]
    Observe(super::bench_observe::ObserveArgs),
    /// Times care-plan flag lookups
    ///
    /// Times care-plan flag lookups on the store under --data-dir (./bench-data): the first run
    /// gives N EHRs (10,000) a subject and every second one the urgent care plan example; then
    /// K single lookups and B batches of 1,000 subjects; prints p50/p99 of each.
    #[command(verbatim_doc_comment)]
    Flags(super::bench_flags::FlagsArgs),
    /// Exports a whole query result over HTTP as CSV and NDJSON
    ///
    /// Exports a whole query result (default: every composition's uid with its EHR id) over
    /// HTTP as CSV, then as NDJSON, from the store under --data-dir (./bench-data) with the
    /// server in this process; prints rows/s and this process's RSS before and at its peak.
    #[command(verbatim_doc_comment)]
    Export(super::bench_export::ExportArgs),
    /// Loads generated compositions for the other benchmarks
    ///
    /// Loads N EHRs × M generated compositions (corpus blood pressure and evaluation templates,
    /// seeded variation) through the store into the managed cluster under --data-dir
    /// (./bench-data).
    #[command(verbatim_doc_comment)]
    Load(super::bench_aql::LoadArgs),
    /// Times AQL queries beside hand-written SQL
    ///
    /// Times a fixed set of AQL queries beside hand-written SQL with the same answers on the
    /// data under --data-dir (./bench-data); prints p50/p99 per query and the ratio, the last
    /// line as one JSON object. With --caller each query also runs as that caller (its access
    /// predicate) beside the admin.
    #[command(verbatim_doc_comment)]
    Aql(super::bench_aql::LoadArgs),
    /// Commit throughput with a webhook subscriber beside without, and the delivery delay
    ///
    /// Commits M compositions with N clients through the store, R rounds with a webhook
    /// subscriber attached (a receiver in this process) and R without, alternating, on one
    /// temporary store with the change-event dispatcher running; prints commits/s of each, the
    /// ratio, and the delay from a commit's return to its webhook's arrival (p50, p99), the
    /// last line as one JSON object.
    #[command(verbatim_doc_comment)]
    Notify(super::bench_notify::NotifyArgs),
    /// Mixed load on `cdr serve` for a long run: errors and memory
    ///
    /// Runs `cdr serve` (this binary, on its own temporary store) under mixed load over HTTP
    /// for M minutes with N clients: commits, reads, AQL queries, CSV exports, and a webhook
    /// subscriber; prints per minute the operations, errors and the server's RSS, and at the
    /// end whether every commit's event arrived. Exit 1 when anything failed.
    #[command(verbatim_doc_comment)]
    Soak(super::bench_soak::SoakArgs),
}

#[derive(clap::Args, Debug)]
pub(crate) struct CommitArgs {
    /// How many clients commit at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = positive)]
    clients: usize,
    /// How many compositions are committed
    #[arg(long, value_name = "M", default_value_t = 2000, value_parser = positive)]
    count: usize,
    /// The template (OPT) [default: the corpus blood-pressure one]
    #[arg(long, value_name = "T")]
    template: Option<PathBuf>,
    /// The composition committed [default: the corpus blood-pressure one]
    #[arg(long, value_name = "C")]
    composition: Option<PathBuf>,
    /// Who commits and reads [default: the local admin]
    #[arg(long, value_name = "ROLE[:ORGANISATION]")]
    caller: Option<String>,
}

impl From<CommitArgs> for Args {
    fn from(a: CommitArgs) -> Args {
        Args {
            clients: a.clients,
            count: a.count,
            template: a.template.unwrap_or_else(|| testdata(DEFAULT_TEMPLATE)),
            composition: a
                .composition
                .unwrap_or_else(|| testdata(DEFAULT_COMPOSITION)),
            caller: a.caller.as_deref().map_or_else(Principal::local, caller),
        }
    }
}

/// Runs `cdr bench <what> …`.
pub fn run(args: BenchArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args: Args = match args.command {
        BenchCommand::Load(a) => return super::bench_aql::run("load", a, out, err),
        BenchCommand::Aql(a) => return super::bench_aql::run("aql", a, out, err),
        BenchCommand::Auth(a) => return super::bench_auth::run(a, out, err),
        BenchCommand::Observe(a) => return super::bench_observe::run(a, out, err),
        BenchCommand::Flags(a) => return super::bench_flags::run(a, out, err),
        BenchCommand::Export(a) => return super::bench_export::run(a, out, err),
        BenchCommand::Notify(a) => return super::bench_notify::run(a, out, err),
        BenchCommand::Soak(a) => return super::bench_soak::run(a, out, err),
        BenchCommand::Commit(a) => a.into(),
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

/// A store on a temporary managed cluster, for a benchmark: the cluster stops and its
/// directory is removed when the process exits.
pub(super) struct TempStore {
    pub dir: PathBuf,
    pub cluster: ManagedCluster,
    pub store: Store,
    pub _watchdog: cdr_store::cluster::Watchdog,
}

/// Starts a [`TempStore`] under the temporary directory `name-<pid>`, with `pool_size`
/// connections.
pub(super) async fn temp_store(
    name: &str,
    pool_size: usize,
) -> Result<TempStore, Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cluster = ManagedCluster::start(&ClusterOptions::new(&dir))?;
    let watchdog = cluster.stop_when_process_exits(Some(&dir))?;
    cdr_store::create_database(&cluster, "cdr").await?;
    let config = StoreConfig {
        database_url: None,
        data_dir: dir.clone(),
        system_id: "bench.cdr".into(),
        pool_size,
        read_database_url: None,
    };
    let store = Store::connect(cluster.pg_config("cdr"), &config, None).await?;
    Ok(TempStore {
        dir,
        cluster,
        store,
        _watchdog: watchdog,
    })
}

async fn bench_commit(
    args: &Args,
    opt: String,
    json: Vec<u8>,
    out: &mut dyn Write,
) -> Result<(), Box<dyn std::error::Error>> {
    let TempStore {
        cluster,
        store,
        _watchdog,
        ..
    } = temp_store("cdr-bench", args.clients + 2).await?;
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

pub(super) fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// The composition without a client uid, so each commit creates a new object.
pub(super) fn without_uid(mut c: cdr_rm::Composition) -> cdr_rm::Composition {
    c.uid = None;
    c
}
