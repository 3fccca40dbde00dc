//! A targeted collection skips nothing: for every real recording, the
//! snapshot made from only what the collection plan fetches equals the one
//! made from the whole walk (issue 3: "the snapshot it produces is identical
//! to the one produced from a full walk of the same device").
//!
//! No network: each recording (snmprec, and PrintMaster's JSON walks, whose
//! `hex_value` is authoritative) is read into a [`MibView`], the plan is
//! computed with [`collect::plan`], and [`read_snapshot`] runs on the whole
//! view and on `view.restricted(|o| plan.covers(o))`. `collected_at` is
//! ignored.
//!
//! Environment: `PRINTWATCH_RECORDINGS` (default
//! `<workspace>/../shared/recordings`); without the folder, or a part of
//! it, the test records a skip (`printwatch_testkit`), a failure under
//! `PRINTWATCH_REQUIRE_ALL=1`.

use std::io::Write as _;
use std::path::Path;

use printwatch_printer::{MibView, ProfileSet, Snapshot, collect, read_snapshot};
use printwatch_snmp::{Oid, Value, VarBind, snmprec};

fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Skip (recorded) or, under `PRINTWATCH_REQUIRE_ALL=1`, fail.
fn missing(why: &str) {
    printwatch_testkit::skip(why, "");
}

/// One PrintMaster JSON record (`oid`, `type`, `value`, `hex_value`) as a
/// varbind; `hex_value` wins over `value` for strings.
fn printmaster_record(record: &serde_json::Value) -> Result<VarBind, String> {
    let field = |name: &str| record.get(name).and_then(serde_json::Value::as_str);
    let oid: Oid = field("oid")
        .ok_or("no oid")?
        .trim_start_matches('.')
        .parse()
        .map_err(|e| format!("bad oid: {e:?}"))?;
    let text = field("value").unwrap_or("");
    let number = || {
        text.trim()
            .parse::<i64>()
            .map_err(|e| format!("{oid}: {e}"))
    };
    let unsigned = || {
        text.trim()
            .parse::<u32>()
            .map_err(|e| format!("{oid}: {e}"))
    };
    let value = match field("type").ok_or("no type")? {
        "Integer" => Value::Integer(i32::try_from(number()?).map_err(|e| e.to_string())?),
        "OctetString" => match field("hex_value") {
            Some(hex) => Value::OctetString(
                (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("{oid}: bad hex: {e}"))?,
            ),
            None => Value::OctetString(text.as_bytes().to_vec()),
        },
        "Counter32" => Value::Counter32(unsigned()?),
        "Gauge32" => Value::Gauge32(unsigned()?),
        "TimeTicks" => Value::TimeTicks(unsigned()?),
        "Counter64" => Value::Counter64(text.trim().parse().map_err(|e| format!("{oid}: {e}"))?),
        "IPAddress" | "IpAddress" => Value::IpAddress(
            text.trim()
                .parse::<std::net::Ipv4Addr>()
                .map_err(|e| format!("{oid}: {e}"))?
                .octets(),
        ),
        "ObjectIdentifier" => Value::ObjectId(
            text.trim_start_matches('.')
                .parse()
                .map_err(|e| format!("{oid}: bad OID value: {e:?}"))?,
        ),
        other => return Err(format!("{oid}: type {other} not understood")),
    };
    Ok(VarBind::new(oid, value))
}

/// A PrintMaster JSON walk: the first record of an OID is kept (as the
/// snmprec reader does); unreadable records are counted.
fn printmaster_walk(path: &Path) -> Result<(Vec<VarBind>, usize), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let records = json.as_array().ok_or("not a JSON array")?;
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    let mut bad = 0;
    for record in records {
        match printmaster_record(record) {
            Ok(vb) if seen.insert(vb.oid.clone()) => out.push(vb),
            Ok(_) => {}
            Err(_) => bad += 1,
        }
    }
    Ok((out, bad))
}

/// The snapshot as JSON, without its time stamp.
fn comparable(mut snap: Snapshot) -> serde_json::Value {
    snap.collected_at = String::new();
    serde_json::to_value(&snap).expect("a snapshot serialises")
}

/// The top-level keys (and for lists, the items) where two snapshots differ.
fn differences(full: &serde_json::Value, targeted: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(a), Some(b)) = (full.as_object(), targeted.as_object()) else {
        return vec!["not objects".into()];
    };
    for (key, x) in a {
        let y = b.get(key).unwrap_or(&serde_json::Value::Null);
        if x != y {
            out.push(format!("  {key}: full walk {x}\n  {key}: targeted  {y}"));
        }
    }
    out
}

/// Checks one device; returns a failure message, or `None`, and the
/// snapshot of the whole walk.
fn check(
    label: &str,
    records: Vec<VarBind>,
    profiles: &ProfileSet,
) -> (Option<String>, serde_json::Value) {
    let view = MibView::from_varbinds(records);
    let plan = collect::plan(&view, profiles);
    let targeted = view.restricted(|o| plan.covers(o));
    let full_snap = comparable(read_snapshot("recording", &view, profiles));
    let targeted_snap = comparable(read_snapshot("recording", &targeted, profiles));
    report(&format!(
        "{label}: {} objects, the plan fetches {} ({} scalars, {} columns), profile {}",
        view.len(),
        targeted.len(),
        plan.scalars.len(),
        plan.columns.len(),
        full_snap["profile"]
    ));
    let failure = (full_snap != targeted_snap).then(|| {
        format!(
            "{label}: the targeted snapshot differs from the full walk's:\n{}",
            differences(&full_snap, &targeted_snap).join("\n")
        )
    });
    (failure, full_snap)
}

#[test]
fn targeted_collection_equals_full_walk_on_every_recording() {
    let root = match printwatch_testkit::recordings::dir() {
        Ok(root) => root,
        Err(why) => return missing(&why),
    };
    let profiles = ProfileSet::embedded().expect("the embedded profiles load");
    let mut failures = Vec::new();
    let mut checked = 0;
    // Snapshots of the PrintMaster snmprec files, by device name, to compare
    // with the JSON walks they were converted from.
    let mut converted = std::collections::BTreeMap::new();
    for sub in [
        "librenms/snmprec",
        "librenms/detect-only",
        "printmaster/snmprec",
    ] {
        for path in printwatch_testkit::recordings::files(&root, sub, ".snmprec") {
            let bytes = std::fs::read(&path).expect("read a recording");
            let recording = snmprec::parse(&bytes);
            let label = format!("{sub}/{}", path.file_name().unwrap_or_default().display());
            checked += 1;
            let (failure, snap) = check(&label, recording.records, &profiles);
            failures.extend(failure);
            if let Some(device) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.strip_prefix("pm_"))
            {
                converted.insert(device.to_owned(), snap);
            }
        }
    }
    for path in printwatch_testkit::recordings::files(&root, "printmaster", "_snmp.json") {
        let label = format!(
            "printmaster/{}",
            path.file_name().unwrap_or_default().display()
        );
        match printmaster_walk(&path) {
            Ok((records, bad)) => {
                if bad > 0 {
                    report(&format!("{label}: {bad} records not understood, left out"));
                }
                checked += 1;
                let (failure, snap) = check(&label, records, &profiles);
                failures.extend(failure);
                // The same device, as converted to snmprec: same snapshot.
                let device = path
                    .file_name()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.strip_suffix("_snmp.json"))
                    .unwrap_or_default();
                if let Some(other) = converted.get(device)
                    && *other != snap
                {
                    failures.push(format!(
                        "{label}: the JSON walk and printmaster/snmprec/pm_{device}.snmprec give different snapshots:\n{}",
                        differences(other, &snap).join("\n")
                    ));
                }
            }
            Err(e) => failures.push(format!("{label}: cannot read: {e}")),
        }
    }
    assert!(checked > 0, "no recording under {}", root.display());
    report(&format!(
        "full_walk_equivalence: {} of {checked} recordings give the same snapshot from the plan as from the whole walk",
        checked - failures.len()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
