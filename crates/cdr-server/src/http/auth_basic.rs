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
//!
//! Guessing is throttled per user name ([`Throttle`]): after [`FAILURES`] failed logins within
//! [`FAILURE_WINDOW`], the name is refused for [`LOCKOUT`] without verifying any password (an
//! unknown name alike, so the refusal tells nothing about which names exist). A credential
//! verified before stays usable from the cache, so guessing at a name cannot lock its owner's
//! running client out.

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

/// Failed logins of one user name that lock it…
pub const FAILURES: u32 = 10;
/// …when they fall within this time…
pub const FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// …for this long.
pub const LOCKOUT: Duration = Duration::from_secs(60);
/// At most this many user names with failed logins are remembered.
const THROTTLE_MAX: usize = 10_000;

/// The failed logins per user name.
#[derive(Debug, Default)]
struct Throttle {
    names: HashMap<String, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl Throttle {
    /// How long `name` stays locked, when it is.
    fn locked(&self, name: &str, now: Instant) -> Option<Duration> {
        let until = self.names.get(name)?.locked_until?;
        until.checked_duration_since(now).filter(|d| !d.is_zero())
    }

    /// Counts a failed login of `name`; the tenth within the window locks it.
    fn failed(&mut self, name: &str, now: Instant) {
        if self.names.len() >= THROTTLE_MAX && !self.names.contains_key(name) {
            self.names.retain(|_, f| {
                now.duration_since(f.first) < FAILURE_WINDOW
                    || f.locked_until.is_some_and(|u| u > now)
            });
            if self.names.len() >= THROTTLE_MAX {
                self.names.clear();
            }
        }
        let f = self.names.entry(name.to_owned()).or_insert(Failures {
            count: 0,
            first: now,
            locked_until: None,
        });
        if now.duration_since(f.first) >= FAILURE_WINDOW || f.locked_until.is_some_and(|u| u <= now)
        {
            *f = Failures {
                count: 0,
                first: now,
                locked_until: None,
            };
        }
        f.count += 1;
        if f.count >= FAILURES {
            f.locked_until = Some(now + LOCKOUT);
        }
    }

    /// A successful login of `name` forgets its failures.
    fn succeeded(&mut self, name: &str) {
        self.names.remove(name);
    }
}

/// The Basic authenticator: the store to read users from and the verified-credential cache.
pub struct Basic {
    store: Store,
    key: hmac::Key,
    cache: Mutex<HashMap<Vec<u8>, (Authenticated, Instant)>>,
    throttle: Mutex<Throttle>,
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
            throttle: Mutex::new(Throttle::default()),
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
        let locked = self
            .throttle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .locked(username, Instant::now());
        if let Some(wait) = locked {
            return Err(refused(&format!(
                "too many failed logins for this user name; try again in {} s",
                wait.as_secs().max(1)
            )));
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
        let mut throttle = self.throttle.lock().unwrap_or_else(|e| e.into_inner());
        match (user, matches) {
            (Some(user), true) => {
                throttle.succeeded(username);
                drop(throttle);
                let who = authenticated(user)?;
                self.remember(tag, who.clone());
                Ok(who)
            }
            _ => {
                throttle.failed(username, Instant::now());
                Err(refused("wrong user name or password"))
            }
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

    #[test]
    fn failed_logins_lock_a_name_for_a_while() {
        let mut t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..FAILURES - 1 {
            t.failed("ann", t0 + Duration::from_secs(u64::from(i)));
            assert_eq!(t.locked("ann", t0 + Duration::from_secs(30)), None);
        }
        t.failed("ann", t0 + Duration::from_secs(30));
        assert_eq!(t.locked("ann", t0 + Duration::from_secs(30)), Some(LOCKOUT));
        assert_eq!(t.locked("bob", t0 + Duration::from_secs(30)), None);
        // The lock ends; the next failure starts counting again.
        let later = t0 + Duration::from_secs(30) + LOCKOUT;
        assert_eq!(t.locked("ann", later), None);
        t.failed("ann", later);
        assert_eq!(t.locked("ann", later), None);
        // Failures spread beyond the window never lock.
        let mut t = Throttle::default();
        for i in 0..3 * FAILURES {
            t.failed("ann", t0 + FAILURE_WINDOW / 5 * i);
            assert_eq!(t.locked("ann", t0 + FAILURE_WINDOW / 5 * i), None);
        }
        // A success forgets the failures.
        let mut t = Throttle::default();
        for _ in 0..FAILURES - 1 {
            t.failed("ann", t0);
        }
        t.succeeded("ann");
        t.failed("ann", t0);
        assert_eq!(t.locked("ann", t0), None);
    }
}
