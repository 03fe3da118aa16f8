//! Command-line dispatch. Exit codes: 0 success, 1 invalid input data, 2 usage or setup error.

mod aql;
mod archetype;
mod audit;
mod backup;
mod bench;
mod bench_aql;
mod bench_auth;
mod bench_export;
mod bench_flags;
mod bench_observe;
mod convert;
mod forms;
mod import;
mod serve;
mod template;
mod user;
mod validate;

use std::io::Write;

pub const USAGE: &str = "\
cdr — an openEHR Clinical Data Repository

USAGE:
  cdr serve [--bind ADDR] [--data-dir DIR] [--system-id ID] [--base-path PATH]
            [--terminology-url URL] [--auth none|basic|oidc] [--insecure-no-auth]
            [--oidc-issuer URL] [--oidc-audience AUD]... [--jwks-file FILE]
            [--oidc-roles-claim C[,C…]] [--oidc-organisation-claim C] [--oidc-patient-id-claim C]
            [--oidc-teams-claim C] [--oidc-break-glass-claim C]
            [--tls-cert PEM --tls-key PEM] [--cors-origin ORIGIN]... [--models DIR]
            [--no-default-models] [--ui-dir DIR] [--ui-client-id ID] [--flag-template ID]...
            [--log-format text|json] [--log-level LEVEL] [--slow-query-ms MS]
            [--read-database-url URL]
      Serves the openEHR REST API (default 127.0.0.1:8080, base /openehr/v1, data dir ./data,
      system id local.cdr; or CDR_BIND, CDR_DATA_DIR, CDR_SYSTEM_ID, CDR_BASE_PATH). AQL's
      TERMINOLOGY() asks the FHIR R4 terminology server at URL (http://; or
      CDR_TERMINOLOGY_URL); without one it is a query error. With no
      DATABASE_URL it runs its own PostgreSQL under DIR/pg. GET /health answers 200 while the
      server runs (liveness), GET /ready once the database is reachable (readiness; else 503
      with Retry-After, as the API answers while the database is down). SIGINT/SIGTERM: in-flight requests finish, then PostgreSQL stops.
      --auth (CDR_AUTH): none (default; every caller is the local admin, so only on a loopback
      address unless --insecure-no-auth, CDR_INSECURE_NO_AUTH=1), basic (users of `cdr user`)
      or oidc (bearer JWTs: iss must be the issuer, aud one of the audiences; keys from the
      issuer's discovery document over https, or from FILE; roles from the claims named, default
      roles, e.g. realm_access.roles for Keycloak; teams from the teams claim, default groups;
      a break-glass reason from the break-glass claim, default break_glass_reason; or
      CDR_OIDC_ISSUER, CDR_OIDC_AUDIENCE, CDR_JWKS_FILE, CDR_OIDC_ROLES_CLAIM,
      CDR_OIDC_ORGANISATION_CLAIM, CDR_OIDC_PATIENT_ID_CLAIM, CDR_OIDC_TEAMS_CLAIM,
      CDR_OIDC_BREAK_GLASS_CLAIM). --tls-cert/--tls-key (CDR_TLS_CERT, CDR_TLS_KEY) serve HTTPS;
      --cors-origin (CDR_CORS_ORIGINS, comma-separated) lets those browser origins call the API.
      --models DIR (CDR_MODELS) compiles every .oet template below DIR with the archetypes found
      by id below it before starting (any error stops the start, every error listed as
      file:line: message) and serves them as uploaded templates (a changed one replaces the
      stored OPT unless compositions were committed with it). On a store's first start the
      care-plan templates cdr ships (cdr_urgent_care_plan.v0, cdr_care_and_support_plan.v0,
      cdr_emergency_care_and_treatment_plan.v0) are installed, unless --no-default-models
      (CDR_NO_DEFAULT_MODELS=1); later starts leave the templates as they are. The browser
      app and the <cdr-form> component are at /ui/ (built in; --ui-dir DIR or CDR_UI_DIR
      serves them from DIR instead, for working on them); with --auth oidc the app signs in
      as the public client --ui-client-id (CDR_UI_CLIENT_ID), authorization code with PKCE.
      GET/POST {base}/flags answer which care plans a subject's EHR holds: compositions of the
      care-plan archetype cdr ships, and of each --flag-template (CDR_FLAG_TEMPLATES, commas).
      Logs go to standard error, one line per request (method, path, status, duration, request
      id, caller) and AQL queries slower than --slow-query-ms (default 1000), as text or JSON
      (--log-format, CDR_LOG_FORMAT), at --log-level (CDR_LOG_LEVEL; RUST_LOG wins; default
      info). GET /metrics answers Prometheus metrics. --read-database-url (CDR_READ_DATABASE_URL)
      names a streaming replica of the database: AQL and the flags read there (a caller's own
      recent writes and `Cdr-Read-From: primary` read the primary; so does everything when
      the replica cannot be reached); it is never migrated.
  cdr user add <name> --roles R[,R…] [--full-name N] [--organisation O] [--team T]...
               [--patient-id P]
  cdr user passwd <name> | remove <name> | list          [--data-dir D] [--password-env VAR]
      Manages the users of --auth basic in the store (D or DATABASE_URL). The password is the
      first line of standard input, or the variable VAR; it is stored as an argon2id hash.
  cdr validate --template <file.opt> [--format json|xml|flat|structured] [--json] <composition>...
      Validates compositions against an OPT 1.4: canonical JSON (*.json) or XML (*.xml), or
      with --format the given format (FLAT and STRUCTURED are converted through the template
      first). Exit 0 when all are valid, 1 when any is invalid, unreadable or does not convert,
      2 on usage errors or an unreadable template. --json prints one JSON object per file:
      {file, valid, issues} (and error when the file does not read or convert).
  cdr convert [--template <file.opt>] [--from F] --to F [--compact] <composition>
      Converts a composition between json, xml, flat and structured (F); --from defaults to
      the file extension (xml, else json); FLAT and STRUCTURED need the template. Prints the
      result. Exit 1 when the input does not read or convert (the message names the FLAT key
      or the place), 2 on usage errors or an unreadable template.
  cdr template webtemplate [--compact] <file.opt>
      Prints the web template (format 2.3, as EHRbase and Better publish it) of an OPT 1.4 as
      JSON. Exit 1 when the OPT does not parse, 2 on usage errors or an unreadable file.
  cdr template flat-to-canonical [--compact] <file.opt> <flat.json>
  cdr template canonical-to-flat [--compact] <file.opt> <composition.json|.xml>
      Converts a FLAT composition to canonical JSON, or a canonical one to FLAT, through the
      template's web template. Exit 1 when the input does not convert (the message names the
      FLAT key or the place), 2 on usage errors or an unreadable template.
  cdr template example [--format json|xml|flat|structured] [--compact] <file.opt>
      Prints an example composition of the template (every node once, values the template
      allows), canonical JSON by default. Exit 1 when the OPT does not parse.
  cdr template build --archetypes <dir> <file.oet>
      Compiles an OET template (Ocean Template Designer) with the ADL 1.4 archetypes found by
      id anywhere below <dir> (specialised ones flattened onto their parents) and prints the
      operational template (OPT 1.4 XML). Exit 1 when it does not compile (every error as
      file:line: message: a missing archetype, a rule or slot filling whose path matches no
      node), 2 on usage errors or unreadable input.
  cdr archetype check [--strict] <file.adl|dir>...
      Parses and checks ADL 1.4 archetypes (every .adl file below a directory): codes used
      but not defined or defined but not used, node ids repeated among siblings, occurrences
      outside their attribute's cardinality, slot assertions that are not archetype id
      patterns, RM types and attributes, use_node paths; a specialised archetype also against
      its parent found among them (occurrences, existence, cardinality, types, codes, values
      no wider than the parent's). Prints each finding as file:line:col: CODE: message (the
      openEHR validity rule's code; W and I codes are warnings). Exit 0 when there are no
      errors (with --strict: no warnings either), 1 when a file has errors or does not read
      or parse, 2 on usage errors.
  cdr bench commit [--clients N] [--count M] [--template T --composition C]
      Commits M compositions with N clients through the store (decode, validate, index, one
      transaction each) on a temporary managed PostgreSQL, then raw INSERTs of the same JSON into
      one table with the same clients; the last line is a JSON object with the figures.
      Default: the blood-pressure template and composition of ../shared/testdata.
  cdr bench auth [--clients N] [--count M] [--gets K] [--rounds R] [--control]
      Commits and reads over HTTP through two servers on one temporary store, one without
      authentication and one with --auth oidc (a key made for the run), in alternating rounds;
      prints commits/s, cdr's CPU per commit and GET-by-version-uid p50 of each, the last line
      as one JSON object. --control: both servers without authentication (an A/A run).
  cdr bench observe [--clients N] [--count M] [--rounds R] [--control]
      Commits over HTTP through two servers on one temporary store, one logging every request
      (JSON lines at info, into a file) with its metrics, one with neither, in alternating
      rounds; prints commits/s and cdr's CPU per commit of each and their ratio, the last line
      as one JSON object. --control: both servers log and count (an A/A run).
  cdr bench flags [--data-dir D] [--subjects N] [--lookups K] [--batches B]
      Times care-plan flag lookups on D's store (./bench-data): the first run gives N EHRs
      (10,000) a subject and every second one the urgent care plan example; then K single
      lookups and B batches of 1,000 subjects; prints p50/p99 of each.
  cdr bench export [--data-dir D] [--query AQL]
      Exports a whole query result (default: every composition's uid with its EHR id) over
      HTTP as CSV, then as NDJSON, from D's store (./bench-data) with the server
      in this process; prints rows/s and this process's RSS before and at its peak.
  cdr aql [--data-dir D] [--ehr-id ID] [--param name=value]... [--terminology-url URL]
          [--format json|csv|ndjson] [--output FILE]
          [--explain] '<query>'
      Runs one AQL query on the store (its managed PostgreSQL under D, default ./data, or
      DATABASE_URL) and prints the RESULT_SET as JSON, or with --format csv|ndjson its rows
      (CSV with a header row; NDJSON one object per row), streamed with no row limit.
      --output FILE writes there instead (with a progress line on a terminal).
      --explain prints the SQL instead.
      Exit 1 for a malformed or unsupported query (the message names line and column).
  cdr import [--data-dir D] [--ehr-id ID] [--format json|xml|flat|structured]
             [--template ID] [--jobs N] <file|dir>...
      Loads compositions (files given, and *.json/*.xml below directories) into the store,
      N at a time (8): canonical JSON or XML by extension, or FLAT/STRUCTURED through the
      uploaded template ID; into the EHR ID, else a new EHR per file. Prints a progress bar on
      a terminal and a summary; each refused file with why. Exit 1 when any was refused.
  cdr backup [--data-dir D] DIR | cdr restore [--data-dir D] DIR
      backup: a consistent copy of the managed PostgreSQL under D (./data) into the new or
      empty DIR, also while cdr serve runs on D (pg_basebackup with its WAL, then checked by
      pg_verifybackup). restore: makes D (whose pg/ must not exist or be empty) hold such a
      copy; then cdr serve --data-dir D. With DATABASE_URL, use that server's own tools.
  cdr audit verify [--data-dir D]
      Seals the audit events whose transactions have ended, then checks the hash chain of the
      audit trail (the managed PostgreSQL under D, default ./data, or DATABASE_URL). Exit 0
      when it holds (the head position and hash are printed: keep them elsewhere to detect a
      later removal of the chain's end), 1 naming the first event changed or removed.
  cdr bench load [--data-dir D] [--ehrs N] [--per-ehr M] [--clients C] [--seed S]
      Loads N EHRs × M generated compositions (corpus blood pressure and evaluation templates,
      seeded variation) through the store into the managed cluster under D (./bench-data).
  cdr bench aql [--data-dir D] [--iterations K] [--caller ROLE[:ORGANISATION]]
      Times a fixed set of AQL queries beside hand-written SQL with the same answers on D's
      data; prints p50/p99 per query and the ratio, the last line as one JSON object. With
      --caller each query also runs as that caller (its access predicate) beside the admin.
  cdr help
";

/// The store settings of a command on an existing store: the environment's (`DATABASE_URL`),
/// with `--data-dir` when given; and whether the store should be shut down afterwards (not
/// when it is a database server of its own, nor when its managed cluster was running already,
/// e.g. for a server on the same data directory: that one is left running).
pub(crate) fn store_config(data_dir: Option<std::path::PathBuf>) -> (cdr_store::StoreConfig, bool) {
    let mut config = cdr_store::StoreConfig::from_env();
    if let Some(d) = data_dir {
        config.data_dir = d;
    }
    let was_running = config.data_dir.join("pg/postmaster.pid").exists();
    let stop = !was_running && config.database_url.is_none();
    (config, stop)
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

/// Runs the command line `args` (without the program name), writing to `out` and `err`.
pub fn run(args: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match args.first().map(String::as_str) {
        Some("serve") => serve::run(&args[1..], out, err),
        Some("validate") => validate::run(&args[1..], out, err),
        Some("template") => template::run(&args[1..], out, err),
        Some("convert") => convert::run(&args[1..], out, err),
        Some("aql") => aql::run(&args[1..], out, err),
        Some("import") => import::run(&args[1..], out, err),
        Some("backup") => backup::run(false, &args[1..], out, err),
        Some("restore") => backup::run(true, &args[1..], out, err),
        Some("archetype") => archetype::run(&args[1..], out, err),
        Some("audit") => audit::run(&args[1..], out, err),
        Some("bench") => bench::run(&args[1..], out, err),
        Some("user") => user::run(&args[1..], out, err),
        Some("help") | Some("--help") | Some("-h") => {
            let _ = write!(out, "{USAGE}");
            0
        }
        Some(other) => {
            let _ = writeln!(err, "cdr: unknown command `{other}`\n\n{USAGE}");
            2
        }
        None => {
            let _ = write!(err, "{USAGE}");
            2
        }
    }
}
