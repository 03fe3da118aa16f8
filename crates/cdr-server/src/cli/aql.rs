//! `cdr aql`: runs one AQL query against the store and prints the RESULT_SET as JSON, or its
//! rows as CSV or NDJSON, streamed from the database (to standard output or `--output FILE`,
//! with a progress line on a terminal).

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Map, Value};

use cdr_store::aql::{ExportFormat, ExportWriter, QueryLimits, QueryRequest};
use cdr_store::{AuditAction, AuditEvent, Principal, StoreError, TerminologyService};

use super::Settings;

/// Runs one AQL query on the store
///
/// Runs one AQL query on the store (its managed PostgreSQL under --data-dir, default ./data,
/// or DATABASE_URL) and prints the RESULT_SET as JSON, or with --format csv|ndjson its rows
/// (CSV with a header row; NDJSON one object per row), streamed with no row limit.
/// --output FILE writes there instead (with a progress line on a terminal).
/// --explain prints the SQL instead.
/// Exit 1 for a malformed or unsupported query (the message names line and column).
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub(crate) struct AqlArgs {
    #[command(flatten)]
    store: super::StoreDir,
    /// Queries the EHR ID (the query's ehr_id parameter)
    #[arg(long, value_name = "ID")]
    ehr_id: Option<uuid::Uuid>,
    /// A query parameter (repeated): name=value, the value read as JSON when it is a number,
    /// boolean or quoted string, else as text
    #[arg(long, value_name = "name=value", value_parser = param)]
    param: Vec<(String, Value)>,
    /// The FHIR R4 terminology server (http://) that TERMINOLOGY() asks
    #[arg(long, env = "CDR_TERMINOLOGY_URL", value_name = "URL")]
    terminology_url: Option<String>,
    /// The output: json (the RESULT_SET), csv or ndjson (the rows) [default: json]
    #[arg(long, value_name = "json|csv|ndjson", value_parser = export_format)]
    format: Option<ExportFormatArg>,
    /// Writes to FILE instead of standard output
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Prints the SQL instead of running the query
    #[arg(long)]
    explain: bool,
    /// The query (quote it)
    #[arg(value_name = "query")]
    query: String,
}

/// `--format`: `None` for the RESULT_SET as JSON.
#[derive(Debug, Clone, Copy)]
struct ExportFormatArg(Option<ExportFormat>);

fn export_format(v: &str) -> Result<ExportFormatArg, String> {
    match v.to_ascii_lowercase().as_str() {
        "json" => Ok(ExportFormatArg(None)),
        "csv" => Ok(ExportFormatArg(Some(ExportFormat::Csv))),
        "ndjson" => Ok(ExportFormatArg(Some(ExportFormat::Ndjson))),
        other => Err(format!("{other}: choose json, csv or ndjson")),
    }
}

/// A `--param`: `name=value` (a leading `$` of the name dropped).
fn param(p: &str) -> Result<(String, Value), String> {
    let (name, v) = p
        .split_once('=')
        .ok_or_else(|| format!("{p}: expected name=value"))?;
    Ok((name.trim_start_matches('$').to_owned(), param_value(v)))
}

struct Args {
    data_dir: Option<PathBuf>,
    query: String,
    params: Map<String, Value>,
    ehr_id: Option<uuid::Uuid>,
    explain: bool,
    /// The FHIR R4 terminology server for TERMINOLOGY().
    terminology: Option<String>,
    /// `None`: the RESULT_SET as JSON.
    format: Option<ExportFormat>,
    output: Option<PathBuf>,
}

impl From<AqlArgs> for Args {
    fn from(a: AqlArgs) -> Args {
        Args {
            data_dir: a.store.data_dir,
            query: a.query,
            params: a.param.into_iter().collect(),
            ehr_id: a.ehr_id,
            explain: a.explain,
            terminology: a.terminology_url,
            format: a.format.and_then(|f| f.0),
            output: a.output,
        }
    }
}

/// A `--param` value: JSON when it reads as JSON (numbers, booleans, quoted strings), else
/// the text itself.
fn param_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(text.to_owned()),
    }
}

/// How long an export may run.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Writes the query's rows in `format` to `out`, a batch at a time; the number of rows.
async fn export(
    store: &cdr_store::Store,
    caller: &Principal,
    req: &QueryRequest<'_>,
    format: ExportFormat,
    out: &mut dyn Write,
    progress: &indicatif::ProgressBar,
) -> Result<u64, StoreError> {
    use futures_util::StreamExt;
    let limits = QueryLimits {
        timeout: EXPORT_TIMEOUT,
        default_rows: None,
        max_rows: None,
    };
    let rows = store.query_rows(caller, req, &limits).await?;
    let writer = ExportWriter::new(format, &rows.columns);
    let io = |e: std::io::Error| StoreError::BadRequest(format!("cannot write the rows: {e}"));
    out.write_all(&writer.header()).map_err(io)?;
    let mut batches = rows.ready_chunks(1024);
    let mut n = 0u64;
    while let Some(batch) = batches.next().await {
        let batch: Vec<_> = batch.into_iter().collect::<Result<_, _>>()?;
        out.write_all(&writer.rows(&batch)).map_err(io)?;
        n += batch.len() as u64;
        progress.set_position(n);
    }
    out.flush().map_err(io)?;
    Ok(n)
}

pub fn run(args: AqlArgs, settings: &Settings, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = Args::from(args);
    let req = QueryRequest {
        aql: &args.query,
        params: args.params.clone(),
        ehr_id: args.ehr_id,
        ..QueryRequest::default()
    };
    if args.explain {
        return match cdr_store::aql::compile_to_sql(&req, &QueryLimits::default()) {
            Ok((sql, n)) => {
                let _ = writeln!(out, "{sql}\n-- {n} parameters");
                0
            }
            Err(e) => {
                let _ = writeln!(err, "cdr aql: {e}");
                1
            }
        };
    }
    let (config, stop) = super::store_config(args.data_dir, settings);
    let runtime = match super::runtime("aql", err) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let Some(store) = super::open_store("aql", &config, err).await else {
            return 2;
        };
        if let Some(url) = args.terminology.clone() {
            match TerminologyService::new(&url) {
                Ok(t) => {
                    store.use_terminology(t);
                }
                Err(e) => {
                    let _ = writeln!(err, "cdr aql: {e}");
                    let _ = store.shutdown().await;
                    return 2;
                }
            }
        }
        let caller = cli_caller();
        let mut file = match &args.output {
            Some(path) => match std::fs::File::create(path) {
                Ok(f) => Some(std::io::BufWriter::new(f)),
                Err(e) => {
                    let _ = writeln!(err, "cdr aql: {}: {e}", path.display());
                    let _ = store.shutdown().await;
                    return 2;
                }
            },
            None => None,
        };
        let sink: &mut dyn Write = match &mut file {
            Some(f) => f,
            None => &mut *out,
        };
        // Rows and rate on standard error while writing to a file (drawn only on a terminal).
        let progress = match args.output.is_some() {
            true => indicatif::ProgressBar::new_spinner().with_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos} rows, {per_sec}, {elapsed}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            ),
            false => indicatif::ProgressBar::hidden(),
        };
        progress.enable_steady_tick(std::time::Duration::from_millis(200));
        let result = match args.format {
            Some(format) => export(&store, &caller, &req, format, sink, &progress)
                .await
                .map(|n| {
                    progress.finish_and_clear();
                    if args.output.is_some() {
                        let _ = writeln!(err, "cdr aql: {n} rows");
                    }
                    None
                }),
            None => store
                .query(&caller, &req, &QueryLimits::default())
                .await
                .map(Some),
        };
        progress.finish_and_clear();
        // The query is audited like one sent over HTTP, as the local operator's.
        let mut event = AuditEvent::new(&caller, AuditAction::Query);
        event.success = result.is_ok();
        event.ehr_id = args.ehr_id;
        event.resource = Some("cdr aql".into());
        event.query = Some(args.query.clone());
        event.query_params = Some(Value::Object(args.params.clone()).to_string());
        store.record(event).await;
        if let Err(e) = store.flush_audit().await {
            let _ = writeln!(err, "cdr aql: the query's audit event: {e}");
        }
        let code = match result {
            Ok(Some(rs)) => match writeln!(sink, "{}", rs.to_json_string()) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = writeln!(err, "cdr aql: cannot write the result: {e}");
                    2
                }
            },
            Ok(None) => 0,
            Err(e @ StoreError::Query { .. }) => {
                let _ = writeln!(err, "cdr aql: {e}");
                1
            }
            Err(e) => {
                let _ = writeln!(err, "cdr aql: {e}");
                2
            }
        };
        if stop {
            let _ = store.shutdown().await;
        }
        code
    })
}

/// The local operator: an admin, named after the account that runs the command.
fn cli_caller() -> Principal {
    let user = std::env::var("USER").unwrap_or_default();
    Principal {
        name: Some(format!("cdr aql ({user})")),
        ..Principal::local()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_read_as_json_or_text() {
        assert_eq!(param_value("42"), Value::from(42));
        assert_eq!(param_value("true"), Value::Bool(true));
        assert_eq!(param_value("\"x y\""), Value::from("x y"));
        assert_eq!(param_value("abc"), Value::from("abc"));
        assert_eq!(param_value("{\"a\":1}"), Value::from("{\"a\":1}"));
    }

    #[test]
    fn usage_errors() {
        use clap::Parser;
        let parse = |args: &[&str]| {
            let argv = ["cdr", "aql"].iter().chain(args);
            let cli = super::super::Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
            match cli.command {
                super::super::Command::Aql(a) => Ok::<_, String>(Args::from(a)),
                _ => panic!("not aql"),
            }
        };
        assert!(parse(&[]).is_err());
        assert!(parse(&["--param", "x", "q"]).is_err());
        assert!(parse(&["q1", "q2"]).is_err());
        let a = parse(&["SELECT c FROM COMPOSITION c", "--param", "$n=3"]).unwrap();
        assert_eq!(a.params.get("n"), Some(&Value::from(3)));
        let a = parse(&["q", "--format", "CSV", "--param", "a=x", "--param", "b=1"]).unwrap();
        assert!(matches!(a.format, Some(ExportFormat::Csv)));
        assert_eq!(a.params.len(), 2);
        assert!(parse(&["q", "--format", "xml"]).is_err());
        assert!(parse(&["q", "--ehr-id", "not-a-uuid"]).is_err());
    }
}
