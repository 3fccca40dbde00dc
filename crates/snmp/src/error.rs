//! The errors of the SNMP layer, named so that a user knows what to do next.

use std::net::SocketAddr;

/// Why an SNMPv3 exchange was refused (RFC 3414 §3.2 report counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Failure {
    UnknownUser,
    WrongDigest,
    DecryptionError,
    NotInTimeWindow,
    UnsupportedSecurityLevel,
    UnknownEngineId,
    /// The response did not authenticate with our keys.
    ResponseNotAuthentic,
    /// The agent authenticated us (engine discovery and time
    /// synchronisation with our authentication key worked) and then never
    /// answered an encrypted request: it could not decrypt it. Agents that
    /// count usmStatsDecryptionErrors without a report look like this.
    SilentAfterAuthentication,
}

impl std::fmt::Display for V3Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            V3Failure::UnknownUser => "unknown user name (check --user)",
            V3Failure::WrongDigest => "wrong digest (check --auth-protocol and --auth-password)",
            V3Failure::DecryptionError => {
                "decryption error (check --priv-protocol and --priv-password)"
            }
            V3Failure::NotInTimeWindow => "not in time window (engine boots/time out of step)",
            V3Failure::UnsupportedSecurityLevel => {
                "unsupported security level (the user is not configured for this auth/priv level)"
            }
            V3Failure::UnknownEngineId => "unknown engine ID",
            V3Failure::ResponseNotAuthentic => {
                "the response did not authenticate (check the passwords)"
            }
            V3Failure::SilentAfterAuthentication => {
                "the agent accepted our authentication but never answered an encrypted request: \
                 most likely a decryption failure (check --priv-password and --priv-protocol)"
            }
        })
    }
}

/// Errors of SNMP operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnmpError {
    #[error("no answer from {target} (timeout after {})", retries_text(*retries))]
    Timeout { target: SocketAddr, retries: u32 },
    #[error("SNMPv3 authentication failed at {target}: {failure}")]
    V3 {
        target: SocketAddr,
        failure: V3Failure,
    },
    #[error(
        "{target} refused access (authorizationError): the community or user is not allowed to read this, or not at this security level"
    )]
    NotAuthorized { target: SocketAddr },
    #[error("{target} answered tooBig: the response would exceed its message size")]
    TooBig { target: SocketAddr },
    #[error("{target} answered with error {status} at index {index}")]
    Agent {
        target: SocketAddr,
        status: String,
        index: u32,
    },
    #[error("network error talking to {target}: {message}")]
    Network { target: SocketAddr, message: String },
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("invalid target {0:?}: expected HOST, HOST:PORT or [IPv6]:PORT")]
    InvalidTarget(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("malformed answer from {target}: {message}")]
    Malformed { target: SocketAddr, message: String },
    #[error("walk of {target} stopped: {message}")]
    WalkAborted { target: SocketAddr, message: String },
}

impl SnmpError {
    /// True when the device never answered.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SnmpError::Timeout { .. })
    }

    /// True when the device answered but refused our credentials.
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, SnmpError::V3 { .. } | SnmpError::NotAuthorized { .. })
    }

    pub(crate) fn from_engine(error: async_snmp::Error, target: SocketAddr) -> Self {
        use async_snmp::Error as E;
        use async_snmp::v3::ReportStatus as R;
        match error {
            E::SharedOperation { source } => shared(&source, target),
            E::Exchange { source, .. } => SnmpError::from_engine(*source, target),
            E::Timeout { retries, .. } => SnmpError::Timeout { target, retries },
            E::Report { status, .. } => {
                let failure = match *status {
                    R::UnknownUserName { .. } => V3Failure::UnknownUser,
                    R::WrongDigest { .. } => V3Failure::WrongDigest,
                    R::DecryptionError { .. } => V3Failure::DecryptionError,
                    R::NotInTimeWindow { .. } => V3Failure::NotInTimeWindow,
                    R::UnsupportedSecurityLevel { .. } => V3Failure::UnsupportedSecurityLevel,
                    R::UnknownEngineId { .. } => V3Failure::UnknownEngineId,
                    other => {
                        return SnmpError::Malformed {
                            target,
                            message: format!("SNMPv3 report: {other}"),
                        };
                    }
                };
                SnmpError::V3 { target, failure }
            }
            E::Auth { .. } => SnmpError::V3 {
                target,
                failure: V3Failure::ResponseNotAuthentic,
            },
            E::Snmp {
                status: async_snmp::ErrorStatus::AuthorizationError,
                ..
            } => SnmpError::NotAuthorized { target },
            E::Snmp {
                status: async_snmp::ErrorStatus::TooBig,
                ..
            } => SnmpError::TooBig { target },
            E::Snmp { status, index, .. } => SnmpError::Agent {
                target,
                status: status.to_string(),
                index,
            },
            E::Network { source, .. } => SnmpError::Network {
                target,
                message: source.to_string(),
            },
            E::WalkAborted { reason, .. } => SnmpError::WalkAborted {
                target,
                message: reason.to_string(),
            },
            E::Config(m) => SnmpError::Config(m.to_string()),
            E::ConstructionTimeout { .. } => SnmpError::Resolve(target.to_string()),
            other => SnmpError::Malformed {
                target,
                message: other.to_string(),
            },
        }
    }
}

/// "1 retry", "2 retries", "no retry".
fn retries_text(retries: u32) -> String {
    match retries {
        0 => "no retry".into(),
        1 => "1 retry".into(),
        n => format!("{n} retries"),
    }
}

/// A failure shared by several waiters (engine discovery, for one): keep its
/// meaning without owning it.
fn shared(error: &async_snmp::Error, target: SocketAddr) -> SnmpError {
    use async_snmp::ErrorKind as K;
    match error.kind() {
        K::Timeout => SnmpError::Timeout { target, retries: 0 },
        K::Auth => SnmpError::V3 {
            target,
            failure: V3Failure::ResponseNotAuthentic,
        },
        _ => SnmpError::Malformed {
            target,
            message: error.to_string(),
        },
    }
}
