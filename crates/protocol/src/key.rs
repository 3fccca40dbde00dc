//! The per-agent key: 32 bytes, zeroized on drop, never printed.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Symmetric key shared by one agent and its server (XChaCha20-Poly1305).
///
/// Established by [`crate::activation`]; it never crosses the wire.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct AgentKey([u8; 32]);

impl AgentKey {
    pub const LEN: usize = 32;

    /// Wrap raw key bytes (e.g. read back from encrypted storage).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        AgentKey(bytes)
    }

    /// The raw bytes, for encrypting them at rest. Handle with care.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentKey(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_leak_the_key() {
        let key = AgentKey::from_bytes([0xAB; 32]);
        let text = format!("{key:?}");
        assert!(!text.contains("171") && !text.to_lowercase().contains("ab"));
    }
}
