//! A private PostgreSQL cluster owned by cdr: found on the machine, initialised once, started on
//! a Unix socket inside its data directory, reused on the next start, stopped on shutdown.
//!
//! PostgreSQL refuses to run as root; when cdr runs as root the cluster runs as the `postgres`
//! system user (or the user named by `CDR_PG_USER`). Every child process gets its arguments as an
//! argv vector — no shell ever sees a path.

use std::ffi::OsStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The superuser name given to initdb; every connection to a managed cluster uses it.
pub const SUPERUSER: &str = "cdr";

/// Port number of the managed cluster. It only names the socket file (no TCP listener).
const PORT: u16 = 5432;

/// What went wrong while finding, initialising or starting PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries were found.
    #[error(
        "PostgreSQL is not installed: cdr needs the PostgreSQL server binaries (initdb, pg_ctl, \
         postgres) to run its own database. Install them (Debian/Ubuntu: `apt install postgresql`; \
         Fedora: `dnf install postgresql-server`; macOS: `brew install postgresql@15`) or put their \
         directory on PATH, or set DATABASE_URL to use an existing server."
    )]
    NotInstalled,
    /// Running as root and no unprivileged user to run PostgreSQL as.
    #[error(
        "cdr runs as root and PostgreSQL refuses to; no unprivileged user was found to run it as \
         (create the `postgres` system user, set CDR_PG_USER, or run cdr as an ordinary user)"
    )]
    NoUnprivilegedUser,
    /// A command failed.
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    /// A file system operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> ClusterError + 'a {
    move |source| ClusterError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Settings of a managed cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// The cluster's data directory (PGDATA).
    pub data_dir: PathBuf,
    /// Keep `fsync` on (true for real data; tests may turn it off for speed).
    pub durable: bool,
    /// Extra `postgresql.conf` lines written at initdb.
    pub extra_conf: Vec<String>,
}

impl ClusterOptions {
    /// Durable defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ClusterOptions {
            data_dir: data_dir.into(),
            durable: true,
            extra_conf: Vec::new(),
        }
    }
}

/// The unprivileged account PostgreSQL runs as when cdr is root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running (or startable) private PostgreSQL cluster.
#[derive(Debug)]
pub struct ManagedCluster {
    bindir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as: Option<RunAs>,
}

impl ManagedCluster {
    /// Initialises the data directory when it is new, then starts the server, or reuses it when
    /// it already runs.
    pub fn start(opts: &ClusterOptions) -> Result<ManagedCluster, ClusterError> {
        let bindir = find_bindir()?;
        let run_as = if effective_uid_is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        let data_dir = absolute(&opts.data_dir)?;
        let socket_dir = socket_dir_for(&data_dir);
        let cluster = ManagedCluster {
            bindir,
            data_dir,
            socket_dir,
            run_as,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb(opts)?;
        }
        cluster.prepare_socket_dir()?;
        if !cluster.is_running() {
            cluster.start_server()?;
        }
        Ok(cluster)
    }

    /// A consistent copy of the running cluster in `target` (new or empty), taken while it
    /// serves: `pg_basebackup` in plain format with the WAL it needs streamed alongside, then
    /// checked against its manifest by `pg_verifybackup`.
    pub fn base_backup(&self, target: &Path) -> Result<(), ClusterError> {
        let target = absolute(target)?;
        if target.exists()
            && fs::read_dir(&target)
                .map_err(io_err("reading", &target))?
                .next()
                .is_some()
        {
            return Err(ClusterError::Command {
                what: "backup".into(),
                detail: format!("{} is not empty", target.display()),
            });
        }
        fs::create_dir_all(&target).map_err(io_err("creating", &target))?;
        self.own(&target)?;
        let out = self
            .command("pg_basebackup")
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-D"])
            .arg(&target)
            .args(["-F", "p", "-X", "stream", "-c", "fast", "-w"])
            .output();
        check("pg_basebackup", out)?;
        let out = self.command("pg_verifybackup").arg(&target).output();
        check("pg_verifybackup", out)
    }

    /// Makes `data_dir` (which must not exist or be empty) a copy of the backup `backup` made by
    /// [`base_backup`](Self::base_backup), owned by the user the server runs as; the cluster is
    /// then started there as usual.
    pub fn restore(backup: &Path, data_dir: &Path) -> Result<(), ClusterError> {
        let (backup, data_dir) = (absolute(backup)?, absolute(data_dir)?);
        if !backup.join("PG_VERSION").exists() || !backup.join("backup_manifest").exists() {
            return Err(ClusterError::Command {
                what: "restore".into(),
                detail: format!("{} is not a backup made by cdr backup", backup.display()),
            });
        }
        if data_dir.exists()
            && fs::read_dir(&data_dir)
                .map_err(io_err("reading", &data_dir))?
                .next()
                .is_some()
        {
            return Err(ClusterError::Command {
                what: "restore".into(),
                detail: format!(
                    "{} is not empty: restore into a new data directory",
                    data_dir.display()
                ),
            });
        }
        let _ = fs::remove_dir(&data_dir);
        if let Some(parent) = data_dir.parent() {
            fs::create_dir_all(parent).map_err(io_err("creating", parent))?;
        }
        let out = Command::new("cp")
            .arg("-a")
            .arg(&backup)
            .arg(&data_dir)
            .output();
        check("copying the backup", out)?;
        make_own_copy(&data_dir, "restored")?;
        let run_as = if effective_uid_is_root() {
            Some(unprivileged_user()?)
        } else {
            None
        };
        if let Some(user) = run_as {
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{}:{}", user.uid, user.gid))
                .arg(&data_dir)
                .output();
            check("chown", out)?;
        }
        fs::set_permissions(
            &data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(io_err("setting the mode of", &data_dir))
    }

    /// Makes `data_dir` (new or empty) a streaming replica of this running cluster
    /// (`pg_basebackup -R`: `standby.signal` and `primary_conninfo` to this cluster's socket;
    /// the managed cluster's defaults — `wal_level = replica`, `local replication` trusted —
    /// allow it) and starts it on a socket of its own. It replays this cluster's WAL and
    /// answers read-only queries (hot standby).
    pub fn start_standby(&self, data_dir: &Path) -> Result<ManagedCluster, ClusterError> {
        let data_dir = absolute(data_dir)?;
        fs::create_dir_all(&data_dir).map_err(io_err("creating", &data_dir))?;
        self.own(&data_dir)?;
        fs::set_permissions(&data_dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions of", &data_dir))?;
        let out = self
            .command("pg_basebackup")
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-D"])
            .arg(&data_dir)
            .args(["-F", "p", "-X", "stream", "-c", "fast", "-R", "-w"])
            .output();
        check("pg_basebackup", out)?;
        make_own_copy(&data_dir, "standby")?;
        let standby = ManagedCluster {
            bindir: self.bindir.clone(),
            socket_dir: socket_dir_for(&data_dir),
            data_dir,
            run_as: self.run_as,
        };
        standby.prepare_socket_dir()?;
        standby.start_server()?;
        Ok(standby)
    }

    /// The directory holding the server's Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The port naming the socket file.
    pub fn port(&self) -> u16 {
        PORT
    }

    /// Connection settings for database `dbname` on this cluster.
    pub fn pg_config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(&self.socket_dir)
            .port(PORT)
            .user(SUPERUSER)
            .dbname(dbname)
            .application_name("cdr")
            .connect_timeout(Duration::from_secs(10));
        cfg
    }

    /// Whether the server answers `pg_ctl status`.
    pub fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(&self.data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Stops the server (fast shutdown: in-flight transactions are rolled back, committed data
    /// is flushed).
    pub fn stop(&self) -> Result<(), ClusterError> {
        if !self.is_running() {
            return Ok(());
        }
        let out = self
            .command("pg_ctl")
            .arg("stop")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "fast", "-w", "-t", "60"])
            .output();
        check("pg_ctl stop", out)
    }

    /// Kills the postmaster with SIGKILL, as a crash would (durability tests).
    pub fn kill(&self) -> Result<(), ClusterError> {
        let pid_file = self.data_dir.join("postmaster.pid");
        let text = fs::read_to_string(&pid_file).map_err(io_err("reading", &pid_file))?;
        let pid = text.lines().next().unwrap_or("").trim().to_owned();
        let out = Command::new("kill").args(["-KILL", &pid]).output();
        check("kill -KILL postmaster", out)
    }

    /// Starts the server again after [`stop`](Self::stop) or [`kill`](Self::kill). After a kill the
    /// orphaned backends may hold the old shared memory for a moment; start is retried.
    pub fn restart(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// Spawns a watchdog that stops the server (and removes `remove_dir`, when given) as soon as
    /// this process exits, however it exits: the watchdog waits for its stdin to close. Keep the
    /// returned handle alive for as long as the cluster is needed.
    pub fn stop_when_process_exits(
        &self,
        remove_dir: Option<&Path>,
    ) -> Result<Watchdog, ClusterError> {
        let script = "cat >/dev/null; \"$0\" stop -D \"$1\" -m immediate >/dev/null 2>&1; \
                      if [ -n \"$2\" ]; then rm -rf -- \"$2\" \"$3\"; fi";
        let mut cmd = self.command("sh");
        cmd.arg("-c")
            .arg(script)
            .arg(self.bindir.join("pg_ctl"))
            .arg(&self.data_dir)
            .arg(remove_dir.map(Path::as_os_str).unwrap_or(OsStr::new("")))
            .arg(&self.socket_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| ClusterError::Command {
            what: "starting the cluster watchdog".into(),
            detail: e.to_string(),
        })?;
        let stdin = child.stdin.take();
        Ok(Watchdog {
            _stdin: stdin,
            _child: child,
        })
    }

    fn initdb(&self, opts: &ClusterOptions) -> Result<(), ClusterError> {
        let dir = &self.data_dir;
        fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
        self.own(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions of", dir))?;
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(dir)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
            .args(if opts.durable {
                &[][..]
            } else {
                &["--no-sync"][..]
            })
            .output();
        check("initdb", out)?;
        let mut conf = String::from("\n# --- written by cdr ---\n");
        conf.push_str("listen_addresses = ''\n");
        conf.push_str(&format!("port = {PORT}\n"));
        conf.push_str(&format!(
            "unix_socket_directories = '{}'\n",
            self.socket_dir.display().to_string().replace('\'', "''")
        ));
        conf.push_str("max_connections = 200\nshared_buffers = 256MB\n");
        conf.push_str("logging_collector = off\n");
        if !opts.durable {
            conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        for line in &opts.extra_conf {
            conf.push_str(line);
            conf.push('\n');
        }
        let path = dir.join("postgresql.conf");
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(io_err("opening", &path))?;
        f.write_all(conf.as_bytes())
            .map_err(io_err("writing", &path))?;
        Ok(())
    }

    fn prepare_socket_dir(&self) -> Result<(), ClusterError> {
        if self.socket_dir != self.data_dir {
            let dir = &self.socket_dir;
            fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
            self.own(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(io_err("setting permissions of", dir))?;
        }
        Ok(())
    }

    fn start_server(&self) -> Result<(), ClusterError> {
        let log = self.data_dir.join("server.log");
        let out = self
            .command("pg_ctl")
            .arg("start")
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "120", "-s"])
            .stdin(Stdio::null())
            .output();
        check("pg_ctl start", out).map_err(|e| match e {
            ClusterError::Command { what, detail } => ClusterError::Command {
                what,
                detail: format!("{detail}\n{}", tail(&log)),
            },
            other => other,
        })
    }

    fn own(&self, path: &Path) -> Result<(), ClusterError> {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(io_err("changing the owner of", path))?;
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let path = if program == "sh" {
            PathBuf::from("/bin/sh")
        } else {
            // A directory of links to the server binaries may lack the client tools
            // (pg_basebackup): they are beside the server binary the links point to.
            let here = self.bindir.join(program);
            match here.is_file() {
                true => here,
                false => fs::canonicalize(self.bindir.join("postgres"))
                    .ok()
                    .and_then(|p| p.parent().map(|d| d.join(program)))
                    .filter(|p| p.is_file())
                    .unwrap_or(here),
            }
        };
        let mut cmd = Command::new(path);
        cmd.current_dir("/").env_remove("PGDATA");
        if let Some(user) = self.run_as {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }
}

/// Makes the copy of a cluster in `data_dir` (a backup restored, or a standby) a server of its
/// own: the manifest, and the socket lock and log of the copied server (its socket directory
/// is its data directory when the path is short), are not the copy's, and its socket goes
/// where this data directory's goes (a later line of `postgresql.conf` wins).
fn make_own_copy(data_dir: &Path, what: &str) -> Result<(), ClusterError> {
    let _ = fs::remove_file(data_dir.join("backup_manifest"));
    let _ = fs::remove_file(data_dir.join("server.log"));
    for e in fs::read_dir(data_dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".s.PGSQL.") {
            let _ = fs::remove_file(e.path());
        }
    }
    let conf = data_dir.join("postgresql.conf");
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(&conf)
        .map_err(io_err("opening", &conf))?;
    f.write_all(
        format!(
            "\n# --- {what} by cdr ---\nunix_socket_directories = '{}'\n",
            socket_dir_for(data_dir)
                .display()
                .to_string()
                .replace('\'', "''")
        )
        .as_bytes(),
    )
    .map_err(io_err("writing", &conf))
}

/// Keeps a cluster watchdog waiting; dropping it (or the process ending) stops the cluster.
#[derive(Debug)]
pub struct Watchdog {
    _stdin: Option<ChildStdin>,
    _child: Child,
}

fn check(what: &str, out: std::io::Result<Output>) -> Result<(), ClusterError> {
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(ClusterError::Command {
            what: what.to_owned(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout).trim(),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        }),
        Err(e) => Err(ClusterError::Command {
            what: what.to_owned(),
            detail: e.to_string(),
        }),
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(io_err("reading", Path::new(".")))?;
    Ok(cwd.join(path))
}

/// Where the socket lives: the data directory itself when its path is short enough for a Unix
/// socket address (108 bytes), else a short directory under /tmp named after it.
fn socket_dir_for(data_dir: &Path) -> PathBuf {
    let socket_name_len = ".s.PGSQL.5432.lock".len() + 1;
    if data_dir.as_os_str().len() + socket_name_len < 100 {
        return data_dir.to_path_buf();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data_dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    PathBuf::from(format!("/tmp/cdr-pg-{h:016x}"))
}

/// Finds the directory holding initdb, pg_ctl and postgres: `CDR_PG_BINDIR`, then PATH, then
/// `pg_config --bindir`, then the newest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Result<PathBuf, ClusterError> {
    let has_all = |d: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| d.join(b).is_file())
    };
    if let Some(d) = std::env::var_os("CDR_PG_BINDIR") {
        let d = PathBuf::from(d);
        if has_all(&d) {
            return Ok(d);
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_all(&d) {
                return Ok(d);
            }
        }
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let d = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_all(&d) {
                return Ok(d);
            }
        }
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, d)| has_all(d))
        .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, d)| d)
        .ok_or(ClusterError::NotInstalled)
}

/// Whether this process runs as root (read from /proc; no libc call needed).
fn effective_uid_is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}

/// The account PostgreSQL runs as when cdr is root: `CDR_PG_USER`, else `postgres`.
fn unprivileged_user() -> Result<RunAs, ClusterError> {
    let name = std::env::var("CDR_PG_USER").unwrap_or_else(|_| "postgres".to_owned());
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 4 && f[0] == name).then(|| (f[2].parse().ok(), f[3].parse().ok()))
        })
        .find_map(|(uid, gid)| match (uid, gid) {
            (Some(uid), Some(gid)) if uid != 0 => Some(RunAs { uid, gid }),
            _ => None,
        })
        .ok_or(ClusterError::NoUnprivilegedUser)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_data_dirs_get_a_short_socket_dir() {
        let short = Path::new("/tmp/x/pg");
        assert_eq!(socket_dir_for(short), short);
        let long = PathBuf::from(format!("/tmp/{}/pg", "d".repeat(120)));
        let s = socket_dir_for(&long);
        assert!(
            s.to_string_lossy().starts_with("/tmp/cdr-pg-"),
            "{}",
            s.display()
        );
        assert_eq!(s, socket_dir_for(&long), "stable across starts");
    }
}
