//! The HP profile (profiles/hp.toml) on fixtures of our own, written from
//! HP-LASERJET-COMMON-MIB.

mod support;

use printwatch_snmp::Value;
use support::*;

const HP: &str = "1.3.6.1.4.1.11.2.3.9.4.2.1";

fn hp(suffix: &str) -> String {
    format!("{HP}.{suffix}")
}

fn colour_mfp() -> Vec<(String, Value)> {
    vec![
        (
            SYS_DESCR.into(),
            text(
                "HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI24090012,CIDATE 02/05/2024",
            ),
        ),
        (SYS_OBJECT_ID.into(), object_id("1.3.6.1.4.1.11.2.3.9.1")),
        (HR_DEVICE_TYPE_1.into(), printer()),
        (
            HR_DEVICE_DESCR_1.into(),
            text("HP Color LaserJet MFP E87660"),
        ),
        (hp("1.3.2.0"), text("HP Color LaserJet MFP E87660")),
        (hp("1.3.3.0"), text("CNXYZ12345")),
        (hp("1.3.5.0"), text("2409048_052910")),
        (hp("4.1.2.5.0"), Value::Integer(250_000)),
        (hp("4.1.2.6.0"), Value::Integer(150_000)),
        (hp("4.1.2.7.0"), Value::Integer(100_000)),
        (hp("4.1.2.22.0"), Value::Integer(40_000)),
        (hp("2.2.1.63.0"), Value::Integer(30_000)),
        (hp("3.7.1.32.0"), Value::Integer(1_200)),
        (hp("2.2.1.44.0"), Value::Integer(20_000)),
        (hp("2.2.1.74.0"), Value::Integer(5_000)),
        (MARKER_LIFE_1.into(), Value::Counter32(250_000)),
        (
            "1.3.6.1.2.1.43.11.1.1.6.1.1".into(),
            text("Black Cartridge HP W9030MC"),
        ),
        ("1.3.6.1.2.1.43.11.1.1.5.1.1".into(), Value::Integer(3)),
        ("1.3.6.1.2.1.43.11.1.1.8.1.1".into(), Value::Integer(100)),
        ("1.3.6.1.2.1.43.11.1.1.9.1.1".into(), Value::Integer(60)),
        (
            "1.3.6.1.2.1.43.11.1.1.6.1.2".into(),
            text("Fuser Kit HP 110V-C1N54A, 220V-C1N58A"),
        ),
        ("1.3.6.1.2.1.43.11.1.1.5.1.2".into(), Value::Integer(15)),
        ("1.3.6.1.2.1.43.11.1.1.8.1.2".into(), Value::Integer(100)),
        ("1.3.6.1.2.1.43.11.1.1.9.1.2".into(), Value::Integer(84)),
    ]
}

#[test]
fn hp_identity_from_the_laserjet_mib() {
    let snap = snapshot(owned(&colour_mfp()));
    assert_eq!(snap.profile.as_deref(), Some("hp"));
    assert_eq!(snap.vendor.as_deref(), Some("HP"));
    assert_eq!(snap.family.as_deref(), Some("HP"));
    assert_eq!(snap.model.as_deref(), Some("Color LaserJet MFP E87660"));
    assert_eq!(snap.serial.as_deref(), Some("CNXYZ12345"));
    assert_eq!(snap.firmware.as_deref(), Some("2409048_052910"));
}

#[test]
fn hp_meters_from_the_print_engine_scanner_and_fax() {
    let snap = snapshot(owned(&colour_mfp()));
    assert_eq!(snap.meter("total"), Some(250_000));
    assert_eq!(snap.meter("total_mono"), Some(150_000));
    assert_eq!(snap.meter("total_color"), Some(100_000));
    assert_eq!(snap.meter("duplex"), Some(40_000));
    let duplex = snap.meters.iter().find(|m| m.name == "duplex");
    assert_eq!(duplex.map(|m| m.unit.as_str()), Some("sheets"));
    assert_eq!(snap.meter("copy"), Some(30_000));
    assert_eq!(snap.meter("fax"), Some(1_200));
    assert_eq!(snap.meter("scan"), Some(25_000));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn hp_part_numbers_from_supply_descriptions() {
    let snap = snapshot(owned(&colour_mfp()));
    assert_eq!(snap.supplies[0].part_number.as_deref(), Some("W9030MC"));
    assert_eq!(snap.supplies[1].part_number.as_deref(), Some("C1N54A"));
}

#[test]
fn hp_jetdirect_sysdescr_alone() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "HP ETHERNET MULTI-ENVIRONMENT,SN:VNB3K12345,FN:1F31B6C,SVCID:12345,PID:Front desk",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.11.2.3.9.1")),
        (HR_DEVICE_DESCR_1, text("HP LaserJet Pro M404dn")),
        (HR_DEVICE_TYPE_1, printer()),
    ]);
    assert_eq!(snap.model.as_deref(), Some("LaserJet Pro M404dn"));
    assert_eq!(snap.serial.as_deref(), Some("VNB3K12345"));
    // FN: is not a firmware version.
    assert_eq!(snap.firmware, None);
    let old = snapshot(vec![
        (
            SYS_DESCR,
            text("HP ETHERNET MULTI-ENVIRONMENT,ROM J.sp.00,JETDIRECT EX,JD28 EEPROM 5.58"),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.11.1")),
        (
            "1.3.6.1.4.1.11.2.3.9.1.1.7.0",
            text("MFG:Hewlett-Packard;CMD:PJL,PCL;MDL:HP LaserJet 4050 Series ;CLS:PRINTER;"),
        ),
    ]);
    assert_eq!(old.model.as_deref(), Some("LaserJet 4050 Series"));
    assert_eq!(old.firmware.as_deref(), Some("5.58"));
}

#[test]
fn hp_hostile_values_stay_sane() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"HP \xff\xfe\0garbage".to_vec()),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.11.2.3.9.1")),
        (
            hp("1.3.2.0").as_str(),
            Value::OctetString(vec![0xc3, 0x28, 0x41]),
        ),
        (hp("1.3.3.0").as_str(), Value::Integer(7)),
        (hp("4.1.2.5.0").as_str(), Value::Integer(-1)),
        (hp("4.1.2.6.0").as_str(), text("not a number")),
        (hp("4.1.2.7.0").as_str(), Value::Counter64(u64::MAX)),
        (
            hp("4.1.2.22.0").as_str(),
            Value::OctetString(b" 1234\0".to_vec()),
        ),
        // Half of the scan sum only: no scan meter.
        (hp("2.2.1.44.0").as_str(), Value::Integer(5)),
        (MARKER_LIFE_1, Value::Counter32(4_000_000_000)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("HP"));
    assert_eq!(snap.model.as_deref(), Some("\u{c3}(A"));
    assert_eq!(snap.serial.as_deref(), Some("7"));
    // The negative, textual and out-of-range totals are dropped; the
    // marker count stands in for total.
    assert_eq!(snap.meter("total"), Some(4_000_000_000));
    assert_eq!(snap.meter("total_mono"), None);
    assert_eq!(snap.meter("total_color"), None);
    assert_eq!(snap.meter("duplex"), Some(1234));
    assert_eq!(snap.meter("scan"), None);
}

#[test]
fn hp_model_from_the_other_keys_of_the_device_id() {
    for (id, model) in [
        (
            "MFG:Hewlett-Packard;CMD:PJL,PCL;MODEL:HP LaserJet P3005;CLASS:PRINTER;",
            "LaserJet P3005",
        ),
        (
            "MANUFACTURER:HP;COMMAND SET:PJL;DES:HP Officejet Pro 8600;CLS:PRINTER",
            "Officejet Pro 8600",
        ),
        (
            "MANUFACTURER:HP;DESCRIPTION:Hewlett-Packard Color LaserJet CP2025",
            "Color LaserJet CP2025",
        ),
    ] {
        let snap = snapshot(vec![
            (
                SYS_DESCR,
                text("HP ETHERNET MULTI-ENVIRONMENT,ROM none,JETDIRECT,JD153,EEPROM JSI23900010"),
            ),
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.11.2.3.9.1")),
            ("1.3.6.1.4.1.11.2.3.9.1.1.7.0", text(id)),
        ]);
        assert_eq!(snap.model.as_deref(), Some(model), "{id}");
    }
}
