//! Deltas: what changed between two snapshots of one device.
//!
//! A delta names the top-level fields that changed, with their new JSON
//! value, and for the two long lists (meters and supplies) the positions
//! that changed and the new length. Everything else (status, console,
//! trays, alerts, warnings) is small and travels whole when it changes.
//! Applying the delta of `old → new` to `old` gives exactly `new`
//! (a property test below checks it), and [`digest`] names the base state
//! so that a delta is never applied to the wrong one.
//!
//! Working on the JSON form keeps the delta correct when the snapshot gains
//! fields: a new field is just another key.

use std::collections::BTreeMap;

use printwatch_snapshot::{Meter, Snapshot, Supply};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{ProtocolError, Result};

/// Changes of one list: its new length and the items set at positions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListDelta<T> {
    pub len: u32,
    pub set: Vec<Indexed<T>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Indexed<T> {
    pub index: u32,
    pub item: T,
}

/// The change from one snapshot of a device to the next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDelta {
    /// Changed top-level fields (other than meters and supplies).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meters: Option<ListDelta<Meter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplies: Option<ListDelta<Supply>>,
}

impl SnapshotDelta {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.meters.is_none() && self.supplies.is_none()
    }

    /// Names of the changed meters (for logs and the history).
    pub fn changed_meters(&self) -> Vec<&str> {
        self.meters
            .iter()
            .flat_map(|m| m.set.iter().map(|i| i.item.name.as_str()))
            .collect()
    }
}

/// Hex SHA-256 of the snapshot's JSON: names a base state.
pub fn digest(snapshot: &Snapshot) -> Result<String> {
    let bytes = serde_json::to_vec(snapshot)?;
    let hash = Sha256::digest(&bytes);
    Ok(hash.iter().map(|b| format!("{b:02x}")).collect())
}

fn list_delta<T: Clone + PartialEq>(old: &[T], new: &[T]) -> Option<ListDelta<T>> {
    if old == new {
        return None;
    }
    let set = new
        .iter()
        .enumerate()
        .filter(|(i, item)| old.get(*i) != Some(item))
        .map(|(i, item)| Indexed {
            index: i as u32,
            item: item.clone(),
        })
        .collect();
    Some(ListDelta {
        len: new.len() as u32,
        set,
    })
}

fn apply_list<T: Clone>(list: &mut Vec<T>, delta: &ListDelta<T>) -> Result<()> {
    let len = delta.len as usize;
    // Every position past the old end must be set by the delta. `len` is
    // the sender's word: checked against the items sent before anything
    // is allocated for it (4 GiB for a bare u32::MAX otherwise).
    if len > list.len() {
        if len - list.len() > delta.set.len() {
            return Err(ProtocolError::Delta(
                "a new list position is not set".into(),
            ));
        }
        let mut covered = vec![false; len - list.len()];
        for i in &delta.set {
            if let Some(slot) = (i.index as usize)
                .checked_sub(list.len())
                .and_then(|k| covered.get_mut(k))
            {
                *slot = true;
            }
        }
        if covered.iter().any(|c| !c) {
            return Err(ProtocolError::Delta(
                "a new list position is not set".into(),
            ));
        }
    }
    let mut out: Vec<Option<T>> = list.iter().take(len).cloned().map(Some).collect();
    out.resize(len, None);
    for i in &delta.set {
        let slot = out
            .get_mut(i.index as usize)
            .ok_or_else(|| ProtocolError::Delta(format!("index {} past length {len}", i.index)))?;
        *slot = Some(i.item.clone());
    }
    *list = out.into_iter().flatten().collect();
    Ok(())
}

const LISTS: [&str; 2] = ["meters", "supplies"];

/// The delta that turns `old` into `new`.
pub fn diff(old: &Snapshot, new: &Snapshot) -> Result<SnapshotDelta> {
    let (Value::Object(old_fields), Value::Object(new_fields)) =
        (serde_json::to_value(old)?, serde_json::to_value(new)?)
    else {
        return Err(ProtocolError::Delta(
            "a snapshot is not a JSON object".into(),
        ));
    };
    let mut fields = BTreeMap::new();
    for (name, value) in new_fields {
        if LISTS.contains(&name.as_str()) {
            continue;
        }
        if old_fields.get(&name) != Some(&value) {
            fields.insert(name, value);
        }
    }
    Ok(SnapshotDelta {
        fields,
        meters: list_delta(&old.meters, &new.meters),
        supplies: list_delta(&old.supplies, &new.supplies),
    })
}

/// Apply `delta` to `base`, giving the new snapshot.
pub fn apply(base: &Snapshot, delta: &SnapshotDelta) -> Result<Snapshot> {
    let mut next = base.clone();
    if let Some(m) = &delta.meters {
        apply_list(&mut next.meters, m)?;
    }
    if let Some(s) = &delta.supplies {
        apply_list(&mut next.supplies, s)?;
    }
    if delta.fields.is_empty() {
        return Ok(next);
    }
    let Value::Object(mut object) = serde_json::to_value(&next)? else {
        return Err(ProtocolError::Delta(
            "a snapshot is not a JSON object".into(),
        ));
    };
    for (name, value) in &delta.fields {
        if LISTS.contains(&name.as_str()) {
            return Err(ProtocolError::Delta(format!(
                "{name} must travel as a list delta"
            )));
        }
        object.insert(name.clone(), value.clone());
    }
    serde_json::from_value(Value::Object(object))
        .map_err(|e| ProtocolError::Delta(format!("the result is not a snapshot: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_snapshot::{Alert, Source};
    use proptest::prelude::*;

    fn meter() -> impl Strategy<Value = Meter> {
        (
            prop::sample::select(vec![
                "total",
                "marker_life",
                "total_mono",
                "total_color",
                "fax",
            ]),
            any::<u64>(),
        )
            .prop_map(|(name, value)| Meter {
                name: name.into(),
                value,
                unit: "impressions".into(),
                oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
            })
    }

    fn supply() -> impl Strategy<Value = Supply> {
        (
            prop::sample::select(vec!["black", "cyan", "magenta", "yellow"]),
            prop::option::of(-3i64..1000),
            prop::option::of(0.0f64..100.0),
            prop::sample::select(vec!["ok", "low", "empty", "unknown"]),
        )
            .prop_map(|(color, level, percent, state)| Supply {
                description: format!("{color} toner"),
                kind: "toner".into(),
                color: Some(color.into()),
                level,
                max: Some(1000),
                percent,
                state: state.into(),
                unit: Some("percent".into()),
                part_number: None,
                serial: None,
                oid: None,
            })
    }

    prop_compose! {
        fn snapshot()(
            serial in prop::option::of("[A-Z0-9]{4,8}"),
            location in prop::option::of(".{0,12}"),
            color in prop::option::of(any::<bool>()),
            console in prop::collection::vec("[ -~]{0,16}", 0..3),
            meters in prop::collection::vec(meter(), 0..6),
            supplies in prop::collection::vec(supply(), 0..5),
            alerts in prop::collection::vec("[a-z_]{1,10}", 0..3),
            errors in prop::collection::vec("[a-z_]{1,10}", 0..3),
            second in 0u32..60,
        ) -> Snapshot {
            let mut s = Snapshot::new("192.0.2.1");
            s.collected_at = format!("2025-01-01T00:00:{second:02}Z");
            s.family = Some("Ricoh".into());
            s.serial = serial;
            s.location = location;
            s.color = color;
            s.console = console;
            s.meters = meters;
            s.supplies = supplies;
            s.status.errors = errors;
            s.alerts = alerts.into_iter().map(|code| Alert {
                severity: "warning".into(),
                group: "other".into(),
                code,
                description: None,
                location: None,
            }).collect();
            s
        }
    }

    proptest! {
        #[test]
        fn applying_the_diff_gives_the_new_snapshot(old in snapshot(), new in snapshot()) {
            let delta = diff(&old, &new).expect("diff");
            prop_assert_eq!(apply(&old, &delta).expect("apply"), new.clone());
            // And the delta survives the wire.
            let wire: SnapshotDelta = serde_json::from_str(&serde_json::to_string(&delta).expect("json")).expect("parse");
            prop_assert_eq!(apply(&old, &wire).expect("apply"), new);
        }

        #[test]
        fn a_snapshot_differs_from_itself_by_nothing(s in snapshot()) {
            prop_assert!(diff(&s, &s).expect("diff").is_empty());
        }
    }

    #[test]
    fn only_changes_travel() {
        let mut old = Snapshot::new("192.0.2.1");
        old.collected_at = "2025-01-01T00:00:00Z".into();
        old.meters = (0..5)
            .map(|i| Meter {
                name: format!("m{i}"),
                value: i,
                unit: "impressions".into(),
                oid: Source::One("1.3".into()),
            })
            .collect();
        let mut new = old.clone();
        new.collected_at = "2025-01-01T01:00:00Z".into();
        new.meters[3].value = 99;
        let delta = diff(&old, &new).expect("diff");
        assert_eq!(delta.fields.keys().collect::<Vec<_>>(), ["collected_at"]);
        assert_eq!(delta.changed_meters(), ["m3"]);
        assert!(delta.supplies.is_none());
    }

    #[test]
    fn bad_deltas_are_refused() {
        let base = Snapshot::new("x");
        let past_end = SnapshotDelta {
            meters: Some(ListDelta {
                len: 2,
                set: vec![],
            }),
            ..Default::default()
        };
        assert!(apply(&base, &past_end).is_err());
        // Refused before allocating for the claimed length.
        let huge: SnapshotDelta =
            serde_json::from_str(r#"{"supplies":{"len":4294967295,"set":[]}}"#).expect("json");
        assert!(apply(&base, &huge).is_err());
        let mut list_as_field = SnapshotDelta::default();
        list_as_field
            .fields
            .insert("meters".into(), Value::Array(vec![]));
        assert!(apply(&base, &list_as_field).is_err());
        let mut wrong_type = SnapshotDelta::default();
        wrong_type.fields.insert("console".into(), Value::from(3));
        assert!(apply(&base, &wrong_type).is_err());
    }

    #[test]
    fn digests_name_states() {
        let a = Snapshot::new("x");
        let mut b = a.clone();
        assert_eq!(digest(&a).expect("d"), digest(&b).expect("d"));
        b.serial = Some("1".into());
        assert_ne!(digest(&a).expect("d"), digest(&b).expect("d"));
        assert_eq!(digest(&a).expect("d").len(), 64);
    }
}
