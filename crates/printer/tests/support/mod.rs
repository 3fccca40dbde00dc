//! Fixture helpers shared by the vendor-profile tests (profile_*.rs): a MIB
//! view built from (OID, value) pairs, value makers, the standard objects a
//! fixture names, and lookups in the resulting snapshot.
#![allow(dead_code)] // each test crate uses its own share of these

use std::borrow::Borrow;

use printwatch_printer::{MibView, ProfileSet, Snapshot, Source, read_snapshot};
use printwatch_snmp::{Oid, Value, VarBind};

/// sysDescr.0.
pub const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
/// sysObjectID.0.
pub const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
/// hrDeviceType of device 1.
pub const HR_DEVICE_TYPE_1: &str = "1.3.6.1.2.1.25.3.2.1.2.1";
/// hrDeviceDescr of device 1.
pub const HR_DEVICE_DESCR_1: &str = "1.3.6.1.2.1.25.3.2.1.3.1";
/// prtGeneralSerialNumber of printer 1.
pub const PRT_SERIAL_1: &str = "1.3.6.1.2.1.43.5.1.1.17.1";
/// prtMarkerLifeCount of printer 1, marker 1.
pub const MARKER_LIFE_1: &str = "1.3.6.1.2.1.43.10.2.1.4.1.1";
/// prtMarkerSuppliesDescription of printer 1, supply 1.
pub const SUPPLY_DESCR_1: &str = "1.3.6.1.2.1.43.11.1.1.6.1.1";
/// prtMarkerSuppliesLevel of printer 1, supply 1.
pub const SUPPLY_LEVEL_1: &str = "1.3.6.1.2.1.43.11.1.1.9.1.1";

/// Parses a dotted OID, panicking on a typo in a fixture.
pub fn oid(s: &str) -> Oid {
    s.parse().expect("valid OID")
}

/// An OCTET STRING holding `s`.
pub fn text(s: &str) -> Value {
    Value::OctetString(s.as_bytes().to_vec())
}

/// An OBJECT IDENTIFIER value.
pub fn object_id(s: &str) -> Value {
    Value::ObjectId(oid(s))
}

/// hrDeviceTypePrinter, the hrDeviceType value of a printer.
pub fn printer() -> Value {
    object_id("1.3.6.1.2.1.25.3.1.5")
}

/// Device 1 is a printer: the (hrDeviceType.1, hrDeviceTypePrinter) pair.
pub fn printer_device() -> (&'static str, Value) {
    (HR_DEVICE_TYPE_1, printer())
}

/// Borrows fixtures kept with owned OIDs as the (&str, Value) pairs `snapshot` takes.
pub fn owned(objects: &[(String, Value)]) -> Vec<(&str, Value)> {
    objects
        .iter()
        .map(|(o, v)| (o.as_str(), v.clone()))
        .collect()
}

/// The snapshot `read_snapshot` makes with the embedded profiles from the
/// (OID, value) pairs, given by value (a Vec) or by reference (a slice).
pub fn snapshot<'a>(objects: impl IntoIterator<Item = impl Borrow<(&'a str, Value)>>) -> Snapshot {
    let view = MibView::from_varbinds(objects.into_iter().map(|pair| {
        let (o, v) = pair.borrow();
        VarBind::new(oid(o), v.clone())
    }));
    let profiles = ProfileSet::embedded().expect("embedded profiles load");
    read_snapshot("192.0.2.30", &view, &profiles)
}

/// The meter `name` (panicking if absent): its value and where it came from.
pub fn meter(snap: &Snapshot, name: &str) -> (u64, Source) {
    let m = snap
        .meters
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no meter {name}: {:?}", snap.meters));
    (m.value, m.oid.clone())
}

/// A meter's source: one OID.
pub fn one(o: &str) -> Source {
    Source::One(o.to_owned())
}

/// A meter's source: the sum of these OIDs.
pub fn sum(oids: &[&str]) -> Source {
    Source::Sum(oids.iter().map(|o| (*o).to_owned()).collect())
}
