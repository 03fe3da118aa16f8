//! `cdr serve`: the openEHR REST API until SIGINT or SIGTERM, then a graceful stop (no new
//! connections, in-flight requests finish, the managed PostgreSQL stops).

use std::io::Write;
use std::path::PathBuf;

use cdr_server::http::auth::{AuthConfig, OidcConfig};
use cdr_server::http::{self, ServeOptions};
use cdr_store::{Principal, Store, StoreConfig, TerminologyService};

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

/// A comma-separated list, trimmed, without empty items.
fn list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Whether an environment flag is set (`1`, `true`, `yes`).
fn flag_set(v: Option<String>) -> bool {
    v.is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// Options from the command line, falling back to `CDR_*` variables, then defaults.
fn parse_args(args: &[String], env: impl Fn(&str) -> Option<String>) -> Result<Args, String> {
    let mut options = ServeOptions::default();
    let mut config = StoreConfig::from_env();
    if let Some(v) = env("CDR_BIND") {
        options.bind = v;
    }
    if let Some(v) = env("CDR_BASE_PATH") {
        options.base_path = v;
    }
    if let Some(v) = env("CDR_DATA_DIR") {
        config.data_dir = PathBuf::from(v);
    }
    if let Some(v) = env("CDR_SYSTEM_ID") {
        config.system_id = v;
    }
    config.read_database_url = env("CDR_READ_DATABASE_URL");
    let mut terminology = env("CDR_TERMINOLOGY_URL");
    let mut models = env("CDR_MODELS").map(PathBuf::from);
    let mut auth = env("CDR_AUTH");
    let mut oidc = OidcConfig::new(&env("CDR_OIDC_ISSUER").unwrap_or_default(), Vec::new());
    oidc.audiences = env("CDR_OIDC_AUDIENCE")
        .map(|v| list(&v).collect())
        .unwrap_or_default();
    oidc.jwks_file = env("CDR_JWKS_FILE").map(PathBuf::from);
    if let Some(v) = env("CDR_OIDC_ROLES_CLAIM") {
        oidc.roles_claims = list(&v).collect();
    }
    if let Some(v) = env("CDR_OIDC_ORGANISATION_CLAIM") {
        oidc.organisation_claim = v;
    }
    if let Some(v) = env("CDR_OIDC_PATIENT_ID_CLAIM") {
        oidc.patient_id_claim = v;
    }
    if let Some(v) = env("CDR_OIDC_TEAMS_CLAIM") {
        oidc.teams_claim = v;
    }
    if let Some(v) = env("CDR_OIDC_BREAK_GLASS_CLAIM") {
        oidc.break_glass_claim = v;
    }
    options.insecure_no_auth = flag_set(env("CDR_INSECURE_NO_AUTH"));
    let mut default_models = !flag_set(env("CDR_NO_DEFAULT_MODELS"));
    options.ui_dir = env("CDR_UI_DIR").map(PathBuf::from);
    options.ui_client_id = env("CDR_UI_CLIENT_ID");
    let mut log_format = env("CDR_LOG_FORMAT");
    let mut log_level = env("CDR_LOG_LEVEL");
    let mut slow_query = env("CDR_SLOW_QUERY_MS");
    options.flag_templates = env("CDR_FLAG_TEMPLATES")
        .map(|v| list(&v).collect())
        .unwrap_or_default();
    let mut tls_cert = env("CDR_TLS_CERT").map(PathBuf::from);
    let mut tls_key = env("CDR_TLS_KEY").map(PathBuf::from);
    options.cors_origins = env("CDR_CORS_ORIGINS")
        .map(|v| list(&v).collect())
        .unwrap_or_default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
        if flag == "--insecure-no-auth" {
            options.insecure_no_auth = true;
            continue;
        }
        if flag == "--no-default-models" {
            default_models = false;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--bind" => options.bind = value()?,
            "--data-dir" => config.data_dir = PathBuf::from(value()?),
            "--system-id" => config.system_id = value()?,
            "--read-database-url" => config.read_database_url = Some(value()?),
            "--base-path" => options.base_path = value()?,
            "--terminology-url" => terminology = Some(value()?),
            "--models" => models = Some(PathBuf::from(value()?)),
            "--ui-dir" => options.ui_dir = Some(PathBuf::from(value()?)),
            "--ui-client-id" => options.ui_client_id = Some(value()?),
            "--flag-template" => options.flag_templates.extend(list(&value()?)),
            "--log-format" => log_format = Some(value()?),
            "--log-level" => log_level = Some(value()?),
            "--slow-query-ms" => slow_query = Some(value()?),
            "--auth" => auth = Some(value()?),
            "--oidc-issuer" => oidc.issuer = value()?.trim_end_matches('/').to_owned(),
            "--oidc-audience" => oidc.audiences.extend(list(&value()?)),
            "--jwks-file" => oidc.jwks_file = Some(PathBuf::from(value()?)),
            "--oidc-roles-claim" => oidc.roles_claims = list(&value()?).collect(),
            "--oidc-organisation-claim" => oidc.organisation_claim = value()?,
            "--oidc-patient-id-claim" => oidc.patient_id_claim = value()?,
            "--oidc-teams-claim" => oidc.teams_claim = value()?,
            "--oidc-break-glass-claim" => oidc.break_glass_claim = value()?,
            "--tls-cert" => tls_cert = Some(PathBuf::from(value()?)),
            "--tls-key" => tls_key = Some(PathBuf::from(value()?)),
            "--cors-origin" => options.cors_origins.extend(list(&value()?)),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if config.system_id.trim().is_empty() || config.system_id.contains("::") {
        return Err("the system id must be non-empty and must not contain '::'".into());
    }
    options.auth = match auth.as_deref().unwrap_or("none") {
        "none" => AuthConfig::None,
        "basic" => AuthConfig::Basic,
        "oidc" => AuthConfig::Oidc(oidc),
        other => return Err(format!("--auth {other}: choose oidc, basic or none")),
    };
    options.tls = match (tls_cert, tls_key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let log_format = match log_format.as_deref().unwrap_or("text") {
        "text" => cdr_server::http::observe::LogFormat::Text,
        "json" => cdr_server::http::observe::LogFormat::Json,
        other => return Err(format!("--log-format {other}: choose text or json")),
    };
    if let Some(ms) = slow_query {
        let ms: u64 = ms
            .parse()
            .map_err(|_| format!("--slow-query-ms {ms}: a number of milliseconds"))?;
        options.slow_query = std::time::Duration::from_millis(ms);
    }
    options.check()?;
    let terminology = terminology
        .map(|url| TerminologyService::new(&url))
        .transpose()?;
    Ok(Args {
        options,
        config,
        terminology,
        models,
        default_models,
        log_format,
        log_level,
    })
}

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let args = match parse_args(args, env) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr serve: {e}\n\n{}", super::USAGE);
            return 2;
        }
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

    #[test]
    fn flags_override_environment() {
        let env = |k: &str| match k {
            "CDR_BIND" => Some("0.0.0.0:9000".to_owned()),
            "CDR_SYSTEM_ID" => Some("env.sys".to_owned()),
            _ => None,
        };
        let args: Vec<String> = ["--bind", "127.0.0.1:1", "--base-path=/x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = parse_args(&args, env).unwrap();
        assert_eq!(a.options.bind, "127.0.0.1:1");
        assert_eq!(a.options.base_path, "/x");
        assert_eq!(a.config.system_id, "env.sys");
        assert!(parse_args(&["--nope".to_owned()], env).is_err());
        assert!(parse_args(&["--system-id".to_owned(), "a::b".to_owned()], env).is_err());
    }

    #[test]
    fn read_database_url_from_flag_or_environment() {
        let none = |_: &str| None;
        assert_eq!(
            parse_args(&[], none).unwrap().config.read_database_url,
            None
        );
        let env = |k: &str| (k == "CDR_READ_DATABASE_URL").then(|| "host=env".to_owned());
        let a = parse_args(&[], env).unwrap();
        assert_eq!(a.config.read_database_url.as_deref(), Some("host=env"));
        let a = parse_args(&strings(&["--read-database-url", "host=flag"]), env).unwrap();
        assert_eq!(a.config.read_database_url.as_deref(), Some("host=flag"));
    }

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn authentication_from_flags_or_environment() {
        let none = |_: &str| None;
        assert_eq!(
            parse_args(&[], none).unwrap().options.auth,
            AuthConfig::None
        );
        let e = parse_args(&strings(&["--bind", "0.0.0.0:8080"]), none)
            .err()
            .unwrap();
        assert!(
            e.contains("not a loopback") && e.contains("--insecure-no-auth"),
            "{e}"
        );
        let a = parse_args(
            &strings(&["--bind", "0.0.0.0:8080", "--insecure-no-auth"]),
            none,
        );
        assert!(a.is_ok());
        let basic = parse_args(&strings(&["--bind", "0.0.0.0:1", "--auth", "basic"]), none);
        assert_eq!(basic.unwrap().options.auth, AuthConfig::Basic);
        let env = |k: &str| match k {
            "CDR_AUTH" => Some("oidc".to_owned()),
            "CDR_OIDC_ISSUER" => Some("https://kc.example.org/realms/cdr/".to_owned()),
            "CDR_OIDC_AUDIENCE" => Some("cdr, other".to_owned()),
            "CDR_OIDC_ROLES_CLAIM" => Some("realm_access.roles,roles".to_owned()),
            "CDR_OIDC_TEAMS_CLAIM" => Some("cdr.teams".to_owned()),
            "CDR_CORS_ORIGINS" => Some("https://forms.example.org".to_owned()),
            _ => None,
        };
        let a = parse_args(&[], env).unwrap();
        let AuthConfig::Oidc(c) = &a.options.auth else {
            panic!("{:?}", a.options.auth)
        };
        assert_eq!(c.issuer, "https://kc.example.org/realms/cdr");
        assert_eq!(c.audiences, ["cdr", "other"]);
        assert_eq!(c.roles_claims, ["realm_access.roles", "roles"]);
        assert_eq!(c.teams_claim, "cdr.teams");
        assert_eq!(c.break_glass_claim, "break_glass_reason");
        assert_eq!(a.options.cors_origins, ["https://forms.example.org"]);
        let e = parse_args(&strings(&["--auth", "oidc"]), none)
            .err()
            .unwrap();
        assert!(e.contains("--oidc-issuer"), "{e}");
        let plain = [
            "--auth",
            "oidc",
            "--oidc-issuer",
            "http://kc.example.org",
            "--oidc-audience",
            "a",
        ];
        let e = parse_args(&strings(&plain), none).err().unwrap();
        assert!(e.contains("loopback"), "{e}");
        assert!(parse_args(&strings(&["--auth", "kerberos"]), none).is_err());
        assert!(parse_args(&strings(&["--tls-cert", "c.pem"]), none).is_err());
        assert!(parse_args(&strings(&["--cors-origin", "*"]), none).is_err());
    }

    #[test]
    fn terminology_url_from_flag_or_environment() {
        let env = |k: &str| (k == "CDR_TERMINOLOGY_URL").then(|| "http://tx:8080/fhir".to_owned());
        assert!(parse_args(&[], env).unwrap().terminology.is_some());
        assert!(parse_args(&[], |_| None).unwrap().terminology.is_none());
        let https = ["--terminology-url".to_owned(), "https://tx/fhir".to_owned()];
        let e = parse_args(&https, |_| None).err().unwrap();
        assert!(e.contains("http://"), "{e}");
    }
}
