//! Users and API tokens.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::tenants::insert_audit;
use super::{AuditWith, LoginPolicy, SqlStore, UserStore, VISIBLE};
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

impl SqlStore {
    async fn insert_user(
        &self,
        u: NewUser,
        now: i64,
        audit: Option<AuditWith<User>>,
    ) -> Result<User> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!(
            "INSERT INTO users (tenant_id, email, password_hash, role, disabled, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING {USER_COLS}"
        ))
        .bind(u.tenant_id.0)
        .bind(u.email.trim().to_lowercase())
        .bind(u.password_hash)
        .bind(u.role.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let created = user(&row)?;
        if let Some(audit) = audit {
            insert_audit(&mut tx, &audit(&created)).await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_token(
        &self,
        owner: &User,
        name: &str,
        role: Role,
        secret_hash: &str,
        expires_at: Option<i64>,
        now: i64,
        audit: Option<AuditWith<ApiToken>>,
    ) -> Result<ApiToken> {
        let mut tx = self.pool.begin().await?;
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
        .fetch_one(&mut *tx)
        .await?;
        let token = ApiToken {
            id: TokenId(row.try_get("id")?),
            tenant_id: owner.tenant_id,
            user_id: owner.id,
            name: name.to_owned(),
            role,
            created_at: now,
            expires_at,
        };
        if let Some(audit) = audit {
            insert_audit(&mut tx, &audit(&token)).await?;
        }
        tx.commit().await?;
        Ok(token)
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, u: NewUser, now: i64) -> Result<User> {
        self.insert_user(u, now, None).await
    }

    async fn create_user_audited(
        &self,
        u: NewUser,
        now: i64,
        audit: AuditWith<User>,
    ) -> Result<User> {
        self.insert_user(u, now, Some(audit)).await
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
        self.insert_token(owner, name, role, secret_hash, expires_at, now, None)
            .await
    }

    async fn create_token_audited(
        &self,
        owner: &User,
        name: &str,
        role: Role,
        secret_hash: &str,
        expires_at: Option<i64>,
        now: i64,
        audit: AuditWith<ApiToken>,
    ) -> Result<ApiToken> {
        self.insert_token(owner, name, role, secret_hash, expires_at, now, Some(audit))
            .await
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

    async fn settle_setting(&self, name: &str, value: &str) -> Result<String> {
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(
            sqlx::query("SELECT value FROM server_settings WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?
                .try_get("value")?,
        )
    }

    async fn login_locked(&self, email: &str, now: i64) -> Result<bool> {
        Ok(
            sqlx::query("SELECT email FROM login_failures WHERE email = $1 AND locked_until > $2")
                .bind(failure_key(email))
                .bind(now)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn record_login_failure(&self, email: &str, now: i64, policy: LoginPolicy) -> Result<()> {
        // One statement, so that servers counting at once lose no failure.
        // A failure after the window starts a new one; reaching the maximum
        // locks, and the count starts again after the lockout.
        sqlx::query(
            "INSERT INTO login_failures (email, failures, window_start, locked_until) \
             VALUES ($1, 1, $2, NULL) ON CONFLICT (email) DO UPDATE SET \
             failures = CASE WHEN login_failures.window_start <= $3 THEN 1 \
                WHEN login_failures.failures + 1 >= $4 THEN 0 \
                ELSE login_failures.failures + 1 END, \
             locked_until = CASE WHEN login_failures.window_start > $3 \
                AND login_failures.failures + 1 >= $4 THEN $5 \
                ELSE login_failures.locked_until END, \
             window_start = CASE WHEN login_failures.window_start <= $3 \
                OR login_failures.failures + 1 >= $4 THEN $2 \
                ELSE login_failures.window_start END",
        )
        .bind(failure_key(email))
        .bind(now)
        .bind(now - policy.window_secs)
        .bind(policy.max_failures)
        .bind(now + policy.lockout_secs)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn clear_login_failures(&self, email: &str, now: i64, policy: LoginPolicy) -> Result<()> {
        sqlx::query(
            "DELETE FROM login_failures WHERE email = $1 \
             OR (window_start <= $2 AND (locked_until IS NULL OR locked_until <= $3))",
        )
        .bind(failure_key(email))
        .bind(now - policy.window_secs)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// The e-mail as login limits count it: normalised like stored e-mails,
/// and bounded (anyone may send any string here).
fn failure_key(email: &str) -> String {
    email.trim().to_lowercase().chars().take(254).collect()
}
