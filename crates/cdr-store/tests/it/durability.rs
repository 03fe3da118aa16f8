//! Writers commit while PostgreSQL is killed with SIGKILL and restarted several times; afterwards
//! every acknowledged commit is present and complete, no partial contribution exists, and no
//! committed version lacks its audit event.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{caller, composition_with, meta, new_composition, OPT};
use cdr_store::{NewContribution, NewVersion, Store, UidBasedId, VersionUid};
use uuid::Uuid;

const WRITERS: usize = 4;
const KILLS: usize = 4;

struct Acked {
    ehr_id: Uuid,
    contribution_id: Uuid,
    versions: Vec<(VersionUid, String)>,
}

fn marked(marker: &str) -> NewVersion {
    let c = composition_with(|v| {
        v["content"][0]["data"]["events"][0]["data"]["items"][6]["value"]["value"] =
            serde_json::json!(marker);
    });
    new_composition(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_commits_survive_sigkill() {
    let (cluster, _watchdog) = cdr_testkit::private_cluster(true);
    let cluster = Arc::new(cluster);
    cdr_store::create_database(&cluster, "cdr").await.unwrap();
    let mut config = cdr_testkit::config();
    config.pool_size = WRITERS + 2;
    let store = Store::connect(cluster.pg_config("cdr"), &config, None)
        .await
        .unwrap();
    store.put_template(&caller(), OPT).await.unwrap();
    let mut ehrs = Vec::new();
    for _ in 0..WRITERS {
        ehrs.push(
            store
                .create_ehr(&caller(), None, None, meta())
                .await
                .unwrap()
                .ehr_id,
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<Acked>::new()));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (w, ehr_id) in ehrs.iter().copied().enumerate() {
        let (store, stop, acked, failures) =
            (store.clone(), stop.clone(), acked.clone(), failures.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                // Markers match the template's pattern for this element: [A-Z]{2}-[0-9]+.
                let letter = char::from(b'A' + w as u8);
                let markers = [format!("W{letter}-{i:07}1"), format!("W{letter}-{i:07}2")];
                let c = NewContribution {
                    uid: None,
                    meta: meta(),
                    versions: markers.iter().map(|m| marked(m)).collect(),
                };
                match store.commit_contribution(&caller(), ehr_id, c).await {
                    Ok(done) => acked.lock().unwrap().push(Acked {
                        ehr_id,
                        contribution_id: done.contribution_id,
                        versions: done
                            .versions
                            .into_iter()
                            .map(|v| v.uid)
                            .zip(markers)
                            .collect(),
                    }),
                    Err(e) => {
                        if let cdr_store::StoreError::Invalid(_) = e {
                            panic!("the test composition is invalid: {e:?}");
                        }
                        failures.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }

    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let c = cluster.clone();
        tokio::task::spawn_blocking(move || {
            c.kill().expect("SIGKILL the postmaster");
            std::thread::sleep(Duration::from_millis(100));
            c.restart().expect("restart after the kill");
        })
        .await
        .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }

    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.len() >= 20,
        "only {} commits acknowledged",
        acked.len()
    );
    assert!(
        failures.load(Ordering::Relaxed) > 0,
        "the kills interrupted no commit"
    );

    // Every acknowledged commit is present and complete.
    for a in &acked {
        let c = store
            .get_contribution(&caller(), a.ehr_id, a.contribution_id)
            .await
            .unwrap_or_else(|e| {
                panic!("acknowledged contribution {} lost: {e}", a.contribution_id)
            });
        assert_eq!(c.versions.len(), 2);
        for (uid, marker) in &a.versions {
            let v = store
                .get_composition(&caller(), a.ehr_id, &UidBasedId::Version(uid.clone()))
                .await
                .unwrap_or_else(|e| panic!("acknowledged version {uid} lost: {e}"));
            let quoted = format!("\"{marker}\"");
            assert!(v.document.as_deref().unwrap().contains(&quoted));
        }
    }
    // No partial contribution and no version without its index rows, anywhere.
    let client = store.pool().get().await.unwrap();
    let partial: i64 = client
        .query_one(
            "SELECT count(*) FROM (SELECT v.contribution_id FROM object_version v \
             JOIN versioned_object o USING (ehr_id, vo_id) WHERE o.kind = 1 \
             GROUP BY v.ehr_id, v.contribution_id HAVING count(*) <> 2) p",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(partial, 0, "partial contributions");
    let empty: i64 = client
        .query_one(
            "SELECT count(*) FROM contribution c WHERE NOT EXISTS (SELECT 1 FROM object_version v \
             WHERE v.ehr_id = c.ehr_id AND v.contribution_id = c.contribution_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(empty, 0, "contributions without versions");
    // The writer, not a foreign key, keeps versions with their object and contribution.
    let orphans: i64 = client
        .query_one(
            "SELECT count(*) FROM object_version v WHERE NOT EXISTS (SELECT 1 FROM \
             versioned_object o WHERE o.ehr_id = v.ehr_id AND o.vo_id = v.vo_id) OR NOT EXISTS \
             (SELECT 1 FROM contribution c WHERE c.ehr_id = v.ehr_id \
             AND c.contribution_id = v.contribution_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(orphans, 0, "versions without their object or contribution");
    let unindexed: i64 = client
        .query_one(
            "SELECT count(*) FROM versioned_object o WHERE o.kind = 1 AND NOT EXISTS \
             (SELECT 1 FROM node n WHERE n.ehr_id = o.ehr_id AND n.vo_id = o.vo_id)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unindexed, 0, "compositions without node rows");
    // Every committed version has its audit event (written by the same transaction), and the
    // hash chain over the events holds.
    let unaudited: i64 = client
        .query_one(
            "SELECT count(*) FROM object_version v WHERE NOT EXISTS (SELECT 1 FROM audit_event e \
             WHERE e.ehr_id = v.ehr_id \
             AND v.vo_id::text || '::' || v.system_id || '::' || v.version = ANY (e.versions))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(unaudited, 0, "versions without their audit event");
    let audited: i64 = client
        .query_one("SELECT count(*) FROM audit_event", &[])
        .await
        .unwrap()
        .get(0);
    assert!(audited as usize >= acked.len() + WRITERS);
    let chain = store.verify_audit().await.unwrap();
    assert_eq!(chain.fault, None, "{chain:?}");
    eprintln!(
        "durability: {} contributions acknowledged, {} failed attempts across {KILLS} kills",
        acked.len(),
        failures.load(Ordering::Relaxed)
    );
}
