//! `printwatch sim`: serve recordings as live SNMP agents.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use printwatch_sim::fleet::{self, DevicePlan, FleetFile};
use printwatch_sim::{Faults, SimError, Simulator};
use printwatch_snmp::Credentials;
use printwatch_snmp::credentials::CredentialSpec;

#[derive(Args, Debug)]
pub struct SimArgs {
    /// snmprec files, or directories of them.
    pub recordings: Vec<PathBuf>,
    /// An address, or a CIDR block with --count.
    #[arg(long, value_name = "ADDRESS|CIDR")]
    pub bind: Option<String>,
    /// Devices on the first N usable addresses of the --bind block
    /// (recordings assigned in sorted order, round robin).
    #[arg(long, value_name = "N")]
    pub count: Option<usize>,
    /// UDP port of every agent. 161 is a real printer's port, and binding a
    /// port below 1024 needs privileges (root, or CAP_NET_BIND_SERVICE);
    /// without them use a high port such as 1161 (`printwatch collect
    /// HOST:1161`).
    #[arg(long, default_value = "161")]
    pub port: u16,
    /// Rewrite serial numbers and MACs per address.
    #[arg(long)]
    pub unique: bool,
    /// A fleet file (TOML): recordings, credentials and faults per address.
    #[arg(long, value_name = "FILE")]
    pub fleet: Option<PathBuf>,
    /// Write the address → recording map here (default: standard output).
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Communities answered (repeatable; default: public and the
    /// recording's base name).
    #[arg(long, value_name = "NAME")]
    pub community: Vec<String>,
    /// SNMPv3 user served, as snmpsim's.
    #[arg(long, default_value = "simulator", value_name = "NAME")]
    pub v3_user: String,
    /// Authentication protocol of the v3 user.
    #[arg(
        long,
        default_value = "sha",
        value_name = "md5|sha|sha224|sha256|sha384|sha512"
    )]
    pub v3_auth_protocol: String,
    /// Authentication password of the v3 user (at least 8 characters).
    #[arg(long, default_value = "auctoritas", value_name = "PASSWORD")]
    pub v3_auth_password: String,
    /// Privacy protocol of the v3 user.
    #[arg(long, default_value = "aes", value_name = "des|aes|aes192|aes256")]
    pub v3_priv_protocol: String,
    /// Privacy password of the v3 user (at least 8 characters).
    #[arg(long, default_value = "privatus", value_name = "PASSWORD")]
    pub v3_priv_password: String,
    /// Fraction of requests dropped, from 0 to 1.
    #[arg(long, default_value = "0", value_name = "FRACTION")]
    pub loss: f64,
    /// Delay of every answer.
    #[arg(long, default_value = "0", value_name = "MILLISECONDS")]
    pub delay_ms: u64,
    /// Largest SNMP message the agents send (default: 1472, one Ethernet
    /// frame; GETBULK answers are cut to fit).
    #[arg(long, value_name = "BYTES")]
    pub max_message_size: Option<usize>,
    /// Page counters grow by this many pages a minute.
    #[arg(long, default_value = "0", value_name = "PAGES")]
    pub pages_per_minute: f64,
    /// Supplies fall by this percentage of their capacity an hour.
    #[arg(long, default_value = "0", value_name = "PERCENT")]
    pub drain_percent_per_hour: f64,
}

impl SimArgs {
    fn plans(&self) -> anyhow::Result<Vec<DevicePlan>> {
        if let Some(path) = &self.fleet {
            if !self.recordings.is_empty() || self.bind.is_some() {
                bail!("--fleet describes everything: give no RECORDING or --bind beside it");
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let base = path.parent().unwrap_or_else(|| std::path::Path::new("."));
            return Ok(FleetFile::parse(&text)?.plan(base)?);
        }
        if self.recordings.is_empty() {
            bail!("give at least one RECORDING (an snmprec file or a directory), or --fleet");
        }
        let files = fleet::recording_files(&self.recordings)?;
        let faults = Faults {
            loss: self.loss,
            delay_ms: self.delay_ms,
            silent: false,
            max_message_size: self.max_message_size,
            pages_per_minute: self.pages_per_minute,
            drain_percent_per_hour: self.drain_percent_per_hour,
        };
        faults.validate().map_err(anyhow::Error::msg)?;
        let user = CredentialSpec {
            user: Some(self.v3_user.clone()),
            auth_protocol: Some(self.v3_auth_protocol.clone()),
            auth_password: Some(printwatch_snmp::Secret::new(self.v3_auth_password.clone())),
            priv_protocol: Some(self.v3_priv_protocol.clone()),
            priv_password: Some(printwatch_snmp::Secret::new(self.v3_priv_password.clone())),
            ..Default::default()
        }
        .build()
        .context("--v3-* options")?;
        let bind = self.bind.as_deref().unwrap_or("127.0.1.1");
        let addresses: Vec<IpAddr> = match (bind.parse::<IpAddr>(), self.count) {
            (Ok(ip), None | Some(1)) => vec![ip],
            (Ok(_), Some(_)) => bail!("--count needs a CIDR block in --bind (e.g. 127.1.0.0/24)"),
            (Err(_), count) => {
                let net: ipnet::IpNet = bind
                    .parse()
                    .with_context(|| format!("--bind {bind:?} is neither an address nor a CIDR"))?;
                fleet::hosts(net, count.unwrap_or(files.len()))?
            }
        };
        if addresses.len() == 1 && files.len() > 1 {
            bail!(
                "{} recordings for one address: give a CIDR block and --count to serve them all",
                files.len()
            );
        }
        Ok(addresses
            .into_iter()
            .enumerate()
            .map(|(i, ip)| DevicePlan {
                addresses: vec![SocketAddr::new(ip, self.port)],
                recording: files[i % files.len()].clone(),
                communities: (!self.community.is_empty()).then(|| self.community.clone()),
                v3_users: vec![user.clone()],
                unique: self.unique,
                faults: faults.clone(),
            })
            .collect())
    }
}

/// A port below 1024 refused for lack of privileges says what to do.
fn bind_error(e: SimError) -> anyhow::Error {
    match e {
        SimError::Bind(address, why) if address.port() < 1024 && denied(&why) => anyhow::anyhow!(
            "cannot serve on {address}: permission denied: a port below 1024 needs privileges \
             (root, or CAP_NET_BIND_SERVICE). Use a high port instead, e.g. --port 1161, and \
             `printwatch collect {}:1161`",
            address.ip()
        ),
        e => e.into(),
    }
}

/// Whether a bind error is a refusal for lack of privileges.
fn denied(why: &str) -> bool {
    let why = why.to_ascii_lowercase();
    why.contains("permission denied") || why.contains("os error 13")
}

pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let plans = args.plans()?;
    let simulator = Simulator::start(&plans).await.map_err(bind_error)?;
    let mut map = String::new();
    for served in &simulator.served {
        map.push_str(&format!("{}\t{}\n", served.address, served.recording));
    }
    let mut reported = std::collections::HashSet::new();
    for served in &simulator.served {
        if served.skipped_lines > 0 && reported.insert(served.recording.clone()) {
            eprintln!(
                "warning: {}: {} lines not served (invalid)",
                served.recording, served.skipped_lines
            );
        }
    }
    match &args.map {
        Some(path) => std::fs::write(path, &map)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(map.as_bytes())?;
            out.flush()?;
        }
    }
    let v3 = plans
        .iter()
        .any(|p| p.v3_users.iter().any(|u| matches!(u, Credentials::Usm(_))));
    eprintln!(
        "serving {} agents{}; Ctrl-C to stop",
        simulator.served.len(),
        if v3 { " (v1, v2c, v3)" } else { " (v1, v2c)" }
    );
    tokio::select! {
        () = simulator.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_privileged_port_refused_says_what_to_do() {
        let refused = SimError::Bind(
            "127.1.0.1:161".parse().expect("address"),
            "Permission denied (os error 13)".into(),
        );
        let text = bind_error(refused).to_string();
        assert!(text.contains("--port 1161"), "{text}");
        assert!(text.contains("printwatch collect 127.1.0.1:1161"), "{text}");
        let in_use = SimError::Bind(
            "127.1.0.1:161".parse().expect("address"),
            "Address in use (os error 98)".into(),
        );
        assert!(!bind_error(in_use).to_string().contains("1161"));
    }
}
