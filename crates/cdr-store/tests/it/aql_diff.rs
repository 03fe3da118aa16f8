//! Differential tests: generated queries over the store's data give the same rows through the
//! SQL engine as through the in-memory oracle (cdr-aql-oracle) over the same documents.

use serde_json::{Map, Value};

use cdr_aql_oracle::{
    evaluate, generate, same_rows, Catalog, Dataset, Ehr, Version, VersionedObject,
};
use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{format_time, Principal, Store, VoKind};

use crate::aql::{build, create_directory, folder};
use crate::aql_semantics::family_status;
use crate::common::{caller, meta};

/// Everything in the store, as the oracle's data set.
pub(crate) async fn dataset(store: &Store) -> Dataset {
    let client = store.pool().get().await.unwrap();
    let mut ehrs = Vec::new();
    for row in client.query("SELECT ehr_id FROM ehr", &[]).await.unwrap() {
        let ehr_id: uuid::Uuid = row.get(0);
        let record = store.get_ehr(&caller(), ehr_id).await.unwrap();
        // Kinds as the schema codes them: 1 compositions, 2 EHR_STATUS, 3 the directory.
        let objects = |kind: VoKind, code: i16| {
            let client = &client;
            async move {
                let vos = client
                    .query(
                        "SELECT vo_id FROM versioned_object WHERE ehr_id = $1 AND kind = $2",
                        &[&ehr_id, &code],
                    )
                    .await
                    .unwrap();
                let mut out = Vec::new();
                for vo in vos {
                    out.push(versioned(store, ehr_id, kind, vo.get(0)).await);
                }
                out
            }
        };
        let compositions = objects(VoKind::Composition, 1).await;
        let ehr_status = objects(VoKind::EhrStatus, 2)
            .await
            .pop()
            .unwrap_or_default();
        let directory = objects(VoKind::Folder, 3).await.pop();
        ehrs.push(Ehr {
            ehr_id: ehr_id.to_string(),
            system_id: record.system_id.clone(),
            time_created: format_time(record.time_created),
            json: record.to_json(),
            compositions,
            ehr_status,
            directory,
        });
    }
    Dataset { ehrs }
}

/// Every document of the data set (compositions, EHR_STATUS, directories, all versions).
pub(crate) fn documents(data: &Dataset) -> Vec<Value> {
    data.ehrs
        .iter()
        .flat_map(|e| {
            e.compositions
                .iter()
                .chain([&e.ehr_status])
                .chain(&e.directory)
        })
        .flat_map(|c| c.versions.iter())
        .filter_map(|v| v.document.clone())
        .collect()
}

/// The rows of a query through SQL.
async fn sql_rows(store: &Store, aql: &str, params: &Map<String, Value>) -> Vec<Vec<Value>> {
    let req = QueryRequest {
        aql,
        params: params.clone(),
        ..QueryRequest::default()
    };
    match store.query(&caller(), &req, &QueryLimits::default()).await {
        Ok(rs) => rs.values(),
        Err(e) => panic!("{aql}: {e}"),
    }
}

/// The rows of a query through SQL, asserted equal (as a multiset, or in order when
/// `ordered`) to the oracle's over the same data.
pub(crate) async fn agree(
    store: &Store,
    aql: &str,
    params: Value,
    ordered: bool,
) -> Vec<Vec<Value>> {
    let params: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    let got = sql_rows(store, aql, &params).await;
    let data = dataset(store).await;
    let ast = cdr_aql::parse(aql).unwrap();
    let expected = evaluate(&ast, &params, &data).unwrap_or_else(|e| panic!("{aql}: {e}"));
    let as_rs = |rows: Vec<Vec<Value>>| cdr_aql_oracle::ResultSet {
        columns: expected.columns.clone(),
        rows,
    };
    if let Err(e) = same_rows(&expected, &as_rs(got.clone()), ordered) {
        panic!("{aql}: SQL and oracle differ: {e}\nSQL: {got:?}");
    }
    got
}

/// Runs each generated query through SQL as `who` and through the oracle over `data` (what
/// `who` may see): the number of queries compared (those the oracle supports) and a line per
/// difference.
pub(crate) async fn compare(
    store: &Store,
    who: &Principal,
    data: &Dataset,
    queries: &[String],
) -> (usize, Vec<String>) {
    let params = Map::new();
    let mut compared = 0;
    let mut failures = Vec::new();
    for q in queries {
        let ast = cdr_aql::parse(q).expect("generated queries parse");
        let Ok(expected) = evaluate(&ast, &params, data) else {
            continue; // the oracle does not support it
        };
        let req = QueryRequest {
            aql: q,
            ..QueryRequest::default()
        };
        let got = match store.query(who, &req, &QueryLimits::default()).await {
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
    (compared, failures)
}

/// The versions of one versioned object.
async fn versioned(
    store: &Store,
    ehr_id: uuid::Uuid,
    kind: VoKind,
    vo_id: uuid::Uuid,
) -> VersionedObject {
    let versions = store
        .all_versions(&caller(), ehr_id, kind, vo_id)
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
    VersionedObject {
        id: vo_id.to_string(),
        versions,
    }
}

#[tokio::test]
async fn generated_queries_agree_with_the_oracle() {
    let d = build().await;
    // EHR A's EHR_STATUS gets content, and EHR A a directory: the root files a1 by object id
    // and b2 (of EHR B, so nothing) by version uid, a sub-folder files a1 by version uid.
    let first = d
        .store
        .get_ehr_status(&caller(), d.ehr_a, None)
        .await
        .unwrap()
        .uid;
    d.store
        .update_ehr_status(&caller(), d.ehr_a, &first, family_status(), meta())
        .await
        .unwrap();
    let a1 = d.a1.to_string();
    let object_id = a1.split("::").next().unwrap();
    let root = folder(
        "root",
        &[object_id, &d.b2.to_string()],
        vec![folder("sub", &[&a1], vec![])],
    );
    create_directory(&d.store, d.ehr_a, root).await;
    let data = dataset(&d.store).await;
    // The catalog knows the compositions', EHR_STATUS's and directory's archetypes.
    let catalog = Catalog::from_documents(&documents(&data));
    let queries = generate(7, &catalog, 300);
    let (compared, failures) = compare(&d.store, &caller(), &data, &queries).await;
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
