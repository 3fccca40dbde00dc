//! Devices: ingest of submissions (exactly once, see `ingest.rs`) and
//! history reads.

use std::collections::HashMap;

use async_trait::async_trait;
use printwatch_snapshot::Snapshot;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::ingest::parse_snapshot;
use super::{
    DeviceStore, FleetMeterReading, FleetSupplyReading, MeterHistory, ReadingFilter, SqlStore,
    VISIBLE, opt_id,
};
use crate::Result;
use crate::billing::Reading;
use crate::ids::*;
use crate::ingest::{Condition, SupplyNeed};
use crate::model::*;

const DEVICE_COLS: &str = "id, tenant_id, site_id, identity, family, vendor, model, serial, mac, \
     target, first_seen, last_seen, last_agent_id, condition, supply_need";

/// A bound value of [`device_query`].
enum Value {
    Int(i64),
    Text(String),
}

/// The SQL of a device list or count and its values in order: the
/// caller's scope ($1), the `extra` values the columns and tail use as
/// `{extra0}`, `{extra1}`… (replaced by their placeholders), then ids after
/// `filter.after`, the grants and the narrowing of the filter.
struct DeviceSql {
    sql: String,
    values: Vec<Value>,
}

impl DeviceSql {
    fn bind<'q>(
        self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for value in self.values {
            q = match value {
                Value::Int(v) => q.bind(v),
                Value::Text(v) => q.bind(v),
            };
        }
        q
    }
}

fn device_query(filter: &DeviceFilter, columns: &str, tail: &str, extra: Vec<Value>) -> DeviceSql {
    let mut values = vec![Value::Int(filter.scope.0)];
    let next = |value: Value, values: &mut Vec<Value>| {
        values.push(value);
        format!("${}", values.len())
    };
    let mut columns = columns.to_string();
    let mut tail = tail.to_string();
    for (i, value) in extra.into_iter().enumerate() {
        let p = next(value, &mut values);
        columns = columns.replace(&format!("{{extra{i}}}"), &p);
        tail = tail.replace(&format!("{{extra{i}}}"), &p);
    }
    let mut sql = format!("SELECT {columns} FROM devices WHERE tenant_id IN {VISIBLE}");
    // Only when paging: a bare `id > 0` leads SQLite to walk the rows in
    // id order, reading every snapshot, instead of a covering index.
    if let Some(after) = filter.after {
        let p = next(Value::Int(after.0), &mut values);
        sql.push_str(&format!(" AND id > {p}"));
    }
    if let Some(user) = filter.granted_to {
        let p = next(Value::Int(user.0), &mut values);
        sql.push_str(&format!(
            " AND id IN (SELECT gd.device_id FROM group_devices gd \
             JOIN group_grants gg ON gg.group_id = gd.group_id WHERE gg.user_id = {p})"
        ));
    }
    let only = &filter.only;
    if let Some(c) = only.condition {
        let p = next(Value::Text(c.as_str().into()), &mut values);
        sql.push_str(&format!(" AND condition = {p}"));
    }
    match only.supply {
        // "Low" lists what needs ordering: low or empty.
        Some(SupplyNeed::Low) => sql.push_str(" AND supply_need IN ('low', 'empty')"),
        Some(need) => {
            let p = next(Value::Text(need.as_str().into()), &mut values);
            sql.push_str(&format!(" AND supply_need = {p}"));
        }
        None => {}
    }
    if let Some(since) = only.silent_since {
        let p = next(Value::Int(since), &mut values);
        sql.push_str(&format!(" AND last_seen < {p}"));
    }
    if let Some(text) = only
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        // LIKE's own wildcards in the text are matched as themselves.
        let mut escaped = String::new();
        for c in text.to_lowercase().chars() {
            if matches!(c, '%' | '_' | '!') {
                escaped.push('!');
            }
            escaped.push(c);
        }
        let p = next(Value::Text(format!("%{escaped}%")), &mut values);
        // Matched in a subquery that reads only the columns of the
        // covering index `devices_search` (migration 0009), not the rows.
        sql.push_str(&format!(
            " AND id IN (SELECT id FROM devices WHERE tenant_id IN {VISIBLE} \
             AND (LOWER(COALESCE(serial, '')) LIKE {p} ESCAPE '!' \
             OR LOWER(COALESCE(model, '')) LIKE {p} ESCAPE '!' \
             OR LOWER(COALESCE(vendor, '')) LIKE {p} ESCAPE '!' \
             OR LOWER(COALESCE(target, '')) LIKE {p} ESCAPE '!' \
             OR LOWER(identity) LIKE {p} ESCAPE '!'))"
        ));
    }
    if !tail.is_empty() {
        sql.push(' ');
        sql.push_str(&tail);
    }
    DeviceSql { sql, values }
}

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
        condition: {
            let text: String = row.try_get("condition")?;
            Condition::parse(&text).unwrap_or(Condition::Unknown)
        },
        supply_need: {
            let text: String = row.try_get("supply_need")?;
            SupplyNeed::parse(&text).unwrap_or(SupplyNeed::Ok)
        },
    })
}

/// The WHERE clause of fleet exports over readings `r` of devices `d`:
/// scope ($1), period ($2, $3), keyset ($4), grants ($6), and for `latest`
/// each series' last reading in the period. $5 is the limit.
fn fleet_where(filter: &ReadingFilter, table: &str, series: &str) -> String {
    let grants = if filter.granted_to.is_some() {
        "AND r.device_id IN (SELECT gd.device_id FROM group_devices gd \
         JOIN group_grants gg ON gg.group_id = gd.group_id WHERE gg.user_id = $6)"
    } else {
        ""
    };
    let latest = if filter.latest {
        format!(
            "AND r.id IN (SELECT MAX(l.id) FROM {table} l WHERE l.at >= $2 AND l.at < $3 \
             GROUP BY l.device_id, {series})"
        )
    } else {
        String::new()
    };
    format!(
        "FROM {table} r JOIN devices d ON d.id = r.device_id \
         WHERE d.tenant_id IN {VISIBLE} AND r.at >= $2 AND r.at < $3 AND r.id > $4 \
         {grants} {latest} ORDER BY r.id LIMIT $5"
    )
}

impl SqlStore {
    async fn fleet_rows(
        &self,
        filter: &ReadingFilter,
        columns: &str,
        table: &str,
        series: &str,
    ) -> Result<Vec<AnyRow>> {
        let sql = format!(
            "SELECT r.id, r.device_id, d.tenant_id, d.identity, d.model, d.serial, {columns} {}",
            fleet_where(filter, table, series)
        );
        let mut q = sqlx::query(&sql)
            .bind(filter.scope.0)
            .bind(filter.from)
            .bind(filter.to)
            .bind(filter.after)
            .bind(filter.limit);
        if let Some(user) = filter.granted_to {
            q = q.bind(user.0);
        }
        Ok(q.fetch_all(&self.pool).await?)
    }

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
        super::ingest::ingest(&self.pool, self.backend, batch).await
    }

    async fn devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>> {
        let query = device_query(
            filter,
            DEVICE_COLS,
            "ORDER BY id LIMIT {extra0}",
            vec![Value::Int(filter.limit)],
        );
        let sql = query.sql.clone();
        query
            .bind(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(device)
            .collect()
    }

    async fn device_counts(
        &self,
        filter: &DeviceFilter,
        silent_before: i64,
    ) -> Result<DeviceCounts> {
        let query = device_query(
            filter,
            "condition, supply_need, COUNT(*) AS n, \
             SUM(CASE WHEN last_seen < {extra0} THEN 1 ELSE 0 END) AS silent",
            "GROUP BY condition, supply_need",
            vec![Value::Int(silent_before)],
        );
        let sql = query.sql.clone();
        let mut counts = DeviceCounts::default();
        for row in query.bind(&sql).fetch_all(&self.pool).await? {
            let n: i64 = row.try_get("n")?;
            let silent: i64 = row.try_get::<Option<i64>, _>("silent")?.unwrap_or(0);
            let condition: String = row.try_get("condition")?;
            let need: String = row.try_get("supply_need")?;
            counts.total += n;
            counts.silent += silent;
            match Condition::parse(&condition).unwrap_or(Condition::Unknown) {
                Condition::Error => counts.error += n,
                Condition::Warning => counts.warning += n,
                Condition::Ok => counts.ok += n,
                Condition::Unknown => counts.unknown += n,
            }
            match SupplyNeed::parse(&need).unwrap_or(SupplyNeed::Ok) {
                SupplyNeed::Empty => counts.supply_empty += n,
                SupplyNeed::Low => counts.supply_low += n,
                SupplyNeed::Ok => {}
            }
        }
        Ok(counts)
    }

    async fn open_alert_counts(&self, filter: &DeviceFilter) -> Result<Vec<(String, i64)>> {
        let devices = device_query(filter, "id", "", vec![]);
        let sql = format!(
            "SELECT severity, COUNT(*) AS n FROM alerts WHERE closed_at IS NULL \
             AND device_id IN ({}) GROUP BY severity ORDER BY severity",
            devices.sql
        );
        devices
            .bind(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Ok((row.try_get("severity")?, row.try_get("n")?)))
            .collect()
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

    async fn meter_history(
        &self,
        scope: TenantId,
        from: i64,
        to: i64,
    ) -> Result<Vec<MeterHistory>> {
        let reading = |r: &AnyRow| -> Result<Reading> {
            Ok(Reading {
                value: r.try_get("value")?,
                at: r.try_get("at")?,
                reset: r.try_get::<i64, _>("reset")? != 0,
            })
        };
        // Readings of a device are stored in its time order (ingest
        // refuses older reports), so the highest id is the latest.
        let mut series: std::collections::BTreeMap<(i64, String), MeterHistory> =
            std::collections::BTreeMap::new();
        for r in sqlx::query(&format!(
            "SELECT device_id, name, value, at, reset FROM meter_readings WHERE id IN \
             (SELECT MAX(id) FROM meter_readings WHERE at < $2 AND device_id IN \
             (SELECT id FROM devices WHERE tenant_id IN {VISIBLE}) GROUP BY device_id, name)"
        ))
        .bind(scope.0)
        .bind(from)
        .fetch_all(&self.pool)
        .await?
        {
            let (device, name): (i64, String) = (r.try_get("device_id")?, r.try_get("name")?);
            series.insert(
                (device, name.clone()),
                MeterHistory {
                    device_id: DeviceId(device),
                    meter: name,
                    baseline: Some(reading(&r)?),
                    readings: vec![],
                },
            );
        }
        for r in sqlx::query(&format!(
            "SELECT device_id, name, value, at, reset FROM meter_readings WHERE at >= $2 \
             AND at < $3 AND device_id IN (SELECT id FROM devices WHERE tenant_id IN {VISIBLE}) \
             ORDER BY device_id, name, at, id"
        ))
        .bind(scope.0)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?
        {
            let (device, name): (i64, String) = (r.try_get("device_id")?, r.try_get("name")?);
            series
                .entry((device, name.clone()))
                .or_insert_with(|| MeterHistory {
                    device_id: DeviceId(device),
                    meter: name,
                    baseline: None,
                    readings: vec![],
                })
                .readings
                .push(reading(&r)?);
        }
        Ok(series.into_values().collect())
    }

    async fn device_snapshots(&self, scope: TenantId) -> Result<Vec<(DeviceId, Snapshot)>> {
        sqlx::query(&format!(
            "SELECT id, snapshot FROM devices WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok((
                DeviceId(row.try_get("id")?),
                parse_snapshot(&row.try_get::<String, _>("snapshot")?)?,
            ))
        })
        .collect()
    }

    async fn supply_history(
        &self,
        scope: TenantId,
        from: i64,
    ) -> Result<Vec<(DeviceId, SupplyReading)>> {
        sqlx::query(&format!(
            "SELECT device_id, description, kind, color, percent, state, at FROM supply_readings \
             WHERE at >= $2 AND device_id IN (SELECT id FROM devices WHERE tenant_id IN {VISIBLE}) \
             ORDER BY device_id, at, id"
        ))
        .bind(scope.0)
        .bind(from)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                DeviceId(r.try_get("device_id")?),
                SupplyReading {
                    description: r.try_get("description")?,
                    kind: r.try_get("kind")?,
                    color: r.try_get("color")?,
                    percent: r.try_get("percent")?,
                    state: r.try_get("state")?,
                    at: r.try_get("at")?,
                },
            ))
        })
        .collect()
    }

    async fn fleet_meters(&self, filter: &ReadingFilter) -> Result<Vec<FleetMeterReading>> {
        self.fleet_rows(
            filter,
            "r.name, r.value, r.at, r.reset",
            "meter_readings",
            "l.name",
        )
        .await?
        .iter()
        .map(|r| {
            Ok(FleetMeterReading {
                id: r.try_get("id")?,
                device_id: DeviceId(r.try_get("device_id")?),
                tenant_id: TenantId(r.try_get("tenant_id")?),
                identity: r.try_get("identity")?,
                model: r.try_get("model")?,
                serial: r.try_get("serial")?,
                name: r.try_get("name")?,
                value: r.try_get("value")?,
                at: r.try_get("at")?,
                reset: r.try_get::<i64, _>("reset")? != 0,
            })
        })
        .collect()
    }

    async fn fleet_supplies(&self, filter: &ReadingFilter) -> Result<Vec<FleetSupplyReading>> {
        self.fleet_rows(
            filter,
            "r.description, r.kind, r.color, r.percent, r.state, r.at",
            "supply_readings",
            "l.description",
        )
        .await?
        .iter()
        .map(|r| {
            Ok(FleetSupplyReading {
                id: r.try_get("id")?,
                device_id: DeviceId(r.try_get("device_id")?),
                tenant_id: TenantId(r.try_get("tenant_id")?),
                identity: r.try_get("identity")?,
                model: r.try_get("model")?,
                serial: r.try_get("serial")?,
                description: r.try_get("description")?,
                kind: r.try_get("kind")?,
                color: r.try_get("color")?,
                percent: r.try_get("percent")?,
                state: r.try_get("state")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
    }
}
