//! The audit trail: one event per access — who (subject, name, organisation, roles), when, from
//! where, the action, the EHR and versions touched, the outcome, a break-glass reason, and for
//! AQL the query text and parameters (`migrations/0011_audit.sql`).
//!
//! Two ways in:
//! - a write's event is one more insert of the write's own transaction (`write.rs`,
//!   `admin.rs`, and the changes of templates and stored queries), so a committed version never
//!   lacks its event;
//! - every other event (reads, queries, refused or failed requests) goes to the audit writer, a
//!   background task that collects events for at most [`WINDOW`] and inserts them as one
//!   statement ([`Store::record`]). An answer does not wait for its event; at most [`QUEUE`]
//!   events wait (a full queue makes [`Store::record`] wait instead), and on a crash of the cdr
//!   process the events not yet inserted are lost — those of the requests answered in the last
//!   window and while its batch was being inserted.
//!
//! A request's scope ([`in_request`]) lets the HTTP layer record each request once: a write
//! that committed its own event marks the scope, and AQL notes its query text there.
//!
//! The hash chain is in `audit_chain.rs`; the database role that keeps the rows append-only in
//! `audit_roles.rs`.

use std::cell::RefCell;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// What an event records the caller doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    Read,
    Create,
    Update,
    Delete,
    Query,
    Export,
    Denied,
    LoginFailure,
}

impl AuditAction {
    /// Every action, as stored.
    pub const ALL: [AuditAction; 8] = [
        AuditAction::Read,
        AuditAction::Create,
        AuditAction::Update,
        AuditAction::Delete,
        AuditAction::Query,
        AuditAction::Export,
        AuditAction::Denied,
        AuditAction::LoginFailure,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Read => "read",
            AuditAction::Create => "create",
            AuditAction::Update => "update",
            AuditAction::Delete => "delete",
            AuditAction::Query => "query",
            AuditAction::Export => "export",
            AuditAction::Denied => "denied",
            AuditAction::LoginFailure => "login_failure",
        }
    }

    /// The action of a stored name.
    pub fn parse(s: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: DateTime<Utc>,
    pub action: AuditAction,
    /// Whether the access succeeded.
    pub success: bool,
    /// The HTTP status, when recorded for a request.
    pub status: Option<i16>,
    pub subject: String,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub roles: Vec<String>,
    /// The client's address.
    pub address: Option<String>,
    pub ehr_id: Option<Uuid>,
    /// Version uids written or read (or object ids named by the request).
    pub versions: Vec<String>,
    pub break_glass: Option<String>,
    /// `METHOD path?query` of the request.
    pub resource: Option<String>,
    /// AQL text.
    pub query: Option<String>,
    /// AQL parameters as JSON.
    pub query_params: Option<String>,
}

impl AuditEvent {
    /// A successful `action` by `caller`, now.
    pub fn new(caller: &Principal, action: AuditAction) -> AuditEvent {
        AuditEvent {
            at: crate::commit::now(),
            action,
            success: true,
            status: None,
            subject: caller.subject.clone(),
            name: caller.name.clone(),
            organisation: caller.organisation.clone(),
            roles: caller.roles.clone(),
            address: caller.address.clone(),
            ehr_id: None,
            versions: Vec::new(),
            break_glass: caller.break_glass.clone(),
            resource: None,
            query: None,
            query_params: None,
        }
    }

    /// The event as JSON (the REST listings).
    pub fn to_json(&self) -> Value {
        json!({
            "time": crate::commit::format_time(self.at),
            "action": self.action.as_str(),
            "outcome": if self.success { "success" } else { "failure" },
            "status": self.status,
            "subject": self.subject,
            "name": self.name,
            "organisation": self.organisation,
            "roles": self.roles,
            "address": self.address,
            "ehr_id": self.ehr_id.map(|e| e.to_string()),
            "versions": self.versions,
            "break_glass": self.break_glass,
            "resource": self.resource,
            "query": self.query,
            "query_parameters": self.query_params.as_deref()
                .and_then(|p| serde_json::from_str::<Value>(p).ok()),
        })
    }
}

/// A stored event with its number and its place in the trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub seq: i64,
    /// The inserting transaction (the trail is ordered by it, then by `seq`).
    pub xid: String,
    pub event: AuditEvent,
}

impl AuditRecord {
    /// The record as JSON: the event with its `seq`.
    pub fn to_json(&self) -> Value {
        let mut v = self.event.to_json();
        v["seq"] = json!(self.seq);
        v
    }

    /// Where a listing that ended with this record goes on (see [`AuditFilter::after`]).
    pub fn cursor(&self) -> String {
        format!("{}.{}", self.xid, self.seq)
    }
}

/// The columns of an event as the chain and the listings read them (see [`from_row`]).
pub(crate) const EVENT_COLUMNS: &str = "e.seq, e.xid::text, e.at, e.action, e.outcome, e.status, \
     e.subject, e.name, e.organisation, e.roles, e.address, e.ehr_id, e.versions, e.break_glass, \
     e.resource, e.query, e.query_params";

/// An event read with [`EVENT_COLUMNS`] from column `at` on: its seq, its transaction id (as
/// text) and the event.
pub(crate) fn from_row(row: &tokio_postgres::Row, at: usize) -> (i64, String, AuditEvent) {
    let action: String = row.get(at + 3);
    let outcome: String = row.get(at + 4);
    (
        row.get(at),
        row.get(at + 1),
        AuditEvent {
            at: row.get(at + 2),
            // The table's CHECK admits only known actions.
            action: AuditAction::parse(&action).unwrap_or(AuditAction::Read),
            success: outcome == "success",
            status: row.get(at + 5),
            subject: row.get(at + 6),
            name: row.get(at + 7),
            organisation: row.get(at + 8),
            roles: row.get(at + 9),
            address: row.get(at + 10),
            ehr_id: row.get(at + 11),
            versions: row.get(at + 12),
            break_glass: row.get(at + 13),
            resource: row.get(at + 14),
            query: row.get(at + 15),
            query_params: row.get(at + 16),
        },
    )
}

// ---- the write's own event --------------------------------------------------------------------

/// The event of a write, inserted by the write's transaction (see [`write_event!`]).
#[derive(Debug)]
pub(crate) struct WriteEvent {
    /// Action, subject, name, organisation, address, break-glass reason and request, as one
    /// array parameter.
    texts: Vec<Option<String>>,
    roles: Vec<String>,
    versions: Vec<String>,
}

impl WriteEvent {
    pub(crate) fn new(caller: &Principal, action: AuditAction, versions: Vec<String>) -> Self {
        WriteEvent {
            texts: vec![
                Some(action.as_str().to_owned()),
                Some(caller.subject.clone()),
                caller.name.clone(),
                caller.organisation.clone(),
                caller.address.clone(),
                caller.break_glass.clone(),
                request_resource(),
            ],
            roles: caller.roles.clone(),
            versions,
        }
    }

    /// The parameters of [`write_event!`]'s texts, roles and versions, in that order.
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 3] {
        [&self.texts, &self.roles, &self.versions]
    }
}

/// The insert of a write's event, given the parameter numbers of the time, the EHR and the
/// three [`WriteEvent::params`].
macro_rules! write_event {
    ($at:literal, $ehr:literal, $t:literal, $r:literal, $v:literal) => {
        concat!(
            "INSERT INTO audit_event (at, ehr_id, action, outcome, subject, name, organisation, \
             roles, address, versions, break_glass, resource) SELECT $",
            $at,
            "::timestamptz, $",
            $ehr,
            "::uuid, t[1], 'success', t[2], t[3], t[4], $",
            $r,
            "::text[], t[5], $",
            $v,
            "::text[], t[6], t[7] FROM (SELECT $",
            $t,
            "::text[]) AS e(t)"
        )
    };
}
pub(crate) use write_event;

/// A write's event as a statement of its transaction.
pub(crate) const INSERT_WRITE_EVENT: &str = write_event!(1, 2, 3, 4, 5);

/// Inserts a write's event, now, as a statement of the transaction `tx`; `ehr_id` is the EHR
/// written, if any. The caller marks the request's scope ([`mark_recorded`]) after the commit.
pub(crate) async fn insert_write_event(
    tx: &tokio_postgres::Transaction<'_>,
    ehr_id: Option<Uuid>,
    event: &WriteEvent,
) -> Result<()> {
    let now = crate::commit::now();
    let params: Vec<&(dyn ToSql + Sync)> = [&now as &(dyn ToSql + Sync), &ehr_id]
        .into_iter()
        .chain(event.params())
        .collect();
    tx.execute(INSERT_WRITE_EVENT, &params).await?;
    Ok(())
}

// ---- a request's scope ------------------------------------------------------------------------

/// What the store tells the HTTP layer about the request it serves.
#[derive(Debug, Clone, Default)]
pub struct RequestAudit {
    /// `METHOD path?query`, written into the events of the request's writes.
    pub resource: Option<String>,
    /// A write committed the request's event in its own transaction.
    pub recorded: bool,
    /// The AQL run: text and parameters (JSON).
    pub query: Option<(String, String)>,
    /// The EHR an AQL query was bound to.
    pub query_ehr: Option<Uuid>,
}

tokio::task_local! {
    static REQUEST: RefCell<RequestAudit>;
}

/// Runs `f` (a request's handling) in an audit scope for `resource`; answers its output and
/// what the store noted while it ran.
pub async fn in_request<F: Future>(resource: String, f: F) -> (F::Output, RequestAudit) {
    let scope = RefCell::new(RequestAudit {
        resource: Some(resource),
        ..RequestAudit::default()
    });
    REQUEST
        .scope(scope, async move {
            let out = f.await;
            (out, REQUEST.with(|r| r.take()))
        })
        .await
}

fn request_resource() -> Option<String> {
    REQUEST
        .try_with(|r| r.borrow().resource.clone())
        .ok()
        .flatten()
}

/// Notes that the request's write committed its event.
pub(crate) fn mark_recorded() {
    let _ = REQUEST.try_with(|r| r.borrow_mut().recorded = true);
}

/// Notes the AQL a request runs.
pub(crate) fn note_query(aql: &str, params: &serde_json::Map<String, Value>, ehr_id: Option<Uuid>) {
    let _ = REQUEST.try_with(|r| {
        let mut r = r.borrow_mut();
        let params = serde_json::to_string(params).unwrap_or_default();
        r.query = Some((aql.to_owned(), params));
        r.query_ehr = ehr_id;
    });
}

/// Notes the one EHR the request's AQL is bound to (by the query itself or the request).
pub(crate) fn note_query_ehr(ehr_id: Uuid) {
    let _ = REQUEST.try_with(|r| r.borrow_mut().query_ehr = Some(ehr_id));
}

// ---- the audit writer -------------------------------------------------------------------------

/// Events waiting for the writer at most; [`Store::record`] waits while the queue is full.
pub const QUEUE: usize = 4096;
/// Events inserted by one statement at most.
const BATCH: usize = 512;

pub(crate) enum Message {
    Event(Box<AuditEvent>),
    /// Answered once every event queued before it is in the database.
    Flush(oneshot::Sender<()>),
}

/// How long the writer collects events before it inserts them (unless a batch is full or a
/// flush is asked for): one insert, and one WAL flush, per window rather than per request.
pub const WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// Starts the writer on the current runtime; it ends when every sender is gone (the store is
/// dropped) or the pool is closed.
pub(crate) fn start_writer(pool: deadpool_postgres::Pool) -> mpsc::Sender<Message> {
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        let mut flushes = Vec::new();
        while let Some(first) = rx.recv().await {
            let deadline = tokio::time::Instant::now() + WINDOW;
            let mut next = Some(first);
            while let Some(m) = next.take() {
                match m {
                    Message::Event(e) => batch.push(*e),
                    Message::Flush(f) => flushes.push(f),
                }
                if batch.len() < BATCH && flushes.is_empty() {
                    next = tokio::time::timeout_at(deadline, rx.recv())
                        .await
                        .ok()
                        .flatten();
                }
            }
            let mut delay = std::time::Duration::from_millis(50);
            while !batch.is_empty() {
                match insert_events(&pool, &batch).await {
                    Ok(()) => batch.clear(),
                    Err(_) if pool.is_closed() => return,
                    Err(e) => {
                        eprintln!("cdr: audit events not written yet, retrying: {e}");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(std::time::Duration::from_secs(5));
                    }
                }
            }
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
        }
    });
    tx
}

/// Joins texts with the unit separator, which `string_to_array` splits again in SQL.
fn joined(items: &[String]) -> String {
    items.join("\u{1f}")
}

async fn insert_events(pool: &deadpool_postgres::Pool, events: &[AuditEvent]) -> Result<()> {
    let client = pool.get().await?;
    let col = |f: fn(&AuditEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let at: Vec<DateTime<Utc>> = events.iter().map(|e| e.at).collect();
    let action: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let outcome: Vec<&str> = events
        .iter()
        .map(|e| if e.success { "success" } else { "failure" })
        .collect();
    let status: Vec<Option<i16>> = events.iter().map(|e| e.status).collect();
    let subject: Vec<&str> = events.iter().map(|e| e.subject.as_str()).collect();
    let name = col(|e| e.name.clone());
    let organisation = col(|e| e.organisation.clone());
    let roles: Vec<String> = events.iter().map(|e| joined(&e.roles)).collect();
    let address = col(|e| e.address.clone());
    let ehr: Vec<Option<Uuid>> = events.iter().map(|e| e.ehr_id).collect();
    let versions: Vec<String> = events.iter().map(|e| joined(&e.versions)).collect();
    let break_glass = col(|e| e.break_glass.clone());
    let resource = col(|e| e.resource.clone());
    let query = col(|e| e.query.clone());
    let params = col(|e| e.query_params.clone());
    let stmt = client
        .prepare_cached(
            "INSERT INTO audit_event (at, action, outcome, status, subject, name, organisation, \
             roles, address, ehr_id, versions, break_glass, resource, query, query_params) \
             SELECT t.at, t.action, t.outcome, t.status, t.subject, t.name, t.org, \
             string_to_array(t.roles, E'\\x1f'), t.address, t.ehr, \
             string_to_array(t.versions, E'\\x1f'), t.bg, t.resource, t.query, t.params \
             FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::int2[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::uuid[], $11::text[], \
             $12::text[], $13::text[], $14::text[], $15::text[]) AS t(at, action, outcome, \
             status, subject, name, org, roles, address, ehr, versions, bg, resource, query, \
             params)",
        )
        .await?;
    client
        .execute(
            &stmt,
            &[
                &at,
                &action,
                &outcome,
                &status,
                &subject,
                &name,
                &organisation,
                &roles,
                &address,
                &ehr,
                &versions,
                &break_glass,
                &resource,
                &query,
                &params,
            ],
        )
        .await?;
    Ok(())
}

/// Filters of an audit listing; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub ehr_id: Option<Uuid>,
    /// The caller's subject.
    pub subject: Option<String>,
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub action: Option<AuditAction>,
    /// Only events older than the one of this [`AuditRecord::cursor`] (the next page after a
    /// page ending at it).
    pub after: Option<String>,
    /// Events per page.
    pub limit: i64,
}

impl Store {
    /// Queues an event for the audit writer (see the module's documentation for the bound);
    /// waits only while the queue is full.
    pub async fn record(&self, event: AuditEvent) {
        let sent = self.inner.audit.send(Message::Event(Box::new(event))).await;
        if sent.is_err() {
            eprintln!("cdr: the audit writer has stopped; an event was not recorded");
        }
    }

    /// Waits until every event queued so far is in the database.
    pub async fn flush_audit(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.inner
            .audit
            .send(Message::Flush(tx))
            .await
            .map_err(|_| StoreError::Pool("the audit writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Pool("the audit writer has stopped".into()))
    }

    /// Audit events matching `filter`, newest first: in the order of their transactions, then
    /// of their numbers, as the chain holds them. A malformed cursor is a bad request.
    pub async fn audit_events(
        &self,
        _caller: &Principal,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>> {
        let client = self.inner.pool.get().await?;
        let action = filter.action.map(AuditAction::as_str);
        let cursor = match &filter.after {
            None => None,
            Some(c) => Some(
                c.split_once('.')
                    .and_then(|(x, s)| {
                        Some((x.parse::<u64>().ok()?.to_string(), s.parse::<i64>().ok()?))
                    })
                    .ok_or_else(|| {
                        StoreError::BadRequest(format!(
                            "'{c}' is not a position in the audit trail"
                        ))
                    })?,
            ),
        };
        let (after_xid, after_seq) = match cursor {
            Some((x, s)) => (Some(x), Some(s)),
            None => (None, None),
        };
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM audit_event e \
                 WHERE ($1::uuid IS NULL OR e.ehr_id = $1) AND ($2::text IS NULL OR e.subject = $2) \
                 AND ($3::timestamptz IS NULL OR e.at >= $3) AND ($4::timestamptz IS NULL OR e.at < $4) \
                 AND ($5::text IS NULL OR e.action = $5) \
                 AND ($6::text IS NULL OR (e.xid, e.seq) < ($6::text::xid8, $7)) \
                 ORDER BY e.xid DESC, e.seq DESC LIMIT $8"
            ))
            .await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &filter.ehr_id,
                    &filter.subject,
                    &filter.from,
                    &filter.to,
                    &action,
                    &after_xid,
                    &after_seq,
                    &filter.limit,
                ],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let (seq, xid, event) = from_row(r, 0);
                AuditRecord { seq, xid, event }
            })
            .collect())
    }
}
