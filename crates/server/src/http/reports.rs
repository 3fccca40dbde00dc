//! Reports: monthly page volume per device and per customer; the audit log.

use super::extract::Json;
use super::extract::Query;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::csv::{self, Format};
use super::{Access, AppState, Endpoint, Principal};
use crate::ingest::month_bounds;
use crate::model::{AuditEntry, Permission};
use crate::reports::{CustomerVolume, DeviceVolume, Viewer, customer_volumes, device_volumes};
use crate::{Result, ServerError};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/api/v1/reports/page-volume",
            "Pages printed in a month (?month=YYYY-MM&by=device|customer&meter=total&format=csv); counter resets never count negative",
            Access::User(Permission::ReadDevices),
            get(page_volume),
        )
        .query::<VolumeQuery>()
        .returns::<PageVolume>()
        .csv(),
        Endpoint::new(
            Method::GET,
            "/api/v1/audit",
            "The audit log of the visible tenants, newest first (?limit=N)",
            Access::User(Permission::ReadAudit),
            get(audit),
        )
        .query::<AuditQuery>()
        .returns::<Vec<AuditEntry>>(),
    ]
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VolumeQuery {
    /// The month, `YYYY-MM` (1970 or later).
    #[schemars(regex(pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])$"))]
    month: String,
    by: Option<VolumeBy>,
    /// `total` by default.
    meter: Option<String>,
    format: Option<Format>,
}

/// What page volume is summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum VolumeBy {
    Device,
    Customer,
}

async fn page_volume(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<VolumeQuery>,
) -> Result<Response> {
    principal.require(Permission::ReadDevices)?;
    let (from, to) = month_bounds(&q.month)
        .ok_or_else(|| ServerError::Invalid("month must be YYYY-MM".into()))?;
    let meter = q.meter.as_deref().unwrap_or("total");
    let by_customer = q.by == Some(VolumeBy::Customer);
    let csv_out = Format::csv(q.format);
    let viewer = Viewer {
        scope: principal.scope(),
        granted_to: principal.granted_to(),
    };
    let rows = device_volumes(state.store.as_ref(), viewer, meter, from, to).await?;
    if by_customer {
        let customers = customer_volumes(state.store.as_ref(), viewer, &rows).await?;
        if csv_out {
            let mut body =
                csv::row(["month", "tenant_id", "customer", "devices", "pages"].map(String::from));
            for c in &customers {
                body.push_str(&csv::row([
                    q.month.clone(),
                    c.tenant_id.to_string(),
                    c.name.clone(),
                    c.devices.to_string(),
                    c.pages.to_string(),
                ]));
            }
            return Ok(csv::response("page-volume-by-customer.csv", body));
        }
        return Ok(Json(PageVolume::ByCustomer {
            month: q.month,
            meter: meter.to_owned(),
            customers,
        })
        .into_response());
    }
    if csv_out {
        let mut body = csv::row(
            [
                "month",
                "device_id",
                "tenant_id",
                "identity",
                "model",
                "serial",
                "pages",
                "resets",
            ]
            .map(String::from),
        );
        for r in &rows {
            body.push_str(&csv::row([
                q.month.clone(),
                r.device_id.to_string(),
                r.tenant_id.to_string(),
                r.identity.clone(),
                csv::opt(&r.model),
                csv::opt(&r.serial),
                r.pages.to_string(),
                r.resets.to_string(),
            ]));
        }
        return Ok(csv::response("page-volume-by-device.csv", body));
    }
    Ok(Json(PageVolume::ByDevice {
        month: q.month,
        meter: meter.to_owned(),
        devices: rows,
    })
    .into_response())
}

/// Page volume of a month, per device or (`?by=customer`) per customer.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
enum PageVolume {
    ByDevice {
        month: String,
        meter: String,
        devices: Vec<DeviceVolume>,
    },
    ByCustomer {
        month: String,
        meter: String,
        customers: Vec<CustomerVolume>,
    },
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    limit: Option<i64>,
}

async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<impl IntoResponse> {
    principal.require(Permission::ReadAudit)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.audit_log(principal.scope(), limit).await?))
}
