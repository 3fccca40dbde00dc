//! The agents' endpoints: activation with the one-time PIN, and sealed
//! submissions (heartbeats and device reports).
//!
//! Nothing an agent sends is trusted before it authenticates: the PIN proof
//! for activation, the envelope's AEAD tag for everything after. A failure
//! of either is the same 401, whether or not the agent exists.
//!
//! Answers to an authentic envelope: 200 `applied` (stored now); 409 with
//! `"status": "already_applied"` and its `seq` when it is the last one
//! applied again (stored before: an agent whose answer was lost may drop
//! it from its spool); 409 `"status": "stale_sequence"` when it is older
//! (a replay or a reordering: nothing stored); 403 when the agent is
//! revoked or expired (keep the spool, nothing was stored).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use printwatch_protocol::ProtocolError;
use printwatch_protocol::activation::{self, ActivationRequest, ActivationResponse, PinVerifier};
use printwatch_protocol::envelope::{self, Direction, SeqVerdict, UnverifiedHeader};
use printwatch_protocol::message::{AgentMessage, IngestReply, IngestStatus};
use serde_json::json;

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
        )
        .body::<ActivationRequest>()
        .returns::<ActivationResponse>(),
        Endpoint::new(
            Method::POST,
            "/agent/v1/submit",
            "A sealed envelope (application/octet-stream): heartbeat or device reports",
            Access::Agent,
            post(submit).layer(DefaultBodyLimit::max(envelope::MAX_ENVELOPE)),
        )
        .bytes(),
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
    // Told only to the holder of the PIN: its credentials ran out before use.
    if agent.expires_at.is_some_and(|e| now >= e) {
        return Err(ServerError::AgentRevoked);
    }
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

async fn submit(State(state): State<AppState>, body: Bytes) -> Result<Response> {
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
    let last = u64::try_from(agent.last_seq).unwrap_or(0);
    if let Some(refused) = sequence_refused(last, opened.seq) {
        return Ok(refused);
    }
    let applied = |resync| {
        Json(IngestReply {
            status: IngestStatus::Applied,
            seq: opened.seq,
            resync,
        })
        .into_response()
    };
    match opened.message.clone() {
        AgentMessage::Heartbeat(hb) => {
            let report = AgentReport {
                version: hb.agent_version.chars().take(100).collect(),
                os: hb.os.chars().take(100).collect(),
                hostname: hb.hostname.map(|h| h.chars().take(255).collect()),
            };
            if !state
                .store
                .heartbeat(agent.id, opened.seq, &report, now)
                .await?
            {
                return not_applied(&state, agent.id, opened.seq, now).await;
            }
            Ok(applied(vec![]))
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
            if !outcome.applied {
                return not_applied(&state, agent.id, opened.seq, now).await;
            }
            tracing::debug!(agent = %agent.id, seq = opened.seq, devices = outcome.devices, "ingested");
            Ok(applied(outcome.resync))
        }
    }
}

/// The 409 answer when `seq` does not come after `last` (the last applied).
fn sequence_refused(last: u64, seq: u64) -> Option<Response> {
    let (status, error) = match envelope::check_sequence(last, seq) {
        SeqVerdict::Apply => return None,
        // Stored before, its answer lost: the agent may drop it from its spool.
        SeqVerdict::Duplicate => (
            "already_applied",
            format!("envelope {seq} was applied already; nothing stored again"),
        ),
        SeqVerdict::Stale { last_applied } => (
            "stale_sequence",
            ServerError::StaleSequence { seq, last_applied }.to_string(),
        ),
    };
    let body = json!({ "status": status, "seq": seq, "last_applied": last, "error": error });
    Some((StatusCode::CONFLICT, Json(body)).into_response())
}

/// The store refused an envelope that passed the checks above: something
/// changed in between. Say what, from the agent's row as it is now; never
/// "applied", or the agent would drop data that was not stored.
async fn not_applied(
    state: &AppState,
    id: crate::ids::AgentId,
    seq: u64,
    now: i64,
) -> Result<Response> {
    let agent = state
        .store
        .agent_with_secrets(id)
        .await?
        .map(|(agent, _)| agent)
        .ok_or(ServerError::AgentRevoked)?;
    if !agent.may_submit(now) {
        return Err(ServerError::AgentRevoked);
    }
    let last = u64::try_from(agent.last_seq).unwrap_or(0);
    // Still "apply": only a sequence number too large to store does that.
    sequence_refused(last, seq)
        .ok_or_else(|| ServerError::Invalid(format!("sequence number {seq} is too large")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use axum::body::to_bytes;

    use super::*;
    use crate::model::{NewAgent, TenantKind};
    use crate::secrets::MasterKey;
    use crate::store::SqlStore;

    async fn body(r: Response) -> serde_json::Value {
        let bytes = to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    // The store refusing after the handler's checks passed (a revocation
    // or a concurrent envelope in between): never an answer that would let
    // the agent drop its spool.
    #[tokio::test]
    async fn a_refusal_by_the_store_is_explained_from_the_agent_as_it_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open_data_dir(dir.path()).await.unwrap();
        let state = AppState::new(Arc::new(store.clone()), MasterKey::generate());
        let tenant = state
            .store
            .create_tenant(None, TenantKind::Provider, "P", 0)
            .await
            .unwrap();
        let agent = state
            .store
            .create_agent(
                NewAgent {
                    tenant_id: tenant.id,
                    site_id: None,
                    name: "a".into(),
                    pin_verifier: Some(vec![1; 32]),
                    pin_expires_at: 100,
                    expires_at: None,
                },
                0,
            )
            .await
            .unwrap();
        let report = AgentReport::default();
        assert!(
            state
                .store
                .activate_agent(agent.id, &[9; 72], &report, 1)
                .await
                .unwrap()
        );
        assert!(
            state
                .store
                .heartbeat(agent.id, 5, &report, 2)
                .await
                .unwrap()
        );

        let r = not_applied(&state, agent.id, 5, 3).await.unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let b = body(r).await;
        assert_eq!(
            (b["status"].as_str(), b["seq"].as_u64()),
            (Some("already_applied"), Some(5))
        );
        let r = not_applied(&state, agent.id, 4, 3).await.unwrap();
        assert_eq!(body(r).await["status"], "stale_sequence");
        assert!(matches!(
            not_applied(&state, agent.id, u64::MAX, 3).await,
            Err(ServerError::Invalid(_))
        ));

        assert!(state.store.revoke_agent(tenant.id, agent.id).await.unwrap());
        assert!(matches!(
            not_applied(&state, agent.id, 6, 3).await,
            Err(ServerError::AgentRevoked)
        ));
        store.close().await;
    }
}
