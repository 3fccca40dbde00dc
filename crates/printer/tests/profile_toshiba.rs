//! The Toshiba profile (toshiba.toml) on fixtures of our own: e-STUDIO and
//! TEC label printers, the Lexmark-OEM e-STUDIO branded by sysDescr,
//! hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const BCP_SERIAL: &str = "1.3.6.1.4.1.1129.1.2.1.1.1.1.1.0";
const BCP_VERSION: &str = "1.3.6.1.4.1.1129.1.2.1.1.1.1.2.0";
const BCP_MODEL: &str = "1.3.6.1.4.1.1129.1.2.1.1.1.2.1.0";

#[test]
fn an_e_studio() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1129.2.3.58.2")),
        (SYS_DESCR, text("TOSHIBA e-STUDIO2505AC")),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("TOSHIBA e-STUDIO2505AC")),
        (PRT_SERIAL_1, text("CNFJ012345")),
        (MARKER_LIFE_1, Value::Counter32(8_888)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("toshiba"));
    assert_eq!(snap.vendor.as_deref(), Some("Toshiba"));
    assert_eq!(snap.family.as_deref(), Some("Toshiba"));
    assert_eq!(snap.model.as_deref(), Some("e-STUDIO2505AC"));
    assert_eq!(snap.serial.as_deref(), Some("CNFJ012345"));
    assert_eq!(meter(&snap, "total"), (8_888, one(MARKER_LIFE_1)));
}

#[test]
fn a_tec_label_printer_from_the_bcp_mib() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1129.1.2.1")),
        (SYS_DESCR, text("TOSHIBA TEC B-EV4")),
        (BCP_SERIAL, text("2408A000123")),
        (BCP_VERSION, text("B1.1G")),
        (BCP_MODEL, text("B-EV4T-GS14")),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Toshiba"));
    assert_eq!(snap.family.as_deref(), Some("Toshiba"));
    assert_eq!(snap.model.as_deref(), Some("B-EV4T-GS14"));
    assert_eq!(snap.serial.as_deref(), Some("2408A000123"));
    assert_eq!(snap.firmware.as_deref(), Some("B1.1G"));
}

#[test]
fn a_lexmark_oem_e_studio_is_a_toshiba() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.641.2.71107164")),
        (
            SYS_DESCR,
            text("TOSHIBA e-STUDIO305CS version NH63.GM.N639 kernel 3.0.0 All-N-1"),
        ),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Toshiba"));
    assert_eq!(snap.family.as_deref(), Some("Toshiba"));
}

#[test]
fn hostile_values_do_not_panic() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1129.1.2.1")),
        (
            SYS_DESCR,
            Value::OctetString(b"TOSHIBA TEC \xff\xfe\x00B-SX5T".to_vec()),
        ),
        printer_device(),
        (MARKER_LIFE_1, Value::Integer(-7)),
        (BCP_SERIAL, Value::Integer(12)),
        (BCP_MODEL, Value::OctetString(vec![])),
        (BCP_VERSION, Value::Null),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Toshiba"));
    // A negative prtMarkerLifeCount is no meter at all.
    assert!(snap.meters.is_empty(), "{:?}", snap.meters);
    assert_eq!(snap.firmware, None);
}

#[test]
fn the_bcp_serial_is_a_fallback_for_the_standard_mibs() {
    let device = |extra: &[(&'static str, Value)]| {
        let mut objects: Vec<(&str, Value)> = vec![
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1129.2.3.58.2")),
            (SYS_DESCR, text("TOSHIBA e-STUDIO3015AC")),
            printer_device(),
            (BCP_SERIAL, text("BCP0000099")),
        ];
        objects.extend_from_slice(extra);
        snapshot(&objects).serial
    };
    assert_eq!(
        device(&[(PRT_SERIAL_1, text("CNGJ054321"))]).as_deref(),
        Some("CNGJ054321")
    );
    assert_eq!(
        device(&[("1.3.6.1.2.1.47.1.1.1.1.11.1", text("CNGJ054322"))]).as_deref(),
        Some("CNGJ054322")
    );
    assert_eq!(device(&[]).as_deref(), Some("BCP0000099"));
}
