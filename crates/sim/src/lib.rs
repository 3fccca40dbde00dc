//! printwatch's simulator: snmprec recordings served as live SNMP agents
//! (v1, v2c, v3), one agent per address, with faults for tests.
//!
//! - [`device`]: a recording made ready to serve, and one device's view of it.
//! - [`identity`]: per-address serials and MACs, meters that advance.
//! - [`faults`]: loss, delay and silence, in a gate before the agent.
//! - [`fleet`]: fleet files, address by address.

pub mod agent;
pub mod device;
pub mod faults;
pub mod fleet;
pub mod identity;
pub mod synthetic;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use printwatch_snmp::Oid;
use printwatch_snmp::credentials::Credentials;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

pub use device::{Device, ServedRecording, SimClock};
pub use faults::Faults;
pub use fleet::{DevicePlan, FleetFile};

use agent::{AgentSpec, PreparedUser, build_agent};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    #[error("{0}")]
    Config(String),
    #[error("recording {path}: {message}", path = .0.display(), message = .1)]
    Recording(PathBuf, String),
    #[error(
        "cannot serve on {0}: {1} (is the address in use, or is it not local? a port below 1024 needs privileges)"
    )]
    Bind(SocketAddr, String),
}

/// One address served, and what it serves.
#[derive(Debug, Clone)]
pub struct Served {
    pub address: SocketAddr,
    pub recording: String,
    /// Lines of the recording that are not served.
    pub skipped_lines: usize,
}

/// A running simulator; dropping it stops every agent.
pub struct Simulator {
    tasks: JoinSet<()>,
    pub served: Vec<Served>,
    clock: SimClock,
}

/// Reads each recording once, however many devices serve it.
#[derive(Default)]
pub struct RecordingCache {
    loaded: HashMap<PathBuf, Arc<ServedRecording>>,
}

impl RecordingCache {
    pub fn load(&mut self, path: &Path) -> Result<Arc<ServedRecording>, SimError> {
        if let Some(r) = self.loaded.get(path) {
            return Ok(r.clone());
        }
        let recording = printwatch_snmp::snmprec::read_file(path)
            .map_err(|e| SimError::Recording(path.to_owned(), e.to_string()))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let served = Arc::new(ServedRecording::new(name, recording));
        if served.objects.is_empty() {
            return Err(SimError::Recording(
                path.to_owned(),
                "no record could be read".into(),
            ));
        }
        self.loaded.insert(path.to_owned(), served.clone());
        Ok(served)
    }
}

/// Raises the open-file limit for thousands of sockets, as far as allowed.
fn raise_open_file_limit(sockets: usize) {
    let wanted = (sockets as u64).saturating_mul(2).saturating_add(256);
    if let Err(e) = rlimit::increase_nofile_limit(wanted) {
        tracing::warn!(error = %e, "cannot raise the open-file limit");
    }
}

/// What printwatch reads from a recording that the simulator must keep
/// consistent when it changes the device: the serial (it may live in a
/// vendor OID or in sysDescr text), rewritten everywhere by `--unique`, and
/// the OIDs of every page counter the snapshot reports (standard and the
/// profile's vendor meters), which advance together.
#[derive(Clone, Default)]
struct Readings {
    serials: Vec<String>,
    meters: Vec<Oid>,
}

fn readings_of(recording: &ServedRecording, profiles: &printwatch_printer::ProfileSet) -> Readings {
    let view = printwatch_printer::MibView::from_varbinds(
        recording
            .values
            .iter()
            .map(|(o, v)| printwatch_snmp::VarBind::new(o.clone(), v.clone())),
    );
    let snapshot = printwatch_printer::read_snapshot("", &view, profiles);
    let meters = snapshot
        .meters
        .iter()
        .flat_map(|m| match &m.oid {
            printwatch_printer::Source::One(o) => vec![o.clone()],
            printwatch_printer::Source::Sum(parts) => parts.clone(),
        })
        .filter_map(|o| o.parse().ok())
        .collect();
    Readings {
        serials: snapshot.serial.into_iter().collect(),
        meters,
    }
}

fn base_name(recording: &ServedRecording) -> String {
    recording
        .name
        .strip_suffix(".snmprec")
        .unwrap_or(&recording.name)
        .to_owned()
}

impl Simulator {
    /// Binds every address and starts serving. Fails, serving nothing, if any
    /// address cannot be bound.
    pub async fn start(plans: &[DevicePlan]) -> Result<Self, SimError> {
        let mut cache = RecordingCache::default();
        let mut users_cache: HashMap<String, PreparedUser> = HashMap::new();
        let profiles = printwatch_printer::ProfileSet::embedded()
            .map_err(|e| SimError::Config(e.to_string()))?;
        raise_open_file_limit(plans.iter().map(|p| p.addresses.len() * 2).sum());
        let mut readings_cache: HashMap<String, Readings> = HashMap::new();
        let clock = SimClock::default();
        let mut tasks = JoinSet::new();
        let mut served = Vec::new();
        for plan in plans {
            let recording = cache.load(&plan.recording)?;
            let mut device = Device::with_clock(recording.clone(), clock.clone());
            let alive =
                plan.faults.pages_per_minute > 0.0 || plan.faults.drain_percent_per_hour > 0.0;
            let readings = if plan.unique || alive {
                readings_cache
                    .entry(recording.name.clone())
                    .or_insert_with(|| readings_of(&recording, &profiles))
                    .clone()
            } else {
                Readings::default()
            };
            if plan.unique
                && let Some(first) = plan.addresses.first()
            {
                identity::make_unique(&mut device, first.ip(), &readings.serials);
            }
            identity::make_alive(
                &mut device,
                &readings.meters,
                plan.faults.pages_per_minute,
                plan.faults.drain_percent_per_hour,
            );
            let device = Arc::new(device);
            let communities = plan
                .communities
                .clone()
                .unwrap_or_else(|| vec!["public".into(), base_name(&recording)]);
            let mut users = Vec::new();
            for credentials in &plan.v3_users {
                if let Credentials::Usm(usm) = credentials {
                    let key = format!(
                        "{usm:?}{:?}{:?}",
                        usm.auth.as_ref().map(|a| a.1.expose()),
                        usm.privacy.as_ref().map(|p| p.1.expose())
                    );
                    let user = match users_cache.get(&key) {
                        Some(u) => u.clone(),
                        None => {
                            let u = PreparedUser::new(usm)?;
                            users_cache.insert(key, u.clone());
                            u
                        }
                    };
                    users.push(user);
                }
            }
            for address in &plan.addresses {
                let gate = if plan.faults.needs_gate() {
                    let public = UdpSocket::bind(address)
                        .await
                        .map_err(|e| SimError::Bind(*address, e.to_string()))?;
                    Some(public)
                } else {
                    None
                };
                let bind = match gate {
                    Some(_) => SocketAddr::new(address.ip(), 0),
                    None => *address,
                };
                let agent = build_agent(AgentSpec {
                    bind,
                    device: device.clone(),
                    communities: &communities,
                    users: &users,
                    max_message_size: plan.faults.max_message_size,
                })
                .await?;
                let agent_addr = agent.local_addr();
                tasks.spawn(async move {
                    if let Err(e) = agent.run().await {
                        tracing::error!(address = %agent_addr, error = %e, "agent stopped");
                    }
                });
                if let Some(public) = gate {
                    tasks.spawn(faults::run_gate(public, agent_addr, plan.faults.clone()));
                }
                served.push(Served {
                    address: *address,
                    recording: recording.name.clone(),
                    skipped_lines: recording.problems.len(),
                });
            }
        }
        Ok(Simulator {
            tasks,
            served,
            clock,
        })
    }

    /// The clock every device's meters and supplies follow: a test
    /// advances it instead of sleeping.
    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Serves until every agent has stopped (normally: forever).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }
}
