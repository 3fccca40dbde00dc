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
use printwatch_snmp::{Credentials, Oid, Poller, SnmpEngine, SnmpError, SnmpOptions};
use tokio::sync::{Semaphore, mpsc, watch};
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

async fn probe(engine: &SnmpEngine, address: SocketAddr, options: &ScanOptions) -> Probe {
    let oids: Vec<Oid> = PROBE.iter().map(|a| Oid::from(*a)).collect();
    let mut refused = None;
    for (index, credentials) in options.credentials.iter().enumerate() {
        let Ok(session) = engine.session(address, credentials, &options.snmp).await else {
            continue;
        };
        match session.get_next_many(&oids).await {
            Ok(answer) => {
                let printer = answer
                    .iter()
                    .any(|vb| is_in(vb, PROBE[2]) || is_in(vb, PROBE[3]));
                return if printer {
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
    let mut tasks = JoinSet::new();

    // Phase 1: probes, paced.
    let pacer = {
        let (engine, options, events) = (engine.clone(), options.clone(), events.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let mut probes = JoinSet::new();
            let period = Duration::from_secs_f64(1.0 / f64::from(options.rate.max(1)));
            let start = tokio::time::Instant::now();
            for (i, ip) in addresses.into_iter().enumerate() {
                let due = start + period.mul_f64(i as f64);
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = stopped(&mut stop) => break,
                }
                while probes.try_join_next().is_some() {}
                let (engine, options, events) = (engine.clone(), options.clone(), events.clone());
                probes.spawn(async move {
                    let outcome = probe(&engine, SocketAddr::new(ip, options.port), &options).await;
                    let _ = events.send(Event::Probed(ip, outcome));
                });
            }
            while probes.join_next().await.is_some() {}
        })
    };

    // Phase 2: collections, as printers are found.
    let permits = Arc::new(Semaphore::new(options.concurrency.max(1)));
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
                    handle(event, &mut report, &mut snapshots, &mut pending, &mut tasks, &engine, &options, &profiles, &progress, &permits, &events);
                }
                pacing_done = true;
            }
            Some(event) = inbox.recv() => {
                handle(event, &mut report, &mut snapshots, &mut pending, &mut tasks, &engine, &options, &profiles, &progress, &permits, &events);
            }
        }
    }
    tasks.abort_all();
    report.devices = merge(snapshots);
    report.elapsed = started.elapsed();
    report
}

#[allow(clippy::too_many_arguments)]
fn handle(
    event: Event,
    report: &mut ScanReport,
    snapshots: &mut Vec<(IpAddr, usize, Snapshot)>,
    pending: &mut usize,
    tasks: &mut JoinSet<()>,
    engine: &Arc<SnmpEngine>,
    options: &Arc<ScanOptions>,
    profiles: &Arc<ProfileSet>,
    progress: &Arc<ScanProgress>,
    permits: &Arc<Semaphore>,
    events: &mpsc::UnboundedSender<Event>,
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
                    let (engine, options, profiles, permits, events) = (
                        engine.clone(),
                        options.clone(),
                        profiles.clone(),
                        permits.clone(),
                        events.clone(),
                    );
                    tasks.spawn(async move {
                        let _permit = permits.acquire_owned().await;
                        let address = SocketAddr::new(ip, options.port);
                        let target = address.to_string();
                        let result = match engine
                            .session(address, &options.credentials[credential], &options.snmp)
                            .await
                        {
                            Ok(session) => collect(&session, &target, &profiles).await,
                            Err(e) => Err(CollectError::Snmp(e)),
                        };
                        let _ = events.send(Event::Collected(ip, credential, Box::new(result)));
                    });
                }
            }
        }
        Event::Collected(ip, credential, result) => {
            *pending -= 1;
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
