//! The agent↔server protocol of printwatch, sans-IO.
//!
//! This crate decides; the agent and the server do the I/O. It has no
//! runtime, no sockets and no clock: every function takes the bytes, keys,
//! random source and state it needs and returns a result.
//!
//! - [`activation`]: the one-time PIN and the X25519 key agreement that gives
//!   an agent and its server the same [`AgentKey`] without sending it.
//! - [`envelope`]: sealing and opening of messages (zstd-compressed JSON,
//!   XChaCha20-Poly1305, agent id and sequence number bound in) and the
//!   sequence-number rule that makes each submission apply exactly once.
//! - [`message`]: what travels inside an envelope (heartbeats, submissions of
//!   device deltas and full snapshots) and the server's replies.
//! - [`channel`]: the command channel (challenge, sealed hello, commands,
//!   acknowledgements and results).
//! - [`delta`]: the difference between two device snapshots.
//! - [`config`]: the agent's configuration, as a file and as a push.
//! - [`fuzzing`]: the checks of the fuzz targets in `fuzz/` (for fuzzing
//!   and tests only).
//!
//! Wire version: [`PROTOCOL_VERSION`]. Any incompatible change bumps it.

pub mod activation;
pub mod channel;
pub mod config;
pub mod delta;
pub mod envelope;
mod error;
pub mod fuzzing;
mod key;
pub mod message;

pub use error::{ProtocolError, Result};
pub use key::AgentKey;

/// Version of the wire protocol (envelope layout, key derivation, messages).
pub const PROTOCOL_VERSION: u8 = 1;

/// An agent's id, assigned by the server when the agent is created.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct AgentId(pub i64);

impl std::fmt::Display for AgentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

pub(crate) mod b64 {
    //! Base64 (standard, padded) for byte fields in JSON.
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    pub fn encode(bytes: &[u8]) -> String {
        STANDARD.encode(bytes)
    }

    pub fn decode_32(text: &str, what: &'static str) -> crate::Result<[u8; 32]> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| crate::ProtocolError::Base64(what))?;
        bytes
            .try_into()
            .map_err(|_| crate::ProtocolError::Base64(what))
    }
}
