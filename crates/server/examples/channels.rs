//! Idle command channels one server process holds, and its memory per
//! channel (issue 12; numbers in BENCHMARKS.md), on loopback:
//!
//! ```text
//! cargo run --release -p printwatch-server --example channels -- 10000
//! ```
//!
//! The server runs as a child process (this program again, `serve-child`:
//! `serve::open_as` and `serve::run_with` with the default limits, SQLite
//! in a temporary directory) so that its memory is its own (VmRSS from
//! `/proc/PID/status`). It creates N active agents in its store (one
//! public bench key for all: this measures channels, not key exchange),
//! then serves. This process is the load generator: N WebSockets to
//! `/agent/v1/channel/ws`, each reading the challenge, sending its sealed
//! hello, reading the first answer, and then held idle (reading, so that
//! pings are answered). The server's RSS is read before, when all are
//! open, and again after a minute (pings on every channel).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use printwatch_protocol::channel::{Challenge, ChannelDown, ChannelUp};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::serve::{self, ServeConfig};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

const PASSWORD: &str = "channels bench password, long enough";
/// Not a secret: every bench agent has it.
const KEY: [u8; 32] = *b"printwatch channels bench key..!";
/// Handshakes in flight at once (the listener allows 64 per address
/// before the upgrade; the sources are spread over 127.6.x.y anyway).
const CONCURRENCY: usize = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).map(String::as_str) == Some("serve-child") {
        let n: usize = args[3].parse().unwrap();
        runtime.block_on(child(&args[2], n));
        return;
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    runtime.block_on(bench(n));
}

/// The server: creates `n` agents, prints its port and the first agent's
/// id, serves until its stdin closes.
async fn child(data_dir: &str, n: usize) {
    use printwatch_server::model::{AgentReport, NewAgent};
    let limits = serve::Limits::default();
    serve::raise_open_file_limit(&limits);
    let config = ServeConfig {
        data_dir: data_dir.into(),
        database_url: None,
    };
    let (state, _) = serve::open_as(&config, Some(serve::ADMIN_EMAIL), Some(PASSWORD.into()))
        .await
        .unwrap();
    let provider = state.store.provider().await.unwrap().unwrap();
    let key = AgentKey::from_bytes(KEY);
    let mut first = None;
    for i in 0..n {
        let agent = state
            .store
            .create_agent(
                NewAgent {
                    tenant_id: provider.id,
                    site_id: None,
                    name: format!("bench-{i}"),
                    pin_verifier: Some(vec![0; 32]),
                    pin_expires_at: i64::MAX,
                    expires_at: None,
                },
                printwatch_server::now(),
            )
            .await
            .unwrap();
        let sealed = state.master.seal_agent_key(agent.id, &key).unwrap();
        assert!(
            state
                .store
                .activate_agent(
                    agent.id,
                    &sealed,
                    &AgentReport::default(),
                    printwatch_server::now()
                )
                .await
                .unwrap()
        );
        first.get_or_insert(agent.id.0);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!(
        "{} {}",
        listener.local_addr().unwrap().port(),
        first.unwrap_or(0)
    );
    let shutdown = async {
        let _ = tokio::task::spawn_blocking(|| {
            use std::io::Read;
            let mut sink = vec![];
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
    };
    serve::run_with(state, listener, None, limits, shutdown)
        .await
        .unwrap();
}

/// VmRSS of `pid`, MiB.
fn rss(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn bench(n: usize) {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve-child")
        .arg(dir.path())
        .arg(n.to_string())
        .env(
            "GLIBC_TUNABLES",
            "glibc.malloc.mmap_threshold=131072:glibc.malloc.arena_max=2",
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut words = line.split_whitespace();
    let port: u16 = words.next().unwrap().parse().unwrap();
    let first: i64 = words.next().unwrap().parse().unwrap();
    let pid = server.id();
    println!(
        "server pid {pid} on 127.0.0.1:{port}, {n} agents created in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss(pid);
    println!("server RSS, no channel: {before:.1} MiB");

    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let connecting = Instant::now();
    let mut channels = tokio::task::JoinSet::new();
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await.unwrap();
        let (open, failed) = (open.clone(), failed.clone());
        let from = Ipv4Addr::new(127, 6, (i / 250 % 250) as u8, (i % 250 + 1) as u8);
        channels.spawn(async move {
            let agent = AgentId(first + i as i64);
            match channel(to, from, agent).await {
                Ok(mut ws) => {
                    open.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                    // Held: reading answers the server's pings.
                    while let Some(Ok(_)) = ws.next().await {}
                    open.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("a channel failed: {e}");
                    }
                }
            }
        });
    }
    while open.load(Ordering::Relaxed) + failed.load(Ordering::Relaxed) < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = connecting.elapsed();
    let held = open.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let all = rss(pid);
    println!(
        "{held} channels open ({} failed) in {:.1} s; server RSS {all:.1} MiB: {:.1} KiB per channel",
        failed.load(Ordering::Relaxed),
        took.as_secs_f64(),
        (all - before) * 1024.0 / held.max(1) as f64
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let later = rss(pid);
    println!(
        "a minute later (pings every 20 s): {} open, server RSS {later:.1} MiB: {:.1} KiB per channel",
        open.load(Ordering::Relaxed),
        (later - before) * 1024.0 / held.max(1) as f64
    );
    drop(server.stdin.take());
    channels.abort_all();
    let _ = server.wait();
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// One channel: upgraded, challenge read, hello sent, first answer read.
async fn channel(to: SocketAddr, from: Ipv4Addr, agent: AgentId) -> Result<Ws, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .bind(SocketAddr::from((from, 0)))
        .map_err(|e| e.to_string())?;
    let tcp = socket.connect(to).await.map_err(|e| e.to_string())?;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("ws://{to}/agent/v1/channel/ws"), tcp)
            .await
            .map_err(|e| e.to_string())?;
    let challenge = match ws.next().await {
        Some(Ok(Message::Text(text))) => {
            serde_json::from_str::<Challenge>(text.as_str())
                .map_err(|e| e.to_string())?
                .challenge
        }
        other => return Err(format!("no challenge: {other:?}")),
    };
    let key = AgentKey::from_bytes(KEY);
    let hello = ChannelUp {
        challenge: challenge.clone(),
        agent_version: "bench".into(),
        acks: vec![],
        results: vec![],
    };
    let sealed = envelope::seal(
        &key,
        Direction::AgentToServer,
        agent,
        1,
        &hello,
        &mut rand::rngs::OsRng,
    )
    .map_err(|e| e.to_string())?;
    ws.send(Message::Binary(sealed.into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => {
                let down = envelope::open::<ChannelDown>(&key, Direction::ServerToAgent, &bytes)
                    .map_err(|e| e.to_string())?;
                if down.message.challenge != challenge {
                    return Err("an answer to another hello".into());
                }
                return Ok(ws);
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return Err(format!("no answer: {other:?}")),
        }
    }
}
