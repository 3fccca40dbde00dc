//! The uplink as a state machine, sans-IO: it decides what to seal and
//! send, and what an answer means; the daemon (`crate::daemon`) does the
//! disk and the network. No sockets, no clock, no randomness of its own:
//! time and random numbers come in as arguments, so every case below is a
//! plain unit test.
//!
//! ## Sequence numbers and exactly once
//! Submissions carry the spool's records in order. Each envelope is sealed
//! under the next sequence number, and persisted with that number (the
//! daemon writes [`Inflight`] durably) *before* it is sent. Until its
//! receipt arrives, the same bytes are sent again and again: the server
//! applies a sequence number once and answers the last one again with
//! "already applied", which acknowledges it just as well. Only then are the
//! spool's records deleted. Envelopes go strictly one at a time, in order.
//! Heartbeats count in a sequence of their own: one can never make a
//! pending submission stale.
//!
//! ## Deltas
//! A device is sent as the change since the last state the server
//! acknowledged for it ([`Acked`]), so the base of a delta is always the
//! state the server holds when the delta arrives. A full snapshot goes when
//! the device is new, every `full_every`, and when the server asks for one
//! (its receipt's `resync`): the readings of those devices are then given
//! back to the daemon to spool again, so nothing is lost.
//!
//! ## Answers
//! Only a receipt sealed with the agent's key, for this very envelope
//! ([`envelope::open_receipt`]), acknowledges anything. A 401 (the server
//! does not know this agent's key), a 403 (revoked or expired) or an
//! authentic-looking answer sealed with another key ends the sending:
//! [`Refusal`], kept in the state so `status` can say why. Anything else
//! (no connection, 5xx, 429, an answer that is not a printwatch envelope)
//! is retried with exponential backoff and jitter.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use printwatch_protocol::delta;
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::message::{
    AgentMessage, DeviceReport, Heartbeat, PushedConfig, Receipt, ReceiptStatus, Submission,
};
use printwatch_protocol::{AgentId, AgentKey, ProtocolError};
use printwatch_snapshot::Snapshot;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

/// What the uplink keeps across restarts besides the acknowledged states
/// and the envelope in flight (`uplink.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkState {
    /// The last sequence number a submission was sealed under.
    pub last_sealed: u64,
    /// The last sequence number the server acknowledged (receipt).
    pub last_acked: u64,
    /// The last sequence number a heartbeat was sealed under.
    pub heartbeat_seq: u64,
    /// When the server last answered with a receipt (Unix seconds).
    pub last_contact: Option<i64>,
    /// The server refused this agent: sending stopped.
    pub refused: Option<Refusal>,
}

/// Why the server will not take this agent's envelopes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// 403: the administrator revoked the agent.
    Revoked,
    /// 403: the agent's credentials expired.
    Expired,
    /// 401: the server does not know this agent's key (another server, or
    /// the agent was deleted there).
    UnknownAgent,
    /// The answer was sealed, but not with this agent's key: another server.
    WrongServerKey,
    /// The server's `deactivate` command: the key is erased.
    Deactivated,
}

impl Refusal {
    pub fn explain(&self) -> &'static str {
        match self {
            Refusal::Revoked => {
                "the server revoked this agent: activate it again with a new code (printwatch agent activate --force)"
            }
            Refusal::Expired => {
                "this agent's credentials expired on the server: ask for a new activation code and run printwatch agent activate --force"
            }
            Refusal::UnknownAgent => {
                "the server does not know this agent's key: it was revoked or deleted there, or this is another server; check the server URL, or activate again with a new code"
            }
            Refusal::WrongServerKey => {
                "the server's answers are not sealed with this agent's key: this is not the server the agent was activated with; check the server URL"
            }
            Refusal::Deactivated => {
                "the server deactivated this agent (its key is erased): activate it again with a new code (printwatch agent activate --force)"
            }
        }
    }
}

/// The last state the server acknowledged for one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckedDevice {
    /// `delta::digest` of the snapshot.
    pub digest: String,
    /// The snapshot, zstd-compressed JSON (kept small in memory).
    #[serde(with = "b64")]
    pub snapshot: Vec<u8>,
    /// When the device was last sent in full (Unix seconds).
    pub full_at: i64,
}

/// The acknowledged state of every device, by identity (`acked.zst`).
pub type Acked = HashMap<String, AckedDevice>;

/// An envelope sealed and not yet acknowledged (`inflight.json`): written
/// durably before the first send, deleted after its receipt was applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inflight {
    pub seq: u64,
    /// The last spool record it carries: acknowledged, the spool drops
    /// everything up to it.
    pub through: u64,
    /// Records it carries.
    pub records: u64,
    #[serde(with = "b64")]
    pub sealed: Vec<u8>,
    /// What the acknowledged states become once it is acknowledged.
    pub updates: BTreeMap<String, AckedDevice>,
    /// The readings of each device it carries (for a resync), in order.
    pub readings: BTreeMap<String, Vec<u64>>,
}

/// One spool record, read back.
#[derive(Clone, Debug)]
pub struct PendingRecord {
    pub id: u64,
    pub snapshot: Snapshot,
}

/// How the server answered one request, as the daemon saw it.
#[derive(Clone, Debug)]
pub enum Answer {
    /// An HTTP answer: status and body.
    Http { status: u16, body: Vec<u8> },
    /// No answer: connection refused, DNS, TLS, timeout, proxy.
    Unreachable(String),
}

/// What the daemon does after an answer to a submission.
#[derive(Debug, PartialEq)]
pub enum SubmissionOutcome {
    /// Acknowledged: persist the new acknowledged states, spool again the
    /// readings of `resend` (their delta did not apply: they go in full
    /// next time), then drop spool records up to `through`, then forget
    /// the in-flight envelope — in this order (see the daemon's crash
    /// points).
    Acked {
        through: u64,
        resend: Vec<u64>,
        records: u64,
    },
    /// The server had applied a later envelope under a higher number (a
    /// state directory restored from a backup): the envelope was dropped
    /// unsent; build it again.
    Resealed,
    /// Try again after this long.
    Retry { after: Duration, why: String },
    /// The server refused the agent: stop sending.
    Refused(Refusal),
}

/// What the daemon does after an answer to a heartbeat.
#[derive(Debug, PartialEq)]
pub enum HeartbeatOutcome {
    Delivered {
        /// A configuration pushed by the server, to apply and persist.
        config: Option<Box<PushedConfig>>,
        /// The agent's clock minus the server's, in seconds.
        clock_error: Option<i64>,
    },
    Retry {
        why: String,
    },
    Refused(Refusal),
}

/// Upper bound of a submission's plaintext (JSON). It bounds the agent's
/// memory more than the wire: zstd at level 19 takes about 20 times its
/// input for its tables (33 MB for 1.5 MB of JSON, 5 MB for 250 KB).
/// 500 deltas fit; full snapshots go some 80 to an envelope.
pub const MAX_BATCH_JSON: usize = 256 * 1024;
/// Records per envelope at most.
pub const MAX_BATCH_RECORDS: usize = 500;
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

pub struct Uplink {
    agent_id: AgentId,
    key: AgentKey,
    state: UplinkState,
    acked: Acked,
    inflight: Option<Inflight>,
    full_every: i64,
    failures: u32,
    /// Records per envelope: halved when the server finds one too large.
    batch_records: usize,
    /// Keep the plaintext of what is sealed (`--trace-uploads`).
    trace: bool,
    traced: Option<AgentMessage>,
}

impl Uplink {
    pub fn new(
        agent_id: AgentId,
        key: AgentKey,
        state: UplinkState,
        acked: Acked,
        inflight: Option<Inflight>,
        full_every: Duration,
    ) -> Uplink {
        Uplink {
            agent_id,
            key,
            state,
            acked,
            inflight,
            full_every: i64::try_from(full_every.as_secs()).unwrap_or(i64::MAX),
            failures: 0,
            batch_records: MAX_BATCH_RECORDS,
            trace: false,
            traced: None,
        }
    }

    pub fn state(&self) -> &UplinkState {
        &self.state
    }

    pub fn acked(&self) -> &Acked {
        &self.acked
    }

    pub fn inflight(&self) -> Option<&Inflight> {
        self.inflight.as_ref()
    }

    pub fn set_full_every(&mut self, every: Duration) {
        self.full_every = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
    }

    /// Keep what the next envelopes carry, for [`Uplink::take_traced`].
    pub fn set_trace(&mut self, on: bool) {
        self.trace = on;
    }

    /// The plaintext of the last submission sealed (when tracing).
    pub fn take_traced(&mut self) -> Option<AgentMessage> {
        self.traced.take()
    }

    /// How many records the next envelope may carry.
    pub fn batch_records(&self) -> usize {
        self.batch_records
    }

    /// A refused agent sends nothing more until it is started again.
    pub fn refused(&self) -> Option<&Refusal> {
        self.state.refused.as_ref()
    }

    /// Seal the oldest spool records (in order) into the next envelope.
    /// The caller persists [`Uplink::inflight`] durably, then sends it.
    /// Records that do not fit in one envelope are left for the next.
    pub fn seal_batch<R: RngCore + CryptoRng>(
        &mut self,
        records: &[PendingRecord],
        now: i64,
        sent_at: &str,
        rng: &mut R,
    ) -> Result<Option<&Inflight>, ProtocolError> {
        if self.inflight.is_some() {
            return Ok(self.inflight.as_ref());
        }
        let Some(first) = records.first() else {
            return Ok(None);
        };
        let mut updates: BTreeMap<String, AckedDevice> = BTreeMap::new();
        let mut readings: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        let mut reports = Vec::new();
        let mut json_bytes = 0usize;
        let mut through = first.id;
        let mut count = 0u64;
        for record in records.iter().take(self.batch_records) {
            let (report, update) = self.report(&record.snapshot, &updates, now)?;
            let size = serde_json::to_vec(&report).map(|v| v.len()).unwrap_or(0);
            if count > 0 && json_bytes + size > MAX_BATCH_JSON {
                break;
            }
            json_bytes += size;
            if let Some((identity, update)) = update {
                readings
                    .entry(identity.clone())
                    .or_default()
                    .push(record.id);
                updates.insert(identity, update);
            }
            reports.push(report);
            through = record.id;
            count += 1;
        }
        let seq = self.state.last_sealed + 1;
        let message = AgentMessage::Submission(Submission {
            sent_at: sent_at.to_owned(),
            reports,
        });
        let sealed = envelope::seal(
            &self.key,
            Direction::AgentToServer,
            self.agent_id,
            seq,
            &message,
            rng,
        )?;
        self.state.last_sealed = seq;
        if self.trace {
            self.traced = Some(message);
        }
        self.inflight = Some(Inflight {
            seq,
            through,
            records: count,
            sealed,
            updates,
            readings,
        });
        Ok(self.inflight.as_ref())
    }

    /// One device's report: a delta against its acknowledged state (or
    /// against an earlier report of this batch), else in full.
    fn report(
        &self,
        snapshot: &Snapshot,
        batch: &BTreeMap<String, AckedDevice>,
        now: i64,
    ) -> Result<(DeviceReport, Option<(String, AckedDevice)>), ProtocolError> {
        let Some(identity) = snapshot.identity() else {
            // Nothing names it across collections: always in full.
            let full = DeviceReport::Full {
                snapshot: Box::new(snapshot.clone()),
            };
            return Ok((full, None));
        };
        let digest = delta::digest(snapshot)?;
        let compressed = compress(snapshot)?;
        let base = batch.get(&identity).or_else(|| self.acked.get(&identity));
        let delta = match base {
            Some(base) if now.saturating_sub(base.full_at) < self.full_every => {
                // A base that does not read back goes in full instead.
                decompress(&base.snapshot)
                    .ok()
                    .and_then(|old| delta::diff(&old, snapshot).ok())
                    .map(|delta| (base, delta))
            }
            _ => None,
        };
        Ok(match delta {
            Some((base, delta)) => (
                DeviceReport::Delta {
                    identity: identity.clone(),
                    base: base.digest.clone(),
                    delta,
                },
                Some((
                    identity,
                    AckedDevice {
                        digest,
                        snapshot: compressed,
                        full_at: base.full_at,
                    },
                )),
            ),
            None => (
                DeviceReport::Full {
                    snapshot: Box::new(snapshot.clone()),
                },
                Some((
                    identity,
                    AckedDevice {
                        digest,
                        snapshot: compressed,
                        full_at: now,
                    },
                )),
            ),
        })
    }

    /// The server's answer to the envelope in flight.
    pub fn on_submission_answer(
        &mut self,
        answer: Answer,
        now: i64,
        jitter: f64,
    ) -> SubmissionOutcome {
        let Some(inflight) = self.inflight.as_ref() else {
            return SubmissionOutcome::Retry {
                after: Duration::ZERO,
                why: "no envelope in flight".into(),
            };
        };
        let receipt = match self.receipt(&inflight.sealed, answer) {
            Ok(receipt) => receipt,
            Err(Failure::Refused(r)) => {
                self.state.refused = Some(r.clone());
                return SubmissionOutcome::Refused(r);
            }
            Err(Failure::TooLarge) if self.batch_records > 1 => {
                // Built again, smaller, under the same number: it was
                // never applied (the server refused it before opening).
                self.batch_records = (self.batch_records / 2).max(1);
                self.state.last_sealed -= 1;
                self.inflight = None;
                return SubmissionOutcome::Resealed;
            }
            Err(Failure::TooLarge) => {
                return self.retry(
                    "the server refused an envelope of one record as too large".into(),
                    jitter,
                );
            }
            Err(Failure::Transient(why)) => return self.retry(why, jitter),
        };
        self.failures = 0;
        self.state.last_contact = Some(now);
        let Some(inflight) = self.inflight.take() else {
            return SubmissionOutcome::Resealed;
        };
        match receipt.status {
            ReceiptStatus::Applied | ReceiptStatus::AlreadyApplied => {
                let mut resend = Vec::new();
                let mut updates = inflight.updates;
                for identity in &receipt.resync {
                    if updates.remove(identity).is_some() {
                        self.acked.remove(identity);
                        if let Some(ids) = inflight.readings.get(identity) {
                            resend.extend(ids);
                        }
                    }
                }
                resend.sort_unstable();
                self.acked.extend(updates);
                self.state.last_acked = inflight.seq;
                SubmissionOutcome::Acked {
                    through: inflight.through,
                    resend,
                    records: inflight.records,
                }
            }
            ReceiptStatus::Stale { last_applied } => {
                // Nothing was applied under this number, and what the
                // server holds is not what this agent thought: seal again
                // after the server's number, every device in full.
                self.state.last_sealed = last_applied;
                self.state.last_acked = last_applied;
                self.acked.clear();
                SubmissionOutcome::Resealed
            }
        }
    }

    /// Seal a heartbeat under the next number of its own sequence. The
    /// caller persists [`Uplink::state`] before sending it.
    pub fn seal_heartbeat<R: RngCore + CryptoRng>(
        &mut self,
        heartbeat: Heartbeat,
        rng: &mut R,
    ) -> Result<Vec<u8>, ProtocolError> {
        let seq = self.state.heartbeat_seq + 1;
        let sealed = envelope::seal(
            &self.key,
            Direction::AgentToServer,
            self.agent_id,
            seq,
            &AgentMessage::Heartbeat(heartbeat),
            rng,
        )?;
        self.state.heartbeat_seq = seq;
        Ok(sealed)
    }

    pub fn on_heartbeat_answer(
        &mut self,
        request: &[u8],
        answer: Answer,
        now: i64,
    ) -> HeartbeatOutcome {
        let receipt = match self.receipt(request, answer) {
            Ok(receipt) => receipt,
            Err(Failure::Refused(r)) => {
                self.state.refused = Some(r.clone());
                return HeartbeatOutcome::Refused(r);
            }
            Err(Failure::TooLarge) => {
                return HeartbeatOutcome::Retry {
                    why: "the server refused a heartbeat as too large".into(),
                };
            }
            Err(Failure::Transient(why)) => return HeartbeatOutcome::Retry { why },
        };
        self.state.last_contact = Some(now);
        if let ReceiptStatus::Stale { last_applied } = receipt.status {
            // Numbers reused (a restored state directory): go on after the
            // server's. A heartbeat is not worth sending again.
            self.state.heartbeat_seq = last_applied;
        }
        let clock_error = unix_seconds(&receipt.server_time).map(|server| now - server);
        HeartbeatOutcome::Delivered {
            config: receipt.config.map(Box::new),
            clock_error,
        }
    }

    /// Backoff after `failures` failures in a row: doubling from one second
    /// to five minutes, then a random point in its upper half (`jitter` in
    /// [0, 1)), so agents that lost the server together do not come back
    /// together.
    fn retry(&mut self, why: String, jitter: f64) -> SubmissionOutcome {
        self.failures = self.failures.saturating_add(1);
        SubmissionOutcome::Retry {
            after: backoff(self.failures, jitter),
            why,
        }
    }

    fn receipt(&self, request: &[u8], answer: Answer) -> Result<Receipt, Failure> {
        let (status, body) = match answer {
            Answer::Unreachable(why) => return Err(Failure::Transient(why)),
            Answer::Http { status, body } => (status, body),
        };
        match status {
            200 | 409 => match envelope::open_receipt(&self.key, request, &body) {
                Ok(receipt) => Ok(receipt),
                // Sealed like a receipt, but not with our key, or for
                // another envelope: not our server.
                Err(ProtocolError::NotAuthentic | ProtocolError::WrongDirection) => {
                    Err(Failure::Refused(Refusal::WrongServerKey))
                }
                // Not a printwatch answer at all (a proxy's page, say).
                Err(e) => Err(Failure::Transient(format!(
                    "HTTP {status}, but not a printwatch receipt: {e}"
                ))),
            },
            401 => Err(Failure::Refused(Refusal::UnknownAgent)),
            403 => {
                let reason = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned));
                Err(Failure::Refused(match reason.as_deref() {
                    Some("expired") => Refusal::Expired,
                    _ => Refusal::Revoked,
                }))
            }
            413 => Err(Failure::TooLarge),
            _ => Err(Failure::Transient(format!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))),
        }
    }
}

enum Failure {
    Refused(Refusal),
    TooLarge,
    Transient(String),
}

pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    let full = BACKOFF_FIRST.saturating_mul(1u32 << exp).min(BACKOFF_MAX);
    let jitter = jitter.clamp(0.0, 1.0);
    full.mul_f64(0.5 + 0.5 * jitter)
}

/// RFC 3339 to Unix seconds.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(text).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// A snapshot as the spool and the acknowledged states keep it.
pub fn compress(snapshot: &Snapshot) -> Result<Vec<u8>, ProtocolError> {
    let json = serde_json::to_vec(snapshot)?;
    zstd::bulk::compress(&json, 3).map_err(|e| ProtocolError::Compression(e.to_string()))
}

/// Largest snapshot read back (a record is never this large; a corrupt
/// one must not take the memory).
const MAX_SNAPSHOT_JSON: usize = 16 * 1024 * 1024;

pub fn decompress(bytes: &[u8]) -> Result<Snapshot, ProtocolError> {
    let json = zstd::bulk::decompress(bytes, MAX_SNAPSHOT_JSON)
        .map_err(|e| ProtocolError::Compression(e.to_string()))?;
    Ok(serde_json::from_slice(&json)?)
}

mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    //! The uplink against a model of the server's rules (the real ones:
    //! `envelope::open`, `check_sequence`, `delta::apply`), without sockets.

    use super::*;
    use printwatch_protocol::envelope::{SeqVerdict, check_sequence};
    use printwatch_snapshot::{Meter, Source};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const AGENT: AgentId = AgentId(7);

    fn key() -> AgentKey {
        AgentKey::from_bytes([3; 32])
    }

    /// The server's side, as `crates/server` does it.
    struct Server {
        key: AgentKey,
        last_seq: u64,
        last_heartbeat: u64,
        devices: HashMap<String, Snapshot>,
        /// Every reading applied: (identity, total).
        applied: Vec<(String, u64)>,
        config: Option<PushedConfig>,
        forget_device: Option<String>,
    }

    impl Server {
        fn new() -> Server {
            Server {
                key: key(),
                last_seq: 0,
                last_heartbeat: 0,
                devices: HashMap::new(),
                applied: vec![],
                config: None,
                forget_device: None,
            }
        }

        fn answer(&mut self, request: &[u8]) -> Answer {
            let rng = &mut StdRng::seed_from_u64(9);
            let Ok(opened) =
                envelope::open::<AgentMessage>(&self.key, Direction::AgentToServer, request)
            else {
                return Answer::Http {
                    status: 401,
                    body: b"{\"error\":\"not authentic\"}".to_vec(),
                };
            };
            let heartbeat = matches!(opened.message, AgentMessage::Heartbeat(_));
            let last = if heartbeat {
                self.last_heartbeat
            } else {
                self.last_seq
            };
            let mut resync = vec![];
            let mut config = None;
            let status = match check_sequence(last, opened.seq) {
                SeqVerdict::Duplicate => ReceiptStatus::AlreadyApplied,
                SeqVerdict::Stale { last_applied } => ReceiptStatus::Stale { last_applied },
                SeqVerdict::Apply => {
                    match opened.message {
                        AgentMessage::Heartbeat(hb) => {
                            self.last_heartbeat = opened.seq;
                            config = self
                                .config
                                .clone()
                                .filter(|c| c.version != hb.config_version);
                        }
                        AgentMessage::Submission(s) => {
                            self.last_seq = opened.seq;
                            if let Some(id) = self.forget_device.take() {
                                self.devices.remove(&id);
                            }
                            for report in s.reports {
                                match report {
                                    DeviceReport::Full { snapshot } => self.store(*snapshot),
                                    DeviceReport::Delta {
                                        identity,
                                        base,
                                        delta,
                                    } => match self.devices.get(&identity) {
                                        Some(old)
                                            if delta::digest(old).ok() == Some(base.clone()) =>
                                        {
                                            let new = delta::apply(old, &delta).expect("applies");
                                            self.store(new);
                                        }
                                        _ => resync.push(identity),
                                    },
                                }
                            }
                        }
                    }
                    ReceiptStatus::Applied
                }
            };
            let receipt = Receipt {
                answers: envelope::digest(request),
                status,
                server_time: "2025-01-01T00:00:00Z".into(),
                resync,
                config,
            };
            let body = envelope::seal(
                &self.key,
                Direction::ServerToAgent,
                AGENT,
                opened.seq,
                &receipt,
                rng,
            )
            .expect("seal");
            Answer::Http {
                status: if status == ReceiptStatus::Applied {
                    200
                } else {
                    409
                },
                body,
            }
        }

        fn store(&mut self, s: Snapshot) {
            let id = s.identity().expect("identity");
            self.applied
                .push((id.clone(), s.meter("total").unwrap_or(0)));
            self.devices.insert(id, s);
        }
    }

    fn reading(serial: &str, total: u64, minute: u64) -> Snapshot {
        let mut s = Snapshot::new("10.0.0.1");
        s.family = Some("Ricoh".into());
        s.serial = Some(serial.into());
        s.collected_at = format!("2025-01-01T00:{:02}:00Z", minute % 60);
        s.meters = vec![Meter {
            name: "total".into(),
            value: total,
            unit: "impressions".into(),
            oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
        }];
        s
    }

    fn uplink() -> Uplink {
        Uplink::new(
            AGENT,
            key(),
            UplinkState::default(),
            Acked::new(),
            None,
            Duration::from_secs(86_400),
        )
    }

    fn records(list: &[(u64, Snapshot)]) -> Vec<PendingRecord> {
        list.iter()
            .map(|(id, s)| PendingRecord {
                id: *id,
                snapshot: s.clone(),
            })
            .collect()
    }

    fn reports(inflight: &Inflight) -> Vec<DeviceReport> {
        let opened =
            envelope::open::<AgentMessage>(&key(), Direction::AgentToServer, &inflight.sealed)
                .expect("opens");
        match opened.message {
            AgentMessage::Submission(s) => s.reports,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn first_in_full_then_deltas_against_what_the_server_acknowledged() {
        let rng = &mut StdRng::seed_from_u64(1);
        let mut server = Server::new();
        let mut up = uplink();
        up.seal_batch(
            &records(&[(1, reading("A", 100, 0)), (2, reading("B", 5, 0))]),
            1000,
            "t",
            rng,
        )
        .expect("seal");
        let first = up.inflight().expect("in flight").clone();
        assert_eq!(first.seq, 1);
        assert!(
            reports(&first)
                .iter()
                .all(|r| matches!(r, DeviceReport::Full { .. }))
        );
        let outcome = up.on_submission_answer(server.answer(&first.sealed), 1000, 0.5);
        assert_eq!(
            outcome,
            SubmissionOutcome::Acked {
                through: 2,
                resend: vec![],
                records: 2
            }
        );
        // Two readings of A in one batch: deltas in a chain.
        up.seal_batch(
            &records(&[(3, reading("A", 150, 15)), (4, reading("A", 170, 30))]),
            2000,
            "t",
            rng,
        )
        .expect("seal");
        let second = up.inflight().expect("in flight").clone();
        assert_eq!(second.seq, 2);
        assert!(
            reports(&second)
                .iter()
                .all(|r| matches!(r, DeviceReport::Delta { .. }))
        );
        up.on_submission_answer(server.answer(&second.sealed), 2000, 0.5);
        assert_eq!(
            server.applied,
            vec![
                ("ricoh:A".into(), 100),
                ("ricoh:B".into(), 5),
                ("ricoh:A".into(), 150),
                ("ricoh:A".into(), 170)
            ]
        );
        assert_eq!(up.state().last_acked, 2);
    }

    #[test]
    fn a_lost_receipt_sends_the_same_envelope_again_and_applies_once() {
        let rng = &mut StdRng::seed_from_u64(2);
        let mut server = Server::new();
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 100, 0))]), 1000, "t", rng)
            .expect("seal");
        let sealed = up.inflight().expect("in flight").sealed.clone();
        // Applied, but the answer never came back.
        let _lost = server.answer(&sealed);
        let outcome = up.on_submission_answer(Answer::Unreachable("reset".into()), 1000, 0.0);
        assert!(matches!(outcome, SubmissionOutcome::Retry { .. }));
        // A restart in between: the persisted state and in-flight envelope.
        let mut up = Uplink::new(
            AGENT,
            key(),
            up.state().clone(),
            up.acked().clone(),
            up.inflight().cloned(),
            Duration::from_secs(86_400),
        );
        assert_eq!(
            up.inflight().map(|i| i.sealed.clone()),
            Some(sealed.clone()),
            "the same bytes"
        );
        let outcome = up.on_submission_answer(server.answer(&sealed), 1001, 0.0);
        assert!(
            matches!(outcome, SubmissionOutcome::Acked { through: 1, .. }),
            "{outcome:?}"
        );
        assert_eq!(server.applied.len(), 1, "applied once");
    }

    #[test]
    fn heartbeats_never_make_a_pending_submission_stale() {
        let rng = &mut StdRng::seed_from_u64(3);
        let mut server = Server::new();
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1000, "t", rng)
            .expect("seal");
        let pending = up.inflight().expect("in flight").sealed.clone();
        for _ in 0..5 {
            let hb = up.seal_heartbeat(Heartbeat::default(), rng).expect("seal");
            assert!(matches!(
                up.on_heartbeat_answer(&hb, server.answer(&hb), 1000),
                HeartbeatOutcome::Delivered { .. }
            ));
        }
        assert_eq!(up.state().heartbeat_seq, 5);
        let outcome = up.on_submission_answer(server.answer(&pending), 1000, 0.0);
        assert!(
            matches!(outcome, SubmissionOutcome::Acked { .. }),
            "{outcome:?}"
        );
        assert_eq!(server.applied.len(), 1);
    }

    #[test]
    fn a_resync_sends_the_reading_again_in_full() {
        let rng = &mut StdRng::seed_from_u64(4);
        let mut server = Server::new();
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 100, 0))]), 1000, "t", rng)
            .expect("seal");
        let s = up.inflight().expect("f").sealed.clone();
        up.on_submission_answer(server.answer(&s), 1000, 0.0);
        // The server lost the device (restored from a backup, say).
        server.forget_device = Some("ricoh:A".into());
        up.seal_batch(&records(&[(2, reading("A", 120, 15))]), 2000, "t", rng)
            .expect("seal");
        let s = up.inflight().expect("f").sealed.clone();
        let outcome = up.on_submission_answer(server.answer(&s), 2000, 0.0);
        assert_eq!(
            outcome,
            SubmissionOutcome::Acked {
                through: 2,
                resend: vec![2],
                records: 1
            }
        );
        assert!(!up.acked().contains_key("ricoh:A"));
        // The daemon spools record 2 again; it goes in full and applies.
        up.seal_batch(&records(&[(3, reading("A", 120, 15))]), 2001, "t", rng)
            .expect("seal");
        let next = up.inflight().expect("f").clone();
        assert!(matches!(reports(&next)[0], DeviceReport::Full { .. }));
        up.on_submission_answer(server.answer(&next.sealed), 2001, 0.0);
        assert_eq!(server.applied.last(), Some(&("ricoh:A".to_string(), 120)));
    }

    #[test]
    fn a_full_snapshot_every_full_every() {
        let rng = &mut StdRng::seed_from_u64(5);
        let mut server = Server::new();
        let mut up = Uplink::new(
            AGENT,
            key(),
            UplinkState::default(),
            Acked::new(),
            None,
            Duration::from_secs(3600),
        );
        for (i, now) in [(1u64, 0i64), (2, 1800), (3, 3599), (4, 3600), (5, 5000)] {
            up.seal_batch(&records(&[(i, reading("A", 10 * i, i))]), now, "t", rng)
                .expect("seal");
            let f = up.inflight().expect("f").clone();
            let full = matches!(reports(&f)[0], DeviceReport::Full { .. });
            assert_eq!(full, i == 1 || i == 4, "record {i} at {now}");
            up.on_submission_answer(server.answer(&f.sealed), now, 0.0);
        }
    }

    #[test]
    fn a_stale_answer_seals_again_after_the_servers_number() {
        let rng = &mut StdRng::seed_from_u64(6);
        let mut server = Server::new();
        server.last_seq = 40; // this agent's state directory was restored from a backup
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1000, "t", rng)
            .expect("seal");
        let s = up.inflight().expect("f").sealed.clone();
        assert_eq!(
            up.on_submission_answer(server.answer(&s), 1000, 0.0),
            SubmissionOutcome::Resealed
        );
        assert!(up.inflight().is_none());
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1000, "t", rng)
            .expect("seal");
        let again = up.inflight().expect("f").clone();
        assert_eq!(again.seq, 41);
        assert!(matches!(
            up.on_submission_answer(server.answer(&again.sealed), 1000, 0.0),
            SubmissionOutcome::Acked { .. }
        ));
        assert_eq!(server.applied.len(), 1);
    }

    #[test]
    fn refusals_stop_the_sending_and_say_why() {
        let rng = &mut StdRng::seed_from_u64(7);
        let cases = [
            (
                Answer::Http {
                    status: 401,
                    body: vec![],
                },
                Refusal::UnknownAgent,
            ),
            (
                Answer::Http {
                    status: 403,
                    body: br#"{"error":"x","reason":"expired"}"#.to_vec(),
                },
                Refusal::Expired,
            ),
            (
                Answer::Http {
                    status: 403,
                    body: br#"{"error":"x","reason":"revoked"}"#.to_vec(),
                },
                Refusal::Revoked,
            ),
        ];
        for (answer, refusal) in cases {
            let mut up = uplink();
            up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1, "t", rng)
                .expect("seal");
            assert_eq!(
                up.on_submission_answer(answer, 1, 0.0),
                SubmissionOutcome::Refused(refusal.clone())
            );
            assert_eq!(up.refused(), Some(&refusal));
            assert!(
                up.inflight().is_some(),
                "the envelope and its records are kept"
            );
        }
        // A server with another key: its receipts do not open.
        let mut other = Server::new();
        other.key = AgentKey::from_bytes([4; 32]);
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1, "t", rng)
            .expect("seal");
        let s = up.inflight().expect("f").sealed.clone();
        // It cannot open ours (401) ...
        assert_eq!(
            up.on_submission_answer(other.answer(&s), 1, 0.0),
            SubmissionOutcome::Refused(Refusal::UnknownAgent)
        );
        // ... and a receipt it seals (a server pretending) is not ours.
        let forged = envelope::seal(
            &AgentKey::from_bytes([4; 32]),
            Direction::ServerToAgent,
            AGENT,
            1,
            &Receipt {
                answers: envelope::digest(&s),
                status: ReceiptStatus::Applied,
                server_time: String::new(),
                resync: vec![],
                config: None,
            },
            rng,
        )
        .expect("seal");
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1, "t", rng)
            .expect("seal");
        assert_eq!(
            up.on_submission_answer(
                Answer::Http {
                    status: 200,
                    body: forged
                },
                1,
                0.0
            ),
            SubmissionOutcome::Refused(Refusal::WrongServerKey)
        );
        assert!(up.acked().is_empty(), "nothing counts as delivered");
    }

    #[test]
    fn what_is_not_a_receipt_is_retried_with_growing_backoff() {
        let rng = &mut StdRng::seed_from_u64(8);
        let mut up = uplink();
        up.seal_batch(&records(&[(1, reading("A", 1, 0))]), 1, "t", rng)
            .expect("seal");
        let mut waits = vec![];
        for answer in [
            Answer::Unreachable("connection refused".into()),
            Answer::Http {
                status: 200,
                body: b"<html>proxy login</html>".to_vec(),
            },
            Answer::Http {
                status: 502,
                body: vec![],
            },
            Answer::Http {
                status: 429,
                body: vec![],
            },
        ] {
            match up.on_submission_answer(answer, 1, 1.0) {
                SubmissionOutcome::Retry { after, .. } => waits.push(after.as_secs()),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(waits, vec![1, 2, 4, 8]);
        assert_eq!(backoff(30, 1.0), BACKOFF_MAX);
        assert_eq!(backoff(30, 0.0), BACKOFF_MAX / 2);
        assert!(up.inflight().is_some() && up.refused().is_none());
    }

    #[test]
    fn an_envelope_too_large_is_sealed_again_smaller_under_its_number() {
        let rng = &mut StdRng::seed_from_u64(9);
        let mut up = uplink();
        let many: Vec<(u64, Snapshot)> = (1..=10)
            .map(|i| (i, reading(&format!("S{i}"), i, 0)))
            .collect();
        up.seal_batch(&records(&many), 1, "t", rng).expect("seal");
        assert_eq!(up.inflight().expect("f").records, 10);
        assert_eq!(
            up.on_submission_answer(
                Answer::Http {
                    status: 413,
                    body: vec![]
                },
                1,
                0.0
            ),
            SubmissionOutcome::Resealed
        );
        assert_eq!(up.batch_records(), MAX_BATCH_RECORDS / 2);
        up.seal_batch(&records(&many), 1, "t", rng).expect("seal");
        assert_eq!(up.inflight().expect("f").seq, 1);
    }

    #[test]
    fn a_pushed_configuration_comes_with_a_heartbeats_receipt() {
        let rng = &mut StdRng::seed_from_u64(10);
        let mut server = Server::new();
        server.config = Some(PushedConfig {
            version: 3,
            config: Default::default(),
        });
        let mut up = uplink();
        let hb = up.seal_heartbeat(Heartbeat::default(), rng).expect("seal");
        match up.on_heartbeat_answer(&hb, server.answer(&hb), 1_735_689_660) {
            HeartbeatOutcome::Delivered {
                config,
                clock_error,
            } => {
                assert_eq!(config.map(|c| c.version), Some(3));
                assert_eq!(clock_error, Some(60));
            }
            other => panic!("{other:?}"),
        }
        let hb = up
            .seal_heartbeat(
                Heartbeat {
                    config_version: 3,
                    ..Heartbeat::default()
                },
                rng,
            )
            .expect("seal");
        assert!(matches!(
            up.on_heartbeat_answer(&hb, server.answer(&hb), 1),
            HeartbeatOutcome::Delivered { config: None, .. }
        ));
    }
}
