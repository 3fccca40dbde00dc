//! The device list (search, filters, keyset pages) and a device's page.

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::get;
use serde::Deserialize;

use super::{Frame, PagePath, PageQuery, PageResult, PageUser, encode, page, when};
use crate::http::{Access, AppState, Endpoint};
use crate::ids::DeviceId;
use crate::ingest::{Condition, SupplyNeed};
use crate::model::{Device, DeviceFilter, DeviceQuery, Permission};

/// Devices per page of the list.
const PAGE_SIZE: i64 = 50;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/devices",
            "The portal's device list: search (q), filters (condition, supply, silent), pages (after)",
            Access::User(Permission::ReadDevices),
            get(list),
        )
        .document("text/html"),
        Endpoint::new(
            Method::GET,
            "/devices/{device_id}",
            "The portal's page of one device",
            Access::User(Permission::ReadDevices),
            get(show),
        )
        .document("text/html"),
    ]
}

/// The list's query string. Unknown values of the filters are ignored
/// (a hand-edited address shows everything rather than an error).
#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(default)]
    supply: Option<String>,
    #[serde(default)]
    silent: Option<String>,
    #[serde(default)]
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "devices.html")]
struct DeviceList {
    frame: Frame,
    q: String,
    condition: String,
    supply: String,
    silent: bool,
    rows: Vec<Row>,
    /// The link to the next page, when this one is full.
    next: Option<String>,
    /// What the list shows, in words ("Devices stopped (error) matching …").
    heading: String,
}

struct Row {
    id: i64,
    name: String,
    serial: String,
    address: String,
    condition: &'static str,
    supply: &'static str,
    last_seen: String,
}

fn name_of(d: &Device) -> String {
    match (&d.vendor, &d.model) {
        // Models often start with the vendor already.
        (Some(v), Some(m)) if m.to_lowercase().starts_with(&v.to_lowercase()) => m.clone(),
        (Some(v), Some(m)) => format!("{v} {m}"),
        (None, Some(m)) => m.clone(),
        (Some(v), None) => v.clone(),
        (None, None) => d.identity.clone(),
    }
}

async fn list(
    State(state): State<AppState>,
    mut user: PageUser,
    PageQuery(q): PageQuery<ListQuery>,
) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    let condition = q.condition.as_deref().and_then(Condition::parse);
    let supply = q.supply.as_deref().and_then(SupplyNeed::parse);
    let silent = q.silent.as_deref() == Some("1");
    let text =
        q.q.as_deref()
            .map(|t| t.trim().chars().take(100).collect::<String>())
            .filter(|t| !t.is_empty());
    let now = crate::now();
    let filter = DeviceFilter {
        scope: user.principal.scope(),
        granted_to: user.principal.granted_to(),
        after: q.after.map(DeviceId),
        limit: PAGE_SIZE,
        only: DeviceQuery {
            condition,
            supply,
            text: text.clone(),
            silent_since: silent.then_some(now - super::dashboard::SILENT_AFTER_SECS),
        },
    };
    let devices = state.store.devices(&filter).await?;
    let mut link = String::from("/devices?");
    for (key, value) in [
        ("q", text.clone()),
        ("condition", condition.map(|c| c.as_str().to_string())),
        ("supply", supply.map(|s| s.as_str().to_string())),
        ("silent", silent.then(|| "1".to_string())),
    ] {
        if let Some(v) = value {
            link.push_str(&format!("{key}={}&", encode(&v)));
        }
    }
    let next = (devices.len() as i64 == PAGE_SIZE)
        .then(|| devices.last().map(|d| format!("{link}after={}", d.id)))
        .flatten();
    let rows = devices
        .iter()
        .map(|d| Row {
            id: d.id.0,
            name: name_of(d),
            serial: d.serial.clone().unwrap_or_default(),
            address: d.target.clone().unwrap_or_default(),
            condition: d.condition.as_str(),
            supply: d.supply_need.as_str(),
            last_seen: when(d.last_seen),
        })
        .collect();
    let mut heading = match (condition, supply, silent) {
        (Some(Condition::Error), _, _) => "Devices stopped (error)".to_string(),
        (Some(Condition::Warning), _, _) => "Devices needing attention".to_string(),
        (Some(Condition::Ok), _, _) => "Devices working".to_string(),
        (Some(Condition::Unknown), _, _) => "Devices without status".to_string(),
        (None, Some(SupplyNeed::Empty), _) => "Devices with a supply empty".to_string(),
        (None, Some(SupplyNeed::Low), _) => "Devices with a supply low or empty".to_string(),
        (None, _, true) => "Devices not reporting for a day".to_string(),
        _ => "Devices".to_string(),
    };
    if let Some(t) = &text {
        heading.push_str(&format!(" matching “{t}”"));
    }
    user.frame.current = "devices";
    Ok(page(
        StatusCode::OK,
        &DeviceList {
            frame: user.frame,
            q: text.unwrap_or_default(),
            condition: condition.map(|c| c.as_str()).unwrap_or_default().into(),
            supply: supply.map(|s| s.as_str()).unwrap_or_default().into(),
            silent,
            rows,
            next,
            heading,
        },
    ))
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage {
    frame: Frame,
    id: i64,
    /// Counter resets in the meter history (marked on the chart).
    resets: usize,
    name: String,
    facts: Vec<(&'static str, String)>,
    condition: &'static str,
    status_words: String,
    console: String,
    supplies: Vec<SupplyRow>,
    meters: Vec<(String, String)>,
    alerts: Vec<AlertRow>,
}

struct SupplyRow {
    name: String,
    /// 0–100 for the bar, when the device gives a number.
    percent: Option<u8>,
    state: String,
    part: String,
}

struct AlertRow {
    severity: String,
    what: String,
    opened: String,
    closed: String,
}

async fn show(
    State(state): State<AppState>,
    mut user: PageUser,
    PagePath(id): PagePath<i64>,
) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    let device = crate::http::devices::visible(&state, &user.principal, id).await?;
    let snapshot = state
        .store
        .device_snapshot(user.principal.scope(), device.id)
        .await?;
    let alerts = state
        .store
        .alerts(user.principal.scope(), device.id, false)
        .await?
        .unwrap_or_default();
    let resets = state
        .store
        .meter_readings(user.principal.scope(), device.id, i64::MIN, i64::MAX)
        .await?
        .unwrap_or_default()
        .iter()
        .filter(|r| r.reset)
        .count();
    let mut facts = vec![
        ("Serial", device.serial.clone().unwrap_or_default()),
        ("Address", device.target.clone().unwrap_or_default()),
        ("MAC", device.mac.clone().unwrap_or_default()),
        ("Last report", when(device.last_seen)),
        ("First seen", when(device.first_seen)),
    ];
    if let Some(agent) = device.last_agent_id {
        facts.push(("Reported by agent", format!("#{agent}")));
    }
    let (mut status_words, mut console, mut supplies, mut meters) =
        (String::new(), String::new(), vec![], vec![]);
    if let Some(s) = &snapshot {
        for (label, value) in [
            ("Firmware", &s.firmware),
            ("Location", &s.location),
            ("Contact", &s.contact),
            ("Host name", &s.hostname),
            ("Asset number", &s.asset_number),
        ] {
            if let Some(v) = value {
                facts.push((label, v.clone()));
            }
        }
        if s.addresses.len() > 1 {
            facts.push(("All addresses", s.addresses.join(", ")));
        }
        let mut words: Vec<String> = s.status.device.iter().cloned().collect();
        words.extend(s.status.printer.iter().cloned());
        words.extend(s.status.errors.iter().map(|e| e.replace('_', " ")));
        status_words = words.join(", ");
        console = s.console.join(" / ");
        supplies = s
            .supplies
            .iter()
            .map(|x| SupplyRow {
                name: x.description.clone(),
                percent: x
                    .percent
                    .filter(|p| p.is_finite())
                    .map(|p| p.clamp(0.0, 100.0).round() as u8),
                state: x.state.replace('_', " "),
                part: x.part_number.clone().unwrap_or_default(),
            })
            .collect();
        meters = s
            .meters
            .iter()
            .map(|m| (m.name.replace('_', " "), format!("{} {}", m.value, m.unit)))
            .collect();
    }
    let alerts = alerts
        .into_iter()
        .map(|a| AlertRow {
            severity: a.severity.clone(),
            what: a
                .description
                .clone()
                .unwrap_or_else(|| a.code.replace('_', " ")),
            opened: when(a.opened_at),
            closed: a.closed_at.map(when).unwrap_or_else(|| "open".into()),
        })
        .collect();
    user.frame.current = "devices";
    Ok(page(
        StatusCode::OK,
        &DevicePage {
            frame: user.frame,
            id: device.id.0,
            resets,
            name: name_of(&device),
            facts,
            condition: device.condition.as_str(),
            status_words,
            console,
            supplies,
            meters,
            alerts,
        },
    ))
}
