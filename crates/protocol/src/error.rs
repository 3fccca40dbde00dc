//! The one error type of the protocol crate.

/// Why a protocol operation failed. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error(
        "protocol version {got} is not supported (this build speaks {supported}): upgrade the older side"
    )]
    Version { got: u32, supported: u32 },
    #[error("not a printwatch envelope ({0}): check that the agent talks to a printwatch server")]
    Malformed(&'static str),
    #[error("envelope of {size} bytes exceeds the limit of {limit} bytes: send smaller batches")]
    TooLarge { size: usize, limit: usize },
    #[error(
        "the envelope did not authenticate: wrong key, wrong agent id, or altered in transit; re-activate the agent if its key was replaced"
    )]
    NotAuthentic,
    #[error("envelope was sealed for the other direction")]
    WrongDirection,
    #[error("the activation PIN is wrong or expired: create a new PIN on the server")]
    WrongPin,
    #[error(
        "the server's activation answer did not confirm the key: the PIN was wrong or the answer came from another server"
    )]
    NotConfirmed,
    #[error("invalid activation code {0:?}: expected AGENT-ID-XXXXX-XXXXX as shown by the server")]
    BadActivationCode(String),
    #[error("the key exchange produced a weak shared secret: retry activation")]
    WeakKeyExchange,
    #[error("invalid base64 in {0}")]
    Base64(&'static str),
    #[error("cannot encode or decode the message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot (de)compress the message: {0}")]
    Compression(String),
    #[error("the delta does not apply: {0}; send a full snapshot")]
    Delta(String),
    #[error("key derivation failed: {0}")]
    Kdf(String),
}

pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
