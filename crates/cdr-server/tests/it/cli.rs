//! The `cdr` command line as a user meets it: `--help` of every command and subcommand (found
//! by following the help's own command lists), `--version`, shell completions, usage errors,
//! and the configuration file `cdr.toml` below the environment and the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::request_to;

/// A new empty directory for one test (removed first if an earlier run left it).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cdr-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `cdr ARGS` in `dir` with only `env` of the `CDR_*` and `DATABASE_URL` variables.
fn command_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cdr"));
    c.current_dir(dir).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("CDR_") || k == "DATABASE_URL" {
            c.env_remove(k);
        }
    }
    c.envs(env.iter().copied());
    c
}

fn cdr_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    command_in(dir, args, env).output().expect("cdr runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks that `o` exited 2 saying `said` on standard error.
fn refused(o: &Output, said: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(said), "not {said:?}: {err}");
}

/// The command names a help text lists under `Commands:`.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_and_subcommand_answers_help() {
    let dir = scratch("help");
    let mut queue = vec![Vec::<String>::new()];
    let mut seen = Vec::new();
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let o = cdr_in(&dir, &args, &[]);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        let help = text(&o.stdout);
        let usage = format!("Usage: cdr {}", path.join(" "));
        assert!(help.contains(usage.trim_end()), "{args:?}: {help}");
        assert!(help.contains("-h, --help"), "{args:?}: {help}");
        // `cdr help PATH` says the same.
        let mut via_help = vec!["help"];
        via_help.extend(path.iter().map(String::as_str));
        assert_eq!(
            text(&cdr_in(&dir, &via_help, &[]).stdout),
            help,
            "{via_help:?}"
        );
        for sub in listed_commands(&help) {
            let mut p = path.clone();
            p.push(sub);
            queue.push(p);
        }
        seen.push(path.join(" "));
    }
    for known in [
        "serve",
        "user add",
        "user passwd",
        "template flat-to-canonical",
        "archetype check",
        "bench export",
        "completions",
    ] {
        assert!(seen.iter().any(|s| s == known), "{known} not in {seen:?}");
    }
    let serve = text(&cdr_in(&dir, &["serve", "--help"], &[]).stdout);
    for option in [
        "--bind <ADDR>",
        "--oidc-audience <AUD>",
        "[env: CDR_BIND=]",
        "--config",
    ] {
        assert!(serve.contains(option), "{option}: {serve}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn version_and_completions() {
    let dir = scratch("version");
    for flag in ["--version", "-V"] {
        let o = cdr_in(&dir, &[flag], &[]);
        assert_eq!(o.status.code(), Some(0));
        assert_eq!(
            text(&o.stdout),
            format!("cdr {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    let o = cdr_in(&dir, &["completions", "bash"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let script = text(&o.stdout);
    for word in [
        "complete",
        "serve",
        "validate",
        "webtemplate",
        "--data-dir",
        "--oidc-audience",
    ] {
        assert!(script.contains(word), "no {word} in the bash completions");
    }
    let o = cdr_in(&dir, &["completions", "cmd.exe"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cmd.exe"), "{}", text(&o.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unknown_option_exits_2_naming_it() {
    let dir = scratch("unknown");
    for args in [
        &["serve", "--frobnicate"][..],
        &["aql", "--frobnicate", "SELECT 1"],
        &["user", "list", "--frobnicate"],
        &["bench", "commit", "--frobnicate", "1"],
        &["template", "webtemplate", "--frobnicate", "x.opt"],
    ] {
        let o = cdr_in(&dir, args, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
        assert!(
            text(&o.stderr).contains("'--frobnicate'"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// What `cdr serve` says about a `--log-format` it does not know: which value it took.
fn log_format_taken(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    err.split("--log-format ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or_else(|| panic!("{err}"))
        .to_owned()
}

#[test]
fn the_file_sets_options_the_environment_beats_it_and_a_flag_beats_both() {
    let dir = scratch("precedence");
    std::fs::write(
        dir.join("cdr.toml"),
        "# cdr's settings\nlog-format = \"from-file\"\n",
    )
    .unwrap();
    let env = [("CDR_LOG_FORMAT", "from-env")];
    let flag = ["serve", "--log-format", "from-flag"];
    assert_eq!(
        log_format_taken(&cdr_in(&dir, &["serve"], &[])),
        "from-file"
    );
    assert_eq!(
        log_format_taken(&cdr_in(&dir, &["serve"], &env)),
        "from-env"
    );
    assert_eq!(log_format_taken(&cdr_in(&dir, &flag, &env)), "from-flag");
    // An empty variable counts as unset.
    let empty = [("CDR_LOG_FORMAT", "")];
    assert_eq!(
        log_format_taken(&cdr_in(&dir, &["serve"], &empty)),
        "from-file"
    );
    // --config (or CDR_CONFIG) names another file, and ./cdr.toml is not read then.
    std::fs::write(dir.join("other.toml"), "log_format = \"other\"\n").unwrap();
    let other = ["serve", "--config", "other.toml"];
    assert_eq!(log_format_taken(&cdr_in(&dir, &other, &[])), "other");
    let by_env = [("CDR_CONFIG", "other.toml")];
    assert_eq!(
        log_format_taken(&cdr_in(&dir, &["serve"], &by_env)),
        "other"
    );
    // A boolean and a list: without insecure_no_auth the address is refused; with it the
    // check goes on to the list's origins.
    let serve_with = |file: &str, env: &[(&str, &str)]| {
        std::fs::write(dir.join("cdr.toml"), file).unwrap();
        let o = cdr_in(&dir, &["serve"], env);
        assert_eq!(o.status.code(), Some(2), "{file}");
        text(&o.stderr)
    };
    let e = serve_with(
        "bind = \"0.0.0.0:0\"\ncors_origin = [\"https://a\", \"*\"]\n",
        &[],
    );
    assert!(e.contains("not a loopback"), "{e}");
    let e = serve_with(
        "bind = \"0.0.0.0:0\"\ninsecure_no_auth = true\ncors_origin = [\"https://a\", \"*\"]\n",
        &[],
    );
    assert!(e.contains("CORS origin '*'"), "{e}");
    let e = serve_with(
        "bind = \"0.0.0.0:0\"\ninsecure_no_auth = true\ncors_origin = [\"https://a\", \"*\"]\n",
        &[("CDR_INSECURE_NO_AUTH", "0")],
    );
    assert!(e.contains("not a loopback"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_file_is_refused_naming_file_line_and_key() {
    let dir = scratch("badfile");
    for (content, said) in [
        (
            "bind = \"127.0.0.1:0\"\n\nbnid = \"x\"\n",
            "cdr.toml:3: `bnid`: unknown key",
        ),
        (
            "\n\nslow_query_ms = [1]\n",
            "cdr.toml:3: `slow_query_ms`: expected a string",
        ),
        (
            "no_default_models = \"no\"\n",
            "cdr.toml:1: `no_default_models`: expected a boolean",
        ),
        ("bind = \"a\"\nbind =\n", "cdr.toml:2:"),
    ] {
        std::fs::write(dir.join("cdr.toml"), content).unwrap();
        for args in [&["serve"][..], &["audit", "verify"], &["user", "list"]] {
            let o = cdr_in(&dir, args, &[]);
            assert_eq!(o.status.code(), Some(2), "{args:?} {content:?}");
            assert!(
                text(&o.stderr).contains(said),
                "{args:?} {content:?}: {}",
                text(&o.stderr)
            );
        }
    }
    // Commands that do not read the file do not mind it.
    let o = cdr_in(&dir, &["template", "webtemplate", "absent.opt"], &[]);
    assert!(!text(&o.stderr).contains("cdr.toml"), "{}", text(&o.stderr));
    // A file named but absent.
    refused(
        &cdr_in(&dir, &["serve", "--config", "absent.toml"], &[]),
        "absent.toml",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_store_keys_apply_to_the_commands_that_open_a_store() {
    let dir = scratch("storekeys");
    std::fs::create_dir_all(dir.join("from-file/pg")).unwrap();
    std::fs::write(dir.join("cdr.toml"), "data_dir = \"from-file\"\n").unwrap();
    refused(
        &cdr_in(&dir, &["backup", "copy"], &[]),
        "from-file holds no database",
    );
    std::fs::create_dir_all(dir.join("from-flag/pg")).unwrap();
    let o = cdr_in(&dir, &["backup", "--data-dir", "from-flag", "copy"], &[]);
    assert!(
        text(&o.stderr).contains("from-flag holds no database"),
        "{}",
        text(&o.stderr)
    );
    std::fs::write(
        dir.join("cdr.toml"),
        "database_url = \"host=/nowhere dbname=x\"\n",
    )
    .unwrap();
    refused(&cdr_in(&dir, &["backup", "copy"], &[]), "server of its own");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn serve_runs_from_its_configuration_file() {
    let dir = scratch("serve");
    let db = crate::serve::database_url().await;
    std::fs::write(
        dir.join("cdr.toml"),
        format!(
            "bind = \"127.0.0.1:0\"\nbase_path = \"/conf/v1\"\nsystem_id = \"conf.test\"\n\
             flag_template = [\"a.v0\", \"b.v0\"]\ndatabase_url = \"{db}\"\n"
        ),
    )
    .unwrap();
    let mut child = command_in(&dir, &["serve"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cdr serve starts");
    let (addr, line) = crate::serve::listening(&mut child, "/conf/v1");
    assert!(line.contains("system id conf.test"), "{line}");
    let res = request_to(addr, "POST", "/conf/v1/ehr").send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "cdr serve did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn environment_variables_set_options_with_comma_lists() {
    let dir = scratch("environment");
    let serve = |env: &[(&str, &str)]| {
        let o = cdr_in(&dir, &["serve"], env);
        assert_eq!(o.status.code(), Some(2), "{env:?}");
        text(&o.stderr)
    };
    let oidc = [
        ("CDR_AUTH", "oidc"),
        ("CDR_OIDC_ISSUER", "http://kc.example.org/realms/cdr/"),
    ];
    let e = serve(&[oidc[0], oidc[1], ("CDR_OIDC_AUDIENCE", " , ")]);
    assert!(e.contains("needs --oidc-audience"), "{e}");
    // Two audiences: the next check is the issuer's address.
    let e = serve(&[oidc[0], oidc[1], ("CDR_OIDC_AUDIENCE", "cdr, other")]);
    assert!(e.contains("http://kc.example.org"), "{e}");
    let e = serve(&[("CDR_CORS_ORIGINS", "https://forms.example.org, *")]);
    assert!(e.contains("CORS origin '*'"), "{e}");
    let e = serve(&[("CDR_SYSTEM_ID", "a::b")]);
    assert!(e.contains("system id"), "{e}");
    let _ = std::fs::remove_dir_all(dir);
}
