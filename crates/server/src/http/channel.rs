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
//! - `GET /agent/v1/channel/ws`: the same messages on a WebSocket (see
//!   [`websocket`]); the agent falls back to long-polling when the
//!   Upgrade is refused.
//!
//! Refusals as for envelopes: 401 when the hello does not authenticate
//! (unknown agent, no key, wrong key), 403 with `reason` when the agent is
//! revoked or expired, 400 when the challenge is not one of ours or is
//! too old (ask for a new one).

use super::extract::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use printwatch_protocol::channel::{
    Challenge, ChannelDown, ChannelUp, CommandEnvelope, MAX_COMMANDS,
};
use printwatch_protocol::envelope::{self, Direction, UnverifiedHeader};
use printwatch_protocol::{AgentKey, ProtocolError};

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
        Endpoint::new(
            Method::GET,
            "/agent/v1/channel/ws",
            "The command channel as a WebSocket (101 Switching Protocols): the server sends a \
             challenge (text, JSON), the agent a sealed hello naming it (binary), then sealed \
             commands and sealed acknowledgements and results flow as binary messages; \
             pings find a half-open connection within a minute",
            Access::Agent,
            axum::routing::get(websocket),
        )
        .upgrade(),
    ]
}

async fn challenge(State(state): State<AppState>) -> Json<Challenge> {
    use base64::Engine;
    let bytes = state.challenges.make(crate::now());
    Json(Challenge {
        challenge: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

/// A hello that authenticated: the agent, its key, the message.
struct Hello {
    agent: crate::model::Agent,
    key: AgentKey,
    seq: u64,
    up: ChannelUp,
}

/// Opens and checks a sealed hello: the agent exists, is active and not
/// expired, the envelope opens with its key, and (unless `challenge` is
/// given, a WebSocket's, compared instead) the challenge is one of ours and
/// fresh.
async fn authenticate(state: &AppState, body: &[u8], challenge: Option<&str>) -> Result<Hello> {
    let not_authentic = || ServerError::Protocol(ProtocolError::NotAuthentic);
    let header = UnverifiedHeader::parse(body)?;
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
    let opened = envelope::open::<ChannelUp>(&key, Direction::AgentToServer, body)?;
    let now = crate::now();
    if let Some(refusal) = agent.refusal(now) {
        return Err(refusal);
    }
    let up = opened.message;
    up.check()?;
    match challenge {
        Some(expected) => {
            if up.challenge != expected {
                return Err(not_authentic());
            }
        }
        None => {
            let bytes = Challenge {
                challenge: up.challenge.clone(),
            }
            .bytes()?;
            if !state.challenges.check(&bytes, now) {
                return Err(ServerError::Invalid(
                    "the channel's challenge is not this server's or too old: ask for a new one"
                        .into(),
                ));
            }
        }
    }
    Ok(Hello {
        agent,
        key,
        seq: opened.seq,
        up,
    })
}

/// What the agent tells (acknowledgements, results), stored before
/// anything is answered; the ids of the results now stored.
async fn take(state: &AppState, agent: &crate::model::Agent, up: &ChannelUp) -> Result<Vec<u64>> {
    let now = crate::now();
    state
        .store
        .acknowledge_commands(agent.id, &up.acks, now)
        .await?;
    let mut stored = Vec::with_capacity(up.results.len());
    for result in &up.results {
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
    Ok(stored)
}

/// The queued commands as the agent receives them (a configure carries
/// the configuration in force now: read again, it may have been pushed
/// while the request was held).
async fn envelopes(
    state: &AppState,
    agent: crate::ids::AgentId,
    queued: &[crate::command::CommandRecord],
) -> Result<Vec<CommandEnvelope>> {
    let config = if queued.iter().any(|c| c.kind == "configure") {
        match state.store.agent_with_secrets(agent).await? {
            Some((now_agent, now_secrets)) => super::agent::pushed_config(
                state,
                &now_agent,
                now_secrets.config_sealed.as_deref(),
            )?,
            None => None,
        }
    } else {
        None
    };
    Ok(queued
        .iter()
        .map(|command| CommandEnvelope {
            id: command.wire_id(),
            command: command.to_protocol(config.as_ref()),
        })
        .collect())
}

fn seal_down(hello: &Hello, seq: u64, down: &ChannelDown) -> Result<Vec<u8>> {
    debug_assert!(down.check().is_ok());
    Ok(envelope::seal(
        &hello.key,
        Direction::ServerToAgent,
        hello.agent.id,
        seq,
        down,
        &mut rand::rngs::OsRng,
    )?)
}

/// A hello's body, read header first as envelopes are (`agent.rs`): an
/// agent that does not exist or has no key is refused after
/// [`envelope::HEADER_LEN`] bytes, and the bodies read are bounded by
/// their own [`super::EnvelopeGate`] (one per agent, a byte budget for
/// all): the uplink's envelopes and the channel's hellos of one agent
/// travel at the same time and must not refuse each other.
async fn hello_body(state: &AppState, request: axum::extract::Request) -> Result<Vec<u8>> {
    let not_authentic = || ServerError::Protocol(ProtocolError::NotAuthentic);
    let declared = super::agent::declared_length(request.headers())?;
    if let Some(size) = declared.filter(|&n| n > MAX_HELLO) {
        return Err(ProtocolError::TooLarge {
            size,
            limit: MAX_HELLO,
        }
        .into());
    }
    let mut incoming = request.into_body();
    let mut body = Vec::new();
    super::agent::read_body(&mut incoming, &mut body, envelope::HEADER_LEN, MAX_HELLO).await?;
    let header = UnverifiedHeader::parse_prefix(&body)?;
    let (agent, secrets) = state
        .store
        .agent_with_secrets(header.agent_id)
        .await?
        .ok_or_else(not_authentic)?;
    if agent.state != AgentState::Active || secrets.key_sealed.is_none() {
        return Err(not_authentic());
    }
    let _admitted = state
        .hellos
        .admit(agent.id, declared.unwrap_or(MAX_HELLO))?;
    if let Some(size) = declared {
        body.reserve_exact(size.saturating_sub(body.len()));
    }
    super::agent::read_body(&mut incoming, &mut body, usize::MAX, MAX_HELLO).await?;
    Ok(body)
}

async fn poll(State(state): State<AppState>, request: axum::extract::Request) -> Result<Response> {
    let body = hello_body(&state, request).await?;
    let hello = authenticate(&state, &body, None).await?;
    let stored = take(&state, &hello.agent, &hello.up).await?;
    let agent = hello.agent.id;

    // Hold until a command is queued, or the hold ends.
    let holder = state.hub.hold(agent);
    let deadline = tokio::time::Instant::now() + state.poll_hold;
    let queued = loop {
        let woken = holder.notify.notified();
        tokio::pin!(woken);
        // Registered before the look: a command queued after it wakes us.
        woken.as_mut().enable();
        let queued = state
            .store
            .queued_commands(agent, MAX_COMMANDS as i64, crate::now())
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

    let down = ChannelDown {
        challenge: hello.up.challenge.clone(),
        commands: envelopes(&state, agent, &queued).await?,
        stored,
    };
    let sealed = seal_down(&hello, hello.seq, &down)?;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        sealed,
    )
        .into_response())
}

/// WebSockets waiting for their hello (unauthenticated): at most this many
/// per process (each may hold one message of up to [`WS_MAX_MESSAGE`]),
/// others are refused (503) before the upgrade.
const MAX_UNAUTHENTICATED_WS: usize = 256;
/// The hello must come within this long of the upgrade.
const WS_HELLO_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);
/// The server pings this often; an agent silent (no frame, no pong) for
/// [`WS_SILENT_FOR`] is gone (a half-open connection): closed.
const WS_PING_EVERY: std::time::Duration = std::time::Duration::from_secs(20);
const WS_SILENT_FOR: std::time::Duration = std::time::Duration::from_secs(50);
/// Largest message from an agent (a hello with results).
const WS_MAX_MESSAGE: usize = MAX_HELLO;

static UNAUTHENTICATED_WS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One unauthenticated WebSocket counted while it lives.
struct Unauthenticated;

impl Unauthenticated {
    fn admit() -> Option<Unauthenticated> {
        use std::sync::atomic::Ordering;
        let before = UNAUTHENTICATED_WS.fetch_add(1, Ordering::SeqCst);
        if before >= MAX_UNAUTHENTICATED_WS {
            UNAUTHENTICATED_WS.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Unauthenticated)
    }
}

impl Drop for Unauthenticated {
    fn drop(&mut self) {
        UNAUTHENTICATED_WS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The command channel on a WebSocket. The server speaks first: a fresh
/// challenge (a text message, the JSON of [`Challenge`]); the agent's first
/// binary message is its sealed hello naming it (within
/// [`WS_HELLO_WITHIN`], else the connection closes). From then on every
/// binary message is sealed: the agent's [`ChannelUp`] (the same
/// challenge, sequence numbers increasing from 1) and the server's
/// [`ChannelDown`] (its own sequence from 1). The server answers every
/// message of the agent, and sends commands as they are queued (each at
/// most once per connection: a command not acknowledged goes again on the
/// next connection). Pings every [`WS_PING_EVERY`]; an agent silent for
/// [`WS_SILENT_FOR`] is dropped.
async fn websocket(
    State(state): State<AppState>,
    ws: axum::extract::ws::WebSocketUpgrade,
) -> Result<Response> {
    let Some(pending) = Unauthenticated::admit() else {
        return Err(ServerError::Busy);
    };
    Ok(ws
        .max_message_size(WS_MAX_MESSAGE)
        .max_frame_size(WS_MAX_MESSAGE)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            if let Err(e) = serve_socket(state, socket, pending).await {
                tracing::debug!("a command channel ended: {e}");
            }
        }))
}

async fn serve_socket(
    state: AppState,
    mut socket: axum::extract::ws::WebSocket,
    pending: Unauthenticated,
) -> Result<()> {
    use axum::extract::ws::Message;
    use base64::Engine;
    let closed = || ServerError::Invalid("the WebSocket closed".into());
    let challenge =
        base64::engine::general_purpose::STANDARD.encode(state.challenges.make(crate::now()));
    let text = serde_json::to_string(&Challenge {
        challenge: challenge.clone(),
    })
    .map_err(|e| ServerError::Invalid(e.to_string()))?;
    socket
        .send(Message::Text(text.into()))
        .await
        .map_err(|_| closed())?;
    // The hello, in time.
    let first = tokio::time::timeout(WS_HELLO_WITHIN, async {
        loop {
            match socket.recv().await {
                Some(Ok(Message::Binary(bytes))) => return Some(bytes),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(closed)?;
    let mut hello = authenticate(&state, &first, Some(&challenge)).await?;
    if hello.seq != 1 {
        return Err(ServerError::Invalid("a WebSocket hello is number 1".into()));
    }
    drop(pending);
    let agent = hello.agent.id;
    tracing::debug!(agent = %agent, "command channel open (WebSocket)");
    let mut last_up = hello.seq;
    let mut down_seq = 0u64;
    let mut sent = std::collections::HashSet::<u64>::new();
    let mut stored = take(&state, &hello.agent, &hello.up).await?;
    // The first answer goes at once (it tells the agent the channel is up).
    let mut answer_due = true;
    let holder = state.hub.hold(agent);
    let mut ping = tokio::time::interval(WS_PING_EVERY);
    ping.tick().await;
    let mut heard = tokio::time::Instant::now();
    loop {
        let woken = holder.notify.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let queued = state
            .store
            .queued_commands(agent, MAX_COMMANDS as i64, crate::now())
            .await?;
        let new: Vec<_> = queued
            .into_iter()
            .filter(|c| !sent.contains(&c.wire_id()))
            .collect();
        if !new.is_empty() || answer_due {
            down_seq += 1;
            let down = ChannelDown {
                challenge: challenge.clone(),
                commands: envelopes(&state, agent, &new).await?,
                stored: std::mem::take(&mut stored),
            };
            let sealed = seal_down(&hello, down_seq, &down)?;
            socket
                .send(Message::Binary(sealed.into()))
                .await
                .map_err(|_| closed())?;
            sent.extend(new.iter().map(|c| c.wire_id()));
            answer_due = false;
        }
        tokio::select! {
            () = &mut woken => {}
            () = tokio::time::sleep(SAFETY_LOOK) => {}
            _ = ping.tick() => {
                if heard.elapsed() > WS_SILENT_FOR {
                    tracing::debug!(agent = %agent, "command channel silent: closed");
                    return Ok(());
                }
                socket
                    .send(Message::Ping(axum::body::Bytes::new()))
                    .await
                    .map_err(|_| closed())?;
            }
            message = socket.recv() => {
                heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        let next = authenticate(&state, &bytes, Some(&challenge)).await?;
                        if next.agent.id != agent || next.seq <= last_up {
                            return Err(ServerError::Protocol(ProtocolError::NotAuthentic));
                        }
                        last_up = next.seq;
                        stored.extend(take(&state, &next.agent, &next.up).await?);
                        hello = next;
                        answer_due = true;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Text(_))) => {
                        return Err(ServerError::Invalid("text on the channel".into()));
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(()),
                }
            }
        }
    }
}
