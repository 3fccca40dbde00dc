//! The one error type of the server crate.

use printwatch_protocol::ProtocolError;

/// Why a server operation failed. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("database error: {0}; check that the database is reachable and the disk not full")]
    Database(#[from] sqlx::Error),
    #[error(
        "migration {version} ({name}) failed: {source}; restore the last backup or fix the database by hand"
    )]
    Migration {
        version: i64,
        name: &'static str,
        source: sqlx::Error,
    },
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER@HOST/DB")]
    DatabaseUrl(String),
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("authentication required: send `Authorization: Bearer TOKEN` or log in")]
    Unauthenticated,
    /// A login that failed; the same words whatever was wrong, so that
    /// they do not tell which accounts exist.
    #[error("wrong e-mail or password")]
    WrongCredentials,
    #[error("wrong or already used two-factor code: wait for the next one and try again")]
    WrongSecondFactor,
    /// A request body larger than the endpoint takes.
    #[error("the request body is too large for this endpoint")]
    BodyTooLarge,
    #[error(
        "a two-factor code is needed: send \"totp\" (6 digits from the authenticator app) with the login"
    )]
    TotpRequired,
    #[error("your role does not allow this")]
    Forbidden,
    #[error(
        "request refused: a change made with a session cookie needs the X-CSRF-Token header \
         (from the login answer or GET /api/v1/session) and must come from this server's own pages"
    )]
    CrossSite,
    #[error("too many attempts: wait and try again")]
    RateLimited,
    #[error("the server is busy: try again in a few seconds")]
    Busy,
    #[error("an envelope of this agent is being received already: send one at a time")]
    EnvelopeInFlight,
    #[error(
        "this action needs a fresh second factor: send the current code of your authenticator \
         in the X-Second-Factor header (enrol one with POST /api/v1/me/totp first)"
    )]
    SecondFactorRequired,
    #[error("this needs an interactive session (log in with \"session\": true), not an API token")]
    SessionRequired,
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("this agent is revoked: create a new agent and activate it")]
    AgentRevoked,
    #[error("this agent's credentials expired: create a new agent and activate it")]
    AgentExpired,
    #[error(
        "stale envelope: sequence {seq} is not after {last_applied}; it was replayed or reordered"
    )]
    StaleSequence { seq: u64, last_applied: u64 },
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = ServerError> = std::result::Result<T, E>;
