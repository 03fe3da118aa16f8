//! Authentication and the role table over HTTP: real signed tokens (keys generated here, the
//! JWKS and discovery document served by a small HTTP server in the test), Basic users made
//! with `cdr user`, every endpoint × every role, and the committer taken from the identity.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use cdr_server::http::auth::{AuthConfig, OidcConfig};
use cdr_server::http::routes::ENDPOINTS;
use cdr_server::http::ServeOptions;

use crate::common::{
    audit_trail, server_on, server_with_options, test_options, Req, Resp, Server, BASE, OPT,
};

const AUDIENCE: &str = "cdr-api";

/// A signing key: its private part for `jsonwebtoken` and its public JWK.
struct SigningKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// The public key's bytes (what an attacker would use as an HMAC secret).
    public: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn es256(kid: &str) -> SigningKey {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
        jwk: json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                    "x": b64(&public[1..33]), "y": b64(&public[33..65])}),
        public,
    }
}

fn eddsa(kid: &str) -> SigningKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::EdDSA,
        encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&public)}),
        public,
    }
}

/// An RSA key made by the `openssl` command (ring makes no RSA keys).
fn rs256(kid: &str) -> SigningKey {
    let dir = cdr_testkit::temp_dir("cdr-rsa");
    let pem = dir.join("key.pem");
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "genrsa",
        "-traditional",
        "-out",
        pem.to_str().unwrap(),
        "2048",
    ]);
    let der = run(&[
        "rsa",
        "-in",
        pem.to_str().unwrap(),
        "-traditional",
        "-outform",
        "DER",
    ]);
    let modulus = String::from_utf8(run(&[
        "rsa",
        "-in",
        pem.to_str().unwrap(),
        "-noout",
        "-modulus",
    ]))
    .unwrap();
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let n: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(&der),
        jwk: json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": b64(&n), "e": "AQAB"}),
        public: n,
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The issuer: an HTTP server on loopback serving the discovery document and the JWKS, which
/// a test may change; it counts the JWKS fetches.
struct Issuer {
    url: String,
    jwks: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
}

impl Issuer {
    async fn start(keys: &[&SigningKey]) -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/realms/test", listener.local_addr().unwrap());
        let issuer = Issuer {
            url: url.clone(),
            jwks: Arc::new(Mutex::new(Value::Null)),
            fetches: Arc::new(AtomicUsize::new(0)),
        };
        issuer.serve(keys);
        let (jwks, fetches) = (issuer.jwks.clone(), issuer.fetches.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (jwks, fetches, url) = (jwks.clone(), fetches.clone(), url.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    let (status, body) = match path.as_str() {
                        "/realms/test/.well-known/openid-configuration" => (
                            "200 OK",
                            json!({"issuer": url, "jwks_uri": format!("{url}/certs")}).to_string(),
                        ),
                        "/realms/test/certs" => {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", jwks.lock().unwrap().to_string())
                        }
                        _ => ("404 Not Found", "{}".to_owned()),
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        issuer
    }

    /// Serves these keys from now on.
    fn serve(&self, keys: &[&SigningKey]) {
        *self.jwks.lock().unwrap() =
            json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    }

    fn config(&self) -> OidcConfig {
        OidcConfig {
            roles_claims: vec!["roles".into(), "realm_access.roles".into()],
            refresh_interval: Duration::from_secs(1),
            ..OidcConfig::new(&self.url, vec![AUDIENCE.into()])
        }
    }

    /// Claims of a valid token for `sub` with `roles`.
    fn claims(&self, sub: &str, roles: &[&str]) -> Value {
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": sub, "name": format!("Dr {sub}"),
            "preferred_username": sub, "iat": now(), "nbf": now() - 5, "exp": now() + 300,
            "roles": roles, "organisation": "org-1",
        })
    }
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// A token with a header of our own and the signature given (for forgeries).
fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

fn hs256(secret: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn bearer(req: Req, token: &str) -> Req {
    req.header("Authorization", &format!("Bearer {token}"))
}

async fn oidc_server(issuer: &Issuer) -> Server {
    server_with_options(ServeOptions {
        auth: AuthConfig::Oidc(issuer.config()),
        ..test_options()
    })
    .await
}

/// Asserts a 401 with a Bearer challenge.
fn unauthenticated(res: &Resp, what: &str) {
    assert_eq!(res.status, 401, "{what}: {}", res.text());
    res.problem(401, "unauthenticated");
    let challenge = res.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer realm=\"cdr\""),
        "{what}: {challenge}"
    );
}

#[tokio::test]
async fn tokens_that_must_not_pass_are_401_and_good_ones_pass() {
    let key = es256("k1");
    let other = es256("k1"); // the same kid, another key
    let ed = eddsa("ed1");
    let rsa = rs256("rsa1");
    let issuer = Issuer::start(&[&key, &ed, &rsa]).await;
    let srv = oidc_server(&issuer).await;
    let templates = "/definition/template/adl1.4";
    let good = issuer.claims("alice", &["reader"]);

    for k in [&key, &ed, &rsa] {
        let res = bearer(srv.get(templates), &sign(k, &good)).send().await;
        assert_eq!(res.status, 200, "{:?}: {}", k.alg, res.text());
    }
    // Keycloak puts realm roles under realm_access.roles.
    let mut keycloak = good.clone();
    keycloak["roles"] = json!(null);
    keycloak["realm_access"] = json!({"roles": ["reader"]});
    let res = bearer(srv.get(templates), &sign(&key, &keycloak))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    unauthenticated(&srv.get(templates).send().await, "no credentials");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        edit(&mut c);
        sign(&key, &c)
    };
    let header = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
    let cases: Vec<(&str, String)> = vec![
        ("garbage", "not.a.token".to_owned()),
        ("expired", with(&|c| c["exp"] = json!(now() - 120))),
        ("not yet valid", with(&|c| c["nbf"] = json!(now() + 120))),
        (
            "wrong issuer",
            with(&|c| c["iss"] = json!("https://evil.example.org")),
        ),
        ("wrong audience", with(&|c| c["aud"] = json!("another-api"))),
        ("no exp", with(&|c| c["exp"] = json!(null))),
        ("no sub", with(&|c| c["sub"] = json!(null))),
        (
            "alg none",
            forged(&json!({"alg": "none", "typ": "JWT"}), &good, b""),
        ),
        (
            "alg none, kid",
            forged(&json!({"alg": "none", "kid": "k1"}), &good, b""),
        ),
        ("HS256 with the public key", hs256(&key.public, "k1", &good)),
        (
            "HS256 with the JWK",
            hs256(key.jwk.to_string().as_bytes(), "k1", &good),
        ),
        (
            "HS256 with the RSA modulus",
            hs256(&rsa.public, "rsa1", &good),
        ),
        ("another key, same kid", sign(&other, &good)),
        ("a signature cut off", {
            let t = sign(&key, &good);
            t[..t.len() - 4].to_owned()
        }),
        ("a claim changed after signing", {
            let t = sign(&key, &good);
            let parts: Vec<&str> = t.split('.').collect();
            let mut c = good.clone();
            c["roles"] = json!(["admin"]);
            format!(
                "{}.{}.{}",
                parts[0],
                b64(c.to_string().as_bytes()),
                parts[2]
            )
        }),
        ("an EdDSA token naming the ES256 key", {
            let mut h = Header::new(Algorithm::EdDSA);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, &good, &ed.encoding).unwrap()
        }),
        ("empty signature", forged(&header, &good, b"")),
    ];
    for (what, token) in &cases {
        let res = bearer(srv.get(templates), token).send().await;
        unauthenticated(&res, what);
        let challenge = res.header("www-authenticate").unwrap_or_default();
        assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
    }
    // Credentials of another scheme.
    let res = srv
        .get(templates)
        .header(
            "Authorization",
            &format!("Basic {}", STANDARD.encode("alice:pw")),
        )
        .send()
        .await;
    unauthenticated(&res, "Basic to a Bearer server");
    // /health needs no credentials.
    let res = srv.raw("GET", "/health").send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    // An unknown path is 401 too: nothing is answered to the unauthenticated.
    unauthenticated(&srv.get("/nothing/here").send().await, "unknown path");
}

#[tokio::test]
async fn rotated_keys_are_fetched_again_and_unknown_kids_are_refused_at_a_bounded_rate() {
    let k1 = es256("k1");
    let k2 = es256("k2");
    let issuer = Issuer::start(&[&k1]).await;
    let srv = oidc_server(&issuer).await;
    let path = "/definition/template/adl1.4";
    let res = bearer(srv.get(path), &sign(&k1, &issuer.claims("a", &["reader"])))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates to k2; a token signed with k2 makes cdr fetch the keys again.
    issuer.serve(&[&k2]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = bearer(srv.get(path), &sign(&k2, &issuer.claims("b", &["reader"])))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    // A fresh token with the retired key is refused.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let res = bearer(srv.get(path), &sign(&k1, &issuer.claims("c", &["reader"])))
        .send()
        .await;
    unauthenticated(&res, "retired key");

    // A kid never served: 401; many of them in a row fetch at most once more.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let strangers: Vec<String> = (0..10)
        .map(|i| {
            sign(
                &es256(&format!("never-{i}")),
                &issuer.claims("d", &["reader"]),
            )
        })
        .collect();
    let before = issuer.fetches.load(Ordering::SeqCst);
    for token in &strangers {
        let res = bearer(srv.get(path), token).send().await;
        unauthenticated(&res, "a kid never served");
    }
    let after = issuer.fetches.load(Ordering::SeqCst);
    assert!(after - before <= 1, "{before} → {after} fetches");
    // k2 still works (its keys were kept).
    let res = bearer(srv.get(path), &sign(&k2, &issuer.claims("e", &["reader"])))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
}

/// The roles that may call an endpoint, written out here by hand (not read from the server's
/// table), by method and path below the base.
fn expected_roles(method: &str, path: &str) -> &'static [&'static str] {
    const ALL: &[&str] = &[
        "admin",
        "modeller",
        "clinician",
        "reader",
        "analyst",
        "patient",
        "service",
    ];
    if path == "/"
        || path == "/openapi.json"
        || path.starts_with("/definition/template") && method == "GET"
    {
        return ALL;
    }
    if path.starts_with("/definition/template") {
        return &["admin", "modeller"];
    }
    if path.starts_with("/definition/query") {
        return match method {
            "GET" => &[
                "admin",
                "modeller",
                "clinician",
                "reader",
                "analyst",
                "service",
            ],
            _ => &["admin", "modeller"],
        };
    }
    if path == "/query/aql" {
        return &["admin", "clinician", "reader", "analyst", "service"];
    }
    if path.starts_with("/query/") {
        return &[
            "admin",
            "clinician",
            "reader",
            "analyst",
            "patient",
            "service",
        ];
    }
    if path.starts_with("/admin/") || path.starts_with("/subscriptions") || path == "/events" {
        return &["admin"];
    }
    if path == "/flags" {
        return &["admin", "clinician", "reader", "patient", "service"];
    }
    assert!(
        path.starts_with("/ehr"),
        "{method} {path} has no expectation"
    );
    match method {
        "GET" => &["admin", "clinician", "reader", "patient", "service"],
        _ => &["admin", "clinician", "service"],
    }
}

#[tokio::test]
async fn every_endpoint_and_every_role_allowed_or_denied() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let admin = sign(&key, &issuer.claims("root", &["admin"]));
    let res = bearer(srv.post("/definition/template/adl1.4"), &admin)
        .body("application/xml", OPT)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let res = bearer(srv.post("/ehr"), &admin).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let res = bearer(srv.post(&format!("/ehr/{ehr}/composition")), &admin)
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let version = res.etag();
    let vo = version.split("::").next().unwrap().to_owned();
    let res = bearer(srv.put("/definition/query/org.example::q"), &admin)
        .body("text/plain", "SELECT e/ehr_id/value FROM EHR e")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());

    let fill = |path: &str| {
        path.replace("{ehr_id}", &ehr)
            .replace("{uid_based_id}", &version)
            .replace("{versioned_object_uid}", &vo)
            .replace("{versioned_object_id}", &vo)
            .replace("{version_uid}", &version)
            .replace("{contribution_uid}", &uuid::Uuid::new_v4().to_string())
            .replace("{directory_id}", &uuid::Uuid::new_v4().to_string())
            .replace("{template_id}", "cdr_test_vitals.v1")
            .replace("{qualified_query_name}", "org.example::q")
            .replace("{version}", "1.0.0")
            .replace("{subscription_id}", &uuid::Uuid::new_v4().to_string())
    };
    let roles = [
        "modeller",
        "clinician",
        "reader",
        "analyst",
        "patient",
        "service",
        "admin",
    ];
    let mut checked = 0;
    let mut sent = Vec::new();
    for role in roles {
        let token = sign(&key, &issuer.claims(&format!("user-{role}"), &[role]));
        for e in ENDPOINTS {
            let path = fill(e.path);
            let mut req = bearer(srv.req(e.method, &path), &token);
            if matches!(e.method, "POST" | "PUT") {
                req = req.body("application/json", "{}");
            }
            if e.path == "/events" {
                // An event stream does not end; one in JSON is refused (406) after the roles.
                req = req.header("Accept", "application/json");
            }
            let res = req.send().await;
            // The documents describing the server (`/`, `/openapi.json`) are not audited.
            let describes_the_server = matches!(path.trim_end_matches('/'), "" | "/openapi.json");
            sent.extend((!describes_the_server).then(|| {
                (
                    format!("user-{role}"),
                    format!("{} {BASE}{path}", e.method),
                    (200..300).contains(&res.status),
                    res.status == 403,
                )
            }));
            let what = format!("{role}: {} {}", e.method, e.path);
            // 501 is the answer of the one endpoint cdr lists but does not offer.
            let not_offered = res.status == 501 && res.json()["code"] == "not_implemented";
            assert!(
                res.status < 500 || not_offered,
                "{what}: {} {}",
                res.status,
                res.text()
            );
            assert_ne!(res.status, 401, "{what}: {}", res.text());
            let refused = res.status == 403 && res.json()["code"] == "forbidden";
            let allowed = expected_roles(e.method, e.path).contains(&role);
            assert_eq!(!refused, allowed, "{what}: {} {}", res.status, res.text());
            checked += 1;
        }
    }
    assert_eq!(checked, ENDPOINTS.len() * 7);
    assert!(ENDPOINTS.len() >= 48, "{}", ENDPOINTS.len());

    // Every other one of those requests left its audit event: who, what, the outcome, and a refusal
    // as `denied` (compared as sets: a read's event, written by the audit writer, may take its
    // place in the trail after the next request's write).
    let trail = audit_trail(&srv.store, None).await;
    let mut audited: Vec<_> = trail
        .iter()
        .filter(|r| r.event.subject.starts_with("user-"))
        .map(|r| {
            (
                r.event.subject.clone(),
                r.event.resource.clone().unwrap_or_default(),
                r.event.success,
                r.event.action == cdr_store::AuditAction::Denied,
            )
        })
        .collect();
    audited.sort();
    sent.sort();
    let missing: Vec<_> = sent.iter().filter(|s| !audited.contains(s)).collect();
    let extra: Vec<_> = audited.iter().filter(|a| !sent.contains(a)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "requests without their event: {missing:#?}\nevents of no request: {extra:#?}"
    );
    assert_eq!(audited, sent);

    // A role that cdr does not know, or none, grants nothing but the right to be told so.
    let nobody = sign(&key, &issuer.claims("nobody", &["superuser"]));
    let res = bearer(srv.get("/definition/template/adl1.4"), &nobody)
        .send()
        .await;
    res.problem(403, "forbidden");
}

#[tokio::test]
async fn a_refusal_does_not_tell_whether_the_record_exists() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let admin = sign(&key, &issuer.claims("root", &["admin"]));
    let res = bearer(srv.post("/ehr"), &admin).send().await;
    let ehr = res.etag();
    let reader = sign(&key, &issuer.claims("r", &["reader"]));
    let analyst = sign(&key, &issuer.claims("a", &["analyst"]));
    let missing = uuid::Uuid::new_v4().to_string();
    let mut details = Vec::new();
    for id in [&ehr, &missing] {
        let res = bearer(srv.delete(&format!("/admin/ehr/{id}")), &reader)
            .send()
            .await;
        details.push(res.problem(403, "forbidden")["detail"].clone());
        let res = bearer(srv.get(&format!("/ehr/{id}")), &analyst)
            .send()
            .await;
        details.push(res.problem(403, "forbidden")["detail"].clone());
    }
    assert_eq!(details[0], details[2]);
    assert_eq!(details[1], details[3]);
    // The EHR is still there.
    let res = bearer(srv.get(&format!("/ehr/{ehr}")), &admin).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
}

/// The committer of a composition version as stored.
async fn committer_of(srv: &Server, auth: (&str, &str), ehr: &str, version: &str) -> Value {
    let vo = version.split("::").next().unwrap();
    let res = srv
        .get(&format!(
            "/ehr/{ehr}/versioned_composition/{vo}/version/{version}"
        ))
        .header(auth.0, auth.1)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    res.json()["commit_audit"].clone()
}

#[tokio::test]
async fn the_committer_is_the_token_holder_whatever_the_headers_say() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let admin = format!("Bearer {}", sign(&key, &issuer.claims("root", &["admin"])));
    let res = srv
        .post("/definition/template/adl1.4")
        .header("Authorization", &admin)
        .body("application/xml", OPT)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let mut claims = issuer.claims("u-123", &["clinician"]);
    claims["name"] = json!("Dr Who");
    let clinician = format!("Bearer {}", sign(&key, &claims));
    let res = srv
        .post("/ehr")
        .header("Authorization", &clinician)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    let res = srv
        .post(&format!("/ehr/{ehr}/composition"))
        .header("Authorization", &clinician)
        .header("openEHR-AUDIT_DETAILS.committer", "name=\"Mallory\"")
        .header("openEHR-AUDIT_DETAILS.description", "value=\"ward round\"")
        .body("application/json", crate::common::COMPOSITION)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let audit = committer_of(
        &srv,
        ("Authorization", clinician.as_str()),
        &ehr,
        &res.etag(),
    )
    .await;
    assert_eq!(audit["committer"]["name"], "Dr Who", "{audit}");
    assert_eq!(audit["committer"]["external_ref"]["id"]["value"], "u-123");
    assert_eq!(
        audit["committer"]["external_ref"]["namespace"],
        issuer.url.as_str()
    );
    assert_eq!(audit["description"]["value"], "ward round", "{audit}");

    // A contribution's committers are replaced the same way.
    let coded = |c: &str, v: &str| json!({"value": v, "defining_code": {"terminology_id": {"value": "openehr"}, "code_string": c}});
    let body = json!({
        "audit": {"change_type": coded("249", "creation"),
                  "committer": {"_type": "PARTY_IDENTIFIED", "name": "Mallory"}},
        "versions": [{
            "_type": "ORIGINAL_VERSION",
            "lifecycle_state": coded("532", "complete"),
            "commit_audit": {"change_type": coded("249", "creation"),
                             "committer": {"_type": "PARTY_IDENTIFIED", "name": "Mallory"}},
            "data": serde_json::from_str::<Value>(crate::common::COMPOSITION).unwrap(),
        }],
    });
    let res = srv
        .post(&format!("/ehr/{ehr}/contribution"))
        .header("Authorization", &clinician)
        .header("Prefer", "return=representation")
        .json(&body)
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    let contribution = res.json();
    assert_eq!(
        contribution["audit"]["committer"]["name"], "Dr Who",
        "{contribution}"
    );
    let version = contribution["versions"][0]["id"]["value"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit = committer_of(&srv, ("Authorization", clinician.as_str()), &ehr, &version).await;
    assert_eq!(audit["committer"]["name"], "Dr Who", "{audit}");
}

/// A `DATABASE_URL` (key-value form) of a fresh database, and its settings.
async fn fresh_database_url() -> (String, tokio_postgres::Config) {
    use tokio_postgres::config::Host;
    let pg = cdr_testkit::fresh_database().await;
    let host = match &pg.get_hosts()[0] {
        Host::Unix(path) => path.display().to_string(),
        Host::Tcp(name) => name.clone(),
    };
    let url = format!(
        "host={host} port={} user={} dbname={}",
        pg.get_ports()[0],
        pg.get_user().unwrap_or("cdr"),
        pg.get_dbname().unwrap_or("cdr")
    );
    (url, pg)
}

/// Runs `cdr user …` on the database at `url` with `stdin`; returns (exit code, stdout, stderr).
fn cdr_user(url: &str, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .arg("user")
        .args(args)
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cdr user runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Ten failed logins of one user name lock it for a minute: even the right password is then
/// refused (401, saying why) without being verified, an unknown name alike, while another
/// user, and a credential of the locked name verified before, keep working.
#[tokio::test]
async fn failed_basic_logins_lock_the_name() {
    let (url, pg) = fresh_database_url().await;
    for name in ["ann", "kim", "rex"] {
        let add = ["add", name, "--roles", "reader"];
        let (code, out, err) = cdr_user(&url, &add, "a long secret\n", &[]);
        assert_eq!(code, 0, "{out}{err}");
    }
    let store = cdr_store::Store::connect(pg, &cdr_testkit::config(), None)
        .await
        .unwrap();
    let srv = server_on(
        store,
        ServeOptions {
            auth: AuthConfig::Basic,
            ..test_options()
        },
    );
    let get = |auth: String| {
        let srv = &srv;
        async move {
            srv.get("/definition/template/adl1.4")
                .header("Authorization", &auth)
                .send()
                .await
        }
    };
    let ann = basic("ann", "a long secret");
    assert_eq!(get(ann.clone()).await.status, 200);
    for name in ["ann", "kim", "nobody"] {
        for _ in 0..10 {
            let res = get(basic(name, "a guess")).await;
            res.problem(401, "unauthenticated");
            assert!(
                res.text().contains("wrong user name or password"),
                "{}",
                res.text()
            );
        }
    }
    for name in ["ann", "kim", "nobody"] {
        let res = get(basic(name, "a long secret.")).await;
        res.problem(401, "unauthenticated");
        assert!(
            res.text()
                .contains("too many failed logins for this user name"),
            "{}",
            res.text()
        );
    }
    let res = get(basic("kim", "a long secret")).await;
    res.problem(401, "unauthenticated");
    assert!(
        res.text().contains("too many failed logins"),
        "{}",
        res.text()
    );
    // Another name, and ann's credential verified before the lock, are not affected.
    assert_eq!(get(basic("rex", "a long secret")).await.status, 200);
    assert_eq!(get(ann).await.status, 200);
}

#[tokio::test]
async fn basic_users_made_with_cdr_user() {
    let (url, pg) = fresh_database_url().await;
    let add = [
        "add",
        "ann",
        "--roles",
        "clinician",
        "--full-name",
        "Ann Smith",
        "--organisation",
        "org-1",
    ];
    let (code, out, err) = cdr_user(&url, &add, "a long secret\n", &[]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = cdr_user(
        &url,
        &[
            "add",
            "rex",
            "--roles",
            "reader",
            "--password-env",
            "REX_PW",
        ],
        "",
        &[("REX_PW", "another secret")],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cdr_user(&url, &add, "a long secret\n", &[]);
    assert_eq!(code, 1, "a taken name: {err}");
    let (code, _, err) = cdr_user(&url, &["add", "x", "--roles", "reader"], "short\n", &[]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = cdr_user(&url, &["list"], "", &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains("ann\troles=clinician\tname=Ann Smith\torganisation=org-1"),
        "{out}"
    );
    assert!(out.contains("rex\troles=reader"), "{out}");
    assert!(!out.contains("argon2"), "{out}");

    let config = cdr_testkit::config();
    let store = cdr_store::Store::connect(pg, &config, None).await.unwrap();
    let srv = server_on(
        store,
        ServeOptions {
            auth: AuthConfig::Basic,
            ..test_options()
        },
    );
    let ann = basic("ann", "a long secret");
    let res = srv
        .post("/definition/template/adl1.4")
        .header("Authorization", &ann)
        .body("application/xml", OPT)
        .send()
        .await;
    res.problem(403, "forbidden");
    let res = srv.post("/ehr").header("Authorization", &ann).send().await;
    assert_eq!(res.status, 201, "{}", res.text());
    let ehr = res.etag();
    // Twice: the second is answered from the verified-credential cache.
    for _ in 0..2 {
        let res = srv
            .get(&format!("/ehr/{ehr}"))
            .header("Authorization", &ann)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
    }
    let rex = basic("rex", "another secret");
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("Authorization", &rex)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = srv.post("/ehr").header("Authorization", &rex).send().await;
    res.problem(403, "forbidden");

    for (what, header) in [
        ("wrong password", basic("ann", "a long secreT")),
        ("unknown user", basic("bob", "a long secret")),
        ("not base64", "Basic ###".to_owned()),
        ("no colon", format!("Basic {}", STANDARD.encode("ann"))),
        ("a bearer token", "Bearer abc".to_owned()),
    ] {
        let res = srv
            .get(&format!("/ehr/{ehr}"))
            .header("Authorization", &header)
            .send()
            .await;
        res.problem(401, "unauthenticated");
        let challenge = res.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic realm=\"cdr\""),
            "{what}: {challenge}"
        );
    }
    let res = srv.get(&format!("/ehr/{ehr}")).send().await;
    res.problem(401, "unauthenticated");

    // The EHR_STATUS version of ann's EHR names her as committer.
    let res = srv
        .get(&format!("/ehr/{ehr}/versioned_ehr_status/version"))
        .header("Authorization", &ann)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let committer = &res.json()["commit_audit"]["committer"];
    assert_eq!(committer["name"], "Ann Smith", "{committer}");
    assert_eq!(
        committer["external_ref"]["id"]["value"], "ann",
        "{committer}"
    );

    // A new password works at once (no cache entry for it); removal is noticed by a new
    // server (a running one notices within the cache bound).
    let (code, _, err) = cdr_user(&url, &["passwd", "rex"], "a new secret!\n", &[]);
    assert_eq!(code, 0, "{err}");
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("Authorization", &basic("rex", "a new secret!"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let (code, _, err) = cdr_user(&url, &["remove", "rex"], "", &[]);
    assert_eq!(code, 0, "{err}");
    let res = srv
        .get(&format!("/ehr/{ehr}"))
        .header("Authorization", &basic("rex", "no matter"))
        .send()
        .await;
    res.problem(401, "unauthenticated");
    let (code, _, _) = cdr_user(&url, &["remove", "rex"], "", &[]);
    assert_eq!(code, 1);

    // A user's teams (`--team`, repeated) hold the grants made to those teams.
    let tia = [
        "add",
        "tia",
        "--roles",
        "clinician",
        "--team",
        "stroke",
        "--team",
        "ward-7",
    ];
    let (code, _, err) = cdr_user(&url, &tia, "a third secret\n", &[]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cdr_user(&url, &["list"], "", &[]);
    assert!(
        out.contains("tia\troles=clinician\tname=\torganisation=\tteams=stroke,ward-7"),
        "{out}"
    );
    let local = cdr_store::Principal::local();
    let id: uuid::Uuid = ehr.parse().unwrap();
    let withheld = cdr_store::NewConsent {
        state: cdr_store::ConsentState::Withheld,
        secondary_use: None,
        note: None,
    };
    srv.store.put_consent(&local, id, withheld).await.unwrap();
    let tia = basic("tia", "a third secret");
    let read = || {
        srv.get(&format!("/ehr/{ehr}"))
            .header("Authorization", &tia)
            .send()
    };
    read().await.problem(404, "not_found");
    let grant = cdr_store::NewGrant {
        grantee_type: cdr_store::GranteeKind::Team,
        grantee: "ward-7".into(),
        access: cdr_store::GrantAccess::Read,
        valid_from: None,
        valid_until: None,
    };
    srv.store.add_grant(&local, id, grant).await.unwrap();
    let res = read().await;
    assert_eq!(res.status, 200, "{}", res.text());
}

/// Teams come from the token's teams claim (`groups`: a list, or one space-separated string);
/// a member of a team holding a grant reads a record whose consent is withheld.
#[tokio::test]
async fn teams_from_the_token_hold_their_grants() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let admin = sign(&key, &issuer.claims("root", &["admin"]));
    let ehr = bearer(srv.post("/ehr"), &admin).send().await.etag();
    let res = bearer(srv.put(&format!("/ehr/{ehr}/consent")), &admin)
        .json(&json!({"state": "withheld"}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = bearer(srv.post(&format!("/ehr/{ehr}/grants")), &admin)
        .json(&json!({"grantee_type": "team", "grantee": "stroke", "access": "read"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text());
    for (groups, status) in [
        (json!(["ward-9", "stroke"]), 200),
        (json!("ward-9 stroke"), 200),
        (json!(["ward-9"]), 404),
        (json!(null), 404),
    ] {
        let mut claims = issuer.claims("dr-t", &["clinician"]);
        claims["groups"] = groups.clone();
        let res = bearer(srv.get(&format!("/ehr/{ehr}")), &sign(&key, &claims))
            .send()
            .await;
        assert_eq!(res.status, status, "groups {groups}: {}", res.text());
    }
}

/// A break-glass reason in the token (`break_glass_reason`) opens a withheld record as the
/// header does; the header's reason wins over the token's; an empty one asks for nothing.
#[tokio::test]
async fn a_break_glass_reason_in_the_token_opens_a_withheld_record() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let admin = sign(&key, &issuer.claims("root", &["admin"]));
    let mut ehrs = Vec::new();
    for _ in 0..2 {
        let ehr = bearer(srv.post("/ehr"), &admin).send().await.etag();
        let res = bearer(srv.put(&format!("/ehr/{ehr}/consent")), &admin)
            .json(&json!({"state": "withheld"}))
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text());
        ehrs.push(ehr);
    }
    let token = |sub: &str, roles: &[&str], reason: Option<&str>| {
        let mut claims = issuer.claims(sub, roles);
        if let Some(r) = reason {
            claims["break_glass_reason"] = json!(r);
        }
        sign(&key, &claims)
    };
    let read = |ehr: &str, token: String| bearer(srv.get(&format!("/ehr/{ehr}")), &token);
    read(&ehrs[0], token("dr-a", &["clinician"], None))
        .send()
        .await
        .problem(404, "not_found");
    read(&ehrs[0], token("dr-c", &["clinician"], Some("  ")))
        .send()
        .await
        .problem(404, "not_found");
    read(&ehrs[0], token("r-1", &["reader"], Some("curious")))
        .send()
        .await
        .problem(404, "not_found");
    let res = read(
        &ehrs[0],
        token("dr-b", &["clinician"], Some("cardiac arrest")),
    )
    .send()
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = read(
        &ehrs[1],
        token("dr-d", &["clinician"], Some("from the token")),
    )
    .header("openEHR-Break-Glass", "from the header")
    .send()
    .await;
    assert_eq!(res.status, 200, "{}", res.text());
    let res = bearer(srv.get("/admin/break_glass"), &admin).send().await;
    assert_eq!(res.status, 200, "{}", res.text());
    let got = crate::common::break_glass_uses(&res);
    let mut want = vec![
        (
            ehrs[0].clone(),
            "dr-b".to_owned(),
            "cardiac arrest".to_owned(),
        ),
        (
            ehrs[1].clone(),
            "dr-d".to_owned(),
            "from the header".to_owned(),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn without_authentication_only_on_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "0.0.0.0:0"])
        .env_remove("CDR_AUTH")
        .env_remove("CDR_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback"), "{stderr}");
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "[::]:0", "--auth", "none"])
        .env_remove("CDR_INSECURE_NO_AUTH")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let store = cdr_testkit::fresh_store().await;
    let options = ServeOptions {
        bind: "0.0.0.0:0".into(),
        ..test_options()
    };
    let e = cdr_server::http::start(store, &options).err().unwrap();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("not a loopback"), "{e}");
    let allowed = ServeOptions {
        insecure_no_auth: true,
        ..options.clone()
    };
    assert!(allowed.check().is_ok());
    let basic = ServeOptions {
        auth: AuthConfig::Basic,
        ..options
    };
    assert!(basic.check().is_ok());
}

#[tokio::test]
async fn cors_preflight_and_security_headers() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let origin = "https://forms.example.org";
    let srv = server_with_options(ServeOptions {
        auth: AuthConfig::Oidc(issuer.config()),
        cors_origins: vec![origin.into()],
        ..test_options()
    })
    .await;
    let security = |res: &Resp, what: &str| {
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(res.header(name), Some(value), "{what}: {name}");
        }
        let csp = res.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
        assert_eq!(
            res.header("strict-transport-security"),
            None,
            "{what}: plain HTTP"
        );
    };
    // A preflight needs no credentials.
    let res = srv
        .req("OPTIONS", "/ehr")
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        )
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(origin));
    assert!(res
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        res.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    security(&res, "preflight");
    let res = srv
        .req("OPTIONS", "/ehr")
        .header("Origin", "https://evil.example.org")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await;
    res.problem(403, "origin_not_allowed");
    assert_eq!(res.header("access-control-allow-origin"), None);
    security(&res, "refused preflight");

    let token = sign(&key, &issuer.claims("r", &["reader"]));
    let res = bearer(srv.get("/definition/template/adl1.4"), &token)
        .header("Origin", origin)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some(origin));
    assert!(res
        .header("access-control-expose-headers")
        .unwrap()
        .contains("ETag"));
    security(&res, "200");
    let res = bearer(srv.get("/definition/template/adl1.4"), &token)
        .header("Origin", "https://evil.example.org")
        .send()
        .await;
    assert_eq!(res.header("access-control-allow-origin"), None);
    security(&res, "another origin");
    let res = srv.get("/ehr").send().await;
    res.problem(401, "unauthenticated");
    security(&res, "401");
    let res = bearer(srv.post("/ehr"), &token).send().await;
    res.problem(403, "forbidden");
    security(&res, "403");
    let res = bearer(srv.get("/nothing"), &token).send().await;
    assert_eq!(res.status, 404);
    security(&res, "404");
    let res = srv.raw("GET", "/health").send().await;
    security(&res, "health");
}

#[tokio::test]
async fn https_with_a_certificate_made_here() {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let dir = cdr_testkit::temp_dir("cdr-tls");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let srv = server_with_options(ServeOptions {
        tls: Some((cert_path.clone(), key_path.clone())),
        ..test_options()
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let answer = |target: &'static str| {
        let connector = connector.clone();
        let addr: SocketAddr = srv.addr;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.expect("TLS handshake");
            let req =
                format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            tls.write_all(req.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            let _ = tls.read_to_end(&mut raw).await;
            String::from_utf8_lossy(&raw).into_owned()
        }
    };
    let raw = answer("/health").await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(
        lower.contains("strict-transport-security: max-age="),
        "{raw}"
    );
    assert!(lower.contains("x-content-type-options: nosniff"), "{raw}");
    let raw = answer("/openehr/v1/definition/template/adl1.4").await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    // Plain HTTP to the TLS port gets no answer.
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        crate::common::request_to(srv.addr, "GET", "/health").send_raw(),
    )
    .await
    .expect("the server closes");
    assert!(!res.starts_with(b"HTTP/1.1 200"));

    let bad = cdr_server::http::start(
        cdr_testkit::fresh_store().await,
        &ServeOptions {
            tls: Some((key_path, cert_path)),
            ..test_options()
        },
    );
    assert!(bad.is_err(), "key and certificate swapped");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn cdr_serve_takes_authentication_and_cors_from_its_flags() {
    use std::io::{BufRead, BufReader};
    let (url, _) = fresh_database_url().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdr"))
        .args(["serve", "--bind", "127.0.0.1:0", "--auth", "basic"])
        .env("DATABASE_URL", &url)
        .env("CDR_CORS_ORIGINS", "https://forms.example.org")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cdr serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("authentication basic"), "{line}");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let addr: SocketAddr = url["http://".len()..url.len() - "/openehr/v1".len()]
        .parse()
        .unwrap();
    let res = crate::common::request_to(addr, "GET", "/openehr/v1/ehr")
        .send()
        .await;
    res.problem(401, "unauthenticated");
    assert!(res
        .header("www-authenticate")
        .unwrap_or_default()
        .starts_with("Basic"));
    let res = crate::common::request_to(addr, "OPTIONS", "/openehr/v1/ehr")
        .header("Origin", "https://forms.example.org")
        .header("Access-Control-Request-Method", "GET")
        .send()
        .await;
    assert_eq!(res.status, 204, "{}", res.text());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Refusals by the authentication layer and the role table reach the audit trail: a request
/// without credentials and one with an expired token as login failures, a role refusal as a
/// denial naming the caller.
#[tokio::test]
async fn failed_logins_and_refusals_are_audited() {
    let key = es256("k1");
    let issuer = Issuer::start(&[&key]).await;
    let srv = oidc_server(&issuer).await;
    let res = srv.post("/ehr").send().await;
    unauthenticated(&res, "no token");
    let mut expired = issuer.claims("late", &["clinician"]);
    expired["exp"] = json!(now() - 3600);
    let res = bearer(srv.get("/ehr"), &sign(&key, &expired)).send().await;
    unauthenticated(&res, "expired");
    let reader = sign(&key, &issuer.claims("rita", &["reader"]));
    let res = bearer(srv.post("/ehr"), &reader).send().await;
    res.problem(403, "forbidden");

    srv.store.flush_audit().await.unwrap();
    let admin = sign(&key, &issuer.claims("root", &["admin"]));
    let listed = |action: &'static str| {
        let srv = &srv;
        let admin = admin.clone();
        async move {
            let res = bearer(srv.get(&format!("/admin/audit?action={action}")), &admin)
                .send()
                .await;
            assert_eq!(res.status, 200, "{}", res.text());
            res.json()["events"].as_array().unwrap().clone()
        }
    };
    let failures = listed("login_failure").await;
    assert_eq!(failures.len(), 2, "{failures:?}");
    for e in &failures {
        assert_eq!(e["status"], 401, "{e}");
        assert_eq!(e["outcome"], "failure", "{e}");
    }
    let denied = listed("denied").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["subject"], "rita", "{}", denied[0]);
    assert_eq!(denied[0]["roles"], json!(["reader"]), "{}", denied[0]);
    assert_eq!(denied[0]["status"], 403, "{}", denied[0]);
}
