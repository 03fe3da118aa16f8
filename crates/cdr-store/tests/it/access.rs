//! Per-record access inside SQL: consent, grants, roles and break-glass, for AQL (against the
//! oracle over only the EHRs each caller may see) and for every single-record read and write.

use serde_json::json;
use uuid::Uuid;

use cdr_aql_oracle::{evaluate, generate, same_rows, Catalog, Dataset};
use cdr_store::aql::{QueryLimits, QueryRequest};
use cdr_store::{
    BreakGlassFilter, ConsentState, GrantAccess, GranteeKind, NewConsent, NewGrant, Principal,
    Store, StoreError, UidBasedId, VersionUid,
};

use crate::aql::{build, create_directory, folder, Doc};
use crate::aql_diff::{compare, dataset, documents};
use crate::aql_semantics::family_status;
use crate::common::{assert_not_found, caller, composition, meta};
use crate::sql_scope::{logging_store, mentions_table};

/// Asserts that `e` refuses the caller (403), as opposed to not finding the record.
#[track_caller]
fn assert_forbidden(e: &StoreError) {
    assert!(
        matches!(e, StoreError::Forbidden(_)),
        "expected forbidden: {e:?}"
    );
}

/// An EHR_STATUS whose subject has the external id `subject` (namespace `nhs`).
fn status(subject: &str, queryable: bool) -> cdr_rm::EhrStatus {
    cdr_rm::json::from_json_value(json!({
        "_type": "EHR_STATUS",
        "archetype_node_id": "openEHR-EHR-EHR_STATUS.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "EHR Status"},
        "subject": {"_type": "PARTY_SELF", "external_ref": {"_type": "PARTY_REF",
            "id": {"_type": "GENERIC_ID", "value": subject, "scheme": "nhs"},
            "namespace": "nhs", "type": "PERSON"}},
        "is_queryable": queryable,
        "is_modifiable": true,
    }))
    .unwrap()
}

pub(crate) fn who(roles: &[&str], subject: &str, organisation: Option<&str>) -> Principal {
    Principal {
        subject: subject.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        organisation: organisation.map(Into::into),
        ..Principal::default()
    }
}

/// A caller of no organisation in `teams`.
fn member(roles: &[&str], subject: &str, teams: &[&str]) -> Principal {
    Principal {
        teams: teams.iter().map(|t| t.to_string()).collect(),
        ..who(roles, subject, None)
    }
}

fn patient(id: &str) -> Principal {
    Principal {
        patient_id: Some(id.into()),
        ..who(&["patient"], id, None)
    }
}

async fn consent(store: &Store, ehr: Uuid, state: ConsentState, secondary: Option<bool>) {
    let c = NewConsent {
        state,
        secondary_use: secondary,
        note: None,
    };
    store.put_consent(&caller(), ehr, c).await.unwrap();
}

async fn grant(
    store: &Store,
    ehr: Uuid,
    kind: GranteeKind,
    grantee: &str,
    access: GrantAccess,
    window: Option<(&str, &str)>,
) -> Uuid {
    let time = |t: &str| Some(t.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    let g = NewGrant {
        grantee_type: kind,
        grantee: grantee.into(),
        access,
        valid_from: window.and_then(|w| time(w.0)),
        valid_until: window.and_then(|w| time(w.1)),
    };
    store.add_grant(&caller(), ehr, g).await.unwrap().id
}

/// Six EHRs with compositions and policies:
/// - A: nothing recorded (shared, secondary use allowed, queryable); EHR_STATUS content and a
///   directory;
/// - B: consent withheld; user `dr-w` and team `stroke` hold read grants;
/// - C: the patient `nhs-c`'s; consent withheld but secondary use allowed;
/// - D: consent withdrawn; organisation `north` holds a read grant, `south` an expired write
///   grant;
/// - E: EHR_STATUS not queryable, nothing recorded;
/// - F: consent given, secondary use refused.
struct World {
    store: Store,
    ehrs: [Uuid; 6],
    a1: VersionUid,
}

async fn world() -> World {
    let d = build().await;
    let store = d.store;
    let first = store
        .get_ehr_status(&caller(), d.ehr_a, None)
        .await
        .unwrap()
        .uid;
    store
        .update_ehr_status(&caller(), d.ehr_a, &first, family_status(), meta())
        .await
        .unwrap();
    let a1 = d.a1.to_string();
    let object_id = a1.split("::").next().unwrap();
    create_directory(
        &store,
        d.ehr_a,
        folder("root", &[object_id], vec![folder("sub", &[&a1], vec![])]),
    )
    .await;
    let mut more = Vec::new();
    for (subject, queryable, systolics) in [
        ("nhs-c", true, &[130.0, 160.0][..]),
        ("nhs-d", true, &[140.0][..]),
        ("nhs-e", false, &[200.0][..]),
        ("nhs-f", true, &[90.0][..]),
    ] {
        let ehr = store
            .create_ehr(&caller(), None, Some(status(subject, queryable)), meta())
            .await
            .unwrap()
            .ehr_id;
        for s in systolics {
            let doc = Doc {
                systolic: *s,
                ..Doc::default()
            };
            store
                .create_composition(&caller(), ehr, doc.composition(), meta())
                .await
                .unwrap();
        }
        more.push(ehr);
    }
    let ehrs = [d.ehr_a, d.ehr_b, more[0], more[1], more[2], more[3]];
    let [_, b, c, dd, _, f] = ehrs;
    consent(&store, b, ConsentState::Withheld, None).await;
    grant(
        &store,
        b,
        GranteeKind::User,
        "dr-w",
        GrantAccess::Read,
        None,
    )
    .await;
    grant(
        &store,
        b,
        GranteeKind::Team,
        "stroke",
        GrantAccess::Read,
        None,
    )
    .await;
    consent(&store, c, ConsentState::Withheld, Some(true)).await;
    consent(&store, dd, ConsentState::Withdrawn, None).await;
    grant(
        &store,
        dd,
        GranteeKind::Organisation,
        "north",
        GrantAccess::Read,
        None,
    )
    .await;
    let expired = Some(("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"));
    grant(
        &store,
        dd,
        GranteeKind::Organisation,
        "south",
        GrantAccess::Write,
        expired,
    )
    .await;
    consent(&store, f, ConsentState::Given, Some(false)).await;
    World {
        store,
        ehrs,
        a1: d.a1,
    }
}

/// Every generated query answers, for each caller, exactly what the oracle answers over the
/// EHRs that caller may see; and the callers' views differ from the whole (so the comparison
/// would catch a predicate left out).
#[tokio::test]
async fn aql_answers_only_what_each_caller_may_see() {
    let w = world().await;
    let [a, b, c, d, e, f] = w.ehrs;
    let all = dataset(&w.store).await;
    let queries = generate(11, &Catalog::from_documents(&documents(&all)), 200);
    let callers: Vec<(&str, Principal, Vec<Uuid>)> = vec![
        (
            "clinician of north (consent, read grant)",
            who(&["clinician"], "dr-n", Some("north")),
            vec![a, d, e, f],
        ),
        (
            "service of south (expired grant)",
            who(&["service"], "svc-s", Some("south")),
            vec![a, e, f],
        ),
        (
            "reader with a user grant",
            who(&["reader"], "dr-w", None),
            vec![a, b, e, f],
        ),
        (
            "clinician of no organisation in team stroke (team grant only)",
            member(&["clinician"], "dr-t", &["ward-9", "stroke"]),
            vec![a, b, e, f],
        ),
        (
            "reader in a team without grants",
            member(&["reader"], "dr-u", &["ward-9"]),
            vec![a, e, f],
        ),
        (
            "analyst in team stroke (queryable, secondary use, team grant)",
            member(&["analyst"], "an-t", &["stroke"]),
            vec![a, b, c],
        ),
        (
            "analyst (queryable, secondary use)",
            who(&["analyst"], "an-1", None),
            vec![a, c],
        ),
        (
            "clinician and analyst (either's view)",
            who(&["clinician", "analyst"], "dr-n", Some("north")),
            vec![a, c, d, e, f],
        ),
        ("patient nhs-c", patient("nhs-c"), vec![c]),
        ("no role", who(&[], "nobody", None), vec![]),
        ("admin", caller(), vec![a, b, c, d, e, f]),
    ];
    let params = serde_json::Map::new();
    for (name, principal, visible) in callers {
        let ids: Vec<String> = visible.iter().map(Uuid::to_string).collect();
        let seen = Dataset {
            ehrs: all
                .ehrs
                .iter()
                .filter(|e| ids.contains(&e.ehr_id))
                .cloned()
                .collect(),
        };
        let (compared, failures) = compare(&w.store, &principal, &seen, &queries).await;
        assert!(compared >= 100, "{name}: only {compared} queries compared");
        assert!(
            failures.is_empty(),
            "{name}: {} of {compared} queries differ:\n{}",
            failures.len(),
            failures
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        if visible.len() < 6 {
            let mut narrower = 0;
            for q in &queries {
                let ast = cdr_aql::parse(q).unwrap();
                if let (Ok(whole), Ok(part)) = (
                    evaluate(&ast, &params, &all),
                    evaluate(&ast, &params, &seen),
                ) {
                    narrower += usize::from(same_rows(&whole, &part, false).is_err());
                }
            }
            assert!(narrower >= 20, "{name}: only {narrower} queries see less");
        }
    }
}

/// A record the caller may not see answers exactly as one that does not exist.
#[tokio::test]
async fn invisible_records_answer_as_missing_ones() {
    let w = world().await;
    let [a, b, ..] = w.ehrs;
    let south = who(&["clinician"], "dr-s", Some("south"));
    let nowhere = Uuid::new_v4();
    let b_status = w.store.ehr_status_id(&caller(), b).await.unwrap();
    let b_version = w
        .store
        .get_ehr_status(&caller(), b, None)
        .await
        .unwrap()
        .uid;
    for ehr in [b, nowhere] {
        let same = |e: StoreError| e.to_string().replace(&ehr.to_string(), "X");
        let e = w.store.get_ehr(&south, ehr).await.unwrap_err();
        assert_not_found(&e, "EHR");
        assert_eq!(same(e), "EHR X not found");
        for e in [
            w.store.get_ehr_status(&south, ehr, None).await.unwrap_err(),
            w.store.ehr_status_id(&south, ehr).await.unwrap_err(),
            w.store.get_directory(&south, ehr, None).await.unwrap_err(),
            w.store
                .get_composition(&south, ehr, &UidBasedId::Object(b_status))
                .await
                .unwrap_err(),
            w.store
                .get_ehr_status_version(&south, ehr, &b_version)
                .await
                .unwrap_err(),
            w.store
                .versioned_object(&south, ehr, cdr_store::VoKind::EhrStatus, b_status)
                .await
                .unwrap_err(),
            w.store
                .revision_history(&south, ehr, cdr_store::VoKind::EhrStatus, b_status)
                .await
                .unwrap_err(),
            w.store
                .get_contribution(&south, ehr, Uuid::new_v4())
                .await
                .unwrap_err(),
            w.store.get_consent(&south, ehr).await.unwrap_err(),
            w.store.list_grants(&south, ehr).await.unwrap_err(),
            w.store
                .create_composition(&south, ehr, composition(), meta())
                .await
                .unwrap_err(),
        ] {
            assert_not_found(&e, "EHR");
            assert_eq!(same(e), "EHR X not found");
        }
    }
    // By subject too: the patient's own EHR is found, another's is not there.
    assert_not_found(
        &w.store
            .find_ehr_by_subject(&south, "nhs-c", "nhs")
            .await
            .unwrap_err(),
        "EHR for subject",
    );
    let own = w
        .store
        .find_ehr_by_subject(&patient("nhs-c"), "nhs-c", "nhs")
        .await
        .unwrap();
    assert_eq!(own.ehr_id, w.ehrs[2]);
    // What the caller may see reads as before.
    w.store.get_ehr(&south, a).await.unwrap();
    w.store
        .get_composition(&south, a, &UidBasedId::Version(w.a1.clone()))
        .await
        .unwrap();
}

/// A patient reads their own record and nothing else; they may record their consent.
#[tokio::test]
async fn patients_see_their_own_record_only() {
    let w = world().await;
    let [a, _, c, ..] = w.ehrs;
    let p = patient("nhs-c");
    w.store.get_ehr(&p, c).await.unwrap();
    assert_not_found(&w.store.get_ehr(&p, a).await.unwrap_err(), "EHR");
    let req = QueryRequest {
        aql: "SELECT e/ehr_id/value FROM EHR e",
        ..QueryRequest::default()
    };
    let rows = w
        .store
        .query(&p, &req, &QueryLimits::default())
        .await
        .unwrap()
        .values();
    assert_eq!(rows, vec![vec![json!(c.to_string())]]);
    let done = w
        .store
        .put_consent(
            &p,
            c,
            NewConsent {
                state: ConsentState::Given,
                secondary_use: Some(false),
                note: Some("my GP explained".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(done.recorded_by.as_deref(), Some("nhs-c"));
    let e = w
        .store
        .put_consent(
            &p,
            a,
            NewConsent {
                state: ConsentState::Withheld,
                secondary_use: None,
                note: None,
            },
        )
        .await
        .unwrap_err();
    assert_not_found(&e, "EHR");
    // Content is the care team's to write.
    let e = w
        .store
        .create_composition(&p, c, composition(), meta())
        .await
        .unwrap_err();
    assert_forbidden(&e);
}

/// Writing needs a write grant (a read grant or consent is not enough); the creator of an
/// EHR gets one for their organisation; the other roles cannot write at all.
#[tokio::test]
async fn writes_need_a_write_grant() {
    let w = world().await;
    let [a, _, _, d, ..] = w.ehrs;
    let north = who(&["clinician"], "dr-n", Some("north"));
    // Visible (consent; a read grant) but not writable: 403, on every write path.
    for ehr in [a, d] {
        let e = w
            .store
            .create_composition(&north, ehr, composition(), meta())
            .await
            .unwrap_err();
        assert_forbidden(&e);
    }
    let e = w
        .store
        .update_composition(&north, a, &w.a1, composition(), meta())
        .await
        .unwrap_err();
    assert_forbidden(&e);
    let e = w
        .store
        .check_composition(&north, a, &composition())
        .await
        .unwrap_err();
    assert_forbidden(&e);
    let e = w
        .store
        .put_consent(
            &north,
            a,
            NewConsent {
                state: ConsentState::Withheld,
                secondary_use: None,
                note: None,
            },
        )
        .await
        .unwrap_err();
    assert_forbidden(&e);
    // With a write grant to the organisation, every path writes.
    let g = grant(
        &w.store,
        a,
        GranteeKind::Organisation,
        "north",
        GrantAccess::Write,
        None,
    )
    .await;
    let v2 = w
        .store
        .update_composition(&north, a, &w.a1, composition(), meta())
        .await
        .unwrap();
    w.store
        .create_composition(&north, a, composition(), meta())
        .await
        .unwrap();
    w.store
        .delete_composition(&north, a, &v2.uid, meta())
        .await
        .unwrap();
    // Revoked: no more.
    w.store.remove_grant(&caller(), a, g).await.unwrap();
    let e = w
        .store
        .create_composition(&north, a, composition(), meta())
        .await
        .unwrap_err();
    assert_forbidden(&e);
    // A new EHR: its creator's organisation may write it and manage it.
    let mine = w
        .store
        .create_ehr(&north, None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    w.store
        .create_composition(&north, mine, composition(), meta())
        .await
        .unwrap();
    let grants = w.store.list_grants(&north, mine).await.unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].grantee, "north");
    assert_eq!(grants[0].access, GrantAccess::Write);
    w.store
        .put_consent(
            &north,
            mine,
            NewConsent {
                state: ConsentState::Withheld,
                secondary_use: None,
                note: None,
            },
        )
        .await
        .unwrap();
    // Withheld: the organisation still sees it through its grant; another does not.
    w.store.get_ehr(&north, mine).await.unwrap();
    let south = who(&["clinician"], "dr-s", Some("south"));
    assert_not_found(&w.store.get_ehr(&south, mine).await.unwrap_err(), "EHR");
    // Readers, analysts and patients create no EHRs; only admins delete physically.
    for p in [who(&["reader"], "r", None), who(&["analyst"], "an", None)] {
        let e = w
            .store
            .create_ehr(&p, None, None, meta())
            .await
            .unwrap_err();
        assert_forbidden(&e);
    }
    let e = w.store.delete_ehr(&north, mine).await.unwrap_err();
    assert_forbidden(&e);
}

/// A grant to a team is its members': a read grant lets them read (and query) the record and
/// nothing more, a write grant lets them write it and manage its grants; callers in other
/// teams get nothing from it.
#[tokio::test]
async fn team_grants_are_their_members() {
    let w = world().await;
    let [a, b, ..] = w.ehrs;
    let stroke = member(&["clinician"], "dr-t", &["stroke"]);
    let other = member(&["clinician"], "dr-u", &["ward-9"]);
    // B (withheld) through the team's read grant only.
    w.store.get_ehr(&stroke, b).await.unwrap();
    assert_not_found(&w.store.get_ehr(&other, b).await.unwrap_err(), "EHR");
    let req = QueryRequest {
        aql: "SELECT e/ehr_id/value FROM EHR e",
        ehr_id: Some(b),
        ..QueryRequest::default()
    };
    for (caller, rows) in [(&stroke, 1), (&other, 0)] {
        let got = w
            .store
            .query(caller, &req, &QueryLimits::default())
            .await
            .unwrap();
        assert_eq!(got.rows.len(), rows, "{}", caller.subject);
    }
    let e = w
        .store
        .create_composition(&stroke, b, composition(), meta())
        .await
        .unwrap_err();
    assert_forbidden(&e);
    // A (shared) is written through the team's write grant; the team may then grant too.
    assert_forbidden(
        &w.store
            .create_composition(&stroke, a, composition(), meta())
            .await
            .unwrap_err(),
    );
    let g = grant(
        &w.store,
        a,
        GranteeKind::Team,
        "stroke",
        GrantAccess::Write,
        None,
    )
    .await;
    let grants = w.store.list_grants(&stroke, a).await.unwrap();
    let team = grants.iter().find(|x| x.id == g).unwrap();
    assert_eq!(
        (team.grantee_type, team.grantee.as_str()),
        (GranteeKind::Team, "stroke")
    );
    w.store
        .create_composition(&stroke, a, composition(), meta())
        .await
        .unwrap();
    w.store
        .add_grant(
            &stroke,
            a,
            NewGrant {
                grantee_type: GranteeKind::Team,
                grantee: "ward-9".into(),
                access: GrantAccess::Read,
                valid_from: None,
                valid_until: None,
            },
        )
        .await
        .unwrap();
    assert_forbidden(
        &w.store
            .create_composition(&other, a, composition(), meta())
            .await
            .unwrap_err(),
    );
    // Revoked: no more writes.
    w.store.remove_grant(&caller(), a, g).await.unwrap();
    assert_forbidden(
        &w.store
            .create_composition(&stroke, a, composition(), meta())
            .await
            .unwrap_err(),
    );
}

/// An analyst reads no single record without a grant; with one, that record.
#[tokio::test]
async fn analysts_read_single_records_only_with_a_grant() {
    let w = world().await;
    let [a, ..] = w.ehrs;
    let analyst = who(&["analyst"], "an-1", None);
    assert_not_found(&w.store.get_ehr(&analyst, a).await.unwrap_err(), "EHR");
    grant(
        &w.store,
        a,
        GranteeKind::User,
        "an-1",
        GrantAccess::Read,
        None,
    )
    .await;
    w.store.get_ehr(&analyst, a).await.unwrap();
}

/// Break-glass: a clinician without a grant reads a record whose consent is withheld by
/// giving a reason; the access lasts its bounded time, is recorded, and is listed for review.
#[tokio::test]
async fn break_glass_opens_a_record_for_a_bounded_time() {
    let w = world().await;
    let [a, _, c, ..] = w.ehrs;
    let south = who(&["clinician"], "dr-s", Some("south"));
    assert_not_found(&w.store.get_ehr(&south, c).await.unwrap_err(), "EHR");
    let emergency = Principal {
        break_glass: Some("unconscious in the emergency department".into()),
        ..south.clone()
    };
    w.store.get_ehr(&emergency, c).await.unwrap();
    // It lasts: the next request without a reason reads too, AQL included.
    w.store.get_ehr_status(&south, c, None).await.unwrap();
    let req = QueryRequest {
        aql: "SELECT c/uid/value FROM EHR e CONTAINS COMPOSITION c",
        ehr_id: Some(c),
        ..QueryRequest::default()
    };
    let rows = w
        .store
        .query(&south, &req, &QueryLimits::default())
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 2);
    // Recorded once (a record the caller may see already needs no glass broken).
    w.store.get_ehr(&emergency, c).await.unwrap();
    w.store.get_ehr(&emergency, a).await.unwrap();
    let list = w
        .store
        .list_break_glass(&caller(), &BreakGlassFilter::default())
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].ehr_id, c);
    assert_eq!(list[0].subject, "dr-s");
    assert_eq!(list[0].organisation.as_deref(), Some("south"));
    assert_eq!(list[0].reason, "unconscious in the emergency department");
    let minutes = (list[0].valid_until - list[0].valid_from).num_minutes();
    assert_eq!(minutes, cdr_store::BREAK_GLASS_MINUTES);
    let filtered = BreakGlassFilter {
        ehr_id: Some(a),
        ..BreakGlassFilter::default()
    };
    assert!(w
        .store
        .list_break_glass(&caller(), &filtered)
        .await
        .unwrap()
        .is_empty());
    // Only admins review it.
    let e = w
        .store
        .list_break_glass(&south, &BreakGlassFilter::default())
        .await
        .unwrap_err();
    assert_forbidden(&e);
    // After its time the record is closed again.
    w.store
        .pool()
        .get()
        .await
        .unwrap()
        .execute(
            "UPDATE break_glass SET valid_until = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    assert_not_found(&w.store.get_ehr(&south, c).await.unwrap_err(), "EHR");
    // A reason is required; readers cannot break the glass; it never gives write access.
    let blank = Principal {
        break_glass: Some("  ".into()),
        ..south.clone()
    };
    assert!(matches!(
        w.store.get_ehr(&blank, c).await.unwrap_err(),
        StoreError::BadRequest(_)
    ));
    let reader = Principal {
        break_glass: Some("curious".into()),
        ..who(&["reader"], "r-1", Some("south"))
    };
    assert_not_found(&w.store.get_ehr(&reader, c).await.unwrap_err(), "EHR");
    w.store.get_ehr(&emergency, c).await.unwrap();
    let e = w
        .store
        .create_composition(&emergency, c, composition(), meta())
        .await
        .unwrap_err();
    assert_forbidden(&e);
}

/// Break-glass in AQL: a query bound to one EHR by the query itself (the EHR's predicate, or a
/// top-level WHERE on its id with a literal or a parameter) breaks the glass as the request's
/// `ehr_id` does; a query over the population never breaks it, nor sees a record it opened.
#[tokio::test]
async fn break_glass_in_aql_needs_a_query_bound_to_one_ehr() {
    let w = world().await;
    let [a, b, c, _, e, f] = w.ehrs;
    let run = |who: Principal, aql: String, params: serde_json::Value, ehr_id: Option<Uuid>| {
        let store = w.store.clone();
        async move {
            let req = QueryRequest {
                aql: &aql,
                params: params.as_object().cloned().unwrap_or_default(),
                ehr_id,
                ..QueryRequest::default()
            };
            let mut rows: Vec<String> = store
                .query(&who, &req, &QueryLimits::default())
                .await
                .unwrap()
                .values()
                .into_iter()
                .map(|r| r[0].as_str().unwrap().to_owned())
                .collect();
            rows.sort();
            rows
        }
    };
    let population = "SELECT e/ehr_id/value FROM EHR e".to_owned();
    let mut shared: Vec<String> = [a, e, f].iter().map(Uuid::to_string).collect();
    shared.sort();
    let forms = [
        (
            format!("SELECT e/ehr_id/value FROM EHR e[ehr_id/value='{c}'] CONTAINS COMPOSITION x"),
            json!({}),
            None,
        ),
        (
            format!(
                "SELECT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION x \
                 WHERE e/ehr_id/value = '{c}' AND x/name/value != 'nothing'"
            ),
            json!({}),
            None,
        ),
        (
            "SELECT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION x WHERE e/ehr_id/value = $ehr"
                .to_owned(),
            json!({"ehr": c.to_string()}),
            None,
        ),
        (
            "SELECT e/ehr_id/value FROM EHR e CONTAINS COMPOSITION x".to_owned(),
            json!({}),
            Some(c),
        ),
    ];
    for (i, (aql, params, ehr_id)) in forms.into_iter().enumerate() {
        let plain = who(&["clinician"], &format!("dr-{i}"), Some("south"));
        let emergency = Principal {
            break_glass: Some(format!("emergency {i}")),
            ..plain.clone()
        };
        assert!(run(plain.clone(), aql.clone(), params.clone(), ehr_id)
            .await
            .is_empty());
        // Over the population a reason breaks nothing.
        assert_eq!(
            run(emergency.clone(), population.clone(), json!({}), None).await,
            shared
        );
        let rows = run(emergency.clone(), aql.clone(), params.clone(), ehr_id).await;
        assert_eq!(rows, vec![c.to_string(); 2], "{aql}");
        // The record it opened is read by the bound query without a reason, never by a
        // population query.
        assert_eq!(run(plain.clone(), aql, params, ehr_id).await.len(), 2);
        for who in [plain.clone(), emergency] {
            assert_eq!(run(who, population.clone(), json!({}), None).await, shared);
        }
        let filter = BreakGlassFilter {
            subject: Some(plain.subject.clone()),
            ..BreakGlassFilter::default()
        };
        let list = w.store.list_break_glass(&caller(), &filter).await.unwrap();
        let got: Vec<(Uuid, &str)> = list.iter().map(|g| (g.ehr_id, g.reason.as_str())).collect();
        assert_eq!(got, [(c, format!("emergency {i}").as_str())]);
    }
    // Bindings that name different EHRs, or something that is no EHR id, break nothing.
    let emergency = Principal {
        break_glass: Some("which one?".into()),
        ..who(&["clinician"], "dr-x", Some("south"))
    };
    for aql in [
        format!(
            "SELECT e/ehr_id/value FROM EHR e[ehr_id/value='{b}'] WHERE e/ehr_id/value = '{c}'"
        ),
        "SELECT e/ehr_id/value FROM EHR e WHERE e/ehr_id/value = 'not an id'".to_owned(),
    ] {
        assert!(run(emergency.clone(), aql, json!({}), None)
            .await
            .is_empty());
    }
    let filter = BreakGlassFilter {
        subject: Some("dr-x".into()),
        ..BreakGlassFilter::default()
    };
    assert!(w
        .store
        .list_break_glass(&caller(), &filter)
        .await
        .unwrap()
        .is_empty());
}

/// Policy bodies: each member checked, with its name in the message.
#[test]
fn policy_bodies_name_what_is_wrong() {
    let e = NewConsent::from_json(&json!({"state": "maybe"})).unwrap_err();
    assert!(e.to_string().contains("\"state\""), "{e}");
    let e = NewConsent::from_json(&json!({"state": "given", "extra": 1})).unwrap_err();
    assert!(e.to_string().contains("\"extra\""), "{e}");
    let e = NewGrant::from_json(&json!({"grantee_type": "ward", "grantee": "x", "access": "read"}))
        .unwrap_err();
    assert!(e.to_string().contains("\"grantee_type\""), "{e}");
    let team = NewGrant::from_json(&json!({"grantee_type": "team", "grantee": "stroke",
        "access": "read"}))
    .unwrap();
    assert_eq!(team.grantee_type, GranteeKind::Team);
    let e = NewGrant::from_json(
        &json!({"grantee_type": "user", "grantee": "x", "access": "read",
        "valid_until": "tomorrow"}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("\"valid_until\""), "{e}");
    let ok = NewGrant::from_json(&json!({"grantee_type": "organisation", "grantee": "north",
        "access": "write", "valid_until": "2030-01-01T00:00:00+01:00"}))
    .unwrap();
    assert_eq!(ok.access, GrantAccess::Write);
}

/// The tables that hold health data (or say which EHR is whose).
const HEALTH: &[&str] = &[
    "ehr",
    "ehr_subject",
    "contribution",
    "versioned_object",
    "object_version",
    "node",
    "leaf",
];

/// On the server's own statement log, while a clinician (of an organisation holding a write
/// grant on one EHR, none on another whose consent is withheld) does every operation: every
/// statement that touches health data carries the access predicate — or, in a write's
/// transaction, follows the guarded EHR check (or the new EHR's insert) that opens it.
#[tokio::test]
async fn every_health_statement_carries_the_access_predicate() {
    let (root, cluster, _watchdog, store) = logging_store("cdr-access-log").await;
    store
        .put_template(&caller(), crate::common::OPT)
        .await
        .unwrap();
    let hidden = store
        .create_ehr(&caller(), None, Some(status("nhs-h", true)), meta())
        .await
        .unwrap()
        .ehr_id;
    store
        .create_composition(&caller(), hidden, composition(), meta())
        .await
        .unwrap();
    consent(&store, hidden, ConsentState::Withheld, None).await;
    let client = store.pool().get().await.unwrap();
    client
        .simple_query("SELECT 'access-check-start'")
        .await
        .unwrap();
    drop(client);

    let me = who(&["clinician"], "dr-n", Some("north"));
    let ehr = store
        .create_ehr(&me, None, None, meta())
        .await
        .unwrap()
        .ehr_id;
    store.get_ehr(&me, ehr).await.unwrap();
    store
        .find_ehr_by_subject(&me, "nhs-h", "nhs")
        .await
        .unwrap_err();
    let status = store.get_ehr_status(&me, ehr, None).await.unwrap();
    let s: cdr_rm::EhrStatus =
        cdr_rm::from_json(status.document.as_deref().unwrap().as_bytes()).unwrap();
    let s2 = store
        .update_ehr_status(&me, ehr, &status.uid, s, meta())
        .await
        .unwrap();
    store
        .get_ehr_status_version(&me, ehr, &s2.uid)
        .await
        .unwrap();
    store
        .get_ehr_status(&me, ehr, Some(chrono::Utc::now()))
        .await
        .unwrap();
    let v1 = store
        .create_composition(&me, ehr, composition(), meta())
        .await
        .unwrap();
    let vo = v1.uid.object_id;
    store
        .get_composition(&me, ehr, &UidBasedId::Object(vo))
        .await
        .unwrap();
    store
        .get_composition_at(&me, ehr, vo, chrono::Utc::now())
        .await
        .unwrap();
    store
        .check_composition(&me, ehr, &composition())
        .await
        .unwrap();
    let v2 = store
        .update_composition(&me, ehr, &v1.uid, composition(), meta())
        .await
        .unwrap();
    store
        .update_composition(&me, ehr, &v1.uid, composition(), meta())
        .await
        .unwrap_err();
    store
        .versioned_object(&me, ehr, cdr_store::VoKind::Composition, vo)
        .await
        .unwrap();
    store
        .revision_history(&me, ehr, cdr_store::VoKind::Composition, vo)
        .await
        .unwrap();
    store
        .delete_composition(&me, ehr, &v2.uid, meta())
        .await
        .unwrap();
    let folder: cdr_rm::Folder = cdr_rm::json::from_json_value(json!({
        "_type": "FOLDER", "archetype_node_id": "openEHR-EHR-FOLDER.generic.v1",
        "name": {"_type": "DV_TEXT", "value": "root"}}))
    .unwrap();
    let d1 = store
        .create_directory(&me, ehr, folder.clone(), meta())
        .await
        .unwrap();
    store
        .update_directory(&me, ehr, &d1.uid, folder, meta())
        .await
        .unwrap();
    store.get_directory(&me, ehr, None).await.unwrap();
    let c = store
        .commit_contribution(
            &me,
            ehr,
            cdr_store::NewContribution {
                uid: None,
                meta: meta(),
                versions: vec![crate::common::new_composition(composition())],
            },
        )
        .await
        .unwrap();
    store
        .get_contribution(&me, ehr, c.contribution_id)
        .await
        .unwrap();
    store.get_consent(&me, ehr).await.unwrap();
    store.list_grants(&me, ehr).await.unwrap();
    // The hidden EHR: every read and write is refused, inside the statement.
    store.get_ehr(&me, hidden).await.unwrap_err();
    store
        .create_composition(&me, hidden, composition(), meta())
        .await
        .unwrap_err();
    store.get_directory(&me, hidden, None).await.unwrap_err();
    // AQL, population-wide and bound to an EHR.
    for (aql, bound) in [
        ("SELECT e/ehr_id/value FROM EHR e", None),
        (
            "SELECT c/uid/value, o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude \
             FROM EHR e CONTAINS COMPOSITION c CONTAINS OBSERVATION o[openEHR-EHR-OBSERVATION.cdr_test_vitals.v1] \
             WHERE o/data[at0001]/events[at0002]/data[at0003]/items[at0004]/value/magnitude > 100",
            None,
        ),
        ("SELECT c FROM COMPOSITION c", Some(ehr)),
        ("SELECT s FROM EHR_STATUS s", None),
        ("SELECT f FROM FOLDER f", None),
        ("SELECT v/commit_audit FROM VERSION v[ALL_VERSIONS]", None),
    ] {
        let req = QueryRequest {
            aql,
            ehr_id: bound,
            ..QueryRequest::default()
        };
        store
            .query(&me, &req, &QueryLimits::default())
            .await
            .unwrap();
    }
    // Break-glass: recorded, then read.
    let emergency = Principal {
        break_glass: Some("collapsed".into()),
        ..me.clone()
    };
    store.get_ehr(&emergency, hidden).await.unwrap();
    store.shutdown().await.unwrap();
    cluster.stop().unwrap();

    let log = std::fs::read_to_string(root.join("server.log")).unwrap();
    let start = log.find("access-check-start").expect("marker in the log");
    // Per backend (the log line's [pid]): inside a transaction opened by a guard.
    let mut guarded: std::collections::HashMap<String, bool> = Default::default();
    let (mut checked, mut in_transactions, mut reads) = (0, 0, 0);
    for line in log[start..].lines() {
        let Some(i) = line.find("statement: ").or_else(|| line.find("execute ")) else {
            continue;
        };
        let pid = line
            .split('[')
            .nth(1)
            .and_then(|s| s.split(']').next())
            .unwrap_or_default()
            .to_owned();
        let sql = &line[i..];
        let sql = sql.split_once(": ").map(|(_, s)| s).unwrap_or(sql).trim();
        match sql {
            "BEGIN" => {
                guarded.insert(pid, false);
                continue;
            }
            "COMMIT" | "ROLLBACK" => {
                guarded.remove(&pid);
                continue;
            }
            _ => {}
        }
        if !HEALTH.iter().any(|t| mentions_table(sql, t)) {
            continue;
        }
        checked += 1;
        // Every predicate of a clinician looks for grants; those of reads look for consent too.
        let predicate = sql.contains("FROM ehr_grant ag WHERE ag.ehr_id = ");
        let read = sql.contains("FROM ehr_consent ac WHERE ");
        reads += usize::from(read);
        match guarded.get_mut(&pid) {
            // The first statement of a write transaction is its guard.
            Some(open @ false) => {
                assert!(
                    predicate || sql.starts_with("INSERT INTO ehr ("),
                    "a write transaction opened without the access check: {sql}"
                );
                *open = true;
            }
            Some(true) => in_transactions += 1,
            None => assert!(predicate, "statement without the access predicate: {sql}"),
        }
    }
    assert!(checked > 40, "only {checked} statements seen");
    assert!(
        in_transactions > 10,
        "only {in_transactions} in transactions"
    );
    assert!(
        reads > 30,
        "only {reads} statements with the read predicate"
    );
}
