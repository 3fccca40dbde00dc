//! A device's objects as collected (or as recorded), and the standard OIDs
//! printwatch reads from them.
//!
//! Every reader goes through [`MibView::get`] and [`MibView::column`], and the
//! collection plan (`plan.rs`) fetches exactly the scalars and columns the
//! readers use, so a snapshot made from a targeted collection equals the one
//! made from a full walk.

use std::collections::BTreeMap;

use printwatch_snmp::{Oid, Value, VarBind};

/// Objects by OID.
#[derive(Clone, Debug, Default)]
pub struct MibView {
    objects: BTreeMap<Oid, Value>,
}

/// A standard OID, written as arcs.
pub fn oid(arcs: &[u32]) -> Oid {
    Oid::from(arcs)
}

impl MibView {
    pub fn new() -> Self {
        MibView::default()
    }

    /// Adds objects; exception values (noSuchObject, …) are absences.
    pub fn extend(&mut self, varbinds: impl IntoIterator<Item = VarBind>) {
        for vb in varbinds {
            if !vb.value.is_exception() {
                self.objects.insert(vb.oid, vb.value);
            }
        }
    }

    pub fn from_varbinds(varbinds: impl IntoIterator<Item = VarBind>) -> Self {
        let mut view = MibView::new();
        view.extend(varbinds);
        view
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn get(&self, oid: &Oid) -> Option<&Value> {
        self.objects.get(oid)
    }

    /// Every instance below `column`, with its index (the arcs after it).
    pub fn column<'a>(&'a self, column: &'a Oid) -> impl Iterator<Item = (&'a [u32], &'a Value)> {
        self.objects
            .range(column.clone()..)
            .take_while(move |(o, _)| o.starts_with(column))
            .filter_map(move |(o, v)| o.suffix_after(column).map(|index| (index, v)))
    }

    /// Only what `keep` accepts (tests: what a targeted collection would see).
    pub fn restricted(&self, keep: impl Fn(&Oid) -> bool) -> MibView {
        MibView {
            objects: self
                .objects
                .iter()
                .filter(|(o, _)| keep(o))
                .map(|(o, v)| (o.clone(), v.clone()))
                .collect(),
        }
    }

    pub fn text(&self, oid: &Oid) -> Option<String> {
        self.get(oid).and_then(text)
    }

    pub fn int(&self, oid: &Oid) -> Option<i64> {
        self.get(oid).and_then(int)
    }
}

/// An OCTET STRING as clean text: UTF-8 when it is, Latin-1 otherwise, with
/// trailing NULs and surrounding blanks removed; `None` when empty.
pub fn text(value: &Value) -> Option<String> {
    let bytes = match value {
        Value::OctetString(b) | Value::Opaque(b) => b.as_slice(),
        Value::Integer(_) | Value::Counter32(_) | Value::Gauge32(_) | Value::Counter64(_) => {
            return int(value).map(|n| n.to_string());
        }
        Value::ObjectId(o) => return Some(o.to_string()),
        _ => return None,
    };
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    let bytes = &bytes[..end];
    let decoded = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|b| char::from(*b)).collect(),
    };
    let cleaned: String = decoded
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = cleaned.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A number, for every integer type, and for text that is a plain number
/// (some vendors publish counters as strings).
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::OctetString(b) => std::str::from_utf8(b)
            .ok()
            .map(|s| s.trim_matches(|c: char| c == '\0' || c.is_whitespace()))
            .and_then(|s| s.parse().ok()),
        other => other.as_i64(),
    }
}

/// OIDs of the standard MIBs.
pub mod std_oids {
    /// MIB-2 system group scalars.
    pub const SYS_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 1, 0];
    pub const SYS_OBJECT_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
    pub const SYS_CONTACT: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 4, 0];
    pub const SYS_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 5, 0];
    pub const SYS_LOCATION: &[u32] = &[1, 3, 6, 1, 2, 1, 1, 6, 0];
    /// IF-MIB ifType and ifPhysAddress.
    pub const IF_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 3];
    pub const IF_PHYS_ADDRESS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 6];
    /// HOST-RESOURCES-MIB (RFC 2790) hrDeviceTable and hrPrinterTable.
    pub const HR_DEVICE_TYPE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2];
    pub const HR_DEVICE_DESCR: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 3];
    pub const HR_DEVICE_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 5];
    pub const HR_PRINTER_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 1];
    pub const HR_PRINTER_ERROR_STATE: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 2];
    /// hrDevicePrinter (HOST-RESOURCES-TYPES).
    pub const HR_DEVICE_PRINTER: &[u32] = &[1, 3, 6, 1, 2, 1, 25, 3, 1, 5];
    /// Printer-MIB (RFC 3805).
    pub const PRT_GENERAL_PRINTER_NAME: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 16];
    pub const PRT_GENERAL_SERIAL_NUMBER: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 17];
    pub const PRT_INPUT: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 8, 2, 1];
    pub const PRT_MARKER: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 10, 2, 1];
    pub const PRT_SUPPLIES: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1];
    pub const PRT_COLORANT_VALUE: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 12, 1, 1, 4];
    pub const PRT_CONSOLE_TEXT: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 16, 5, 1, 2];
    pub const PRT_ALERT: &[u32] = &[1, 3, 6, 1, 2, 1, 43, 18, 1, 1];
    /// ENTITY-MIB entPhysicalSerialNum, entPhysicalModelName, entPhysicalAssetID.
    pub const ENT_SERIAL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11];
    pub const ENT_MODEL: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 13];
    pub const ENT_ASSET_ID: &[u32] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 15];
    /// PWG Imaging System State and Counter MIB v2 (PWG 5106.3,
    /// `imagingCounterMIB` 1.3.6.1.4.1.2699.1.3): icKeyEntry (column 2:
    /// icKeyServiceType), icImageEntry (4: total images) and
    /// icImpressionEntry (4 total, 5 monochrome, 7 full colour impressions),
    /// the last two indexed by key, work type and persistence.
    pub const PWG_KEY: &[u32] = &[1, 3, 6, 1, 4, 1, 2699, 1, 3, 1, 2, 1, 1];
    pub const PWG_IMAGE: &[u32] = &[1, 3, 6, 1, 4, 1, 2699, 1, 3, 1, 7, 1, 1];
    pub const PWG_IMPRESSION: &[u32] = &[1, 3, 6, 1, 4, 1, 2699, 1, 3, 1, 8, 1, 1];
}

/// A column of a table: `table_entry.column`.
pub fn col(entry: &[u32], column: u32) -> Oid {
    oid(entry).child(column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cleaned() {
        let t = |b: &[u8]| text(&Value::OctetString(b.to_vec()));
        assert_eq!(t(b"  HP LaserJet\0\0junk"), Some("HP LaserJet".into()));
        assert_eq!(t(b""), None);
        assert_eq!(t(b"\0\0"), None);
        assert_eq!(t(b"caf\xe9"), Some("caf\u{e9}".into()));
        assert_eq!(t(b"line1\r\nline2"), Some("line1  line2".into()));
    }

    #[test]
    fn numbers_from_every_type() {
        assert_eq!(int(&Value::Counter64(5)), Some(5));
        assert_eq!(int(&Value::OctetString(b" 1234\0".to_vec())), Some(1234));
        assert_eq!(int(&Value::OctetString(b"12a".to_vec())), None);
        assert_eq!(int(&Value::Counter64(u64::MAX)), None);
    }

    #[test]
    fn columns_list_their_instances() {
        let c = oid(&[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9]);
        let view = MibView::from_varbinds([
            VarBind::new(c.child(1).child(1), Value::Integer(50)),
            VarBind::new(c.child(1).child(2), Value::Integer(-3)),
            VarBind::new(
                oid(&[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 10, 1, 1]),
                Value::Integer(1),
            ),
            VarBind::new(c.child(1).child(3), Value::NoSuchInstance),
        ]);
        let rows: Vec<_> = view
            .column(&c)
            .map(|(i, v)| (i.to_vec(), v.clone()))
            .collect();
        assert_eq!(
            rows,
            vec![
                (vec![1, 1], Value::Integer(50)),
                (vec![1, 2], Value::Integer(-3))
            ]
        );
    }
}
