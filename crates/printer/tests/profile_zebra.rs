//! The Zebra profile (profiles/zebra.toml) on fixtures of our own: a Link-OS
//! printer (ZEBRA-MIB, ZEBRA-QL-MIB odometer texts) and an older printer
//! behind a ZebraNet print server (ESI-MIB, Extended Systems sysObjectID).

mod support;

use printwatch_printer::Source;
use printwatch_snmp::Value;
use support::*;

const ZBR_MODEL: &str = "1.3.6.1.4.1.10642.1.1.0";
const ZBR_FIRMWARE: &str = "1.3.6.1.4.1.10642.1.2.0";
const ZBR_UNIQUE_ID: &str = "1.3.6.1.4.1.10642.1.9.0";
const ZQL_LABEL_COUNT: &str = "1.3.6.1.4.1.10642.200.17.2.0";
const ZQL_PRINT_LENGTH: &str = "1.3.6.1.4.1.10642.200.17.3.0";
const ZQL_APPL_NAME: &str = "1.3.6.1.4.1.10642.200.18.2.0";
const ZQL_PRODUCT_NAME: &str = "1.3.6.1.4.1.10642.200.19.7.0";
const ESI_PRODUCT_NUMBER: &str = "1.3.6.1.4.1.683.1.4.0";
const ESI_SERIAL: &str = "1.3.6.1.4.1.683.1.5.0";
const ESI_VERSION: &str = "1.3.6.1.4.1.683.1.9.0";
const ESI_PRINTER_MODEL_1: &str = "1.3.6.1.4.1.683.6.2.3.2.1.15.1";

/// A Link-OS printer: Zebra's own sysObjectID and ZEBRA-MIB identity.
fn link_os() -> Vec<(&'static str, Value)> {
    vec![
        (SYS_DESCR, text("Zebra Technologies ZTC ZT410-203dpi ZPL")),
        (SYS_OBJECT_ID, Value::ObjectId(oid("1.3.6.1.4.1.10642.1.1"))),
        printer_device(),
        (ZBR_MODEL, text("ZTC ZT410-203dpi ZPL")),
        (ZBR_FIRMWARE, text("V75.20.01Z")),
        (ZBR_UNIQUE_ID, text("18J000000001")),
        (ZQL_LABEL_COUNT, text("48213")),
        (ZQL_PRINT_LENGTH, text("250117 INCHES, 635297 CENTIMETERS")),
        (ZQL_APPL_NAME, text("V75.20.01Z")),
        (ZQL_PRODUCT_NAME, text("ZT410")),
    ]
}

/// An older printer behind a ZebraNet print server: Extended Systems'
/// sysObjectID, ESI-MIB identity of the print server, ZEBRA-QL odometer.
fn zebranet() -> Vec<(&'static str, Value)> {
    vec![
        (SYS_DESCR, text("ZebraNet Wireless PS")),
        (SYS_OBJECT_ID, Value::ObjectId(oid("1.3.6.1.4.1.683.6.0"))),
        printer_device(),
        (ESI_PRODUCT_NUMBER, text("12345")),
        (ESI_SERIAL, text("1234567")),
        (ESI_VERSION, text("V1.2.3")),
        (ESI_PRINTER_MODEL_1, text("ZTC GK420d")),
        (ZQL_PRINT_LENGTH, text("36 INCHES, 91 CENTIMETERS")),
    ]
}

#[test]
fn zebra_link_os_identity_from_the_zebra_mib() {
    let snap = snapshot(link_os());
    assert_eq!(snap.profile.as_deref(), Some("zebra"));
    assert_eq!(snap.vendor.as_deref(), Some("Zebra"));
    assert_eq!(snap.family.as_deref(), Some("Zebra"));
    // "ZTC" (Zebra Technologies Corporation) dropped.
    assert_eq!(snap.model.as_deref(), Some("ZT410-203dpi ZPL"));
    assert_eq!(snap.serial.as_deref(), Some("18J000000001"));
    assert_eq!(snap.firmware.as_deref(), Some("V75.20.01Z"));
}

#[test]
fn zebra_odometer_texts_give_label_count_and_print_length() {
    let snap = snapshot(link_os());
    let length = snap
        .meters
        .iter()
        .find(|m| m.name == "print_length")
        .expect("print_length meter");
    // Inches, not the centimetres that follow.
    assert_eq!((length.value, length.unit.as_str()), (250117, "inches"));
    assert_eq!(length.oid, Source::One(ZQL_PRINT_LENGTH.into()));
    let labels = snap
        .meters
        .iter()
        .find(|m| m.name == "labels")
        .expect("labels");
    assert_eq!((labels.value, labels.unit.as_str()), (48213, "labels"));
    // No Printer-MIB marker: no page total is invented.
    assert_eq!(snap.meter("total"), None);
}

#[test]
fn zebra_behind_a_zebranet_print_server_is_matched_by_sys_descr() {
    let snap = snapshot(zebranet());
    assert_eq!(snap.profile.as_deref(), Some("zebra"));
    assert_eq!(snap.family.as_deref(), Some("Zebra"));
    // The printer's model, as the print server reads it; not the print
    // server's own product number.
    assert_eq!(snap.model.as_deref(), Some("GK420d"));
    assert_eq!(snap.serial.as_deref(), Some("1234567"));
    assert_eq!(snap.firmware.as_deref(), Some("V1.2.3"));
    assert_eq!(snap.meter("print_length"), Some(36));
    assert_eq!(snap.meter("labels"), None);
}

#[test]
fn zebra_other_extended_systems_print_servers_are_not_zebra() {
    let snap = snapshot(vec![
        (SYS_DESCR, text("ExtendNet 4000t print server")),
        (SYS_OBJECT_ID, Value::ObjectId(oid("1.3.6.1.4.1.683.6.0"))),
        printer_device(),
        (ESI_SERIAL, text("7654321")),
    ]);
    assert_ne!(snap.profile.as_deref(), Some("zebra"));
    assert_ne!(snap.family.as_deref(), Some("Zebra"));
}

#[test]
fn zebra_hostile_values_stay_sane() {
    for length in [
        text("lots of INCHES"),
        text("-5 INCHES, -12 CENTIMETERS"),
        text("99999999999999999999999 INCHES"),
        text("4876 CENTIMETERS"),
        Value::OctetString(vec![0xff, 0xfe, 0x00, b'1']),
        Value::Null,
        Value::ObjectId(oid("1.3.6.1.4.1.10642")),
    ] {
        let snap = snapshot(vec![
            (
                SYS_DESCR,
                Value::OctetString(b"Zebra\xff\0\x01 junk".to_vec()),
            ),
            (SYS_OBJECT_ID, Value::ObjectId(oid("1.3.6.1.4.1.10642.1.1"))),
            printer_device(),
            (ZBR_MODEL, Value::Integer(42)),
            (ZBR_UNIQUE_ID, text("   ")),
            (ESI_SERIAL, Value::OctetString(vec![0xff, 0x00])),
            (ZQL_LABEL_COUNT, text("many")),
            (ZQL_PRINT_LENGTH, length.clone()),
        ]);
        assert_eq!(snap.family.as_deref(), Some("Zebra"), "{length:?}");
        assert_eq!(snap.meter("print_length"), None, "{length:?}");
        assert_eq!(snap.meter("labels"), None, "{length:?}");
        // A blank serial is no serial.
        assert!(
            snap.serial.as_deref().is_none_or(|s| !s.trim().is_empty()),
            "{:?}",
            snap.serial
        );
    }
    // A bare number says no unit: not taken for inches.
    let mut objects = link_os();
    objects.retain(|(o, _)| *o != ZQL_PRINT_LENGTH);
    objects.push((ZQL_PRINT_LENGTH, Value::Integer(77)));
    assert_eq!(snapshot(objects).meter("print_length"), None);
}
