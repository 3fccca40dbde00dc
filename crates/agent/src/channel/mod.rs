//! The command channel, agent side: the sans-IO [`machine`] and the task
//! that drives it over the daemon's [`Link`] (long-polling: the same
//! hyper, TLS, custom CA and CONNECT proxy path as the uplink).
//!
//! Each round: `POST /agent/v1/channel/challenge` for a fresh challenge,
//! then `POST /agent/v1/channel/poll` with a hello sealed with the agent's
//! key naming it (plus the acknowledgements and results the server does
//! not have). The server holds the request until a command is queued (at
//! most 25 s) and answers with sealed commands naming the same challenge.
//! Commands go to the daemon's main loop ([`Apply`]), which does them and
//! answers ([`Outcome`]).
//!
//! ## What is written when (`channel.json`, replaced whole, fsynced)
//! 1. An answer with new commands: the ids are written (with the commands,
//!    no result) **before** any is applied.
//! 2. A command applied: its result is written.
//! 3. An answer listing results as stored, or taking the acknowledgements:
//!    written with the next change (losing it only repeats a message).
//!
//! ## Crash points
//! - Before (1): nothing was acknowledged, the server sends the commands
//!   again; nothing was applied.
//! - After (1), before (2): at the next start the commands without a
//!   result are applied again ([`machine::Channel::interrupted`]): every
//!   kind is idempotent (a sweep, a collection, a configuration, a
//!   deactivation). If the server sends one again (its acknowledgement
//!   was lost), the id is known: acknowledged again, not applied again.
//! - After (2), before the server stored the result: it is sent again in
//!   every hello until an answer lists it as stored.
//! - A deactivation: the uplink stops and the refusal is written first,
//!   then the key file is erased, then the result goes (sealed with the
//!   key still in memory) for at most [`FINAL_DELIVERY`]; the daemon ends
//!   with the refused exit code, and so does every later start.

pub mod machine;

use std::sync::Arc;
use std::time::{Duration, Instant};

use printwatch_protocol::channel::{Challenge, ChannelDown, Command};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::{AgentId, AgentKey};
use rand::Rng;
use tokio::sync::{mpsc, oneshot, watch};

pub use machine::{Channel, ChannelState, Remembered};

use crate::daemon::Link;
use crate::state::StateDir;
use crate::websocket::WsError;

pub const CHALLENGE_PATH: &str = "/agent/v1/channel/challenge";
pub const POLL_PATH: &str = "/agent/v1/channel/poll";
pub const WS_PATH: &str = "/agent/v1/channel/ws";
/// After a refused Upgrade, long-polling this long before the WebSocket is
/// tried again.
pub const POLL_AFTER_REFUSAL: Duration = Duration::from_secs(600);
/// The agent pings this often; a server silent (no message, no pong) for
/// [`WS_SILENT_FOR`] is gone (a half-open connection): reconnect. Both
/// within a minute.
pub const WS_PING_EVERY: Duration = Duration::from_secs(15);
pub const WS_SILENT_FOR: Duration = Duration::from_secs(40);
/// Largest answer read (64 commands with configurations fit well).
const MAX_ANSWER: usize = 1024 * 1024;
/// After a deactivation, how long the result is tried before the agent
/// stops anyway.
pub const FINAL_DELIVERY: Duration = Duration::from_secs(30);

/// A command for the daemon's main loop to apply.
pub struct Apply {
    pub id: u64,
    pub command: Command,
    pub done: oneshot::Sender<Outcome>,
}

/// What applying a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub detail: String,
    /// The agent stops once the result is delivered (deactivation).
    pub stop: bool,
}

impl Outcome {
    pub fn ok(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: true,
            detail: detail.into(),
            stop: false,
        }
    }

    pub fn failed(detail: impl Into<String>) -> Outcome {
        Outcome {
            ok: false,
            detail: detail.into(),
            stop: false,
        }
    }
}

/// How the channel task ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A deactivation's result was delivered (or [`FINAL_DELIVERY`] passed).
    Deactivated,
    /// The daemon's main loop is gone.
    Closed,
}

pub struct ChannelTask {
    pub machine: Channel,
    pub state: StateDir,
    pub link: Arc<dyn Link>,
    pub key: AgentKey,
    pub agent_id: AgentId,
    pub apply: mpsc::UnboundedSender<Apply>,
    pub shutdown: watch::Receiver<bool>,
    /// Where the daemon's status says how the channel is held.
    pub status: Option<Arc<std::sync::Mutex<crate::state::Status>>>,
}

impl ChannelTask {
    pub async fn run(mut self) -> Ended {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_entropy();
        let mut stopping: Option<Instant> = None;
        let mut shutdown = self.shutdown.clone();
        for (id, command) in self.machine.interrupted() {
            tracing::info!(
                command = id,
                "applying again a command a restart interrupted"
            );
            match self.apply(id, command).await {
                Some(stop) => stopping = stopping.or(stop.then(Instant::now)),
                None => return Ended::Closed,
            }
        }
        // Long-polling only until then, after the WebSocket was refused.
        let mut polling_until: Option<Instant> = None;
        loop {
            if let Some(since) = stopping
                && (!self.machine.has_news() || since.elapsed() > FINAL_DELIVERY)
            {
                return Ended::Deactivated;
            }
            if *shutdown.borrow() {
                return Ended::Closed;
            }
            let websocket = polling_until.is_none_or(|until| Instant::now() >= until);
            let round = async {
                if websocket {
                    match self.link.websocket(WS_PATH).await {
                        Ok(io) => self.over_websocket(io, &mut stopping, &mut rng).await,
                        Err(WsError::Refused(why)) => {
                            tracing::warn!(
                                "the command channel's WebSocket was refused ({why}): long-polling for {:?}",
                                POLL_AFTER_REFUSAL
                            );
                            polling_until = Some(Instant::now() + POLL_AFTER_REFUSAL);
                            Ok(None)
                        }
                        Err(WsError::Failed(why)) => Err(why),
                    }
                } else {
                    match self.exchange(&mut rng).await {
                        Ok(commands) => {
                            self.mode("long-polling");
                            self.apply_all(commands, &mut stopping).await
                        }
                        Err(why) => Err(why),
                    }
                }
            };
            let outcome = tokio::select! {
                r = round => r,
                _ = shutdown.wait_for(|s| *s) => return Ended::Closed,
            };
            match outcome {
                Ok(Some(ended)) => return ended,
                Ok(None) => {}
                Err(why) => {
                    self.mode("down");
                    let wait = self.machine.on_failure(rng.r#gen());
                    tracing::warn!("the command channel: {why}; next try in {wait:?}");
                    let wait = match stopping {
                        Some(_) => wait.min(Duration::from_secs(2)),
                        None => wait,
                    };
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = shutdown.wait_for(|s| *s) => return Ended::Closed,
                    }
                }
            }
        }
    }

    /// Applies commands in order; Some(Closed) when the main loop is gone.
    async fn apply_all(
        &mut self,
        commands: Vec<(u64, Command)>,
        stopping: &mut Option<Instant>,
    ) -> Result<Option<Ended>, String> {
        for (id, command) in commands {
            tracing::info!(command = id, kind = command.kind(), "command received");
            match self.apply(id, command).await {
                Some(stop) => *stopping = stopping.or(stop.then(Instant::now)),
                None => return Ok(Some(Ended::Closed)),
            }
        }
        Ok(None)
    }

    /// The channel on a WebSocket until it ends: Err when it broke (try
    /// again after a backoff), Some when the task is done.
    async fn over_websocket(
        &mut self,
        io: crate::websocket::ChannelIo,
        stopping: &mut Option<Instant>,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Option<Ended>, String> {
        use futures::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_ANSWER))
            .max_frame_size(Some(MAX_ANSWER));
        let mut ws =
            tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Client, Some(config))
                .await;
        let broken = |e: tokio_tungstenite::tungstenite::Error| format!("the WebSocket broke: {e}");
        // The server speaks first: its challenge.
        let challenge = loop {
            let first = tokio::time::timeout(WS_SILENT_FOR, ws.next())
                .await
                .map_err(|_| "no challenge on the WebSocket".to_owned())?;
            match first {
                Some(Ok(Message::Text(text))) => {
                    let c: Challenge = serde_json::from_str(text.as_str())
                        .map_err(|_| "the challenge does not read".to_owned())?;
                    c.bytes()
                        .map_err(|e| format!("the challenge does not read: {e}"))?;
                    break c.challenge;
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Err(e)) => return Err(broken(e)),
                _ => return Err("the WebSocket closed before its challenge".into()),
            }
        };
        tracing::info!("the command channel is open (WebSocket)");
        self.mode("websocket");
        let mut up_seq = 0u64;
        let mut down_seq = 0u64;
        up_seq += 1;
        let hello = self.sealed_hello(&challenge, up_seq, rng)?;
        ws.send(Message::Binary(hello.into()))
            .await
            .map_err(broken)?;
        let mut ping = tokio::time::interval(WS_PING_EVERY);
        ping.tick().await;
        let mut heard = tokio::time::Instant::now();
        loop {
            tokio::select! {
                message = ws.next() => {
                    heard = tokio::time::Instant::now();
                    match message {
                        Some(Ok(Message::Binary(bytes))) => {
                            let opened = envelope::open::<ChannelDown>(&self.key, Direction::ServerToAgent, &bytes)
                                .map_err(|e| format!("a message does not open with this agent's key: {e}"))?;
                            if opened.agent_id != self.agent_id || opened.seq <= down_seq {
                                return Err("a message out of order, or for another agent".into());
                            }
                            down_seq = opened.seq;
                            let commands = self.take_answer(&opened.message)?;
                            if let Some(ended) = self.apply_all(commands, stopping).await? {
                                return Ok(Some(ended));
                            }
                            if stopping.is_some() && !self.machine.has_news() {
                                return Ok(Some(Ended::Deactivated));
                            }
                            // Acknowledgements and results go at once; the
                            // server answers each message.
                            if self.machine.has_news() {
                                up_seq += 1;
                                let hello = self.sealed_hello(&challenge, up_seq, rng)?;
                                ws.send(Message::Binary(hello.into())).await.map_err(broken)?;
                            }
                        }
                        Some(Ok(Message::Text(_))) => return Err("text on the channel".into()),
                        Some(Ok(Message::Close(_))) | None => return Err("the server closed the WebSocket".into()),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(broken(e)),
                    }
                }
                _ = ping.tick() => {
                    if heard.elapsed() > WS_SILENT_FOR {
                        return Err(format!("nothing from the server for {WS_SILENT_FOR:?}: a half-open connection"));
                    }
                    ws.send(Message::Ping(Vec::new().into())).await.map_err(broken)?;
                }
            }
        }
    }

    /// The machine's hello for `challenge`, sealed under `seq`.
    fn sealed_hello(
        &mut self,
        challenge: &str,
        seq: u64,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<u8>, String> {
        let hello = self
            .machine
            .hello(challenge.to_owned(), env!("CARGO_PKG_VERSION"));
        envelope::seal(
            &self.key,
            Direction::AgentToServer,
            self.agent_id,
            seq,
            &hello,
            rng,
        )
        .map_err(|e| format!("cannot seal the hello: {e}"))
    }

    /// An answer taken by the machine and persisted before any command is
    /// applied (see the crash points); the commands to apply.
    fn take_answer(&mut self, down: &ChannelDown) -> Result<Vec<(u64, Command)>, String> {
        let before = self.machine.state().clone();
        let commands = self
            .machine
            .on_answer(down, unix_now())
            .map_err(|e| e.to_string())?;
        // Written only when something changed (an idle long-poll answers
        // every 25 s). If it cannot be made durable, the commands are
        // forgotten (not acknowledged: the server sends them again).
        if self.machine.state() == &before {
            return Ok(commands);
        }
        if let Err(e) = self.state.save_channel_state(self.machine.state()) {
            self.machine = Channel::new(before);
            return Err(format!("cannot write the channel's state: {e}"));
        }
        Ok(commands)
    }

    /// The channel's mode in the daemon's status (written with its next update).
    fn mode(&self, mode: &str) {
        if let Some(status) = &self.status {
            let mut s = status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if s.channel.as_deref() != Some(mode) {
                s.channel = Some(mode.to_owned());
            }
        }
    }

    /// One command through the main loop; its result persisted. Some(stop),
    /// or None when the main loop is gone.
    async fn apply(&mut self, id: u64, command: Command) -> Option<bool> {
        let (done, outcome) = oneshot::channel();
        self.apply.send(Apply { id, command, done }).ok()?;
        let outcome = outcome.await.ok()?;
        if outcome.ok {
            tracing::info!(command = id, "command done: {}", outcome.detail);
        } else {
            tracing::warn!(command = id, "command failed: {}", outcome.detail);
        }
        self.machine.on_result(id, outcome.ok, &outcome.detail);
        self.persist();
        Some(outcome.stop)
    }

    fn persist(&self) {
        if let Err(e) = self.state.save_channel_state(self.machine.state()) {
            tracing::error!("cannot write the channel's state: {e}");
        }
    }

    /// Challenge, hello, answer. The new commands, persisted.
    async fn exchange(
        &mut self,
        rng: &mut rand::rngs::StdRng,
    ) -> Result<Vec<(u64, Command)>, String> {
        let (status, body) = self
            .link
            .post(CHALLENGE_PATH, "application/json", b"{}".to_vec(), 4096)
            .await?;
        if status != 200 {
            return Err(format!("the server answered {status} to a challenge"));
        }
        let challenge: Challenge =
            serde_json::from_slice(&body).map_err(|_| "the challenge does not read".to_owned())?;
        challenge
            .bytes()
            .map_err(|e| format!("the challenge does not read: {e}"))?;
        let hello = self
            .machine
            .hello(challenge.challenge, env!("CARGO_PKG_VERSION"));
        let sealed = envelope::seal(
            &self.key,
            Direction::AgentToServer,
            self.agent_id,
            1,
            &hello,
            rng,
        )
        .map_err(|e| format!("cannot seal the hello: {e}"))?;
        let (status, body) = self
            .link
            .post(POLL_PATH, "application/octet-stream", sealed, MAX_ANSWER)
            .await?;
        if status != 200 {
            let why = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(format!("the server answered {status} to the hello: {why}"));
        }
        let opened = envelope::open::<ChannelDown>(&self.key, Direction::ServerToAgent, &body)
            .map_err(|e| format!("the answer does not open with this agent's key: {e}"))?;
        if opened.agent_id != self.agent_id || opened.seq != 1 {
            return Err("the answer is for another agent".into());
        }
        self.take_answer(&opened.message)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    struct NoLink;

    impl Link for NoLink {
        fn post<'a>(
            &'a self,
            _path: &'a str,
            _content_type: &'a str,
            _body: Vec<u8>,
            _max_body: usize,
        ) -> futures::future::BoxFuture<'a, Result<(u16, Vec<u8>), String>> {
            Box::pin(async { Err("no server".to_owned()) })
        }
    }

    /// A server that upgraded, sent its challenge and then went silent (a
    /// half-open connection): the agent gives the connection up after
    /// [`WS_SILENT_FOR`], within a minute, on a paused clock.
    #[tokio::test(start_paused = true)]
    async fn a_silent_websocket_is_given_up_within_a_minute() {
        use futures::SinkExt as _;
        use tokio_tungstenite::tungstenite::Message;
        use tokio_tungstenite::tungstenite::protocol::Role;
        let dir = tempfile::tempdir().expect("tempdir");
        let (apply, _applies) = mpsc::unbounded_channel();
        let (_stop, shutdown) = watch::channel(false);
        let mut task = ChannelTask {
            machine: Channel::new(ChannelState::default()),
            state: StateDir::create(dir.path()).expect("state"),
            link: Arc::new(NoLink),
            key: AgentKey::from_bytes([1; 32]),
            agent_id: AgentId(1),
            apply,
            shutdown,
            status: None,
        };
        let (agent_side, server_side) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                server_side,
                Role::Server,
                None,
            )
            .await;
            use base64::Engine as _;
            let challenge = base64::engine::general_purpose::STANDARD.encode([5u8; 40]);
            let text = format!("{{\"challenge\":\"{challenge}\"}}");
            ws.send(Message::Text(text.into())).await.expect("sent");
            // Then nothing: not even pongs (the stream is never read).
            let mut inner = ws.into_inner();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let _ = inner.write_all(b"").await;
            let mut buf = [0u8; 1];
            let _ = inner.read(&mut buf).await;
        });
        let started = tokio::time::Instant::now();
        let mut stopping = None;
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
        let ended = task
            .over_websocket(Box::new(agent_side), &mut stopping, &mut rng)
            .await;
        let why = ended.expect_err("given up");
        assert!(why.contains("half-open"), "{why}");
        let took = started.elapsed();
        assert!(
            took >= WS_SILENT_FOR && took < Duration::from_secs(60),
            "{took:?}"
        );
        server.abort();
    }
}
