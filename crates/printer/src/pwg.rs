//! The PWG Imaging System State and Counter MIB v2 (PWG 5106.3), where a
//! device publishes it: lifetime impression counters of the whole system
//! and of its print, copy and fax services, and the images of its scan
//! service. A standard MIB, read by code like the Printer MIB; it names
//! meters only where the vendor profile did not (the vendor's own counters
//! are what dealers bill by and what other tools compare).
//!
//! Each counter row is indexed by a key (`icKeyTable`: which service), a
//! work type and a persistence; printwatch reads work type `workTotals` (3)
//! and persistence `lifetime` (3), the counters that never reset.

use printwatch_snmp::Oid;

use crate::mib::{MibView, col, int, oid, std_oids as o};
use crate::snapshot::{Meter, Snapshot, Source};

/// IcWorkTypeTC `workTotals`.
const WORK_TOTALS: u32 = 3;
/// IcPersistenceTC `lifetime`.
const LIFETIME: u32 = 3;

/// IcServiceTypeTC values read, and the meter names they give for total,
/// monochrome and full-colour impressions.
const SERVICES: &[(i64, [&str; 3])] = &[
    (3, ["total", "total_mono", "total_color"]), // systemTotals
    (11, ["print", "print_mono", "print_color"]), // print
    (4, ["copy", "copy_mono", "copy_color"]),    // copy
    (7, ["fax", "fax_mono", "fax_color"]),       // faxIn (faxes printed)
];
/// IcServiceTypeTC `scan`: its images.
const SCAN: i64 = 12;

/// The columns to fetch, with their usual rows.
pub fn columns() -> Vec<(Oid, u32)> {
    vec![
        (col(o::PWG_KEY, 2), 4),
        (col(o::PWG_IMAGE, 4), 4),
        (col(o::PWG_IMPRESSION, 4), 4),
        (col(o::PWG_IMPRESSION, 5), 4),
        (col(o::PWG_IMPRESSION, 7), 4),
    ]
}

/// Tables probed only when the key table's probe did not tell: on a device
/// without the MIB, one GETNEXT past all three is enough.
pub fn deferred() -> Vec<Oid> {
    vec![oid(o::PWG_IMAGE), oid(o::PWG_IMPRESSION)]
}

/// Columns every row of their table has (they count the rows).
pub fn anchors() -> Vec<Oid> {
    vec![
        col(o::PWG_KEY, 2),
        col(o::PWG_IMAGE, 4),
        col(o::PWG_IMPRESSION, 4),
    ]
}

/// Adds the PWG meters whose names the snapshot does not have yet.
pub fn read(view: &MibView, snap: &mut Snapshot) {
    // Keys in index order: the first key of a service type is used.
    let mut keys: Vec<(u32, i64)> = view
        .column(&col(o::PWG_KEY, 2))
        .filter_map(|(index, value)| match index {
            [key] => int(value).map(|service| (*key, service)),
            _ => None,
        })
        .collect();
    keys.sort_unstable();
    for (service, names) in SERVICES {
        let Some(key) = first_key(&keys, *service) else {
            continue;
        };
        for (column, name) in [4, 5, 7].into_iter().zip(names) {
            add(
                view,
                snap,
                &col(o::PWG_IMPRESSION, column),
                key,
                name,
                "impressions",
            );
        }
    }
    if let Some(key) = first_key(&keys, SCAN) {
        add(view, snap, &col(o::PWG_IMAGE, 4), key, "scan", "images");
    }
}

fn first_key(keys: &[(u32, i64)], service: i64) -> Option<u32> {
    keys.iter().find(|(_, s)| *s == service).map(|(k, _)| *k)
}

fn add(view: &MibView, snap: &mut Snapshot, column: &Oid, key: u32, name: &str, unit: &str) {
    if snap.meters.iter().any(|m| m.name == name) {
        return;
    }
    let instance = column.child(key).child(WORK_TOTALS).child(LIFETIME);
    let Some(value) = view
        .get(&instance)
        .and_then(int)
        .and_then(|v| u64::try_from(v).ok())
    else {
        return;
    };
    snap.meters.push(Meter {
        name: name.to_owned(),
        value,
        unit: unit.to_owned(),
        oid: Source::One(instance.to_string()),
    });
}

#[cfg(test)]
mod tests {
    use printwatch_snmp::{Value, VarBind};

    use super::*;

    fn vb(oid: &str, value: Value) -> VarBind {
        VarBind::new(oid.parse().expect("test OID"), value)
    }

    const KEY: &str = "1.3.6.1.4.1.2699.1.3.1.2.1.1.2";
    const IMP: &str = "1.3.6.1.4.1.2699.1.3.1.8.1.1";
    const IMG: &str = "1.3.6.1.4.1.2699.1.3.1.7.1.1";

    /// A colour MFP: key 1 system totals, 2 print, 3 copy, 4 scan, 5 fax
    /// in; lifetime and power-on rows, work totals and waste.
    fn view() -> MibView {
        let mut objects = vec![
            vb(&format!("{KEY}.1"), Value::Integer(3)),
            vb(&format!("{KEY}.2"), Value::Integer(11)),
            vb(&format!("{KEY}.3"), Value::Integer(4)),
            vb(&format!("{KEY}.4"), Value::Integer(12)),
            vb(&format!("{KEY}.5"), Value::Integer(7)),
        ];
        for (key, total, mono, color) in [
            (1, 52_000, 40_000, 12_000),
            (2, 30_000, 21_000, 9_000),
            (3, 20_000, 17_000, 3_000),
            (5, 2_000, 2_000, 0),
        ] {
            for (column, value) in [(4, total), (5, mono), (7, color)] {
                // Lifetime work totals, and what must not be read: power-on
                // counters and waste.
                objects.push(vb(
                    &format!("{IMP}.{column}.{key}.3.3"),
                    Value::Integer(value),
                ));
                objects.push(vb(&format!("{IMP}.{column}.{key}.3.4"), Value::Integer(7)));
                objects.push(vb(&format!("{IMP}.{column}.{key}.6.3"), Value::Integer(9)));
            }
        }
        objects.push(vb(&format!("{IMG}.4.4.3.3"), Value::Integer(8_800)));
        MibView::from_varbinds(objects)
    }

    fn meter<'a>(snap: &'a Snapshot, name: &str) -> Option<&'a Meter> {
        snap.meters.iter().find(|m| m.name == name)
    }

    #[test]
    fn lifetime_work_totals_of_each_service() {
        let mut snap = Snapshot::new("t");
        read(&view(), &mut snap);
        let value = |name: &str| meter(&snap, name).map(|m| m.value);
        assert_eq!(value("total"), Some(52_000));
        assert_eq!(value("total_mono"), Some(40_000));
        assert_eq!(value("total_color"), Some(12_000));
        assert_eq!(value("print_color"), Some(9_000));
        assert_eq!(value("copy_mono"), Some(17_000));
        assert_eq!(value("fax"), Some(2_000));
        assert_eq!(value("scan"), Some(8_800));
        assert_eq!(
            meter(&snap, "total").map(|m| m.oid.clone()),
            Some(Source::One(format!("{IMP}.4.1.3.3")))
        );
        assert_eq!(
            meter(&snap, "scan").map(|m| m.unit.as_str()),
            Some("images")
        );
    }

    #[test]
    fn the_profile_s_meters_win() {
        let mut snap = Snapshot::new("t");
        snap.meters.push(Meter {
            name: "total".into(),
            value: 51_999,
            unit: "impressions".into(),
            oid: Source::One("1.3.6.1.4.1.1347.42.2.1.1.1.6.1.1".into()),
        });
        read(&view(), &mut snap);
        let totals: Vec<u64> = snap
            .meters
            .iter()
            .filter(|m| m.name == "total")
            .map(|m| m.value)
            .collect();
        assert_eq!(totals, vec![51_999]);
        assert!(meter(&snap, "total_mono").is_some());
    }

    #[test]
    fn hostile_values_are_left_out() {
        let objects = vec![
            vb(&format!("{KEY}.1"), Value::Integer(3)),
            // A key index of two arcs, a service type that is text.
            vb(&format!("{KEY}.2.9"), Value::Integer(11)),
            vb(&format!("{KEY}.3"), Value::OctetString(b"copy".to_vec())),
            vb(&format!("{IMP}.4.1.3.3"), Value::Integer(-5)),
            vb(
                &format!("{IMP}.5.1.3.3"),
                Value::OctetString(vec![0xff, 0xfe]),
            ),
            vb(&format!("{IMP}.7.1.3.3"), Value::Counter64(u64::MAX)),
        ];
        let mut snap = Snapshot::new("t");
        read(&MibView::from_varbinds(objects), &mut snap);
        let names: Vec<&str> = snap.meters.iter().map(|m| m.name.as_str()).collect();
        // No key of a known service, no counter that is a count.
        assert!(names.is_empty(), "{names:?}");
        assert!(!names.contains(&"total"));
        assert!(!names.contains(&"total_mono"));
        assert!(!names.contains(&"print"));
        assert!(!names.contains(&"copy"));
    }

    #[test]
    fn nothing_without_the_mib() {
        let mut snap = Snapshot::new("t");
        read(&MibView::new(), &mut snap);
        assert!(snap.meters.is_empty());
    }
}
