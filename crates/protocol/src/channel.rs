//! The command channel: how the server's commands reach an agent, and how
//! the agent answers them.
//!
//! Every connection starts at the agent. It asks for a [`Challenge`]
//! (fresh random bytes made by the server, no credential anywhere in the
//! URL), then sends a sealed [`ChannelUp`] (the hello: sealed with the
//! agent's key, [`Direction::AgentToServer`](crate::envelope::Direction),
//! naming that challenge). The server answers with sealed [`ChannelDown`]
//! messages naming the same challenge: a message recorded on one
//! connection cannot be replayed into another (the agent takes only
//! messages naming its current challenge, the server only hellos naming a
//! challenge it made recently).
//!
//! Over long-polling each request is a hello (a fresh challenge, the
//! acknowledgements and results the agent has for the server) and its
//! answer one [`ChannelDown`] under the same sequence number; over a
//! WebSocket the same messages are frames, the sequence number counting
//! up from 1 in each direction on the connection.
//!
//! Delivery is at least once: a command is sent again at every connection
//! until the agent acknowledges it (`acks`); a result is sent again in
//! every hello until a [`ChannelDown`] lists it in `stored`. The agent
//! remembers the ids it applied, so a command that comes twice is applied
//! once (its remembered result is sent again instead).
//!
//! Sizes are bounded ([`ChannelUp::check`], [`ChannelDown::check`]): a
//! hostile peer cannot make the other side hold more than a few hundred
//! KiB of channel state per message.

use serde::{Deserialize, Serialize};

use crate::message::PushedConfig;
use crate::{ProtocolError, Result};

/// Challenge bytes: at least this many (the server's own layout decides
/// the rest; the agent treats them as opaque).
pub const MIN_CHALLENGE: usize = 16;
/// At most this many.
pub const MAX_CHALLENGE: usize = 64;
/// Acknowledgements in one hello.
pub const MAX_ACKS: usize = 256;
/// Results in one hello.
pub const MAX_RESULTS: usize = 64;
/// Commands in one message from the server.
pub const MAX_COMMANDS: usize = 64;
/// Bytes of a result's `detail` (longer ones are cut by [`truncate`]).
pub const MAX_DETAIL: usize = 4096;
/// Bytes of a `collect_now` target.
pub const MAX_TARGET: usize = 255;
/// How long the server holds a long-poll request open when no command is
/// waiting (the agent's request timeout must be longer).
pub const POLL_HOLD_SECS: u64 = 25;

/// The server's challenge (plain JSON): base64 of 16 to 64 random bytes,
/// which the agent's sealed hello names.
// The bounds are `MIN_CHALLENGE` and `MAX_CHALLENGE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub challenge: String,
}

impl Challenge {
    /// The challenge's bytes, checked for length.
    pub fn bytes(&self) -> Result<Vec<u8>> {
        decode_challenge(&self.challenge)
    }
}

fn decode_challenge(text: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    if text.len() > MAX_CHALLENGE * 2 {
        return Err(ProtocolError::Malformed("challenge too long"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ProtocolError::Base64("challenge"))?;
    if !(MIN_CHALLENGE..=MAX_CHALLENGE).contains(&bytes.len()) {
        return Err(ProtocolError::Malformed("challenge of the wrong length"));
    }
    Ok(bytes)
}

/// Agent → server, sealed: the hello of a connection (and every later
/// message on it), bound to the server's challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelUp {
    /// The challenge of this connection, as the server gave it.
    pub challenge: String,
    pub agent_version: String,
    /// Commands received (and remembered): deliver them no more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acks: Vec<u64>,
    /// Results not yet confirmed stored by the server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CommandResult>,
}

impl ChannelUp {
    /// Bounds and the challenge's form: what the server checks after
    /// opening the envelope, before it looks at anything else.
    pub fn check(&self) -> Result<()> {
        decode_challenge(&self.challenge)?;
        if self.agent_version.len() > 100 {
            return Err(ProtocolError::Malformed("agent version too long"));
        }
        if self.acks.len() > MAX_ACKS {
            return Err(ProtocolError::Malformed("too many acknowledgements"));
        }
        if self.results.len() > MAX_RESULTS {
            return Err(ProtocolError::Malformed("too many results"));
        }
        if self.results.iter().any(|r| r.detail.len() > MAX_DETAIL) {
            return Err(ProtocolError::Malformed("result detail too long"));
        }
        Ok(())
    }
}

/// Server → agent, sealed: commands to apply, and the results stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDown {
    /// The challenge of the connection this answers.
    pub challenge: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandEnvelope>,
    /// Ids whose results are stored: the agent may stop sending them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stored: Vec<u64>,
}

impl ChannelDown {
    /// Bounds: what the agent checks after opening the envelope.
    pub fn check(&self) -> Result<()> {
        decode_challenge(&self.challenge)?;
        if self.commands.len() > MAX_COMMANDS {
            return Err(ProtocolError::Malformed("too many commands"));
        }
        if self.stored.len() > MAX_RESULTS {
            return Err(ProtocolError::Malformed("too many stored results"));
        }
        for c in &self.commands {
            if let Command::CollectNow { target } = &c.command
                && (target.is_empty() || target.len() > MAX_TARGET)
            {
                return Err(ProtocolError::Malformed("collect_now target length"));
            }
        }
        Ok(())
    }
}

/// One command, with the id the server gave it (unique per server
/// database, increasing).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandEnvelope {
    pub id: u64,
    pub command: Command,
}

/// What the server asks. Unknown kinds (from a newer server) read as
/// [`Command::Unknown`]: the agent answers that it cannot do them rather
/// than dropping the whole message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// A discovery sweep now (unless one is running).
    ScanNow,
    /// Collect one device now: `HOST`, `HOST:PORT` or `[IPv6]:PORT`.
    CollectNow { target: String },
    /// A configuration, applied as a pushed one: validated by the agent as
    /// its file is, `[uplink]` ignored (it stays local), persisted,
    /// applied without a restart.
    Configure(Box<PushedConfig>),
    /// Erase the key and stop sending.
    Deactivate,
    #[serde(other)]
    Unknown,
}

impl Command {
    /// The kind's name, as in the REST API.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::ScanNow => "scan_now",
            Command::CollectNow { .. } => "collect_now",
            Command::Configure(_) => "configure",
            Command::Deactivate => "deactivate",
            Command::Unknown => "unknown",
        }
    }
}

/// The agent's answer to one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    pub id: u64,
    pub ok: bool,
    /// What happened, for a person (at most [`MAX_DETAIL`] bytes).
    #[serde(default)]
    pub detail: String,
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;
    use crate::envelope::{self, Direction};
    use crate::{AgentId, AgentKey};

    fn challenge() -> String {
        crate::b64::encode(&[7u8; 32])
    }

    #[test]
    fn commands_have_stable_json() {
        let cases = [
            (Command::ScanNow, r#"{"kind":"scan_now"}"#),
            (
                Command::CollectNow {
                    target: "10.0.0.5:1161".into(),
                },
                r#"{"kind":"collect_now","target":"10.0.0.5:1161"}"#,
            ),
            (Command::Deactivate, r#"{"kind":"deactivate"}"#),
        ];
        for (command, json) in cases {
            assert_eq!(serde_json::to_string(&command).expect("json"), json);
            assert_eq!(
                serde_json::from_str::<Command>(json).expect("parses"),
                command
            );
        }
        let configure = Command::Configure(Box::new(PushedConfig {
            version: 3,
            config: AgentConfig::from_toml("[collect]\nevery = \"1m\"\n").expect("config"),
        }));
        let json = serde_json::to_string(&configure).expect("json");
        assert!(
            json.starts_with(r#"{"kind":"configure","version":3,"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<Command>(&json).expect("parses"),
            configure
        );
    }

    #[test]
    fn unknown_kinds_do_not_break_the_message() {
        let down: ChannelDown = serde_json::from_str(&format!(
            r#"{{"challenge":"{}","commands":[{{"id":1,"command":{{"kind":"walk"}}}},{{"id":2,"command":{{"kind":"scan_now"}}}}]}}"#,
            challenge()
        ))
        .expect("parses");
        assert_eq!(down.commands[0].command, Command::Unknown);
        assert_eq!(down.commands[1].command, Command::ScanNow);
    }

    #[test]
    fn configure_refuses_unknown_keys() {
        let json = r#"{"kind":"configure","version":1,"config":{"scan":{"rangez":[]}}}"#;
        assert!(serde_json::from_str::<Command>(json).is_err());
    }

    #[test]
    fn bounds_are_checked() {
        let mut up = ChannelUp {
            challenge: challenge(),
            agent_version: "0.1.0".into(),
            acks: vec![1, 2],
            results: vec![CommandResult {
                id: 1,
                ok: true,
                detail: "done".into(),
            }],
        };
        assert!(up.check().is_ok());
        up.acks = vec![0; MAX_ACKS + 1];
        assert!(up.check().is_err());
        up.acks.clear();
        up.results[0].detail = "x".repeat(MAX_DETAIL + 1);
        assert!(up.check().is_err());
        up.results[0].detail.clear();
        for bad in ["", "not base64!", &crate::b64::encode(&[1u8; 8])] {
            up.challenge = bad.into();
            assert!(up.check().is_err(), "{bad:?}");
        }
        let down = ChannelDown {
            challenge: challenge(),
            commands: vec![CommandEnvelope {
                id: 1,
                command: Command::CollectNow {
                    target: String::new(),
                },
            }],
            stored: vec![],
        };
        assert!(down.check().is_err());
    }

    #[test]
    fn a_hello_is_not_an_agent_message_and_back() {
        let key = AgentKey::from_bytes([3; 32]);
        let up = ChannelUp {
            challenge: challenge(),
            agent_version: "0.1.0".into(),
            acks: vec![],
            results: vec![],
        };
        let sealed = envelope::seal(
            &key,
            Direction::AgentToServer,
            AgentId(1),
            1,
            &up,
            &mut rand::rngs::OsRng,
        )
        .expect("seal");
        assert!(
            envelope::open::<crate::message::AgentMessage>(&key, Direction::AgentToServer, &sealed)
                .is_err()
        );
        let opened =
            envelope::open::<ChannelUp>(&key, Direction::AgentToServer, &sealed).expect("opens");
        assert_eq!(opened.message, up);
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
