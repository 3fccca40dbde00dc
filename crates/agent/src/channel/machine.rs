//! The command channel's state machine, sans-IO: what the agent says in
//! each hello, what it makes of the server's answer, which commands to
//! apply, and what it must remember. Time and randomness come in as
//! arguments; the daemon does the I/O (see [`super`] for the order of the
//! writes and the crash points).

use std::collections::BTreeMap;
use std::time::Duration;

use printwatch_protocol::ProtocolError;
use printwatch_protocol::channel::{
    self, ChannelDown, ChannelUp, Command, CommandResult, MAX_ACKS, MAX_DETAIL, MAX_RESULTS,
};
use serde::{Deserialize, Serialize};

/// A command whose result the server stored is forgotten this long after
/// it came (longer than the server's 7-day expiry: if it ever came again,
/// it would be recognised until then).
pub const RETAIN_SECS: i64 = 8 * 24 * 3600;
/// At most this many commands are remembered (the oldest finished ones go
/// first).
pub const MAX_REMEMBERED: usize = 10_000;

/// What the agent keeps of the channel (`channel.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelState {
    /// Commands received, by id.
    #[serde(default)]
    pub commands: BTreeMap<u64, Remembered>,
}

/// One command the agent received.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remembered {
    pub command: Command,
    /// UNIX seconds, by the agent's clock.
    pub received_at: i64,
    /// The server has the acknowledgement (an answer to a hello that
    /// carried it came back).
    #[serde(default)]
    pub acked: bool,
    /// Its result, once applied.
    #[serde(default)]
    pub result: Option<CommandResult>,
    /// The server listed the result as stored.
    #[serde(default)]
    pub stored: bool,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the answer names another challenge: not an answer to this hello")]
    NotThisHello,
    #[error("the answer is malformed: {0}")]
    Malformed(#[from] ProtocolError),
}

/// The channel's state machine.
#[derive(Debug)]
pub struct Channel {
    state: ChannelState,
    /// The challenge of the hello in flight.
    challenge: Option<String>,
    /// Acknowledgements in the hello in flight.
    sent_acks: Vec<u64>,
    failures: u32,
}

impl Channel {
    pub fn new(state: ChannelState) -> Channel {
        Channel {
            state,
            challenge: None,
            sent_acks: Vec::new(),
            failures: 0,
        }
    }

    /// What to persist (`channel.json`).
    pub fn state(&self) -> &ChannelState {
        &self.state
    }

    /// Commands received before a restart and never finished (the agent
    /// stopped while applying them): apply them again. Every kind is
    /// idempotent (a sweep, a collection, a configuration, a
    /// deactivation), so again is as once.
    pub fn interrupted(&self) -> Vec<(u64, Command)> {
        self.state
            .commands
            .iter()
            .filter(|(_, r)| r.result.is_none())
            .map(|(id, r)| (*id, r.command.clone()))
            .collect()
    }

    /// The hello for a new challenge: the acknowledgements and results
    /// the server does not have yet.
    pub fn hello(&mut self, challenge: String, agent_version: &str) -> ChannelUp {
        let acks: Vec<u64> = self
            .state
            .commands
            .iter()
            .filter(|(_, r)| !r.acked)
            .map(|(id, _)| *id)
            .take(MAX_ACKS)
            .collect();
        let results: Vec<CommandResult> = self
            .state
            .commands
            .values()
            .filter(|r| !r.stored)
            .filter_map(|r| r.result.clone())
            .take(MAX_RESULTS)
            .collect();
        self.challenge = Some(challenge.clone());
        self.sent_acks = acks.clone();
        ChannelUp {
            challenge,
            agent_version: channel::truncate(agent_version, 100),
            acks,
            results,
        }
    }

    /// The server's answer to the hello in flight. Returns the commands to
    /// apply (ids not seen before); the caller persists [`Channel::state`]
    /// before it applies any, so that a command is applied once whatever
    /// happens next.
    pub fn on_answer(
        &mut self,
        down: &ChannelDown,
        now: i64,
    ) -> Result<Vec<(u64, Command)>, AnswerError> {
        if self.challenge.as_deref() != Some(down.challenge.as_str()) {
            return Err(AnswerError::NotThisHello);
        }
        down.check()?;
        // The challenge stays: on a WebSocket, every answer names it.
        self.failures = 0;
        for id in std::mem::take(&mut self.sent_acks) {
            if let Some(r) = self.state.commands.get_mut(&id) {
                r.acked = true;
            }
        }
        for id in &down.stored {
            if let Some(r) = self.state.commands.get_mut(id)
                && r.result.is_some()
            {
                r.stored = true;
            }
        }
        let mut apply = Vec::new();
        for c in &down.commands {
            match self.state.commands.get_mut(&c.id) {
                // Sent again: the acknowledgement was lost. Say it again;
                // never apply it twice.
                Some(known) => known.acked = false,
                None => {
                    self.state.commands.insert(
                        c.id,
                        Remembered {
                            command: c.command.clone(),
                            received_at: now,
                            acked: false,
                            result: None,
                            stored: false,
                        },
                    );
                    apply.push((c.id, c.command.clone()));
                }
            }
        }
        self.prune(now);
        Ok(apply)
    }

    /// A command applied: its result goes in the next hellos until stored.
    pub fn on_result(&mut self, id: u64, ok: bool, detail: &str) {
        if let Some(r) = self.state.commands.get_mut(&id) {
            r.result = Some(CommandResult {
                id,
                ok,
                detail: channel::truncate(detail, MAX_DETAIL),
            });
            r.stored = false;
        }
    }

    /// A hello that got no usable answer: how long to wait before the next.
    /// `jitter` in `[0, 1)`.
    pub fn on_failure(&mut self, jitter: f64) -> Duration {
        self.challenge = None;
        self.sent_acks.clear();
        self.failures = self.failures.saturating_add(1);
        crate::uplink::machine::backoff(self.failures, jitter)
    }

    /// Something to tell the server now (acknowledgements or results it
    /// does not have): the next hello goes at once.
    pub fn has_news(&self) -> bool {
        self.state
            .commands
            .values()
            .any(|r| !r.acked || (r.result.is_some() && !r.stored))
    }

    fn prune(&mut self, now: i64) {
        let done = |r: &Remembered| r.acked && r.stored;
        self.state
            .commands
            .retain(|_, r| !(done(r) && now.saturating_sub(r.received_at) > RETAIN_SECS));
        while self.state.commands.len() > MAX_REMEMBERED {
            // The oldest finished one, else the oldest.
            let victim = self
                .state
                .commands
                .iter()
                .find(|(_, r)| done(r))
                .or_else(|| self.state.commands.iter().next())
                .map(|(id, _)| *id);
            match victim {
                Some(id) => {
                    self.state.commands.remove(&id);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_protocol::channel::CommandEnvelope;

    fn challenge(n: u8) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([n; 40])
    }

    fn down(challenge: &str, commands: &[(u64, Command)], stored: &[u64]) -> ChannelDown {
        ChannelDown {
            challenge: challenge.into(),
            commands: commands
                .iter()
                .map(|(id, command)| CommandEnvelope {
                    id: *id,
                    command: command.clone(),
                })
                .collect(),
            stored: stored.to_vec(),
        }
    }

    #[test]
    fn a_command_is_applied_once_acknowledged_and_answered_until_stored() {
        let mut ch = Channel::new(ChannelState::default());
        let hello = ch.hello(challenge(1), "0.1.0");
        assert!(hello.acks.is_empty() && hello.results.is_empty());
        let apply = ch
            .on_answer(&down(&challenge(1), &[(5, Command::ScanNow)], &[]), 100)
            .expect("taken");
        assert_eq!(apply, vec![(5, Command::ScanNow)]);
        assert!(ch.has_news(), "an acknowledgement to send");

        // The next hello acknowledges it; the server sends it again anyway
        // (that hello's answer was lost): not applied twice.
        let hello = ch.hello(challenge(2), "0.1.0");
        assert_eq!(hello.acks, vec![5]);
        let _ = ch.on_failure(0.5);
        let hello = ch.hello(challenge(3), "0.1.0");
        assert_eq!(hello.acks, vec![5], "acknowledged again");
        let apply = ch
            .on_answer(&down(&challenge(3), &[(5, Command::ScanNow)], &[]), 101)
            .expect("taken");
        assert!(apply.is_empty(), "applied once");

        ch.on_result(5, true, "sweep started");
        let hello = ch.hello(challenge(4), "0.1.0");
        assert_eq!(hello.results.len(), 1);
        assert_eq!(
            hello.acks,
            vec![5],
            "the repeat asked for another acknowledgement"
        );
        ch.on_answer(&down(&challenge(4), &[], &[5]), 102)
            .expect("taken");
        assert!(!ch.has_news());
        let hello = ch.hello(challenge(5), "0.1.0");
        assert!(hello.acks.is_empty() && hello.results.is_empty());
        // Remembered for a while, then forgotten.
        ch.on_answer(&down(&challenge(5), &[], &[]), 100 + RETAIN_SECS)
            .expect("taken");
        assert_eq!(ch.state().commands.len(), 1);
        let _ = ch.hello(challenge(6), "0.1.0");
        ch.on_answer(&down(&challenge(6), &[], &[]), 101 + RETAIN_SECS)
            .expect("taken");
        assert!(ch.state().commands.is_empty());
    }

    #[test]
    fn an_answer_to_another_hello_is_refused() {
        let mut ch = Channel::new(ChannelState::default());
        let _ = ch.hello(challenge(1), "0.1.0");
        // A recorded answer replayed into a later connection.
        assert!(matches!(
            ch.on_answer(&down(&challenge(9), &[(1, Command::Deactivate)], &[]), 0),
            Err(AnswerError::NotThisHello)
        ));
        assert!(ch.state().commands.is_empty());
        // No hello in flight: nothing is an answer.
        let mut idle = Channel::new(ChannelState::default());
        assert!(idle.on_answer(&down(&challenge(1), &[], &[]), 0).is_err());
        // Malformed: refused whole.
        let bad = down(
            &challenge(1),
            &[(
                1,
                Command::CollectNow {
                    target: String::new(),
                },
            )],
            &[],
        );
        assert!(matches!(
            ch.on_answer(&bad, 0),
            Err(AnswerError::Malformed(_))
        ));
    }

    #[test]
    fn a_restart_while_applying_applies_again_and_a_stored_result_is_not_sent() {
        let mut ch = Channel::new(ChannelState::default());
        let _ = ch.hello(challenge(1), "0.1.0");
        ch.on_answer(
            &down(
                &challenge(1),
                &[(7, Command::ScanNow), (8, Command::Deactivate)],
                &[],
            ),
            0,
        )
        .expect("taken");
        ch.on_result(8, true, "done");
        // What was persisted before applying, read at the next start.
        let persisted: ChannelState =
            serde_json::from_str(&serde_json::to_string(ch.state()).expect("json")).expect("reads");
        let again = Channel::new(persisted);
        assert_eq!(again.interrupted(), vec![(7, Command::ScanNow)]);
    }

    #[test]
    fn results_are_bounded_and_a_stored_id_without_result_changes_nothing() {
        let mut ch = Channel::new(ChannelState::default());
        let _ = ch.hello(challenge(1), "0.1.0");
        ch.on_answer(&down(&challenge(1), &[(1, Command::ScanNow)], &[1]), 0)
            .expect("taken");
        assert!(!ch.state().commands[&1].stored, "no result yet");
        ch.on_result(1, false, &"é".repeat(MAX_DETAIL));
        let detail = &ch.state().commands[&1]
            .result
            .as_ref()
            .expect("result")
            .detail;
        assert!(detail.len() <= MAX_DETAIL);
    }

    #[test]
    fn memory_is_bounded() {
        let mut ch = Channel::new(ChannelState::default());
        let mut next = 0u64;
        for round in 0..((MAX_REMEMBERED / MAX_RESULTS) + 2) {
            let c = challenge((round % 200) as u8);
            let _ = ch.hello(c.clone(), "0.1.0");
            let commands: Vec<(u64, Command)> = (0..64)
                .map(|_| {
                    next += 1;
                    (next, Command::ScanNow)
                })
                .collect();
            ch.on_answer(&down(&c, &commands, &[]), 0).expect("taken");
        }
        assert!(ch.state().commands.len() <= MAX_REMEMBERED);
    }
}
