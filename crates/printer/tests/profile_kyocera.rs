//! The Kyocera profile (kyocera.toml) on fixtures of our own: brands,
//! KYOCERA-Private-MIB identity, KMCOMMON-MIB function counters and their
//! sums, hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const MODEL: &str = "1.3.6.1.4.1.1347.43.5.1.1.1.1";
const SERIAL: &str = "1.3.6.1.4.1.1347.43.5.1.1.28.1";
const FIRMWARE: &str = "1.3.6.1.4.1.1347.43.5.4.1.5.1.1";
const SERVICE_COUNT: &str = "1.3.6.1.4.1.1347.43.10.1.1.12.1.1";
const FN_PRINT: &str = "1.3.6.1.4.1.1347.42.3.1.1.1.1.1";
const FN_COPY: &str = "1.3.6.1.4.1.1347.42.3.1.1.1.1.2";
const FN_FAX: &str = "1.3.6.1.4.1.1347.42.3.1.1.1.1.4";
const PRINT_BW: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.1.1";
const PRINT_SINGLE: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.1.2";
const PRINT_FULL: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.1.3";
const COPY_BW: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.2.1";
const COPY_SINGLE: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.2.2";
const COPY_FULL: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.2.3";
const FAX_BW: &str = "1.3.6.1.4.1.1347.42.3.1.2.1.1.4.1";
const SCAN_COPY: &str = "1.3.6.1.4.1.1347.42.3.1.3.1.1.2";
const SCAN_FAX: &str = "1.3.6.1.4.1.1347.42.3.1.3.1.1.4";
const SCAN_OTHER: &str = "1.3.6.1.4.1.1347.42.3.1.4.1.1.1";

fn colour_mfp() -> Vec<(&'static str, Value)> {
    vec![
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1347.41")),
        (
            SYS_DESCR,
            text("KYOCERA Document Solutions Printing System"),
        ),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("TASKalfa 2552ci")),
        (PRT_SERIAL_1, text("ABC1234567")),
        (MARKER_LIFE_1, Value::Counter32(1_100)),
        (MODEL, text("TASKalfa 2552ci")),
        (SERIAL, text("LVA4Z00001")),
        (FIRMWARE, text("2NP_2F00.C01.011")),
        (SERVICE_COUNT, Value::Integer(1_060)),
        (FN_PRINT, Value::Integer(600)),
        (FN_COPY, Value::Integer(400)),
        (FN_FAX, Value::Integer(60)),
        (PRINT_BW, Value::Integer(200)),
        (PRINT_SINGLE, Value::Integer(0)),
        (PRINT_FULL, Value::Integer(400)),
        (COPY_BW, Value::Integer(300)),
        (COPY_SINGLE, Value::Integer(10)),
        (COPY_FULL, Value::Integer(90)),
        (FAX_BW, Value::Integer(60)),
        (SCAN_COPY, Value::Integer(350)),
        (SCAN_FAX, Value::Integer(20)),
        (SCAN_OTHER, Value::Integer(1_000)),
        (SUPPLY_DESCR_1, text("TK-5280K")),
        (SUPPLY_LEVEL_1, Value::Integer(50)),
    ]
}

#[test]
fn a_colour_mfp_with_every_function_counter() {
    let snap = snapshot(colour_mfp());
    assert_eq!(snap.profile.as_deref(), Some("kyocera"));
    assert_eq!(snap.vendor.as_deref(), Some("Kyocera"));
    assert_eq!(snap.family.as_deref(), Some("Kyocera"));
    assert_eq!(snap.model.as_deref(), Some("TASKalfa 2552ci"));
    assert_eq!(snap.serial.as_deref(), Some("LVA4Z00001"));
    assert_eq!(snap.firmware.as_deref(), Some("2NP_2F00.C01.011"));
    assert_eq!(meter(&snap, "total"), (1_060, one(SERVICE_COUNT)));
    assert_eq!(
        meter(&snap, "total_mono"),
        (560, sum(&[PRINT_BW, COPY_BW, FAX_BW]))
    );
    assert_eq!(
        meter(&snap, "total_color"),
        (
            500,
            sum(&[PRINT_SINGLE, PRINT_FULL, COPY_SINGLE, COPY_FULL])
        )
    );
    assert_eq!(meter(&snap, "print"), (600, one(FN_PRINT)));
    assert_eq!(meter(&snap, "copy"), (400, one(FN_COPY)));
    assert_eq!(meter(&snap, "fax"), (60, one(FN_FAX)));
    assert_eq!(meter(&snap, "print_mono"), (200, one(PRINT_BW)));
    assert_eq!(
        meter(&snap, "print_color"),
        (400, sum(&[PRINT_SINGLE, PRINT_FULL]))
    );
    assert_eq!(meter(&snap, "copy_mono"), (300, one(COPY_BW)));
    assert_eq!(
        meter(&snap, "copy_color"),
        (100, sum(&[COPY_SINGLE, COPY_FULL]))
    );
    assert_eq!(
        meter(&snap, "scan"),
        (1_370, sum(&[SCAN_COPY, SCAN_FAX, SCAN_OTHER]))
    );
    assert_eq!(meter(&snap, "scan_copy"), (350, one(SCAN_COPY)));
    assert_eq!(meter(&snap, "scan_fax"), (20, one(SCAN_FAX)));
    assert_eq!(meter(&snap, "scan_other"), (1_000, one(SCAN_OTHER)));
    assert_eq!(snap.supplies[0].part_number.as_deref(), Some("TK-5280K"));
    // The marker counts more than the service count: reported, not hidden.
    assert_eq!(snap.warnings.len(), 1, "{:?}", snap.warnings);
}

#[test]
fn without_the_service_count_the_total_is_print_copy_fax() {
    let objects: Vec<_> = colour_mfp()
        .into_iter()
        .filter(|(o, _)| *o != SERVICE_COUNT && *o != SCAN_OTHER)
        .collect();
    let snap = snapshot(&objects);
    assert_eq!(
        meter(&snap, "total"),
        (1_060, sum(&[FN_PRINT, FN_COPY, FN_FAX]))
    );
    assert_eq!(meter(&snap, "scan"), (370, sum(&[SCAN_COPY, SCAN_FAX])));
}

#[test]
fn brands_of_the_family() {
    for (descr, vendor) in [
        ("UTAX P-4531 MFP", "UTAX"),
        ("TA Triumph-Adler P-C3065 MFP", "TA Triumph-Adler"),
        ("COPYSTAR CS 2552ci", "Copystar"),
    ] {
        let snap = snapshot(&[
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1347.41")),
            (SYS_DESCR, text(descr)),
        ]);
        assert_eq!(snap.vendor.as_deref(), Some(vendor), "{descr}");
        assert_eq!(snap.family.as_deref(), Some("Kyocera"), "{descr}");
    }
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1347.41")),
        (SYS_DESCR, Value::OctetString(b"KYOCERA \xfe\xff".to_vec())),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(7)),
        (MODEL, Value::OctetString(vec![0, 0, 0])),
        (HR_DEVICE_DESCR_1, text("ECOSYS P2040dw")),
        (SERVICE_COUNT, text("12a")),
        (FN_PRINT, Value::Integer(-1)),
        (FN_COPY, Value::Integer(5)),
        (FN_FAX, Value::Counter64(u64::MAX)),
        (PRINT_BW, Value::OctetString(vec![0xff; 8])),
        (COPY_BW, Value::Integer(5)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Kyocera"));
    assert_eq!(snap.model.as_deref(), Some("ECOSYS P2040dw"));
    // No total from parts that are not all numbers: prtMarkerLifeCount.
    assert_eq!(meter(&snap, "total"), (7, one(MARKER_LIFE_1)));
    for name in ["print", "fax", "print_mono", "total_mono", "total_color"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
    assert_eq!(meter(&snap, "copy"), (5, one(FN_COPY)));
}

#[test]
fn duplex_sides_and_the_paper_size_table_as_librenms_reads_them() {
    const DUPLEX_FRONT: &str = "1.3.6.1.4.1.1347.42.2.5.1.1.1.1";
    const DUPLEX_REAR: &str = "1.3.6.1.4.1.1347.42.2.5.1.1.2.1";
    const TABLE_ROW_1: &str = "1.3.6.1.4.1.1347.42.2.1.1.1.6.1.1";
    let mut objects = colour_mfp();
    objects.extend([
        (DUPLEX_FRONT, Value::Integer(2_468)),
        (DUPLEX_REAR, Value::Integer(1_357)),
        (TABLE_ROW_1, Value::Integer(9_753)),
    ]);
    let snap = snapshot(&objects);
    assert_eq!(
        meter(&snap, "print_duplex_front"),
        (2_468, one(DUPLEX_FRONT))
    );
    assert_eq!(meter(&snap, "print_duplex_rear"), (1_357, one(DUPLEX_REAR)));
    assert_eq!(meter(&snap, "print_table_row_1"), (9_753, one(TABLE_ROW_1)));
    // Absent on a device without them.
    let plain = snapshot(colour_mfp());
    assert_eq!(plain.meter("print_duplex_front"), None);
    assert_eq!(plain.meter("print_table_row_1"), None);
}
