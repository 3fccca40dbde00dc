//! The OKI profile (profiles/oki.toml) on fixtures of our own.

mod support;

use printwatch_snmp::Value;
use support::*;

const MODEL: &str = "1.3.6.1.4.1.2001.1.1.1.1.11.1.10.25.0";
const SERIAL: &str = "1.3.6.1.4.1.2001.1.1.1.1.11.1.10.45.0";

#[test]
fn oki_identity_from_the_private_mib() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "OKI OkiLAN 8450e Rev.01.05 10/100BASE Ethernet PrintServer: Attached to C532 Rev.01.10 : Copyright (c)2017 Oki Data Corporation. All rights reserved.",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2001.1.1.1.1")),
        (HR_DEVICE_TYPE_1, printer()),
        (HR_DEVICE_DESCR_1, text("OKI C532")),
        (MODEL, text("OKI C532dn")),
        (SERIAL, text("AK7A012345")),
        (MARKER_LIFE_1, Value::Counter32(15_000)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("oki"));
    assert_eq!(snap.vendor.as_deref(), Some("OKI"));
    assert_eq!(snap.family.as_deref(), Some("OKI"));
    assert_eq!(snap.model.as_deref(), Some("C532dn"));
    assert_eq!(snap.serial.as_deref(), Some("AK7A012345"));
    assert_eq!(snap.firmware.as_deref(), Some("01.10"));
    assert_eq!(snap.meter("total"), Some(15_000));
}

#[test]
fn oki_print_server_sysdescr_alone() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "OKI OkiLAN 8500e Rev.01.23 10/100BASE Ethernet PrintServer: Attached to MC342 Rev.02.70 : Copyright (c)2011 Oki Data Corporation. All rights reserved.",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2001.1.1.1.1")),
        (PRT_SERIAL_1, text("AK12345678")),
    ]);
    assert_eq!(snap.model.as_deref(), Some("MC342"));
    assert_eq!(snap.serial.as_deref(), Some("AK12345678"));
    assert_eq!(snap.firmware.as_deref(), Some("02.70"));
}

#[test]
fn oki_hostile_values_stay_sane() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"OKI \xff Attached to".to_vec()),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2001")),
        (MODEL, Value::OctetString(b"\0\0\0".to_vec())),
        (SERIAL, Value::Counter64(u64::MAX)),
        (MARKER_LIFE_1, Value::Integer(-2)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("OKI"));
    assert_eq!(snap.model, None);
    assert_eq!(snap.serial, None);
    assert_eq!(snap.meter("total"), None);
}

#[test]
fn oki_model_from_the_jetdirect_style_device_id() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text(
                "OKI OkiLAN 8500e Rev.01.23 10/100BASE Ethernet PrintServer: Attached to MC3 Rev.02.70 : Copyright (c)2011 Oki Data Corporation.",
            ),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2001.1.2.1.1.100")),
        (
            "1.3.6.1.4.1.11.2.3.9.1.1.7.0",
            text("MFG:OKI DATA CORP;CMD:PCL,PJL,POSTSCRIPT;MDL:OKI MC363;CLS:PRINTER;"),
        ),
    ]);
    assert_eq!(snap.family.as_deref(), Some("OKI"));
    assert_eq!(snap.model.as_deref(), Some("MC363"));
    let des = snapshot(vec![
        (SYS_DESCR, text("OKI OkiLAN 6120e")),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.2001.1.2.1.1.100")),
        (
            "1.3.6.1.4.1.11.2.3.9.1.1.7.0",
            text("MANUFACTURER:OKI DATA CORP;DES:OKI B432;CLS:PRINTER"),
        ),
    ]);
    assert_eq!(des.model.as_deref(), Some("B432"));
}
