//! Deltas: what changed between two snapshots of one device.
//!
//! A delta names the top-level fields that changed, with their new JSON
//! value, and for the two long lists (meters and supplies) the new length,
//! the items at new positions, and for positions that were there before
//! only the keys of the item that changed (a meter's `value`, a supply's
//! `level` and `percent`): a device collected every 15 minutes sends little
//! more than its new numbers. Everything else (status, console,
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

/// Changes of one list: its new length, the items set at positions, and
/// patches of items already there (their changed keys and new values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListDelta<T> {
    pub len: u32,
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<Indexed<T>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<Indexed<serde_json::Map<String, Value>>>,
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

    /// Positions of the meters set or patched (for logs).
    pub fn changed_meters(&self) -> Vec<u32> {
        self.meters
            .iter()
            .flat_map(|m| {
                m.set
                    .iter()
                    .map(|i| i.index)
                    .chain(m.patch.iter().map(|p| p.index))
            })
            .collect()
    }
}

/// Names a base state: hex of the first 8 bytes of the SHA-256 of the
/// snapshot's JSON. It guards against applying a delta to the wrong state
/// (an accident, not an attack: the envelope is authenticated), so 64 bits
/// do; every delta carries it, and a full hash doubled the bytes a device
/// sends a day.
pub fn digest(snapshot: &Snapshot) -> Result<String> {
    let bytes = serde_json::to_vec(snapshot)?;
    let hash = Sha256::digest(&bytes);
    Ok(hash[..8].iter().map(|b| format!("{b:02x}")).collect())
}

fn list_delta<T: Clone + PartialEq + Serialize>(
    old: &[T],
    new: &[T],
) -> Result<Option<ListDelta<T>>> {
    if old == new {
        return Ok(None);
    }
    let mut set = Vec::new();
    let mut patch = Vec::new();
    for (i, item) in new.iter().enumerate() {
        let index = i as u32;
        match old.get(i) {
            Some(before) if before == item => {}
            Some(before) => match changed_keys(before, item)? {
                Some(keys) => patch.push(Indexed { index, item: keys }),
                None => set.push(Indexed {
                    index,
                    item: item.clone(),
                }),
            },
            None => set.push(Indexed {
                index,
                item: item.clone(),
            }),
        }
    }
    Ok(Some(ListDelta {
        len: new.len() as u32,
        set,
        patch,
    }))
}

/// The keys of `new` whose values differ from `old`'s (a key gone is sent
/// as null); None when the items are not both JSON objects.
fn changed_keys<T: Serialize>(old: &T, new: &T) -> Result<Option<serde_json::Map<String, Value>>> {
    let (Value::Object(old), Value::Object(new)) =
        (serde_json::to_value(old)?, serde_json::to_value(new)?)
    else {
        return Ok(None);
    };
    let mut keys: serde_json::Map<String, Value> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        keys.insert(k.clone(), Value::Null);
    }
    Ok(Some(keys))
}

fn apply_list<T: Clone + Serialize + serde::de::DeserializeOwned>(
    list: &mut Vec<T>,
    delta: &ListDelta<T>,
) -> Result<()> {
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
    // Patches change items that were there: only positions kept.
    for p in &delta.patch {
        let slot = out
            .get_mut(p.index as usize)
            .filter(|slot| slot.is_some() && (p.index as usize) < list.len())
            .ok_or_else(|| {
                ProtocolError::Delta(format!("patch of a position {} not there before", p.index))
            })?;
        let Some(Value::Object(mut object)) =
            slot.as_ref().map(serde_json::to_value).transpose()?
        else {
            return Err(ProtocolError::Delta(
                "a list item is not a JSON object".into(),
            ));
        };
        for (k, v) in &p.item {
            object.insert(k.clone(), v.clone());
        }
        *slot = Some(
            serde_json::from_value(Value::Object(object))
                .map_err(|e| ProtocolError::Delta(format!("a patched item does not read: {e}")))?,
        );
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
        meters: list_delta(&old.meters, &new.meters)?,
        supplies: list_delta(&old.supplies, &new.supplies)?,
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
        assert_eq!(delta.changed_meters(), [3]);
        assert!(delta.supplies.is_none());
        // Only the value of the meter travels, not its name, unit or OID.
        let json = serde_json::to_string(&delta.meters).expect("json");
        assert_eq!(
            json,
            r#"{"len":5,"patch":[{"index":3,"item":{"value":99}}]}"#
        );
        assert_eq!(apply(&old, &delta).expect("applies"), new);
    }

    #[test]
    fn patches_apply_only_to_items_that_were_there() {
        let mut base = Snapshot::new("x");
        base.meters = vec![Meter {
            name: "total".into(),
            value: 1,
            unit: "impressions".into(),
            oid: Source::One("1.3".into()),
        }];
        let patch = |json: &str| -> SnapshotDelta { serde_json::from_str(json).expect("json") };
        // A new position cannot be a patch.
        assert!(
            apply(
                &base,
                &patch(r#"{"meters":{"len":2,"patch":[{"index":1,"item":{"value":5}}]}}"#)
            )
            .is_err()
        );
        // A patch that does not read as a meter is refused.
        assert!(
            apply(
                &base,
                &patch(r#"{"meters":{"len":1,"patch":[{"index":0,"item":{"value":"many"}}]}}"#)
            )
            .is_err()
        );
        assert!(
            apply(
                &base,
                &patch(r#"{"meters":{"len":0,"patch":[{"index":0,"item":{"value":5}}]}}"#)
            )
            .is_err()
        );
        let ok = apply(
            &base,
            &patch(r#"{"meters":{"len":1,"patch":[{"index":0,"item":{"value":5}}]}}"#),
        )
        .expect("applies");
        assert_eq!(ok.meters[0].value, 5);
        assert_eq!(ok.meters[0].name, "total");
    }

    #[test]
    fn bad_deltas_are_refused() {
        let base = Snapshot::new("x");
        let past_end = SnapshotDelta {
            meters: Some(ListDelta {
                len: 2,
                set: vec![],
                patch: vec![],
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
        assert_eq!(digest(&a).expect("d").len(), 16);
    }
}
