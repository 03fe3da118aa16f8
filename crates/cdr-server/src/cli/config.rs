//! The configuration file, `cdr.toml`: the options of `cdr serve` by their long names (with
//! `_` or `-`: `data_dir = "/var/lib/cdr"`, `oidc_audience = ["a", "b"]`), and `database_url`.
//! It is `--config FILE` (or `CDR_CONFIG`), else `./cdr.toml` when that exists; serve and the
//! commands that open a store read it (`READERS`), each taking the keys that are options of its
//! own. A value of the file becomes the option's default, so the command line and then the
//! environment win over it. The file is only read, never written (it may hold a password in
//! `database_url`). An unknown key or a value of the wrong type is an error naming the file,
//! the line and the key.

use std::path::{Path, PathBuf};

use clap::parser::ArgMatches;
use clap::{ArgAction, Command};
use toml::de::{DeTable, DeValue};

use super::Settings;

/// The commands that read the configuration file.
const READERS: &[&str] = &[
    "serve", "user", "aql", "import", "backup", "restore", "audit",
];

/// The command whose options are the file's keys.
const KEYS_OF: &str = "serve";

/// A key that is no option: the database server (the environment's `DATABASE_URL` wins).
const DATABASE_URL: &str = "database_url";

/// The file's name when `--config` is not given.
const DEFAULT_FILE: &str = "cdr.toml";

/// A value of the file, as the option takes it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Flag(bool),
    One(String),
    Many(Vec<String>),
}

/// The command-line `matches` again with the configuration file's values as defaults, and the
/// file's settings beyond options; unchanged when the command does not read the file or there
/// is none. The outer error says why the file is not usable; the inner one is clap's about
/// the command line with the file's values.
pub(super) fn apply(
    cmd: Command,
    matches: ArgMatches,
    argv: &[String],
) -> Result<Result<(ArgMatches, Settings), clap::Error>, String> {
    let path = subcommands(&matches);
    if !path.first().is_some_and(|p| READERS.contains(&p.as_str())) {
        return Ok(Ok((matches, Settings::default())));
    }
    let file = match matches.get_one::<PathBuf>("config") {
        Some(f) => f.clone(),
        None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
        None => return Ok(Ok((matches, Settings::default()))),
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        format!(
            "{}: cannot read the configuration file: {e}",
            file.display()
        )
    })?;
    let keys = cmd
        .find_subcommand(KEYS_OF)
        .expect("the command whose options are the file's keys");
    let (values, settings) = read(&file.display().to_string(), &text, keys)?;
    let cmd = with_defaults(cmd, &path, &values);
    Ok(cmd.try_get_matches_from(argv).map(|m| (m, settings)))
}

/// The names of the subcommands matched, outermost first.
fn subcommands(matches: &ArgMatches) -> Vec<String> {
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        path.push(name.to_owned());
        m = sub;
    }
    path
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The TOML type's name, for messages.
fn type_name(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A string, or an integer as its decimal text.
fn scalar(v: &DeValue<'_>) -> Option<String> {
    match v {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) if i.radix() == 10 => Some(i.as_str().replace('_', "")),
        _ => None,
    }
}

/// The file's values by option id (the long name with `_`), checked against the options of
/// `keys`; and its settings beyond options. `name` is the file's name for messages.
fn read(
    name: &str,
    text: &str,
    keys: &Command,
) -> Result<(Vec<(String, Value)>, Settings), String> {
    let table = DeTable::parse(text).map_err(|e| match e.span() {
        Some(span) => {
            let line = line_of(text, span.start);
            let start_of_line = text[..span.start.min(text.len())]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let column = text[start_of_line..span.start.min(text.len())]
                .chars()
                .count()
                + 1;
            format!("{name}:{line}:{column}: {}", e.message().trim_end())
        }
        None => format!("{name}: {}", e.message().trim_end()),
    })?;
    let mut values: Vec<(String, Value)> = Vec::new();
    let mut settings = Settings::default();
    let mut entries: Vec<_> = table.get_ref().iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let line = line_of(text, key.span().start);
        let id = key.get_ref().replace('-', "_");
        let at = |what: String| format!("{name}:{line}: `{}`: {what}", key.get_ref());
        if values.iter().any(|(k, _)| *k == id)
            || (id == DATABASE_URL && settings.database_url.is_some())
        {
            return Err(at("given twice (as `_` and `-`)".into()));
        }
        let value = value.get_ref();
        if id == DATABASE_URL {
            match value {
                DeValue::String(s) => settings.database_url = Some(s.to_string()),
                other => return Err(at(format!("expected a string, found {}", type_name(other)))),
            }
            continue;
        }
        let arg = keys
            .get_arguments()
            .find(|a| a.get_id().as_str() == id && a.get_long().is_some())
            .ok_or_else(|| {
                at(format!(
                    "unknown key (the keys are the long options of `cdr {KEYS_OF}` and `{DATABASE_URL}`)"
                ))
            })?;
        let given = match (arg.get_action(), value) {
            (ArgAction::SetTrue, DeValue::Boolean(b)) => Value::Flag(*b),
            (ArgAction::SetTrue, other) => {
                return Err(at(format!(
                    "expected a boolean, found {}",
                    type_name(other)
                )))
            }
            (ArgAction::Append, DeValue::Array(items)) => Value::Many(
                items
                    .iter()
                    .map(|i| {
                        scalar(i.get_ref()).ok_or_else(|| {
                            format!(
                                "{name}:{}: `{}`: expected strings, found {}",
                                line_of(text, i.span().start),
                                key.get_ref(),
                                type_name(i.get_ref())
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            (ArgAction::Append, other) => Value::Many(vec![scalar(other).ok_or_else(|| {
                at(format!(
                    "expected a string or an array of strings, found {}",
                    type_name(other)
                ))
            })?]),
            (_, other) => Value::One(
                scalar(other)
                    .ok_or_else(|| at(format!("expected a string, found {}", type_name(other))))?,
            ),
        };
        values.push((id, given));
    }
    Ok((values, settings))
}

/// `cmd` with the file's `values` as the defaults of the options of the subcommand at `path`
/// that have them.
fn with_defaults(cmd: Command, path: &[String], values: &[(String, Value)]) -> Command {
    if let Some((first, rest)) = path.split_first() {
        return cmd.mut_subcommand(first, |sub| with_defaults(sub, rest, values));
    }
    let mut cmd = cmd;
    for (id, value) in values {
        if !cmd.get_arguments().any(|a| a.get_id().as_str() == id) {
            continue;
        }
        let value = value.clone();
        cmd = cmd.mut_arg(id, |a| match value {
            Value::Flag(b) => a.default_value(if b { "true" } else { "false" }),
            Value::One(s) => a.default_value(s),
            Value::Many(v) => a.default_values(v),
        });
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve() -> Command {
        super::super::command()
            .find_subcommand(KEYS_OF)
            .unwrap()
            .clone()
    }

    #[test]
    fn keys_with_either_separator_and_their_types() {
        let text = "bind = \"0.0.0.0:1\"\nlog-format = \"json\"\noidc_audience = [\"a\", \"b\"]\n\
                    insecure_no_auth = true\nslow_query_ms = 1_500\ncors_origin = \"https://x\"\n\
                    database_url = \"postgres://u:p@h/db\"\n";
        let (values, settings) = read("cdr.toml", text, &serve()).unwrap();
        let get = |k: &str| {
            values
                .iter()
                .find(|(id, _)| id == k)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("bind"), Some(Value::One("0.0.0.0:1".into())));
        assert_eq!(get("log_format"), Some(Value::One("json".into())));
        assert_eq!(
            get("oidc_audience"),
            Some(Value::Many(vec!["a".into(), "b".into()]))
        );
        assert_eq!(get("insecure_no_auth"), Some(Value::Flag(true)));
        assert_eq!(get("slow_query_ms"), Some(Value::One("1500".into())));
        assert_eq!(
            get("cors_origin"),
            Some(Value::Many(vec!["https://x".into()]))
        );
        assert_eq!(
            settings.database_url.as_deref(),
            Some("postgres://u:p@h/db")
        );
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_file_line_and_key() {
        let cases = [
            (
                "bind = \"x\"\n\nbnid = \"y\"\n",
                "my.toml:3: `bnid`: unknown key",
            ),
            (
                "\nbind = 8080.5\n",
                "my.toml:2: `bind`: expected a string, found a float",
            ),
            (
                "insecure_no_auth = \"yes\"\n",
                "my.toml:1: `insecure_no_auth`: expected a boolean, found a string",
            ),
            (
                "flag_template = [\n  \"a\",\n  true,\n]\n",
                "my.toml:3: `flag_template`: expected strings, found a boolean",
            ),
            (
                "database_url = 5\n",
                "my.toml:1: `database_url`: expected a string",
            ),
            ("[serve]\nbind = \"x\"\n", "my.toml:1: `serve`: unknown key"),
            (
                "data_dir = \"a\"\ndata-dir = \"b\"\n",
                "my.toml:2: `data-dir`: given twice",
            ),
        ];
        for (text, want) in cases {
            let e = read("my.toml", text, &serve()).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        let e = read("my.toml", "bind = \n", &serve()).unwrap_err();
        assert!(e.starts_with("my.toml:1:"), "{e}");
    }

    /// README's example file reads without an error.
    #[test]
    fn the_readme_example_reads() {
        let readme = include_str!("../../../../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|r| r.split("```").next())
            .expect("README has a ```toml example");
        let (values, _) = read("README.md", example, &serve()).unwrap();
        assert!(values.len() > 5, "{values:?}");
        let uncommented = example.replace("# database_url", "database_url");
        let (_, settings) = read("README.md", &uncommented, &serve()).unwrap();
        assert!(settings.database_url.is_some());
    }
}
