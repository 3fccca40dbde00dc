//! Agents: creation with a PIN verifier, activation, revocation, sequence.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AgentStore, SqlStore, VISIBLE, opt_id};
use crate::Result;
use crate::ids::*;
use crate::model::*;

const AGENT_COLS: &str = "id, tenant_id, site_id, name, state, pin_expires_at, expires_at, \
     last_seq, last_seen_at, agent_version, os, hostname, created_at";

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
        last_seen_at: row.try_get("last_seen_at")?,
        agent_version: row.try_get("agent_version")?,
        os: row.try_get("os")?,
        hostname: row.try_get("hostname")?,
        created_at: row.try_get("created_at")?,
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
            "SELECT {AGENT_COLS}, pin_verifier, pin_failures, key_sealed FROM agents WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let secrets = AgentSecrets {
            pin_verifier: row.try_get("pin_verifier")?,
            pin_failures: row.try_get("pin_failures")?,
            key_sealed: row.try_get("key_sealed")?,
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
        report: &AgentReport,
        now: i64,
    ) -> Result<bool> {
        let Some(seq) = seq_i64(seq) else {
            return Ok(false);
        };
        let done = sqlx::query(
            "UPDATE agents SET last_seq = $2, last_seen_at = $3, agent_version = $4, os = $5, \
             hostname = $6 WHERE id = $1 AND state = 'active' \
             AND (expires_at IS NULL OR expires_at > $3) AND last_seq < $2",
        )
        .bind(id.0)
        .bind(seq)
        .bind(now)
        .bind(report.version.clone())
        .bind(report.os.clone())
        .bind(report.hostname.clone())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
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
