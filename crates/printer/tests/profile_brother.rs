//! The Brother profile (profiles/brother.toml) on fixtures of our own: BROTHER-MIB
//! identity objects and the brInfoCounter / brInfoMaintenance blobs, built
//! record by record.

mod support;

use printwatch_printer::{ProfileSet, Snapshot};
use printwatch_snmp::Value;
use support::*;

/// One 7-octet record: code, type 01, length 04, big-endian value.
fn record(code: u8, value: u32) -> Vec<u8> {
    let mut r = vec![code, 0x01, 0x04];
    r.extend_from_slice(&value.to_be_bytes());
    r
}

const IEEE1284: &str = "1.3.6.1.4.1.2435.2.3.9.1.1.7.0";
const SERIAL: &str = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.1.0";
const MAINTENANCE: &str = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.8.0";
const COUNTERS: &str = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.10.0";
const ROM_VERSION: &str = "1.3.6.1.4.1.2435.2.3.9.4.2.1.5.5.17.0";

fn counters_blob() -> Vec<u8> {
    [
        record(0x00, 5120), // page counter
        record(0x01, 2000), // black & white pages
        record(0x02, 3120), // colour pages
        record(0x06, 640),  // duplex unit pages
        record(0x12, 5000), // black impressions
        record(0x13, 3001), // cyan impressions
        record(0x16, 9999), // image counter
        record(0x77, 1),    // a code the profile does not name
        vec![0xff],         // Brother's trailing checksum octet
    ]
    .concat()
}

fn maintenance_blob() -> Vec<u8> {
    [
        record(0x31, 1),    // black toner status: not mapped
        record(0x6f, 8150), // black toner 81.5 %
        record(0x70, 4000), // cyan toner 40 %
        record(0x71, 500),  // magenta toner 5 %
        record(0x72, 0),    // yellow toner empty
        record(0x79, 6800), // cyan drum 68 %
        record(0x80, 7000), // black drum 70 %
        record(0x7e, 5120), // black drum page count
        record(0x69, 8300), // belt unit 83 %
        record(0x6a, 9100), // fuser 91 %
        record(0x6d, 9200), // paper feeding kit 1: 92 %
        record(0x6c, 9900), // paper feeding kit MP: 99 %
        record(0xa1, 1000), // black toner again (newer code): first one wins
    ]
    .concat()
}

fn colour_laser() -> Vec<(&'static str, Value)> {
    vec![
        (
            SYS_DESCR,
            text("Brother NC-8800w, Firmware Ver.1.02  (21.03.09),MID 8CE-K11,FID 2"),
        ),
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (
            IEEE1284,
            text("MFG:Brother;CMD:PJL,PCL;MDL:MFC-L8900CDW series;CLS:PRINTER;"),
        ),
        (SERIAL, text("E12345K6N789012")),
        (ROM_VERSION, text("ZC2103091234")),
        (COUNTERS, Value::OctetString(counters_blob())),
        (MAINTENANCE, Value::OctetString(maintenance_blob())),
        // The Printer-MIB black toner, level "some remaining": the blob's
        // percentage completes it.
        ("1.3.6.1.2.1.43.11.1.1.5.1.1", Value::Integer(3)),
        ("1.3.6.1.2.1.43.11.1.1.6.1.1", text("Black Toner Cartridge")),
        ("1.3.6.1.2.1.43.11.1.1.8.1.1", Value::Integer(-2)),
        ("1.3.6.1.2.1.43.11.1.1.9.1.1", Value::Integer(-3)),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", Value::Counter32(5120)),
    ]
}

fn meter(snap: &Snapshot, name: &str) -> Option<u64> {
    snap.meter(name)
}

fn supply<'a>(
    snap: &'a Snapshot,
    kind: &str,
    color: Option<&str>,
) -> &'a printwatch_printer::Supply {
    let found: Vec<_> = snap
        .supplies
        .iter()
        .filter(|s| s.kind == kind && s.color.as_deref() == color)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} {color:?} in {:?}",
        snap.supplies
    );
    found[0]
}

#[test]
fn brother_identity_from_the_brother_mib() {
    let snap = snapshot(colour_laser());
    assert_eq!(snap.profile.as_deref(), Some("brother"));
    assert_eq!(snap.vendor.as_deref(), Some("Brother"));
    assert_eq!(snap.family.as_deref(), Some("Brother"));
    assert_eq!(snap.model.as_deref(), Some("MFC-L8900CDW"));
    assert_eq!(snap.serial.as_deref(), Some("E12345K6N789012"));
    assert_eq!(snap.firmware.as_deref(), Some("ZC2103091234"));
}

#[test]
fn brother_counters_blob_gives_the_meters() {
    let snap = snapshot(colour_laser());
    assert_eq!(meter(&snap, "total"), Some(5120));
    assert_eq!(meter(&snap, "marker_life"), Some(5120));
    assert_eq!(meter(&snap, "total_mono"), Some(2000));
    assert_eq!(meter(&snap, "total_color"), Some(3120));
    assert_eq!(meter(&snap, "duplex"), Some(640));
    assert_eq!(meter(&snap, "black_count"), Some(5000));
    assert_eq!(meter(&snap, "cyan_count"), Some(3001));
    assert_eq!(meter(&snap, "image_count"), Some(9999));
    assert_eq!(meter(&snap, "drum_count_black"), Some(5120));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn brother_maintenance_blob_gives_remaining_life() {
    let snap = snapshot(colour_laser());
    // Merged into the Printer-MIB supply, which said "some remaining".
    let black = supply(&snap, "toner", Some("black"));
    assert_eq!(black.description, "Black Toner Cartridge");
    // 81.50 % rounds to 82, as the device's own panel (and the brother library) show it.
    assert_eq!(black.percent, Some(82.0));
    assert_eq!(supply(&snap, "toner", Some("cyan")).percent, Some(40.0));
    let magenta = supply(&snap, "toner", Some("magenta"));
    assert_eq!(
        (magenta.percent, magenta.state.as_str()),
        (Some(5.0), "low")
    );
    let yellow = supply(&snap, "toner", Some("yellow"));
    assert_eq!(
        (yellow.percent, yellow.state.as_str()),
        (Some(0.0), "empty")
    );
    assert_eq!(supply(&snap, "drum", Some("cyan")).percent, Some(68.0));
    assert_eq!(supply(&snap, "drum", Some("black")).percent, Some(70.0));
    assert_eq!(supply(&snap, "transfer_belt", None).percent, Some(83.0));
    assert_eq!(supply(&snap, "fuser", None).percent, Some(91.0));
    assert_eq!(supply(&snap, "paper_feed_kit", None).percent, Some(92.0));
    assert_eq!(supply(&snap, "paper_feed_kit_mp", None).percent, Some(99.0));
}

#[test]
fn brother_mono_without_private_model_uses_the_1284_id_and_the_marker() {
    let snap = snapshot(vec![
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (
            IEEE1284,
            text("MFG:Brother;CMD:PJL;MDL:HL-L2350DW series;CLS:PRINTER;"),
        ),
        ("1.3.6.1.2.1.43.5.1.1.17.1", text("U64123B9N123456")),
        (SERIAL, text("other")),
        (
            MAINTENANCE,
            Value::OctetString(
                [
                    record(0x11, 1200), // drum page count
                    record(0x41, 9000), // drum 90 %
                    record(0x6f, 2500), // toner 25 %
                ]
                .concat(),
            ),
        ),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", Value::Counter32(1200)),
    ]);
    assert_eq!(snap.model.as_deref(), Some("HL-L2350DW"));
    // prtGeneralSerialNumber first.
    assert_eq!(snap.serial.as_deref(), Some("U64123B9N123456"));
    assert_eq!(meter(&snap, "total"), Some(1200));
    assert_eq!(meter(&snap, "drum_count"), Some(1200));
    assert_eq!(supply(&snap, "drum", None).percent, Some(90.0));
    assert_eq!(supply(&snap, "toner", Some("black")).percent, Some(25.0));
}

#[test]
fn brother_hostile_blobs_and_values_stay_sane() {
    let mut truncated = record(0x00, 777);
    truncated.extend_from_slice(&[0x01, 0x01, 0x04, 0x00, 0x00]); // cut short
    let odd_lengths = [
        vec![0x31, 0x01, 0x01, 0x01],       // one-octet record
        vec![0xa1, 0x01, 0x02, 0x04, 0x14], // two-octet record (older models)
        record(0x70, u32::MAX),             // absurd percentage
        vec![0x6f, 0x01, 0xff, 0x00],       // length beyond the blob
    ]
    .concat();
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"Brother NC-\xff\xfe printer\0junk".to_vec()),
        ),
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (IEEE1284, Value::Integer(42)),
        (SERIAL, Value::OctetString(vec![0xff, 0xfe, 0x00])),
        (ROM_VERSION, Value::Null),
        (COUNTERS, Value::OctetString(truncated)),
        (MAINTENANCE, Value::OctetString(odd_lengths)),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", Value::Integer(-5)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Brother"));
    assert_eq!(meter(&snap, "total"), Some(777));
    assert_eq!(meter(&snap, "total_mono"), None);
    assert_eq!(meter(&snap, "marker_life"), None);
    let cyan = supply(&snap, "toner", Some("cyan"));
    assert_eq!(cyan.percent, Some(100.0));
    assert!(
        snap.supplies
            .iter()
            .all(|s| s.percent.is_none_or(|p| (0.0..=100.0).contains(&p))),
        "{:?}",
        snap.supplies
    );
    // Wrong types and garbage blobs: no decoder panics, nothing invented.
    for blob in [
        vec![],
        vec![0xff],
        vec![0x00; 6],
        (0..=255).collect::<Vec<u8>>(),
    ] {
        let snap = snapshot(vec![
            (
                SYS_OBJECT_ID,
                Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
            ),
            (COUNTERS, Value::OctetString(blob.clone())),
            (MAINTENANCE, Value::OctetString(blob)),
        ]);
        assert_eq!(snap.family.as_deref(), Some("Brother"));
    }
    let snap = snapshot(vec![
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (COUNTERS, Value::Integer(5)),
        (MAINTENANCE, Value::Counter64(u64::MAX)),
    ]);
    assert!(snap.meters.is_empty(), "{:?}", snap.meters);
    assert!(snap.supplies.is_empty(), "{:?}", snap.supplies);
}

/// An older model's 5-octet record: code, type 01, length 02, a level and
/// its maximum.
fn short_record(code: u8, level: u8, max: u8) -> Vec<u8> {
    vec![code, 0x01, 0x02, level, max]
}

fn older_ink_blob() -> Vec<u8> {
    [
        short_record(0xa1, 3, 20),  // black 15 %
        short_record(0xa2, 1, 3),   // cyan 33.33 % → 33
        short_record(0xa3, 2, 3),   // magenta 66.67 % → 67
        short_record(0xa4, 20, 20), // yellow full
        short_record(0xa1, 9, 0),   // no maximum: ignored
    ]
    .concat()
}

/// An older inkjet (MFC-5490CN-like): two-octet ink records a1-a4, an empty
/// counter blob.
fn older_inkjet() -> Vec<(&'static str, Value)> {
    vec![
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (
            IEEE1284,
            text("MFG:Brother;CMD:PJL,HBP;MDL:MFC-5890CN;CLS:PRINTER;"),
        ),
        (SERIAL, text("BRN000INK42")),
        (ROM_VERSION, text("U0712051200VER.F")),
        (COUNTERS, Value::OctetString(vec![])),
        (MAINTENANCE, Value::OctetString(older_ink_blob())),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", Value::Counter32(4321)),
    ]
}

#[test]
fn brother_older_two_octet_ink_records_decode() {
    let snap = snapshot(older_inkjet());
    assert_eq!(snap.model.as_deref(), Some("MFC-5890CN"));
    assert_eq!(snap.serial.as_deref(), Some("BRN000INK42"));
    assert_eq!(snap.firmware.as_deref(), Some("U0712051200VER.F"));
    assert_eq!(meter(&snap, "total"), Some(4321));
    // No Printer-MIB supplies to follow: one supply per colour, from the
    // blob, in whole percent (rounded).
    let percent = |colour: &str| {
        let found: Vec<_> = snap
            .supplies
            .iter()
            .filter(|s| s.color.as_deref() == Some(colour))
            .collect();
        assert_eq!(found.len(), 1, "{colour}: {:?}", snap.supplies);
        found[0].percent
    };
    assert_eq!(percent("black"), Some(15.0));
    assert_eq!(percent("cyan"), Some(33.0));
    assert_eq!(percent("magenta"), Some(67.0));
    assert_eq!(percent("yellow"), Some(100.0));
}

#[test]
fn brother_inkjet_levels_merge_with_its_ink_supplies() {
    let mut objects = older_inkjet();
    // The device's own Printer-MIB ink cartridges (inkCartridge, level
    // "some remaining"): the blob's levels complete them.
    for (index, colour) in [(1, "Black"), (2, "Cyan"), (3, "Magenta"), (4, "Yellow")] {
        let cell = |column: u32| -> &'static str {
            Box::leak(format!("1.3.6.1.2.1.43.11.1.1.{column}.1.{index}").into_boxed_str())
        };
        objects.push((cell(5), Value::Integer(6)));
        objects.push((cell(6), text(&format!("{colour} Ink Cartridge"))));
        objects.push((cell(8), Value::Integer(-2)));
        objects.push((cell(9), Value::Integer(-3)));
    }
    // A newer inkjet's four-octet record for the same colour comes later:
    // the first level found stands.
    objects.retain(|(o, _)| *o != MAINTENANCE);
    objects.push((
        MAINTENANCE,
        Value::OctetString([older_ink_blob(), record(0x6f, 9000)].concat()),
    ));
    let snap = snapshot(objects);
    assert!(
        snap.supplies.iter().all(|s| s.kind == "ink"),
        "no toner on an inkjet: {:?}",
        snap.supplies
    );
    assert_eq!(snap.supplies.len(), 4, "{:?}", snap.supplies);
    let black = supply(&snap, "ink", Some("black"));
    assert_eq!(black.description, "Black Ink Cartridge");
    assert_eq!(black.percent, Some(15.0));
    assert_eq!(supply(&snap, "ink", Some("cyan")).percent, Some(33.0));
    assert_eq!(supply(&snap, "ink", Some("magenta")).percent, Some(67.0));
    assert_eq!(supply(&snap, "ink", Some("yellow")).percent, Some(100.0));
}

/// A newer inkjet (DCP-J…) without Printer-MIB supplies: the blob's black
/// record (6f, shared with lasers) is ink, and the drum records are dropped.
fn newer_inkjet(model_line: &str, extra_1284: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            SYS_OBJECT_ID,
            Value::ObjectId(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        ),
        (
            IEEE1284,
            text(&format!(
                "MFG:Brother;CMD:PJL,HBP,URF;MDL:{model_line};CLS:PRINTER;{extra_1284}"
            )),
        ),
        (SERIAL, text("BRNINKJET0001")),
        (COUNTERS, Value::OctetString(record(0x00, 880))),
        (
            MAINTENANCE,
            Value::OctetString(
                [
                    record(0x11, 880),  // "drum" page count: not on an inkjet
                    record(0x41, 9300), // "drum" 93 %: not on an inkjet
                    record(0x6f, 7100), // black 71 %
                    record(0x70, 3500), // cyan 35 %
                ]
                .concat(),
            ),
        ),
    ]
}

#[test]
fn brother_inkjet_by_model_reads_ink_and_drops_the_drum() {
    for model in ["DCP-J132W", "MFC-T910DW series", "HL-J6000DW", "MFC-5490CN"] {
        let snap = snapshot(newer_inkjet(model, ""));
        assert!(
            snap.supplies.iter().all(|s| s.kind == "ink"),
            "{model}: {:?}",
            snap.supplies
        );
        let black = supply(&snap, "ink", Some("black"));
        assert_eq!(black.description, "Black Ink", "{model}");
        assert_eq!(black.percent, Some(71.0), "{model}");
        assert_eq!(supply(&snap, "ink", Some("cyan")).percent, Some(35.0));
        assert_eq!(meter(&snap, "drum_count"), None, "{model}");
        assert_eq!(snap.supplies.len(), 2, "{model}: {:?}", snap.supplies);
    }
}

#[test]
fn brother_lasers_keep_toner_and_drum() {
    // Lasers, including colour lasers whose names end in C…, and an inkjet
    // pattern overruled by the 1284 ID's "CID:Brother Laser".
    for (model, extra) in [
        ("HL-L2350DW series", ""),
        ("DCP-9020CDW series", ""),
        ("MFC-9320CW", ""),
        ("DCP-1618W", ""),
        ("MFC-J9999X", "CID:Brother Laser Type1;"),
    ] {
        let snap = snapshot(newer_inkjet(model, extra));
        assert_eq!(
            supply(&snap, "toner", Some("black")).percent,
            Some(71.0),
            "{model}"
        );
        assert_eq!(
            supply(&snap, "toner", Some("black")).description,
            "Black Toner"
        );
        assert_eq!(supply(&snap, "drum", None).percent, Some(93.0), "{model}");
        assert_eq!(meter(&snap, "drum_count"), Some(880), "{model}");
    }
}

#[test]
fn brother_ink_rule_is_fetched_by_the_plan() {
    let profiles = ProfileSet::embedded().expect("embedded profiles load");
    let brother = profiles.get("brother").expect("brother profile");
    let (scalars, _) = brother.plan();
    assert!(scalars.contains(&oid(IEEE1284)));
    assert!(
        brother
            .profile
            .decoders
            .iter()
            .any(|d| !d.ink_when.is_empty() && !d.laser_when.is_empty())
    );
}
