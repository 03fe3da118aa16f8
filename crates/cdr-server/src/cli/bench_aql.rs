//! `cdr bench load` and `cdr bench aql`: generated data from corpus templates, then a fixed set
//! of AQL queries timed beside hand-written SQL giving the same answers over the same tables.
//!
//! Data lives in a managed cluster under `--data-dir` (default `./bench-data`), so one load
//! serves many query runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use uuid::Uuid;

use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{dict_id, path_id, CommitMeta, Principal, Store, StoreConfig};

use super::bench::{percentile, testdata};

const BP_DIR: &str = "ehrbase-blood-pressure-simple.de.v0";
const BP_JSON: &str = "compositions/it__ehrbase_blood_pressure_simple.de.v0.json";
const EVAL_DIR: &str = "minimal-evaluation.en.v1";
const EVAL_JSON: &str = "compositions/sdk__minimal_evaluation.json";
const BP: &str = "openEHR-EHR-OBSERVATION.sample_blood_pressure.v1";
const SYSTOLIC: &str = "/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value";
const CUFF: &str = "/protocol[at0011]/items[at0013]/value";
/// Cuff size codes of the BP template and the share of compositions with each; the rare one
/// is what the coded population filter looks for.
const CUFFS: [(&str, &str); 3] = [
    ("at0015", "Adult"),
    ("at0016", "Large adult"),
    ("at1009", "Neonatal"),
];

/// splitmix64: a tiny seeded generator, enough for varied test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Args {
    data_dir: PathBuf,
    ehrs: usize,
    per_ehr: usize,
    clients: usize,
    iterations: usize,
    seed: u64,
    /// `--caller ROLE[:ORGANISATION]`: each AQL query also runs as this caller, beside the
    /// admin (with its access predicate against none).
    caller: Option<Principal>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct LoadArgs {
    /// The data directory of the benchmark's store
    #[arg(long, value_name = "DIR", default_value = "./bench-data")]
    data_dir: PathBuf,
    /// How many EHRs are loaded
    #[arg(long, value_name = "N", default_value_t = 1000)]
    ehrs: usize,
    /// How many compositions each EHR gets
    #[arg(long, value_name = "M", default_value_t = 10)]
    per_ehr: usize,
    /// How many clients load at a time
    #[arg(long, value_name = "C", default_value_t = 8)]
    clients: usize,
    /// How many times each query runs
    #[arg(long, value_name = "K", default_value_t = 200)]
    iterations: usize,
    /// The seed of the generated variation
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Each query also runs as this caller
    #[arg(long, value_name = "ROLE[:ORGANISATION]")]
    caller: Option<String>,
}

impl From<LoadArgs> for Args {
    fn from(a: LoadArgs) -> Args {
        Args {
            data_dir: a.data_dir,
            ehrs: a.ehrs,
            per_ehr: a.per_ehr,
            clients: a.clients.max(1),
            iterations: a.iterations.max(1),
            seed: a.seed,
            caller: a.caller.as_deref().map(super::bench::caller),
        }
    }
}

pub fn run(cmd: &str, args: LoadArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = Args::from(args);
    let rt = match super::runtime("bench", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let config = StoreConfig {
            data_dir: args.data_dir.clone(),
            system_id: "bench.cdr".into(),
            pool_size: args.clients + 2,
            ..StoreConfig::from_env()
        };
        let store = Store::open(&config).await?;
        let r = if cmd == "load" {
            load(&store, &args, out).await
        } else {
            queries(&store, &args, out).await
        };
        let _ = store.shutdown().await;
        r
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench {cmd}: {e}");
            1
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn read_json(dir: &str, file: &str) -> Result<Value, BoxError> {
    let path = testdata(dir).join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e} (the corpus ../shared/testdata is needed)",
            path.display()
        )
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// A BP composition with seeded values: systolic mostly 90–180, 0.2 % at 250–300; cuff size
/// mostly adult, 0.2 % neonatal; start times over 2020–2024.
fn vary_bp(template: &Value, rng: &mut Rng) -> Value {
    let mut v = template.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("uid");
    }
    let day = rng.below(5 * 365);
    let start = chrono::DateTime::from_timestamp(1_577_836_800 + day as i64 * 86_400, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    v["context"]["start_time"]["value"] = json!(start);
    let rare = rng.below(1000) < 2;
    let systolic = if rare {
        250 + rng.below(51)
    } else {
        90 + rng.below(91)
    };
    let cuff = if rng.below(1000) < 2 {
        CUFFS[2]
    } else {
        CUFFS[rng.below(2) as usize]
    };
    let obs = &mut v["content"][0];
    obs["data"]["events"][0]["data"]["items"][0]["value"]["magnitude"] = json!(systolic as f64);
    let protocol = &mut obs["protocol"]["items"];
    if let Some(items) = protocol.as_array_mut() {
        for item in items {
            if item["archetype_node_id"] == json!("at0013") {
                item["value"]["value"] = json!(cuff.1);
                item["value"]["defining_code"]["code_string"] = json!(cuff.0);
            }
        }
    }
    v
}

async fn load(store: &Store, args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let caller = Principal::local();
    for dir in [BP_DIR, EVAL_DIR] {
        let opt = std::fs::read_to_string(testdata(dir).join("template.opt"))?;
        store.put_template(&caller, &opt).await?;
    }
    let bp = Arc::new(read_json(BP_DIR, BP_JSON)?);
    let mut eval = read_json(EVAL_DIR, EVAL_JSON)?;
    if let Some(o) = eval.as_object_mut() {
        o.remove("uid");
    }
    let eval = Arc::new(eval);
    let total = args.ehrs * args.per_ehr;
    let _ = writeln!(
        out,
        "cdr bench load: {} EHRs × {} compositions = {total} (80 % blood pressure, 20 % evaluation), {} clients",
        args.ehrs, args.per_ehr, args.clients
    );
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (store, bp, eval, next) = (store.clone(), bp.clone(), eval.clone(), next.clone());
        let (ehrs, per_ehr, seed) = (args.ehrs, args.per_ehr, args.seed);
        tasks.push(tokio::spawn(async move {
            let caller = Principal::local();
            let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(c as u64));
            loop {
                let e = next.fetch_add(1, Ordering::Relaxed);
                if e >= ehrs {
                    return Ok::<(), BoxError>(());
                }
                let ehr = store
                    .create_ehr(&caller, None, None, CommitMeta::default())
                    .await?
                    .ehr_id;
                for _ in 0..per_ehr {
                    let doc = if rng.below(10) < 8 {
                        vary_bp(&bp, &mut rng)
                    } else {
                        (*eval).clone()
                    };
                    let comp: cdr_rm::Composition = cdr_rm::json::from_json_value(doc)?;
                    store
                        .create_composition(&caller, ehr, comp, CommitMeta::default())
                        .await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    // Fresh statistics, as autovacuum would eventually gather, so plans are those of a
    // settled database.
    // As the tables' owner: ANALYZE skips tables of other roles.
    store
        .owner_pool()
        .get()
        .await?
        .batch_execute("ANALYZE")
        .await?;
    let _ = writeln!(
        out,
        "{}",
        json!({"compositions": total, "ehrs": args.ehrs, "load_s": (secs * 10.0).round() / 10.0,
               "compositions_per_s": (total as f64 / secs).round()})
    );
    Ok(())
}

/// One benchmark query: AQL and the hand-written SQL that gives the same answer.
struct Case {
    name: &'static str,
    aql: String,
    sql: &'static str,
}

fn cases() -> Vec<Case> {
    let sys = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";
    vec![
        Case {
            name: "ehr_bound",
            aql: format!(
                "SELECT c/uid/value, {sys} FROM EHR e[ehr_id/value=$ehr] CONTAINS COMPOSITION c \
                 CONTAINS OBSERVATION o[{BP}]"
            ),
            sql: "SELECT ov.vo_id::text || '::' || ov.system_id || '::' || ov.version, l.v_num \
                  FROM versioned_object vo JOIN object_version ov ON ov.ehr_id = vo.ehr_id \
                  AND ov.vo_id = vo.vo_id AND ov.version = vo.head \
                  JOIN node n ON n.ehr_id = vo.ehr_id AND n.vo_id = vo.vo_id \
                  LEFT JOIN leaf l ON l.ehr_id = n.ehr_id AND l.vo_id = n.vo_id AND l.num = n.num \
                  AND l.path_id = $2 \
                  WHERE vo.ehr_id = $1 AND vo.kind = 1 AND NOT vo.deleted AND n.archetype = $3",
        },
        Case {
            name: "population_coded",
            aql: format!(
                "SELECT e/ehr_id/value, c/uid/value FROM EHR e CONTAINS COMPOSITION c \
                 CONTAINS OBSERVATION o[{BP}] \
                 WHERE o/protocol[at0011]/items[at0013]/value/defining_code/code_string = 'at1009'"
            ),
            sql: "SELECT l.ehr_id::text, ov.vo_id::text || '::' || ov.system_id || '::' || ov.version \
                  FROM leaf l JOIN node n ON n.ehr_id = l.ehr_id AND n.vo_id = l.vo_id AND n.num = l.num \
                  JOIN versioned_object vo ON vo.ehr_id = l.ehr_id AND vo.vo_id = l.vo_id \
                  JOIN object_version ov ON ov.ehr_id = vo.ehr_id AND ov.vo_id = vo.vo_id \
                  AND ov.version = vo.head \
                  WHERE l.path_id = $1 AND l.v_code = $2 AND n.archetype = $3",
        },
        Case {
            name: "population_range",
            aql: format!(
                "SELECT e/ehr_id/value, {sys} FROM EHR e CONTAINS COMPOSITION c \
                 CONTAINS OBSERVATION o[{BP}] WHERE {sys} >= 250"
            ),
            sql: "SELECT l.ehr_id::text, l.v_num \
                  FROM leaf l JOIN node n ON n.ehr_id = l.ehr_id AND n.vo_id = l.vo_id AND n.num = l.num \
                  JOIN versioned_object vo ON vo.ehr_id = l.ehr_id AND vo.vo_id = l.vo_id \
                  WHERE l.path_id = $1 AND l.v_num >= $2 AND n.archetype = $3 AND NOT vo.deleted",
        },
        Case {
            name: "aggregate_per_template",
            aql: "SELECT c/archetype_details/template_id/value AS t, COUNT(*) AS n \
                  FROM COMPOSITION c ORDER BY t"
                .to_owned(),
            sql: "SELECT ov.template_id, count(*) FROM versioned_object vo JOIN object_version ov \
                  ON ov.ehr_id = vo.ehr_id AND ov.vo_id = vo.vo_id AND ov.version = vo.head \
                  WHERE vo.kind = 1 AND NOT vo.deleted GROUP BY ov.template_id ORDER BY 1",
        },
    ]
}

async fn queries(store: &Store, args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let caller = Principal::local();
    let client = store.pool().get().await?;
    let ehrs: Vec<Uuid> = client
        .query("SELECT ehr_id FROM ehr ORDER BY ehr_id LIMIT 1000", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let count: i64 = client
        .query_one("SELECT count(*) FROM versioned_object WHERE kind = 1", &[])
        .await?
        .get(0);
    if ehrs.is_empty() {
        return Err("no data: run `cdr bench load` with the same --data-dir first".into());
    }
    let _ = writeln!(
        out,
        "cdr bench aql: {count} compositions, {} iterations per query",
        args.iterations
    );
    let sys_id = [path_id(BP, SYSTOLIC, "DV_QUANTITY")];
    let cuff_id = path_id(BP, CUFF, "DV_CODED_TEXT");
    let bp = dict_id(BP);
    let limits = QueryLimits {
        max_rows: None,
        ..QueryLimits::default()
    };
    let mut report = Map::new();
    let mut rng = Rng(args.seed);
    for case in cases() {
        let stmt = client.prepare(case.sql).await?;
        let mut aql_t = Vec::with_capacity(args.iterations);
        let mut sql_t = Vec::with_capacity(args.iterations);
        let mut caller_t = Vec::with_capacity(args.iterations);
        let mut caller_rows = 0usize;
        let mut rows = (0usize, 0usize);
        for i in 0..args.iterations + 3 {
            let ehr = ehrs[rng.below(ehrs.len() as u64) as usize];
            let mut params = Map::new();
            params.insert("ehr".into(), json!(ehr.to_string()));
            let req = QueryRequest {
                aql: &case.aql,
                params,
                ..QueryRequest::default()
            };
            // Whichever runs first for an EHR reads its pages into the cache for the other, so
            // the order alternates.
            let run_aql = async {
                let t = Instant::now();
                let rs = store.query(&caller, &req, &limits).await?;
                Ok::<_, BoxError>((rs, t.elapsed()))
            };
            let run_sql = async {
                let t = Instant::now();
                let rows = match case.name {
                    "ehr_bound" => client.query(&stmt, &[&ehr, &sys_id[0], &bp]).await?,
                    "population_coded" => client.query(&stmt, &[&cuff_id, &"at1009", &bp]).await?,
                    "population_range" => {
                        client.query(&stmt, &[&sys_id[0], &250.0f64, &bp]).await?
                    }
                    _ => client.query(&stmt, &[]).await?,
                };
                Ok::<_, BoxError>((rows, t.elapsed()))
            };
            let run_caller = async {
                let Some(who) = &args.caller else {
                    return Ok::<_, BoxError>(None);
                };
                let t = Instant::now();
                let rs = store.query(who, &req, &limits).await?;
                Ok(Some((rs.rows.len(), t.elapsed())))
            };
            // The caller's run goes first, between or last in turn, so no one always gets
            // the pages the other read.
            let ((rs, a), (sql_rows, s), as_caller) = match i % 3 {
                0 => {
                    let c = run_caller.await?;
                    let a = run_aql.await?;
                    (a, run_sql.await?, c)
                }
                1 => {
                    let a = run_aql.await?;
                    let c = run_caller.await?;
                    (a, run_sql.await?, c)
                }
                _ => {
                    let s = run_sql.await?;
                    let a = run_aql.await?;
                    (a, s, run_caller.await?)
                }
            };
            if rs.rows.len() != sql_rows.len() {
                return Err(format!(
                    "{}: AQL gave {} rows, SQL {} rows",
                    case.name,
                    rs.rows.len(),
                    sql_rows.len()
                )
                .into());
            }
            // The first runs warm caches and prepare statements.
            if i >= 3 {
                aql_t.push(a);
                sql_t.push(s);
                rows = (rows.0 + rs.rows.len(), rows.1 + 1);
                if let Some((n, t)) = as_caller {
                    caller_t.push(t);
                    caller_rows += n;
                }
            }
        }
        aql_t.sort();
        sql_t.sort();
        let (a50, s50) = (percentile(&aql_t, 0.5), percentile(&sql_t, 0.5));
        let mut entry = json!({
            "aql_p50_ms": round3(a50), "aql_p99_ms": round3(percentile(&aql_t, 0.99)),
            "sql_p50_ms": round3(s50), "sql_p99_ms": round3(percentile(&sql_t, 0.99)),
            "ratio_p50": round3(a50 / s50.max(1e-6)),
            "avg_rows": rows.0 / rows.1.max(1),
        });
        if !caller_t.is_empty() {
            caller_t.sort();
            let c50 = percentile(&caller_t, 0.5);
            entry["caller_p50_ms"] = json!(round3(c50));
            entry["caller_p99_ms"] = json!(round3(percentile(&caller_t, 0.99)));
            entry["caller_vs_admin_p50"] = json!(round3(c50 / a50.max(1e-6)));
            entry["caller_avg_rows"] = json!(caller_rows / caller_t.len());
        }
        let _ = writeln!(out, "{:<24} {entry}", case.name);
        report.insert(case.name.into(), entry);
    }
    report.insert("compositions".into(), json!(count));
    let _ = writeln!(out, "{}", Value::Object(report));
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
