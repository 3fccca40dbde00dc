//! The Konica Minolta profile (profiles/konica.toml) on fixtures of our own:
//! the KM counter objects under 1.3.6.1.4.1.18334.1.1.1.5.7.2.

mod support;

use printwatch_snmp::Value;
use support::*;

const KM: &str = "1.3.6.1.4.1.18334.1.1.1";

fn km(suffix: &str) -> String {
    format!("{KM}.{suffix}")
}

fn bizhub() -> Vec<(String, Value)> {
    vec![
        (SYS_DESCR.into(), text("KONICA MINOLTA bizhub C458")),
        (
            SYS_OBJECT_ID.into(),
            object_id("1.3.6.1.4.1.18334.1.1.1.2.1.119.2.1"),
        ),
        (HR_DEVICE_TYPE_1.into(), printer()),
        (HR_DEVICE_DESCR_1.into(), text("Generic 45C-9")),
        (PRT_SERIAL_1.into(), text("AA2J021012345")),
        (km("1.6.2.1.0"), text("KONICA MINOLTA bizhub C458")),
        (km("1.6.1.0"), text("2.10")),
        (km("5.5.1.1.2.1"), text("Controller version")),
        (km("5.5.1.1.3.1"), text("G00-R3")),
        (km("5.7.2.1.1.0"), Value::Integer(123_456)),
        (km("5.7.2.1.3.0"), Value::Integer(20_000)),
        (km("5.7.2.1.5.0"), Value::Integer(7_777)),
        (km("5.7.2.2.1.5.1.1"), Value::Integer(10_000)), // copy, black
        (km("5.7.2.2.1.5.1.2"), Value::Integer(60_000)), // print, black
        (km("5.7.2.2.1.5.2.1"), Value::Integer(3_456)),  // copy, full colour
        (km("5.7.2.2.1.5.2.2"), Value::Integer(50_000)), // print, full colour
        (MARKER_LIFE_1.into(), Value::Counter32(123_456)),
    ]
}

#[test]
fn konica_identity() {
    let snap = snapshot(owned(&bizhub()));
    assert_eq!(snap.profile.as_deref(), Some("konica"));
    assert_eq!(snap.vendor.as_deref(), Some("Konica Minolta"));
    assert_eq!(snap.family.as_deref(), Some("Konica Minolta"));
    assert_eq!(snap.model.as_deref(), Some("bizhub C458"));
    assert_eq!(snap.serial.as_deref(), Some("AA2J021012345"));
    assert_eq!(snap.firmware.as_deref(), Some("G00-R3"));
}

#[test]
fn konica_counters_and_sums() {
    let snap = snapshot(owned(&bizhub()));
    assert_eq!(snap.meter("total"), Some(123_456));
    assert_eq!(snap.meter("copy_mono"), Some(10_000));
    assert_eq!(snap.meter("print_mono"), Some(60_000));
    assert_eq!(snap.meter("copy_color"), Some(3_456));
    assert_eq!(snap.meter("print_color"), Some(50_000));
    assert_eq!(snap.meter("total_mono"), Some(70_000));
    assert_eq!(snap.meter("total_color"), Some(53_456));
    assert_eq!(snap.meter("duplex"), Some(20_000));
    assert_eq!(snap.meter("scan"), Some(7_777));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn develop_ineo_is_develop_in_the_konica_family() {
    let snap = snapshot(vec![
        (SYS_DESCR, text("Develop ineo  280")),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.18334.1.2.1.2.1.50.2.2"),
        ),
        (km("1.6.2.1.0").as_str(), text("Develop ineo 280")),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Develop"));
    assert_eq!(snap.family.as_deref(), Some("Konica Minolta"));
    assert_eq!(snap.model.as_deref(), Some("Develop ineo 280"));
    // A mono model: no colour counters, so no colour sum.
    let mono = snapshot(vec![
        (SYS_DESCR, text("KONICA MINOLTA bizhub 4050")),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.18334.1.1.1.2.1.10008.1.1"),
        ),
        (km("5.7.2.2.1.5.1.2").as_str(), Value::Integer(900)),
        (km("5.7.2.2.1.5.1.1").as_str(), Value::Integer(100)),
    ]);
    assert_eq!(mono.model.as_deref(), Some("bizhub 4050"));
    assert_eq!(mono.meter("total_mono"), Some(1_000));
    assert_eq!(mono.meter("total_color"), None);
}

#[test]
fn konica_hostile_values_stay_sane() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"KONICA MINOLTA \xc0\xff".to_vec()),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.18334")),
        (km("1.6.2.1.0").as_str(), Value::OctetString(vec![])),
        (km("5.7.2.1.1.0").as_str(), Value::Integer(i32::MIN)),
        (km("5.7.2.2.1.5.1.1").as_str(), Value::Counter32(u32::MAX)),
        (km("5.7.2.2.1.5.1.2").as_str(), Value::Counter32(u32::MAX)),
        (
            km("5.7.2.2.1.5.2.1").as_str(),
            Value::IpAddress([1, 2, 3, 4]),
        ),
        (km("5.7.2.2.1.5.2.2").as_str(), Value::Integer(5)),
        (km("5.7.2.1.5.0").as_str(), Value::NoSuchInstance),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Konica Minolta"));
    assert_eq!(snap.model.as_deref(), Some("\u{c0}\u{ff}"));
    assert_eq!(snap.meter("total"), None);
    assert_eq!(snap.meter("total_mono"), Some(2 * u64::from(u32::MAX)));
    assert_eq!(snap.meter("copy_color"), None);
    assert_eq!(snap.meter("total_color"), None);
    assert_eq!(snap.meter("scan"), None);
}
