//! `cdr serve`: the openEHR REST API until SIGINT or SIGTERM, then a graceful stop (no new
//! connections, in-flight requests finish, the managed PostgreSQL stops).

use std::io::Write;
use std::path::PathBuf;

use cdr_server::http::{self, ServeOptions};
use cdr_store::{Store, StoreConfig, TerminologyService};

struct Args {
    options: ServeOptions,
    config: StoreConfig,
    /// The FHIR R4 terminology server for AQL's TERMINOLOGY().
    terminology: Option<TerminologyService>,
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
    let mut terminology = env("CDR_TERMINOLOGY_URL");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
            _ => (a.as_str(), None),
        };
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
            "--base-path" => options.base_path = value()?,
            "--terminology-url" => terminology = Some(value()?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if config.system_id.trim().is_empty() || config.system_id.contains("::") {
        return Err("the system id must be non-empty and must not contain '::'".into());
    }
    let terminology = terminology
        .map(|url| TerminologyService::new(&url))
        .transpose()?;
    Ok(Args {
        options,
        config,
        terminology,
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
    let store = Store::open(&args.config)
        .await
        .map_err(|e| format!("cannot open the store: {e}"))?;
    if let Some(t) = args.terminology.clone() {
        store.use_terminology(t);
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
        "cdr: serving the openEHR REST API on http://{}{} (system id {})",
        running.addr,
        http::server::normalise_base(&args.options.base_path),
        store.system_id()
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
    fn terminology_url_from_flag_or_environment() {
        let env = |k: &str| (k == "CDR_TERMINOLOGY_URL").then(|| "http://tx:8080/fhir".to_owned());
        assert!(parse_args(&[], env).unwrap().terminology.is_some());
        assert!(parse_args(&[], |_| None).unwrap().terminology.is_none());
        let https = ["--terminology-url".to_owned(), "https://tx/fhir".to_owned()];
        let e = parse_args(&https, |_| None).err().unwrap();
        assert!(e.contains("http://"), "{e}");
    }
}
