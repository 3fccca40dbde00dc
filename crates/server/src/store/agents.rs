//! Agents: creation with a PIN verifier, activation, revocation, sequence.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AgentStore, AuditWith, SealWith, SqlStore, StoredAgentConfig, VISIBLE, opt_id};
use crate::Result;
use crate::ids::*;
use crate::model::*;

const AGENT_COLS: &str = "id, tenant_id, site_id, name, state, pin_expires_at, expires_at, \
     last_seq, last_heartbeat_seq, last_seen_at, agent_version, os, hostname, config_version, \
     last_heartbeat_at, uptime_secs, spool_records, spool_bytes, device_count, last_sweep, \
     heartbeat_every_secs, config_in_force, config_error, clock_error_secs, created_at";

fn agent(row: &AnyRow) -> Result<Agent> {
    Ok(Agent {
        id: AgentId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        site_id: opt_id(row, "site_id", SiteId)?,
        name: row.try_get("name")?,
        state: AgentState::parse(&row.try_get::<String, _>("state")?)?,
        pin_expires_at: row.try_get("pin_expires_at")?,
        expires_at: row.try_get("expires_at")?,
        last_seq: row.try_get("last_seq")?,
        last_heartbeat_seq: row.try_get("last_heartbeat_seq")?,
        last_seen_at: row.try_get("last_seen_at")?,
        agent_version: row.try_get("agent_version")?,
        os: row.try_get("os")?,
        hostname: row.try_get("hostname")?,
        config_version: row.try_get("config_version")?,
        health: health(row)?,
        created_at: row.try_get("created_at")?,
    })
}

fn health(row: &AnyRow) -> Result<AgentHealth> {
    let last_sweep = match row.try_get::<Option<String>, _>("last_sweep")? {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| crate::ServerError::Corrupt(format!("last sweep of an agent: {e}")))?,
        ),
        None => None,
    };
    Ok(AgentHealth {
        last_heartbeat_at: row.try_get("last_heartbeat_at")?,
        uptime_secs: row.try_get("uptime_secs")?,
        spool_records: row.try_get("spool_records")?,
        spool_bytes: row.try_get("spool_bytes")?,
        devices: row.try_get("device_count")?,
        last_sweep,
        heartbeat_every_secs: row.try_get("heartbeat_every_secs")?,
        config_in_force: row.try_get("config_in_force")?,
        config_error: row.try_get("config_error")?,
        clock_error_secs: row.try_get("clock_error_secs")?,
    })
}

/// Sequence numbers are stored as BIGINT; larger ones are refused.
fn seq_i64(seq: u64) -> Option<i64> {
    i64::try_from(seq).ok()
}

#[async_trait]
impl AgentStore for SqlStore {
    async fn create_agent(&self, a: NewAgent, now: i64) -> Result<Agent> {
        let row = sqlx::query(&format!(
            "INSERT INTO agents (tenant_id, site_id, name, state, pin_verifier, pin_expires_at, \
             pin_failures, expires_at, last_seq, created_at) \
             VALUES ($1, $2, $3, 'pending', $4, $5, 0, $6, 0, $7) RETURNING {AGENT_COLS}"
        ))
        .bind(a.tenant_id.0)
        .bind(a.site_id.map(|s| s.0))
        .bind(a.name)
        .bind(a.pin_verifier)
        .bind(a.pin_expires_at)
        .bind(a.expires_at)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        agent(&row)
    }

    async fn agent(&self, scope: TenantId, id: AgentId) -> Result<Option<Agent>> {
        sqlx::query(&format!(
            "SELECT {AGENT_COLS} FROM agents WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(agent)
        .transpose()
    }

    async fn agents(&self, scope: TenantId) -> Result<Vec<Agent>> {
        sqlx::query(&format!(
            "SELECT {AGENT_COLS} FROM agents WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(agent)
        .collect()
    }

    async fn agent_with_secrets(&self, id: AgentId) -> Result<Option<(Agent, AgentSecrets)>> {
        let row = sqlx::query(&format!(
            "SELECT {AGENT_COLS}, pin_verifier, pin_failures, key_sealed, config_sealed \
             FROM agents WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let secrets = AgentSecrets {
            pin_verifier: row.try_get("pin_verifier")?,
            pin_failures: row.try_get("pin_failures")?,
            key_sealed: row.try_get("key_sealed")?,
            config_sealed: row.try_get("config_sealed")?,
        };
        Ok(Some((agent(&row)?, secrets)))
    }

    async fn record_pin_failure(&self, id: AgentId, max: i64) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE agents SET pin_failures = pin_failures + 1, \
             pin_verifier = CASE WHEN pin_failures + 1 >= $2 THEN NULL ELSE pin_verifier END \
             WHERE id = $1 RETURNING pin_failures",
        )
        .bind(id.0)
        .bind(max)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(row.try_get("pin_failures")?),
            None => Ok(0),
        }
    }

    async fn set_pin(
        &self,
        scope: TenantId,
        id: AgentId,
        verifier: &[u8],
        expires_at: i64,
    ) -> Result<bool> {
        self.pin(scope, id, verifier, expires_at, None).await
    }

    async fn activate_agent(
        &self,
        id: AgentId,
        key_sealed: &[u8],
        report: &AgentReport,
        now: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE agents SET state = 'active', key_sealed = $2, pin_verifier = NULL, \
             pin_expires_at = NULL, agent_version = $3, os = $4, hostname = $5, last_seen_at = $6 \
             WHERE id = $1 AND state = 'pending' AND pin_verifier IS NOT NULL AND pin_expires_at > $6 \
             AND (expires_at IS NULL OR expires_at > $6)",
        )
        .bind(id.0)
        .bind(key_sealed.to_vec())
        .bind(report.version.clone())
        .bind(report.os.clone())
        .bind(report.hostname.clone())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_agent(&self, scope: TenantId, id: AgentId) -> Result<bool> {
        self.revoke(scope, id, None).await
    }

    async fn set_pin_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        verifier: &[u8],
        expires_at: i64,
        audit: NewAudit,
    ) -> Result<bool> {
        self.pin(scope, id, verifier, expires_at, Some(&audit))
            .await
    }

    async fn revoke_agent_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        audit: NewAudit,
    ) -> Result<bool> {
        self.revoke(scope, id, Some(&audit)).await
    }

    async fn heartbeat(
        &self,
        id: AgentId,
        seq: u64,
        record: &HeartbeatRecord,
        now: i64,
    ) -> Result<bool> {
        let Some(seq) = seq_i64(seq) else {
            return Ok(false);
        };
        let h = &record.health;
        let last_sweep = match &h.last_sweep {
            Some(sweep) => Some(serde_json::to_string(sweep).map_err(|e| {
                crate::ServerError::Invalid(format!("last sweep of agent {id}: {e}"))
            })?),
            None => None,
        };
        // Heartbeats count in their own sequence; the state and expiry are
        // checked again here, in the statement that applies it.
        let done = sqlx::query(
            "UPDATE agents SET last_heartbeat_seq = $2, last_seen_at = $3, agent_version = $4, \
             os = $5, hostname = $6, last_heartbeat_at = $3, uptime_secs = $7, \
             spool_records = $8, spool_bytes = $9, device_count = $10, last_sweep = $11, \
             heartbeat_every_secs = $12, config_in_force = $13, config_error = $14, \
             clock_error_secs = $15 WHERE id = $1 AND state = 'active' \
             AND (expires_at IS NULL OR expires_at > $3) AND last_heartbeat_seq < $2",
        )
        .bind(id.0)
        .bind(seq)
        .bind(now)
        .bind(record.report.version.clone())
        .bind(record.report.os.clone())
        .bind(record.report.hostname.clone())
        .bind(h.uptime_secs)
        .bind(h.spool_records)
        .bind(h.spool_bytes)
        .bind(h.devices)
        .bind(last_sweep)
        .bind(h.heartbeat_every_secs)
        .bind(h.config_in_force)
        .bind(h.config_error.clone())
        .bind(h.clock_error_secs)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_agent_config_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        seal: SealWith,
        audit: AuditWith<i64>,
        now: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.pool.begin().await?;
        // The version first: the sealed configuration is bound to it.
        let row = sqlx::query(&format!(
            "UPDATE agents SET config_version = config_version + 1, config_updated_at = $3 \
             WHERE tenant_id IN {VISIBLE} AND id = $2 AND state <> 'revoked' \
             RETURNING config_version"
        ))
        .bind(scope.0)
        .bind(id.0)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row.try_get("config_version")?;
        let sealed = seal(version)?;
        sqlx::query("UPDATE agents SET config_sealed = $2 WHERE id = $1")
            .bind(id.0)
            .bind(sealed)
            .execute(&mut *tx)
            .await?;
        super::tenants::insert_audit(&mut tx, &audit(&version)).await?;
        tx.commit().await?;
        Ok(Some(version))
    }

    async fn agent_config(
        &self,
        scope: TenantId,
        id: AgentId,
    ) -> Result<Option<StoredAgentConfig>> {
        let row = sqlx::query(&format!(
            "SELECT config_version, config_updated_at, config_sealed FROM agents \
             WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredAgentConfig {
            version: row.try_get("config_version")?,
            updated_at: row.try_get("config_updated_at")?,
            sealed: row.try_get("config_sealed")?,
        }))
    }
}

pub(super) fn seq_for_db(seq: u64) -> Option<i64> {
    seq_i64(seq)
}

/// Administrative changes and, when given, their audit entry: one
/// transaction, and no entry when nothing changed.
impl SqlStore {
    async fn pin(
        &self,
        scope: TenantId,
        id: AgentId,
        verifier: &[u8],
        expires_at: i64,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE agents SET pin_verifier = $3, pin_expires_at = $4, pin_failures = 0 \
             WHERE tenant_id IN {VISIBLE} AND id = $2 AND state = 'pending'"
        ))
        .bind(scope.0)
        .bind(id.0)
        .bind(verifier.to_vec())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(audit) = audit {
            super::tenants::insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke(&self, scope: TenantId, id: AgentId, audit: Option<&NewAudit>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE agents SET state = 'revoked', key_sealed = NULL, pin_verifier = NULL \
             WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(audit) = audit {
            super::tenants::insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
