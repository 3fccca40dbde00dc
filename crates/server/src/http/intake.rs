//! What envelope bodies that are not authenticated yet may hold of the
//! server's memory ([`EnvelopeGate`]).
//!
//! `/agent/v1/submit` reads an envelope's header first and looks the agent
//! up: bodies naming no agent with a key are refused after 44 bytes. What
//! is left is bodies naming a real agent, which anyone who can count agent
//! ids can send, and which cannot be authenticated before they are read in
//! full (the AEAD tag comes last). Two bounds on those:
//!
//! - **one body in flight per agent id**: an agent's daemon sends one
//!   envelope at a time, so a second one at once is refused (429, the agent
//!   retries with backoff). A flood naming one agent holds one body.
//! - **a byte budget for all of them** (a semaphore of bytes, the declared
//!   length reserved before the body is read; [`DEFAULT_ENVELOPE_BUDGET`]):
//!   over it, 503 with `Retry-After` at once. A flood naming many agents
//!   holds at most the budget.
//!
//! Both are per process. The price: someone sending slow bodies under an
//! agent's id delays that agent's envelopes (429 until the body deadline
//! ends the slow one), and a flood over many ids delays every agent's large
//! envelopes (503); neither loses data, which waits in the agents' spools.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ids::AgentId;
use crate::{Result, ServerError};

/// Bytes of envelope bodies in flight, by default: eight of the largest
/// envelopes (`MAX_ENVELOPE`, 8 MiB), thousands of ordinary ones.
pub const DEFAULT_ENVELOPE_BUDGET: usize = 64 * 1024 * 1024;

/// Envelope bodies being received: the agents they name and their bytes.
pub struct EnvelopeGate {
    agents: Mutex<HashSet<AgentId>>,
    bytes: Arc<Semaphore>,
    budget: usize,
}

/// Leave to hold one envelope body of `bytes`; given back when dropped.
pub struct Admitted<'a> {
    gate: &'a EnvelopeGate,
    agent: AgentId,
    _bytes: OwnedSemaphorePermit,
}

impl EnvelopeGate {
    pub fn new(budget: usize) -> EnvelopeGate {
        // A semaphore counts in u32 permits: no budget above 4 GiB.
        let budget = budget.clamp(1, u32::MAX as usize);
        EnvelopeGate {
            agents: Mutex::new(HashSet::new()),
            bytes: Arc::new(Semaphore::new(budget)),
            budget,
        }
    }

    /// The budget in bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Bytes of the budget free now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Leave to receive an envelope of `bytes` naming `agent`: refused
    /// (429) while another body naming it is being received, or (503) when
    /// the bodies in flight hold the budget. Never waits.
    pub fn admit(&self, agent: AgentId, bytes: usize) -> Result<Admitted<'_>> {
        let want = u32::try_from(bytes.clamp(1, self.budget)).unwrap_or(u32::MAX);
        let mut agents = self.agents.lock().unwrap_or_else(|p| p.into_inner());
        if agents.contains(&agent) {
            return Err(ServerError::EnvelopeInFlight);
        }
        let permit = self
            .bytes
            .clone()
            .try_acquire_many_owned(want)
            .map_err(|_| ServerError::Busy)?;
        agents.insert(agent);
        Ok(Admitted {
            gate: self,
            agent,
            _bytes: permit,
        })
    }

    /// Agent ids with a body in flight.
    pub fn in_flight(&self) -> usize {
        self.agents.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        self.gate
            .agents
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.agent);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_body_per_agent_and_a_budget_for_all() {
        let gate = EnvelopeGate::new(100);
        let a = gate.admit(AgentId(1), 60).unwrap();
        assert!(matches!(
            gate.admit(AgentId(1), 1),
            Err(ServerError::EnvelopeInFlight)
        ));
        assert!(matches!(gate.admit(AgentId(2), 41), Err(ServerError::Busy)));
        let b = gate.admit(AgentId(2), 40).unwrap();
        assert_eq!(gate.available(), 0);
        assert_eq!(gate.in_flight(), 2);
        drop(a);
        drop(b);
        assert_eq!(gate.available(), 100);
        assert_eq!(gate.in_flight(), 0);
        // More than the budget asks for all of it, no more.
        let all = gate.admit(AgentId(3), 1_000).unwrap();
        assert!(matches!(gate.admit(AgentId(4), 1), Err(ServerError::Busy)));
        drop(all);
        // A refusal for the budget leaves the agent free.
        let _big = gate.admit(AgentId(5), 100).unwrap();
        assert!(gate.admit(AgentId(6), 1).is_err());
        assert_eq!(gate.in_flight(), 1);
    }
}
