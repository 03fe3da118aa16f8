//! `cdr serve`: the openEHR REST API until SIGINT or SIGTERM, then a graceful stop (no new
//! connections, in-flight requests finish, the managed PostgreSQL stops).

use std::io::Write;
use std::path::PathBuf;

use cdr_server::http::auth::{AuthConfig, OidcConfig};
use cdr_server::http::{self, ServeOptions};
use cdr_store::{Principal, Store, StoreConfig, TerminologyService};

use super::Settings;

struct Args {
    options: ServeOptions,
    config: StoreConfig,
    /// The FHIR R4 terminology server for AQL's TERMINOLOGY().
    terminology: Option<TerminologyService>,
    /// A directory of OET templates and ADL 1.4 archetypes to compile and serve.
    models: Option<PathBuf>,
    /// Whether the care-plan models cdr ships are installed on the store's first start.
    default_models: bool,
    log_format: cdr_server::http::observe::LogFormat,
    log_level: Option<String>,
}

/// Whether an environment flag is set (`1`, `true`, `yes`); a flag on the command line is.
pub(crate) fn flag_set(v: &str) -> Result<bool, String> {
    Ok(matches!(
        v.to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    ))
}

/// Serves the openEHR REST API
///
/// Serves the openEHR REST API (default 127.0.0.1:8080, base /openehr/v1, data dir ./data,
/// system id local.cdr). With no DATABASE_URL it runs its own PostgreSQL under DIR/pg.
/// GET /health answers 200 while the server runs (liveness), GET /ready once the database is
/// reachable (readiness; else 503 with Retry-After, as the API answers while the database is
/// down). SIGINT/SIGTERM: in-flight requests finish, then PostgreSQL stops.
///
/// Authentication (--auth): none (default; every caller is the local admin, so only on a
/// loopback address unless --insecure-no-auth), basic (users of `cdr user`) or oidc (bearer
/// JWTs: iss must be the issuer, aud one of the audiences; keys from the issuer's discovery
/// document over https, or from --jwks-file; roles from the claims named, default roles, e.g.
/// realm_access.roles for Keycloak; teams from the teams claim, default groups; a break-glass
/// reason from the break-glass claim, default break_glass_reason). --tls-cert/--tls-key serve
/// HTTPS; --cors-origin lets those browser origins call the API.
///
/// --models DIR compiles every .oet template below DIR with the archetypes found by id below
/// it before starting (any error stops the start, every error listed as file:line: message)
/// and serves them as uploaded templates (a changed one replaces the stored OPT unless
/// compositions were committed with it). On a store's first start the care-plan templates
/// cdr ships (cdr_urgent_care_plan.v0, cdr_care_and_support_plan.v0,
/// cdr_emergency_care_and_treatment_plan.v0) are installed, unless --no-default-models; later
/// starts leave the templates as they are.
///
/// The browser app and the <cdr-form> component are at /ui/ (built in; --ui-dir DIR serves
/// them from DIR instead, for working on them); with --auth oidc the app signs in as the
/// public client --ui-client-id, authorization code with PKCE. GET/POST {base}/flags answer
/// which care plans a subject's EHR holds: compositions of the care-plan archetype cdr ships,
/// and of each --flag-template.
///
/// Logs go to standard error, one line per request (method, path, status, duration, request
/// id, caller) and AQL queries slower than --slow-query-ms, as text or JSON, at --log-level
/// (RUST_LOG wins). GET /metrics answers Prometheus metrics.
///
/// Repeated options also take comma-separated lists, as their variables do.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct ServeArgs {
    /// The address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "CDR_BIND", value_name = "ADDR")]
    bind: Option<String>,
    /// The data directory; the managed PostgreSQL is under DIR/pg [default: ./data]
    #[arg(long, env = "CDR_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The system id of the versions committed [default: local.cdr]
    #[arg(long, env = "CDR_SYSTEM_ID", value_name = "ID")]
    system_id: Option<String>,
    /// The base path of the API [default: /openehr/v1]
    #[arg(long, env = "CDR_BASE_PATH", value_name = "PATH")]
    base_path: Option<String>,
    /// A PostgreSQL streaming replica of the store's database (a URL or key=value settings):
    /// AQL, exports and flags read there, except what must see the caller's own last commit
    #[arg(long, env = "CDR_READ_DATABASE_URL", value_name = "URL")]
    read_database_url: Option<String>,
    /// The FHIR R4 terminology server (http://) that AQL's TERMINOLOGY() asks; without one it
    /// is a query error
    #[arg(long, env = "CDR_TERMINOLOGY_URL", value_name = "URL")]
    terminology_url: Option<String>,
    /// Authentication: none, basic or oidc [default: none]
    #[arg(long, env = "CDR_AUTH", value_name = "none|basic|oidc")]
    auth: Option<String>,
    /// Allows --auth none on an address that is not a loopback one
    #[arg(long, env = "CDR_INSECURE_NO_AUTH", value_parser = flag_set)]
    insecure_no_auth: bool,
    /// The OpenID Connect issuer (the tokens' iss)
    #[arg(long, env = "CDR_OIDC_ISSUER", value_name = "URL")]
    oidc_issuer: Option<String>,
    /// An audience the tokens' aud may name (repeated, or commas)
    #[arg(long, env = "CDR_OIDC_AUDIENCE", value_name = "AUD")]
    oidc_audience: Vec<String>,
    /// The issuer's signing keys (JWKS) from FILE instead of its discovery document
    #[arg(long, env = "CDR_JWKS_FILE", value_name = "FILE")]
    jwks_file: Option<PathBuf>,
    /// The claims that hold the caller's roles (commas) [default: roles]
    #[arg(long, env = "CDR_OIDC_ROLES_CLAIM", value_name = "C[,C…]")]
    oidc_roles_claim: Option<String>,
    /// The claim that holds the caller's organisation
    #[arg(long, env = "CDR_OIDC_ORGANISATION_CLAIM", value_name = "C")]
    oidc_organisation_claim: Option<String>,
    /// The claim that holds a patient's own subject id
    #[arg(long, env = "CDR_OIDC_PATIENT_ID_CLAIM", value_name = "C")]
    oidc_patient_id_claim: Option<String>,
    /// The claim that holds the caller's teams [default: groups]
    #[arg(long, env = "CDR_OIDC_TEAMS_CLAIM", value_name = "C")]
    oidc_teams_claim: Option<String>,
    /// The claim that holds a break-glass reason [default: break_glass_reason]
    #[arg(long, env = "CDR_OIDC_BREAK_GLASS_CLAIM", value_name = "C")]
    oidc_break_glass_claim: Option<String>,
    /// The certificate chain (PEM) to serve HTTPS with, with --tls-key
    #[arg(long, env = "CDR_TLS_CERT", value_name = "PEM")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) to serve HTTPS with, with --tls-cert
    #[arg(long, env = "CDR_TLS_KEY", value_name = "PEM")]
    tls_key: Option<PathBuf>,
    /// A browser origin allowed to call the API (repeated, or commas)
    #[arg(long, env = "CDR_CORS_ORIGINS", value_name = "ORIGIN")]
    cors_origin: Vec<String>,
    /// Compiles the .oet templates below DIR with the archetypes below it, and serves them
    #[arg(long, env = "CDR_MODELS", value_name = "DIR")]
    models: Option<PathBuf>,
    /// Does not install the care-plan templates cdr ships on a store's first start
    #[arg(long, env = "CDR_NO_DEFAULT_MODELS", value_parser = flag_set)]
    no_default_models: bool,
    /// Serves the browser app and <cdr-form> from DIR instead of the built-in ones
    #[arg(long, env = "CDR_UI_DIR", value_name = "DIR")]
    ui_dir: Option<PathBuf>,
    /// The public OIDC client the browser app signs in as (with --auth oidc)
    #[arg(long, env = "CDR_UI_CLIENT_ID", value_name = "ID")]
    ui_client_id: Option<String>,
    /// A template whose compositions count as care-plan flags (repeated, or commas)
    #[arg(long, env = "CDR_FLAG_TEMPLATES", value_name = "ID")]
    flag_template: Vec<String>,
    /// The log format: text or json [default: text]
    #[arg(long, env = "CDR_LOG_FORMAT", value_name = "text|json")]
    log_format: Option<String>,
    /// The log level, e.g. info or debug (RUST_LOG wins) [default: info]
    #[arg(long, env = "CDR_LOG_LEVEL", value_name = "LEVEL")]
    log_level: Option<String>,
    /// Logs AQL queries slower than MS milliseconds [default: 1000]
    #[arg(long, env = "CDR_SLOW_QUERY_MS", value_name = "MS")]
    slow_query_ms: Option<String>,
}

/// The items of comma-separated lists, trimmed, without empty ones.
fn list(values: Vec<String>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The serve options of the command line (with the environment's and the configuration file's
/// values), checked.
fn settle(a: ServeArgs, mut config: StoreConfig) -> Result<Args, String> {
    let mut options = ServeOptions::default();
    if let Some(v) = a.bind {
        options.bind = v;
    }
    if let Some(v) = a.base_path {
        options.base_path = v;
    }
    if let Some(v) = a.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = a.system_id {
        config.system_id = v;
    }
    config.read_database_url = a.read_database_url;
    let mut oidc = OidcConfig::new(
        a.oidc_issuer.as_deref().unwrap_or_default(),
        list(a.oidc_audience),
    );
    oidc.jwks_file = a.jwks_file;
    if let Some(v) = a.oidc_roles_claim {
        oidc.roles_claims = list(vec![v]);
    }
    if let Some(v) = a.oidc_organisation_claim {
        oidc.organisation_claim = v;
    }
    if let Some(v) = a.oidc_patient_id_claim {
        oidc.patient_id_claim = v;
    }
    if let Some(v) = a.oidc_teams_claim {
        oidc.teams_claim = v;
    }
    if let Some(v) = a.oidc_break_glass_claim {
        oidc.break_glass_claim = v;
    }
    options.insecure_no_auth = a.insecure_no_auth;
    options.ui_dir = a.ui_dir;
    options.ui_client_id = a.ui_client_id;
    options.flag_templates = list(a.flag_template);
    options.cors_origins = list(a.cors_origin);
    if config.system_id.trim().is_empty() || config.system_id.contains("::") {
        return Err("the system id must be non-empty and must not contain '::'".into());
    }
    options.auth = match a.auth.as_deref().unwrap_or("none") {
        "none" => AuthConfig::None,
        "basic" => AuthConfig::Basic,
        "oidc" => AuthConfig::Oidc(oidc),
        other => return Err(format!("--auth {other}: choose oidc, basic or none")),
    };
    options.tls = match (a.tls_cert, a.tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let log_format = match a.log_format.as_deref().unwrap_or("text") {
        "text" => cdr_server::http::observe::LogFormat::Text,
        "json" => cdr_server::http::observe::LogFormat::Json,
        other => return Err(format!("--log-format {other}: choose text or json")),
    };
    if let Some(ms) = a.slow_query_ms {
        let ms: u64 = ms
            .parse()
            .map_err(|_| format!("--slow-query-ms {ms}: a number of milliseconds"))?;
        options.slow_query = std::time::Duration::from_millis(ms);
    }
    options.check()?;
    let terminology = a
        .terminology_url
        .map(|url| TerminologyService::new(&url))
        .transpose()?;
    Ok(Args {
        options,
        config,
        terminology,
        models: a.models,
        default_models: !a.no_default_models,
        log_format,
        log_level: a.log_level,
    })
}

pub fn run(args: ServeArgs, settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match settle(args, super::store_defaults(settings)) {
        Ok(a) => a,
        Err(e) => return super::usage(err, "cdr serve", &e),
    };
    let rt = match super::runtime("serve", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(serve(args, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr serve: {e}");
            1
        }
    }
}

async fn serve(args: Args, out: &mut dyn Write) -> Result<(), String> {
    cdr_server::http::observe::init_logging(args.log_format, args.log_level.as_deref())?;
    // The models compile before anything starts, so a broken one stops nothing but this.
    let models = match &args.models {
        Some(dir) => cdr_server::models::compile_dir(dir).map_err(|errors| {
            format!(
                "the models in {} do not compile:\n{}",
                dir.display(),
                errors.join("\n")
            )
        })?,
        None => Vec::new(),
    };
    let store = Store::open(&args.config)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    if args.default_models {
        let caller = Principal {
            name: Some("cdr serve (default models)".into()),
            ..Principal::local()
        };
        match cdr_server::models::install_defaults(&store, &caller).await {
            Ok(Some(done)) => {
                let said: Vec<String> = done
                    .iter()
                    .map(|(id, d)| match d {
                        cdr_server::models::Installed::Kept => format!("{id} (a stored one kept)"),
                        _ => id.clone(),
                    })
                    .collect();
                eprintln!(
                    "cdr: first start: the care-plan templates cdr ships: {}",
                    said.join(", ")
                );
            }
            Ok(None) => {}
            Err(e) => {
                let _ = store.shutdown().await;
                return Err(format!("cannot install the default models: {e}"));
            }
        }
    }
    if let Some(dir) = &args.models {
        let caller = Principal {
            name: Some(format!("cdr serve --models {}", dir.display())),
            ..Principal::local()
        };
        match cdr_server::models::install(&store, &caller, &models).await {
            Ok(done) => {
                let changed = done
                    .iter()
                    .filter(|d| **d != cdr_server::models::Installed::Unchanged)
                    .count();
                eprintln!(
                    "cdr: {} templates from {} ({changed} new or changed): {}",
                    models.len(),
                    dir.display(),
                    models
                        .iter()
                        .map(|m| m.template_id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Err(e) => {
                let _ = store.shutdown().await;
                return Err(format!("cannot install the models: {e}"));
            }
        }
    }
    if let Some(t) = args.terminology.clone() {
        store.use_terminology(t);
    }
    if let AuthConfig::Oidc(c) = &args.options.auth {
        // The keys are fetched again on the first token; this only says early what is wrong.
        match http::auth_oidc::Oidc::new(c.clone()).prefetch().await {
            Ok(n) => eprintln!("cdr: {n} signing key(s) of {}", c.issuer),
            Err(e) => eprintln!("cdr: warning: the signing keys of {}: {e}", c.issuer),
        }
    }
    let running = match http::start(store.clone(), &args.options) {
        Ok(r) => r,
        Err(e) => {
            let _ = store.shutdown().await;
            return Err(format!("cannot listen on {}: {e}", args.options.bind));
        }
    };
    let _ = writeln!(
        out,
        "cdr: serving the openEHR REST API on {}://{}{} (system id {}, authentication {})",
        if args.options.tls.is_some() {
            "https"
        } else {
            "http"
        },
        running.addr,
        http::server::normalise_base(&args.options.base_path),
        store.system_id(),
        args.options.auth.name()
    );
    let _ = out.flush();
    let handle = running.handle.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        eprintln!("cdr: stopping: finishing requests in flight");
        handle.stop(true).await;
    });
    let served = running.server.await;
    let stopped = store.shutdown().await;
    served.map_err(|e| format!("server error: {e}"))?;
    stopped.map_err(|e| format!("stopping the store: {e}"))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn read_database_url_from_the_flag() {
        assert_eq!(parse_args(&[]).unwrap().config.read_database_url, None);
        let a = parse_args(&["--read-database-url", "host=flag"]).unwrap();
        assert_eq!(a.config.read_database_url.as_deref(), Some("host=flag"));
    }

    /// `cdr serve ARGS`, parsed and checked (the tests run without `CDR_*` variables).
    fn parse_args(args: &[&str]) -> Result<Args, String> {
        let argv = ["cdr", "serve"].iter().chain(args);
        let cli = super::super::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let super::super::Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        settle(*a, StoreConfig::from_env())
    }

    #[test]
    fn flags_and_defaults() {
        let a = parse_args(&["--bind", "127.0.0.1:1", "--base-path=/x"]).unwrap();
        assert_eq!(a.options.bind, "127.0.0.1:1");
        assert_eq!(a.options.base_path, "/x");
        assert_eq!(a.config.system_id, "local.cdr");
        let d = parse_args(&[]).unwrap();
        assert_eq!(d.options.bind, ServeOptions::default().bind);
        assert!(d.default_models);
        assert!(!parse_args(&["--no-default-models"]).unwrap().default_models);
        assert!(parse_args(&["--nope"]).is_err());
        assert!(parse_args(&["--system-id", "a::b"]).is_err());
    }

    #[test]
    fn authentication_from_flags() {
        assert_eq!(parse_args(&[]).unwrap().options.auth, AuthConfig::None);
        let e = parse_args(&["--bind", "0.0.0.0:8080"]).err().unwrap();
        assert!(
            e.contains("not a loopback") && e.contains("--insecure-no-auth"),
            "{e}"
        );
        assert!(parse_args(&["--bind", "0.0.0.0:8080", "--insecure-no-auth"]).is_ok());
        let basic = parse_args(&["--bind", "0.0.0.0:1", "--auth", "basic"]);
        assert_eq!(basic.unwrap().options.auth, AuthConfig::Basic);
        let a = parse_args(&[
            "--auth",
            "oidc",
            "--oidc-issuer",
            "https://kc.example.org/realms/cdr/",
            "--oidc-audience",
            "cdr, other",
            "--oidc-audience=third",
            "--oidc-roles-claim",
            "realm_access.roles,roles",
            "--oidc-teams-claim",
            "cdr.teams",
            "--cors-origin",
            "https://forms.example.org",
            "--flag-template",
            "a.v0,b.v0",
            "--flag-template",
            "c.v0",
        ])
        .unwrap();
        let AuthConfig::Oidc(c) = &a.options.auth else {
            panic!("{:?}", a.options.auth)
        };
        assert_eq!(c.issuer, "https://kc.example.org/realms/cdr");
        assert_eq!(c.audiences, ["cdr", "other", "third"]);
        assert_eq!(c.roles_claims, ["realm_access.roles", "roles"]);
        assert_eq!(c.teams_claim, "cdr.teams");
        assert_eq!(c.break_glass_claim, "break_glass_reason");
        assert_eq!(a.options.cors_origins, ["https://forms.example.org"]);
        assert_eq!(a.options.flag_templates, ["a.v0", "b.v0", "c.v0"]);
        let e = parse_args(&["--auth", "oidc"]).err().unwrap();
        assert!(e.contains("--oidc-issuer"), "{e}");
        let plain = [
            "--auth",
            "oidc",
            "--oidc-issuer",
            "http://kc.example.org",
            "--oidc-audience",
            "a",
        ];
        let e = parse_args(&plain).err().unwrap();
        assert!(e.contains("loopback"), "{e}");
        assert!(parse_args(&["--auth", "kerberos"]).is_err());
        assert!(parse_args(&["--tls-cert", "c.pem"]).is_err());
        assert!(parse_args(&["--cors-origin", "*"]).is_err());
    }

    #[test]
    fn terminology_url_from_flag() {
        let a = parse_args(&["--terminology-url", "http://tx:8080/fhir"]).unwrap();
        assert!(a.terminology.is_some());
        assert!(parse_args(&[]).unwrap().terminology.is_none());
        let e = parse_args(&["--terminology-url", "https://tx/fhir"])
            .err()
            .unwrap();
        assert!(e.contains("http://"), "{e}");
    }

    #[test]
    fn environment_flags() {
        for (v, set) in [
            ("1", true),
            ("TRUE", true),
            ("yes", true),
            ("0", false),
            ("no", false),
        ] {
            assert_eq!(flag_set(v), Ok(set), "{v}");
        }
    }
}
