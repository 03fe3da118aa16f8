//! The app signs in with OpenID Connect (authorization code with PKCE) when the server runs
//! with `--auth oidc`: a small issuer in the test serves its discovery document, sends the
//! browser back from `/authorize` with a code, and at `/token` gives an access token only for
//! the code verifier whose S256 hash the browser sent as the challenge.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fantoccini::Locator;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness;

const AUDIENCE: &str = "cdr-api";
const CLIENT: &str = "cdr-ui";

/// The issuer's state: its URL, signing key and the challenge of the last authorization.
struct Issuer {
    url: String,
    key: EncodingKey,
    challenge: Mutex<Option<String>>,
    tokens: Mutex<usize>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn query_of(target: &str) -> Vec<(String, String)> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    form_of(q)
}

fn form_of(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// Answers one request of the issuer: status, extra headers and body.
fn answer(issuer: &Issuer, method: &str, target: &str, body: &str) -> (u16, Vec<String>, String) {
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/.well-known/openid-configuration") => (
            200,
            vec![],
            json!({
                "issuer": issuer.url,
                "authorization_endpoint": format!("{}/authorize", issuer.url),
                "token_endpoint": format!("{}/token", issuer.url),
                "jwks_uri": format!("{}/jwks", issuer.url),
            })
            .to_string(),
        ),
        ("GET", "/authorize") => {
            let q = query_of(target);
            assert_eq!(get(&q, "response_type"), "code");
            assert_eq!(get(&q, "client_id"), CLIENT);
            assert_eq!(get(&q, "code_challenge_method"), "S256");
            *issuer.challenge.lock().unwrap() = Some(get(&q, "code_challenge").to_owned());
            let back = format!(
                "{}?code=the-code&state={}",
                get(&q, "redirect_uri"),
                get(&q, "state")
            );
            (302, vec![format!("Location: {back}")], String::new())
        }
        ("POST", "/token") => {
            let f = form_of(body);
            let verifier = get(&f, "code_verifier");
            let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
            let expected = issuer.challenge.lock().unwrap().clone();
            if get(&f, "code") != "the-code"
                || get(&f, "grant_type") != "authorization_code"
                || expected.as_deref() != Some(b64(digest.as_ref()).as_str())
            {
                return (400, vec![], json!({"error": "invalid_grant"}).to_string());
            }
            *issuer.tokens.lock().unwrap() += 1;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some("k1".into());
            let claims = json!({"iss": issuer.url, "aud": AUDIENCE, "sub": "dr-oidc",
                "name": "Dr Oidc", "roles": ["clinician"], "organisation": "north",
                "iat": now, "exp": now + 600, "jti": uuid::Uuid::new_v4().to_string()});
            let token = jsonwebtoken::encode(&header, &claims, &issuer.key).unwrap();
            (
                200,
                vec![],
                json!({"access_token": token, "token_type": "Bearer", "expires_in": 600})
                    .to_string(),
            )
        }
        _ => (404, vec![], String::new()),
    }
}

/// Starts the issuer on a free port; its state and the JWKS of its key.
async fn start_issuer() -> (Arc<Issuer>, Value) {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap();
    let public = pair.public_key().as_ref().to_vec();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
        "kid": "k1", "x": b64(&public[1..33]), "y": b64(&public[33..65])}]});
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = Arc::new(Issuer {
        url: format!("http://{}", listener.local_addr().unwrap()),
        key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        challenge: Mutex::new(None),
        tokens: Mutex::new(0),
    });
    let state = issuer.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                let mut first = head.lines().next().unwrap_or("").split(' ');
                let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let (status, headers, body) = answer(&state, method, target, &body);
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Access-Control-Allow-Origin: *\r\nContent-Length: {}\r\n\
                     Connection: close\r\n",
                    body.len()
                );
                for h in headers {
                    out.push_str(&h);
                    out.push_str("\r\n");
                }
                out.push_str("\r\n");
                out.push_str(&body);
                let _ = stream.write_all(out.as_bytes()).await;
            });
        }
    });
    (issuer, jwks)
}

/// Opening a person by deep link sends the browser to the issuer and back; the app then calls
/// the API with the access token (the person is not found, so it offers to create them), and
/// creating the record works as the signed-in clinician.
#[tokio::test]
async fn the_app_signs_in_with_oidc_authorization_code_and_pkce() {
    let Some(env) = harness::env("the_app_signs_in_with_oidc").await else {
        return;
    };
    let (issuer, jwks) = start_issuer().await;
    let dir = std::env::temp_dir().join(format!("cdr-oidc-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks_file = dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let cdr = harness::start_cdr_with(&[
        "--auth",
        "oidc",
        "--oidc-issuer",
        &issuer.url,
        "--oidc-audience",
        AUDIENCE,
        "--jwks-file",
        jwks_file.to_str().unwrap(),
        "--ui-client-id",
        CLIENT,
    ])
    .await;
    let client = harness::browser(&env.driver).await;
    let subject = "9434765919";
    let link = format!(
        "http://{}/ui/ehr?subject_id={subject}&subject_namespace=uk.nhs.nhs_number",
        cdr.addr
    );
    client.goto(&link).await.unwrap();
    let create = harness::wait_for(
        &client,
        "the offer to create the record",
        "const b = [...document.querySelectorAll('button')].find(b => /Create a record/.test(b.textContent)); \
         return b ? b.textContent : null;",
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        create.as_str().unwrap().contains("943 476 5919"),
        "{create}"
    );
    assert_eq!(*issuer.tokens.lock().unwrap(), 1, "one token, for one code");
    // Back at the deep link, without the code in the address.
    let url = client.current_url().await.unwrap();
    assert_eq!(url.path(), "/ui/ehr");
    assert!(!url.as_str().contains("code="), "{url}");
    client
        .execute(
            "[...document.querySelectorAll('button')].find(b => /Create a record/.test(b.textContent)).click();",
            vec![],
        )
        .await
        .unwrap();
    // The record exists: the API, asked with a token of the same issuer, finds it.
    let found = harness::wait_for(
        &client,
        "the created record's page",
        "return !/Create a record/.test(document.body.textContent) && /943 476 5919/.test(document.body.textContent);",
        vec![],
    )
    .await;
    found.unwrap_or_else(|e| panic!("{e}"));
    let _ = client.find(Locator::Css("main")).await.unwrap();
    let stored = harness::wait_for(
        &client,
        "the EHR found by subject",
        "return fetch('/openehr/v1/ehr?subject_id=9434765919&subject_namespace=uk.nhs.nhs_number', \
           {headers: {Authorization: 'Bearer ' + JSON.parse(sessionStorage.getItem('cdr.credentials')).token}}) \
           .then(r => r.status === 200 ? 'found' : null);",
        vec![],
    )
    .await;
    assert_eq!(stored.unwrap_or_else(|e| panic!("{e}")), "found");
    let _ = client.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
