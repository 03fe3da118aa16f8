//! The audit trail: a write's event in its own transaction, the events of the audit writer, the
//! runtime role that cannot change audit rows, and the hash chain that finds rows changed or
//! removed by hand.

use std::time::{Duration, Instant};

use cdr_store::{
    AuditAction, AuditEvent, AuditFault, AuditFilter, AuditRecord, NewContribution, Principal,
    Store, StoreError, UidBasedId,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;
use uuid::Uuid;

use crate::common::{caller, composition, meta, new_composition, OPT};

/// The id of the template [`store_and_superuser`] uploads.
const TEMPLATE: &str = "cdr_test_vitals.v1";

/// A store on a fresh database with the test template (whose upload left the trail's first
/// event), and the superuser settings of that database (for what only a person with the
/// database's keys can do).
async fn store_and_superuser() -> (Store, tokio_postgres::Config) {
    let pg = cdr_testkit::fresh_database().await;
    let store = Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let upload = store.put_template(&caller(), OPT).await.unwrap();
    assert_eq!(upload.meta.template_id, TEMPLATE);
    (store, pg)
}

async fn connect(pg: &tokio_postgres::Config) -> tokio_postgres::Client {
    let (client, conn) = pg.connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Seals until `n` more events are sealed. Transactions of other tests on the shared cluster
/// (transaction ids are the cluster's) can hold sealing back for a moment.
async fn seal(store: &Store, n: u64) {
    let started = Instant::now();
    let mut sealed = 0;
    loop {
        sealed += store.seal_audit().await.unwrap();
        if sealed >= n {
            assert_eq!(sealed, n);
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{sealed} of {n} sealed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every event, oldest first.
async fn events(store: &Store) -> Vec<AuditRecord> {
    let filter = AuditFilter {
        limit: 10_000,
        ..AuditFilter::default()
    };
    let mut all = store.audit_events(&caller(), &filter).await.unwrap();
    all.reverse();
    all
}

#[tokio::test]
async fn every_write_commits_its_event_and_a_refused_one_none() {
    let (store, _) = store_and_superuser().await;
    let someone = Principal {
        subject: "u-17".into(),
        name: Some("Dr Who".into()),
        roles: vec!["clinician".into()],
        organisation: Some("org-1".into()),
        address: Some("192.0.2.1".into()),
        break_glass: Some("unconscious patient".into()),
        ..Principal::default()
    };
    let ehr = store
        .create_ehr(&someone, None, None, meta())
        .await
        .unwrap();
    let v1 = store
        .create_composition(&someone, ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let v2 = store
        .update_composition(&someone, ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap();
    // Stale: refused, rolled back, no event.
    let stale = store
        .update_composition(&someone, ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap_err();
    assert!(
        matches!(stale, StoreError::VersionConflict { .. }),
        "{stale:?}"
    );
    let v3 = store
        .delete_composition(&someone, ehr.ehr_id, &v2.uid, meta())
        .await
        .unwrap();
    let c = store
        .commit_contribution(
            &someone,
            ehr.ehr_id,
            NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![
                    new_composition(composition()),
                    new_composition(composition()),
                ],
            },
        )
        .await
        .unwrap();
    // A dry run writes nothing, its event neither.
    store
        .check_contribution(
            &someone,
            ehr.ehr_id,
            NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![new_composition(composition())],
            },
        )
        .await
        .unwrap();
    let gone = c.versions[0].uid.object_id;
    // Physical deletes are the admin's: the same person, acting as admin.
    let as_admin = Principal {
        roles: vec!["admin".into()],
        ..someone.clone()
    };
    store
        .delete_composition_physically(&as_admin, ehr.ehr_id, gone)
        .await
        .unwrap();

    let got = events(&store).await;
    let got: Vec<(AuditAction, Vec<String>)> = got
        .iter()
        .map(|r| (r.event.action, r.event.versions.clone()))
        .collect();
    let expected = vec![
        // The template's upload, by the local admin, committed with the template.
        (AuditAction::Create, vec![TEMPLATE.to_owned()]),
        (AuditAction::Create, vec![ehr.ehr_status.to_string()]),
        (AuditAction::Create, vec![v1.uid.to_string()]),
        (AuditAction::Update, vec![v2.uid.to_string()]),
        (AuditAction::Delete, vec![v3.uid.to_string()]),
        (
            AuditAction::Create,
            c.versions.iter().map(|v| v.uid.to_string()).collect(),
        ),
        (AuditAction::Delete, vec![gone.to_string()]),
    ];
    assert_eq!(got, expected);
    // Who, from where, why, on which EHR: as the caller said.
    let all = events(&store).await;
    assert_eq!(
        (all[0].event.subject.as_str(), all[0].event.ehr_id),
        ("local", None)
    );
    let all = &all[1..];
    for (k, r) in all.iter().enumerate() {
        let e = &r.event;
        assert_eq!(e.subject, "u-17");
        assert_eq!(e.name.as_deref(), Some("Dr Who"));
        // The physical delete, last, was done as admin.
        let role = if k + 1 == all.len() {
            "admin"
        } else {
            "clinician"
        };
        assert_eq!(e.roles, [role]);
        assert_eq!(e.organisation.as_deref(), Some("org-1"));
        assert_eq!(e.address.as_deref(), Some("192.0.2.1"));
        assert_eq!(e.break_glass.as_deref(), Some("unconscious patient"));
        assert_eq!(e.ehr_id, Some(ehr.ehr_id));
        assert!(e.success);
    }
    // The commit time of a version is its event's time.
    let rec = store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v1.uid.clone()))
        .await
        .unwrap();
    let created = &events(&store).await[2];
    assert_eq!(created.event.at, rec.committed_at);
}

#[tokio::test]
async fn cdrs_role_cannot_change_or_remove_audit_rows() {
    let (store, _) = store_and_superuser().await;
    store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    store.seal_audit().await.unwrap();
    let client = store.pool().get().await.unwrap();
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, cdr_store::RUNTIME_ROLE);
    // It reads and appends.
    let n: i64 = client
        .query_one("SELECT count(*) FROM audit_event", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "the template's event and the EHR's");
    client
        .execute(
            "INSERT INTO audit_event (at, action, outcome, subject, roles, versions) \
             VALUES (now(), 'read', 'success', 'x', '{}', '{}')",
            &[],
        )
        .await
        .unwrap();
    // It may not change, remove or empty them, nor switch their guard off.
    for sql in [
        "UPDATE audit_event SET subject = 'mallory'",
        "DELETE FROM audit_event",
        "TRUNCATE audit_event",
        "UPDATE audit_seal SET hash = '\\x00'",
        "DELETE FROM audit_seal",
        "TRUNCATE audit_seal",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
    ] {
        let e = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(
            e.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {e:?}"
        );
    }
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM audit_event WHERE subject = 'mallory'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn verify_names_the_event_changed_or_removed_by_hand() {
    let (store, pg) = store_and_superuser().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    for _ in 0..3 {
        store
            .create_composition(&caller(), ehr.ehr_id, composition(), meta())
            .await
            .unwrap();
    }
    let mut read = AuditEvent::new(&caller(), AuditAction::Read);
    read.ehr_id = Some(ehr.ehr_id);
    store.record(read).await;
    store.flush_audit().await.unwrap();
    // The template's, the EHR's, the compositions' and the read.
    seal(&store, 6).await;
    let ok = store.verify_audit().await.unwrap();
    assert_eq!(ok.fault, None);
    assert_eq!(ok.sealed, 6, "{ok:?}");
    assert!(ok.head.is_some());
    // Verifying again seals nothing new and gives the same head.
    assert_eq!(store.verify_audit().await.unwrap(), ok);

    let all = events(&store).await;
    let (edited, removed) = (all[4].seq, all[2].seq);
    let admin = connect(&pg).await;
    // As a superuser, past the append-only trigger.
    admin
        .batch_execute("SET session_replication_role = replica")
        .await
        .unwrap();
    admin
        .execute(
            "UPDATE audit_event SET subject = 'mallory' WHERE seq = $1",
            &[&edited],
        )
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert!(
        matches!(v.fault, Some(AuditFault::Edited { seq, .. }) if seq == edited),
        "{v:?}"
    );
    // Put back as it was, the chain holds again; then a removal is found.
    admin
        .execute(
            "UPDATE audit_event SET subject = 'local' WHERE seq = $1",
            &[&edited],
        )
        .await
        .unwrap();
    assert_eq!(store.verify_audit().await.unwrap().fault, None);
    admin
        .execute("DELETE FROM audit_event WHERE seq = $1", &[&removed])
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(
        v.fault,
        Some(AuditFault::Removed {
            pos: 3,
            seq: removed
        })
    );
    let message = v.fault.unwrap().to_string();
    assert!(
        message.contains(&format!("audit event {removed} ")),
        "{message}"
    );
    // Removing its seal too leaves a gap in the positions.
    admin
        .execute("DELETE FROM audit_seal WHERE seq = $1", &[&removed])
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.fault, Some(AuditFault::SealRemoved { pos: 3, after: 2 }));
}

#[tokio::test]
async fn sealing_waits_for_transactions_still_writing() {
    let (store, _) = store_and_superuser().await;
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    seal(&store, 2).await;
    // A transaction inserts an event and stays open...
    let mut slow = store.pool().get().await.unwrap();
    let tx = slow.transaction().await.unwrap();
    tx.execute(
        "INSERT INTO audit_event (at, action, outcome, subject, roles, versions) \
         VALUES (now(), 'read', 'success', 'slow', '{}', '{}')",
        &[],
    )
    .await
    .unwrap();
    // ... while a later one commits: neither may be sealed yet, or the slow one's event
    // would have to go before a sealed one.
    store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    assert_eq!(store.seal_audit().await.unwrap(), 0);
    tx.commit().await.unwrap();
    seal(&store, 2).await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!((v.fault, v.sealed, v.pending), (None, 4, 0));
    // The chain holds them in the order of their transactions.
    let client = store.pool().get().await.unwrap();
    let subjects: Vec<String> = client
        .query(
            "SELECT e.subject FROM audit_seal s JOIN audit_event e USING (seq) ORDER BY s.pos",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(subjects, ["local", "local", "slow", "local"]);
}

#[tokio::test]
async fn recorded_events_are_written_soon_and_all_on_shutdown() {
    let (store, pg) = store_and_superuser().await;
    let ehr = Uuid::new_v4();
    let started = Instant::now();
    for i in 0..50 {
        let mut e = AuditEvent::new(&caller(), AuditAction::Read);
        e.ehr_id = Some(ehr);
        e.versions = vec![format!("v{i}")];
        store.record(e).await;
    }
    // Without a flush, the writer inserts them on its own, promptly.
    let filter = AuditFilter {
        ehr_id: Some(ehr),
        limit: 100,
        ..AuditFilter::default()
    };
    loop {
        let n = store.audit_events(&caller(), &filter).await.unwrap().len();
        if n == 50 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "only {n} of 50 events written after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!("50 events written within {:?}", started.elapsed());
    // Events queued before a shutdown are written by it.
    for _ in 0..20 {
        let mut e = AuditEvent::new(&caller(), AuditAction::Query);
        e.ehr_id = Some(ehr);
        e.query = Some("SELECT e/ehr_id/value FROM EHR e".into());
        e.query_params = Some("{}".into());
        store.record(e).await;
    }
    store.shutdown().await.unwrap();
    let n: i64 = connect(&pg)
        .await
        .query_one(
            "SELECT count(*) FROM audit_event WHERE ehr_id = $1 AND action = 'query'",
            &[&ehr],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20);
}

#[tokio::test]
async fn an_event_slipped_in_before_the_chains_end_is_found() {
    let (store, _) = store_and_superuser().await;
    store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    seal(&store, 2).await;
    // cdr's role may insert, so it could forge an event's transaction id: one below the sealed
    // ones lies where the chain already ended.
    let client = store.pool().get().await.unwrap();
    let seq: i64 = client
        .query_one(
            "INSERT INTO audit_event (xid, at, action, outcome, subject, roles, versions) \
             VALUES ('3', now(), 'read', 'success', 'forger', '{}', '{}') RETURNING seq",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.fault, Some(AuditFault::Unsealed { seq }));
}
