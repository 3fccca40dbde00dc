//! Sessions, disabling users, new passwords, revoking API tokens.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::tenants::insert_audit;
use super::users::{USER_COLS, user};
use super::{CredentialStore, SqlStore, VISIBLE};
use crate::Result;
use crate::ids::*;
use crate::model::*;

const TOKEN_COLS: &str = "id, tenant_id, user_id, name, role, created_at, expires_at";

fn token(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        user_id: UserId(row.try_get("user_id")?),
        name: row.try_get("name")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn session(row: &AnyRow) -> Result<Session> {
    Ok(Session {
        id: SessionId(row.try_get("session_id")?),
        user_id: UserId(row.try_get("session_user_id")?),
        created_at: row.try_get("session_created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

const SESSION_COLS: &str = "s.id AS session_id, s.user_id AS session_user_id, \
     s.created_at AS session_created_at, s.last_seen_at";

#[async_trait]
impl CredentialStore for SqlStore {
    async fn create_session(&self, user: UserId, secret_hash: &str, now: i64) -> Result<Session> {
        let row = sqlx::query(
            "INSERT INTO sessions (user_id, secret_hash, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(user.0)
        .bind(secret_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(Session {
            id: SessionId(row.try_get("id")?),
            user_id: user,
            created_at: now,
            last_seen_at: now,
        })
    }

    async fn session_by_hash(&self, secret_hash: &str) -> Result<Option<(Session, User)>> {
        let cols = USER_COLS
            .split(", ")
            .map(|c| format!("u.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLS}, {cols} FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((session(&row)?, user(&row)?))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, id: SessionId, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2")
            .bind(id.0)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id: SessionId) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn purge_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    async fn sessions_of(&self, user: UserId) -> Result<Vec<Session>> {
        sqlx::query(&format!(
            "SELECT {SESSION_COLS} FROM sessions s WHERE s.user_id = $1 ORDER BY s.id"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(session)
        .collect()
    }

    async fn set_user_disabled(&self, scope: TenantId, id: UserId, disabled: bool) -> Result<bool> {
        self.disable_user(scope, id, disabled, None).await
    }

    async fn set_password(&self, id: UserId, password_hash: &str, keep_tokens: bool) -> Result<()> {
        self.new_password(id, password_hash, keep_tokens, None)
            .await
    }

    async fn tokens_of(&self, scope: TenantId, user: UserId) -> Result<Vec<ApiToken>> {
        sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens \
             WHERE tenant_id IN {VISIBLE} AND user_id = $2 ORDER BY id"
        ))
        .bind(scope.0)
        .bind(user.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token)
        .collect()
    }

    async fn token(&self, scope: TenantId, id: TokenId) -> Result<Option<ApiToken>> {
        sqlx::query(&format!(
            "SELECT {TOKEN_COLS} FROM api_tokens WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(token)
        .transpose()
    }

    async fn delete_token(&self, scope: TenantId, id: TokenId) -> Result<bool> {
        self.remove_token(scope, id, None).await
    }

    async fn set_user_disabled_audited(
        &self,
        scope: TenantId,
        id: UserId,
        disabled: bool,
        audit: NewAudit,
    ) -> Result<bool> {
        self.disable_user(scope, id, disabled, Some(&audit)).await
    }

    async fn set_password_audited(
        &self,
        id: UserId,
        password_hash: &str,
        keep_tokens: bool,
        audit: NewAudit,
    ) -> Result<()> {
        self.new_password(id, password_hash, keep_tokens, Some(&audit))
            .await
    }

    async fn end_credentials_audited(&self, user: UserId, audit: NewAudit) -> Result<(u64, u64)> {
        let mut tx = self.pool.begin().await?;
        let mut ended = [0; 2];
        for (n, table) in ["api_tokens", "sessions"].into_iter().enumerate() {
            ended[n] = sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                .bind(user.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok((ended[0], ended[1]))
    }

    async fn reset_totp_audited(
        &self,
        scope: TenantId,
        id: UserId,
        audit: NewAudit,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE users SET totp_sealed = NULL, totp_pending = NULL \
             WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        insert_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_token_audited(
        &self,
        scope: TenantId,
        id: TokenId,
        audit: NewAudit,
    ) -> Result<bool> {
        self.remove_token(scope, id, Some(&audit)).await
    }
}

/// Each change and, when given, its audit entry: one transaction.
impl SqlStore {
    async fn disable_user(
        &self,
        scope: TenantId,
        id: UserId,
        disabled: bool,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "UPDATE users SET disabled = $3 WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .bind(i64::from(disabled))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if disabled {
            // Every credential ends with the user: an attacker's token does
            // not come back when the owner is enabled again.
            for table in ["sessions", "api_tokens"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE user_id = $1"))
                    .bind(id.0)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(audit) = audit {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn new_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_tokens: bool,
        audit: Option<&NewAudit>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id.0)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if !keep_tokens {
            sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(audit) = audit {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_token(
        &self,
        scope: TenantId,
        id: TokenId,
        audit: Option<&NewAudit>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "DELETE FROM api_tokens WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(audit) = audit {
            insert_audit(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
