//! `cdr user add|passwd|remove|list`: the users of `cdr serve --auth basic`. Passwords are
//! read from standard input (the first line) or from the environment variable named by
//! `--password-env`, never from the command line, and stored as argon2id hashes.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use cdr_server::http::auth_basic::hash_password;
use cdr_server::http::auth_roles::ROLES;
use cdr_store::User;

const USAGE: &str = "\
usage: cdr user add <name> --roles r1,r2 [--full-name N] [--organisation O] [--team T]...
                    [--patient-id P] [--password-env VAR] [--data-dir D]
       cdr user passwd <name> [--password-env VAR] [--data-dir D]
       cdr user remove <name> [--data-dir D]
       cdr user list [--data-dir D]
  The password is the first line of standard input, or the value of VAR. Roles: admin,
  modeller, clinician, reader, analyst, patient, service. --team (repeated): the teams the
  user belongs to, whose grants are theirs.";

#[derive(Debug, Default)]
struct Args {
    command: String,
    name: Option<String>,
    roles: Vec<String>,
    full_name: Option<String>,
    organisation: Option<String>,
    teams: Vec<String>,
    patient_id: Option<String>,
    password_env: Option<String>,
    data_dir: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut a = Args {
        command: args.first().cloned().ok_or("no command given")?,
        ..Args::default()
    };
    let mut it = args[1..].iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--roles" => {
                a.roles = value("--roles")?
                    .split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "--full-name" => a.full_name = Some(value("--full-name")?),
            "--organisation" => a.organisation = Some(value("--organisation")?),
            "--team" => {
                let team = value("--team")?.trim().to_owned();
                if team.is_empty() {
                    return Err("--team needs a team name".into());
                }
                if !a.teams.contains(&team) {
                    a.teams.push(team);
                }
            }
            "--patient-id" => a.patient_id = Some(value("--patient-id")?),
            "--password-env" => a.password_env = Some(value("--password-env")?),
            "--data-dir" => a.data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--password" => {
                return Err(
                    "a password is not taken from the command line (other users can read it): \
                     give it on standard input or with --password-env VAR"
                        .into(),
                )
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if a.name.replace(s.to_owned()).is_some() {
                    return Err("give one user name".into());
                }
            }
        }
    }
    match a.command.as_str() {
        "add" | "passwd" | "remove" if a.name.is_none() => {
            Err(format!("cdr user {} needs a user name", a.command))
        }
        "add" if a.roles.is_empty() => Err("cdr user add needs --roles".into()),
        "add" | "passwd" | "remove" | "list" => {
            if let Some(r) = a.roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
                return Err(format!("unknown role '{r}'; roles: {}", ROLES.join(", ")));
            }
            Ok(a)
        }
        other => Err(format!("unknown command `{other}`")),
    }
}

/// The password: `--password-env`'s variable, else the first line of standard input.
fn password(args: &Args, input: &mut dyn BufRead) -> Result<String, String> {
    let password = match &args.password_env {
        Some(var) => std::env::var(var).map_err(|_| format!("the variable {var} is not set"))?,
        None => {
            let mut line = String::new();
            input
                .read_line(&mut line)
                .map_err(|e| format!("reading the password from standard input: {e}"))?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    match password.chars().count() {
        0..=7 => Err("the password must have at least 8 characters".into()),
        _ => Ok(password),
    }
}

/// Runs `cdr user …`.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr user: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let hash = match args.command.as_str() {
        "add" | "passwd" => {
            let stdin = std::io::stdin();
            match password(&args, &mut stdin.lock()).and_then(|p| hash_password(&p)) {
                Ok(h) => Some(h),
                Err(e) => {
                    let _ = writeln!(err, "cdr user: {e}");
                    return 2;
                }
            }
        }
        _ => None,
    };
    let (config, stop) = super::store_config(args.data_dir.clone());
    let runtime = match super::runtime("user", err) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let Some(store) = super::open_store("user", &config, err).await else {
            return 2;
        };
        let name = args.name.clone().unwrap_or_default();
        let done = match args.command.as_str() {
            "add" => {
                let user = User {
                    username: name.clone(),
                    password_hash: hash.clone().unwrap_or_default(),
                    full_name: args.full_name.clone(),
                    roles: args.roles.clone(),
                    organisation: args.organisation.clone(),
                    patient_id: args.patient_id.clone(),
                    teams: args.teams.clone(),
                };
                store.add_user(&user).await.map(|()| {
                    let _ = writeln!(out, "added {name} ({})", user.roles.join(", "));
                })
            }
            "passwd" => store
                .set_user_password(&name, &hash.clone().unwrap_or_default())
                .await
                .map(|()| {
                    let _ = writeln!(out, "changed the password of {name}");
                }),
            "remove" => store.remove_user(&name).await.map(|()| {
                let _ = writeln!(out, "removed {name}");
            }),
            _ => store.list_users().await.map(|users| {
                for u in users {
                    let _ = writeln!(
                        out,
                        "{}\troles={}\tname={}\torganisation={}\tteams={}\tpatient_id={}",
                        u.username,
                        u.roles.join(","),
                        u.full_name.unwrap_or_default(),
                        u.organisation.unwrap_or_default(),
                        u.teams.join(","),
                        u.patient_id.unwrap_or_default()
                    );
                }
            }),
        };
        let code = match done {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(err, "cdr user: {e}");
                1
            }
        };
        if stop {
            let _ = store.shutdown().await;
        }
        code
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn usage() {
        assert!(parse(&strings(&["add", "ann", "--roles", "clinician,reader"])).is_ok());
        assert!(parse(&strings(&["add", "ann"])).is_err());
        assert!(parse(&strings(&["add", "ann", "--roles", "superuser"])).is_err());
        let e = parse(&strings(&[
            "add",
            "ann",
            "--roles",
            "reader",
            "--password",
            "x",
        ]));
        assert!(e.err().unwrap().contains("standard input"));
        assert!(parse(&strings(&["list"])).is_ok());
        let teams = parse(&strings(&[
            "add", "ann", "--roles", "reader", "--team", "stroke", "--team", "ward-7", "--team",
            "stroke",
        ]))
        .unwrap();
        assert_eq!(teams.teams, ["stroke", "ward-7"]);
        assert!(parse(&strings(&[
            "add", "ann", "--roles", "reader", "--team", " "
        ]))
        .is_err());
        assert!(parse(&strings(&["passwd"])).is_err());
        assert!(parse(&strings(&["rename", "x"])).is_err());
    }

    #[test]
    fn password_from_standard_input() {
        let a = parse(&strings(&["passwd", "ann"])).unwrap();
        let mut input: &[u8] = b"long enough secret\nrest";
        assert_eq!(password(&a, &mut input).unwrap(), "long enough secret");
        let mut short: &[u8] = b"short\n";
        assert!(password(&a, &mut short).is_err());
    }
}
