//! Reports as data, for the API and the portal alike: the monthly page
//! volume per device and per customer. Scoped like the device list: the
//! caller's tenant and its customers, and for viewers only the devices of
//! the groups granted to them. Counter resets never count negative
//! (`ingest::usage`).

use std::collections::{BTreeMap, HashSet};

use schemars::JsonSchema;
use serde::Serialize;

use crate::Result;
use crate::ids::{DeviceId, TenantId, UserId};
use crate::ingest::usage;
use crate::model::{Device, DeviceFilter};
use crate::store::Store;

/// Whose view a report is made for.
#[derive(Clone, Copy, Debug)]
pub struct Viewer {
    pub scope: TenantId,
    /// Viewers see only the devices of groups granted to them.
    pub granted_to: Option<UserId>,
}

/// Pages one device printed in a period.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DeviceVolume {
    pub device_id: DeviceId,
    pub tenant_id: TenantId,
    pub identity: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub pages: u64,
    /// Counter resets in the period (each a new start, never negative).
    pub resets: usize,
}

/// Pages one customer's devices printed in a period.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct CustomerVolume {
    pub tenant_id: TenantId,
    pub name: String,
    pub devices: usize,
    pub pages: u64,
}

/// Every device `viewer` may see (viewers: those of the groups granted to
/// them), for reports that read the whole visible fleet.
pub async fn visible_devices(store: &dyn Store, viewer: Viewer) -> Result<Vec<Device>> {
    store
        .devices(&DeviceFilter {
            scope: viewer.scope,
            granted_to: viewer.granted_to,
            after: None,
            limit: i64::MAX,
            only: Default::default(),
        })
        .await
}

/// Pages of `meter` printed in `[from, to)` by every device `viewer` sees.
pub async fn device_volumes(
    store: &dyn Store,
    viewer: Viewer,
    meter: &str,
    from: i64,
    to: i64,
) -> Result<Vec<DeviceVolume>> {
    let granted: Option<HashSet<DeviceId>> = match viewer.granted_to {
        Some(_) => Some(
            visible_devices(store, viewer)
                .await?
                .into_iter()
                .map(|d| d.id)
                .collect(),
        ),
        None => None,
    };
    Ok(store
        .meter_series(viewer.scope, meter, from, to)
        .await?
        .into_iter()
        .filter(|(d, _, _)| granted.as_ref().is_none_or(|g| g.contains(&d.id)))
        .map(|(d, base, readings)| DeviceVolume {
            device_id: d.id,
            tenant_id: d.tenant_id,
            identity: d.identity,
            model: d.model,
            serial: d.serial,
            pages: usage(base, &readings),
            resets: readings.iter().filter(|(_, reset)| *reset).count(),
        })
        .collect())
}

/// `devices`' volumes summed per customer, in customer order.
pub async fn customer_volumes(
    store: &dyn Store,
    viewer: Viewer,
    devices: &[DeviceVolume],
) -> Result<Vec<CustomerVolume>> {
    let names: BTreeMap<TenantId, String> = store
        .tenants(viewer.scope)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut per: BTreeMap<TenantId, CustomerVolume> = BTreeMap::new();
    for r in devices {
        let entry = per.entry(r.tenant_id).or_insert_with(|| CustomerVolume {
            tenant_id: r.tenant_id,
            name: names.get(&r.tenant_id).cloned().unwrap_or_default(),
            devices: 0,
            pages: 0,
        });
        entry.devices += 1;
        entry.pages = entry.pages.saturating_add(r.pages);
    }
    Ok(per.into_values().collect())
}
