//! Stored queries (ITS-REST DEFINITION): put with server-assigned or explicit SEMVER versions,
//! list by name prefix, get by (partial) version, delete.
//!
//! Names are `[namespace::]query-name` with `[A-Za-z0-9_.-]` in each part; `aql` (any case) is
//! reserved as a query-name because `/query/aql` executes ad hoc queries. Versions are
//! `MAJOR.MINOR.PATCH` without leading zeros; a partial version (`1`, `1.0`) stands for the
//! highest stored version it prefixes.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::audit::{insert_write_event, mark_recorded, AuditAction, WriteEvent};
use crate::error::{Result, StoreError};
use crate::ids::Principal;
use crate::store::Store;

/// The only query type there is.
pub const AQL: &str = "AQL";

/// The longest qualified name accepted.
const MAX_NAME: usize = 256;

/// The largest version part (the schema allows nine digits, so every part fits an integer).
const MAX_PART: u32 = 999_999_999;

/// A stored query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQuery {
    /// The qualified name, `[namespace::]query-name`.
    pub name: String,
    /// `MAJOR.MINOR.PATCH`.
    pub version: String,
    /// `AQL`.
    pub query_type: String,
    /// The query text, as stored.
    pub q: String,
    pub saved: DateTime<Utc>,
}

/// A version as given in a request: none (the latest), partial, or exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionPattern {
    Latest,
    Major(u32),
    MajorMinor(u32, u32),
    Exact(u32, u32, u32),
}

impl VersionPattern {
    /// Parses `1`, `1.2` or `1.2.3` (no leading zeros, no pre-release or build suffix);
    /// `None` is [`VersionPattern::Latest`].
    pub fn parse(text: Option<&str>) -> Result<VersionPattern> {
        let Some(text) = text else {
            return Ok(VersionPattern::Latest);
        };
        let bad = || {
            StoreError::BadRequest(format!(
                "version '{text}' is not MAJOR.MINOR.PATCH or a prefix of it (MAJOR or MAJOR.MINOR)"
            ))
        };
        let parts = text
            .split('.')
            .map(|p| {
                let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
                let canonical = p == "0" || !p.starts_with('0');
                match digits && canonical && p.len() <= 9 {
                    true => p.parse::<u32>().map_err(|_| bad()),
                    false => Err(bad()),
                }
            })
            .collect::<Result<Vec<u32>>>()?;
        match parts[..] {
            [major] => Ok(VersionPattern::Major(major)),
            [major, minor] => Ok(VersionPattern::MajorMinor(major, minor)),
            [major, minor, patch] => Ok(VersionPattern::Exact(major, minor, patch)),
            _ => Err(bad()),
        }
    }

    /// The text every matching version starts with (`""`, `"1."`, `"1.2."`), or the exact
    /// version.
    fn prefix(self) -> String {
        match self {
            VersionPattern::Latest => String::new(),
            VersionPattern::Major(m) => format!("{m}."),
            VersionPattern::MajorMinor(m, n) => format!("{m}.{n}."),
            VersionPattern::Exact(m, n, p) => format!("{m}.{n}.{p}"),
        }
    }

    /// The version a put stores when `highest` is the highest stored version matching this
    /// pattern: the exact version itself, else the patch after `highest`, else the first
    /// version the pattern allows.
    fn next(self, highest: Option<&str>) -> Result<String> {
        if let VersionPattern::Exact(..) = self {
            return Ok(self.prefix());
        }
        let Some(highest) = highest else {
            return Ok(match self {
                VersionPattern::Major(m) => format!("{m}.0.0"),
                VersionPattern::MajorMinor(m, n) => format!("{m}.{n}.0"),
                _ => "1.0.0".to_owned(),
            });
        };
        match VersionPattern::parse(Some(highest))? {
            VersionPattern::Exact(m, n, p) if p < MAX_PART => Ok(format!("{m}.{n}.{}", p + 1)),
            _ => Err(StoreError::Conflict(format!(
                "there is no patch version after {highest}"
            ))),
        }
    }
}

impl fmt::Display for VersionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionPattern::Latest => f.write_str("latest"),
            VersionPattern::Major(m) => write!(f, "{m}"),
            VersionPattern::MajorMinor(m, n) => write!(f, "{m}.{n}"),
            VersionPattern::Exact(m, n, p) => write!(f, "{m}.{n}.{p}"),
        }
    }
}

/// Checks a qualified query name: `[namespace::]query-name`, each part non-empty and made of
/// `[A-Za-z0-9_.-]`, the query-name not `aql` in any letter case.
pub fn check_query_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        StoreError::BadRequest(format!(
            "'{name}' is not a qualified query name ([namespace::]query-name): {why}"
        ))
    };
    if name.len() > MAX_NAME {
        return Err(bad("longer than 256 bytes"));
    }
    let (namespace, query_name) = match name.split_once("::") {
        Some((ns, q)) => (Some(ns), q),
        None => (None, name),
    };
    let allowed = |s: &str| !s.is_empty() && s.bytes().all(name_byte);
    if namespace.is_some_and(|ns| !allowed(ns)) {
        return Err(bad(
            "the namespace must be non-empty and use only A-Z a-z 0-9 _ . -",
        ));
    }
    if !allowed(query_name) {
        return Err(bad(
            "the query-name must be non-empty and use only A-Z a-z 0-9 _ . -",
        ));
    }
    if query_name.eq_ignore_ascii_case("aql") {
        return Err(bad("'aql' is reserved for ad hoc queries"));
    }
    Ok(())
}

/// A byte a namespace or query-name may hold.
fn name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.-".contains(&b)
}

/// Checks a query type: AQL, in any letter case.
fn check_query_type(query_type: &str) -> Result<()> {
    match query_type.eq_ignore_ascii_case(AQL) {
        true => Ok(()),
        false => Err(StoreError::BadRequest(format!(
            "query type '{query_type}' is not supported; the only type is AQL"
        ))),
    }
}

const COLUMNS: &str = "name, version, query_type, q, saved";

/// Newest first among versions of one name (every stored version is three integers).
const NEWEST_FIRST: &str = "string_to_array(version, '.')::int[] DESC";

fn record(row: &tokio_postgres::Row) -> StoredQuery {
    StoredQuery {
        name: row.get(0),
        version: row.get(1),
        query_type: row.get(2),
        q: row.get(3),
        saved: row.get(4),
    }
}

impl Store {
    /// Stores a query. Without a version, or with a partial one, the server assigns the patch
    /// after the highest matching stored version (`1.0.0`, `MAJOR.0.0` or `MAJOR.MINOR.0` when
    /// there is none); an exact version that exists is a conflict. The AQL must parse. The audit
    /// event (`name/version`) commits with the query.
    pub async fn put_stored_query(
        &self,
        caller: &Principal,
        name: &str,
        version: Option<&str>,
        query_type: &str,
        q: &str,
    ) -> Result<StoredQuery> {
        check_query_name(name)?;
        check_query_type(query_type)?;
        let pattern = VersionPattern::parse(version)?;
        if q.trim().is_empty() {
            return Err(StoreError::BadRequest("the query text is empty".into()));
        }
        if q.contains('\0') {
            return Err(StoreError::BadRequest(
                "the query text contains the NUL character (U+0000)".into(),
            ));
        }
        crate::aql::check_syntax(q)?;
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO stored_query ({COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (name, version) DO NOTHING RETURNING {COLUMNS}"
            ))
            .await?;
        // A concurrent put may take the version computed here; then compute again.
        for _ in 0..8 {
            let highest = match pattern {
                VersionPattern::Exact(..) => None,
                _ => self
                    .matching_version(&tx, name, pattern)
                    .await?
                    .map(|r| r.version),
            };
            let next = pattern.next(highest.as_deref())?;
            let now = crate::commit::now();
            let row = tx
                .query_opt(&insert, &[&name, &next, &AQL, &q, &now])
                .await?;
            match (row, pattern) {
                (Some(row), _) => {
                    let stored = record(&row);
                    let object = format!("{}/{}", stored.name, stored.version);
                    let event = WriteEvent::new(caller, AuditAction::Create, vec![object]);
                    insert_write_event(&tx, None, &event).await?;
                    tx.commit().await?;
                    mark_recorded();
                    return Ok(stored);
                }
                (None, VersionPattern::Exact(..)) => {
                    return Err(StoreError::Conflict(format!(
                        "stored query {name} version {next} already exists"
                    )))
                }
                (None, _) => continue,
            }
        }
        Err(StoreError::Conflict(format!(
            "stored query {name}: concurrent puts kept taking the next version; try again"
        )))
    }

    /// Every version of every stored query whose name starts with `prefix` (all of them for
    /// an empty prefix), by name, newest version first.
    pub async fn list_stored_queries(
        &self,
        _caller: &Principal,
        prefix: &str,
    ) -> Result<Vec<StoredQuery>> {
        if !prefix.bytes().all(|b| name_byte(b) || b == b':') {
            return Ok(Vec::new());
        }
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM stored_query WHERE starts_with(name, $1) \
                     ORDER BY name, {NEWEST_FIRST}"
                ),
                &[&prefix],
            )
            .await?;
        Ok(rows.iter().map(record).collect())
    }

    /// A stored query at a version: exact, the highest matching a partial one, or the highest
    /// of all when `version` is `None`.
    pub async fn get_stored_query(
        &self,
        _caller: &Principal,
        name: &str,
        version: Option<&str>,
    ) -> Result<StoredQuery> {
        check_query_name(name)?;
        let pattern = VersionPattern::parse(version)?;
        let client = self.inner.pool.get().await?;
        self.matching_version(&client, name, pattern)
            .await?
            .ok_or_else(|| match version {
                Some(v) => StoreError::not_found("stored query", format!("{name} version {v}")),
                None => StoreError::not_found("stored query", name),
            })
    }

    /// Deletes one version of a stored query; the version must be exact. The audit event
    /// (`name/version`) commits with the delete.
    pub async fn delete_stored_query(
        &self,
        caller: &Principal,
        name: &str,
        version: &str,
    ) -> Result<()> {
        check_query_name(name)?;
        let pattern = VersionPattern::parse(Some(version))?;
        if !matches!(pattern, VersionPattern::Exact(..)) {
            return Err(StoreError::BadRequest(format!(
                "deleting a stored query needs its exact version (MAJOR.MINOR.PATCH), not '{version}'"
            )));
        }
        let mut client = self.inner.pool.get().await?;
        let tx = client.transaction().await?;
        let deleted = tx
            .execute(
                "DELETE FROM stored_query WHERE name = $1 AND version = $2",
                &[&name, &pattern.prefix()],
            )
            .await?;
        if deleted == 0 {
            return Err(StoreError::not_found(
                "stored query",
                format!("{name} version {version}"),
            ));
        }
        let object = format!("{name}/{}", pattern.prefix());
        let event = WriteEvent::new(caller, AuditAction::Delete, vec![object]);
        insert_write_event(&tx, None, &event).await?;
        tx.commit().await?;
        mark_recorded();
        Ok(())
    }

    /// The highest stored version of `name` that `pattern` matches.
    async fn matching_version(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        name: &str,
        pattern: VersionPattern,
    ) -> Result<Option<StoredQuery>> {
        let sql = match pattern {
            VersionPattern::Exact(..) => {
                format!("SELECT {COLUMNS} FROM stored_query WHERE name = $1 AND version = $2")
            }
            _ => format!(
                "SELECT {COLUMNS} FROM stored_query WHERE name = $1 AND starts_with(version, $2) \
                 ORDER BY {NEWEST_FIRST} LIMIT 1"
            ),
        };
        let stmt = client.prepare_cached(&sql).await?;
        let row = client.query_opt(&stmt, &[&name, &pattern.prefix()]).await?;
        Ok(row.as_ref().map(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_exact_and_partial() {
        assert_eq!(VersionPattern::parse(None).unwrap(), VersionPattern::Latest);
        assert_eq!(
            VersionPattern::parse(Some("1")).unwrap(),
            VersionPattern::Major(1)
        );
        assert_eq!(
            VersionPattern::parse(Some("1.0")).unwrap(),
            VersionPattern::MajorMinor(1, 0)
        );
        assert_eq!(
            VersionPattern::parse(Some("10.20.30")).unwrap(),
            VersionPattern::Exact(10, 20, 30)
        );
        for bad in [
            "",
            "1.",
            ".1",
            "01",
            "1.02",
            "1.2.3.4",
            "1.0.0-SNAPSHOT",
            "v1",
            "1e3",
            "1234567890",
            "-1",
            "1..2",
        ] {
            assert!(VersionPattern::parse(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_next_version_bumps_the_patch_of_the_highest() {
        let next = |p: &str, h: Option<&str>| {
            VersionPattern::parse((!p.is_empty()).then_some(p))
                .unwrap()
                .next(h)
                .unwrap()
        };
        assert_eq!(next("", None), "1.0.0");
        assert_eq!(next("", Some("2.3.4")), "2.3.5");
        assert_eq!(next("3", None), "3.0.0");
        assert_eq!(next("3", Some("3.1.9")), "3.1.10");
        assert_eq!(next("3.7", None), "3.7.0");
        assert_eq!(next("1.2.3", Some("9.9.9")), "1.2.3");
        assert!(VersionPattern::Latest.next(Some("1.1.999999999")).is_err());
    }

    #[test]
    fn query_names() {
        for ok in [
            "org.openehr::compositions",
            "my_compositions",
            "ehr::all-influenza.vacc_candidates",
            "x::aqls",
        ] {
            check_query_name(ok).unwrap();
        }
        for bad in [
            "",
            "::x",
            "x::",
            "a::b::c",
            "a b",
            "x/y",
            "aql",
            "AQL",
            "org::Aql",
            "ä::x",
            &"x".repeat(300),
        ] {
            assert!(check_query_name(bad).is_err(), "{bad}");
        }
    }
}
