//! The Lexmark profile (profiles/lexmark.toml) on fixtures of our own, written
//! from LEXMARK-PVT-MIB and LEXMARK-MPS-MIB.

mod support;

use printwatch_snmp::Value;
use support::*;

const TYPE: &str = "1.3.6.1.4.1.641.6.4.2.1.1.2.1";
const VALUE: &str = "1.3.6.1.4.1.641.6.4.2.1.1.4.1";

fn counter_rows(rows: &[(u32, i32, u32)]) -> Vec<(String, Value)> {
    rows.iter()
        .flat_map(|(row, kind, value)| {
            [
                (format!("{TYPE}.{row}"), Value::Integer(*kind)),
                (format!("{VALUE}.{row}"), Value::Counter32(*value)),
            ]
        })
        .collect()
}

fn colour_mfp() -> Vec<(String, Value)> {
    let mut objects: Vec<(String, Value)> = vec![
        (
            SYS_DESCR.into(),
            text("Lexmark CX725 version CXTPC.081.215 kernel 4.11.12 All-N-1"),
        ),
        (SYS_OBJECT_ID.into(), object_id("1.3.6.1.4.1.641.1.5.7.38")),
        (HR_DEVICE_TYPE_1.into(), printer()),
        (HR_DEVICE_DESCR_1.into(), text("Lexmark CX725")),
        (
            "1.3.6.1.4.1.641.6.2.3.1.4.1".into(),
            text("Lexmark CX725de"),
        ),
        ("1.3.6.1.4.1.641.6.2.3.1.5.1".into(), text("75310ABC123DE")),
        ("1.3.6.1.4.1.641.2.1.2.1.4.1".into(), text("CXTPC.081.215")),
        (MARKER_LIFE_1.into(), Value::Counter32(42_000)),
        (
            "1.3.6.1.2.1.43.11.1.1.6.1.1".into(),
            text("Black Cartridge"),
        ),
        ("1.3.6.1.2.1.43.11.1.1.5.1.1".into(), Value::Integer(3)),
        ("1.3.6.1.2.1.43.11.1.1.8.1.1".into(), Value::Integer(100)),
        ("1.3.6.1.2.1.43.11.1.1.9.1.1".into(), Value::Integer(37)),
        (
            "1.3.6.1.4.1.641.6.4.4.1.1.6.1.1".into(),
            text("CAQ123456789"),
        ),
        ("1.3.6.1.4.1.641.6.4.4.1.1.7.1.1".into(), text("84C2HK0")),
    ];
    // Rows in an order of the device's choosing: found by type, not row.
    objects.extend(counter_rows(&[
        (1, 1, 43_000),  // totalPicked
        (2, 4, 12_000),  // totalColorSafe
        (3, 3, 30_000),  // totalMonoSafe
        (4, 18, 9_000),  // printColor
        (5, 17, 21_000), // printMono
        (6, 16, 30_000), // printTotal
        (7, 34, 3_000),  // copyColor
        (8, 33, 8_000),  // copyMono
        (9, 32, 11_000), // copyTotal
        (10, 48, 1_000), // faxTotal
    ]));
    objects
}

#[test]
fn lexmark_identity_from_the_mps_and_pvt_mibs() {
    let snap = snapshot(owned(&colour_mfp()));
    assert_eq!(snap.profile.as_deref(), Some("lexmark"));
    assert_eq!(snap.vendor.as_deref(), Some("Lexmark"));
    assert_eq!(snap.family.as_deref(), Some("Lexmark"));
    assert_eq!(snap.model.as_deref(), Some("CX725de"));
    assert_eq!(snap.serial.as_deref(), Some("75310ABC123DE"));
    assert_eq!(snap.firmware.as_deref(), Some("CXTPC.081.215"));
}

#[test]
fn lexmark_counters_by_type() {
    let snap = snapshot(owned(&colour_mfp()));
    assert_eq!(snap.meter("total"), Some(42_000));
    assert_eq!(snap.meter("total_mono"), Some(30_000));
    assert_eq!(snap.meter("total_color"), Some(12_000));
    assert_eq!(snap.meter("print"), Some(30_000));
    assert_eq!(snap.meter("print_mono"), Some(21_000));
    assert_eq!(snap.meter("print_color"), Some(9_000));
    assert_eq!(snap.meter("copy"), Some(11_000));
    assert_eq!(snap.meter("copy_mono"), Some(8_000));
    assert_eq!(snap.meter("copy_color"), Some(3_000));
    assert_eq!(snap.meter("fax"), Some(1_000));
}

#[test]
fn lexmark_cartridge_serial_and_part_number() {
    let snap = snapshot(owned(&colour_mfp()));
    let black = &snap.supplies[0];
    assert_eq!(black.serial.as_deref(), Some("CAQ123456789"));
    assert_eq!(black.part_number.as_deref(), Some("84C2HK0"));
    assert_eq!(black.percent, Some(37.0));
}

#[test]
fn lexmark_built_device_sold_as_dell_keeps_its_brand() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text("Dell B3460dn Laser Printer version NH5.CY.N543 kernel 3.0.0 All-N-1"),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.641.1.5.7.1")),
        (PRT_SERIAL_1, text("4513ABC")),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Dell"));
    assert_eq!(snap.family.as_deref(), Some("Dell"));
    assert_eq!(snap.serial.as_deref(), Some("4513ABC"));
    assert_eq!(snap.firmware.as_deref(), Some("NH5.CY.N543"));
    let old = snapshot(vec![
        (
            SYS_DESCR,
            text("Lexmark T640 version NS.NP.N219 kernel 2.6.6 All-N-1"),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.641.1.71106749")),
    ]);
    assert_eq!(old.vendor.as_deref(), Some("Lexmark"));
    assert_eq!(old.model.as_deref(), Some("T640"));
    assert_eq!(old.firmware.as_deref(), Some("NS.NP.N219"));
}

#[test]
fn lexmark_hostile_values_stay_sane() {
    let mut objects = vec![
        (
            SYS_DESCR.to_owned(),
            Value::OctetString(b"Lexmark \xff\xfe\0".to_vec()),
        ),
        (SYS_OBJECT_ID.to_owned(), object_id("1.3.6.1.4.1.641")),
        ("1.3.6.1.4.1.641.6.2.3.1.4.1".to_owned(), Value::Null),
        (
            "1.3.6.1.4.1.641.6.2.3.1.5.1".to_owned(),
            Value::OctetString(vec![0xe9, 0x00]),
        ),
    ];
    objects.extend(counter_rows(&[(1, 17, 0)]));
    // Same type twice, a negative value, a key of the wrong type.
    objects.push((format!("{TYPE}.2"), Value::Integer(17)));
    objects.push((format!("{VALUE}.2"), Value::Integer(-7)));
    objects.push((format!("{TYPE}.3"), text("18")));
    objects.push((format!("{VALUE}.3"), text("garbage")));
    objects.push((format!("{TYPE}.4"), Value::Integer(33)));
    objects.push((format!("{VALUE}.4"), Value::Counter64(u64::MAX)));
    let snap = snapshot(owned(&objects));
    assert_eq!(snap.family.as_deref(), Some("Lexmark"));
    assert_eq!(snap.serial.as_deref(), Some("\u{e9}"));
    assert_eq!(snap.meter("print_mono"), Some(0));
    assert_eq!(snap.meter("print_color"), None);
    assert_eq!(snap.meter("copy_mono"), None);
    assert_eq!(snap.meter("total"), None);
}

#[test]
fn lexmark_scan_rows_by_paper_size_give_no_scan_meter() {
    // LEXMARK-MPS-MIB scanCountTable (641.6.4.3.1, entry .1): a row per scan
    // type and paper size (type .2, size .3, sides .4, sheets .5). A sum of
    // the first row of each type would drop the other sizes: the profile
    // reports no scan count rather than a short one.
    let entry = "1.3.6.1.4.1.641.6.4.3.1.1";
    let mut objects = colour_mfp();
    for (row, kind, size, sides) in [
        (1, 1, 2, 700),   // copyAdf, letter
        (2, 1, 3, 300),   // copyAdf, legal
        (3, 3, 2, 90),    // scanToEmailAdf, letter
        (4, 259, 2, 10),  // scanToEmailFlatbed, letter
        (5, 771, 26, 40), // scanToEmailDuplex, A4
    ] {
        objects.push((format!("{entry}.2.1.{row}"), Value::Integer(kind)));
        objects.push((format!("{entry}.3.1.{row}"), Value::Integer(size)));
        objects.push((format!("{entry}.4.1.{row}"), Value::Counter32(sides)));
        objects.push((format!("{entry}.5.1.{row}"), Value::Counter32(sides)));
    }
    let snap = snapshot(owned(&objects));
    assert_eq!(snap.profile.as_deref(), Some("lexmark"));
    assert_eq!(snap.meter("scan"), None, "{:?}", snap.meters);
    // The paper counters are unaffected.
    assert_eq!(snap.meter("copy"), Some(11_000));
}

#[test]
fn lexmark_built_dell_model_from_its_device_id() {
    let id = "1.3.6.1.4.1.641.2.1.2.1.3.1";
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text("Dell Laser Printer 1700n version 5.7.1 kernel 2.4.0"),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.641.1.5.7.6")),
        (id, text("COMMAND SET:;MODEL:Dell Laser Printer 1700n")),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("lexmark"));
    assert_eq!(snap.vendor.as_deref(), Some("Dell"));
    assert_eq!(snap.model.as_deref(), Some("Dell Laser Printer 1700n"));
    // A Lexmark's own device ID does not replace its Lexmark model.
    let own = snapshot(vec![
        (
            SYS_DESCR,
            text("Lexmark MS610dn version PR.APP.P301 kernel 2.6.28"),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.641.1.5.7.6")),
        (id, text("COMMAND SET:PCL,PJL;MODEL:Lexmark MS610dn")),
        ("1.3.6.1.4.1.641.6.2.3.1.4.1", text("Lexmark MS610dn")),
    ]);
    assert_eq!(own.model.as_deref(), Some("MS610dn"));
}
