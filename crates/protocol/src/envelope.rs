//! Sealed envelopes: the only form in which messages travel.
//!
//! Layout (all integers big-endian):
//!
//! ```text
//! offset size field
//!      0    2 magic "PW"
//!      2    1 protocol version (PROTOCOL_VERSION)
//!      3    1 direction: 1 agent → server, 2 server → agent
//!      4    8 agent id (i64)
//!     12    8 sequence number (u64, per agent and direction, from 1)
//!     20   24 XChaCha20 nonce (random)
//!     44    … ciphertext of zstd(JSON), with the 16-byte Poly1305 tag
//! ```
//!
//! Sequence numbers count per agent, direction and stream: submissions
//! (the agent's spool, each applied exactly once) and heartbeats count
//! separately, so a heartbeat sent while a submission waits for the server
//! cannot make that submission stale. The stream is the message's type,
//! known once the envelope is open; the server keeps a last-applied number
//! for each. A server's [`crate::message::Receipt`] is sealed under the
//! number of the envelope it answers and names that envelope's [`digest`].
//!
//! The first 20 bytes are the associated data: altering the version,
//! direction, agent id or sequence number makes the envelope fail to open.
//! The receiver reads the header first ([`UnverifiedHeader`]) only to find
//! which key to try; nothing in it is trusted until [`open`] succeeds.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Read;

use crate::{AgentId, AgentKey, PROTOCOL_VERSION, ProtocolError, Result};

const MAGIC: &[u8; 2] = b"PW";
/// Bytes of associated data (magic to sequence number).
pub const AAD_LEN: usize = 20;
/// Bytes before the ciphertext.
pub const HEADER_LEN: usize = AAD_LEN + 24;
const TAG_LEN: usize = 16;
/// Largest envelope accepted (sealed bytes).
pub const MAX_ENVELOPE: usize = 8 * 1024 * 1024;
/// Largest decompressed message accepted (zstd bombs stop here).
pub const MAX_PLAINTEXT: usize = 64 * 1024 * 1024;
/// zstd's highest level short of "ultra": an agent seals a few envelopes
/// an hour, and at 2,000 devices every 15 minutes level 19 sends 3.9 KB per
/// device a day where level 3 sent 5.2 KB (`crates/agent/examples/upload_bytes.rs`);
/// about 0.2 s of CPU for an envelope of 500 readings. Opening costs the
/// same at any level.
const ZSTD_LEVEL: i32 = 19;

/// Who sealed the envelope. Bound in, so an envelope cannot be reflected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    AgentToServer = 1,
    ServerToAgent = 2,
}

impl Direction {
    fn from_byte(b: u8) -> Result<Direction> {
        match b {
            1 => Ok(Direction::AgentToServer),
            2 => Ok(Direction::ServerToAgent),
            _ => Err(ProtocolError::Malformed("unknown direction")),
        }
    }
}

/// The header of an envelope that has not been authenticated yet: use the
/// agent id only to look up the key, then call [`open`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnverifiedHeader {
    pub agent_id: AgentId,
    pub direction: Direction,
    pub seq: u64,
}

impl UnverifiedHeader {
    pub fn parse(bytes: &[u8]) -> Result<UnverifiedHeader> {
        if bytes.len() > MAX_ENVELOPE {
            return Err(ProtocolError::TooLarge {
                size: bytes.len(),
                limit: MAX_ENVELOPE,
            });
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(ProtocolError::Malformed("too short"));
        }
        UnverifiedHeader::parse_prefix(bytes)
    }

    /// The header from the first [`HEADER_LEN`] bytes of an envelope, the
    /// rest not received yet: a server looks up the agent before it reads
    /// (and holds) a body of up to [`MAX_ENVELOPE`] bytes.
    pub fn parse_prefix(bytes: &[u8]) -> Result<UnverifiedHeader> {
        if bytes.len() < HEADER_LEN {
            return Err(ProtocolError::Malformed("too short"));
        }
        if &bytes[0..2] != MAGIC {
            return Err(ProtocolError::Malformed("bad magic"));
        }
        if bytes[2] != PROTOCOL_VERSION {
            return Err(ProtocolError::Version {
                got: bytes[2].into(),
                supported: PROTOCOL_VERSION.into(),
            });
        }
        let direction = Direction::from_byte(bytes[3])?;
        let agent_id = AgentId(i64::from_be_bytes(be8(&bytes[4..12])));
        let seq = u64::from_be_bytes(be8(&bytes[12..20]));
        Ok(UnverifiedHeader {
            agent_id,
            direction,
            seq,
        })
    }
}

fn be8(slice: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(slice);
    out
}

/// A message that opened: authentic, for this agent, at this sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened<T> {
    pub agent_id: AgentId,
    pub seq: u64,
    pub message: T,
}

/// Seal `message` as JSON, compressed with zstd.
pub fn seal<T: Serialize, R: RngCore + CryptoRng>(
    key: &AgentKey,
    direction: Direction,
    agent_id: AgentId,
    seq: u64,
    message: &T,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let json = serde_json::to_vec(message)?;
    let compressed = zstd::bulk::compress(&json, ZSTD_LEVEL)
        .map_err(|e| ProtocolError::Compression(e.to_string()))?;
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    seal_compressed(key, direction, agent_id, seq, &compressed, &nonce)
}

/// Seal bytes that are already compressed, under `nonce`. Only [`seal`]
/// and the fuzzing checks (which seal arbitrary bytes) call it.
pub(crate) fn seal_compressed(
    key: &AgentKey,
    direction: Direction,
    agent_id: AgentId,
    seq: u64,
    compressed: &[u8],
    nonce: &[u8; 24],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER_LEN + compressed.len() + TAG_LEN);
    out.extend_from_slice(MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(direction as u8);
    out.extend_from_slice(&agent_id.0.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(nonce);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let sealed = cipher
        .encrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: compressed,
                aad: &out[..AAD_LEN],
            },
        )
        .map_err(|_| ProtocolError::NotAuthentic)?;
    out.extend_from_slice(&sealed);
    if out.len() > MAX_ENVELOPE {
        return Err(ProtocolError::TooLarge {
            size: out.len(),
            limit: MAX_ENVELOPE,
        });
    }
    Ok(out)
}

/// Open an envelope sealed with `key` in `direction`.
pub fn open<T: DeserializeOwned>(
    key: &AgentKey,
    direction: Direction,
    bytes: &[u8],
) -> Result<Opened<T>> {
    let header = UnverifiedHeader::parse(bytes)?;
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    let compressed = cipher
        .decrypt(
            XNonce::from_slice(&bytes[AAD_LEN..HEADER_LEN]),
            Payload {
                msg: &bytes[HEADER_LEN..],
                aad: &bytes[..AAD_LEN],
            },
        )
        .map_err(|_| ProtocolError::NotAuthentic)?;
    // Authentic: only now does the header mean anything.
    if header.direction != direction {
        return Err(ProtocolError::WrongDirection);
    }
    let mut json = decompress_limited(&compressed, MAX_PLAINTEXT)?;
    replace_nul_escapes(&mut json);
    let message = serde_json::from_slice(&json)?;
    Ok(Opened {
        agent_id: header.agent_id,
        seq: header.seq,
        message,
    })
}

/// Turns every `\u0000` escape of a JSON text into `\ufffd` (the
/// replacement character), in place. A NUL can reach no database column
/// (PostgreSQL refuses it in text), and a message that cannot be stored
/// would be sent again for ever; with the replacement it is stored, its
/// text readable. An escaped backslash before `u0000` is text, left as is.
fn replace_nul_escapes(json: &mut [u8]) {
    let mut i = 0;
    while i < json.len() {
        if json[i] != b'\\' {
            i += 1;
            continue;
        }
        // An escape: `\\` is a backslash, `\uXXXX` a code unit.
        if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000".as_slice()) {
            json[i + 2..i + 6].copy_from_slice(b"fffd");
        }
        i += 2;
    }
}

fn decompress_limited(data: &[u8], limit: usize) -> Result<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::new(data)
        .map_err(|e| ProtocolError::Compression(e.to_string()))?;
    let mut out = Vec::new();
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ProtocolError::Compression(e.to_string()))?;
    if out.len() > limit {
        return Err(ProtocolError::TooLarge {
            size: out.len(),
            limit,
        });
    }
    Ok(out)
}

/// Names one sealed envelope (hex of the first 16 bytes of its SHA-256):
/// what a receipt answers.
pub fn digest(sealed: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(sealed);
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens the server's answer to `request` (an envelope this agent sealed):
/// authentic under the agent's key, for this agent, under the request's
/// sequence number, and naming the request's digest. Anything else is
/// [`ProtocolError::NotAuthentic`]: not an answer from the agent's server.
pub fn open_receipt(
    key: &AgentKey,
    request: &[u8],
    reply: &[u8],
) -> Result<crate::message::Receipt> {
    let asked = UnverifiedHeader::parse(request)?;
    let opened = open::<crate::message::Receipt>(key, Direction::ServerToAgent, reply)?;
    if opened.agent_id != asked.agent_id
        || opened.seq != asked.seq
        || opened.message.answers != digest(request)
    {
        return Err(ProtocolError::NotAuthentic);
    }
    Ok(opened.message)
}

/// What to do with an authentic envelope, given the last sequence number
/// applied for its agent (0 before the first).
///
/// The agent delivers its spool in order and waits for each answer, so the
/// only legitimate repeat is the last envelope again (its answer was lost).
/// Gaps are allowed (a heartbeat that never arrived), going back is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeqVerdict {
    /// New: apply it, then record `seq` as the last applied.
    Apply,
    /// The last applied one again: store nothing, answer "already applied"
    /// with its sequence number (the server's 409), so that an agent whose
    /// answer was lost knows it was delivered.
    Duplicate,
    /// Older than the last applied: a replay or a reordering; reject it.
    Stale { last_applied: u64 },
}

pub fn check_sequence(last_applied: u64, seq: u64) -> SeqVerdict {
    if seq > last_applied {
        SeqVerdict::Apply
    } else if seq == last_applied {
        SeqVerdict::Duplicate
    } else {
        SeqVerdict::Stale { last_applied }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_header_parses_from_its_own_bytes() {
        let key = AgentKey::from_bytes([7; 32]);
        let rng = &mut rand::rngs::OsRng;
        let sealed = seal(&key, Direction::AgentToServer, AgentId(42), 9, &"x", rng).expect("seal");
        let whole = UnverifiedHeader::parse(&sealed).expect("parses");
        assert_eq!(
            UnverifiedHeader::parse_prefix(&sealed[..HEADER_LEN]).expect("prefix"),
            whole
        );
        assert_eq!(whole.agent_id, AgentId(42));
        assert_eq!(whole.seq, 9);
        assert!(matches!(
            UnverifiedHeader::parse_prefix(&sealed[..HEADER_LEN - 1]),
            Err(ProtocolError::Malformed(_))
        ));
        // The whole envelope still needs room for the tag.
        assert!(UnverifiedHeader::parse(&sealed[..HEADER_LEN]).is_err());
    }

    #[test]
    fn a_receipt_answers_one_envelope_only() {
        use crate::message::{Receipt, ReceiptStatus};
        let key = AgentKey::from_bytes([7; 32]);
        let other = AgentKey::from_bytes([8; 32]);
        let rng = &mut rand::rngs::OsRng;
        let agent = AgentId(3);
        let hb = seal(&key, Direction::AgentToServer, agent, 5, &"heartbeat", rng).expect("seal");
        let sub = seal(&key, Direction::AgentToServer, agent, 5, &"submission", rng).expect("seal");
        let receipt = |answers: String| Receipt {
            answers,
            status: ReceiptStatus::Applied,
            server_time: "2025-01-01T00:00:00Z".into(),
            resync: vec![],
            config: None,
        };
        let reply = seal(
            &key,
            Direction::ServerToAgent,
            agent,
            5,
            &receipt(digest(&sub)),
            rng,
        )
        .expect("seal");
        assert_eq!(
            open_receipt(&key, &sub, &reply).expect("opens").status,
            ReceiptStatus::Applied
        );
        // The same sequence number, another envelope (a heartbeat's): refused.
        assert!(matches!(
            open_receipt(&key, &hb, &reply),
            Err(ProtocolError::NotAuthentic)
        ));
        // Sealed by a server with another key: refused.
        let forged = seal(
            &other,
            Direction::ServerToAgent,
            agent,
            5,
            &receipt(digest(&sub)),
            rng,
        )
        .expect("seal");
        assert!(matches!(
            open_receipt(&key, &sub, &forged),
            Err(ProtocolError::NotAuthentic)
        ));
        // Under another sequence number, or reflected back as the agent's: refused.
        let late = seal(
            &key,
            Direction::ServerToAgent,
            agent,
            6,
            &receipt(digest(&sub)),
            rng,
        )
        .expect("seal");
        assert!(open_receipt(&key, &sub, &late).is_err());
        let reflected = seal(
            &key,
            Direction::AgentToServer,
            agent,
            5,
            &receipt(digest(&sub)),
            rng,
        )
        .expect("seal");
        assert!(open_receipt(&key, &sub, &reflected).is_err());
    }
    use super::*;
    use rand::rngs::OsRng;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Msg {
        text: String,
    }

    fn key(b: u8) -> AgentKey {
        AgentKey::from_bytes([b; 32])
    }

    fn sealed() -> Vec<u8> {
        let msg = Msg {
            text: "hello ".repeat(100),
        };
        seal(
            &key(1),
            Direction::AgentToServer,
            AgentId(5),
            9,
            &msg,
            &mut OsRng,
        )
        .expect("seal")
    }

    #[test]
    fn seals_and_opens() {
        let bytes = sealed();
        assert!(bytes.len() < 200, "compressed: {}", bytes.len());
        let opened: Opened<Msg> = open(&key(1), Direction::AgentToServer, &bytes).expect("open");
        assert_eq!(opened.agent_id, AgentId(5));
        assert_eq!(opened.seq, 9);
        assert_eq!(opened.message.text, "hello ".repeat(100));
    }

    #[test]
    fn nul_characters_arrive_as_replacement_characters() {
        for (sent, got) in [
            ("model\0name", "model\u{fffd}name"),
            ("\0\0", "\u{fffd}\u{fffd}"),
            // Text that merely looks like the escape is text.
            ("C:\\u0000", "C:\\u0000"),
            ("\\\0", "\\\u{fffd}"),
            ("plain", "plain"),
        ] {
            let bytes = seal(
                &key(1),
                Direction::AgentToServer,
                AgentId(5),
                1,
                &Msg { text: sent.into() },
                &mut OsRng,
            )
            .expect("seal");
            let opened: Opened<Msg> =
                open(&key(1), Direction::AgentToServer, &bytes).expect("open");
            assert_eq!(opened.message.text, got, "{sent:?}");
        }
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let bytes = sealed();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert!(
                open::<Msg>(&key(1), Direction::AgentToServer, &bad).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_wrong_key_fails() {
        assert!(matches!(
            open::<Msg>(&key(2), Direction::AgentToServer, &sealed()),
            Err(ProtocolError::NotAuthentic)
        ));
    }

    #[test]
    fn another_agent_id_or_sequence_fails() {
        let bytes = sealed();
        let mut other_agent = bytes.clone();
        other_agent[4..12].copy_from_slice(&6i64.to_be_bytes());
        assert_eq!(
            UnverifiedHeader::parse(&other_agent)
                .expect("parses")
                .agent_id,
            AgentId(6)
        );
        assert!(matches!(
            open::<Msg>(&key(1), Direction::AgentToServer, &other_agent),
            Err(ProtocolError::NotAuthentic)
        ));
        let mut other_seq = bytes;
        other_seq[12..20].copy_from_slice(&10u64.to_be_bytes());
        assert!(matches!(
            open::<Msg>(&key(1), Direction::AgentToServer, &other_seq),
            Err(ProtocolError::NotAuthentic)
        ));
    }

    #[test]
    fn the_direction_is_bound() {
        let bytes = sealed();
        assert!(matches!(
            open::<Msg>(&key(1), Direction::ServerToAgent, &bytes),
            Err(ProtocolError::WrongDirection)
        ));
        let mut flipped = bytes;
        flipped[3] = 2;
        assert!(open::<Msg>(&key(1), Direction::ServerToAgent, &flipped).is_err());
    }

    #[test]
    fn truncated_and_foreign_input_is_malformed() {
        let bytes = sealed();
        for len in [0, 1, 19, 20, 43, 44, 59] {
            assert!(open::<Msg>(&key(1), Direction::AgentToServer, &bytes[..len]).is_err());
        }
        assert!(matches!(
            UnverifiedHeader::parse(
                b"{\"json\": true, \"padding\": \"......................................\"}"
            ),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn nonces_are_fresh() {
        assert_ne!(sealed()[AAD_LEN..HEADER_LEN], sealed()[AAD_LEN..HEADER_LEN]);
    }

    #[test]
    fn decompression_is_bounded() {
        let big = vec![b'a'; 1000];
        let compressed = zstd::bulk::compress(&big, 3).expect("compress");
        assert!(matches!(
            decompress_limited(&compressed, 999),
            Err(ProtocolError::TooLarge { .. })
        ));
        assert_eq!(decompress_limited(&compressed, 1000).expect("fits"), big);
    }

    #[test]
    fn sequence_numbers_apply_once_in_order() {
        assert_eq!(check_sequence(0, 1), SeqVerdict::Apply);
        assert_eq!(check_sequence(4, 5), SeqVerdict::Apply);
        assert_eq!(check_sequence(4, 9), SeqVerdict::Apply, "gaps are allowed");
        assert_eq!(check_sequence(5, 5), SeqVerdict::Duplicate);
        assert_eq!(check_sequence(5, 4), SeqVerdict::Stale { last_applied: 5 });
        assert_eq!(check_sequence(5, 0), SeqVerdict::Stale { last_applied: 5 });
    }
}
