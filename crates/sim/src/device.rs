//! One simulated device: a recording's objects, shared between all the
//! addresses that serve the same file, plus what is particular to this
//! device (rewritten identity, meters that advance, supplies that drain).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_snmp::{Oid as WireOid, Value as WireValue};
use printwatch_snmp::snmprec::{LineProblem, Recording};
use printwatch_snmp::{Oid, Value};

/// A recording made ready to serve: sorted, every value encodable.
#[derive(Debug)]
pub struct ServedRecording {
    pub name: String,
    pub objects: Vec<(WireOid, WireValue)>,
    /// Our own view of the same objects, index for index.
    pub values: Vec<(Oid, Value)>,
    /// Lines of the file that could not be served, with the reason.
    pub problems: Vec<LineProblem>,
}

impl ServedRecording {
    /// Sorts the records and drops (reporting them) those the wire cannot
    /// carry: one such value would make the agent drop a whole response.
    pub fn new(name: impl Into<String>, recording: Recording) -> Self {
        let mut problems = recording.problems;
        let mut records: Vec<_> = recording.records.into_iter().collect();
        records.sort_by(|a, b| a.oid.cmp(&b.oid));
        records.dedup_by(|later, first| later.oid == first.oid);
        let mut objects = Vec::with_capacity(records.len());
        let mut values = Vec::with_capacity(records.len());
        for record in records {
            if !record.oid.is_encodable() {
                problems.push(LineProblem {
                    line: 0,
                    message: format!("OID {} cannot be served", record.oid),
                });
                continue;
            }
            if record.value.is_exception() {
                // An exception is what the agent answers for absent objects;
                // serving it as a value would confuse walks.
                continue;
            }
            match WireValue::try_from(&record.value) {
                Ok(wire) => {
                    objects.push((WireOid::from(&record.oid), wire));
                    values.push((record.oid, record.value));
                }
                Err(e) => problems.push(LineProblem {
                    line: 0,
                    message: format!("{}: {e}", record.oid),
                }),
            }
        }
        ServedRecording {
            name: name.into(),
            objects,
            values,
            problems,
        }
    }

    pub fn position(&self, oid: &Oid) -> Option<usize> {
        self.values.binary_search_by(|(o, _)| o.cmp(oid)).ok()
    }
}

/// The simulator's time: the wall clock since start plus whatever a test
/// added with [`SimClock::advance`], so that a test can move meters and
/// supplies by an exact amount instead of sleeping and racing them. Clones
/// share one clock.
#[derive(Clone, Debug)]
pub struct SimClock {
    started: Instant,
    /// Nanoseconds added by `advance`.
    added: Arc<AtomicU64>,
}

impl Default for SimClock {
    fn default() -> Self {
        SimClock {
            started: Instant::now(),
            added: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl SimClock {
    /// Time since the simulator started, advances included.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed() + Duration::from_nanos(self.added.load(Ordering::Relaxed))
    }

    /// Moves every device of the simulator forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .added
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(nanos))
            });
    }
}

/// How a value changes with time.
#[derive(Clone, Debug)]
pub enum Dynamic {
    /// A counter that grows by `per_second` from `start`.
    Counter { start: u64, per_second: f64 },
    /// A level that falls by `per_second` from `start`, never below zero.
    Level { start: i64, per_second: f64 },
}

/// One device as served on one or more addresses.
#[derive(Debug)]
pub struct Device {
    pub recording: Arc<ServedRecording>,
    /// Values replaced for this device (index into the recording).
    overrides: HashMap<usize, WireValue>,
    dynamics: HashMap<usize, Dynamic>,
    clock: SimClock,
}

impl Device {
    pub fn new(recording: Arc<ServedRecording>) -> Self {
        Device::with_clock(recording, SimClock::default())
    }

    /// A device whose meters and supplies follow `clock`.
    pub fn with_clock(recording: Arc<ServedRecording>, clock: SimClock) -> Self {
        Device {
            recording,
            overrides: HashMap::new(),
            dynamics: HashMap::new(),
            clock,
        }
    }

    pub fn set_override(&mut self, index: usize, value: &Value) {
        if let Ok(wire) = WireValue::try_from(value) {
            self.overrides.insert(index, wire);
        }
    }

    pub fn set_dynamic(&mut self, index: usize, dynamic: Dynamic) {
        self.dynamics.insert(index, dynamic);
    }

    /// The value of the object at `index` now.
    pub fn value_at(&self, index: usize) -> Option<WireValue> {
        if let Some(dynamic) = self.dynamics.get(&index) {
            let elapsed = self.clock.elapsed().as_secs_f64();
            let base = &self.recording.objects.get(index)?.1;
            return Some(match *dynamic {
                Dynamic::Counter { start, per_second } => {
                    let now = start.saturating_add((elapsed * per_second) as u64);
                    match base {
                        WireValue::Counter64(_) => WireValue::Counter64(now),
                        WireValue::Integer(_) => {
                            WireValue::Integer(now.min(i32::MAX as u64) as i32)
                        }
                        WireValue::Gauge32(_) => WireValue::Gauge32(now as u32),
                        _ => WireValue::Counter32(now as u32),
                    }
                }
                Dynamic::Level { start, per_second } => {
                    let now = (start as f64 - elapsed * per_second).max(0.0) as i64;
                    WireValue::Integer(now as i32)
                }
            });
        }
        if let Some(v) = self.overrides.get(&index) {
            return Some(v.clone());
        }
        self.recording.objects.get(index).map(|(_, v)| v.clone())
    }

    /// GET: the object itself.
    pub fn get(&self, oid: &WireOid) -> Option<WireValue> {
        let index = self
            .recording
            .objects
            .binary_search_by(|(o, _)| o.cmp(oid))
            .ok()?;
        self.value_at(index)
    }

    /// GETNEXT: the first object after `oid`.
    pub fn get_next(&self, oid: &WireOid) -> Option<(WireOid, WireValue)> {
        let index = self.recording.objects.partition_point(|(o, _)| o <= oid);
        let (next, _) = self.recording.objects.get(index)?;
        Some((next.clone(), self.value_at(index)?))
    }
}
