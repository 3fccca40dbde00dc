//! The Ricoh profile (ricoh.toml) on fixtures of our own: the family's
//! brands, RICOH-PRIVATE-MIB identity and engine counters, hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const SYS_NAME: &str = "1.3.6.1.4.1.367.3.2.1.1.1.1.0";
const SYS_VERS: &str = "1.3.6.1.4.1.367.3.2.1.1.1.2.0";
const ENG_SERIAL: &str = "1.3.6.1.4.1.367.3.2.1.2.1.4.0";
const TOTAL: &str = "1.3.6.1.4.1.367.3.2.1.2.19.1.0";
const PRINTER: &str = "1.3.6.1.4.1.367.3.2.1.2.19.2.0";
const FAX: &str = "1.3.6.1.4.1.367.3.2.1.2.19.3.0";
const COPIER: &str = "1.3.6.1.4.1.367.3.2.1.2.19.4.0";

/// A cell of ricohEngCounterTable: column 2 is the type, 9 the value
/// (leaked: test only).
fn cell(column: u32, row: u32) -> &'static str {
    Box::leak(format!("1.3.6.1.4.1.367.3.2.1.2.19.5.1.{column}.{row}").into_boxed_str())
}

/// Rows of the counter table as (row index, counter type, value): the row
/// indexes are the device's own, not the types.
const TABLE: &[(u32, i32, u32)] = &[
    (1, 10, 123_456),
    (2, 200, 23_000),
    (3, 201, 20_000),
    (4, 202, 1_000),
    (5, 203, 2_000),
    (6, 300, 456),
    (7, 301, 456),
    (9, 400, 100_000),
    (11, 401, 60_000),
    (12, 402, 4_000),
    (13, 403, 36_000),
    (20, 870, 900),
    (22, 872, 100),
    (23, 873, 300),
    (24, 874, 500),
];

fn with_table(mut objects: Vec<(&'static str, Value)>) -> Vec<(&'static str, Value)> {
    for (row, kind, value) in TABLE {
        objects.push((cell(2, *row), Value::Integer(*kind)));
        objects.push((cell(9, *row), Value::Counter32(*value)));
    }
    objects
}

#[test]
fn savin_is_a_ricoh_with_its_counter_table() {
    let snap = snapshot(with_table(vec![
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            text(
                "SAVIN MP C4503 1.18 / SAVIN Network Printer C model / SAVIN Network Scanner C model",
            ),
        ),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("SAVIN MP C4503")),
        (PRT_SERIAL_1, text("W000X0001")),
        (MARKER_LIFE_1, Value::Counter32(123_456)),
        (SYS_NAME, text("SAVIN MP C4503")),
        (SYS_VERS, text("1.18")),
        (ENG_SERIAL, text("G176X123456")),
        // The group's scalars disagree on purpose: the table wins.
        (TOTAL, Value::Integer(1)),
        (PRINTER, Value::Integer(1)),
        (FAX, Value::Integer(1)),
        (COPIER, Value::Integer(1)),
    ]));
    assert_eq!(snap.profile.as_deref(), Some("ricoh"));
    assert_eq!(snap.vendor.as_deref(), Some("Savin"));
    assert_eq!(snap.family.as_deref(), Some("Ricoh"));
    assert_eq!(snap.model.as_deref(), Some("MP C4503"));
    assert_eq!(snap.serial.as_deref(), Some("G176X123456"));
    assert_eq!(snap.firmware.as_deref(), Some("1.18"));
    for (name, row, value) in [
        ("total", 1, 123_456),
        ("copy", 2, 23_000),
        ("copy_mono", 3, 20_000),
        ("copy_single_color", 4, 1_000),
        ("copy_color", 5, 2_000),
        ("fax", 6, 456),
        ("fax_mono", 7, 456),
        ("print", 9, 100_000),
        ("print_mono", 11, 60_000),
        ("print_single_color", 12, 4_000),
        ("print_color", 13, 36_000),
        ("transmission", 20, 900),
        ("fax_sent", 22, 100),
        ("scan_color", 23, 300),
        ("scan_mono", 24, 500),
    ] {
        assert_eq!(meter(&snap, name), (value, one(cell(9, row))), "{name}");
    }
    assert_eq!(meter(&snap, "marker_life"), (123_456, one(MARKER_LIFE_1)));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn an_older_model_without_the_table_uses_the_counter_scalars() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            text("RICOH Aficio SP 4100N 1.02 / RICOH Network Printer C model"),
        ),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(123_456)),
        (TOTAL, Value::Integer(123_456)),
        (PRINTER, Value::Integer(100_000)),
        (FAX, Value::Integer(456)),
        (COPIER, Value::Integer(23_000)),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Ricoh"));
    assert_eq!(snap.model.as_deref(), Some("Aficio SP 4100N"));
    assert_eq!(meter(&snap, "total"), (123_456, one(TOTAL)));
    assert_eq!(meter(&snap, "print"), (100_000, one(PRINTER)));
    assert_eq!(meter(&snap, "fax"), (456, one(FAX)));
    assert_eq!(meter(&snap, "copy"), (23_000, one(COPIER)));
    assert!(snap.meter("print_color").is_none());
}

#[test]
fn every_brand_of_the_family_from_sys_descr() {
    for (descr, vendor, model, firmware) in [
        (
            "NRG SP 4210N 1.05 / NRG Network Printer C model",
            "NRG",
            "SP 4210N",
            "1.05",
        ),
        (
            "LANIER MP C3501/LD635C 2.01 / LANIER Network Printer C model",
            "Lanier",
            "MP C3501/LD635C",
            "2.01",
        ),
        (
            "Gestetner MPC2500/DSc525 1.71 / Gestetner Network Printer C model",
            "Gestetner",
            "MPC2500/DSc525",
            "1.71",
        ),
        (
            "RICOH Aficio MP 201 1.04 / RICOH Network Printer C model",
            "Ricoh",
            "Aficio MP 201",
            "1.04",
        ),
    ] {
        let snap = snapshot(&[
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
            (SYS_DESCR, text(descr)),
        ]);
        assert_eq!(snap.vendor.as_deref(), Some(vendor), "{descr}");
        assert_eq!(snap.family.as_deref(), Some("Ricoh"), "{descr}");
        assert_eq!(snap.model.as_deref(), Some(model), "{descr}");
        assert_eq!(snap.firmware.as_deref(), Some(firmware), "{descr}");
    }
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            Value::OctetString(b"RICOH \xff\xfe\x00junk".to_vec()),
        ),
        printer_device(),
        (PRT_SERIAL_1, text("E335M123456")),
        (MARKER_LIFE_1, Value::Counter32(42)),
        (SYS_NAME, Value::OctetString(vec![0xc3, 0x28, 0xff])),
        (ENG_SERIAL, text("")),
        (TOTAL, Value::OctetString(vec![0xde, 0xad, 0xbe, 0xef])),
        (PRINTER, Value::Integer(-5)),
        (FAX, Value::Counter64(u64::MAX)),
        (COPIER, Value::Null),
        // A type that is text garbage, a value that is negative, a row
        // without a value.
        (cell(2, 1), Value::OctetString(vec![0xff, 0x00])),
        (cell(9, 1), Value::Counter32(5)),
        (cell(2, 2), Value::Integer(401)),
        (cell(9, 2), Value::Integer(-9)),
        (cell(2, 3), Value::Integer(403)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Ricoh"));
    // The empty engine serial leaves the Printer-MIB one.
    assert_eq!(snap.serial.as_deref(), Some("E335M123456"));
    for name in [
        "print",
        "fax",
        "copy",
        "print_mono",
        "print_color",
        "total_mono",
        "total_color",
        "scan",
    ] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
    // The garbage total is ignored: prtMarkerLifeCount stands in.
    assert_eq!(meter(&snap, "total"), (42, one(MARKER_LIFE_1)));
}

#[test]
fn totals_by_colour_and_scans_sum_the_counter_table_rows() {
    let snap = snapshot(with_table(vec![
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            text("RICOH MP C3004 1.10 / RICOH Network Printer C model"),
        ),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(123_456)),
    ]));
    // Black & white: copy 201 (row 3) + print 401 (row 11) + fax 301 (row 7).
    assert_eq!(
        meter(&snap, "total_mono"),
        (
            20_000 + 60_000 + 456,
            sum(&[cell(9, 3), cell(9, 11), cell(9, 7)])
        )
    );
    // Colour: copy 202, 203 (rows 4, 5) + print 402, 403 (rows 12, 13).
    assert_eq!(
        meter(&snap, "total_color"),
        (
            1_000 + 2_000 + 4_000 + 36_000,
            sum(&[cell(9, 4), cell(9, 5), cell(9, 12), cell(9, 13)])
        )
    );
    // Scans: colour 873 (row 23) + black & white 874 (row 24).
    assert_eq!(
        meter(&snap, "scan"),
        (300 + 500, sum(&[cell(9, 23), cell(9, 24)]))
    );
    assert_eq!(
        snap.meters
            .iter()
            .find(|m| m.name == "scan")
            .map(|m| m.unit.as_str()),
        Some("scans")
    );
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn a_mono_model_sums_the_rows_it_has() {
    // No fax, no colour rows, no scanner: only what is there is summed.
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            text("RICOH SP 3710DN 1.03 / RICOH Network Printer D model"),
        ),
        (cell(2, 1), Value::Integer(10)),
        (cell(9, 1), Value::Counter32(7_000)),
        (cell(2, 5), Value::Integer(401)),
        (cell(9, 5), Value::Counter32(6_500)),
        (cell(2, 6), Value::Integer(201)),
        (cell(9, 6), Value::Counter32(500)),
    ]);
    assert_eq!(
        meter(&snap, "total_mono"),
        (7_000, sum(&[cell(9, 6), cell(9, 5)]))
    );
    for name in ["total_color", "scan", "fax_mono"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
}
