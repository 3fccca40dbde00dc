//! The agent's configuration: the file an administrator writes
//! (`printwatch agent run --config FILE`, TOML) and what the server pushes
//! (the same keys as JSON). A contract (PRODUCT.md, "`printwatch agent …`"):
//! kebab-case keys, unknown keys are errors, every key optional.
//!
//! It lives in the protocol crate because both sides read it: the agent
//! applies it, the server checks a push before storing it. Values stay as
//! written (durations such as `"15m"`, sizes such as `"256MiB"`) and are
//! read through the accessors, which [`AgentConfig::validate`] has tried.
//! Address ranges are checked by the agent, which owns their syntax.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentConfig {
    #[serde(default)]
    pub scan: ScanConfig,
    #[serde(default)]
    pub collect: CollectConfig,
    #[serde(default)]
    pub heartbeat: HeartbeatConfig,
    /// Credential sets tried in order (as in `--credentials FILE`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialSet>,
    /// Local only: a push never changes these (a bad push must not cut the
    /// agent off).
    #[serde(default)]
    pub uplink: UplinkConfig,
    #[serde(default)]
    pub spool: SpoolConfig,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ScanConfig {
    /// CIDR blocks, `a.b.c.d-e.f.g.h` ranges, hosts or names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    pub port: Option<u16>,
    /// Probes per second.
    pub rate: Option<u32>,
    /// Discovery sweeps (one at start too). Default 24h.
    pub every: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectConfig {
    /// Collection of known devices. Default 15m.
    pub every: Option<String>,
    /// A full snapshot now and then, deltas between. Default 24h.
    pub full_every: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeartbeatConfig {
    /// Default 5m.
    pub every: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UplinkConfig {
    /// `http://HOST:PORT` of a CONNECT proxy; else `HTTPS_PROXY` / `NO_PROXY`.
    pub proxy: Option<String>,
    /// PEM certificates added to the system roots.
    pub ca_file: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpoolConfig {
    /// Default 256MiB.
    pub max_size: Option<String>,
}

/// One SNMP credential set, as in a `--credentials FILE` (the agent builds
/// and checks it with the SNMP layer's rules).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CredentialSet {
    pub snmp_version: Option<String>,
    pub community: Option<String>,
    pub user: Option<String>,
    pub auth_protocol: Option<String>,
    pub auth_password: Option<String>,
    pub priv_protocol: Option<String>,
    pub priv_password: Option<String>,
    pub context: Option<String>,
}

/// Secrets stay out of logs and error messages.
impl std::fmt::Debug for CredentialSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "…");
        f.debug_struct("CredentialSet")
            .field("snmp_version", &self.snmp_version)
            .field("community", &hidden(&self.community))
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_password", &hidden(&self.auth_password))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_password", &hidden(&self.priv_password))
            .field("context", &self.context)
            .finish()
    }
}

/// Defaults of PRODUCT.md.
pub const DEFAULT_SCAN_EVERY: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_COLLECT_EVERY: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_FULL_EVERY: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_HEARTBEAT_EVERY: Duration = Duration::from_secs(5 * 60);
pub const DEFAULT_SPOOL_MAX: u64 = 256 * 1024 * 1024;
/// Shorter intervals would let one configuration flood the network or the
/// server.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A value that does not read, with the key it came from (dotted, as in
/// the file: `collect.every`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl AgentConfig {
    /// Reads a TOML file's text. Errors name the line and the key.
    pub fn from_toml(text: &str) -> Result<AgentConfig, String> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        if let Err(e) = config.validate() {
            // Point at the line of the key when it can be found.
            let line = find_key_line(text, &e.key)
                .map(|n| format!("line {n}, "))
                .unwrap_or_default();
            return Err(format!("{line}{e}"));
        }
        Ok(config)
    }

    /// Every value reads and is within bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.scan_every()?;
        self.collect_every()?;
        self.full_every()?;
        self.heartbeat_every()?;
        self.spool_max_bytes()?;
        if self.scan.rate == Some(0) {
            return Err(err("scan.rate", "must be at least 1 probe per second"));
        }
        if self.scan.port == Some(0) {
            return Err(err("scan.port", "must be a UDP port (1-65535)"));
        }
        for (i, set) in self.credentials.iter().enumerate() {
            if let Some(v) = &set.snmp_version
                && !matches!(v.trim_start_matches('v'), "1" | "2c" | "2" | "3")
            {
                return Err(err(
                    &format!("credentials[{}].snmp-version", i + 1),
                    "must be 1, 2c or 3",
                ));
            }
        }
        if let Some(proxy) = &self.uplink.proxy
            && !proxy.starts_with("http://")
        {
            return Err(err(
                "uplink.proxy",
                "must be an http:// URL of a CONNECT proxy (http://HOST:PORT)",
            ));
        }
        Ok(())
    }

    /// This configuration with another's values where that one sets them,
    /// except `[uplink]`, which stays this one's (a push overrides the file
    /// but cannot cut the agent off).
    pub fn overridden_by(&self, pushed: &AgentConfig) -> AgentConfig {
        let mut out = pushed.clone();
        out.uplink = self.uplink.clone();
        let scan = &mut out.scan;
        if scan.ranges.is_empty() {
            scan.ranges = self.scan.ranges.clone();
        }
        if scan.exclude.is_empty() {
            scan.exclude = self.scan.exclude.clone();
        }
        scan.port = scan.port.or(self.scan.port);
        scan.rate = scan.rate.or(self.scan.rate);
        scan.every = scan.every.clone().or_else(|| self.scan.every.clone());
        let collect = &mut out.collect;
        collect.every = collect.every.clone().or_else(|| self.collect.every.clone());
        collect.full_every = collect
            .full_every
            .clone()
            .or_else(|| self.collect.full_every.clone());
        out.heartbeat.every = out
            .heartbeat
            .every
            .clone()
            .or_else(|| self.heartbeat.every.clone());
        if out.credentials.is_empty() {
            out.credentials = self.credentials.clone();
        }
        out.spool.max_size = out
            .spool
            .max_size
            .clone()
            .or_else(|| self.spool.max_size.clone());
        out
    }

    pub fn scan_every(&self) -> Result<Duration, ConfigError> {
        interval("scan.every", &self.scan.every, DEFAULT_SCAN_EVERY)
    }
    pub fn collect_every(&self) -> Result<Duration, ConfigError> {
        interval("collect.every", &self.collect.every, DEFAULT_COLLECT_EVERY)
    }
    pub fn full_every(&self) -> Result<Duration, ConfigError> {
        interval(
            "collect.full-every",
            &self.collect.full_every,
            DEFAULT_FULL_EVERY,
        )
    }
    pub fn heartbeat_every(&self) -> Result<Duration, ConfigError> {
        interval(
            "heartbeat.every",
            &self.heartbeat.every,
            DEFAULT_HEARTBEAT_EVERY,
        )
    }
    pub fn spool_max_bytes(&self) -> Result<u64, ConfigError> {
        match &self.spool.max_size {
            None => Ok(DEFAULT_SPOOL_MAX),
            Some(text) => parse_size(text).map_err(|p| err("spool.max-size", &p)),
        }
    }
}

fn err(key: &str, problem: &str) -> ConfigError {
    ConfigError {
        key: key.into(),
        problem: problem.into(),
    }
}

fn interval(key: &str, value: &Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        err(
            key,
            &format!("{text:?} is not a duration ({e}); write it as \"30s\", \"15m\" or \"24h\""),
        )
    })?;
    if d < MIN_INTERVAL {
        return Err(err(key, &format!("{text:?} is shorter than one second")));
    }
    if d > Duration::from_secs(366 * 24 * 3600) {
        return Err(err(key, &format!("{text:?} is longer than a year")));
    }
    Ok(d)
}

/// `"256MiB"`, `"1GiB"`, `"500MB"`, `"4096"` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size; write it as \"256MiB\" or \"1GiB\""))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit (use KiB, MiB or GiB)")),
    };
    let bytes = n
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if bytes < 1 << 20 {
        return Err(format!("{text:?} is smaller than 1MiB"));
    }
    Ok(bytes)
}

/// The 1-based line where the last part of a dotted key is set, found by
/// its table header and name (enough for a person to look at).
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let mut parts = key.split('.');
    let table = parts.next()?;
    let name = parts.next()?;
    let table = table.split('[').next()?;
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_table = l.trim_matches(|c| c == '[' || c == ']').trim() == table;
            continue;
        }
        if in_table && l.split('=').next().is_some_and(|k| k.trim() == name) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_of_product_md_reads() {
        let text = r#"
[scan]
ranges = ["192.168.1.0/24", "10.2.0.10-10.2.0.60"]
exclude = ["192.168.1.1"]
port = 161
rate = 1000
every = "24h"
[collect]
every = "15m"
full-every = "24h"
[heartbeat]
every = "5m"
[[credentials]]
snmp-version = "2c"
community = "public"
[uplink]
proxy = "http://proxy.example:3128"
ca-file = "/etc/printwatch/ca.pem"
[spool]
max-size = "256MiB"
"#;
        let c = AgentConfig::from_toml(text).expect("reads");
        assert_eq!(c.collect_every(), Ok(Duration::from_secs(900)));
        assert_eq!(c.spool_max_bytes(), Ok(256 << 20));
        assert_eq!(c.credentials.len(), 1);
        assert!(!format!("{:?}", c.credentials[0]).contains("public"));
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e =
            AgentConfig::from_toml("[collect]\nevery = \"15 fortnights\"\n").expect_err("refused");
        assert!(e.starts_with("line 2, collect.every:"), "{e}");
        let e = AgentConfig::from_toml("[scan]\nrangez = []\n").expect_err("refused");
        assert!(e.contains("rangez") && e.contains("line 2"), "{e}");
        let e =
            AgentConfig::from_toml("[spool]\nmax-size = \"12 parsecs\"\n").expect_err("refused");
        assert!(e.starts_with("line 2, spool.max-size"), "{e}");
        let e = AgentConfig::from_toml("[heartbeat]\nevery = \"0s\"\n").expect_err("refused");
        assert!(e.contains("shorter than one second"), "{e}");
    }

    #[test]
    fn a_push_overrides_all_but_the_uplink() {
        let file = AgentConfig::from_toml(
            "[uplink]\nproxy = \"http://p:3128\"\n[collect]\nevery = \"15m\"\n[scan]\nranges = [\"10.0.0.0/24\"]\n",
        )
        .expect("reads");
        let pushed: AgentConfig = serde_json::from_value(serde_json::json!({
            "collect": {"every": "5m"},
            "uplink": {"proxy": "http://evil:1"}
        }))
        .expect("json");
        let merged = file.overridden_by(&pushed);
        assert_eq!(merged.collect_every(), Ok(Duration::from_secs(300)));
        assert_eq!(merged.uplink.proxy.as_deref(), Some("http://p:3128"));
        assert_eq!(merged.scan.ranges, vec!["10.0.0.0/24".to_string()]);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert!(parse_size("99999999999999999999GiB").is_err());
        assert!(parse_size("-1MiB").is_err());
        assert!(parse_size("12KiB").is_err());
    }
}
