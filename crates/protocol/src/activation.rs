//! Activation: one-time PIN and X25519 key agreement.
//!
//! An administrator creates an agent on the server and is shown an
//! [`ActivationCode`]: the agent id and a 50-bit PIN. The server keeps only
//! the [`PinVerifier`] (argon2id of the PIN, salted with the agent id).
//!
//! 1. The agent derives the same verifier from the code, makes an ephemeral
//!    X25519 key pair and sends an [`ActivationRequest`]: its public key and a
//!    proof (HMAC under the verifier) that it knows the PIN. The PIN itself is
//!    never sent.
//! 2. The server checks the proof (a wrong PIN fails here, and counts as a
//!    guess for rate limiting), makes its own ephemeral key pair and derives
//!    the agent key with HKDF-SHA256: the X25519 shared secret as input, the
//!    verifier as salt, and the transcript (version, agent id, both public
//!    keys) as info. It answers with its public key and a confirmation MAC.
//! 3. The agent derives the same key and checks the confirmation, so a wrong
//!    server (or a wrong PIN) is detected before any data is sent.
//!
//! The key never crosses the wire; an eavesdropper sees two public keys and
//! two MACs.

use argon2::{Algorithm, Argon2, Params, Version};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use x25519_dalek::{EphemeralSecret, PublicKey};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{AgentId, AgentKey, PROTOCOL_VERSION, ProtocolError, Result, b64};

/// Crockford base32: no I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters in a PIN: 10 × 5 bits = 50 bits of entropy.
pub const PIN_CHARS: usize = 10;

/// A one-time activation PIN (normalised: 10 Crockford base32 characters).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Pin(String);

impl Pin {
    /// A fresh random PIN.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Pin {
        let mut text = String::with_capacity(PIN_CHARS);
        for _ in 0..PIN_CHARS {
            text.push(ALPHABET[(rng.next_u32() & 31) as usize] as char);
        }
        Pin(text)
    }

    /// Parse what a person typed: case, dashes and spaces do not matter, and
    /// the look-alikes O, I and L read as 0, 1 and 1.
    pub fn parse(text: &str) -> Result<Pin> {
        let mut out = String::with_capacity(PIN_CHARS);
        for c in text.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(ProtocolError::BadActivationCode("…".into()));
            }
            out.push(c);
        }
        if out.len() != PIN_CHARS {
            return Err(ProtocolError::BadActivationCode("…".into()));
        }
        Ok(Pin(out))
    }

    /// The PIN as shown to a person: `XXXXX-XXXXX`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(PIN_CHARS / 2);
        format!("{a}-{b}")
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(…)")
    }
}

/// What the administrator hands to the agent: `AGENT-ID-XXXXX-XXXXX`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivationCode {
    pub agent_id: AgentId,
    pub pin: Pin,
}

impl ActivationCode {
    /// The code as shown to a person. Contains the secret PIN: show it once.
    pub fn reveal(&self) -> String {
        format!("{}-{}", self.agent_id, self.pin.display())
    }
}

impl std::str::FromStr for ActivationCode {
    type Err = ProtocolError;

    fn from_str(text: &str) -> Result<Self> {
        let bad =
            || ProtocolError::BadActivationCode(text.chars().take(6).collect::<String>() + "…");
        let text = text.trim();
        let (id, pin) = text.split_once('-').ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        if id <= 0 {
            return Err(bad());
        }
        let pin = Pin::parse(pin).map_err(|_| bad())?;
        Ok(ActivationCode {
            agent_id: AgentId(id),
            pin,
        })
    }
}

/// What the server stores instead of the PIN: argon2id(PIN, agent id).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PinVerifier([u8; 32]);

impl PinVerifier {
    /// Derive the verifier of `pin` for `agent`. Slow on purpose (argon2id,
    /// 19 MiB, 2 passes): a stolen verifier does not give the PIN cheaply.
    pub fn derive(agent: AgentId, pin: &Pin) -> Result<PinVerifier> {
        let params = Params::new(19 * 1024, 2, 1, Some(32))
            .map_err(|e| ProtocolError::Kdf(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = format!("printwatch/pin/v1/agent/{}", agent.0);
        let mut out = [0u8; 32];
        argon
            .hash_password_into(pin.0.as_bytes(), salt.as_bytes(), &mut out)
            .map_err(|e| ProtocolError::Kdf(e.to_string()))?;
        Ok(PinVerifier(out))
    }

    pub fn from_bytes(bytes: [u8; 32]) -> PinVerifier {
        PinVerifier(bytes)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for PinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PinVerifier(…)")
    }
}

/// About the agent, for the server's records (not authenticated by the PIN).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AgentInfo {
    pub version: String,
    pub os: String,
    pub hostname: Option<String>,
}

/// Agent → server, `POST /agent/v1/activate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    pub protocol_version: u8,
    pub agent_id: AgentId,
    /// The agent's ephemeral X25519 public key (base64).
    pub agent_public: String,
    /// HMAC-SHA256 under the PIN verifier of the transcript (base64).
    pub proof: String,
    #[serde(default)]
    pub agent: AgentInfo,
}

/// Server → agent, the answer to a valid activation request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationResponse {
    pub protocol_version: u8,
    pub agent_id: AgentId,
    /// The server's ephemeral X25519 public key (base64).
    pub server_public: String,
    /// HMAC-SHA256 under a key derived beside the agent key (base64).
    pub confirm: String,
}

type HmacSha256 = Hmac<Sha256>;

fn proof_mac(verifier: &PinVerifier, agent: AgentId, agent_public: &[u8; 32]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(&verifier.0).expect("hmac takes any key length");
    mac.update(b"printwatch/activation/proof/v1");
    mac.update(&[PROTOCOL_VERSION]);
    mac.update(&agent.0.to_be_bytes());
    mac.update(agent_public);
    mac
}

/// Derive the agent key and the confirmation key from the shared secret.
fn derive(
    verifier: &PinVerifier,
    shared: &[u8; 32],
    agent: AgentId,
    agent_public: &[u8; 32],
    server_public: &[u8; 32],
) -> Result<(AgentKey, Zeroizing<[u8; 32]>)> {
    let hk = Hkdf::<Sha256>::new(Some(&verifier.0), shared);
    let mut transcript = Vec::with_capacity(1 + 8 + 64);
    transcript.push(PROTOCOL_VERSION);
    transcript.extend_from_slice(&agent.0.to_be_bytes());
    transcript.extend_from_slice(agent_public);
    transcript.extend_from_slice(server_public);
    let mut key = [0u8; 32];
    hk.expand_multi_info(&[b"printwatch/agent-key/v1", &transcript], &mut key)
        .map_err(|e| ProtocolError::Kdf(e.to_string()))?;
    let mut confirm = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[b"printwatch/confirm/v1", &transcript], confirm.as_mut())
        .map_err(|e| ProtocolError::Kdf(e.to_string()))?;
    let agent_key = AgentKey::from_bytes(key);
    key.zeroize();
    Ok((agent_key, confirm))
}

fn confirm_mac(confirm_key: &[u8; 32], agent: AgentId) -> HmacSha256 {
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(confirm_key).expect("hmac takes any key length");
    mac.update(b"printwatch/activation/server-confirm/v1");
    mac.update(&agent.0.to_be_bytes());
    mac
}

/// The agent's side of an activation in progress.
pub struct AgentActivation {
    agent_id: AgentId,
    verifier: PinVerifier,
    secret: EphemeralSecret,
    public: [u8; 32],
}

impl AgentActivation {
    /// Start: derive the verifier from the code and build the request.
    pub fn start<R: RngCore + CryptoRng>(
        code: &ActivationCode,
        agent: AgentInfo,
        rng: &mut R,
    ) -> Result<(AgentActivation, ActivationRequest)> {
        let verifier = PinVerifier::derive(code.agent_id, &code.pin)?;
        Ok(AgentActivation::with_verifier(
            code.agent_id,
            verifier,
            agent,
            rng,
        ))
    }

    /// [`AgentActivation::start`] past the slow verifier derivation (the
    /// fuzzing checks derive it once, not at every input).
    pub(crate) fn with_verifier<R: RngCore + CryptoRng>(
        agent_id: AgentId,
        verifier: PinVerifier,
        agent: AgentInfo,
        rng: &mut R,
    ) -> (AgentActivation, ActivationRequest) {
        let secret = EphemeralSecret::random_from_rng(&mut *rng);
        let public = PublicKey::from(&secret).to_bytes();
        let proof = proof_mac(&verifier, agent_id, &public)
            .finalize()
            .into_bytes();
        let request = ActivationRequest {
            protocol_version: PROTOCOL_VERSION,
            agent_id,
            agent_public: b64::encode(&public),
            proof: b64::encode(&proof),
            agent,
        };
        (
            AgentActivation {
                agent_id,
                verifier,
                secret,
                public,
            },
            request,
        )
    }

    /// Finish with the server's answer: the agent key, once confirmed.
    pub fn finish(self, response: &ActivationResponse) -> Result<AgentKey> {
        check_version(response.protocol_version)?;
        if response.agent_id != self.agent_id {
            return Err(ProtocolError::NotConfirmed);
        }
        let server_public = b64::decode_32(&response.server_public, "server_public")?;
        let confirm = b64::decode_32(&response.confirm, "confirm")?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(server_public));
        if !shared.was_contributory() {
            return Err(ProtocolError::WeakKeyExchange);
        }
        let (key, confirm_key) = derive(
            &self.verifier,
            shared.as_bytes(),
            self.agent_id,
            &self.public,
            &server_public,
        )?;
        confirm_mac(&confirm_key, self.agent_id)
            .verify_slice(&confirm)
            .map_err(|_| ProtocolError::NotConfirmed)?;
        Ok(key)
    }
}

fn check_version(got: u8) -> Result<()> {
    if got != PROTOCOL_VERSION {
        return Err(ProtocolError::Version {
            got: got.into(),
            supported: PROTOCOL_VERSION.into(),
        });
    }
    Ok(())
}

/// The server's side: check the PIN proof and answer with its public key.
///
/// A [`ProtocolError::WrongPin`] must count as a failed guess.
pub fn accept<R: RngCore + CryptoRng>(
    request: &ActivationRequest,
    verifier: &PinVerifier,
    rng: &mut R,
) -> Result<(AgentKey, ActivationResponse)> {
    check_version(request.protocol_version)?;
    let agent_public = b64::decode_32(&request.agent_public, "agent_public")?;
    let proof = b64::decode_32(&request.proof, "proof")?;
    let expected = proof_mac(verifier, request.agent_id, &agent_public)
        .finalize()
        .into_bytes();
    if !bool::from(expected.as_slice().ct_eq(&proof)) {
        return Err(ProtocolError::WrongPin);
    }
    let secret = EphemeralSecret::random_from_rng(&mut *rng);
    let server_public = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(agent_public));
    if !shared.was_contributory() {
        return Err(ProtocolError::WeakKeyExchange);
    }
    let (key, confirm_key) = derive(
        verifier,
        shared.as_bytes(),
        request.agent_id,
        &agent_public,
        &server_public,
    )?;
    let confirm = confirm_mac(&confirm_key, request.agent_id)
        .finalize()
        .into_bytes();
    Ok((
        key,
        ActivationResponse {
            protocol_version: PROTOCOL_VERSION,
            agent_id: request.agent_id,
            server_public: b64::encode(&server_public),
            confirm: b64::encode(&confirm),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn code(id: i64) -> ActivationCode {
        ActivationCode {
            agent_id: AgentId(id),
            pin: Pin::generate(&mut OsRng),
        }
    }

    #[test]
    fn both_sides_derive_the_same_key() {
        let code = code(7);
        let verifier = PinVerifier::derive(code.agent_id, &code.pin).expect("kdf");
        let (agent, request) =
            AgentActivation::start(&code, AgentInfo::default(), &mut OsRng).expect("start");
        let (server_key, response) = accept(&request, &verifier, &mut OsRng).expect("accept");
        let agent_key = agent.finish(&response).expect("finish");
        assert_eq!(agent_key, server_key);
        // The key is in neither message.
        let wire = serde_json::to_string(&(&request, &response)).expect("json");
        assert!(!wire.contains(&b64::encode(agent_key.expose())));
        assert!(!wire.contains(&code.pin.0));
    }

    #[test]
    fn a_wrong_pin_is_refused_by_the_server() {
        let code = code(7);
        let verifier = PinVerifier::derive(code.agent_id, &Pin::generate(&mut OsRng)).expect("kdf");
        let (_, request) =
            AgentActivation::start(&code, AgentInfo::default(), &mut OsRng).expect("start");
        assert!(matches!(
            accept(&request, &verifier, &mut OsRng),
            Err(ProtocolError::WrongPin)
        ));
    }

    #[test]
    fn the_proof_is_bound_to_the_agent_id_and_public_key() {
        let code = code(7);
        let verifier = PinVerifier::derive(code.agent_id, &code.pin).expect("kdf");
        let (_, request) =
            AgentActivation::start(&code, AgentInfo::default(), &mut OsRng).expect("start");
        let mut other_id = request.clone();
        other_id.agent_id = AgentId(8);
        assert!(accept(&other_id, &verifier, &mut OsRng).is_err());
        let mut other_key = request.clone();
        other_key.agent_public = b64::encode(&[9u8; 32]);
        assert!(accept(&other_key, &verifier, &mut OsRng).is_err());
    }

    #[test]
    fn a_server_without_the_pin_is_not_confirmed() {
        let code = code(7);
        let right = PinVerifier::derive(code.agent_id, &code.pin).expect("kdf");
        let (agent, request) =
            AgentActivation::start(&code, AgentInfo::default(), &mut OsRng).expect("start");
        let (_, mut response) = accept(&request, &right, &mut OsRng).expect("accept");
        // A man in the middle substitutes its own public key.
        response.server_public =
            b64::encode(PublicKey::from(&EphemeralSecret::random_from_rng(OsRng)).as_bytes());
        assert!(matches!(
            agent.finish(&response),
            Err(ProtocolError::NotConfirmed)
        ));
    }

    #[test]
    fn a_low_order_public_key_is_refused() {
        let code = code(7);
        let verifier = PinVerifier::derive(code.agent_id, &code.pin).expect("kdf");
        let zero = [0u8; 32];
        let proof = proof_mac(&verifier, code.agent_id, &zero)
            .finalize()
            .into_bytes();
        let request = ActivationRequest {
            protocol_version: PROTOCOL_VERSION,
            agent_id: code.agent_id,
            agent_public: b64::encode(&zero),
            proof: b64::encode(&proof),
            agent: AgentInfo::default(),
        };
        assert!(matches!(
            accept(&request, &verifier, &mut OsRng),
            Err(ProtocolError::WeakKeyExchange)
        ));
    }

    #[test]
    fn codes_round_trip_and_tolerate_typing() {
        let code = code(42);
        let shown = code.reveal();
        assert_eq!(shown.len(), 2 + 1 + 11);
        let back: ActivationCode = shown.parse().expect("parses");
        assert_eq!(back, code);
        let sloppy = format!("42-{}", code.pin.display().to_lowercase().replace('-', " "));
        assert_eq!(sloppy.parse::<ActivationCode>().expect("sloppy"), code);
        for bad in [
            "",
            "42",
            "x-ABCDE-FGHJK",
            "42-ABCDE",
            "42-ABCDE-FGHJU",
            "-1-ABCDE-FGHJK",
        ] {
            assert!(bad.parse::<ActivationCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn pins_have_fifty_bits() {
        assert_eq!(ALPHABET.len(), 32);
        assert_eq!(PIN_CHARS * 5, 50);
        let a = Pin::generate(&mut OsRng);
        let b = Pin::generate(&mut OsRng);
        assert_ne!(a, b);
        assert!(format!("{a:?}").contains('…'));
    }
}
