//! Object identifiers as plain arcs.
//!
//! Our own type rather than the SNMP engine's: recordings may hold OIDs the
//! wire cannot carry (a single arc, an empty value), and the printer knowledge
//! crates must not depend on the engine.

use std::fmt;
use std::str::FromStr;

/// An SNMP object identifier (`1.3.6.1.2.1.1.1.0`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Oid(Vec<u32>);

/// Why a text could not be read as an OID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OID {text:?}: {reason}")]
pub struct OidParseError {
    pub text: String,
    pub reason: &'static str,
}

/// Longest OID we accept (RFC 2578 §3.5 limits OIDs to 128 sub-identifiers).
pub const MAX_ARCS: usize = 128;

impl Oid {
    pub fn new(arcs: impl Into<Vec<u32>>) -> Self {
        Oid(arcs.into())
    }

    pub fn arcs(&self) -> &[u32] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn starts_with(&self, prefix: &Oid) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// This OID with one more arc (a table column's instance, say).
    pub fn child(&self, arc: u32) -> Oid {
        let mut arcs = self.0.clone();
        arcs.push(arc);
        Oid(arcs)
    }

    /// This OID less its last arc (a column's table entry, say).
    pub fn parent(&self) -> Oid {
        Oid(self.0[..self.0.len().saturating_sub(1)].to_vec())
    }

    /// The arcs after `prefix`, if this OID is below it.
    pub fn suffix_after(&self, prefix: &Oid) -> Option<&[u32]> {
        self.0.strip_prefix(prefix.0.as_slice())
    }

    /// Whether the BER encoding can carry this OID (X.690 §8.19: at least two
    /// arcs, the first 0..=2, the second below 40 unless the first is 2).
    pub fn is_encodable(&self) -> bool {
        match self.0.as_slice() {
            [first, second, ..] => {
                *first <= 2 && (*first == 2 || *second < 40) && self.0.len() <= MAX_ARCS
            }
            _ => false,
        }
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arc) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{arc}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

impl FromStr for Oid {
    type Err = OidParseError;

    /// Dotted decimal, with or without a leading dot. The empty string is the
    /// empty OID.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| OidParseError {
            text: text.chars().take(80).collect(),
            reason,
        };
        let trimmed = text.trim();
        let body = trimmed.strip_prefix('.').unwrap_or(trimmed);
        if body.is_empty() {
            return Ok(Oid::default());
        }
        let mut arcs = Vec::new();
        for part in body.split('.') {
            if arcs.len() == MAX_ARCS {
                return Err(err("more than 128 arcs"));
            }
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err("arcs must be decimal numbers separated by dots"));
            }
            arcs.push(part.parse().map_err(|_| err("arc larger than 2^32-1"))?);
        }
        Ok(Oid(arcs))
    }
}

impl From<&[u32]> for Oid {
    fn from(arcs: &[u32]) -> Self {
        Oid(arcs.to_vec())
    }
}

impl<const N: usize> From<[u32; N]> for Oid {
    fn from(arcs: [u32; N]) -> Self {
        Oid(arcs.to_vec())
    }
}

impl serde::Serialize for Oid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Oid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_and_without_leading_dot() {
        let a: Oid = "1.3.6.1.2.1.1.1.0".parse().expect("valid");
        let b: Oid = ".1.3.6.1.2.1.1.1.0".parse().expect("valid");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "1.3.6.1.2.1.1.1.0");
        assert_eq!(a.len(), 9);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["1..3", "1.3.x", "1.3.", "1.99999999999", "-1.3", "1 .3"] {
            assert!(bad.parse::<Oid>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn orders_like_snmp() {
        let a: Oid = "1.3.6.1.2".parse().expect("valid");
        let b: Oid = "1.3.6.1.2.1".parse().expect("valid");
        let c: Oid = "1.3.6.1.10".parse().expect("valid");
        assert!(a < b && b < c);
    }

    #[test]
    fn encodability_follows_x690() {
        assert!(!Oid::from([0]).is_encodable());
        assert!(!Oid::default().is_encodable());
        assert!(Oid::from([0, 0]).is_encodable());
        assert!(!Oid::from([1, 40]).is_encodable());
        assert!(Oid::from([2, 999]).is_encodable());
        assert!(!Oid::from([3, 1]).is_encodable());
    }
}
