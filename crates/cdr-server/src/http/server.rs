//! Starting and stopping the HTTP server. `cdr serve` and the integration tests use the same
//! [`start`].

use std::net::SocketAddr;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::NormalizePath;
use actix_web::{web, App, HttpServer};

use std::sync::Arc;

use actix_web::HttpRequest;
use cdr_store::{Principal, Store};

use super::{error, panic, routes, AppState, Limits};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind, e.g. `127.0.0.1:8080` (port 0 picks a free port).
    pub bind: String,
    /// Base path of the openEHR API, e.g. `/openehr/v1`.
    pub base_path: String,
    /// Worker threads (default: actix's choice, one per core).
    pub workers: Option<usize>,
    pub limits: Limits,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            bind: "127.0.0.1:8080".into(),
            base_path: "/openehr/v1".into(),
            workers: None,
            limits: Limits::default(),
        }
    }
}

/// Decides who each request is from, instead of the configured authentication: for code
/// that embeds the server and knows its callers (the integration tests); `cdr serve` never
/// sets one.
#[derive(Clone)]
pub struct Identify(pub Arc<dyn Fn(&HttpRequest) -> Principal + Send + Sync>);

impl std::fmt::Debug for Identify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identify(..)")
    }
}

/// A started server: where it listens, a handle to stop it, and the future that runs it.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    /// Resolves when the server has stopped (after in-flight requests finished).
    pub server: Server,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("addr", &self.addr).finish()
    }
}

/// Normalises a base path: leading slash, no trailing slash, `/` becomes empty.
pub fn normalise_base(base: &str) -> String {
    let trimmed = base.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// Binds and starts the server. It does not listen for signals: the caller stops it through
/// [`Running::handle`] (`cdr serve` does so on SIGINT and SIGTERM).
pub fn start(store: Store, options: &ServeOptions) -> std::io::Result<Running> {
    start_with(store, options, None)
}

/// [`start`], with the callers decided by `identify` when given.
pub fn start_with(
    store: Store,
    options: &ServeOptions,
    identify: Option<Identify>,
) -> std::io::Result<Running> {
    let state = AppState {
        store,
        base: normalise_base(&options.base_path),
        limits: options.limits,
        identify,
    };
    let data = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            // EHRbase's clients address collections with a trailing slash (`POST …/ehr/`).
            .wrap(NormalizePath::trim())
            .wrap(actix_web::middleware::from_fn(error::xml_errors))
            .wrap(actix_web::middleware::from_fn(panic::catch_panics))
            .app_data(data.clone())
            .configure(|cfg| routes::configure(cfg, &data.base))
            .default_service(web::to(routes::route_not_found))
    })
    .disable_signals()
    .shutdown_timeout(30);
    if let Some(n) = options.workers {
        server = server.workers(n.max(1));
    }
    let server = server.bind(&options.bind)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("bound to no address"))?;
    let server = server.run();
    Ok(Running {
        addr,
        handle: server.handle(),
        server,
    })
}
