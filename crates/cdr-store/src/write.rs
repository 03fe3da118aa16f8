//! Writing a prepared contribution inside a transaction. Every statement is sent at once
//! (tokio-postgres pipelines concurrently polled requests), so a commit costs three round trips:
//! BEGIN, the pipeline, COMMIT. Results are then read in order; the first failure decides, and
//! the caller rolls the transaction back.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Transaction;
use futures_util::TryStreamExt;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use uuid::Uuid;

use crate::commit::{Committed, CommittedVersion, Prepared, PreparedContribution};
use crate::error::StoreError;
use crate::ids::{dict_id, path_id, VersionUid, VoKind};
use crate::store::Store;

type Param<'a> = &'a (dyn ToSql + Sync);
type Pending<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a>>;

/// Why a write did not happen.
pub(crate) enum WriteFailure {
    Store(StoreError),
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

/// What a pipelined statement's rows mean.
enum Check<'p> {
    /// `SELECT is_modifiable FROM ehr`: the EHR exists and accepts content.
    Ehr,
    /// `INSERT … RETURNING 1` into contribution: the uid was free.
    Contribution,
    /// `INSERT … RETURNING 1` into versioned_object: the object id was free.
    Created(&'p Prepared),
    /// `UPDATE versioned_object … RETURNING 1`: the head was the preceding version.
    Advanced(&'p Prepared),
    /// The previous version's root archetype, which must not change.
    Archetype(&'p Prepared),
    /// `INSERT … RETURNING 1` into ehr_subject: no other EHR has this subject.
    Subject(&'p (String, String)),
    /// Nothing to check beyond success.
    Done,
}

fn send<'a>(tx: &'a Transaction<'_>, stmt: Statement, params: Vec<Param<'a>>) -> Pending<'a> {
    Box::pin(async move {
        let stream = tx.query_raw(&stmt, params).await?;
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
    n_frag: Vec<Option<String>>,
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
    fn collect(versions: &'a [Prepared], known: &std::collections::HashSet<i64>) -> Self {
        let mut r = Rows::default();
        let mut arch: Vec<(i64, &str)> = Vec::new();
        let mut paths: Vec<(i64, &str, &str, &str)> = Vec::new();
        for v in versions {
            for n in &v.rows.nodes {
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
                r.n_frag.push(
                    n.fragment
                        .as_deref()
                        .map(|f| String::from_utf8_lossy(f).into_owned()),
                );
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

/// The statements of one commit, with what each result must show and its parameters.
#[derive(Default)]
struct Plan<'a, 'p> {
    sql: Vec<&'static str>,
    checks: Vec<Check<'p>>,
    params: Vec<Vec<Param<'a>>>,
}

impl<'a, 'p> Plan<'a, 'p> {
    fn add(&mut self, sql: &'static str, check: Check<'p>, params: Vec<Param<'a>>) {
        self.sql.push(sql);
        self.checks.push(check);
        self.params.push(params);
    }
}

const EHR_CHECK: &str = "SELECT is_modifiable FROM ehr WHERE ehr_id = $1";
const INSERT_CONTRIBUTION: &str =
    "INSERT INTO contribution (ehr_id, contribution_id, time_committed, change_type, audit) \
     VALUES ($1, $2, $3, $4, $5::text::json) ON CONFLICT DO NOTHING RETURNING 1";
const CREATE_OBJECT: &str =
    "INSERT INTO versioned_object (ehr_id, vo_id, kind, head, deleted, time_created) \
     VALUES ($1, $2, $3, 1, false, $4) ON CONFLICT DO NOTHING RETURNING 1";
const PREVIOUS_ARCHETYPE: &str = "SELECT archetype_id FROM object_version \
     WHERE ehr_id = $1 AND vo_id = $2 AND version = $3 - 1";
const ADVANCE_OBJECT: &str = "UPDATE versioned_object SET head = $4, deleted = $5 \
     WHERE ehr_id = $1 AND vo_id = $2 AND kind = $3 AND head = $4 - 1 AND NOT deleted RETURNING 1";
const CLOSE_PREVIOUS: &str = "UPDATE object_version \
     SET sys_period = tstzrange(lower(sys_period), greatest(lower(sys_period), $4)) \
     WHERE ehr_id = $1 AND vo_id = $2 AND version = $3 - 1";
const DELETE_NODES: &str = "DELETE FROM node WHERE ehr_id = $1 AND vo_id = $2";
const DELETE_LEAVES: &str = "DELETE FROM leaf WHERE ehr_id = $1 AND vo_id = $2";
const INSERT_VERSION: &str = "INSERT INTO object_version (ehr_id, vo_id, version, system_id, \
     contribution_id, change_type, lifecycle_state, committed_at, sys_period, template_id, \
     archetype_id, start_time, preceding_uid, audit, attestations, document) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, tstzrange($8, NULL), $9, $10, $11, $12, \
     $13::text::json, $14::text::json, $15::text::json)";
const STATUS_FLAGS: &str = "UPDATE ehr SET is_modifiable = $2, is_queryable = $3 WHERE ehr_id = $1";
const CLEAR_SUBJECT: &str = "DELETE FROM ehr_subject WHERE ehr_id = $1";
const INSERT_SUBJECT: &str = "INSERT INTO ehr_subject (subject_id, namespace, ehr_id) \
     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1";
const INSERT_NODES: &str = "INSERT INTO node (ehr_id, vo_id, num, num_cap, parent, rm_type, \
     archetype, name, path, fragment) \
     SELECT $1, t.vo, t.num, t.cap, t.parent, t.rm, t.arch, t.name, t.path, t.frag::json \
     FROM unnest($2::uuid[], $3::int4[], $4::int4[], $5::int4[], $6::text[], $7::int8[], \
     $8::text[], $9::text[], $10::text[]) AS t(vo, num, cap, parent, rm, arch, name, path, frag)";
const INSERT_LEAVES: &str =
    "INSERT INTO leaf (ehr_id, vo_id, num, path_id, v_num, v_ts, v_code, v_text) \
     SELECT $1, t.* FROM unnest($2::uuid[], $3::int4[], $4::int8[], $5::float8[], \
     $6::timestamptz[], $7::text[], $8::text[]) AS t";
const INSERT_ARCHETYPES: &str = "INSERT INTO archetype_dict (archetype, archetype_id) \
     SELECT * FROM unnest($1::int8[], $2::text[]) ON CONFLICT DO NOTHING";
const INSERT_PATHS: &str = "INSERT INTO path_dict (path_id, archetype_id, path, rm_type) \
     SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING";

impl Store {
    /// Writes a prepared contribution inside `tx`. `ehr_known` skips the EHR check (the EHR was
    /// created in this transaction). On failure the caller must roll back.
    pub(crate) async fn write(
        &self,
        tx: &Transaction<'_>,
        ehr_id: Uuid,
        c: &PreparedContribution,
        ehr_known: bool,
    ) -> Result<(Committed, Vec<i64>), WriteFailure> {
        let rows = {
            let known = self
                .inner
                .known_dict
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            Rows::collect(&c.versions, &known)
        };
        let change_code = c.change_type.code();
        let kind_codes: Vec<i16> = c.versions.iter().map(|v| v.kind.code()).collect();
        let deleted: Vec<bool> = c.versions.iter().map(|v| v.document.is_none()).collect();
        let change_codes: Vec<i16> = c.versions.iter().map(|v| v.change_type.code()).collect();
        let lifecycle_codes: Vec<i16> = c.versions.iter().map(|v| v.lifecycle.code()).collect();
        let system_id = &self.inner.system_id;

        let mut plan = Plan::default();
        let mut add = |s: &'static str, check, p| plan.add(s, check, p);
        if !ehr_known {
            add(EHR_CHECK, Check::Ehr, vec![&ehr_id]);
        }
        add(
            INSERT_CONTRIBUTION,
            Check::Contribution,
            vec![&ehr_id, &c.id, &c.time, &change_code, &c.audit],
        );
        for (i, v) in c.versions.iter().enumerate() {
            if v.create {
                add(
                    CREATE_OBJECT,
                    Check::Created(v),
                    vec![&ehr_id, &v.vo_id, &kind_codes[i], &c.time],
                );
                continue;
            }
            if v.kind == VoKind::Composition && v.document.is_some() {
                add(
                    PREVIOUS_ARCHETYPE,
                    Check::Archetype(v),
                    vec![&ehr_id, &v.vo_id, &v.version],
                );
            }
            add(
                ADVANCE_OBJECT,
                Check::Advanced(v),
                vec![&ehr_id, &v.vo_id, &kind_codes[i], &v.version, &deleted[i]],
            );
            add(
                CLOSE_PREVIOUS,
                Check::Done,
                vec![&ehr_id, &v.vo_id, &v.version, &c.time],
            );
            add(DELETE_NODES, Check::Done, vec![&ehr_id, &v.vo_id]);
            add(DELETE_LEAVES, Check::Done, vec![&ehr_id, &v.vo_id]);
        }
        for (i, v) in c.versions.iter().enumerate() {
            add(
                INSERT_VERSION,
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
                    STATUS_FLAGS,
                    Check::Done,
                    vec![&ehr_id, &s.modifiable, &s.queryable],
                );
                add(CLEAR_SUBJECT, Check::Done, vec![&ehr_id]);
                if let Some(subject) = &s.subject {
                    add(
                        INSERT_SUBJECT,
                        Check::Subject(subject),
                        vec![&subject.0, &subject.1, &ehr_id],
                    );
                }
            }
        }
        if !rows.n_vo.is_empty() {
            add(
                INSERT_NODES,
                Check::Done,
                vec![
                    &ehr_id,
                    &rows.n_vo,
                    &rows.n_num,
                    &rows.n_cap,
                    &rows.n_parent,
                    &rows.n_rm,
                    &rows.n_arch,
                    &rows.n_name,
                    &rows.n_path,
                    &rows.n_frag,
                ],
            );
        }
        if !rows.l_vo.is_empty() {
            add(
                INSERT_LEAVES,
                Check::Done,
                vec![
                    &ehr_id,
                    &rows.l_vo,
                    &rows.l_num,
                    &rows.l_path,
                    &rows.l_vnum,
                    &rows.l_vts,
                    &rows.l_vcode,
                    &rows.l_vtext,
                ],
            );
        }
        if !rows.arch_ids.is_empty() {
            add(
                INSERT_ARCHETYPES,
                Check::Done,
                vec![&rows.arch_ids, &rows.arch_texts],
            );
        }
        if !rows.path_ids.is_empty() {
            add(
                INSERT_PATHS,
                Check::Done,
                vec![
                    &rows.path_ids,
                    &rows.path_archs,
                    &rows.path_texts,
                    &rows.path_types,
                ],
            );
        }

        // Prepared statements are cached per connection; after the first commit on a
        // connection this loop makes no round trip.
        let Plan {
            sql,
            checks,
            params,
        } = plan;
        let mut statements = Vec::with_capacity(sql.len());
        for s in &sql {
            statements.push(tx.prepare_cached(s).await?);
        }
        let pending: Vec<Pending> = statements
            .into_iter()
            .zip(params)
            .map(|(stmt, p)| send(tx, stmt, p))
            .collect();
        let results = futures_util::future::join_all(pending).await;

        let has_content = c.versions.iter().any(|v| v.kind != VoKind::EhrStatus);
        for (check, result) in checks.iter().zip(results) {
            let rows = result?;
            match check {
                Check::Ehr => {
                    let modifiable: bool = rows
                        .first()
                        .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?
                        .get(0);
                    if !modifiable && has_content {
                        return Err(StoreError::not_modifiable(ehr_id).into());
                    }
                }
                Check::Contribution if rows.is_empty() => {
                    return Err(StoreError::Conflict(format!(
                        "contribution uid {} is already in use",
                        c.id
                    ))
                    .into());
                }
                Check::Created(v) if rows.is_empty() => {
                    return Err(StoreError::Conflict(match v.kind {
                        VoKind::Composition => {
                            format!("versioned object {} already exists", v.vo_id)
                        }
                        VoKind::Folder => format!("EHR {ehr_id} already has a directory"),
                        VoKind::EhrStatus => format!("EHR {ehr_id} already has an EHR_STATUS"),
                    })
                    .into());
                }
                Check::Advanced(v) if rows.is_empty() => {
                    return Err(WriteFailure::Stale {
                        kind: v.kind,
                        vo_id: v.vo_id,
                        given: v.preceding_uid.clone().unwrap_or_default(),
                    });
                }
                Check::Archetype(v) => {
                    let before: Option<String> = rows.first().and_then(|r| r.get(0));
                    if let Some(before) = before {
                        if Some(&before) != v.archetype_id.as_ref() {
                            return Err(StoreError::BadRequest(format!(
                                "the root archetype of a composition cannot change (was {before}, now {})",
                                v.archetype_id.as_deref().unwrap_or("")
                            ))
                            .into());
                        }
                    }
                }
                Check::Subject((id, namespace)) if rows.is_empty() => {
                    return Err(StoreError::Conflict(format!(
                        "an EHR for subject '{id}' in namespace '{namespace}' already exists"
                    ))
                    .into());
                }
                _ => {}
            }
        }

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
                    uid: VersionUid::new(v.vo_id, system_id.clone(), v.version),
                    change_type: v.change_type,
                    time_committed: c.time,
                    document: v.document.clone(),
                })
                .collect(),
        };
        Ok((committed, new_dict))
    }

    /// Turns a write failure into the error to report; a failed compare-and-swap is explained
    /// with a fresh read (the transaction has been rolled back).
    pub(crate) async fn explain(&self, ehr_id: Uuid, failure: WriteFailure) -> StoreError {
        let (kind, vo_id, given) = match failure {
            WriteFailure::Store(e) => return e,
            WriteFailure::Stale { kind, vo_id, given } => (kind, vo_id, given),
        };
        let client = match self.inner.pool.get().await {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        let row = client
            .query_opt(
                "SELECT o.head, o.deleted, o.kind, ov.system_id FROM versioned_object o \
                 JOIN object_version ov ON ov.ehr_id = o.ehr_id AND ov.vo_id = o.vo_id \
                 AND ov.version = o.head WHERE o.ehr_id = $1 AND o.vo_id = $2",
                &[&ehr_id, &vo_id],
            )
            .await;
        match row {
            Err(e) => e.into(),
            Ok(None) => self.missing(ehr_id, kind, vo_id).await,
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
