//! `printwatch demo`: the whole product for a first look, with nothing to
//! install and all in one process: a simulated fleet of printers of many
//! vendors (synthetic recordings the project writes from its profiles:
//! meters advancing, supplies draining) on loopback, the server on SQLite
//! in a temporary directory, and an agent created through the server's own
//! API, activated and running against it with short intervals. Ctrl-C
//! stops everything; `--keep DIR` keeps the data.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use printwatch_agent::activate::activate;
use printwatch_agent::daemon::{self, DaemonOptions, Link};
use printwatch_agent::state::StateDir;
use printwatch_agent::transport::{Transport, TransportOptions};
use printwatch_printer::ProfileSet;
use printwatch_protocol::config::{AgentConfig, CollectConfig, HeartbeatConfig, ScanConfig};
use printwatch_sim::{DevicePlan, Faults, Simulator, synthetic};
use printwatch_snmp::snmprec;

/// The SNMPv3 user every printer of the demo fleet answers (authPriv,
/// SHA/AES), beside the community `public`: fixed and documented, so that
/// v3 can be tried on the demo (README, and the demo's own output).
pub const V3_USER: &str = "demo";
pub const V3_AUTH_PASSWORD: &str = "demo-auth-pass";
pub const V3_PRIV_PASSWORD: &str = "demo-priv-pass";

fn v3_user() -> anyhow::Result<printwatch_snmp::Credentials> {
    Ok(printwatch_snmp::credentials::CredentialSpec {
        user: Some(V3_USER.into()),
        auth_protocol: Some("sha".into()),
        auth_password: Some(printwatch_snmp::Secret::new(V3_AUTH_PASSWORD)),
        priv_protocol: Some("aes".into()),
        priv_password: Some(printwatch_snmp::Secret::new(V3_PRIV_PASSWORD)),
        ..Default::default()
    }
    .build()?)
}

/// The `printwatch collect` command line that reads `target` with the demo's
/// v3 user.
pub fn v3_collect_line(target: &str) -> String {
    format!(
        "printwatch collect --snmp-version 3 --user {V3_USER} --auth-protocol sha \
         --auth-password {V3_AUTH_PASSWORD} --priv-protocol aes --priv-password {V3_PRIV_PASSWORD} {target}"
    )
}

#[derive(Args, Debug)]
#[command(
    after_help = "Every simulated printer answers the community `public` and the \
SNMPv3 user `demo` (authPriv: SHA with the password demo-auth-pass, AES with demo-priv-pass)."
)]
pub struct DemoArgs {
    /// Printers in the simulated fleet.
    #[arg(long, default_value = "50")]
    pub printers: usize,
    /// Loopback block the fleet is served on.
    #[arg(long, default_value = "127.200.0.0/24")]
    pub bind: ipnet::IpNet,
    /// UDP port of the simulated printers (a high one: no privileges needed).
    #[arg(long, default_value = "16161")]
    pub port: u16,
    /// Where the server listens (the portal and the API).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Keep the server's data and the agent's state in DIR (default: a
    /// temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Only write the synthetic recordings to this directory.
    #[arg(long, value_name = "DIR")]
    pub write_recordings: Option<PathBuf>,
    /// Stop by itself after this many seconds (for tests and benchmarks).
    #[arg(long, value_name = "SECONDS")]
    pub stop_after: Option<u64>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let profiles = ProfileSet::embedded()?;
    let fleet = synthetic::demo_fleet(&profiles, args.printers.clamp(1, 250));
    let temporary = args.keep.is_none();
    let base = match &args.keep {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("printwatch-demo-{}", std::process::id())),
    };
    let recordings = args
        .write_recordings
        .clone()
        .unwrap_or_else(|| base.join("recordings"));
    std::fs::create_dir_all(&recordings)
        .with_context(|| format!("cannot create {}", recordings.display()))?;
    let mut files = Vec::new();
    for (name, records) in &fleet {
        let path = recordings.join(name);
        std::fs::write(&path, snmprec::to_string(records))
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
    }
    if args.write_recordings.is_some() {
        eprintln!(
            "wrote {} recordings to {}",
            files.len(),
            recordings.display()
        );
        let first = args
            .bind
            .hosts()
            .next()
            .map(|h| h.to_string())
            .unwrap_or_default();
        println!("next:");
        println!(
            "  printwatch sim --bind {} --count {} --port {} {}   # serve them",
            args.bind,
            files.len(),
            args.port,
            recordings.display()
        );
        println!(
            "  printwatch scan --port {} {first}-{}   # then, in another terminal",
            args.port,
            args.bind
                .hosts()
                .nth(files.len().saturating_sub(1))
                .map(|h| h.to_string())
                .unwrap_or_default()
        );
        println!("  printwatch collect {first}:{}", args.port);
        println!("  printwatch demo   # the whole product: the fleet, the server and an agent");
        return Ok(());
    }
    let result = serve_everything(&args, files, profiles, &base).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&base);
    }
    result
}

async fn serve_everything(
    args: &DemoArgs,
    files: Vec<PathBuf>,
    profiles: ProfileSet,
    base: &std::path::Path,
) -> anyhow::Result<()> {
    // 1. The fleet.
    let hosts: Vec<IpAddr> = args.bind.hosts().take(files.len()).collect();
    if hosts.len() < files.len() {
        anyhow::bail!(
            "--bind {} is too small for {} devices",
            args.bind,
            files.len()
        );
    }
    let v3 = v3_user()?;
    let plans: Vec<DevicePlan> = hosts
        .iter()
        .zip(&files)
        .map(|(ip, file)| DevicePlan {
            addresses: vec![SocketAddr::new(*ip, args.port)],
            recording: file.clone(),
            communities: Some(vec!["public".into()]),
            v3_users: vec![v3.clone()],
            unique: false,
            faults: Faults {
                pages_per_minute: 12.0,
                drain_percent_per_hour: 2.0,
                ..Faults::default()
            },
        })
        .collect();
    let simulator = Simulator::start(&plans).await?;

    // 2. The server.
    let password = format!("demo-{}", random_word());
    let server = crate::server::start_for_demo(base.join("server"), args.listen, &password).await?;
    let url = format!("http://{}", server.addr);

    // 3. An agent, created through the server's own API.
    let admin = server.login("admin@localhost", &password).await?;
    let code = server.create_agent(&admin, "demo agent").await?;
    let read_only = server
        .create_token(&admin, "demo (read-only)", "viewer")
        .await?;
    let state_path = base.join("agent");
    let state = StateDir::create(&state_path)?;
    let link: Arc<dyn Link> = Arc::new(Transport::new(&url, TransportOptions::default())?);
    activate(link.as_ref(), &url, &code, &state, None, true).await?;
    let config = AgentConfig {
        scan: ScanConfig {
            ranges: vec![format!("{}-{}", hosts[0], hosts[hosts.len() - 1])],
            port: Some(args.port),
            every: Some("1h".into()),
            ..ScanConfig::default()
        },
        collect: CollectConfig {
            every: Some("30s".into()),
            full_every: Some("1h".into()),
        },
        heartbeat: HeartbeatConfig {
            every: Some("10s".into()),
        },
        ..AgentConfig::default()
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(daemon::run(DaemonOptions {
        state: state_path,
        config,
        trace_uploads: None,
        profiles: Arc::new(profiles),
        link,
        shutdown: stop,
    }));

    // Ready when every printer is in the API; then the read-only token
    // (a viewer sees the groups granted to it) is given the fleet.
    let printers = files.len() - 1; // the fleet has one router
    eprintln!("printwatch demo: waiting for the agent to deliver {printers} printers…");
    let started = std::time::Instant::now();
    let devices = loop {
        let devices = server.device_ids(&admin).await?;
        if devices.len() >= printers || started.elapsed() > Duration::from_secs(120) {
            break devices;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    server.grant_fleet(&admin, &devices).await?;
    println!(
        "printwatch demo: {} simulated printers (and a router) on {} (UDP {}); the agent delivered {} to the server in {:.1} s",
        printers,
        args.bind,
        args.port,
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    println!("portal: {url}/   (the API reference: {url}/api/docs)");
    println!("login: admin@localhost {password}");
    println!("api token: {read_only}");
    let first = format!("{}:{}", hosts[0], args.port);
    println!("try:");
    println!("  curl -s -H 'Authorization: Bearer {read_only}' {url}/api/v1/devices");
    println!(
        "  curl -s -H 'Authorization: Bearer {read_only}' '{url}/api/v1/supplies?latest=true&format=csv'"
    );
    println!("  printwatch collect {first} --json");
    println!(
        "  printwatch scan --port {} {}-{}",
        args.port,
        hosts[0],
        hosts[hosts.len() - 1]
    );
    println!("  printwatch walk {first} 1.3.6.1.2.1.43 --out printer-mib.snmprec");
    println!("SNMPv3: every printer also answers the user {V3_USER} (authPriv, SHA/AES):");
    println!("  {}", v3_collect_line(&first));
    println!("Ctrl-C stops everything.");

    let deadline = async {
        match args.stop_after {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = deadline => {}
        () = simulator.wait() => {}
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), agent).await;
    server.stop().await;
    match &args.keep {
        Some(dir) => eprintln!("stopped; the data stays in {}", dir.display()),
        None => eprintln!("stopped (the data was temporary: `--keep DIR` keeps it)"),
    }
    Ok(())
}

fn random_word() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| char::from(b"abcdefghjkmnpqrstuvwxyz23456789"[rng.gen_range(0..31)]))
        .collect()
}
