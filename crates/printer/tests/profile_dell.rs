//! The Dell profile (profiles/dell.toml) on fixtures of our own: Dell printers
//! built by Lexmark and by Fuji Xerox.

mod support;

use printwatch_snmp::Value;
use support::*;

#[test]
fn dell_lexmark_built_with_dell_object_id() {
    let key = "1.3.6.1.4.1.641.6.4.2.1.1.2.1";
    let value = "1.3.6.1.4.1.641.6.4.2.1.1.4.1";
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text("Dell B3460dn Laser Printer version NH5.CY.N543 kernel 3.0.0 All-N-1"),
        ),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.674.10898.100.2.1.2.1.2.1"),
        ),
        (HR_DEVICE_TYPE_1, printer()),
        (HR_DEVICE_DESCR_1, text("Dell B3460dn Laser Printer")),
        ("1.3.6.1.4.1.641.6.2.3.1.5.1", text("7016ABC1234")),
        (format!("{key}.5").as_str(), Value::Integer(17)),
        (format!("{value}.5").as_str(), Value::Counter32(80_001)),
        (MARKER_LIFE_1, Value::Counter32(80_001)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("dell"));
    assert_eq!(snap.vendor.as_deref(), Some("Dell"));
    assert_eq!(snap.family.as_deref(), Some("Dell"));
    assert_eq!(snap.model.as_deref(), Some("B3460dn"));
    assert_eq!(snap.serial.as_deref(), Some("7016ABC1234"));
    assert_eq!(snap.firmware.as_deref(), Some("NH5.CY.N543"));
    assert_eq!(snap.meter("print_mono"), Some(80_001));
    assert_eq!(snap.meter("total"), Some(80_001));
}

#[test]
fn dell_fuji_xerox_built_from_sysdescr() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text("Dell MFP Laser 3115cn; Net 9.26, Controller 200709110910, Engine 05.09.00"),
        ),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.674.10898.10.52.1094473223"),
        ),
        (PRT_SERIAL_1, text("CN0ABC123")),
    ]);
    assert_eq!(snap.vendor.as_deref(), Some("Dell"));
    assert_eq!(snap.family.as_deref(), Some("Dell"));
    assert_eq!(snap.model.as_deref(), Some("MFP Laser 3115cn"));
    assert_eq!(snap.serial.as_deref(), Some("CN0ABC123"));
    assert_eq!(snap.firmware.as_deref(), Some("200709110910"));
    // Without a sysObjectID, the description alone finds Dell.
    let bare = snapshot(vec![(SYS_DESCR, text("Dell Color Laser"))]);
    assert_eq!(bare.profile.as_deref(), Some("dell"));
    assert_eq!(bare.family.as_deref(), Some("Dell"));
    assert_eq!(bare.model.as_deref(), Some("Color Laser"));
}

#[test]
fn dell_hostile_values_stay_sane() {
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            Value::OctetString(b"Dell \xff\xfe version".to_vec()),
        ),
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.674.10898")),
        (HR_DEVICE_DESCR_1, Value::Integer(0)),
        (
            "1.3.6.1.4.1.641.6.4.2.1.1.2.1.1",
            Value::OctetString(vec![0x31, 0x37, 0xff]),
        ),
        ("1.3.6.1.4.1.641.6.4.2.1.1.4.1.1", Value::Integer(12)),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Dell"));
    assert_eq!(snap.firmware, None);
    assert_eq!(snap.meter("print_mono"), None);
}

#[test]
fn dell_lexmark_built_scan_rows_give_no_scan_meter() {
    // As for Lexmark: scanCountTable rows are per scan type and paper size,
    // which a select over type keys cannot sum (see lexmark.toml).
    let snap = snapshot(vec![
        (
            SYS_DESCR,
            text("Dell B3465dnf Laser MFP version NH5.CY.N543 kernel 3.0.0 All-N-1"),
        ),
        (
            SYS_OBJECT_ID,
            object_id("1.3.6.1.4.1.674.10898.100.2.1.2.1.2.1"),
        ),
        ("1.3.6.1.4.1.641.6.4.3.1.1.2.1.1", Value::Integer(3)),
        ("1.3.6.1.4.1.641.6.4.3.1.1.4.1.1", Value::Counter32(90)),
        ("1.3.6.1.4.1.641.6.4.3.1.1.2.1.2", Value::Integer(3)),
        ("1.3.6.1.4.1.641.6.4.3.1.1.4.1.2", Value::Counter32(15)),
        (MARKER_LIFE_1, Value::Counter32(500)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("dell"));
    assert_eq!(snap.meter("scan"), None, "{:?}", snap.meters);
    assert_eq!(snap.meter("total"), Some(500));
}

#[test]
fn dell_model_from_the_device_ids_as_the_device_names_itself() {
    let base = |extra: (&'static str, Value)| {
        snapshot(vec![
            (SYS_DESCR, text("Dell Laser Printer 5310n")),
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.674.10898.100.1.1.37")),
            (HR_DEVICE_TYPE_1, printer()),
            (HR_DEVICE_DESCR_1, text("Dell Laser Printer 5310n")),
            extra,
        ])
    };
    // Fuji Xerox-built: XCMI device ID, MDL.
    let snap = base((
        "1.3.6.1.4.1.253.8.51.10.2.1.7.2.28110202",
        text(
            "MFG:Dell;CMD:PJL,PCLXL;MDL:Laser Printer 3100cn;DES:Dell Laser Printer 3100cn;CLS:PRINTER;",
        ),
    ));
    assert_eq!(snap.model.as_deref(), Some("Laser Printer 3100cn"));
    // Dell's own and Lexmark's device IDs: MODEL.
    let snap = base((
        "1.3.6.1.4.1.674.10898.100.2.1.2.1.3.1",
        text("COMMAND SET:;MODEL:Dell Laser Printer 5310n"),
    ));
    assert_eq!(snap.model.as_deref(), Some("Dell Laser Printer 5310n"));
    let snap = base((
        "1.3.6.1.4.1.641.2.1.2.1.3.1",
        text("COMMAND SET:;MODEL:Dell Laser Printer 1700n"),
    ));
    assert_eq!(snap.model.as_deref(), Some("Dell Laser Printer 1700n"));
    // No device ID: hrDeviceDescr without the brand, as before.
    let snap = base((PRT_SERIAL_1, text("CN0XYZ")));
    assert_eq!(snap.model.as_deref(), Some("Laser Printer 5310n"));
}
