//! `printwatch scan`: discover and collect the printers of address ranges.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use printwatch_agent::scan::{
    Failure, ScanOptions, ScanProgress, ScanReport, Target, scan, targets,
};
use tokio::sync::watch;

use crate::exit::{self, usage};
use crate::snmp_args::SnmpArgs;
use crate::words::{duration_text, plural, thousands};

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 at least one printer collected; 1 other error, or \
printers found but none could be collected; 2 usage (a wrong option, value or range, or a \
large scan refused without --yes: nothing was sent); 3 no printer found, no address \
answered; 4 no printer collected and some device refused our credentials; 5 no printer \
found, the devices that answered are not printers.\n\
A scan of more than 65,536 addresses, or that would take more than 10 minutes at --rate, \
shows its estimate and asks first; without a terminal it is refused unless --yes is given."
)]
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
    /// Start a large scan (above 65,536 addresses or 10 minutes at --rate)
    /// without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// When standard error is not a terminal, a progress line every this
    /// many seconds (0: none).
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    pub progress_every: f64,
}

/// Above this many addresses, or [`LONG_SCAN`], a scan asks first.
pub const LARGE_RANGE: u64 = 65_536;
/// Above this estimated duration a scan asks first.
pub const LONG_SCAN: Duration = Duration::from_secs(10 * 60);

pub async fn run(args: ScanArgs) -> anyhow::Result<()> {
    let (report, labels) = sweep(&args).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for device in &report.devices {
            let mut snapshot = device.snapshot.clone();
            if labels.len() > 1 {
                snapshot.credential = labels.get(device.credential).cloned();
            }
            writeln!(out, "{}", serde_json::to_string(&snapshot)?)?;
        }
    } else if args.csv {
        out.write_all(csv(&report).as_bytes())?;
    } else if !report.devices.is_empty() {
        out.write_all(table(&report).as_bytes())?;
    }
    out.flush()?;
    eprint!("{}", summary(&report));
    match outcome(&report) {
        0 => Ok(()),
        code => Err(exit::fail(code, outcome_text(code))),
    }
}

/// The exit code of a finished scan (documented in `scan --help`): 0 when
/// at least one printer was collected; otherwise 4 when some device refused
/// our credentials, 1 when printers were found but none could be collected,
/// 5 when devices answered but none is a printer, 3 when nothing answered.
pub fn outcome(report: &ScanReport) -> u8 {
    if !report.devices.is_empty() {
        return 0;
    }
    let has = |f: fn(&Failure) -> bool| report.failures.values().any(f);
    if has(|f| matches!(f, Failure::Credentials(_))) {
        exit::AUTH
    } else if has(|f| matches!(f, Failure::Collection(_))) {
        exit::OTHER
    } else if has(|f| matches!(f, Failure::NotAPrinter)) {
        exit::NOT_A_PRINTER
    } else {
        exit::NO_ANSWER
    }
}

fn outcome_text(code: u8) -> &'static str {
    match code {
        exit::AUTH => "no printer collected: devices refused our credentials (see above)",
        exit::OTHER => "no printer collected: every collection failed (see above)",
        exit::NOT_A_PRINTER => "no printer found: the devices that answered are not printers",
        _ => {
            "no printer found: no address answered (a wrong community gets no answer at all: \
             check --community and --port, and that SNMP is enabled on the printers)"
        }
    }
}

/// Parses the scan's arguments and runs it: the report, and the labels of
/// the credential sets (by index). Every usage error, and the refusal of a
/// large range, comes before any packet is sent (names are resolved after).
pub async fn sweep(args: &ScanArgs) -> anyhow::Result<(ScanReport, Vec<String>)> {
    if args.rate == 0 || args.rate > 1_000_000 {
        return Err(usage(
            "--rate must be between 1 and 1000000 probes per second",
        ));
    }
    let parse = |list: &[String]| -> anyhow::Result<Vec<Target>> {
        list.iter()
            .map(|t| Target::parse(t).map_err(usage))
            .collect()
    };
    let ranges = parse(&args.ranges)?;
    let exclude = parse(&args.exclude)?;
    let sets = args.snmp.credential_sets()?;
    let labels: Vec<String> = sets.iter().map(|s| s.label.clone()).collect();
    let options = ScanOptions {
        port: args.port,
        rate: args.rate,
        concurrency: args.concurrency.clamp(1, 4096),
        snmp: args.snmp.options()?,
        credentials: sets.into_iter().map(|s| s.credentials).collect(),
    };
    let requested: u64 = ranges.iter().map(Target::size).sum();
    let estimate = options.estimate(requested);
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    match guard(requested, estimate, args, interactive) {
        Guard::Go if args.yes && (requested > LARGE_RANGE || estimate > LONG_SCAN) => {
            eprintln!(
                "printwatch: scanning up to {} at --rate {}: about {} to probe them all",
                plural(requested as usize, "address", "addresses"),
                thousands(u64::from(args.rate)),
                duration_text(estimate)
            );
        }
        Guard::Go => {}
        Guard::Refuse(message) => return Err(usage(message)),
        Guard::Ask(question) => {
            if !ask(&question).await {
                return Err(usage("not started"));
            }
        }
    }
    let profiles = Arc::new(crate::collect::profiles(args.profiles.as_ref())?);
    let addresses = targets::expand(&ranges, &exclude)
        .await
        .map_err(|e| match e {
            printwatch_agent::scan::TargetError::Unresolved(_) => anyhow::Error::new(e),
            e => usage(e),
        })?;
    let every = match args.progress_every {
        s if s > 0.0 && s.is_finite() => Some(Duration::from_secs_f64(s.min(86_400.0))),
        _ => None,
    };
    Ok((run_scan(addresses, options, profiles, every).await, labels))
}

/// What to do before a scan starts.
#[derive(Debug, PartialEq, Eq)]
pub enum Guard {
    Go,
    /// Ask on the terminal.
    Ask(String),
    /// Not interactive: refuse, saying how to go on.
    Refuse(String),
}

/// A scan above [`LARGE_RANGE`] addresses or [`LONG_SCAN`] needs `--yes`
/// (or a "y" on a terminal).
pub fn guard(addresses: u64, estimate: Duration, args: &ScanArgs, interactive: bool) -> Guard {
    if args.yes || (addresses <= LARGE_RANGE && estimate <= LONG_SCAN) {
        return Guard::Go;
    }
    let what = format!(
        "this scan covers up to {} at --rate {}: about {} to probe them all (plus collecting the printers found)",
        plural(addresses as usize, "address", "addresses"),
        thousands(u64::from(args.rate)),
        duration_text(estimate)
    );
    if interactive {
        Guard::Ask(format!("{what}. Start it? [y/N] "))
    } else {
        Guard::Refuse(format!(
            "{what}; nothing was sent. Add --yes to start it, or give a smaller range or a higher --rate"
        ))
    }
}

async fn ask(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).is_ok()
            && matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    })
    .await
    .unwrap_or(false)
}

/// Runs a scan with a progress bar on a terminal, progress lines every
/// `every` otherwise, and Ctrl-C handling.
pub async fn run_scan(
    addresses: Vec<std::net::IpAddr>,
    options: ScanOptions,
    profiles: Arc<printwatch_printer::ProfileSet>,
    every: Option<Duration>,
) -> ScanReport {
    let progress = Arc::new(ScanProgress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });
    let estimate = options.estimate(addresses.len() as u64);
    let terminal = std::io::stderr().is_terminal();
    let reporter = match (terminal, every) {
        (true, _) => Some(Duration::from_millis(200)),
        (false, Some(every)) => Some(every),
        (false, None) => None,
    }
    .map(|period| {
        let progress = progress.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                let line = progress_line(&progress, started.elapsed(), estimate);
                if terminal {
                    eprint!("\r\x1b[2K{}", bar(&progress, &line));
                } else {
                    eprintln!("scan: {line}");
                }
                let _ = std::io::stderr().flush();
            }
        })
    });
    let report = scan(addresses, options, profiles, progress, stop_rx).await;
    if let Some(reporter) = reporter {
        reporter.abort();
        if terminal {
            eprint!("\r\x1b[2K");
        }
    }
    report
}

/// "1,200/65,534 probed, 3 printers (2 collected), about 40 s left": the
/// time left is the configured pace's (`estimate` for the whole scan)
/// minus the time spent, so it only goes down.
pub fn progress_line(p: &ScanProgress, elapsed: Duration, estimate: Duration) -> String {
    let total = p.total.load(Ordering::Relaxed);
    let probed = p.probed.load(Ordering::Relaxed);
    let printers = p.printers.load(Ordering::Relaxed);
    let collected = p.collected.load(Ordering::Relaxed);
    let left = if probed >= total {
        format!(
            "collecting {}",
            plural(printers - collected.min(printers), "printer", "printers")
        )
    } else {
        match estimate.checked_sub(elapsed) {
            Some(left) if left >= Duration::from_secs(1) => {
                format!("about {} left", duration_text(left))
            }
            _ => "finishing".into(),
        }
    };
    format!(
        "{}/{} probed, {} ({collected} collected), {left}",
        thousands(probed as u64),
        thousands(total as u64),
        plural(printers, "printer", "printers"),
    )
}

fn bar(p: &ScanProgress, line: &str) -> String {
    let total = p.total.load(Ordering::Relaxed).max(1);
    let probed = p.probed.load(Ordering::Relaxed).min(total);
    let width = 30;
    let filled = probed * width / total;
    format!(
        "[{}{}] {line}",
        "#".repeat(filled),
        "-".repeat(width - filled)
    )
}

/// Device-controlled text made safe for a terminal (no control characters)
/// and at most `max` characters long.
fn cell(text: &str, max: usize) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    let clean = clean.trim();
    if clean.chars().count() <= max {
        clean.to_owned()
    } else {
        let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn text(v: &Option<String>, max: usize) -> String {
    match v.as_deref() {
        Some(t) if !t.trim().is_empty() => cell(t, max),
        _ => "-".into(),
    }
}

/// The model without the vendor's name in front ("Xerox VersaLink C405"
/// beside the vendor "Xerox" reads "VersaLink C405").
pub fn model_without_vendor(model: &str, vendor: Option<&str>) -> String {
    let model = model.trim();
    if let Some(vendor) = vendor.map(str::trim).filter(|v| !v.is_empty())
        && let Some(head) = model.get(..vendor.len())
        && head.eq_ignore_ascii_case(vendor)
    {
        let rest = model[vendor.len()..].trim_start_matches([' ', '-', '_']);
        if !rest.is_empty() && model[vendor.len()..].starts_with([' ', '-', '_']) {
            return rest.to_owned();
        }
    }
    model.to_owned()
}

/// One supply in the table: its colour and level, `!` after a low or
/// empty one. The level is a percentage, or the state where there is none
/// (`some`, `?`, `other`, `low`, `empty`, `ok`).
pub fn supply_token(x: &printwatch_printer::Supply) -> String {
    let colour = cell(x.color.as_deref().unwrap_or(&x.kind), 12);
    let level = match x.percent {
        Some(p) => format!("{p:.0}%"),
        None => match x.state.as_str() {
            "some_remaining" => "some".into(),
            "unknown" => "?".into(),
            other => cell(other, 8),
        },
    };
    let mark = if matches!(x.state.as_str(), "low" | "empty") {
        "!"
    } else {
        ""
    };
    format!("{colour} {level}{mark}")
}

/// Rows of cells as aligned columns: widths from the content (in
/// characters), `right` columns aligned right, the last column unpadded.
pub fn columns(rows: &[Vec<String>], right: &[usize]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - c.chars().count());
            if right.contains(&i) {
                line.push_str(&pad);
                line.push_str(c);
            } else {
                line.push_str(c);
                if i + 1 < row.len() {
                    line.push_str(&pad);
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The table of `scan`: one row per device; a device on several addresses
/// shows its first and how many more (all are in `--json` and `--csv`);
/// toner and ink levels, each padded so that they line up, `!` marking the
/// low and empty ones.
pub fn table(report: &ScanReport) -> String {
    let mut rows = vec![
        ["ADDRESS", "VENDOR", "MODEL", "SERIAL", "TOTAL", "SUPPLIES"]
            .map(String::from)
            .to_vec(),
    ];
    let supplies: Vec<Vec<String>> = report
        .devices
        .iter()
        .map(|d| {
            d.snapshot
                .supplies
                .iter()
                .filter(|x| matches!(x.kind.as_str(), "toner" | "ink"))
                .map(supply_token)
                .collect()
        })
        .collect();
    let token_width = supplies
        .iter()
        .flatten()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(0);
    for (d, tokens) in report.devices.iter().zip(&supplies) {
        let s = &d.snapshot;
        let address = match s.addresses.as_slice() {
            [] => cell(&s.target, 40),
            [one] => cell(one, 40),
            [first, rest @ ..] => format!("{} (+{})", cell(first, 40), rest.len()),
        };
        let model = match &s.model {
            Some(m) => cell(&model_without_vendor(m, s.vendor.as_deref()), 32),
            None => "-".into(),
        };
        let supplies = tokens
            .iter()
            .map(|t| format!("{t:<token_width$}"))
            .collect::<Vec<_>>()
            .join("  ");
        rows.push(vec![
            address,
            text(&s.vendor, 16),
            model,
            text(&s.serial, 24),
            s.meter("total")
                .map(thousands)
                .unwrap_or_else(|| "-".into()),
            supplies,
        ]);
    }
    columns(&rows, &[4])
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
        "{} on {} in {:.1} s{}; {} without answer, {} not {}, {} refused our credentials, {} failed during collection\n",
        plural(report.devices.len(), "printer", "printers"),
        plural(report.probed, "address", "addresses"),
        report.elapsed.as_secs_f64(),
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        thousands(report.no_answer as u64),
        thousands(not_printer as u64),
        if not_printer == 1 {
            "a printer"
        } else {
            "printers"
        },
        thousands(refused.len() as u64),
        thousands(failed.len() as u64)
    );
    let low = report.devices.iter().any(|d| {
        d.snapshot.supplies.iter().any(|x| {
            matches!(x.kind.as_str(), "toner" | "ink")
                && matches!(x.state.as_str(), "low" | "empty")
        })
    });
    if low {
        out.push_str("  (! marks a low or empty supply)\n");
    }
    for line in refused.iter().chain(&failed) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use printwatch_agent::scan::FoundDevice;
    use printwatch_printer::{Meter, Snapshot, Source, Supply};

    fn supply(color: &str, percent: Option<f64>, state: &str) -> Supply {
        Supply {
            description: format!("{color} toner"),
            kind: "toner".into(),
            color: Some(color.into()),
            level: None,
            max: None,
            percent,
            state: state.into(),
            unit: None,
            part_number: None,
            serial: None,
            oid: None,
        }
    }

    fn device(addresses: &[&str], vendor: &str, model: &str, supplies: Vec<Supply>) -> FoundDevice {
        let mut snapshot = Snapshot::new(addresses[0]);
        snapshot.addresses = addresses.iter().map(|a| a.to_string()).collect();
        snapshot.vendor = Some(vendor.into());
        snapshot.model = Some(model.into());
        snapshot.serial = Some(format!("{vendor}-0001"));
        snapshot.meters = vec![Meter {
            name: "total".into(),
            value: 123_456,
            unit: "impressions".into(),
            oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
        }];
        snapshot.supplies = supplies;
        FoundDevice {
            snapshot,
            credential: 0,
        }
    }

    /// Checks that every cell of `line` sits in its header's column: left
    /// aligned cells start where their header starts, the right aligned
    /// TOTAL ends where its header ends.
    fn assert_in_columns(line: &str, header: &str) {
        let line: Vec<char> = line.chars().collect();
        let at = |i: usize| line.get(i).copied().unwrap_or(' ');
        for name in ["ADDRESS", "VENDOR", "MODEL", "SERIAL", "SUPPLIES"] {
            let start = header.find(name).expect("header");
            assert!(
                (start == 0 || at(start - 1) == ' ') && at(start) != ' ',
                "{name} out of its column:\n{header}\n{}",
                line.iter().collect::<String>()
            );
        }
        let end = header.find("TOTAL").expect("header") + "TOTAL".len();
        assert!(
            at(end - 1) != ' ' && at(end) == ' ',
            "TOTAL out of its column:\n{header}\n{}",
            line.iter().collect::<String>()
        );
    }

    #[test]
    fn the_table_stays_aligned_with_any_supply_state() {
        let report = ScanReport {
            devices: vec![
                device(
                    &["10.0.0.5"],
                    "Xerox",
                    "Xerox VersaLink C405",
                    vec![
                        supply("black", Some(83.0), "ok"),
                        supply("cyan", None, "some_remaining"),
                        supply("magenta", None, "unknown"),
                        supply("yellow", Some(2.0), "low"),
                    ],
                ),
                device(
                    &["10.0.0.17", "10.0.0.18", "10.0.0.200"],
                    "Konica Minolta",
                    "bizhub C300i\u{1b}[31m with a model name far too long for its column",
                    vec![
                        supply("black", None, "other"),
                        supply("cyan", Some(100.0), "ok"),
                        supply("magenta", None, "empty"),
                        supply("yellow", Some(45.0), "ok"),
                    ],
                ),
                device(
                    &["10.0.0.9"],
                    "HP",
                    "LaserJet M507",
                    vec![supply("black", None, "low")],
                ),
            ],
            probed: 254,
            ..ScanReport::default()
        };
        let table = table(&report);
        let lines: Vec<&str> = table.lines().collect();
        let header = lines[0];
        for line in &lines[1..] {
            assert_in_columns(line, header);
        }
        // The supplies line up across rows, whatever their state.
        let supplies_at = header.find("SUPPLIES").expect("header");
        let second: Vec<Option<usize>> = lines[1..3]
            .iter()
            .map(|l| {
                let tail: String = l.chars().skip(supplies_at).collect();
                tail.find("cyan")
            })
            .collect();
        assert_eq!(second[0], second[1], "{table}");
        assert!(second[0].is_some(), "{table}");
        // States where there is no percentage, and low or empty marked.
        assert!(table.contains("cyan some"), "{table}");
        assert!(table.contains("magenta ?"), "{table}");
        assert!(table.contains("yellow 2%!"), "{table}");
        assert!(table.contains("magenta empty!"), "{table}");
        assert!(table.contains("black low!"), "{table}");
        // The vendor is not repeated in the model.
        assert!(!table.contains("Xerox Xerox"), "{table}");
        assert!(table.contains("VersaLink C405"), "{table}");
        // Several addresses: the first and how many more.
        assert!(table.contains("10.0.0.17 (+2)"), "{table}");
        assert!(!table.contains("10.0.0.200"), "{table}");
        // No control character from a device reaches the terminal, and a
        // long model is cut.
        assert!(!table.contains('\u{1b}'), "{table}");
        assert!(table.contains('…'), "{table}");
    }

    #[test]
    fn the_model_loses_only_a_whole_vendor_word() {
        assert_eq!(
            model_without_vendor("Xerox VersaLink C405", Some("Xerox")),
            "VersaLink C405"
        );
        assert_eq!(
            model_without_vendor("SHARP MX-3071", Some("Sharp")),
            "MX-3071"
        );
        assert_eq!(model_without_vendor("HPE 1234", Some("HP")), "HPE 1234");
        assert_eq!(model_without_vendor("Xerox", Some("Xerox")), "Xerox");
        assert_eq!(model_without_vendor("MS621", Some("Lexmark")), "MS621");
        assert_eq!(model_without_vendor("Ünïcode X", Some("Ün")), "Ünïcode X");
    }

    #[test]
    fn the_summary_counts_in_good_grammar() {
        let mut report = ScanReport {
            devices: vec![device(&["10.0.0.5"], "HP", "M507", vec![])],
            probed: 1,
            no_answer: 0,
            ..ScanReport::default()
        };
        report
            .failures
            .insert("10.0.0.6".parse().expect("ip"), Failure::NotAPrinter);
        let text = summary(&report);
        assert!(text.starts_with("1 printer on 1 address in"), "{text}");
        assert!(text.contains("1 not a printer"), "{text}");
        report
            .devices
            .push(device(&["10.0.0.7"], "HP", "M507", vec![]));
        report.probed = 3;
        let text = summary(&report);
        assert!(text.starts_with("2 printers on 3 addresses in"), "{text}");
    }

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        scan: ScanArgs,
    }

    fn args(line: &[&str]) -> ScanArgs {
        Line::parse_from(std::iter::once("scan").chain(line.iter().copied())).scan
    }

    #[test]
    fn a_large_scan_asks_first() {
        let a = args(&["10.0.0.0/8"]);
        let estimate = Duration::from_secs(8390);
        match guard(16_777_214, estimate, &a, false) {
            Guard::Refuse(m) => {
                assert!(m.contains("16,777,214 addresses"), "{m}");
                assert!(m.contains("2 h 19 min"), "{m}");
                assert!(m.contains("--yes"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            guard(16_777_214, estimate, &a, true),
            Guard::Ask(_)
        ));
        assert_eq!(
            guard(16_777_214, estimate, &args(&["--yes", "10.0.0.0/8"]), false),
            Guard::Go
        );
        // A /16 goes; above a /16, or above ten minutes, asks.
        let small = Duration::from_secs(35);
        assert_eq!(guard(65_534, small, &a, false), Guard::Go);
        assert!(matches!(guard(131_070, small, &a, false), Guard::Refuse(_)));
        assert!(matches!(
            guard(1_000, Duration::from_secs(601), &a, false),
            Guard::Refuse(_)
        ));
    }

    #[test]
    fn the_time_left_only_goes_down() {
        let p = ScanProgress::default();
        p.total.store(254, Ordering::Relaxed);
        let estimate = Duration::from_secs(18);
        let mut last = u64::MAX;
        for second in 0..17 {
            p.probed.store(second * 10, Ordering::Relaxed);
            let line = progress_line(&p, Duration::from_secs(second as u64), estimate);
            let left: u64 = line
                .split("about ")
                .nth(1)
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{line}"));
            assert!(left < last, "{line}");
            last = left;
        }
        p.probed.store(254, Ordering::Relaxed);
        p.printers.store(3, Ordering::Relaxed);
        p.collected.store(1, Ordering::Relaxed);
        let line = progress_line(&p, Duration::from_secs(20), estimate);
        assert!(
            line.contains("254/254 probed, 3 printers (1 collected), collecting 2 printers"),
            "{line}"
        );
    }

    #[test]
    fn the_exit_code_says_what_a_scan_found() {
        let mut report = ScanReport::default();
        assert_eq!(outcome(&report), exit::NO_ANSWER);
        report
            .failures
            .insert("10.0.0.1".parse().expect("ip"), Failure::NotAPrinter);
        assert_eq!(outcome(&report), exit::NOT_A_PRINTER);
        report.failures.insert(
            "10.0.0.2".parse().expect("ip"),
            Failure::Credentials("wrong digest".into()),
        );
        assert_eq!(outcome(&report), exit::AUTH);
        report
            .devices
            .push(device(&["10.0.0.3"], "HP", "M507", vec![]));
        assert_eq!(outcome(&report), 0);
    }
}
