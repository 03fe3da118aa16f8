//! AQL's TERMINOLOGY() against a FHIR R4 terminology server: a small one written here, on a
//! local port, answering the requests the store must make with canned FHIR resources.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{StoreError, TerminologyService};

use crate::aql::build;
use crate::common::caller;

const OBS: &str = "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1";
const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";
const POSITION: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0005]/value";

/// The answer to one request target: status and FHIR JSON.
fn answer(target: &str) -> (u16, Value) {
    let params = |pairs: Value| json!({"resourceType": "Parameters", "parameter": pairs});
    match target {
        "/fhir/ValueSet/$expand?url=http://example.org/vs/position-codes" => (
            200,
            json!({"resourceType": "ValueSet", "expansion": {"contains": [
                {"system": "local", "code": "at9999"},
                {"system": "local", "code": "at0019", "contains": [
                    {"system": "local", "code": "at0020"}
                ]}
            ]}}),
        ),
        "/fhir/ValueSet/$expand?url=http://example.org/vs/standing" => (
            200,
            json!({"resourceType": "ValueSet", "expansion": {"contains": [{"code": "Standing"}]}}),
        ),
        "/fhir/CodeSystem/$validate-code?system=http://snomed.info/sct&code=22298006" => (
            200,
            params(json!([{"name": "result", "valueBoolean": true}])),
        ),
        "/fhir/CodeSystem/$validate-code?system=http://snomed.info/sct&code=1" => (
            200,
            params(json!([{"name": "result", "valueBoolean": false}])),
        ),
        "/fhir/CodeSystem/$lookup?system=http://loinc.org&code=8480-6" => (
            200,
            params(json!([{"name": "name", "valueString": "LOINC"},
                          {"name": "display", "valueString": "Systolic blood pressure"}])),
        ),
        "/fhir/CodeSystem/$subsumes?system=http://snomed.info/sct&codeA=1&codeB=2" => (
            200,
            params(json!([{"name": "outcome", "valueCode": "subsumed-by"}])),
        ),
        "/fhir/ConceptMap/$translate?url=http://example.org/cm&system=local&code=at0020" => (
            200,
            params(json!([
                {"name": "result", "valueBoolean": true},
                {"name": "match", "part": [
                    {"name": "equivalence", "valueCode": "equivalent"},
                    {"name": "concept", "valueCoding": {"system": "http://snomed.info/sct", "code": "33586001"}}
                ]}
            ])),
        ),
        _ => (
            404,
            json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error",
                   "code": "not-found", "diagnostics": "no such value set"}]}),
        ),
    }
}

/// Serves `answer` on a local port (the lookup answer chunked); returns its base URL and
/// the request targets it received.
async fn terminology_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                log.lock().unwrap().push(target.clone());
                let (status, body) = answer(&target);
                let body = body.to_string();
                let response = if target.contains("$lookup") {
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\n\
                         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else {
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/fhir+json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://{addr}/fhir/"), seen)
}

fn request(aql: &str) -> QueryRequest<'_> {
    QueryRequest {
        aql,
        ..QueryRequest::default()
    }
}

#[tokio::test]
async fn terminology_calls_are_answered_by_the_fhir_server() {
    let d = build().await;
    let store = &d.store;
    let query = |aql: String| async move {
        store
            .query(&caller(), &request(&aql), &QueryLimits::default())
            .await
    };
    // Without a terminology server TERMINOLOGY() is a query error at the call.
    let expand =
        "TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://example.org/vs/position-codes')";
    let q = format!(
        "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE {POSITION}/defining_code/code_string \
         MATCHES {expand}"
    );
    match query(q.clone()).await {
        Err(StoreError::Query {
            message,
            line,
            column,
        }) => {
            assert!(message.contains("--terminology-url"), "{message}");
            assert_eq!((line, column), (1, q.find("TERMINOLOGY").unwrap() + 1));
        }
        other => panic!("{other:?}"),
    }

    let (url, seen) = terminology_server().await;
    assert!(store.use_terminology(TerminologyService::new(&url).unwrap()));

    // expand: the codes, nested ones included; the fixture's position code is at0020.
    let rows = query(q.clone()).await.unwrap().values();
    assert_eq!(rows.len(), 3, "{rows:?}");
    // The same call twice in one query is asked once.
    let twice = format!("{q} AND {POSITION}/defining_code/code_string MATCHES {expand}");
    assert_eq!(query(twice).await.unwrap().values().len(), 3);
    assert_eq!(seen.lock().unwrap().len(), 2, "{:?}", seen.lock().unwrap());
    // An expansion inside a MATCHES list stands for its codes.
    let q = format!(
        "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE {POSITION}/value MATCHES {{'Lying', \
         TERMINOLOGY('expand', 'hl7.org/fhir/r4', 'url=http://example.org/vs/standing')}} \
         ORDER BY {SYS}"
    );
    assert_eq!(
        query(q).await.unwrap().values(),
        vec![vec![json!(110.0)], vec![json!(150.0)]]
    );

    // validate: a Boolean operand.
    let valid = |code: &str| {
        format!(
            "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE TERMINOLOGY('validate', \
             'hl7.org/fhir/4.0', 'system=http://snomed.info/sct&code={code}') = true"
        )
    };
    assert_eq!(query(valid("22298006")).await.unwrap().values().len(), 3);
    assert!(query(valid("1")).await.unwrap().values().is_empty());

    // lookup, subsumes and map as selected values.
    let q = format!(
        "SELECT TERMINOLOGY('lookup', 'hl7.org/fhir/4.0', 'system=http://loinc.org&code=8480-6') AS name, \
         TERMINOLOGY('subsumes', 'hl7.org/fhir/4.0', 'system=http://snomed.info/sct&codeA=1&codeB=2') AS s, \
         TERMINOLOGY('map', 'hl7.org/fhir/4.0', 'url=http://example.org/cm&system=local&code=at0020') AS m, \
         {SYS} AS sys FROM OBSERVATION o[{OBS}] ORDER BY {SYS} LIMIT 1"
    );
    let rs = query(q).await.unwrap();
    assert_eq!(rs.columns[0].name, "name");
    assert_eq!(
        rs.values(),
        vec![vec![
            json!("Systolic blood pressure"),
            json!("subsumed-by"),
            json!(["33586001"]),
            json!(110.0)
        ]]
    );

    // A call the server refuses is a query error at the call, with the server's reason.
    let q = format!(
        "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE {POSITION}/value MATCHES \
         TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://example.org/vs/unknown')"
    );
    match query(q).await {
        Err(StoreError::Query { message, line, .. }) => {
            assert!(message.contains("no such value set"), "{message}");
            assert_eq!(line, 1);
        }
        other => panic!("{other:?}"),
    }
    // So are an unknown operation and another service API.
    for call in [
        "TERMINOLOGY('explode', 'hl7.org/fhir/4.0', 'url=x')",
        "TERMINOLOGY('expand', 'snomed/ecl', 'url=x')",
    ] {
        let q = format!("SELECT {call} FROM OBSERVATION o[{OBS}]");
        assert!(
            matches!(query(q).await, Err(StoreError::Query { .. })),
            "{call}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_terminology_server_is_its_own_error() {
    let d = build().await;
    // A port nothing listens on: bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let service = TerminologyService::new(&format!("http://127.0.0.1:{port}")).unwrap();
    assert!(d.store.use_terminology(service.clone()));
    assert!(!d.store.use_terminology(service));
    let q = format!(
        "SELECT {SYS} FROM OBSERVATION o[{OBS}] WHERE {POSITION}/value MATCHES \
         TERMINOLOGY('expand', 'hl7.org/fhir/4.0', 'http://example.org/vs/standing')"
    );
    match d
        .store
        .query(&caller(), &request(&q), &QueryLimits::default())
        .await
    {
        Err(StoreError::Terminology(m)) => assert!(m.contains("terminology server"), "{m}"),
        other => panic!("{other:?}"),
    }
}
