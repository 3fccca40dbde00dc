//! The command channel's agent endpoints, long-polling
//! (`printwatch_protocol::channel`; what is stored when:
//! [`crate::command`]).
//!
//! - `POST /agent/v1/channel/challenge`: a fresh challenge (JSON). Nothing
//!   is stored: it carries its time and a MAC under a key derived from the
//!   master key, so any server of the database checks it.
//! - `POST /agent/v1/channel/poll`: a sealed hello naming that challenge,
//!   with the agent's acknowledgements and results. They are stored first;
//!   then the request is held until a command is queued for the agent (a
//!   wake-up from this process, or from another one through PostgreSQL
//!   `NOTIFY`; the queue is also looked at every few seconds) or for
//!   [`AppState::poll_hold`]. The answer is a sealed [`ChannelDown`] under
//!   the hello's sequence number and naming its challenge: the queued
//!   commands and the ids of the results now stored. It comes at once when
//!   there is anything to say.
//!
//! Refusals as for envelopes: 401 when the hello does not authenticate
//! (unknown agent, no key, wrong key), 403 with `reason` when the agent is
//! revoked or expired, 400 when the challenge is not one of ours or is
//! too old (ask for a new one).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use printwatch_protocol::ProtocolError;
use printwatch_protocol::channel::{
    Challenge, ChannelDown, ChannelUp, CommandEnvelope, MAX_COMMANDS,
};
use printwatch_protocol::envelope::{self, Direction, UnverifiedHeader};

use super::{Access, AppState, Endpoint};
use crate::command::{CommandOutcome, SAFETY_LOOK, stored_detail};
use crate::model::{AgentState, NewAudit};
use crate::{Result, ServerError};

/// Largest hello: 64 results of 4 KiB, sealed and compressed, fit well.
const MAX_HELLO: usize = 512 * 1024;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::POST,
            "/agent/v1/channel/challenge",
            "A fresh challenge for the command channel's sealed hello",
            Access::Agent,
            post(challenge),
        )
        .returns::<Challenge>(),
        Endpoint::new(
            Method::POST,
            "/agent/v1/channel/poll",
            "The command channel by long-polling: a sealed hello (application/octet-stream) \
             naming a challenge, with acknowledgements and results; held until a command \
             is queued (at most 25 s), answered with the sealed commands \
             (application/octet-stream)",
            Access::Agent,
            post(poll).layer(DefaultBodyLimit::max(MAX_HELLO)),
        )
        .bytes()
        .sealed(),
    ]
}

async fn challenge(State(state): State<AppState>) -> Json<Challenge> {
    use base64::Engine;
    let bytes = state.challenges.make(crate::now());
    Json(Challenge {
        challenge: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

async fn poll(State(state): State<AppState>, body: Bytes) -> Result<Response> {
    let not_authentic = || ServerError::Protocol(ProtocolError::NotAuthentic);
    let header = UnverifiedHeader::parse(&body)?;
    if header.direction != Direction::AgentToServer {
        return Err(ProtocolError::WrongDirection.into());
    }
    let (agent, secrets) = state
        .store
        .agent_with_secrets(header.agent_id)
        .await?
        .ok_or_else(not_authentic)?;
    if agent.state != AgentState::Active {
        return Err(not_authentic());
    }
    let sealed_key = secrets.key_sealed.as_deref().ok_or_else(not_authentic)?;
    let key = state.master.open_agent_key(agent.id, sealed_key)?;
    let opened = envelope::open::<ChannelUp>(&key, Direction::AgentToServer, &body)?;
    let now = crate::now();
    if let Some(refusal) = agent.refusal(now) {
        return Err(refusal);
    }
    let hello = opened.message;
    hello.check()?;
    let challenge = Challenge {
        challenge: hello.challenge.clone(),
    }
    .bytes()?;
    if !state.challenges.check(&challenge, now) {
        return Err(ServerError::Invalid(
            "the channel's challenge is not this server's or too old: ask for a new one".into(),
        ));
    }

    // What the agent tells first: durable before anything is answered.
    state
        .store
        .acknowledge_commands(agent.id, &hello.acks, now)
        .await?;
    let mut stored = Vec::with_capacity(hello.results.len());
    for result in &hello.results {
        let outcome = CommandOutcome {
            ok: result.ok,
            detail: stored_detail(&result.detail),
        };
        let finished = state
            .store
            .finish_command(agent.id, result.id, &outcome, now)
            .await?;
        if let Some(command) = finished {
            tracing::info!(agent = %agent.id, command = %command.id, ok = outcome.ok, "command answered");
            if command.kind == "deactivate" && outcome.ok {
                // The agent erased its key: nothing more can come from it.
                let audit = NewAudit {
                    tenant_id: agent.tenant_id,
                    actor: format!("agent {}", agent.id),
                    action: "agent.deactivated".into(),
                    target: format!("agent {}", agent.id),
                    detail: format!("by command {}", command.id),
                    at: now,
                };
                state
                    .store
                    .revoke_agent_audited(agent.tenant_id, agent.id, audit)
                    .await?;
            }
        }
        // Stored now or before (or never ours): either way, not again.
        stored.push(result.id);
    }

    // Hold until a command is queued, or the hold ends.
    let holder = state.hub.hold(agent.id);
    let deadline = tokio::time::Instant::now() + state.poll_hold;
    let queued = loop {
        let woken = holder.notify.notified();
        tokio::pin!(woken);
        // Registered before the look: a command queued after it wakes us.
        woken.as_mut().enable();
        let queued = state
            .store
            .queued_commands(agent.id, MAX_COMMANDS as i64, crate::now())
            .await?;
        if !queued.is_empty() || !stored.is_empty() {
            break queued;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            break queued;
        }
        let look = (now + SAFETY_LOOK).min(deadline);
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep_until(look) => {}
        }
    };
    drop(holder);

    let mut commands = Vec::with_capacity(queued.len());
    if !queued.is_empty() {
        // A configure carries the configuration in force now (read again:
        // it may have been pushed while the request was held).
        let config = if queued.iter().any(|c| c.kind == "configure") {
            match state.store.agent_with_secrets(agent.id).await? {
                Some((now_agent, now_secrets)) => super::agent::pushed_config(
                    &state,
                    &now_agent,
                    now_secrets.config_sealed.as_deref(),
                )?,
                None => None,
            }
        } else {
            None
        };
        for command in &queued {
            commands.push(CommandEnvelope {
                id: command.wire_id(),
                command: command.to_protocol(config.as_ref()),
            });
        }
    }
    let down = ChannelDown {
        challenge: hello.challenge,
        commands,
        stored,
    };
    debug_assert!(down.check().is_ok());
    let sealed = envelope::seal(
        &key,
        Direction::ServerToAgent,
        agent.id,
        opened.seq,
        &down,
        &mut rand::rngs::OsRng,
    )?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        sealed,
    )
        .into_response())
}
