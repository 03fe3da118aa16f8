//! Change events: what each commit changed, for webhook subscribers and event streams.
//!
//! A commit writes one `event_outbox` row in its own transaction (`write.rs`), after taking a
//! transaction lock on its EHR, so the outbox rows of one EHR are numbered in commit order and
//! an event is never announced for a change that did not commit. One [`EventPublisher`] at a
//! time (it holds a session advisory lock on a connection of its own) moves the committed
//! outbox rows, in order, into `change_event`: one event per version, numbered by `position`
//! without gaps. Because positions are given by that one writer in the order it commits them,
//! a reader that has seen position `p` has seen every event before `p`: subscriptions keep
//! their progress as one position, and a stream resumes after the last position it sent.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::ids::{ChangeType, LifecycleState, Principal, VersionUid, VoKind};
use crate::store::Store;

/// The session lock the one publisher holds.
const PUBLISHER_LOCK: i64 = 0x0cd7_5702_e000_0016;
/// The most outbox rows moved by one publishing transaction.
const PUBLISH_BATCH: i64 = 2_000;
/// Events are kept this long after publication once every subscription has had them.
pub const EVENT_RETENTION: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// The most subscriptions a store holds.
pub const MAX_SUBSCRIPTIONS: i64 = 1_000;

/// One change: a version a commit wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub position: i64,
    pub committed_at: DateTime<Utc>,
    pub ehr_id: Uuid,
    pub contribution_id: Uuid,
    pub uid: VersionUid,
    pub kind: VoKind,
    pub change_type: ChangeType,
    pub lifecycle_state: LifecycleState,
    pub deleted: bool,
    pub template_id: Option<String>,
    pub archetype_id: Option<String>,
    /// The EHR's subject (id, namespace) when the event was published.
    pub subject: Option<(String, String)>,
}

const EVENT_COLUMNS: &str = "position, committed_at, ehr_id, contribution_id, vo_id, version, \
     system_id, kind, change_type, lifecycle_state, deleted, template_id, archetype_id, \
     subject_id, subject_namespace";

impl ChangeEvent {
    fn from_row(r: &Row) -> ChangeEvent {
        let subject_id: Option<String> = r.get(13);
        let namespace: Option<String> = r.get(14);
        ChangeEvent {
            position: r.get(0),
            committed_at: r.get(1),
            ehr_id: r.get(2),
            contribution_id: r.get(3),
            uid: VersionUid::new(r.get(4), r.get::<_, String>(6), r.get(5)),
            kind: VoKind::from_i16(r.get(7)),
            change_type: ChangeType::from_i16(r.get(8)),
            lifecycle_state: LifecycleState::from_i16(r.get(9)),
            deleted: r.get(10),
            template_id: r.get(11),
            archetype_id: r.get(12),
            subject: subject_id.zip(namespace),
        }
    }

    /// `composition.created`, `composition.updated`, `composition.deleted`, and the same for
    /// `ehr_status` and `directory`.
    pub fn event_type(&self) -> String {
        let kind = match self.kind {
            VoKind::Composition => "composition",
            VoKind::EhrStatus => "ehr_status",
            VoKind::Folder => "directory",
        };
        let what = if self.deleted {
            "deleted"
        } else if self.uid.version == 1 {
            "created"
        } else {
            "updated"
        };
        format!("{kind}.{what}")
    }

    /// The event as subscribers receive it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.position.to_string(),
            "type": self.event_type(),
            "time_committed": crate::commit::format_time(self.committed_at),
            "ehr_id": self.ehr_id.to_string(),
            "contribution_uid": self.contribution_id.to_string(),
            "versioned_object_uid": self.uid.object_id.to_string(),
            "version_uid": self.uid.to_string(),
            "version": self.uid.version,
            "change_type": {"code": self.change_type.code().to_string(), "value": self.change_type.rubric()},
            "lifecycle_state": {"code": self.lifecycle_state.code().to_string(), "value": self.lifecycle_state.rubric()},
        });
        if let Some(t) = &self.template_id {
            v["template_id"] = json!(t);
        }
        if let Some(a) = &self.archetype_id {
            v["archetype_node_id"] = json!(a);
        }
        if let Some((id, namespace)) = &self.subject {
            v["subject"] = json!({"id": id, "namespace": namespace});
        }
        v
    }
}

/// Which events a subscriber or stream wants: every list given must contain the event's value
/// (a template filter passes only compositions).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    pub template_ids: Option<Vec<String>>,
    pub ehr_ids: Option<Vec<Uuid>>,
    /// (id, namespace) pairs.
    pub subjects: Option<Vec<(String, String)>>,
}

impl EventFilter {
    pub fn matches(&self, e: &ChangeEvent) -> bool {
        let template = self.template_ids.as_ref().is_none_or(|ts| {
            e.template_id
                .as_ref()
                .is_some_and(|t| ts.iter().any(|x| x == t))
        });
        let ehr = self
            .ehr_ids
            .as_ref()
            .is_none_or(|ids| ids.contains(&e.ehr_id));
        let subject = self.subjects.as_ref().is_none_or(|ss| {
            e.subject
                .as_ref()
                .is_some_and(|(id, ns)| ss.iter().any(|(i, n)| i == id && n == ns))
        });
        template && ehr && subject
    }

    /// The filter as JSON (lists only where given).
    pub fn to_json(&self) -> Value {
        let mut v = json!({});
        if let Some(t) = &self.template_ids {
            v["template_id"] = json!(t);
        }
        if let Some(e) = &self.ehr_ids {
            v["ehr_id"] = json!(e.iter().map(Uuid::to_string).collect::<Vec<_>>());
        }
        if let Some(s) = &self.subjects {
            v["subject"] = json!(s
                .iter()
                .map(|(id, ns)| json!({"id": id, "namespace": ns}))
                .collect::<Vec<_>>());
        }
        v
    }
}

/// A webhook subscription as stored.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: Uuid,
    pub target_url: String,
    /// The signing key's text (see the server's webhook module).
    pub secret: String,
    pub filter: EventFilter,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Every event up to this position has been delivered or did not match.
    pub delivered: i64,
    /// Failed attempts at the next event since the last success.
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_delivered_at: Option<DateTime<Utc>>,
}

const SUBSCRIPTION_COLUMNS: &str = "subscription_id, target_url, secret, template_ids, ehr_ids, \
     subject_ids, subject_namespaces, created_at, created_by, delivered, attempts, \
     next_attempt_at, last_error, last_delivered_at";

impl Subscription {
    fn from_row(r: &Row) -> Subscription {
        let ids: Option<Vec<String>> = r.get(5);
        let namespaces: Option<Vec<String>> = r.get(6);
        Subscription {
            id: r.get(0),
            target_url: r.get(1),
            secret: r.get(2),
            filter: EventFilter {
                template_ids: r.get(3),
                ehr_ids: r.get(4),
                subjects: ids.map(|ids| {
                    ids.into_iter()
                        .zip(namespaces.unwrap_or_default())
                        .collect()
                }),
            },
            created_at: r.get(7),
            created_by: r.get(8),
            delivered: r.get(9),
            attempts: r.get(10),
            next_attempt_at: r.get(11),
            last_error: r.get(12),
            last_delivered_at: r.get(13),
        }
    }

    /// The subscription as its API shows it: never the secret.
    pub fn to_json(&self) -> Value {
        let time = |t: &Option<DateTime<Utc>>| t.map(crate::commit::format_time);
        json!({
            "id": self.id.to_string(),
            "target_url": self.target_url,
            "filter": self.filter.to_json(),
            "created_at": crate::commit::format_time(self.created_at),
            "created_by": self.created_by,
            "delivery": {
                "delivered_position": self.delivered.to_string(),
                "failed_attempts": self.attempts,
                "next_attempt_at": time(&self.next_attempt_at),
                "last_error": self.last_error,
                "last_delivered_at": time(&self.last_delivered_at),
            },
        })
    }
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub target_url: String,
    pub secret: String,
    pub filter: EventFilter,
}

/// How a delivery attempt of a subscription ended.
#[derive(Debug, Clone)]
pub enum DeliveryProgress {
    /// Every event up to `delivered` is done.
    Done { delivered: i64, any_sent: bool },
    /// Events up to `delivered` are done; the next one failed (`attempts` times in a row).
    Failed {
        delivered: i64,
        attempts: i32,
        retry_at: DateTime<Utc>,
        error: String,
    },
}

fn subject_arrays(f: &EventFilter) -> (Option<Vec<&str>>, Option<Vec<&str>>) {
    match &f.subjects {
        None => (None, None),
        Some(s) => (
            Some(s.iter().map(|(id, _)| id.as_str()).collect()),
            Some(s.iter().map(|(_, ns)| ns.as_str()).collect()),
        ),
    }
}

impl Store {
    /// Creates a subscription; it receives the events published from now on.
    pub async fn create_subscription(
        &self,
        caller: &Principal,
        new: NewSubscription,
    ) -> Result<Subscription> {
        let client = self.inner.pool.get().await?;
        let (ids, namespaces) = subject_arrays(&new.filter);
        let sql = format!(
            "INSERT INTO subscription (subscription_id, target_url, secret, template_ids, \
             ehr_ids, subject_ids, subject_namespaces, created_at, created_by, delivered) \
             SELECT $1, $2, $3, $4, $5, $6, $7, now(), $8, \
             (SELECT coalesce(max(position), 0) FROM change_event) \
             WHERE (SELECT count(*) FROM subscription) < $9 \
             RETURNING {SUBSCRIPTION_COLUMNS}"
        );
        let row = client
            .query_opt(
                &sql,
                &[
                    &Uuid::new_v4(),
                    &new.target_url,
                    &new.secret,
                    &new.filter.template_ids,
                    &new.filter.ehr_ids,
                    &ids,
                    &namespaces,
                    &caller.subject,
                    &MAX_SUBSCRIPTIONS,
                ],
            )
            .await?;
        match row {
            Some(r) => Ok(Subscription::from_row(&r)),
            None => Err(StoreError::Conflict(format!(
                "there are {MAX_SUBSCRIPTIONS} subscriptions already; delete one first"
            ))),
        }
    }

    /// Every subscription, oldest first.
    pub async fn list_subscriptions(&self) -> Result<Vec<Subscription>> {
        let client = self.inner.pool.get().await?;
        let sql = format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscription ORDER BY created_at, subscription_id"
        );
        let rows = client.query(&sql, &[]).await?;
        Ok(rows.iter().map(Subscription::from_row).collect())
    }

    /// One subscription.
    pub async fn get_subscription(&self, id: Uuid) -> Result<Subscription> {
        let client = self.inner.pool.get().await?;
        let sql =
            format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscription WHERE subscription_id = $1");
        match client.query_opt(&sql, &[&id]).await? {
            Some(r) => Ok(Subscription::from_row(&r)),
            None => Err(StoreError::not_found("subscription", id)),
        }
    }

    /// Deletes a subscription; no event is sent to it afterwards.
    pub async fn delete_subscription(&self, id: Uuid) -> Result<()> {
        let client = self.inner.pool.get().await?;
        let n = client
            .execute(
                "DELETE FROM subscription WHERE subscription_id = $1",
                &[&id],
            )
            .await?;
        match n {
            0 => Err(StoreError::not_found("subscription", id)),
            _ => Ok(()),
        }
    }

    /// Records how a delivery attempt ended. A subscription deleted meanwhile stays deleted.
    pub async fn record_delivery(&self, id: Uuid, progress: &DeliveryProgress) -> Result<()> {
        let client = self.inner.pool.get().await?;
        match progress {
            DeliveryProgress::Done {
                delivered,
                any_sent,
            } => {
                client
                    .execute(
                        "UPDATE subscription SET delivered = greatest(delivered, $2), attempts = 0, \
                         next_attempt_at = NULL, last_error = NULL, last_delivered_at = \
                         CASE WHEN $3 THEN now() ELSE last_delivered_at END \
                         WHERE subscription_id = $1",
                        &[&id, delivered, any_sent],
                    )
                    .await?;
            }
            DeliveryProgress::Failed {
                delivered,
                attempts,
                retry_at,
                error,
            } => {
                client
                    .execute(
                        "UPDATE subscription SET delivered = greatest(delivered, $2), \
                         attempts = $3, next_attempt_at = $4, last_error = $5 \
                         WHERE subscription_id = $1",
                        &[&id, delivered, attempts, retry_at, error],
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Up to `limit` events after `position`, in order.
    pub async fn events_after(&self, position: i64, limit: i64) -> Result<Vec<ChangeEvent>> {
        let client = self.inner.pool.get().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM change_event WHERE position > $1 ORDER BY position LIMIT $2"
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client.query(&stmt, &[&position, &limit]).await?;
        Ok(rows.iter().map(ChangeEvent::from_row).collect())
    }

    /// The position of the newest published event (0 when there is none).
    pub async fn latest_event_position(&self) -> Result<i64> {
        let client = self.inner.pool.get().await?;
        let row = client
            .query_one("SELECT coalesce(max(position), 0) FROM change_event", &[])
            .await?;
        Ok(row.get(0))
    }

    /// Signalled after every commit of this process, so a publisher here moves its event at
    /// once (commits of other nodes are found by polling).
    pub fn commit_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.inner.committed.clone()
    }

    /// The publisher, when no other holds the lock; `None` when another process publishes.
    pub async fn try_event_publisher(&self) -> Result<Option<EventPublisher>> {
        let client = self.inner.pool.get().await?;
        // The session lock lives as long as this connection, which therefore leaves the pool:
        // when the publisher is dropped, its connection closes and the lock is free.
        let client = deadpool_postgres::Object::take(client);
        let row = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&PUBLISHER_LOCK])
            .await?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        let row = client
            .query_one("SELECT coalesce(max(position), 0) FROM change_event", &[])
            .await?;
        Ok(Some(EventPublisher {
            client,
            newest: row.get(0),
            moved_to: 0,
            full_scan: std::time::Instant::now(),
        }))
    }
}

/// The one writer of `change_event` (see the module's documentation).
pub struct EventPublisher {
    client: deadpool_postgres::ClientWrapper,
    newest: i64,
    /// The largest outbox `seq` moved: later batches start after it, so they do not walk the
    /// deleted rows before it (many until vacuum removes them). A row of a transaction that got
    /// its `seq` before `moved_to` and committed after it was moved is left behind by these
    /// batches, and so is every later row of its EHR (a batch takes a row only when no row of
    /// its EHR is queued at or below `moved_to`), until the next read from the start.
    moved_to: i64,
    /// When the outbox was last read from its start.
    full_scan: std::time::Instant,
}

/// How often the publisher reads the outbox from its start.
const FULL_SCAN_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("newest", &self.newest)
            .finish()
    }
}

impl EventPublisher {
    /// The newest position published.
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Whether the publisher's connection has closed (the lock is gone with it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Moves committed outbox rows into events, a batch per transaction, until none is left;
    /// returns the newest position.
    pub async fn publish(&mut self) -> Result<i64> {
        loop {
            let moved = self.publish_batch().await?;
            if moved < PUBLISH_BATCH {
                return Ok(self.newest);
            }
        }
    }

    async fn publish_batch(&mut self) -> Result<i64> {
        // One statement, so one implicit transaction: the outbox rows are deleted exactly when
        // their events are inserted. Versions are numbered in outbox order, then by their
        // place in the contribution. A deletion has no data: its template and archetype are
        // those of the version it deletes.
        const PUBLISH: &str = "WITH claimed AS (DELETE FROM event_outbox WHERE seq IN \
             (SELECT seq FROM event_outbox o WHERE seq > $3 AND ($3 = 0 OR NOT EXISTS \
             (SELECT FROM event_outbox e WHERE e.ehr_id = o.ehr_id AND e.seq <= $3)) \
             ORDER BY seq LIMIT $2) \
             RETURNING seq, ehr_id, contribution_id, vo_ids, versions), \
             versions AS (SELECT c.seq, c.ehr_id, c.contribution_id, v.vo_id, v.version, v.i \
             FROM claimed c, unnest(c.vo_ids, c.versions) WITH ORDINALITY AS v(vo_id, version, i)), \
             inserted AS (INSERT INTO change_event (position, committed_at, ehr_id, \
             contribution_id, vo_id, version, system_id, kind, change_type, lifecycle_state, \
             deleted, template_id, archetype_id, subject_id, subject_namespace) \
             SELECT $1 + row_number() OVER (ORDER BY x.seq, x.i), ov.committed_at, x.ehr_id, \
             x.contribution_id, x.vo_id, x.version, ov.system_id, o.kind, ov.change_type, \
             ov.lifecycle_state, ov.document IS NULL, \
             coalesce(ov.template_id, prev.template_id), coalesce(ov.archetype_id, prev.archetype_id), \
             s.subject_id, s.namespace \
             FROM versions x \
             JOIN object_version ov ON ov.ehr_id = x.ehr_id AND ov.vo_id = x.vo_id \
             AND ov.version = x.version \
             LEFT JOIN object_version prev ON ov.document IS NULL AND prev.ehr_id = x.ehr_id \
             AND prev.vo_id = x.vo_id AND prev.version = x.version - 1 \
             JOIN versioned_object o ON o.ehr_id = x.ehr_id AND o.vo_id = x.vo_id \
             LEFT JOIN LATERAL (SELECT subject_id, namespace FROM ehr_subject es \
             WHERE es.ehr_id = x.ehr_id LIMIT 1) s ON true \
             RETURNING position) \
             SELECT (SELECT count(*) FROM claimed), (SELECT coalesce(max(position), $1) FROM inserted), \
             (SELECT max(seq) FROM claimed)";
        let from = match self.full_scan.elapsed() >= FULL_SCAN_EVERY {
            true => {
                self.full_scan = std::time::Instant::now();
                0
            }
            false => self.moved_to,
        };
        let stmt = self.client.prepare_cached(PUBLISH).await?;
        let row = self
            .client
            .query_one(&stmt, &[&self.newest, &PUBLISH_BATCH, &from])
            .await?;
        let moved: i64 = row.get(0);
        self.newest = row.get(1);
        if let Some(seq) = row.get::<_, Option<i64>>(2) {
            self.moved_to = self.moved_to.max(seq);
        }
        Ok(moved)
    }

    /// Removes events published longer than [`EVENT_RETENTION`] ago that every subscription
    /// has had; returns how many.
    pub async fn prune(&mut self) -> Result<u64> {
        let keep_after = Utc::now()
            - chrono::Duration::from_std(EVENT_RETENTION).unwrap_or(chrono::Duration::days(1));
        let n = self
            .client
            .execute(
                "DELETE FROM change_event WHERE published_at < $1 \
                 AND position <= (SELECT coalesce(min(delivered), $2) FROM subscription) \
                 AND position < $2",
                &[&keep_after, &self.newest],
            )
            .await?;
        Ok(n)
    }
}
