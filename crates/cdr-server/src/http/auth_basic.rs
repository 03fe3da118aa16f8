//! `--auth basic`: HTTP Basic credentials checked against the users in the database
//! (`cdr user add|passwd|remove|list`), whose passwords are argon2id hashes.
//!
//! Verifying an argon2id hash takes tens of milliseconds of CPU by design, so a verified
//! credential is remembered for [`CACHE_TTL`] (60 s): within that time the same user name and
//! password are accepted without asking the database or argon2 again. That is the bound on how
//! long a password change or a removed user (by `cdr user`, another process) goes unnoticed by
//! a running server. The cache keys are HMAC-SHA-256 of name and password under a key drawn
//! at start-up, so the process memory holds no password and nothing a dictionary can be run
//! against without that key; failed attempts are not remembered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use cdr_store::{Principal, Store, User};

use super::auth::{AuthError, Authenticated};
use super::error::{ApiError, Code};

/// How long a verified user name and password are accepted without verifying them again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// At most this many remembered credentials (when full, expired ones go; then all).
const CACHE_MAX: usize = 10_000;

/// The Basic authenticator: the store to read users from and the verified-credential cache.
pub struct Basic {
    store: Store,
    key: hmac::Key,
    cache: Mutex<HashMap<Vec<u8>, (Authenticated, Instant)>>,
    /// A hash verified when the user does not exist, so that an unknown name costs as much
    /// time as a wrong password and answers alike.
    dummy: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Basic").finish_non_exhaustive()
    }
}

/// The argon2id hash (PHC string, argon2's default parameters: 19 MiB, 2 passes) of a
/// password, with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no random numbers for the salt".to_owned())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` matches the PHC `hash` (false for a hash that does not parse).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

impl Basic {
    pub fn new(store: Store) -> Basic {
        let rng = SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, &rand_fallback()));
        Basic {
            store,
            key,
            cache: Mutex::new(HashMap::new()),
            dummy: hash_password("cdr: no such user").unwrap_or_default(),
        }
    }

    /// Verifies the base64 `user:password` of a Basic `Authorization` header.
    pub async fn verify(&self, credentials: &str) -> Result<Authenticated, AuthError> {
        let refused = |why: &str| AuthError::Refused(why.to_owned());
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .map_err(|_| refused("the Basic credentials are not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| refused("the Basic credentials are not UTF-8"))?;
        let (username, password) = decoded.split_once(':').ok_or_else(|| {
            refused("the Basic credentials have no ':' between name and password")
        })?;
        let tag = hmac::sign(&self.key, decoded.as_bytes()).as_ref().to_vec();
        if let Some(who) = self.cached(&tag) {
            return Ok(who);
        }
        let user = match cdr_store::check_username(username) {
            Ok(()) => self
                .store
                .user(username)
                .await
                .map_err(|e| AuthError::Unavailable(ApiError::from(e)))?,
            Err(_) => None,
        };
        let hash = user
            .as_ref()
            .map_or(self.dummy.clone(), |u| u.password_hash.clone());
        let password = password.to_owned();
        let matches = actix_web::web::block(move || verify_password(&password, &hash))
            .await
            .map_err(|e| {
                AuthError::Unavailable(ApiError::new(
                    Code::Internal,
                    format!("verifying a password: {e}"),
                ))
            })?;
        match (user, matches) {
            (Some(user), true) => {
                let who = authenticated(user)?;
                self.remember(tag, who.clone());
                Ok(who)
            }
            _ => Err(refused("wrong user name or password")),
        }
    }

    fn cached(&self, tag: &[u8]) -> Option<Authenticated> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(tag)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(who, _)| who.clone())
    }

    fn remember(&self, tag: Vec<u8>, who: Authenticated) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(tag, (who, Instant::now()));
    }
}

/// A key from the clock and the process id, should the system have no random numbers (it
/// only keys an in-memory cache).
fn rand_fallback() -> Vec<u8> {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}{}", t.as_nanos(), std::process::id()).into_bytes()
}

fn authenticated(user: User) -> Result<Authenticated, AuthError> {
    let principal = Principal {
        name: user.full_name.or_else(|| Some(user.username.clone())),
        subject: user.username,
        roles: user.roles,
        organisation: user.organisation,
        teams: user.teams,
        patient_id: user.patient_id,
        ..Principal::default()
    };
    Authenticated::new(principal, "local", "cdr-user")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(h, hash_password("correct horse").unwrap(), "salted");
    }
}
