//! The Xerox profile (xerox.toml) on fixtures of our own: identity from
//! sysDescr and XCMI, xcmHrDevDetail counters, part numbers, hostile values.

mod support;

use printwatch_snmp::Value;
use support::*;

const XCM_SERIAL: &str = "1.3.6.1.4.1.253.8.53.3.2.1.3.1";
const TOTAL: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.1";
const COLOUR: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.33";
const BLACK: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.1.20.34";
const COPY_BLACK: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.11.20.3";
const COPY_COLOUR: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.11.20.25";
const SCAN_EMAIL: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.10.20.11";
const SCAN_NETWORK: &str = "1.3.6.1.4.1.253.8.53.13.2.1.6.10.20.12";

#[test]
fn a_versalink_with_its_counters() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.253.8.62.1.34.1.1.1")),
        (
            SYS_DESCR,
            text("Xerox VersaLink C405; SS 1.2.3.4, NC 5.6.7, UI 8.9"),
        ),
        printer_device(),
        (
            HR_DEVICE_DESCR_1,
            text("Xerox VersaLink C405 v1 Multifunction System"),
        ),
        (MARKER_LIFE_1, Value::Counter32(5_000)),
        (XCM_SERIAL, text("3390123456")),
        (TOTAL, Value::Counter32(5_000)),
        (COLOUR, Value::Counter32(1_500)),
        (BLACK, Value::Counter32(3_500)),
        (COPY_BLACK, Value::Counter32(700)),
        (COPY_COLOUR, Value::Counter32(70)),
        (SCAN_EMAIL, Value::Counter32(11)),
        (SCAN_NETWORK, Value::Counter32(12)),
        (
            SUPPLY_DESCR_1,
            text("Black Toner, PN 106R03500;SN1234567890"),
        ),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("xerox"));
    assert_eq!(snap.vendor.as_deref(), Some("Xerox"));
    assert_eq!(snap.family.as_deref(), Some("Xerox"));
    assert_eq!(snap.model.as_deref(), Some("VersaLink C405"));
    assert_eq!(snap.serial.as_deref(), Some("3390123456"));
    assert_eq!(snap.firmware.as_deref(), Some("1.2.3.4"));
    assert_eq!(meter(&snap, "total"), (5_000, one(TOTAL)));
    assert_eq!(meter(&snap, "total_color"), (1_500, one(COLOUR)));
    assert_eq!(meter(&snap, "total_mono"), (3_500, one(BLACK)));
    assert_eq!(meter(&snap, "copy_mono"), (700, one(COPY_BLACK)));
    assert_eq!(meter(&snap, "copy_color"), (70, one(COPY_COLOUR)));
    assert_eq!(meter(&snap, "scan"), (23, sum(&[SCAN_EMAIL, SCAN_NETWORK])));
    assert_eq!(meter(&snap, "scan_email"), (11, one(SCAN_EMAIL)));
    assert_eq!(meter(&snap, "scan_network"), (12, one(SCAN_NETWORK)));
    assert_eq!(snap.supplies[0].part_number.as_deref(), Some("106R03500"));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn models_and_firmware_from_older_sys_descr() {
    for (descr, model, firmware) in [
        (
            "Xerox Phaser 4600; System 35.004.32.000, MCB 2.50.04.32",
            "Phaser 4600",
            Some("35.004.32.000"),
        ),
        (
            "Xerox Color 570;System 55.40.61,ESS1.208.6,IOT 64.24.0",
            "Color 570",
            Some("55.40.61"),
        ),
        (
            "Xerox WorkCentre 6605DN; Network 90.66, Controller 201305012030",
            "WorkCentre 6605DN",
            None,
        ),
    ] {
        let snap = snapshot(&[
            (
                SYS_OBJECT_ID,
                object_id("1.3.6.1.4.1.253.8.62.1.19.1.24.2.1"),
            ),
            (SYS_DESCR, text(descr)),
        ]);
        assert_eq!(snap.vendor.as_deref(), Some("Xerox"), "{descr}");
        assert_eq!(snap.family.as_deref(), Some("Xerox"), "{descr}");
        assert_eq!(snap.model.as_deref(), Some(model), "{descr}");
        assert_eq!(snap.firmware.as_deref(), firmware, "{descr}");
    }
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.253.8.62.1.35.2.3.1.1"),
        ),
        (
            SYS_DESCR,
            Value::OctetString(b"Xerox \xc3\x28 AltaLink".to_vec()),
        ),
        printer_device(),
        (MARKER_LIFE_1, Value::Counter32(9)),
        (XCM_SERIAL, Value::OctetString(vec![])),
        (PRT_SERIAL_1, text("XRX0001")),
        (TOTAL, Value::OctetString(b"\x01\x02\x03".to_vec())),
        (COLOUR, Value::Integer(-3)),
        (BLACK, Value::Counter64(u64::MAX)),
        (SCAN_EMAIL, Value::Counter32(1)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Xerox"));
    assert_eq!(snap.serial.as_deref(), Some("XRX0001"));
    assert_eq!(meter(&snap, "total"), (9, one(MARKER_LIFE_1)));
    for name in ["total_color", "total_mono", "scan"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
}

#[test]
fn cartridge_serials_from_the_supply_description() {
    let descr = |i: u32| -> &'static str {
        Box::leak(format!("1.3.6.1.2.1.43.11.1.1.6.1.{i}").into_boxed_str())
    };
    let snap = snapshot(&[
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.253.8.62.1.35.2.3.1.1"),
        ),
        (SYS_DESCR, text("Xerox AltaLink C8030; SS 1.2.3")),
        printer_device(),
        (
            descr(1),
            text("Cyan Toner, PN 006R01700;SN3A1B2C80E0000123"),
        ),
        (
            descr(2),
            text("Drum Cartridge (R1), PN 013R00700; SN 7F00AA80E00004CD"),
        ),
        // The device's placeholders and lower-case text are no serial.
        (descr(3), text("Fuser, PN unknown;SNunknown")),
        (descr(4), text("Waste Toner Container, PN 008R13100;SN")),
        // "SN" elsewhere than after ";" is not read.
        (descr(5), text("SN1 Tray Kit, PN 497K99999")),
    ]);
    let serials: Vec<_> = snap
        .supplies
        .iter()
        .map(|s| (s.description.as_str(), s.serial.as_deref()))
        .collect();
    assert_eq!(
        serials,
        [
            (
                "Cyan Toner, PN 006R01700;SN3A1B2C80E0000123",
                Some("3A1B2C80E0000123")
            ),
            (
                "Drum Cartridge (R1), PN 013R00700; SN 7F00AA80E00004CD",
                Some("7F00AA80E00004CD")
            ),
            ("Fuser, PN unknown;SNunknown", None),
            ("Waste Toner Container, PN 008R13100;SN", None),
            ("SN1 Tray Kit, PN 497K99999", None),
        ]
    );
    assert_eq!(snap.supplies[0].part_number.as_deref(), Some("006R01700"));
}

#[test]
fn samsung_built_xerox_model_and_firmware_from_the_samsung_objects() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.253.8.62.1.20.2.4.1")),
        (SYS_DESCR, text("Xerox Phaser 3320; OS 1.10, NIC V4.01.10")),
        ("1.3.6.1.4.1.236.11.5.1.1.1.1.0", text("Xerox Phaser 3320")),
        ("1.3.6.1.4.1.236.11.5.1.1.1.2.0", text("V53.00.01.21")),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Xerox"));
    assert_eq!(snap.model.as_deref(), Some("Xerox Phaser 3320"));
    assert_eq!(snap.firmware.as_deref(), Some("V53.00.01.21"));
}
