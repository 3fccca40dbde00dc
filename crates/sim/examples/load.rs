//! Load generator for `bench/sim-throughput.sh`: GETs to many simulated
//! agents at once, for a fixed time, over one shared UDP socket, either
//! through printwatch's own SNMP layer (`--client printwatch`, as the
//! collector polls) or through async-snmp's client directly with a larger
//! socket receive buffer (`--client async-snmp`, the default).
//!
//! ```text
//! cargo build --release -p printwatch-sim --example load
//! target/release/examples/load --map MAP [options]
//! ```
//!
//! Options:
//! - `--map FILE`: the address map `printwatch sim --map FILE` wrote
//!   (`ADDRESS:PORT<TAB>recording` a line); or `--target ADDRESS:PORT`, repeatable.
//! - `--duration S` (10) seconds measured, after `--warmup S` (1) seconds.
//! - `--per-target N` (1): requests in flight at once per agent.
//! - `--oids A,B,...` (sysDescr.0): the OIDs of each GET (one PDU).
//! - `--snmp-version 2c|3` (2c), `--community NAME` (public), `--user NAME`,
//!   `--auth PROTO:PASSWORD`, `--priv PROTO:PASSWORD` (v3: simulator,
//!   sha:auctoritas, aes:privatus, the simulator's defaults).
//! - `--timeout S` (2) per request, no retries.
//! - `--client async-snmp|printwatch` (async-snmp); `--recv-buffer BYTES`
//!   (4194304): SO_RCVBUF of the async-snmp client's socket (the kernel caps
//!   it at net.core.rmem_max). printwatch's engine keeps the OS default.
//! - `--watch-pid PID`: also report that process's CPU time over the
//!   measured window and its resident memory (Linux /proc).
//!
//! Prints `key value` lines (see the end of `main`). Everything it sends goes
//! to the addresses given, which the benchmark keeps on loopback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_snmp::{Auth, Client, MasterKeys, Retry, UdpHandle, UdpTransport, UsmConfig};
use printwatch_snmp::credentials::CredentialSpec;
use printwatch_snmp::{Credentials, Oid, Poller, Secret, Session, SnmpEngine, SnmpOptions};

struct Args {
    targets: Vec<SocketAddr>,
    duration: f64,
    warmup: f64,
    per_target: usize,
    oids: Vec<Oid>,
    spec: CredentialSpec,
    timeout: f64,
    watch_pid: Option<u32>,
    raw: bool,
    recv_buffer: usize,
}

const USAGE: &str = "usage: load (--map FILE | --target ADDR:PORT ...) [--duration S] [--warmup S] \
[--per-target N] [--oids A,B] [--snmp-version 2c|3] [--community NAME] [--user NAME] \
[--auth PROTO:PASS] [--priv PROTO:PASS] [--timeout S] [--watch-pid PID] \
[--client async-snmp|printwatch] [--recv-buffer BYTES]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        targets: Vec::new(),
        duration: 10.0,
        warmup: 1.0,
        per_target: 1,
        oids: Vec::new(),
        spec: CredentialSpec::default(),
        timeout: 2.0,
        watch_pid: None,
        raw: true,
        recv_buffer: 4 << 20,
    };
    let mut version = "2c".to_string();
    let mut community = "public".to_string();
    let mut user = "simulator".to_string();
    let mut auth = "sha:auctoritas".to_string();
    let mut privacy = "aes:privatus".to_string();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--map" => {
                let text = std::fs::read_to_string(&value)
                    .map_err(|e| format!("cannot read {value}: {e}"))?;
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let address = line.split('\t').next().unwrap_or_default();
                    args.targets.push(
                        address
                            .parse()
                            .map_err(|e| format!("{value}: {address:?}: {e}"))?,
                    );
                }
            }
            "--target" => args.targets.push(
                value
                    .parse()
                    .map_err(|e| format!("--target {value}: {e}"))?,
            ),
            "--duration" => args.duration = num(&value)?,
            "--warmup" => args.warmup = num(&value)?,
            "--timeout" => args.timeout = num(&value)?,
            "--per-target" => {
                args.per_target = value
                    .parse()
                    .map_err(|e| format!("--per-target {value}: {e}"))?;
            }
            "--oids" => {
                for oid in value.split(',') {
                    args.oids.push(
                        oid.trim_start_matches('.')
                            .parse()
                            .map_err(|e| format!("--oids {oid}: {e}"))?,
                    );
                }
            }
            "--client" => {
                args.raw = match value.as_str() {
                    "async-snmp" => true,
                    "printwatch" => false,
                    _ => return Err(format!("--client {value}: async-snmp or printwatch")),
                }
            }
            "--recv-buffer" => {
                args.recv_buffer = value
                    .parse()
                    .map_err(|e| format!("--recv-buffer {value}: {e}"))?;
            }
            "--snmp-version" => version = value,
            "--community" => community = value,
            "--user" => user = value,
            "--auth" => auth = value,
            "--priv" => privacy = value,
            "--watch-pid" => {
                args.watch_pid = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--watch-pid {value}: {e}"))?,
                );
            }
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    if args.targets.is_empty() {
        return Err(format!("no target: give --map or --target\n{USAGE}"));
    }
    if args.oids.is_empty() {
        args.oids.push(
            "1.3.6.1.2.1.1.1.0"
                .parse()
                .map_err(|e| format!("sysDescr: {e}"))?,
        );
    }
    if !(args.duration > 0.0 && args.warmup >= 0.0 && args.timeout > 0.0 && args.per_target > 0) {
        return Err("--duration, --timeout and --per-target must be above 0".into());
    }
    let split = |s: &str| -> Result<(String, Secret), String> {
        let (p, w) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: want PROTOCOL:PASSWORD"))?;
        Ok((p.to_string(), Secret::new(w)))
    };
    args.spec = if version.trim_start_matches('v') == "3" {
        let (auth_protocol, auth_password) = split(&auth)?;
        let (priv_protocol, priv_password) = split(&privacy)?;
        CredentialSpec {
            snmp_version: Some("3".into()),
            user: Some(user),
            auth_protocol: Some(auth_protocol),
            auth_password: Some(auth_password),
            priv_protocol: Some(priv_protocol),
            priv_password: Some(priv_password),
            ..Default::default()
        }
    } else {
        CredentialSpec {
            snmp_version: Some(version),
            community: Some(Secret::new(community)),
            ..Default::default()
        }
    };
    Ok(args)
}

/// CPU time (user, system) in seconds of a process, from /proc (Linux,
/// USER_HZ = 100).
fn cpu_seconds(pid: &str) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user / 100.0, system / 100.0))
}

/// VmRSS and VmHWM (peak) in KiB.
fn memory_kib(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// One agent, through either client.
enum Getter {
    Printwatch(Session),
    Raw(Client<UdpHandle>),
}

impl Getter {
    /// Varbinds answered, or (message, timed out).
    async fn get(&self, oids: &[Oid], wire: &[async_snmp::Oid]) -> Result<usize, (String, bool)> {
        match self {
            Getter::Printwatch(s) => s
                .get(oids)
                .await
                .map(|v| v.len())
                .map_err(|e| (e.to_string(), e.is_timeout())),
            Getter::Raw(c) => c
                .get_many(wire)
                .await
                .map(|r| r.varbinds.len())
                .map_err(|e| {
                    let timeout = e.kind() == async_snmp::ErrorKind::Timeout;
                    (e.to_string(), timeout)
                }),
        }
    }
}

fn raw_auth(credentials: &Credentials) -> Result<Auth, String> {
    Ok(match credentials {
        Credentials::Community { community, .. } => Auth::v2c(community.expose().to_string()),
        Credentials::Usm(usm) => {
            let mut config = UsmConfig::new(usm.user.clone().into_bytes());
            if let Some((protocol, password)) = &usm.auth {
                let mut keys = MasterKeys::new((*protocol).into(), password.expose().as_bytes())
                    .map_err(|e| e.to_string())?;
                if let Some((protocol, password)) = &usm.privacy {
                    keys = keys
                        .with_privacy((*protocol).into(), password.expose().as_bytes())
                        .map_err(|e| e.to_string())?;
                }
                config = config.with_master_keys(keys).map_err(|e| e.to_string())?;
            }
            Auth::Usm(config)
        }
    })
}

/// The kernel's count of UDP datagrams dropped for a full receive buffer
/// (whole machine: /proc/net/snmp, `Udp: ... RcvbufErrors`).
fn udp_rcvbuf_errors() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = udp.next()?.split_whitespace().collect();
    let values: Vec<&str> = udp.next()?.split_whitespace().collect();
    let i = names.iter().position(|n| *n == "RcvbufErrors")?;
    values.get(i)?.parse().ok()
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    timeouts: u64,
    varbinds: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: {e}");
            std::process::exit(2);
        }
    };
    let credentials = match args.spec.build() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("load: credentials: {e}");
            std::process::exit(2);
        }
    };
    let options = SnmpOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        retries: 0,
        ..SnmpOptions::default()
    };
    let engine = SnmpEngine::new(None);
    let mut sessions = Vec::with_capacity(args.targets.len());
    let transport = if args.raw {
        match UdpTransport::builder()
            .recv_buffer_size(args.recv_buffer)
            .build()
            .await
        {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("load: cannot open the UDP socket: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let auth = match raw_auth(&credentials) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("load: credentials: {e}");
            std::process::exit(2);
        }
    };
    for target in &args.targets {
        let getter = match &transport {
            None => engine
                .session(*target, &credentials, &options)
                .await
                .map(Getter::Printwatch)
                .map_err(|e| e.to_string()),
            Some(transport) => Client::builder(*target, auth.clone())
                .request_timeout(options.timeout)
                .retry(Retry::none())
                .build_with(transport)
                .await
                .map(Getter::Raw)
                .map_err(|e| e.to_string()),
        };
        match getter {
            Ok(g) => sessions.push(Arc::new(g)),
            Err(e) => {
                eprintln!("load: {target}: {e}");
                std::process::exit(1);
            }
        }
    }
    let wire: Arc<Vec<async_snmp::Oid>> =
        Arc::new(args.oids.iter().map(async_snmp::Oid::from).collect());
    // One GET to each agent first (v3: engine discovery), 100 at a time: a
    // burst of 1,000 answers can overflow a socket's default receive buffer.
    let mut probe_failures = 0usize;
    let mut probe_error = String::new();
    for batch in sessions.chunks(100) {
        let mut probes = tokio::task::JoinSet::new();
        for session in batch {
            let session = session.clone();
            let oids = args.oids.clone();
            let wire = wire.clone();
            probes.spawn(async move { session.get(&oids, &wire).await.map(|_| ()) });
        }
        while let Some(result) = probes.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err((e, _))) => {
                    probe_failures += 1;
                    probe_error = e;
                }
                Err(e) => {
                    probe_failures += 1;
                    probe_error = e.to_string();
                }
            }
        }
    }
    if probe_failures > 0 {
        eprintln!(
            "load: {probe_failures} of {} agents did not answer the first GET ({probe_error})",
            sessions.len()
        );
        std::process::exit(1);
    }

    let oids = Arc::new(args.oids.clone());
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(args.warmup);
    let end = start + Duration::from_secs_f64(args.duration);
    let mut tasks = tokio::task::JoinSet::new();
    for session in &sessions {
        for _ in 0..args.per_target {
            let session = session.clone();
            let oids = oids.clone();
            let wire = wire.clone();
            tasks.spawn(async move {
                let mut tally = Tally::default();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let result = session.get(&oids, &wire).await;
                    let done = Instant::now();
                    if done < start || done >= end {
                        continue;
                    }
                    match result {
                        Ok(varbinds) => {
                            tally.ok += 1;
                            tally.varbinds += varbinds as u64;
                            let us = done.duration_since(sent).as_micros();
                            tally.latencies_us.push(us.min(u32::MAX as u128) as u32);
                        }
                        Err((e, timeout)) => {
                            tally.failed += 1;
                            if timeout {
                                tally.timeouts += 1;
                            }
                            tally.first_error.get_or_insert(e);
                        }
                    }
                }
                tally
            });
        }
    }
    let me = std::process::id().to_string();
    let watched = args.watch_pid.map(|p| p.to_string());
    tokio::time::sleep_until(start.into()).await;
    let my_cpu_0 = cpu_seconds(&me);
    let drops_0 = udp_rcvbuf_errors();
    let sim_cpu_0 = watched.as_deref().and_then(cpu_seconds);
    tokio::time::sleep_until(end.into()).await;
    let my_cpu_1 = cpu_seconds(&me);
    let drops_1 = udp_rcvbuf_errors();
    let sim_cpu_1 = watched.as_deref().and_then(cpu_seconds);
    let sim_mem = watched.as_deref().and_then(memory_kib);
    let my_mem = memory_kib(&me);

    let mut total = Tally::default();
    while let Some(result) = tasks.join_next().await {
        if let Ok(t) = result {
            total.ok += t.ok;
            total.failed += t.failed;
            total.timeouts += t.timeouts;
            total.varbinds += t.varbinds;
            total.latencies_us.extend(t.latencies_us);
            if total.first_error.is_none() {
                total.first_error = t.first_error;
            }
        }
    }
    total.latencies_us.sort_unstable();
    let percentile = |p: f64| -> u32 {
        let n = total.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let i = ((n as f64 - 1.0) * p).round() as usize;
        total.latencies_us[i.min(n - 1)]
    };
    let secs = args.duration;
    println!("targets {}", sessions.len());
    println!(
        "client {}",
        if args.raw { "async-snmp" } else { "printwatch" }
    );
    println!("per_target {}", args.per_target);
    println!("oids_per_get {}", args.oids.len());
    println!(
        "version {}",
        args.spec.snmp_version.as_deref().unwrap_or("?")
    );
    println!("window_s {secs:.2}");
    println!("answers {}", total.ok);
    println!("failed {}", total.failed);
    println!("timeouts {}", total.timeouts);
    println!("answers_per_s {:.0}", total.ok as f64 / secs);
    println!("varbinds_per_s {:.0}", total.varbinds as f64 / secs);
    println!("latency_p50_us {}", percentile(0.5));
    println!("latency_p99_us {}", percentile(0.99));
    let diff = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
        (Some(a), Some(b)) => Some((b.0 - a.0, b.1 - a.1)),
        _ => None,
    };
    if let Some((u, s)) = diff(my_cpu_0, my_cpu_1) {
        println!("load_cpu_user_s {u:.2}");
        println!("load_cpu_sys_s {s:.2}");
    }
    if let (Some(a), Some(b)) = (drops_0, drops_1) {
        println!("udp_rcvbuf_drops {}", b.saturating_sub(a));
    }
    if let Some((rss, _)) = my_mem {
        println!("load_rss_kib {rss}");
    }
    if let Some((u, s)) = diff(sim_cpu_0, sim_cpu_1) {
        println!("sim_cpu_user_s {u:.2}");
        println!("sim_cpu_sys_s {s:.2}");
        if total.ok > 0 {
            println!(
                "sim_cpu_us_per_answer {:.1}",
                (u + s) * 1e6 / total.ok as f64
            );
        }
    }
    if let Some((rss, hwm)) = sim_mem {
        println!("sim_rss_kib {rss}");
        println!("sim_rss_peak_kib {hwm}");
    }
    if let Some(e) = total.first_error {
        println!("first_error {e}");
    }
}
