//! Small in-memory limits, per process: failures per key in a window
//! ([`RateLimiter`]) and audit entries per client ([`AuditBudget`]).
//!
//! Both are bounded whatever clients send: keys are cut to a fixed length
//! by their callers, and at `capacity` keys the oldest window is evicted
//! (expired ones first). The durable limits (per account) are in the
//! database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys a limiter holds by default: ~100 bytes each, some 10 MiB at most.
pub const DEFAULT_CAPACITY: usize = 100_000;

pub struct RateLimiter {
    max: u32,
    window: Duration,
    capacity: usize,
    failures: Mutex<Windows>,
}

/// Per key: a count and when its window started.
struct Windows {
    map: HashMap<String, (u32, Instant)>,
    /// When expired windows were last dropped.
    purged: Instant,
}

impl Windows {
    fn new() -> Windows {
        Windows {
            map: HashMap::new(),
            purged: Instant::now(),
        }
    }

    /// The live count of `key` (an expired window counts as none).
    fn count(&self, key: &str, window: Duration, now: Instant) -> u32 {
        self.map
            .get(key)
            .filter(|(_, start)| now.duration_since(*start) < window)
            .map_or(0, |(n, _)| *n)
    }

    /// The entry of `key`, a fresh window if its own expired; makes room
    /// under `capacity` first (expired windows, then the oldest one).
    fn entry(
        &mut self,
        key: &str,
        window: Duration,
        capacity: usize,
        now: Instant,
    ) -> &mut (u32, Instant) {
        if !self.map.contains_key(key) {
            if self.map.len() >= capacity || now.duration_since(self.purged) >= window {
                self.map
                    .retain(|_, (_, start)| now.duration_since(*start) < window);
                self.purged = now;
            }
            if self.map.len() >= capacity.max(1)
                && let Some(oldest) = self
                    .map
                    .iter()
                    .min_by_key(|(_, (_, start))| *start)
                    .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
            }
        }
        let entry = self.map.entry(key.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= window {
            *entry = (0, now);
        }
        entry
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter::with_capacity(max, window, DEFAULT_CAPACITY)
    }

    /// At most `capacity` keys in memory.
    pub fn with_capacity(max: u32, window: Duration, capacity: usize) -> RateLimiter {
        RateLimiter {
            max,
            window,
            capacity,
            failures: Mutex::new(Windows::new()),
        }
    }

    /// May `key` try now?
    pub fn allowed(&self, key: &str) -> bool {
        self.failures(key) < self.max
    }

    /// Failures of `key` in its current window.
    pub fn failures(&self, key: &str) -> u32 {
        lock(&self.failures).count(key, self.window, Instant::now())
    }

    /// Count a failure of `key`.
    pub fn failed(&self, key: &str) {
        let mut windows = lock(&self.failures);
        let entry = windows.entry(key, self.window, self.capacity, Instant::now());
        entry.0 = entry.0.saturating_add(1);
    }

    /// Keys held now (tests and benches).
    pub fn len(&self) -> usize {
        lock(&self.failures).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many audit entries of one kind a client may cause per window: the
/// first `max` are written; the rest are counted, and the next entry
/// written for that client says how many were left out. One client cannot
/// flood the audit log, and nothing goes unmentioned.
pub struct AuditBudget {
    max: u32,
    window: Duration,
    capacity: usize,
    /// Per client: entries written in the window, when it started, and
    /// how many were left out since the last entry written.
    spent: Mutex<HashMap<String, (u32, Instant, u64)>>,
}

/// What the budget says of one more entry.
#[derive(Debug, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Write it; `left_out` entries were not written before it.
    Write { left_out: u64 },
    /// Do not write it (it is counted).
    LeaveOut,
}

impl AuditBudget {
    pub fn new(max: u32, window: Duration) -> AuditBudget {
        AuditBudget {
            max,
            window,
            capacity: DEFAULT_CAPACITY,
            spent: Mutex::new(HashMap::new()),
        }
    }

    /// One more entry for `client`.
    pub fn spend(&self, client: &str) -> AuditVerdict {
        let now = Instant::now();
        let mut map = lock(&self.spent);
        if !map.contains_key(client) && map.len() >= self.capacity {
            // Forget the windows that ended and owe nothing, then the oldest.
            map.retain(|_, (_, start, left)| now.duration_since(*start) < self.window || *left > 0);
            if map.len() >= self.capacity
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, (_, start, _))| *start)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        let entry = map.entry(client.to_owned()).or_insert((0, now, 0));
        if now.duration_since(entry.1) >= self.window {
            entry.0 = 0;
            entry.1 = now;
        }
        if entry.0 < self.max {
            entry.0 += 1;
            let left_out = std::mem::take(&mut entry.2);
            AuditVerdict::Write { left_out }
        } else {
            entry.2 = entry.2.saturating_add(1);
            AuditVerdict::LeaveOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_failures_per_key() {
        let l = RateLimiter::new(2, Duration::from_secs(60));
        assert!(l.allowed("a"));
        l.failed("a");
        l.failed("a");
        assert!(!l.allowed("a"));
        assert!(l.allowed("b"));
        let short = RateLimiter::new(1, Duration::from_millis(1));
        short.failed("a");
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.allowed("a"));
    }

    #[test]
    fn holds_at_most_its_capacity_of_keys() {
        let l = RateLimiter::with_capacity(3, Duration::from_secs(60), 100);
        for i in 0..10_000 {
            l.failed(&format!("client-{i}"));
        }
        assert!(l.len() <= 100, "{}", l.len());
        // The newest keys are still counted.
        assert_eq!(l.failures("client-9999"), 1);
    }

    #[test]
    fn an_audit_budget_leaves_out_and_then_says_how_many() {
        let b = AuditBudget::new(2, Duration::from_millis(20));
        assert_eq!(b.spend("a"), AuditVerdict::Write { left_out: 0 });
        assert_eq!(b.spend("a"), AuditVerdict::Write { left_out: 0 });
        for _ in 0..1000 {
            assert_eq!(b.spend("a"), AuditVerdict::LeaveOut);
        }
        assert_eq!(b.spend("b"), AuditVerdict::Write { left_out: 0 });
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(b.spend("a"), AuditVerdict::Write { left_out: 1000 });
    }
}
