//! QUERY: ad hoc AQL over HTTP.

use serde_json::json;

use crate::common::{server_with_template, Server, BASE};

const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";

#[tokio::test]
async fn get_and_post_aql() {
    let srv = server_with_template().await;
    let (ehr, v1, _) = srv.ehr_with_composition().await;
    let other = srv.ehr().await;
    srv.composition(&other).await;

    let q = format!("SELECT e/ehr_id/value, c/uid/value, {SYS} AS sys FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o");
    let res = srv
        .post("/query/aql")
        .json(&json!({"q": q, "query_parameters": {"ehr_id": ehr}}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let rs = res.json();
    assert_eq!(rs["q"], json!(q));
    assert_eq!(rs["columns"][2], json!({"name": "sys", "path": SYS}));
    assert_eq!(rs["rows"], json!([[ehr, v1, 120.0]]));

    // All EHRs, then paged with fetch/offset; parameters by name.
    let body = json!({"q": format!("SELECT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION c WHERE c/uid/value = $uid"),
                      "query_parameters": {"uid": v1}});
    let res = srv.post("/query/aql").json(&body).send().await;
    assert_eq!(res.json()["rows"], json!([[ehr]]));
    let res = srv
        .post("/query/aql")
        .json(&json!({"q": "SELECT c/uid/value FROM COMPOSITION c", "fetch": 1, "offset": 1}))
        .send()
        .await;
    assert_eq!(res.json()["rows"].as_array().unwrap().len(), 1);

    let target = format!(
        "/query/aql?q={}&ehr_id={other}",
        "SELECT%20e%2Fehr_id%2Fvalue%20FROM%20EHR%20e%20CONTAINS%20COMPOSITION%20c"
    );
    let res = srv.get(&target).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], json!([[other]]));
}

#[tokio::test]
async fn bad_queries_are_400_with_the_position() {
    let srv = server_with_template().await;
    let res = srv
        .post("/query/aql")
        .json(&json!({"q": "SELECT c FROM COMPOSITION c WHERE"}))
        .send()
        .await;
    let p = res.problem(400, "bad_request");
    assert_eq!(p["line"], 1, "{p}");
    let res = srv
        .post("/query/aql")
        .json(&json!({"q": "SELECT x FROM COMPOSITION c"}))
        .send()
        .await;
    let p = res.problem(400, "bad_request");
    assert_eq!(p["column"], 8, "{p}");
    srv.post("/query/aql")
        .body("application/json", "{\"q\": ")
        .send()
        .await
        .problem(400, "malformed_body");
    srv.get("/query/aql")
        .send()
        .await
        .problem(400, "invalid_parameter");
    srv.post("/query/aql")
        .json(&json!({"q": "SELECT c FROM COMPOSITION c", "fetch": -1}))
        .send()
        .await
        .problem(400, "invalid_parameter");
}

/// TERMINOLOGY() over HTTP: 400 at the call without a terminology server, 502 when the
/// configured one cannot be reached.
#[tokio::test]
async fn terminology_without_a_working_server() {
    let srv = server_with_template().await;
    srv.ehr_with_composition().await;
    let q = "SELECT c/uid/value FROM COMPOSITION c WHERE c/category/defining_code/code_string \
             MATCHES TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://example.org/vs/x')";
    let res = srv.post("/query/aql").json(&json!({ "q": q })).send().await;
    assert_eq!(res.status, 400, "{}", res.text());
    let body = res.json();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("--terminology-url"),
        "{body}"
    );
    assert_eq!(body["line"], 1);
    assert_eq!(body["column"], q.find("TERMINOLOGY").unwrap() + 1);

    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let service = cdr_store::TerminologyService::new(&format!("http://127.0.0.1:{port}/fhir"));
    assert!(srv.store.use_terminology(service.unwrap()));
    let res = srv.post("/query/aql").json(&json!({ "q": q })).send().await;
    assert_eq!(res.status, 502, "{}", res.text());
    assert_eq!(res.json()["code"], "terminology_unavailable");
}

/// POSTs an ad hoc query; asserts 200 and returns the RESULT_SET.
async fn post_aql(srv: &Server, body: serde_json::Value) -> serde_json::Value {
    let res = srv.post("/query/aql").json(&body).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

/// GETs `target` (below the base path); asserts 200 and returns the RESULT_SET.
async fn get_aql(srv: &Server, target: &str) -> serde_json::Value {
    let res = srv.get(target).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()
}

const POSITION: &str =
    "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value/defining_code/code_string";

/// RESULT_SET details clients read: `path` only on path columns; whole RM objects with
/// `_type` left out where EHRbase leaves it out (ARCHETYPED, ARCHETYPE_ID, TEMPLATE_ID, LINK,
/// HISTORY), the root and everything else tagged; `meta` with `_created`, paging and, for a GET,
/// the `_href` of the query resource.
#[tokio::test]
async fn result_set_columns_cells_and_meta() {
    let srv = server_with_template().await;
    let (ehr, _, _) = srv.ehr_with_composition().await;
    let q = "SELECT c AS full, c/archetype_details AS details, o/data[at0001] AS history, \
             'x' AS lit, LENGTH(c/name/value) AS len \
             FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o";
    let rs = post_aql(&srv, json!({"q": q, "query_parameters": {"ehr_id": ehr}})).await;
    assert_eq!(
        rs["columns"],
        json!([
            {"name": "full", "path": "c"},
            {"name": "details", "path": "c/archetype_details"},
            {"name": "history", "path": "o/data[at0001]"},
            {"name": "lit"},
            {"name": "len"}
        ])
    );
    let row = &rs["rows"][0];
    let full = &row[0];
    assert_eq!(full["_type"], "COMPOSITION");
    assert_eq!(full["name"]["_type"], "DV_TEXT");
    let details = &full["archetype_details"];
    assert!(details.get("_type").is_none(), "{details}");
    assert!(details["archetype_id"].get("_type").is_none(), "{details}");
    assert_eq!(
        details["archetype_id"]["value"],
        "openEHR-EHR-COMPOSITION.encounter.v1"
    );
    assert!(details["template_id"].get("_type").is_none(), "{details}");
    assert_eq!(full["language"]["_type"], "CODE_PHRASE");
    assert_eq!(
        full["language"]["terminology_id"]["_type"],
        "TERMINOLOGY_ID"
    );
    let observation = &full["content"][0];
    assert_eq!(observation["_type"], "OBSERVATION");
    assert!(observation["data"].get("_type").is_none(), "{observation}");
    assert_eq!(observation["data"]["events"][0]["_type"], "POINT_EVENT");
    assert_eq!(row[1], *details, "the same object selected on its own");
    assert!(row[2].get("_type").is_none(), "{}", row[2]);
    assert_eq!(row[2]["events"][0]["_type"], "POINT_EVENT");
    assert_eq!(row[3], "x");
    let meta = &rs["meta"];
    assert_eq!(meta["_type"], "RESULTSET");
    let created = meta["_created"].as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok(),
        "{meta}"
    );
    assert!(
        meta.get("_href").is_none(),
        "a POST has no URL that runs it: {meta}"
    );
    assert!(
        meta.get("fetch").is_none() && meta.get("offset").is_none(),
        "{meta}"
    );

    // Aggregates have no path either; paging is reported as given.
    let q = format!("SELECT COUNT(*) AS n, MAX({SYS}) FROM EHR e CONTAINS OBSERVATION o");
    let rs = post_aql(&srv, json!({"q": q, "fetch": 10})).await;
    assert_eq!(
        rs["columns"],
        json!([{"name": "n"}, {"name": "#1"}]),
        "{rs}"
    );
    assert_eq!(rs["rows"], json!([[1, 120.0]]));
    assert_eq!(
        (&rs["meta"]["fetch"], &rs["meta"]["offset"]),
        (&json!(10), &json!(0))
    );
    let q = "SELECT c/uid/value FROM COMPOSITION c";
    let rs = post_aql(&srv, json!({"q": q, "offset": 1})).await;
    assert_eq!(rs["meta"]["offset"], 1, "{rs}");
    assert!(rs["meta"].get("fetch").is_none(), "{rs}");

    // A GET's _href is the resource it ran, without the request's parameters.
    let target = format!(
        "/query/aql?q=SELECT%20c%2Fname%2Fvalue%20FROM%20COMPOSITION%20c&ehr_id={ehr}&fetch=5"
    );
    let rs = get_aql(&srv, &target).await;
    let meta = &rs["meta"];
    assert_eq!(
        meta["_href"],
        format!("http://{}{BASE}/query/aql", srv.addr),
        "{rs}"
    );
    assert_eq!((&meta["fetch"], &meta["offset"]), (&json!(5), &json!(0)));
    assert_eq!(rs["rows"], json!([["Encounter"]]));
}

/// `meta` as the specification's example and EHRbase write it: `_generator` naming cdr,
/// `_executed_aql`, and the paging applied — the query's own LIMIT (or TOP) and OFFSET (0 when
/// not written) as well as the request's `fetch` and `offset`; `resultsize` is the size of the
/// whole result, also when the rows are a page of it.
#[tokio::test]
async fn result_set_meta_names_the_generator_and_the_paging() {
    let srv = server_with_template().await;
    srv.ehr_with_composition().await;
    srv.ehr_with_composition().await;
    let base = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c";
    for (q, fetch, offset, rows) in [
        (
            format!("{base} ORDER BY c/uid/value LIMIT 1 OFFSET 1"),
            json!(1),
            json!(1),
            1,
        ),
        (format!("{base} LIMIT 1"), json!(1), json!(0), 1),
        (
            "SELECT TOP 1 c/uid/value FROM EHR e CONTAINS COMPOSITION c".to_owned(),
            json!(1),
            json!(0),
            1,
        ),
        (base.to_owned(), json!(null), json!(null), 2),
        (format!("{base} LIMIT 5 OFFSET 5"), json!(5), json!(5), 0),
    ] {
        let rs = post_aql(&srv, json!({"q": q})).await;
        assert_eq!(rs["rows"].as_array().unwrap().len(), rows, "{q}");
        let meta = &rs["meta"];
        assert_eq!(
            meta["_generator"],
            format!("cdr/{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(meta["_executed_aql"], json!(q));
        assert_eq!((&meta["fetch"], &meta["offset"]), (&fetch, &offset), "{q}");
        // The size of the whole result, whatever the page.
        assert_eq!(meta["resultsize"], 2, "{q}");
        let asked = post_aql(&srv, json!({"q": q, "fetch": 1, "offset": 1})).await;
        if q == base {
            assert_eq!(asked["rows"].as_array().unwrap().len(), 1);
            assert_eq!(asked["meta"]["resultsize"], 2, "{asked}");
        }
        assert!(meta.get("_href").is_none(), "a POST has none: {meta}");
        for member in ["_type", "_schema_version", "_created"] {
            assert!(meta.get(member).is_some(), "{member}: {meta}");
        }
    }
    // The query's LIMIT is what runs, so it is what meta reports, whatever the request says.
    let q = format!("{base} LIMIT 1");
    let rs = post_aql(&srv, json!({"q": q, "fetch": 5, "offset": 0})).await;
    assert_eq!(
        (&rs["meta"]["fetch"], &rs["meta"]["offset"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(rs["rows"].as_array().map(Vec::len), Some(1));
    let target =
        "/query/aql?q=SELECT%20c%2Fuid%2Fvalue%20FROM%20COMPOSITION%20c%20LIMIT%201%20OFFSET%201";
    let rs = get_aql(&srv, target).await;
    assert_eq!(
        rs["meta"]["_href"],
        format!("http://{}{BASE}/query/aql", srv.addr)
    );
    assert_eq!(
        (&rs["meta"]["fetch"], &rs["meta"]["offset"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(
        rs["meta"]["_generator"],
        format!("cdr/{}", env!("CARGO_PKG_VERSION"))
    );
}

/// `$ehr_id` comes from `query_parameters` (which also binds the EHR) or from the `ehr_id`
/// request parameter; a MATCHES list may be a parameter given as a JSON array.
#[tokio::test]
async fn ehr_id_and_array_parameters() {
    let srv = server_with_template().await;
    let (ehr, v1, _) = srv.ehr_with_composition().await;
    let other = srv.ehr().await;
    srv.composition(&other).await;

    let q = "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c WHERE e/ehr_id/value = $ehr_id";
    let rs = post_aql(&srv, json!({"q": q, "query_parameters": {"ehr_id": ehr}})).await;
    assert_eq!(rs["rows"], json!([[v1]]));
    let rs = get_aql(
        &srv,
        &format!(
            "/query/aql?q=SELECT%20c%2Fuid%2Fvalue%20FROM%20EHR%20e%20CONTAINS%20COMPOSITION%20c%20WHERE%20e%2Fehr_id%2Fvalue%20%3D%20%24ehr_id&ehr_id={ehr}"
        ),
    )
    .await;
    assert_eq!(rs["rows"], json!([[v1]]));

    // COUNT(*) of the observations whose position MATCHES `list`, `$codes` given.
    let count = |list: &str, codes: serde_json::Value| {
        let q = format!(
            "SELECT COUNT(*) FROM EHR e CONTAINS OBSERVATION o WHERE {POSITION} MATCHES {list}"
        );
        let srv = &srv;
        async move {
            post_aql(srv, json!({"q": q, "query_parameters": {"codes": codes}})).await["rows"]
                .clone()
        }
    };
    assert_eq!(
        count("$codes", json!(["at0021", "at0020"])).await,
        json!([[2]])
    );
    assert_eq!(
        count("{'at0099', $codes}", json!(["at0020"])).await,
        json!([[2]])
    );
    assert_eq!(count("$codes", json!(["at0021"])).await, json!([[0]]));
    assert_eq!(count("$codes", json!([])).await, json!([[0]]));
}

/// What clients see of AQL's rows and comparisons: one row per event with WHERE binding to
/// the same event, AQL LIKE wildcards, natural values of DV_ORDERED objects (AVG over them is
/// 400), impossible containments as 200 with no rows, a bare object id matching every version.
#[tokio::test]
async fn rows_wildcards_natural_values_containment_and_object_ids() {
    let srv = server_with_template().await;
    let ehr = srv.ehr().await;
    let two_events = crate::common::composition_with(|v| {
        let events = v["content"][0]["data"]["events"].as_array_mut().unwrap();
        let mut second = events[0].clone();
        second["time"]["value"] = serde_json::json!("2024-03-01T10:35:00Z");
        second["data"]["items"][0]["value"]["magnitude"] = serde_json::json!(140.0);
        events.push(second);
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .json(&two_events)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let v1 = res.etag();
    let aql = |q: &str, params: serde_json::Value| {
        srv.post("/query/aql")
            .json(&json!({"q": q, "query_parameters": params}))
            .send()
    };
    let events = "o/data[at0001]/events[at0002]";
    let from = "FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o";

    // 18: one row per event; WHERE through the same events keeps the matching one.
    let q = format!("SELECT {SYS} {from} WHERE {events}/time/value = $t");
    let res = aql(&q, json!({"t": "2024-03-01T10:35:00Z"})).await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], json!([[140.0]]));
    let res = aql(&format!("SELECT {SYS} {from}"), json!({})).await;
    assert_eq!(res.json()["rows"].as_array().unwrap().len(), 2);

    // 19: the quantity object by its magnitude; AVG over it is refused.
    let value = format!("{events}/data[at0003]/items[at0004]/value");
    let res = aql(
        &format!("SELECT {SYS} {from} WHERE {value} > 130"),
        json!({}),
    )
    .await;
    assert_eq!(res.json()["rows"], json!([[140.0]]));
    let res = aql(
        &format!("SELECT {SYS} {from} ORDER BY {value} DESC"),
        json!({}),
    )
    .await;
    assert_eq!(res.json()["rows"], json!([[140.0], [120.0]]));
    let res = aql(&format!("SELECT AVG({value}) {from}"), json!({})).await;
    let p = res.problem(400, "bad_request");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("AVG is not supported for"),
        "{p}"
    );

    // 20: `*` and `?`; `%` is an ordinary character.
    for (pattern, n) in [("Enc*", 2), ("Encounte?", 2), ("Enc%", 0)] {
        let q = format!("SELECT {SYS} {from} WHERE c/name/value LIKE '{pattern}'");
        let res = aql(&q, json!({})).await;
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.json()["rows"].as_array().unwrap().len(), n, "{pattern}");
    }

    // 21: an impossible containment answers no rows.
    let res = aql(
        "SELECT s FROM COMPOSITION c CONTAINS EHR_STATUS s",
        json!({}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json()["rows"], json!([]));
    let res = aql(
        "SELECT v/uid/value FROM EHR e CONTAINS VERSION v CONTAINS EHR_STATUS s",
        json!({}),
    )
    .await;
    assert_eq!(
        res.json()["rows"].as_array().unwrap().len(),
        1,
        "{}",
        res.text()
    );

    // 22: the object id matches every version of the object.
    let object_id = v1.split("::").next().unwrap();
    let res = srv
        .put(&format!("/ehr/{ehr}/composition/{object_id}"))
        .header("If-Match", &format!("\"{v1}\""))
        .json(&two_events)
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    let q = "SELECT c/uid/value FROM EHR e CONTAINS VERSION v[ALL_VERSIONS] \
             CONTAINS COMPOSITION c WHERE c/uid/value = $id";
    let res = aql(q, json!({"id": object_id})).await;
    assert_eq!(
        res.json()["rows"].as_array().unwrap().len(),
        2,
        "{}",
        res.text()
    );
}

/// `EHR e CONTAINS ELEMENT l` reaches the content of the EHR's EHR_STATUS as well as its
/// compositions, as EHRbase's clients expect (its conformance suite's `FROM EHR e CONTAINS
/// ELEMENT l[at0001]`); a class that cannot lie in an EHR_STATUS reads compositions only.
#[tokio::test]
async fn ehr_contains_reaches_the_ehr_status() {
    let srv = server_with_template().await;
    let status = json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF"},
        "is_queryable": true,
        "is_modifiable": true,
        "other_details": {"_type": "ITEM_TREE", "archetype_node_id": "at0000",
            "name": {"_type": "DV_TEXT", "value": "Details"},
            "items": [{"_type": "ELEMENT", "archetype_node_id": "at0001",
                "name": {"_type": "DV_TEXT", "value": "family group id"},
                "value": {"_type": "DV_TEXT", "value": "fam-7"}}]}
    });
    let res = srv.post("/ehr").json(&status).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    srv.composition(&ehr).await;
    let rows = |q: &str| {
        let body = json!({"q": q, "query_parameters": {"ehr_id": ehr}});
        let srv = &srv;
        async move {
            let mut rows: Vec<serde_json::Value> = post_aql(srv, body).await["rows"]
                .as_array()
                .unwrap()
                .clone();
            rows.sort_by_key(|r| r.to_string());
            rows
        }
    };
    assert_eq!(
        rows("SELECT l/name/value FROM EHR e CONTAINS ELEMENT l[at0001]").await,
        vec![json!(["Cuff"]), json!(["family group id"])]
    );
    assert_eq!(
        rows("SELECT l/name/value FROM EHR e CONTAINS EHR_STATUS s CONTAINS ELEMENT l").await,
        vec![json!(["family group id"])]
    );
    assert_eq!(
        rows("SELECT t/name/value FROM EHR e CONTAINS ITEM_TREE t").await,
        vec![json!(["Details"]), json!(["Tree"])]
    );
    assert_eq!(
        rows(&format!("SELECT {SYS} FROM EHR e CONTAINS OBSERVATION o")).await,
        vec![json!([120.0])]
    );
}

/// `Accept: text/csv` and `application/x-ndjson`: the rows streamed, a header row of the column
/// names in CSV, one object per row in NDJSON, whole RM objects as JSON; no row limit, but the
/// request's paging applies; other media types are 406 naming what a query answers.
#[tokio::test]
async fn results_as_csv_and_ndjson() {
    let srv = server_with_template().await;
    let (ehr, v1, _) = srv.ehr_with_composition().await;
    srv.composition(&ehr).await;
    let q = format!(
        "SELECT c/uid/value AS uid, {SYS} AS sys, c/name AS name FROM EHR e CONTAINS \
         COMPOSITION c CONTAINS OBSERVATION o ORDER BY c/uid/value"
    );
    let body = json!({"q": q});
    let csv = srv
        .post("/query/aql")
        .header("Accept", "text/csv")
        .json(&body)
        .send()
        .await;
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "uid,sys,name");
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{v1},120"))),
        "{text}"
    );
    // A DV_TEXT cell is its JSON, quoted as CSV quotes.
    assert!(
        lines[1].contains(",\"{\"\"_type\"\":") && lines[1].contains("\"\"DV_TEXT\"\""),
        "{text}"
    );
    assert_eq!(lines[3], "");

    let nd = srv
        .get(&format!(
            "/query/aql?q={}",
            "SELECT%20c%2Fuid%2Fvalue%20AS%20uid%20FROM%20COMPOSITION%20c"
        ))
        .header("Accept", "application/x-ndjson")
        .send()
        .await;
    assert_eq!(nd.status, 200, "{}", nd.text());
    assert_eq!(nd.header("content-type"), Some("application/x-ndjson"));
    let rows: Vec<serde_json::Value> = nd
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.contains(&json!({"uid": v1})), "{rows:?}");

    // Paged as asked.
    let paged = srv
        .post("/query/aql")
        .header("Accept", "application/x-ndjson")
        .json(&json!({"q": "SELECT c/uid/value FROM COMPOSITION c", "fetch": 1, "offset": 1}))
        .send()
        .await;
    assert_eq!(paged.text().lines().count(), 1);

    let html = srv
        .post("/query/aql")
        .header("Accept", "text/html")
        .json(&body)
        .send()
        .await;
    assert_eq!(html.status, 406);
    assert!(html.text().contains("text/csv"), "{}", html.text());
}

/// `cdr aql --format csv|ndjson [--output FILE]`: the rows streamed from the store.
#[tokio::test]
async fn cdr_aql_writes_csv_and_ndjson() {
    let pg = cdr_testkit::fresh_database().await;
    let store = cdr_store::Store::connect(pg.clone(), &cdr_testkit::config(), None)
        .await
        .unwrap();
    let mut ehrs = Vec::new();
    for _ in 0..3 {
        let ehr = store
            .create_ehr(
                &cdr_store::Principal::local(),
                None,
                None,
                Default::default(),
            )
            .await
            .unwrap()
            .ehr_id;
        ehrs.push(ehr.to_string());
    }
    ehrs.sort();
    let url = crate::common::database_url_of(&pg);
    let q = "SELECT e/ehr_id/value AS ehr FROM EHR e ORDER BY e/ehr_id/value";
    let aql = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cdr"))
            .arg("aql")
            .args(args)
            .arg(q)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    let csv = aql(&["--format", "csv"]);
    let mut expected = vec!["ehr".to_owned()];
    expected.extend(ehrs.iter().cloned());
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        format!("{}\r\n", expected.join("\r\n"))
    );
    let file = std::env::temp_dir().join(format!("cdr-aql-{}.ndjson", uuid::Uuid::new_v4()));
    let nd = aql(&["--format", "ndjson", "--output", file.to_str().unwrap()]);
    assert!(nd.stdout.is_empty());
    assert!(String::from_utf8_lossy(&nd.stderr).contains("3 rows"));
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let wanted: Vec<String> = ehrs
        .iter()
        .map(|e| json!({ "ehr": e }).to_string())
        .collect();
    assert_eq!(lines, wanted);
    let _ = std::fs::remove_file(file);
}
