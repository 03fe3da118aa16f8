//! `cdr backup DIR` and `cdr restore DIR`: a consistent copy of the managed PostgreSQL under
//! the data directory, taken while a server may be running on it, and a new data directory
//! made from such a copy. With `DATABASE_URL` the database is another server's, backed up with
//! that server's own tools (`pg_basebackup`, `pg_dump`).

use std::io::Write;
use std::path::PathBuf;

use cdr_store::cluster::{ClusterOptions, ManagedCluster};

fn parse(args: &[String]) -> Result<(PathBuf, PathBuf), String> {
    let mut data_dir = cdr_store::StoreConfig::from_env().data_dir;
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => data_dir = PathBuf::from(it.next().ok_or("--data-dir needs a value")?),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if target.replace(PathBuf::from(s)).is_some() {
                    return Err("give one backup directory".into());
                }
            }
        }
    }
    Ok((data_dir, target.ok_or("give the backup directory")?))
}

/// `cdr backup` (`restore` false) or `cdr restore`.
pub fn run(restore: bool, args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let name = if restore { "restore" } else { "backup" };
    let (data_dir, dir) = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(err, "cdr {name}: {e}\n\n{}", super::USAGE);
            return 2;
        }
    };
    if std::env::var("DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
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
