//! Supply forecasts (the method is `crate::forecast`'s): a device's
//! supplies with days until empty, and the fleet's supplies to order
//! within N days, by customer and site, JSON or CSV. Scoped by tenant and
//! grants like the device list.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::csv::{self, Format};
use super::devices::visible;
use super::extract::{Json, Path, Query};
use super::{Access, AppState, Endpoint, Principal};
use crate::forecast::{Forecast, HISTORY_DAYS, OrderReason, device_forecasts, to_order};
use crate::ids::{DeviceId, SiteId, TenantId};
use crate::ingest::format_time;
use crate::model::{Device, Permission, SupplyReading};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let read = Access::User(Permission::ReadDevices);
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/devices/{device_id}/forecast",
            "Days until each current supply of the device is empty: a point estimate and an 80 % range, or unknown when the history is too short, flat or noisy",
            read,
            get(device_forecast),
        )
        .returns::<DeviceForecast>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/reports/supplies-to-order",
            "Supplies expected empty within N days (?days=N, 14 by default), empty, or reported low without a forecast, by customer and site, with part numbers (?format=csv: one row per supply)",
            read,
            get(supplies_to_order),
        )
        .query::<OrderQuery>()
        .returns::<SuppliesToOrder>()
        .csv(),
    ]
}

/// A current supply and its forecast.
#[derive(Serialize, JsonSchema)]
struct SupplyForecast {
    description: String,
    kind: String,
    color: Option<String>,
    part_number: Option<String>,
    /// As in the latest snapshot.
    percent: Option<f64>,
    /// As in the latest snapshot.
    state: String,
    forecast: Forecast,
}

/// A device's supplies with their forecasts.
#[derive(Serialize, JsonSchema)]
struct DeviceForecast {
    device_id: DeviceId,
    /// When the forecast was made (RFC 3339): days are counted from then.
    as_of: String,
    supplies: Vec<SupplyForecast>,
}

async fn device_forecast(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let device = visible(&state, &principal, id).await?;
    let now = crate::now();
    let history = state
        .store
        .supply_readings(
            principal.scope(),
            device.id,
            now.saturating_sub(HISTORY_DAYS * 86_400),
            i64::MAX,
        )
        .await?
        .ok_or(ServerError::NotFound)?;
    let current = state
        .store
        .device_snapshot(principal.scope(), device.id)
        .await?
        .map(|s| s.supplies)
        .unwrap_or_default();
    let forecasts = device_forecasts(&current, &history, device.last_seen, now);
    Ok(Json(DeviceForecast {
        device_id: device.id,
        as_of: format_time(now),
        supplies: current
            .into_iter()
            .zip(forecasts)
            .map(|(s, forecast)| SupplyForecast {
                description: s.description,
                kind: s.kind,
                color: s.color,
                part_number: s.part_number,
                percent: s.percent,
                state: s.state,
                forecast,
            })
            .collect(),
    }))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrderQuery {
    /// Expected empty within this many days (14 by default).
    #[schemars(range(min = 1, max = MAX_ORDER_DAYS))]
    days: Option<i64>,
    format: Option<Format>,
}

/// Longest horizon of the supplies-to-order report.
const MAX_ORDER_DAYS: i64 = 366;

/// A customer's supplies to order by (site name, site).
type BySite = BTreeMap<(Option<String>, Option<SiteId>), Vec<SupplyToOrder>>;

/// One supply to order.
#[derive(Serialize, JsonSchema)]
struct SupplyToOrder {
    device_id: DeviceId,
    identity: String,
    model: Option<String>,
    serial: Option<String>,
    /// The device's own location text.
    location: Option<String>,
    description: String,
    kind: String,
    color: Option<String>,
    part_number: Option<String>,
    percent: Option<f64>,
    state: String,
    reason: OrderReason,
    forecast: Forecast,
}

/// A site's supplies to order (`site_id` null: devices without a site).
#[derive(Serialize, JsonSchema)]
struct SiteOrder {
    site_id: Option<SiteId>,
    site: Option<String>,
    supplies: Vec<SupplyToOrder>,
}

/// A customer's supplies to order, by site.
#[derive(Serialize, JsonSchema)]
struct CustomerOrder {
    tenant_id: TenantId,
    customer: String,
    sites: Vec<SiteOrder>,
}

/// Supplies expected empty within `days` days, by customer and site.
#[derive(Serialize, JsonSchema)]
struct SuppliesToOrder {
    days: i64,
    /// When the forecasts were made (RFC 3339).
    as_of: String,
    customers: Vec<CustomerOrder>,
}

async fn supplies_to_order(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<OrderQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let days = q.days.unwrap_or(14);
    if !(1..=MAX_ORDER_DAYS).contains(&days) {
        return Err(ServerError::Invalid(format!(
            "days must be 1 to {MAX_ORDER_DAYS}"
        )));
    }
    let now = crate::now();
    let scope = principal.scope();
    // The devices the caller may see (viewers: granted groups only).
    let devices: HashMap<DeviceId, Device> = crate::reports::visible_devices(
        state.store.as_ref(),
        crate::reports::Viewer {
            scope: principal.scope(),
            granted_to: principal.granted_to(),
        },
    )
    .await?
    .into_iter()
    .map(|d| (d.id, d))
    .collect();
    let ids: HashSet<DeviceId> = devices.keys().copied().collect();
    let mut history: HashMap<DeviceId, Vec<SupplyReading>> = HashMap::new();
    for (id, r) in state
        .store
        .supply_history(scope, now.saturating_sub(HISTORY_DAYS * 86_400))
        .await?
    {
        if ids.contains(&id) {
            history.entry(id).or_default().push(r);
        }
    }
    let customers: BTreeMap<TenantId, String> = state
        .store
        .tenants(scope)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let sites: BTreeMap<SiteId, String> = state
        .store
        .sites(scope)
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    // customer → site → supplies, in name order.
    let mut grouped: BTreeMap<(String, TenantId), BySite> = BTreeMap::new();
    for (id, snapshot) in state.store.device_snapshots(scope).await? {
        let Some(device) = devices.get(&id) else {
            continue;
        };
        let past = history.remove(&id).unwrap_or_default();
        let forecasts = device_forecasts(&snapshot.supplies, &past, device.last_seen, now);
        for (supply, forecast) in snapshot.supplies.iter().zip(forecasts) {
            let Some(reason) = to_order(supply, &forecast, days as f64) else {
                continue;
            };
            let customer = customers
                .get(&device.tenant_id)
                .cloned()
                .unwrap_or_default();
            let site = device.site_id.and_then(|s| sites.get(&s).cloned());
            grouped
                .entry((customer, device.tenant_id))
                .or_default()
                .entry((site, device.site_id))
                .or_default()
                .push(SupplyToOrder {
                    device_id: device.id,
                    identity: device.identity.clone(),
                    model: device.model.clone(),
                    serial: device.serial.clone(),
                    location: snapshot.location.clone(),
                    description: supply.description.clone(),
                    kind: supply.kind.clone(),
                    color: supply.color.clone(),
                    part_number: supply.part_number.clone(),
                    percent: supply.percent,
                    state: supply.state.clone(),
                    reason,
                    forecast,
                });
        }
    }
    let report = SuppliesToOrder {
        days,
        as_of: format_time(now),
        customers: grouped
            .into_iter()
            .map(|((customer, tenant_id), sites)| CustomerOrder {
                tenant_id,
                customer,
                sites: sites
                    .into_iter()
                    .map(|((site, site_id), mut supplies)| {
                        // Soonest first.
                        supplies.sort_by(|a, b| {
                            let left = |s: &SupplyToOrder| s.forecast.days_left.unwrap_or(f64::MAX);
                            left(a).total_cmp(&left(b))
                        });
                        SiteOrder {
                            site_id,
                            site,
                            supplies,
                        }
                    })
                    .collect(),
            })
            .collect(),
    };
    if Format::csv(q.format) {
        return Ok(csv::response("supplies-to-order.csv", order_csv(&report)));
    }
    Ok(Json(report).into_response())
}

fn order_csv(report: &SuppliesToOrder) -> String {
    let mut body = csv::row(
        [
            "tenant_id",
            "customer",
            "site",
            "device_id",
            "identity",
            "model",
            "serial",
            "location",
            "description",
            "kind",
            "color",
            "part_number",
            "percent",
            "state",
            "reason",
            "days_left",
            "days_left_low",
            "days_left_high",
            "empty_at",
        ]
        .map(String::from),
    );
    let days = |d: Option<f64>| d.map(|d| format!("{d:.1}")).unwrap_or_default();
    for c in &report.customers {
        for s in &c.sites {
            for o in &s.supplies {
                body.push_str(&csv::row([
                    c.tenant_id.to_string(),
                    c.customer.clone(),
                    csv::opt(&s.site),
                    o.device_id.to_string(),
                    o.identity.clone(),
                    csv::opt(&o.model),
                    csv::opt(&o.serial),
                    csv::opt(&o.location),
                    o.description.clone(),
                    o.kind.clone(),
                    csv::opt(&o.color),
                    csv::opt(&o.part_number),
                    csv::opt(&o.percent),
                    o.state.clone(),
                    o.reason.as_str().to_owned(),
                    days(o.forecast.days_left),
                    days(o.forecast.days_left_low),
                    days(o.forecast.days_left_high),
                    o.forecast.empty_at.map(format_time).unwrap_or_default(),
                ]));
            }
        }
    }
    body
}
