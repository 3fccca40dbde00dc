//! Durable DES salt state.
//!
//! DES privacy (RFC 3414 §8.1.1.1) builds its salt from the sender's engine
//! boots and a counter; a salt must never repeat under one key. async-snmp
//! asks the caller to persist the boots epoch. We keep it in one small file,
//! advanced on every process start; without a state directory it lives in
//! memory only (a fresh random-free epoch 1 each run: acceptable for tests,
//! not for a long-lived agent).

use std::path::PathBuf;
use std::sync::Mutex;

use async_snmp::{DesSaltState, PersistedDesSaltState};

use crate::SnmpError;

pub(crate) struct DesSaltFile {
    path: Option<PathBuf>,
    state: Mutex<Option<DesSaltState>>,
}

impl DesSaltFile {
    pub(crate) fn new(state_dir: Option<PathBuf>) -> Self {
        DesSaltFile {
            path: state_dir.map(|d| d.join("des-salt-epoch")),
            state: Mutex::new(None),
        }
    }

    /// The process-wide state, created (and its epoch persisted) on first use.
    pub(crate) fn state(&self) -> Result<DesSaltState, SnmpError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| SnmpError::Config("DES salt state poisoned".into()))?;
        if let Some(state) = guard.as_ref() {
            return Ok(state.clone());
        }
        let err = |e: String| SnmpError::Config(format!("DES salt state: {e}"));
        let state = match &self.path {
            None => DesSaltState::install(|_| Ok::<(), std::io::Error>(()))
                .map_err(|e| err(e.to_string()))?,
            Some(path) => {
                let previous = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.trim().parse::<u32>().ok())
                    .and_then(|boots| PersistedDesSaltState::new(boots).ok());
                let persist = |next: &PersistedDesSaltState| -> std::io::Result<()> {
                    if let Some(dir) = path.parent() {
                        std::fs::create_dir_all(dir)?;
                    }
                    let tmp = path.with_extension("tmp");
                    std::fs::write(&tmp, format!("{}\n", next.engine_boots()))?;
                    std::fs::rename(&tmp, path)
                };
                match previous {
                    Some(prev) => DesSaltState::restart(prev, persist),
                    None => DesSaltState::install(persist),
                }
                .map_err(|e| err(e.to_string()))?
            }
        };
        *guard = Some(state.clone());
        Ok(state)
    }
}
