//! The route table: [`ENDPOINTS`] is the one list of what the API serves. The router, the
//! capabilities document and `openapi.json` are all built from it, so they cannot drift apart.
//! Each endpoint names its [`Group`]; its route answers 403 before the handler runs when the
//! caller's roles may not call that group. Everything but `/health` lives under the
//! configurable base path. A trailing slash is trimmed
//! before routing (`NormalizePath` in `server.rs`), so each path is listed once.

use std::collections::BTreeMap;

use actix_web::body::BoxBody;
use actix_web::dev::ServiceRequest;
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{middleware, web, HttpRequest, HttpResponse, Resource, Route};

use super::auth;
use super::auth_roles::Group;
use super::error::{ApiError, ApiResult, Code};
use super::versioned::{self, Kind};
use super::{
    access, admin, audit, composition, contribution, definition, directory, ehr, ehr_status,
    events, flags, query, system,
};

/// One endpoint: method, path below the base, the group of endpoints whose roles may call it
/// (`auth_roles::PERMISSIONS`), a summary, and how to build its route.
#[derive(Debug)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
    pub group: Group,
    pub summary: &'static str,
    handler: fn() -> Route,
}

macro_rules! endpoints {
    ($($method:literal $path:literal $group:ident $summary:literal => $handler:expr;)*) => {
        /// Every endpoint under the base path.
        pub const ENDPOINTS: &[Endpoint] = &[
            $(Endpoint { method: $method, path: $path, group: Group::$group, summary: $summary, handler: || web::route().to($handler) },)*
        ];
    };
}

endpoints! {
    "GET" "/" Meta "Capabilities: this server and its routes" => system::capabilities;
    "OPTIONS" "/" Meta "Capabilities (OPTIONS)" => system::capabilities;
    "GET" "/openapi.json" Meta "This list of endpoints as OpenAPI 3" => system::openapi;
    "POST" "/ehr" RecordWrite "Create an EHR" => ehr::create;
    "GET" "/ehr" RecordRead "Find the EHR of a subject (subject_id, subject_namespace)" => ehr::find_by_subject;
    "GET" "/ehr/{ehr_id}" RecordRead "Get an EHR" => ehr::get;
    "PUT" "/ehr/{ehr_id}" RecordWrite "Create an EHR with the given id" => ehr::create_with_id;
    "GET" "/ehr/{ehr_id}/access_log" RecordRead "Who read or changed this EHR, newest first (from, to, action, user; limit, before)"
        => audit::access_log;
    "GET" "/ehr/{ehr_id}/ehr_status" RecordRead "Get the EHR_STATUS (latest or at version_at_time)" => ehr_status::get;
    "PUT" "/ehr/{ehr_id}/ehr_status" RecordWrite "Update the EHR_STATUS (If-Match)" => ehr_status::update;
    "GET" "/ehr/{ehr_id}/ehr_status/{version_uid}" RecordRead "Get an EHR_STATUS version" => ehr_status::get_version;
    "GET" "/ehr/{ehr_id}/versioned_ehr_status" RecordRead "Get the VERSIONED_EHR_STATUS"
        => |r, s| versioned::info(r, s, Kind::EhrStatus);
    "GET" "/ehr/{ehr_id}/versioned_ehr_status/revision_history" RecordRead "EHR_STATUS revision history"
        => |r, s| versioned::history(r, s, Kind::EhrStatus);
    "GET" "/ehr/{ehr_id}/versioned_ehr_status/version" RecordRead "EHR_STATUS ORIGINAL_VERSION (latest or at version_at_time)"
        => |r, s| versioned::version_at(r, s, Kind::EhrStatus);
    "GET" "/ehr/{ehr_id}/versioned_ehr_status/version/{version_uid}" RecordRead "EHR_STATUS ORIGINAL_VERSION by uid"
        => |r, s| versioned::version_by_uid(r, s, Kind::EhrStatus);
    "POST" "/ehr/{ehr_id}/composition" RecordWrite "Create a COMPOSITION (canonical JSON or XML, FLAT or STRUCTURED; dry_run=true validates without storing)" => composition::create;
    "GET" "/ehr/{ehr_id}/composition/{uid_based_id}" RecordRead "Get a COMPOSITION (latest, by version uid, or at version_at_time)"
        => composition::get;
    "PUT" "/ehr/{ehr_id}/composition/{uid_based_id}" RecordWrite "Update a COMPOSITION (If-Match; dry_run=true checks without storing)" => composition::update;
    "DELETE" "/ehr/{ehr_id}/composition/{uid_based_id}" RecordWrite "Delete a COMPOSITION (If-Match)" => composition::delete;
    "GET" "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}" RecordRead "Get a VERSIONED_COMPOSITION"
        => |r, s| versioned::info(r, s, Kind::Composition);
    "GET" "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/revision_history" RecordRead "COMPOSITION revision history"
        => |r, s| versioned::history(r, s, Kind::Composition);
    "GET" "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version" RecordRead "COMPOSITION ORIGINAL_VERSION (latest or at version_at_time)"
        => |r, s| versioned::version_at(r, s, Kind::Composition);
    "GET" "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version/{version_uid}" RecordRead "COMPOSITION ORIGINAL_VERSION by uid"
        => |r, s| versioned::version_by_uid(r, s, Kind::Composition);
    "POST" "/ehr/{ehr_id}/contribution" RecordWrite "Commit a CONTRIBUTION" => contribution::create;
    "GET" "/ehr/{ehr_id}/contribution/{contribution_uid}" RecordRead "Get a CONTRIBUTION" => contribution::get;
    "POST" "/ehr/{ehr_id}/directory" RecordWrite "Create the directory" => directory::create;
    "PUT" "/ehr/{ehr_id}/directory" RecordWrite "Update the directory (If-Match)" => directory::update;
    "DELETE" "/ehr/{ehr_id}/directory" RecordWrite "Delete the directory (If-Match)" => directory::delete;
    "GET" "/ehr/{ehr_id}/directory" RecordRead "Get the directory (latest or at version_at_time; path)" => directory::get;
    "GET" "/ehr/{ehr_id}/directory/{version_uid}" RecordRead "Get a directory version (path)" => directory::get_version;
    "GET" "/ehr/{ehr_id}/consent" RecordRead "The patient's sharing consent (defaults when none is recorded)" => access::get_consent;
    "PUT" "/ehr/{ehr_id}/consent" RecordWrite "Record the patient's sharing consent (state, secondary_use, note)" => access::put_consent;
    "GET" "/ehr/{ehr_id}/grants" RecordRead "The EHR's access grants" => access::list_grants;
    "POST" "/ehr/{ehr_id}/grants" RecordWrite "Grant an organisation or user read or write access, from–until" => access::add_grant;
    "DELETE" "/ehr/{ehr_id}/grants/{grant_id}" RecordWrite "Revoke a grant" => access::remove_grant;
    "POST" "/definition/template/adl1.4" TemplateWrite "Upload an ADL 1.4 operational template" => definition::upload;
    "GET" "/definition/template/adl1.4" TemplateRead "List ADL 1.4 templates" => definition::list;
    "GET" "/definition/template/adl1.4/{template_id}" TemplateRead "Get an ADL 1.4 template (OPT XML, or its web template as application/openehr.wt+json)" => definition::get;
    "GET" "/definition/template/adl1.4/{template_id}/example" TemplateRead "An example composition of an ADL 1.4 template (canonical JSON; XML, FLAT or STRUCTURED by Accept or format=)" => definition::example;
    "GET" "/definition/query" QueryDefinitionRead "List all stored queries" => definition::list_queries;
    "GET" "/definition/query/{qualified_query_name}" QueryDefinitionRead "List stored queries whose name starts with this"
        => definition::list_queries;
    "PUT" "/definition/query/{qualified_query_name}" QueryDefinitionWrite "Store a query (AQL; the server assigns the version)"
        => definition::put_query;
    "PUT" "/definition/query/{qualified_query_name}/{version}" QueryDefinitionWrite "Store a query at a version (exact or partial)"
        => definition::put_query;
    "GET" "/definition/query/{qualified_query_name}/{version}" QueryDefinitionRead "Get a stored query (exact or partial version)"
        => definition::get_query;
    "GET" "/query/aql" AdHocQuery "Run an ad hoc AQL query (q, ehr_id, offset, fetch, parameters)" => query::get;
    "POST" "/query/aql" AdHocQuery "Run an ad hoc AQL query (JSON body)" => query::post;
    "GET" "/query/{qualified_query_name}" StoredQuery "Run a stored query, latest version (ehr_id, offset, fetch, parameters)"
        => query::get_stored;
    "POST" "/query/{qualified_query_name}" StoredQuery "Run a stored query, latest version (JSON body)" => query::post_stored;
    "GET" "/query/{qualified_query_name}/{version}" StoredQuery "Run a stored query at a version (exact or partial)"
        => query::get_stored;
    "POST" "/query/{qualified_query_name}/{version}" StoredQuery "Run a stored query at a version (JSON body)"
        => query::post_stored;
    "GET" "/admin/audit" Admin "The audit trail, newest first (ehr_id, user, from, to, action; limit, before)"
        => audit::list;
    "DELETE" "/admin/ehr/{ehr_id}" Admin "Delete an EHR physically" => admin::delete_ehr;
    "DELETE" "/admin/ehr/{ehr_id}/composition/{versioned_object_id}" Admin "Delete a composition physically (all versions)"
        => admin::delete_composition;
    "DELETE" "/admin/ehr/{ehr_id}/directory/{directory_id}" Admin "Delete the EHR's directory physically (all versions; EHRbase's admin API)"
        => admin::delete_directory;
    "DELETE" "/admin/ehr/{ehr_id}/contribution/{contribution_uid}" Admin "Not implemented (501): a contribution's versions are removed with their compositions, directory or EHR"
        => admin::delete_contribution;
    "DELETE" "/admin/template/adl1.4/{template_id}" Admin "Delete a template no composition uses"
        => admin::delete_template;
    "PUT" "/admin/template/{template_id}" Admin "Replace a template no composition uses (OPT XML; EHRbase's admin API)"
        => admin::replace_template;
    "DELETE" "/admin/template/{template_id}" Admin "Delete a template no composition uses, answering {deleted: 1} (EHRbase's admin API)"
        => admin::delete_template_counted;
    "DELETE" "/admin/template/all" Admin "Delete every template when no composition uses any, answering {deleted: n} (EHRbase's admin API)"
        => admin::delete_all_templates;
    "DELETE" "/admin/query/{qualified_query_name}/{version}" Admin "Delete a stored query version"
        => admin::delete_query;
    "GET" "/admin/break_glass" Admin "Break-glass uses for review (ehr_id, subject, since)" => access::break_glass;
    "POST" "/subscriptions" Admin "Subscribe a webhook to change events ({target_url, secret?, filter?: {template_id, ehr_id, subject}})"
        => events::create;
    "GET" "/subscriptions" Admin "The webhook subscriptions with their delivery state" => events::list;
    "GET" "/subscriptions/{subscription_id}" Admin "One webhook subscription" => events::get;
    "DELETE" "/subscriptions/{subscription_id}" Admin "Delete a webhook subscription" => events::delete;
    "GET" "/events" Admin "Change events as Server-Sent Events (template_id, ehr_id, subject_id with subject_namespace; Last-Event-ID or after)"
        => events::stream;
    "GET" "/flags" RecordRead "Whether a subject has an EHR and which care plans it holds (subject_id, subject_namespace)"
        => flags::get;
    "POST" "/flags" RecordRead "The care-plan flags of up to 1,000 subjects ({subject_namespace, subject_ids})"
        => flags::post;
}

/// A resource whose unlisted methods answer 405 problem+json with `Allow: {allow}`.
fn resource(path: &str, allow: String) -> Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| {
        let allow = allow.clone();
        async move {
            Err::<HttpResponse, _>(
                ApiError::new(
                    Code::MethodNotAllowed,
                    format!("{} is not allowed on {}", req.method(), req.path()),
                )
                .allowing(allow),
            )
        }
    }))
}

/// The answer for paths nothing serves.
pub async fn route_not_found(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        Code::RouteNotFound,
        format!("there is no resource at {}", req.path()),
    ))
}

/// Registers `/health` (liveness), `/ready` (readiness: the database answers), `/metrics`, the
/// app's files under `/ui/` and every endpoint under `base` (the base path itself also without its
/// trailing slash).
pub fn configure(cfg: &mut web::ServiceConfig, base: &str) {
    cfg.service(resource("/health", "GET".into()).route(web::get().to(system::health)));
    cfg.service(resource("/ready", "GET".into()).route(web::get().to(system::ready)));
    cfg.service(resource("/metrics", "GET".into()).route(web::get().to(super::observe::metrics)));
    cfg.service(resource("/ui{file:(/.*)?}", "GET".into()).route(web::get().to(super::ui::file)));
    let mut by_path: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
    for e in ENDPOINTS {
        by_path.entry(e.path).or_default().push(e);
    }
    let mut scope = web::scope(base);
    for (path, endpoints) in by_path {
        let aliases: &[&str] = if path == "/" { &["/", ""] } else { &[path] };
        let allow: Vec<&str> = endpoints.iter().map(|e| e.method).collect();
        for alias in aliases {
            let mut res = resource(alias, allow.join(", "));
            for e in &endpoints {
                let method = Method::from_bytes(e.method.as_bytes()).unwrap_or(Method::GET);
                let group = e.group;
                let authorize =
                    middleware::from_fn(move |req: ServiceRequest, next: Next<BoxBody>| {
                        auth::authorize(group, req, next)
                    });
                res = res.route((e.handler)().method(method).wrap(authorize));
            }
            scope = scope.service(res);
        }
    }
    cfg.service(scope.default_service(web::to(route_not_found)));
}
