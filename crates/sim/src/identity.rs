//! Per-address identity (`--unique`) and living values (meters that advance,
//! supplies that drain) laid over a shared recording.
//!
//! Identity: the serial numbers found at the standard places and the MAC
//! addresses of the interfaces are replaced, for this address, *wherever
//! their value appears* in the recording (vendor OIDs, sysDescr text), so a
//! vendor's private copy of the serial changes with the standard one.

use std::net::IpAddr;

use printwatch_snmp::{Oid, Value};

use crate::device::{Device, Dynamic};

/// Standard places of a device's serial number.
const SERIAL_COLUMNS: &[&[u32]] = &[
    &[1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17], // Printer-MIB prtGeneralSerialNumber
    &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11], // ENTITY-MIB entPhysicalSerialNum
];
/// IF-MIB ifPhysAddress.
const MAC_COLUMN: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6];
/// Printer-MIB prtMarkerLifeCount.
/// Printer-MIB prtMarkerSuppliesMaxCapacity and prtMarkerSuppliesLevel.
const SUPPLY_MAX: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 8];
const SUPPLY_LEVEL: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9];

/// A number that differs for every address of 127/8 (and most others).
fn address_number(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4) & 0x00ff_ffff),
        IpAddr::V6(v6) => (u128::from(v6) & 0xff_ffff_ffff) as u64,
    }
}

/// How many trailing characters of a serial carry the address number
/// (10^6 * 26^2 > 2^24: every address of a /8 fits in most serials).
const SERIAL_TAIL: usize = 8;

/// `serial` with its tail replaced by `n` written in place, keeping each
/// character's class (digit stays digit, upper-case letter stays upper-case),
/// so that the result looks like a serial of the same vendor. The tail has a
/// fixed width, so two addresses never get one serial, whatever the serials
/// they started from; digits are appended if the serial is too short.
pub fn rewrite_serial(serial: &str, n: u64) -> String {
    let mut chars: Vec<char> = serial.chars().collect();
    let mut rest = n;
    let mut written = 0;
    for c in chars.iter_mut().rev() {
        if written == SERIAL_TAIL {
            break;
        }
        let (base, radix) = match *c {
            '0'..='9' => ('0', 10),
            'A'..='Z' => ('A', 26),
            'a'..='z' => ('a', 26),
            _ => continue,
        };
        let digit = rest % radix;
        rest /= radix;
        written += 1;
        *c = char::from_u32(base as u32 + digit as u32).unwrap_or(*c);
    }
    let mut out: String = chars.into_iter().collect();
    if rest > 0 {
        out.push_str(&format!("{rest}"));
    }
    out
}

fn rewrite_mac(mac: &[u8], n: u64) -> Vec<u8> {
    let mut out = mac.to_vec();
    // Keep the vendor's OUI; the device part becomes the address number.
    if out.len() == 6 {
        out[3] = (n >> 16) as u8;
        out[4] = (n >> 8) as u8;
        out[5] = n as u8;
    }
    out
}

fn mac_texts(mac: &[u8]) -> Vec<String> {
    let hex: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![hex.join(":"), hex.join("-"), hex.concat()];
    let upper: Vec<String> = forms.iter().map(|f| f.to_uppercase()).collect();
    forms.extend(upper);
    forms
}

/// Replaces every occurrence of `from` by `to` in `haystack`.
fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    if from.is_empty() || haystack.len() < from.len() {
        return None;
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    let mut changed = false;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
            changed = true;
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

/// Gives `device` an identity of its own for `ip`. `known_serials` are the
/// serials a reader found elsewhere (a vendor OID, text in sysDescr): they
/// are rewritten too, wherever they appear.
pub fn make_unique(device: &mut Device, ip: IpAddr, known_serials: &[String]) {
    let n = address_number(ip);
    let recording = device.recording.clone();
    let mut replacements: Vec<(Vec<u8>, Vec<u8>)> = known_serials
        .iter()
        .filter(|s| s.len() >= 3)
        .map(|s| (s.as_bytes().to_vec(), rewrite_serial(s, n).into_bytes()))
        .collect();
    for (oid, value) in &recording.values {
        if SERIAL_COLUMNS.iter().any(|c| oid.arcs().starts_with(c))
            && let Some(serial) = value.as_str().map(str::trim)
            && serial.len() >= 3
        {
            let new = rewrite_serial(serial, n);
            replacements.push((serial.as_bytes().to_vec(), new.into_bytes()));
        }
        if oid.arcs().starts_with(MAC_COLUMN)
            && let Some(mac) = value.as_bytes()
            && mac.len() == 6
            && mac.iter().any(|b| *b != 0)
        {
            let new = rewrite_mac(mac, n);
            for (from, to) in mac_texts(mac).into_iter().zip(mac_texts(&new)) {
                replacements.push((from.into_bytes(), to.into_bytes()));
            }
            replacements.push((mac.to_vec(), new));
        }
    }
    // Longest first, so that a serial is not half-replaced by a shorter one.
    replacements.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    replacements.dedup();
    if replacements.is_empty() {
        return;
    }
    for (index, (_, value)) in recording.values.iter().enumerate() {
        let Some(bytes) = value.as_bytes() else {
            continue;
        };
        let mut current: Option<Vec<u8>> = None;
        for (from, to) in &replacements {
            let source = current.as_deref().unwrap_or(bytes);
            // Binary values (a MAC) are replaced only when they are the whole value.
            let is_text = from.iter().all(|b| b.is_ascii_graphic());
            let replaced = if is_text {
                replace_bytes(source, from, to)
            } else {
                (source == from.as_slice()).then(|| to.clone())
            };
            if let Some(r) = replaced {
                current = Some(r);
            }
        }
        if let Some(new) = current {
            let new_value = match value {
                Value::Opaque(_) => Value::Opaque(new),
                _ => Value::OctetString(new),
            };
            device.set_override(index, &new_value);
        }
    }
}

/// Makes the page counters advance and supplies drain. `meters` are the
/// counters printwatch reads from this device (the Printer MIB's and the
/// vendor profile's): each advances in proportion to its share of the
/// largest, so that a total stays the sum of its mono and colour parts and
/// a counter at zero (colour on a mono device) stays there.
pub fn make_alive(
    device: &mut Device,
    meters: &[Oid],
    pages_per_minute: f64,
    drain_percent_per_hour: f64,
) {
    let recording = device.recording.clone();
    if pages_per_minute > 0.0 {
        let counters: Vec<(usize, u64)> = meters
            .iter()
            .filter_map(|oid| recording.position(oid))
            .filter_map(|i| {
                let value = recording.values[i].1.as_i64()?;
                Some((i, u64::try_from(value).ok()?))
            })
            .collect();
        let largest = counters.iter().map(|(_, v)| *v).max().unwrap_or(0);
        for (index, start) in counters {
            if start == 0 {
                continue;
            }
            let share = start as f64 / largest as f64;
            device.set_dynamic(
                index,
                Dynamic::Counter {
                    start,
                    per_second: pages_per_minute / 60.0 * share,
                },
            );
        }
    }
    if drain_percent_per_hour > 0.0 {
        for (index, (oid, value)) in recording.values.iter().enumerate() {
            let Some(row) = oid.suffix_after(&Oid::from(SUPPLY_LEVEL)) else {
                continue;
            };
            let max_oid = Oid::new([SUPPLY_MAX, row].concat());
            let max = recording
                .position(&max_oid)
                .and_then(|i| recording.values[i].1.as_i64());
            // Only real levels drain: -1 other, -2 unknown, -3 some remaining stay.
            if let (Some(level), Some(max)) = (value.as_i64(), max)
                && level > 0
                && max > 0
            {
                device.set_dynamic(
                    index,
                    Dynamic::Level {
                        start: level,
                        per_second: max as f64 * drain_percent_per_hour / 100.0 / 3600.0,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_keep_their_shape_and_differ() {
        let a = rewrite_serial("CNB1K23456", 1);
        let b = rewrite_serial("CNB1K23456", 2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 10);
        assert!(a.starts_with("CN"));
        assert_eq!(a, "CNA0A00001");
        // Too short to hold the number: digits appended, still unique.
        assert_ne!(rewrite_serial("A", 1000), rewrite_serial("A", 1001));
        // Two serials of one family that differ only in their tails (seen in
        // a fleet: KY10000005 and KY10000021) never meet.
        let mut seen = std::collections::HashSet::new();
        for n in 1..3000u64 {
            assert!(seen.insert(rewrite_serial("KY10000005", n)));
            assert!(seen.insert(rewrite_serial("KY10000021", n + 3000)));
        }
    }

    #[test]
    fn serials_unique_over_a_slash_16() {
        let mut seen = std::collections::HashSet::new();
        for n in 0..65536u64 {
            assert!(
                seen.insert(rewrite_serial("X1234567", n)),
                "collision at {n}"
            );
        }
    }

    #[test]
    fn macs_keep_the_oui() {
        let mac = [0x00, 0x1b, 0xa9, 0x11, 0x22, 0x33];
        let new = rewrite_mac(&mac, 0x010203);
        assert_eq!(new, vec![0x00, 0x1b, 0xa9, 0x01, 0x02, 0x03]);
    }
}
