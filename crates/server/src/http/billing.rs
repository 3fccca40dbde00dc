//! `GET /api/v1/reports/billing`: billing meter reads of a period (the
//! rules are `crate::billing`'s), per device and per customer, JSON or CSV.
//! Scoped by tenant and grants like the device list.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::csv::{self, Format};
use super::extract::{Json, Query};
use super::{Access, AppState, Endpoint, Principal};
use crate::billing::{
    CustomerTotals, MeterBill, Review, customer_totals, device_review, meter_bill,
};
use crate::ids::{DeviceId, SiteId, TenantId};
use crate::ingest::{format_time, month_bounds, parse_time};
use crate::model::{Device, Permission};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/reports/billing",
            "Billing meter reads of a period (?month=YYYY-MM, or ?from=&to= RFC 3339; ?tenant_id= for one customer): per device the start and end reading and the usage of each meter, counter resets and replaced devices flagged for review, never negative; totals per customer (?format=csv: a row per device and meter, or per customer and meter with ?by=customer)",
            Access::User(Permission::ReadDevices),
            get(billing),
        )
        .query::<BillingQuery>()
        .returns::<BillingReport>()
        .csv(),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct BillingQuery {
    /// The month, `YYYY-MM` (1970 or later); or give `from` and `to`.
    #[schemars(regex(pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"))]
    month: Option<String>,
    /// The period's start, RFC 3339 (with `to`, instead of `month`).
    #[schemars(extend("format" = "date-time"))]
    from: Option<String>,
    /// The period's end, RFC 3339, excluded.
    #[schemars(extend("format" = "date-time"))]
    to: Option<String>,
    /// Only this customer (a tenant the caller sees): one customer's bill.
    tenant_id: Option<i64>,
    /// Rows of the CSV: per device and meter (default), or per customer and meter.
    by: Option<BillingBy>,
    format: Option<Format>,
}

/// What the CSV's rows are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum BillingBy {
    Device,
    Customer,
}

impl BillingQuery {
    fn period(&self) -> Result<(i64, i64)> {
        let bad = |m: &str| ServerError::Invalid(m.into());
        match (&self.month, &self.from, &self.to) {
            (Some(month), None, None) => {
                month_bounds(month).ok_or_else(|| bad("month must be YYYY-MM"))
            }
            (None, Some(from), Some(to)) => {
                let parse = |t: &str| {
                    parse_time(t).ok_or_else(|| {
                        bad("from and to must be RFC 3339, e.g. 2025-01-01T00:00:00Z")
                    })
                };
                let (from, to) = (parse(from)?, parse(to)?);
                if from >= to {
                    return Err(bad("from must be before to"));
                }
                Ok((from, to))
            }
            _ => Err(bad("give the period: month=YYYY-MM, or from and to")),
        }
    }
}

/// One device's meter reads over the period.
#[derive(Serialize, JsonSchema)]
struct DeviceBill {
    device_id: DeviceId,
    tenant_id: TenantId,
    customer: String,
    site_id: Option<SiteId>,
    site: Option<String>,
    identity: String,
    model: Option<String>,
    serial: Option<String>,
    first_seen: i64,
    last_seen: i64,
    meters: Vec<MeterBill>,
    /// Everything to check before billing this device (its meters' too).
    review: Vec<Review>,
}

/// Billing meter reads of a period.
#[derive(Serialize, JsonSchema)]
struct BillingReport {
    /// RFC 3339.
    from: String,
    /// RFC 3339, excluded.
    to: String,
    devices: Vec<DeviceBill>,
    customers: Vec<CustomerTotals>,
}

async fn billing(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<BillingQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let (from, to) = q.period()?;
    let now = crate::now();
    // The devices the caller may see (viewers: granted groups only).
    let devices: Vec<Device> = crate::reports::visible_devices(
        state.store.as_ref(),
        crate::reports::Viewer {
            scope: principal.scope(),
            granted_to: principal.granted_to(),
        },
    )
    .await?
    .into_iter()
    .filter(|d| d.first_seen < to && q.tenant_id.is_none_or(|t| d.tenant_id.0 == t))
    .collect();
    let mut meters: HashMap<DeviceId, Vec<MeterBill>> = HashMap::new();
    for h in state
        .store
        .meter_history(principal.scope(), from, to)
        .await?
    {
        if let Some(bill) = meter_bill(&h.meter, h.baseline, &h.readings) {
            meters.entry(h.device_id).or_default().push(bill);
        }
    }
    let customers: BTreeMap<TenantId, String> = state
        .store
        .tenants(principal.scope())
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let sites: BTreeMap<SiteId, String> = state
        .store
        .sites(principal.scope())
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let bills: Vec<DeviceBill> = devices
        .into_iter()
        .map(|d| {
            let meters = meters.remove(&d.id).unwrap_or_default();
            let mut review = device_review(d.first_seen, d.last_seen, from, to, now);
            review.extend(meters.iter().flat_map(|m| m.review.iter().copied()));
            review.sort_unstable();
            review.dedup();
            DeviceBill {
                device_id: d.id,
                tenant_id: d.tenant_id,
                customer: customers.get(&d.tenant_id).cloned().unwrap_or_default(),
                site_id: d.site_id,
                site: d.site_id.and_then(|s| sites.get(&s).cloned()),
                identity: d.identity,
                model: d.model,
                serial: d.serial,
                first_seen: d.first_seen,
                last_seen: d.last_seen,
                meters,
                review,
            }
        })
        .collect();
    let totals = customer_totals(
        bills
            .iter()
            .map(|b| (b.tenant_id, &b.meters[..], !b.review.is_empty())),
        &customers,
    );
    let (from_text, to_text) = (format_time(from), format_time(to));
    if Format::csv(q.format) {
        return Ok(if q.by == Some(BillingBy::Customer) {
            csv::response(
                "billing-by-customer.csv",
                customers_csv(&from_text, &to_text, &totals),
            )
        } else {
            csv::response("billing.csv", devices_csv(&from_text, &to_text, &bills))
        });
    }
    Ok(Json(BillingReport {
        from: from_text,
        to: to_text,
        devices: bills,
        customers: totals,
    })
    .into_response())
}

fn review_text(review: &[Review]) -> String {
    review
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn devices_csv(from: &str, to: &str, bills: &[DeviceBill]) -> String {
    let mut body = csv::row(
        [
            "from",
            "to",
            "tenant_id",
            "customer",
            "site",
            "device_id",
            "identity",
            "model",
            "serial",
            "meter",
            "start",
            "start_at",
            "end",
            "end_at",
            "usage",
            "resets",
            "review",
        ]
        .map(String::from),
    );
    for b in bills {
        let device = [
            from.to_owned(),
            to.to_owned(),
            b.tenant_id.to_string(),
            b.customer.clone(),
            csv::opt(&b.site),
            b.device_id.to_string(),
            b.identity.clone(),
            csv::opt(&b.model),
            csv::opt(&b.serial),
        ];
        if b.meters.is_empty() {
            let mut row = device.to_vec();
            row.extend(std::iter::repeat_n(String::new(), 7));
            row.push(review_text(&b.review));
            body.push_str(&csv::row(row));
        }
        for m in &b.meters {
            let mut row = device.to_vec();
            let mut review = m.review.clone();
            // Device-level flags go on every row of the device.
            review.extend(
                b.review
                    .iter()
                    .filter(|r| matches!(r, Review::NewDevice | Review::StoppedReporting)),
            );
            review.sort_unstable();
            review.dedup();
            row.extend([
                m.meter.clone(),
                m.start.to_string(),
                format_time(m.start_at),
                m.end.to_string(),
                format_time(m.end_at),
                m.usage.to_string(),
                m.resets.to_string(),
                review_text(&review),
            ]);
            body.push_str(&csv::row(row));
        }
    }
    body
}

fn customers_csv(from: &str, to: &str, totals: &[CustomerTotals]) -> String {
    let mut body = csv::row(
        [
            "from",
            "to",
            "tenant_id",
            "customer",
            "devices",
            "to_review",
            "meter",
            "usage",
        ]
        .map(String::from),
    );
    for t in totals {
        for (meter, usage) in &t.usage {
            body.push_str(&csv::row([
                from.to_owned(),
                to.to_owned(),
                t.tenant_id.to_string(),
                t.customer.clone(),
                t.devices.to_string(),
                t.to_review.to_string(),
                meter.clone(),
                usage.to_string(),
            ]));
        }
    }
    body
}
