//! Embedded migrations, one list per database, applied in order, each in
//! its own transaction and recorded in `schema_migrations`.

use sqlx::{AnyPool, Row};

use super::Backend;
use crate::{Result, ServerError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "totp",
        sqlite: include_str!("../../migrations/sqlite/0002_totp.sql"),
        postgres: include_str!("../../migrations/postgres/0002_totp.sql"),
    },
    Migration {
        version: 3,
        name: "sessions",
        sqlite: include_str!("../../migrations/sqlite/0003_sessions.sql"),
        postgres: include_str!("../../migrations/postgres/0003_sessions.sql"),
    },
    Migration {
        version: 4,
        name: "one_provider",
        sqlite: include_str!("../../migrations/sqlite/0004_one_provider.sql"),
        postgres: include_str!("../../migrations/postgres/0004_one_provider.sql"),
    },
    Migration {
        version: 5,
        name: "multi_server",
        sqlite: include_str!("../../migrations/sqlite/0005_multi_server.sql"),
        postgres: include_str!("../../migrations/postgres/0005_multi_server.sql"),
    },
    Migration {
        version: 6,
        name: "agent_health",
        sqlite: include_str!("../../migrations/sqlite/0006_agent_health.sql"),
        postgres: include_str!("../../migrations/postgres/0006_agent_health.sql"),
    },
    Migration {
        version: 7,
        name: "device_condition",
        sqlite: include_str!("../../migrations/sqlite/0007_device_condition.sql"),
        postgres: include_str!("../../migrations/postgres/0007_device_condition.sql"),
    },
    Migration {
        version: 8,
        name: "commands",
        sqlite: include_str!("../../migrations/sqlite/0008_commands.sql"),
        postgres: include_str!("../../migrations/postgres/0008_commands.sql"),
    },
    Migration {
        version: 9,
        name: "device_overview",
        sqlite: include_str!("../../migrations/sqlite/0009_device_overview.sql"),
        postgres: include_str!("../../migrations/postgres/0009_device_overview.sql"),
    },
];

/// Bring the schema up to date. Safe to run from several servers at once
/// on PostgreSQL (an advisory lock serialises them).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut conn = pool.acquire().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7210319)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn, backend).await;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7210319)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection, backend: Backend) -> Result<()> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (\
         version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>("version"))
        .collect::<Result<_, _>>()?;
    for m in MIGRATIONS {
        if applied.contains(&m.version) {
            continue;
        }
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let fail = |source| ServerError::Migration {
            version: m.version,
            name: m.name,
            source,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(crate::now())
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}
