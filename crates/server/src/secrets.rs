//! Passwords, API tokens and the master key that seals agent keys at rest.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use printwatch_protocol::{AgentId, AgentKey};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Result, ServerError};

/// argon2id PHC string of `password` (random salt, default parameters).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Invalid(format!("cannot hash the password: {e}")))
}

/// Does `password` match the stored PHC string?
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random secret of `bytes` bytes, URL-safe base64.
pub fn random_secret(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    OsRng.fill_bytes(&mut raw);
    let text = URL_SAFE_NO_PAD.encode(&raw);
    raw.zeroize();
    text
}

/// API tokens are `pwt_` + 32 random bytes; only their SHA-256 is stored
/// (a fast hash is enough for 256 random bits).
pub const TOKEN_PREFIX: &str = "pwt_";

pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret(32))
}

pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The server's master key: seals agent keys at rest.
///
/// From `PRINTWATCH_MASTER_KEY` (64 hex digits; required when several
/// servers share a PostgreSQL database) or `master.key` in the data
/// directory, created on first start with mode 0600.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)")
    }
}

pub const MASTER_KEY_ENV: &str = "PRINTWATCH_MASTER_KEY";

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    pub fn generate() -> MasterKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        MasterKey(key)
    }

    pub fn from_hex(text: &str) -> Result<MasterKey> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(ServerError::MasterKey(
                "expected 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`"
                    .into(),
            ));
        }
        let mut key = [0u8; 32];
        for (i, slot) in key.iter_mut().enumerate() {
            *slot = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| {
                ServerError::MasterKey("not hexadecimal: expected 64 hex digits".into())
            })?;
        }
        Ok(MasterKey(key))
    }

    fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The environment's key, else `DIR/master.key` (created if missing).
    pub fn load_or_create(data_dir: &Path) -> Result<MasterKey> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return MasterKey::from_hex(&text);
        }
        let path = data_dir.join("master.key");
        let io = |source| ServerError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => MasterKey::from_hex(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = MasterKey::generate();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(io)?;
                std::io::Write::write_all(&mut file, format!("{}\n", key.to_hex()).as_bytes())
                    .map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok(key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A value that identifies the key without revealing it (a
    /// domain-separated SHA-256 of 256 random bits), stored in the
    /// database so that a server with another key refuses to start.
    pub fn check_value(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"printwatch/master-key-check/v1\0");
        h.update(self.0);
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A key for another purpose, derived from the master key and
    /// separated by `label` (e.g. the command channel's challenges).
    pub fn derive(&self, label: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"printwatch/master-key-derive/v1\0");
        h.update(label.as_bytes());
        h.update(b"\0");
        h.update(self.0);
        h.finalize().into()
    }

    fn aad(agent: AgentId) -> Vec<u8> {
        let mut aad = b"printwatch/agent-key-at-rest/v1/".to_vec();
        aad.extend_from_slice(&agent.0.to_be_bytes());
        aad
    }

    /// Seal `plain` for storage, bound to `context` (what it is and whose):
    /// nonce (24) ‖ ciphertext.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Result<Vec<u8>> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| ServerError::MasterKey("cannot seal a secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Open what [`MasterKey::seal`] sealed with the same `context`.
    pub fn open(&self, context: &[u8], stored: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if stored.len() < 24 + 16 {
            return Err(ServerError::Corrupt("a sealed secret is too short".into()));
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        cipher
            .decrypt(
                XNonce::from_slice(&stored[..24]),
                Payload {
                    msg: &stored[24..],
                    aad: context,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                ServerError::MasterKey(
                    "a stored secret does not open: is this the master key it was sealed with?"
                        .into(),
                )
            })
    }

    /// Seal an agent key for storage.
    pub fn seal_agent_key(&self, agent: AgentId, key: &AgentKey) -> Result<Vec<u8>> {
        self.seal(&Self::aad(agent), key.expose())
    }

    /// Open a stored agent key.
    pub fn open_agent_key(&self, agent: AgentId, stored: &[u8]) -> Result<AgentKey> {
        if stored.len() != 24 + 32 + 16 {
            return Err(ServerError::Corrupt(format!("sealed key of agent {agent}")));
        }
        let plain = self.open(&Self::aad(agent), stored).map_err(|_| {
            ServerError::MasterKey(format!(
                "the key of agent {agent} does not open: is this the master key it was sealed with?"
            ))
        })?;
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&plain);
        let key = AgentKey::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn agent_keys_are_sealed_to_their_agent() {
        let master = MasterKey::generate();
        let key = AgentKey::from_bytes([7; 32]);
        let sealed = master.seal_agent_key(AgentId(1), &key).expect("seal");
        assert!(!sealed.windows(32).any(|w| w == [7; 32]));
        assert_eq!(
            master.open_agent_key(AgentId(1), &sealed).expect("open"),
            key
        );
        assert!(master.open_agent_key(AgentId(2), &sealed).is_err());
        assert!(
            MasterKey::generate()
                .open_agent_key(AgentId(1), &sealed)
                .is_err()
        );
        assert!(master.open_agent_key(AgentId(1), &sealed[1..]).is_err());
    }

    #[test]
    fn master_key_file_is_created_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = MasterKey::load_or_create(dir.path()).expect("create");
        let b = MasterKey::load_or_create(dir.path()).expect("load");
        assert_eq!(a.0, b.0);
        assert!(MasterKey::from_hex("zz").is_err());
        assert_eq!(a.check_value(), b.check_value());
        assert_ne!(a.check_value(), MasterKey::generate().check_value());
        assert!(!a.check_value().contains(&a.to_hex()));
    }

    #[test]
    fn tokens_hash_stably() {
        let t = new_api_token();
        assert!(t.starts_with(TOKEN_PREFIX) && t.len() > 40);
        assert_eq!(token_hash(&t), token_hash(&t));
        assert_ne!(token_hash(&t), token_hash(&new_api_token()));
    }
}
