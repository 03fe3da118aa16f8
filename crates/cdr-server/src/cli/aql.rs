//! `cdr aql`: runs one AQL query against the store and prints the RESULT_SET as JSON, or its
//! rows as CSV or NDJSON, streamed from the database (to standard output or `--output FILE`,
//! with a progress line on a terminal).

use std::io::Write;
use std::path::PathBuf;

use serde_json::{Map, Value};

use cdr_store::aql::{ExportFormat, ExportWriter, QueryLimits, QueryRequest};
use cdr_store::{AuditAction, AuditEvent, Principal, StoreError, TerminologyService};

struct Args {
    data_dir: Option<PathBuf>,
    query: String,
    params: Map<String, Value>,
    ehr_id: Option<uuid::Uuid>,
    explain: bool,
    /// The FHIR R4 terminology server for TERMINOLOGY() (or CDR_TERMINOLOGY_URL).
    terminology: Option<String>,
    /// `None`: the RESULT_SET as JSON.
    format: Option<ExportFormat>,
    output: Option<PathBuf>,
}

/// A `--param` value: JSON when it reads as JSON (numbers, booleans, quoted strings), else
/// the text itself.
fn param_value(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_) | Value::String(_))) => v,
        _ => Value::String(text.to_owned()),
    }
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut data_dir = None;
    let mut query = None;
    let mut params = Map::new();
    let mut ehr_id = None;
    let mut explain = false;
    let mut terminology = None;
    let mut format = None;
    let mut output = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--param" => {
                let p = value("--param")?;
                let (name, v) = p
                    .split_once('=')
                    .ok_or_else(|| format!("--param {p}: expected name=value"))?;
                params.insert(name.trim_start_matches('$').to_owned(), param_value(v));
            }
            "--ehr-id" => {
                let v = value("--ehr-id")?;
                ehr_id = Some(uuid::Uuid::parse_str(&v).map_err(|e| format!("--ehr-id {v}: {e}"))?);
            }
            "--explain" => explain = true,
            "--terminology-url" => terminology = Some(value("--terminology-url")?),
            "--format" => {
                format = match value("--format")?.to_ascii_lowercase().as_str() {
                    "json" => None,
                    "csv" => Some(ExportFormat::Csv),
                    "ndjson" => Some(ExportFormat::Ndjson),
                    other => return Err(format!("--format {other}: choose json, csv or ndjson")),
                }
            }
            "--output" => output = Some(PathBuf::from(value("--output")?)),
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            s => {
                if query.replace(s.to_owned()).is_some() {
                    return Err("give exactly one query (quote it)".into());
                }
            }
        }
    }
    Ok(Args {
        data_dir,
        query: query.ok_or("no query given")?,
        params,
        ehr_id,
        explain,
        terminology,
        format,
        output,
    })
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

pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = writeln!(err, "cdr aql: {e}\n\n{}", super::USAGE);
            return 2;
        }
    };
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
    let (config, stop) = super::store_config(args.data_dir);
    let runtime = match super::runtime("aql", err) {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async {
        let Some(store) = super::open_store("aql", &config, err).await else {
            return 2;
        };
        let terminology = args.terminology.clone().or_else(|| {
            std::env::var("CDR_TERMINOLOGY_URL")
                .ok()
                .filter(|v| !v.is_empty())
        });
        if let Some(url) = terminology {
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
        assert!(parse(&[]).is_err());
        assert!(parse(&["--param".into(), "x".into(), "q".into()]).is_err());
        let a = parse(&[
            "SELECT c FROM COMPOSITION c".into(),
            "--param".into(),
            "$n=3".into(),
        ])
        .unwrap();
        assert_eq!(a.params.get("n"), Some(&Value::from(3)));
    }
}
