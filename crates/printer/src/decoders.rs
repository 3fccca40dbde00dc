//! Decoders for values that vendors pack in binary blobs. The decoder only
//! knows the blob's layout; what each value means is data in the profile
//! (`[[decoder]]` with its `fields`).

use printwatch_snmp::Oid;

use crate::mib::MibView;
use crate::profile::FieldRule;
use crate::snapshot::{Meter, Snapshot, Source, Supply};
use crate::standard::level_state;

/// Decoders known to this build.
const NAMES: &[&str] = &["brother_records"];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// Brother's maintenance and counter blobs (BROTHER-MIB
/// brInfoMaintenance / brInfoCounter): a sequence of records, each a
/// one-octet code, a one-octet type (01) and a one-octet length, then the
/// value: four octets big-endian, or (older models) two octets, a level and
/// its maximum, given here in hundredths of a percent like the newer ones.
pub fn brother_records(blob: &[u8]) -> Vec<(u8, u32)> {
    let mut records = Vec::new();
    let mut rest = blob;
    while rest.len() >= 3 {
        let (code, len) = (rest[0], usize::from(rest[2]));
        let Some(value) = rest.get(3..3 + len) else {
            break;
        };
        match *value {
            [a, b, c, d] => records.push((code, u32::from_be_bytes([a, b, c, d]))),
            [level, max] if max > 0 => {
                records.push((code, u32::from(level) * 10_000 / u32::from(max)));
            }
            _ => {}
        }
        rest = &rest[3 + len..];
    }
    records
}

/// Runs decoder `name` on the blobs at `oids`, adding what `fields` names.
/// On an `inkjet` (the profile's `ink-when`), `toner` fields are ink and
/// `laser-only` fields (drums, their counters) are dropped: the record codes
/// are shared with lasers.
pub fn run(
    name: &str,
    view: &MibView,
    oids: &[Oid],
    fields: &std::collections::BTreeMap<String, FieldRule>,
    inkjet: bool,
    snap: &mut Snapshot,
) {
    if name != "brother_records" {
        return;
    }
    for oid in oids {
        let Some(blob) = view.get(oid).and_then(|v| v.as_bytes()) else {
            continue;
        };
        for (code, raw) in brother_records(blob) {
            let Some(rule) = fields.get(&format!("{code:02x}")) else {
                continue;
            };
            if inkjet && rule.laser_only {
                continue;
            }
            let divisor = rule.divisor.unwrap_or(1).max(1);
            let value = (u64::from(raw) + divisor / 2) / divisor;
            let source = format!("{oid}#{code:02x}");
            if let Some(meter) = &rule.meter {
                if !snap.meters.iter().any(|m| &m.name == meter) {
                    snap.meters.push(Meter {
                        name: meter.clone(),
                        value,
                        unit: rule.unit.clone().unwrap_or_else(|| "impressions".into()),
                        oid: Source::One(source),
                    });
                }
            } else if let Some(description) = &rule.supply {
                let mut kind = rule.kind.clone().unwrap_or_else(|| "other".into());
                let mut description = description.clone();
                if inkjet && kind == "toner" {
                    kind = "ink".into();
                    description = description.replace("Toner", "Ink");
                }
                merge_supply(
                    snap,
                    kind,
                    rule.color.as_ref(),
                    &description,
                    value.min(100) as i64,
                    source,
                );
            }
        }
    }
}

/// A remaining-life percentage from a blob: sets the number on the matching
/// Printer-MIB supply, or adds the supply.
fn merge_supply(
    snap: &mut Snapshot,
    mut kind: String,
    color: Option<&String>,
    description: &str,
    percent: i64,
    source: String,
) {
    // Toner and ink share record codes (lasers and inkjets): follow the
    // device's own marker supplies.
    let marker = |k: &str| k == "toner" || k == "ink";
    if marker(&kind)
        && let Some(own) = snap.supplies.iter().find(|s| marker(&s.kind))
    {
        kind = own.kind.clone();
    }
    let (p, state) = level_state(Some(percent), Some(100), true);
    if let Some(existing) = snap
        .supplies
        .iter_mut()
        .find(|s| s.kind == kind && s.color.as_ref() == color)
    {
        if existing.percent.is_none() {
            existing.percent = p;
            existing.state = state;
        }
        return;
    }
    snap.supplies.push(Supply {
        description: description.to_owned(),
        kind,
        color: color.cloned(),
        level: Some(percent),
        max: Some(100),
        percent: p,
        state,
        unit: Some("percent".into()),
        part_number: None,
        serial: None,
        oid: Some(source),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brother_records_are_read_and_truncation_is_safe() {
        let blob = [
            0x00, 0x01, 0x04, 0x00, 0x00, 0x13, 0x4b, // code 00 = 4939
            0x70, 0x01, 0x04, 0x00, 0x00, 0x17, 0xd4, // code 70 = 6100
            0x71, 0x01, 0x04, 0x00, 0x00, // truncated
        ];
        assert_eq!(brother_records(&blob), vec![(0x00, 4939), (0x70, 6100)]);
        // Older two-octet records: level 4 of 20 is 20.00 %.
        assert_eq!(
            brother_records(&[0xa1, 0x01, 0x02, 0x04, 0x14]),
            vec![(0xa1, 2000)]
        );
        assert_eq!(brother_records(&[0xa1, 0x01, 0x02, 0x04, 0x00]), vec![]);
        assert_eq!(brother_records(&[]), vec![]);
        assert_eq!(brother_records(&[0xff; 2]), vec![]);
    }
}
