//! The agents' endpoints: activation with the one-time PIN, and sealed
//! submissions (heartbeats and device reports).
//!
//! Nothing an agent sends is trusted before it authenticates: the PIN proof
//! for activation, the envelope's AEAD tag for everything after. A failure
//! of either is the same 401, whether or not the agent exists.
//!
//! Every authentic envelope is answered with a sealed [`Receipt`]
//! (`application/octet-stream`, sealed server → agent under the envelope's
//! sequence number and naming its digest): 200 `applied` (stored now); 409
//! `already_applied` when it is the last one applied of its sequence again
//! (stored before: an agent whose receipt was lost may drop it from its
//! spool); 409 `stale` with `last_applied` when it is older (a replay or a
//! reordering: nothing stored). Submissions and heartbeats count in
//! sequences of their own ([`Stream`]). A heartbeat's receipt carries the
//! configuration pushed to the agent when the agent runs another version.
//!
//! Plain `{"error"}` JSON instead: before the envelope authenticates (400,
//! 401, 413, 429 while another body of the agent is being received, 503
//! with `Retry-After` when bodies in flight hold their budget; a revoked
//! agent's key is deleted, so its envelopes are 401), and 403 with `"reason": "revoked"` or `"expired"` for an authentic
//! envelope of an agent that may no longer submit (nothing stored).

use super::extract::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use printwatch_protocol::activation::{self, ActivationRequest, ActivationResponse, PinVerifier};
use printwatch_protocol::envelope::{self, Direction, SeqVerdict, UnverifiedHeader};
use printwatch_protocol::message::{AgentMessage, PushedConfig, Receipt, ReceiptStatus};
use printwatch_protocol::{AgentKey, ProtocolError};

use super::auth::ClientAddr;
use super::{Access, AppState, Endpoint};
use crate::ingest::format_time;
use crate::model::{AgentReport, AgentState, HeartbeatRecord, IngestBatch, Stream, config_context};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/agent/v1/activate",
            "Activate an agent: X25519 key agreement bound to its one-time PIN",
            Access::Agent,
            post(activate).layer(DefaultBodyLimit::max(super::MAX_PUBLIC_BODY)),
        )
        .body::<ActivationRequest>()
        .returns::<ActivationResponse>(),
        Endpoint::new(
            Method::POST,
            "/agent/v1/submit",
            "A sealed envelope (application/octet-stream): heartbeat or device reports. \
             Answered with a sealed receipt (application/octet-stream): 200 applied, 409 \
             already applied or stale; 403 with `reason` revoked or expired",
            Access::Agent,
            post(submit).layer(DefaultBodyLimit::max(envelope::MAX_ENVELOPE)),
        )
        .bytes()
        .sealed(),
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
                // The limit is on the guessers (per address), not on the
                // PIN: 50 bits against 10 guesses per address per 10
                // minutes for a week. Burning the PIN after a few wrong
                // guesses let anyone destroy pending activations.
                state.pin_limiter.failed(&key);
                tracing::warn!(agent = %agent.id, "wrong activation PIN");
                return Err(refused());
            }
            Err(e) => return Err(e.into()),
        };
    // Told only to the holder of the PIN: its credentials ran out before use.
    if agent.expired(now) {
        return Err(ServerError::AgentExpired);
    }
    let sealed = state.master.seal_agent_key(agent.id, &agent_key)?;
    let report = AgentReport::bounded(
        &request.agent.version,
        &request.agent.os,
        request.agent.hostname.as_deref(),
    );
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

/// An envelope, read header first: the agent it names is looked up before
/// the body is read (and held) in full, so that bodies naming no agent with
/// a key are refused after [`envelope::HEADER_LEN`] bytes, and the bodies
/// that are read are bounded by [`super::EnvelopeGate`] (one per agent, a
/// byte budget for all).
async fn submit(State(state): State<AppState>, request: Request) -> Result<Response> {
    let declared = declared_length(request.headers())?;
    if let Some(size) = declared.filter(|&n| n > envelope::MAX_ENVELOPE) {
        return Err(ProtocolError::TooLarge {
            size,
            limit: envelope::MAX_ENVELOPE,
        }
        .into());
    }
    let mut incoming = request.into_body();
    let mut body = Vec::new();
    read_body(
        &mut incoming,
        &mut body,
        envelope::HEADER_LEN,
        envelope::MAX_ENVELOPE,
    )
    .await?;
    let header = UnverifiedHeader::parse_prefix(&body)?;
    if header.direction != Direction::AgentToServer {
        return Err(ProtocolError::WrongDirection.into());
    }
    let not_authentic = || ServerError::Protocol(ProtocolError::NotAuthentic);
    let (agent, secrets) = state
        .store
        .agent_with_secrets(header.agent_id)
        .await?
        .ok_or_else(not_authentic)?;
    // Pending and revoked agents have no key: nothing could open. (An
    // expired agent still has one, and is told so once its envelope opens.)
    if agent.state != AgentState::Active {
        return Err(not_authentic());
    }
    let sealed_key = secrets.key_sealed.as_deref().ok_or_else(not_authentic)?;
    let _admitted = state
        .envelopes
        .admit(agent.id, declared.unwrap_or(envelope::MAX_ENVELOPE))?;
    if let Some(size) = declared {
        body.reserve_exact(size.saturating_sub(body.len()));
    }
    read_body(&mut incoming, &mut body, usize::MAX, envelope::MAX_ENVELOPE).await?;
    let key = state.master.open_agent_key(agent.id, sealed_key)?;
    let opened = envelope::open::<AgentMessage>(&key, Direction::AgentToServer, &body)?;
    // Authentic: from here on, every answer but a refusal is a sealed receipt.
    let now = crate::now();
    if let Some(refusal) = agent.refusal(now) {
        return Err(refusal);
    }
    if i64::try_from(opened.seq).is_err() {
        return Err(ServerError::Invalid(format!(
            "sequence number {} is too large",
            opened.seq
        )));
    }
    let answer = Answer {
        key: &key,
        agent: agent.id,
        seq: opened.seq,
        answers: envelope::digest(&body),
        now,
    };
    let stream = Stream::of(&opened.message);
    if let Some(refused) = answer.refused(agent.last_applied(stream))? {
        return Ok(refused);
    }
    match opened.message {
        AgentMessage::Heartbeat(hb) => {
            let record = HeartbeatRecord::new(&hb, now);
            if !state
                .store
                .heartbeat(agent.id, opened.seq, &record, now)
                .await?
            {
                return not_applied(&state, &answer, stream).await;
            }
            let config = if agent.config_to_push(hb.config_version) {
                pushed_config(&state, &agent, secrets.config_sealed.as_deref())?
            } else {
                None
            };
            answer.applied(vec![], config)
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
                return not_applied(&state, &answer, stream).await;
            }
            tracing::debug!(agent = %agent.id, seq = opened.seq, devices = outcome.devices, "ingested");
            answer.applied(outcome.resync, None)
        }
    }
}

/// The body length a request announces (`Content-Length`), if it does.
pub(super) fn declared_length(headers: &axum::http::HeaderMap) -> Result<Option<usize>> {
    let Some(value) = headers.get(header::CONTENT_LENGTH) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
        .ok_or_else(|| ServerError::Invalid("Content-Length is not a number".into()))
}

/// Read `stream` into `body` until it holds `want` bytes (or one frame
/// more) or the stream ends; more than `limit` in all is refused (413).
pub(super) async fn read_body(
    stream: &mut Body,
    body: &mut Vec<u8>,
    want: usize,
    limit: usize,
) -> Result<()> {
    use hyper::body::Body as _;
    while body.len() < want {
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_frame(cx));
        let Some(frame) = frame.await else {
            return Ok(());
        };
        let frame = frame.map_err(|e| {
            ServerError::Invalid(format!("the envelope could not be read in full: {e}"))
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let size = body.len().saturating_add(data.len());
        if size > limit {
            return Err(ProtocolError::TooLarge { size, limit }.into());
        }
        body.extend_from_slice(&data);
    }
    Ok(())
}

/// The configuration stored for `agent`, opened, for a heartbeat's receipt.
pub(super) fn pushed_config(
    state: &AppState,
    agent: &crate::model::Agent,
    sealed: Option<&[u8]>,
) -> Result<Option<PushedConfig>> {
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let version = agent.config_version;
    let json = state
        .master
        .open(&config_context(agent.id, version), sealed)?;
    let config = serde_json::from_slice(&json).map_err(|e| {
        ServerError::Corrupt(format!("pushed configuration of agent {}: {e}", agent.id))
    })?;
    Ok(Some(PushedConfig {
        version: u64::try_from(version).unwrap_or(0),
        config,
    }))
}

/// The sealed receipt of one authentic envelope: under the agent's key and
/// the envelope's sequence number, naming the envelope's digest.
struct Answer<'a> {
    key: &'a AgentKey,
    agent: crate::ids::AgentId,
    seq: u64,
    answers: String,
    now: i64,
}

impl Answer<'_> {
    fn seal(&self, http: StatusCode, receipt: Receipt) -> Result<Response> {
        let sealed = envelope::seal(
            self.key,
            Direction::ServerToAgent,
            self.agent,
            self.seq,
            &receipt,
            &mut rand::rngs::OsRng,
        )?;
        Ok((
            http,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            sealed,
        )
            .into_response())
    }

    fn receipt(&self, status: ReceiptStatus) -> Receipt {
        Receipt {
            answers: self.answers.clone(),
            status,
            server_time: format_time(self.now),
            resync: vec![],
            config: None,
        }
    }

    /// 200: stored now.
    fn applied(&self, resync: Vec<String>, config: Option<PushedConfig>) -> Result<Response> {
        let mut receipt = self.receipt(ReceiptStatus::Applied);
        receipt.resync = resync;
        receipt.config = config;
        self.seal(StatusCode::OK, receipt)
    }

    /// The 409 receipt when the envelope does not come after `last`, the
    /// last applied of its sequence: `already_applied` (stored before, its
    /// receipt lost: the agent may drop it) or `stale`.
    fn refused(&self, last: u64) -> Result<Option<Response>> {
        let status = match envelope::check_sequence(last, self.seq) {
            SeqVerdict::Apply => return Ok(None),
            SeqVerdict::Duplicate => ReceiptStatus::AlreadyApplied,
            SeqVerdict::Stale { last_applied } => ReceiptStatus::Stale { last_applied },
        };
        self.seal(StatusCode::CONFLICT, self.receipt(status))
            .map(Some)
    }
}

/// The store refused an envelope that passed the checks above: something
/// changed in between. Say what, from the agent's row as it is now; never
/// "applied", or the agent would drop data that was not stored.
async fn not_applied(state: &AppState, answer: &Answer<'_>, stream: Stream) -> Result<Response> {
    let agent = state
        .store
        .agent_with_secrets(answer.agent)
        .await?
        .map(|(agent, _)| agent)
        .ok_or(ServerError::AgentRevoked)?;
    if let Some(refusal) = agent.refusal(answer.now) {
        return Err(refusal);
    }
    // Still "apply": only a sequence number too large to store does that.
    answer
        .refused(agent.last_applied(stream))?
        .ok_or_else(|| ServerError::Invalid(format!("sequence number {} is too large", answer.seq)))
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

    async fn receipt(r: Response, key: &AgentKey, request: &[u8]) -> Receipt {
        let bytes = to_bytes(r.into_body(), 1 << 16).await.unwrap();
        envelope::open_receipt(key, request, &bytes).unwrap()
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
                .heartbeat(agent.id, 5, &HeartbeatRecord::default(), 2)
                .await
                .unwrap()
        );
        let key = AgentKey::from_bytes([3; 32]);
        let request = |seq: u64| {
            envelope::seal(
                &key,
                Direction::AgentToServer,
                agent.id,
                seq,
                &"a heartbeat",
                &mut rand::rngs::OsRng,
            )
            .unwrap()
        };
        let answer = |request: &[u8], seq: u64| Answer {
            key: &key,
            agent: agent.id,
            seq,
            answers: envelope::digest(request),
            now: 3,
        };

        let req = request(5);
        let r = not_applied(&state, &answer(&req, 5), Stream::Heartbeats)
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        assert_eq!(
            receipt(r, &key, &req).await.status,
            ReceiptStatus::AlreadyApplied
        );
        let req = request(4);
        let r = not_applied(&state, &answer(&req, 4), Stream::Heartbeats)
            .await
            .unwrap();
        assert_eq!(
            receipt(r, &key, &req).await.status,
            ReceiptStatus::Stale { last_applied: 5 }
        );
        // Submissions count apart: 4 is new there.
        assert!(matches!(
            not_applied(&state, &answer(&req, 4), Stream::Submissions).await,
            Err(ServerError::Invalid(_))
        ));
        let req = request(u64::MAX);
        assert!(matches!(
            not_applied(&state, &answer(&req, u64::MAX), Stream::Heartbeats).await,
            Err(ServerError::Invalid(_))
        ));

        assert!(state.store.revoke_agent(tenant.id, agent.id).await.unwrap());
        let req = request(6);
        assert!(matches!(
            not_applied(&state, &answer(&req, 6), Stream::Heartbeats).await,
            Err(ServerError::AgentRevoked)
        ));
        store.close().await;
    }
}
