//! `cdr user add|passwd|remove|list`: the users of `cdr serve --auth basic`. Passwords are
//! read from standard input (the first line) or from the environment variable named by
//! `--password-env`, never from the command line, and stored as argon2id hashes.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use cdr_server::http::auth_basic::hash_password;
use cdr_server::http::auth_roles::ROLES;
use cdr_store::User;

use super::Settings;

/// Manages the users of --auth basic
///
/// Manages the users of `cdr serve --auth basic` in the store (--data-dir, default ./data, or
/// DATABASE_URL). The password is the first line of standard input, or the variable named by
/// --password-env, never the command line; it is stored as an argon2id hash.
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(clap::Subcommand, Debug)]
enum UserCommand {
    /// Adds a user
    ///
    /// Adds a user with roles (admin, modeller, clinician, reader, analyst, patient, service).
    /// --team (repeated): the teams the user belongs to, whose grants are theirs.
    #[command(verbatim_doc_comment)]
    Add {
        /// The user name
        name: String,
        /// The user's roles (commas)
        #[arg(long, value_name = "R[,R…]", required = true)]
        roles: String,
        /// The user's full name
        #[arg(long, value_name = "N")]
        full_name: Option<String>,
        /// The user's organisation
        #[arg(long, value_name = "O")]
        organisation: Option<String>,
        /// A team the user belongs to (repeated)
        #[arg(long, value_name = "T")]
        team: Vec<String>,
        /// The subject id of a patient user's own EHR
        #[arg(long, value_name = "P")]
        patient_id: Option<String>,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        store: super::StoreDir,
    },
    /// Changes a user's password
    Passwd {
        /// The user name
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        #[command(flatten)]
        store: super::StoreDir,
    },
    /// Removes a user
    Remove {
        /// The user name
        name: String,
        #[command(flatten)]
        store: super::StoreDir,
    },
    /// Lists the users
    List {
        #[command(flatten)]
        store: super::StoreDir,
    },
}

#[derive(clap::Args, Debug)]
struct PasswordArgs {
    /// Reads the password from the environment variable VAR instead of standard input
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Refused: a password is not taken from the command line
    #[arg(long, hide = true)]
    password: Option<String>,
}

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

/// The user command's arguments, checked.
fn settle(args: UserArgs) -> Result<Args, String> {
    let with_password = |a: Args, p: PasswordArgs| {
        if p.password.is_some() {
            return Err(
                "a password is not taken from the command line (other users can read it): \
                 give it on standard input or with --password-env VAR"
                    .to_owned(),
            );
        }
        Ok(Args {
            password_env: p.password_env,
            ..a
        })
    };
    match args.command {
        UserCommand::Add {
            name,
            roles,
            full_name,
            organisation,
            team,
            patient_id,
            password,
            store,
        } => {
            let roles: Vec<String> = roles
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect();
            if roles.is_empty() {
                return Err("cdr user add needs --roles".into());
            }
            if let Some(r) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
                return Err(format!("unknown role '{r}'; roles: {}", ROLES.join(", ")));
            }
            let mut teams: Vec<String> = Vec::new();
            for t in team {
                let t = t.trim().to_owned();
                if t.is_empty() {
                    return Err("--team needs a team name".into());
                }
                if !teams.contains(&t) {
                    teams.push(t);
                }
            }
            let a = Args {
                command: "add".into(),
                name: Some(name),
                roles,
                full_name,
                organisation,
                teams,
                patient_id,
                data_dir: store.data_dir,
                ..Args::default()
            };
            with_password(a, password)
        }
        UserCommand::Passwd {
            name,
            password,
            store,
        } => {
            let a = Args {
                command: "passwd".into(),
                name: Some(name),
                data_dir: store.data_dir,
                ..Args::default()
            };
            with_password(a, password)
        }
        UserCommand::Remove { name, store } => Ok(Args {
            command: "remove".into(),
            name: Some(name),
            data_dir: store.data_dir,
            ..Args::default()
        }),
        UserCommand::List { store } => Ok(Args {
            command: "list".into(),
            data_dir: store.data_dir,
            ..Args::default()
        }),
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
pub fn run(args: UserArgs, settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match settle(args) {
        Ok(a) => a,
        Err(e) => return super::usage(err, "cdr user", &e),
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
    let (config, stop) = super::store_config(args.data_dir.clone(), settings);
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

    fn parse(args: &[&str]) -> Result<Args, String> {
        use clap::Parser;
        let argv = ["cdr", "user"].iter().chain(args);
        let cli = super::super::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            super::super::Command::User(a) => settle(a),
            _ => panic!("not user"),
        }
    }

    #[test]
    fn usage() {
        assert!(parse(&["add", "ann", "--roles", "clinician,reader"]).is_ok());
        assert!(parse(&["add", "ann"]).is_err());
        assert!(parse(&["add", "ann", "--roles", "superuser"]).is_err());
        assert!(parse(&["add", "ann", "--roles", " , "]).is_err());
        let e = parse(&["add", "ann", "--roles", "reader", "--password", "x"]);
        assert!(e.err().unwrap().contains("standard input"));
        assert!(parse(&["list"]).is_ok());
        let teams = parse(&[
            "add", "ann", "--roles", "reader", "--team", "stroke", "--team", "ward-7", "--team",
            "stroke",
        ])
        .unwrap();
        assert_eq!(teams.teams, ["stroke", "ward-7"]);
        assert!(parse(&["add", "ann", "--roles", "reader", "--team", " "]).is_err());
        assert!(parse(&["passwd"]).is_err());
        assert!(parse(&["rename", "x"]).is_err());
    }

    #[test]
    fn password_from_standard_input() {
        let a = parse(&["passwd", "ann"]).unwrap();
        let mut input: &[u8] = b"long enough secret\nrest";
        assert_eq!(password(&a, &mut input).unwrap(), "long enough secret");
        let mut short: &[u8] = b"short\n";
        assert!(password(&a, &mut short).is_err());
    }
}
