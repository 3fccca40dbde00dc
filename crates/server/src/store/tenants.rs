//! Tenants, sites, groups, audit log.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{SqlStore, TenantStore, VISIBLE, opt_id};
use crate::Result;
use crate::ids::*;
use crate::model::*;

fn tenant(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        id: TenantId(row.try_get("id")?),
        parent_id: opt_id(row, "parent_id", TenantId)?,
        kind: TenantKind::parse(&row.try_get::<String, _>("kind")?)?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

fn site(row: &AnyRow) -> Result<Site> {
    Ok(Site {
        id: SiteId(row.try_get("id")?),
        tenant_id: TenantId(row.try_get("tenant_id")?),
        name: row.try_get("name")?,
    })
}

/// Write an audit entry on `conn`: a pooled connection, or the transaction
/// of the action it records.
pub(super) async fn insert_audit(conn: &mut sqlx::AnyConnection, e: &NewAudit) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, target, detail, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(e.tenant_id.0)
    .bind(e.actor.as_str())
    .bind(e.action.as_str())
    .bind(e.target.as_str())
    .bind(e.detail.as_str())
    .bind(e.at)
    .execute(conn)
    .await?;
    Ok(())
}

const TENANT_COLS: &str = "id, parent_id, kind, name, created_at";

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(
        &self,
        parent: Option<TenantId>,
        kind: TenantKind,
        name: &str,
        now: i64,
    ) -> Result<Tenant> {
        let row = sqlx::query(&format!(
            "INSERT INTO tenants (parent_id, kind, name, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {TENANT_COLS}"
        ))
        .bind(parent.map(|p| p.0))
        .bind(kind.as_str())
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        tenant(&row)
    }

    async fn provider(&self) -> Result<Option<Tenant>> {
        sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE kind = 'provider' ORDER BY id LIMIT 1"
        ))
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant)
        .transpose()
    }

    async fn initialise(
        &self,
        admin_email: &str,
        admin_password_hash: &str,
        now: i64,
    ) -> Result<Option<(Tenant, User)>> {
        use super::users::{USER_COLS, user};
        let mut tx = self.pool.begin().await?;
        // Writing first (not reading): the partial unique index
        // `tenants_one_provider` decides the race, on SQLite the write lock
        // is taken before anything is read, and on PostgreSQL a loser waits
        // for the winner's commit and then inserts nothing.
        let Some(row) = sqlx::query(&format!(
            "INSERT INTO tenants (parent_id, kind, name, created_at) \
             VALUES (NULL, 'provider', 'Provider', $1) \
             ON CONFLICT (kind) WHERE kind = 'provider' DO NOTHING RETURNING {TENANT_COLS}"
        ))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let provider = tenant(&row)?;
        let row = sqlx::query(&format!(
            "INSERT INTO users (tenant_id, email, password_hash, role, disabled, created_at) \
             VALUES ($1, $2, $3, $4, 0, $5) RETURNING {USER_COLS}"
        ))
        .bind(provider.id.0)
        .bind(admin_email.trim().to_lowercase())
        .bind(admin_password_hash)
        .bind(Role::Admin.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let admin = user(&row)?;
        insert_audit(
            &mut tx,
            &NewAudit {
                tenant_id: provider.id,
                actor: "server".into(),
                action: "server.initialise".into(),
                target: format!("tenant {}", provider.id),
                detail: format!("administrator {}", admin.email),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some((provider, admin)))
    }

    async fn tenant(&self, scope: TenantId, id: TenantId) -> Result<Option<Tenant>> {
        sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(tenant)
        .transpose()
    }

    async fn tenants(&self, scope: TenantId) -> Result<Vec<Tenant>> {
        sqlx::query(&format!(
            "SELECT {TENANT_COLS} FROM tenants WHERE id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(tenant)
        .collect()
    }

    async fn delete_tenant(&self, id: TenantId) -> Result<()> {
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn create_site(&self, tenant: TenantId, name: &str) -> Result<Site> {
        let row = sqlx::query(
            "INSERT INTO sites (tenant_id, name) VALUES ($1, $2) RETURNING id, tenant_id, name",
        )
        .bind(tenant.0)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        site(&row)
    }

    async fn sites(&self, scope: TenantId) -> Result<Vec<Site>> {
        sqlx::query(&format!(
            "SELECT id, tenant_id, name FROM sites WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(site)
        .collect()
    }

    async fn site(&self, scope: TenantId, id: SiteId) -> Result<Option<Site>> {
        sqlx::query(&format!(
            "SELECT id, tenant_id, name FROM sites WHERE tenant_id IN {VISIBLE} AND id = $2"
        ))
        .bind(scope.0)
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(site)
        .transpose()
    }

    async fn create_group(&self, tenant: TenantId, name: &str) -> Result<Group> {
        let row =
            sqlx::query("INSERT INTO device_groups (tenant_id, name) VALUES ($1, $2) RETURNING id")
                .bind(tenant.0)
                .bind(name)
                .fetch_one(&self.pool)
                .await?;
        Ok(Group {
            id: GroupId(row.try_get("id")?),
            tenant_id: tenant,
            name: name.to_owned(),
        })
    }

    async fn groups(&self, scope: TenantId) -> Result<Vec<Group>> {
        sqlx::query(&format!(
            "SELECT id, tenant_id, name FROM device_groups WHERE tenant_id IN {VISIBLE} ORDER BY id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(Group {
                id: GroupId(row.try_get("id")?),
                tenant_id: TenantId(row.try_get("tenant_id")?),
                name: row.try_get("name")?,
            })
        })
        .collect()
    }

    async fn add_to_group(&self, group: GroupId, device: DeviceId) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_devices (group_id, device_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(group.0)
        .bind(device.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn grant_group(&self, user: UserId, group: GroupId) -> Result<()> {
        sqlx::query(
            "INSERT INTO group_grants (user_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(user.0)
        .bind(group.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn group_devices(&self, scope: TenantId) -> Result<Vec<(GroupId, DeviceId)>> {
        sqlx::query(&format!(
            "SELECT gd.group_id, gd.device_id FROM group_devices gd \
             JOIN device_groups g ON g.id = gd.group_id WHERE g.tenant_id IN {VISIBLE} \
             ORDER BY gd.group_id, gd.device_id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                GroupId(r.try_get("group_id")?),
                DeviceId(r.try_get("device_id")?),
            ))
        })
        .collect()
    }

    async fn group_grants(&self, scope: TenantId) -> Result<Vec<(UserId, GroupId)>> {
        sqlx::query(&format!(
            "SELECT gg.user_id, gg.group_id FROM group_grants gg \
             JOIN device_groups g ON g.id = gg.group_id WHERE g.tenant_id IN {VISIBLE} \
             ORDER BY gg.user_id, gg.group_id"
        ))
        .bind(scope.0)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                UserId(r.try_get("user_id")?),
                GroupId(r.try_get("group_id")?),
            ))
        })
        .collect()
    }

    async fn audit(&self, e: NewAudit) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        insert_audit(&mut conn, &e).await
    }

    async fn audit_log(&self, scope: TenantId, limit: i64) -> Result<Vec<AuditEntry>> {
        sqlx::query(&format!(
            "SELECT id, tenant_id, actor, action, target, detail, at FROM audit_log \
             WHERE tenant_id IN {VISIBLE} ORDER BY id DESC LIMIT $2"
        ))
        .bind(scope.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.try_get("id")?,
                tenant_id: TenantId(row.try_get("tenant_id")?),
                actor: row.try_get("actor")?,
                action: row.try_get("action")?,
                target: row.try_get("target")?,
                detail: row.try_get("detail")?,
                at: row.try_get("at")?,
            })
        })
        .collect()
    }
}
