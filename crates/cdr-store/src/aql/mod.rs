//! AQL execution: parse (cdr-aql) → bind (cdr-aql-bind) → print one parameterised SQL
//! statement ([`compile`]) → run in a read-only transaction under a statement timeout →
//! RESULT_SET.
//!
//! What a query means is written down in `crates/cdr-aql/SEMANTICS.md`.

mod cells;
mod compile;
mod error;
mod export;
mod functions;
mod jsonpath;

use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use std::collections::HashMap;

use cdr_aql::ast::{
    ColumnExpr, MatchesOperand, Operand, Parameter, TerminologyCall, WhereExpr, WhereKind,
};
use cdr_aql::Spanned;

use crate::error::{Result as StoreResult, StoreError};
use crate::ids::Principal;
use crate::store::Store;

pub use error::QueryError;
pub use export::{ExportFormat, ExportWriter};

/// One AQL request.
#[derive(Debug, Clone, Default)]
pub struct QueryRequest<'a> {
    pub aql: &'a str,
    /// `$name` parameter values, by name without the `$`.
    pub params: Map<String, Value>,
    /// Binds the query to one EHR (the REST `ehr_id` parameter).
    pub ehr_id: Option<Uuid>,
    /// Rows to return when the query has no LIMIT (REST `fetch`).
    pub fetch: Option<u64>,
    /// Rows to skip when the query has no LIMIT (REST `offset`).
    pub offset: Option<u64>,
}

/// Guard rails for queries.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// Statement timeout of each query.
    pub timeout: Duration,
    /// Rows returned when neither the query nor the request says.
    pub default_rows: Option<u64>,
    /// Never more rows than this.
    pub max_rows: Option<u64>,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(30),
            default_rows: None,
            max_rows: Some(100_000),
        }
    }
}

/// A RESULT_SET column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    /// The alias, or `#i` for the i-th unaliased column.
    pub name: String,
    /// The column's expression as canonical AQL.
    pub path: String,
    /// Whether the column is a path (only a path column's RESULT_SET column has `path`; an
    /// aggregate, a literal or a function has none, as EHRbase answers).
    pub is_path: bool,
}

/// The answer to a query.
#[derive(Debug)]
pub struct ResultSet {
    /// The stored query's qualified name (`name` of the RESULT_SET); `None` for ad hoc queries.
    pub name: Option<String>,
    /// The URL of the executed query (`meta._href`), set by the caller that knows it.
    pub href: Option<String>,
    /// The software that answered (`meta._generator`, e.g. `cdr/1.0.0`), set by the caller.
    pub generator: Option<String>,
    /// When the result was made (`meta._created`, ISO 8601).
    pub created: String,
    /// The query text as executed (`q` and `meta._executed_aql`).
    pub q: String,
    /// The paging applied (`meta.fetch`, `meta.offset`): the query's own LIMIT (or TOP) and
    /// OFFSET, else the request's `fetch` and `offset` when it gave any.
    pub fetch: Option<u64>,
    pub offset: Option<u64>,
    pub columns: Vec<ResultColumn>,
    /// Each cell is JSON text: whole RM objects as stored canonical JSON, values as JSON.
    pub rows: Vec<Vec<Box<RawValue>>>,
    /// The size of the whole result when `rows` is a page of it (`meta.resultsize`); `None`
    /// when the rows are the whole result.
    pub total: Option<u64>,
}

impl ResultSet {
    /// The RESULT_SET JSON of the REST API. Whole RM objects in cells leave `_type` out where
    /// EHRbase does (see `cells.rs`); [`values`](Self::values) gives them as stored.
    pub fn to_json_string(&self) -> String {
        let string = |v: &str| Value::String(v.to_owned()).to_string();
        let mut s = String::with_capacity(256 + self.rows.len() * 64);
        s.push_str("{\"meta\":{");
        if let Some(href) = &self.href {
            s.push_str(&format!("\"_href\":{},", string(href)));
        }
        s.push_str("\"_type\":\"RESULTSET\",\"_schema_version\":\"1.0.0\",\"_created\":");
        s.push_str(&string(&self.created));
        if let Some(generator) = &self.generator {
            s.push_str(&format!(",\"_generator\":{}", string(generator)));
        }
        s.push_str(",\"_executed_aql\":");
        s.push_str(&string(&self.q));
        // Paging as EHRbase reports it: an offset (0 unless given) whenever a fetch is given.
        if let Some(fetch) = self.fetch {
            s.push_str(&format!(",\"fetch\":{fetch}"));
        }
        if self.fetch.is_some() || self.offset.is_some() {
            s.push_str(&format!(",\"offset\":{}", self.offset.unwrap_or(0)));
        }
        // The whole result's size; the page is in fetch and offset.
        let size = self.total.unwrap_or(self.rows.len() as u64);
        s.push_str(&format!(",\"resultsize\":{size}}},"));
        if let Some(name) = &self.name {
            s.push_str(&format!("\"name\":{},", string(name)));
        }
        s.push_str("\"q\":");
        s.push_str(&string(&self.q));
        s.push_str(",\"columns\":[");
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{{\"name\":{}", string(&c.name)));
            if c.is_path {
                s.push_str(&format!(",\"path\":{}", string(&c.path)));
            }
            s.push('}');
        }
        s.push_str("],\"rows\":[");
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('[');
            for (j, cell) in row.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                cells::write_cell(&mut s, cell.get());
            }
            s.push(']');
        }
        s.push_str("]}");
        s
    }

    /// The rows as JSON values (for tests and tools).
    pub fn values(&self) -> Vec<Vec<Value>> {
        self.rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| serde_json::from_str(c.get()).unwrap_or(Value::Null))
                    .collect()
            })
            .collect()
    }
}

/// What compilation reads besides the query.
pub(crate) struct Inputs<'a> {
    pub params: &'a Map<String, Value>,
    pub ehr_id: Option<Uuid>,
    pub fetch: Option<u64>,
    pub offset: Option<u64>,
    pub default_limit: Option<u64>,
    pub max_rows: Option<u64>,
    /// Values of the query's TERMINOLOGY() calls, by their canonical text.
    pub terminology: &'a HashMap<String, Value>,
    /// The caller's access predicate (none for an admin).
    pub access: Option<&'a crate::access::Filter>,
}

impl Inputs<'_> {
    pub fn param(&self, p: &Parameter) -> Result<&Value, QueryError> {
        self.params
            .get(&p.name)
            .ok_or_else(|| QueryError::at(p.span(), format!("parameter ${} has no value", p.name)))
    }
}

/// Binds a parsed query to its parameters and TERMINOLOGY() values.
fn bind<'q>(
    ast: &'q cdr_aql::Query,
    params: &Map<String, Value>,
    terminology: &HashMap<String, Value>,
) -> Result<cdr_aql_bind::BoundQuery<'q>, QueryError> {
    let terminology = |t: &TerminologyCall| {
        terminology
            .get(&t.to_string())
            .cloned()
            .ok_or_else(|| NO_TERMINOLOGY.to_owned())
    };
    let bind_inputs = cdr_aql_bind::Inputs {
        params,
        terminology: &terminology,
    };
    cdr_aql_bind::bind(ast, &bind_inputs).map_err(|e| QueryError {
        message: e.message,
        span: e.span,
    })
}

/// Binds and compiles a parsed query.
fn compile(ast: &cdr_aql::Query, inputs: &Inputs) -> Result<compile::Compiled, QueryError> {
    let bound = bind(ast, inputs.params, inputs.terminology)?;
    compile::compile(&bound, inputs)
}

/// The one EHR a query is bound to, by the request's `ehr_id` and by the query itself
/// (`EHR e[ehr_id/value = X]`, a top-level `e/ehr_id/value = X`, X a literal or a parameter):
/// `Some` only when every binding names the same EHR. `None` for a query over the population,
/// and for bindings that name different EHRs or no EHR id at all (such a query answers no
/// rows).
fn bound_ehr(request: Option<Uuid>, query: &[Value]) -> Option<Uuid> {
    let mut ids = request.into_iter().map(Some).chain(
        query
            .iter()
            .map(|v| v.as_str().and_then(crate::ids::parse_uuid)),
    );
    let first = ids.next()??;
    ids.all(|id| id == Some(first)).then_some(first)
}

fn query_error(text: &str, e: QueryError) -> StoreError {
    let (line, column) = match e.span {
        Some(span) => {
            let lc = span.line_col(text);
            (lc.line, lc.column)
        }
        None => (0, 0),
    };
    StoreError::Query {
        message: e.message,
        line,
        column,
    }
}

/// Compiles a query without running it: the SQL text and its parameters rendered for
/// inspection (tests and `cdr aql --explain`).
pub fn compile_to_sql(
    req: &QueryRequest<'_>,
    limits: &QueryLimits,
) -> StoreResult<(String, usize)> {
    let ast = parse(req.aql)?;
    let none = HashMap::new();
    let inputs = inputs(req, limits, &none, None);
    let c = compile(&ast, &inputs).map_err(|e| query_error(req.aql, e))?;
    Ok((c.sql, c.params.len()))
}

/// Checks that a query parses (stored queries are checked when they are stored).
pub(crate) fn check_syntax(text: &str) -> StoreResult<()> {
    parse(text).map(|_| ())
}

fn parse(text: &str) -> StoreResult<cdr_aql::Query> {
    cdr_aql::parse(text).map_err(|e| StoreError::Query {
        message: e.kind.to_string(),
        line: e.line,
        column: e.column,
    })
}

fn inputs<'a>(
    req: &'a QueryRequest<'_>,
    limits: &QueryLimits,
    terminology: &'a HashMap<String, Value>,
    access: Option<&'a crate::access::Filter>,
) -> Inputs<'a> {
    Inputs {
        terminology,
        access,
        params: &req.params,
        ehr_id: req.ehr_id,
        fetch: req.fetch,
        offset: req.offset,
        default_limit: limits.default_rows,
        max_rows: limits.max_rows,
    }
}

/// The paging a RESULT_SET reports: the query's LIMIT (or TOP) with its OFFSET (0 when not
/// written), which the compiler applies instead of the request's `fetch` and `offset`; else
/// those, as given.
fn paging(ast: &cdr_aql::ast::Query, req: &QueryRequest<'_>) -> (Option<u64>, Option<u64>) {
    match (&ast.limit, &ast.select.top) {
        (Some(limit), _) => (Some(limit.row_count), Some(limit.offset.unwrap_or(0))),
        (None, Some(top)) => (Some(top.count), Some(0)),
        (None, None) => (req.fetch, req.offset),
    }
}

/// Prepared statements kept per query connection before the cache is emptied.
const STATEMENT_CACHE_MAX: usize = 256;

/// A query ready to run: its syntax tree, the SQL and a connection of the query pool whose
/// session has the query's settings.
struct Ready {
    ast: std::sync::Arc<cdr_aql::Query>,
    compiled: compile::Compiled,
    client: deadpool_postgres::Object,
    /// Whether the connection is the read replica's.
    on_replica: bool,
    /// The session settings still to send with the query (`None` when the connection has
    /// them already).
    settings: Option<String>,
}

impl Ready {
    /// Runs `work` on the connection, with the session settings sent first in the same round
    /// trip when the connection does not have them yet.
    async fn with_settings<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, tokio_postgres::Error> {
        match &self.settings {
            None => work.await,
            Some(settings) => {
                let (set, out) =
                    futures_util::future::join(self.client.batch_execute(settings), work).await;
                set?;
                out
            }
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.compiled
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    /// The RESULT_SET columns.
    fn columns(&self) -> Vec<ResultColumn> {
        self.compiled
            .columns
            .iter()
            .zip(&self.ast.select.columns)
            .map(|((name, path), c)| ResultColumn {
                name: name.clone(),
                path: path.clone(),
                is_path: matches!(c.expr, ColumnExpr::Path(_)),
            })
            .collect()
    }
}

/// A row's cells as JSON text.
fn cells(row: &tokio_postgres::Row, width: usize) -> StoreResult<Vec<Box<RawValue>>> {
    let mut cells = Vec::with_capacity(width);
    for i in 0..width {
        let text: Option<String> = row.get(i);
        let raw = RawValue::from_string(text.unwrap_or_else(|| "null".into()))
            .map_err(|e| StoreError::BadRequest(format!("result cell: {e}")))?;
        cells.push(raw);
    }
    Ok(cells)
}

/// The rows of a query as they come from the database (see [`Store::query_rows`]); the
/// connection stays with the stream until it ends or is dropped.
pub struct RowStream {
    /// The result's columns.
    pub columns: Vec<ResultColumn>,
    rows: std::pin::Pin<Box<tokio_postgres::RowStream>>,
    width: usize,
    text: String,
    _client: deadpool_postgres::Object,
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowStream")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

impl futures_util::Stream for RowStream {
    type Item = StoreResult<Vec<Box<RawValue>>>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.rows.as_mut().poll_next(cx).map(|row| {
            row.map(|r| match r {
                Ok(row) => cells(&row, this.width),
                Err(e) => Err(run_error(&this.text, e)),
            })
        })
    }
}

impl Store {
    /// Runs an AQL query (on the read replica when `replica.rs` says it may; again on the
    /// primary when the replica fails it).
    pub async fn query(
        &self,
        caller: &Principal,
        req: &QueryRequest<'_>,
        limits: &QueryLimits,
    ) -> StoreResult<ResultSet> {
        self.with_fallback(caller, req, limits, |ready| self.run_ready(ready, req))
            .await
    }

    /// Makes the query ready and runs it with `run`; when it ran on the replica and the
    /// replica failed it, again on the primary.
    async fn with_fallback<T, F: std::future::Future<Output = StoreResult<T>>>(
        &self,
        caller: &Principal,
        req: &QueryRequest<'_>,
        limits: &QueryLimits,
        run: impl Fn(Ready) -> F,
    ) -> StoreResult<T> {
        let ready = self.ready(caller, req, limits, Purpose::Run).await?;
        let on_replica = ready.on_replica;
        match run(ready).await {
            Err(e) if self.retry_on_primary(on_replica, &e) => {
                let again = self.ready(caller, req, limits, Purpose::Run);
                run(crate::replica::reading_from_primary(again).await?).await
            }
            out => out,
        }
    }

    async fn run_ready(&self, ready: Ready, req: &QueryRequest<'_>) -> StoreResult<ResultSet> {
        let (rows, total) = {
            let params = ready.params();
            let run = async {
                let stmt = ready.client.prepare_cached(&ready.compiled.sql).await?;
                ready.client.query(&stmt, &params).await
            };
            // The whole result's size, counted beside the page (the client pipelines the
            // statements on the connection).
            let count = async {
                match &ready.compiled.count_sql {
                    None => Ok(None),
                    Some(sql) => {
                        let stmt = ready.client.prepare_cached(sql).await?;
                        let row = ready
                            .client
                            .query_one(&stmt, &params[..ready.compiled.count_params])
                            .await?;
                        Ok(Some(row.get::<_, i64>(0)))
                    }
                }
            };
            ready
                .with_settings(async {
                    let (rows, total) = futures_util::future::join(run, count).await;
                    Ok((rows?, total?))
                })
                .await
                .map_err(|e| run_error(req.aql, e))?
        };
        let width = ready.compiled.columns.len();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(cells(&row, width)?);
        }
        let (fetch, offset) = paging(&ready.ast, req);
        Ok(ResultSet {
            name: None,
            href: None,
            generator: None,
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
            q: req.aql.to_owned(),
            fetch,
            offset,
            columns: ready.columns(),
            rows: out,
            total: total.map(|n| n.max(0) as u64),
        })
    }

    /// Runs an AQL query and answers its rows as a stream, read from the database as they are
    /// consumed (memory stays constant whatever the size of the result). The paging and row
    /// limits of `limits` apply as to [`query`](Self::query); an export passes none.
    pub async fn query_rows(
        &self,
        caller: &Principal,
        req: &QueryRequest<'_>,
        limits: &QueryLimits,
    ) -> StoreResult<RowStream> {
        self.with_fallback(caller, req, limits, |ready| stream_ready(ready, req))
            .await
    }

    /// The plan PostgreSQL makes for a query as `caller` (`EXPLAIN (SUMMARY, FORMAT JSON)`
    /// of the same statement with the same parameters, not run), for the slow-query log; on
    /// the side ([`query`](Self::query)) the query would run on. Records nothing in the
    /// audit trail and never breaks the glass.
    pub async fn explain_query(
        &self,
        caller: &Principal,
        req: &QueryRequest<'_>,
        limits: &QueryLimits,
    ) -> StoreResult<QueryPlan> {
        let ready = self.ready(caller, req, limits, Purpose::Explain).await?;
        let sql = format!("EXPLAIN (SUMMARY, FORMAT JSON) {}", ready.compiled.sql);
        let params = ready.params();
        let rows = ready
            .with_settings(async {
                let stmt = ready.client.prepare(&sql).await?;
                ready.client.query(&stmt, &params).await
            })
            .await
            .map_err(|e| run_error(req.aql, e))?;
        let Some(JsonText(text)) = rows.first().map(|r| r.try_get(0)).transpose()? else {
            return Err(StoreError::Pool("EXPLAIN answered no plan".into()));
        };
        QueryPlan::from_explain(&text)
            .ok_or_else(|| StoreError::Pool(format!("EXPLAIN answered an unknown shape: {text}")))
    }

    /// Parses, binds (with the caller's access and break-glass) and compiles a query, and
    /// takes a query connection for it.
    async fn ready(
        &self,
        caller: &Principal,
        req: &QueryRequest<'_>,
        limits: &QueryLimits,
        purpose: Purpose,
    ) -> StoreResult<Ready> {
        if purpose == Purpose::Run {
            crate::audit::note_query(req.aql, &req.params, req.ehr_id);
        }
        let ast = self.parse_cached(req.aql)?;
        let terminology = self.resolve_terminology(&ast, req.aql).await?;
        let bound = bind(&ast, &req.params, &terminology).map_err(|e| query_error(req.aql, e))?;
        // Break-glass applies to a query bound to one EHR (by the request or by the query);
        // a query over the population is never widened by it.
        let ehr = bound_ehr(req.ehr_id, &bound.ehr_ids);
        if let (Some(ehr), Purpose::Run) = (ehr, purpose) {
            crate::audit::note_query_ehr(ehr);
            self.break_glass_if_asked(caller, ehr).await?;
        }
        let access = crate::access::filter(caller, crate::access::Need::Query).map(|f| {
            match req.ehr_id.is_some() || !bound.ehr_ids.is_empty() {
                true => f,
                false => f.without_break_glass(),
            }
        });
        let inputs = inputs(req, limits, &terminology, access.as_ref());
        let compiled = compile::compile(&bound, &inputs).map_err(|e| query_error(req.aql, e))?;
        let crate::replica::ReadClient { client, on_replica } =
            self.read_client(caller, &self.inner.query_pool).await?;
        // Ad-hoc queries of many shapes must not grow a connection's cache without bound.
        if client.statement_cache.size() > STATEMENT_CACHE_MAX {
            client.statement_cache.clear();
        }
        // The session is read-only (see `Store::connect`); its settings go in the same round
        // trip as the query (numbers and keywords, no user text). An EHR-bound query runs a
        // cached generic plan (the EHR id drives it, and planning a query with row nodes costs
        // more than running it over one EHR); a population query is planned with its values,
        // whose selectivity decides between the leaf indexes and a scan.
        let settings = format!(
            "SET statement_timeout = {}; SET plan_cache_mode = {}",
            limits.timeout.as_millis().clamp(1, i32::MAX as u128),
            if compiled.ehr_bound {
                "force_generic_plan"
            } else {
                "force_custom_plan"
            }
        );
        // A connection keeps its session settings: they are sent only when they change. They
        // are recorded here and sent with the query; a `SET` of numbers and keywords fails
        // only when the connection is lost, and the pool does not hand out a closed one.
        let key = std::sync::Arc::as_ptr(&client.statement_cache) as usize;
        let mut sessions = self
            .inner
            .query_settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let current = sessions
            .get(&key)
            .is_some_and(|s| s.connection.strong_count() > 0 && s.settings == settings);
        let settings = if current {
            None
        } else {
            sessions.retain(|_, s| s.connection.strong_count() > 0);
            sessions.insert(
                key,
                crate::store::QuerySession {
                    connection: std::sync::Arc::downgrade(&client.statement_cache),
                    settings: settings.clone(),
                },
            );
            Some(settings)
        };
        drop(sessions);
        Ok(Ready {
            ast,
            compiled,
            client,
            on_replica,
            settings,
        })
    }
}

/// What a query is made ready for: to run, or only to be explained (no audit note, no
/// break-glass).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Run,
    Explain,
}

/// Runs a ready query as a stream of rows.
async fn stream_ready(ready: Ready, req: &QueryRequest<'_>) -> StoreResult<RowStream> {
    let columns = ready.columns();
    let rows = {
        let params = ready.params();
        let run = async {
            let stmt = ready.client.prepare_cached(&ready.compiled.sql).await?;
            ready.client.query_raw(&stmt, params).await
        };
        ready
            .with_settings(run)
            .await
            .map_err(|e| run_error(req.aql, e))?
    };
    Ok(RowStream {
        columns,
        rows: Box::pin(rows),
        width: ready.compiled.columns.len(),
        text: req.aql.to_owned(),
        _client: ready.client,
    })
}

/// A `json` (or text) value as its text (EXPLAIN's output).
struct JsonText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for JsonText {
    fn from_sql(
        _: &tokio_postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(JsonText(std::str::from_utf8(raw)?.to_owned()))
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        use tokio_postgres::types::Type;
        matches!(*ty, Type::JSON | Type::TEXT)
    }
}

/// What the slow-query log tells of a plan: PostgreSQL's planning time and the plan's top
/// nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryPlan {
    /// Milliseconds PostgreSQL spent planning the statement.
    pub planning_ms: f64,
    /// The plan's nodes, depth first, as `Node Type` (with the relation or index where the
    /// node names one), at most [`QueryPlan::NODES`] of them, joined by ` > ` for a child
    /// and `, ` for siblings' subtrees (`Limit > Nested Loop > Index Scan on leaf, …`).
    pub outline: String,
    /// The planner's estimate of the whole plan's cost.
    pub total_cost: f64,
}

impl QueryPlan {
    /// Nodes named in an outline.
    pub const NODES: usize = 12;

    /// Reads the output of `EXPLAIN (SUMMARY, FORMAT JSON)`.
    pub fn from_explain(text: &str) -> Option<QueryPlan> {
        let v: Value = serde_json::from_str(text).ok()?;
        let top = v.get(0)?;
        let plan = top.get("Plan")?;
        let mut outline = String::new();
        let mut left = Self::NODES;
        outline_of(plan, &mut outline, &mut left);
        Some(QueryPlan {
            planning_ms: top.get("Planning Time")?.as_f64()?,
            outline,
            total_cost: plan
                .get("Total Cost")
                .and_then(Value::as_f64)
                .unwrap_or(0.0),
        })
    }
}

fn outline_of(node: &Value, out: &mut String, left: &mut usize) {
    if *left == 0 {
        out.push('…');
        return;
    }
    *left -= 1;
    out.push_str(node.get("Node Type").and_then(Value::as_str).unwrap_or("?"));
    let on = node
        .get("Index Name")
        .or_else(|| node.get("Relation Name"))
        .and_then(Value::as_str);
    if let Some(on) = on {
        out.push_str(" on ");
        out.push_str(on);
    }
    let children = node.get("Plans").and_then(Value::as_array);
    match children.map(Vec::as_slice) {
        None | Some([]) => {}
        Some([only]) => {
            out.push_str(" > ");
            outline_of(only, out, left);
        }
        Some(many) => {
            out.push_str(" > (");
            for (i, c) in many.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                outline_of(c, out, left);
            }
            out.push(')');
        }
    }
}

/// The error at a TERMINOLOGY() call when no terminology server is configured.
pub(crate) const NO_TERMINOLOGY: &str = "TERMINOLOGY() needs a terminology service; start cdr \
     with --terminology-url (a FHIR R4 terminology server)";

/// Parsed queries kept before the cache is emptied.
const PARSED_MAX: usize = 512;

impl Store {
    /// The query's syntax tree, parsed once per distinct text (a query that does not parse is
    /// not kept).
    fn parse_cached(&self, text: &str) -> StoreResult<std::sync::Arc<cdr_aql::Query>> {
        let cache = || self.inner.parsed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = cache().get(text) {
            return Ok(q.clone());
        }
        let q = std::sync::Arc::new(parse(text)?);
        let mut parsed = cache();
        if parsed.len() >= PARSED_MAX {
            parsed.clear();
        }
        parsed.insert(text.to_owned(), q.clone());
        Ok(q)
    }

    /// The value of every TERMINOLOGY() call of `q`, each distinct call asked once.
    async fn resolve_terminology(
        &self,
        q: &cdr_aql::Query,
        text: &str,
    ) -> StoreResult<HashMap<String, Value>> {
        let mut calls = Vec::new();
        terminology_calls(q, &mut calls);
        let mut values = HashMap::new();
        for t in calls {
            let key = t.to_string();
            if values.contains_key(&key) {
                continue;
            }
            let Some(service) = self.inner.terminology.get() else {
                return Err(query_error(text, QueryError::at(t.span(), NO_TERMINOLOGY)));
            };
            let value = service
                .call(&t.operation.value, &t.service_api.value, &t.params.value)
                .await
                .map_err(|e| match e {
                    crate::terminology::TerminologyError::Call(m) => {
                        query_error(text, QueryError::at(t.span(), m))
                    }
                    crate::terminology::TerminologyError::Unavailable(m) => {
                        StoreError::Terminology(m)
                    }
                })?;
            values.insert(key, value);
        }
        Ok(values)
    }
}

/// The TERMINOLOGY() calls of a query, wherever they stand.
fn terminology_calls<'q>(q: &'q cdr_aql::Query, out: &mut Vec<&'q TerminologyCall>) {
    fn operand<'q>(o: &'q Operand, out: &mut Vec<&'q TerminologyCall>) {
        match o {
            Operand::Terminology(t) => out.push(t),
            Operand::Function(f) => f.args.iter().for_each(|a| operand(a, out)),
            _ => {}
        }
    }
    fn condition<'q>(w: &'q WhereExpr, out: &mut Vec<&'q TerminologyCall>) {
        match &w.kind {
            WhereKind::Comparison { left, right, .. } => {
                operand(left, out);
                operand(right, out);
            }
            WhereKind::Like { left, .. } => operand(left, out),
            WhereKind::Matches { left, operand: m } => {
                operand(left, out);
                match m {
                    MatchesOperand::Terminology(t) => out.push(t),
                    MatchesOperand::List(l) => l.items.iter().for_each(|i| operand(i, out)),
                    MatchesOperand::Uri(_) => {}
                }
            }
            WhereKind::Exists(_) => {}
            WhereKind::Not(inner) => condition(inner, out),
            WhereKind::And(items) | WhereKind::Or(items) => {
                items.iter().for_each(|i| condition(i, out))
            }
        }
    }
    for c in &q.select.columns {
        match &c.expr {
            ColumnExpr::Terminology(t) => out.push(t),
            ColumnExpr::Function(f) => f.args.iter().for_each(|a| operand(a, out)),
            _ => {}
        }
    }
    if let Some(w) = &q.where_clause {
        condition(w, out);
    }
}

/// Errors while running a compiled query: a timeout, a data error caused by the query (a
/// bad cast of a user value) → a query error; anything else is the database's.
fn run_error(text: &str, e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        if code == "57014" {
            return StoreError::QueryTimeout;
        }
        if code.starts_with("22") {
            return query_error(
                text,
                QueryError::plain(format!("the query cannot be evaluated: {}", db.message())),
            );
        }
    }
    e.into()
}
