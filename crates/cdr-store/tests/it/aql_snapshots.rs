//! Snapshots of the SQL that AQL queries compile to and of the rows they answer over the
//! fixture data, so that a change of either shows as a reviewable diff. `UPDATE_EXPECT=1 cargo
//! test -p cdr-store --test it aql_snapshots` rewrites the expectations after a deliberate
//! change.

use expect_test::{expect, Expect};
use serde_json::{json, Map, Value};

use cdr_store::aql::{compile_to_sql, QueryLimits, QueryRequest};

use crate::aql::build;
use crate::common::caller;

const BP: &str = "openEHR-EHR-OBSERVATION.sample_blood_pressure.v1";
const OBS: &str = "openEHR-EHR-OBSERVATION.cdr_test_vitals.v1";
const SYS: &str = "o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude";

fn sql(aql: &str, params: Value, expect: Expect) {
    let req = QueryRequest {
        aql,
        params: params.as_object().cloned().unwrap_or_default(),
        ..QueryRequest::default()
    };
    let (sql, n) = compile_to_sql(&req, &QueryLimits::default()).unwrap();
    expect.assert_eq(&format!("{sql}\n-- {n} parameters\n"));
}

/// The queries of `cdr bench aql`, whose speed is measured against hand-written SQL.
#[test]
fn bench_queries() {
    let ehr = json!({"ehr": "7d44b88c-4199-4bad-97dc-d78268e01398"});
    sql(
        &format!(
            "SELECT c/uid/value, {SYS} FROM EHR e[ehr_id/value=$ehr] CONTAINS COMPOSITION c \
             CONTAINS OBSERVATION o[{BP}]"
        ),
        ehr,
        expect![[r#"
            SELECT to_jsonb(ov3.vo_id::text || '::' || ov3.system_id || '::' || ov3.version::text)::text AS o0, g5.c0 AS o1 FROM versioned_object vo2 CROSS JOIN object_version ov3 CROSS JOIN node n4 LEFT JOIN LATERAL (SELECT CASE WHEN l.v_num = 0 OR abs(l.v_num) >= 1e-4 AND abs(l.v_num) < 1e15 THEN CASE WHEN l.v_num = trunc(l.v_num) THEN l.v_num::text || '.0' ELSE l.v_num::text END ELSE l.v_num::text::jsonb::text END FROM leaf l WHERE l.ehr_id = n4.ehr_id AND l.ehr_id = $1 AND l.vo_id = n4.vo_id AND l.num = n4.num AND l.path_id = '4522663020222779040'::int8 AND l.v_num IS NOT NULL AND EXISTS (SELECT FROM path_dict d WHERE d.path_id = '4522663020222779040'::int8) AND n4.repeats IS NOT NULL AND NOT (n4.repeats && $2::text[]) UNION ALL SELECT (l.v_num::int8)::text FROM leaf l WHERE l.ehr_id = n4.ehr_id AND l.ehr_id = $1 AND l.vo_id = n4.vo_id AND l.num = n4.num AND l.path_id = '3840512256296024508'::int8 AND l.v_num IS NOT NULL AND EXISTS (SELECT FROM path_dict d WHERE d.path_id = '3840512256296024508'::int8) AND n4.repeats IS NOT NULL AND NOT (n4.repeats && $2::text[]) UNION ALL SELECT v.v::text FROM cdr_path_rows((ov3.document::json #> n4.pointer)::jsonb, $3::text[]::jsonpath[], $4::text[]::jsonb[]) AS v(v) WHERE NOT coalesce(n4.repeats IS NOT NULL AND NOT (n4.repeats && $2::text[]), false)) AS g5(c0) ON true WHERE (vo2.kind = 1) AND (vo2.ehr_id = $1) AND (NOT vo2.deleted) AND (ov3.ehr_id = $1) AND (ov3.ehr_id = vo2.ehr_id AND ov3.vo_id = vo2.vo_id AND ov3.document IS NOT NULL) AND (ov3.version = vo2.head) AND (n4.ehr_id = $1) AND (n4.ehr_id = vo2.ehr_id AND n4.vo_id = vo2.vo_id AND n4.num > 0) AND (n4.rm_type = 'OBSERVATION') AND (n4.archetype = '6422399531018391469'::int8) LIMIT $5
            -- 5 parameters
        "#]],
    );
    sql(
        &format!(
            "SELECT e/ehr_id/value, c/uid/value FROM EHR e CONTAINS COMPOSITION c \
             CONTAINS OBSERVATION o[{BP}] \
             WHERE o/protocol[at0011]/items[at0013]/value/defining_code/code_string = 'at1009'"
        ),
        json!({}),
        expect![[r#"
            SELECT to_jsonb(vo2.ehr_id::text)::text AS o0, to_jsonb(ov3.vo_id::text || '::' || ov3.system_id || '::' || ov3.version::text)::text AS o1 FROM versioned_object vo2 CROSS JOIN object_version ov3 CROSS JOIN (SELECT DISTINCT l.ehr_id, l.vo_id, l.num FROM leaf l WHERE l.num > 0 AND l.path_id = '2521300450045528695'::int8 AND l.v_code = $1::text) n4 WHERE (vo2.kind = 1) AND (NOT vo2.deleted) AND (ov3.ehr_id = vo2.ehr_id AND ov3.vo_id = vo2.vo_id AND ov3.document IS NOT NULL) AND (ov3.version = vo2.head) AND (n4.ehr_id = vo2.ehr_id AND n4.vo_id = vo2.vo_id AND n4.num > 0) LIMIT $2
            -- 2 parameters
        "#]],
    );
    sql(
        &format!(
            "SELECT e/ehr_id/value, {SYS} FROM EHR e CONTAINS COMPOSITION c \
             CONTAINS OBSERVATION o[{BP}] WHERE {SYS} >= 250"
        ),
        json!({}),
        expect![[r#"
            SELECT to_jsonb(vo2.ehr_id::text)::text AS o0, (CASE l5.path_id WHEN '4522663020222779040'::int8 THEN CASE WHEN l5.v_num = 0 OR abs(l5.v_num) >= 1e-4 AND abs(l5.v_num) < 1e15 THEN CASE WHEN l5.v_num = trunc(l5.v_num) THEN l5.v_num::text || '.0' ELSE l5.v_num::text END ELSE l5.v_num::text::jsonb::text END WHEN '3840512256296024508'::int8 THEN (l5.v_num::int8)::text END) AS o1 FROM versioned_object vo2 CROSS JOIN leaf l5 WHERE (vo2.kind = 1) AND (NOT vo2.deleted) AND (l5.ehr_id = vo2.ehr_id AND l5.vo_id = vo2.vo_id AND l5.num > 0) AND (l5.path_id = ANY('{4522663020222779040,3840512256296024508}'::int8[]) AND l5.v_num >= $1::float8) LIMIT $2
            -- 2 parameters
        "#]],
    );
    sql(
        "SELECT c/archetype_details/template_id/value AS t, COUNT(*) AS n \
         FROM COMPOSITION c ORDER BY t",
        json!({}),
        expect![[r#"
            SELECT to_jsonb(ov2.template_id)::text AS o0, to_jsonb(count(*))::text AS o1 FROM versioned_object vo1 CROSS JOIN object_version ov2 WHERE (vo1.kind = 1) AND (NOT vo1.deleted) AND (ov2.ehr_id = vo1.ehr_id AND ov2.vo_id = vo1.vo_id AND ov2.document IS NOT NULL) AND (ov2.version = vo1.head) GROUP BY to_jsonb(ov2.template_id)::text ORDER BY to_jsonb(ov2.template_id)::text ASC NULLS LAST LIMIT $1
            -- 1 parameters
        "#]],
    );
}

/// Rows of multi-valued attributes, natural values, containment.
#[test]
fn semantics() {
    let events = "o/data[at0001]/events[at0002]";
    sql(
        &format!(
            "SELECT {events}/time/value, {SYS} FROM OBSERVATION o[{OBS}] \
             WHERE {events}/data[at0003]/items[at0005]/value/value = 'Sitting' \
             ORDER BY {events}/data[at0003]/items[at0004]/value DESC"
        ),
        json!({}),
        expect![[r#"
            SELECT s6.v::text AS o0, s7.v::text AS o1, cdr_order_key((SELECT w.v FROM cdr_path_query(r5.val, $12::text::jsonpath, $13::text::jsonb, false) AS w(v) LIMIT 1)) AS k0 FROM versioned_object vo1 CROSS JOIN object_version ov2 CROSS JOIN node n3 LEFT JOIN LATERAL cdr_path_query((ov2.document::json #> n3.pointer)::jsonb, $1::text::jsonpath, $2::text::jsonb, false) AS r4(val) ON true LEFT JOIN LATERAL cdr_path_query(r4.val, $3::text::jsonpath, $4::text::jsonb, false) AS r5(val) ON true LEFT JOIN LATERAL cdr_path_query(r4.val, $8::text::jsonpath, $9::text::jsonb, false) AS s6(v) ON true LEFT JOIN LATERAL cdr_path_query(r5.val, $10::text::jsonpath, $11::text::jsonb, false) AS s7(v) ON true WHERE (vo1.kind = 1) AND (NOT vo1.deleted) AND (ov2.ehr_id = vo1.ehr_id AND ov2.vo_id = vo1.vo_id AND ov2.document IS NOT NULL) AND (ov2.version = vo1.head) AND (n3.ehr_id = vo1.ehr_id AND n3.vo_id = vo1.vo_id AND n3.num > 0) AND (n3.rm_type = 'OBSERVATION') AND (n3.archetype = '-2281137098855864248'::int8) AND (EXISTS (SELECT 1 FROM cdr_path_query(r4.val, $6::text::jsonpath, $7::text::jsonb, false) AS w(v) WHERE cdr_str(w.v) COLLATE "C" = $5::text COLLATE "C")) ORDER BY k0 DESC NULLS FIRST LIMIT $14
            -- 14 parameters
        "#]],
    );
    sql(
        "SELECT s/subject, v/uid/value FROM EHR e CONTAINS VERSION v[ALL_VERSIONS] \
         CONTAINS EHR_STATUS s CONTAINS DATA_STRUCTURE d",
        json!({}),
        expect![[r#"
            SELECT s5.v::text AS o0, to_jsonb(ov3.vo_id::text || '::' || ov3.system_id || '::' || ov3.version::text)::text AS o1 FROM versioned_object vo2 CROSS JOIN object_version ov3 CROSS JOIN LATERAL cdr_path_query(ov3.document::jsonb, $1::text::jsonpath, $2::text::jsonb, false) AS x4(val) LEFT JOIN LATERAL cdr_path_query(ov3.document::jsonb, $3::text::jsonpath, $4::text::jsonb, false) AS s5(v) ON true WHERE (vo2.kind = 2) AND (ov3.ehr_id = vo2.ehr_id AND ov3.vo_id = vo2.vo_id AND ov3.document IS NOT NULL) LIMIT $5
            -- 5 parameters
        "#]],
    );
    sql(
        "SELECT c/uid/value FROM COMPOSITION c CONTAINS EHR_STATUS s \
         WHERE c/uid/value = 'e4a2f6b6-0e39-4bbf-9bde-c2b8fbd2c1a0' AND c/name/value LIKE 'V*?%'",
        json!({}),
        expect![[r#"
            SELECT to_jsonb(ov2.vo_id::text || '::' || ov2.system_id || '::' || ov2.version::text)::text AS o0 FROM versioned_object vo1 CROSS JOIN object_version ov2 CROSS JOIN versioned_object vo3 CROSS JOIN object_version ov4 WHERE (vo1.kind = 1) AND (NOT vo1.deleted) AND (ov2.ehr_id = vo1.ehr_id AND ov2.vo_id = vo1.vo_id AND ov2.document IS NOT NULL) AND (ov2.version = vo1.head) AND (vo3.kind = 2) AND (vo3.ehr_id = vo1.ehr_id) AND (ov4.ehr_id = vo3.ehr_id AND ov4.vo_id = vo3.vo_id AND ov4.version = vo3.head) AND (false) AND (vo1.vo_id = $1) AND (EXISTS (SELECT 1 FROM cdr_path_query(ov2.document::jsonb, $2::text::jsonpath, $3::text::jsonb, false) AS w(v) WHERE cdr_str(w.v) LIKE $4::text)) LIMIT $5
            -- 5 parameters
        "#]],
    );
}

/// Rows over the fixture data (ids replaced by their role).
#[tokio::test]
async fn result_rows() {
    let d = build().await;
    let mut out = String::new();
    for aql in [
        format!(
            "SELECT c/name/value AS name, {SYS} AS sys, o/data[at0001]/events[at0002]/time/value \
             FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[{OBS}] ORDER BY sys"
        ),
        format!(
            "SELECT o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value/units, \
             MAX(o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value) \
             FROM OBSERVATION o[{OBS}]"
        ),
        "SELECT e/ehr_id/value, COUNT(*) FROM EHR e CONTAINS COMPOSITION c".to_owned(),
    ] {
        let req = QueryRequest {
            aql: &aql,
            params: Map::new(),
            ..QueryRequest::default()
        };
        let rs = d
            .store
            .query(&caller(), &req, &QueryLimits::default())
            .await
            .unwrap();
        let names: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
        // Ids are random: replaced before the rows are sorted.
        let mut rows: Vec<String> = rs
            .values()
            .iter()
            .map(|r| {
                let mut text = serde_json::to_string(r).unwrap();
                for (id, role) in [(d.ehr_a, "<ehr a>"), (d.ehr_b, "<ehr b>")] {
                    text = text.replace(&id.to_string(), role);
                }
                text
            })
            .collect();
        rows.sort();
        let names = serde_json::to_string(&names).unwrap();
        out.push_str(&format!("{aql}\n{names}\n{}\n\n", rows.join("\n")));
    }
    expect![[r##"
        SELECT c/name/value AS name, o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude AS sys, o/data[at0001]/events[at0002]/time/value FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[openEHR-EHR-OBSERVATION.cdr_test_vitals.v1] ORDER BY sys
        ["name","sys","#2"]
        ["Encounter",110.0,"2024-03-03T08:30:00+02:00"]
        ["Encounter",120.0,"2024-03-01T10:05:00Z"]
        ["Encounter",150.0,"2024-03-02T09:05:00Z"]

        SELECT o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value/units, MAX(o/data[at0001]/events[at0002]/data[at0003]/items[at0013]/value) FROM OBSERVATION o[openEHR-EHR-OBSERVATION.cdr_test_vitals.v1]
        ["#0","#1"]
        ["kPa",{"_type":"DV_QUANTITY","magnitude":15.5,"units":"kPa"}]
        ["mm[Hg]",{"_type":"DV_QUANTITY","magnitude":118.0,"units":"mm[Hg]"}]

        SELECT e/ehr_id/value, COUNT(*) FROM EHR e CONTAINS COMPOSITION c
        ["#0","#1"]
        ["<ehr a>",2]
        ["<ehr b>",1]

    "##]].assert_eq(&out);
}
