//! DIRECTORY: the EHR's versioned folder tree.

use serde_json::{json, Value};

use crate::common::server;

fn folder(name: &str, subs: Vec<Value>) -> Value {
    json!({
        "_type": "FOLDER",
        "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
        "name": {"_type": "DV_TEXT", "value": name},
        "folders": subs,
    })
}

fn tree() -> Value {
    folder(
        "root",
        vec![
            folder("episodes", vec![folder("a", vec![])]),
            folder("notes", vec![]),
        ],
    )
}

#[tokio::test]
async fn create_get_paths_update_delete() {
    let srv = server().await;
    let ehr = srv.ehr().await;
    let dir = format!("/ehr/{ehr}/directory");
    let res = srv.post(&dir).json(&tree()).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v1 = res.etag();
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("{dir}/{v1}")));
    srv.post(&dir)
        .json(&tree())
        .send()
        .await
        .problem(409, "conflict");

    let res = srv.get(&dir).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.etag(), v1);
    assert_eq!(res.json()["name"]["value"], "root");
    let res = srv.get(&format!("{dir}?path=episodes/a")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["name"]["value"], "a");
    let res = srv
        .get(&format!("{dir}?path=episodes"))
        .header("Accept", "application/xml")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.text().contains("<folder"), "{}", res.text());
    srv.get(&format!("{dir}?path=episodes/zzz"))
        .send()
        .await
        .problem(404, "not_found");
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;

    let res = srv
        .put(&dir)
        .header("If-Match", &format!("\"{v1}\""))
        .header("Prefer", "return=representation")
        .json(&folder("root", vec![]))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let v2 = res.etag();
    assert_eq!(res.json()["uid"]["value"], v2);
    let res = srv
        .put(&dir)
        .header("If-Match", &format!("\"{v1}\""))
        .json(&tree())
        .send()
        .await;
    res.problem(412, "version_conflict");
    assert_eq!(res.etag(), v2);
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("{dir}/{v2}")));

    let res = srv
        .delete(&dir)
        .header("If-Match", &format!("\"{v2}\""))
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let res = srv.get(&dir).send().await;
    assert_eq!(res.status, 204);
    assert!(res.body.is_empty());
    let res = srv
        .get(&format!("{dir}?version_at_time={between}"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.etag(), v1);
    let res = srv.get(&format!("{dir}/{v1}?path=episodes")).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["name"]["value"], "episodes");
    srv.delete(&dir).send().await.problem(400, "invalid_header");
}

#[tokio::test]
async fn no_directory_and_bad_folders() {
    let srv = server().await;
    let ehr = srv.ehr().await;
    let dir = format!("/ehr/{ehr}/directory");
    srv.get(&dir).send().await.problem(404, "not_found");
    srv.get(&format!("/ehr/{}/directory", uuid::Uuid::new_v4()))
        .send()
        .await
        .problem(404, "not_found");
    // Sibling folders need distinct names.
    let twins = folder("root", vec![folder("x", vec![]), folder("x", vec![])]);
    let body = srv
        .post(&dir)
        .json(&twins)
        .send()
        .await
        .problem(400, "bad_request");
    assert!(
        body["detail"].as_str().unwrap().contains("sibling"),
        "{body}"
    );
    // A FOLDER without its node id and name is malformed: each missing attribute by its path.
    let body = srv
        .post(&dir)
        .json(&json!({"_type": "FOLDER"}))
        .send()
        .await
        .problem(400, "malformed_content");
    let paths: Vec<_> = body["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/archetype_node_id", "/name"], "{body}");
}

/// Every folder below `f` (itself included).
fn all_folders(f: &Value) -> Vec<&Value> {
    let mut out = vec![f];
    for sub in f["folders"].as_array().into_iter().flatten() {
        out.extend(all_folders(sub));
    }
    out
}

#[tokio::test]
async fn every_folder_gets_a_uid_and_sub_folders_keep_theirs() {
    let srv = server().await;
    let ehr = srv.ehr().await;
    let dir = format!("/ehr/{ehr}/directory");
    let res = srv
        .post(&dir)
        .header("Prefer", "return=representation")
        .json(&tree())
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let root = res.json();
    assert_eq!(root["uid"]["value"], res.etag());
    let subs = &all_folders(&root)[1..];
    assert_eq!(subs.len(), 3);
    let mut uids: Vec<&str> = subs
        .iter()
        .map(|f| {
            assert_eq!(f["uid"]["_type"], "HIER_OBJECT_ID", "{f}");
            f["uid"]["value"].as_str().unwrap()
        })
        .collect();
    assert!(
        uids.iter().all(|u| uuid::Uuid::parse_str(u).is_ok()),
        "{uids:?}"
    );
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), 3);

    // What was read back and sent again keeps its sub-folders' uids.
    let mut again = root.clone();
    again["folders"][1]["folders"] = json!([folder("new", vec![])]);
    let res = srv
        .put(&dir)
        .header(
            "If-Match",
            &format!("\"{}\"", root["uid"]["value"].as_str().unwrap()),
        )
        .header("Prefer", "return=representation")
        .json(&again)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let updated = res.json();
    assert_eq!(updated["folders"][0]["uid"], root["folders"][0]["uid"]);
    assert_eq!(
        updated["folders"][0]["folders"][0]["uid"],
        root["folders"][0]["folders"][0]["uid"]
    );
    let new = &updated["folders"][1]["folders"][0];
    assert_eq!(new["name"]["value"], "new");
    assert_eq!(new["uid"]["_type"], "HIER_OBJECT_ID", "{new}");

    // As stored: GET answers the same.
    let res = srv.get(&dir).send().await;
    assert_eq!(res.json(), updated);
}

#[tokio::test]
async fn an_empty_version_at_time_is_none() {
    let srv = server().await;
    let ehr = srv.ehr().await;
    let dir = format!("/ehr/{ehr}/directory");
    let v1 = srv.post(&dir).json(&tree()).send().await.etag();
    for path in [
        format!("{dir}?version_at_time="),
        format!("/ehr/{ehr}/ehr_status?version_at_time="),
    ] {
        let res = srv.get(&path).send().await;
        assert_eq!(res.status, 200, "{path}: {}", res.text());
        if path.starts_with(&dir) {
            assert_eq!(res.etag(), v1);
        }
    }
}

#[tokio::test]
async fn changing_a_directory_the_ehr_does_not_have_is_412() {
    let srv = server().await;
    let ehr = srv.ehr().await;
    let dir = format!("/ehr/{ehr}/directory");
    let given = crate::common::unknown_version();
    let res = srv
        .put(&dir)
        .header("If-Match", &format!("\"{given}\""))
        .json(&tree())
        .send()
        .await;
    let body = res.problem(412, "version_conflict");
    assert!(body["detail"].as_str().unwrap().contains(&given), "{body}");
    assert!(res.header("etag").is_none());
    srv.delete(&dir)
        .header("If-Match", &format!("\"{given}\""))
        .send()
        .await
        .problem(412, "version_conflict");
    // An unknown EHR stays 404.
    srv.delete(&format!("/ehr/{}/directory", uuid::Uuid::new_v4()))
        .header("If-Match", &format!("\"{given}\""))
        .send()
        .await
        .problem(404, "not_found");
}
