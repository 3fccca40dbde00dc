//! `printwatch collect`: one device snapshot.

use std::path::PathBuf;

use clap::Args;
use printwatch_printer::{ProfileSet, Snapshot, collect};

use crate::snmp_args::SnmpArgs;

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(flatten)]
    pub snmp: SnmpArgs,
    /// HOST, HOST:PORT or [IPv6]:PORT.
    pub target: String,
    /// Print the snapshot as JSON.
    #[arg(long)]
    pub json: bool,
    /// A directory of profiles (TOML) replacing or adding to the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
}

pub fn profiles(dir: Option<&PathBuf>) -> anyhow::Result<ProfileSet> {
    Ok(match dir {
        Some(dir) => ProfileSet::with_directory(dir)?,
        None => ProfileSet::embedded()?,
    })
}

pub async fn run(args: CollectArgs) -> anyhow::Result<()> {
    let profiles = profiles(args.profiles.as_ref())?;
    let options = args.snmp.options()?;
    let (_engine, session) = args.snmp.session(&args.target, &options).await?;
    let snapshot = collect(&session, &args.target, &profiles).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&snapshot)?);
    } else {
        print!("{}", summary(&snapshot));
    }
    Ok(())
}

/// A readable summary of a snapshot.
pub fn summary(s: &Snapshot) -> String {
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &Option<String>| {
        if let Some(v) = value {
            out.push_str(&format!("{name:<12} {v}\n"));
        }
    };
    field(&mut out, "target", &Some(s.target.clone()));
    field(&mut out, "vendor", &s.vendor);
    field(&mut out, "family", &s.family);
    field(&mut out, "model", &s.model);
    field(&mut out, "serial", &s.serial);
    field(&mut out, "mac", &s.mac);
    field(&mut out, "firmware", &s.firmware);
    field(&mut out, "hostname", &s.hostname);
    field(&mut out, "location", &s.location);
    field(
        &mut out,
        "color",
        &s.color.map(|c| if c { "yes".into() } else { "no".into() }),
    );
    let status = [s.status.device.clone(), s.status.printer.clone()]
        .into_iter()
        .flatten()
        .chain(s.status.errors.iter().cloned())
        .collect::<Vec<_>>()
        .join(", ");
    if !status.is_empty() {
        out.push_str(&format!("{:<12} {status}\n", "status"));
    }
    for line in &s.console {
        out.push_str(&format!("{:<12} {line}\n", "console"));
    }
    if !s.meters.is_empty() {
        out.push_str("meters\n");
        for m in &s.meters {
            out.push_str(&format!("  {:<22} {:>12} {}\n", m.name, m.value, m.unit));
        }
    }
    if !s.supplies.is_empty() {
        out.push_str("supplies\n");
        for x in &s.supplies {
            let level = match x.percent {
                Some(p) => format!("{p:>5.1}%"),
                None => format!("{:>6}", x.state),
            };
            out.push_str(&format!("  {level}  {:<14} {}\n", x.kind, x.description));
        }
    }
    for t in &s.trays {
        out.push_str(&format!("tray         {} ({})\n", t.name, t.state));
    }
    for a in &s.alerts {
        out.push_str(&format!(
            "alert        {} {} {}\n",
            a.severity,
            a.code,
            a.description.as_deref().unwrap_or("")
        ));
    }
    for w in &s.warnings {
        out.push_str(&format!("warning      {w}\n"));
    }
    out
}
