//! A configuration ([`AgentConfig`], the file's merged with a push) read
//! into what the daemon runs with: targets parsed, credentials built and
//! checked with the SNMP layer's rules, durations read.

use std::time::Duration;

use printwatch_protocol::config::{AgentConfig, CredentialSet};
use printwatch_snmp::Credentials;
use printwatch_snmp::credentials::{CredentialSpec, Secret};

use crate::scan::Target;
use crate::schedule::Intervals;

#[derive(Clone, Debug)]
pub struct Settings {
    pub ranges: Vec<Target>,
    pub exclude: Vec<Target>,
    pub port: u16,
    pub rate: u32,
    /// Tried in order; `public` over v2c when none is configured.
    pub credentials: Vec<Credentials>,
    pub intervals: Intervals,
    pub full_every: Duration,
    pub spool_max_bytes: u64,
}

impl Settings {
    /// Errors name the key (`scan.ranges[2]`, `credentials[1]`, …).
    pub fn from_config(config: &AgentConfig) -> Result<Settings, String> {
        config.validate().map_err(|e| e.to_string())?;
        let targets = |key: &str, list: &[String]| -> Result<Vec<Target>, String> {
            list.iter()
                .enumerate()
                .map(|(i, t)| Target::parse(t).map_err(|e| format!("{key}[{}]: {e}", i + 1)))
                .collect()
        };
        let credentials = if config.credentials.is_empty() {
            vec![Credentials::v2c("public")]
        } else {
            config
                .credentials
                .iter()
                .enumerate()
                .map(|(i, set)| {
                    spec(set)
                        .build()
                        .map_err(|e| format!("credentials[{}]: {e}", i + 1))
                })
                .collect::<Result<_, _>>()?
        };
        let defaults = crate::scan::ScanOptions::default();
        Ok(Settings {
            ranges: targets("scan.ranges", &config.scan.ranges)?,
            exclude: targets("scan.exclude", &config.scan.exclude)?,
            port: config.scan.port.unwrap_or(defaults.port),
            rate: config.scan.rate.unwrap_or(defaults.rate),
            credentials,
            intervals: Intervals {
                sweep: config.scan_every().map_err(|e| e.to_string())?,
                collect: config.collect_every().map_err(|e| e.to_string())?,
                heartbeat: config.heartbeat_every().map_err(|e| e.to_string())?,
            },
            full_every: config.full_every().map_err(|e| e.to_string())?,
            spool_max_bytes: config.spool_max_bytes().map_err(|e| e.to_string())?,
        })
    }
}

fn spec(set: &CredentialSet) -> CredentialSpec {
    let secret = |s: &Option<String>| s.as_ref().map(|t| Secret::new(t.clone()));
    CredentialSpec {
        snmp_version: set.snmp_version.clone(),
        community: secret(&set.community),
        user: set.user.clone(),
        auth_protocol: set.auth_protocol.clone(),
        auth_password: secret(&set.auth_password),
        priv_protocol: set.priv_protocol.clone(),
        priv_password: secret(&set.priv_password),
        context: set.context.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_credentials_are_checked_and_named() {
        let config =
            AgentConfig::from_toml("[scan]\nranges = [\"10.0.0.0/24\", \"10.0.0.0/33\"]\n")
                .expect("the file itself reads");
        let e = Settings::from_config(&config).expect_err("bad range");
        assert!(e.starts_with("scan.ranges[2]"), "{e}");
        let config = AgentConfig::from_toml(
            "[[credentials]]\nsnmp-version = \"3\"\nuser = \"u\"\nauth-protocol = \"md7\"\nauth-password = \"secret-pw\"\n",
        )
        .expect("reads");
        let e = Settings::from_config(&config).expect_err("bad protocol");
        assert!(e.starts_with("credentials[1]"), "{e}");
        assert!(!e.contains("secret-pw"), "{e}");
        let ok = Settings::from_config(&AgentConfig::default()).expect("defaults");
        assert_eq!(ok.credentials.len(), 1);
        assert_eq!(ok.intervals.collect, Duration::from_secs(900));
    }
}
