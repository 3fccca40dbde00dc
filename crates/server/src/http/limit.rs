//! A small in-memory rate limiter: at most `max` failures per key in a
//! window. Per process; the durable limit on PIN guesses is in the database
//! (`MAX_PIN_FAILURES`), so several servers still cannot be used to guess.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// May `key` try now?
    pub fn allowed(&self, key: &str) -> bool {
        let mut map = match self.failures.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        map.retain(|_, (_, start)| now.duration_since(*start) < self.window);
        map.get(key).is_none_or(|(n, _)| *n < self.max)
    }

    /// Count a failure of `key`.
    pub fn failed(&self, key: &str) {
        let mut map = match self.failures.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let entry = map.entry(key.to_owned()).or_insert((0, Instant::now()));
        entry.0 += 1;
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
}
