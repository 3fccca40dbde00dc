//! What travels inside envelopes, and the server's plain answers.

use printwatch_printer::snapshot::Snapshot;
use serde::{Deserialize, Serialize};

use crate::delta::SnapshotDelta;

/// Agent → server, sealed ([`crate::envelope::Direction::AgentToServer`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AgentMessage {
    Heartbeat(Heartbeat),
    Submission(Submission),
}

/// "Still here": who the agent is and what it runs on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub agent_version: String,
    pub os: String,
    pub hostname: Option<String>,
    /// RFC 3339, UTC, by the agent's clock.
    pub sent_at: String,
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
        /// server's copy differs, it asks for a full snapshot ([`IngestReply::resync`]).
        base: String,
        delta: SnapshotDelta,
    },
}

/// Server → agent, sealed ([`crate::envelope::Direction::ServerToAgent`]).
/// Commands are a placeholder in this version: defined, not yet delivered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerMessage {
    Command(CommandEnvelope),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Server-assigned, for the agent's acknowledgement.
    pub id: u64,
    pub command: Command,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    Deactivate,
    ScanNow,
    Walk { target: String, oids: Vec<String> },
    Redirect { url: String, deactivate_here: bool },
    Configure { config: serde_json::Value },
    Update { url: String, signature: String },
    Uninstall,
}

/// The server's answer to an envelope: HTTP 200 with `applied`, or HTTP 409
/// with `already_applied` and the envelope's `seq` when it is the last one
/// applied sent again (stored before; the agent may drop it from its spool).
/// An older envelope gets 409 with `"status": "stale_sequence"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    pub status: IngestStatus,
    pub seq: u64,
    /// Identities whose delta did not apply: send a full snapshot next.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resync: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    Applied,
    /// The same sequence number was applied before; nothing was stored
    /// again (HTTP 409).
    AlreadyApplied,
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
