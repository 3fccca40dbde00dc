//! The reports page: a month's page volume per customer and per device,
//! as tables and CSV downloads, with the billing and supplies-to-order
//! downloads beside them.

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde::Deserialize;

use super::{Frame, PageQuery, PageResult, PageUser, encode, page};
use crate::http::{Access, AppState, Endpoint};
use crate::ingest::month_bounds;
use crate::model::Permission;
use crate::reports::{CustomerVolume, DeviceVolume, Viewer, customer_volumes, device_volumes};

/// Devices shown in the page's table; the CSV has them all.
const DEVICE_ROWS: usize = 200;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/reports",
            "The portal's reports: a month's page volume (?month=YYYY-MM) and the downloads",
            Access::User(Permission::ReadDevices),
            get(show),
        )
        .document("text/html"),
    ]
}

#[derive(Deserialize)]
struct MonthQuery {
    #[serde(default)]
    month: Option<String>,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    frame: Frame,
    month: String,
    /// Why the asked month was not used, if it was not.
    note: String,
    customers: Vec<CustomerVolume>,
    devices: Vec<DeviceVolume>,
    more_devices: usize,
    total_pages: u64,
    /// The month, ready for a query string.
    month_query: String,
}

/// `YYYY-MM` of a UNIX time.
fn month_of(unix: i64) -> String {
    crate::ingest::format_time(unix)
        .get(..7)
        .unwrap_or("1970-01")
        .to_string()
}

async fn show(
    State(state): State<AppState>,
    mut user: PageUser,
    PageQuery(q): PageQuery<MonthQuery>,
) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    let this_month = month_of(crate::now());
    let asked = q.month.as_deref().map(str::trim).unwrap_or("");
    let (month, note) = match month_bounds(asked) {
        Some(_) => (asked.to_string(), String::new()),
        None if asked.is_empty() => (this_month, String::new()),
        None => (
            this_month,
            "That is not a month (YYYY-MM): showing this month.".to_string(),
        ),
    };
    let (from, to) = month_bounds(&month).unwrap_or((0, 0));
    let viewer = Viewer {
        scope: user.principal.scope(),
        granted_to: user.principal.granted_to(),
    };
    let store = state.store.as_ref();
    let mut devices = device_volumes(store, viewer, "total", from, to).await?;
    let customers = customer_volumes(store, viewer, &devices).await?;
    let total_pages = customers.iter().map(|c| c.pages).sum();
    devices.sort_by_key(|d| std::cmp::Reverse(d.pages));
    let more_devices = devices.len().saturating_sub(DEVICE_ROWS);
    devices.truncate(DEVICE_ROWS);
    user.frame.current = "reports";
    Ok(page(
        StatusCode::OK,
        &ReportsPage {
            frame: user.frame,
            month_query: encode(&month),
            month,
            note,
            customers,
            devices,
            more_devices,
            total_pages,
        },
    ))
}
