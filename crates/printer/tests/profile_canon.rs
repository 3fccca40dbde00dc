//! The Canon profile (canon.toml) on fixtures of our own: CANON-MIB identity,
//! the soft-counter table indexed by counter code, hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const PRODUCT_NAME: &str = "1.3.6.1.4.1.1602.1.1.1.1.0";
const PRODUCT_VERSION: &str = "1.3.6.1.4.1.1602.1.1.1.4.0";
const SERVICE_SERIAL: &str = "1.3.6.1.4.1.1602.1.2.1.8.1.3.1.1";

/// Canon's counter table, indexed by soft-counter code (leaked: test only).
fn counter(code: u32) -> &'static str {
    Box::leak(format!("1.3.6.1.4.1.1602.1.11.1.3.1.4.{code}").into_boxed_str())
}

#[test]
fn an_ir_advance_with_its_soft_counters() {
    let codes: &[(u32, u32)] = &[
        (101, 10_000),
        (102, 11_000),
        (103, 1_000),
        (104, 9_000),
        (108, 6_000),
        (112, 600),
        (113, 5_400),
        (114, 2_000),
        (122, 400),
        (123, 3_600),
        (201, 3_000),
        (301, 7_000),
        (501, 4_321),
    ];
    let mut objects: Vec<(&str, Value)> = vec![
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1602.4.7")),
        (SYS_DESCR, text("Canon iR-ADV C5535 /P")),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("Canon iR-ADV C5535")),
        (PRT_SERIAL_1, text("2RF01234")),
        (MARKER_LIFE_1, Value::Counter32(10_000)),
        (PRODUCT_NAME, text("iR-ADV C5535")),
        (PRODUCT_VERSION, text("65.03")),
        (SERVICE_SERIAL, text("ZZZ99999")),
    ];
    objects.extend(
        codes
            .iter()
            .map(|(c, v)| (counter(*c), Value::Counter32(*v))),
    );
    let snap = snapshot(&objects);
    assert_eq!(snap.profile.as_deref(), Some("canon"));
    assert_eq!(snap.vendor.as_deref(), Some("Canon"));
    assert_eq!(snap.family.as_deref(), Some("Canon"));
    assert_eq!(snap.model.as_deref(), Some("iR-ADV C5535"));
    assert_eq!(snap.serial.as_deref(), Some("2RF01234"));
    assert_eq!(snap.firmware.as_deref(), Some("65.03"));
    let c = |code| counter(code);
    assert_eq!(meter(&snap, "total"), (10_000, one(c(101))));
    assert_eq!(meter(&snap, "total_2"), (11_000, one(c(102))));
    assert_eq!(meter(&snap, "total_mono"), (6_000, one(c(108))));
    assert_eq!(meter(&snap, "total_color"), (4_000, sum(&[c(122), c(123)])));
    assert_eq!(meter(&snap, "large"), (1_000, one(c(103))));
    assert_eq!(meter(&snap, "small"), (9_000, one(c(104))));
    assert_eq!(meter(&snap, "total_mono_large"), (600, one(c(112))));
    assert_eq!(meter(&snap, "total_mono_small"), (5_400, one(c(113))));
    assert_eq!(meter(&snap, "total_color_large"), (400, one(c(122))));
    assert_eq!(meter(&snap, "total_color_small"), (3_600, one(c(123))));
    assert_eq!(meter(&snap, "duplex"), (2_000, one(c(114))));
    assert_eq!(meter(&snap, "copy"), (3_000, one(c(201))));
    assert_eq!(meter(&snap, "print"), (7_000, one(c(301))));
    assert_eq!(meter(&snap, "scan"), (4_321, one(c(501))));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn an_lbp_without_counters_and_a_mono_total_from_parts() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1602.4.2")),
        (SYS_DESCR, text("Canon LBP6670 /P")),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("Canon LBP6670")),
        (MARKER_LIFE_1, Value::Counter32(321)),
        (SERVICE_SERIAL, text("MKRA000001")),
        (counter(112), Value::Counter32(20)),
        (counter(113), Value::Counter32(301)),
    ]);
    assert_eq!(snap.model.as_deref(), Some("LBP6670"));
    // No prtGeneralSerialNumber: Canon's service serial.
    assert_eq!(snap.serial.as_deref(), Some("MKRA000001"));
    assert_eq!(
        meter(&snap, "total_mono"),
        (321, sum(&[counter(112), counter(113)]))
    );
    assert_eq!(meter(&snap, "total"), (321, one(MARKER_LIFE_1)));
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1602.4.7")),
        (SYS_DESCR, Value::OctetString(b"Canon \x80\x81 /P".to_vec())),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(77)),
        (PRODUCT_NAME, Value::OctetString(vec![0x00, 0x41])),
        (counter(101), Value::OctetString(vec![0xba, 0xad])),
        (counter(108), Value::Integer(-1)),
        (counter(122), Value::Counter32(5)),
        (counter(301), Value::Counter64(u64::MAX)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Canon"));
    assert_eq!(meter(&snap, "total"), (77, one(MARKER_LIFE_1)));
    // 122 without 123 makes no colour total.
    for name in ["total_mono", "total_color", "print"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
    assert_eq!(meter(&snap, "total_color_large"), (5, one(counter(122))));
}

#[test]
fn the_service_serial_is_a_fallback_for_the_standard_mibs() {
    let device = |extra: &[(&'static str, Value)]| {
        let mut objects: Vec<(&str, Value)> = vec![
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.1602.4.7")),
            (SYS_DESCR, text("Canon iR-ADV C3530 /P")),
            printer_device(),
            (SERVICE_SERIAL, text("SVC00001")),
        ];
        objects.extend_from_slice(extra);
        snapshot(&objects).serial
    };
    // prtGeneralSerialNumber stands.
    assert_eq!(
        device(&[(PRT_SERIAL_1, text("3WX00123"))]).as_deref(),
        Some("3WX00123")
    );
    // So does ENTITY-MIB's chassis serial, when the Printer-MIB has none.
    assert_eq!(
        device(&[("1.3.6.1.2.1.47.1.1.1.1.11.1", text("3WX00456"))]).as_deref(),
        Some("3WX00456")
    );
    // Neither (or blank): Canon's service serial.
    assert_eq!(device(&[]).as_deref(), Some("SVC00001"));
    assert_eq!(
        device(&[(PRT_SERIAL_1, text("   "))]).as_deref(),
        Some("SVC00001")
    );
}
