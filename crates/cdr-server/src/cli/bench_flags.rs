//! `cdr bench flags`: care-plan flag lookups on the store under a data directory (e.g. the 1M
//! compositions of `cdr bench load`). The first run gives the first `--subjects` EHRs a subject
//! (`bench-<i>` in the namespace `cdr.bench`, by updating their EHR_STATUS) and every second one
//! of them the urgent care plan example, through the store; then it times single lookups and
//! batches of 1,000 random subjects (the store's statement, as `GET`/`POST /flags` run it).

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cdr_store::{CarePlanKinds, CommitMeta, Principal, Store, StoreConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const NAMESPACE: &str = "cdr.bench";

struct Args {
    data_dir: PathBuf,
    subjects: usize,
    lookups: usize,
    batches: usize,
}

#[derive(clap::Args, Debug)]
pub(crate) struct FlagsArgs {
    /// The data directory of the benchmark's store
    #[arg(long, value_name = "DIR", default_value = "./bench-data")]
    data_dir: PathBuf,
    /// How many EHRs get a subject (on the first run)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    subjects: usize,
    /// How many single lookups are timed
    #[arg(long, value_name = "K", default_value_t = 2_000)]
    lookups: usize,
    /// How many batches of 1,000 subjects are timed
    #[arg(long, value_name = "B", default_value_t = 50)]
    batches: usize,
}

pub fn run(a: FlagsArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = Args {
        data_dir: a.data_dir,
        subjects: a.subjects.max(1),
        lookups: a.lookups.max(1),
        batches: a.batches.max(1),
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
        let r = async {
            prepare(&store, &args, out).await?;
            lookups(&store, &args, out).await
        }
        .await;
        let _ = store.shutdown().await;
        r
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench flags: {e}");
            1
        }
    }
}

/// Gives the first `subjects` EHRs a subject and every second one a care plan, unless done.
async fn prepare(store: &Store, args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let caller = Principal::local();
    cdr_server::models::install_defaults(store, &caller).await?;
    let client = store.pool().get().await?;
    let have: i64 = client
        .query_one(
            "SELECT count(*) FROM ehr_subject WHERE namespace = $1",
            &[&NAMESPACE],
        )
        .await?
        .get(0);
    if have as usize >= args.subjects {
        return Ok(());
    }
    let ehrs: Vec<uuid::Uuid> = client
        .query(
            "SELECT e.ehr_id FROM ehr e WHERE NOT EXISTS \
             (SELECT 1 FROM ehr_subject s WHERE s.ehr_id = e.ehr_id) ORDER BY e.ehr_id LIMIT $1",
            &[&((args.subjects - have as usize) as i64)],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    drop(client);
    let plan_path = super::bench::repo_file("templates/urgent_care_plan/example.composition.json");
    let plan: cdr_rm::Composition = cdr_rm::from_json(&std::fs::read(&plan_path)?)?;
    let started = Instant::now();
    for (k, ehr) in ehrs.iter().enumerate() {
        let i = have as usize + k;
        let current = store.get_ehr_status(&caller, *ehr, None).await?;
        let status = serde_json::json!({
            "_type": "EHR_STATUS",
            "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
            "name": {"value": "EHR Status"},
            "subject": {"_type": "PARTY_SELF", "external_ref": {
                "id": {"_type": "GENERIC_ID", "value": format!("bench-{i}"), "scheme": "id_scheme"},
                "namespace": NAMESPACE, "type": "PERSON"}},
            "is_queryable": true,
            "is_modifiable": true,
        });
        let status: cdr_rm::EhrStatus = cdr_rm::from_json(status.to_string().as_bytes())?;
        store
            .update_ehr_status(&caller, *ehr, &current.uid, status, CommitMeta::default())
            .await?;
        if i % 2 == 0 {
            store
                .create_composition(&caller, *ehr, plan.clone(), CommitMeta::default())
                .await?;
        }
    }
    let _ = writeln!(
        out,
        "cdr bench flags: gave {} EHRs a subject (half a care plan) in {:.1} s",
        ehrs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn lookups(store: &Store, args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let caller = Principal::local();
    let kinds = CarePlanKinds::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let subject = |rng: &mut Rng| format!("bench-{}", rng.below(args.subjects));
    // Warm the statement and the caches.
    for _ in 0..50 {
        store
            .care_plan_flags(&caller, NAMESPACE, &[subject(&mut rng)], &kinds)
            .await?;
    }
    let mut single = Vec::with_capacity(args.lookups);
    let mut flagged = 0;
    for _ in 0..args.lookups {
        let ids = [subject(&mut rng)];
        let t = Instant::now();
        let flags = store
            .care_plan_flags(&caller, NAMESPACE, &ids, &kinds)
            .await?;
        single.push(t.elapsed());
        flagged += usize::from(!flags[0].care_plans.is_empty());
    }
    single.sort();
    let mut batch = Vec::with_capacity(args.batches);
    let mut plans = 0;
    for _ in 0..args.batches {
        let ids: Vec<String> = (0..1000).map(|_| subject(&mut rng)).collect();
        let t = Instant::now();
        let flags = store
            .care_plan_flags(&caller, NAMESPACE, &ids, &kinds)
            .await?;
        batch.push(t.elapsed());
        plans += flags.iter().filter(|f| !f.care_plans.is_empty()).count();
    }
    batch.sort();
    let _ = writeln!(
        out,
        "single: {} lookups ({flagged} flagged) p50 {:.3} ms p99 {:.3} ms; \
         batch of 1000: {} batches ({} flagged per batch) p50 {:.2} ms p99 {:.2} ms",
        args.lookups,
        percentile(&single, 0.5),
        percentile(&single, 0.99),
        args.batches,
        plans / args.batches,
        percentile(&batch, 0.5),
        percentile(&batch, 0.99),
    );
    let _ = writeln!(
        out,
        "{}",
        serde_json::json!({"single_p50_ms": percentile(&single, 0.5), "single_p99_ms": percentile(&single, 0.99),
            "batch_p50_ms": percentile(&batch, 0.5), "batch_p99_ms": percentile(&batch, 0.99)})
    );
    Ok(())
}
