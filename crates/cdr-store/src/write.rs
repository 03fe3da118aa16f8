//! Writing a prepared contribution as one transaction in one round trip. A contribution that
//! only creates objects is one statement (`CREATE_ALL` and its variants); any other sends BEGIN,
//! every statement and COMMIT together (tokio-postgres pipelines concurrently polled requests).
//! Every check a commit makes therefore fails inside the database: a taken id is a
//! unique violation, the other refusals are raised with cdr's SQLSTATEs (migration 0005). The
//! first failing statement aborts the transaction, its COMMIT rolls back, and the statement's
//! check says what the failure means.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Client;
use futures_util::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use crate::access::{filter, Bind, Guarded, Need};
use crate::commit::{Committed, CommittedVersion, Prepared, PreparedContribution};
use crate::error::StoreError;
use crate::ids::{dict_id, path_id, Principal, VersionUid, VoKind};
use crate::store::Store;

type Param<'a> = &'a (dyn ToSql + Sync);
type Pending<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Why a write did not happen.
pub(crate) enum WriteFailure {
    Store(StoreError),
    /// The caller holds no write grant for the EHR; whether they may see it (403) or not
    /// (404, like a missing EHR) is asked after rollback.
    NoWriteGrant,
    /// The compare-and-swap of a versioned object's head failed; explained after rollback.
    Stale {
        kind: VoKind,
        vo_id: Uuid,
        given: String,
    },
}

impl From<tokio_postgres::Error> for WriteFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        WriteFailure::Store(e.into())
    }
}

impl From<StoreError> for WriteFailure {
    fn from(e: StoreError) -> Self {
        WriteFailure::Store(e)
    }
}

/// How the transaction ends when every statement succeeded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Commit,
    /// A dry run: every write is made, so the database answers as it would, then undone.
    Rollback,
}

/// The EHR row of an EHR created by the same transaction.
pub(crate) struct NewEhr {
    pub time: chrono::DateTime<chrono::Utc>,
    pub status_id: Uuid,
    pub access_id: Uuid,
    /// The write grant its creator's organisation (kind 1) or the creator (kind 3) gets:
    /// grant id, grantee kind, grantee, granted by.
    pub creator_grant: Option<(Uuid, i16, String, String)>,
}

/// What the failure of a pipelined statement means.
enum Check<'p> {
    /// `INSERT INTO ehr`: a unique violation means the id is taken.
    NewEhr,
    /// The caller holds a write grant (CD006; an admin needs none), the EHR exists (CD001)
    /// and accepts content (CD002).
    Ehr,
    /// `INSERT INTO contribution`: a unique violation means the uid is taken.
    Contribution,
    /// `INSERT INTO versioned_object`: a unique violation means the object (or the EHR's one
    /// EHR_STATUS or directory) exists.
    Created(&'p Prepared),
    /// The head moved past the preceding version (CD003).
    Advanced(&'p Prepared),
    /// The previous version's root archetype (CD004) or template (CD005) differs; the message
    /// is the previous one.
    Identity(&'p Prepared),
    /// `INSERT INTO ehr_subject`: a unique violation means another EHR has this subject.
    Subject(&'p (String, String)),
    /// Nothing beyond success.
    Done,
}

impl Check<'_> {
    /// The failure to report when this statement failed first with `e`.
    fn failure(
        &self,
        ehr_id: Uuid,
        c: &PreparedContribution,
        e: tokio_postgres::Error,
    ) -> WriteFailure {
        let Some(db) = e.as_db_error() else {
            return e.into();
        };
        let code = db.code().code();
        let unique = db.code() == &SqlState::UNIQUE_VIOLATION;
        let conflict = |m: String| WriteFailure::Store(StoreError::Conflict(m));
        match self {
            Check::NewEhr if unique => conflict(format!("EHR id {ehr_id} is already in use")),
            Check::Ehr if code == "CD001" => StoreError::not_found("EHR", ehr_id).into(),
            Check::Ehr if code == "CD002" => StoreError::not_modifiable(ehr_id).into(),
            Check::Ehr if code == "CD006" => WriteFailure::NoWriteGrant,
            Check::Contribution if unique => {
                conflict(format!("contribution uid {} is already in use", c.id))
            }
            Check::Created(v) if unique => conflict(match v.kind {
                VoKind::Composition => format!("versioned object {} already exists", v.vo_id),
                VoKind::Folder => format!("EHR {ehr_id} already has a directory"),
                VoKind::EhrStatus => format!("EHR {ehr_id} already has an EHR_STATUS"),
            }),
            Check::Advanced(v) if code == "CD003" => WriteFailure::Stale {
                kind: v.kind,
                vo_id: v.vo_id,
                given: v.preceding_uid.clone().unwrap_or_default(),
            },
            Check::Identity(v) if code == "CD004" => StoreError::BadRequest(format!(
                "the root archetype of a composition cannot change (was {}, now {})",
                db.message(),
                v.archetype_id.as_deref().unwrap_or("")
            ))
            .into(),
            Check::Identity(v) if code == "CD005" => StoreError::BadRequest(format!(
                "the template of a composition cannot change (was {}, now {})",
                db.message(),
                v.template_id.as_deref().unwrap_or("")
            ))
            .into(),
            Check::Subject((id, namespace)) if unique => conflict(format!(
                "an EHR for subject '{id}' in namespace '{namespace}' already exists"
            )),
            _ => e.into(),
        }
    }
}

fn send<'a>(client: &'a Client, stmt: Statement, params: Vec<Param<'a>>) -> Pending<'a> {
    Box::pin(async move {
        let stream = client.query_raw(&stmt, params).await?;
        stream.try_collect().await
    })
}

/// Column arrays of node and leaf rows for `unnest`.
#[derive(Default)]
struct Rows<'a> {
    n_vo: Vec<Uuid>,
    n_num: Vec<i32>,
    n_cap: Vec<i32>,
    n_parent: Vec<Option<i32>>,
    n_rm: Vec<&'a str>,
    n_arch: Vec<i64>,
    n_name: Vec<Option<&'a str>>,
    n_path: Vec<&'a str>,
    n_ptr: Vec<String>,
    n_repeats: Vec<String>,
    l_vo: Vec<Uuid>,
    l_num: Vec<i32>,
    l_path: Vec<i64>,
    l_vnum: Vec<Option<f64>>,
    l_vts: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    l_vcode: Vec<Option<&'a str>>,
    l_vtext: Vec<Option<&'a str>>,
    arch_ids: Vec<i64>,
    arch_texts: Vec<&'a str>,
    path_ids: Vec<i64>,
    path_archs: Vec<&'a str>,
    path_texts: Vec<&'a str>,
    path_types: Vec<&'a str>,
}

impl<'a> Rows<'a> {
    /// The node columns, in the order of the `unnest` of the inserts.
    fn node_params(&self) -> [Param<'_>; 10] {
        [
            &self.n_vo,
            &self.n_num,
            &self.n_cap,
            &self.n_parent,
            &self.n_rm,
            &self.n_arch,
            &self.n_name,
            &self.n_path,
            &self.n_ptr,
            &self.n_repeats,
        ]
    }

    /// The leaf columns, in the order of the `unnest` of the inserts.
    fn leaf_params(&self) -> [Param<'_>; 7] {
        [
            &self.l_vo,
            &self.l_num,
            &self.l_path,
            &self.l_vnum,
            &self.l_vts,
            &self.l_vcode,
            &self.l_vtext,
        ]
    }

    /// The new archetype and path dictionary entries.
    fn dict_params(&self) -> ([Param<'_>; 2], [Param<'_>; 4]) {
        (
            [&self.arch_ids, &self.arch_texts],
            [
                &self.path_ids,
                &self.path_archs,
                &self.path_texts,
                &self.path_types,
            ],
        )
    }

    fn collect(versions: &'a [Prepared], known: &std::collections::HashSet<i64>) -> Self {
        let mut r = Rows::default();
        let mut arch: Vec<(i64, &str)> = Vec::new();
        let mut paths: Vec<(i64, &str, &str, &str)> = Vec::new();
        for v in versions {
            // The root's row (num 0) is never read: AQL reaches a version's root through
            // object_version, and node variables lie strictly inside it (num > 0).
            for n in v.rows.nodes.iter().filter(|n| n.num != 0) {
                let id = dict_id(&n.archetype_id);
                if !known.contains(&id) {
                    arch.push((id, &n.archetype_id));
                }
                r.n_vo.push(v.vo_id);
                r.n_num.push(n.num);
                r.n_cap.push(n.num_cap);
                r.n_parent.push(n.parent);
                r.n_rm.push(n.rm_type);
                r.n_arch.push(id);
                r.n_name.push(n.name.as_deref());
                r.n_path.push(&n.path);
                r.n_ptr.push(n.pointer.join(","));
                r.n_repeats.push(repeats_text(&n.repeats));
            }
            for l in &v.rows.leaves {
                let id = path_id(&l.archetype_id, &l.path, l.rm_type);
                if !known.contains(&id) {
                    paths.push((id, &l.archetype_id, &l.path, l.rm_type));
                }
                r.l_vo.push(v.vo_id);
                r.l_num.push(l.num);
                r.l_path.push(id);
                r.l_vnum.push(l.v_num);
                r.l_vts.push(l.v_ts);
                r.l_vcode.push(l.v_code.as_deref());
                r.l_vtext.push(l.v_text.as_deref());
            }
        }
        // Dictionary rows go in key order, so concurrent writers never wait on each other in a
        // cycle.
        arch.sort_unstable();
        arch.dedup_by_key(|e| e.0);
        paths.sort_unstable();
        paths.dedup_by_key(|e| e.0);
        for (id, text) in arch {
            r.arch_ids.push(id);
            r.arch_texts.push(text);
        }
        for (id, a, p, t) in paths {
            r.path_ids.push(id);
            r.path_archs.push(a);
            r.path_texts.push(p);
            r.path_types.push(t);
        }
        r
    }
}

/// A node row's repeated lists as one text (see `NodeRow::repeats`), split in SQL at the unit
/// separator; a path that holds one itself stands as the separator alone, which every AQL
/// check counts as a repeat.
pub(crate) fn repeats_text(repeats: &[String]) -> String {
    if repeats.iter().any(|r| r.contains('\u{1f}')) {
        return "\u{1f}\u{1f}".to_owned();
    }
    repeats.join("\u{1f}")
}

/// Column arrays of the object and version rows of several created versions ($7–$17 of
/// `CREATE_ALL`).
struct VersionColumns<'a> {
    vo_ids: Vec<Uuid>,
    kinds: Vec<i16>,
    changes: Vec<i16>,
    lifecycles: Vec<i16>,
    templates: Vec<Option<&'a str>>,
    archetypes: Vec<Option<&'a str>>,
    starts: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    audits: Vec<&'a str>,
    attestations: Vec<Option<&'a str>>,
    documents: Vec<Option<&'a str>>,
}

impl<'a> VersionColumns<'a> {
    fn of(vs: &'a [Prepared]) -> Self {
        VersionColumns {
            vo_ids: vs.iter().map(|v| v.vo_id).collect(),
            kinds: vs.iter().map(|v| v.kind.code()).collect(),
            changes: vs.iter().map(|v| v.change_type.code()).collect(),
            lifecycles: vs.iter().map(|v| v.lifecycle.code()).collect(),
            templates: vs.iter().map(|v| v.template_id.as_deref()).collect(),
            archetypes: vs.iter().map(|v| v.archetype_id.as_deref()).collect(),
            starts: vs.iter().map(|v| v.start_time).collect(),
            audits: vs.iter().map(|v| v.audit.as_str()).collect(),
            attestations: vs.iter().map(|v| v.attestations.as_deref()).collect(),
            documents: vs.iter().map(|v| v.document.as_deref()).collect(),
        }
    }

    fn params<'s>(&'s self, system_id: &'s String) -> [Param<'s>; 11] {
        [
            &self.vo_ids,
            &self.kinds,
            system_id,
            &self.changes,
            &self.lifecycles,
            &self.templates,
            &self.archetypes,
            &self.starts,
            &self.audits,
            &self.attestations,
            &self.documents,
        ]
    }
}

/// The statements of one commit, with what each result must show and its parameters.
#[derive(Default)]
struct Plan<'a, 'p> {
    sql: Vec<std::borrow::Cow<'static, str>>,
    checks: Vec<Check<'p>>,
    params: Vec<Vec<Param<'a>>>,
}

impl<'a, 'p> Plan<'a, 'p> {
    fn add(
        &mut self,
        sql: impl Into<std::borrow::Cow<'static, str>>,
        check: Check<'p>,
        params: Vec<Param<'a>>,
    ) {
        self.sql.push(sql.into());
        self.checks.push(check);
        self.params.push(params);
    }
}

const INSERT_EHR: &str = "INSERT INTO ehr (ehr_id, system_id, time_created, ehr_status_id, \
     ehr_access_id, is_modifiable, is_queryable) VALUES ($1, $2, $3, $4, $5, true, true)";
/// The EHR check ($1 the EHR, $2 whether content is written), as a literal so that
/// `CREATE_ALL` can end with it too.
macro_rules! ehr_check {
    () => {
        "SELECT CASE WHEN m IS NULL THEN cdr_fail('CD001', 'no EHR') \
         WHEN $2 AND NOT m THEN cdr_fail('CD002', 'not modifiable') END \
         FROM (SELECT (SELECT is_modifiable FROM ehr WHERE ehr_id = $1) AS m) AS e"
    };
}
const EHR_CHECK: &str = ehr_check!();

/// The EHR check of a caller other than an admin, its predicate's values numbered after the
/// statement's `base` parameters: the caller must hold a write grant for the EHR (CD006), the
/// EHR must exist (CD001) and accept content (CD002). A write grant is also a read grant
/// (`access::filter`), so the statement needs nothing of the read predicate: whether a refused
/// caller may see the record at all (403) or not (404, like a missing EHR) is asked after the
/// rollback ([`Store::explain`]). Keeping the read predicate's tables out of the commit keeps
/// the statement's relations (each locked at every execution of the cached plan) few.
/// `OFFSET 0` keeps the row's two values from being planned (and run) once per use. `None`
/// for an admin, whose check is [`EHR_CHECK`].
fn guarded_ehr_check(caller: &Principal, base: usize) -> Option<Guarded> {
    let write = filter(caller, Need::Write)?;
    let mut values = Vec::new();
    let mut push = |v: Bind| {
        values.push(v);
        format!("${}", base + values.len())
    };
    let may = write.sql("$1", &mut push);
    Some(Guarded {
        sql: format!(
            "SELECT CASE WHEN NOT w THEN cdr_fail('CD006', 'no write grant') \
             WHEN m IS NULL THEN cdr_fail('CD001', 'no EHR') \
             WHEN $2 AND NOT m THEN cdr_fail('CD002', 'not modifiable') END \
             FROM (SELECT (SELECT is_modifiable FROM ehr WHERE ehr_id = $1) AS m, \
             {may} AS w OFFSET 0) AS e"
        ),
        values,
    })
}

const INSERT_CREATOR_GRANT: &str = "INSERT INTO ehr_grant (grant_id, ehr_id, grantee_kind, \
     grantee, access, valid_from, valid_until, granted_by, granted_at) \
     VALUES ($1, $2, $3, $4, 2, $5, NULL, $6, $5)";
const INSERT_CONTRIBUTION: &str =
    "INSERT INTO contribution (ehr_id, contribution_id, time_committed, change_type, audit) \
     VALUES ($1, $2, $3, $4, $5::text)";
const CREATE_OBJECT: &str =
    "INSERT INTO versioned_object (ehr_id, vo_id, kind, head, deleted, time_created) \
     VALUES ($1, $2, $3, 1, false, $4)";
/// A new version of a composition keeps its root archetype (CD004) and its template (CD005).
const PREVIOUS_IDENTITY: &str = "SELECT CASE WHEN archetype_id <> $4 \
     THEN cdr_fail('CD004', archetype_id) ELSE cdr_fail('CD005', template_id) END \
     FROM object_version WHERE ehr_id = $1 AND vo_id = $2 AND version = $3 - 1 \
     AND (archetype_id <> $4 OR template_id <> $5)";
const ADVANCE_OBJECT: &str =
    "WITH advanced AS (UPDATE versioned_object SET head = $4, deleted = $5 \
     WHERE ehr_id = $1 AND vo_id = $2 AND kind = $3 AND head = $4 - 1 AND NOT deleted RETURNING 1) \
     SELECT cdr_fail('CD003', 'stale') WHERE NOT EXISTS (SELECT FROM advanced)";
const CLOSE_PREVIOUS: &str = "UPDATE object_version \
     SET sys_period = tstzrange(lower(sys_period), greatest(lower(sys_period), $4)) \
     WHERE ehr_id = $1 AND vo_id = $2 AND version = $3 - 1";
const DELETE_NODES: &str = "DELETE FROM node WHERE ehr_id = $1 AND vo_id = $2";
const DELETE_LEAVES: &str = "DELETE FROM leaf WHERE ehr_id = $1 AND vo_id = $2";
const INSERT_VERSION: &str = "INSERT INTO object_version (ehr_id, vo_id, version, system_id, \
     contribution_id, change_type, lifecycle_state, committed_at, sys_period, template_id, \
     archetype_id, start_time, preceding_uid, audit, attestations, document) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, tstzrange($8, NULL), $9, $10, $11, $12, \
     $13::text, $14::text, $15::text)";
const STATUS_FLAGS: &str = "UPDATE ehr SET is_modifiable = $2, is_queryable = $3 WHERE ehr_id = $1";
const CLEAR_SUBJECT: &str = "DELETE FROM ehr_subject WHERE ehr_id = $1";
const INSERT_SUBJECT: &str = "INSERT INTO ehr_subject (subject_id, namespace, ehr_id) \
     VALUES ($1, $2, $3)";
const INSERT_NODES: &str = "INSERT INTO node (ehr_id, vo_id, num, num_cap, parent, rm_type, \
     archetype, name, path, pointer, repeats) \
     SELECT $1, t.vo, t.num, t.cap, t.parent, t.rm, t.arch, t.name, t.path, \
     string_to_array(t.ptr, ','), string_to_array(t.rep, E'\\x1f') \
     FROM unnest($2::uuid[], $3::int4[], $4::int4[], $5::int4[], $6::text[], $7::int8[], \
     $8::text[], $9::text[], $10::text[], $11::text[]) \
     AS t(vo, num, cap, parent, rm, arch, name, path, ptr, rep)";
const INSERT_LEAVES: &str =
    "INSERT INTO leaf (ehr_id, vo_id, num, path_id, v_num, v_ts, v_code, v_text) \
     SELECT $1, t.* FROM unnest($2::uuid[], $3::int4[], $4::int8[], $5::float8[], \
     $6::timestamptz[], $7::text[], $8::text[]) AS t";
const INSERT_ARCHETYPES: &str = "INSERT INTO archetype_dict (archetype, archetype_id) \
     SELECT * FROM unnest($1::int8[], $2::text[]) ON CONFLICT DO NOTHING";
const INSERT_PATHS: &str = "INSERT INTO path_dict (path_id, archetype_id, path, rm_type) \
     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING";

/// The transaction lock on the EHR (`$1`) a commit takes before its outbox row gets its
/// number, held until the commit ends: the outbox rows of one EHR are numbered in commit order
/// (`events.rs`; 215474401 = 0x0cd7e0e1 is the class of these locks, the two-key form keeps
/// them apart from cdr's one-key locks). `OFFSET 0` makes the lock come
/// before the row it feeds.
macro_rules! outbox_lock {
    () => {
        "SELECT pg_advisory_xact_lock(215474401, hashtext($1::uuid::text)) OFFSET 0"
    };
}

/// The outbox row of a contribution that also changes objects ($1 the EHR, $2 the
/// contribution, $3 the objects, $4 their versions).
const INSERT_OUTBOX: &str = concat!(
    "INSERT INTO event_outbox (ehr_id, contribution_id, vo_ids, versions) \
     SELECT $1, $2, $3::uuid[], $4::int4[] FROM (",
    outbox_lock!(),
    ") AS l"
);

/// The inserts of a contribution that only creates objects, as data-modifying CTEs (which
/// always run to completion); `CREATE_ALL` and `CREATE_CONTENT` complete them. The contribution,
/// object and version rows come first: from arrays for several versions, from scalar
/// parameters for one (`one`: no function scan to set up and fill, no array to receive).
macro_rules! create_rows {
    (many) => {
        concat!(
            create_rows!(contribution),
            "object_rows AS (INSERT INTO versioned_object \
             (ehr_id, vo_id, kind, head, deleted, time_created) \
             SELECT $1, t.vo, t.kind, 1, false, $4 FROM unnest($7::uuid[], $8::int2[]) AS t(vo, kind)), \
             version_rows AS (INSERT INTO object_version (ehr_id, vo_id, version, system_id, \
             contribution_id, change_type, lifecycle_state, committed_at, sys_period, template_id, \
             archetype_id, start_time, preceding_uid, audit, attestations, document) \
             SELECT $1, t.vo, 1, $9, $3, t.ct, t.lc, $4, tstzrange($4, NULL), t.tpl, t.arch, t.st, \
             NULL, t.audit, t.att, t.doc \
             FROM unnest($7::uuid[], $10::int2[], $11::int2[], $12::text[], $13::text[], \
             $14::timestamptz[], $15::text[], $16::text[], $17::text[]) \
             AS t(vo, ct, lc, tpl, arch, st, audit, att, doc)), ",
            create_rows!(outbox "$7::uuid[]", "array_fill(1, ARRAY[cardinality($7::uuid[])])"),
            create_rows!(content)
        )
    };
    (one) => {
        concat!(
            create_rows!(contribution),
            "object_rows AS (INSERT INTO versioned_object \
             (ehr_id, vo_id, kind, head, deleted, time_created) \
             VALUES ($1, $7::uuid, $8::int2, 1, false, $4)), \
             version_rows AS (INSERT INTO object_version (ehr_id, vo_id, version, system_id, \
             contribution_id, change_type, lifecycle_state, committed_at, sys_period, template_id, \
             archetype_id, start_time, preceding_uid, audit, attestations, document) \
             VALUES ($1, $7::uuid, 1, $9, $3, $10::int2, $11::int2, $4, tstzrange($4, NULL), \
             $12::text, $13::text, $14::timestamptz, NULL, $15::text, $16::text, $17::text)), ",
            create_rows!(outbox "ARRAY[$7::uuid]", "ARRAY[1]"),
            create_rows!(content)
        )
    };
    (outbox $vo_ids:literal, $versions:literal) => {
        concat!(
            "outbox_row AS (INSERT INTO event_outbox (ehr_id, contribution_id, vo_ids, versions) \
             SELECT $1, $3, ",
            $vo_ids,
            ", ",
            $versions,
            " FROM (",
            outbox_lock!(),
            ") AS l), "
        )
    };
    (contribution) => {
        "WITH \
         contribution_row AS (INSERT INTO contribution \
             (ehr_id, contribution_id, time_committed, change_type, audit) \
             VALUES ($1, $3, $4, $5, $6::text)), "
    };
    (content) => {
        "node_rows AS (INSERT INTO node (ehr_id, vo_id, num, num_cap, parent, rm_type, archetype, \
             name, path, pointer, repeats) \
             SELECT $1, t.vo, t.num, t.cap, t.parent, t.rm, t.arch, t.name, t.path, \
             string_to_array(t.ptr, ','), string_to_array(t.rep, E'\\x1f') \
             FROM unnest($18::uuid[], $19::int4[], $20::int4[], $21::int4[], $22::text[], \
             $23::int8[], $24::text[], $25::text[], $26::text[], $27::text[]) \
             AS t(vo, num, cap, parent, rm, arch, name, path, ptr, rep)), \
         leaf_rows AS (INSERT INTO leaf (ehr_id, vo_id, num, path_id, v_num, v_ts, v_code, v_text) \
             SELECT $1, t.* FROM unnest($28::uuid[], $29::int4[], $30::int8[], $31::float8[], \
             $32::timestamptz[], $33::text[], $34::text[]) AS t)"
    };
}

/// The dictionary inserts of `CREATE_ALL` ($35–$40; the audit event follows).
macro_rules! create_dict {
    () => {
        ", archetype_rows AS (INSERT INTO archetype_dict (archetype, archetype_id) \
             SELECT * FROM unnest($35::int8[], $36::text[]) ON CONFLICT DO NOTHING), \
         path_rows AS (INSERT INTO path_dict (path_id, archetype_id, path, rm_type) \
             SELECT * FROM unnest($37::int8[], $38::text[], $39::text[], $40::text[]) \
             ON CONFLICT DO NOTHING) "
    };
}

/// The audit event of `CREATE_ALL` and its variants: `WriteEvent::params` from parameter
/// `$first` on.
macro_rules! audit_row {
    ($t:literal, $r:literal, $v:literal) => {
        concat!(
            ", audit_row AS (",
            crate::audit::write_event!(4, 1, $t, $r, $v),
            ") "
        )
    };
}

/// Every write of a contribution that only creates objects, as one statement (see
/// `write_created`), with new dictionary entries and the audit event. The EHR check is the
/// main query.
const CREATE_ALL: &str = concat!(
    create_rows!(many),
    create_dict!(),
    audit_row!(41, 42, 43),
    ehr_check!()
);

/// `CREATE_ALL` when every dictionary entry is known already (the usual case): two inserts
/// fewer to plan, open and run.
const CREATE_CONTENT: &str = concat!(create_rows!(many), audit_row!(35, 36, 37), ehr_check!());

/// `CREATE_ALL` for a single version (the usual contribution).
const CREATE_ONE_ALL: &str = concat!(
    create_rows!(one),
    create_dict!(),
    audit_row!(41, 42, 43),
    ehr_check!()
);

/// `CREATE_CONTENT` for a single version.
const CREATE_ONE_CONTENT: &str = concat!(create_rows!(one), audit_row!(35, 36, 37), ehr_check!());

impl Store {
    /// Writes a prepared contribution as one transaction on `client`, creating the EHR first
    /// when `new_ehr` is given, and ends it as `end` says. On failure nothing was written.
    /// Returns what was committed and the dictionary ids it added.
    pub(crate) async fn write(
        &self,
        client: &Client,
        caller: &Principal,
        ehr_id: Uuid,
        c: &PreparedContribution,
        new_ehr: Option<&NewEhr>,
        end: End,
    ) -> Result<(Committed, Vec<i64>), WriteFailure> {
        let rows = {
            let known = self
                .inner
                .known_dict
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Rows::collect(&c.versions, &known)
        };
        let only_creates = c.versions.iter().all(|v| v.create && v.status.is_none());
        if new_ehr.is_none() && end == End::Commit && only_creates {
            self.write_created(client, caller, ehr_id, c, &rows).await?;
            crate::audit::mark_recorded();
            self.inner.committed.notify_one();
            self.remember_commit(client, caller).await;
            return Ok(self.written(c, &rows));
        }
        let check = guarded_ehr_check(caller, 2);

        let change_code = c.change_type.code();
        let kind_codes: Vec<i16> = c.versions.iter().map(|v| v.kind.code()).collect();
        let deleted: Vec<bool> = c.versions.iter().map(|v| v.document.is_none()).collect();
        let change_codes: Vec<i16> = c.versions.iter().map(|v| v.change_type.code()).collect();
        let lifecycle_codes: Vec<i16> = c.versions.iter().map(|v| v.lifecycle.code()).collect();
        let vo_ids: Vec<Uuid> = c.versions.iter().map(|v| v.vo_id).collect();
        let versions: Vec<i32> = c.versions.iter().map(|v| v.version).collect();
        let system_id = &self.inner.system_id;

        let has_content = c.has_content();

        let mut plan = Plan::default();
        let mut add = |s: std::borrow::Cow<'static, str>, check, p| plan.add(s, check, p);
        match new_ehr {
            Some(e) => {
                add(
                    INSERT_EHR.into(),
                    Check::NewEhr,
                    vec![&ehr_id, system_id, &e.time, &e.status_id, &e.access_id],
                );
                if let Some((id, kind, grantee, by)) = &e.creator_grant {
                    add(
                        INSERT_CREATOR_GRANT.into(),
                        Check::Done,
                        vec![id, &ehr_id, kind, grantee, &e.time, by],
                    );
                }
            }
            None => match &check {
                Some(g) => add(
                    g.sql.clone().into(),
                    Check::Ehr,
                    g.params(&[&ehr_id, &has_content]),
                ),
                None => add(EHR_CHECK.into(), Check::Ehr, vec![&ehr_id, &has_content]),
            },
        }
        add(
            INSERT_CONTRIBUTION.into(),
            Check::Contribution,
            vec![&ehr_id, &c.id, &c.time, &change_code, &c.audit],
        );
        for (i, v) in c.versions.iter().enumerate() {
            if v.create {
                add(
                    CREATE_OBJECT.into(),
                    Check::Created(v),
                    vec![&ehr_id, &v.vo_id, &kind_codes[i], &c.time],
                );
                continue;
            }
            if v.kind == VoKind::Composition && v.document.is_some() {
                add(
                    PREVIOUS_IDENTITY.into(),
                    Check::Identity(v),
                    vec![
                        &ehr_id,
                        &v.vo_id,
                        &v.version,
                        &v.archetype_id,
                        &v.template_id,
                    ],
                );
            }
            add(
                ADVANCE_OBJECT.into(),
                Check::Advanced(v),
                vec![&ehr_id, &v.vo_id, &kind_codes[i], &v.version, &deleted[i]],
            );
            add(
                CLOSE_PREVIOUS.into(),
                Check::Done,
                vec![&ehr_id, &v.vo_id, &v.version, &c.time],
            );
            add(DELETE_NODES.into(), Check::Done, vec![&ehr_id, &v.vo_id]);
            add(DELETE_LEAVES.into(), Check::Done, vec![&ehr_id, &v.vo_id]);
        }
        for (i, v) in c.versions.iter().enumerate() {
            add(
                INSERT_VERSION.into(),
                Check::Done,
                vec![
                    &ehr_id,
                    &v.vo_id,
                    &v.version,
                    system_id,
                    &c.id,
                    &change_codes[i],
                    &lifecycle_codes[i],
                    &c.time,
                    &v.template_id,
                    &v.archetype_id,
                    &v.start_time,
                    &v.preceding_uid,
                    &v.audit,
                    &v.attestations,
                    &v.document,
                ],
            );
            if let Some(s) = &v.status {
                add(
                    STATUS_FLAGS.into(),
                    Check::Done,
                    vec![&ehr_id, &s.modifiable, &s.queryable],
                );
                add(CLEAR_SUBJECT.into(), Check::Done, vec![&ehr_id]);
                if let Some(subject) = &s.subject {
                    add(
                        INSERT_SUBJECT.into(),
                        Check::Subject(subject),
                        vec![&subject.0, &subject.1, &ehr_id],
                    );
                }
            }
        }
        if !rows.n_vo.is_empty() {
            add(
                INSERT_NODES.into(),
                Check::Done,
                [&ehr_id as Param]
                    .into_iter()
                    .chain(rows.node_params())
                    .collect(),
            );
        }
        if !rows.l_vo.is_empty() {
            add(
                INSERT_LEAVES.into(),
                Check::Done,
                [&ehr_id as Param]
                    .into_iter()
                    .chain(rows.leaf_params())
                    .collect(),
            );
        }
        if !rows.arch_ids.is_empty() {
            add(
                INSERT_ARCHETYPES.into(),
                Check::Done,
                rows.dict_params().0.to_vec(),
            );
        }
        if !rows.path_ids.is_empty() {
            add(
                INSERT_PATHS.into(),
                Check::Done,
                rows.dict_params().1.to_vec(),
            );
        }
        add(
            INSERT_OUTBOX.into(),
            Check::Done,
            vec![&ehr_id, &c.id, &vo_ids, &versions],
        );
        add(
            crate::audit::INSERT_WRITE_EVENT.into(),
            Check::Done,
            [&c.time as Param, &ehr_id]
                .into_iter()
                .chain(c.event.params())
                .collect(),
        );

        // Prepared statements are cached per connection; after the first commit on a
        // connection this loop makes no round trip.
        let Plan {
            sql,
            checks,
            params,
        } = plan;
        let begin = client.prepare_cached("BEGIN").await?;
        let finish = client
            .prepare_cached(match end {
                End::Commit => "COMMIT",
                End::Rollback => "ROLLBACK",
            })
            .await?;
        let mut statements = Vec::with_capacity(sql.len());
        for s in &sql {
            statements.push(client.prepare_cached(s.as_ref()).await?);
        }
        let mut pending: Vec<Pending> = Vec::with_capacity(statements.len() + 2);
        pending.push(send(client, begin, Vec::new()));
        pending.extend(
            statements
                .into_iter()
                .zip(params)
                .map(|(stmt, p)| send(client, stmt, p)),
        );
        pending.push(send(client, finish, Vec::new()));
        let mut results = futures_util::future::join_all(pending).await.into_iter();

        // BEGIN, then the statements: the first failure decides (the rest failed because the
        // transaction was aborted, and its COMMIT rolled back).
        results.next().expect("BEGIN was sent")?;
        for (check, result) in checks.iter().zip(results.by_ref()) {
            if let Err(e) = result {
                return Err(check.failure(ehr_id, c, e));
            }
        }
        results.next().expect("the end was sent")?;
        if end == End::Commit {
            crate::audit::mark_recorded();
            self.inner.committed.notify_one();
            self.remember_commit(client, caller).await;
        }
        Ok(self.written(c, &rows))
    }

    /// What a successful write committed, and the dictionary ids it added.
    fn written(&self, c: &PreparedContribution, rows: &Rows) -> (Committed, Vec<i64>) {
        let mut new_dict = rows.arch_ids.clone();
        new_dict.extend_from_slice(&rows.path_ids);
        let committed = Committed {
            contribution_id: c.id,
            time_committed: c.time,
            versions: c
                .versions
                .iter()
                .map(|v| CommittedVersion {
                    kind: v.kind,
                    uid: VersionUid::new(v.vo_id, self.inner.system_id.clone(), v.version),
                    change_type: v.change_type,
                    time_committed: c.time,
                    document: v.document.clone(),
                })
                .collect(),
        };
        (committed, new_dict)
    }

    /// A contribution that only creates objects (no EHR_STATUS, so no EHR row changes) as ONE
    /// statement in its own implicit transaction: the EHR check and every insert are parts of
    /// one query, so there is no BEGIN, COMMIT or per-statement overhead. A refusal fails the
    /// statement; the constraint or SQLSTATE says which.
    async fn write_created(
        &self,
        client: &Client,
        caller: &Principal,
        ehr_id: Uuid,
        c: &PreparedContribution,
        rows: &Rows<'_>,
    ) -> Result<(), WriteFailure> {
        let has_content = c.has_content();
        let change_code = c.change_type.code();
        let vs = &c.versions;
        let (archetype_params, path_params) = rows.dict_params();
        let codes: [i16; 3];
        let columns;
        let mut params: Vec<Param> = vec![
            &ehr_id,
            &has_content,
            &c.id,
            &c.time,
            &change_code,
            &c.audit,
        ];
        let one = if let [v] = vs.as_slice() {
            codes = [v.kind.code(), v.change_type.code(), v.lifecycle.code()];
            params.extend::<[Param; 11]>([
                &v.vo_id,
                &codes[0],
                &self.inner.system_id,
                &codes[1],
                &codes[2],
                &v.template_id,
                &v.archetype_id,
                &v.start_time,
                &v.audit,
                &v.attestations,
                &v.document,
            ]);
            true
        } else {
            columns = VersionColumns::of(vs);
            params.extend(columns.params(&self.inner.system_id));
            false
        };
        params.extend(rows.node_params());
        params.extend(rows.leaf_params());
        let known = rows.arch_ids.is_empty() && rows.path_ids.is_empty();
        if !known {
            params.extend(archetype_params);
            params.extend(path_params);
        }
        params.extend(c.event.params());
        let sql = match (one, known) {
            (true, true) => CREATE_ONE_CONTENT,
            (true, false) => CREATE_ONE_ALL,
            (false, true) => CREATE_CONTENT,
            (false, false) => CREATE_ALL,
        };
        // A caller other than an admin: the statement ends with the guarded EHR check instead.
        let check = guarded_ehr_check(caller, params.len());
        let guarded;
        let sql = match &check {
            Some(g) => {
                guarded = format!("{}{}", sql.strip_suffix(EHR_CHECK).unwrap_or(sql), g.sql);
                params.extend(g.values.iter().map(|v| v as Param));
                guarded.as_str()
            }
            None => sql,
        };
        let stmt = client.prepare_cached(sql).await?;
        let result = async {
            let stream = client.query_raw(&stmt, params).await?;
            stream.try_collect::<Vec<Row>>().await
        }
        .await;
        let Err(e) = result else {
            return Ok(());
        };
        let Some(db) = e.as_db_error() else {
            return Err(e.into());
        };
        let detail = db.detail().unwrap_or_default();
        let check = match (db.code().code(), db.constraint()) {
            ("CD001" | "CD002" | "CD006", _) => Check::Ehr,
            (_, Some("contribution_pkey")) => Check::Contribution,
            // The CTEs run in no set order: a taken object id may show on any of its tables.
            (_, Some("versioned_object_pkey" | "object_version_pkey" | "node_pkey")) => vs
                .iter()
                .find(|v| detail.contains(&v.vo_id.to_string()))
                .map_or(Check::Done, Check::Created),
            (_, Some("versioned_object_one_per_ehr")) => vs
                .iter()
                .find(|v| v.kind != VoKind::Composition)
                .map_or(Check::Done, Check::Created),
            _ => Check::Done,
        };
        Err(check.failure(ehr_id, c, e))
    }

    /// Turns a write failure into the error to report; a failed compare-and-swap is explained
    /// with a fresh read (the transaction has been rolled back).
    pub(crate) async fn explain(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        failure: WriteFailure,
    ) -> StoreError {
        let (kind, vo_id, given) = match failure {
            WriteFailure::Store(e) => return e,
            WriteFailure::NoWriteGrant => {
                return match self.authorise(caller, ehr_id, Need::Write).await {
                    // Granted since: the write may simply be tried again.
                    Ok(()) => StoreError::Forbidden(format!(
                        "the caller held no write grant for EHR {ehr_id}"
                    )),
                    Err(e) => e,
                };
            }
            WriteFailure::Stale { kind, vo_id, given } => (kind, vo_id, given),
        };
        let client = match self.inner.pool.get().await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let g = Guarded::new(
            "SELECT o.head, o.deleted, o.kind, ov.system_id FROM versioned_object o \
             JOIN object_version ov ON ov.ehr_id = o.ehr_id AND ov.vo_id = o.vo_id \
             AND ov.version = o.head WHERE o.ehr_id = $1 AND o.vo_id = $2/*access*/",
            2,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let row = client
            .query_opt(&g.sql, &g.params(&[&ehr_id, &vo_id]))
            .await;
        match row {
            Err(e) => e.into(),
            Ok(None) => self.missing(caller, ehr_id, kind, vo_id).await,
            Ok(Some(row)) => {
                let head: i32 = row.get(0);
                let deleted: bool = row.get(1);
                let stored_kind: i16 = row.get(2);
                let system: String = row.get(3);
                let latest = VersionUid::new(vo_id, system, head).to_string();
                if stored_kind != kind.code() {
                    StoreError::not_found(kind.label(), vo_id)
                } else if deleted {
                    StoreError::Deleted {
                        kind: kind.label(),
                        id: vo_id.to_string(),
                        uid: latest,
                    }
                } else {
                    StoreError::VersionConflict { given, latest }
                }
            }
        }
    }
}
