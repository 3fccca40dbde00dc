//! The Fujifilm / Fuji Xerox profile (fujifilm.toml) on fixtures of our own:
//! "FUJI XEROX" is Fujifilm's family, not Xerox's; XCMI counters.

mod support;

use printwatch_snmp::Value;
use support::*;

const TOTAL: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.1";
const COLOUR: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.33";
const BLACK: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.34";

#[test]
fn fuji_xerox_docuprint_is_fujifilm_not_xerox() {
    let snap = snapshot(&[
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.297.1.11.93.1.32.4.1.1"),
        ),
        (
            SYS_DESCR,
            text("FUJI XEROX DocuPrint CM305 df; Net 16.41,ESS 201210101131,IOT 03.00.05"),
        ),
        printer_device(),
        (PRT_SERIAL_1, text("391234")),
        (MARKER_LIFE_1, Value::Counter32(2_000)),
        (TOTAL, Value::Counter32(2_000)),
        (COLOUR, Value::Counter32(800)),
        (BLACK, Value::Counter32(1_200)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("fujifilm"));
    assert_eq!(snap.vendor.as_deref(), Some("Fuji Xerox"));
    assert_eq!(snap.family.as_deref(), Some("Fujifilm"));
    assert_eq!(snap.model.as_deref(), Some("DocuPrint CM305 df"));
    assert_eq!(snap.serial.as_deref(), Some("391234"));
    assert_eq!(snap.firmware.as_deref(), Some("201210101131"));
    assert_eq!(meter(&snap, "total"), (2_000, one(TOTAL)));
    assert_eq!(meter(&snap, "total_color"), (800, one(COLOUR)));
    assert_eq!(meter(&snap, "total_mono"), (1_200, one(BLACK)));
}

#[test]
fn fujifilm_apeos_from_sys_descr() {
    let snap = snapshot(&[
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.297.1.11.93.2.1.3.5.5"),
        ),
        (SYS_DESCR, text("FUJIFILM Apeos C2360")),
        printer_device(),
        (PRT_SERIAL_1, text("TC100000000001")),
        (MARKER_LIFE_1, Value::Counter32(10)),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Fujifilm"));
    assert_eq!(snap.family.as_deref(), Some("Fujifilm"));
    assert_eq!(snap.model.as_deref(), Some("Apeos C2360"));
    assert_eq!(snap.serial.as_deref(), Some("TC100000000001"));
    assert_eq!(meter(&snap, "total"), (10, one(MARKER_LIFE_1)));
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.297.1.11.93.1.1")),
        (SYS_DESCR, Value::OctetString(vec![0xff, 0xfe, 0xfd])),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(3)),
        (TOTAL, text("lots")),
        (COLOUR, Value::Integer(-2)),
        (BLACK, Value::Null),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Fujifilm"));
    assert_eq!(meter(&snap, "total"), (3, one(MARKER_LIFE_1)));
    assert!(snap.meter("total_color").is_none());
    assert!(snap.meter("total_mono").is_none());
}

#[test]
fn the_xcmi_serial_is_a_fallback_for_the_standard_mibs() {
    const XCM_SERIAL: &str = "1.3.6.1.4.1.253.8.53.3.2.1.3.1";
    let device = |extra: &[(&'static str, Value)]| {
        let mut objects: Vec<(&str, Value)> = vec![
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.297.1.11.93.1.40.1")),
            (SYS_DESCR, text("FUJIFILM Apeos C3060; ESS 1.0.1")),
            printer_device(),
            (XCM_SERIAL, text("XCM000777")),
        ];
        objects.extend_from_slice(extra);
        snapshot(&objects).serial
    };
    assert_eq!(
        device(&[(PRT_SERIAL_1, text("AP1000042"))]).as_deref(),
        Some("AP1000042")
    );
    assert_eq!(
        device(&[("1.3.6.1.2.1.47.1.1.1.1.11.1", text("AP1000043"))]).as_deref(),
        Some("AP1000043")
    );
    assert_eq!(device(&[]).as_deref(), Some("XCM000777"));
}
