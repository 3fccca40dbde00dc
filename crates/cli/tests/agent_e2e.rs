//! The agent end to end, with real processes: the `printwatch` binary as
//! server, simulator and agent, on loopback. Devices, meters and supplies
//! appear through the REST API; a server outage and SIGKILLs of the agent
//! at random moments lose no reading and apply none twice; a revoked
//! agent, an expired one and one pointed at a server with another key are
//! refused, stop, and say why.
//!
//! `PRINTWATCH_AGENT_KILLS` sets the number of kills (20 by default; the
//! bench command runs more).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

mod processes;

use processes::{BIN, Proc, activate, agent, free_port, free_udp_port, http, status};
const PASSWORD: &str = "e2e-password-1";
const PRINTERS: usize = 4;

fn start_server(data: &Path, port: u16) -> Proc {
    let log = std::fs::File::create(data.with_extension("log")).unwrap();
    let child = Command::new(BIN)
        .args(["server", "--data"])
        .arg(data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin-email", "admin@localhost"])
        .env("PRINTWATCH_ADMIN_PASSWORD", PASSWORD)
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

    /// A new agent: its id and activation code.
    fn create_agent(&self, name: &str, expires_at: Option<String>) -> (i64, String) {
        let (status, a) = http(
            self.port,
            "POST",
            "/api/v1/agents",
            Some(&self.token),
            Some(json!({"tenant_id": self.tenant, "name": name, "expires_at": expires_at})),
        );
        assert!(status == 200 || status == 201, "{a}");
        let code = a["activation_code"].as_str().unwrap().to_string();
        let id = a["agent"]["id"]
            .as_i64()
            .or_else(|| a["id"].as_i64())
            .unwrap_or_else(|| code.split('-').next().unwrap().parse().unwrap());
        (id, code)
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = http(self.port, "GET", path, Some(&self.token), None);
        assert_eq!(status, 200, "{path}: {v}");
        v
    }

    fn devices(&self) -> Vec<Value> {
        let v = self.get("/api/v1/devices");
        v.as_array()
            .cloned()
            .or_else(|| v["devices"].as_array().cloned())
            .unwrap_or_default()
    }
}

fn run_agent(state: &Path, config: &Path, trace: &Path) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state.with_extension("log"))
        .unwrap();
    Proc(
        agent(state, &["run"])
            .arg("--config")
            .arg(config)
            .arg("--trace-uploads")
            .arg(trace)
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
        std::thread::sleep(Duration::from_millis(250));
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
    // Only printers (the demo fleet has a router too).
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
            "--pages-per-minute",
            "600",
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

fn write_config(path: &Path, fleet: &Fleet, collect: &str) {
    std::fs::write(
        path,
        format!(
            "[scan]\nranges = [\"{}-{}\"]\nport = {}\nevery = \"1h\"\n[collect]\nevery = \"{collect}\"\nfull-every = \"1h\"\n[heartbeat]\nevery = \"1s\"\n",
            fleet.first, fleet.last, fleet.port
        ),
    )
    .unwrap();
}

/// Every total meter reading the server stored, per device identity.
fn readings(server: &Server) -> BTreeMap<String, Vec<(i64, i64)>> {
    let mut out = BTreeMap::new();
    for d in server.devices() {
        let id = d["id"].as_i64().unwrap();
        let identity = d["identity"].as_str().unwrap_or_default().to_string();
        let v = server.get(&format!(
            "/api/v1/devices/{id}/meters?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
        ));
        let rows = v["readings"].as_array().cloned().unwrap_or_default();
        let mut list: Vec<(i64, i64)> = rows
            .iter()
            .filter(|r| r["name"] == "total")
            .map(|r| {
                (
                    r["at"].as_i64().unwrap_or(0),
                    r["value"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        list.sort();
        out.insert(identity, list);
    }
    out
}

#[test]
fn readings_arrive_exactly_once_through_outages_and_kills() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.1.0/29");
    let port = free_port();
    let data = dir.path().join("server");
    let mut server_proc = Some(start_server(&data, port));
    let server = Server::connect(port);
    let (_, code) = server.create_agent("e2e", None);
    let state = dir.path().join("agent");
    activate(&state, port, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "2s");
    let trace = dir.path().join("trace.jsonl");
    let mut agent_proc = run_agent(&state, &config, &trace);

    // Devices, meters and supplies through the REST API.
    wait_for("every device in the API", Duration::from_secs(60), || {
        server.devices().len() == PRINTERS
    });
    let d = &server.devices()[0];
    let supplies = server.get(&format!("/api/v1/devices/{}/supplies", d["id"]));
    let current = supplies["current"].as_array().cloned().unwrap_or_default();
    assert!(current.iter().any(|s| s["kind"] == "toner"), "{supplies}");
    // Heartbeats reach the agent list: online, with version and health.
    wait_for("a heartbeat", Duration::from_secs(30), || {
        let agents = server.get("/api/v1/agents");
        agents.as_array().into_iter().flatten().any(|a| {
            a["name"] == "e2e"
                && a["online"] == true
                && a["agent_version"].is_string()
                && a["devices"].as_i64() == Some(PRINTERS as i64)
        })
    });

    // The server stops for several collection cycles.
    drop(server_proc.take());
    std::thread::sleep(Duration::from_secs(7));
    let queued = status(&state)["spool_records"].as_u64().unwrap_or(0);
    assert!(
        queued >= PRINTERS as u64,
        "readings wait in the spool: {queued}"
    );
    server_proc = Some(start_server(&data, port));
    let server = Server::connect(port);

    // SIGKILL at random moments (during uploads, spool writes, sweeps).
    let kills: usize = std::env::var("PRINTWATCH_AGENT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    let mut rng = rand::thread_rng();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..2_500)));
        drop(agent_proc);
        agent_proc = run_agent(&state, &config, &trace);
    }
    // Let it deliver everything, then stop collecting.
    std::thread::sleep(Duration::from_secs(3));
    // A bound, not a pace: on a loaded machine (CI's two cores shared with
    // other test binaries) a debug build's uploads after twenty restarts
    // took more than a minute; the wait ends as soon as the spool is empty.
    wait_for("an empty spool", Duration::from_secs(180), || {
        status(&state)["spool_records"].as_u64() == Some(0)
    });
    drop(agent_proc);
    assert!(status(&state)["collections"].as_u64() > Some(0));
    let all = readings(&server);
    assert_eq!(all.len(), PRINTERS, "{all:?}");
    for (identity, list) in &all {
        let times: BTreeSet<i64> = list.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            times.len(),
            list.len(),
            "{identity}: a collection time twice: {list:?}"
        );
        for pair in list.windows(2) {
            assert!(
                pair[1].1 > pair[0].1,
                "{identity}: totals go up, each once: {list:?}"
            );
            let gap = pair[1].0 - pair[0].0;
            assert!(
                gap <= 10,
                "{identity}: a gap of {gap} s between readings: {list:?}"
            );
        }
        assert!(list.len() >= 10, "{identity}: {} readings", list.len());
    }
    // What was uploaded is readable by people.
    let traced = std::fs::read_to_string(&trace).unwrap();
    let first: Value = serde_json::from_str(traced.lines().next().unwrap()).unwrap();
    assert!(first["message"]["type"].is_string(), "{first}");
    drop(server_proc);
}

#[test]
fn a_pushed_configuration_applies_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.3.0/29");
    let port = free_port();
    let _server_proc = start_server(&dir.path().join("server"), port);
    let server = Server::connect(port);
    let (id, code) = server.create_agent("pushed", None);
    let state = dir.path().join("agent");
    activate(&state, port, &code);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "1h");
    let mut proc = run_agent(&state, &config, &dir.path().join("trace"));
    wait_for("the first sweep", Duration::from_secs(60), || {
        status(&state)["collections"].as_u64() >= Some(PRINTERS as u64)
    });
    // Collections every hour from the file; the server pushes every 2 s.
    let push = json!({"collect": {"every": "2s"}});
    let (s, v) = http(
        port,
        "PUT",
        &format!("/api/v1/agents/{id}/config"),
        Some(&server.token),
        Some(push),
    );
    assert!(s < 300, "{v}");
    wait_for(
        "the pushed configuration in force",
        Duration::from_secs(30),
        || status(&state)["config_version"].as_u64() == Some(1),
    );
    // Applied without a restart: collections now come every 2 s.
    let before = status(&state)["collections"].as_u64().unwrap_or(0);
    wait_for(
        "collections at the pushed interval",
        Duration::from_secs(30),
        || status(&state)["collections"].as_u64().unwrap_or(0) >= before + 2 * PRINTERS as u64,
    );
    assert!(proc.0.try_wait().unwrap().is_none(), "the same process");
    // The server sees it in force; a restart keeps it.
    wait_for("the server to see it", Duration::from_secs(30), || {
        server
            .get("/api/v1/agents")
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["name"] == "pushed" && a["config_in_force"] == 1)
    });
    assert!(state.join("pushed-config.json").exists());
    drop(proc);
    // A push may not change [uplink]: the server refuses it.
    let (s, _) = http(
        port,
        "PUT",
        &format!("/api/v1/agents/{id}/config"),
        Some(&server.token),
        Some(json!({"uplink": {"proxy": "http://evil.example:1"}})),
    );
    assert_eq!(s, 400);
}

#[test]
fn refused_agents_stop_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = fleet("127.77.2.0/29");
    let port = free_port();
    let _server_proc = start_server(&dir.path().join("server"), port);
    let server = Server::connect(port);
    let config = dir.path().join("agent.toml");
    write_config(&config, &fleet, "2s");

    // Revoked.
    let (id, code) = server.create_agent("revoked", None);
    let state = dir.path().join("revoked");
    activate(&state, port, &code);
    let mut proc = run_agent(&state, &config, &dir.path().join("t1"));
    wait_for("a delivery", Duration::from_secs(60), || {
        status(&state)["last_acked_seq"].as_u64() >= Some(1)
    });
    let (s, v) = http(
        port,
        "POST",
        &format!("/api/v1/agents/{id}/revoke"),
        Some(&server.token),
        Some(json!({})),
    );
    assert!(s < 300, "{v}");
    let exit = wait_exit(&mut proc.0, Duration::from_secs(30));
    assert_eq!(exit, Some(4), "a refused agent exits with 4");
    let st = status(&state);
    assert!(
        st["refused"]
            .as_str()
            .unwrap_or_default()
            .contains("revoked"),
        "{st}"
    );

    // Expired.
    let soon =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() + Duration::from_secs(4))
            .to_string();
    let (_, code) = server.create_agent("expiring", Some(soon));
    let state = dir.path().join("expired");
    activate(&state, port, &code);
    let mut proc = run_agent(&state, &config, &dir.path().join("t2"));
    let exit = wait_exit(&mut proc.0, Duration::from_secs(40));
    assert_eq!(exit, Some(4));
    let st = status(&state);
    assert!(
        st["refused"]
            .as_str()
            .unwrap_or_default()
            .contains("expired"),
        "{st}"
    );

    // Another server (another key): it does not know this agent.
    let other_port = free_port();
    let _other = start_server(&dir.path().join("other"), other_port);
    let (_, code) = server.create_agent("moved", None);
    let state = dir.path().join("moved");
    activate(&state, port, &code);
    let identity = state.join("identity.json");
    let text = std::fs::read_to_string(&identity)
        .unwrap()
        .replace(&format!(":{port}"), &format!(":{other_port}"));
    std::fs::write(&identity, text).unwrap();
    let mut proc = run_agent(&state, &config, &dir.path().join("t3"));
    let exit = wait_exit(&mut proc.0, Duration::from_secs(40));
    assert_eq!(exit, Some(4));
    let st = status(&state);
    assert!(
        st["refused"].as_str().unwrap_or_default().contains("key"),
        "{st}"
    );
    assert!(
        st["spool_records"].as_u64().unwrap_or(0) > 0,
        "the readings are kept: {st}"
    );

    // A second activation of an activated directory needs --force.
    let out = agent(
        &state,
        &[
            "activate",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--code",
            &code,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        std::thread::sleep(Duration::from_millis(200));
    }
}
