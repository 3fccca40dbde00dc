//! TOTP two-factor (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way), with a replay guard: a code is accepted only for
//! a time step after the last one accepted for that user, so a code seen
//! once (shoulder, proxy log) cannot be used again.

use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::{Result, ServerError};

pub const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;

/// A new random secret (160 bits, as RFC 4226 recommends).
pub fn new_secret() -> Zeroizing<Vec<u8>> {
    let mut secret = Zeroizing::new(vec![0u8; 20]);
    OsRng.fill_bytes(&mut secret);
    secret
}

/// Base32 (RFC 4648, no padding): how authenticator apps take secrets.
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URL for an authenticator app (usually shown as a QR code).
pub fn otpauth_url(secret: &[u8], account: &str) -> String {
    let account: String = account
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_".contains(c) {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xFF)
            }
        })
        .collect();
    format!(
        "otpauth://totp/printwatch:{account}?secret={}&issuer=printwatch&algorithm=SHA1&digits=6&period=30",
        base32(secret)
    )
}

fn totp(secret: &[u8]) -> Result<TOTP> {
    TOTP::new(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec())
        .map_err(|e| ServerError::Corrupt(format!("TOTP secret: {e}")))
}

/// The time step of `code` at `now` (UNIX seconds), if it is valid for the
/// previous, current or next step and newer than `last_step`.
pub fn verify(secret: &[u8], code: &str, now: u64, last_step: u64) -> Result<Option<u64>> {
    let code = code.trim();
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret)?;
    let current = now / STEP_SECS;
    for step in [current.saturating_sub(1), current, current + 1] {
        if step <= last_step {
            continue;
        }
        let expected = totp.generate(step * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            return Ok(Some(step));
        }
    }
    Ok(None)
}

/// The code of `secret` at `now` (for tests and tools).
pub fn code_at(secret: &[u8], now: u64) -> Result<String> {
    Ok(totp(secret)?.generate(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_vector() {
        // RFC 6238 appendix B, SHA-1, T = 59: 94287082 (8 digits); 6 digits: 287082.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59).expect("code"), "287082");
        assert_eq!(verify(secret, "287082", 59, 0).expect("ok"), Some(1));
    }

    #[test]
    fn codes_are_accepted_once_and_only_near_now() {
        let secret = new_secret();
        let now = 1_700_000_000;
        let code = code_at(&secret, now).expect("code");
        let step = verify(&secret, &code, now, 0).expect("ok").expect("valid");
        assert_eq!(step, now / STEP_SECS);
        assert_eq!(
            verify(&secret, &code, now, step).expect("ok"),
            None,
            "replay"
        );
        assert_eq!(
            verify(&secret, &code, now + 10 * STEP_SECS, 0).expect("ok"),
            None,
            "too late"
        );
        assert!(
            verify(&secret, &code, now + STEP_SECS, 0)
                .expect("ok")
                .is_some(),
            "skew"
        );
        for bad in ["", "12345", "1234567", "abcdef", "' OR 1"] {
            assert_eq!(verify(&secret, bad, now, 0).expect("ok"), None);
        }
    }

    #[test]
    fn base32_and_urls() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b""), "");
        let url = otpauth_url(b"12345678901234567890", "a b@x.example");
        assert!(url.starts_with(
            "otpauth://totp/printwatch:a%20b@x.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&"
        ));
    }
}
