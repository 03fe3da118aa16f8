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
