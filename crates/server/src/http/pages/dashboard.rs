//! The dashboard: what needs someone today, each number a link to the
//! devices (or agents) it counts.

use askama::Template;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::get;

use super::{Frame, PageResult, PageUser, page};
use crate::http::{Access, AppState, Endpoint};
use crate::model::{AgentStatus, AgentView, DeviceFilter, Permission};

/// A device silent this long is "not reporting".
pub(super) const SILENT_AFTER_SECS: i64 = 24 * 3600;

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(
            Method::GET,
            "/",
            "The portal's dashboard",
            Access::User(Permission::ReadDevices),
            get(show),
        )
        .document("text/html"),
    ]
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    frame: Frame,
    /// The tiles, most urgent first.
    tiles: Vec<Tile>,
    alerts: Vec<(String, i64)>,
    total: i64,
}

struct Tile {
    label: &'static str,
    count: i64,
    /// The list it counts.
    href: Option<String>,
    /// `bad`, `warn`, `good`, `neutral`: how the number reads.
    tone: &'static str,
}

async fn show(State(state): State<AppState>, mut user: PageUser) -> PageResult {
    user.principal.require(Permission::ReadDevices)?;
    let principal = &user.principal;
    let filter = DeviceFilter {
        scope: principal.scope(),
        granted_to: principal.granted_to(),
        after: None,
        limit: 0,
        only: Default::default(),
    };
    let now = crate::now();
    let counts = state
        .store
        .device_counts(&filter, now - SILENT_AFTER_SECS)
        .await?;
    let alerts = state.store.open_alert_counts(&filter).await?;
    // Agents are the tenant's (viewers with grants see no agents).
    let agents_offline = if principal.granted_to().is_none()
        && principal.require(Permission::ManageAgents).is_ok()
    {
        let agents = state.store.agents(principal.scope()).await?;
        Some(
            agents
                .into_iter()
                .filter(|a| AgentView::at(a.clone(), now).status == AgentStatus::Offline)
                .count() as i64,
        )
    } else {
        None
    };
    let tone = |n: i64, bad: &'static str| if n > 0 { bad } else { "good" };
    let mut tiles = vec![
        Tile {
            label: "Stopped (error)",
            count: counts.error,
            href: Some("/devices?condition=error".into()),
            tone: tone(counts.error, "bad"),
        },
        Tile {
            label: "Supplies empty",
            count: counts.supply_empty,
            href: Some("/devices?supply=empty".into()),
            tone: tone(counts.supply_empty, "bad"),
        },
        Tile {
            label: "Supplies low or empty",
            count: counts.supply_low + counts.supply_empty,
            href: Some("/devices?supply=low".into()),
            tone: tone(counts.supply_low, "warn"),
        },
        Tile {
            label: "Needing attention (warning)",
            count: counts.warning,
            href: Some("/devices?condition=warning".into()),
            tone: tone(counts.warning, "warn"),
        },
        Tile {
            label: "Not reporting for a day",
            count: counts.silent,
            href: Some("/devices?silent=1".into()),
            tone: tone(counts.silent, "warn"),
        },
    ];
    if let Some(offline) = agents_offline {
        tiles.push(Tile {
            label: "Agents offline",
            count: offline,
            href: Some("/agents?status=offline".into()),
            tone: tone(offline, "bad"),
        });
    }
    tiles.push(Tile {
        label: "Working",
        count: counts.ok,
        href: Some("/devices?condition=ok".into()),
        tone: "neutral",
    });
    user.frame.current = "dashboard";
    Ok(page(
        StatusCode::OK,
        &Dashboard {
            frame: user.frame,
            tiles,
            alerts,
            total: counts.total,
        },
    ))
}
