//! Stored queries over HTTP: DEFINITION (put, list, get) and QUERY (run by name and version),
//! and their admin delete.

use serde_json::json;

use crate::common::{server, server_with_template, Server, BASE};

const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";

/// PUTs `q` as text/plain at `path` (below `/definition/query/`).
async fn put(srv: &Server, path: &str, q: &str) -> crate::common::Resp {
    srv.put(&format!("/definition/query/{path}"))
        .body("text/plain", q)
        .send()
        .await
}

#[tokio::test]
async fn put_list_and_get_with_assigned_explicit_and_partial_versions() {
    let srv = server().await;
    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c";
    let res = put(&srv, "org.example::uids", q).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res
        .header("location")
        .unwrap()
        .ends_with(&format!("{BASE}/definition/query/org.example::uids/1.0.0")));
    let body = res.json();
    assert_eq!(body["name"], "org.example::uids");
    assert_eq!(body["type"], "AQL");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["q"], q);
    assert!(body["saved"].as_str().unwrap().ends_with('Z'));

    // Again: the next patch. With ?query_type=aql (any case) and as JSON {"q": …}.
    let res = srv
        .put("/definition/query/org.example::uids?query_type=aql")
        .json(&json!({"q": q}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["version"], "1.0.1");
    // Explicit, then partial versions.
    let res = put(&srv, "org.example::uids/2.1.0", q).await;
    assert_eq!(res.json()["version"], "2.1.0");
    put(&srv, "org.example::uids/2.1.0", q)
        .await
        .problem(409, "conflict");
    let res = put(&srv, "org.example::uids/1", q).await;
    assert_eq!(res.json()["version"], "1.0.2");
    let res = put(&srv, "org.example::uids/3.2", q).await;
    assert_eq!(res.json()["version"], "3.2.0");
    // Without a namespace, and another namespace.
    assert_eq!(put(&srv, "plain_name", q).await.status, 200);
    assert_eq!(put(&srv, "org.other::uids", q).await.status, 200);

    let list = |path: &'static str| {
        let req = srv.get(path);
        async move {
            let res = req.send().await;
            assert_eq!(res.status, 200, "{}", res.text());
            assert_eq!(res.header("content-type"), Some("application/json"));
            res.json()
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s["name"].as_str().unwrap(),
                        s["version"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(list("/definition/query").await.len(), 7);
    assert_eq!(
        list("/definition/query/org.example").await,
        [
            "org.example::uids/3.2.0",
            "org.example::uids/2.1.0",
            "org.example::uids/1.0.2",
            "org.example::uids/1.0.1",
            "org.example::uids/1.0.0",
        ]
    );
    assert_eq!(list("/definition/query/org.").await.len(), 6);
    assert_eq!(list("/definition/query/plain").await, ["plain_name/1.0.0"]);
    assert!(list("/definition/query/nothing").await.is_empty());
    assert!(list("/definition/query/bad%20chars").await.is_empty());

    let get = |version: &str| srv.get(&format!("/definition/query/org.example::uids/{version}"));
    for (asked, found) in [
        ("1", "1.0.2"),
        ("1.0", "1.0.2"),
        ("2.1.0", "2.1.0"),
        ("3", "3.2.0"),
    ] {
        let res = get(asked).send().await;
        assert_eq!(res.status, 200, "{}", res.text());
        let body = res.json();
        assert_eq!(body["version"], found, "{asked}");
        assert_eq!(body["q"], q);
    }
    for missing in ["4", "1.1", "2.1.1"] {
        get(missing).send().await.problem(404, "not_found");
    }
    get("1.x").send().await.problem(400, "bad_request");
    srv.get("/definition/query/org.example::none/1")
        .send()
        .await
        .problem(404, "not_found");
    get("1")
        .header("Accept", "application/xml, application/problem+json")
        .send()
        .await
        .problem(406, "not_acceptable");
    // A client that takes only XML hears about it in XML.
    let res = get("1").header("Accept", "application/xml").send().await;
    assert_eq!(res.status, 406);
    assert_eq!(res.header("content-type"), Some("application/xml"));
    assert!(
        res.text().contains("<code>not_acceptable</code>"),
        "{}",
        res.text()
    );
}

#[tokio::test]
async fn bad_puts_are_client_errors() {
    let srv = server().await;
    let q = "SELECT e/ehr_id/value FROM EHR e";
    // The reserved name, in any case, with or without a namespace.
    for name in ["aql", "AQL", "org.x::Aql"] {
        put(&srv, name, q).await.problem(400, "bad_request");
    }
    put(&srv, "a%20b", q).await.problem(400, "bad_request");
    put(&srv, "org.x::", q).await.problem(400, "bad_request");
    put(&srv, "org.x::q/1.0.0-rc.1", q)
        .await
        .problem(400, "bad_request");
    put(&srv, "org.x::q/01", q)
        .await
        .problem(400, "bad_request");
    put(&srv, "org.x::q", "").await.problem(400, "bad_request");
    srv.put("/definition/query/org.x::q?query_type=SQL")
        .body("text/plain", q)
        .send()
        .await
        .problem(400, "bad_request");
    // AQL that does not parse: 400 with where.
    let p = put(&srv, "org.x::q", "SELECT e FROM EHR e WHERE")
        .await
        .problem(400, "bad_request");
    assert_eq!(
        (p["line"].clone(), p["column"].clone()),
        (json!(1), json!(26)),
        "{p}"
    );
    srv.put("/definition/query/org.x::q")
        .body("application/xml", "<q/>")
        .send()
        .await
        .problem(415, "unsupported_media_type");
    srv.put("/definition/query/org.x::q")
        .body("application/json", "{\"query\": \"x\"}")
        .send()
        .await
        .problem(400, "bad_request");
    srv.put("/definition/query/org.x::q")
        .body("application/json", "{\"q\": ")
        .send()
        .await
        .problem(400, "malformed_body");
    srv.put("/definition/query/org.x::q")
        .body("text/plain", b"SELECT e FROM EHR e\xff".to_vec())
        .send()
        .await
        .problem(400, "malformed_body");
    srv.put("/definition/query/org.x::q")
        .body(
            "text/plain",
            "SELECT e FROM EHR e WHERE e/ehr_id/value = 'a\0'",
        )
        .send()
        .await
        .problem(400, "bad_request");
    // Nothing was stored.
    assert_eq!(srv.get("/definition/query").send().await.json(), json!([]));
}

#[tokio::test]
async fn stored_queries_run_with_parameters_ehr_id_and_paging() {
    let srv = server_with_template().await;
    let (ehr, v1, _) = srv.ehr_with_composition().await;
    let other = srv.ehr().await;
    let v2 = srv.composition(&other).await;
    let q = format!(
        "SELECT e/ehr_id/value, c/uid/value AS uid, {SYS} AS sys \
         FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o WHERE c/name/value = $name"
    );
    assert_eq!(put(&srv, "org.example::high/1.0.0", &q).await.status, 200);
    // The latest version (1.1.0) also wants a number.
    let q2 = format!("{q} AND {SYS} > $min");
    assert_eq!(put(&srv, "org.example::high/1.1.0", &q2).await.status, 200);

    // GET: parameters by name (URL parameters are strings), bound to one EHR.
    let res = srv
        .get(&format!(
            "/query/org.example::high/1.0.0?name=Encounter&ehr_id={ehr}"
        ))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let rs = res.json();
    assert_eq!(rs["name"], "org.example::high");
    assert_eq!(rs["q"], json!(q));
    assert_eq!(rs["meta"]["_executed_aql"], json!(q));
    // A GET's _href is the stored query at the version the request named, without parameters.
    assert_eq!(
        rs["meta"]["_href"],
        format!("http://{}{BASE}/query/org.example::high/1.0.0", srv.addr)
    );
    assert_eq!(
        rs["columns"][1],
        json!({"name": "uid", "path": "c/uid/value"})
    );
    assert_eq!(rs["rows"], json!([[ehr, v1, 120.0]]));

    // A partial version picks the highest it matches; the EHR from the header.
    let res = srv
        .get("/query/org.example::high/1.0?name=Encounter")
        .header("openEHR-EHR-id", &other)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], json!([[other, v2, 120.0]]));
    assert_eq!(
        res.json()["meta"]["_href"],
        format!("http://{}{BASE}/query/org.example::high/1.0", srv.addr),
        "the version as the request gave it"
    );
    let res = srv
        .get(&format!(
            "/query/org.example::high?name=Encounter&min=1&ehr_id={ehr}"
        ))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["meta"]["_href"],
        format!("http://{}{BASE}/query/org.example::high", srv.addr),
        "no version named, none in _href"
    );

    // POST: the latest version, typed parameters, paging, the EHR among the parameters.
    let run = |body: serde_json::Value| srv.post("/query/org.example::high").json(&body).send();
    let res = run(json!({"query_parameters": {"name": "Encounter", "min": 100}})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    let rs = res.json();
    assert_eq!(rs["q"], json!(q2));
    assert!(rs["meta"].get("_href").is_none(), "a POST has none: {rs}");
    assert_eq!(rs["rows"].as_array().unwrap().len(), 2);
    let res = run(json!({"query_parameters": {"name": "Encounter", "min": 120}})).await;
    assert_eq!(res.json()["rows"], json!([]));
    let res = run(
        json!({"query_parameters": {"name": "Encounter", "min": 100}, "fetch": 1, "offset": 0}),
    )
    .await;
    assert_eq!(res.json()["rows"].as_array().unwrap().len(), 1);
    let res =
        run(json!({"query_parameters": {"name": "Encounter", "min": 100}, "offset": 5})).await;
    assert_eq!(res.json()["rows"], json!([]));
    let res =
        run(json!({"query_parameters": {"name": "Encounter", "min": 100, "ehr_id": other}})).await;
    assert_eq!(res.json()["rows"], json!([[other, v2, 120.0]]));
    let res = srv
        .post(&format!("/query/org.example::high/1?ehr_id={ehr}"))
        .json(&json!({"query_parameters": {"name": "Encounter", "min": 1}}))
        .send()
        .await;
    assert_eq!(res.json()["rows"], json!([[ehr, v1, 120.0]]));

    // A query without parameters runs from an empty POST body.
    put(
        &srv,
        "org.example::all",
        "SELECT c/uid/value FROM COMPOSITION c",
    )
    .await;
    let res = srv.post("/query/org.example::all").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"].as_array().unwrap().len(), 2);

    // Ad hoc queries still run at /query/aql.
    let res = srv
        .get("/query/aql?q=SELECT%20c%2Fuid%2Fvalue%20FROM%20COMPOSITION%20c")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.json().get("name").is_none());
}

#[tokio::test]
async fn running_unknown_or_bad_stored_queries() {
    let srv = server_with_template().await;
    srv.get("/query/org.example::none")
        .send()
        .await
        .problem(404, "not_found");
    srv.post("/query/org.example::none/1.0.0")
        .json(&json!({}))
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/query/AQL")
        .send()
        .await
        .problem(400, "bad_request");
    let q = "SELECT c/uid/value FROM COMPOSITION c WHERE c/uid/value = $uid";
    put(&srv, "org.example::by_uid", q).await;
    srv.get("/query/org.example::by_uid/2")
        .send()
        .await
        .problem(404, "not_found");
    // A missing parameter, a bad EHR id, bad paging, a body that is not an object.
    let p = srv
        .get("/query/org.example::by_uid")
        .send()
        .await
        .problem(400, "bad_request");
    assert!(p["detail"].as_str().unwrap().contains("$uid"), "{p}");
    srv.get("/query/org.example::by_uid?uid=x&ehr_id=nope")
        .send()
        .await
        .problem(400, "invalid_parameter");
    srv.get("/query/org.example::by_uid?uid=x&fetch=-2")
        .send()
        .await
        .problem(400, "invalid_parameter");
    // Found by schemathesis: a body that is not JSON by its media type is 415.
    for path in ["/query/org.example::by_uid", "/query/aql"] {
        srv.post(path)
            .body("AAA", "{}")
            .send()
            .await
            .problem(415, "unsupported_media_type");
    }
    srv.post("/query/org.example::by_uid")
        .json(&json!([1]))
        .send()
        .await
        .problem(400, "bad_request");
    srv.post("/query/org.example::by_uid")
        .json(&json!({"query_parameters": 3}))
        .send()
        .await
        .problem(400, "bad_request");
}

#[tokio::test]
async fn admin_deletes_one_exact_version() {
    let srv = server().await;
    let q = "SELECT e/ehr_id/value FROM EHR e";
    put(&srv, "org.x::q", q).await;
    put(&srv, "org.x::q", q).await;
    srv.delete("/admin/query/org.x::q/1")
        .send()
        .await
        .problem(400, "bad_request");
    // 200 without a body, as EHRbase answers.
    let res = srv.delete("/admin/query/org.x::q/1.0.1").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(res.body.is_empty());
    srv.delete("/admin/query/org.x::q/1.0.1")
        .send()
        .await
        .problem(404, "not_found");
    srv.get("/definition/query/org.x::q/1.0.1")
        .send()
        .await
        .problem(404, "not_found");
    let res = srv.get("/definition/query/org.x::q/1").send().await;
    assert_eq!(res.json()["version"], "1.0.0");
    // The freed version is assigned again.
    assert_eq!(put(&srv, "org.x::q", q).await.json()["version"], "1.0.1");
}
