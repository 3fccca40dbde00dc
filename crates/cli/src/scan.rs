//! `printwatch scan`: discover and collect the printers of address ranges.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use printwatch_agent::scan::{
    Failure, ScanOptions, ScanProgress, ScanReport, Target, scan, targets,
};
use tokio::sync::watch;

use crate::snmp_args::SnmpArgs;

#[derive(Args, Debug)]
pub struct ScanArgs {
    #[command(flatten)]
    pub snmp: SnmpArgs,
    /// CIDR blocks, ranges (a.b.c.d-e.f.g.h), addresses, host names.
    #[arg(required = true)]
    pub ranges: Vec<String>,
    /// Addresses or ranges to leave out (repeatable).
    #[arg(long, value_name = "RANGE")]
    pub exclude: Vec<String>,
    /// UDP port of the agents.
    #[arg(long, default_value = "161")]
    pub port: u16,
    /// Probes sent per second.
    #[arg(long, default_value = "2000", value_name = "PER_SECOND")]
    pub rate: u32,
    /// Printers collected at the same time.
    #[arg(long, default_value = "64")]
    pub concurrency: usize,
    /// One snapshot per line, as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// A CSV table.
    #[arg(long)]
    pub csv: bool,
    /// A directory of profiles replacing or adding to the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
}

pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    let report = sweep(&args).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for device in &report.devices {
            writeln!(out, "{}", serde_json::to_string(&device.snapshot)?)?;
        }
    } else if args.csv {
        out.write_all(csv(&report).as_bytes())?;
    } else {
        out.write_all(table(&report).as_bytes())?;
    }
    out.flush()?;
    eprint!("{}", summary(&report));
    Ok(())
}

/// Parses the scan's arguments and runs it.
pub async fn sweep(args: &ScanArgs) -> anyhow::Result<ScanReport> {
    if args.rate == 0 || args.rate > 1_000_000 {
        bail!("--rate must be between 1 and 1000000 probes per second");
    }
    let profiles = Arc::new(crate::collect::profiles(args.profiles.as_ref())?);
    let parse = |list: &[String]| -> anyhow::Result<Vec<Target>> {
        Ok(list
            .iter()
            .map(|t| Target::parse(t))
            .collect::<Result<_, _>>()?)
    };
    let addresses = targets::expand(&parse(&args.ranges)?, &parse(&args.exclude)?).await?;
    let credentials = args.snmp.credential_sets()?;
    let options = ScanOptions {
        port: args.port,
        rate: args.rate,
        concurrency: args.concurrency.clamp(1, 4096),
        snmp: args.snmp.options()?,
        credentials,
    };
    Ok(run_scan(addresses, options, profiles).await)
}

/// Runs a scan with a progress bar on a terminal and Ctrl-C handling.
pub async fn run_scan(
    addresses: Vec<std::net::IpAddr>,
    options: ScanOptions,
    profiles: Arc<printwatch_printer::ProfileSet>,
) -> ScanReport {
    let progress = Arc::new(ScanProgress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let bar = std::io::stderr().is_terminal().then(|| {
        let progress = progress.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                draw(&progress, started.elapsed());
            }
        })
    });
    let report = scan(addresses, options, profiles, progress, stop_rx).await;
    if let Some(bar) = bar {
        bar.abort();
        eprint!("\r\x1b[2K");
    }
    report
}

fn draw(p: &ScanProgress, elapsed: Duration) {
    let total = p.total.load(Ordering::Relaxed).max(1);
    let probed = p.probed.load(Ordering::Relaxed);
    let printers = p.printers.load(Ordering::Relaxed);
    let collected = p.collected.load(Ordering::Relaxed);
    let done = probed as f64 / total as f64;
    let width = 30;
    let filled = (done * width as f64) as usize;
    let eta = if probed > 0 && done < 1.0 {
        let left = elapsed.as_secs_f64() * (1.0 - done) / done;
        format!("{left:.0}s left")
    } else {
        "collecting".into()
    };
    eprint!(
        "\r\x1b[2K[{}{}] {probed}/{total} probed, {printers} printers ({collected} collected), {eta}",
        "#".repeat(filled),
        "-".repeat(width - filled)
    );
    let _ = std::io::stderr().flush();
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

pub fn table(report: &ScanReport) -> String {
    let mut out = format!(
        "{:<18} {:<16} {:<34} {:<18} {:>10}  {}\n",
        "ADDRESS", "VENDOR", "MODEL", "SERIAL", "TOTAL", "SUPPLIES"
    );
    for d in &report.devices {
        let s = &d.snapshot;
        let supplies: Vec<String> = s
            .supplies
            .iter()
            .filter(|x| matches!(x.kind.as_str(), "toner" | "ink"))
            .map(|x| {
                let colour = x.color.as_deref().unwrap_or("?");
                match x.percent {
                    Some(p) => format!("{colour} {p:.0}%"),
                    None => format!("{colour} {}", x.state),
                }
            })
            .collect();
        let mut model = text(&s.model);
        model.truncate(34);
        out.push_str(&format!(
            "{:<18} {:<16} {:<34} {:<18} {:>10}  {}\n",
            s.addresses.join(","),
            text(&s.vendor),
            model,
            text(&s.serial),
            s.meter("total")
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            supplies.join(", ")
        ));
    }
    out
}

pub fn csv(report: &ScanReport) -> String {
    let mut out = String::from(
        "addresses,vendor,family,model,serial,mac,firmware,hostname,location,total,total_mono,total_color,status\r\n",
    );
    for d in &report.devices {
        let s = &d.snapshot;
        let meter = |n: &str| s.meter(n).map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            s.addresses.join(" "),
            s.vendor.clone().unwrap_or_default(),
            s.family.clone().unwrap_or_default(),
            s.model.clone().unwrap_or_default(),
            s.serial.clone().unwrap_or_default(),
            s.mac.clone().unwrap_or_default(),
            s.firmware.clone().unwrap_or_default(),
            s.hostname.clone().unwrap_or_default(),
            s.location.clone().unwrap_or_default(),
            meter("total"),
            meter("total_mono"),
            meter("total_color"),
            s.status.device.clone().unwrap_or_default(),
        ];
        // Device-controlled text: the formula-safe writer the server uses.
        out.push_str(&printwatch_printer::snapshot::csv::row(&fields));
    }
    out
}

pub fn summary(report: &ScanReport) -> String {
    let mut not_printer = 0;
    let mut refused = Vec::new();
    let mut failed = Vec::new();
    for (ip, failure) in &report.failures {
        match failure {
            Failure::NotAPrinter => not_printer += 1,
            Failure::Credentials(why) => refused.push(format!("  {ip}: {why}")),
            Failure::Collection(why) => failed.push(format!("  {ip}: {why}")),
        }
    }
    let mut out = format!(
        "{} printers on {} addresses in {:.1} s{}; {} without answer, {} not printers, {} refused our credentials, {} failed during collection\n",
        report.devices.len(),
        report.probed,
        report.elapsed.as_secs_f64(),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        report.no_answer,
        not_printer,
        refused.len(),
        failed.len()
    );
    for line in refused.iter().chain(&failed) {
        out.push_str(line);
        out.push('\n');
    }
    out
}
