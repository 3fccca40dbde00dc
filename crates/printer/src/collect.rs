//! Collection: what to ask a device for, and the snapshot made from the
//! answers.
//!
//! The plan has two rounds: one GET of the identifying scalars (which choose
//! the profile), then one pass over the needed table columns side by side
//! (GETBULK) and one GET of the profile's scalars. The reading code
//! (`standard.rs`, `profile.rs`) reads only what the plan fetched, so a
//! snapshot from this collection equals one made from a full walk.

use printwatch_snmp::table::probe_tables;
use printwatch_snmp::{Oid, Poller, SnmpError, Value, VarBind};

use crate::mib::{MibView, col, oid, std_oids as o};
use crate::profile::ProfileSet;
use crate::snapshot::Snapshot;
use crate::standard;

/// What a collection fetches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub scalars: Vec<Oid>,
    /// Columns, with the rows a table of their kind usually has.
    pub columns: Vec<(Oid, u32)>,
}

impl Plan {
    /// Whether the plan fetches `oid`.
    pub fn covers(&self, oid: &Oid) -> bool {
        self.scalars.contains(oid)
            || self
                .columns
                .iter()
                .any(|(c, _)| oid.starts_with(c) && oid != c)
    }
}

/// The first round: scalars that identify the device, and the printer's
/// Host Resources row at the usual index 1.
pub fn first_round() -> Vec<Oid> {
    standard::plan(Some(1)).0
}

/// Everything a collection of this device fetches, given what the first
/// round (or a full walk) shows.
pub fn plan(view: &MibView, profiles: &ProfileSet) -> Plan {
    let index = standard::printer_device_index(view);
    let (mut scalars, mut columns) = standard::plan(index);
    scalars.extend(first_round());
    if let Some(profile) = profiles.select(view) {
        let (s, c) = profile.plan();
        scalars.extend(s);
        columns.extend(c);
    }
    scalars.sort();
    scalars.dedup();
    columns.sort();
    columns.dedup_by(|a, b| a.0 == b.0);
    Plan { scalars, columns }
}

/// Whether a device is a printer: Host Resources says so, or it has a
/// Printer-MIB.
pub fn is_printer(view: &MibView) -> bool {
    standard::printer_device_index(view).is_some()
        || view
            .column(&oid(o::PRT_GENERAL_SERIAL_NUMBER))
            .next()
            .is_some()
        || view.column(&col(o::PRT_MARKER, 4)).next().is_some()
        || view.column(&col(o::PRT_SUPPLIES, 6)).next().is_some()
}

/// Makes the snapshot from the objects of a device (collected or walked).
pub fn read_snapshot(target: &str, view: &MibView, profiles: &ProfileSet) -> Snapshot {
    let mut snap = Snapshot::new(target);
    standard::read(view, &mut snap);
    match profiles.select(view) {
        Some(profile) => profile.apply(view, &mut snap),
        None => {
            snap.family = snap
                .sys_object_id
                .as_deref()
                .and_then(|id| profiles.enterprise_family(id));
            snap.vendor = snap.family.clone();
        }
    }
    crate::pwg::read(view, &mut snap);
    if let Some((vendor, family)) = snap.sys_descr.as_deref().and_then(|d| profiles.brand(d)) {
        snap.vendor = Some(vendor);
        snap.family = Some(family);
    }
    finish(&mut snap);
    snap
}

/// Rules every snapshot follows, whatever the profile: `total` exists
/// whenever a page counter does, and disagreements are reported.
fn finish(snap: &mut Snapshot) {
    let marker = snap
        .meters
        .iter()
        .find(|m| m.name == "marker_life")
        .cloned();
    match (snap.meter("total"), marker) {
        (None, Some(marker)) => {
            let mut total = marker;
            total.name = "total".into();
            snap.meters.insert(0, total);
        }
        (Some(total), Some(marker)) if total != marker.value => {
            snap.warnings.push(format!(
                "vendor total {total} differs from prtMarkerLifeCount {}",
                marker.value
            ));
        }
        _ => {}
    }
    if let Some(serial) = &snap.serial {
        let trimmed = serial.trim().to_owned();
        snap.serial = (!trimmed.is_empty()).then_some(trimmed);
    }
}

/// Where the vendor subtrees of `scalars` (sorted) start: the parent of the
/// lowest scalar under each distinct prefix of eleven arcs
/// (`1.3.6.1.4.1.<enterprise>` and four more).
fn subtree_floors(scalars: &[Oid]) -> Vec<Oid> {
    let mut floors: Vec<Oid> = Vec::new();
    let mut last_prefix: Option<&[u32]> = None;
    for s in scalars {
        let arcs = s.arcs();
        let prefix = &arcs[..arcs.len().min(11)];
        if last_prefix != Some(prefix) {
            last_prefix = Some(prefix);
            floors.push(s.parent());
        }
    }
    floors
}

/// Leaves out of `scalars` those between `floor` and `next`, the object a
/// GETNEXT of `floor` found: the agent has nothing there.
fn drop_absent(scalars: &mut Vec<Oid>, floor: &Oid, next: &VarBind) {
    let end_of_view = next.value == Value::EndOfMibView;
    if end_of_view || !next.value.is_exception() {
        scalars.retain(|s| s <= floor || (!end_of_view && *s >= next.oid));
    }
}

/// Why a collection produced no snapshot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    #[error(transparent)]
    Snmp(#[from] SnmpError),
    #[error("{0} answered but is not a printer (no Printer-MIB, no hrPrinter device)")]
    NotAPrinter(String),
}

/// Collects one device.
pub async fn collect<P: Poller>(
    poller: &P,
    target: &str,
    profiles: &ProfileSet,
) -> Result<Snapshot, CollectError> {
    let mut view = MibView::new();
    view.extend(poller.get(&first_round()).await?);
    let profile = profiles.select(&view);
    let (_, mut columns) = standard::plan(None);
    if let Some(p) = profile {
        columns.extend(p.plan().1);
    }
    columns.sort();
    columns.dedup_by(|a, b| a.0 == b.0);
    let mut scalars: Vec<Oid> = profile.map(|p| p.plan().0).unwrap_or_default();
    let asked = first_round();
    scalars.retain(|o| !asked.contains(o));
    scalars.sort();
    scalars.dedup();
    // Pass 1: which tables exist. What the probes bring back is kept: the
    // object after an absent table is often one the profile wants (HP's
    // long 1284 device id), and it is not asked again.
    let probe = probe_tables(poller, &columns, &standard::deferred_tables()).await?;
    view.extend(probe.seen().cloned());
    // The first object from the start of each vendor subtree of the
    // profile's scalars: those before it are absent, so a device without
    // part of the vendor's tree is not asked for it. Pass 1 often tells
    // already; the others ride along in pass 2.
    let mut floors = Vec::new();
    for floor in subtree_floors(&scalars) {
        match probe.next_known(&floor) {
            Some(next) => drop_absent(&mut scalars, &floor, next),
            None => floors.push(floor),
        }
    }
    let anchors = standard::anchor_columns();
    let (reading, nexts) = probe.begin(poller, &anchors, &floors).await?;
    for (floor, next) in floors.iter().zip(nexts) {
        if let Some(next) = next {
            drop_absent(&mut scalars, floor, &next);
            view.extend([next]);
        }
    }
    scalars.retain(|o| view.get(o).is_none());
    let (table, extra) = futures::join!(reading.finish(poller), poller.get(&scalars));
    view.extend(table?);
    view.extend(extra?);
    // The printer is not device 1: its Host Resources row in one more GET.
    if let Some(index) = standard::printer_device_index(&view)
        && index != 1
    {
        scalars = standard::plan(Some(index)).0;
        view.extend(poller.get(&scalars).await?);
    }
    if !is_printer(&view) {
        return Err(CollectError::NotAPrinter(target.to_owned()));
    }
    Ok(read_snapshot(target, &view, profiles))
}
