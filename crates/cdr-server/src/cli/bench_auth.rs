//! `cdr bench auth`: what authentication costs over HTTP, side by side in one run. Two servers
//! share one store on a temporary managed cluster: one without authentication, one with
//! `--auth oidc` (an ES256 key made for the run, its JWKS in a file). Clients commit the same
//! composition over keep-alive connections, then one client reads versions by uid; the modes
//! alternate in rounds so that drift of a shared machine falls on both. Clients reuse their
//! token, as real ones do (so requests after the first are answered from the verified-token
//! cache); the cost of a full verification (a cache miss) is timed on its own. Beside
//! throughput, the CPU time the cdr process spends per commit (servers and clients; PostgreSQL
//! is another process) is taken from `/proc/self/stat`, which other load on a shared machine
//! disturbs less than wall-clock rates. `--control` runs the same with authentication off in
//! both servers (an A/A run: what the bench tells apart by itself). The last line is one JSON
//! object with the figures.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header, Validation};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use cdr_server::http::auth::{AuthConfig, OidcConfig};
use cdr_server::http::{self, ServeOptions};
use cdr_store::{CommitMeta, Principal};

use super::bench::{percentile, positive, testdata};

const TEMPLATE: &str = "ehrbase-blood-pressure-simple.de.v0/template.opt";
const COMPOSITION: &str =
    "ehrbase-blood-pressure-simple.de.v0/compositions/it__ehrbase_blood_pressure_simple.de.v0.json";
const ISSUER: &str = "https://issuer.bench.invalid/realms/cdr";
const AUDIENCE: &str = "cdr-bench";

struct Args {
    clients: usize,
    count: usize,
    gets: usize,
    rounds: usize,
    /// Both servers without authentication (the token is still sent, and ignored): an A/A
    /// run, showing what the bench tells apart by itself.
    control: bool,
    /// The token's role (default `clinician`, whose organisation holds the EHRs' write grant:
    /// that side pays the access rule; `admin` pays none).
    role: String,
}

#[derive(clap::Args, Debug)]
pub(crate) struct AuthArgs {
    /// How many clients commit and read at a time
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = positive)]
    clients: usize,
    /// How many compositions each round commits
    #[arg(long, value_name = "M", default_value_t = 1000, value_parser = positive)]
    count: usize,
    /// How many versions each round reads
    #[arg(long, value_name = "K", default_value_t = 1000, value_parser = positive)]
    gets: usize,
    /// How many rounds alternate between the servers
    #[arg(long, value_name = "R", default_value_t = 10, value_parser = positive)]
    rounds: usize,
    /// Both servers without authentication (an A/A run)
    #[arg(long)]
    control: bool,
    /// The token's role (clinician pays the access rule; admin pays none)
    #[arg(long, value_name = "ROLE", default_value = "clinician")]
    role: String,
}

/// Runs `cdr bench auth …`.
pub fn run(a: AuthArgs, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let args = Args {
        clients: a.clients,
        count: a.count,
        gets: a.gets,
        rounds: a.rounds,
        control: a.control,
        role: a.role,
    };
    let rt = match super::runtime("bench", err) {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(bench(&args, out)) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "cdr bench auth: {e}");
            1
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

/// A signing key made for the run: its JWKS and a token with `role`.
fn key_and_token(
    dir: &std::path::Path,
    role: &str,
) -> Result<(std::path::PathBuf, String, EncodingKey), BoxError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
        .map_err(|_| "cannot make a key")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
        .map_err(|_| "cannot read the key")?;
    let public = pair.public_key().as_ref();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "bench",
        "alg": "ES256", "use": "sig", "x": b64(&public[1..33]), "y": b64(&public[33..65])}]});
    let path = dir.join("jwks.json");
    std::fs::write(&path, jwks.to_string())?;
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let token = token(&key, role)?;
    Ok((path, token, key))
}

fn token(key: &EncodingKey, role: &str) -> Result<String, BoxError> {
    let now = jsonwebtoken::get_current_timestamp();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("bench".into());
    let claims = serde_json::json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user",
        "name": "Bench User", "roles": [role], "organisation": "bench-org", "iat": now, "exp": now + 3600,
        "jti": uuid::Uuid::new_v4().to_string()});
    Ok(jsonwebtoken::encode(&header, &claims, key)?)
}

/// One keep-alive HTTP/1.1 connection.
pub(super) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub(super) async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Reads what the server sent next into the buffer.
    async fn fill(&mut self) -> Result<(), String> {
        let mut tmp = [0u8; 16384];
        let n = self
            .stream
            .read(&mut tmp)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    /// Sends a request; the status and body of the answer (which must have a length).
    pub(super) async fn call(&mut self, head: &str, body: &[u8]) -> Result<(u16, Vec<u8>), String> {
        self.exchange(head, body)
            .await
            .map(|(status, _, body)| (status, body))
    }

    /// [`Conn::call`], with the answer's head (lower case) too.
    pub(super) async fn exchange(
        &mut self,
        head: &str,
        body: &[u8],
    ) -> Result<(u16, String, Vec<u8>), String> {
        let mut req = head.as_bytes().to_vec();
        req.extend_from_slice(body);
        self.stream
            .write_all(&req)
            .await
            .map_err(|e| e.to_string())?;
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("no status")?;
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or("an answer without Content-Length")?;
        while self.buf.len() < end + length {
            self.fill().await?;
        }
        let body = self.buf[end..end + length].to_vec();
        self.buf.drain(..end + length);
        Ok((status, head, body))
    }
}

/// Commits `count` compositions with `clients` connections; commits per second.
pub(super) async fn commits(
    addr: SocketAddr,
    auth: Arc<String>,
    clients: usize,
    count: usize,
    ehrs: Arc<Vec<uuid::Uuid>>,
    body: Arc<Vec<u8>>,
) -> Result<f64, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (auth, ehrs, body, next) = (auth.clone(), ehrs.clone(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, String>(());
                }
                let ehr = ehrs[i % ehrs.len()];
                let head = format!(
                    "POST /openehr/v1/ehr/{ehr}/composition HTTP/1.1\r\nHost: bench\r\n{auth}\
                     Content-Type: application/json\r\nPrefer: return=minimal\r\n\
                     Content-Length: {}\r\n\r\n",
                    body.len()
                );
                let (status, answer) = conn.call(&head, &body).await?;
                if status != 201 {
                    return Err(format!(
                        "commit answered {status}: {}",
                        String::from_utf8_lossy(&answer)
                    ));
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// Reads `gets` versions by uid with one connection; the latencies.
async fn gets(
    addr: SocketAddr,
    auth: &str,
    gets: usize,
    versions: &[(uuid::Uuid, String)],
) -> Result<Vec<Duration>, String> {
    let mut conn = Conn::open(addr).await?;
    let mut lat = Vec::with_capacity(gets);
    for i in 0..gets {
        let (ehr, uid) = &versions[i % versions.len()];
        let head = format!(
            "GET /openehr/v1/ehr/{ehr}/composition/{uid} HTTP/1.1\r\nHost: bench\r\n{auth}\r\n"
        );
        let t = Instant::now();
        let (status, _) = conn.call(&head, b"").await?;
        lat.push(t.elapsed());
        if status != 200 {
            return Err(format!("a read answered {status}"));
        }
    }
    lat.sort();
    Ok(lat)
}

async fn bench(args: &Args, out: &mut dyn Write) -> Result<(), BoxError> {
    let opt = std::fs::read_to_string(testdata(TEMPLATE))?;
    let json = std::fs::read(testdata(COMPOSITION))?;
    let super::bench::TempStore {
        dir,
        cluster,
        store,
        _watchdog,
    } = super::bench::temp_store("cdr-bench-auth", 2 * args.clients + 4).await?;
    let caller = Principal::local();
    store.put_template(&caller, &opt).await?;
    // The EHRs are created by a clinician of the token's organisation, which gives that
    // organisation a write grant: the oidc side commits and reads through the access rule.
    let creator = Principal {
        subject: "bench-user".into(),
        roles: vec!["clinician".into()],
        organisation: Some("bench-org".into()),
        ..Principal::default()
    };
    let mut ehrs = Vec::new();
    for _ in 0..64 {
        ehrs.push(
            store
                .create_ehr(&creator, None, None, CommitMeta::default())
                .await?
                .ehr_id,
        );
    }
    let (jwks, bearer, key) = key_and_token(&dir, &args.role)?;
    let mut oidc = OidcConfig::new(ISSUER, vec![AUDIENCE.into()]);
    oidc.jwks_file = Some(jwks);
    let base = ServeOptions {
        bind: "127.0.0.1:0".into(),
        ..ServeOptions::default()
    };
    let plain = http::start(store.clone(), &base)?;
    let authed = http::start(
        store.clone(),
        &ServeOptions {
            auth: match args.control {
                true => AuthConfig::None,
                false => AuthConfig::Oidc(oidc.clone()),
            },
            ..base
        },
    )?;
    let (plain_addr, authed_addr) = (plain.addr, authed.addr);
    let plain_handle = plain.handle.clone();
    let authed_handle = authed.handle.clone();
    tokio::spawn(plain.server);
    tokio::spawn(authed.server);
    let _ = writeln!(
        out,
        "cdr bench auth: {} clients × {} commits and {} reads per mode and round, {} rounds; \
         oidc (ES256, JWKS file) against none, same store",
        args.clients, args.count, args.gets, args.rounds
    );

    let ehrs = Arc::new(ehrs);
    let body = Arc::new(json);
    let modes = [
        ("none", plain_addr, Arc::new(String::new())),
        (
            "oidc",
            authed_addr,
            Arc::new(format!("Authorization: Bearer {bearer}\r\n")),
        ),
    ];
    // Warm-up: each server, its pool and caches.
    let mut versions: Vec<(uuid::Uuid, String)> = Vec::new();
    for (_, addr, auth) in &modes {
        commits(
            *addr,
            auth.clone(),
            args.clients,
            200,
            ehrs.clone(),
            body.clone(),
        )
        .await?;
    }
    let rows = store
        .query(
            &caller,
            &cdr_store::aql::QueryRequest {
                aql: "SELECT e/ehr_id/value, c/uid/value FROM EHR e CONTAINS COMPOSITION c LIMIT 2000",
                ..Default::default()
            },
            &cdr_store::aql::QueryLimits::default(),
        )
        .await?;
    for row in rows.values() {
        let ehr = row
            .first()
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        let uid = row.get(1).and_then(|v| v.as_str()).map(str::to_owned);
        if let (Some(ehr), Some(uid)) = (ehr, uid) {
            versions.push((ehr, uid));
        }
    }
    if versions.is_empty() {
        return Err("no versions to read".into());
    }
    let mut rate = [Vec::new(), Vec::new()];
    let mut cpu = [Duration::ZERO, Duration::ZERO];
    let mut pg_cpu = [Duration::ZERO, Duration::ZERO];
    let mut reads = [Vec::new(), Vec::new()];
    for round in 0..args.rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for m in order {
            let (name, addr, auth) = &modes[m];
            let before = super::bench::process_cpu();
            let pg_before = super::bench::cluster_cpu(&cluster);
            let per_s = commits(
                *addr,
                auth.clone(),
                args.clients,
                args.count,
                ehrs.clone(),
                body.clone(),
            )
            .await?;
            if let (Some(b), Some(a)) = (before, super::bench::process_cpu()) {
                cpu[m] += a.saturating_sub(b);
            }
            if let (Some(b), Some(a)) = (pg_before, super::bench::cluster_cpu(&cluster)) {
                pg_cpu[m] += a.saturating_sub(b);
            }
            let lat = gets(*addr, auth, args.gets, &versions).await?;
            let _ = writeln!(
                out,
                "round {round} {name:>4}: {per_s:.0} commits/s; get by version uid p50 {:.3} ms, p99 {:.3} ms",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
            rate[m].push(per_s);
            reads[m].extend(lat);
        }
    }
    // A full verification: what a request with a token not seen in the last minute costs.
    let decoding = {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("jwks.json"))?)?;
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(v["keys"][0].clone())?;
        jsonwebtoken::DecodingKey::from_jwk(&jwk)?
    };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let tokens: Vec<String> = (0..500)
        .map(|_| token(&key, &args.role))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    for t in &tokens {
        jsonwebtoken::decode_header(t)?;
        jsonwebtoken::decode::<serde_json::Value>(t, &decoding, &validation)?;
    }
    let verify_us = started.elapsed().as_secs_f64() * 1e6 / tokens.len() as f64;

    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    for r in &mut reads {
        r.sort();
    }
    let (none_rate, oidc_rate) = (mean(&rate[0]), mean(&rate[1]));
    let (none_p50, oidc_p50) = (percentile(&reads[0], 0.5), percentile(&reads[1], 0.5));
    let commits_run = (args.count * args.rounds) as f64;
    let cpu_us = cpu.map(|c| c.as_secs_f64() * 1e6 / commits_run);
    let pg_cpu_us = pg_cpu.map(|c| c.as_secs_f64() * 1e6 / commits_run);
    let _ = writeln!(
        out,
        "commits/s: none {none_rate:.0}, oidc {oidc_rate:.0} ({:.1} %); get p50: none {none_p50:.3} ms, \
         oidc {oidc_p50:.3} ms ({:+.3} ms); cdr's CPU per commit (clients included): none \
         {:.0} µs, oidc {:.0} µs; PostgreSQL's: none {:.0} µs, oidc {:.0} µs; a full ES256 token \
         verification {verify_us:.1} µs",
        100.0 * oidc_rate / none_rate,
        oidc_p50 - none_p50,
        cpu_us[0],
        cpu_us[1],
        pg_cpu_us[0],
        pg_cpu_us[1]
    );
    plain_handle.stop(true).await;
    authed_handle.stop(true).await;
    store.shutdown().await?;
    cluster.stop()?;
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    let result = serde_json::json!({
        "clients": args.clients,
        "count": args.count,
        "rounds": args.rounds,
        "control": args.control,
        "none_commits_per_s": round(none_rate, 1),
        "oidc_commits_per_s": round(oidc_rate, 1),
        "commit_ratio": round(oidc_rate / none_rate, 3),
        "none_get_p50_ms": round(none_p50, 3),
        "oidc_get_p50_ms": round(oidc_p50, 3),
        "get_p50_delta_ms": round(oidc_p50 - none_p50, 3),
        "none_cpu_us_per_commit": round(cpu_us[0], 0),
        "oidc_cpu_us_per_commit": round(cpu_us[1], 0),
        "none_pg_cpu_us_per_commit": round(pg_cpu_us[0], 0),
        "oidc_pg_cpu_us_per_commit": round(pg_cpu_us[1], 0),
        "token_verify_us": round(verify_us, 1),
    });
    let _ = writeln!(out, "{result}");
    Ok(())
}
