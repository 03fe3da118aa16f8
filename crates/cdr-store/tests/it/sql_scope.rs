//! Every SQL statement of an EHR-scoped operation constrains `ehr_id` (checked on the server's
//! own statement log while every operation runs). Not EHR-scoped, so not here: population AQL
//! queries and the admin template delete and replace, which look across all EHRs for
//! compositions that use the template.

use crate::common::{caller, composition, meta, new_composition, OPT};
use cdr_store::{NewContribution, Store, UidBasedId, VoKind};

const EHR_SCOPED: &[&str] = &[
    "ehr",
    "contribution",
    "versioned_object",
    "object_version",
    "node",
    "leaf",
];

pub(crate) fn mentions_table(sql: &str, table: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    lower.match_indices(table).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + table.len()).copied();
        let ident = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        !ident(before) && !ident(after)
    })
}

/// A store on a cluster of its own that logs every statement (to `server.log` in the
/// returned directory).
pub(crate) async fn logging_store(
    prefix: &str,
) -> (
    std::path::PathBuf,
    cdr_store::cluster::ManagedCluster,
    cdr_store::cluster::Watchdog,
    Store,
) {
    let root = cdr_testkit::temp_dir(prefix);
    let mut opts = cdr_store::cluster::ClusterOptions::new(&root);
    opts.durable = false;
    opts.extra_conf = vec!["log_statement = 'all'".into()];
    let cluster = cdr_store::cluster::ManagedCluster::start(&opts).unwrap();
    let watchdog = cluster.stop_when_process_exits(Some(&root)).unwrap();
    cdr_store::create_database(&cluster, "cdr").await.unwrap();
    let store = Store::connect(cluster.pg_config("cdr"), &cdr_testkit::config(), None)
        .await
        .unwrap();
    (root, cluster, watchdog, store)
}

#[tokio::test]
async fn every_ehr_scoped_statement_constrains_ehr_id() {
    let (root, cluster, _watchdog, store) = logging_store("cdr-scope").await;
    store.put_template(&caller(), OPT).await.unwrap();
    let client = store.pool().get().await.unwrap();
    client
        .simple_query("SELECT 'scope-check-start'")
        .await
        .unwrap();
    drop(client);

    // Every operation.
    let ehr = store
        .create_ehr(&caller(), None, None, meta())
        .await
        .unwrap();
    store.get_ehr(&caller(), ehr.ehr_id).await.unwrap();
    let status = store
        .get_ehr_status(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    let s: cdr_rm::EhrStatus =
        cdr_rm::from_json(status.document.as_deref().unwrap().as_bytes()).unwrap();
    let s2 = store
        .update_ehr_status(&caller(), ehr.ehr_id, &status.uid, s, meta())
        .await
        .unwrap();
    store
        .get_ehr_status_version(&caller(), ehr.ehr_id, &s2.uid)
        .await
        .unwrap();
    store
        .get_ehr_status(&caller(), ehr.ehr_id, Some(chrono::Utc::now()))
        .await
        .unwrap();
    let v1 = store
        .create_composition(&caller(), ehr.ehr_id, composition(), meta())
        .await
        .unwrap();
    let vo = v1.uid.object_id;
    store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Object(vo))
        .await
        .unwrap();
    store
        .get_composition(&caller(), ehr.ehr_id, &UidBasedId::Version(v1.uid.clone()))
        .await
        .unwrap();
    store
        .get_composition_at(&caller(), ehr.ehr_id, vo, chrono::Utc::now())
        .await
        .unwrap();
    let v2 = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap();
    let _ = store
        .update_composition(&caller(), ehr.ehr_id, &v1.uid, composition(), meta())
        .await
        .unwrap_err();
    store
        .delete_composition(&caller(), ehr.ehr_id, &v2.uid, meta())
        .await
        .unwrap();
    store
        .versioned_object(&caller(), ehr.ehr_id, VoKind::Composition, vo)
        .await
        .unwrap();
    store
        .revision_history(&caller(), ehr.ehr_id, VoKind::Composition, vo)
        .await
        .unwrap();
    let folder: cdr_rm::Folder = cdr_rm::json::from_json_value(serde_json::json!({
        "_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "root"}}))
    .unwrap();
    let d1 = store
        .create_directory(&caller(), ehr.ehr_id, folder.clone(), meta())
        .await
        .unwrap();
    let d2 = store
        .update_directory(&caller(), ehr.ehr_id, &d1.uid, folder, meta())
        .await
        .unwrap();
    store
        .get_directory(&caller(), ehr.ehr_id, None)
        .await
        .unwrap();
    store
        .get_directory_version(&caller(), ehr.ehr_id, &d2.uid)
        .await
        .unwrap();
    store
        .delete_directory(&caller(), ehr.ehr_id, &d2.uid, meta())
        .await
        .unwrap();
    let c = store
        .commit_contribution(
            &caller(),
            ehr.ehr_id,
            NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![new_composition(composition())],
            },
        )
        .await
        .unwrap();
    store
        .get_contribution(&caller(), ehr.ehr_id, c.contribution_id)
        .await
        .unwrap();
    let _ = store
        .get_ehr(&caller(), uuid::Uuid::new_v4())
        .await
        .unwrap_err();
    let _ = store
        .get_composition(
            &caller(),
            ehr.ehr_id,
            &UidBasedId::Object(uuid::Uuid::new_v4()),
        )
        .await
        .unwrap_err();
    // Physical deletes of a composition: found, then gone (not found), and one that is not a
    // composition at all.
    store
        .delete_composition_physically(&caller(), ehr.ehr_id, vo)
        .await
        .unwrap();
    let _ = store
        .delete_composition_physically(&caller(), ehr.ehr_id, vo)
        .await
        .unwrap_err();
    let status_id = store.ehr_status_id(&caller(), ehr.ehr_id).await.unwrap();
    let _ = store
        .delete_composition_physically(&caller(), ehr.ehr_id, status_id)
        .await
        .unwrap_err();
    // The directory's physical delete, then again (not found).
    store
        .delete_directory_physically(&caller(), ehr.ehr_id, d1.uid.object_id)
        .await
        .unwrap();
    let _ = store
        .delete_directory_physically(&caller(), ehr.ehr_id, d1.uid.object_id)
        .await
        .unwrap_err();
    store.delete_ehr(&caller(), ehr.ehr_id).await.unwrap();
    let _ = store.delete_ehr(&caller(), ehr.ehr_id).await.unwrap_err();
    store.shutdown().await.unwrap();
    cluster.stop().unwrap();

    let log = std::fs::read_to_string(root.join("server.log")).unwrap();
    let start = log.find("scope-check-start").expect("marker in the log");
    let mut checked = 0;
    for line in log[start..].lines() {
        let sql = match line.find("statement: ").or_else(|| line.find("execute ")) {
            Some(i) => &line[i..],
            None => continue,
        };
        let sql = sql.split_once(": ").map(|(_, s)| s).unwrap_or(sql);
        if !EHR_SCOPED.iter().any(|t| mentions_table(sql, t)) {
            continue;
        }
        checked += 1;
        assert!(sql.contains("ehr_id"), "statement without ehr_id: {sql}");
    }
    assert!(checked > 30, "only {checked} statements seen");
}
