//! Ingest of one submission, batched per envelope: one lookup of every
//! device the envelope names, its reports applied in order in memory, then
//! one multi-row statement per table. A handful of statements per envelope
//! instead of four per report: on PostgreSQL each one is a round trip.
//!
//! Everything happens in the transaction that advances the agent's sequence
//! number, so an envelope is stored whole and exactly once, or not at all.
//!
//! Time order is the device's, not the order of delivery: a report whose
//! `collected_at` is not later than the device's current state (another
//! agent's spool delivered late, say) is overtaken. It only advances this
//! agent's delta base; the device's snapshot, meters, supplies and alerts
//! ignore it. Its readings would otherwise land between newer ones, and a
//! lower counter among them would be taken for a reset (billed as usage).
//! Dropping them loses nothing a bill needs: counters only grow between
//! the readings kept.
//!
//! The agent's clock is not trusted either: a report stamped more than
//! [`MAX_CLOCK_AHEAD`] after the server's time of arrival is stored at
//! that time, with a warning (see [`clamp_to_arrival`]).

use std::collections::{BTreeMap, HashMap};

use printwatch_protocol::delta;
use printwatch_protocol::message::DeviceReport;
use printwatch_snapshot::{Alert, Snapshot, Supply};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::Backend;
use super::agents::seq_for_db;
use crate::ingest::{NewReading, alert_changes, meter_changes, parse_time};
use crate::model::{IngestBatch, IngestOutcome};
use crate::{Result, ServerError};

/// Bound parameters per statement, whatever the size of the envelope:
/// well under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_PARAMS: usize = 8_000;

pub(super) fn parse_snapshot(text: &str) -> Result<Snapshot> {
    serde_json::from_str(text).map_err(|e| ServerError::Corrupt(format!("stored snapshot: {e}")))
}

fn to_json(snapshot: &Snapshot) -> Result<String> {
    serde_json::to_string(snapshot).map_err(|e| ServerError::Corrupt(format!("snapshot: {e}")))
}

/// A device as this envelope sees it: as stored, then after each report.
#[derive(Default)]
struct DeviceState {
    /// None while the device row does not exist.
    id: Option<i64>,
    /// The device's latest snapshot (from any agent) and its JSON.
    current: Option<(Snapshot, String)>,
    /// When `current` was collected (`devices.last_seen`).
    current_at: Option<i64>,
    /// This agent's last delivered state of it: (digest, snapshot JSON).
    base: Option<(String, String)>,
    /// The envelope changed `base`.
    rebased: bool,
    /// Times of the first and last report of it in this envelope that
    /// moved `current` forward.
    seen: Option<(i64, i64)>,
    /// The identity the stored row had: a device known by its MAC whose
    /// serial showed up (see `attach_by_mac`).
    renamed_from: Option<String>,
}

/// What one applied report adds to the history.
struct Applied {
    identity: String,
    at: i64,
    readings: Vec<NewReading>,
    /// The supplies, when they changed.
    supplies: Vec<Supply>,
    /// The alert table, when it changed.
    alerts: Option<Vec<Alert>>,
}

enum Resolved {
    /// No serial, no MAC: nothing to identify it by.
    Anonymous,
    /// A delta whose base is not this agent's last state of the device.
    Resync(String),
    Snapshot(String, Box<Snapshot>),
}

pub(super) async fn ingest(
    pool: &AnyPool,
    backend: Backend,
    mut batch: IngestBatch,
) -> Result<IngestOutcome> {
    let Some(seq) = seq_for_db(batch.seq) else {
        return Ok(IngestOutcome::default());
    };
    let mut tx = pool.begin().await?;
    // First statement is a write: SQLite takes the write lock at once, and
    // concurrent envelopes of one agent wait for each other on its row.
    let advanced = sqlx::query(
        "UPDATE agents SET last_seq = $2, last_seen_at = $3 WHERE id = $1 AND state = 'active' \
         AND (expires_at IS NULL OR expires_at > $3) AND last_seq < $2",
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
    let aliases = known_by_serial(&mut tx, backend, &batch).await?;
    let mut devices = lookup(&mut tx, backend, &batch, &aliases).await?;
    let reports = std::mem::take(&mut batch.reports);
    let mut applied = Vec::with_capacity(reports.len());
    for report in reports {
        match resolve(&devices, report)? {
            Resolved::Anonymous => outcome.skipped += 1,
            Resolved::Resync(identity) => outcome.resync.push(identity),
            Resolved::Snapshot(identity, snapshot) => {
                // A device stored under its MAC stays that device.
                let identity = match aliases.get(&identity) {
                    Some(known) if !devices.contains_key(&identity) => known.clone(),
                    _ => identity,
                };
                if let Some(old) = attach_by_mac(&mut devices, &identity, &snapshot) {
                    // Earlier reports of this envelope go to the same row.
                    for a in applied
                        .iter_mut()
                        .filter(|a: &&mut Applied| a.identity == old)
                    {
                        a.identity.clone_from(&identity);
                    }
                }
                let state = devices.entry(identity.clone()).or_default();
                applied.extend(apply(state, identity, *snapshot, batch.now)?);
                outcome.devices += 1;
            }
        }
    }
    store(&mut tx, backend, &batch, &mut devices, &applied).await?;
    tx.commit().await?;
    Ok(outcome)
}

fn identity_of(report: &DeviceReport) -> Option<String> {
    match report {
        DeviceReport::Full { snapshot } => snapshot.identity(),
        DeviceReport::Delta { identity, .. } => Some(identity.clone()),
    }
}

/// A device is identified by its MAC only while it reports no serial. When
/// a report with a serial carries the MAC of such a device, and no device
/// has that serial yet, it is that device: its state moves to the new
/// identity (the row is renamed when stored), so its history continues.
/// Two devices stored already (one by serial, one by MAC) are not merged.
/// Returns the MAC identity that moved.
fn attach_by_mac(
    devices: &mut BTreeMap<String, DeviceState>,
    identity: &str,
    snapshot: &Snapshot,
) -> Option<String> {
    let old = format!("mac:{}", snapshot.mac.as_deref()?);
    if identity == old || devices.get(identity).is_some_and(|s| s.current.is_some()) {
        return None;
    }
    let mut state = devices.remove(&old)?;
    if state.current.is_none() {
        devices.insert(old, state);
        return None;
    }
    if state.id.is_some() && state.renamed_from.is_none() {
        state.renamed_from = Some(old.clone());
    }
    devices.insert(identity.to_owned(), state);
    Some(old)
}

/// The reverse of `attach_by_mac`: a report without a serial (identified by
/// its MAC, `mac:…`) from a device stored under its serial (its serial
/// could not be read this time) is that device, not a new one, when exactly
/// one device of the tenant has that MAC. One query, and only for
/// envelopes that hold such reports.
async fn known_by_serial(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &IngestBatch,
) -> Result<HashMap<String, String>> {
    let mut macs: Vec<String> = batch
        .reports
        .iter()
        .filter_map(|r| match r {
            DeviceReport::Full { snapshot } => snapshot
                .identity()
                .filter(|i| i.starts_with("mac:"))
                .and(snapshot.mac.clone()),
            DeviceReport::Delta { .. } => None,
        })
        .collect();
    macs.sort_unstable();
    macs.dedup();
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in macs.chunks(MAX_PARAMS) {
        let mut p = Params::new(backend);
        let sql = format!(
            "SELECT identity, mac FROM devices WHERE tenant_id = {} AND mac IN {} \
             AND identity NOT LIKE 'mac:%'",
            p.one(),
            p.row(chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(batch.tenant_id.0);
        for mac in chunk {
            q = q.bind(mac.clone());
        }
        for row in q.fetch_all(&mut **tx).await? {
            let mac: String = row.try_get("mac")?;
            found
                .entry(format!("mac:{mac}"))
                .or_default()
                .push(row.try_get("identity")?);
        }
    }
    // Two devices with one MAC: which one it is cannot be told.
    Ok(found
        .into_iter()
        .filter_map(|(mac, mut identities)| {
            (identities.len() == 1).then(|| (mac, identities.remove(0)))
        })
        .collect())
}

/// Every device the envelope names that is stored already, with this
/// agent's delta base of it: one query (per MAX_PARAMS identities).
async fn lookup(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &IngestBatch,
    aliases: &HashMap<String, String>,
) -> Result<BTreeMap<String, DeviceState>> {
    let mut names: Vec<String> = batch.reports.iter().filter_map(identity_of).collect();
    names.extend(aliases.values().cloned());
    // A device known by its MAC may report its serial now: see attach_by_mac.
    names.extend(batch.reports.iter().filter_map(|r| match r {
        DeviceReport::Full { snapshot } => snapshot.mac.as_ref().map(|m| format!("mac:{m}")),
        DeviceReport::Delta { .. } => None,
    }));
    names.sort_unstable();
    names.dedup();
    let mut devices = BTreeMap::new();
    for chunk in names.chunks(MAX_PARAMS) {
        let mut p = Params::new(backend);
        let sql = format!(
            "SELECT d.id AS id, d.identity AS identity, d.snapshot AS current, \
             d.last_seen AS last_seen, s.digest AS digest, s.snapshot AS base FROM devices d \
             LEFT JOIN agent_device_state s ON s.device_id = d.id AND s.agent_id = {} \
             WHERE d.tenant_id = {} AND d.identity IN {}",
            p.one(),
            p.one(),
            p.row(chunk.len())
        );
        let mut q = sqlx::query(&sql)
            .bind(batch.agent_id.0)
            .bind(batch.tenant_id.0);
        for name in chunk {
            q = q.bind(name.clone());
        }
        for row in q.fetch_all(&mut **tx).await? {
            let current: String = row.try_get("current")?;
            let digest: Option<String> = row.try_get("digest")?;
            let base: Option<String> = row.try_get("base")?;
            devices.insert(
                row.try_get("identity")?,
                DeviceState {
                    id: Some(row.try_get("id")?),
                    current: Some((parse_snapshot(&current)?, current)),
                    current_at: Some(row.try_get("last_seen")?),
                    base: digest.zip(base),
                    ..DeviceState::default()
                },
            );
        }
    }
    Ok(devices)
}

/// The full snapshot a report describes, given what the envelope knows.
fn resolve(devices: &BTreeMap<String, DeviceState>, report: DeviceReport) -> Result<Resolved> {
    match report {
        DeviceReport::Full { snapshot } => Ok(match snapshot.identity() {
            Some(identity) => Resolved::Snapshot(identity, snapshot),
            None => Resolved::Anonymous,
        }),
        DeviceReport::Delta {
            identity,
            base,
            delta,
        } => {
            let state = devices.get(&identity);
            let Some((digest, text)) = state.and_then(|s| s.base.as_ref()) else {
                return Ok(Resolved::Resync(identity));
            };
            if *digest != base {
                return Ok(Resolved::Resync(identity));
            }
            // Usually the agent's base is the device's current state: parsed once.
            let base_snapshot = match state.and_then(|s| s.current.as_ref()) {
                Some((current, json)) if json == text => current.clone(),
                _ => parse_snapshot(text)?,
            };
            Ok(match delta::apply(&base_snapshot, &delta) {
                Ok(next) if next.identity().as_deref() == Some(identity.as_str()) => {
                    Resolved::Snapshot(identity, Box::new(next))
                }
                _ => Resolved::Resync(identity),
            })
        }
    }
}

/// Apply one report to its device's state; what it adds to the history
/// is measured against the state before it (from the database or from an
/// earlier report of the same envelope). None when the report is not later
/// than that state: it only becomes this agent's base (see the module doc).
fn apply(
    state: &mut DeviceState,
    identity: String,
    snapshot: Snapshot,
    now: i64,
) -> Result<Option<Applied>> {
    let sent_at = parse_time(&snapshot.collected_at).unwrap_or(now);
    let json = to_json(&snapshot)?;
    // The agent's next delta is against what it sent, overtaken or not.
    state.base = Some((delta::digest(&snapshot)?, json.clone()));
    state.rebased = true;
    let (snapshot, json, at) = if sent_at > now + MAX_CLOCK_AHEAD {
        clamp_to_arrival(snapshot, now)?
    } else {
        (snapshot, json, sent_at)
    };
    if state.current_at.is_some_and(|last| at <= last) {
        return Ok(None);
    }
    let previous = state.current.as_ref().map(|(s, _)| s);
    // The last stored value of each meter is the one in the device's
    // latest snapshot: readings are stored whenever a value changes.
    let mut last: HashMap<String, i64> = HashMap::new();
    for m in previous.map_or(&[][..], |p| &p.meters) {
        if let Ok(v) = i64::try_from(m.value) {
            last.entry(m.name.clone()).or_insert(v);
        }
    }
    let readings = meter_changes(&last, &snapshot.meters);
    let supplies = if previous.is_none_or(|p| p.supplies != snapshot.supplies) {
        snapshot.supplies.clone()
    } else {
        vec![]
    };
    // A device not stored yet has no open alerts to close.
    let alerts_changed = match previous {
        Some(p) => p.alerts != snapshot.alerts,
        None => !snapshot.alerts.is_empty(),
    };
    let alerts = alerts_changed.then(|| snapshot.alerts.clone());
    state.current = Some((snapshot, json));
    state.current_at = Some(at);
    state.seen = Some(state.seen.map_or((at, at), |(first, _)| (first, at)));
    Ok(Some(Applied {
        identity,
        at,
        readings,
        supplies,
        alerts,
    }))
}

/// A report stamped later than this (seconds) after the server's clock
/// comes from an agent whose clock is wrong: see [`clamp_to_arrival`].
pub const MAX_CLOCK_AHEAD: i64 = 300;

/// A report from the future is stored at the time it arrived, with a
/// warning saying so. Taken as it is, it would make every later, correct
/// report "not newer" (the module doc's rule) and freeze the device's
/// meters until the agent's clock caught up — in 2100, say. Clamped
/// rather than refused: the readings are real, only their time is wrong,
/// and a refused envelope would be sent again for ever.
fn clamp_to_arrival(mut snapshot: Snapshot, now: i64) -> Result<(Snapshot, String, i64)> {
    let arrived = crate::ingest::format_time(now);
    let warning = format!(
        "collected_at {} is ahead of the server's clock; stored at its arrival, {arrived} (check the agent's clock)",
        snapshot.collected_at.chars().take(40).collect::<String>()
    );
    snapshot.collected_at = arrived;
    snapshot.warnings.push(warning);
    let json = to_json(&snapshot)?;
    Ok((snapshot, json, now))
}

/// Write what the envelope changed: the devices, the agent's delta bases,
/// meter and supply readings, then alerts.
async fn store(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    batch: &IngestBatch,
    devices: &mut BTreeMap<String, DeviceState>,
    applied: &[Applied],
) -> Result<()> {
    // Renames first: the upsert below finds the row by its new identity.
    // Rare (a serial appearing), so one statement each.
    for (identity, s) in devices.iter() {
        if let (Some(id), Some(_)) = (s.id, &s.renamed_from) {
            sqlx::query("UPDATE devices SET identity = $2 WHERE id = $1")
                .bind(id)
                .bind(identity.clone())
                .execute(&mut **tx)
                .await?;
        }
    }
    // One row per device with its final state, in identity order: one
    // ON CONFLICT may not touch a row twice, and two envelopes naming the
    // same devices lock them in the same order (no deadlock).
    let touched: Vec<(&String, &Snapshot, &str, i64, i64)> = devices
        .iter()
        .filter_map(|(identity, s)| {
            let (snapshot, json) = s.current.as_ref()?;
            let (first, last) = s.seen?;
            Some((identity, snapshot, json.as_str(), first, last))
        })
        .collect();
    let ids = insert_rows(
        tx,
        backend,
        "INSERT INTO devices (tenant_id, site_id, identity, family, vendor, model, serial, mac, \
         target, first_seen, last_seen, last_agent_id, snapshot, condition, supply_need) VALUES",
        "ON CONFLICT (tenant_id, identity) DO UPDATE SET family = excluded.family, \
         vendor = excluded.vendor, model = excluded.model, serial = excluded.serial, \
         mac = excluded.mac, target = excluded.target, last_seen = excluded.last_seen, \
         last_agent_id = excluded.last_agent_id, snapshot = excluded.snapshot, \
         condition = excluded.condition, supply_need = excluded.supply_need, \
         site_id = COALESCE(devices.site_id, excluded.site_id) RETURNING id, identity",
        15,
        &touched,
        |q, (identity, s, json, first, last)| {
            q.bind(batch.tenant_id.0)
                .bind(batch.site_id.map(|s| s.0))
                .bind((*identity).clone())
                .bind(s.family.clone())
                .bind(s.vendor.clone())
                .bind(s.model.clone())
                .bind(s.serial.clone())
                .bind(s.mac.clone())
                .bind(s.target.clone())
                .bind(*first)
                .bind(*last)
                .bind(batch.agent_id.0)
                .bind(json.to_string())
                .bind(crate::ingest::Condition::of(s).as_str())
                .bind(crate::ingest::SupplyNeed::of(s).as_str())
        },
    )
    .await?;
    for row in ids {
        let identity: String = row.try_get("identity")?;
        if let Some(state) = devices.get_mut(&identity) {
            state.id = Some(row.try_get("id")?);
        }
    }
    let id_of = |identity: &str| {
        devices
            .get(identity)
            .and_then(|s| s.id)
            .ok_or_else(|| ServerError::Corrupt(format!("device {identity} was not stored")))
    };

    let bases = devices
        .values()
        .filter(|s| s.rebased)
        .map(|s| match (s.id, &s.base) {
            (Some(id), Some((digest, json))) => Ok((id, digest.as_str(), json.as_str())),
            _ => Err(ServerError::Corrupt("device without state".into())),
        })
        .collect::<Result<Vec<_>>>()?;
    insert_rows(
        tx,
        backend,
        "INSERT INTO agent_device_state (agent_id, device_id, digest, snapshot) VALUES",
        "ON CONFLICT (agent_id, device_id) \
         DO UPDATE SET digest = excluded.digest, snapshot = excluded.snapshot",
        4,
        &bases,
        |q, (id, digest, json)| {
            q.bind(batch.agent_id.0)
                .bind(*id)
                .bind(digest.to_string())
                .bind(json.to_string())
        },
    )
    .await?;

    let mut readings = vec![];
    let mut supplies = vec![];
    for a in applied {
        let id = id_of(&a.identity)?;
        for r in &a.readings {
            if r.reset {
                tracing::info!(device = id, meter = %r.name, "meter reset detected");
            }
            readings.push((id, r, a.at));
        }
        supplies.extend(a.supplies.iter().map(|s| (id, s, a.at)));
    }
    insert_rows(
        tx,
        backend,
        "INSERT INTO meter_readings (device_id, name, value, at, reset) VALUES",
        "",
        5,
        &readings,
        |q, (id, r, at)| {
            q.bind(*id)
                .bind(r.name.clone())
                .bind(r.value)
                .bind(*at)
                .bind(i64::from(r.reset))
        },
    )
    .await?;
    insert_rows(
        tx,
        backend,
        "INSERT INTO supply_readings (device_id, description, kind, color, percent, state, at) \
         VALUES",
        "",
        7,
        &supplies,
        |q, (id, s, at)| {
            q.bind(*id)
                .bind(s.description.clone())
                .bind(s.kind.clone())
                .bind(s.color.clone())
                .bind(s.percent)
                .bind(s.state.clone())
                .bind(*at)
        },
    )
    .await?;

    // Alerts change rarely: statement by statement, report by report, so
    // an alert opened by one report can be closed by the next.
    for a in applied {
        if let Some(alerts) = &a.alerts {
            update_alerts(tx, id_of(&a.identity)?, alerts, a.at).await?;
        }
    }
    Ok(())
}

/// Open alerts follow the device's alert table.
async fn update_alerts(
    tx: &mut Transaction<'static, Any>,
    device_id: i64,
    alerts: &[Alert],
    at: i64,
) -> Result<()> {
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
    let (close, new) = alert_changes(&open, alerts);
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

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

/// `head ($1, …), ($k+1, …) tail` over `rows`, in as few statements as
/// MAX_PARAMS allows; the rows RETURNING gave, if any.
async fn insert_rows<T>(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    head: &str,
    tail: &str,
    cols: usize,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &T) -> AnyQuery<'q>,
) -> Result<Vec<AnyRow>> {
    let mut out = vec![];
    for chunk in rows.chunks((MAX_PARAMS / cols).max(1)) {
        let mut p = Params::new(backend);
        let rows: Vec<String> = chunk.iter().map(|_| p.row(cols)).collect();
        let sql = format!("{head} {} {tail}", rows.join(", "));
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = bind(q, row);
        }
        out.extend(q.fetch_all(&mut **tx).await?);
    }
    Ok(out)
}

/// Placeholders of a statement, in the order the values are bound: `$N`
/// on PostgreSQL, `?` on SQLite. sqlx asks SQLite for the name of every
/// parameter it binds, and SQLite finds a name by a scan of all the named
/// ones: quadratic, the most of the time of an envelope with `$N`.
struct Params {
    backend: Backend,
    next: usize,
}

impl Params {
    fn new(backend: Backend) -> Params {
        Params { backend, next: 1 }
    }

    fn one(&mut self) -> String {
        self.next += 1;
        match self.backend {
            Backend::Postgres => format!("${}", self.next - 1),
            Backend::Sqlite => "?".into(),
        }
    }

    /// `(…, …)` of `n` placeholders.
    fn row(&mut self, n: usize) -> String {
        let row: Vec<String> = (0..n).map(|_| self.one()).collect();
        format!("({})", row.join(", "))
    }
}
