//! The agents' endpoints: activation with the one-time PIN, and sealed
//! submissions (heartbeats and device reports).
//!
//! Nothing an agent sends is trusted before it authenticates: the PIN proof
//! for activation, the envelope's AEAD tag for everything after. A failure
//! of either is the same 401, whether or not the agent exists.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::post;
use printwatch_protocol::ProtocolError;
use printwatch_protocol::activation::{self, ActivationRequest, PinVerifier};
use printwatch_protocol::envelope::{self, Direction, SeqVerdict, UnverifiedHeader};
use printwatch_protocol::message::{AgentMessage, IngestReply, IngestStatus};

use super::auth::ClientAddr;
use super::{Access, AppState, Endpoint, MAX_PIN_FAILURES};
use crate::model::{AgentReport, AgentState, IngestBatch};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/agent/v1/activate",
            "Activate an agent: X25519 key agreement bound to its one-time PIN",
            Access::Agent,
            post(activate),
        ),
        Endpoint::new(
            Method::POST,
            "/agent/v1/submit",
            "A sealed envelope (application/octet-stream): heartbeat or device reports",
            Access::Agent,
            post(submit).layer(DefaultBodyLimit::max(envelope::MAX_ENVELOPE)),
        ),
    ]
}

fn refused() -> ServerError {
    ServerError::Protocol(ProtocolError::WrongPin)
}

async fn activate(
    State(state): State<AppState>,
    client: ClientAddr,
    Json(request): Json<ActivationRequest>,
) -> Result<impl IntoResponse> {
    let key = client.key();
    if !state.pin_limiter.allowed(&key) {
        return Err(ServerError::RateLimited);
    }
    let now = crate::now();
    let found = state.store.agent_with_secrets(request.agent_id).await?;
    let Some((agent, secrets)) = found else {
        state.pin_limiter.failed(&key);
        return Err(refused());
    };
    let verifier = match (&secrets.pin_verifier, agent.pin_expires_at) {
        (Some(v), Some(expires)) if agent.state == AgentState::Pending && now < expires => {
            match <[u8; 32]>::try_from(v.as_slice()) {
                Ok(bytes) => PinVerifier::from_bytes(bytes),
                Err(_) => return Err(ServerError::Corrupt(format!("PIN of agent {}", agent.id))),
            }
        }
        _ => {
            state.pin_limiter.failed(&key);
            return Err(refused());
        }
    };
    let (agent_key, response) =
        match activation::accept(&request, &verifier, &mut rand::rngs::OsRng) {
            Ok(done) => done,
            Err(ProtocolError::WrongPin) => {
                state.pin_limiter.failed(&key);
                let failures = state
                    .store
                    .record_pin_failure(agent.id, MAX_PIN_FAILURES)
                    .await?;
                tracing::warn!(agent = %agent.id, failures, "wrong activation PIN");
                return Err(refused());
            }
            Err(e) => return Err(e.into()),
        };
    let sealed = state.master.seal_agent_key(agent.id, &agent_key)?;
    let report = AgentReport {
        version: request.agent.version.chars().take(100).collect(),
        os: request.agent.os.chars().take(100).collect(),
        hostname: request
            .agent
            .hostname
            .as_ref()
            .map(|h| h.chars().take(255).collect()),
    };
    if !state
        .store
        .activate_agent(agent.id, &sealed, &report, now)
        .await?
    {
        return Err(refused());
    }
    state
        .store
        .audit(crate::model::NewAudit {
            tenant_id: agent.tenant_id,
            actor: format!("agent {}", agent.id),
            action: "agent.activate".into(),
            target: format!("agent {}", agent.id),
            detail: format!("{} on {}", report.version, report.os),
            at: now,
        })
        .await?;
    tracing::info!(agent = %agent.id, "agent activated");
    Ok(Json(response))
}

async fn submit(State(state): State<AppState>, body: Bytes) -> Result<Json<IngestReply>> {
    let header = UnverifiedHeader::parse(&body)?;
    if header.direction != Direction::AgentToServer {
        return Err(ProtocolError::WrongDirection.into());
    }
    let not_authentic = || ServerError::Protocol(ProtocolError::NotAuthentic);
    let (agent, secrets) = state
        .store
        .agent_with_secrets(header.agent_id)
        .await?
        .ok_or_else(not_authentic)?;
    let sealed_key = secrets.key_sealed.as_deref().ok_or_else(not_authentic)?;
    let key = state.master.open_agent_key(agent.id, sealed_key)?;
    let opened = envelope::open::<AgentMessage>(&key, Direction::AgentToServer, &body)?;
    drop(key);
    let now = crate::now();
    if !agent.may_submit(now) {
        return Err(ServerError::AgentRevoked);
    }
    let reply = |status, resync| {
        Json(IngestReply {
            status,
            seq: opened.seq,
            resync,
        })
    };
    let last = u64::try_from(agent.last_seq).unwrap_or(0);
    match envelope::check_sequence(last, opened.seq) {
        SeqVerdict::Apply => {}
        SeqVerdict::Duplicate => return Ok(reply(IngestStatus::AlreadyApplied, vec![])),
        SeqVerdict::Stale { last_applied } => {
            return Err(ServerError::StaleSequence {
                seq: opened.seq,
                last_applied,
            });
        }
    }
    match opened.message.clone() {
        AgentMessage::Heartbeat(hb) => {
            let report = AgentReport {
                version: hb.agent_version.chars().take(100).collect(),
                os: hb.os.chars().take(100).collect(),
                hostname: hb.hostname.map(|h| h.chars().take(255).collect()),
            };
            let applied = state
                .store
                .heartbeat(agent.id, opened.seq, &report, now)
                .await?;
            Ok(reply(status(applied), vec![]))
        }
        AgentMessage::Submission(submission) => {
            let outcome = state
                .store
                .ingest(IngestBatch {
                    agent_id: agent.id,
                    tenant_id: agent.tenant_id,
                    site_id: agent.site_id,
                    seq: opened.seq,
                    now,
                    reports: submission.reports,
                })
                .await?;
            tracing::debug!(agent = %agent.id, seq = opened.seq, devices = outcome.devices, "ingested");
            Ok(reply(status(outcome.applied), outcome.resync))
        }
    }
}

fn status(applied: bool) -> IngestStatus {
    if applied {
        IngestStatus::Applied
    } else {
        IngestStatus::AlreadyApplied
    }
}
