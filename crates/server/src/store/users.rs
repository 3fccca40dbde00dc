//! Users and API tokens.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, UserStore, VISIBLE};
use crate::Result;
use crate::ids::*;
use crate::model::*;

pub(super) const USER_COLS: &str = "id, tenant_id, email, role, disabled, created_at";

pub(super) fn user(row: &AnyRow) -> Result<User> {
    Ok(User {
        id: UserId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        email: row.try_get("email")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: NewUser, now: i64) -> Result<User> {
        let row = sqlx::query(&format!(
            "INSERT INTO users (tenant_id, email, password_hash, role, disabled, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING {USER_COLS}"
        ))
        .bind(u.tenant_id.0)
        .bind(u.email.trim().to_lowercase())
        .bind(u.password_hash)
        .bind(u.role.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        user(&row)
    }

    async fn user(&self, scope: TenantId, id: UserId) -> Result<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(user)
        .transpose()
    }

    async fn users(&self, scope: TenantId) -> Result<Vec<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(user)
        .collect()
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLS}, password_hash FROM users WHERE email = $1"
        ))
        .bind(email.trim().to_lowercase())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((user(&row)?, row.try_get("password_hash")?))),
            None => Ok(None),
        }
    }

    async fn count_users(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    async fn create_token(
        &self,
        owner: &User,
        name: &str,
        role: Role,
        secret_hash: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<ApiToken> {
        let row = sqlx::query(
            "INSERT INTO api_tokens (tenant_id, user_id, name, secret_hash, role, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(owner.tenant_id.0)
        .bind(owner.id.0)
        .bind(name)
        .bind(secret_hash)
        .bind(role.as_str())
        .bind(now)
        .bind(expires_at)
        .fetch_one(&self.pool)
        .await?;
        Ok(ApiToken {
            id: TokenId(row.try_get("id")?),
            tenant_id: owner.tenant_id,
            user_id: owner.id,
            name: name.to_owned(),
            role,
            created_at: now,
            expires_at,
        })
    }

    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<(ApiToken, User)>> {
        let row = sqlx::query(
            "SELECT t.id AS token_id, t.name AS token_name, t.role AS token_role, \
             t.created_at AS token_created_at, t.expires_at, \
             u.id, u.tenant_id, u.email, u.role, u.disabled, u.created_at \
             FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1",
        )
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let owner = user(&row)?;
        let token = ApiToken {
            id: TokenId(row.try_get("token_id")?),
            tenant_id: owner.tenant_id,
            user_id: owner.id,
            name: row.try_get("token_name")?,
            role: Role::parse(&row.try_get::<String, _>("token_role")?)?,
            created_at: row.try_get("token_created_at")?,
            expires_at: row.try_get("expires_at")?,
        };
        Ok(Some((token, owner)))
    }

    async fn totp_state(&self, user: UserId) -> Result<Option<TotpState>> {
        let row = sqlx::query(
            "SELECT totp_sealed, totp_pending, totp_last_step FROM users WHERE id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TotpState {
            sealed: row.try_get("totp_sealed")?,
            pending: row.try_get("totp_pending")?,
            last_step: row.try_get("totp_last_step")?,
        }))
    }

    async fn set_totp_pending(&self, user: UserId, sealed: &[u8]) -> Result<()> {
        sqlx::query("UPDATE users SET totp_pending = $2 WHERE id = $1")
            .bind(user.0)
            .bind(sealed.to_vec())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn confirm_totp(&self, user: UserId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_sealed = totp_pending, totp_pending = NULL, totp_last_step = $2 \
             WHERE id = $1 AND totp_pending IS NOT NULL AND totp_last_step < $2",
        )
        .bind(user.0)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
        )
        .bind(user.0)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
