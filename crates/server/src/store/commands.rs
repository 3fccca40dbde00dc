//! Commands to agents (`agent_commands`): see [`crate::command`] for what
//! is stored when and every crash point.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AuditWith, Backend, CommandStore, SqlStore, VISIBLE};
use crate::Result;
use crate::command::{CommandArgs, CommandOutcome, CommandRecord, CommandState, CommandToStore};
use crate::ids::*;

const COLS: &str = "id, agent_id, tenant_id, kind, args, state, issued_by, created_at, \
     expires_at, delivered_at, finished_at, result";

fn record(row: &AnyRow, now: i64) -> Result<CommandRecord> {
    let args: String = row.try_get("args")?;
    let args: CommandArgs = serde_json::from_str(&args)
        .map_err(|e| crate::ServerError::Corrupt(format!("command arguments: {e}")))?;
    let result = match row.try_get::<Option<String>, _>("result")? {
        Some(text) => Some(
            serde_json::from_str::<CommandOutcome>(&text)
                .map_err(|e| crate::ServerError::Corrupt(format!("command result: {e}")))?,
        ),
        None => None,
    };
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(CommandRecord {
        id: CommandId(row.try_get("id")?),
        agent_id: AgentId(row.try_get("agent_id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        kind: row.try_get("kind")?,
        args,
        state: CommandState::read(&row.try_get::<String, _>("state")?, expires_at, now)?,
        issued_by: row.try_get("issued_by")?,
        created_at: row.try_get("created_at")?,
        expires_at,
        delivered_at: row.try_get("delivered_at")?,
        finished_at: row.try_get("finished_at")?,
        result,
    })
}

#[async_trait]
impl CommandStore for SqlStore {
    async fn create_command_audited(
        &self,
        command: CommandToStore,
        audit: AuditWith<CommandRecord>,
        now: i64,
    ) -> Result<Option<CommandRecord>> {
        let args = serde_json::to_string(&command.args)
            .map_err(|e| crate::ServerError::Invalid(format!("command arguments: {e}")))?;
        let mut tx = self.pool.begin().await?;
        // Only for an agent that may still take commands (not revoked).
        let row = sqlx::query(&format!(
            "INSERT INTO agent_commands (agent_id, tenant_id, kind, args, state, issued_by, \
             created_at, expires_at) \
             SELECT id, tenant_id, $2, $3, 'queued', $4, $5, $6 FROM agents \
             WHERE id = $1 AND tenant_id = $7 AND state <> 'revoked' \
             RETURNING {COLS}"
        ))
        .bind(command.agent_id.0)
        .bind(command.kind)
        .bind(args)
        .bind(command.issued_by.as_str())
        .bind(now)
        .bind(command.expires_at)
        .bind(command.tenant_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let created = record(&row, now)?;
        super::tenants::insert_audit(&mut tx, &audit(&created)).await?;
        if self.backend == Backend::Postgres {
            // Delivered at commit: wakes the holder in any server process.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::command::PG_CHANNEL)
                .bind(command.agent_id.0.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Some(created))
    }

    async fn commands(
        &self,
        scope: TenantId,
        agent: AgentId,
        limit: i64,
        now: i64,
    ) -> Result<Vec<CommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM agent_commands \
             WHERE tenant_id IN {VISIBLE} AND agent_id = $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(scope.0)
        .bind(agent.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| record(r, now)).collect()
    }

    async fn queued_commands(
        &self,
        agent: AgentId,
        limit: i64,
        now: i64,
    ) -> Result<Vec<CommandRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM agent_commands \
             WHERE agent_id = $1 AND state = 'queued' AND expires_at > $2 ORDER BY id LIMIT $3"
        ))
        .bind(agent.0)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| record(r, now)).collect()
    }

    async fn acknowledge_commands(&self, agent: AgentId, ids: &[u64], now: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for &id in ids {
            let Ok(id) = i64::try_from(id) else { continue };
            sqlx::query(
                "UPDATE agent_commands SET state = 'delivered', delivered_at = $3 \
                 WHERE agent_id = $1 AND id = $2 AND state = 'queued'",
            )
            .bind(agent.0)
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn finish_command(
        &self,
        agent: AgentId,
        id: u64,
        outcome: &CommandOutcome,
        now: i64,
    ) -> Result<Option<CommandRecord>> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let result = serde_json::to_string(outcome)
            .map_err(|e| crate::ServerError::Invalid(format!("command result: {e}")))?;
        let state = if outcome.ok { "done" } else { "failed" };
        // The first result stays: a result sent again changes nothing.
        let row = sqlx::query(&format!(
            "UPDATE agent_commands SET state = $3, result = $4, finished_at = $5, \
             delivered_at = COALESCE(delivered_at, $5) \
             WHERE agent_id = $1 AND id = $2 AND state IN ('queued', 'delivered') \
             RETURNING {COLS}"
        ))
        .bind(agent.0)
        .bind(id)
        .bind(state)
        .bind(result)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| record(&r, now)).transpose()
    }
}
