//! Starting and stopping the HTTP server. `cdr serve` and the integration tests use the same
//! [`start`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, NormalizePath};
use actix_web::{web, App, HttpRequest, HttpServer};
use cdr_store::{Principal, Store};

use super::auth::{self, AuthConfig, Authenticator};
use super::transport::{self, Transport};
use super::{access, audit, error, outgoing, panic, routes, AppState, Limits};

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
    /// How callers authenticate (default: not at all, which only a loopback address allows).
    pub auth: AuthConfig,
    /// Serve without authentication on an address that is not loopback (something in front
    /// of cdr authenticates).
    pub insecure_no_auth: bool,
    /// Serve HTTPS with this PEM certificate chain and private key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Origins whose browser scripts may call the API (CORS).
    pub cors_origins: Vec<String>,
    /// Serve the app's files (`/ui/`) from this folder instead of the built-in copies.
    pub ui_dir: Option<PathBuf>,
    /// The OpenID Connect client the app at `/ui/` signs in as (a public client with PKCE).
    pub ui_client_id: Option<String>,
    /// Templates whose compositions the flags count as care plans, besides those of the
    /// care-plan composition archetype cdr ships.
    pub flag_templates: Vec<String>,
    /// AQL queries slower than this are logged.
    pub slow_query: std::time::Duration,
    /// Request log lines and metrics (on by default; `cdr bench observe` turns them off to
    /// measure what they cost).
    #[doc(hidden)]
    pub observe: bool,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            bind: "127.0.0.1:8080".into(),
            base_path: "/openehr/v1".into(),
            workers: None,
            limits: Limits::default(),
            auth: AuthConfig::None,
            insecure_no_auth: false,
            tls: None,
            cors_origins: Vec::new(),
            ui_dir: None,
            ui_client_id: None,
            flag_templates: Vec::new(),
            slow_query: std::time::Duration::from_secs(1),
            observe: true,
        }
    }
}

impl ServeOptions {
    /// Refuses settings that would serve every record to anyone who can reach the port, or
    /// that cannot work; says why.
    pub fn check(&self) -> Result<(), String> {
        if self.auth == AuthConfig::None && !self.insecure_no_auth && !auth::is_loopback(&self.bind)
        {
            return Err(format!(
                "refusing to serve without authentication on {}, which is not a loopback \
                 address: anyone who can reach it could read and change every record. Choose \
                 --auth oidc or --auth basic, bind to 127.0.0.1, or, when something in front of \
                 cdr authenticates every request, pass --insecure-no-auth",
                self.bind
            ));
        }
        if let AuthConfig::Oidc(c) = &self.auth {
            if c.issuer.is_empty() {
                return Err("--auth oidc needs --oidc-issuer (the tokens' iss)".into());
            }
            if c.audiences.is_empty() {
                return Err("--auth oidc needs --oidc-audience (the tokens' aud)".into());
            }
            if c.jwks_file.is_none() {
                outgoing::check_url(&c.issuer)?;
            }
        }
        for origin in &self.cors_origins {
            transport::check_origin(origin)?;
        }
        Ok(())
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
/// [`Running::handle`] (`cdr serve` does so on SIGINT and SIGTERM). Settings that
/// [`ServeOptions::check`] refuses are an `InvalidInput` error.
pub fn start(store: Store, options: &ServeOptions) -> std::io::Result<Running> {
    start_with(store, options, None)
}

/// [`start`], with the callers decided by `identify` when given.
pub fn start_with(
    store: Store,
    options: &ServeOptions,
    identify: Option<Identify>,
) -> std::io::Result<Running> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    options.check().map_err(invalid)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(transport::tls_config(cert, key).map_err(invalid)?),
        None => None,
    };
    let metrics = Arc::new({
        let mut m = super::observe::Metrics::new(options.slow_query);
        m.enabled = options.observe;
        m
    });
    let events = super::webhook::start(store.clone(), metrics.clone());
    let state = AppState {
        auth: Arc::new(Authenticator::new(&options.auth, &store)),
        transport: Transport::new(tls.is_some(), &options.cors_origins),
        store,
        base: normalise_base(&options.base_path),
        limits: options.limits,
        identify,
        care_plans: cdr_store::CarePlanKinds {
            templates: options.flag_templates.clone(),
        },
        metrics: metrics.clone(),
        events,
    };
    // Events are chained at most this long after their transaction ended (`audit_chain.rs`).
    state.store.start_sealer(std::time::Duration::from_secs(1));
    let data = web::Data::new(state);
    let ui_files = web::Data::new(super::ui::UiFiles {
        dir: options.ui_dir.clone(),
        config: super::ui::app_config(&data.base, &options.auth, options.ui_client_id.as_deref()),
    });
    let mut server = HttpServer::new(move || {
        // The last wrapped runs first: security headers and CORS, panics, XML errors, path
        // normalisation, authentication; then each route checks the caller's roles.
        App::new()
            .wrap(from_fn(access::patients_only_their_own))
            .wrap(from_fn(auth::authenticate))
            // EHRbase's clients address collections with a trailing slash (`POST …/ehr/`).
            .wrap(NormalizePath::trim())
            .wrap(from_fn(error::xml_errors))
            .wrap(from_fn(panic::catch_panics))
            .wrap(from_fn(transport::secure))
            // Outermost, so that it sees every answer, refusals of the layers inside included.
            .wrap(from_fn(audit::audit_requests))
            // The log line and metrics of every request, and its id.
            .wrap(from_fn(super::observe::observe))
            .app_data(data.clone())
            .app_data(ui_files.clone())
            .configure(|cfg| routes::configure(cfg, &data.base))
            .default_service(web::to(routes::route_not_found))
    })
    .disable_signals()
    .shutdown_timeout(30);
    if let Some(n) = options.workers {
        server = server.workers(n.max(1));
    }
    let server = match tls {
        Some(config) => server.bind_rustls_0_23(&options.bind, config)?,
        None => server.bind(&options.bind)?,
    };
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
