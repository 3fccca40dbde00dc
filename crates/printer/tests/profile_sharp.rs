//! The Sharp profile (sharp.toml) on fixtures of our own: the counter table
//! (function, count, kind), totals summed by colour mode, hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const FIRMWARE: &str = "1.3.6.1.4.1.2385.2.1.1.2.1.2.1";

/// A cell of Sharp's counter table (leaked: test only).
fn c(index: &str) -> &'static str {
    Box::leak(format!("1.3.6.1.4.1.2385.1.1.19.2.1.3.{index}").into_boxed_str())
}

#[test]
fn a_colour_mx_with_its_counter_table() {
    let rows: &[(&str, u32, &str)] = &[
        ("5.4.61", 9_000, "total_mono"),
        ("5.4.63", 3_000, "total_color"),
        ("5.4.64", 20, "total_two_color"),
        ("5.4.80", 10, "total_single_color"),
        ("5.5.61", 4, "other_mono"),
        ("5.5.63", 3, "other_color"),
        ("1.4.60", 7_000, "print"),
        ("1.4.61", 5_000, "print_mono"),
        ("1.4.63", 2_000, "print_color"),
        ("1.4.64", 0, "print_two_color"),
        ("1.4.80", 0, "print_single_color"),
        ("1.4.75", 3_100, "duplex"),
        ("4.4.60", 5_030, "copy"),
        ("4.4.61", 4_000, "copy_mono"),
        ("4.4.63", 1_000, "copy_color"),
        ("4.4.64", 20, "copy_two_color"),
        ("4.4.80", 10, "copy_single_color"),
        ("6.4.70", 1_234, "document_feeder"),
        ("7.4.50", 600, "scan_to_email_ftp"),
        ("7.4.51", 500, "scan_mono"),
        ("7.4.53", 100, "scan_color"),
        ("7.4.54", 1, "scan_two_color"),
        ("8.4.50", 9, "scan_to_hdd"),
        ("8.4.51", 8, "scan_to_hdd_mono"),
        ("8.4.53", 1, "scan_to_hdd_color"),
        ("8.4.54", 0, "scan_to_hdd_two_color"),
        ("8.4.60", 12, "filing_print"),
        ("8.4.61", 11, "filing_print_mono"),
        ("8.4.63", 1, "filing_print_color"),
        ("8.4.64", 0, "filing_print_two_color"),
        ("8.4.80", 0, "filing_print_single_color"),
    ];
    let mut objects: Vec<(&str, Value)> = vec![
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.2")),
        (SYS_DESCR, text("SHARP MX-4070N")),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("SHARP MX-4070N")),
        (PRT_SERIAL_1, text("0500123400")),
        (MARKER_LIFE_1, Value::Counter32(12_030)),
        (FIRMWARE, text("2.03")),
    ];
    objects.extend(rows.iter().map(|(i, v, _)| (c(i), Value::Counter32(*v))));
    let snap = snapshot(&objects);
    assert_eq!(snap.profile.as_deref(), Some("sharp"));
    assert_eq!(snap.vendor.as_deref(), Some("Sharp"));
    assert_eq!(snap.family.as_deref(), Some("Sharp"));
    assert_eq!(snap.model.as_deref(), Some("MX-4070N"));
    assert_eq!(snap.serial.as_deref(), Some("0500123400"));
    assert_eq!(snap.firmware.as_deref(), Some("2.03"));
    assert_eq!(
        meter(&snap, "total"),
        (
            12_030,
            sum(&[c("5.4.61"), c("5.4.63"), c("5.4.64"), c("5.4.80")])
        )
    );
    for (index, value, name) in rows {
        assert_eq!(
            meter(&snap, name),
            (u64::from(*value), one(c(index))),
            "{name}"
        );
    }
    assert_eq!(
        meter(&snap, "scan"),
        (600, sum(&[c("7.4.51"), c("7.4.53")]))
    );
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn a_mono_model_totals_its_black_and_white_row() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.1")),
        (SYS_DESCR, text("SHARP MX-M3071")),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(4_000)),
        (c("5.4.61"), Value::Counter32(4_000)),
        (c("7.4.51"), Value::Counter32(50)),
    ]);
    assert_eq!(snap.model.as_deref(), Some("MX-M3071"));
    assert_eq!(meter(&snap, "total"), (4_000, one(c("5.4.61"))));
    assert_eq!(meter(&snap, "scan"), (50, one(c("7.4.51"))));
    assert!(snap.meter("total_color").is_none());
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.2")),
        (SYS_DESCR, Value::OctetString(b"SHARP \xe9\xff".to_vec())),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(15)),
        (FIRMWARE, Value::OctetString(vec![0; 4])),
        (c("5.4.61"), text("n/a")),
        (c("5.4.63"), Value::Integer(-3)),
        (c("1.4.61"), Value::Counter64(u64::MAX)),
        (c("4.4.61"), Value::Counter64(12)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Sharp"));
    assert_eq!(snap.firmware, None);
    assert_eq!(meter(&snap, "total"), (15, one(MARKER_LIFE_1)));
    for name in ["total_mono", "total_color", "print_mono"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
    assert_eq!(meter(&snap, "copy_mono"), (12, one(c("4.4.61"))));
}

#[test]
fn sharp_model_and_serial_objects() {
    const MODEL: &str = "1.3.6.1.4.1.2385.2.1.3.2.1.4.13501.1302.1";
    const SERIAL: &str = "1.3.6.1.4.1.2385.2.1.1.2.1.3.1";
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.1")),
        (SYS_DESCR, text("SHARP MX-M3071")),
        printer_device(),
        (MODEL, text("MX-M3071 ")),
        (SERIAL, text("05012345")),
    ]);
    assert_eq!(snap.model.as_deref(), Some("MX-M3071"));
    // Sharp's serial where the Printer MIB has none...
    assert_eq!(snap.serial.as_deref(), Some("05012345"));
    // ... but prtGeneralSerialNumber stands where it has one, and an empty
    // model object gives way to sysDescr.
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.1")),
        (SYS_DESCR, text("SHARP MX-M3071")),
        printer_device(),
        (PRT_SERIAL_1, text("9501234500")),
        (MODEL, text("")),
        (SERIAL, text("05012345")),
    ]);
    assert_eq!(snap.serial.as_deref(), Some("9501234500"));
    assert_eq!(snap.model.as_deref(), Some("MX-M3071"));
}

#[test]
fn rows_no_rule_names_are_reported_by_their_index() {
    // A model with a fax function (9) and a colour mode (65) the profile
    // does not name: still meters, named by the row index; rows a rule
    // names are not reported twice; a negative or textual cell is no meter.
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2385.3.1.112.1.2")),
        (SYS_DESCR, text("SHARP BP-70C31")),
        printer_device(),
        (c("5.4.61"), Value::Counter32(9_000)),
        (c("5.4.65"), Value::Counter32(77)),
        (c("9.4.61"), Value::Counter32(321)),
        (c("9.5.61"), Value::Integer(-2)),
        (c("9.4.63"), text("none")),
    ]);
    assert_eq!(meter(&snap, "total_mono"), (9_000, one(c("5.4.61"))));
    assert_eq!(meter(&snap, "sharp_5_4_65"), (77, one(c("5.4.65"))));
    assert_eq!(meter(&snap, "sharp_9_4_61"), (321, one(c("9.4.61"))));
    assert!(snap.meter("sharp_5_4_61").is_none(), "{:?}", snap.meters);
    assert!(snap.meter("sharp_9_5_61").is_none());
    assert!(snap.meter("sharp_9_4_63").is_none());
}
