//! Server benchmarks, as an agent and a user would load it, through HTTP on
//! loopback (numbers in BENCHMARKS.md).
//!
//! ```text
//! cargo run --release -p printwatch-server --example bench -- ingest [DATABASE_URL]
//! cargo run --release -p printwatch-server --example bench -- list [DATABASE_URL]
//! cargo run --release -p printwatch-server --example bench -- portal [DATABASE_URL]
//! ```
//!
//! `ingest`: AGENTS agents, each with DEVICES_PER_AGENT devices stored in
//! full first (not timed), send ROUNDS rounds of deltas (every meter of every
//! device moves), BATCH device reports per sealed, compressed envelope,
//! concurrently over keep-alive connections; reports device deltas per
//! second (envelopes are sealed before the clock starts).
//! `list`: stores 100,000 devices, then times GET /api/v1/devices pages at
//! random positions; reports the 50th/95th/99th percentile latency.
//! `portal`: the same fleet, then the portal's pages (dashboard, device
//! list, a random page of it, a filter, a search by serial, a device's
//! page): percentiles and the largest answer of each.
//! Without a URL, SQLite in a temporary directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Instant;

use printwatch_protocol::envelope::{Direction, seal};
use printwatch_protocol::message::{AgentMessage, DeviceReport, Submission};
use printwatch_protocol::{AgentId, AgentKey, delta};
use printwatch_server::http::AppState;
use printwatch_server::model::{AgentReport, IngestBatch, NewAgent, NewUser, Role, TenantKind};
use printwatch_server::secrets::{hash_password, new_api_token, token_hash};
use printwatch_server::serve::{self, ServeConfig};
use printwatch_snapshot::{Meter, Snapshot, Source, Supply};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const AGENTS: usize = 4;
const DEVICES_PER_AGENT: usize = 500;
const BATCH: usize = 50;
const ROUNDS: usize = 4;
const LIST_DEVICES: usize = 100_000;
const LIST_REQUESTS: usize = 300;
const PAGE_REQUESTS: usize = 100;

/// A keep-alive HTTP/1.1 connection, just enough for the benchmark.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn new(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream: BufReader::new(stream),
        }
    }

    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut line = String::new();
        self.stream.read_line(&mut line).await.unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await.unwrap();
        (status, body)
    }
}

fn snapshot(agent: usize, device: usize, total: u64) -> Snapshot {
    let mut s = Snapshot::new(format!("10.{agent}.{}.{}", device / 250, device % 250 + 1));
    s.collected_at = "2025-03-01T00:00:00Z".into();
    s.family = Some("Ricoh".into());
    s.vendor = Some("Ricoh".into());
    s.model = Some("IM C3000".into());
    s.serial = Some(format!("BENCH{agent:02}X{device:06}"));
    s.mac = Some(format!(
        "00:11:22:{agent:02x}:{:02x}:{:02x}",
        device / 256,
        device % 256
    ));
    s.sys_descr = Some("RICOH IM C3000 1.00 / RICOH Network Printer C model".into());
    s.color = Some(true);
    s.meters = [
        "total",
        "marker_life",
        "total_mono",
        "total_color",
        "copy_mono",
        "print_color",
    ]
    .iter()
    .enumerate()
    .map(|(i, name)| Meter {
        name: (*name).into(),
        value: total + i as u64 * 7,
        unit: "impressions".into(),
        oid: Source::One(format!("1.3.6.1.4.1.367.3.2.1.2.19.5.1.9.{i}")),
    })
    .collect();
    s.supplies = ["black", "cyan", "magenta", "yellow"]
        .iter()
        .map(|c| Supply {
            description: format!("{c} toner"),
            kind: "toner".into(),
            color: Some((*c).into()),
            level: Some(60),
            max: Some(100),
            percent: Some(60.0),
            state: "ok".into(),
            unit: Some("percent".into()),
            part_number: Some("842311".into()),
            serial: None,
            oid: None,
        })
        .collect();
    s
}

async fn setup(
    url: Option<String>,
) -> (
    AppState,
    SocketAddr,
    tempfile::TempDir,
    printwatch_server::ids::TenantId,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        data_dir: dir.path().join("data"),
        database_url: url,
    };
    let (state, _) = serve::open(&config, Some("bench password 1234".into()))
        .await
        .unwrap();
    let provider = state.store.provider().await.unwrap().unwrap();
    let customer = state
        .store
        .create_tenant(
            Some(provider.id),
            TenantKind::Customer,
            &format!("Bench {}", std::process::id()),
            0,
        )
        .await
        .unwrap();
    let user = state
        .store
        .create_user(
            NewUser {
                tenant_id: customer.id,
                email: format!("bench{}-{}@example.com", std::process::id(), rand_u32()),
                password_hash: hash_password("bench password 1234").unwrap(),
                role: Role::Admin,
            },
            0,
        )
        .await
        .unwrap();
    let token = new_api_token();
    state
        .store
        .create_token(&user, "bench", Role::Admin, &token_hash(&token), None, 0)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve::run(state.clone(), listener, std::future::pending()));
    (state, addr, dir, customer.id, token)
}

fn rand_u32() -> u32 {
    use rand::RngCore;
    rand::rngs::OsRng.next_u32()
}

async fn new_agent(
    state: &AppState,
    tenant: printwatch_server::ids::TenantId,
) -> (AgentId, AgentKey) {
    let store = &state.store;
    let agent = store
        .create_agent(
            NewAgent {
                tenant_id: tenant,
                site_id: None,
                name: "bench".into(),
                pin_verifier: Some(vec![0; 32]),
                pin_expires_at: i64::MAX,
                expires_at: None,
            },
            0,
        )
        .await
        .unwrap();
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let key = AgentKey::from_bytes(raw);
    let sealed = state.master.seal_agent_key(agent.id, &key).unwrap();
    assert!(
        store
            .activate_agent(agent.id, &sealed, &AgentReport::default(), 1)
            .await
            .unwrap()
    );
    (agent.id, key)
}

async fn ingest(url: Option<String>) {
    // Full snapshots first (not timed), then only deltas under the clock.
    let (state, addr, _dir, tenant, _) = setup(url).await;
    let mut agents = vec![];
    for a in 0..AGENTS {
        let (id, key) = new_agent(&state, tenant).await;
        let states: Vec<Snapshot> = (0..DEVICES_PER_AGENT)
            .map(|d| snapshot(a, d, 1000))
            .collect();
        let full: Vec<DeviceReport> = states
            .iter()
            .map(|s| DeviceReport::Full {
                snapshot: Box::new(s.clone()),
            })
            .collect();
        let mut seq = 0;
        for chunk in full.chunks(BATCH) {
            seq += 1;
            let out = state
                .store
                .ingest(IngestBatch {
                    agent_id: id,
                    tenant_id: tenant,
                    site_id: None,
                    seq,
                    now: 1,
                    reports: chunk.to_vec(),
                })
                .await
                .unwrap();
            assert_eq!(out.devices, chunk.len());
        }
        // Envelopes prepared in advance: the clock measures the server.
        let mut envelopes = vec![];
        let mut current = states;
        for round in 1..=ROUNDS {
            let mut reports = vec![];
            for s in current.iter_mut() {
                let old = s.clone();
                for m in &mut s.meters {
                    m.value += 10 + round as u64;
                }
                s.collected_at = format!("2025-03-{:02}T00:00:00Z", round + 1);
                reports.push(DeviceReport::Delta {
                    identity: old.identity().unwrap(),
                    base: delta::digest(&old).unwrap(),
                    delta: delta::diff(&old, s).unwrap(),
                });
            }
            for chunk in reports.chunks(BATCH) {
                seq += 1;
                let msg = AgentMessage::Submission(Submission {
                    sent_at: "2025-03-01T00:00:00Z".into(),
                    reports: chunk.to_vec(),
                });
                envelopes.push(
                    seal(
                        &key,
                        Direction::AgentToServer,
                        id,
                        seq,
                        &msg,
                        &mut rand::rngs::OsRng,
                    )
                    .unwrap(),
                );
            }
        }
        agents.push(envelopes);
    }
    let started = Instant::now();
    let tasks: Vec<_> = agents
        .into_iter()
        .map(|envelopes| {
            tokio::spawn(async move {
                let mut conn = Conn::new(addr).await;
                for body in envelopes {
                    let (status, reply) = conn.request("POST", "/agent/v1/submit", "", &body).await;
                    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
                    assert!(
                        !String::from_utf8_lossy(&reply).contains("resync"),
                        "{}",
                        String::from_utf8_lossy(&reply)
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let deltas = AGENTS * DEVICES_PER_AGENT * ROUNDS;
    println!(
        "ingest ({:?}): {deltas} device deltas from {AGENTS} agents, {BATCH} per sealed envelope, in {:.2} s: {:.0} deltas/s",
        state.store.backend(),
        elapsed.as_secs_f64(),
        deltas as f64 / elapsed.as_secs_f64()
    );
}

async fn list(url: Option<String>) {
    let (state, addr, _dir, tenant, token) = setup(url).await;
    store_fleet(&state, tenant).await;
    let mut conn = Conn::new(addr).await;
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (status, first) = conn
        .request("GET", "/api/v1/devices?limit=1", &auth, b"")
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&first));
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let first_id = v["devices"][0]["id"].as_i64().unwrap();
    let mut times = vec![];
    for i in 0..LIST_REQUESTS {
        let after = first_id + (rand_u32() as i64 % LIST_DEVICES as i64);
        let path = if i % 10 == 0 {
            "/api/v1/devices?limit=100".to_string()
        } else {
            format!("/api/v1/devices?limit=100&after={after}")
        };
        let t = Instant::now();
        let (status, body) = conn.request("GET", &path, &auth, b"").await;
        times.push(t.elapsed());
        assert_eq!(status, 200);
        assert!(body.len() > 100);
    }
    times.sort();
    let p = |q: f64| {
        times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "list ({:?}): GET /api/v1/devices?limit=100 over {LIST_DEVICES} devices, {LIST_REQUESTS} requests: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
        state.store.backend(),
        p(0.50),
        p(0.95),
        p(0.99)
    );
}

/// LIST_DEVICES devices stored through the store (not timed as requests).
async fn store_fleet(state: &AppState, tenant: printwatch_server::ids::TenantId) {
    let (id, _) = new_agent(state, tenant).await;
    let started = Instant::now();
    for (i, chunk) in (0..LIST_DEVICES)
        .collect::<Vec<_>>()
        .chunks(1000)
        .enumerate()
    {
        let seq = i as u64 + 1;
        let reports = chunk
            .iter()
            .map(|&d| DeviceReport::Full {
                snapshot: Box::new(snapshot(d / 60_000, d % 60_000, 10)),
            })
            .collect();
        state
            .store
            .ingest(IngestBatch {
                agent_id: id,
                tenant_id: tenant,
                site_id: None,
                seq,
                now: 1,
                reports,
            })
            .await
            .unwrap();
    }
    println!(
        "list: stored {LIST_DEVICES} devices in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Makes the path of one request of a page.
type PathOf = Box<dyn Fn() -> String>;

/// The portal's pages over LIST_DEVICES devices, as a browser asks for
/// them (the bearer token stands for the session cookie: the same
/// principal, the same handlers): p50/p95/p99 and the bytes of each page.
async fn portal(url: Option<String>) {
    let (state, addr, _dir, tenant, token) = setup(url).await;
    store_fleet(&state, tenant).await;
    let mut conn = Conn::new(addr).await;
    let auth = format!("Authorization: Bearer {token}\r\n");
    let (_, first) = conn
        .request("GET", "/api/v1/devices?limit=1", &auth, b"")
        .await;
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let first_id = v["devices"][0]["id"].as_i64().unwrap();
    let random_id = move || first_id + (rand_u32() as i64 % LIST_DEVICES as i64);
    let pages: [(&str, PathOf); 6] = [
        ("dashboard /", Box::new(|| "/".to_string())),
        ("device list /devices", Box::new(|| "/devices".to_string())),
        (
            "device list, a random page",
            Box::new(move || format!("/devices?after={}", random_id())),
        ),
        (
            "device list, filtered (supply=low)",
            Box::new(|| "/devices?supply=low".to_string()),
        ),
        (
            "search by serial",
            Box::new(|| format!("/devices?q=BENCH00X{:06}", rand_u32() % 60_000)),
        ),
        (
            "a device's page",
            Box::new(move || format!("/devices/{}", random_id())),
        ),
    ];
    for (name, path) in pages {
        let mut times = vec![];
        let mut largest = 0;
        for _ in 0..PAGE_REQUESTS {
            let path = path();
            let t = Instant::now();
            let (status, body) = conn.request("GET", &path, &auth, b"").await;
            times.push(t.elapsed());
            assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
            largest = largest.max(body.len());
        }
        times.sort();
        let p = |q: f64| {
            times[((times.len() as f64 * q) as usize).min(times.len() - 1)].as_secs_f64() * 1000.0
        };
        println!(
            "portal ({:?}, {LIST_DEVICES} devices): {name}: p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms; largest answer {:.1} KB",
            state.store.backend(),
            p(0.50),
            p(0.95),
            p(0.99),
            largest as f64 / 1000.0
        );
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let url = args.next();
    match what.as_str() {
        "ingest" => ingest(url).await,
        "list" => list(url).await,
        "portal" => portal(url).await,
        _ => eprintln!("usage: bench ingest|list|portal [postgres://…]"),
    }
}
