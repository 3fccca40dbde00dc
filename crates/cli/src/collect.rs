//! `printwatch collect`: one device snapshot.

use std::path::PathBuf;

use clap::Args;
use printwatch_printer::{ProfileSet, Snapshot, collect};
use printwatch_snmp::Poller;

use crate::snmp_args::SnmpArgs;

#[derive(Args, Debug)]
#[command(
    after_help = "Exit codes: 0 collected; 1 other error; 2 usage (a wrong option, \
value or target: nothing was sent); 3 no answer; 4 SNMP authentication failure (community \
refused or a named SNMPv3 error); 5 answered but not a printer.\n\
With several credential sets (--community repeated, --credentials FILE), each is tried in \
order; standard error and the snapshot's `credential` name the one that answered."
)]
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
    let connection = args.snmp.connect(&args.target, &options).await?;
    let mut snapshot = collect(&connection.session, &args.target, &profiles)
        .await
        .map_err(|e| connection.explain(e.into()))?;
    snapshot.credential = connection.label();
    // The address answered on, as a scan reports it.
    snapshot.addresses = vec![connection.session.target().ip().to_string()];
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
        // A percentage, or the state where there is none ("some_remaining"):
        // one width for all, so that the columns stay aligned.
        let levels: Vec<String> = s
            .supplies
            .iter()
            .map(|x| match x.percent {
                Some(p) => format!("{p:.1}%"),
                None => x.state.replace('_', " "),
            })
            .collect();
        let width = levels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
        let kind_width = s
            .supplies
            .iter()
            .map(|x| x.kind.chars().count())
            .max()
            .unwrap_or(0);
        for (x, level) in s.supplies.iter().zip(&levels) {
            let mark = match x.state.as_str() {
                "low" | "empty" => "!",
                _ => " ",
            };
            out.push_str(&format!(
                "  {level:>width$}{mark} {:<kind_width$}  {}\n",
                x.kind,
                x.description.replace(char::is_control, "?")
            ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_printer::Supply;

    fn supply(kind: &str, percent: Option<f64>, state: &str) -> Supply {
        Supply {
            description: format!("{kind} unit"),
            kind: kind.into(),
            color: None,
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

    #[test]
    fn supplies_stay_aligned_whatever_their_state() {
        let mut s = Snapshot::new("10.0.0.5");
        s.supplies = vec![
            supply("toner", Some(34.5), "ok"),
            supply("drum", Some(100.0), "ok"),
            supply("fuser", None, "some_remaining"),
            supply("waste_toner", None, "unknown"),
            supply("toner", Some(2.0), "low"),
        ];
        let text = summary(&s);
        let lines: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "supplies")
            .skip(1)
            .collect();
        assert_eq!(lines.len(), 5, "{text}");
        // The kind and the description start in the same column on every
        // line, percentages or states.
        let kind_at: Vec<usize> = lines
            .iter()
            .zip(["toner", "drum", "fuser", "waste_toner", "toner"])
            .map(|(l, k)| l.find(&format!(" {k} ")).expect("kind") + 1)
            .collect();
        assert!(kind_at.windows(2).all(|w| w[0] == w[1]), "{text}");
        let descr_at: Vec<usize> = lines
            .iter()
            .zip(["toner", "drum", "fuser", "waste_toner", "toner"])
            .map(|(l, k)| l.rfind(&format!("{k} unit")).expect("description"))
            .collect();
        assert!(descr_at.windows(2).all(|w| w[0] == w[1]), "{text}");
        assert!(text.contains("some remaining"), "{text}");
        assert!(text.contains("2.0%!"), "{text}");
    }
}
