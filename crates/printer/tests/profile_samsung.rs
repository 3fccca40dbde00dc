//! The Samsung profile (profiles/samsung.toml) on fixtures of our own.

mod support;

use printwatch_snmp::Value;
use support::*;

const MODEL: &str = "1.3.6.1.4.1.236.11.5.11.53.31.1.4.0";

#[test]
fn samsung_identity_from_the_private_mib_and_sysdescr() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "Samsung SCX-4833FD Series;V2.00.01.27 Jan-10-2012;Engine V1.00.06;NIC V4.01.60(SCX-4833FD) 01-05-2012;S/N Z6R3BJEC123456",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.236.11.5.1")),
        (HR_DEVICE_TYPE_1, printer()),
        (HR_DEVICE_DESCR_1, text("Samsung SCX-4833FD Series")),
        (MODEL, text("SCX-4833FD Series")),
        (MARKER_LIFE_1, Value::Counter32(31_000)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("samsung"));
    assert_eq!(snap.vendor.as_deref(), Some("Samsung"));
    assert_eq!(snap.family.as_deref(), Some("Samsung"));
    assert_eq!(snap.model.as_deref(), Some("SCX-4833FD"));
    assert_eq!(snap.serial.as_deref(), Some("Z6R3BJEC123456"));
    assert_eq!(snap.firmware.as_deref(), Some("2.00.01.27"));
    assert_eq!(snap.meter("total"), Some(31_000));
}

#[test]
fn samsung_older_sysdescr_and_hp_rebadged() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "Samsung ML-2850 Series OS 1.01.15.47 02-10-2010;Engine 1.01.25;NIC V4.01.09(ML-285x)",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.236.11.5.1")),
        (PRT_SERIAL_1, text("Z2ABC123")),
    ]);
    assert_eq!(snap.model.as_deref(), Some("ML-2850"));
    assert_eq!(snap.firmware.as_deref(), Some("1.01.15.47"));
    assert_eq!(snap.serial.as_deref(), Some("Z2ABC123"));
    // Sold as HP since 2017: the brand on the device decides.
    let hp = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "HP Color Laser MFP 179fnw;V3.82.01.18 Aug-27-2021;Engine 1.00.37;NIC V4.01.00;S/N VNC3R12345",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.236.11.5.1")),
    ]);
    assert_eq!(hp.vendor.as_deref(), Some("HP"));
    assert_eq!(hp.family.as_deref(), Some("HP"));
    assert_eq!(hp.serial.as_deref(), Some("VNC3R12345"));
}

#[test]
fn samsung_hostile_values_stay_sane() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"Samsung \xfe;S/N \xff".to_vec()),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.236")),
        (MODEL, Value::Integer(3)),
        (PRT_SERIAL_1, Value::OctetString(b"   ".to_vec())),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Samsung"));
    assert_eq!(snap.model.as_deref(), Some("3"));
    assert_eq!(snap.serial, None);
    assert!(snap.meters.is_empty());
}
