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

pub const CHALLENGE_PATH: &str = "/agent/v1/channel/challenge";
pub const POLL_PATH: &str = "/agent/v1/channel/poll";
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
        loop {
            if let Some(since) = stopping
                && (!self.machine.has_news() || since.elapsed() > FINAL_DELIVERY)
            {
                return Ended::Deactivated;
            }
            if *shutdown.borrow() {
                return Ended::Closed;
            }
            let exchanged = tokio::select! {
                r = self.exchange(&mut rng) => r,
                _ = shutdown.wait_for(|s| *s) => return Ended::Closed,
            };
            match exchanged {
                Ok(commands) => {
                    for (id, command) in commands {
                        tracing::info!(command = id, kind = command.kind(), "command received");
                        match self.apply(id, command).await {
                            Some(stop) => stopping = stopping.or(stop.then(Instant::now)),
                            None => return Ended::Closed,
                        }
                    }
                }
                Err(why) => {
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
        let before = self.machine.state().clone();
        let commands = self
            .machine
            .on_answer(&opened.message, unix_now())
            .map_err(|e| e.to_string())?;
        // Durable before any is applied (see the crash points); if it
        // cannot be, the commands are forgotten (not acknowledged: the
        // server sends them again).
        if let Err(e) = self.state.save_channel_state(self.machine.state()) {
            self.machine = Channel::new(before);
            return Err(format!("cannot write the channel's state: {e}"));
        }
        Ok(commands)
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
