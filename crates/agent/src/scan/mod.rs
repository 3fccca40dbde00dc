//! Discovery at network scale.
//!
//! Two phases over one UDP socket:
//! 1. a cheap probe of every address at a bounded rate: one GETNEXT carrying
//!    the OIDs that tell a printer (sysDescr, sysObjectID, and the first
//!    objects of the Printer MIB and of hrPrinterTable, whatever their
//!    index), credential sets tried in order;
//! 2. the full collection of the printers only, with bounded concurrency,
//!    with the credential set that answered, started as soon as a printer
//!    is found.
//!
//! A device is its identity (family and serial, MAC as fallback), never its
//! address: one that answers on two addresses is reported once, with both.

pub mod targets;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use printwatch_printer::{CollectError, ProfileSet, Snapshot, collect};
use printwatch_snmp::credentials::CommunityVersion;
use printwatch_snmp::sweep::{SweepAnswer, SweepOptions, SweepRequest, sweep};
use printwatch_snmp::{Credentials, Oid, Poller, SnmpEngine, SnmpError, SnmpOptions};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

pub use targets::{Target, TargetError};

/// The probe: GETNEXT of these finds sysDescr.0, sysObjectID.0 and the first
/// Printer-MIB and hrPrinterTable objects.
const PROBE: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 1, 1],
    &[1, 3, 6, 1, 2, 1, 1, 2],
    &[1, 3, 6, 1, 2, 1, 43],
    &[1, 3, 6, 1, 2, 1, 25, 3, 5],
];

/// How a scan runs.
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub port: u16,
    /// Probes started per second.
    pub rate: u32,
    /// Collections at the same time.
    pub concurrency: usize,
    pub snmp: SnmpOptions,
    /// Tried in order on every address.
    pub credentials: Vec<Credentials>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            port: 161,
            rate: 2000,
            concurrency: 64,
            snmp: SnmpOptions::default(),
            credentials: vec![Credentials::v2c("public")],
        }
    }
}

impl ScanOptions {
    /// How long the probes of `addresses` take at most, from the pace this
    /// scan is configured for (not from answers): first tries go out at
    /// `rate` a second, one per community set for an address that stays
    /// silent (the usual case in a sweep), and the last ones are given up
    /// after every try of every set. SNMPv3 sets, tried by a client after the
    /// communities, add their own waits (discovery, then the request).
    /// Collecting the printers found comes on top.
    pub fn estimate(&self, addresses: u64) -> Duration {
        let communities = self
            .credentials
            .iter()
            .filter(|c| matches!(c, Credentials::Community { .. }))
            .count() as u64;
        let v3 = self.credentials.len() as u64 - communities;
        let sends = addresses.saturating_mul(communities.max(1));
        let pacing = sends as f64 / f64::from(self.rate.max(1));
        let tries = f64::from(self.snmp.retries) + 1.0;
        let patience = self.snmp.timeout.as_secs_f64() * tries * (communities + 2 * v3) as f64;
        Duration::from_secs_f64((pacing + patience).min(1e9))
    }
}

/// Counters for a progress display, updated as the scan goes.
#[derive(Debug, Default)]
pub struct ScanProgress {
    pub total: AtomicUsize,
    pub probed: AtomicUsize,
    pub printers: AtomicUsize,
    pub collected: AtomicUsize,
}

/// One device found.
#[derive(Clone, Debug)]
pub struct FoundDevice {
    pub snapshot: Snapshot,
    /// Which credential set answered (index into `ScanOptions::credentials`).
    pub credential: usize,
}

/// Why an address gave no device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answered, but refused every credential set (named SNMPv3 errors).
    Credentials(String),
    /// Answered, but is not a printer.
    NotAPrinter,
    /// A printer that answered the probe but not the collection.
    Collection(String),
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct ScanReport {
    pub devices: Vec<FoundDevice>,
    /// Addresses that never answered.
    pub no_answer: usize,
    pub failures: BTreeMap<IpAddr, Failure>,
    pub probed: usize,
    pub elapsed: Duration,
    /// The scan was stopped before the end.
    pub interrupted: bool,
}

enum Probe {
    Printer(usize),
    NotPrinter,
    NoAnswer,
    Refused(String),
}

fn is_in(vb: &printwatch_snmp::VarBind, root: &[u32]) -> bool {
    !vb.value.is_exception() && vb.oid.arcs().starts_with(root)
}

/// Whether a probe's answer shows a printer.
fn shows_printer(answer: &[printwatch_snmp::VarBind]) -> bool {
    answer
        .iter()
        .any(|vb| is_in(vb, PROBE[2]) || is_in(vb, PROBE[3]))
}

/// The probe with a full client, for the credential sets the sweeper cannot
/// use (SNMPv3), in order.
async fn probe_with_client(
    engine: &SnmpEngine,
    address: SocketAddr,
    options: &ScanOptions,
    sets: &[usize],
) -> Probe {
    let oids: Vec<Oid> = PROBE.iter().map(|a| Oid::from(*a)).collect();
    let mut refused = None;
    for &index in sets {
        let Some(credentials) = options.credentials.get(index) else {
            continue;
        };
        let Ok(session) = engine.session(address, credentials, &options.snmp).await else {
            continue;
        };
        match session.get_next_many(&oids).await {
            Ok(answer) => {
                return if shows_printer(&answer) {
                    Probe::Printer(index)
                } else {
                    Probe::NotPrinter
                };
            }
            Err(SnmpError::Timeout { .. }) => continue,
            Err(e) if e.is_auth_failure() => refused = Some(e.to_string()),
            // An answer, even an error, is a device: but not a readable one.
            Err(e) => refused = Some(e.to_string()),
        }
    }
    match refused {
        Some(reason) => Probe::Refused(reason),
        None => Probe::NoAnswer,
    }
}

/// Resolves when a stop is asked for; never, if no one can ask any more.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Probes every address and sends one `Event::Probed` for each (unless
/// stopped). Community credential sets are tried in order through the
/// sweeper; the SNMPv3 sets, for the addresses no community answered.
async fn probe_all(
    addresses: Arc<Vec<IpAddr>>,
    engine: Arc<SnmpEngine>,
    options: Arc<ScanOptions>,
    events: mpsc::UnboundedSender<Event>,
    mut stop: watch::Receiver<bool>,
) {
    let communities: Vec<(usize, CommunityVersion, Vec<u8>)> = options
        .credentials
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c {
            Credentials::Community { version, community } => {
                Some((i, *version, community.expose().as_bytes().to_vec()))
            }
            Credentials::Usm(_) => None,
        })
        .collect();
    let v3_sets: Vec<usize> = options
        .credentials
        .iter()
        .enumerate()
        .filter(|(_, c)| matches!(c, Credentials::Usm(_)))
        .map(|(i, _)| i)
        .collect();
    let mut clients = JoinSet::new();
    // The client probe of `ip` with credential sets `sets`, in order.
    let client_probe = |clients: &mut JoinSet<()>, ip: IpAddr, sets: Vec<usize>| {
        let (engine, options, events) = (engine.clone(), options.clone(), events.clone());
        clients.spawn(async move {
            let address = SocketAddr::new(ip, options.port);
            let outcome = probe_with_client(&engine, address, &options, &sets).await;
            let _ = events.send(Event::Probed(ip, outcome));
        });
    };
    if communities.is_empty() {
        // SNMPv3 only: every address by a client, paced.
        let period = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
        let start = tokio::time::Instant::now();
        for (i, ip) in addresses.iter().enumerate() {
            tokio::select! {
                () = tokio::time::sleep_until(start + period.mul_f64(i as f64)) => {}
                () = stopped(&mut stop) => break,
            }
            while clients.try_join_next().is_some() {}
            client_probe(&mut clients, *ip, v3_sets.clone());
        }
        while clients.join_next().await.is_some() {}
        return;
    }
    let oids: Arc<[Oid]> = PROBE.iter().map(|a| Oid::from(*a)).collect();
    let (requests, request_rx) = mpsc::channel::<SweepRequest>(1024);
    let (answer_tx, mut answers) = mpsc::unbounded_channel::<SweepAnswer>();
    let sweeper = tokio::spawn(sweep(
        request_rx,
        answer_tx,
        SweepOptions {
            rate: options.rate,
            timeout: options.snmp.timeout,
            retries: options.snmp.retries,
        },
    ));
    // tag = address index × 256 + position in `communities`.
    let request = |index: usize, position: usize| -> Option<SweepRequest> {
        let (_, version, community) = communities.get(position)?;
        Some(SweepRequest {
            target: SocketAddr::new(*addresses.get(index)?, options.port),
            version: *version,
            community: community.clone(),
            oids: oids.clone(),
            tag: (index as u64) << 8 | position as u64,
        })
    };
    let total = addresses.len();
    let mut fed = 0usize;
    let mut resolved = 0usize;
    let mut requests = Some(requests);
    while resolved < total {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            answer = answers.recv() => {
                let Some(answer) = answer else { break };
                let (tag, outcome) = match answer {
                    SweepAnswer::Answer { tag, error_status, .. } if error_status != 0 => {
                        // An error (SNMPv1's noSuchName past the end of a
                        // MIB fails the whole PDU): the device is there; the
                        // client asks object by object.
                        let index = (tag >> 8) as usize;
                        let set = communities.get((tag & 0xff) as usize).map_or(0, |c| c.0);
                        if let Some(ip) = addresses.get(index).copied() {
                            resolved += 1;
                            client_probe(&mut clients, ip, vec![set]);
                        }
                        continue;
                    }
                    SweepAnswer::Answer { tag, varbinds, .. } => {
                        let set = communities.get((tag & 0xff) as usize).map_or(0, |c| c.0);
                        let outcome = if shows_printer(&varbinds) {
                            Probe::Printer(set)
                        } else {
                            Probe::NotPrinter
                        };
                        (tag, Some(outcome))
                    }
                    SweepAnswer::Silent { tag } => (tag, None),
                };
                let index = (tag >> 8) as usize;
                let Some(ip) = addresses.get(index).copied() else { continue };
                match outcome {
                    Some(outcome) => {
                        resolved += 1;
                        let _ = events.send(Event::Probed(ip, outcome));
                    }
                    None => {
                        let next = (tag & 0xff) as usize + 1;
                        match (request(index, next), &requests) {
                            (Some(r), Some(tx)) => {
                                let _ = tx.send(r).await;
                            }
                            _ if !v3_sets.is_empty() => {
                                resolved += 1;
                                client_probe(&mut clients, ip, v3_sets.clone());
                            }
                            _ => {
                                resolved += 1;
                                let _ = events.send(Event::Probed(ip, Probe::NoAnswer));
                            }
                        }
                    }
                }
            }
            sent = async {
                match (&requests, request(fed, 0)) {
                    (Some(tx), Some(r)) => tx.send(r).await.is_ok(),
                    _ => std::future::pending().await,
                }
            }, if fed < total => {
                if sent {
                    fed += 1;
                }
            }
        }
        while clients.try_join_next().is_some() {}
    }
    // Nothing more to ask: let the sweeper finish what is in flight.
    requests.take();
    sweeper.abort();
    while clients.join_next().await.is_some() {}
}

enum Event {
    Probed(IpAddr, Probe),
    Collected(IpAddr, usize, Box<Result<Snapshot, CollectError>>),
}

/// Scans `addresses`. `stop` ends the scan early (Ctrl-C): what was found
/// so far is reported.
pub async fn scan(
    addresses: Vec<IpAddr>,
    options: ScanOptions,
    profiles: Arc<ProfileSet>,
    progress: Arc<ScanProgress>,
    mut stop: watch::Receiver<bool>,
) -> ScanReport {
    let started = Instant::now();
    progress.total.store(addresses.len(), Ordering::Relaxed);
    let engine = Arc::new(SnmpEngine::new(None));
    let options = Arc::new(options);
    let (events, mut inbox) = mpsc::unbounded_channel::<Event>();

    // Phase 1: probes, paced, community sets by the sweeper (a few bytes
    // per probe in flight), SNMPv3 sets by a client for what stays silent.
    let addresses = Arc::new(addresses);
    let pacer = tokio::spawn(probe_all(
        addresses.clone(),
        engine.clone(),
        options.clone(),
        events.clone(),
        stop.clone(),
    ));

    // Phase 2: collections, as printers are found.
    let mut collector = Collector {
        engine: engine.clone(),
        options: options.clone(),
        profiles: profiles.clone(),
        events: events.clone(),
        tasks: JoinSet::new(),
        running: 0,
        waiting: Default::default(),
    };
    let mut report = ScanReport::default();
    let mut snapshots: Vec<(IpAddr, usize, Snapshot)> = Vec::new();
    let mut pending = 0usize;
    let mut pacing_done = false;
    let mut pacer = Some(pacer);
    loop {
        if pacing_done && pending == 0 {
            break;
        }
        tokio::select! {
            () = stopped(&mut stop) => {
                report.interrupted = true;
                break;
            }
            done = async { pacer.as_mut().expect("checked").await }, if pacer.is_some() => {
                let _ = done;
                pacer = None;
                // Every probe has sent its event by now; drain what is queued.
                while let Ok(event) = inbox.try_recv() {
                    handle(event, &mut report, &mut snapshots, &mut pending, &mut collector, &progress);
                }
                pacing_done = true;
            }
            Some(event) = inbox.recv() => {
                handle(event, &mut report, &mut snapshots, &mut pending, &mut collector, &progress);
            }
        }
    }
    collector.tasks.abort_all();
    report.devices = merge(snapshots);
    report.elapsed = started.elapsed();
    report
}

fn handle(
    event: Event,
    report: &mut ScanReport,
    snapshots: &mut Vec<(IpAddr, usize, Snapshot)>,
    pending: &mut usize,
    collector: &mut Collector,
    progress: &ScanProgress,
) {
    match event {
        Event::Probed(ip, outcome) => {
            report.probed += 1;
            progress.probed.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Probe::NoAnswer => report.no_answer += 1,
                Probe::NotPrinter => {
                    report.failures.insert(ip, Failure::NotAPrinter);
                }
                Probe::Refused(reason) => {
                    report.failures.insert(ip, Failure::Credentials(reason));
                }
                Probe::Printer(credential) => {
                    progress.printers.fetch_add(1, Ordering::Relaxed);
                    *pending += 1;
                    collector.found(ip, credential);
                }
            }
        }
        Event::Collected(ip, credential, result) => {
            *pending -= 1;
            collector.finished();
            progress.collected.fetch_add(1, Ordering::Relaxed);
            match *result {
                Ok(snapshot) => snapshots.push((ip, credential, snapshot)),
                Err(CollectError::NotAPrinter(_)) => {
                    report.failures.insert(ip, Failure::NotAPrinter);
                }
                Err(e) => {
                    report
                        .failures
                        .insert(ip, Failure::Collection(e.to_string()));
                }
            }
        }
    }
}

/// Collections, at most `concurrency` at a time: a printer found while all
/// are busy waits as an address, not as a task.
struct Collector {
    engine: Arc<SnmpEngine>,
    options: Arc<ScanOptions>,
    profiles: Arc<ProfileSet>,
    events: mpsc::UnboundedSender<Event>,
    tasks: JoinSet<()>,
    running: usize,
    waiting: std::collections::VecDeque<(IpAddr, usize)>,
}

impl Collector {
    fn found(&mut self, ip: IpAddr, credential: usize) {
        self.waiting.push_back((ip, credential));
        self.start();
    }

    fn finished(&mut self) {
        self.running = self.running.saturating_sub(1);
        self.start();
    }

    fn start(&mut self) {
        while self.tasks.try_join_next().is_some() {}
        while self.running < self.options.concurrency.max(1) {
            let Some((ip, credential)) = self.waiting.pop_front() else {
                return;
            };
            self.running += 1;
            let (engine, options, profiles, events) = (
                self.engine.clone(),
                self.options.clone(),
                self.profiles.clone(),
                self.events.clone(),
            );
            self.tasks.spawn(async move {
                let address = SocketAddr::new(ip, options.port);
                let target = address.to_string();
                let result = match options.credentials.get(credential) {
                    Some(credentials) => {
                        match engine.session(address, credentials, &options.snmp).await {
                            Ok(session) => collect(&session, &target, &profiles).await,
                            Err(e) => Err(CollectError::Snmp(e)),
                        }
                    }
                    None => Err(CollectError::Snmp(SnmpError::Config(
                        "no such credential set".into(),
                    ))),
                };
                let _ = events.send(Event::Collected(ip, credential, Box::new(result)));
            });
        }
    }
}

/// One device per identity, with every address it answered on.
fn merge(snapshots: Vec<(IpAddr, usize, Snapshot)>) -> Vec<FoundDevice> {
    let mut by_identity: BTreeMap<String, FoundDevice> = BTreeMap::new();
    for (ip, credential, snapshot) in snapshots {
        let key = snapshot
            .identity()
            .unwrap_or_else(|| format!("address:{ip}"));
        let address = ip.to_string();
        match by_identity.get_mut(&key) {
            Some(found) => {
                if !found.snapshot.addresses.contains(&address) {
                    found.snapshot.addresses.push(address);
                    found.snapshot.addresses.sort();
                }
            }
            None => {
                let mut snapshot = snapshot;
                snapshot.addresses = vec![address];
                by_identity.insert(
                    key,
                    FoundDevice {
                        snapshot,
                        credential,
                    },
                );
            }
        }
    }
    let mut devices: Vec<FoundDevice> = by_identity.into_values().collect();
    devices.sort_by_key(|d| first_address(&d.snapshot));
    devices
}

fn first_address(s: &Snapshot) -> Option<IpAddr> {
    s.addresses.iter().filter_map(|a| a.parse().ok()).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(
        rate: u32,
        timeout: f64,
        retries: u32,
        credentials: Vec<Credentials>,
    ) -> ScanOptions {
        ScanOptions {
            rate,
            snmp: SnmpOptions {
                timeout: Duration::from_secs_f64(timeout),
                retries,
                ..SnmpOptions::default()
            },
            credentials,
            ..ScanOptions::default()
        }
    }

    #[test]
    fn the_estimate_follows_the_configured_pace() {
        // A /24 at 2,000 a second with the defaults (1 s, 1 retry): the
        // probes go out in 0.127 s, the last is given up 2 s later.
        let o = options(2000, 1.0, 1, vec![Credentials::v2c("public")]);
        let t = o.estimate(254).as_secs_f64();
        assert!((t - 2.127).abs() < 0.01, "{t}");
        // A /8 at 2,000 a second: 8,389 s, well over two hours.
        let t = o.estimate(16_777_214).as_secs_f64();
        assert!((8389.0..8392.0).contains(&t), "{t}");
        // Two communities: twice the probes, twice the patience.
        let o = options(
            1000,
            0.5,
            0,
            vec![Credentials::v2c("public"), Credentials::v2c("private")],
        );
        let t = o.estimate(1000).as_secs_f64();
        assert!((t - 3.0).abs() < 0.01, "{t}");
    }
}
