//! Per-record access: who may read, query and write which EHR, decided inside SQL.
//!
//! Every statement that reads or writes health data for a caller other than an admin carries
//! the caller's access predicate on the EHR it touches ([`Filter::sql`]), with the caller's
//! values as bind parameters. An admin's statements carry none (no predicate, no cost).
//!
//! The rules (also in ARCHITECTURE.md):
//! - `admin`: everything.
//! - `clinician`, `service`, `reader`: read (and query) an EHR whose consent is given or not
//!   recorded, or for which their organisation, one of their teams or they themselves hold a
//!   valid grant, or (a clinician) for which they broke the glass within the last
//!   [`BREAK_GLASS_MINUTES`].
//! - writing needs a valid write grant and the role `clinician` or `service`.
//! - `analyst`: AQL over EHRs whose EHR_STATUS is queryable and whose consent does not refuse
//!   secondary use; single records only with a grant.
//! - `patient`: their own EHR, the one whose EHR_STATUS subject's external id is the caller's
//!   `patient_id`.
//! - A caller with several roles may do what any of them may; a caller with none of these
//!   roles sees nothing.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_postgres::types::{IsNull, ToSql, Type};
use uuid::Uuid;

use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// How long a break-glass access lasts.
pub const BREAK_GLASS_MINUTES: i64 = 60;

/// The longest break-glass reason kept.
pub const BREAK_GLASS_REASON_MAX: usize = 2000;

/// The marker in a statement's WHERE clause where the access predicate goes (`AND (…)`).
pub(crate) const ACCESS: &str = "/*access*/";

/// A value the access predicate binds: a text, or a list of texts (the caller's teams, one
/// array parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    Text(String),
    Texts(Vec<String>),
}

impl ToSql for Bind {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Bind::Text(s) => s.to_sql(ty, out),
            Bind::Texts(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        <String as ToSql>::accepts(ty) || <Vec<String> as ToSql>::accepts(ty)
    }

    /// Checked per variant: a text never goes where the statement wants a list, nor the other
    /// way round.
    fn to_sql_checked(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Bind::Text(s) => s.to_sql_checked(ty, out),
            Bind::Texts(v) => v.to_sql_checked(ty, out),
        }
    }
}

/// What the caller wants to do with an EHR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read one record (EHR, versions, history, contributions, directory).
    Read,
    /// AQL.
    Query,
    /// Write content (compositions, EHR_STATUS, directory, contributions).
    Write,
    /// Record the patient's consent.
    Consent,
    /// Manage the EHR's grants.
    Grants,
}

/// One condition on the EHR `X`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    /// No consent row takes direct-care sharing away (given, or none recorded).
    Shared,
    /// A valid grant to the caller, their organisation or one of their teams, with at least
    /// this access.
    Grant(i16),
    /// An unexpired break-glass of the caller.
    BreakGlass,
    /// EHR_STATUS.is_queryable.
    Queryable,
    /// No consent row refuses secondary use.
    SecondaryUse,
    /// The caller is the EHR's subject.
    OwnRecord,
}

/// A caller's access predicate: true when any of the groups holds, a group when all its terms
/// do. No group: nothing is visible.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    any: Vec<Vec<Term>>,
    subject: String,
    organisation: Option<String>,
    teams: Vec<String>,
    patient_id: Option<String>,
}

/// The caller's access predicate for `need`; `None` for an admin (no predicate at all).
pub(crate) fn filter(caller: &Principal, need: Need) -> Option<Filter> {
    if caller.has_role("admin") {
        return None;
    }
    let direct = ["clinician", "service", "reader"]
        .iter()
        .any(|r| caller.has_role(r));
    let writer = caller.has_role("clinician") || caller.has_role("service");
    let analyst = caller.has_role("analyst");
    let patient = caller.has_role("patient") && caller.patient_id.is_some();
    let mut any: Vec<Vec<Term>> = Vec::new();
    match need {
        Need::Read | Need::Query => {
            if direct {
                any.push(vec![Term::Shared]);
                any.push(vec![Term::Grant(1)]);
                if caller.has_role("clinician") {
                    any.push(vec![Term::BreakGlass]);
                }
            }
            if analyst {
                if need == Need::Query {
                    any.push(vec![Term::Queryable, Term::SecondaryUse]);
                }
                any.push(vec![Term::Grant(1)]);
            }
            if patient {
                any.push(vec![Term::OwnRecord]);
            }
        }
        Need::Write | Need::Grants => {
            if writer {
                any.push(vec![Term::Grant(2)]);
            }
        }
        Need::Consent => {
            if writer {
                any.push(vec![Term::Grant(2)]);
            }
            if patient {
                any.push(vec![Term::OwnRecord]);
            }
        }
    }
    let mut seen = Vec::new();
    any.retain(|g| {
        let new = !seen.contains(g);
        seen.push(g.clone());
        new
    });
    Some(Filter {
        any,
        subject: caller.subject.clone(),
        organisation: caller.organisation.clone().filter(|o| !o.is_empty()),
        teams: {
            let mut teams: Vec<String> = caller
                .teams
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect();
            teams.sort();
            teams.dedup();
            teams
        },
        patient_id: caller.patient_id.clone(),
    })
}

impl Filter {
    /// The filter without break-glass: a query over the population never sees a record
    /// through break-glass, only reads and queries bound to that EHR do.
    pub(crate) fn without_break_glass(mut self) -> Filter {
        self.any.retain(|g| g.as_slice() != [Term::BreakGlass]);
        self
    }

    /// The predicate on the EHR id expression `ehr` as SQL; `push` binds a value and answers
    /// its placeholder.
    pub(crate) fn sql(&self, ehr: &str, push: &mut dyn FnMut(Bind) -> String) -> String {
        self.render(ehr, false, push)
    }

    /// [`sql`](Self::sql) for a statement over the whole population (AQL not bound to an
    /// EHR): the EHRs whose sharing is taken away are gathered once per statement instead of
    /// probed once per row.
    pub(crate) fn population_sql(&self, ehr: &str, push: &mut dyn FnMut(Bind) -> String) -> String {
        self.render(ehr, true, push)
    }

    fn render(&self, ehr: &str, population: bool, push: &mut dyn FnMut(Bind) -> String) -> String {
        if self.any.is_empty() {
            return "false".into();
        }
        if let Some(sql) = self.anti_joins(ehr, population, push) {
            return sql;
        }
        let groups: Vec<String> = self
            .any
            .iter()
            .map(|g| {
                let terms: Vec<String> = g.iter().map(|t| self.term(*t, ehr, push)).collect();
                terms.join(" AND ")
            })
            .collect();
        format!("({})", groups.join(" OR "))
    }

    /// The usual shape — one group of conditions that rows take away (consent, queryability,
    /// secondary use), or else single conditions that rows give (grants, break-glass) — as
    /// anti-joins: `(N1 AND N2) OR P` is `(N1 OR P) AND (N2 OR P)`, and `Ni OR P` is "no row
    /// takes it away for an EHR that P does not give": `NOT EXISTS (SELECT … WHERE … AND NOT
    /// P)`. PostgreSQL plans each as an anti-join with the few rows that take sharing away,
    /// estimated and parallelised as any join (an OR of subqueries is a filter it can neither
    /// estimate nor run in parallel workers). Over a population the EHRs whose sharing is
    /// taken away are gathered once per statement instead (an uncorrelated subquery, so an
    /// InitPlan: a jsonb object keyed by EHR id), and each row asks it with `?`, a binary search
    /// — `NOT IN` a hashed subplan would do the same, but its cost is charged on every rescan
    /// of a nested loop's inner side, which turns the leaf-driven plans of selective queries
    /// into scans. `None` for other shapes (several such groups).
    fn anti_joins(
        &self,
        x: &str,
        population: bool,
        push: &mut dyn FnMut(Bind) -> String,
    ) -> Option<String> {
        let negative = |t: &Term| matches!(t, Term::Shared | Term::Queryable | Term::SecondaryUse);
        let mut takers = self.any.iter().filter(|g| g.iter().all(negative));
        let takers = takers.next().filter(|_| takers.next().is_none())?;
        let givers: Vec<Term> = self
            .any
            .iter()
            .filter(|g| !g.iter().all(negative))
            .map(|g| match g.as_slice() {
                [t] => Some(*t),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let parts: Vec<String> = takers
            .iter()
            .map(|t| {
                let (table, a, takes) = match t {
                    Term::Shared => ("ehr_consent", "ac", "ac.state <> 1"),
                    Term::Queryable => ("ehr", "aq", "NOT aq.is_queryable"),
                    _ => ("ehr_consent", "ay", "NOT ay.secondary_use"),
                };
                let mut taken = format!("{a} WHERE {takes}");
                for g in &givers {
                    taken.push_str(" AND NOT ");
                    taken.push_str(&self.term(*g, &format!("{a}.ehr_id"), push));
                }
                match population {
                    true => format!(
                        "NOT ((SELECT coalesce(jsonb_object_agg({a}.ehr_id::text, 1), \
                         jsonb_build_object()) FROM {table} {taken}) ? {x}::text)"
                    ),
                    false => {
                        format!("NOT EXISTS (SELECT 1 FROM {table} {taken} AND {a}.ehr_id = {x})")
                    }
                }
            })
            .collect();
        Some(format!("({})", parts.join(" AND ")))
    }

    fn term(&self, t: Term, x: &str, push: &mut dyn FnMut(Bind) -> String) -> String {
        match t {
            Term::Shared => format!(
                "NOT EXISTS (SELECT 1 FROM ehr_consent ac WHERE ac.ehr_id = {x} AND ac.state <> 1)"
            ),
            Term::Grant(access) => {
                let user = push(Bind::Text(self.subject.clone()));
                // The grants of the caller's organisation, of their teams (one array
                // parameter, whatever their number) and their own; a kind the caller has
                // nothing of is left out.
                let mut kinds = Vec::new();
                if let Some(org) = &self.organisation {
                    let org = push(Bind::Text(org.clone()));
                    kinds.push(format!("(ag.grantee_kind = 1 AND ag.grantee = {org})"));
                }
                if !self.teams.is_empty() {
                    let teams = push(Bind::Texts(self.teams.clone()));
                    kinds.push(format!(
                        "(ag.grantee_kind = 2 AND ag.grantee = ANY({teams}))"
                    ));
                }
                let own = format!("ag.grantee_kind = 3 AND ag.grantee = {user}");
                let grantee = match kinds.is_empty() {
                    true => own,
                    false => format!("({} OR ({own}))", kinds.join(" OR ")),
                };
                format!(
                    "EXISTS (SELECT 1 FROM ehr_grant ag WHERE ag.ehr_id = {x} AND {grantee} \
                     AND ag.access >= {access} AND ag.valid_from <= now() \
                     AND (ag.valid_until IS NULL OR ag.valid_until > now()))"
                )
            }
            Term::BreakGlass => {
                let user = push(Bind::Text(self.subject.clone()));
                format!(
                    "EXISTS (SELECT 1 FROM break_glass ab WHERE ab.ehr_id = {x} \
                     AND ab.subject = {user} AND ab.valid_until > now())"
                )
            }
            Term::Queryable => format!(
                "NOT EXISTS (SELECT 1 FROM ehr aq WHERE aq.ehr_id = {x} AND NOT aq.is_queryable)"
            ),
            Term::SecondaryUse => format!(
                "NOT EXISTS (SELECT 1 FROM ehr_consent ay WHERE ay.ehr_id = {x} \
                 AND NOT ay.secondary_use)"
            ),
            Term::OwnRecord => {
                let id = push(Bind::Text(self.patient_id.clone().unwrap_or_default()));
                format!(
                    "EXISTS (SELECT 1 FROM ehr_subject ap WHERE ap.ehr_id = {x} \
                     AND ap.subject_id = {id})"
                )
            }
        }
    }
}

/// A statement with the access predicate in place of its [`ACCESS`] marker, and the values the
/// predicate binds after the statement's own `base` parameters.
pub(crate) struct Guarded {
    pub sql: String,
    pub values: Vec<Bind>,
}

impl Guarded {
    /// `sql` guarded for `filter` on the EHR id expression `ehr` (unchanged without a filter).
    /// Where the statement's EHR is a parameter, `ehr` is that parameter: the predicate is then
    /// uncorrelated, evaluated once per statement by index probes, also in a generic plan
    /// (correlated, a generic plan may hash every EHR whose sharing is taken away).
    pub(crate) fn new(sql: &str, base: usize, filter: Option<&Filter>, ehr: &str) -> Guarded {
        let mut values = Vec::new();
        let sql = match filter {
            None => sql.to_owned(),
            Some(f) => {
                let mut push = |v: Bind| {
                    values.push(v);
                    format!("${}", base + values.len())
                };
                let pred = f.sql(ehr, &mut push);
                sql.replace(ACCESS, &format!(" AND {pred}"))
            }
        };
        Guarded { sql, values }
    }

    /// The statement's own parameters followed by the predicate's.
    pub(crate) fn params<'a>(
        &'a self,
        base: &[&'a (dyn ToSql + Sync)],
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut p = base.to_vec();
        p.extend(self.values.iter().map(|v| v as &(dyn ToSql + Sync)));
        p
    }
}

/// The patient's sharing consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    Given,
    Withheld,
    Withdrawn,
}

impl ConsentState {
    fn code(self) -> i16 {
        match self {
            ConsentState::Given => 1,
            ConsentState::Withheld => 2,
            ConsentState::Withdrawn => 3,
        }
    }

    fn from_code(c: i16) -> ConsentState {
        match c {
            1 => ConsentState::Given,
            2 => ConsentState::Withheld,
            _ => ConsentState::Withdrawn,
        }
    }

    /// `given`, `withheld` or `withdrawn`.
    pub fn name(self) -> &'static str {
        match self {
            ConsentState::Given => "given",
            ConsentState::Withheld => "withheld",
            ConsentState::Withdrawn => "withdrawn",
        }
    }
}

/// A consent as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub ehr_id: Uuid,
    pub state: ConsentState,
    pub secondary_use: bool,
    /// Whether this is a recorded consent (false: none recorded, and these are the defaults).
    pub recorded: bool,
    pub recorded_by: Option<String>,
    pub recorded_by_name: Option<String>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub note: Option<String>,
}

impl Consent {
    /// The consent as JSON (the REST body).
    pub fn to_json(&self) -> Value {
        json!({
            "ehr_id": self.ehr_id.to_string(),
            "state": self.state.name(),
            "secondary_use": self.secondary_use,
            "recorded": self.recorded,
            "recorded_by": self.recorded_by,
            "recorded_by_name": self.recorded_by_name,
            "recorded_at": self.recorded_at.map(crate::commit::format_time),
            "note": self.note,
        })
    }
}

/// A consent to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewConsent {
    pub state: ConsentState,
    /// Default: true when the state is given, false otherwise.
    pub secondary_use: Option<bool>,
    pub note: Option<String>,
}

impl NewConsent {
    /// Reads `{"state": "given"|"withheld"|"withdrawn", "secondary_use"?: bool, "note"?:
    /// text}`; the error names the member.
    pub fn from_json(v: &Value) -> Result<NewConsent> {
        let o = object(v, &["state", "secondary_use", "note"])?;
        let state = match o.get("state").and_then(Value::as_str) {
            Some("given") => ConsentState::Given,
            Some("withheld") => ConsentState::Withheld,
            Some("withdrawn") => ConsentState::Withdrawn,
            _ => return Err(bad("state", "\"given\", \"withheld\" or \"withdrawn\"")),
        };
        Ok(NewConsent {
            state,
            secondary_use: optional(o, "secondary_use", Value::as_bool, "a boolean")?,
            note: optional(o, "note", |v| v.as_str().map(str::to_owned), "a string")?,
        })
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GranteeKind {
    Organisation,
    /// A team: callers whose teams include the grantee.
    Team,
    User,
}

impl GranteeKind {
    fn code(self) -> i16 {
        match self {
            GranteeKind::Organisation => 1,
            GranteeKind::Team => 2,
            GranteeKind::User => 3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            GranteeKind::Organisation => "organisation",
            GranteeKind::Team => "team",
            GranteeKind::User => "user",
        }
    }
}

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantAccess {
    Read,
    /// Read and write.
    Write,
}

impl GrantAccess {
    fn name(self) -> &'static str {
        match self {
            GrantAccess::Read => "read",
            GrantAccess::Write => "write",
        }
    }
}

/// A grant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: Uuid,
    pub ehr_id: Uuid,
    pub grantee_type: GranteeKind,
    pub grantee: String,
    pub access: GrantAccess,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub granted_by: String,
    pub granted_at: DateTime<Utc>,
}

impl Grant {
    /// The grant as JSON (the REST body).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "ehr_id": self.ehr_id.to_string(),
            "grantee_type": self.grantee_type.name(),
            "grantee": self.grantee,
            "access": self.access.name(),
            "valid_from": crate::commit::format_time(self.valid_from),
            "valid_until": self.valid_until.map(crate::commit::format_time),
            "granted_by": self.granted_by,
            "granted_at": crate::commit::format_time(self.granted_at),
        })
    }
}

/// A grant to make.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrant {
    pub grantee_type: GranteeKind,
    pub grantee: String,
    pub access: GrantAccess,
    /// Default: now.
    pub valid_from: Option<DateTime<Utc>>,
    /// Default: open-ended.
    pub valid_until: Option<DateTime<Utc>>,
}

impl NewGrant {
    /// Reads `{"grantee_type": "organisation"|"team"|"user", "grantee": text, "access":
    /// "read"|"write", "valid_from"?: time, "valid_until"?: time}` (RFC 3339 times); the
    /// error names the member.
    pub fn from_json(v: &Value) -> Result<NewGrant> {
        let o = object(
            v,
            &[
                "grantee_type",
                "grantee",
                "access",
                "valid_from",
                "valid_until",
            ],
        )?;
        let grantee_type = match o.get("grantee_type").and_then(Value::as_str) {
            Some("organisation") => GranteeKind::Organisation,
            Some("team") => GranteeKind::Team,
            Some("user") => GranteeKind::User,
            _ => {
                return Err(bad(
                    "grantee_type",
                    "\"organisation\", \"team\" or \"user\"",
                ))
            }
        };
        let grantee = match o.get("grantee").and_then(Value::as_str) {
            Some(g) => g.to_owned(),
            None => return Err(bad("grantee", "a string")),
        };
        let access = match o.get("access").and_then(Value::as_str) {
            Some("read") => GrantAccess::Read,
            Some("write") => GrantAccess::Write,
            _ => return Err(bad("access", "\"read\" or \"write\"")),
        };
        let time = |v: &Value| {
            v.as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let when = "an RFC 3339 date-time with an offset";
        Ok(NewGrant {
            grantee_type,
            grantee,
            access,
            valid_from: optional(o, "valid_from", time, when)?,
            valid_until: optional(o, "valid_until", time, when)?,
        })
    }
}

/// A JSON object with only the `known` members.
fn object<'v>(v: &'v Value, known: &[&str]) -> Result<&'v serde_json::Map<String, Value>> {
    let o = v
        .as_object()
        .ok_or_else(|| StoreError::BadRequest("the body must be a JSON object".into()))?;
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(StoreError::BadRequest(format!(
            "unknown member \"{k}\" (known: {})",
            known.join(", ")
        )));
    }
    Ok(o)
}

/// A member that may be missing or null, else must read as `what`.
fn optional<T>(
    o: &serde_json::Map<String, Value>,
    name: &str,
    read: impl Fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Option<T>> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v).map(Some).ok_or_else(|| bad(name, what)),
    }
}

fn bad(member: &str, what: &str) -> StoreError {
    StoreError::BadRequest(format!("member \"{member}\" must be {what}"))
}

/// One use of break-glass.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakGlass {
    pub id: Uuid,
    pub ehr_id: Uuid,
    pub subject: String,
    pub name: Option<String>,
    pub organisation: Option<String>,
    pub roles: Vec<String>,
    pub reason: String,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
}

impl BreakGlass {
    /// The record as JSON (the REST body).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id.to_string(),
            "ehr_id": self.ehr_id.to_string(),
            "subject": self.subject,
            "name": self.name,
            "organisation": self.organisation,
            "roles": self.roles,
            "reason": self.reason,
            "valid_from": crate::commit::format_time(self.valid_from),
            "valid_until": crate::commit::format_time(self.valid_until),
        })
    }
}

/// The filter of the break-glass review list.
#[derive(Debug, Clone, Default)]
pub struct BreakGlassFilter {
    pub ehr_id: Option<Uuid>,
    pub subject: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

fn forbidden(what: &str) -> StoreError {
    StoreError::Forbidden(format!("the caller's roles do not allow {what}"))
}

fn text_limit(what: &str, s: &str, max: usize) -> Result<()> {
    match s.chars().count() > max {
        true => Err(StoreError::BadRequest(format!(
            "{what} is longer than {max} characters"
        ))),
        false => Ok(()),
    }
}

const GRANT_COLUMNS: &str = "grant_id, ehr_id, grantee_kind, grantee, access, valid_from, \
     valid_until, granted_by, granted_at";

fn grant(row: &tokio_postgres::Row) -> Grant {
    Grant {
        id: row.get(0),
        ehr_id: row.get(1),
        grantee_type: match row.get::<_, i16>(2) {
            1 => GranteeKind::Organisation,
            2 => GranteeKind::Team,
            _ => GranteeKind::User,
        },
        grantee: row.get(3),
        access: match row.get::<_, i16>(4) {
            2 => GrantAccess::Write,
            _ => GrantAccess::Read,
        },
        valid_from: row.get(5),
        valid_until: row.get(6),
        granted_by: row.get(7),
        granted_at: row.get(8),
    }
}

impl Store {
    /// Whether the caller may `need` the EHR: `Ok` when yes; not found when the EHR does not
    /// exist or the caller may not read it (the two answer alike); forbidden when the caller
    /// may read it but not this. One statement, both predicates in it.
    pub(crate) async fn authorise(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        need: Need,
    ) -> Result<()> {
        let read = filter(caller, Need::Read);
        if read.is_none() {
            return Ok(()); // an admin: the operation's own statement finds the EHR or not
        }
        let this = filter(caller, need);
        let mut values: Vec<Bind> = Vec::new();
        let mut push = |v: Bind| {
            values.push(v);
            format!("${}", 1 + values.len())
        };
        let seen = match &read {
            Some(f) => f.sql("$1", &mut push),
            None => "true".into(),
        };
        let allowed = match &this {
            Some(f) => f.sql("$1", &mut push),
            None => "true".into(),
        };
        let sql = format!("SELECT {seen}, {allowed} FROM ehr e WHERE e.ehr_id = $1");
        let client = self.inner.pool.get().await?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&ehr_id];
        params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        let row = client.query_opt(&sql, &params).await?;
        match row.map(|r| (r.get::<_, bool>(0), r.get::<_, bool>(1))) {
            None | Some((false, _)) => Err(StoreError::not_found("EHR", ehr_id)),
            Some((true, false)) => Err(StoreError::Forbidden(format!(
                "the caller may read EHR {ehr_id} but not change its {}",
                match need {
                    Need::Consent => "consent",
                    Need::Grants => "grants",
                    _ => "content",
                }
            ))),
            Some((true, true)) => Ok(()),
        }
    }

    /// Breaks the glass when the caller asks to (a clinician with a reason) and cannot read
    /// the EHR otherwise: records who, which EHR, why and until when, in one statement that
    /// inserts only then. Nothing happens for other callers, and for an EHR that does not
    /// exist.
    pub(crate) async fn break_glass_if_asked(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
    ) -> Result<()> {
        let Some(reason) = caller.break_glass.as_deref() else {
            return Ok(());
        };
        if !caller.has_role("clinician") || caller.has_role("admin") {
            return Ok(());
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::BadRequest(
                "a break-glass request needs a reason".into(),
            ));
        }
        text_limit("the break-glass reason", reason, BREAK_GLASS_REASON_MAX)?;
        let Some(read) = filter(caller, Need::Read) else {
            return Ok(());
        };
        let subject = caller.subject.clone();
        let name = caller.name.clone();
        let organisation = caller.organisation.clone();
        let roles = caller.roles.clone();
        let reason = reason.to_owned();
        let id = Uuid::new_v4();
        let minutes = BREAK_GLASS_MINUTES as i32;
        let mut values: Vec<Bind> = Vec::new();
        let mut push = |v: Bind| {
            values.push(v);
            format!("${}", 8 + values.len())
        };
        let seen = read.sql("$1", &mut push);
        let sql = format!(
            "INSERT INTO break_glass (ehr_id, id, subject, name, organisation, roles, reason, \
             valid_from, valid_until) \
             SELECT e.ehr_id, $2::uuid, $3::text, $4::text, $5::text, $6::text[], $7::text, now(), \
             now() + make_interval(mins => $8::int4) FROM ehr e WHERE e.ehr_id = $1 AND NOT {seen}"
        );
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &ehr_id,
            &id,
            &subject,
            &name,
            &organisation,
            &roles,
            &reason,
            &minutes,
        ];
        params.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        let client = self.inner.pool.get().await?;
        client.execute(&sql, &params).await?;
        Ok(())
    }

    /// The EHR's consent (the defaults when none is recorded). Anyone who may read the EHR.
    pub async fn get_consent(&self, caller: &Principal, ehr_id: Uuid) -> Result<Consent> {
        self.break_glass_if_asked(caller, ehr_id).await?;
        let g = Guarded::new(
            "SELECT c.state, c.secondary_use, c.recorded_by, c.recorded_by_name, c.recorded_at, \
             c.note, c.ehr_id IS NOT NULL FROM ehr e LEFT JOIN ehr_consent c ON c.ehr_id = e.ehr_id \
             WHERE e.ehr_id = $1/*access*/",
            1,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(&g.sql, &g.params(&[&ehr_id]))
            .await?
            .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
        let recorded: bool = row.get(6);
        Ok(match recorded {
            true => Consent {
                ehr_id,
                state: ConsentState::from_code(row.get(0)),
                secondary_use: row.get(1),
                recorded: true,
                recorded_by: row.get(2),
                recorded_by_name: row.get(3),
                recorded_at: row.get(4),
                note: row.get(5),
            },
            false => Consent {
                ehr_id,
                state: ConsentState::Given,
                secondary_use: true,
                recorded: false,
                recorded_by: None,
                recorded_by_name: None,
                recorded_at: None,
                note: None,
            },
        })
    }

    /// Records the EHR's consent (replacing the one before): an admin, the patient on their
    /// own record, or a clinician or service holding a write grant.
    pub async fn put_consent(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        consent: NewConsent,
    ) -> Result<Consent> {
        if let Some(note) = &consent.note {
            text_limit("note", note, 2000)?;
        }
        self.authorise(caller, ehr_id, Need::Consent).await?;
        let state = consent.state.code();
        let secondary = consent
            .secondary_use
            .unwrap_or(consent.state == ConsentState::Given);
        let g = Guarded::new(
            "INSERT INTO ehr_consent (ehr_id, state, secondary_use, recorded_by, \
             recorded_by_name, recorded_at, note) \
             SELECT e.ehr_id, $2::int2, $3::bool, $4::text, $5::text, now(), $6::text FROM ehr e \
             WHERE e.ehr_id = $1/*access*/ \
             ON CONFLICT (ehr_id) DO UPDATE SET state = EXCLUDED.state, \
             secondary_use = EXCLUDED.secondary_use, recorded_by = EXCLUDED.recorded_by, \
             recorded_by_name = EXCLUDED.recorded_by_name, recorded_at = EXCLUDED.recorded_at, \
             note = EXCLUDED.note RETURNING recorded_at",
            6,
            filter(caller, Need::Consent).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(
                &g.sql,
                &g.params(&[
                    &ehr_id,
                    &state,
                    &secondary,
                    &caller.subject,
                    &caller.name,
                    &consent.note,
                ]),
            )
            .await?
            .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
        Ok(Consent {
            ehr_id,
            state: consent.state,
            secondary_use: secondary,
            recorded: true,
            recorded_by: Some(caller.subject.clone()),
            recorded_by_name: caller.name.clone(),
            recorded_at: Some(row.get(0)),
            note: consent.note,
        })
    }

    /// The EHR's grants. Anyone who may read the EHR.
    pub async fn list_grants(&self, caller: &Principal, ehr_id: Uuid) -> Result<Vec<Grant>> {
        self.authorise(caller, ehr_id, Need::Read).await?;
        let g = Guarded::new(
            &format!(
                "SELECT {GRANT_COLUMNS} FROM ehr_grant WHERE ehr_id = $1/*access*/ \
                 ORDER BY granted_at, grant_id"
            ),
            1,
            filter(caller, Need::Read).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let rows = client.query(&g.sql, &g.params(&[&ehr_id])).await?;
        Ok(rows.iter().map(grant).collect())
    }

    /// Grants access to the EHR: an admin, or a clinician or service holding a write grant.
    pub async fn add_grant(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        new: NewGrant,
    ) -> Result<Grant> {
        let grantee = new.grantee.trim().to_owned();
        if grantee.is_empty() {
            return Err(StoreError::BadRequest("grantee must not be empty".into()));
        }
        text_limit("grantee", &grantee, 500)?;
        let from = new.valid_from.unwrap_or_else(crate::commit::now);
        if new.valid_until.is_some_and(|u| u <= from) {
            return Err(StoreError::BadRequest(
                "valid_until must be later than valid_from".into(),
            ));
        }
        self.authorise(caller, ehr_id, Need::Grants).await?;
        let id = Uuid::new_v4();
        let kind = new.grantee_type.code();
        let access: i16 = match new.access {
            GrantAccess::Read => 1,
            GrantAccess::Write => 2,
        };
        let g = Guarded::new(
            &format!(
                "INSERT INTO ehr_grant ({GRANT_COLUMNS}) \
                 SELECT $2::uuid, e.ehr_id, $3::int2, $4::text, $5::int2, $6::timestamptz, \
                 $7::timestamptz, $8::text, now() FROM ehr e \
                 WHERE e.ehr_id = $1/*access*/ RETURNING {GRANT_COLUMNS}"
            ),
            8,
            filter(caller, Need::Grants).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(
                &g.sql,
                &g.params(&[
                    &ehr_id,
                    &id,
                    &kind,
                    &grantee,
                    &access,
                    &from,
                    &new.valid_until,
                    &caller.subject,
                ]),
            )
            .await?
            .ok_or_else(|| StoreError::not_found("EHR", ehr_id))?;
        Ok(grant(&row))
    }

    /// Revokes a grant (removes it): an admin, or a clinician or service holding a write grant.
    pub async fn remove_grant(
        &self,
        caller: &Principal,
        ehr_id: Uuid,
        grant_id: Uuid,
    ) -> Result<()> {
        self.authorise(caller, ehr_id, Need::Grants).await?;
        let g = Guarded::new(
            "DELETE FROM ehr_grant WHERE ehr_id = $1 AND grant_id = $2/*access*/",
            2,
            filter(caller, Need::Grants).as_ref(),
            "$1",
        );
        let client = self.inner.pool.get().await?;
        match client
            .execute(&g.sql, &g.params(&[&ehr_id, &grant_id]))
            .await?
        {
            0 => Err(StoreError::not_found("grant", grant_id)),
            _ => Ok(()),
        }
    }

    /// Grants the creator of a new EHR (a clinician or service) write access: to their
    /// organisation, or to them when they act for none.
    pub(crate) fn creator_grant(caller: &Principal) -> Option<(i16, String)> {
        if caller.has_role("admin") || !(caller.has_role("clinician") || caller.has_role("service"))
        {
            return None;
        }
        Some(
            match caller.organisation.as_deref().filter(|o| !o.is_empty()) {
                Some(org) => (GranteeKind::Organisation.code(), org.to_owned()),
                None => (GranteeKind::User.code(), caller.subject.clone()),
            },
        )
    }

    /// Break-glass uses for review, newest first (at most 1000): admins only.
    pub async fn list_break_glass(
        &self,
        caller: &Principal,
        f: &BreakGlassFilter,
    ) -> Result<Vec<BreakGlass>> {
        if !caller.has_role("admin") {
            return Err(forbidden("reviewing break-glass use"));
        }
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT id, ehr_id, subject, name, organisation, roles, reason, valid_from, \
                 valid_until FROM break_glass \
                 WHERE ($1::uuid IS NULL OR ehr_id = $1) AND ($2::text IS NULL OR subject = $2) \
                 AND ($3::timestamptz IS NULL OR valid_from >= $3) \
                 ORDER BY valid_from DESC, id LIMIT 1000",
                &[&f.ehr_id, &f.subject, &f.since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| BreakGlass {
                id: r.get(0),
                ehr_id: r.get(1),
                subject: r.get(2),
                name: r.get(3),
                organisation: r.get(4),
                roles: r.get(5),
                reason: r.get(6),
                valid_from: r.get(7),
                valid_until: r.get(8),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clinician(org: Option<&str>) -> Principal {
        Principal {
            subject: "u1".into(),
            roles: vec!["clinician".into()],
            organisation: org.map(Into::into),
            ..Principal::default()
        }
    }

    fn render(f: &Filter) -> (String, Vec<Bind>) {
        let mut values = Vec::new();
        let sql = f.sql("x.ehr_id", &mut |v| {
            values.push(v);
            format!("${}", values.len())
        });
        (sql, values)
    }

    #[test]
    fn admins_have_no_predicate_and_others_always_one() {
        assert!(filter(&Principal::local(), Need::Read).is_none());
        let (sql, values) = render(&filter(&clinician(Some("org-a")), Need::Read).unwrap());
        assert!(sql.contains("ehr_consent ac"), "{sql}");
        assert!(sql.contains("ehr_grant ag"), "{sql}");
        assert!(sql.contains("break_glass ab"), "{sql}");
        let text = |s: &str| Bind::Text(s.into());
        assert_eq!(values, [text("u1"), text("org-a"), text("u1")]);
        assert!(
            !sql.contains("grantee_kind = 2"),
            "no teams, no team clause: {sql}"
        );
        // The grantee condition of a caller without teams.
        assert!(
            sql.contains(
                "((ag.grantee_kind = 1 AND ag.grantee = $2) OR (ag.grantee_kind = 3 \
                 AND ag.grantee = $1))"
            ),
            "{sql}"
        );
        let (sql, _) = render(&filter(&Principal::default(), Need::Read).unwrap());
        assert_eq!(sql, "false");
        let reader = Principal {
            roles: vec!["reader".into()],
            ..Principal::default()
        };
        assert_eq!(render(&filter(&reader, Need::Write).unwrap()).0, "false");
    }

    /// The write path's EHR check (`write::guarded_ehr_check`) lets a write grant stand for
    /// read access: whatever gives a caller write access must also give them read access.
    #[test]
    fn write_access_is_read_access() {
        let roles = [
            "clinician",
            "service",
            "reader",
            "analyst",
            "patient",
            "modeller",
        ];
        for role in roles {
            for org in [None, Some("org-a")] {
                let caller = Principal {
                    subject: "u1".into(),
                    roles: vec![role.into()],
                    organisation: org.map(Into::into),
                    patient_id: Some("p1".into()),
                    ..Principal::default()
                };
                let read = filter(&caller, Need::Read).unwrap();
                let write = filter(&caller, Need::Write).unwrap();
                for group in &write.any {
                    assert_eq!(group, &vec![Term::Grant(2)], "{role}");
                    assert!(read.any.contains(&vec![Term::Grant(1)]), "{role}");
                }
            }
        }
    }

    /// A caller's teams are one array parameter, whatever their number, in the grant term of
    /// reads (the anti-join shape included) and writes.
    #[test]
    fn teams_are_one_array_parameter() {
        let member = Principal {
            teams: vec!["ward-7".into(), "".into(), "stroke".into(), "ward-7".into()],
            ..clinician(Some("org-a"))
        };
        for need in [Need::Read, Need::Write] {
            let (sql, values) = render(&filter(&member, need).unwrap());
            assert!(
                sql.contains("(ag.grantee_kind = 2 AND ag.grantee = ANY($3))"),
                "{sql}"
            );
            assert_eq!(
                values[2],
                Bind::Texts(vec!["stroke".into(), "ward-7".into()])
            );
        }
        let (sql, _) = render(&filter(&member, Need::Read).unwrap());
        assert!(
            sql.starts_with("(NOT EXISTS (SELECT 1 FROM ehr_consent ac"),
            "{sql}"
        );
    }

    #[test]
    fn user_values_are_never_in_the_text() {
        let evil = Principal {
            subject: "x' OR true --".into(),
            roles: vec!["clinician".into(), "patient".into()],
            organisation: Some("o'; DROP TABLE ehr; --".into()),
            teams: vec!["t' OR true --".into()],
            patient_id: Some("p' --".into()),
            ..Principal::default()
        };
        for need in [
            Need::Read,
            Need::Query,
            Need::Write,
            Need::Consent,
            Need::Grants,
        ] {
            let (sql, _) = render(&filter(&evil, need).unwrap());
            assert!(!sql.contains('\''), "{sql}");
        }
    }
}
