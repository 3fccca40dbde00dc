//! Devices: ingest of submissions (exactly once) and history reads.

use std::collections::HashMap;

use async_trait::async_trait;
use printwatch_printer::snapshot::Snapshot;
use printwatch_protocol::delta;
use printwatch_protocol::message::DeviceReport;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::agents::seq_for_db;
use super::{DeviceStore, SqlStore, VISIBLE, opt_id};
use crate::ids::*;
use crate::ingest::{alert_changes, meter_changes, parse_time};
use crate::model::*;
use crate::{Result, ServerError};

const DEVICE_COLS: &str = "id, tenant_id, site_id, identity, family, vendor, model, serial, mac, \
     target, first_seen, last_seen, last_agent_id";

fn device(row: &AnyRow) -> Result<Device> {
    Ok(Device {
        id: DeviceId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        site_id: opt_id(row, "site_id", SiteId)?,
        identity: row.try_get("identity")?,
        family: row.try_get("family")?,
        vendor: row.try_get("vendor")?,
        model: row.try_get("model")?,
        serial: row.try_get("serial")?,
        mac: row.try_get("mac")?,
        target: row.try_get("target")?,
        first_seen: row.try_get("first_seen")?,
        last_seen: row.try_get("last_seen")?,
        last_agent_id: opt_id(row, "last_agent_id", AgentId)?,
    })
}

fn parse_snapshot(text: &str) -> Result<Snapshot> {
    serde_json::from_str(text).map_err(|e| ServerError::Corrupt(format!("stored snapshot: {e}")))
}

fn to_json(snapshot: &Snapshot) -> Result<String> {
    serde_json::to_string(snapshot).map_err(|e| ServerError::Corrupt(format!("snapshot: {e}")))
}

/// What is stored about a device before a report is applied.
struct Known {
    /// The device's latest snapshot (from any agent).
    current: Option<Snapshot>,
    /// This agent's last delivered state of it: (digest, snapshot JSON).
    base: Option<(String, String)>,
}

async fn known(
    tx: &mut Transaction<'static, Any>,
    batch: &IngestBatch,
    identity: &str,
) -> Result<Known> {
    let row = sqlx::query(
        "SELECT d.snapshot AS current, s.digest AS digest, s.snapshot AS base FROM devices d \
         LEFT JOIN agent_device_state s ON s.device_id = d.id AND s.agent_id = $1 \
         WHERE d.tenant_id = $2 AND d.identity = $3",
    )
    .bind(batch.agent_id.0)
    .bind(batch.tenant_id.0)
    .bind(identity)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Known {
            current: None,
            base: None,
        });
    };
    let current = parse_snapshot(&row.try_get::<String, _>("current")?)?;
    let digest: Option<String> = row.try_get("digest")?;
    let base: Option<String> = row.try_get("base")?;
    Ok(Known {
        current: Some(current),
        base: digest.zip(base),
    })
}

/// Resolve a report to the full snapshot it describes and what is known of
/// its device, or `Err(identity)` when a delta's base is not the one stored
/// for this agent. `Ok(None)`: no identity (no serial, no MAC).
async fn resolve(
    tx: &mut Transaction<'static, Any>,
    batch: &IngestBatch,
    report: DeviceReport,
) -> Result<Result<Option<(String, Snapshot, Known)>, String>> {
    match report {
        DeviceReport::Full { snapshot } => {
            let Some(identity) = snapshot.identity() else {
                return Ok(Ok(None));
            };
            let known = known(tx, batch, &identity).await?;
            Ok(Ok(Some((identity, *snapshot, known))))
        }
        DeviceReport::Delta {
            identity,
            base,
            delta,
        } => {
            let known = known(tx, batch, &identity).await?;
            let Some((digest, text)) = &known.base else {
                return Ok(Err(identity));
            };
            if *digest != base {
                return Ok(Err(identity));
            }
            let base_snapshot = parse_snapshot(text)?;
            match delta::apply(&base_snapshot, &delta) {
                Ok(next) if next.identity().as_deref() == Some(identity.as_str()) => {
                    Ok(Ok(Some((identity, next, known))))
                }
                _ => Ok(Err(identity)),
            }
        }
    }
}

/// `($1, $2, …), ($k+1, …)`: placeholders of a multi-row INSERT.
fn values(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Store one device state: the device row, the agent's delta base, changed
/// meters (resets flagged), supplies when they changed, alerts when they
/// changed. Four statements for a typical delta.
async fn store_snapshot(
    tx: &mut Transaction<'static, Any>,
    batch: &IngestBatch,
    identity: &str,
    snapshot: &Snapshot,
    known: &Known,
) -> Result<()> {
    let at = parse_time(&snapshot.collected_at).unwrap_or(batch.now);
    let json = to_json(snapshot)?;
    let digest = delta::digest(snapshot)?;
    let previous = known.current.as_ref();
    let row = sqlx::query(
        "INSERT INTO devices (tenant_id, site_id, identity, family, vendor, model, serial, mac, \
         target, first_seen, last_seen, last_agent_id, snapshot) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12) \
         ON CONFLICT (tenant_id, identity) DO UPDATE SET family = excluded.family, \
         vendor = excluded.vendor, model = excluded.model, serial = excluded.serial, \
         mac = excluded.mac, target = excluded.target, last_seen = excluded.last_seen, \
         last_agent_id = excluded.last_agent_id, snapshot = excluded.snapshot, \
         site_id = COALESCE(devices.site_id, excluded.site_id) \
         RETURNING id",
    )
    .bind(batch.tenant_id.0)
    .bind(batch.site_id.map(|s| s.0))
    .bind(identity)
    .bind(snapshot.family.clone())
    .bind(snapshot.vendor.clone())
    .bind(snapshot.model.clone())
    .bind(snapshot.serial.clone())
    .bind(snapshot.mac.clone())
    .bind(snapshot.target.clone())
    .bind(at)
    .bind(batch.agent_id.0)
    .bind(json.clone())
    .fetch_one(&mut **tx)
    .await?;
    let device_id: i64 = row.try_get("id")?;

    sqlx::query(
        "INSERT INTO agent_device_state (agent_id, device_id, digest, snapshot) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id, device_id) \
         DO UPDATE SET digest = excluded.digest, snapshot = excluded.snapshot",
    )
    .bind(batch.agent_id.0)
    .bind(device_id)
    .bind(digest)
    .bind(json)
    .execute(&mut **tx)
    .await?;

    // The last stored value of each meter is the one in the device's
    // latest snapshot: readings are stored whenever a value changes.
    let mut last: HashMap<String, i64> = HashMap::new();
    for m in previous.map_or(&[][..], |p| &p.meters) {
        if let Ok(v) = i64::try_from(m.value) {
            last.entry(m.name.clone()).or_insert(v);
        }
    }
    let readings = meter_changes(&last, &snapshot.meters);
    if !readings.is_empty() {
        let sql = format!(
            "INSERT INTO meter_readings (device_id, name, value, at, reset) VALUES {}",
            values(readings.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for r in &readings {
            if r.reset {
                tracing::info!(device = device_id, meter = %r.name, "meter reset detected");
            }
            q = q
                .bind(device_id)
                .bind(r.name.clone())
                .bind(r.value)
                .bind(at)
                .bind(i64::from(r.reset));
        }
        q.execute(&mut **tx).await?;
    }

    if !snapshot.supplies.is_empty() && previous.is_none_or(|p| p.supplies != snapshot.supplies) {
        let sql = format!(
            "INSERT INTO supply_readings (device_id, description, kind, color, percent, state, at) \
             VALUES {}",
            values(snapshot.supplies.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for s in &snapshot.supplies {
            q = q
                .bind(device_id)
                .bind(s.description.clone())
                .bind(s.kind.clone())
                .bind(s.color.clone())
                .bind(s.percent)
                .bind(s.state.clone())
                .bind(at);
        }
        q.execute(&mut **tx).await?;
    }

    // Open alerts follow the device's alert table; nothing to do while it
    // is unchanged.
    if previous.is_some_and(|p| p.alerts == snapshot.alerts) {
        return Ok(());
    }
    let open: Vec<(i64, String, String)> = sqlx::query(
        "SELECT id, alert_group, code FROM alerts WHERE device_id = $1 AND closed_at IS NULL",
    )
    .bind(device_id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok((
            r.try_get("id")?,
            r.try_get("alert_group")?,
            r.try_get("code")?,
        ))
    })
    .collect::<Result<_>>()?;
    let (close, new) = alert_changes(&open, &snapshot.alerts);
    for id in close {
        sqlx::query("UPDATE alerts SET closed_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
    }
    for a in new {
        sqlx::query(
            "INSERT INTO alerts (device_id, severity, alert_group, code, description, opened_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(device_id)
        .bind(a.severity.clone())
        .bind(a.group.clone())
        .bind(a.code.clone())
        .bind(a.description.clone())
        .bind(at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

impl SqlStore {
    async fn visible_device(&self, scope: TenantId, id: DeviceId) -> Result<bool> {
        Ok(sqlx::query(&format!(
            "SELECT id FROM devices WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestOutcome> {
        let Some(seq) = seq_for_db(batch.seq) else {
            return Ok(IngestOutcome::default());
        };
        let mut tx = self.pool.begin().await?;
        // First statement is a write: SQLite takes the write lock at once.
        let advanced = sqlx::query(
            "UPDATE agents SET last_seq = $2, last_seen_at = $3 \
             WHERE id = $1 AND state = 'active' AND last_seq < $2",
        )
        .bind(batch.agent_id.0)
        .bind(seq)
        .bind(batch.now)
        .execute(&mut *tx)
        .await?;
        if advanced.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(IngestOutcome::default());
        }
        let mut outcome = IngestOutcome {
            applied: true,
            ..IngestOutcome::default()
        };
        for report in batch.reports.clone() {
            let (identity, snapshot, known) = match resolve(&mut tx, &batch, report).await? {
                Ok(Some(resolved)) => resolved,
                Ok(None) => {
                    outcome.skipped += 1;
                    continue;
                }
                Err(identity) => {
                    outcome.resync.push(identity);
                    continue;
                }
            };
            store_snapshot(&mut tx, &batch, &identity, &snapshot, &known).await?;
            outcome.devices += 1;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let grants = if filter.granted_to.is_some() {
            "AND id IN (SELECT gd.device_id FROM group_devices gd \
             JOIN group_grants gg ON gg.group_id = gd.group_id WHERE gg.user_id = $4)"
        } else {
            ""
        };
        let query = format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id IN {VISIBLE} AND id > $2 {grants} \
             ORDER BY id LIMIT $3"
        );
        let mut q = sqlx::query(&query)
            .bind(filter.scope.0)
            .bind(filter.after.map_or(0, |d| d.0))
            .bind(filter.limit);
        if let Some(user) = filter.granted_to {
            q = q.bind(user.0);
        }
        q.fetch_all(&self.pool).await?.iter().map(device).collect()
    }

    async fn device(&self, scope: TenantId, id: DeviceId) -> Result<Option<Device>> {
        sqlx::query(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(device)
        .transpose()
    }

    async fn device_snapshot(&self, scope: TenantId, id: DeviceId) -> Result<Option<Snapshot>> {
        sqlx::query(&format!(
            "SELECT snapshot FROM devices WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| parse_snapshot(&row.try_get::<String, _>("snapshot")?))
        .transpose()
    }

    async fn meter_readings(
        &self,
        scope: TenantId,
        id: DeviceId,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<MeterReading>>> {
        if !self.visible_device(scope, id).await? {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT name, value, at, reset FROM meter_readings \
             WHERE device_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(id.0)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MeterReading {
                    name: r.try_get("name")?,
                    value: r.try_get("value")?,
                    at: r.try_get("at")?,
                    reset: r.try_get::<i64, _>("reset")? != 0,
                })
            })
            .collect::<Result<_>>()
            .map(Some)
    }

    async fn meter_series(
        &self,
        scope: TenantId,
        name: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Device, Option<i64>, Vec<(i64, bool)>)>> {
        let devices = sqlx::query(&format!(
            "SELECT {DEVICE_COLS} FROM devices WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(device)
        .collect::<Result<Vec<_>>>()?;
        let baselines: HashMap<i64, i64> = sqlx::query(&format!(
            "SELECT device_id, value FROM meter_readings WHERE id IN \
             (SELECT MAX(id) FROM meter_readings WHERE name = $2 AND at < $3 AND device_id IN \
             (SELECT id FROM devices WHERE tenant_id IN {VISIBLE}) GROUP BY device_id)"
        ))
        .bind(scope.0)
        .bind(name)
        .bind(from)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("device_id")?, r.try_get("value")?)))
        .collect::<Result<_>>()?;
        let mut series: HashMap<i64, Vec<(i64, bool)>> = HashMap::new();
        for r in sqlx::query(&format!(
            "SELECT device_id, value, reset FROM meter_readings WHERE name = $2 AND at >= $3 \
             AND at < $4 AND device_id IN (SELECT id FROM devices WHERE tenant_id IN {VISIBLE}) \
             ORDER BY device_id, at, id"
        ))
        .bind(scope.0)
        .bind(name)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        {
            series
                .entry(r.try_get("device_id")?)
                .or_default()
                .push((r.try_get("value")?, r.try_get::<i64, _>("reset")? != 0));
        }
        Ok(devices
            .into_iter()
            .map(|d| {
                let base = baselines.get(&d.id.0).copied();
                let readings = series.remove(&d.id.0).unwrap_or_default();
                (d, base, readings)
            })
            .collect())
    }

    async fn supply_readings(
        &self,
        scope: TenantId,
        id: DeviceId,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<SupplyReading>>> {
        if !self.visible_device(scope, id).await? {
            return Ok(None);
        }
        sqlx::query(
            "SELECT description, kind, color, percent, state, at FROM supply_readings \
             WHERE device_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
        )
        .bind(id.0)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SupplyReading {
                description: r.try_get("description")?,
                kind: r.try_get("kind")?,
                color: r.try_get("color")?,
                percent: r.try_get("percent")?,
                state: r.try_get("state")?,
                at: r.try_get("at")?,
            })
        })
        .collect::<Result<_>>()
        .map(Some)
    }

    async fn alerts(
        &self,
        scope: TenantId,
        id: DeviceId,
        open_only: bool,
    ) -> Result<Option<Vec<AlertRecord>>> {
        if !self.visible_device(scope, id).await? {
            return Ok(None);
        }
        let filter = if open_only {
            "AND closed_at IS NULL"
        } else {
            ""
        };
        sqlx::query(&format!(
            "SELECT id, severity, alert_group, code, description, opened_at, closed_at \
             FROM alerts WHERE device_id = $1 {filter} ORDER BY id"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(AlertRecord {
                id: r.try_get("id")?,
                severity: r.try_get("severity")?,
                group: r.try_get("alert_group")?,
                code: r.try_get("code")?,
                description: r.try_get("description")?,
                opened_at: r.try_get("opened_at")?,
                closed_at: r.try_get("closed_at")?,
            })
        })
        .collect::<Result<_>>()
        .map(Some)
    }
}
