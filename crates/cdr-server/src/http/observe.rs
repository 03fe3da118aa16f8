//! What operators see of a running server: one log line per request through `tracing` (method,
//! path, status, duration, request id, caller), slow AQL queries, and Prometheus metrics at
//! `GET /metrics` (requests by route and status, latency histograms, commits, AQL queries, the
//! database pool, whether PostgreSQL answers).
//!
//! The request id is the client's `X-Request-Id` when it sends a sane one, else made here, and
//! is sent back in `X-Request-Id`.

use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use super::AppState;

const REQUEST_ID: &str = "x-request-id";

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    commits: IntCounterVec,
    queries: IntCounterVec,
    pool: IntGaugeVec,
    database_up: IntGauge,
    webhooks: IntCounterVec,
    webhook_latency: prometheus::Histogram,
    /// Reads that went to the primary because the read replica could not be reached.
    replica_fallbacks: prometheus::IntCounter,
    /// AQL queries slower than this are logged.
    pub slow_query: Duration,
    /// Whether requests are logged and counted (the request id is given either way).
    pub enabled: bool,
    /// Plans of slow queries being read at once (`query.rs`).
    pub explain_slots: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Plans of slow queries read at once; a slow query beyond them is logged without its plan.
pub const EXPLAIN_SLOTS: usize = 2;

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Registering a metric whose name is fixed here cannot fail but for a clash of names, which
/// this module's own list rules out.
fn register<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    let _ = registry.register(Box::new(c.clone()));
    c
}

impl Metrics {
    pub fn new(slow_query: Duration) -> Metrics {
        let registry = Registry::new();
        let requests = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "cdr_http_requests_total",
                    "HTTP requests by route, method and status",
                ),
                &["route", "method", "status"],
            )
            .expect("a valid metric"),
        );
        let latency = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "cdr_http_request_duration_seconds",
                    "HTTP request latency by route and method",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ]),
                &["route", "method"],
            )
            .expect("a valid metric"),
        );
        let commits = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "cdr_commits_total",
                    "Changes to records (compositions, EHR_STATUS, directories, contributions, EHRs) by outcome",
                ),
                &["outcome"],
            )
            .expect("a valid metric"),
        );
        let queries = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "cdr_aql_queries_total",
                    "AQL queries (ad hoc and stored) by outcome",
                ),
                &["outcome"],
            )
            .expect("a valid metric"),
        );
        let pool = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "cdr_db_pool_connections",
                    "Database pool connections by state",
                ),
                &["state"],
            )
            .expect("a valid metric"),
        );
        let database_up = register(
            &registry,
            IntGauge::new(
                "cdr_database_up",
                "Whether PostgreSQL answered the last scrape",
            )
            .expect("a valid metric"),
        );
        let webhooks = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "cdr_webhook_deliveries_total",
                    "Webhook POSTs of change events by outcome",
                ),
                &["outcome"],
            )
            .expect("a valid metric"),
        );
        let webhook_latency = register(
            &registry,
            prometheus::Histogram::with_opts(
                HistogramOpts::new(
                    "cdr_webhook_request_duration_seconds",
                    "How long webhook POSTs of change events took",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0]),
            )
            .expect("a valid metric"),
        );
        let replica_fallbacks = register(
            &registry,
            prometheus::IntCounter::new(
                "cdr_replica_fallbacks_total",
                "Reads sent to the primary because the read replica could not be reached",
            )
            .expect("a valid metric"),
        );
        Metrics {
            registry,
            replica_fallbacks,
            explain_slots: std::sync::Arc::new(tokio::sync::Semaphore::new(EXPLAIN_SLOTS)),
            requests,
            webhooks,
            webhook_latency,
            latency,
            commits,
            queries,
            pool,
            database_up,
            slow_query,
            enabled: true,
        }
    }
}

impl Metrics {
    /// Counts a webhook POST and its duration.
    pub fn webhook(&self, ok: bool, took: Duration) {
        let outcome = if ok { "delivered" } else { "failed" };
        self.webhooks.with_label_values(&[outcome]).inc();
        self.webhook_latency.observe(took.as_secs_f64());
    }
}

/// A request id the client sent that is safe to log and echo: 1–128 of `[A-Za-z0-9._-]`.
fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=128).contains(&v.len())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    ok.then(|| v.to_owned())
}

/// What kind of request a route and method are, for the counters.
fn kind(route: &str, method: &Method) -> Option<&'static str> {
    let changes = matches!(*method, Method::POST | Method::PUT | Method::DELETE);
    if route.contains("/query/") && !route.contains("/definition/") {
        return Some("query");
    }
    if changes && route.contains("/ehr") && !route.contains("/admin/") {
        return Some("commit");
    }
    None
}

/// What the log line and the metrics of one request say.
#[derive(Debug)]
pub struct Seen<'a> {
    pub id: &'a str,
    pub method: &'a Method,
    pub path: &'a str,
    /// The route's pattern (`/openehr/v1/ehr/{ehr_id}/composition`).
    pub route: &'a str,
    pub status: u16,
    pub elapsed: Duration,
    /// The caller's name, when authentication is on.
    pub caller: &'a str,
}

impl Metrics {
    /// Writes a request's log line (`cdr::request`) and counts it (`cdr bench observe` also
    /// times this alone).
    pub fn record(&self, r: &Seen<'_>) {
        tracing::info!(
            target: "cdr::request",
            request_id = %r.id,
            method = %r.method,
            path = %r.path,
            status = r.status,
            duration_ms = r.elapsed.as_secs_f64() * 1000.0,
            caller = %r.caller,
        );
        let status_text = r.status.to_string();
        self.requests
            .with_label_values(&[r.route, r.method.as_str(), &status_text])
            .inc();
        self.latency
            .with_label_values(&[r.route, r.method.as_str()])
            .observe(r.elapsed.as_secs_f64());
        let outcome = if (200..300).contains(&r.status) {
            "success"
        } else {
            "failure"
        };
        match kind(r.route, r.method) {
            Some("commit") => self.commits.with_label_values(&[outcome]).inc(),
            Some("query") => self.queries.with_label_values(&[outcome]).inc(),
            _ => {}
        }
    }
}

/// The request id of a request, for handlers that log.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The outermost middleware: the request id, the log line and the metrics of every request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let path = req.path().to_owned();
    let mut res = next.call(req).await?.map_into_boxed_body();
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let state = res.request().app_data::<web::Data<AppState>>().cloned();
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    let Some(state) = state.filter(|s| s.metrics.enabled) else {
        return Ok(res);
    };
    let caller = match state.auth.enabled() {
        true => state.caller(res.request()).name.unwrap_or_default(),
        false => String::new(),
    };
    let seen = Seen {
        id: &id,
        method: &method,
        path: &path,
        route: &route,
        status,
        elapsed,
        caller: &caller,
    };
    state.metrics.record(&seen);
    Ok(res)
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let m = &state.metrics;
    let status = state.store.pool().status();
    m.pool.with_label_values(&["open"]).set(status.size as i64);
    m.pool
        .with_label_values(&["idle"])
        .set(status.available as i64);
    m.pool
        .with_label_values(&["waiting"])
        .set(status.waiting as i64);
    m.pool
        .with_label_values(&["max"])
        .set(status.max_size as i64);
    let fallbacks = state.store.replica_fallbacks();
    m.replica_fallbacks
        .inc_by(fallbacks.saturating_sub(m.replica_fallbacks.get()));
    let up = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    m.database_up.set(i64::from(matches!(up, Ok(Ok(())))));
    let mut out = Vec::new();
    let encoder = TextEncoder::new();
    // Encoding gathered families into a Vec cannot fail.
    let _ = encoder.encode(&m.registry.gather(), &mut out);
    HttpResponse::Ok()
        .content_type(encoder.format_type())
        .body(out)
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Sets up the log: lines to standard error, as text or JSON, at `RUST_LOG`'s levels, else
/// `level` (default `info`). Called once by `cdr serve`.
pub fn init_logging(format: LogFormat, level: Option<&str>) -> Result<(), String> {
    init_logging_to(
        format,
        level,
        tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
    )
}

/// [`init_logging`] with the lines written to `writer` (`cdr bench observe` writes them to a
/// file).
pub fn init_logging_to(
    format: LogFormat,
    level: Option<&str>,
    writer: tracing_subscriber::fmt::writer::BoxMakeWriter,
) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()) {
        Some(v) => EnvFilter::try_new(v).map_err(|e| format!("RUST_LOG: {e}"))?,
        None => {
            EnvFilter::try_new(level.unwrap_or("info")).map_err(|e| format!("--log-level: {e}"))?
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    let set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    set.map_err(|e| format!("cannot set up the log: {e}"))
}
