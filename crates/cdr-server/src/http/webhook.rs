//! Change notifications leaving the server: the dispatcher that publishes committed changes
//! as events (`cdr_store`'s events module) and delivers them to webhook subscribers.
//!
//! Every server runs a dispatcher. One of them, cluster-wide, is the publisher (it holds the
//! store's publisher lock); it moves committed changes into events as soon as a commit of its
//! own process signals, and every 250 ms for commits of other nodes, then delivers: per
//! subscription, one POST per matching event; the events of one EHR in order, each only
//! after the one before was answered with a 2xx (at least once, in commit order per EHR);
//! up to 16 EHRs at a time. A failure is retried after 1, 2, 4 … seconds, at
//! most 5 minutes apart, until it succeeds or the subscription is deleted. The other
//! dispatchers follow the newest position for their event streams and take over when the
//! publisher's connection ends.
//!
//! Requests are signed as Standard Webhooks describes: headers `webhook-id` (the event's
//! position), `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the
//! base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`), the key being the subscription's secret:
//! the bytes after `whsec_` base64-decoded, or the secret's own bytes when it has no such
//! prefix.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use chrono::Utc;
use tokio::sync::{mpsc, watch, Notify};
use uuid::Uuid;

use cdr_store::{ChangeEvent, DeliveryProgress, EventPublisher, Store, Subscription};

/// How often a dispatcher looks for commits of other processes, and how often a follower
/// looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Events read per round of a delivery.
const DELIVERY_BATCH: i64 = 256;
/// A delivery reads the next events when fewer than this many wait to be sent.
const READ_AHEAD_LOW: usize = 32;
/// The most EHRs whose events are sent at the same time, per subscription.
const CONCURRENT_EHRS: usize = 16;
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How often old events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// What the dispatcher shares with the handlers.
#[derive(Debug)]
pub struct EventHub {
    /// The newest event position this process knows of (event streams wait on it).
    pub newest: watch::Receiver<i64>,
    /// Signalled when a subscription was created or deleted.
    pub subscriptions_changed: Notify,
}

/// Starts the dispatcher of `store` on the current runtime.
pub fn start(store: Store, metrics: Arc<super::observe::Metrics>) -> Arc<EventHub> {
    let (tx, rx) = watch::channel(0);
    let hub = Arc::new(EventHub {
        newest: rx,
        subscriptions_changed: Notify::new(),
    });
    let dispatcher = Dispatcher {
        store,
        hub: hub.clone(),
        newest: tx,
        metrics,
    };
    tokio::spawn(dispatcher.run());
    hub
}

struct Dispatcher {
    store: Store,
    hub: Arc<EventHub>,
    newest: watch::Sender<i64>,
    metrics: Arc<super::observe::Metrics>,
}

impl Dispatcher {
    async fn run(self) {
        loop {
            match self.store.try_event_publisher().await {
                Ok(Some(publisher)) => {
                    tracing::info!("publishing change events");
                    self.lead(publisher).await;
                }
                Ok(None) => self.follow(Duration::from_secs(2)).await,
                // The database is down: try again later.
                Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }

    fn announce(&self, newest: i64) {
        self.newest.send_if_modified(|n| {
            let newer = newest > *n;
            if newer {
                *n = newest;
            }
            newer
        });
    }

    /// Follows the newest position for a while (another process publishes).
    async fn follow(&self, period: Duration) {
        let until = Instant::now() + period;
        while Instant::now() < until {
            if let Ok(p) = self.store.latest_event_position().await {
                self.announce(p);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Publishes and delivers until the publisher's connection is lost.
    async fn lead(&self, mut publisher: EventPublisher) {
        let signal = self.store.commit_signal();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(Uuid, DeliveryProgress)>();
        let mut subscriptions: Option<Vec<Subscription>> = None;
        let mut running: HashMap<Uuid, tokio::task::JoinHandle<()>> = HashMap::new();
        let mut pruned = Instant::now();
        loop {
            match publisher.publish().await {
                Ok(newest) => self.announce(newest),
                Err(e) => {
                    if publisher.is_closed() {
                        tracing::warn!(error = %e, "the event publisher lost its connection");
                        for (_, task) in running.drain() {
                            task.abort();
                        }
                        return;
                    }
                    tracing::warn!(error = %e, "publishing change events failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            while let Ok((id, progress)) = done_rx.try_recv() {
                running.remove(&id);
                if let Some(s) = subscriptions
                    .as_mut()
                    .and_then(|all| all.iter_mut().find(|s| s.id == id))
                {
                    apply(s, &progress);
                }
            }
            if subscriptions.is_none() {
                subscriptions = self.store.list_subscriptions().await.ok();
            }
            let newest = publisher.newest();
            let now = Utc::now();
            for s in subscriptions.iter().flatten() {
                let due = s.next_attempt_at.is_none_or(|t| t <= now);
                if s.delivered < newest && due && !running.contains_key(&s.id) {
                    let task = tokio::spawn(deliver(
                        self.store.clone(),
                        s.clone(),
                        done_tx.clone(),
                        self.metrics.clone(),
                        self.newest.subscribe(),
                    ));
                    running.insert(s.id, task);
                }
            }
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                if let Err(e) = publisher.prune().await {
                    tracing::warn!(error = %e, "pruning change events failed");
                }
            }
            // The earliest retry, so that a failed delivery is tried again on time.
            let retry = subscriptions
                .iter()
                .flatten()
                .filter(|s| !running.contains_key(&s.id))
                .filter_map(|s| s.next_attempt_at)
                .min()
                .map(|t| (t - Utc::now()).to_std().unwrap_or_default())
                .unwrap_or(POLL)
                .min(POLL);
            tokio::select! {
                _ = signal.notified() => {}
                _ = self.hub.subscriptions_changed.notified() => {
                    for (_, task) in running.drain() {
                        task.abort();
                    }
                    subscriptions = None;
                }
                Some((id, progress)) = done_rx.recv() => {
                    running.remove(&id);
                    if let Some(s) = subscriptions.as_mut().and_then(|all| all.iter_mut().find(|s| s.id == id)) {
                        apply(s, &progress);
                    }
                }
                _ = tokio::time::sleep(retry) => {}
            }
        }
    }
}

/// The dispatcher's copy of a subscription after a delivery ended.
fn apply(s: &mut Subscription, progress: &DeliveryProgress) {
    match progress {
        DeliveryProgress::Done { delivered, .. } => {
            s.delivered = s.delivered.max(*delivered);
            s.attempts = 0;
            s.next_attempt_at = None;
        }
        DeliveryProgress::Failed {
            delivered,
            attempts,
            retry_at,
            ..
        } => {
            s.delivered = s.delivered.max(*delivered);
            s.attempts = *attempts;
            s.next_attempt_at = Some(*retry_at);
        }
    }
}

/// The wait before attempt `attempts + 1` after `attempts` failures: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
pub fn backoff(attempts: i32) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    Duration::from_secs(1u64 << exp).min(MAX_BACKOFF)
}

/// Delivers a subscription's events after its position until none is left or one fails;
/// records and reports how far it came. Events are read ahead and go out per EHR, each EHR's
/// in order (its next POST starts when the one before was answered), up to
/// [`CONCURRENT_EHRS`] POSTs at a time. The position recorded is the one before the first event
/// not yet answered, so after a failure a retry sends that event, and any later ones of other
/// EHRs that had gone out, again.
async fn deliver(
    store: Store,
    s: Subscription,
    done: mpsc::UnboundedSender<(Uuid, DeliveryProgress)>,
    metrics: Arc<super::observe::Metrics>,
    newest: watch::Receiver<i64>,
) {
    let mut run = Delivery {
        newest,
        key: signing_key(&s.secret),
        url: s.target_url.clone(),
        metrics,
        read_to: s.delivered,
        unanswered: std::collections::BTreeSet::new(),
        waiting: HashMap::new(),
        busy: std::collections::HashSet::new(),
        in_flight: futures_util::stream::FuturesUnordered::new(),
        any_sent: false,
    };
    let progress = run.go(&store, &s).await;
    if let Err(e) = store.record_delivery(s.id, &progress).await {
        tracing::warn!(subscription = %s.id, error = %e, "recording a delivery failed");
    }
    let _ = done.send((s.id, progress));
}

type Post =
    std::pin::Pin<Box<dyn std::future::Future<Output = (ChangeEvent, Result<(), String>)> + Send>>;

/// The state of one delivery run (see [`deliver`]).
struct Delivery {
    key: ring::hmac::Key,
    url: String,
    metrics: Arc<super::observe::Metrics>,
    /// Events have been read up to here.
    read_to: i64,
    /// Matching events read and not yet answered with a 2xx.
    unanswered: std::collections::BTreeSet<i64>,
    /// Per EHR, its events waiting for the one in flight (or for a free slot).
    waiting: HashMap<Uuid, std::collections::VecDeque<ChangeEvent>>,
    /// EHRs with a POST in flight.
    busy: std::collections::HashSet<Uuid>,
    in_flight: futures_util::stream::FuturesUnordered<Post>,
    any_sent: bool,
    /// The newest published position: events after `read_to` are read while POSTs are out.
    newest: watch::Receiver<i64>,
}

impl Delivery {
    /// Everything up to this position is done.
    fn delivered(&self) -> i64 {
        match self.unanswered.first() {
            Some(p) => p - 1,
            None => self.read_to,
        }
    }

    fn post(&mut self, e: ChangeEvent) {
        self.busy.insert(e.ehr_id);
        let (key, url, metrics) = (self.key.clone(), self.url.clone(), self.metrics.clone());
        self.in_flight.push(Box::pin(async move {
            let started = Instant::now();
            let outcome = post(&url, &key, &e).await;
            metrics.webhook(outcome.is_ok(), started.elapsed());
            (e, outcome)
        }));
    }

    /// Starts the next event of every idle EHR that has one, while slots are free.
    fn start_waiting(&mut self) {
        let ready: Vec<Uuid> = self
            .waiting
            .iter()
            .filter(|(ehr, q)| !q.is_empty() && !self.busy.contains(*ehr))
            .map(|(ehr, _)| *ehr)
            .collect();
        for ehr in ready {
            if self.in_flight.len() >= CONCURRENT_EHRS {
                return;
            }
            if let Some(e) = self.waiting.get_mut(&ehr).and_then(|q| q.pop_front()) {
                self.post(e);
            }
        }
        self.waiting.retain(|_, q| !q.is_empty());
    }

    async fn go(&mut self, store: &Store, s: &Subscription) -> DeliveryProgress {
        use futures_util::StreamExt;
        let mut exhausted = false;
        loop {
            if exhausted && *self.newest.borrow() > self.read_to {
                exhausted = false;
            }
            // Read ahead in batches, when the queue runs low.
            let queued: usize = self.waiting.values().map(|q| q.len()).sum();
            if !exhausted && queued < READ_AHEAD_LOW {
                let events = match store.events_after(self.read_to, DELIVERY_BATCH).await {
                    Ok(e) => e,
                    Err(e) => return failed(s, self.delivered(), format!("reading events: {e}")),
                };
                exhausted = (events.len() as i64) < DELIVERY_BATCH;
                for e in events {
                    self.read_to = e.position;
                    if s.filter.matches(&e) {
                        self.unanswered.insert(e.position);
                        self.waiting.entry(e.ehr_id).or_default().push_back(e);
                    }
                }
                self.start_waiting();
            }
            if self.in_flight.is_empty() {
                if exhausted && self.waiting.is_empty() {
                    return DeliveryProgress::Done {
                        delivered: self.delivered(),
                        any_sent: self.any_sent,
                    };
                }
                self.start_waiting();
                continue;
            }
            let Some((e, outcome)) = self.in_flight.next().await else {
                continue;
            };
            if let Err(error) = outcome {
                tracing::warn!(subscription = %s.id, event = e.position, %error, "webhook delivery failed");
                return failed(s, self.delivered(), error);
            }
            self.any_sent = true;
            self.unanswered.remove(&e.position);
            self.busy.remove(&e.ehr_id);
            self.start_waiting();
            if exhausted && self.waiting.is_empty() && self.in_flight.is_empty() {
                // Read again: events published meanwhile go out in this run.
                exhausted = false;
            }
        }
    }
}

fn failed(s: &Subscription, delivered: i64, error: String) -> DeliveryProgress {
    let attempts = s.attempts.saturating_add(1);
    let wait = chrono::Duration::from_std(backoff(attempts)).unwrap_or(chrono::Duration::zero());
    DeliveryProgress::Failed {
        delivered,
        attempts,
        retry_at: Utc::now() + wait,
        error,
    }
}

/// The HMAC key of a secret: `whsec_` and base64, or the text's bytes.
pub fn signing_key(secret: &str) -> ring::hmac::Key {
    let bytes = secret
        .strip_prefix("whsec_")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes)
}

/// The `webhook-signature` value of a message.
pub fn signature(key: &ring::hmac::Key, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
    )
}

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| "no random bytes for a secret".to_owned())?;
    Ok(format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// POSTs one event; a 2xx answer is success.
async fn post(url: &str, key: &ring::hmac::Key, e: &ChangeEvent) -> Result<(), String> {
    let body = e.to_json().to_string();
    let id = e.position.to_string();
    let timestamp = Utc::now().timestamp();
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            signature(key, &id, timestamp, body.as_bytes()),
        ),
        ("webhook-event-type", e.event_type()),
    ];
    let status = super::outgoing::post_json(url, &headers, body.as_bytes()).await?;
    match (200..300).contains(&status) {
        true => Ok(()),
        false => Err(format!("{url} answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let secs: Vec<u64> = [1, 2, 3, 4, 9, 10, 50]
            .iter()
            .map(|&a| backoff(a).as_secs())
            .collect();
        assert_eq!(secs, [1, 2, 4, 8, 256, 300, 300]);
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The key is the base64 after `whsec_`; a plain secret is its own bytes.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        // The example of the Standard Webhooks specification.
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        assert_eq!(
            signature(&key, id, 1_614_265_330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let a = signature(&key, "msg_1", 1_614_265_330, br#"{"test": 2432232314}"#);
        let b = signature(&key, "msg_1", 1_614_265_330, br#"{"test": 2432232315}"#);
        assert!(a.starts_with("v1,") && a.len() == 3 + 44);
        assert_ne!(a, b);
        let plain = signing_key("not-base64 secret");
        let c = signature(&plain, "msg_1", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_ne!(a, c);
        let raw = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"not-base64 secret");
        let expected = ring::hmac::sign(&raw, br#"msg_1.1614265330.{"test": 2432232314}"#);
        assert_eq!(
            c,
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(expected.as_ref())
            )
        );
        assert!(new_secret().unwrap().starts_with("whsec_"));
    }
}
