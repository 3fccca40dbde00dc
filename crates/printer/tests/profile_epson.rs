//! The Epson profile (profiles/epson.toml) on fixtures of our own: the EPSON
//! private identity objects, and ink supplies with their part numbers.

mod support;

use printwatch_snmp::Value;
use support::*;

const EPSON: &str = "1.3.6.1.4.1.1248.1.2.2";

fn ep(suffix: &str) -> String {
    format!("{EPSON}.{suffix}")
}

fn supply(index: u32, descr: &str, level: i32) -> Vec<(String, Value)> {
    let s = |column: u32| format!("1.3.6.1.2.1.43.11.1.1.{column}.1.{index}");
    vec![
        (s(5), Value::Integer(6)), // ink
        (s(6), text(descr)),
        (s(7), Value::Integer(19)), // percent
        (s(8), Value::Integer(100)),
        (s(9), Value::Integer(level)),
    ]
}

fn workforce() -> Vec<(String, Value)> {
    let mut objects: Vec<(String, Value)> = vec![
        (
            SYS_DESCR.into(),
            text("EPSON Built-in 11b/g/n Print Server"),
        ),
        (
            SYS_OBJECT_ID.into(),
            object_id("1.3.6.1.4.1.1248.1.1.2.1.3.5.69.69.80.83.50"),
        ),
        (HR_DEVICE_TYPE_1.into(), printer()),
        (HR_DEVICE_DESCR_1.into(), text("EPSON WF-C5890 Series")),
        (
            ep("1.1.1.1.1"),
            text("MFG:EPSON;CMD:ESCPL2,BDC;MDL:WF-C5890 Series;CLS:PRINTER;"),
        ),
        (ep("1.1.1.2.1"), text("WF-C5890 Series")),
        (ep("1.1.1.5.1"), text("X6TG001234")),
        (ep("2.1.1.2.1.1"), text("CV21I9")),
        (ep("2.1.1.3.1.1"), text("Main FW")),
        (MARKER_LIFE_1.into(), Value::Counter32(8_765)),
    ];
    objects.extend(supply(1, "Black Ink Supply Unit T9441/T9451/T9461", 55));
    objects.extend(supply(2, "Cyan Ink Supply Unit T9442/T9452", 7));
    objects.extend(supply(3, "Magenta Ink Cartridge SJIC36P-M", 90));
    objects
}

#[test]
fn epson_identity_from_the_private_mib() {
    let snap = snapshot(owned(&workforce()));
    assert_eq!(snap.profile.as_deref(), Some("epson"));
    assert_eq!(snap.vendor.as_deref(), Some("Epson"));
    assert_eq!(snap.family.as_deref(), Some("Epson"));
    assert_eq!(snap.model.as_deref(), Some("WF-C5890 Series"));
    assert_eq!(snap.serial.as_deref(), Some("X6TG001234"));
    assert_eq!(snap.firmware.as_deref(), Some("CV21I9"));
    assert_eq!(snap.meter("total"), Some(8_765));
}

#[test]
fn epson_ink_levels_and_part_numbers() {
    let snap = snapshot(owned(&workforce()));
    let black = &snap.supplies[0];
    assert_eq!(
        (black.kind.as_str(), black.color.as_deref()),
        ("ink", Some("black"))
    );
    assert_eq!(black.percent, Some(55.0));
    assert_eq!(black.part_number.as_deref(), Some("T9441/T9451/T9461"));
    let cyan = &snap.supplies[1];
    assert_eq!((cyan.percent, cyan.state.as_str()), (Some(7.0), "low"));
    assert_eq!(cyan.part_number.as_deref(), Some("T9442/T9452"));
    assert_eq!(snap.supplies[2].part_number.as_deref(), Some("SJIC36P-M"));
}

#[test]
fn epson_without_private_objects_falls_back_to_host_resources() {
    let snap = snapshot(vec![
        (SYS_DESCR, text("EPSON Built-in")),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.1248.1.1.2.1.3.5.69.69.80.83.50"),
        ),
        (HR_DEVICE_TYPE_1, printer()),
        (HR_DEVICE_DESCR_1, text("EPSON WF-C5790BA")),
        (PRT_SERIAL_1, text("X3B8012345")),
    ]);
    assert_eq!(snap.model.as_deref(), Some("WF-C5790BA"));
    assert_eq!(snap.serial.as_deref(), Some("X3B8012345"));
    assert_eq!(snap.firmware, None);
}

#[test]
fn epson_hostile_values_stay_sane() {
    let mut objects = vec![
        (
            SYS_DESCR.to_owned(),
            Value::OctetString(b"EPSON \x80\x81".to_vec()),
        ),
        (SYS_OBJECT_ID.to_owned(), object_id("1.3.6.1.4.1.1248")),
        (ep("1.1.1.2.1"), Value::Integer(-1)),
        (ep("1.1.1.5.1"), Value::OctetString(vec![0; 10])),
        (ep("2.1.1.2.1.1"), Value::EndOfMibView),
    ];
    objects.extend(supply(1, "Black Ink", -3));
    objects.extend(supply(2, "\u{1}\u{2}", 1_000));
    let snap = snapshot(owned(&objects));
    assert_eq!(snap.family.as_deref(), Some("Epson"));
    assert_eq!(snap.model.as_deref(), Some("-1"));
    assert_eq!(snap.serial, None);
    assert_eq!(snap.firmware, None);
    assert_eq!(snap.supplies[0].state, "some_remaining");
    assert_eq!(snap.supplies[0].percent, None);
    assert_eq!(snap.supplies[1].percent, Some(100.0));
    assert_eq!(snap.supplies[1].part_number, None);
}
