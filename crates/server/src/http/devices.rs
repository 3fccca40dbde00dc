//! Devices: list and export, detail, meter readings, supplies, alerts.

use super::extract::Json;
use super::extract::{Path, Query};
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use printwatch_snapshot::{Snapshot, Supply};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::csv::{self, Format};
use super::{Access, AppState, Endpoint, Principal};
use crate::ids::DeviceId;
use crate::ingest::{format_time, parse_time};
use crate::model::{AlertRecord, Device, DeviceFilter, MeterReading, Permission, SupplyReading};
use crate::store::{FleetMeterReading, FleetSupplyReading, ReadingFilter};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    let read = Access::User(Permission::ReadDevices);
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/devices",
            "Devices (keyset pages: ?after=ID&limit=N; ?format=csv)",
            read,
            get(list),
        )
        .query::<ListQuery>()
        .returns::<DeviceList>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/meters",
            "Meter readings of every visible device (?from=&to= RFC 3339; ?latest=true for each meter's last reading in the period; keyset pages ?after=ID&limit=N, next page in next_after or the X-Next-After header; ?format=csv)",
            read,
            get(fleet_meters),
        )
        .query::<ExportQuery>()
        .returns::<FleetMeters>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/supplies",
            "Supply readings of every visible device (?from=&to=; ?latest=true for each supply's last reading, i.e. the current levels; ?after=&limit=; ?format=csv)",
            read,
            get(fleet_supplies),
        )
        .query::<ExportQuery>()
        .returns::<FleetSupplies>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/devices/{device_id}",
            "One device and its latest snapshot",
            read,
            get(show),
        )
        .returns::<DeviceDetail>(),
        Endpoint::new(
            Method::GET,
            "/api/v1/devices/{device_id}/meters",
            "Meter readings (?from=&to= RFC 3339; ?format=csv); resets flagged",
            read,
            get(meters),
        )
        .query::<Period>()
        .returns::<DeviceMeters>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/devices/{device_id}/supplies",
            "Current supplies and their history (?from=&to=; ?format=csv)",
            read,
            get(supplies),
        )
        .query::<Period>()
        .returns::<DeviceSupplies>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/devices/{device_id}/alerts",
            "Alerts, open and closed (?open=true for open only)",
            read,
            get(alerts),
        )
        .query::<AlertQuery>()
        .returns::<DeviceAlerts>(),
    ]
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// The last device id of the previous page.
    after: Option<i64>,
    /// 100 by default.
    #[schemars(range(min = 1, max = MAX_DEVICE_PAGE))]
    limit: Option<i64>,
    format: Option<Format>,
}

/// Largest page of the device list.
const MAX_DEVICE_PAGE: i64 = 1000;

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ListQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_DEVICE_PAGE).contains(&limit) {
        return Err(ServerError::Invalid(format!(
            "limit must be 1 to {MAX_DEVICE_PAGE}"
        )));
    }
    let devices = state
        .store
        .devices(&DeviceFilter {
            scope: principal.scope(),
            granted_to: principal.granted_to(),
            after: q.after.map(DeviceId),
            limit,
        })
        .await?;
    if Format::csv(q.format) {
        let mut body = csv::row(
            [
                "id",
                "tenant_id",
                "identity",
                "family",
                "vendor",
                "model",
                "serial",
                "mac",
                "address",
                "first_seen",
                "last_seen",
            ]
            .map(String::from),
        );
        for d in &devices {
            body.push_str(&csv::row([
                d.id.to_string(),
                d.tenant_id.to_string(),
                d.identity.clone(),
                csv::opt(&d.family),
                csv::opt(&d.vendor),
                csv::opt(&d.model),
                csv::opt(&d.serial),
                csv::opt(&d.mac),
                csv::opt(&d.target),
                format_time(d.first_seen),
                format_time(d.last_seen),
            ]));
        }
        return Ok(csv::response("devices.csv", body));
    }
    let next = (devices.len() as i64 == limit)
        .then(|| devices.last().map(|d| d.id))
        .flatten();
    Ok(Json(DeviceList {
        devices,
        next_after: next,
    })
    .into_response())
}

/// A page of devices.
#[derive(Serialize, JsonSchema)]
struct DeviceList {
    devices: Vec<Device>,
    /// `?after=` of the next page, when this one is full.
    next_after: Option<DeviceId>,
}

/// The device, if the caller may see it (viewers: granted groups only).
pub(super) async fn visible(state: &AppState, principal: &Principal, id: i64) -> Result<Device> {
    let device = state
        .store
        .device(principal.scope(), DeviceId(id))
        .await?
        .ok_or(ServerError::NotFound)?;
    if let Some(user) = principal.granted_to() {
        let granted = state
            .store
            .devices(&DeviceFilter {
                scope: principal.scope(),
                granted_to: Some(user),
                after: Some(DeviceId(id.saturating_sub(1))),
                limit: 1,
            })
            .await?;
        if granted.first().map(|d| d.id) != Some(device.id) {
            return Err(ServerError::NotFound);
        }
    }
    Ok(device)
}

async fn show(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let device = visible(&state, &principal, id).await?;
    let snapshot = state
        .store
        .device_snapshot(principal.scope(), device.id)
        .await?;
    Ok(Json(DeviceDetail { device, snapshot }))
}

/// A device and its latest snapshot (none before its first full report).
#[derive(Serialize, JsonSchema)]
struct DeviceDetail {
    device: Device,
    snapshot: Option<Snapshot>,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Period {
    /// RFC 3339; the beginning of time by default.
    #[schemars(extend("format" = "date-time"))]
    from: Option<String>,
    /// RFC 3339 (excluded); no end by default.
    #[schemars(extend("format" = "date-time"))]
    to: Option<String>,
    format: Option<Format>,
}

impl Period {
    fn bounds(&self) -> Result<(i64, i64)> {
        let parse = |t: &Option<String>, default: i64| match t {
            None => Ok(default),
            Some(t) => parse_time(t).ok_or_else(|| {
                ServerError::Invalid(
                    "from and to must be RFC 3339, e.g. 2025-01-01T00:00:00Z".into(),
                )
            }),
        };
        Ok((parse(&self.from, 0)?, parse(&self.to, i64::MAX)?))
    }
}

async fn meters(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(q): Query<Period>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let device = visible(&state, &principal, id).await?;
    let (from, to) = q.bounds()?;
    let readings = state
        .store
        .meter_readings(principal.scope(), device.id, from, to)
        .await?
        .ok_or(ServerError::NotFound)?;
    if Format::csv(q.format) {
        let mut body = csv::row(["device_id", "meter", "value", "at", "reset"].map(String::from));
        for r in &readings {
            body.push_str(&csv::row([
                device.id.to_string(),
                r.name.clone(),
                r.value.to_string(),
                format_time(r.at),
                r.reset.to_string(),
            ]));
        }
        return Ok(csv::response("meters.csv", body));
    }
    Ok(Json(DeviceMeters {
        device_id: device.id,
        readings,
    })
    .into_response())
}

#[derive(Serialize, JsonSchema)]
struct DeviceMeters {
    device_id: DeviceId,
    readings: Vec<MeterReading>,
}

#[derive(Serialize, JsonSchema)]
struct DeviceSupplies {
    device_id: DeviceId,
    /// As in the latest snapshot.
    current: Vec<Supply>,
    history: Vec<SupplyReading>,
}

#[derive(Serialize, JsonSchema)]
struct DeviceAlerts {
    device_id: DeviceId,
    alerts: Vec<AlertRecord>,
}

/// A page of a fleet export.
#[derive(Serialize, JsonSchema)]
struct FleetMeters {
    readings: Vec<FleetMeterReading>,
    /// `?after=` of the next page, when this one is full.
    next_after: Option<i64>,
}

/// A page of a fleet export.
#[derive(Serialize, JsonSchema)]
struct FleetSupplies {
    readings: Vec<FleetSupplyReading>,
    /// `?after=` of the next page, when this one is full.
    next_after: Option<i64>,
}

async fn supplies(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(q): Query<Period>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let device = visible(&state, &principal, id).await?;
    let (from, to) = q.bounds()?;
    let history = state
        .store
        .supply_readings(principal.scope(), device.id, from, to)
        .await?
        .ok_or(ServerError::NotFound)?;
    if Format::csv(q.format) {
        let mut body = csv::row(
            [
                "device_id",
                "description",
                "kind",
                "color",
                "percent",
                "state",
                "at",
            ]
            .map(String::from),
        );
        for r in &history {
            body.push_str(&csv::row([
                device.id.to_string(),
                r.description.clone(),
                r.kind.clone(),
                csv::opt(&r.color),
                csv::opt(&r.percent),
                r.state.clone(),
                format_time(r.at),
            ]));
        }
        return Ok(csv::response("supplies.csv", body));
    }
    let current = state
        .store
        .device_snapshot(principal.scope(), device.id)
        .await?
        .map(|s| s.supplies)
        .unwrap_or_default();
    Ok(Json(DeviceSupplies {
        device_id: device.id,
        current,
        history,
    })
    .into_response())
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AlertQuery {
    open: Option<bool>,
}

#[derive(Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// RFC 3339; the beginning of time by default.
    #[schemars(extend("format" = "date-time"))]
    from: Option<String>,
    /// RFC 3339 (excluded); no end by default.
    #[schemars(extend("format" = "date-time"))]
    to: Option<String>,
    /// Only the last reading of each meter or supply in the period.
    latest: Option<bool>,
    /// The last reading id of the previous page.
    after: Option<i64>,
    /// 10,000 by default.
    #[schemars(range(min = 1, max = MAX_EXPORT_ROWS))]
    limit: Option<i64>,
    format: Option<Format>,
}

/// Largest page of a fleet export.
const MAX_EXPORT_ROWS: i64 = 100_000;

impl ExportQuery {
    fn filter(&self, principal: &Principal) -> Result<ReadingFilter> {
        let (from, to) = Period {
            from: self.from.clone(),
            to: self.to.clone(),
            format: None,
        }
        .bounds()?;
        let limit = self.limit.unwrap_or(10_000);
        if !(1..=MAX_EXPORT_ROWS).contains(&limit) {
            return Err(ServerError::Invalid(format!(
                "limit must be 1 to {MAX_EXPORT_ROWS}"
            )));
        }
        Ok(ReadingFilter {
            scope: principal.scope(),
            granted_to: principal.granted_to(),
            from,
            to,
            after: self.after.unwrap_or(0),
            limit,
            latest: self.latest.unwrap_or(false),
        })
    }
}

/// The keyset of the next page: the last id when the page is full.
fn next_after(ids: impl Iterator<Item = i64>, count: usize, limit: i64) -> Option<i64> {
    (i64::try_from(count).ok() == Some(limit))
        .then(|| ids.last())
        .flatten()
}

/// A CSV export, with the next page's keyset in a header.
fn csv_page(filename: &str, body: String, next: Option<i64>) -> Response {
    let mut response = csv::response(filename, body);
    if let Some(n) = next
        && let Ok(value) = axum::http::HeaderValue::from_str(&n.to_string())
    {
        response.headers_mut().insert("x-next-after", value);
    }
    response
}

async fn fleet_meters(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let filter = q.filter(&principal)?;
    let csv_out = Format::csv(q.format);
    let rows = state.store.fleet_meters(&filter).await?;
    let next = next_after(rows.iter().map(|r| r.id), rows.len(), filter.limit);
    if csv_out {
        let mut body = csv::row(
            [
                "device_id",
                "tenant_id",
                "identity",
                "model",
                "serial",
                "meter",
                "value",
                "at",
                "reset",
            ]
            .map(String::from),
        );
        for r in &rows {
            body.push_str(&csv::row([
                r.device_id.to_string(),
                r.tenant_id.to_string(),
                r.identity.clone(),
                csv::opt(&r.model),
                csv::opt(&r.serial),
                r.name.clone(),
                r.value.to_string(),
                format_time(r.at),
                r.reset.to_string(),
            ]));
        }
        return Ok(csv_page("meters.csv", body, next));
    }
    Ok(Json(FleetMeters {
        readings: rows,
        next_after: next,
    })
    .into_response())
}

async fn fleet_supplies(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<ExportQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let filter = q.filter(&principal)?;
    let csv_out = Format::csv(q.format);
    let rows = state.store.fleet_supplies(&filter).await?;
    let next = next_after(rows.iter().map(|r| r.id), rows.len(), filter.limit);
    if csv_out {
        let mut body = csv::row(
            [
                "device_id",
                "tenant_id",
                "identity",
                "model",
                "serial",
                "description",
                "kind",
                "color",
                "percent",
                "state",
                "at",
            ]
            .map(String::from),
        );
        for r in &rows {
            body.push_str(&csv::row([
                r.device_id.to_string(),
                r.tenant_id.to_string(),
                r.identity.clone(),
                csv::opt(&r.model),
                csv::opt(&r.serial),
                r.description.clone(),
                r.kind.clone(),
                csv::opt(&r.color),
                csv::opt(&r.percent),
                r.state.clone(),
                format_time(r.at),
            ]));
        }
        return Ok(csv_page("supplies.csv", body, next));
    }
    Ok(Json(FleetSupplies {
        readings: rows,
        next_after: next,
    })
    .into_response())
}

async fn alerts(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
    Query(q): Query<AlertQuery>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadDevices)?;
    let device = visible(&state, &principal, id).await?;
    let alerts = state
        .store
        .alerts(principal.scope(), device.id, q.open.unwrap_or(false))
        .await?
        .ok_or(ServerError::NotFound)?;
    Ok(Json(DeviceAlerts {
        device_id: device.id,
        alerts,
    }))
}
