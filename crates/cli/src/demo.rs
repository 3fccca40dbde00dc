//! `printwatch demo`: a first look, with nothing to install. A simulated
//! fleet of printers of many vendors (synthetic recordings made by the
//! project) is served on loopback, on a high port, then scanned.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use printwatch_agent::scan::ScanOptions;
use printwatch_printer::ProfileSet;
use printwatch_sim::{DevicePlan, Faults, Simulator, synthetic};
use printwatch_snmp::{Credentials, snmprec};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Printers in the simulated fleet.
    #[arg(long, default_value = "24")]
    pub printers: usize,
    /// Loopback block the fleet is served on.
    #[arg(long, default_value = "127.200.0.0/24")]
    pub bind: ipnet::IpNet,
    /// UDP port of the simulated printers (a high one: no privileges needed).
    #[arg(long, default_value = "16161")]
    pub port: u16,
    /// Keep serving the fleet after the scan (Ctrl-C to stop), to try
    /// `printwatch collect` or `walk` on it.
    #[arg(long)]
    pub serve: bool,
    /// Only write the synthetic recordings to this directory.
    #[arg(long, value_name = "DIR")]
    pub write_recordings: Option<PathBuf>,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let profiles = ProfileSet::embedded()?;
    let fleet = synthetic::demo_fleet(&profiles, args.printers.clamp(1, 250));
    let dir = match &args.write_recordings {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("printwatch-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut files = Vec::new();
    for (name, records) in &fleet {
        let path = dir.join(name);
        std::fs::write(&path, snmprec::to_string(records))
            .with_context(|| format!("cannot write {}", path.display()))?;
        files.push(path);
    }
    if args.write_recordings.is_some() {
        eprintln!("wrote {} recordings to {}", files.len(), dir.display());
        return Ok(());
    }
    let hosts: Vec<IpAddr> = args.bind.hosts().take(files.len()).collect();
    if hosts.len() < files.len() {
        anyhow::bail!(
            "--bind {} is too small for {} devices",
            args.bind,
            files.len()
        );
    }
    let plans: Vec<DevicePlan> = hosts
        .iter()
        .zip(&files)
        .map(|(ip, file)| DevicePlan {
            addresses: vec![SocketAddr::new(*ip, args.port)],
            recording: file.clone(),
            communities: Some(vec!["public".into()]),
            v3_users: vec![],
            unique: false,
            faults: Faults {
                pages_per_minute: 12.0,
                drain_percent_per_hour: 2.0,
                ..Faults::default()
            },
        })
        .collect();
    let simulator = Simulator::start(&plans).await?;
    eprintln!(
        "serving {} simulated devices on {}, port {}; scanning…",
        simulator.served.len(),
        args.bind,
        args.port
    );
    let options = ScanOptions {
        port: args.port,
        credentials: vec![Credentials::v2c("public")],
        ..ScanOptions::default()
    };
    let addresses: Vec<IpAddr> = args.bind.hosts().collect();
    let report = crate::scan::run_scan(addresses, options, Arc::new(profiles)).await;
    print!("{}", crate::scan::table(&report));
    eprint!("{}", crate::scan::summary(&report));
    if args.serve {
        let first = hosts.first().copied();
        if let Some(ip) = first {
            eprintln!(
                "try: printwatch collect {ip}:{}   (Ctrl-C to stop)",
                args.port
            );
        }
        tokio::select! {
            () = simulator.wait() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
