//! What travels inside envelopes: the agent's messages and the server's
//! sealed receipts. The command channel's messages are in [`crate::channel`].

use printwatch_snapshot::Snapshot;
use serde::{Deserialize, Serialize};

use crate::delta::SnapshotDelta;

/// Agent → server, sealed ([`crate::envelope::Direction::AgentToServer`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentMessage {
    Heartbeat(Heartbeat),
    Submission(Submission),
}

/// "Still here": who the agent is, what it runs on, how it is doing.
///
/// Heartbeats count in a sequence of their own (see [`crate::envelope`]):
/// one sent while the spool waits for the server can never make a pending
/// submission look stale.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent_version: String,
    pub os: String,
    pub hostname: Option<String>,
    /// RFC 3339, UTC, by the agent's clock.
    pub sent_at: String,
    /// The agent's heartbeat interval: silent for three of them, it is
    /// reported offline.
    #[serde(default)]
    pub heartbeat_every_secs: u64,
    /// Seconds since the agent started.
    #[serde(default)]
    pub uptime_secs: u64,
    /// Records waiting in the agent's spool, and their bytes on disk.
    #[serde(default)]
    pub spool_records: u64,
    #[serde(default)]
    pub spool_bytes: u64,
    /// Devices the agent knows (found by its sweeps).
    #[serde(default)]
    pub devices: u64,
    #[serde(default)]
    pub last_sweep: Option<SweepSummary>,
    /// Version of the pushed configuration in force (0: none, the file's).
    #[serde(default)]
    pub config_version: u64,
    /// Why the last pushed configuration was not applied, if it was not.
    #[serde(default)]
    pub config_error: Option<String>,
}

/// What the last discovery sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// RFC 3339, UTC, by the agent's clock.
    pub started_at: String,
    pub duration_ms: u64,
    pub addresses: u64,
    pub printers: u64,
    /// Printers that answered the probe but could not be collected.
    pub failures: u64,
}

/// One batch of collected device states.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    /// RFC 3339, UTC, by the agent's clock.
    pub sent_at: String,
    pub reports: Vec<DeviceReport>,
}

/// The state of one device: in full, or as the change since the last state
/// this agent delivered for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceReport {
    Full {
        snapshot: Box<Snapshot>,
    },
    Delta {
        /// `Snapshot::identity()` of the device.
        identity: String,
        /// [`crate::delta::digest`] of the state the delta applies to; when the
        /// server's copy differs, it asks for a full snapshot ([`Receipt::resync`]).
        base: String,
        delta: SnapshotDelta,
    },
}

/// The server's answer to one authentic envelope, sealed
/// ([`crate::envelope::Direction::ServerToAgent`], under the answered
/// envelope's sequence number) and bound to it by its digest: nobody but
/// the agent's own server can make the agent drop data from its spool,
/// and a receipt for one envelope cannot be passed off as another's.
/// HTTP 200 for `applied`, 409 for the others. Plain `{"error"}` JSON
/// instead: errors before the envelope authenticates (400, 401, 413, 429;
/// a revoked agent's key is deleted, so its envelopes get 401), and 403
/// for an agent that may no longer submit, with `"reason": "revoked"` or
/// `"expired"` (nothing was stored: keep the spool, stop sending).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// [`crate::envelope::digest`] of the envelope answered.
    pub answers: String,
    pub status: ReceiptStatus,
    /// The server's clock (RFC 3339, UTC), for the agent to see its own error.
    pub server_time: String,
    /// Identities whose delta did not apply: send them in full.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resync: Vec<String>,
    /// To a heartbeat: the configuration the server holds for this agent,
    /// when its version is not the heartbeat's `config_version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PushedConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Stored now.
    Applied,
    /// The last envelope applied, again (its receipt was lost): stored
    /// before, nothing stored again. The agent may drop it.
    AlreadyApplied,
    /// Older than the last applied of its sequence: nothing stored. Its
    /// content was never applied under this number: seal it again after
    /// `last_applied`.
    Stale { last_applied: u64 },
}

/// A configuration pushed by the server; applies without a restart and
/// overrides the agent's file, `[uplink]` excepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedConfig {
    /// Increases with every push.
    pub version: u64,
    pub config: crate::config::AgentConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_stable_tags() {
        let hb = AgentMessage::Heartbeat(Heartbeat {
            agent_version: "0.1.0".into(),
            os: "linux".into(),
            hostname: None,
            sent_at: "2025-01-01T00:00:00Z".into(),
            ..Default::default()
        });
        let text = serde_json::to_string(&hb).expect("json");
        assert!(text.starts_with("{\"type\":\"heartbeat\""), "{text}");
        let back: AgentMessage = serde_json::from_str(&text).expect("parses");
        assert_eq!(back, hb);
        let full = DeviceReport::Full {
            snapshot: Box::new(Snapshot::new("10.0.0.1")),
        };
        let text = serde_json::to_string(&full).expect("json");
        assert!(text.starts_with("{\"kind\":\"full\""), "{text}");
    }

    #[test]
    fn unknown_message_types_are_refused() {
        assert!(
            serde_json::from_str::<AgentMessage>("{\"type\":\"exec\",\"cmd\":\"rm\"}").is_err()
        );
    }
}
