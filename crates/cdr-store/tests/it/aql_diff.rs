//! Differential tests: generated queries over the store's data give the same rows through the
//! SQL engine as through the in-memory oracle (cdr-aql-oracle) over the same documents.

use serde_json::{Map, Value};

use cdr_aql_oracle::{
    evaluate, generate, same_rows, Catalog, Dataset, Ehr, Version, VersionedComposition,
};
use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{format_time, Store, VoKind};

use crate::aql::build;
use crate::common::caller;

/// Everything in the store, as the oracle's data set.
pub(crate) async fn dataset(store: &Store) -> Dataset {
    let client = store.pool().get().await.unwrap();
    let mut ehrs = Vec::new();
    for row in client.query("SELECT ehr_id FROM ehr", &[]).await.unwrap() {
        let ehr_id: uuid::Uuid = row.get(0);
        let record = store.get_ehr(&caller(), ehr_id).await.unwrap();
        let mut compositions = Vec::new();
        let vos = client
            .query(
                "SELECT vo_id FROM versioned_object WHERE ehr_id = $1 AND kind = 1",
                &[&ehr_id],
            )
            .await
            .unwrap();
        for vo in vos {
            let vo_id: uuid::Uuid = vo.get(0);
            let versions = store
                .all_versions(ehr_id, VoKind::Composition, vo_id)
                .await
                .unwrap()
                .into_iter()
                .map(|v| Version {
                    uid: v.uid.to_string(),
                    committed: format_time(v.committed_at),
                    lifecycle_state: v.lifecycle_state.code().to_string(),
                    document: v
                        .document
                        .as_deref()
                        .map(|d| serde_json::from_str(d).unwrap()),
                    json: v.original_version_json(),
                })
                .collect();
            compositions.push(VersionedComposition {
                id: vo_id.to_string(),
                versions,
            });
        }
        ehrs.push(Ehr {
            ehr_id: ehr_id.to_string(),
            system_id: record.system_id.clone(),
            time_created: format_time(record.time_created),
            json: record.to_json(),
            compositions,
        });
    }
    Dataset { ehrs }
}

#[tokio::test]
async fn generated_queries_agree_with_the_oracle() {
    let d = build().await;
    let data = dataset(&d.store).await;
    let docs: Vec<Value> = data
        .ehrs
        .iter()
        .flat_map(|e| e.compositions.iter())
        .flat_map(|c| c.versions.iter())
        .filter_map(|v| v.document.clone())
        .collect();
    let catalog = Catalog::from_documents(&docs);
    let queries = generate(7, &catalog, 300);
    let params = Map::new();
    let mut compared = 0;
    let mut failures = Vec::new();
    for q in &queries {
        let ast = cdr_aql::parse(q).expect("generated queries parse");
        let Ok(expected) = evaluate(&ast, &params, &data) else {
            continue; // the oracle does not support it
        };
        let req = QueryRequest {
            aql: q,
            ..QueryRequest::default()
        };
        let got = match d
            .store
            .query(&caller(), &req, &QueryLimits::default())
            .await
        {
            Ok(rs) => rs,
            Err(e) => {
                failures.push(format!("{q}\n  SQL engine error: {e}"));
                continue;
            }
        };
        compared += 1;
        let got = cdr_aql_oracle::ResultSet {
            columns: got
                .columns
                .iter()
                .map(|c| cdr_aql_oracle::Column {
                    name: c.name.clone(),
                    path: c.path.clone(),
                })
                .collect(),
            rows: got.values(),
        };
        // Row order is only defined up to ties of the ORDER BY keys; the generator adds
        // LIMIT/OFFSET only when the keys cover every column, so compare in order then.
        let ordered = !ast.order_by.is_empty() && (ast.limit.is_some() || ast.select.top.is_some());
        if let Err(e) = same_rows(&expected, &got, ordered) {
            failures.push(format!("{q}\n  {e}"));
        }
    }
    assert!(compared >= 100, "only {compared} queries compared");
    assert!(
        failures.is_empty(),
        "{} of {compared} queries differ:\n{}",
        failures.len(),
        failures
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
