//! `printwatch agent activate`: the one-time code turned into the agent's
//! key (the key agreement of `printwatch_protocol::activation`), written to
//! the state directory. The key is never sent, and never leaves the
//! directory.

use std::time::SystemTime;

use printwatch_protocol::activation::{
    ActivationCode, ActivationResponse, AgentActivation, AgentInfo,
};

use crate::daemon::Link;
use crate::state::{Identity, StateDir, StateError};

pub const ACTIVATE_PATH: &str = "/agent/v1/activate";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActivateError {
    #[error("{0}")]
    BadCode(String),
    #[error(
        "this state directory is activated already (agent {0}): add --force to replace its identity (the old agent stops working)"
    )]
    AlreadyActivated(i64),
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    #[error(
        "the server refused the activation ({0}): the code is wrong, used or expired; create a new one on the server"
    )]
    Refused(String),
    #[error(
        "the server's answer does not confirm the key: wrong code, or this is not the server that made the code"
    )]
    NotConfirmed,
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    #[error(transparent)]
    State(#[from] StateError),
}

impl ActivateError {
    /// PRODUCT.md's exit codes: 2 usage, 3 unreachable, 4 refused.
    pub fn exit_code(&self) -> u8 {
        match self {
            ActivateError::BadCode(_) | ActivateError::AlreadyActivated(_) => 2,
            ActivateError::Unreachable(_) => 3,
            ActivateError::Refused(_) | ActivateError::NotConfirmed => 4,
            ActivateError::Unexpected(_) | ActivateError::State(_) => 1,
        }
    }
}

/// Activates `state` against `server` with `code`.
pub async fn activate(
    link: &dyn Link,
    server: &str,
    code: &str,
    state: &StateDir,
    ca_file: Option<String>,
    force: bool,
) -> Result<Identity, ActivateError> {
    let code: ActivationCode = code
        .parse()
        .map_err(|e: printwatch_protocol::ProtocolError| ActivateError::BadCode(e.to_string()))?;
    if let Some(existing) = state.identity()?
        && !force
    {
        return Err(ActivateError::AlreadyActivated(existing.agent_id.0));
    }
    let info = AgentInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        hostname: crate::daemon::hostname(),
    };
    let (pending, request) = AgentActivation::start(&code, info, &mut rand::rngs::OsRng)
        .map_err(|e| ActivateError::BadCode(e.to_string()))?;
    let body =
        serde_json::to_vec(&request).map_err(|e| ActivateError::Unexpected(e.to_string()))?;
    let (status, answer) = link
        .post(ACTIVATE_PATH, "application/json", body, 64 * 1024)
        .await
        .map_err(ActivateError::Unreachable)?;
    let text = || String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
    match status {
        200 => {}
        401 | 403 | 404 => {
            return Err(ActivateError::Refused(format!("HTTP {status}: {}", text())));
        }
        _ => {
            return Err(ActivateError::Unexpected(format!(
                "HTTP {status}: {}",
                text()
            )));
        }
    }
    let response: ActivationResponse =
        serde_json::from_slice(&answer).map_err(|e| ActivateError::Unexpected(e.to_string()))?;
    let key = pending
        .finish(&response)
        .map_err(|_| ActivateError::NotConfirmed)?;
    let identity = Identity {
        agent_id: code.agent_id,
        server: server.trim_end_matches('/').to_owned(),
        ca_file,
        activated_at: crate::daemon::rfc3339(SystemTime::now()),
    };
    state.write_activation(&identity, &key)?;
    Ok(identity)
}
