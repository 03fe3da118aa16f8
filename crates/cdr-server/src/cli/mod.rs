//! The command line, parsed by clap from the types below: one field with its attribute per
//! option (its flag, `CDR_*` variable and help). Exit codes: 0 success, 1 invalid input data,
//! 2 usage or setup error. Values missing from the command line and the environment come from
//! the configuration file `cdr.toml` (see `config`), then from the defaults.

mod aql;
mod archetype;
mod audit;
mod backup;
mod bench;
mod bench_aql;
mod bench_auth;
mod bench_export;
mod bench_flags;
mod bench_notify;
mod bench_observe;
mod bench_soak;
mod config;
mod convert;
mod forms;
mod import;
mod serve;
mod template;
mod user;
mod validate;

use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// cdr — an openEHR Clinical Data Repository
///
/// Exit codes: 0 success, 1 invalid input data, 2 usage or setup errors.
/// Options come from the command line, else their environment variable (CDR_*, DATABASE_URL),
/// else the configuration file (--config FILE, CDR_CONFIG, else ./cdr.toml when it exists;
/// read by serve and the commands that open a store: user, aql, import, backup, restore,
/// audit), else their default. `cdr help COMMAND` or `cdr COMMAND --help` tells more.
#[derive(Parser, Debug)]
#[command(
    name = "cdr",
    version,
    verbatim_doc_comment,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// The configuration file of serve and the commands that open a store (TOML, keys as the
    /// long options: data_dir = "/var/lib/cdr"); read, never written [default: ./cdr.toml when
    /// it exists]
    #[arg(long, global = true, env = "CDR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Serve(Box<serve::ServeArgs>),
    User(user::UserArgs),
    Validate(validate::ValidateArgs),
    Convert(convert::ConvertArgs),
    Template(template::TemplateArgs),
    Archetype(archetype::ArchetypeArgs),
    Aql(aql::AqlArgs),
    Import(import::ImportArgs),
    Backup(backup::BackupArgs),
    Restore(backup::RestoreArgs),
    Audit(audit::AuditArgs),
    Bench(bench::BenchArgs),
    Completions(Completions),
}

/// Prints a completion script for a shell
///
/// Prints the script that completes cdr's commands and options in SHELL, e.g.
///   cdr completions bash > /etc/bash_completion.d/cdr
///   cdr completions zsh > "${fpath[1]}/_cdr"
///   cdr completions fish > ~/.config/fish/completions/cdr.fish
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
struct Completions {
    /// The shell
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// The store a command opens: its data directory.
#[derive(clap::Args, Debug)]
pub(crate) struct StoreDir {
    /// The data directory whose managed PostgreSQL holds the store (unless DATABASE_URL)
    /// [default: ./data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// What the configuration file gives beyond the options of the command line.
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    /// `database_url` of the file (the environment's `DATABASE_URL` wins).
    pub database_url: Option<String>,
}

/// The command-line interface as clap sees it, with the environment variables that are set
/// but empty treated as unset.
pub(crate) fn command() -> clap::Command {
    unset_empty_env(Cli::command())
}

fn unset_empty_env(mut cmd: clap::Command) -> clap::Command {
    let empty: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_env()
                .is_some_and(|v| std::env::var_os(v).is_some_and(|x| x.is_empty()))
        })
        .map(|a| a.get_id().clone())
        .collect();
    for id in empty {
        cmd = cmd.mut_arg(id, |a| a.env(None));
    }
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, unset_empty_env);
    }
    cmd
}

/// Writes clap's error, help or version text where it belongs; its exit code (2, or 0 for
/// help and version).
fn clap_says(e: clap::Error, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let text = e.render().to_string();
    if e.use_stderr() {
        let _ = write!(err, "{text}");
        2
    } else {
        let _ = write!(out, "{text}");
        0
    }
}

/// A usage error found after parsing: says it on `err` with where to find help; exit code 2.
pub(crate) fn usage(err: &mut dyn Write, command: &str, what: &str) -> i32 {
    let _ = writeln!(
        err,
        "{command}: {what}\n\nFor more information, try '{command} --help'."
    );
    2
}

/// Runs the command line `args` (without the program name), writing to `out` and `err`.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let argv: Vec<String> = std::iter::once("cdr".to_owned())
        .chain(args.iter().cloned())
        .collect();
    let cmd = command();
    let matches = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(e) => return clap_says(e, out, err),
    };
    let (matches, settings) = match config::apply(cmd, matches, &argv) {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return clap_says(e, out, err),
        Err(e) => {
            let _ = writeln!(err, "cdr: {e}");
            return 2;
        }
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_says(e, out, err),
    };
    match cli.command {
        Command::Serve(a) => serve::run(*a, &settings, out, err),
        Command::User(a) => user::run(a, &settings, out, err),
        Command::Validate(a) => validate::run(a, out, err),
        Command::Convert(a) => convert::run(a, out, err),
        Command::Template(a) => template::run(a, out, err),
        Command::Archetype(a) => archetype::run(a, out, err),
        Command::Aql(a) => aql::run(a, &settings, out, err),
        Command::Import(a) => import::run(a, &settings, out, err),
        Command::Backup(a) => backup::run(false, a, &settings, out, err),
        Command::Restore(a) => backup::run(true, a.into(), &settings, out, err),
        Command::Audit(a) => audit::run(a, &settings, out, err),
        Command::Bench(a) => bench::run(a, out, err),
        Command::Completions(c) => {
            clap_complete::generate(c.shell, &mut Cli::command(), "cdr", out);
            0
        }
    }
}

/// The store settings of a command on an existing store: the environment's `DATABASE_URL`,
/// else the configuration file's, with `--data-dir` when given; and whether the store should be shut down afterwards (not
/// when it is a database server of its own, nor when its managed cluster was running already,
/// e.g. for a server on the same data directory: that one is left running).
pub(crate) fn store_config(
    data_dir: Option<PathBuf>,
    settings: &Settings,
) -> (cdr_store::StoreConfig, bool) {
    let mut config = store_defaults(settings);
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    let was_running = config.data_dir.join("pg/postmaster.pid").exists();
    let stop = !was_running && config.database_url.is_none();
    (config, stop)
}

/// The store's defaults with the database server of the environment, else of the
/// configuration file.
pub(crate) fn store_defaults(settings: &Settings) -> cdr_store::StoreConfig {
    let mut config = cdr_store::StoreConfig::from_env();
    if config.database_url.is_none() {
        config.database_url = settings.database_url.clone();
    }
    config
}

/// The store of a command, opened; or `None` after saying on `err` why it does not open.
pub(crate) async fn open_store(
    command: &str,
    config: &cdr_store::StoreConfig,
    err: &mut dyn Write,
) -> Option<cdr_store::Store> {
    match cdr_store::Store::open(config).await {
        Ok(s) => Some(s),
        Err(e) => {
            let _ = writeln!(err, "cdr {command}: {e}");
            None
        }
    }
}

/// A multi-threaded runtime for a command, or the exit code 2 after saying why there is none.
pub(crate) fn runtime(command: &str, err: &mut dyn Write) -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let _ = writeln!(err, "cdr {command}: cannot start the runtime: {e}");
            2
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run(args)`: its exit code, standard output and standard error.
    fn cdr(args: &[String]) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(args, &mut out, &mut err);
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (code, text(out), text(err))
    }

    #[test]
    fn the_command_tree_is_consistent() {
        command().debug_assert();
    }

    /// Every command and subcommand, found in clap's tree (so a new one is covered), answers
    /// `--help` and `-h` on standard output with exit 0, naming each of its options and
    /// subcommands; `--help` carries the long description.
    #[test]
    fn every_command_has_help_naming_its_options() {
        fn walk(cmd: &clap::Command, path: &[String], seen: &mut Vec<String>) {
            for flag in ["--help", "-h"] {
                let mut args = path.to_vec();
                args.push(flag.into());
                let (code, out, err) = cdr(&args);
                assert_eq!(code, 0, "{args:?}: {err}");
                assert!(err.is_empty(), "{args:?}: {err}");
                assert!(
                    out.contains(format!("Usage: cdr {}", path.join(" ")).trim_end()),
                    "{args:?}: {out}"
                );
                for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                    let name = match a.get_long() {
                        Some(long) => format!("--{long}"),
                        None => format!("<{}>", a.get_value_names().unwrap()[0]),
                    };
                    assert!(out.contains(&name), "{args:?} does not name {name}: {out}");
                }
                for sub in cmd.get_subcommands() {
                    assert!(out.contains(sub.get_name()), "{args:?}: {out}");
                }
                if flag == "--help" {
                    if let Some(long) = cmd.get_long_about() {
                        let first = long.to_string();
                        let first = first.lines().last().unwrap();
                        assert!(out.contains(first), "{args:?} lacks {first:?}: {out}");
                    }
                }
            }
            seen.push(path.join(" "));
            for sub in cmd.get_subcommands() {
                let mut p = path.to_vec();
                p.push(sub.get_name().to_owned());
                walk(sub, &p, seen);
            }
        }
        let mut seen = Vec::new();
        walk(&Cli::command(), &[], &mut seen);
        for known in [
            "serve",
            "user add",
            "template build",
            "bench commit",
            "audit verify",
        ] {
            assert!(seen.iter().any(|s| s == known), "{known} not in {seen:?}");
        }
    }

    #[test]
    fn help_version_and_usage_errors_go_where_they_belong() {
        let s = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (code, out, err) = cdr(&s(&["--version"]));
        assert_eq!((code, out.as_str(), err.as_str()), (0, "cdr 0.0.0\n", ""));
        assert_eq!(
            cdr(&s(&["-V"])).1,
            format!("cdr {}\n", env!("CARGO_PKG_VERSION"))
        );
        let (code, out, _) = cdr(&s(&["help", "template", "build"]));
        assert_eq!(code, 0);
        assert_eq!(out, cdr(&s(&["template", "build", "--help"])).1);
        for (bad, named) in [
            (&["serve", "--port", "1"][..], "'--port'"),
            (&["frobnicate"], "'frobnicate'"),
            (&["aql"], "<query>"),
            (&["import", "--jobs", "0", "x"], "--jobs"),
            (
                &["validate", "-t", "x.opt", "-f", "yaml", "c.json"],
                "unknown format `yaml`",
            ),
            (&["convert", "--to", "flat", "c.json"], "need --template"),
        ] {
            let (code, out, err) = cdr(&s(bad));
            assert_eq!(code, 2, "{bad:?}");
            assert!(out.is_empty(), "{bad:?}: {out}");
            assert!(err.contains(named), "{bad:?}: {err}");
            assert!(err.contains("--help"), "{bad:?}: {err}");
        }
        let (code, _, err) = cdr(&[]);
        assert_eq!(code, 2);
        assert!(err.contains("Commands:"), "{err}");
    }

    #[test]
    fn completions_name_the_commands() {
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            let (code, out, err) = cdr(&["completions".into(), shell.into()]);
            assert_eq!(code, 0, "{shell}: {err}");
            for word in [
                "serve",
                "validate",
                "archetype",
                "flat-to-canonical",
                "data-dir",
            ] {
                assert!(out.contains(word), "{shell}: no {word}");
            }
        }
        assert_eq!(cdr(&["completions".into(), "tcsh".into()]).0, 2);
    }

    /// The `cdr …` commands README.md shows (in code spans and code blocks, also as
    /// `cargo run … -p cdr-server -- …`) name commands that exist, with options they have.
    #[test]
    fn readme_commands_exist_with_their_options() {
        let readme = include_str!("../../../../README.md");
        let mut mentions: Vec<String> = Vec::new();
        let mut in_code = false;
        let mut joined = String::new();
        for line in readme.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                joined.push_str(line.trim_end_matches('\\'));
                if line.ends_with('\\') {
                    continue;
                }
                let text = std::mem::take(&mut joined);
                let text = text.split(" #").next().unwrap_or_default();
                if let Some(rest) = text.trim_start().strip_prefix("cdr ") {
                    mentions.push(rest.to_owned());
                } else if let Some((_, rest)) = text.split_once("-p cdr-server -- ") {
                    mentions.push(rest.to_owned());
                }
            } else {
                for (i, span) in line.split('`').enumerate() {
                    if let Some(rest) = span.strip_prefix("cdr ").filter(|_| i % 2 == 1) {
                        mentions.push(rest.to_owned());
                    }
                }
            }
        }
        assert!(mentions.len() > 20, "{mentions:?}");
        let root = {
            let mut c = command();
            c.build();
            c
        };
        for m in &mentions {
            let mut cmd = &root;
            let mut words = m.split_whitespace().peekable();
            while let Some(sub) = words.peek().and_then(|w| cmd.find_subcommand(w)) {
                cmd = sub;
                words.next();
            }
            assert!(
                !std::ptr::eq(cmd, &root) || m.starts_with("--"),
                "README: `cdr {m}` names no command"
            );
            for w in words {
                let flag = w.trim_start_matches('[').split(['=', ']']).next().unwrap();
                if let Some(long) = flag.strip_prefix("--") {
                    assert!(
                        cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                        "README: `cdr {m}`: {} has no --{long}",
                        cmd.get_name()
                    );
                }
            }
        }
    }
}
