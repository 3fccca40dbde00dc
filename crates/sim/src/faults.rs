//! Faults that need a packet to be dropped or held before the agent sees it:
//! the agent's handlers cannot refuse to answer, so a gate stands in front.
//!
//! The gate owns the public address; the agent listens on an ephemeral port
//! of the same IP. Each client gets its own upstream socket so that answers
//! find their way back.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// Faults of one simulated device (fleet file keys in kebab-case).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Faults {
    /// Fraction of requests dropped, 0.0 to 1.0, evenly spaced (0.25 drops
    /// every fourth request) so that tests are repeatable.
    #[serde(default)]
    pub loss: f64,
    /// Delay before each request reaches the agent, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Never answers (an address that swallows every packet).
    #[serde(default)]
    pub silent: bool,
    /// Largest SNMP message the agent accepts and sends (tooBig beyond).
    #[serde(default)]
    pub max_message_size: Option<usize>,
    /// prtMarkerLifeCount grows by this many pages per minute.
    #[serde(default)]
    pub pages_per_minute: f64,
    /// Supply levels fall by this percentage of their capacity per hour.
    #[serde(default)]
    pub drain_percent_per_hour: f64,
}

impl Faults {
    /// Whether requests must pass a gate before the agent.
    pub fn needs_gate(&self) -> bool {
        self.silent || self.loss > 0.0 || self.delay_ms > 0
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.loss) {
            return Err(format!("loss must be between 0 and 1, not {}", self.loss));
        }
        if self.pages_per_minute < 0.0 || self.drain_percent_per_hour < 0.0 {
            return Err("pages-per-minute and drain-percent-per-hour cannot be negative".into());
        }
        if let Some(size) = self.max_message_size
            && !(484..=65507).contains(&size)
        {
            return Err(format!(
                "max-message-size must be between 484 (RFC 3417) and 65507, not {size}"
            ));
        }
        Ok(())
    }
}

/// Relays requests from `public` to the agent at `agent`, dropping and
/// delaying them as the faults say. Runs until the task is aborted.
pub async fn run_gate(public: UdpSocket, agent: SocketAddr, faults: Faults) {
    let public = Arc::new(public);
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    // Owned here so that aborting the gate stops its helpers too.
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65536];
    let mut received: u64 = 0;
    loop {
        while tasks.try_join_next().is_some() {}
        let Ok((len, client)) = public.recv_from(&mut buf).await else {
            continue;
        };
        received += 1;
        if faults.silent || dropped(received, faults.loss) {
            continue;
        }
        let upstream = match upstreams.get(&client) {
            Some(up) => up.clone(),
            None => match open_upstream(agent, client, public.clone(), &mut tasks).await {
                Ok(up) => {
                    upstreams.insert(client, up.clone());
                    up
                }
                Err(e) => {
                    tracing::warn!(%client, error = %e, "gate cannot open an upstream socket");
                    continue;
                }
            },
        };
        let packet = buf[..len].to_vec();
        if faults.delay_ms > 0 {
            let delay = Duration::from_millis(faults.delay_ms);
            tasks.spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = upstream.send(&packet).await;
            });
        } else {
            let _ = upstream.send(&packet).await;
        }
    }
}

/// Whether the `n`th request (from 1) is lost at rate `loss`: the losses are
/// spread evenly instead of drawn at random.
fn dropped(n: u64, loss: f64) -> bool {
    loss > 0.0 && ((n as f64) * loss).floor() > (((n - 1) as f64) * loss).floor()
}

async fn open_upstream(
    agent: SocketAddr,
    client: SocketAddr,
    public: Arc<UdpSocket>,
    tasks: &mut JoinSet<()>,
) -> std::io::Result<Arc<UdpSocket>> {
    let upstream = Arc::new(UdpSocket::bind(SocketAddr::new(agent.ip(), 0)).await?);
    upstream.connect(agent).await?;
    let reader = upstream.clone();
    tasks.spawn(async move {
        let mut buf = vec![0u8; 65536];
        while let Ok(len) = reader.recv(&mut buf).await {
            let _ = public.send_to(&buf[..len], client).await;
        }
    });
    Ok(upstream)
}

#[cfg(test)]
mod tests {
    use super::dropped;

    #[test]
    fn loss_is_evenly_spread() {
        let lost = |loss| (1..=1000).filter(|n| dropped(*n, loss)).count();
        assert_eq!(lost(0.0), 0);
        assert_eq!(lost(0.25), 250);
        assert_eq!(lost(1.0), 1000);
        assert!(!dropped(1, 0.5) && dropped(2, 0.5) && !dropped(3, 0.5));
    }
}
