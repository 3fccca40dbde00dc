//! Password hashing off the async workers: argon2 takes tens of
//! milliseconds of CPU and 19 MiB, so it runs on a few blocking threads,
//! with a bounded queue. When the queue is full the caller is told at once
//! ([`ServerError::Busy`], 503) instead of waiting: a flood of logins
//! delays other logins, never the rest of the API, and holds bounded memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::{Result, ServerError};

#[derive(Clone)]
pub struct HashPool {
    /// Hashes running at once.
    running: Arc<Semaphore>,
    /// Hashes running or waiting.
    admitted: Arc<AtomicUsize>,
    /// Most running or waiting.
    limit: usize,
}

impl Default for HashPool {
    /// Half the cores (at least one) hash at once; 32 more may wait.
    fn default() -> HashPool {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        HashPool::new((cores / 2).max(1), 32)
    }
}

impl HashPool {
    pub fn new(workers: usize, queue: usize) -> HashPool {
        HashPool {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: workers + queue,
        }
    }

    /// Run `work` (a hash or a verification) on the pool.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let admitted = self.admitted.fetch_add(1, Ordering::AcqRel);
        let _admission = Admission(self.admitted.clone());
        if admitted >= self.limit {
            return Err(ServerError::Busy);
        }
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|_| ServerError::Busy)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| ServerError::Invalid(format!("password hashing failed: {e}")))
    }

    /// Verify `password` against a stored PHC string.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool> {
        let (password, stored) = (
            zeroize::Zeroizing::new(password.to_owned()),
            stored.to_owned(),
        );
        self.run(move || crate::secrets::verify_password(&password, &stored))
            .await
    }

    /// Hash a new password.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let password = zeroize::Zeroizing::new(password.to_owned());
        self.run(move || crate::secrets::hash_password(&password))
            .await?
    }
}

/// Gives the admission back when the work ends (or its caller goes away).
struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = HashPool::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = started.send(());
                    wait.recv().ok();
                })
                .await
            })
        };
        running.await.unwrap();
        // One waits in the queue…
        let second = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        tokio::task::yield_now().await;
        while pool.admitted.load(Ordering::Acquire) < 2 {
            tokio::task::yield_now().await;
        }
        // …and the next is refused.
        assert!(matches!(pool.run(|| 3).await, Err(ServerError::Busy)));
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(second.await.unwrap().unwrap(), 2);
        // Room again.
        assert_eq!(pool.run(|| 4).await.unwrap(), 4);
    }
}
