//! The command channel end to end, with real processes (the `printwatch`
//! binary as server, simulator and agent, on loopback): commands issued
//! through the REST API reach the running agent and are answered;
//! commands issued while the agent is down arrive after it comes back,
//! each applied exactly once across restarts; a `configure` with a bad
//! value is refused by the agent and the old configuration keeps running;
//! `deactivate` stops the agent for good; a command issued through one
//! server reaches the agent held by another on the same PostgreSQL
//! (`PRINTWATCH_TEST_POSTGRES`, skipped with a message when unset unless
//! `PRINTWATCH_REQUIRE_ALL=1`); the WebSocket holds through a CONNECT
//! proxy (tinyproxy); and where a box on the way refuses the Upgrade,
//! long-polling carries the commands.
//!
//! The helpers repeat `agent_e2e.rs`'s (test files do not share code).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod processes;

use processes::{BIN, Proc, activate, agent, free_port, free_udp_port, http, status};
const PASSWORD: &str = "e2e-password-1";
const PRINTERS: usize = 2;

fn start_server(data: &Path, port: u16, env: &[(&str, &str)], args: &[&str]) -> Proc {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let child = Command::new(BIN)
        .args(["server", "--data"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-email", "admin@localhost"])
        .args(args)
        .env("PRINTWATCH_ADMIN_PASSWORD", PASSWORD)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Proc(child)
}

struct Server {
    port: u16,
    token: String,
    tenant: i64,
}

impl Server {
    fn connect(port: u16) -> Server {
        let (status, login) = http(
            port,
            "POST",
            "/api/v1/login",
            None,
            Some(json!({"email": "admin@localhost", "password": PASSWORD})),
        );
        assert_eq!(status, 200, "{login}");
        let token = login["token"].as_str().unwrap().to_string();
        let (_, tenants) = http(port, "GET", "/api/v1/tenants", Some(&token), None);
        let tenant = tenants[0]["id"].as_i64().unwrap();
        Server {
            port,
            token,
            tenant,
        }
    }

    fn create_agent(&self, name: &str) -> (i64, String) {
        let (status, a) = http(
            self.port,
            "POST",
            "/api/v1/agents",
            Some(&self.token),
            Some(json!({"tenant_id": self.tenant, "name": name})),
        );
        assert_eq!(status, 201, "{a}");
        let code = a["activation_code"].as_str().unwrap().to_string();
        let id = code.split('-').next().unwrap().parse().unwrap();
        (id, code)
    }

    /// Issue a command; its id.
    fn issue(&self, agent: i64, command: Value) -> i64 {
        let (status, c) = http(
            self.port,
            "POST",
            &format!("/api/v1/agents/{agent}/commands"),
            Some(&self.token),
            Some(command.clone()),
        );
        assert_eq!(status, 201, "{command}: {c}");
        assert_eq!(c["state"], "queued");
        c["id"].as_i64().unwrap()
    }

    fn command(&self, agent: i64, id: i64) -> Value {
        let (status, list) = http(
            self.port,
            "GET",
            &format!("/api/v1/agents/{agent}/commands"),
            Some(&self.token),
            None,
        );
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Waits until the command is answered; the command.
    fn answered(&self, agent: i64, id: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.command(agent, id);
            if c["state"] == "done" || c["state"] == "failed" {
                return c;
            }
            assert!(Instant::now() < deadline, "command {id} not answered: {c}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn log_path(state: &Path) -> PathBuf {
    state.with_extension("log")
}

fn run_agent(state: &Path, config: &Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(state))
        .unwrap();
    Proc(
        agent(state, &["run"])
            .arg("--config")
            .arg(config)
            .env("PRINTWATCH_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Fleet {
    _sim: Proc,
    first: String,
    last: String,
    port: u16,
    _dir: tempfile::TempDir,
}

fn fleet(block: &str) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("recordings");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--printers",
            &PRINTERS.to_string(),
            "--write-recordings",
        ])
        .arg(&rec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rec)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains("router"))
        .collect();
    files.sort();
    files.truncate(PRINTERS);
    let port = free_udp_port();
    let net: ipnet::Ipv4Net = block.parse().unwrap();
    let hosts: Vec<_> = net.hosts().take(PRINTERS).collect();
    let sim = Command::new(BIN)
        .args([
            "sim",
            "--bind",
            block,
            "--count",
            &PRINTERS.to_string(),
            "--port",
            &port.to_string(),
            "--unique",
        ])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    Fleet {
        _sim: Proc(sim),
        first: hosts[0].to_string(),
        last: hosts[PRINTERS - 1].to_string(),
        port,
        _dir: dir,
    }
}

fn write_config(path: &Path, fleet: &Fleet, collect: &str, extra: &str) {
    std::fs::write(
        path,
        format!(
            "[scan]\nranges = [\"{}-{}\"]\nport = {}\nevery = \"1h\"\n[collect]\nevery = \"{collect}\"\nfull-every = \"1h\"\n[heartbeat]\nevery = \"1s\"\n{extra}",
            fleet.first, fleet.last, fleet.port
        ),
    )
    .unwrap();
}

/// Lines of the agent's log that hold `text`.
fn log_count(state: &Path, text: &str) -> usize {
    std::fs::read_to_string(log_path(state))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(text))
        .count()
}

/// How many times the agent's log says it received command `id`.
fn received(state: &Path, id: i64) -> usize {
    let log = std::fs::read_to_string(log_path(state)).unwrap_or_default();
    // Without colours, if any.
    let mut plain = String::with_capacity(log.len());
    let mut in_escape = false;
    for ch in log.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (false, _) => plain.push(ch),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    plain
        .lines()
        .filter(|l| l.contains("command received") && l.contains(&format!("command={id} ")))
        .count()
}

#[test]
fn commands_arrive_once_across_restarts_and_a_bad_configure_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.6.0/29");
    let port = free_port();
    let _server_proc = start_server(&dir.path().join("server"), port, &[], &[]);
    let server = Server::connect(port);
    let (agent_id, code) = server.create_agent("commanded");
    let state = dir.path().join("agent");
    activate(&state, port, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "1h", "");
    let mut proc = run_agent(&state, &config);
    wait_for("the first sweep", Duration::from_secs(60), || {
        status(&state)["collections"].as_u64() >= Some(PRINTERS as u64)
    });

    // A connected agent: scan_now and collect_now are answered at once.
    let id = server.issue(agent_id, json!({"kind": "scan_now"}));
    let c = server.answered(agent_id, id, Duration::from_secs(10));
    assert_eq!(c["state"], "done", "{c}");
    wait_for("the sweep asked for", Duration::from_secs(30), || {
        status(&state)["collections"].as_u64() >= Some(2 * PRINTERS as u64)
    });
    let before = status(&state)["collections"].as_u64().unwrap_or(0);
    let target = format!("{}:{}", fleet.first, fleet.port);
    let id = server.issue(agent_id, json!({"kind": "collect_now", "target": target}));
    let c = server.answered(agent_id, id, Duration::from_secs(20));
    assert_eq!(c["state"], "done", "{c}");
    assert!(
        c["result"]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("collected "),
        "{c}"
    );
    wait_for(
        "the collected reading spooled",
        Duration::from_secs(10),
        || status(&state)["collections"].as_u64() > Some(before),
    );

    // configure: a good one applies without a restart; a bad value (a
    // range only the agent reads) is refused and the old one keeps running.
    let id = server.issue(
        agent_id,
        json!({"kind": "configure", "config": {"collect": {"every": "2s"}}}),
    );
    let c = server.answered(agent_id, id, Duration::from_secs(10));
    assert_eq!(c["state"], "done", "{c}");
    assert_eq!(status(&state)["config_version"], 1);
    let id = server.issue(
        agent_id,
        json!({"kind": "configure", "config": {"scan": {"ranges": ["10.0.0.0/33"]}}}),
    );
    let c = server.answered(agent_id, id, Duration::from_secs(10));
    assert_eq!(c["state"], "failed", "{c}");
    assert!(
        c["result"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("scan.ranges"),
        "{c}"
    );
    assert_eq!(status(&state)["config_version"], 1, "the old one in force");
    let before = status(&state)["collections"].as_u64().unwrap_or(0);
    wait_for(
        "collections at the old configuration's 2 s",
        Duration::from_secs(20),
        || status(&state)["collections"].as_u64().unwrap_or(0) >= before + 2 * PRINTERS as u64,
    );
    assert!(proc.0.try_wait().unwrap().is_none(), "still running");

    // All of it on the WebSocket.
    assert_eq!(
        log_count(&state, "the command channel is open (WebSocket)"),
        1
    );
    assert_eq!(log_count(&state, "long-polling"), 0);
    assert_eq!(status(&state)["channel"], "websocket");

    // Down: commands wait, queued; back: each arrives, once.
    drop(proc);
    let scan = server.issue(agent_id, json!({"kind": "scan_now"}));
    let collect = server.issue(
        agent_id,
        json!({"kind": "collect_now", "target": format!("{}:{}", fleet.last, fleet.port)}),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(server.command(agent_id, scan)["state"], "queued");
    let proc = run_agent(&state, &config);
    for id in [scan, collect] {
        let c = server.answered(agent_id, id, Duration::from_secs(30));
        assert_eq!(c["state"], "done", "{c}");
    }
    // Killed and started again: nothing is applied twice.
    drop(proc);
    let mut proc = run_agent(&state, &config);
    std::thread::sleep(Duration::from_secs(3));
    for id in [scan, collect] {
        assert_eq!(received(&state, id), 1, "command {id} received once");
    }

    // deactivate: answered, the agent stops with the refused code, the
    // server revokes it, and it stays stopped.
    let id = server.issue(agent_id, json!({"kind": "deactivate"}));
    assert_eq!(
        wait_exit(&mut proc.0, Duration::from_secs(30)),
        Some(4),
        "{}",
        std::fs::read_to_string(log_path(&state)).unwrap_or_default()
    );
    let c = server.answered(agent_id, id, Duration::from_secs(5));
    assert_eq!(c["state"], "done", "{c}");
    assert!(!state.join("key").exists(), "the key is erased");
    let st = status(&state);
    assert_eq!(st["activated"], false, "{st}");
    assert!(
        st["refused"]
            .as_str()
            .unwrap_or_default()
            .contains("deactivated"),
        "{st}"
    );
    let (_, a) = http(
        port,
        "GET",
        &format!("/api/v1/agents/{agent_id}"),
        Some(&server.token),
        None,
    );
    assert_eq!(a["status"], "revoked", "{a}");
    let mut again = run_agent(&state, &config);
    assert_eq!(wait_exit(&mut again.0, Duration::from_secs(10)), Some(4));
}

/// A throwaway database on the test PostgreSQL (made with `psql`), or
/// None: skipped with a message.
fn postgres_database() -> Option<String> {
    let require = std::env::var("PRINTWATCH_REQUIRE_ALL").as_deref() == Ok("1");
    let Ok(base) = std::env::var("PRINTWATCH_TEST_POSTGRES") else {
        assert!(
            !require,
            "PRINTWATCH_TEST_POSTGRES is unset but PRINTWATCH_REQUIRE_ALL=1"
        );
        eprintln!(
            "skipped: two servers on one PostgreSQL (set PRINTWATCH_TEST_POSTGRES=postgres://…)"
        );
        return None;
    };
    let name = format!("pw_channel_e2e_{}", std::process::id());
    let out = Command::new("psql")
        .arg(&base)
        .args(["-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("DROP DATABASE IF EXISTS {name}; "))
        .output();
    let made = out.is_ok()
        && Command::new("psql")
            .arg(&base)
            .args(["-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .is_ok_and(|o| o.status.success());
    if !made {
        assert!(!require, "cannot create a database with psql on {base}");
        eprintln!("skipped: two servers on one PostgreSQL (psql cannot create a database)");
        return None;
    }
    let (url, query) = match base.split_once('?') {
        Some((u, q)) => (u.to_string(), format!("?{q}")),
        None => (base.clone(), String::new()),
    };
    let root = url.rsplit_once('/').map_or(url.as_str(), |(r, _)| r);
    Some(format!("{root}/{name}{query}"))
}

#[test]
fn a_command_issued_on_one_server_reaches_the_agent_connected_to_another() {
    let Some(url) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.7.0/29");
    // Both servers share the database and the master key.
    let master: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let env = [("PRINTWATCH_MASTER_KEY", master.as_str())];
    let args = ["--database-url", url.as_str()];
    let (port_a, port_b) = (free_port(), free_port());
    let _a = start_server(&dir.path().join("a"), port_a, &env, &args);
    let _b = start_server(&dir.path().join("b"), port_b, &env, &args);
    let a = Server::connect(port_a);
    let (agent_id, code) = a.create_agent("on B");
    let state = dir.path().join("agent");
    // The agent knows server B only.
    activate(&state, port_b, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "1h", "");
    let _proc = run_agent(&state, &config);
    wait_for("the agent on B", Duration::from_secs(30), || {
        status(&state)["last_contact"].is_string()
    });
    // Let its channel settle (the first hello).
    std::thread::sleep(Duration::from_secs(2));
    // Issue to result stored, through B (the agent's server) and through
    // A (across): `PRINTWATCH_CHANNEL_COMMANDS` each (20 by default; the
    // benchmark in BENCHMARKS.md runs 100).
    let count: usize = std::env::var("PRINTWATCH_CHANNEL_COMMANDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20);
    let b = Server::connect(port_b);
    for (label, server) in [("one server (B)", &b), ("across servers (A to B)", &a)] {
        let mut latencies = Vec::new();
        for _ in 0..count {
            let issued = Instant::now();
            let id = server.issue(agent_id, json!({"kind": "scan_now"}));
            let c = server.answered(agent_id, id, Duration::from_secs(10));
            latencies.push(issued.elapsed());
            assert_eq!(c["state"], "done", "{c}");
            assert_eq!(received(&state, id), 1);
        }
        latencies.sort();
        let at = |q: f64| {
            latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
        };
        eprintln!(
            "command latency, {label}, {count} commands (issue to result stored, GET every 20 ms): p50 {:?}, p99 {:?}, max {:?}",
            at(0.5),
            at(0.99),
            latencies[latencies.len() - 1]
        );
        assert!(at(0.99) < Duration::from_secs(1), "{label}: {latencies:?}");
    }
    let _ = Command::new("psql")
        .arg(std::env::var("PRINTWATCH_TEST_POSTGRES").unwrap_or_default())
        .arg("-c")
        .arg(format!(
            "DROP DATABASE IF EXISTS pw_channel_e2e_{} WITH (FORCE)",
            std::process::id()
        ))
        .output();
}

fn tinyproxy() -> Option<(Proc, u16, tempfile::TempDir)> {
    let binary = ["/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(binary) = binary else {
        assert!(
            std::env::var("PRINTWATCH_REQUIRE_ALL").as_deref() != Ok("1"),
            "tinyproxy is not installed but PRINTWATCH_REQUIRE_ALL=1"
        );
        eprintln!("skipped: commands through a proxy (apt-get install tinyproxy)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = dir.path().join("tinyproxy.conf");
    // Its idle timeout must outlast the server's 25 s hold.
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 20\nLogFile \"{}\"\nLogLevel Info\n",
            dir.path().join("tinyproxy.log").display()
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .arg("-d")
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let proc = Proc(child);
    wait_for("tinyproxy", Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    Some((proc, port, dir))
}

/// Through a CONNECT proxy (tinyproxy): the agent tunnels every
/// connection, plain HTTP too, so the WebSocket passes the tunnel
/// untouched and stays up past the proxy's usual idle times (pings). A
/// box that refuses the Upgrade is the next test.
#[test]
fn commands_come_through_a_connect_proxy() {
    let Some((_proxy, proxy_port, proxy_dir)) = tinyproxy() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.8.0/29");
    let port = free_port();
    let _server_proc = start_server(&dir.path().join("server"), port, &[], &[]);
    let server = Server::connect(port);
    let (agent_id, code) = server.create_agent("proxied");
    let state = dir.path().join("agent");
    activate(&state, port, &code);
    let config = dir.path().join("agent.toml");
    write_config(
        &config,
        &fleet,
        "1h",
        &format!("[uplink]\nproxy = \"http://127.0.0.1:{proxy_port}\"\n"),
    );
    let _proc = run_agent(&state, &config);
    wait_for(
        "the agent through the proxy",
        Duration::from_secs(30),
        || status(&state)["last_contact"].is_string(),
    );
    // A while later: the channel held through the proxy is still up.
    std::thread::sleep(Duration::from_secs(27));
    let id = server.issue(agent_id, json!({"kind": "scan_now"}));
    let c = server.answered(agent_id, id, Duration::from_secs(5));
    assert_eq!(c["state"], "done", "{c}");
    let log = std::fs::read_to_string(proxy_dir.path().join("tinyproxy.log")).unwrap_or_default();
    assert!(log.contains("CONNECT"), "through the proxy: {log}");
    assert_eq!(
        log_count(&state, "the command channel is open (WebSocket)"),
        1
    );
}

/// A middlebox in front of the server that passes plain HTTP and refuses
/// every Upgrade (403), as a reverse proxy or firewall without WebSocket
/// support does. (The agent tunnels through forward proxies with CONNECT,
/// which passes an Upgrade untouched: refusing one takes a box that reads
/// the requests, like this one.) Returns its port.
fn refusing_upgrades(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            std::thread::spawn(move || {
                // The request head.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
                if text.contains("upgrade: websocket") {
                    let _ = client.write_all(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                    return;
                }
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    return;
                };
                if server.write_all(&head).is_err() {
                    return;
                }
                let (Ok(mut client_r), Ok(mut server_w)) = (client.try_clone(), server.try_clone())
                else {
                    return;
                };
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client_r, &mut server_w);
                    let _ = server_w.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Both);
                let _ = up.join();
            });
        }
    });
    port
}

/// With the WebSocket refused on the way, the agent says so, long-polls,
/// and commands arrive as fast.
#[test]
fn when_the_websocket_is_refused_long_polling_carries_commands() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.9.0/29");
    let port = free_port();
    let _server_proc = start_server(&dir.path().join("server"), port, &[], &[]);
    let front = refusing_upgrades(port);
    let server = Server::connect(port);
    let (agent_id, code) = server.create_agent("behind a box");
    let state = dir.path().join("agent");
    activate(&state, front, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "1h", "");
    let _proc = run_agent(&state, &config);
    wait_for("the refusal seen", Duration::from_secs(30), || {
        log_count(&state, "WebSocket was refused") >= 1
    });
    std::thread::sleep(Duration::from_secs(1));
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let issued = Instant::now();
        let id = server.issue(agent_id, json!({"kind": "scan_now"}));
        let c = server.answered(agent_id, id, Duration::from_secs(10));
        latencies.push(issued.elapsed());
        assert_eq!(c["state"], "done", "{c}");
    }
    latencies.sort();
    assert!(latencies[4] < Duration::from_secs(2), "{latencies:?}");
    assert_eq!(
        log_count(&state, "the command channel is open (WebSocket)"),
        0
    );
    assert_eq!(status(&state)["channel"], "long-polling");
}

/// The server stops and comes back: the agent's WebSocket is opened again
/// (backoff with jitter) and commands flow as before.
#[test]
fn the_channel_comes_back_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.10.0/29");
    let port = free_port();
    let data = dir.path().join("server");
    let server_proc = start_server(&data, port, &[], &[]);
    let server = Server::connect(port);
    let (agent_id, code) = server.create_agent("reconnecting");
    let state = dir.path().join("agent");
    activate(&state, port, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "1h", "");
    let _proc = run_agent(&state, &config);
    wait_for("the channel", Duration::from_secs(30), || {
        status(&state)["channel"] == "websocket"
    });
    drop(server_proc);
    wait_for("the channel seen down", Duration::from_secs(30), || {
        status(&state)["channel"] == "down"
    });
    let _server_proc = start_server(&data, port, &[], &[]);
    let server = Server::connect(port);
    let issued = Instant::now();
    let id = server.issue(agent_id, json!({"kind": "scan_now"}));
    let c = server.answered(agent_id, id, Duration::from_secs(30));
    assert_eq!(c["state"], "done", "{c}");
    eprintln!("answered {:?} after the restart", issued.elapsed());
    assert_eq!(
        log_count(&state, "the command channel is open (WebSocket)"),
        2
    );
}
