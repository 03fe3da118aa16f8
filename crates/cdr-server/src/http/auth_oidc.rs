//! `--auth oidc`: bearer JWTs verified with `jsonwebtoken` against the issuer's keys.
//!
//! - Keys: the JWKS named by the issuer's discovery document (`jwks_uri` of
//!   `{issuer}/.well-known/openid-configuration`, whose `issuer` must be the configured one),
//!   or a JWKS file. They are fetched on the first token, kept, and fetched again when a token
//!   names a `kid` not among them — at most once per `refresh_interval` (10 s), so tokens with
//!   made-up `kid`s cannot make cdr hammer the provider. Symmetric (`oct`) and encryption keys
//!   in a JWKS are never used.
//! - Algorithms: RS256/384/512, PS256/384/512, ES256/384 and EdDSA only; `none` does not parse
//!   as a header and every HS* is refused before any key is looked at (so an HS256 token
//!   "signed" with a public key is refused too). The key's family must match the algorithm,
//!   and a key that names its `alg` must name the token's.
//! - Claims: the signature, then `exp` (required), `nbf` (when present), `iss` (the issuer)
//!   and `aud` (one of the audiences), `exp`/`nbf` with `leeway` (30 s); `sub` is required.
//!   Roles come from the configured claims (names or dotted paths such as
//!   `realm_access.roles`; a list of strings or one space-separated string), teams likewise
//!   from the teams claim (`groups`), the organisation, patient id and a break-glass reason
//!   each from its claim, the name from `name`, else `preferred_username`, else `sub`.
//! - A verified token is remembered (by its SHA-256) until it expires, at most 60 s, so a
//!   client reusing its token costs one hash per request rather than a signature check.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use cdr_store::Principal;

use super::auth::{AuthError, Authenticated, OidcConfig};
use super::error::{ApiError, Code};
use super::outgoing;

/// A verified token is remembered at most this long (and never past its `exp`).
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(60);
const TOKEN_CACHE_MAX: usize = 10_000;

/// The algorithms accepted: asymmetric signatures only.
const ACCEPTED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A usable verification key.
struct Key {
    key: DecodingKey,
    /// The algorithm the JWKS names for it, when it names one.
    alg: Option<Algorithm>,
}

#[derive(Default)]
struct Keys {
    by_kid: HashMap<String, Key>,
    /// Keys without a `kid` (tried for tokens without one).
    unnamed: Vec<Key>,
    /// When the keys were last fetched (`None`: never).
    fetched: Option<Instant>,
    /// The JWKS URL found through discovery.
    jwks_uri: Option<String>,
}

/// The OIDC authenticator.
pub struct Oidc {
    config: OidcConfig,
    keys: RwLock<Keys>,
    /// Serialises fetches (one at a time; a waiting one sees the fresh keys).
    fetching: tokio::sync::Mutex<()>,
    cache: Mutex<HashMap<[u8; 32], (Authenticated, Instant)>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

fn refused(why: impl Into<String>) -> AuthError {
    AuthError::Refused(why.into())
}

impl Oidc {
    pub fn new(config: OidcConfig) -> Oidc {
        Oidc {
            config,
            keys: RwLock::new(Keys::default()),
            fetching: tokio::sync::Mutex::new(()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Fetches the keys now (start-up check); the number of usable keys.
    pub async fn prefetch(&self) -> Result<usize, String> {
        self.refresh(true).await?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        Ok(keys.by_kid.len() + keys.unnamed.len())
    }

    /// Verifies a bearer token.
    pub async fn verify(&self, token: &str) -> Result<Authenticated, AuthError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        let mut tag = [0u8; 32];
        tag.copy_from_slice(digest.as_ref());
        if let Some(who) = self.cached(&tag) {
            return Ok(who);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| refused(format!("the bearer token is not a signed JWT: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(refused(format!(
                "tokens signed with {:?} are not accepted: only asymmetric signatures (RS*, PS*, ES*, EdDSA)",
                header.alg
            )));
        }
        let kid = header.kid.clone();
        if !self.has_key(kid.as_deref()) {
            // An unknown key: the provider may have rotated its keys.
            self.refresh(false).await.map_err(|e| {
                AuthError::Unavailable(ApiError::new(
                    Code::IdentityProviderUnavailable,
                    format!(
                        "the keys of {} could not be fetched: {e}",
                        self.config.issuer
                    ),
                ))
            })?;
        }
        let claims = self.check(token, header.alg, kid.as_deref())?;
        let who = self.principal(&claims)?;
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let now = jsonwebtoken::get_current_timestamp();
        let ttl = Duration::from_secs(exp.saturating_sub(now)).min(TOKEN_CACHE_TTL);
        self.remember(tag, who.clone(), ttl);
        Ok(who)
    }

    fn has_key(&self, kid: Option<&str>) -> bool {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        match kid {
            Some(kid) => keys.by_kid.contains_key(kid),
            None => !keys.unnamed.is_empty() || !keys.by_kid.is_empty(),
        }
    }

    /// Verifies the signature with the token's key and validates the claims.
    fn check(
        &self,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Map<String, Value>, AuthError> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let candidates: Vec<&Key> = match kid {
            Some(kid) => keys.by_kid.get(kid).into_iter().collect(),
            None => keys.unnamed.iter().chain(keys.by_kid.values()).collect(),
        };
        if candidates.is_empty() {
            return Err(refused(match kid {
                Some(kid) => format!("the token's key '{kid}' is not among the issuer's keys"),
                None => "the issuer has no keys".to_owned(),
            }));
        }
        let mut validation = Validation::new(alg);
        validation.leeway = self.config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(self.config.audiences.as_slice());
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let mut last = None;
        for key in candidates {
            if key.alg.is_some_and(|a| a != alg) {
                last = Some(format!(
                    "the key is for {:?}, the token says {alg:?}",
                    key.alg
                ));
                continue;
            }
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = Some(describe(&e)),
            }
        }
        Err(refused(format!(
            "the bearer token is not accepted: {}",
            last.unwrap_or_default()
        )))
    }

    fn principal(&self, claims: &Map<String, Value>) -> Result<Authenticated, AuthError> {
        let string = |name: &str| {
            claim(claims, name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let subject = string("sub").ok_or_else(|| refused("the token has no 'sub'"))?;
        let roles = names(claims, &self.config.roles_claims);
        let teams = names(claims, std::slice::from_ref(&self.config.teams_claim));
        let principal = Principal {
            name: string("name").or_else(|| string("preferred_username")),
            subject,
            roles,
            organisation: string(&self.config.organisation_claim),
            teams,
            patient_id: string(&self.config.patient_id_claim),
            break_glass: claim(claims, &self.config.break_glass_claim)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned),
            ..Principal::default()
        };
        Authenticated::new(principal, &self.config.issuer, "oidc")
    }

    /// Fetches the keys again, unless they were fetched less than `refresh_interval` ago
    /// (`force` skips that wait: start-up).
    async fn refresh(&self, force: bool) -> Result<(), String> {
        let _one_at_a_time = self.fetching.lock().await;
        let (fetched, jwks_uri) = {
            let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
            (keys.fetched, keys.jwks_uri.clone())
        };
        if !force && fetched.is_some_and(|t| t.elapsed() < self.config.refresh_interval) {
            return Ok(());
        }
        // Even a failed fetch counts: the next one waits its turn.
        self.keys.write().unwrap_or_else(|e| e.into_inner()).fetched = Some(Instant::now());
        let (jwks, uri) = match &self.config.jwks_file {
            Some(path) => {
                let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let v: Value = serde_json::from_slice(&text)
                    .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
                (v, None)
            }
            None => {
                let uri = match jwks_uri {
                    Some(u) => u,
                    None => self.discover().await?,
                };
                (outgoing::get_json(&uri).await?, Some(uri))
            }
        };
        let (by_kid, unnamed) = usable_keys(&jwks)?;
        let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
        keys.by_kid = by_kid;
        keys.unnamed = unnamed;
        if uri.is_some() {
            keys.jwks_uri = uri;
        }
        Ok(())
    }

    /// The `jwks_uri` of the issuer's discovery document.
    async fn discover(&self) -> Result<String, String> {
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let doc = outgoing::get_json(&url).await?;
        let issuer = doc
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if issuer.trim_end_matches('/') != self.config.issuer {
            return Err(format!(
                "{url} names the issuer '{issuer}', not '{}'",
                self.config.issuer
            ));
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{url} has no jwks_uri"))?;
        outgoing::check_url(uri)?;
        Ok(uri.to_owned())
    }

    fn cached(&self, tag: &[u8; 32]) -> Option<Authenticated> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(tag)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(who, _)| who.clone())
    }

    fn remember(&self, tag: [u8; 32], who: Authenticated, ttl: Duration) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TOKEN_CACHE_MAX {
            let now = Instant::now();
            cache.retain(|_, (_, until)| now < *until);
            if cache.len() >= TOKEN_CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(tag, (who, Instant::now() + ttl));
    }
}

/// The names (roles, teams) the claims at `paths` hold, each a list of strings or one
/// space-separated string; sorted, without repeats.
fn names(claims: &Map<String, Value>, paths: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for path in paths {
        match claim(claims, path) {
            Some(Value::Array(list)) => {
                names.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
            }
            Some(Value::String(s)) => names.extend(s.split_whitespace().map(str::to_owned)),
            _ => {}
        }
    }
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

/// A claim by name, or by dotted path into nested objects (`realm_access.roles`); a name that
/// itself contains dots (`https://example.org/roles`) is found as it is first.
fn claim<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut v = claims.get(parts.next()?)?;
    for part in parts {
        v = v.get(part)?;
    }
    Some(v)
}

/// The signature keys of a JWKS: by `kid`, and those without one. Keys that do not parse,
/// symmetric keys and encryption keys are left out.
#[allow(clippy::type_complexity)]
fn usable_keys(jwks: &Value) -> Result<(HashMap<String, Key>, Vec<Key>), String> {
    let list = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or("the JWKS has no 'keys' list")?;
    let mut by_kid = HashMap::new();
    let mut unnamed = Vec::new();
    for v in list {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v.clone()) else {
            continue;
        };
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_))
            || matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption))
        {
            continue;
        }
        let alg = match jwk.common.key_algorithm {
            Some(a) => match format!("{a:?}").parse::<Algorithm>() {
                Ok(alg) if ACCEPTED.contains(&alg) => Some(alg),
                _ => continue,
            },
            None => None,
        };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        let key = Key { key, alg };
        match jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid, key);
            }
            None => unnamed.push(key),
        }
    }
    Ok((by_kid, unnamed))
}

/// A validation error in words.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "it has expired".into(),
        K::ImmatureSignature => "it is not valid yet (nbf)".into(),
        K::InvalidIssuer => "it is from another issuer (iss)".into(),
        K::InvalidAudience => "it is for another audience (aud)".into(),
        K::InvalidSignature => "its signature does not verify".into(),
        K::InvalidAlgorithm => "its algorithm does not fit the key".into(),
        K::MissingRequiredClaim(c) => format!("it has no '{c}'"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claims_by_name_or_dotted_path() {
        let claims = json!({
            "roles": ["a"],
            "realm_access": {"roles": ["clinician"]},
            "https://example.org/roles": "x y",
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(claim(claims, "roles"), Some(&json!(["a"])));
        assert_eq!(
            claim(claims, "realm_access.roles"),
            Some(&json!(["clinician"]))
        );
        assert_eq!(
            claim(claims, "https://example.org/roles"),
            Some(&json!("x y"))
        );
        assert_eq!(claim(claims, "realm_access.nothing"), None);
    }

    #[test]
    fn symmetric_and_encryption_keys_are_never_used() {
        let jwks = json!({"keys": [
            {"kty": "oct", "kid": "s", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "hs", "alg": "HS256", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "sig", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "nonsense"}
        ]});
        let (by_kid, unnamed) = usable_keys(&jwks).unwrap();
        assert_eq!(by_kid.keys().collect::<Vec<_>>(), vec!["sig"]);
        assert!(unnamed.is_empty());
    }
}
