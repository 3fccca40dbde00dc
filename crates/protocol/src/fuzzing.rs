//! The checks behind the fuzz targets in `fuzz/` (`envelope`,
//! `agent_message`, `snapshot_delta`, `activation`, `channel_up`,
//! `channel_down`), shared with the stable
//! test `tests/fuzz_corpus.rs` that replays their corpora. For fuzzing and
//! tests only: not a stable API.
//!
//! Everything here is what a hostile agent (or anyone on the path) can send
//! the server. Each check panics when an invariant breaks, which is what a
//! fuzzer and a test both report; failures of the code under test on bad
//! input are expected and ignored.

use std::sync::OnceLock;

use printwatch_snapshot::{Alert, Meter, Snapshot, Source, Supply, Tray};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::activation::{
    self, ActivationCode, ActivationRequest, ActivationResponse, AgentActivation, AgentInfo, Pin,
    PinVerifier,
};
use crate::channel::{self, Challenge, ChannelDown, ChannelUp, Command};
use crate::delta::{self, SnapshotDelta};
use crate::envelope::{self, Direction, Opened, UnverifiedHeader};
use crate::message::{AgentMessage, DeviceReport};
use crate::{AgentId, AgentKey, ProtocolError};

/// The key every fuzzing envelope is sealed with. Not a secret.
pub const KEY: [u8; 32] = *b"printwatch fuzzing key, not real";
/// Agent id and sequence number of the envelopes the checks seal.
pub const AGENT: AgentId = AgentId(7);
pub const SEQ: u64 = 42;
/// The activation code of the fuzzing agent (argon2 runs once per process).
pub const CODE: &str = "7-FACED-BEEF0";

/// The fuzzing key as an [`AgentKey`].
pub fn key() -> AgentKey {
    AgentKey::from_bytes(KEY)
}

/// A deterministic random source, so that seeds can be made again.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Arbitrary bytes three ways: as an envelope off the wire, as the
/// compressed content of an authentic envelope (the zstd decoder behind the
/// AEAD), and as the JSON inside an authentic envelope. See [`check_open`].
pub fn check_envelope(data: &[u8]) {
    let key = key();
    for direction in [Direction::AgentToServer, Direction::ServerToAgent] {
        check_open(&key, direction, data);
    }
    // A fixed nonce is fine here: the key is public anyway.
    let nonce = [0x5a; 24];
    match envelope::seal_compressed(&key, Direction::AgentToServer, AGENT, SEQ, data, &nonce) {
        Ok(sealed) => check_open(&key, Direction::AgentToServer, &sealed),
        Err(ProtocolError::TooLarge { .. }) => {}
        Err(e) => panic!("sealing {} compressed bytes: {e}", data.len()),
    }
    let Ok(compressed) = zstd::bulk::compress(data, 1) else {
        panic!("zstd cannot compress {} bytes", data.len());
    };
    match envelope::seal_compressed(
        &key,
        Direction::AgentToServer,
        AGENT,
        SEQ,
        &compressed,
        &nonce,
    ) {
        Ok(sealed) => check_open(&key, Direction::AgentToServer, &sealed),
        Err(ProtocolError::TooLarge { .. }) => {}
        Err(e) => panic!("sealing {} JSON bytes: {e}", data.len()),
    }
}

/// `bytes` opened as an [`AgentMessage`] sealed with `key` in `direction`:
/// no panic; and when it opens, the unverified header said the same agent,
/// sequence and direction, the other direction refuses it, no NUL is left
/// in any text (none could be stored), and the message sealed again opens
/// to the same message.
pub fn check_open(key: &AgentKey, direction: Direction, bytes: &[u8]) {
    let header = UnverifiedHeader::parse(bytes);
    let Ok(opened) = envelope::open::<AgentMessage>(key, direction, bytes) else {
        return;
    };
    let header = match header {
        Ok(header) => header,
        Err(e) => panic!("an envelope opened whose header does not parse: {e}"),
    };
    assert_eq!(header.agent_id, opened.agent_id, "agent id");
    assert_eq!(header.seq, opened.seq, "sequence number");
    assert_eq!(header.direction, direction, "direction");
    let other = match direction {
        Direction::AgentToServer => Direction::ServerToAgent,
        Direction::ServerToAgent => Direction::AgentToServer,
    };
    assert!(
        matches!(
            envelope::open::<AgentMessage>(key, other, bytes),
            Err(ProtocolError::WrongDirection)
        ),
        "opened in the other direction too"
    );
    let json = to_json(&opened.message);
    assert!(!json.contains("\\u0000"), "a NUL came through: {json}");
    let again = match envelope::seal(
        key,
        direction,
        opened.agent_id,
        opened.seq,
        &opened.message,
        &mut rng(1),
    ) {
        Ok(again) => again,
        Err(e) => panic!("an opened message cannot be sealed again: {e}"),
    };
    let reopened: Opened<AgentMessage> = match envelope::open(key, direction, &again) {
        Ok(reopened) => reopened,
        Err(e) => panic!("a message sealed again does not open: {e}"),
    };
    assert_eq!(reopened, opened, "sealed again and opened");
}

/// Arbitrary bytes as the JSON of an [`AgentMessage`]: no panic; what parses
/// serialises back to the same message, every full snapshot in it passes
/// [`check_snapshot`], and every delta in it passes [`check_delta`] against
/// the fixed [`base_snapshot`].
pub fn check_agent_message(data: &[u8]) {
    let Ok(message) = serde_json::from_slice::<AgentMessage>(data) else {
        return;
    };
    let back: AgentMessage = from_json(&to_json(&message));
    assert_eq!(back, message, "the message serialised and parsed again");
    let AgentMessage::Submission(submission) = &message else {
        return;
    };
    for report in &submission.reports {
        match report {
            DeviceReport::Full { snapshot } => check_snapshot(snapshot),
            DeviceReport::Delta { delta, .. } => check_delta(base_snapshot(), delta),
        }
    }
}

/// Arbitrary bytes as what the server reads on the command channel: the
/// JSON of a [`ChannelUp`] (the hello), and the same bytes sealed as its
/// content. No panic; what parses and passes [`ChannelUp::check`]
/// serialises back to the same message, and the challenge it names
/// decodes to a bounded length.
pub fn check_channel_up(data: &[u8]) {
    if let Ok(up) = serde_json::from_slice::<ChannelUp>(data) {
        let back: ChannelUp = from_json(&to_json(&up));
        assert_eq!(back, up, "the hello serialised and parsed again");
        if up.check().is_ok() {
            let Ok(challenge) = (Challenge {
                challenge: up.challenge.clone(),
            })
            .bytes() else {
                panic!("a checked hello names a challenge that does not decode");
            };
            assert!(challenge.len() <= channel::MAX_CHALLENGE);
            assert!(up.results.len() <= channel::MAX_RESULTS);
        }
    }
    if let Ok(compressed) = zstd::bulk::compress(data, 1)
        && let Ok(sealed) = envelope::seal_compressed(
            &key(),
            Direction::AgentToServer,
            AGENT,
            SEQ,
            &compressed,
            &[0x5a; 24],
        )
        && let Ok(opened) = envelope::open::<ChannelUp>(&key(), Direction::AgentToServer, &sealed)
    {
        let _ = opened.message.check();
        assert!(
            envelope::open::<AgentMessage>(&key(), Direction::AgentToServer, &sealed).is_err()
                || serde_json::from_slice::<ChannelUp>(data).is_err(),
            "the same bytes read as a hello and as an agent message"
        );
    }
}

/// Arbitrary bytes as what the agent reads on the command channel: the
/// server's [`Challenge`] (its bytes within bounds when they decode) and
/// the JSON of a [`ChannelDown`]. No panic; what parses serialises back to the
/// same message (unknown command kinds read as `unknown` and stay so), and
/// [`ChannelDown::check`] bounds what is kept.
pub fn check_channel_down(data: &[u8]) {
    // The agent reads the server's challenge too (plain JSON).
    if let Ok(challenge) = serde_json::from_slice::<Challenge>(data)
        && let Ok(bytes) = challenge.bytes()
    {
        assert!((channel::MIN_CHALLENGE..=channel::MAX_CHALLENGE).contains(&bytes.len()));
    }
    let Ok(down) = serde_json::from_slice::<ChannelDown>(data) else {
        return;
    };
    let back: ChannelDown = from_json(&to_json(&down));
    assert_eq!(back, down, "the message serialised and parsed again");
    if down.check().is_ok() {
        assert!(down.commands.len() <= channel::MAX_COMMANDS);
        for c in &down.commands {
            if let Command::Configure(pushed) = &c.command {
                // Validation may refuse it; it must not panic.
                let _ = pushed.config.validate();
            }
        }
    }
}

/// Arbitrary bytes as the JSON of a [`SnapshotDelta`], applied to the fixed
/// [`base_snapshot`]: see [`check_delta`].
pub fn check_snapshot_delta(data: &[u8]) {
    if let Ok(delta) = serde_json::from_slice::<SnapshotDelta>(data) {
        check_delta(base_snapshot(), &delta);
    }
}

/// A delta serialises back to itself; applying it to `base` does not panic,
/// and what applies passes [`check_snapshot`] and is given again by the
/// diff from `base` (what an agent would send for it).
pub fn check_delta(base: &Snapshot, delta: &SnapshotDelta) {
    let back: SnapshotDelta = from_json(&to_json(delta));
    assert_eq!(&back, delta, "the delta serialised and parsed again");
    let Ok(next) = delta::apply(base, delta) else {
        return;
    };
    check_snapshot(&next);
    let diff = match delta::diff(base, &next) {
        Ok(diff) => diff,
        Err(e) => panic!("no diff to an applied snapshot: {e}"),
    };
    match delta::apply(base, &diff) {
        Ok(again) => assert_eq!(again, next, "the diff applied"),
        Err(e) => panic!("the diff to an applied snapshot does not apply: {e}"),
    }
}

/// A snapshot (as the server stores it: JSON text) parses back to itself
/// and keeps its digest, so the agent's next delta finds its base.
pub fn check_snapshot(snapshot: &Snapshot) {
    let text = to_json(snapshot);
    let back: Snapshot = from_json(&text);
    assert_eq!(&back, snapshot, "the snapshot stored and read again");
    match (delta::digest(snapshot), delta::digest(&back)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the digest changed by storing"),
        (a, b) => panic!("no digest: {a:?} {b:?}"),
    }
}

/// Arbitrary bytes as what activation reads: an activation code typed by a
/// person (bytes taken as UTF-8, lossily), a request JSON (the server's
/// side) and an answer JSON (the agent's side). No panic; a code that parses
/// has a positive agent id and reads back from its display; a PIN is ten
/// characters of the alphabet; the JSON types serialise back to themselves;
/// a request the server accepts from the fuzzing agent completes to the
/// same key on the agent's side.
pub fn check_activation(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(code) = text.parse::<ActivationCode>() {
        assert!(code.agent_id.0 > 0, "agent id {}", code.agent_id);
        match code.reveal().parse::<ActivationCode>() {
            Ok(back) => assert_eq!(back, code, "the code shown and read again"),
            Err(e) => panic!("the code as shown does not parse: {e}"),
        }
    }
    if let Ok(pin) = Pin::parse(&text) {
        let shown = pin.display();
        assert_eq!(shown.len(), activation::PIN_CHARS + 1, "{shown:?}");
        assert!(
            shown
                .chars()
                .all(|c| c == '-' || "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)),
            "{shown:?}"
        );
        match Pin::parse(&shown) {
            Ok(back) => assert!(back == pin, "the PIN shown and read again"),
            Err(e) => panic!("the PIN as shown does not parse: {e}"),
        }
    }
    if let Ok(request) = serde_json::from_slice::<ActivationRequest>(data) {
        let back: ActivationRequest = from_json(&to_json(&request));
        assert_eq!(back, request, "the request serialised and parsed again");
        let (agent, ours) = fuzzing_agent();
        if let Ok((server_key, response)) = activation::accept(&request, verifier(), &mut rng(2)) {
            assert_eq!(
                response.agent_id, request.agent_id,
                "answered for another agent"
            );
            if request.agent_public == ours.agent_public && request.agent_id == AGENT {
                match agent.finish(&response) {
                    Ok(agent_key) => assert!(agent_key == server_key, "the two keys differ"),
                    Err(e) => panic!("the agent refuses an accepted activation: {e}"),
                }
            }
        }
    }
    if let Ok(response) = serde_json::from_slice::<ActivationResponse>(data) {
        let back: ActivationResponse = from_json(&to_json(&response));
        assert_eq!(back, response, "the answer serialised and parsed again");
        let (agent, _) = fuzzing_agent();
        if agent.finish(&response).is_ok() {
            assert_eq!(response.agent_id, AGENT, "confirmed for another agent");
        }
    }
}

/// The verifier of [`CODE`], derived once (argon2 is slow on purpose).
pub fn verifier() -> &'static PinVerifier {
    static VERIFIER: OnceLock<PinVerifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        let derived = CODE
            .parse::<ActivationCode>()
            .and_then(|code| PinVerifier::derive(code.agent_id, &code.pin));
        match derived {
            Ok(verifier) => verifier,
            Err(e) => panic!("the fuzzing code {CODE}: {e}"),
        }
    })
}

/// The fuzzing agent's activation in progress, always the same one: its
/// request (to make seeds) and the state that finishes it.
pub fn fuzzing_agent() -> (AgentActivation, ActivationRequest) {
    let info = AgentInfo {
        version: "0.1.0".into(),
        os: "linux".into(),
        hostname: Some("fuzz".into()),
    };
    AgentActivation::with_verifier(AGENT, verifier().clone(), info, &mut rng(3))
}

/// The server's answer to [`fuzzing_agent`]'s request (for seeds).
pub fn fuzzing_answer() -> ActivationResponse {
    let (_, request) = fuzzing_agent();
    match activation::accept(&request, verifier(), &mut rng(2)) {
        Ok((_, response)) => response,
        Err(e) => panic!("the fuzzing agent's own request: {e}"),
    }
}

/// The state deltas apply to: a colour printer with every list filled.
pub fn base_snapshot() -> &'static Snapshot {
    static BASE: OnceLock<Snapshot> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut s = Snapshot::new("192.0.2.10");
        s.collected_at = "2025-01-01T00:00:00Z".into();
        s.family = Some("Ricoh".into());
        s.vendor = Some("Savin".into());
        s.model = Some("MP C3004".into());
        s.serial = Some("E1234567890".into());
        s.mac = Some("00:26:73:01:02:03".into());
        s.color = Some(true);
        s.status.device = Some("running".into());
        s.status.errors = vec!["low_toner".into()];
        s.console = vec!["Ready".into()];
        s.meters = ["total", "total_mono", "total_color"]
            .into_iter()
            .zip([1000u64, 600, 400])
            .map(|(name, value)| Meter {
                name: name.into(),
                value,
                unit: "impressions".into(),
                oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
            })
            .collect();
        s.supplies = ["black", "cyan"]
            .into_iter()
            .map(|color| Supply {
                description: format!("{color} toner"),
                kind: "toner".into(),
                color: Some(color.into()),
                level: Some(25),
                max: Some(100),
                percent: Some(25.0),
                state: "ok".into(),
                unit: Some("percent".into()),
                part_number: None,
                serial: None,
                oid: None,
            })
            .collect();
        s.trays = vec![Tray {
            name: "Tray 1".into(),
            kind: None,
            level: Some(-3),
            max: Some(500),
            state: "some_remaining".into(),
            media: Some("A4".into()),
        }];
        s.alerts = vec![Alert {
            severity: "warning".into(),
            group: "marker_supplies".into(),
            code: "marker_toner_almost_empty".into(),
            description: None,
            location: None,
        }];
        s
    })
}

/// Serialising our own types to JSON cannot fail; a failure is a finding.
fn to_json<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(text) => text,
        Err(e) => panic!("cannot serialise {value:?}: {e}"),
    }
}

/// JSON we wrote must parse back; a failure is a finding.
fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> T {
    match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => panic!("cannot parse what was written ({e}): {text}"),
    }
}
