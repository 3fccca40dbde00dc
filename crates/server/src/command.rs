//! Commands to agents: what is stored, when, and what each crash leaves.
//!
//! ## The life of a command
//! 1. **Issued** (`POST /api/v1/agents/{agent_id}/commands`): one row in
//!    `agent_commands`, state `queued`, with who issued it and its expiry
//!    (7 days), written with its `agent.command` audit entry in one
//!    transaction; then the agent's holder is woken (in this process by
//!    [`ChannelHub`], in the others by PostgreSQL `NOTIFY`). A `configure`
//!    first stores the configuration as `PUT …/config` does (sealed with
//!    the master key, a new version, its own audit entry); the command
//!    names that version, never the configuration's text (it holds SNMP
//!    secrets), and carries the configuration in force when it is sent.
//! 2. **Sent**: every queued, unexpired command goes in the answer to the
//!    agent's hello (long-poll), sealed with the agent's key and bound to
//!    the hello's challenge. Sending writes nothing: until the agent
//!    acknowledges it, a command is sent again at each hello.
//! 3. **Delivered**: the agent's next hello acknowledges it (`acks`) once
//!    the agent has written the id to its own state; `delivered_at` is set.
//! 4. **Done / failed**: the agent's sealed result, stored with
//!    `finished_at`; the answer to that hello lists the id in `stored` and
//!    only then does the agent forget the result.
//! 5. **Expired**: a command still queued or delivered at `expires_at` is
//!    no longer sent and reads as `expired` (computed when read: nothing to
//!    sweep). A result that arrives later is still stored: it is the truth.
//!
//! ## Crash points
//! - Server stops before the issuing transaction commits: no command, no
//!   audit entry; the caller got no 201.
//! - After the commit, before the wake-up: the holder's periodic look at
//!   the queue ([`SAFETY_LOOK`]) or the agent's next hello finds it.
//! - Sent, the answer lost (connection cut, agent crashed before writing
//!   the id): not acknowledged, so sent again; the agent applies an id
//!   once (it keeps the ids it applied), so twice is once.
//! - Acknowledged, the result not sent yet (agent crashed while applying):
//!   the agent finds the id started without a result at its next start
//!   and applies it again (every kind here is idempotent: a sweep, a
//!   collection, a configuration, a deactivation) or sends the result.
//! - Result sent, not stored (server crashed, database error): not listed
//!   in `stored`, so the agent sends it again; storing a result is
//!   idempotent (the first one stays).
//! - Result stored, the answer lost: the agent sends it again, the server
//!   finds it stored and confirms it again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use printwatch_protocol::channel::{self, Command};
use printwatch_protocol::config::AgentConfig;
use printwatch_protocol::message::PushedConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Notify;

use crate::ids::{AgentId, CommandId, TenantId};
use crate::{Result, ServerError};

/// A command not answered within this long expires.
pub const DEFAULT_EXPIRY_SECS: i64 = 7 * 24 * 3600;
/// A hello must come within this long of its challenge.
pub const CHALLENGE_LIFETIME_SECS: i64 = 120;
/// A holder looks at the queue this often even when nothing woke it (the
/// safety net under `NOTIFY`).
pub const SAFETY_LOOK: Duration = Duration::from_secs(5);
/// The PostgreSQL channel that carries "a command for agent N".
pub const PG_CHANNEL: &str = "printwatch_commands";

/// Where a command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    /// Stored, not acknowledged by the agent yet.
    Queued,
    /// The agent acknowledged it.
    Delivered,
    /// The agent answered that it did it.
    Done,
    /// The agent answered that it could not.
    Failed,
    /// Not answered before `expires_at`.
    Expired,
}

impl CommandState {
    /// The stored state (never `expired`) as read at `now`.
    pub fn read(stored: &str, expires_at: i64, now: i64) -> Result<CommandState> {
        let state = match stored {
            "queued" => CommandState::Queued,
            "delivered" => CommandState::Delivered,
            "done" => return Ok(CommandState::Done),
            "failed" => return Ok(CommandState::Failed),
            other => {
                return Err(ServerError::Corrupt(format!("command state {other:?}")));
            }
        };
        Ok(if now >= expires_at {
            CommandState::Expired
        } else {
            state
        })
    }
}

/// A command as the REST API takes it: `{"kind": …}` and the kind's fields.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewCommand {
    /// A discovery sweep now.
    ScanNow,
    /// Collect one device now (`HOST`, `HOST:PORT` or `[IPv6]:PORT`).
    CollectNow {
        #[schemars(length(min = 1, max = 255))]
        target: String,
    },
    /// A new configuration (the file's keys as JSON, `[uplink]` excepted):
    /// stored as the agent's pushed configuration, applied by the agent at once.
    Configure {
        #[schemars(with = "AgentConfig")]
        config: serde_json::Value,
    },
    /// The agent erases its key and stops sending; the server revokes it
    /// when the agent says it did.
    Deactivate,
}

impl NewCommand {
    /// Reads a request body. serde's `deny_unknown_fields` does not reach
    /// the unit variants of an internally tagged enum: every field is
    /// checked here against its kind's.
    pub fn from_json(body: serde_json::Value) -> Result<NewCommand> {
        let invalid = |what: String| ServerError::Invalid(format!("command: {what}"));
        let serde_json::Value::Object(fields) = &body else {
            return Err(invalid("must be a JSON object with a \"kind\"".into()));
        };
        let allowed: &[&str] = match fields.get("kind").and_then(|k| k.as_str()) {
            Some("scan_now" | "deactivate") => &["kind"],
            Some("collect_now") => &["kind", "target"],
            Some("configure") => &["kind", "config"],
            Some(other) => {
                return Err(invalid(format!(
                    "unknown kind {other:?} (scan_now, collect_now, configure, deactivate)"
                )));
            }
            None => return Err(invalid("\"kind\" is missing".into())),
        };
        if let Some(extra) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(invalid(format!("unknown field {extra:?}")));
        }
        serde_json::from_value(body).map_err(|e| invalid(e.to_string()))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            NewCommand::ScanNow => "scan_now",
            NewCommand::CollectNow { .. } => "collect_now",
            NewCommand::Configure { .. } => "configure",
            NewCommand::Deactivate => "deactivate",
        }
    }
}

/// What the store keeps of a command's arguments (JSON, no secrets).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommandArgs {
    /// `collect_now`: the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `configure`: the version of the pushed configuration it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_version: Option<i64>,
}

/// A command to store.
#[derive(Clone, Debug)]
pub struct CommandToStore {
    pub agent_id: AgentId,
    pub tenant_id: TenantId,
    pub kind: &'static str,
    pub args: CommandArgs,
    pub issued_by: String,
    pub expires_at: i64,
}

/// The agent's answer, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommandOutcome {
    pub ok: bool,
    pub detail: String,
}

/// One command, as stored and as the REST API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CommandRecord {
    pub id: CommandId,
    pub agent_id: AgentId,
    pub tenant_id: TenantId,
    pub kind: String,
    #[serde(flatten)]
    pub args: CommandArgs,
    pub state: CommandState,
    /// Who issued it (an e-mail address).
    pub issued_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub delivered_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The agent's answer (`done` and `failed`).
    pub result: Option<CommandOutcome>,
}

impl CommandRecord {
    /// The command as the agent receives it; `config` is the agent's pushed
    /// configuration now (a `configure` carries the one in force, which
    /// may be newer than the version it named).
    pub fn to_protocol(&self, config: Option<&PushedConfig>) -> Command {
        match self.kind.as_str() {
            "scan_now" => Command::ScanNow,
            "collect_now" => Command::CollectNow {
                target: self.args.target.clone().unwrap_or_default(),
            },
            "configure" => match config {
                Some(c) => Command::Configure(Box::new(c.clone())),
                None => Command::Unknown,
            },
            "deactivate" => Command::Deactivate,
            _ => Command::Unknown,
        }
    }

    pub fn wire_id(&self) -> u64 {
        u64::try_from(self.id.0).unwrap_or(0)
    }
}

/// The stateless challenge of the command channel: 16 random bytes, the
/// time it was made (8, big-endian UNIX seconds) and 16 bytes of
/// HMAC-SHA256 over both under a key derived from the master key. Any
/// server sharing the master key (all the servers of one database) checks
/// it without storing anything; a hello must come within
/// [`CHALLENGE_LIFETIME_SECS`].
pub struct Challenges {
    key: [u8; 32],
}

impl Challenges {
    pub fn new(key: [u8; 32]) -> Challenges {
        Challenges { key }
    }

    fn mac(&self, body: &[u8]) -> [u8; 16] {
        // An HMAC takes a key of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 16];
        };
        mac.update(b"printwatch/channel-challenge/v1\0");
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    pub fn make(&self, now: i64) -> Vec<u8> {
        use rand::RngCore;
        let mut out = vec![0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut out[..16]);
        out[16..24].copy_from_slice(&now.to_be_bytes());
        let mac = self.mac(&out);
        out.extend_from_slice(&mac);
        out
    }

    /// Made by a server with this key, within its lifetime at `now`.
    pub fn check(&self, challenge: &[u8], now: i64) -> bool {
        use subtle::ConstantTimeEq;
        if challenge.len() != 40 {
            return false;
        }
        let mac = self.mac(&challenge[..24]);
        if !bool::from(mac.ct_eq(&challenge[24..])) {
            return false;
        }
        let mut at = [0u8; 8];
        at.copy_from_slice(&challenge[16..24]);
        let made = i64::from_be_bytes(at);
        // A little slack for clocks of servers that differ.
        now.saturating_sub(made) <= CHALLENGE_LIFETIME_SECS && made.saturating_sub(now) <= 5
    }
}

/// Wake-ups in one process: a holder of an agent's channel waits on its
/// agent's [`Notify`]; issuing a command (here, or a `NOTIFY` from another
/// server) wakes every holder of that agent. Entries go when their last
/// holder does.
#[derive(Default)]
pub struct ChannelHub {
    agents: Mutex<HashMap<AgentId, (Arc<Notify>, usize)>>,
}

/// A holder's registration; dropping it unregisters.
pub struct Holder {
    hub: Arc<ChannelHub>,
    agent: AgentId,
    pub notify: Arc<Notify>,
}

impl ChannelHub {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<AgentId, (Arc<Notify>, usize)>> {
        self.agents
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn hold(self: &Arc<Self>, agent: AgentId) -> Holder {
        let mut map = self.map();
        let entry = map
            .entry(agent)
            .or_insert_with(|| (Arc::new(Notify::new()), 0));
        entry.1 += 1;
        Holder {
            hub: self.clone(),
            agent,
            notify: entry.0.clone(),
        }
    }

    /// Wake the holders of `agent` in this process.
    pub fn wake(&self, agent: AgentId) {
        if let Some((notify, _)) = self.map().get(&agent) {
            notify.notify_waiters();
        }
    }

    /// Agents with a holder now.
    pub fn holders(&self) -> usize {
        self.map().len()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let mut map = self.hub.map();
        if let Some(entry) = map.get_mut(&self.agent) {
            entry.1 -= 1;
            if entry.1 == 0 {
                map.remove(&self.agent);
            }
        }
    }
}

/// Listens for `NOTIFY printwatch_commands, 'AGENT_ID'` on PostgreSQL and
/// wakes this process's holders. Runs until the process ends; a lost
/// connection is made again (sqlx's listener does) and the holders'
/// periodic look covers the gap.
pub fn spawn_pg_listener(url: String, hub: Arc<ChannelHub>) {
    tokio::spawn(async move {
        loop {
            match sqlx::postgres::PgListener::connect(&url).await {
                Ok(mut listener) => {
                    if let Err(e) = listener.listen(PG_CHANNEL).await {
                        tracing::warn!("cannot LISTEN for commands: {e}");
                    } else {
                        loop {
                            match listener.recv().await {
                                Ok(n) => {
                                    if let Ok(id) = n.payload().parse::<i64>() {
                                        hub.wake(AgentId(id));
                                    }
                                }
                                Err(e) => {
                                    tracing::warn!("the command listener lost PostgreSQL: {e}");
                                    break;
                                }
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!("the command listener cannot connect: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
}

/// `detail` as stored: bounded, without NUL.
pub fn stored_detail(detail: &str) -> String {
    channel::truncate(&detail.replace('\0', "\u{fffd}"), channel::MAX_DETAIL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_check_their_maker_and_age() {
        let c = Challenges::new([1; 32]);
        let made = c.make(1000);
        assert!(c.check(&made, 1000));
        assert!(c.check(&made, 1000 + CHALLENGE_LIFETIME_SECS));
        assert!(!c.check(&made, 1001 + CHALLENGE_LIFETIME_SECS));
        assert!(!c.check(&made, 990), "made in the future");
        assert!(!Challenges::new([2; 32]).check(&made, 1000));
        let mut bad = made.clone();
        bad[20] ^= 1;
        assert!(!c.check(&bad, 1000), "its time altered");
        assert!(!c.check(&made[..39], 1000));
        assert_ne!(c.make(1000), made, "fresh");
    }

    #[test]
    fn expiry_is_read_not_stored() {
        assert_eq!(
            CommandState::read("queued", 10, 9).ok(),
            Some(CommandState::Queued)
        );
        assert_eq!(
            CommandState::read("delivered", 10, 10).ok(),
            Some(CommandState::Expired)
        );
        assert_eq!(
            CommandState::read("done", 10, 99).ok(),
            Some(CommandState::Done)
        );
        assert!(CommandState::read("lost", 10, 0).is_err());
    }

    #[tokio::test]
    async fn the_hub_wakes_holders_and_forgets_them() {
        let hub = Arc::new(ChannelHub::default());
        let holder = hub.hold(AgentId(1));
        let notify = holder.notify.clone();
        let woken = notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        hub.wake(AgentId(2));
        hub.wake(AgentId(1));
        tokio::time::timeout(Duration::from_secs(1), woken)
            .await
            .expect("woken");
        assert_eq!(hub.holders(), 1);
        drop(holder);
        assert_eq!(hub.holders(), 0);
    }
}
