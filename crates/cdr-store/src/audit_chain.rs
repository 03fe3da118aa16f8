//! The hash chain over the audit trail.
//!
//! Events are inserted without a hash (a chain head locked by every write would serialise all
//! commits); a sealer chains them afterwards, in `audit_seal`: position `pos` seals event `seq`
//! with `hash = sha256(hash at pos - 1 || canonical text of (pos, event))`.
//!
//! Order: by the inserting transaction's id, then `seq`. A pass seals only events whose
//! transaction id is below the xmin of its own snapshot: every transaction below it has ended,
//! and any transaction still to insert an event has (or will get) an id at or above it. So the
//! events a pass seals are final, the sealed events are always a prefix of all events in
//! (xid, seq) order, and the next pass starts right after the last sealed one: the chain only
//! ever grows at its end. A long-running writing transaction holds sealing back until it ends.
//!
//! [`Store::verify_audit`] seals what it can, then recomputes the chain: an edited event (or
//! seal) breaks the hash at its position, a removed event leaves a seal without its event, a
//! removed seal a gap in the positions, and an event below the sealed frontier without a seal
//! was put there by hand. The first fault is named.

use sha2::{Digest, Sha256};

use crate::audit::{from_row, AuditEvent, EVENT_COLUMNS};
use crate::error::Result;
use crate::store::Store;

/// Key for the advisory lock serialising sealers (server processes, `cdr audit verify`).
const SEAL_LOCK: i64 = 0x0cd7_5702_e000_0002;
/// Events sealed by one transaction at most.
const SEAL_BATCH: i64 = 5000;
/// Rows read at a time while verifying.
const VERIFY_BATCH: i32 = 5000;

/// The hash before the first position.
const GENESIS: [u8; 32] = [0; 32];

/// The hash at `pos` of `event` (number `seq`, transaction `xid`) after `prev`.
fn chain_hash(prev: &[u8], pos: i64, seq: i64, xid: &str, e: &AuditEvent) -> Vec<u8> {
    let text = serde_json::json!([
        pos,
        seq,
        xid,
        e.at.timestamp_micros(),
        e.action.as_str(),
        e.success,
        e.status,
        e.subject,
        e.name,
        e.organisation,
        e.roles,
        e.address,
        e.ehr_id.map(|u| u.to_string()),
        e.versions,
        e.break_glass,
        e.resource,
        e.query,
        e.query_params,
    ])
    .to_string();
    let mut h = Sha256::new();
    h.update(prev);
    h.update(text.as_bytes());
    h.finalize().to_vec()
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditVerification {
    /// Positions checked.
    pub sealed: i64,
    /// The last position and its hash (hex), when the chain is not empty: keep them elsewhere
    /// to detect a later removal of the chain's end.
    pub head: Option<(i64, String)>,
    /// Events not sealed yet (their transactions may still be running).
    pub pending: i64,
    /// The first fault, if any.
    pub fault: Option<AuditFault>,
}

/// The first place where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditFault {
    #[error("audit event {seq} (chain position {pos}) was changed: its hash does not match")]
    Edited { pos: i64, seq: i64 },
    #[error("audit event {seq} (chain position {pos}) was removed")]
    Removed { pos: i64, seq: i64 },
    #[error("chain position {pos} was removed (the seal after position {after})")]
    SealRemoved { pos: i64, after: i64 },
    #[error("audit event {seq} is older than the sealed chain but not in it (inserted by hand, or its seal was removed)")]
    Unsealed { seq: i64 },
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

impl Store {
    /// Seals every event whose transaction has ended; answers how many it sealed.
    pub async fn seal_audit(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.seal_batch().await?;
            total += n;
            if n < SEAL_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn seal_batch(&self) -> Result<u64> {
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEAL_LOCK])
            .await?;
        let head = tx
            .query_opt(
                "SELECT pos, xid::text, seq, hash FROM audit_seal ORDER BY pos DESC LIMIT 1",
                &[],
            )
            .await?;
        let (mut pos, from_xid, from_seq, mut prev): (i64, String, i64, Vec<u8>) = match head {
            Some(r) => (r.get(0), r.get(1), r.get(2), r.get(3)),
            None => (0, "0".to_owned(), 0, GENESIS.to_vec()),
        };
        // The sealed events are a prefix in (xid, seq) order: the rest starts after the last.
        let rows = tx
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM audit_event e \
                     WHERE (e.xid, e.seq) > ($1::text::xid8, $2) \
                     AND e.xid < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY e.xid, e.seq LIMIT $3"
                ),
                &[&from_xid, &from_seq, &SEAL_BATCH],
            )
            .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let (mut positions, mut seqs, mut xids, mut hashes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for row in &rows {
            let (seq, xid, event) = from_row(row, 0);
            pos += 1;
            prev = chain_hash(&prev, pos, seq, &xid, &event);
            positions.push(pos);
            seqs.push(seq);
            xids.push(xid);
            hashes.push(prev.clone());
        }
        tx.execute(
            "INSERT INTO audit_seal (pos, seq, xid, hash) \
             SELECT * FROM unnest($1::int8[], $2::int8[], $3::text[]::xid8[], $4::bytea[])",
            &[&positions, &seqs, &xids, &hashes],
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    /// Seals what can be sealed, then checks the whole chain; the first fault is reported.
    pub async fn verify_audit(&self) -> Result<AuditVerification> {
        self.seal_audit().await?;
        let mut client = self.inner.pool.get().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let stmt = tx
            .prepare(&format!(
                "SELECT s.pos, s.seq, s.xid::text, s.hash, e.seq IS NOT NULL, {EVENT_COLUMNS} \
                 FROM audit_seal s LEFT JOIN audit_event e ON e.seq = s.seq ORDER BY s.pos"
            ))
            .await?;
        let portal = tx.bind(&stmt, &[]).await?;
        let mut prev = GENESIS.to_vec();
        let mut last = 0i64;
        let mut fault = None;
        'read: loop {
            let rows = tx.query_portal(&portal, VERIFY_BATCH).await?;
            for row in &rows {
                let (pos, seq, seal_xid, hash): (i64, i64, String, Vec<u8>) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                if pos != last + 1 {
                    fault = Some(AuditFault::SealRemoved {
                        pos: last + 1,
                        after: last,
                    });
                    break 'read;
                }
                if !row.get::<_, bool>(4) {
                    fault = Some(AuditFault::Removed { pos, seq });
                    break 'read;
                }
                let (_, xid, event) = from_row(row, 5);
                let expected = chain_hash(&prev, pos, seq, &xid, &event);
                if expected != hash || xid != seal_xid {
                    fault = Some(AuditFault::Edited { pos, seq });
                    break 'read;
                }
                prev = hash;
                last = pos;
            }
            if rows.len() < VERIFY_BATCH as usize {
                break;
            }
        }
        drop(portal);
        // Events the chain should hold but does not: before its end in (xid, seq) order.
        const LAST: &str = "(SELECT xid, seq FROM audit_seal ORDER BY pos DESC LIMIT 1)";
        if fault.is_none() {
            let unsealed = tx
                .query_opt(
                    &format!(
                        "SELECT e.seq FROM audit_event e WHERE (e.xid, e.seq) < {LAST} \
                         AND NOT EXISTS (SELECT FROM audit_seal s WHERE s.seq = e.seq) \
                         ORDER BY e.seq LIMIT 1"
                    ),
                    &[],
                )
                .await?;
            fault = unsealed.map(|r| AuditFault::Unsealed { seq: r.get(0) });
        }
        let pending: i64 = tx
            .query_one(
                &format!(
                    "SELECT count(*) FROM audit_event e \
                     WHERE NOT EXISTS (SELECT FROM audit_seal) OR (e.xid, e.seq) > {LAST}"
                ),
                &[],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(AuditVerification {
            sealed: last,
            head: (last > 0).then(|| (last, hex(&prev))),
            pending,
            fault,
        })
    }

    /// Seals the trail every `every` until the store is dropped (the server runs this).
    pub fn start_sealer(&self, every: std::time::Duration) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let store = Store { inner };
                if store.inner.pool.is_closed() {
                    return;
                }
                if let Err(e) = store.seal_audit().await {
                    // A pass cut short by the store shutting down is not a failure.
                    if store.inner.pool.is_closed() {
                        return;
                    }
                    eprintln!("cdr: sealing the audit trail failed (retrying): {e}");
                }
            }
        });
    }
}
