//! Pure ingest rules, tested without a database: meter readings and counter
//! resets, alerts opened and closed, usage over a period, times.

use std::collections::{BTreeSet, HashMap};

use printwatch_snapshot::{Alert, Meter, Snapshot};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A meter reading to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewReading {
    pub name: String,
    pub value: i64,
    pub reset: bool,
}

/// The readings to store for `meters`, given the last stored value of
/// each meter: only values that changed; a lower value is a reset.
/// Values beyond `i64::MAX` cannot be stored and are left out.
pub fn meter_changes(last: &HashMap<String, i64>, meters: &[Meter]) -> Vec<NewReading> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for m in meters {
        // The first meter of a name wins (names should be unique).
        if !seen.insert(m.name.as_str()) {
            continue;
        }
        let Ok(value) = i64::try_from(m.value) else {
            continue;
        };
        match last.get(&m.name) {
            Some(&prev) if prev == value => {}
            Some(&prev) => out.push(NewReading {
                name: m.name.clone(),
                value,
                reset: value < prev,
            }),
            None => out.push(NewReading {
                name: m.name.clone(),
                value,
                reset: false,
            }),
        }
    }
    out
}

/// Key of an alert: the same group and code is the same alert.
pub fn alert_key(group: &str, code: &str) -> (String, String) {
    (group.to_owned(), code.to_owned())
}

/// Which open alerts to close (their ids) and which current ones to open.
pub fn alert_changes<'a>(
    open: &[(i64, String, String)],
    current: &'a [Alert],
) -> (Vec<i64>, Vec<&'a Alert>) {
    let now: BTreeSet<_> = current
        .iter()
        .map(|a| alert_key(&a.group, &a.code))
        .collect();
    let open_keys: BTreeSet<_> = open.iter().map(|(_, g, c)| alert_key(g, c)).collect();
    let close = open
        .iter()
        .filter(|(_, g, c)| !now.contains(&alert_key(g, c)))
        .map(|(id, _, _)| *id)
        .collect();
    let mut opened = BTreeSet::new();
    let new = current
        .iter()
        .filter(|a| {
            let key = alert_key(&a.group, &a.code);
            !open_keys.contains(&key) && opened.insert(key)
        })
        .collect();
    (close, new)
}

/// Pages used across a series of readings of one meter, in time order,
/// starting from `baseline` (the last reading before the period, if any).
/// A reset counts the pages printed since the reset, never negative usage.
pub fn usage(baseline: Option<i64>, readings: &[(i64, bool)]) -> u64 {
    let mut total: u64 = 0;
    let mut prev = baseline;
    for &(value, reset) in readings {
        let delta = match prev {
            None => 0,
            Some(p) if reset || value < p => value.max(0),
            Some(p) => value - p,
        };
        total = total.saturating_add(delta.max(0) as u64);
        prev = Some(value);
    }
    total
}

/// UNIX seconds of an RFC 3339 time, if it parses.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(text).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// RFC 3339 (UTC, seconds) of UNIX seconds.
pub fn format_time(secs: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The start of month `YYYY-MM` and of the next, in UNIX seconds (UTC).
pub fn month_bounds(month: &str) -> Option<(i64, i64)> {
    let (y, m) = month.split_once('-')?;
    let (y, m): (i64, i64) = (y.parse().ok()?, m.parse().ok()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || month.len() != 7 {
        return None;
    }
    let start = parse_time(&format!("{y:04}-{m:02}-01T00:00:00Z"))?;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    let end = parse_time(&format!("{ny:04}-{nm:02}-01T00:00:00Z"))?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use printwatch_snapshot::Source;

    fn meter(name: &str, value: u64) -> Meter {
        Meter {
            name: name.into(),
            value,
            unit: "impressions".into(),
            oid: Source::One("1.3".into()),
        }
    }

    #[test]
    fn only_changed_meters_are_read_and_a_drop_is_a_reset() {
        let last = HashMap::from([("total".to_string(), 100), ("fax".to_string(), 5)]);
        let got = meter_changes(
            &last,
            &[
                meter("total", 150),
                meter("fax", 5),
                meter("scan", 1),
                meter("total", 1),
            ],
        );
        assert_eq!(
            got,
            vec![
                NewReading {
                    name: "total".into(),
                    value: 150,
                    reset: false
                },
                NewReading {
                    name: "scan".into(),
                    value: 1,
                    reset: false
                },
            ]
        );
        let got = meter_changes(&last, &[meter("total", 20), meter("big", u64::MAX)]);
        assert_eq!(
            got,
            vec![NewReading {
                name: "total".into(),
                value: 20,
                reset: true
            }]
        );
    }

    #[test]
    fn usage_never_goes_negative() {
        assert_eq!(usage(Some(100), &[(150, false), (170, false)]), 70);
        // Reset to 0 then 30 printed: 50 before, 30 after.
        assert_eq!(
            usage(Some(100), &[(150, false), (0, true), (30, false)]),
            80
        );
        // Reset to 10: the 10 since the reset count.
        assert_eq!(usage(Some(100), &[(10, true)]), 10);
        assert_eq!(usage(None, &[(500, false), (600, false)]), 100);
        assert_eq!(usage(None, &[]), 0);
    }

    #[test]
    fn alerts_open_and_close() {
        let alert = |group: &str, code: &str| Alert {
            severity: "warning".into(),
            group: group.into(),
            code: code.into(),
            description: None,
            location: None,
        };
        let open = vec![
            (1, "input".to_string(), "jam".to_string()),
            (2, "cover".into(), "open".into()),
        ];
        let current = vec![
            alert("cover", "open"),
            alert("marker", "toner_low"),
            alert("marker", "toner_low"),
        ];
        let (close, new) = alert_changes(&open, &current);
        assert_eq!(close, vec![1]);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].code, "toner_low");
    }

    #[test]
    fn months_and_times() {
        let (a, b) = month_bounds("2024-12").expect("month");
        assert_eq!(format_time(a), "2024-12-01T00:00:00Z");
        assert_eq!(format_time(b), "2025-01-01T00:00:00Z");
        for bad in [
            "2024-13",
            "2024-1",
            "x",
            "2024-00",
            "'; DROP TABLE devices; --",
        ] {
            assert!(month_bounds(bad).is_none(), "{bad}");
        }
        assert_eq!(parse_time("2025-01-01T00:00:10Z"), Some(1_735_689_610));
        assert_eq!(parse_time("yesterday"), None);
    }
}

/// How a device is doing, as the portal sorts and filters it (stored with
/// the device at each report, so that lists filter in the database).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Stopped until someone acts: jammed, a door open, out of paper or
    /// toner, offline, service requested, or `down`.
    Error,
    /// Working but wanting attention soon (low paper or toner, near-full
    /// output, maintenance due) or reporting `warning`.
    Warning,
    Ok,
    /// The device reports no status.
    Unknown,
}

/// hrPrinterDetectedErrorState conditions that stop a printer (RFC 3805
/// and the Host Resources MIB's meaning, not any vendor's).
const STOPPING: [&str; 10] = [
    "jammed",
    "door_open",
    "no_paper",
    "no_toner",
    "offline",
    "service_requested",
    "marker_supply_missing",
    "input_tray_missing",
    "output_tray_missing",
    "output_full",
];

impl Condition {
    pub fn of(snapshot: &Snapshot) -> Condition {
        let status = &snapshot.status;
        let device = status.device.as_deref();
        if device == Some("down") || status.errors.iter().any(|e| STOPPING.contains(&e.as_str())) {
            Condition::Error
        } else if device == Some("warning") || !status.errors.is_empty() {
            Condition::Warning
        } else if device.is_some() || status.printer.is_some() {
            Condition::Ok
        } else {
            Condition::Unknown
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Error => "error",
            Condition::Warning => "warning",
            Condition::Ok => "ok",
            Condition::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Condition> {
        [
            Condition::Error,
            Condition::Warning,
            Condition::Ok,
            Condition::Unknown,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }
}

/// The most urgent supply of a device: one empty, else one low, else none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupplyNeed {
    Empty,
    Low,
    Ok,
}

/// Below this percentage a supply is low even where the device does not
/// say so itself.
pub const LOW_SUPPLY_PERCENT: f64 = 10.0;

impl SupplyNeed {
    pub fn of(snapshot: &Snapshot) -> SupplyNeed {
        let mut need = SupplyNeed::Ok;
        for s in &snapshot.supplies {
            let percent = s.percent.filter(|p| p.is_finite());
            if s.state == "empty" || percent.is_some_and(|p| p <= 0.0) {
                return SupplyNeed::Empty;
            }
            if s.state == "low" || percent.is_some_and(|p| p < LOW_SUPPLY_PERCENT) {
                need = SupplyNeed::Low;
            }
        }
        need
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SupplyNeed::Empty => "empty",
            SupplyNeed::Low => "low",
            SupplyNeed::Ok => "ok",
        }
    }

    pub fn parse(text: &str) -> Option<SupplyNeed> {
        [SupplyNeed::Empty, SupplyNeed::Low, SupplyNeed::Ok]
            .into_iter()
            .find(|n| n.as_str() == text)
    }
}

#[cfg(test)]
mod condition_tests {
    use super::*;

    fn snapshot(
        device: Option<&str>,
        errors: &[&str],
        supplies: &[(&str, Option<f64>)],
    ) -> Snapshot {
        let mut s = Snapshot::new("t");
        s.status.device = device.map(String::from);
        s.status.errors = errors.iter().map(|e| e.to_string()).collect();
        s.supplies = supplies
            .iter()
            .map(|(state, percent)| {
                serde_json::from_value(serde_json::json!({
                    "description": "Black Toner", "kind": "toner", "color": "black",
                    "level": null, "max": null, "percent": percent, "state": state,
                    "unit": null, "part_number": null, "serial": null, "oid": null,
                }))
                .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect();
        s
    }

    #[test]
    fn conditions_follow_the_printer_mib() {
        assert_eq!(
            Condition::of(&snapshot(Some("running"), &[], &[])),
            Condition::Ok
        );
        assert_eq!(Condition::of(&snapshot(None, &[], &[])), Condition::Unknown);
        assert_eq!(
            Condition::of(&snapshot(Some("warning"), &[], &[])),
            Condition::Warning
        );
        assert_eq!(
            Condition::of(&snapshot(Some("running"), &["low_toner"], &[])),
            Condition::Warning
        );
        assert_eq!(
            Condition::of(&snapshot(Some("running"), &["low_toner", "jammed"], &[])),
            Condition::Error
        );
        assert_eq!(
            Condition::of(&snapshot(Some("down"), &[], &[])),
            Condition::Error
        );
        for c in [
            Condition::Error,
            Condition::Warning,
            Condition::Ok,
            Condition::Unknown,
        ] {
            assert_eq!(Condition::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn the_most_urgent_supply_counts() {
        let need = |supplies: &[(&str, Option<f64>)]| {
            SupplyNeed::of(&snapshot(Some("running"), &[], supplies))
        };
        assert_eq!(need(&[]), SupplyNeed::Ok);
        assert_eq!(
            need(&[("ok", Some(50.0)), ("ok", Some(2.0))]),
            SupplyNeed::Low
        );
        assert_eq!(need(&[("low", None)]), SupplyNeed::Low);
        assert_eq!(
            need(&[("ok", Some(50.0)), ("empty", None)]),
            SupplyNeed::Empty
        );
        assert_eq!(need(&[("ok", Some(0.0))]), SupplyNeed::Empty);
        assert_eq!(need(&[("ok", Some(f64::NAN))]), SupplyNeed::Ok);
    }
}
