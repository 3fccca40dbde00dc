//! Bytes an agent uploads per device per day (issue 9's benchmark), with
//! the real uplink state machine, sans-IO: a fleet of synthetic printers
//! (the demo's, read by the real profiles) is collected every 15 minutes
//! for a day, meters advancing and supplies draining, every reading sealed
//! into envelopes of up to 500 records and acknowledged by receipts as the
//! server seals them. Heartbeats every 5 minutes are counted apart (they
//! are per agent, not per device).
//!
//! `cargo run --release -p printwatch-agent --example upload_bytes -- [DEVICES] [INTERVAL_MIN]`

use std::time::Duration;

use printwatch_agent::uplink::{
    Acked, Answer, PendingRecord, SubmissionOutcome, Uplink, UplinkState,
};
use printwatch_printer::{MibView, ProfileSet, read_snapshot};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::message::{Heartbeat, Receipt, ReceiptStatus};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_snapshot::Snapshot;
use rand::{Rng, SeedableRng};

const AGENT: AgentId = AgentId(1);
/// HTTP/1.1 request and answer heads around each envelope, estimated (the
/// agent's request line and four headers, the server's status line and
/// about eight headers); TLS records add some 30 bytes more per envelope.
const HTTP_OVERHEAD: u64 = 450;

fn main() {
    let mut args = std::env::args().skip(1);
    let devices: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let interval_min: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let profiles = ProfileSet::embedded().expect("profiles");
    let fleet = printwatch_sim::synthetic::demo_fleet(&profiles, devices);
    let mut snapshots: Vec<Snapshot> = fleet
        .into_iter()
        .filter(|(name, _)| !name.contains("router"))
        .map(|(name, records)| read_snapshot(&name, &MibView::from_varbinds(records), &profiles))
        .collect();
    let key = AgentKey::from_bytes([9; 32]);
    let mut uplink = Uplink::new(
        AGENT,
        AgentKey::from_bytes([9; 32]),
        UplinkState::default(),
        Acked::new(),
        None,
        Duration::from_secs(24 * 3600),
    );
    let rng = &mut rand::rngs::StdRng::seed_from_u64(7);
    let start: i64 = 1_735_689_600;
    let cycles = 24 * 60 / interval_min;
    let (mut envelopes, mut sealed_bytes, mut plaintext_bytes) = (0u64, 0u64, 0u64);
    let mut first_day_bytes = 0u64;
    let mut record_id = 0u64;
    // Two days: the first includes every device's first full snapshot; the
    // second is the steady state (one full snapshot per device a day).
    for day in 0..2 {
        let day_start = sealed_bytes + envelopes * HTTP_OVERHEAD;
        for cycle in 0..cycles {
            let now = start + (day * cycles + cycle) as i64 * interval_min as i64 * 60;
            let at = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + Duration::from_secs(now as u64),
            )
            .to_string();
            let mut pending = Vec::with_capacity(snapshots.len());
            for s in &mut snapshots {
                advance(s, rng, &at);
                record_id += 1;
                pending.push(PendingRecord {
                    id: record_id,
                    snapshot: s.clone(),
                });
            }
            let mut rest: &[PendingRecord] = &pending;
            while !rest.is_empty() {
                let inflight = uplink
                    .seal_batch(rest, now, &at, rng)
                    .expect("seal")
                    .expect("records")
                    .clone();
                envelopes += 1;
                sealed_bytes += inflight.sealed.len() as u64;
                plaintext_bytes += plaintext(&key, &inflight.sealed);
                if std::env::var_os("SHOW_DELTA").is_some() && day == 1 && cycle == 1 {
                    let opened = envelope::open::<serde_json::Value>(
                        &key,
                        Direction::AgentToServer,
                        &inflight.sealed,
                    )
                    .expect("opens");
                    eprintln!("{}", opened.message["reports"][3]);
                    eprintln!("{}", opened.message["reports"][7]);
                }
                let receipt = Receipt {
                    answers: envelope::digest(&inflight.sealed),
                    status: ReceiptStatus::Applied,
                    server_time: at.clone(),
                    resync: vec![],
                    config: None,
                };
                let body = envelope::seal(
                    &key,
                    Direction::ServerToAgent,
                    AGENT,
                    inflight.seq,
                    &receipt,
                    rng,
                )
                .expect("seal receipt");
                sealed_bytes += body.len() as u64;
                match uplink.on_submission_answer(Answer::Http { status: 200, body }, now, 0.5) {
                    SubmissionOutcome::Acked { records, .. } => rest = &rest[records as usize..],
                    other => panic!("{other:?}"),
                }
            }
        }
        if day == 0 {
            first_day_bytes = sealed_bytes + envelopes * HTTP_OVERHEAD - day_start;
        }
    }
    let total = sealed_bytes + envelopes * HTTP_OVERHEAD;
    let second_day = total - first_day_bytes;
    // Heartbeats: one agent, every 5 minutes, answered by a receipt.
    let hb = uplink
        .seal_heartbeat(
            Heartbeat {
                agent_version: "0.1.0".into(),
                os: "linux x86_64".into(),
                hostname: Some("agent-host".into()),
                sent_at: "2025-01-01T00:00:00Z".into(),
                heartbeat_every_secs: 300,
                uptime_secs: 86_400,
                spool_records: 0,
                spool_bytes: 0,
                devices: devices as u64,
                ..Heartbeat::default()
            },
            rng,
        )
        .expect("seal");
    let hb_bytes = (hb.len() as u64 + 120 + 2 * HTTP_OVERHEAD) * 288;
    let n = snapshots.len() as u64;
    println!(
        "devices: {n}, a collection every {interval_min} min ({cycles} a day), envelopes of up to 500 records"
    );
    println!(
        "day 1 (every device's first full snapshot): {} bytes, {:.0} bytes per device",
        first_day_bytes,
        first_day_bytes as f64 / n as f64
    );
    println!(
        "day 2 (steady: deltas, one full snapshot a day): {} bytes, {:.0} bytes per device per day",
        second_day,
        second_day as f64 / n as f64
    );
    println!(
        "  of which sealed envelopes and receipts: {} bytes; JSON before compression: {} bytes ({:.1}x)",
        sealed_bytes,
        plaintext_bytes,
        plaintext_bytes as f64 / sealed_bytes as f64
    );
    println!(
        "heartbeats (per agent, every 5 min, with receipts and HTTP heads): {} bytes a day",
        hb_bytes
    );
    println!(
        "per device per day including heartbeats: {:.0} bytes",
        (second_day + hb_bytes) as f64 / n as f64
    );
}

/// One 15-minute step of a busy office printer: a few pages on every
/// counter in proportion, toner a little lower.
fn advance(s: &mut Snapshot, rng: &mut impl Rng, at: &str) {
    s.collected_at = at.to_owned();
    let pages = rng.gen_range(0..30u64);
    let total = s.meter("total").unwrap_or(1).max(1);
    for m in &mut s.meters {
        m.value += pages * m.value / total;
    }
    for supply in &mut s.supplies {
        if let (Some(level), Some(max)) = (supply.level, supply.max)
            && level > 0
            && rng.gen_bool(0.2)
        {
            supply.level = Some(level - 1);
            supply.percent = Some((level - 1) as f64 * 100.0 / max.max(1) as f64);
        }
    }
}

fn plaintext(key: &AgentKey, sealed: &[u8]) -> u64 {
    let opened =
        envelope::open::<serde_json::Value>(key, Direction::AgentToServer, sealed).expect("opens");
    serde_json::to_vec(&opened.message)
        .map(|v| v.len() as u64)
        .unwrap_or(0)
}
