//! Fleet files (`printwatch sim --fleet FILE`): a simulated network described
//! address by address.
//!
//! ```toml
//! port = 16100                       # default 161
//! communities = ["public"]           # default: public and the file's base name
//!
//! [[v3-user]]                        # users of every device (default: none)
//! user = "simulator"
//! auth-protocol = "sha"
//! auth-password = "auctoritas"
//! priv-protocol = "aes"
//! priv-password = "privatus"
//!
//! [[device]]                         # one device, maybe on several addresses
//! addresses = ["127.1.0.5", "127.1.0.6"]
//! recording = "recordings/hp.snmprec"   # relative to the fleet file
//! unique = true
//! faults = { loss = 0.2, delay-ms = 300 }
//!
//! [[range]]                          # many devices: recordings round robin
//! cidr = "127.1.1.0/24"
//! count = 200
//! recordings = ["recordings/"]       # files or directories
//! unique = true
//! communities = ["other"]            # overrides the fleet's default
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use printwatch_snmp::credentials::{CredentialSpec, Credentials};
use serde::Deserialize;

use crate::SimError;
use crate::faults::Faults;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FleetFile {
    pub port: Option<u16>,
    pub communities: Option<Vec<String>>,
    #[serde(default, rename = "v3-user")]
    pub v3_users: Vec<CredentialSpec>,
    #[serde(default, rename = "device")]
    pub devices: Vec<FleetDevice>,
    #[serde(default, rename = "range")]
    pub ranges: Vec<FleetRange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FleetDevice {
    #[serde(default)]
    pub address: Option<IpAddr>,
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    pub recording: PathBuf,
    pub port: Option<u16>,
    pub communities: Option<Vec<String>>,
    #[serde(default, rename = "v3-user")]
    pub v3_users: Option<Vec<CredentialSpec>>,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub faults: Faults,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FleetRange {
    pub cidr: ipnet::IpNet,
    pub count: usize,
    pub recordings: Vec<PathBuf>,
    pub port: Option<u16>,
    pub communities: Option<Vec<String>>,
    #[serde(default, rename = "v3-user")]
    pub v3_users: Option<Vec<CredentialSpec>>,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub faults: Faults,
}

/// One device to serve, resolved from a fleet file or the command line.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    pub addresses: Vec<SocketAddr>,
    pub recording: PathBuf,
    /// `None`: `public` and the recording's base name.
    pub communities: Option<Vec<String>>,
    pub v3_users: Vec<Credentials>,
    pub unique: bool,
    pub faults: Faults,
}

/// The first `count` usable addresses of a block: network and broadcast
/// addresses are skipped where the block has them.
pub fn hosts(cidr: ipnet::IpNet, count: usize) -> Result<Vec<IpAddr>, SimError> {
    // ipnet's hosts() leaves out network and broadcast, except in /31, /32.
    let hosts: Vec<IpAddr> = cidr.hosts().take(count).collect();
    if hosts.len() < count {
        return Err(SimError::Config(format!(
            "{cidr} has only {} usable addresses, {count} asked",
            hosts.len()
        )));
    }
    Ok(hosts)
}

/// Every `*.snmprec` file named or inside a named directory, sorted.
pub fn recording_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SimError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries = std::fs::read_dir(path)
                .map_err(|e| SimError::Recording(path.clone(), e.to_string()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "snmprec"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(SimError::Recording(
                    path.clone(),
                    "no *.snmprec file in this directory".into(),
                ));
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            return Err(SimError::Recording(path.clone(), "no such file".into()));
        }
    }
    Ok(files)
}

fn users(specs: &[CredentialSpec]) -> Result<Vec<Credentials>, SimError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let c = spec
                .build()
                .map_err(|e| SimError::Config(format!("v3-user {}: {e}", i + 1)))?;
            match c {
                Credentials::Usm(_) => Ok(c),
                _ => Err(SimError::Config(format!("v3-user {}: needs a user", i + 1))),
            }
        })
        .collect()
}

impl FleetFile {
    pub fn parse(text: &str) -> Result<Self, SimError> {
        toml::from_str(text).map_err(|e| SimError::Config(format!("fleet file: {e}")))
    }

    /// The devices to serve; paths are taken relative to `base_dir`.
    pub fn plan(&self, base_dir: &Path) -> Result<Vec<DevicePlan>, SimError> {
        let default_port = self.port.unwrap_or(161);
        let default_users = users(&self.v3_users)?;
        let mut plans = Vec::new();
        for (i, device) in self.devices.iter().enumerate() {
            device
                .faults
                .validate()
                .map_err(|e| SimError::Config(format!("device {}: {e}", i + 1)))?;
            let port = device.port.unwrap_or(default_port);
            let mut addresses: Vec<SocketAddr> = device
                .address
                .iter()
                .chain(&device.addresses)
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            addresses.dedup();
            if addresses.is_empty() {
                return Err(SimError::Config(format!(
                    "device {}: needs address or addresses",
                    i + 1
                )));
            }
            plans.push(DevicePlan {
                addresses,
                recording: base_dir.join(&device.recording),
                communities: device.communities.clone().or(self.communities.clone()),
                v3_users: match &device.v3_users {
                    Some(specs) => users(specs)?,
                    None => default_users.clone(),
                },
                unique: device.unique,
                faults: device.faults.clone(),
            });
        }
        for (i, range) in self.ranges.iter().enumerate() {
            range
                .faults
                .validate()
                .map_err(|e| SimError::Config(format!("range {}: {e}", i + 1)))?;
            let port = range.port.unwrap_or(default_port);
            let paths: Vec<PathBuf> = range.recordings.iter().map(|p| base_dir.join(p)).collect();
            let files = recording_files(&paths)?;
            let range_users = match &range.v3_users {
                Some(specs) => users(specs)?,
                None => default_users.clone(),
            };
            for (j, ip) in hosts(range.cidr, range.count)?.into_iter().enumerate() {
                plans.push(DevicePlan {
                    addresses: vec![SocketAddr::new(ip, port)],
                    recording: files[j % files.len()].clone(),
                    communities: range.communities.clone().or(self.communities.clone()),
                    v3_users: range_users.clone(),
                    unique: range.unique,
                    faults: range.faults.clone(),
                });
            }
        }
        let mut seen = std::collections::HashSet::new();
        for plan in &plans {
            for addr in &plan.addresses {
                if !seen.insert(*addr) {
                    return Err(SimError::Config(format!("{addr} is given to two devices")));
                }
            }
        }
        Ok(plans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_ranges() {
        let text = r#"
            port = 16100
            [[v3-user]]
            user = "simulator"
            auth-protocol = "sha"
            auth-password = "auctoritas"
            priv-protocol = "aes"
            priv-password = "privatus"

            [[device]]
            addresses = ["127.1.0.5", "127.1.0.6"]
            recording = "a.snmprec"
            faults = { loss = 0.5, delay-ms = 10 }
        "#;
        let fleet = FleetFile::parse(text).expect("valid");
        let plans = fleet.plan(Path::new("/x")).expect("valid");
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].addresses.len(), 2);
        assert_eq!(plans[0].addresses[0].port(), 16100);
        assert_eq!(plans[0].recording, Path::new("/x/a.snmprec"));
        assert_eq!(plans[0].v3_users.len(), 1);
        assert_eq!(plans[0].faults.loss, 0.5);
    }

    #[test]
    fn rejects_broken_fleets() {
        let unknown = "[[device]]\naddress = \"127.1.0.1\"\nrecording = \"a\"\ncolour = 1\n";
        assert!(FleetFile::parse(unknown).is_err());
        let bad_loss =
            "[[device]]\naddress = \"127.1.0.1\"\nrecording = \"a\"\nfaults = { loss = 2.0 }\n";
        let fleet = FleetFile::parse(bad_loss).expect("parses");
        assert!(fleet.plan(Path::new(".")).is_err());
        let twice = "[[device]]\naddress = \"127.1.0.1\"\nrecording = \"a\"\n\
                     [[device]]\naddress = \"127.1.0.1\"\nrecording = \"b\"\n";
        let fleet = FleetFile::parse(twice).expect("parses");
        assert!(fleet.plan(Path::new(".")).is_err());
        let no_address = "[[device]]\nrecording = \"a\"\n";
        let fleet = FleetFile::parse(no_address).expect("parses");
        assert!(fleet.plan(Path::new(".")).is_err());
    }

    #[test]
    fn hosts_skip_network_and_broadcast() {
        let net: ipnet::IpNet = "127.1.2.0/30".parse().expect("valid");
        let h = hosts(net, 2).expect("two hosts");
        assert_eq!(h[0].to_string(), "127.1.2.1");
        assert_eq!(h[1].to_string(), "127.1.2.2");
        assert!(hosts(net, 3).is_err());
        let single: ipnet::IpNet = "127.1.2.7/32".parse().expect("valid");
        assert_eq!(hosts(single, 1).expect("one")[0].to_string(), "127.1.2.7");
    }
}
