//! The agent daemon: wires the sans-IO parts (the [`Schedule`], the
//! [`Uplink`]) to tokio, the SNMP collector, the [`Spool`] and the server.
//!
//! Three tasks: the main loop runs the schedule, the sweeps and collections
//! (spawned), appends their readings to the spool and applies the
//! server's commands; the uplink task owns the uplink state machine,
//! sending heartbeats when asked and the spool's records in order; the
//! channel task (`crate::channel`) holds the command channel open and
//! hands the commands to the main loop.
//!
//! ## Crash points (SIGKILL, power loss)
//! - During a collection: nothing of it is in the spool yet; it is
//!   collected again at the next cycle. A collection counts once its
//!   records are appended and fsynced (`Spool::append`).
//! - After sealing, before the in-flight file is durable: nothing was
//!   sent; the sequence number was not persisted, and the next start seals
//!   the same records again under the same number.
//! - After the in-flight file is durable, before or during the send, or
//!   after the server applied it but before its receipt was handled: the
//!   next start sends the same bytes again; the server applies them once
//!   (or answers "already applied", which acknowledges them just as well).
//! - While handling a receipt, the writes go in this order: readings to
//!   resend appended to the spool; the acknowledged states (`acked.zst`);
//!   the uplink state (`uplink.json`); the spool acknowledged up to the
//!   envelope's last record; the in-flight file removed. Stopped anywhere
//!   in between, the in-flight file is still there: the envelope goes again,
//!   its receipt ("already applied") is handled again, and every step is
//!   idempotent. (A resend appended twice is a reading the server takes as
//!   "not newer": it moves nothing.)

use std::collections::HashMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use futures::future::BoxFuture;
use printwatch_printer::{ProfileSet, collect};
use printwatch_protocol::AgentId;
use printwatch_protocol::channel::Command;
use printwatch_protocol::config::AgentConfig;
use printwatch_protocol::message::{Heartbeat, PushedConfig, SweepSummary};
use printwatch_snapshot::Snapshot;
use printwatch_snmp::{Credentials, SnmpEngine, SnmpOptions};
use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, watch};

use crate::channel::{Apply, Channel, ChannelTask, Ended, Outcome};
use crate::scan::{self, ScanOptions, ScanProgress, ScanReport};
use crate::schedule::{Schedule, Task};
use crate::settings::Settings;
use crate::spool::{RecordId, RecordMeta, Spool, SpoolLimits};
use crate::state::{StateDir, StateError, Status};
use crate::uplink::{
    Answer, HeartbeatOutcome, PendingRecord, Refusal, SubmissionOutcome, Uplink, machine,
};

/// The path of the server's one agent endpoint for envelopes.
pub const SUBMIT_PATH: &str = "/agent/v1/submit";
/// Largest answer read from the server.
const MAX_ANSWER: usize = 1024 * 1024;
/// Devices collected at the same time.
const COLLECT_CONCURRENCY: usize = 32;
/// Readings spooled together (one fsync).
const COLLECT_CHUNK: usize = 100;

/// The connection to the server, as the daemon needs it: the real one is
/// `crate::transport::Transport`; tests may put a failing one in between.
pub trait Link: Send + Sync + 'static {
    fn post<'a>(
        &'a self,
        path: &'a str,
        content_type: &'a str,
        body: Vec<u8>,
        max_body: usize,
    ) -> BoxFuture<'a, Result<(u16, Vec<u8>), String>>;

    /// A WebSocket to `path` on this link's own connection path (the
    /// command channel). A link without one refuses: long-polling then.
    fn websocket<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<crate::websocket::ChannelIo, crate::websocket::WsError>> {
        let _ = path;
        Box::pin(async {
            Err(crate::websocket::WsError::Refused(
                "this link has no WebSocket".into(),
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the spool: {0}")]
    Spool(#[from] crate::spool::SpoolError),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Protocol(#[from] printwatch_protocol::ProtocolError),
}

pub struct DaemonOptions {
    pub state: PathBuf,
    /// The configuration file's (validated); a pushed one overrides it.
    pub config: AgentConfig,
    /// `--trace-uploads FILE`: what each envelope carries, before sealing.
    pub trace_uploads: Option<PathBuf>,
    pub profiles: Arc<ProfileSet>,
    pub link: Arc<dyn Link>,
    /// Set to true to stop (SIGTERM, Ctrl-C).
    pub shutdown: watch::Receiver<bool>,
}

/// How the daemon ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Asked to stop.
    Shutdown,
    /// The server refused the agent; it stopped sending.
    Refused(Refusal),
}

enum Event {
    Swept(Box<ScanReport>, SweepSummary, Vec<Credentials>),
    /// Readings of a collection in progress; the last says how many
    /// devices failed.
    Collected(Vec<Snapshot>, Option<usize>),
    Pushed(PushedConfig),
    Refused(Refusal),
}

/// A device the agent knows, and how to reach it.
#[derive(Clone, Debug)]
struct Known {
    address: SocketAddr,
    credentials: Credentials,
}

pub async fn run(options: DaemonOptions) -> Result<Stopped, DaemonError> {
    let state = StateDir::create(&options.state)?;
    let _lock = state.lock()?;
    if state.uplink_state()?.refused == Some(Refusal::Deactivated) {
        // The key was erased by the server's command: nothing to run with.
        return Ok(Stopped::Refused(Refusal::Deactivated));
    }
    let (identity, key) = state.require_identity()?;
    let channel_key = key.clone();
    let mut pushed = state.pushed_config()?;
    let mut settings = match &pushed {
        Some(p) => match Settings::from_config(&options.config.overridden_by(&p.config)) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    "the configuration pushed before does not apply ({e}); using the file's"
                );
                pushed = None;
                Settings::from_config(&options.config).map_err(DaemonError::Config)?
            }
        },
        None => Settings::from_config(&options.config).map_err(DaemonError::Config)?,
    };
    let (spool, report) = Spool::open(
        &state.spool_dir(),
        SpoolLimits::with_max_bytes(settings.spool_max_bytes),
    )?;
    if !report.is_clean() {
        tracing::warn!(
            ?report,
            "the spool recovered from a crash or damage; see the report"
        );
    }
    let spool = Arc::new(Mutex::new(spool));
    let started = Instant::now();
    let status = Arc::new(Mutex::new(Status {
        pid: std::process::id(),
        running: true,
        started_at: rfc3339(SystemTime::now()),
        config_version: pushed.as_ref().map_or(0, |p| p.version),
        ..Status::default()
    }));
    let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
    let wake = Arc::new(Notify::new());
    let heartbeat_now = Arc::new(Notify::new());

    let mut uplink_state = state.uplink_state()?;
    if let Some(refusal) = uplink_state.refused.take() {
        tracing::info!("the server refused this agent before ({refusal:?}); trying once more");
    }
    let uplink = Uplink::new(
        identity.agent_id,
        key,
        uplink_state,
        state.acked()?,
        state.inflight()?,
        settings.full_every,
    );
    let sender = UplinkTask {
        uplink,
        state: StateDir::existing(state.path()),
        spool: spool.clone(),
        link: options.link.clone(),
        status: status.clone(),
        events: events_tx.clone(),
        wake: wake.clone(),
        heartbeat_now: heartbeat_now.clone(),
        trace: options.trace_uploads.clone(),
        started,
        heartbeat_every: settings.intervals.heartbeat,
        agent_id: identity.agent_id,
    };
    let mut sender = tokio::spawn(sender.run());
    let mut sender_running = true;

    let (apply_tx, mut applies) = mpsc::unbounded_channel::<Apply>();
    let channel = ChannelTask {
        machine: Channel::new(state.channel_state()?),
        state: StateDir::existing(state.path()),
        link: options.link.clone(),
        key: channel_key,
        agent_id: identity.agent_id,
        apply: apply_tx,
        shutdown: options.shutdown.clone(),
        status: Some(status.clone()),
    };
    let mut channel = tokio::spawn(channel.run());
    let mut channel_running = true;

    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
    let clock = Instant::now();
    let now_ms = || u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    let mut schedule = Schedule::new(settings.intervals, now_ms(), &mut rng);
    let engine = Arc::new(SnmpEngine::new(Some(state.path().to_owned())));
    let mut known: HashMap<String, Known> = HashMap::new();
    let mut shutdown = options.shutdown.clone();
    let (stop_scan_tx, stop_scan) = watch::channel(false);
    write_status(&state, &status, &spool);
    if settings.ranges.is_empty() {
        tracing::warn!(
            "no scan.ranges configured: nothing to discover until a configuration gives some"
        );
    }

    let stopped = loop {
        for task in schedule.due(now_ms()) {
            match task {
                Task::Sweep => {
                    if settings.ranges.is_empty() {
                        schedule.finished(Task::Sweep, now_ms(), &mut rng);
                        continue;
                    }
                    tokio::spawn(sweep(
                        settings.clone(),
                        options.profiles.clone(),
                        events_tx.clone(),
                        stop_scan.clone(),
                    ));
                }
                Task::Collect => {
                    tokio::spawn(collect_known(
                        known.values().cloned().collect(),
                        engine.clone(),
                        options.profiles.clone(),
                        events_tx.clone(),
                    ));
                }
                Task::Heartbeat => {
                    heartbeat_now.notify_one();
                    schedule.finished(Task::Heartbeat, now_ms(), &mut rng);
                }
            }
        }
        let next = schedule.next_due();
        let sleep = Duration::from_millis(next.saturating_sub(now_ms()).min(3_600_000));
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            _ = shutdown.wait_for(|s| *s) => break Stopped::Shutdown,
            done = &mut sender, if sender_running => {
                // The uplink task ends only on a refusal (or a bug).
                break match done {
                    Ok(Some(refusal)) => Stopped::Refused(refusal),
                    _ => Stopped::Shutdown,
                };
            }
            ended = &mut channel, if channel_running => {
                channel_running = false;
                match ended {
                    Ok(Ended::Deactivated) => break Stopped::Refused(Refusal::Deactivated),
                    Ok(Ended::Closed) => {}
                    Err(e) => tracing::error!("the command channel stopped: {e}"),
                }
            }
            Some(apply) = applies.recv() => {
                let Apply { id, command, done } = apply;
                tracing::debug!(command = id, kind = command.kind(), "applying a command");
                let outcome = match command {
                    Command::ScanNow => {
                        if settings.ranges.is_empty() {
                            Outcome::failed("no scan.ranges configured: nothing to sweep")
                        } else if schedule.run_now(Task::Sweep, now_ms()) {
                            Outcome::ok("a discovery sweep started")
                        } else {
                            Outcome::ok("a discovery sweep is running already")
                        }
                    }
                    Command::CollectNow { target } => {
                        // Answered by the collection itself.
                        let candidates = credentials_for(&target, &known, &settings);
                        tokio::spawn(collect_now(
                            target,
                            settings.port,
                            candidates,
                            engine.clone(),
                            options.profiles.clone(),
                            events_tx.clone(),
                            done,
                        ));
                        continue;
                    }
                    Command::Configure(pushed) => {
                        let version = pushed.version;
                        match apply_push(&state, &status, &options.config, *pushed, &mut settings, &mut schedule, now_ms(), &mut rng) {
                            Ok(()) => Outcome::ok(format!("configuration version {version} in force")),
                            Err(e) => Outcome::failed(e),
                        }
                    }
                    Command::Deactivate => {
                        // Stop sending first, then the refusal (for every
                        // later start), then the key.
                        sender.abort();
                        sender_running = false;
                        match deactivate(&state, &status) {
                            Ok(()) => Outcome { ok: true, detail: "key erased; the agent stopped sending".into(), stop: true },
                            Err(e) => Outcome { ok: false, detail: format!("the key could not be erased: {e}"), stop: true },
                        }
                    }
                    other => Outcome::failed(format!(
                        "this agent (version {}) cannot do the command {:?}: update it",
                        env!("CARGO_PKG_VERSION"),
                        other.kind()
                    )),
                };
                let _ = done.send(outcome);
                write_status(&state, &status, &spool);
            }
            Some(event) = events.recv() => match event {
                Event::Swept(report, summary, credentials) => {
                    let mut readings = Vec::with_capacity(report.devices.len());
                    for found in report.devices {
                        let Some(address) = found
                            .snapshot
                            .addresses
                            .iter()
                            .filter_map(|a| a.parse::<IpAddr>().ok())
                            .min()
                        else {
                            continue;
                        };
                        let key = device_key(&found.snapshot);
                        if let Some(credentials) = credentials.get(found.credential) {
                            known.insert(key, Known {
                                address: SocketAddr::new(address, settings.port),
                                credentials: credentials.clone(),
                            });
                        }
                        readings.push(found.snapshot);
                    }
                    spool_readings(&spool, &status, readings, &wake);
                    {
                        let mut s = lock(&status);
                        s.devices = known.len() as u64;
                        s.last_sweep = Some(summary);
                    }
                    schedule.finished(Task::Sweep, now_ms(), &mut rng);
                    write_status(&state, &status, &spool);
                }
                Event::Collected(readings, done) => {
                    spool_readings(&spool, &status, readings, &wake);
                    // The last event of a collection says how many failed.
                    if let Some(failed) = done {
                        if failed > 0 {
                            tracing::info!(failed, "devices did not answer their collection; the next sweep looks for them");
                        }
                        schedule.finished(Task::Collect, now_ms(), &mut rng);
                        write_status(&state, &status, &spool);
                    }
                }
                Event::Pushed(config) => {
                    let _ = apply_push(&state, &status, &options.config, config, &mut settings, &mut schedule, now_ms(), &mut rng);
                    write_status(&state, &status, &spool);
                }
                Event::Refused(refusal) => break Stopped::Refused(refusal),
            }
        }
    };
    let _ = stop_scan_tx.send(true);
    sender.abort();
    channel.abort();
    lock(&status).running = false;
    write_status(&state, &status, &spool);
    Ok(stopped)
}

/// Applies a configuration pushed by the server (in a heartbeat's receipt
/// or a `configure` command): checked first (a bad one is refused, the one
/// in force stays, the next heartbeat says why), then persisted, then in
/// force without a restart.
#[allow(clippy::too_many_arguments)]
fn apply_push<R: Rng>(
    state: &StateDir,
    status: &Mutex<Status>,
    file: &AgentConfig,
    pushed: PushedConfig,
    settings: &mut Settings,
    schedule: &mut Schedule,
    now: u64,
    rng: &mut R,
) -> Result<(), String> {
    let merged = file.overridden_by(&pushed.config);
    match Settings::from_config(&merged) {
        Ok(new) => {
            if let Err(e) = state.save_pushed_config(&pushed) {
                tracing::warn!("cannot keep the pushed configuration: {e}");
                lock(status).config_error = Some(format!("cannot store it: {e}"));
                return Err(format!("cannot store it: {e}"));
            }
            schedule.set_intervals(new.intervals, now, rng);
            *settings = new;
            let mut s = lock(status);
            s.config_version = pushed.version;
            s.config_error = None;
            tracing::info!(
                version = pushed.version,
                "configuration pushed by the server applied"
            );
            Ok(())
        }
        Err(e) => {
            tracing::warn!(
                version = pushed.version,
                "configuration pushed by the server refused: {e}"
            );
            let why = format!("version {}: {e}", pushed.version);
            lock(status).config_error = Some(why.clone());
            Err(why)
        }
    }
}

/// The `deactivate` command: the refusal written (every later start ends
/// at once with it), then the key erased.
fn deactivate(state: &StateDir, status: &Mutex<Status>) -> Result<(), DaemonError> {
    let mut uplink = state.uplink_state()?;
    uplink.refused = Some(Refusal::Deactivated);
    state.save_uplink_state(&uplink)?;
    state.erase_key()?;
    lock(status).last_error = Some(Refusal::Deactivated.explain().to_owned());
    tracing::warn!("{}", Refusal::Deactivated.explain());
    Ok(())
}

/// Credential sets to try for `collect_now`: the known device's at that
/// address first, then the configured ones in order.
fn credentials_for(
    target: &str,
    known: &HashMap<String, Known>,
    settings: &Settings,
) -> Vec<Credentials> {
    let mut out: Vec<Credentials> = known
        .values()
        .filter(|k| target == k.address.to_string() || target == k.address.ip().to_string())
        .map(|k| k.credentials.clone())
        .collect();
    out.extend(settings.credentials.iter().cloned());
    out
}

/// `HOST`, `HOST:PORT` or `[IPv6]:PORT` (port 161 by default: the
/// configured `scan.port`).
async fn resolve_target(target: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(address) = target.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = target.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if target
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        target.to_owned()
    } else {
        format!("{target}:{default_port}")
    };
    tokio::net::lookup_host(with_port)
        .await
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))
}

/// The `collect_now` command: one device, with the first credential set
/// that answers; the reading is spooled like any other.
async fn collect_now(
    target: String,
    default_port: u16,
    credentials: Vec<Credentials>,
    engine: Arc<SnmpEngine>,
    profiles: Arc<ProfileSet>,
    events: mpsc::UnboundedSender<Event>,
    done: tokio::sync::oneshot::Sender<Outcome>,
) {
    let outcome = async {
        let address = resolve_target(&target, default_port).await?;
        let options = SnmpOptions::default();
        let mut last = String::from("no credential set to try");
        for creds in &credentials {
            let session = match engine.session(address, creds, &options).await {
                Ok(s) => s,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match collect(&session, &address.to_string(), &profiles).await {
                Ok(mut snapshot) => {
                    snapshot.addresses = vec![address.ip().to_string()];
                    let what = snapshot.identity().unwrap_or_else(|| address.to_string());
                    let _ = events.send(Event::Collected(vec![snapshot], None));
                    return Ok(format!("collected {what}"));
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(format!("{target}: {last}"))
    }
    .await;
    let _ = done.send(match outcome {
        Ok(detail) => Outcome::ok(detail),
        Err(detail) => Outcome::failed(detail),
    });
}

async fn sweep(
    settings: Settings,
    profiles: Arc<ProfileSet>,
    events: mpsc::UnboundedSender<Event>,
    stop: watch::Receiver<bool>,
) {
    let started_at = rfc3339(SystemTime::now());
    let started = Instant::now();
    let addresses = match scan::targets::expand(&settings.ranges, &settings.exclude).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!("the sweep cannot expand its ranges: {e}");
            Vec::new()
        }
    };
    let options = ScanOptions {
        port: settings.port,
        rate: settings.rate,
        credentials: settings.credentials.clone(),
        ..ScanOptions::default()
    };
    let count = addresses.len() as u64;
    let report = scan::scan(
        addresses,
        options,
        profiles,
        Arc::new(ScanProgress::default()),
        stop,
    )
    .await;
    let failures = report
        .failures
        .values()
        .filter(|f| matches!(f, scan::Failure::Collection(_)))
        .count() as u64;
    let summary = SweepSummary {
        started_at,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        addresses: count,
        printers: report.devices.len() as u64,
        failures,
    };
    tracing::info!(printers = summary.printers, addresses = count, "sweep done");
    let _ = events.send(Event::Swept(
        Box::new(report),
        summary,
        settings.credentials,
    ));
}

async fn collect_known(
    devices: Vec<Known>,
    engine: Arc<SnmpEngine>,
    profiles: Arc<ProfileSet>,
    events: mpsc::UnboundedSender<Event>,
) {
    let options = SnmpOptions::default();
    // Spooled a hundred at a time: thousands of snapshots are never held
    // at once.
    let mut chunks = futures::stream::iter(devices)
        .map(|device| {
            let (engine, profiles, options) = (engine.clone(), profiles.clone(), options.clone());
            async move {
                let target = device.address.to_string();
                let session = engine
                    .session(device.address, &device.credentials, &options)
                    .await
                    .ok()?;
                let mut snapshot = collect(&session, &target, &profiles).await.ok()?;
                snapshot.addresses = vec![device.address.ip().to_string()];
                Some(snapshot)
            }
        })
        .buffer_unordered(COLLECT_CONCURRENCY)
        .chunks(COLLECT_CHUNK);
    let mut failed = 0;
    while let Some(results) = chunks.next().await {
        failed += results.iter().filter(|r| r.is_none()).count();
        let readings = results.into_iter().flatten().collect();
        let _ = events.send(Event::Collected(readings, None));
    }
    let _ = events.send(Event::Collected(Vec::new(), Some(failed)));
}

/// Readings into the spool, durable before they count.
fn spool_readings(
    spool: &Mutex<Spool>,
    status: &Mutex<Status>,
    readings: Vec<Snapshot>,
    wake: &Notify,
) {
    if readings.is_empty() {
        return;
    }
    let mut records = Vec::with_capacity(readings.len());
    for snapshot in readings {
        match machine::compress(&snapshot) {
            Ok(bytes) => records.push((
                RecordMeta {
                    device: device_hash(&snapshot),
                    collected_at: unix(&snapshot.collected_at),
                },
                bytes,
            )),
            Err(e) => tracing::warn!("a reading could not be encoded: {e}"),
        }
    }
    let refs: Vec<(RecordMeta, &[u8])> = records.iter().map(|(m, b)| (*m, b.as_slice())).collect();
    let outcome = lock(spool).append(&refs);
    match outcome {
        Ok(outcome) => {
            if outcome.refused > 0 {
                tracing::warn!(
                    refused = outcome.refused,
                    "the spool is full of readings it must keep: new readings refused until the server takes some"
                );
            }
            let mut s = lock(status);
            s.collections += (records.len() - outcome.refused) as u64;
            drop(s);
            wake.notify_one();
        }
        Err(e) => {
            tracing::error!("readings not spooled: {e}");
            lock(status).last_error = Some(format!("spool: {e}"));
        }
    }
}

struct UplinkTask {
    uplink: Uplink,
    state: StateDir,
    spool: Arc<Mutex<Spool>>,
    link: Arc<dyn Link>,
    status: Arc<Mutex<Status>>,
    events: mpsc::UnboundedSender<Event>,
    wake: Arc<Notify>,
    heartbeat_now: Arc<Notify>,
    trace: Option<PathBuf>,
    started: Instant,
    heartbeat_every: Duration,
    agent_id: AgentId,
}

impl UplinkTask {
    /// Runs until the server refuses the agent (returned).
    async fn run(mut self) -> Option<Refusal> {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
        let mut heartbeat_due = false;
        loop {
            if heartbeat_due {
                heartbeat_due = false;
                if let Some(refusal) = self.heartbeat(&mut rng).await {
                    return Some(refusal);
                }
            }
            match self.send_one(&mut rng).await {
                Step::Sent => continue,
                Step::Refused(r) => return Some(r),
                Step::Idle => {
                    tokio::select! {
                        () = self.wake.notified() => {}
                        () = self.heartbeat_now.notified() => heartbeat_due = true,
                    }
                }
                Step::Wait(after) => {
                    tokio::select! {
                        () = tokio::time::sleep(after) => {}
                        () = self.heartbeat_now.notified() => heartbeat_due = true,
                    }
                }
            }
        }
    }

    /// Sends the envelope in flight, or seals the next one from the spool.
    async fn send_one(&mut self, rng: &mut rand::rngs::StdRng) -> Step {
        if self.uplink.inflight().is_none() {
            // Sealing compresses hard (zstd 19): off the async workers.
            match tokio::task::block_in_place(|| self.seal_next(rng)) {
                Ok(true) => {}
                Ok(false) => return Step::Idle,
                Err(e) => {
                    tracing::error!("cannot prepare the next envelope: {e}");
                    self.note_error(e.to_string());
                    return Step::Wait(Duration::from_secs(30));
                }
            }
        }
        let Some(sealed) = self.uplink.inflight().map(|i| i.sealed.clone()) else {
            return Step::Idle;
        };
        let answer = self.post(sealed).await;
        let now = unix_now();
        let outcome = self.uplink.on_submission_answer(answer, now, rng.r#gen());
        match outcome {
            SubmissionOutcome::Acked {
                through,
                resend,
                records,
            } => {
                if let Err(e) = self.acknowledge(through, &resend) {
                    tracing::error!("cannot record the server's acknowledgement: {e}");
                    self.note_error(e.to_string());
                    return Step::Wait(Duration::from_secs(30));
                }
                tracing::debug!(records, seq = self.uplink.state().last_acked, "delivered");
                let mut s = lock(&self.status);
                s.last_error = None;
                drop(s);
                write_status(&self.state, &self.status, &self.spool);
                Step::Sent
            }
            SubmissionOutcome::Resealed => {
                let saved = self
                    .state
                    .remove_inflight()
                    .and_then(|()| self.state.save_uplink_state(self.uplink.state()))
                    .and_then(|()| self.state.save_acked(self.uplink.acked()));
                if let Err(e) = saved {
                    self.note_error(e.to_string());
                    return Step::Wait(Duration::from_secs(30));
                }
                Step::Sent
            }
            SubmissionOutcome::Retry { after, why } => {
                tracing::warn!(
                    "the server did not take the envelope ({why}); next try in {after:?}"
                );
                self.note_error(why);
                let _ = self.state.save_uplink_state(self.uplink.state());
                Step::Wait(after)
            }
            SubmissionOutcome::Refused(refusal) => self.refused(refusal),
        }
    }

    fn refused(&mut self, refusal: Refusal) -> Step {
        tracing::error!("the server refused this agent: {}", refusal.explain());
        let _ = self.state.save_uplink_state(self.uplink.state());
        self.note_error(refusal.explain().to_owned());
        Step::Refused(refusal)
    }

    /// Seals the oldest spool records; false when the spool is empty.
    fn seal_next(&mut self, rng: &mut rand::rngs::StdRng) -> Result<bool, DaemonError> {
        let records =
            lock(&self.spool).peek(self.uplink.batch_records(), machine::MAX_BATCH_JSON)?;
        let Some(last) = records.last().map(|r| r.id) else {
            return Ok(false);
        };
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            match machine::decompress(&record.payload) {
                Ok(snapshot) => pending.push(PendingRecord {
                    id: record.id.0,
                    snapshot,
                }),
                Err(e) => tracing::warn!(
                    record = record.id.0,
                    "an unreadable reading is skipped: {e}"
                ),
            }
        }
        if pending.is_empty() {
            // Nothing readable in this stretch: it can only be dropped.
            lock(&self.spool).ack(last)?;
            return Ok(true);
        }
        let now = unix_now();
        self.uplink.set_trace(self.trace.is_some());
        let sent_at = rfc3339(SystemTime::now());
        self.uplink.seal_batch(&pending, now, &sent_at, rng)?;
        self.write_trace("submission");
        if let Some(inflight) = self.uplink.inflight() {
            // Durable before the first send (see the module's crash points).
            self.state.save_inflight(inflight)?;
        }
        Ok(true)
    }

    /// The receipt's consequences, in the order of the crash points.
    fn acknowledge(&mut self, through: u64, resend: &[u64]) -> Result<(), DaemonError> {
        if !resend.is_empty() {
            let mut spool = lock(&self.spool);
            // The envelope carried the spool's oldest records, at most a
            // batch of them.
            let records = spool.peek(machine::MAX_BATCH_RECORDS, usize::MAX)?;
            let again: Vec<(RecordMeta, Vec<u8>)> = records
                .into_iter()
                .filter(|r| resend.contains(&r.id.0))
                .map(|r| (r.meta, r.payload))
                .collect();
            let refs: Vec<(RecordMeta, &[u8])> =
                again.iter().map(|(m, b)| (*m, b.as_slice())).collect();
            spool.append(&refs)?;
            tracing::info!(
                readings = again.len(),
                "the server asked for full snapshots; readings spooled again"
            );
        }
        self.state.save_acked(self.uplink.acked())?;
        self.state.save_uplink_state(self.uplink.state())?;
        lock(&self.spool).ack(RecordId(through))?;
        self.state.remove_inflight()?;
        Ok(())
    }

    async fn heartbeat(&mut self, rng: &mut rand::rngs::StdRng) -> Option<Refusal> {
        let (spool_records, spool_bytes) = {
            let stats = lock(&self.spool).stats();
            (stats.records, stats.bytes)
        };
        let s = lock(&self.status).clone();
        let heartbeat = Heartbeat {
            agent_version: env!("CARGO_PKG_VERSION").into(),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            hostname: hostname(),
            sent_at: rfc3339(SystemTime::now()),
            heartbeat_every_secs: self.heartbeat_every.as_secs(),
            uptime_secs: self.started.elapsed().as_secs(),
            spool_records,
            spool_bytes,
            devices: s.devices,
            last_sweep: s.last_sweep,
            config_version: s.config_version,
            config_error: s.config_error,
        };
        if self.trace.is_some() {
            self.trace_line(
                "heartbeat",
                self.uplink.state().heartbeat_seq + 1,
                &heartbeat,
            );
        }
        let sealed = match self.uplink.seal_heartbeat(heartbeat, rng) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::error!("cannot seal a heartbeat: {e}");
                return None;
            }
        };
        if let Err(e) = self.state.save_uplink_state(self.uplink.state()) {
            tracing::error!("cannot persist the heartbeat's number: {e}");
            return None;
        }
        let answer = self.post(sealed.clone()).await;
        match self.uplink.on_heartbeat_answer(&sealed, answer, unix_now()) {
            HeartbeatOutcome::Delivered {
                config,
                clock_error,
            } => {
                lock(&self.status).clock_error = clock_error;
                if clock_error.is_some_and(|e| e.abs() > 300) {
                    tracing::warn!(
                        seconds = clock_error,
                        "this computer's clock is off by more than five minutes from the server's"
                    );
                }
                let _ = self.state.save_uplink_state(self.uplink.state());
                if let Some(config) = config {
                    let _ = self.events.send(Event::Pushed(*config));
                }
                write_status(&self.state, &self.status, &self.spool);
                None
            }
            HeartbeatOutcome::Retry { why } => {
                tracing::warn!("heartbeat not delivered: {why}");
                self.note_error(why);
                None
            }
            HeartbeatOutcome::Refused(refusal) => {
                let _ = self.refused(refusal.clone());
                let _ = self.events.send(Event::Refused(refusal.clone()));
                Some(refusal)
            }
        }
    }

    async fn post(&self, body: Vec<u8>) -> Answer {
        match self
            .link
            .post(SUBMIT_PATH, "application/octet-stream", body, MAX_ANSWER)
            .await
        {
            Ok((status, body)) => Answer::Http { status, body },
            Err(why) => Answer::Unreachable(why),
        }
    }

    fn note_error(&self, why: String) {
        lock(&self.status).last_error = Some(why);
        write_status(&self.state, &self.status, &self.spool);
    }

    fn write_trace(&mut self, kind: &str) {
        if let (Some(message), Some(seq)) = (
            self.uplink.take_traced(),
            self.uplink.inflight().map(|i| i.seq),
        ) {
            self.trace_line(kind, seq, &message);
        }
    }

    /// One JSON line per envelope, exactly what it carries before sealing.
    fn trace_line<T: serde::Serialize>(&self, kind: &str, seq: u64, message: &T) {
        let Some(path) = &self.trace else { return };
        let line = serde_json::json!({
            "agent_id": self.agent_id,
            "kind": kind,
            "seq": seq,
            "at": rfc3339(SystemTime::now()),
            "message": message,
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "cannot write the upload trace: {e}");
        }
    }
}

enum Step {
    Sent,
    Idle,
    Wait(Duration),
    Refused(Refusal),
}

fn write_status(state: &StateDir, status: &Mutex<Status>, spool: &Mutex<Spool>) {
    let stats = lock(spool).stats();
    let mut s = lock(status);
    s.spool_records = stats.records;
    s.spool_bytes = stats.bytes;
    s.updated_at = rfc3339(SystemTime::now());
    let snapshot = s.clone();
    drop(s);
    if let Err(e) = state.save_status(&snapshot) {
        tracing::debug!("cannot write the status file: {e}");
    }
}

/// A poisoned lock still holds consistent data here (every update is one
/// assignment): take it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn device_key(snapshot: &Snapshot) -> String {
    snapshot
        .identity()
        .unwrap_or_else(|| format!("address:{}", snapshot.target))
}

fn device_hash(snapshot: &Snapshot) -> u64 {
    let hash = Sha256::digest(device_key(snapshot).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(bytes)
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// When a reading was collected; now if its time does not read.
fn unix(text: &str) -> i64 {
    machine::unix_seconds(text).unwrap_or_else(unix_now)
}

pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}
