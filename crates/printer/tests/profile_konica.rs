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

#[test]
fn konica_single_two_colour_large_and_scanner_counters() {
    let mut objects = bizhub();
    for (suffix, value) in [
        ("5.7.2.1.2.0", 41),     // scans, large
        ("5.7.2.1.6.0", 42),     // copies, single colour
        ("5.7.2.1.7.0", 43),     // prints, two colours, large
        ("5.7.2.1.8.0", 44),     // originals
        ("5.7.2.1.9.0", 45),     // sheets
        ("5.7.2.1.10.0", 46),    // printed
        ("5.7.2.2.1.5.3.1", 47), // copy, single colour (the scalar wins)
        ("5.7.2.2.1.5.3.2", 48), // print, single colour
        ("5.7.2.2.1.5.4.1", 49), // copy, two colours
        ("5.7.2.2.1.5.4.2", 50), // print, two colours
        ("5.7.2.2.1.7.1.1", 51), // large: copy black
        ("5.7.2.2.1.7.2.1", 52), // copy full colour
        ("5.7.2.2.1.7.3.1", 53), // copy single colour
        ("5.7.2.2.1.7.4.1", 54), // copy two colours
        ("5.7.2.2.1.7.1.2", 55), // print black
        ("5.7.2.2.1.7.2.2", 56), // print full colour
        ("5.7.2.2.1.7.3.2", 57), // print single colour
        ("5.7.2.2.1.7.4.2", 58), // print two colours (the scalar wins)
        ("5.7.2.3.1.6.1", 59),   // scanner table: large (the scalar wins)
        ("5.7.2.3.1.7.1", 60),
        ("5.7.2.3.1.11.1", 61),
        ("5.7.2.3.1.23.1", 62),
        ("5.7.2.3.1.24.1", 63),
    ] {
        objects.push((km(suffix), Value::Integer(value)));
    }
    let snap = snapshot(owned(&objects));
    let expect = [
        ("scan_large", 41, "5.7.2.1.2.0"),
        ("copy_single_color", 42, "5.7.2.1.6.0"),
        ("print_two_color_large", 43, "5.7.2.1.7.0"),
        ("originals", 44, "5.7.2.1.8.0"),
        ("sheets", 45, "5.7.2.1.9.0"),
        ("printed", 46, "5.7.2.1.10.0"),
        ("print_single_color", 48, "5.7.2.2.1.5.3.2"),
        ("copy_two_color", 49, "5.7.2.2.1.5.4.1"),
        ("print_two_color", 50, "5.7.2.2.1.5.4.2"),
        ("copy_mono_large", 51, "5.7.2.2.1.7.1.1"),
        ("copy_color_large", 52, "5.7.2.2.1.7.2.1"),
        ("copy_single_color_large", 53, "5.7.2.2.1.7.3.1"),
        ("copy_two_color_large", 54, "5.7.2.2.1.7.4.1"),
        ("print_mono_large", 55, "5.7.2.2.1.7.1.2"),
        ("print_color_large", 56, "5.7.2.2.1.7.2.2"),
        ("print_single_color_large", 57, "5.7.2.2.1.7.3.2"),
        ("print_mono_scanner_table", 60, "5.7.2.3.1.7.1"),
        ("print_color_scanner_table", 61, "5.7.2.3.1.11.1"),
        ("scan_sent_mono", 62, "5.7.2.3.1.23.1"),
        ("scan_sent_color", 63, "5.7.2.3.1.24.1"),
    ];
    for (name, value, suffix) in expect {
        assert_eq!(meter(&snap, name), (value, one(&km(suffix))), "{name}");
    }
    // Models with the table objects only.
    let table_only: Vec<_> = objects
        .iter()
        .filter(|(o, _)| {
            !["5.7.2.1.2.0", "5.7.2.1.6.0", "5.7.2.1.7.0"]
                .iter()
                .any(|s| *o == km(s))
        })
        .cloned()
        .collect();
    let snap = snapshot(owned(&table_only));
    assert_eq!(
        meter(&snap, "copy_single_color"),
        (47, one(&km("5.7.2.2.1.5.3.1")))
    );
    assert_eq!(
        meter(&snap, "print_two_color_large"),
        (58, one(&km("5.7.2.2.1.7.4.2")))
    );
    assert_eq!(meter(&snap, "scan_large"), (59, one(&km("5.7.2.3.1.6.1"))));
    // The counters kept before stay as they were.
    assert_eq!(snap.meter("total_mono"), Some(70_000));
    assert_eq!(snap.meter("total_color"), Some(53_456));
}
