//! The roles and the one table of which endpoint groups each role may call ([`PERMISSIONS`]).
//! Every endpoint in `routes::ENDPOINTS` names its [`Group`]; the route checks the caller's
//! roles against this table before its handler runs, so a refusal (403) never depends on
//! whether a record exists. Which records a permitted caller then sees is the store's access
//! rule, not this table's. README.md shows the same table (a test compares them).

/// Every role cdr knows. Other roles in a token or user record are kept but grant nothing here.
pub const ROLES: [&str; 7] = [
    "admin",
    "modeller",
    "clinician",
    "reader",
    "analyst",
    "patient",
    "service",
];

/// A group of endpoints that the same roles may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// The capabilities document and `openapi.json`.
    Meta,
    /// Reading templates, web templates and example compositions.
    TemplateRead,
    /// Uploading templates.
    TemplateWrite,
    /// Reading stored query definitions.
    QueryDefinitionRead,
    /// Storing queries.
    QueryDefinitionWrite,
    /// Reading EHRs, EHR_STATUS, compositions, directories, contributions and their versions.
    RecordRead,
    /// Creating and changing them.
    RecordWrite,
    /// Running ad hoc AQL.
    AdHocQuery,
    /// Running stored queries.
    StoredQuery,
    /// The admin API (physical deletes, template replacement).
    Admin,
}

impl Group {
    /// The name used in the role table and in 403 messages.
    pub fn name(self) -> &'static str {
        match self {
            Group::Meta => "meta",
            Group::TemplateRead => "template_read",
            Group::TemplateWrite => "template_write",
            Group::QueryDefinitionRead => "query_definition_read",
            Group::QueryDefinitionWrite => "query_definition_write",
            Group::RecordRead => "record_read",
            Group::RecordWrite => "record_write",
            Group::AdHocQuery => "query_ad_hoc",
            Group::StoredQuery => "query_stored",
            Group::Admin => "admin",
        }
    }
}

/// Which roles may call each group: the one table (README.md shows it too).
///
/// - everyone authenticated may read the capabilities and templates (form builders render
///   them);
/// - `modeller` writes templates and stored queries, and reads no health data;
/// - `clinician` and `service` read and write records and query (which records, the access
///   rules of the store decide: their organisation's grants and the patient's consent);
/// - `reader` reads records and queries, writes nothing;
/// - `analyst` queries (ad hoc and stored) and reads query definitions, but reads no single
///   record: an analyst who must is also given `reader` or `clinician`;
/// - `patient` reads records (the store shows them their own EHR only) and runs stored queries
///   (curated by modellers, confined to their EHR by the store), not ad hoc AQL;
/// - `admin` may call everything, the admin API among it.
pub const PERMISSIONS: &[(Group, &[&str])] = &[
    (Group::Meta, &ROLES),
    (Group::TemplateRead, &ROLES),
    (Group::TemplateWrite, &["admin", "modeller"]),
    (
        Group::QueryDefinitionRead,
        &[
            "admin",
            "modeller",
            "clinician",
            "reader",
            "analyst",
            "service",
        ],
    ),
    (Group::QueryDefinitionWrite, &["admin", "modeller"]),
    (
        Group::RecordRead,
        &["admin", "clinician", "reader", "patient", "service"],
    ),
    (Group::RecordWrite, &["admin", "clinician", "service"]),
    (
        Group::AdHocQuery,
        &["admin", "clinician", "reader", "analyst", "service"],
    ),
    (
        Group::StoredQuery,
        &[
            "admin",
            "clinician",
            "reader",
            "analyst",
            "patient",
            "service",
        ],
    ),
    (Group::Admin, &["admin"]),
];

/// The roles that may call `group`.
pub fn roles_for(group: Group) -> &'static [&'static str] {
    PERMISSIONS
        .iter()
        .find(|(g, _)| *g == group)
        .map_or(&[], |(_, roles)| roles)
}

/// Whether any of `roles` may call `group`.
pub fn permits(group: Group, roles: &[String]) -> bool {
    let allowed = roles_for(group);
    roles.iter().any(|r| allowed.contains(&r.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README.md's role table, row by row: `| group | … | ✓ | | … |` in the order of [`ROLES`].
    fn readme_table() -> Vec<(String, Vec<String>)> {
        let readme = include_str!("../../../../README.md");
        let mut rows = Vec::new();
        let mut header: Option<Vec<String>> = None;
        for line in readme.lines() {
            let cells: Vec<String> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_owned())
                .collect();
            if line.trim_start().starts_with("| group |") {
                header = Some(cells);
                continue;
            }
            let Some(h) = &header else { continue };
            if !line.trim_start().starts_with('|') {
                header = None;
                continue;
            }
            if cells[0].starts_with('-') {
                continue;
            }
            let roles = h
                .iter()
                .zip(&cells)
                .filter(|(name, cell)| ROLES.contains(&name.as_str()) && cell.as_str() == "✓")
                .map(|(name, _)| name.clone())
                .collect();
            rows.push((cells[0].clone(), roles));
        }
        rows
    }

    #[test]
    fn readme_shows_the_same_table() {
        let readme = readme_table();
        let code: Vec<(String, Vec<String>)> = PERMISSIONS
            .iter()
            .map(|(g, roles)| {
                let ordered = ROLES
                    .iter()
                    .filter(|r| roles.contains(r))
                    .map(|r| r.to_string())
                    .collect();
                (g.name().to_owned(), ordered)
            })
            .collect();
        assert_eq!(readme, code);
    }

    #[test]
    fn every_role_in_the_table_is_known() {
        for (_, roles) in PERMISSIONS {
            assert!(roles.iter().all(|r| ROLES.contains(r)));
        }
        assert!(permits(Group::Admin, &["admin".to_owned()]));
        assert!(!permits(
            Group::Admin,
            &["clinician".to_owned(), "x".to_owned()]
        ));
        assert!(!permits(Group::RecordRead, &[]));
    }
}
