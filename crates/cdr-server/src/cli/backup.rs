//! `cdr backup DIR` and `cdr restore DIR`: a consistent copy of the managed PostgreSQL under
//! the data directory, taken while a server may be running on it, and a new data directory
//! made from such a copy. With `DATABASE_URL` the database is another server's, backed up with
//! that server's own tools (`pg_basebackup`, `pg_dump`).

use std::io::Write;
use std::path::PathBuf;

use cdr_store::cluster::{ClusterOptions, ManagedCluster};

use super::Settings;

/// Backs up the managed PostgreSQL under the data directory
///
/// A consistent copy of the managed PostgreSQL under --data-dir (./data) into the new or
/// empty DIR, also while cdr serve runs on it (pg_basebackup with its WAL, then checked by
/// pg_verifybackup). `cdr restore` makes a data directory from it. With DATABASE_URL, use
/// that server's own tools.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct BackupArgs {
    /// The data directory whose managed PostgreSQL is copied [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The backup directory (new or empty)
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Makes a data directory from a backup
///
/// Makes --data-dir (./data; its pg/ must not exist or be empty) hold a copy that
/// `cdr backup` made; then cdr serve --data-dir DIR. With DATABASE_URL, use that server's own
/// tools.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct RestoreArgs {
    /// The data directory to restore into [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// The backup directory
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

impl From<RestoreArgs> for BackupArgs {
    fn from(a: RestoreArgs) -> BackupArgs {
        BackupArgs {
            data_dir: a.data_dir,
            dir: a.dir,
        }
    }
}

/// `cdr backup` (`restore` false) or `cdr restore`.
pub fn run(
    restore: bool,
    args: BackupArgs,
    settings: &Settings,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let name = if restore { "restore" } else { "backup" };
    let (config, _) = super::store_config(args.data_dir, settings);
    let (data_dir, dir) = (config.data_dir, args.dir);
    if config.database_url.is_some() {
        let _ = writeln!(
            err,
            "cdr {name}: DATABASE_URL names a server of its own; back it up and restore it with \
             its tools (pg_basebackup, pg_dump and pg_restore)"
        );
        return 2;
    }
    let pg = data_dir.join("pg");
    let result = if restore {
        ManagedCluster::restore(&dir, &pg).and_then(|()| {
            // It starts, and stops again: the next `cdr serve` finds it ready.
            ManagedCluster::start(&ClusterOptions::new(&pg)).and_then(|c| c.stop())
        })
    } else {
        let running = pg.join("postmaster.pid").exists();
        if !pg.join("PG_VERSION").exists() {
            let _ = writeln!(err, "cdr backup: {} holds no database", data_dir.display());
            return 2;
        }
        ManagedCluster::start(&ClusterOptions::new(&pg)).and_then(|c| {
            let made = c.base_backup(&dir);
            // A cluster a running server uses stays up.
            if !running {
                let _ = c.stop();
            }
            made
        })
    };
    match result {
        Ok(()) => {
            let _ = match restore {
                true => writeln!(
                    out,
                    "cdr restore: {} holds the database of {}; start cdr serve --data-dir {}",
                    data_dir.display(),
                    dir.display(),
                    data_dir.display()
                ),
                false => writeln!(
                    out,
                    "cdr backup: {} holds a consistent copy of {} (checked by pg_verifybackup)",
                    dir.display(),
                    data_dir.display()
                ),
            };
            0
        }
        Err(e) => {
            let _ = writeln!(err, "cdr {name}: {e}");
            1
        }
    }
}
