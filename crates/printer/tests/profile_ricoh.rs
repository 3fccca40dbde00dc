//! The Ricoh profile (ricoh.toml) on fixtures of our own: the family's
//! brands, RICOH-PRIVATE-MIB identity and engine counters, hostile values.
#![allow(dead_code)] // fixture helpers shared by the profile tests

use printwatch_printer::{MibView, ProfileSet, Snapshot, Source, read_snapshot};
use printwatch_snmp::{Oid, Value, VarBind};

fn oid(s: &str) -> Oid {
    s.parse().expect("valid OID")
}

fn text(s: &str) -> Value {
    Value::OctetString(s.as_bytes().to_vec())
}

fn snapshot(objects: &[(&str, Value)]) -> Snapshot {
    let view = MibView::from_varbinds(objects.iter().map(|(o, v)| VarBind::new(oid(o), v.clone())));
    let profiles = ProfileSet::embedded().expect("embedded profiles load");
    read_snapshot("test", &view, &profiles)
}

fn meter(snap: &Snapshot, name: &str) -> (u64, Source) {
    let m = snap
        .meters
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no meter {name}: {:?}", snap.meters));
    (m.value, m.oid.clone())
}

fn one(o: &str) -> Source {
    Source::One(o.to_owned())
}

fn sum(oids: &[&str]) -> Source {
    Source::Sum(oids.iter().map(|o| (*o).to_owned()).collect())
}

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const HR_DEVICE_TYPE_1: &str = "1.3.6.1.2.1.25.3.2.1.2.1";
const HR_DEVICE_DESCR_1: &str = "1.3.6.1.2.1.25.3.2.1.3.1";
const PRT_SERIAL_1: &str = "1.3.6.1.2.1.43.5.1.1.17.1";
const MARKER_LIFE: &str = "1.3.6.1.2.1.43.10.2.1.4.1.1";

fn printer_device() -> (&'static str, Value) {
    (
        HR_DEVICE_TYPE_1,
        Value::ObjectId(oid("1.3.6.1.2.1.25.3.1.5")),
    )
}

fn object_id(s: &str) -> Value {
    Value::ObjectId(oid(s))
}

const SYS_NAME: &str = "1.3.6.1.4.1.367.3.2.1.1.1.1.0";
const SYS_VERS: &str = "1.3.6.1.4.1.367.3.2.1.1.1.2.0";
const ENG_SERIAL: &str = "1.3.6.1.4.1.367.3.2.1.2.1.4.0";
const TOTAL: &str = "1.3.6.1.4.1.367.3.2.1.2.19.1.0";
const PRINTER: &str = "1.3.6.1.4.1.367.3.2.1.2.19.2.0";
const FAX: &str = "1.3.6.1.4.1.367.3.2.1.2.19.3.0";
const COPIER: &str = "1.3.6.1.4.1.367.3.2.1.2.19.4.0";

#[test]
fn savin_is_a_ricoh_with_its_engine_counters() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            text(
                "SAVIN MP C4503 1.18 / SAVIN Network Printer C model / SAVIN Network Scanner C model",
            ),
        ),
        printer_device(),
        (HR_DEVICE_DESCR_1, text("SAVIN MP C4503")),
        (PRT_SERIAL_1, text("W000X0001")),
        (MARKER_LIFE, Value::Counter32(123_456)),
        (SYS_NAME, text("SAVIN MP C4503")),
        (SYS_VERS, text("1.18")),
        (ENG_SERIAL, text("G176X123456")),
        (TOTAL, Value::Integer(123_456)),
        (PRINTER, Value::Integer(100_000)),
        (FAX, Value::Integer(456)),
        (COPIER, Value::Integer(23_000)),
    ]);
    assert_eq!(snap.profile.as_deref(), Some("ricoh"));
    assert_eq!(snap.vendor.as_deref(), Some("Savin"));
    assert_eq!(snap.family.as_deref(), Some("Ricoh"));
    assert_eq!(snap.model.as_deref(), Some("MP C4503"));
    assert_eq!(snap.serial.as_deref(), Some("G176X123456"));
    assert_eq!(snap.firmware.as_deref(), Some("1.18"));
    assert_eq!(meter(&snap, "total"), (123_456, one(TOTAL)));
    assert_eq!(meter(&snap, "print"), (100_000, one(PRINTER)));
    assert_eq!(meter(&snap, "fax"), (456, one(FAX)));
    assert_eq!(meter(&snap, "copy"), (23_000, one(COPIER)));
    assert_eq!(meter(&snap, "marker_life"), (123_456, one(MARKER_LIFE)));
    assert!(snap.warnings.is_empty(), "{:?}", snap.warnings);
}

#[test]
fn every_brand_of_the_family_from_sys_descr() {
    for (descr, vendor, model, firmware) in [
        (
            "NRG SP 4210N 1.05 / NRG Network Printer C model",
            "NRG",
            "SP 4210N",
            "1.05",
        ),
        (
            "LANIER MP C3501/LD635C 2.01 / LANIER Network Printer C model",
            "Lanier",
            "MP C3501/LD635C",
            "2.01",
        ),
        (
            "Gestetner MPC2500/DSc525 1.71 / Gestetner Network Printer C model",
            "Gestetner",
            "MPC2500/DSc525",
            "1.71",
        ),
        (
            "RICOH Aficio MP 201 1.04 / RICOH Network Printer C model",
            "Ricoh",
            "Aficio MP 201",
            "1.04",
        ),
    ] {
        let snap = snapshot(&[
            (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
            (SYS_DESCR, text(descr)),
        ]);
        assert_eq!(snap.vendor.as_deref(), Some(vendor), "{descr}");
        assert_eq!(snap.family.as_deref(), Some("Ricoh"), "{descr}");
        assert_eq!(snap.model.as_deref(), Some(model), "{descr}");
        assert_eq!(snap.firmware.as_deref(), Some(firmware), "{descr}");
    }
}

#[test]
fn hostile_values_give_no_bogus_meter() {
    let snap = snapshot(&[
        (SYS_OBJECT_ID, object_id("1.3.6.1.4.1.367.1.1")),
        (
            SYS_DESCR,
            Value::OctetString(b"RICOH \xff\xfe\x00junk".to_vec()),
        ),
        printer_device(),
        (PRT_SERIAL_1, text("E335M123456")),
        (MARKER_LIFE, Value::Counter32(42)),
        (SYS_NAME, Value::OctetString(vec![0xc3, 0x28, 0xff])),
        (ENG_SERIAL, text("")),
        (TOTAL, Value::OctetString(vec![0xde, 0xad, 0xbe, 0xef])),
        (PRINTER, Value::Integer(-5)),
        (FAX, Value::Counter64(u64::MAX)),
        (COPIER, Value::Null),
    ]);
    assert_eq!(snap.family.as_deref(), Some("Ricoh"));
    // The empty engine serial leaves the Printer-MIB one.
    assert_eq!(snap.serial.as_deref(), Some("E335M123456"));
    for name in ["print", "fax", "copy"] {
        assert!(snap.meter(name).is_none(), "{name}: {:?}", snap.meters);
    }
    // The garbage total is ignored: prtMarkerLifeCount stands in.
    assert_eq!(meter(&snap, "total"), (42, one(MARKER_LIFE)));
}
