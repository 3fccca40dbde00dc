//! The denial-of-service cases of issue 10 as a bench (numbers in
//! BENCHMARKS.md), on loopback only:
//!
//! ```text
//! cargo run --release -p printwatch-server --example dos
//! ```
//!
//! The server runs as a child process (this program again, `serve-child`:
//! `serve::open_as`, `serve::run_with` with the default limits, SQLite in a
//! temporary directory) so that its memory is its own: RSS and its peak
//! (VmHWM) are read from `/proc/PID/status`. Then, each phase bounded in
//! time and ending by itself:
//!
//! 1. **uploads**: 100 slow uploads to `/agent/v1/submit`, each announcing
//!    8 MiB − 1 and sending 64 KiB every 50 ms, never the last byte, under
//!    (a) unknown agent ids, (b) one active agent's id, (c) the ids of 100
//!    active agents: what they are answered, how fast, the server's memory.
//! 2. **flood**: (c) again with 20,000 idle connections from 400 addresses
//!    (127.4.x.y, 50 each; reopened when the server closes them), while an
//!    authenticated `GET /api/v1/devices` is timed every 200 ms on a
//!    kept-alive connection and on a new connection each time.
//! 3. **logins**: 1,500 failed logins with 200,000-character e-mails, then
//!    1,500 with distinct 254-byte e-mails, from one address: answers,
//!    memory, audit rows before and after.
//!
//! After each phase the server's RSS is read again 5 s later.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use printwatch_protocol::activation::{ActivationCode, AgentActivation, AgentInfo};
use printwatch_protocol::envelope::{self, Direction, seal};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::serve::{self, ServeConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const PASSWORD: &str = "dos bench password, long enough";
const UPLOADS: usize = 100;
const UPLOAD_LEN: usize = envelope::MAX_ENVELOPE - 1;
const CHUNK: usize = 64 * 1024;
const IDLE: usize = 20_000;
const IDLE_ADDRESSES: usize = 400;
const LOGINS: usize = 1_500;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve-child") {
        child(args.get(2).expect("data directory"));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.get(1).map(String::as_str) == Some("flood-child") {
        let to: SocketAddr = args.get(2).expect("address").parse().unwrap();
        let secs: u64 = args.get(3).expect("seconds").parse().unwrap();
        runtime.block_on(flood_child(to, Duration::from_secs(secs)));
        return;
    }
    runtime.block_on(bench());
}

/// The idle connections, in a process of their own (its own descriptors):
/// prints what they saw at the end.
async fn flood_child(to: SocketAddr, run: Duration) {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let stop = Arc::new(AtomicBool::new(false));
    let flood = Arc::new(Flood {
        open: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
    });
    let mut idlers = tokio::task::JoinSet::new();
    let started = Instant::now();
    for i in 0..IDLE {
        let a = i % IDLE_ADDRESSES;
        let from = Ipv4Addr::new(127, 4, (a / 250) as u8, (a % 250 + 1) as u8);
        idlers.spawn(idle(to, from, flood.clone(), stop.clone()));
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut most_open = 0;
    while started.elapsed() < run {
        tokio::time::sleep(Duration::from_millis(500)).await;
        most_open = most_open.max(flood.open.load(Ordering::Relaxed));
    }
    stop.store(true, Ordering::Relaxed);
    while idlers.join_next().await.is_some() {}
    println!(
        "at most {most_open} open at once, {} opened in all, {} refused with 503, {} connects failed",
        flood.opened.load(Ordering::Relaxed),
        flood.refused.load(Ordering::Relaxed),
        flood.failed.load(Ordering::Relaxed),
    );
}

/// The server: prints its port, serves until its stdin closes.
fn child(data_dir: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let limits = serve::Limits::default();
        serve::raise_open_file_limit(&limits);
        let config = ServeConfig {
            data_dir: data_dir.into(),
            database_url: None,
        };
        let (state, _) = serve::open_as(&config, Some(serve::ADMIN_EMAIL), Some(PASSWORD.into()))
            .await
            .unwrap();
        let listener = serve::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        println!("{}", listener.local_addr().unwrap().port());
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
    });
}

/// VmRSS and VmHWM of `pid`, MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Open file descriptors of `pid`.
fn descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(IpAddr::V4(from), 0).into())?;
    let socket = tokio::net::TcpSocket::from_std_stream(socket.into());
    socket.connect(to).await
}

/// A keep-alive HTTP/1.1 connection, just enough for the bench.
struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn new(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<Conn> {
        let stream = connect_from(from, to).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream: BufReader::new(stream),
        })
    }

    /// Status and body; status 0 when the connection failed.
    async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        self.try_request(method, path, headers, body)
            .await
            .unwrap_or((0, vec![]))
    }

    async fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

/// One request on a new connection from `from`.
async fn once(
    from: Ipv4Addr,
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    match Conn::new(from, to).await {
        Ok(mut c) => {
            c.request(
                method,
                path,
                &format!("Connection: close\r\n{headers}"),
                body,
            )
            .await
        }
        Err(_) => (0, vec![]),
    }
}

fn json_headers(token: Option<&str>) -> String {
    let mut h = "Content-Type: application/json\r\n".to_string();
    if let Some(t) = token {
        h.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    h
}

async fn api(to: SocketAddr, token: Option<&str>, method: &str, path: &str, body: Value) -> Value {
    let (status, body) = once(
        Ipv4Addr::new(127, 0, 0, 1),
        to,
        method,
        path,
        &json_headers(token),
        body.to_string().as_bytes(),
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    serde_json::from_slice(&body).unwrap_or(Value::Null)
}

/// `n` agents created and activated; their ids.
async fn active_agents(to: SocketAddr, token: &str, n: usize) -> Vec<AgentId> {
    let tenant = api(
        to,
        Some(token),
        "POST",
        "/api/v1/tenants",
        json!({"name": "Acme"}),
    )
    .await["id"]
        .as_i64()
        .unwrap();
    let mut ids = vec![];
    for i in 0..n {
        let created = api(
            to,
            Some(token),
            "POST",
            "/api/v1/agents",
            json!({"tenant_id": tenant, "name": format!("agent {i}")}),
        )
        .await;
        let code: ActivationCode = created["activation_code"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let info = AgentInfo {
            version: "0.1.0".into(),
            os: "linux".into(),
            hostname: None,
        };
        let (pending, request) =
            AgentActivation::start(&code, info, &mut rand::rngs::OsRng).unwrap();
        let answer = api(
            to,
            None,
            "POST",
            "/agent/v1/activate",
            serde_json::to_value(&request).unwrap(),
        )
        .await;
        let _key: AgentKey = pending
            .finish(&serde_json::from_value(answer).unwrap())
            .unwrap();
        ids.push(code.agent_id);
    }
    ids
}

/// Memory of the server, sampled every 100 ms until `stop`: the most seen.
fn sample_memory(pid: u32, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<f64> {
    tokio::spawn(async move {
        let mut most: f64 = 0.0;
        while !stop.load(Ordering::Relaxed) {
            most = most.max(memory(pid).0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        most
    })
}

/// What one slow upload was answered, and after how long (or nothing).
struct Upload {
    status: Option<u16>,
    after: Duration,
    sent: usize,
}

/// A slow upload from `from` naming `agent`, for at most `hold`.
async fn slow_upload(from: Ipv4Addr, to: SocketAddr, agent: AgentId, hold: Duration) -> Upload {
    let started = Instant::now();
    let mut sent = 0;
    let Ok(stream) = connect_from(from, to).await else {
        return Upload {
            status: Some(0),
            after: started.elapsed(),
            sent,
        };
    };
    let (mut rx, mut tx) = stream.into_split();
    // A header that parses, with a body no key opens.
    let envelope = seal(
        &AgentKey::from_bytes([7; 32]),
        Direction::AgentToServer,
        agent,
        1,
        &"x",
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let head = format!(
        "POST /agent/v1/submit HTTP/1.1\r\nHost: bench\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {UPLOAD_LEN}\r\n\r\n"
    );
    let answered = Arc::new(std::sync::Mutex::new(None::<(u16, Duration)>));
    let reader = {
        let answered = answered.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            if let Ok(n) = rx.read(&mut buf).await
                && n > 0
            {
                let text = String::from_utf8_lossy(&buf[..n]);
                let status = text
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                *answered.lock().unwrap() = Some((status, started.elapsed()));
            }
        })
    };
    let chunk = vec![0x5a_u8; CHUNK];
    let mut ok = tx.write_all(head.as_bytes()).await.is_ok()
        && tx
            .write_all(&envelope[..envelope::HEADER_LEN])
            .await
            .is_ok();
    sent += envelope::HEADER_LEN;
    while ok && started.elapsed() < hold && answered.lock().unwrap().is_none() {
        let n = CHUNK.min(UPLOAD_LEN - 1 - sent);
        if n == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        ok = tx.write_all(&chunk[..n]).await.is_ok();
        sent += n;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Until the end of the phase unless answered.
    while started.elapsed() < hold && answered.lock().unwrap().is_none() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reader.abort();
    let got = *answered.lock().unwrap();
    Upload {
        status: got.map(|(s, _)| s),
        after: got.map_or(started.elapsed(), |(_, t)| t),
        sent,
    }
}

/// 100 slow uploads naming `ids` (cycled), each from its own address.
async fn uploads(to: SocketAddr, ids: &[AgentId], hold: Duration) -> Vec<Upload> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..UPLOADS {
        let from = Ipv4Addr::new(127, 3, (i / 250) as u8, (i % 250 + 1) as u8);
        let id = ids[i % ids.len()];
        tasks.spawn(slow_upload(from, to, id, hold));
    }
    let mut out = vec![];
    while let Some(u) = tasks.join_next().await {
        out.push(u.unwrap());
    }
    out
}

fn describe(uploads: &[Upload]) -> String {
    let mut by: BTreeMap<String, (usize, Duration, usize)> = BTreeMap::new();
    for u in uploads {
        let key = u
            .status
            .map_or("no answer (held)".into(), |s| s.to_string());
        let e = by.entry(key).or_insert((0, Duration::ZERO, 0));
        e.0 += 1;
        e.1 = e.1.max(u.after);
        e.2 = e.2.max(u.sent);
    }
    by.iter()
        .map(|(k, (n, t, sent))| {
            format!(
                "{n} × {k} (within {:.0} ms, at most {:.1} MiB sent)",
                t.as_secs_f64() * 1000.0,
                *sent as f64 / 1048576.0
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Idle connections from many addresses until `stop`, reopened when the
/// server closes them; counts (open now, refused with 503, opened in all).
struct Flood {
    open: AtomicUsize,
    refused: AtomicUsize,
    opened: AtomicUsize,
    failed: AtomicUsize,
}

async fn idle(to: SocketAddr, from: Ipv4Addr, flood: Arc<Flood>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = connect_from(from, to).await else {
            flood.failed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        flood.opened.fetch_add(1, Ordering::Relaxed);
        flood.open.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                read = s.read(&mut buf) => {
                    if let Ok(n) = read && n > 0 && buf[..n].starts_with(b"HTTP/1.1 503") {
                        flood.refused.fetch_add(1, Ordering::Relaxed);
                        // Refused: wait before trying again, as a client would.
                        tokio::time::sleep(Duration::from_millis(1000)).await;
                    }
                    break;
                }
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            }
        }
        flood.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Latencies of `GET /api/v1/devices`, every 200 ms until `stop`: on a
/// kept-alive connection, and on a new connection each time (statuses).
async fn probe(
    to: SocketAddr,
    token: String,
    stop: Arc<AtomicBool>,
) -> (Vec<(u16, Duration)>, Vec<(u16, Duration)>) {
    let headers = format!("Authorization: Bearer {token}\r\n");
    let mut kept = Conn::new(Ipv4Addr::new(127, 0, 0, 1), to).await.unwrap();
    let (mut on_kept, mut on_new) = (vec![], vec![]);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let (status, _) = tokio::time::timeout(
            Duration::from_secs(10),
            kept.request("GET", "/api/v1/devices", &headers, b""),
        )
        .await
        .unwrap_or((0, vec![]));
        on_kept.push((status, t.elapsed()));
        if status == 0 {
            kept = Conn::new(Ipv4Addr::new(127, 0, 0, 1), to).await.unwrap();
        }
        let t = Instant::now();
        let (status, _) = tokio::time::timeout(
            Duration::from_secs(10),
            once(
                Ipv4Addr::new(127, 0, 0, 2),
                to,
                "GET",
                "/api/v1/devices",
                &headers,
                b"",
            ),
        )
        .await
        .unwrap_or((0, vec![]));
        on_new.push((status, t.elapsed()));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (on_kept, on_new)
}

fn latencies(samples: &[(u16, Duration)]) -> String {
    let mut ms: Vec<f64> = samples
        .iter()
        .map(|(_, d)| d.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        ms.get(((ms.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for (s, _) in samples {
        *statuses.entry(*s).or_default() += 1;
    }
    format!(
        "{} requests, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; statuses {statuses:?}",
        ms.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

async fn audit_rows(to: SocketAddr, token: &str) -> usize {
    api(
        to,
        Some(token),
        "GET",
        "/api/v1/audit?limit=1000",
        Value::Null,
    )
    .await
    .as_array()
    .map_or(0, Vec::len)
}

async fn logins(
    to: SocketAddr,
    email: impl Fn(usize) -> String + Send + Sync + 'static,
) -> (BTreeMap<u16, usize>, Duration) {
    let started = Instant::now();
    let email = Arc::new(email);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let (email, next) = (email.clone(), next.clone());
        let email: Arc<dyn Fn(usize) -> String + Send + Sync> = email;
        tasks.spawn(async move {
            let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= LOGINS {
                    break statuses;
                }
                let body = json!({"email": email(i), "password": "wrong"}).to_string();
                let (status, _) = once(
                    Ipv4Addr::new(127, 5, 0, 1),
                    to,
                    "POST",
                    "/api/v1/login",
                    &json_headers(None),
                    body.as_bytes(),
                )
                .await;
                *statuses.entry(status).or_default() += 1;
            }
        });
    }
    let mut all: BTreeMap<u16, usize> = BTreeMap::new();
    while let Some(s) = tasks.join_next().await {
        for (k, v) in s.unwrap() {
            *all.entry(k).or_default() += v;
        }
    }
    (all, started.elapsed())
}

async fn settle(pid: u32, what: &str) {
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss, hwm) = memory(pid);
    println!(
        "  {what}, 5 s later: RSS {rss:.1} MiB (peak so far {hwm:.1} MiB), {} descriptors",
        descriptors(pid)
    );
}

async fn bench() {
    // Room for 20,000 idle connections here (and the server's own, which
    // inherits it): as root the hard limit too, else up to the hard limit.
    let wanted = 65_536;
    if rlimit::setrlimit(rlimit::Resource::NOFILE, wanted, wanted).is_err() {
        let _ = rlimit::increase_nofile_limit(wanted);
    }
    let nofile = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve-child")
        .arg(dir.path().join("data"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = server.id();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let to = SocketAddr::from(([127, 0, 0, 1], port.trim().parse::<u16>().unwrap()));
    println!(
        "server pid {pid} on {to}; open-file limit {nofile:?}; limits {:?}",
        serve::Limits::default()
    );

    let token = api(
        to,
        None,
        "POST",
        "/api/v1/login",
        json!({"email": serve::ADMIN_EMAIL, "password": PASSWORD}),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let ids = active_agents(to, &token, UPLOADS).await;
    let (rss, hwm) = memory(pid);
    println!(
        "set up ({} active agents): RSS {rss:.1} MiB, peak {hwm:.1} MiB",
        ids.len()
    );

    println!(
        "\n1. {UPLOADS} slow uploads announcing {UPLOAD_LEN} bytes, 64 KiB per 50 ms, held 15 s"
    );
    let variants: [(&str, Vec<AgentId>); 3] = [
        (
            "(a) unknown agent ids",
            (0..UPLOADS as i64)
                .map(|i| AgentId(1_000_000 + i))
                .collect(),
        ),
        ("(b) one active agent's id", vec![ids[0]]),
        ("(c) the ids of 100 active agents", ids.clone()),
    ];
    for (what, names) in variants {
        let stop = Arc::new(AtomicBool::new(false));
        let most = sample_memory(pid, stop.clone());
        let result = uploads(to, &names, Duration::from_secs(15)).await;
        stop.store(true, Ordering::Relaxed);
        let most = most.await.unwrap();
        let (_, hwm) = memory(pid);
        println!("  {what}: {}", describe(&result));
        println!("    server RSS at most {most:.1} MiB (peak {hwm:.1} MiB)");
        settle(pid, "    after").await;
    }

    println!(
        "\n2. (c) again with {IDLE} idle connections from {IDLE_ADDRESSES} addresses, 30 s; GET /api/v1/devices every 200 ms"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let most = sample_memory(pid, stop.clone());
    let prober = tokio::spawn(probe(to, token.clone(), stop.clone()));
    // The uploads first (they connect before the flood fills the cap).
    let up = {
        let ids = ids.clone();
        tokio::spawn(async move { uploads(to, &ids, Duration::from_secs(25)).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let flooder = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("flood-child")
        .arg(to.to_string())
        .arg("30")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut most_fds = 0;
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        most_fds = most_fds.max(descriptors(pid));
    }
    stop.store(true, Ordering::Relaxed);
    let uploaded = up.await.unwrap();
    let (on_kept, on_new) = prober.await.unwrap();
    let most = most.await.unwrap();
    let flooded = tokio::task::spawn_blocking(move || flooder.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let (_, hwm) = memory(pid);
    println!(
        "  idle connections: {}; server descriptors at most {most_fds}",
        String::from_utf8_lossy(&flooded.stdout).trim()
    );
    println!("  uploads: {}", describe(&uploaded));
    println!("  API on a kept-alive connection: {}", latencies(&on_kept));
    println!(
        "  API on a new connection each time: {}",
        latencies(&on_new)
    );
    println!("  server RSS at most {most:.1} MiB (peak {hwm:.1} MiB)");
    settle(pid, "  after").await;

    println!("\n3. {LOGINS} failed logins from one address, 32 at once");
    let before_rows = audit_rows(to, &token).await;
    let (rss, _) = memory(pid);
    let (statuses, took) = logins(to, |_| format!("{}@x.example", "a".repeat(200_000))).await;
    let (after, hwm) = memory(pid);
    let rows = audit_rows(to, &token).await;
    println!(
        "  200,000-character e-mails: {statuses:?} in {:.1} s; RSS {rss:.1} → {after:.1} MiB (peak {hwm:.1}); audit rows {before_rows} → {rows}",
        took.as_secs_f64()
    );
    settle(pid, "  after").await;
    let (rss, _) = memory(pid);
    let (statuses, took) = logins(to, |i| format!("{i:0>242}@x.example")).await;
    let (after, hwm) = memory(pid);
    let rows_after = audit_rows(to, &token).await;
    println!(
        "  distinct 254-byte e-mails: {statuses:?} in {:.1} s; RSS {rss:.1} → {after:.1} MiB (peak {hwm:.1}); audit rows {rows} → {rows_after}",
        took.as_secs_f64()
    );
    settle(pid, "  after").await;

    drop(server.stdin.take());
    let _ = tokio::task::spawn_blocking(move || server.wait()).await;
}
