//! Reads on a PostgreSQL streaming replica (`StoreConfig::read_database_url`).
//!
//! AQL and the care-plan flags may run on the replica; everything else runs on the primary.
//! A caller who has just written must see the write in their next query: after each of a
//! caller's commits the store remembers the primary's WAL insert position for that caller
//! (in memory, bounded, on this node), and that caller's reads go to the replica only once
//! the replica has replayed that far (`pg_last_wal_replay_lsn()`), else to the primary. A
//! caller with nothing remembered goes to the replica without any extra round trip; the
//! replay position read last is reused for [`REPLAY_FRESH`]. A read inside
//! [`reading_from_primary`] (a client's explicit wish), or one that breaks the glass (its
//! record must be read after it is written), goes to the primary. A replica that cannot be
//! reached is skipped for [`DOWN_FOR`]; the read goes to the primary, and the fallback is
//! logged and counted.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::{Object, Pool};

use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// How long a replay position read from the replica is trusted.
pub const REPLAY_FRESH: Duration = Duration::from_millis(5);

/// How long a replica that could not be reached is left alone.
pub const DOWN_FOR: Duration = Duration::from_secs(1);

/// Callers whose last commit position is remembered; beyond that, the positions are folded into
/// one that every caller waits for.
pub const REMEMBERED_MAX: usize = 10_000;

/// The WAL insert position, in bytes (the primary's, after a commit).
const INSERT_POSITION: &str = "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8";

/// The position the replica has replayed to, in bytes (a server that is not in recovery has
/// replayed everything it has).
const REPLAY_POSITION: &str = "SELECT (coalesce(pg_last_wal_replay_lsn(), \
     pg_current_wal_insert_lsn()) - '0/0'::pg_lsn)::int8";

tokio::task_local! {
    static PRIMARY: ();
}

/// Runs `f` with its reads on the primary (a client that asks for the primary explicitly).
pub async fn reading_from_primary<F: Future>(f: F) -> F::Output {
    PRIMARY.scope((), f).await
}

fn primary_asked() -> bool {
    PRIMARY.try_with(|_| ()).is_ok()
}

/// The replica's pool and what is known of it.
pub(crate) struct Replica {
    pool: Pool,
    /// The replay position last read, and when.
    replayed: Mutex<(u64, Option<Instant>)>,
    /// Until when the replica is skipped.
    down_until: Mutex<Option<Instant>>,
    fallbacks: AtomicU64,
}

impl Replica {
    pub(crate) fn new(pool: Pool) -> Replica {
        Replica {
            pool,
            replayed: Mutex::new((0, None)),
            down_until: Mutex::new(None),
            fallbacks: AtomicU64::new(0),
        }
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    fn is_down(&self) -> bool {
        lock(&self.down_until).is_some_and(|t| Instant::now() < t)
    }

    /// The replica could not be reached (or failed a read): counted, logged, skipped a while.
    pub(crate) fn unreachable(&self, e: &dyn std::fmt::Display) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        let mut down = lock(&self.down_until);
        let was_down = down.is_some_and(|t| Instant::now() < t);
        *down = Some(Instant::now() + DOWN_FOR);
        if !was_down {
            eprintln!("cdr: the read replica cannot be reached, reading from the primary: {e}");
        }
    }

    /// The replay position known, and whether it was read less than [`REPLAY_FRESH`] ago.
    fn replayed(&self) -> (u64, bool) {
        let (pos, at) = *lock(&self.replayed);
        (pos, at.is_some_and(|t| t.elapsed() < REPLAY_FRESH))
    }

    fn set_replayed(&self, pos: u64) {
        let mut r = lock(&self.replayed);
        *r = (pos.max(r.0), Some(Instant::now()));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The commit positions of recent writers, by subject.
#[derive(Default)]
pub(crate) struct Written {
    by_caller: HashMap<String, u64>,
    /// What every caller waits for once the map overflowed.
    floor: u64,
}

impl Written {
    fn remember(&mut self, subject: &str, pos: u64, replayed: u64) {
        if !self.by_caller.contains_key(subject) && self.by_caller.len() >= REMEMBERED_MAX {
            self.by_caller.retain(|_, p| *p > replayed);
            if self.by_caller.len() >= REMEMBERED_MAX {
                let highest = self.by_caller.values().copied().max().unwrap_or(0);
                self.floor = self.floor.max(highest);
                self.by_caller.clear();
            }
        }
        let p = self.by_caller.entry(subject.to_owned()).or_insert(0);
        *p = (*p).max(pos);
    }

    /// The position `subject`'s reads must wait for, if any.
    fn needed(&self, subject: &str) -> Option<u64> {
        let pos = self
            .by_caller
            .get(subject)
            .copied()
            .unwrap_or(0)
            .max(self.floor);
        (pos > 0).then_some(pos)
    }

    /// The replica has replayed `replayed`: what it covers is no longer needed.
    fn forget(&mut self, subject: &str, replayed: u64) {
        if self.by_caller.get(subject).is_some_and(|p| *p <= replayed) {
            self.by_caller.remove(subject);
        }
        if self.floor <= replayed {
            self.floor = 0;
        }
    }
}

/// A connection for a read, and whether it is the replica's.
pub(crate) struct ReadClient {
    pub(crate) client: Object,
    pub(crate) on_replica: bool,
}

impl Store {
    /// How many reads went to the primary because the replica could not be reached.
    pub fn replica_fallbacks(&self) -> u64 {
        self.inner
            .replica
            .as_ref()
            .map_or(0, |r| r.fallbacks.load(Ordering::Relaxed))
    }

    /// Whether reads may go to a replica.
    pub fn has_replica(&self) -> bool {
        self.inner.replica.is_some()
    }

    /// After a commit of `caller` on `client` (a primary connection): remembers the WAL
    /// position their next reads must wait for. Nothing without a replica.
    pub(crate) async fn remember_commit(
        &self,
        client: &tokio_postgres::Client,
        caller: &Principal,
    ) {
        let Some(replica) = &self.inner.replica else {
            return;
        };
        match client.query_one(INSERT_POSITION, &[]).await {
            Ok(row) => {
                let pos = row.get::<_, i64>(0).max(0) as u64;
                let replayed = replica.replayed().0;
                lock(&self.inner.written).remember(&caller.subject, pos, replayed);
            }
            // The commit stands; a connection that fails right after it fails the next
            // statement too, and the pool replaces it.
            Err(e) => eprintln!("cdr: the WAL position after a commit is unknown: {e}"),
        }
    }

    /// A connection for a read by `caller` that may run on the replica (AQL, flags): the
    /// replica's when there is one, it is up, the caller did not ask for the primary, and it
    /// has replayed the caller's last commit; else one of `primary`.
    pub(crate) async fn read_client(
        &self,
        caller: &Principal,
        primary: &Pool,
    ) -> Result<ReadClient> {
        let on_primary = || async {
            Ok(ReadClient {
                client: primary.get().await?,
                on_replica: false,
            })
        };
        let Some(replica) = &self.inner.replica else {
            return on_primary().await;
        };
        if primary_asked() || caller.break_glass.is_some() || replica.is_down() {
            return on_primary().await;
        }
        let needed = lock(&self.inner.written).needed(&caller.subject);
        let (replayed, fresh) = replica.replayed();
        let must_check = match needed {
            Some(pos) if pos > replayed && fresh => return on_primary().await,
            Some(pos) => pos > replayed,
            None => false,
        };
        let client = match replica.pool.get().await {
            Ok(c) => c,
            Err(e) => {
                replica.unreachable(&e);
                return on_primary().await;
            }
        };
        if let Some(pos) = needed {
            let replayed = match must_check {
                false => replayed,
                true => match replay_position(&client).await {
                    Ok(r) => {
                        replica.set_replayed(r);
                        r
                    }
                    Err(e) => {
                        replica.unreachable(&e);
                        return on_primary().await;
                    }
                },
            };
            if replayed < pos {
                return on_primary().await;
            }
            lock(&self.inner.written).forget(&caller.subject, replayed);
        }
        Ok(ReadClient {
            client,
            on_replica: true,
        })
    }

    /// A read on the replica failed with `e`: whether to run it again on the primary (the
    /// replica went away, or cancelled the read for a conflict with recovery).
    pub(crate) fn retry_on_primary(&self, on_replica: bool, e: &StoreError) -> bool {
        let Some(replica) = self.inner.replica.as_ref().filter(|_| on_replica) else {
            return false;
        };
        let conflict = matches!(e, StoreError::Db(db) if db.code().is_some_and(|c| {
            matches!(c.code(), "40001" | "40P01")
        }));
        if e.database_unreachable() {
            replica.unreachable(e);
        }
        conflict || e.database_unreachable()
    }
}

async fn replay_position(client: &Object) -> Result<u64> {
    let stmt = client.prepare_cached(REPLAY_POSITION).await?;
    let row = client.query_one(&stmt, &[]).await?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writer_waits_for_their_position_others_do_not() {
        let mut w = Written::default();
        w.remember("a", 100, 0);
        assert_eq!(w.needed("a"), Some(100));
        assert_eq!(w.needed("b"), None);
        w.forget("a", 99);
        assert_eq!(w.needed("a"), Some(100));
        w.forget("a", 100);
        assert_eq!(w.needed("a"), None);
    }

    #[test]
    fn overflow_folds_positions_into_a_floor_for_everyone() {
        let mut w = Written::default();
        for i in 0..REMEMBERED_MAX {
            w.remember(&format!("c{i}"), 10 + i as u64, 0);
        }
        // Positions the replica has replayed are dropped first.
        w.remember("new", 5, 20);
        assert!(w.by_caller.len() < REMEMBERED_MAX);
        assert_eq!(w.floor, 0);
        for i in 0..REMEMBERED_MAX {
            w.remember(&format!("d{i}"), 50_000 + i as u64, 0);
        }
        assert!(w.by_caller.len() <= REMEMBERED_MAX);
        let highest = 50_000 + REMEMBERED_MAX as u64 - 1;
        assert!(w.floor > 0 && w.floor <= highest);
        assert_eq!(w.needed("someone-else"), Some(w.floor));
        w.forget("someone-else", highest);
        assert_eq!(w.needed("someone-else"), None);
    }
}
