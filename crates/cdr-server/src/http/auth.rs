//! Authentication: who is calling. [`AuthConfig`] chooses how (`none`, `basic`, `oidc`);
//! [`authenticate`] (an App middleware) reads the credentials of every request but `/health`
//! and puts the [`Authenticated`] caller into the request's extensions, or answers 401 with a
//! `WWW-Authenticate` challenge; [`authorize`] (a middleware on every route) answers 403 when
//! none of the caller's roles may call the route's [`Group`] (`auth_roles::PERMISSIONS`),
//! before the handler looks anything up. With `none`, every request is `Principal::local()`.
//!
//! - [`auth_basic`](super::auth_basic): users in the database, argon2id hashes;
//! - [`auth_oidc`](super::auth_oidc): bearer JWTs against the issuer's JWKS;
//! - [`outgoing`](super::outgoing): the HTTPS GET that fetches the JWKS.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use serde_json::json;

use cdr_rm::PartyProxy;
use cdr_store::{Principal, Store};

use super::auth_basic::Basic;
use super::auth_oidc::Oidc;
use super::auth_roles::{self, Group};
use super::error::{ApiError, Code};
use super::AppState;

/// How callers authenticate.
// Made once per server: the size of the OIDC settings does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AuthConfig {
    /// No authentication: every request is `Principal::local()` (an admin). Only on a loopback
    /// address, unless explicitly allowed (`ServeOptions::insecure_no_auth`).
    #[default]
    None,
    /// HTTP Basic against the users in the database (`cdr user add`).
    Basic,
    /// Bearer JWTs from an OpenID Connect provider.
    Oidc(OidcConfig),
}

impl AuthConfig {
    /// The name given to `--auth`.
    pub fn name(&self) -> &'static str {
        match self {
            AuthConfig::None => "none",
            AuthConfig::Basic => "basic",
            AuthConfig::Oidc(_) => "oidc",
        }
    }
}

/// Settings of `--auth oidc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// The issuer: tokens must carry it as `iss`; its discovery document
    /// (`{issuer}/.well-known/openid-configuration`) names the JWKS unless `jwks_file` does.
    pub issuer: String,
    /// Accepted audiences (`aud` must contain one).
    pub audiences: Vec<String>,
    /// A JWKS file read instead of the issuer's (read again on an unknown `kid`).
    pub jwks_file: Option<PathBuf>,
    /// Claims holding roles, each a name or a dotted path (`realm_access.roles`); the roles
    /// of all of them count.
    pub roles_claims: Vec<String>,
    /// The claim holding the caller's organisation.
    pub organisation_claim: String,
    /// The claim holding the caller's teams (a list of strings or one space-separated string;
    /// a name or a dotted path).
    pub teams_claim: String,
    /// The claim holding a break-glass reason: a non-empty string there asks for emergency
    /// access as the `openEHR-Break-Glass` header does (the header wins when both are given).
    pub break_glass_claim: String,
    /// The claim holding a patient's id (matched to the EHR_STATUS subject's external id).
    pub patient_id_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway: Duration,
    /// The least time between two fetches of the keys (an unknown `kid` asks again only then).
    pub refresh_interval: Duration,
}

impl OidcConfig {
    /// Defaults for an issuer and audience: roles from `roles`, organisation from
    /// `organisation`, teams from `groups`, patient id from `patient_id`, a break-glass reason
    /// from `break_glass_reason`, 30 s leeway, keys fetched again at most every 10 s.
    pub fn new(issuer: &str, audiences: Vec<String>) -> OidcConfig {
        OidcConfig {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audiences,
            jwks_file: None,
            roles_claims: vec!["roles".into()],
            organisation_claim: "organisation".into(),
            teams_claim: "groups".into(),
            break_glass_claim: "break_glass_reason".into(),
            patient_id_claim: "patient_id".into(),
            leeway: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(10),
        }
    }
}

/// The authenticated caller of a request (in its extensions).
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub principal: Principal,
    /// The committer of what this caller writes (made once, when the credentials are
    /// verified).
    pub committer: Arc<PartyProxy>,
}

impl Authenticated {
    /// The caller `principal`, whose subject id belongs to `namespace` (the issuer for OIDC,
    /// `local` for Basic users) under `scheme` (`oidc`, `cdr-user`). Their committer is a
    /// PARTY_IDENTIFIED with their name and a PARTY_REF to their subject id.
    pub fn new(
        principal: Principal,
        namespace: &str,
        scheme: &str,
    ) -> Result<Authenticated, AuthError> {
        let p = &principal;
        let value = json!({
            "_type": "PARTY_IDENTIFIED",
            "name": p.name.as_deref().unwrap_or(&p.subject),
            "external_ref": {
                "_type": "PARTY_REF",
                "id": {"_type": "GENERIC_ID", "value": p.subject, "scheme": scheme},
                "namespace": namespace,
                "type": "PERSON",
            }
        });
        let committer = cdr_rm::json::from_json_value(value).map_err(|e| {
            AuthError::Unavailable(ApiError::new(
                Code::Internal,
                format!("the committer of {}: {}", p.subject, e.message),
            ))
        })?;
        Ok(Authenticated {
            principal,
            committer: Arc::new(committer),
        })
    }
}

/// The authenticator of a running server, shared by its workers.
#[derive(Debug)]
pub enum Authenticator {
    None,
    Basic(Basic),
    Oidc(Oidc),
}

impl Authenticator {
    /// The authenticator for `config` (users are read from `store`).
    pub fn new(config: &AuthConfig, store: &Store) -> Authenticator {
        match config {
            AuthConfig::None => Authenticator::None,
            AuthConfig::Basic => Authenticator::Basic(Basic::new(store.clone())),
            AuthConfig::Oidc(c) => Authenticator::Oidc(Oidc::new(c.clone())),
        }
    }

    /// Whether requests must authenticate.
    pub fn enabled(&self) -> bool {
        !matches!(self, Authenticator::None)
    }

    /// The 401 for a request without usable credentials, with the challenge of this scheme.
    pub fn unauthenticated(&self, detail: impl Into<String>, bad_token: bool) -> ApiError {
        let challenge = match self {
            Authenticator::Basic(_) => r#"Basic realm="cdr", charset="UTF-8""#.to_owned(),
            // RFC 6750: `error="invalid_token"` when a token was given and refused.
            _ if bad_token => r#"Bearer realm="cdr", error="invalid_token""#.to_owned(),
            _ => r#"Bearer realm="cdr""#.to_owned(),
        };
        ApiError::new(Code::Unauthenticated, detail).challenging(challenge)
    }

    /// The caller of a request with these headers, or the error to answer (401, or 503 when
    /// the database or the identity provider cannot be asked).
    pub async fn identify(&self, req: &ServiceRequest) -> Result<Authenticated, ApiError> {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().map(str::trim));
        let (scheme, credentials) = match given {
            None => return Err(self.unauthenticated("this request needs credentials", false)),
            Some(Err(_)) => {
                return Err(self.unauthenticated("the Authorization header is not ASCII", false))
            }
            Some(Ok(v)) => v.split_once(' ').unwrap_or((v, "")),
        };
        let credentials = credentials.trim();
        match self {
            Authenticator::None => Authenticated::new(Principal::local(), "local", "local")
                .map_err(|e| e.into_api(self)),
            Authenticator::Basic(basic) if scheme.eq_ignore_ascii_case("basic") => basic
                .verify(credentials)
                .await
                .map_err(|e| e.into_api(self)),
            Authenticator::Oidc(oidc) if scheme.eq_ignore_ascii_case("bearer") => {
                oidc.verify(credentials).await.map_err(|e| e.into_api(self))
            }
            _ => Err(self.unauthenticated(
                format!(
                    "the Authorization scheme '{scheme}' is not accepted; use {}",
                    match self {
                        Authenticator::Basic(_) => "Basic",
                        _ => "Bearer",
                    }
                ),
                false,
            )),
        }
    }
}

/// Why credentials were not accepted.
#[derive(Debug)]
pub enum AuthError {
    /// Missing, malformed, wrong or expired: 401 with this detail.
    Refused(String),
    /// The credentials could not be checked (database or identity provider): the error.
    Unavailable(ApiError),
}

impl AuthError {
    fn into_api(self, auth: &Authenticator) -> ApiError {
        match self {
            AuthError::Refused(detail) => auth.unauthenticated(detail, true),
            AuthError::Unavailable(e) => e,
        }
    }
}

/// App middleware: authenticates every request but `GET /health` (see the module doc).
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let Some(state) = state.filter(|s| s.auth.enabled()) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if matches!(req.path(), "/health" | "/ready" | "/metrics") || super::ui::is_ui(req.path()) {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    }
    match state.auth.identify(&req).await {
        Ok(who) => {
            req.extensions_mut().insert(who);
            next.call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        Err(e) => Ok(req.error_response(e)),
    }
}

/// Route middleware: 403 unless one of the caller's roles may call `group`. Without
/// authentication the caller is the local admin, who may call everything.
pub async fn authorize(
    group: Group,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let enabled = req
        .app_data::<web::Data<AppState>>()
        .is_none_or(|s| s.auth.enabled());
    let refusal = match req.extensions().get::<Authenticated>() {
        Some(who) if auth_roles::permits(group, &who.principal.roles) => None,
        Some(who) => Some(ApiError::new(
            Code::Forbidden,
            format!(
                "{} ({}) may not call {} endpoints: they need one of the roles {}",
                who.principal.subject,
                match who.principal.roles.is_empty() {
                    true => "no roles".to_owned(),
                    false => format!("roles {}", who.principal.roles.join(", ")),
                },
                group.name(),
                auth_roles::roles_for(group).join(", ")
            ),
        )),
        None if !enabled => None,
        None => Some(ApiError::new(
            Code::Unauthenticated,
            "this request needs credentials",
        )),
    };
    match refusal {
        None => next.call(req).await,
        Some(e) => Ok(req.error_response(e)),
    }
}

/// The caller of a request: the authenticated principal, the local principal when
/// authentication is off, and a principal without roles should a request escape
/// authentication while it is on.
pub fn caller(enabled: bool, req: &HttpRequest) -> Principal {
    match req.extensions().get::<Authenticated>() {
        Some(who) => who.principal.clone(),
        None if !enabled => Principal::local(),
        None => Principal {
            subject: "anonymous".into(),
            ..Principal::default()
        },
    }
}

/// The committer a write must carry, when the caller authenticated: the caller. Without
/// authentication, `None` (the client's `openEHR-AUDIT_DETAILS` committer, or the store's
/// default, stands).
pub fn committer(req: &HttpRequest) -> Option<PartyProxy> {
    req.extensions()
        .get::<Authenticated>()
        .map(|who| PartyProxy::clone(&who.committer))
}

/// Whether `bind` (`host:port`) names only loopback addresses: `127.0.0.0/8`, `::1`, or a name
/// that resolves to nothing else (`localhost`).
pub fn is_loopback(bind: &str) -> bool {
    if let Ok(addr) = bind.parse::<SocketAddr>() {
        return addr.ip().is_loopback();
    }
    if let Ok(ip) = bind.trim_matches(['[', ']']).parse::<IpAddr>() {
        return ip.is_loopback();
    }
    match bind.to_socket_addrs() {
        Ok(addrs) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_addresses() {
        assert!(is_loopback("127.0.0.1:8080"));
        assert!(is_loopback("127.1.2.3:0"));
        assert!(is_loopback("[::1]:8080"));
        assert!(is_loopback("localhost:8080"));
        assert!(!is_loopback("0.0.0.0:8080"));
        assert!(!is_loopback("[::]:8080"));
        assert!(!is_loopback("10.1.2.3:8080"));
        assert!(!is_loopback("nonsense"));
    }
}
