//! When the agent does what, sans-IO: discovery sweeps, collections of the
//! known devices and heartbeats, each on its own interval, with jitter.
//! Time is milliseconds on any monotonic clock and comes in as an argument;
//! so does randomness.
//!
//! - A sweep runs at start and every `scan.every`; it never overlaps itself
//!   (a sweep due while one runs waits for it to end).
//! - Collections of the known devices run every `collect.every`; one due
//!   while a sweep runs waits for the sweep, which collects every printer
//!   it finds anyway.
//! - Heartbeats go every `heartbeat.every`, the first at a random point of
//!   the first half minute.
//! - Every interval is stretched or shrunk by up to 10 % at random, so that
//!   ten thousand agents started together (a power cut at a dealer's
//!   customers) spread their traffic instead of hitting the server in the
//!   same second.

use std::time::Duration;

use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    Sweep,
    Collect,
    Heartbeat,
}

const TASKS: [Task; 3] = [Task::Sweep, Task::Collect, Task::Heartbeat];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intervals {
    pub sweep: Duration,
    pub collect: Duration,
    pub heartbeat: Duration,
}

impl Intervals {
    fn of(&self, task: Task) -> Duration {
        match task {
            Task::Sweep => self.sweep,
            Task::Collect => self.collect,
            Task::Heartbeat => self.heartbeat,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Schedule {
    intervals: Intervals,
    /// When each task is next due (ms).
    next: [u64; 3],
    running: [bool; 3],
}

/// The first heartbeat comes within this long of the start.
const FIRST_HEARTBEAT_WITHIN_MS: u64 = 30_000;

impl Schedule {
    pub fn new<R: Rng>(intervals: Intervals, now: u64, rng: &mut R) -> Schedule {
        let first_heartbeat =
            rng.gen_range(0..=FIRST_HEARTBEAT_WITHIN_MS.min(ms(intervals.heartbeat)));
        Schedule {
            intervals,
            next: [
                now,
                now + jittered(intervals.collect, rng),
                now + first_heartbeat,
            ],
            running: [false; 3],
        }
    }

    /// The tasks to start now; they count as running until [`Schedule::finished`].
    pub fn due(&mut self, now: u64) -> Vec<Task> {
        let mut out = Vec::new();
        for task in TASKS {
            let i = task as usize;
            if self.running[i] || self.next[i] > now {
                continue;
            }
            if task == Task::Collect && self.running[Task::Sweep as usize] {
                continue;
            }
            self.running[i] = true;
            out.push(task);
        }
        out
    }

    pub fn finished<R: Rng>(&mut self, task: Task, now: u64, rng: &mut R) {
        let i = task as usize;
        self.running[i] = false;
        self.next[i] = now + jittered(self.intervals.of(task), rng);
        if task == Task::Sweep {
            // The sweep collected every printer it found: the next
            // collection is an interval away.
            let c = Task::Collect as usize;
            if !self.running[c] {
                self.next[c] = self.next[c].max(now + jittered(self.intervals.collect, rng));
            }
        }
    }

    /// When something is due next (ms), for the daemon's timer.
    pub fn next_due(&self) -> u64 {
        TASKS
            .iter()
            .filter(|t| !self.running[**t as usize])
            .map(|t| self.next[*t as usize])
            .min()
            .unwrap_or(u64::MAX)
    }

    /// New intervals (a pushed configuration): what was due later than the
    /// new interval allows comes forward, nothing is pushed back.
    pub fn set_intervals<R: Rng>(&mut self, intervals: Intervals, now: u64, rng: &mut R) {
        self.intervals = intervals;
        for task in TASKS {
            let i = task as usize;
            let latest = now + jittered(intervals.of(task), rng);
            self.next[i] = self.next[i].min(latest);
        }
    }

    /// Run `task` now (a command from the server); false when it is
    /// running already (it is not started twice).
    pub fn run_now(&mut self, task: Task, now: u64) -> bool {
        let i = task as usize;
        if self.running[i] {
            return false;
        }
        self.next[i] = self.next[i].min(now);
        true
    }

    pub fn is_running(&self, task: Task) -> bool {
        self.running[task as usize]
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `every`, ±10 % at random.
fn jittered<R: Rng>(every: Duration, rng: &mut R) -> u64 {
    let base = ms(every);
    let spread = base / 10;
    base - spread + rng.gen_range(0..=spread * 2)
}

#[cfg(test)]
mod run_now_tests {
    use super::*;

    #[test]
    fn a_sweep_asked_for_runs_now_unless_it_runs() {
        let mut rng = rand::rngs::mock::StepRng::new(0, 1);
        let hour = Duration::from_secs(3600);
        let intervals = Intervals {
            sweep: hour,
            collect: hour,
            heartbeat: hour,
        };
        let mut s = Schedule::new(intervals, 0, &mut rng);
        assert_eq!(s.due(0), vec![Task::Sweep, Task::Heartbeat]);
        assert!(!s.run_now(Task::Sweep, 10), "running");
        s.finished(Task::Sweep, 20, &mut rng);
        assert!(s.due(30).is_empty());
        assert!(s.run_now(Task::Sweep, 30));
        assert_eq!(s.due(30), vec![Task::Sweep]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn intervals() -> Intervals {
        Intervals {
            sweep: Duration::from_secs(24 * 3600),
            collect: Duration::from_secs(900),
            heartbeat: Duration::from_secs(300),
        }
    }

    #[test]
    fn a_sweep_at_start_and_never_two_at_once() {
        let rng = &mut StdRng::seed_from_u64(1);
        let mut s = Schedule::new(intervals(), 0, rng);
        assert_eq!(s.due(0), vec![Task::Sweep]);
        // A day later the sweep still runs: no second one, no collection.
        let day = 25 * 3600 * 1000;
        let due = s.due(day);
        assert!(
            !due.contains(&Task::Sweep) && !due.contains(&Task::Collect),
            "{due:?}"
        );
        s.finished(Task::Sweep, day, rng);
        assert!(!s.due(day).contains(&Task::Sweep));
        assert!(s.next_due() >= day);
    }

    #[test]
    fn collections_follow_their_interval_with_jitter() {
        let rng = &mut StdRng::seed_from_u64(2);
        let mut s = Schedule::new(intervals(), 0, rng);
        s.due(0);
        s.finished(Task::Sweep, 1_000, rng);
        let mut starts = Vec::new();
        while starts.len() < 20 {
            let now = s.next_due();
            for task in s.due(now) {
                if task == Task::Collect {
                    starts.push(now);
                }
                s.finished(task, now, rng);
            }
        }
        for pair in starts.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((810_000..=990_000).contains(&gap), "gap {gap}");
        }
        let distinct: std::collections::BTreeSet<u64> =
            starts.windows(2).map(|p| p[1] - p[0]).collect();
        assert!(distinct.len() > 10, "jittered: {distinct:?}");
    }

    #[test]
    fn agents_started_together_spread_their_heartbeats() {
        let firsts: std::collections::BTreeSet<u64> = (0..1000)
            .map(|seed| {
                let rng = &mut StdRng::seed_from_u64(seed);
                let s = Schedule::new(intervals(), 0, rng);
                s.next[Task::Heartbeat as usize] / 1000
            })
            .collect();
        // A thousand agents over (about) thirty seconds, not one.
        assert!(firsts.len() >= 25, "{firsts:?}");
        assert!(firsts.iter().all(|s| *s <= 30));
    }

    #[test]
    fn a_shorter_interval_pushed_applies_at_once() {
        let rng = &mut StdRng::seed_from_u64(3);
        let mut s = Schedule::new(intervals(), 0, rng);
        s.due(0);
        s.finished(Task::Sweep, 0, rng);
        let mut short = intervals();
        short.collect = Duration::from_secs(60);
        s.set_intervals(short, 10_000, rng);
        assert!(s.next[Task::Collect as usize] <= 10_000 + 66_000);
    }
}
