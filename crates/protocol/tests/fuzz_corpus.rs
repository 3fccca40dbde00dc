//! Replays the fuzz seed corpora of the protocol targets
//! (`fuzz/corpus/<target>/`, plus any crash inputs kept there as
//! regressions) on stable Rust, through the same checks as the cargo-fuzz
//! targets in `fuzz/fuzz_targets/`.
//!
//! The seeds are made here, from real messages: [`seeds`] builds them
//! (envelopes sealed under the public fuzzing key with a seeded random
//! source) and `PRINTWATCH_WRITE_SEEDS=1 cargo test -p printwatch-protocol
//! --test fuzz_corpus` (re)writes them. A test checks that the files on disk
//! are those seeds (envelopes by what they open to: compression may change
//! with the zstd version).

use std::path::{Path, PathBuf};

use printwatch_protocol::channel::{
    ChannelDown, ChannelUp, Command, CommandEnvelope, CommandResult,
};
use printwatch_protocol::config::AgentConfig;
use printwatch_protocol::delta::{self, Indexed, ListDelta, SnapshotDelta};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::fuzzing::{self, AGENT, SEQ};
use printwatch_protocol::message::{
    AgentMessage, DeviceReport, Heartbeat, PushedConfig, Submission,
};
use printwatch_snapshot::{Meter, Snapshot, Source, Supply};

/// Crash inputs kept as regressions (`fuzz/corpus/snapshot_delta/oom_*`).
const KEPT_FINDINGS: &[&str] = &["oom_huge_len.json"];

const TARGETS: [&str; 6] = [
    "envelope",
    "agent_message",
    "snapshot_delta",
    "activation",
    "channel_up",
    "channel_down",
];

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (path, bytes)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} check",
            path.display()
        );
    }
}

#[test]
fn envelope_corpus_replays() {
    replay("envelope", fuzzing::check_envelope);
}

#[test]
fn agent_message_corpus_replays() {
    replay("agent_message", fuzzing::check_agent_message);
}

#[test]
fn snapshot_delta_corpus_replays() {
    replay("snapshot_delta", fuzzing::check_snapshot_delta);
}

#[test]
fn activation_corpus_replays() {
    replay("activation", fuzzing::check_activation);
}

#[test]
fn channel_up_corpus_replays() {
    replay("channel_up", fuzzing::check_channel_up);
}

#[test]
fn channel_down_corpus_replays() {
    replay("channel_down", fuzzing::check_channel_down);
}

// ---- The seeds ----

/// The fixed base with a day more on its meters, a new supply, the cyan
/// toner low, and new top-level fields: a delta that touches everything.
fn next_snapshot() -> Snapshot {
    let mut next = fuzzing::base_snapshot().clone();
    next.collected_at = "2025-01-02T00:00:00Z".into();
    next.location = Some("2nd floor".into());
    next.status.errors = vec![];
    next.meters[0].value += 120;
    next.meters[1].value += 100;
    next.meters[2].value += 20;
    next.meters.push(Meter {
        name: "scan".into(),
        value: 77,
        unit: "impressions".into(),
        oid: Source::Sum(vec!["1.3.6.1.4.1.367.3.2.1.2.19.5.1.9.1".into()]),
    });
    next.supplies[1].level = Some(5);
    next.supplies[1].percent = Some(5.5);
    next.supplies[1].state = "low".into();
    next.supplies.push(Supply {
        description: "waste toner".into(),
        kind: "waste_toner".into(),
        color: None,
        level: Some(-3),
        max: Some(-2),
        percent: None,
        state: "some_remaining".into(),
        unit: None,
        part_number: Some("D2426400".into()),
        serial: None,
        oid: None,
    });
    next.alerts.clear();
    next
}

fn full_delta() -> SnapshotDelta {
    delta::diff(fuzzing::base_snapshot(), &next_snapshot()).expect("diff")
}

/// Lists cut short and one field removed (set to null).
fn shrinking_delta() -> SnapshotDelta {
    let mut d = SnapshotDelta {
        meters: Some(ListDelta {
            len: 1,
            set: vec![],
            patch: vec![],
        }),
        supplies: Some(ListDelta {
            len: 0,
            set: vec![],
            patch: vec![],
        }),
        ..Default::default()
    };
    d.fields.insert("serial".into(), serde_json::Value::Null);
    d
}

/// Refused: a new position left unset, and an index past the end.
fn bad_deltas() -> Vec<SnapshotDelta> {
    let meter = fuzzing::base_snapshot().meters[0].clone();
    vec![
        SnapshotDelta {
            meters: Some(ListDelta {
                len: 5,
                set: vec![Indexed {
                    index: 3,
                    item: meter.clone(),
                }],
                patch: vec![],
            }),
            ..Default::default()
        },
        SnapshotDelta {
            meters: Some(ListDelta {
                len: 1,
                set: vec![Indexed {
                    index: 9,
                    item: meter,
                }],
                patch: vec![],
            }),
            ..Default::default()
        },
    ]
}

fn heartbeat(hostname: &str) -> AgentMessage {
    AgentMessage::Heartbeat(Heartbeat {
        agent_version: "0.1.0".into(),
        os: "linux".into(),
        hostname: Some(hostname.into()),
        sent_at: "2025-01-02T00:00:05Z".into(),
        ..Default::default()
    })
}

fn submission() -> AgentMessage {
    AgentMessage::Submission(Submission {
        sent_at: "2025-01-02T00:00:05Z".into(),
        reports: vec![
            DeviceReport::Full {
                snapshot: Box::new(fuzzing::base_snapshot().clone()),
            },
            DeviceReport::Delta {
                identity: "Ricoh/E1234567890".into(),
                base: delta::digest(fuzzing::base_snapshot()).expect("digest"),
                delta: full_delta(),
            },
        ],
    })
}

fn challenge() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode([0x42u8; 40])
}

fn channel_up() -> ChannelUp {
    ChannelUp {
        challenge: challenge(),
        agent_version: "0.1.0".into(),
        acks: vec![3, 4],
        results: vec![
            CommandResult {
                id: 2,
                ok: true,
                detail: "sweep started".into(),
            },
            CommandResult {
                id: 1,
                ok: false,
                detail: "scan.ranges: \"10.0.0.0/33\" is not a range".into(),
            },
        ],
    }
}

fn channel_down() -> ChannelDown {
    let config = AgentConfig::from_toml(
        "[scan]\nranges = [\"10.0.0.0/24\"]\n[collect]\nevery = \"5m\"\n[[credentials]]\ncommunity = \"public\"\n",
    )
    .expect("config");
    ChannelDown {
        challenge: challenge(),
        commands: vec![
            CommandEnvelope {
                id: 3,
                command: Command::ScanNow,
            },
            CommandEnvelope {
                id: 4,
                command: Command::CollectNow {
                    target: "192.0.2.10:161".into(),
                },
            },
            CommandEnvelope {
                id: 5,
                command: Command::Configure(Box::new(PushedConfig { version: 2, config })),
            },
            CommandEnvelope {
                id: 6,
                command: Command::Deactivate,
            },
        ],
        stored: vec![1, 2],
    }
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("json")
}

/// A seed file: its bytes, and for an envelope what it must open to.
struct Seed {
    target: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    /// Direction and JSON of the sealed message; None for plain bytes.
    sealed: Option<(Direction, serde_json::Value)>,
}

fn plain(target: &'static str, name: &'static str, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name,
        bytes,
        sealed: None,
    }
}

fn sealed<T: serde::Serialize>(
    name: &'static str,
    direction: Direction,
    message: &T,
    rng_seed: u64,
) -> Seed {
    let bytes = envelope::seal(
        &fuzzing::key(),
        direction,
        AGENT,
        SEQ,
        message,
        &mut fuzzing::rng(rng_seed),
    )
    .expect("seal");
    Seed {
        target: "envelope",
        name,
        bytes,
        sealed: Some((
            direction,
            serde_json::to_value(message).expect("json value"),
        )),
    }
}

fn seeds() -> Vec<Seed> {
    let heartbeat_json = serde_json::to_vec(&heartbeat("host-1")).expect("json");
    let command = channel_down();
    let mut seeds = vec![
        // Envelopes: sealed messages, and (for the two other readings of
        // the same bytes) a message's JSON and its zstd frame.
        sealed(
            "heartbeat.env",
            Direction::AgentToServer,
            &heartbeat("host-1"),
            1,
        ),
        // A NUL in a text field: it opens as U+FFFD.
        sealed(
            "heartbeat_nul.env",
            Direction::AgentToServer,
            &heartbeat("a\0b"),
            2,
        ),
        sealed("submission.env", Direction::AgentToServer, &submission(), 3),
        // Server to agent: no agent message, the wrong direction for the server.
        sealed("command.env", Direction::ServerToAgent, &command, 4),
        plain(
            "envelope",
            "heartbeat.json.zst",
            zstd::bulk::compress(&heartbeat_json, 3).expect("zstd"),
        ),
        plain("envelope", "heartbeat.json", heartbeat_json),
        // Agent messages.
        plain(
            "agent_message",
            "heartbeat.json",
            json(&heartbeat("host-1")),
        ),
        plain("agent_message", "submission.json", json(&submission())),
        // Deltas against the fixed base.
        plain("snapshot_delta", "everything.json", json(&full_delta())),
        plain("snapshot_delta", "shrinking.json", json(&shrinking_delta())),
        plain("snapshot_delta", "empty.json", b"{}".to_vec()),
        // Activation: codes as typed, the fuzzing agent's request and the
        // server's answer to it.
        plain("activation", "code.txt", fuzzing::CODE.as_bytes().to_vec()),
        plain("activation", "code_typed.txt", b" 7-faced beefo\n".to_vec()),
        plain(
            "activation",
            "request.json",
            json(&fuzzing::fuzzing_agent().1),
        ),
        plain(
            "activation",
            "answer.json",
            json(&fuzzing::fuzzing_answer()),
        ),
        // The command channel: a hello with acknowledgements and results,
        // and the server's commands of every kind.
        plain("channel_up", "hello.json", json(&channel_up())),
        plain("channel_down", "commands.json", json(&channel_down())),
        sealed("hello.env", Direction::AgentToServer, &channel_up(), 5),
    ];
    for (delta, name) in bad_deltas()
        .iter()
        .zip(["refused_unset.json", "refused_past_end.json"])
    {
        seeds.push(plain("snapshot_delta", name, json(delta)));
    }
    seeds
}

#[test]
fn seed_files_are_the_seeds() {
    let write = std::env::var("PRINTWATCH_WRITE_SEEDS").is_ok_and(|v| v == "1");
    for seed in seeds() {
        let path = corpus_dir(seed.target).join(seed.name);
        if write {
            std::fs::create_dir_all(corpus_dir(seed.target)).expect("corpus directory");
            std::fs::write(&path, &seed.bytes).expect("seed written");
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (PRINTWATCH_WRITE_SEEDS=1 writes the seeds)",
                path.display()
            )
        });
        match &seed.sealed {
            None => assert_eq!(on_disk, seed.bytes, "{} differs", path.display()),
            Some((direction, expected)) => {
                let opened =
                    envelope::open::<serde_json::Value>(&fuzzing::key(), *direction, &on_disk)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let mut expected = expected.clone();
                replace_nul(&mut expected);
                assert_eq!(opened.message, expected, "{}", path.display());
                assert_eq!((opened.agent_id, opened.seq), (AGENT, SEQ));
            }
        }
    }
    for target in TARGETS {
        assert!(!corpus(target).is_empty());
    }
}

/// What opening does to text: NUL becomes U+FFFD.
fn replace_nul(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = s.replace('\0', "\u{fffd}"),
        serde_json::Value::Array(items) => items.iter_mut().for_each(replace_nul),
        serde_json::Value::Object(map) => map.values_mut().for_each(replace_nul),
        _ => {}
    }
}

/// The seeds reach what they are for: the envelopes open (the command only
/// as a server message), the good deltas apply and the bad ones do not, the
/// fuzzing agent's request is accepted and its answer confirmed.
#[test]
fn seeds_reach_their_paths() {
    let key = fuzzing::key();
    for seed in seeds() {
        let what = format!("{}/{}", seed.target, seed.name);
        match (seed.target, seed.name) {
            ("envelope", "command.env") => {
                assert!(
                    envelope::open::<ChannelDown>(&key, Direction::ServerToAgent, &seed.bytes)
                        .is_ok()
                );
                assert!(
                    envelope::open::<AgentMessage>(&key, Direction::ServerToAgent, &seed.bytes)
                        .is_err()
                );
            }
            ("envelope", "hello.env") => {
                let opened =
                    envelope::open::<ChannelUp>(&key, Direction::AgentToServer, &seed.bytes)
                        .expect("opens");
                assert!(opened.message.check().is_ok());
                assert!(
                    envelope::open::<AgentMessage>(&key, Direction::AgentToServer, &seed.bytes)
                        .is_err()
                );
            }
            ("channel_down", _) => {
                let down: ChannelDown = serde_json::from_slice(&seed.bytes).expect("parses");
                assert!(down.check().is_ok(), "{what}");
            }
            ("envelope", name) if name.ends_with(".env") => {
                assert!(
                    envelope::open::<AgentMessage>(&key, Direction::AgentToServer, &seed.bytes)
                        .is_ok(),
                    "{what}"
                );
            }
            ("snapshot_delta", name) => {
                let d: SnapshotDelta = serde_json::from_slice(&seed.bytes).expect("delta");
                let applied = delta::apply(fuzzing::base_snapshot(), &d);
                assert_eq!(applied.is_ok(), !name.starts_with("refused"), "{what}");
            }
            _ => {}
        }
    }
    // Kept findings: deltas that once made the server allocate for a claimed
    // length. Each is named here, so that losing one fails.
    let kept = corpus("snapshot_delta");
    for finding in KEPT_FINDINGS {
        assert!(
            kept.iter()
                .any(|(p, _)| p.file_name().is_some_and(|n| n == *finding)),
            "the kept fuzz finding fuzz/corpus/snapshot_delta/{finding} is missing"
        );
    }
    for (path, bytes) in kept {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("oom_") {
            assert!(
                KEPT_FINDINGS.contains(&name),
                "{name}: a new kept finding: name it in KEPT_FINDINGS"
            );
            let d: SnapshotDelta = serde_json::from_slice(&bytes).expect("delta");
            assert!(
                delta::apply(fuzzing::base_snapshot(), &d).is_err(),
                "{name}"
            );
        }
    }
    let (agent, request) = fuzzing::fuzzing_agent();
    let (server_key, _) = printwatch_protocol::activation::accept(
        &request,
        fuzzing::verifier(),
        &mut fuzzing::rng(2),
    )
    .expect("accepted");
    assert!(agent.finish(&fuzzing::fuzzing_answer()).expect("confirmed") == server_key);
    assert_eq!(
        delta::apply(fuzzing::base_snapshot(), &full_delta()).expect("applies"),
        next_snapshot()
    );
}
