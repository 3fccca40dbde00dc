//! Billing meter reads: for a period, per device, the start and end
//! reading and the usage of each meter it has, with what a person should
//! look at before billing; totals per customer. Pure: the store gives the
//! readings, the HTTP layer the answer.
//!
//! The rules are the ingest rules ([`crate::ingest`]), not a second set:
//! - Readings are stored when a value changes, at the device's time
//!   (`collected_at`), so a spool delivered after the period still counts
//!   in the period it was collected in.
//! - The **start** is the last reading before the period (its value held
//!   until the next change); without one, the meter's first reading in
//!   the period, and the meter is flagged `first_read_in_period` (what
//!   was printed before it is not known).
//! - The **end** is the last reading in the period (the start when the
//!   value did not change).
//! - **Usage** is [`crate::ingest::usage`]: the sum of the increases; a
//!   counter that went down (a reset, flagged at ingest) counts the pages
//!   since the reset, never negative usage, and is flagged `counter_reset`.
//!   So usage can differ from end − start, which is why both are given.
//! - A device first seen in the period is flagged `new_device`; one that
//!   sent nothing in the last [`STALE_DAYS`] days of the period (or up to
//!   now, for a period still running) `stopped_reporting`: replaced,
//!   removed, or its agent offline with readings still to come. A device
//!   replaced mid-period is the two: the old one billed to its last
//!   reading, the new one from its first.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::ids::TenantId;
use crate::ingest::usage;

/// A device that sent nothing for this long before the period's end is
/// flagged `stopped_reporting`.
pub const STALE_DAYS: i64 = 3;

/// One stored reading of a meter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    pub value: i64,
    pub at: i64,
    /// Lower than the reading before it (flagged at ingest).
    pub reset: bool,
}

/// What to check before billing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Review {
    /// The counter went down in the period: usage counts from the reset.
    CounterReset,
    /// No reading before the period: the start is the first reading in it.
    FirstReadInPeriod,
    /// The device was first seen in the period (a new or replacement device).
    NewDevice,
    /// Nothing from the device in the last days of the period: replaced,
    /// removed, or readings still to come.
    StoppedReporting,
}

impl Review {
    pub fn as_str(self) -> &'static str {
        match self {
            Review::CounterReset => "counter_reset",
            Review::FirstReadInPeriod => "first_read_in_period",
            Review::NewDevice => "new_device",
            Review::StoppedReporting => "stopped_reporting",
        }
    }
}

/// One meter of one device over the period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MeterBill {
    /// The meter's standard name (`total`, `total_mono`, `total_color`, `print_mono`, `copy_color`, `scan`, `fax`, …).
    pub meter: String,
    pub start: i64,
    /// When the start reading was taken (UNIX seconds).
    pub start_at: i64,
    pub end: i64,
    /// When the end reading was taken (UNIX seconds).
    pub end_at: i64,
    /// Pages (or scans, faxes) in the period: never negative.
    pub usage: u64,
    /// Counter resets in the period.
    pub resets: usize,
    pub review: Vec<Review>,
}

/// The bill of one meter: `baseline` is the last reading before the
/// period, `readings` those in it, in time order. None when there is no
/// reading at all.
pub fn meter_bill(
    meter: &str,
    baseline: Option<Reading>,
    readings: &[Reading],
) -> Option<MeterBill> {
    let start = baseline.or_else(|| readings.first().copied())?;
    let end = readings.last().copied().unwrap_or(start);
    let series: Vec<(i64, bool)> = readings.iter().map(|r| (r.value, r.reset)).collect();
    let mut prev = baseline.map(|b| b.value);
    let mut resets = 0;
    for r in readings {
        if prev.is_some_and(|p| r.reset || r.value < p) {
            resets += 1;
        }
        prev = Some(r.value);
    }
    let mut review = vec![];
    if resets > 0 {
        review.push(Review::CounterReset);
    }
    if baseline.is_none() {
        review.push(Review::FirstReadInPeriod);
    }
    Some(MeterBill {
        meter: meter.to_owned(),
        start: start.value,
        start_at: start.at,
        end: end.value,
        end_at: end.at,
        usage: usage(baseline.map(|b| b.value), &series),
        resets,
        review,
    })
}

/// The device-level flags: first seen in `[from, to)`, or silent for
/// [`STALE_DAYS`] before the period's end (or `now`, if earlier).
pub fn device_review(first_seen: i64, last_seen: i64, from: i64, to: i64, now: i64) -> Vec<Review> {
    let mut review = vec![];
    if (from..to).contains(&first_seen) {
        review.push(Review::NewDevice);
    }
    let until = to.min(now);
    if last_seen < until.saturating_sub(STALE_DAYS * 86_400) {
        review.push(Review::StoppedReporting);
    }
    review
}

/// Usage per meter summed over a customer's devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct CustomerTotals {
    pub tenant_id: TenantId,
    pub customer: String,
    pub devices: usize,
    /// Devices with something to review.
    pub to_review: usize,
    /// Usage per meter name.
    pub usage: BTreeMap<String, u64>,
}

/// Totals per customer from `(tenant, meters, device needs review)`.
pub fn customer_totals<'a>(
    devices: impl IntoIterator<Item = (TenantId, &'a [MeterBill], bool)>,
    names: &BTreeMap<TenantId, String>,
) -> Vec<CustomerTotals> {
    let mut per: BTreeMap<TenantId, CustomerTotals> = BTreeMap::new();
    for (tenant, meters, review) in devices {
        let t = per.entry(tenant).or_insert_with(|| CustomerTotals {
            tenant_id: tenant,
            customer: names.get(&tenant).cloned().unwrap_or_default(),
            devices: 0,
            to_review: 0,
            usage: BTreeMap::new(),
        });
        t.devices += 1;
        t.to_review += usize::from(review);
        for m in meters {
            let u = t.usage.entry(m.meter.clone()).or_default();
            *u = u.saturating_add(m.usage);
        }
    }
    per.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(value: i64, at: i64) -> Reading {
        Reading {
            value,
            at,
            reset: false,
        }
    }

    #[test]
    fn usage_from_the_reading_before_the_period() {
        let b = meter_bill("total", Some(r(1000, 5)), &[r(1200, 20), r(1500, 30)]);
        let b = b.expect("bill");
        assert_eq!((b.start, b.end, b.usage, b.resets), (1000, 1500, 500, 0));
        assert!(b.review.is_empty());
        // No change in the period: start = end, no usage.
        let b = meter_bill("fax", Some(r(7, 5)), &[]).expect("bill");
        assert_eq!(
            (b.start, b.end, b.usage, b.start_at, b.end_at),
            (7, 7, 0, 5, 5)
        );
        assert!(meter_bill("scan", None, &[]).is_none());
    }

    #[test]
    fn a_reset_counts_from_the_reset_and_is_flagged() {
        let reset = Reading {
            value: 40,
            at: 25,
            reset: true,
        };
        let b =
            meter_bill("total", Some(r(1000, 5)), &[r(1300, 20), reset, r(90, 30)]).expect("bill");
        // 300 before the reset, 40 up to it, 50 after.
        assert_eq!((b.start, b.end, b.usage, b.resets), (1000, 90, 390, 1));
        assert_eq!(b.review, vec![Review::CounterReset]);
    }

    #[test]
    fn a_meter_first_read_in_the_period_counts_from_that_reading() {
        let b = meter_bill("total", None, &[r(200, 15), r(900, 30)]).expect("bill");
        assert_eq!((b.start, b.end, b.usage), (200, 900, 700));
        assert_eq!(b.review, vec![Review::FirstReadInPeriod]);
    }

    #[test]
    fn devices_new_or_silent_are_flagged() {
        let day = 86_400;
        let (from, to) = (0, 30 * day);
        assert!(device_review(-day, to - day, from, to, to + day).is_empty());
        assert_eq!(
            device_review(10 * day, to - day, from, to, to + day),
            vec![Review::NewDevice]
        );
        assert_eq!(
            device_review(-day, 14 * day, from, to, to + day),
            vec![Review::StoppedReporting]
        );
        // A running period counts up to now.
        assert!(device_review(-day, 14 * day, from, to, 15 * day).is_empty());
    }

    #[test]
    fn customers_sum_their_devices() {
        let a = TenantId(1);
        let m = |name: &str, usage| MeterBill {
            meter: name.into(),
            start: 0,
            start_at: 0,
            end: 0,
            end_at: 0,
            usage,
            resets: 0,
            review: vec![],
        };
        let d1 = [m("total", 10), m("total_color", 4)];
        let d2 = [m("total", 5)];
        let names = BTreeMap::from([(a, "A".to_string())]);
        let t = customer_totals([(a, &d1[..], false), (a, &d2[..], true)], &names);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].devices, t[0].to_review), (2, 1));
        assert_eq!(t[0].usage["total"], 15);
        assert_eq!(t[0].usage["total_color"], 4);
    }
}
