//! The openEHR REST API (ITS-REST 1.0.3) on actix-web.
//!
//! - [`server`]: options, start (bind, run) and graceful stop; the same code serves `cdr serve`
//!   and the integration tests;
//! - [`routes`]: the route table under the base path;
//! - [`error`]: the one table from errors to status codes (problem+json);
//! - [`auth`] (with `auth_basic`, `auth_oidc`, `outgoing`) and [`auth_roles`]: who calls, and
//!   which endpoint groups their roles may call; [`transport`]: TLS, CORS, security headers;
//! - [`webhook`] (with `events`): change events published, delivered to subscribers, streamed;
//! - [`media`] and [`headers`]: negotiation, bodies, request and response headers;
//! - one module per resource group, each handler a thin translation to a store call.
//!
//! Invariant: handlers never pick a status for an error; they return [`error::ApiError`]s.

mod access;
mod admin;
pub mod audit;
pub mod auth;
pub mod auth_basic;
pub mod auth_oidc;
pub mod auth_roles;
mod composition;
mod contribution;
mod definition;
mod directory;
mod ehr;
mod ehr_status;
pub mod error;
mod events;
mod flags;
mod forms;
pub mod headers;
pub mod media;
pub mod observe;
mod outgoing;
pub mod panic;
mod query;
pub mod routes;
pub mod server;
mod system;
pub mod transport;
pub mod ui;
mod versioned;
pub mod webhook;

use std::sync::Arc;

use actix_web::HttpRequest;
use uuid::Uuid;

use cdr_store::{Principal, Store, UidBasedId, VersionUid, VoKind};

use error::{ApiError, ApiResult, Code};

pub use server::{start, start_with, Identify, Running, ServeOptions};

/// Body size limits, per kind of route (bytes).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// EHR_STATUS bodies.
    pub small: usize,
    /// Compositions and folders.
    pub document: usize,
    /// Contributions (several documents).
    pub contribution: usize,
    /// Operational templates.
    pub template: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            small: 1 << 20,
            document: 16 << 20,
            contribution: 64 << 20,
            template: 32 << 20,
        }
    }
}

/// What every handler gets: the store, the base path, the limits, and how callers
/// authenticate and answers travel.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    /// The base path of the API, e.g. `/openehr/v1` (no trailing slash; empty for the root).
    pub base: String,
    pub limits: Limits,
    pub auth: Arc<auth::Authenticator>,
    pub transport: transport::Transport,
    /// Who a request is from when the embedding code decides it (see [`Identify`]).
    pub identify: Option<Identify>,
    /// Which compositions the flags count as care plans.
    pub care_plans: cdr_store::CarePlanKinds,
    /// The server's metrics (`GET /metrics`).
    pub metrics: std::sync::Arc<observe::Metrics>,
    /// The change-event dispatcher's shared state.
    pub events: std::sync::Arc<webhook::EventHub>,
}

impl AppState {
    /// The absolute URL of `path` (below the base) as the client addressed this server: through
    /// a proxy, as `Forwarded` or `X-Forwarded-Proto`, `-Host` and `-Port` say.
    pub fn url(&self, req: &HttpRequest, path: &str) -> String {
        let info = req.connection_info();
        let scheme = info.scheme();
        let port = req
            .headers()
            .get("x-forwarded-port")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next()?.trim().parse::<u16>().ok());
        let host = match port {
            Some(port) => with_port(info.host(), scheme, port),
            None => info.host().to_owned(),
        };
        format!("{scheme}://{host}{}{path}", self.base)
    }

    /// The URL prefix of an EHR's versions in `collection` (`composition`, `ehr_status`,
    /// `directory`): a version uid appended makes the version's `Location`.
    pub fn versions_url(&self, req: &HttpRequest, ehr: Uuid, collection: &str) -> String {
        self.url(req, &format!("/ehr/{ehr}/{collection}/"))
    }

    /// The caller: who an [`Identify`] hook says (embedding code and tests), else the
    /// principal the request authenticated as (`auth::authenticate`), or the local principal
    /// when authentication is off; with the client's address. An `openEHR-Break-Glass:
    /// <reason>` header asks for emergency access (`Principal::break_glass`, in place of a
    /// reason the token gave; the store decides whether it applies).
    pub fn caller(&self, req: &HttpRequest) -> Principal {
        let mut caller = match &self.identify {
            Some(identify) => (identify.0)(req),
            None => auth::caller(self.auth.enabled(), req),
        };
        if caller.address.is_none() {
            caller.address = audit::client_address(req);
        }
        if let Some(reason) = headers::break_glass(req) {
            caller.break_glass = Some(reason);
        }
        caller
    }
}

/// `host` (a name, an IPv4 address or a bracketed IPv6 address, with or without a port) with
/// `port` instead of its own, left out when it is the scheme's default.
fn with_port(host: &str, scheme: &str, port: u16) -> String {
    let name = match host.rfind(']') {
        Some(end) => &host[..=end],
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    match (scheme, port) {
        ("http", 80) | ("https", 443) => name.to_owned(),
        _ => format!("{name}:{port}"),
    }
}

/// `If-Match` of a write to the EHR `ehr` (and, for a composition, to its versioned object
/// `object`), judged after the path: an unknown EHR or object is 404 before a missing or
/// malformed header is 400 (as EHRbase answers). The look-up costs a query only when the
/// header is wrong; a header that parses is checked against the latest version by the write.
async fn if_match_after(
    req: &HttpRequest,
    state: &AppState,
    ehr: Uuid,
    object: Option<(VoKind, Uuid)>,
) -> ApiResult<VersionUid> {
    let header = headers::if_match(req);
    if header.is_err() {
        match object {
            Some((kind, vo)) => {
                state
                    .store
                    .versioned_object(&state.caller(req), ehr, kind, vo)
                    .await?;
            }
            None => {
                state.store.get_ehr(&state.caller(req), ehr).await?;
            }
        }
    }
    header
}

/// A path segment by name.
fn segment<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// The `{ehr_id}` path segment. An id that is not a UUID names no EHR: 404, the one error the
/// specification lists for most of these operations.
fn ehr_id(req: &HttpRequest) -> ApiResult<Uuid> {
    existing_uuid_segment(req, "ehr_id", "EHR")
}

/// A UUID path segment naming an existing `kind`: one that is not a UUID is 404 (not found),
/// not 400.
fn existing_uuid_segment(req: &HttpRequest, name: &str, kind: &str) -> ApiResult<Uuid> {
    let s = segment(req, name);
    cdr_store::parse_uuid(s)
        .ok_or_else(|| ApiError::new(Code::NotFound, format!("{kind} {s} not found (not a UUID)")))
}

fn uuid_segment(req: &HttpRequest, name: &str, what: &str) -> ApiResult<Uuid> {
    let s = segment(req, name);
    cdr_store::parse_uuid(s)
        .ok_or_else(|| ApiError::new(Code::InvalidId, format!("{what} '{s}' is not a UUID")))
}

/// A version uid (or, for `T = UidBasedId`, a version uid or object id) path segment of an
/// operation that reads: one that does not parse names nothing, 404 — the one error the
/// specification lists for these reads.
fn existing_id_segment<T>(req: &HttpRequest, name: &str, kind: &str) -> ApiResult<T>
where
    T: std::str::FromStr<Err = cdr_store::IdError>,
{
    let s = segment(req, name);
    s.parse()
        .map_err(|e| ApiError::new(Code::NotFound, format!("{kind} {s} not found ({e})")))
}

/// The `{uid_based_id}` of a write, where the specification lists 400 too: one that does not
/// parse is 400.
fn uid_based_segment(req: &HttpRequest, name: &str) -> ApiResult<UidBasedId> {
    segment(req, name)
        .parse()
        .map_err(|e: cdr_store::IdError| ApiError::new(Code::InvalidId, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::with_port;

    #[test]
    fn forwarded_ports_replace_the_hosts_own() {
        assert_eq!(with_port("example.com", "https", 333), "example.com:333");
        assert_eq!(
            with_port("example.com:8080", "http", 333),
            "example.com:333"
        );
        assert_eq!(with_port("example.com:8080", "https", 443), "example.com");
        assert_eq!(with_port("[::1]:8080", "http", 9000), "[::1]:9000");
        assert_eq!(with_port("[::1]", "http", 80), "[::1]");
    }
}
