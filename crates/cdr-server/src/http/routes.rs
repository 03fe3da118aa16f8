//! The route table. Everything but `/health` lives under the configurable base path.

use actix_web::{web, HttpRequest, HttpResponse, Resource};

use super::error::{ApiError, ApiResult, Code};
use super::{
    admin, composition, contribution, definition, directory, ehr, ehr_status, system, versioned,
};

/// A resource whose unlisted methods answer 405 problem+json.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// `GET` and `OPTIONS` of the base path, with or without the trailing slash.
fn capabilities(path: &str) -> Resource {
    resource(path)
        .route(web::get().to(system::capabilities))
        .route(web::method(actix_web::http::Method::OPTIONS).to(system::capabilities))
}

async fn method_not_allowed(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        Code::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

pub async fn route_not_found(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        Code::RouteNotFound,
        format!("there is no resource at {}", req.path()),
    ))
}

/// Every route: `(method, path below the base)`, as listed by the capabilities document.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("POST", "/ehr"),
    ("GET", "/ehr"),
    ("GET", "/ehr/{ehr_id}"),
    ("PUT", "/ehr/{ehr_id}"),
    ("GET", "/ehr/{ehr_id}/ehr_status"),
    ("PUT", "/ehr/{ehr_id}/ehr_status"),
    ("GET", "/ehr/{ehr_id}/ehr_status/{version_uid}"),
    ("GET", "/ehr/{ehr_id}/versioned_ehr_status"),
    ("GET", "/ehr/{ehr_id}/versioned_ehr_status/revision_history"),
    ("GET", "/ehr/{ehr_id}/versioned_ehr_status/version"),
    (
        "GET",
        "/ehr/{ehr_id}/versioned_ehr_status/version/{version_uid}",
    ),
    ("POST", "/ehr/{ehr_id}/composition"),
    ("GET", "/ehr/{ehr_id}/composition/{uid_based_id}"),
    ("PUT", "/ehr/{ehr_id}/composition/{uid_based_id}"),
    ("DELETE", "/ehr/{ehr_id}/composition/{uid_based_id}"),
    (
        "GET",
        "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}",
    ),
    (
        "GET",
        "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/revision_history",
    ),
    (
        "GET",
        "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version",
    ),
    (
        "GET",
        "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version/{version_uid}",
    ),
    ("POST", "/ehr/{ehr_id}/contribution"),
    ("GET", "/ehr/{ehr_id}/contribution/{contribution_uid}"),
    ("POST", "/ehr/{ehr_id}/directory"),
    ("PUT", "/ehr/{ehr_id}/directory"),
    ("DELETE", "/ehr/{ehr_id}/directory"),
    ("GET", "/ehr/{ehr_id}/directory"),
    ("GET", "/ehr/{ehr_id}/directory/{version_uid}"),
    ("POST", "/definition/template/adl1.4"),
    ("GET", "/definition/template/adl1.4"),
    ("GET", "/definition/template/adl1.4/{template_id}"),
    ("DELETE", "/admin/ehr/{ehr_id}"),
];

/// Registers every route under `base`.
pub fn configure(cfg: &mut web::ServiceConfig, base: &str) {
    use versioned::Kind;
    cfg.service(resource("/health").route(web::get().to(system::health)));
    cfg.service(
        web::scope(base)
            .service(capabilities("/"))
            .service(capabilities(""))
            .service(
                resource("/ehr")
                    .route(web::post().to(ehr::create))
                    .route(web::get().to(ehr::find_by_subject)),
            )
            .service(
                resource("/ehr/{ehr_id}")
                    .route(web::put().to(ehr::create_with_id))
                    .route(web::get().to(ehr::get)),
            )
            .service(
                resource("/ehr/{ehr_id}/ehr_status")
                    .route(web::get().to(ehr_status::get))
                    .route(web::put().to(ehr_status::update)),
            )
            .service(
                resource("/ehr/{ehr_id}/ehr_status/{version_uid}")
                    .route(web::get().to(ehr_status::get_version)),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_ehr_status")
                    .route(web::get().to(|r, s| versioned::info(r, s, Kind::EhrStatus))),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_ehr_status/revision_history")
                    .route(web::get().to(|r, s| versioned::history(r, s, Kind::EhrStatus))),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_ehr_status/version")
                    .route(web::get().to(|r, s| versioned::version_at(r, s, Kind::EhrStatus))),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_ehr_status/version/{version_uid}")
                    .route(web::get().to(|r, s| versioned::version_by_uid(r, s, Kind::EhrStatus))),
            )
            .service(
                resource("/ehr/{ehr_id}/composition").route(web::post().to(composition::create)),
            )
            .service(
                resource("/ehr/{ehr_id}/composition/{uid_based_id}")
                    .route(web::get().to(composition::get))
                    .route(web::put().to(composition::update))
                    .route(web::delete().to(composition::delete)),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}")
                    .route(web::get().to(|r, s| versioned::info(r, s, Kind::Composition))),
            )
            .service(
                resource(
                    "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/revision_history",
                )
                .route(web::get().to(|r, s| versioned::history(r, s, Kind::Composition))),
            )
            .service(
                resource("/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version")
                    .route(web::get().to(|r, s| versioned::version_at(r, s, Kind::Composition))),
            )
            .service(
                resource(
                    "/ehr/{ehr_id}/versioned_composition/{versioned_object_uid}/version/{version_uid}",
                )
                .route(web::get().to(|r, s| versioned::version_by_uid(r, s, Kind::Composition))),
            )
            .service(
                resource("/ehr/{ehr_id}/contribution").route(web::post().to(contribution::create)),
            )
            .service(
                resource("/ehr/{ehr_id}/contribution/{contribution_uid}")
                    .route(web::get().to(contribution::get)),
            )
            .service(
                resource("/ehr/{ehr_id}/directory")
                    .route(web::post().to(directory::create))
                    .route(web::put().to(directory::update))
                    .route(web::delete().to(directory::delete))
                    .route(web::get().to(directory::get)),
            )
            .service(
                resource("/ehr/{ehr_id}/directory/{version_uid}")
                    .route(web::get().to(directory::get_version)),
            )
            .service(
                resource("/definition/template/adl1.4")
                    .route(web::post().to(definition::upload))
                    .route(web::get().to(definition::list)),
            )
            .service(
                resource("/definition/template/adl1.4/{template_id}")
                    .route(web::get().to(definition::get)),
            )
            .service(resource("/admin/ehr/{ehr_id}").route(web::delete().to(admin::delete_ehr)))
            .default_service(web::to(route_not_found)),
    );
}
