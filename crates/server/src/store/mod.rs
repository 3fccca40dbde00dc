//! Storage: one interface ([`Store`]), two databases.
//!
//! [`SqlStore`] implements it over sqlx's `Any` driver, so that the same
//! queries serve SQLite (the default: a file in the data directory, nothing
//! to install) and PostgreSQL (large fleets, several stateless servers).
//! The schema is written once per database in `migrations/{sqlite,postgres}`
//! and applied by [`migrate`]; the test battery (`tests/store_battery.rs`)
//! runs the same checks on both.
//!
//! SQL portability rules kept by every query here: `$N` parameters (SQLite
//! reads them too; ingest's multi-row statements use `?` on SQLite, see
//! `ingest.rs`), `RETURNING`, `ON CONFLICT`, integers as BIGINT, times
//! as UNIX seconds, flags as 0/1, sums cast to BIGINT. Every read that a
//! user can reach takes the caller's tenant as `scope` and sees only that
//! tenant and its customers ([`VISIBLE`]).

mod agents;
mod commands;
mod devices;
mod ingest;
mod migrate;
mod sessions;
mod tenants;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::ids::*;
use crate::model::*;
use crate::{Result, ServerError};

pub use migrate::migrate;

/// Ids of the tenants visible from tenant `$1`: itself and its customers.
pub(crate) const VISIBLE: &str = "(SELECT id FROM tenants WHERE id = $1 OR parent_id = $1)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Tenants, sites, groups and the audit log.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(
        &self,
        parent: Option<TenantId>,
        kind: TenantKind,
        name: &str,
        now: i64,
    ) -> Result<Tenant>;
    /// The first provider tenant, if the server was initialised.
    async fn provider(&self) -> Result<Option<Tenant>>;
    /// First start: the provider tenant, its administrator and the audit
    /// entry, in one transaction. None when a provider exists already
    /// (another server won the race): that is "initialised", not an error.
    async fn initialise(
        &self,
        admin_email: &str,
        admin_password_hash: &str,
        now: i64,
    ) -> Result<Option<(Tenant, User)>>;
    async fn tenant(&self, scope: TenantId, id: TenantId) -> Result<Option<Tenant>>;
    async fn tenants(&self, scope: TenantId) -> Result<Vec<Tenant>>;
    /// Delete a tenant and everything it owns (its customers too).
    async fn delete_tenant(&self, id: TenantId) -> Result<()>;
    async fn create_site(&self, tenant: TenantId, name: &str) -> Result<Site>;
    async fn sites(&self, scope: TenantId) -> Result<Vec<Site>>;
    async fn site(&self, scope: TenantId, id: SiteId) -> Result<Option<Site>>;
    async fn create_group(&self, tenant: TenantId, name: &str) -> Result<Group>;
    async fn groups(&self, scope: TenantId) -> Result<Vec<Group>>;
    async fn add_to_group(&self, group: GroupId, device: DeviceId) -> Result<()>;
    async fn grant_group(&self, user: UserId, group: GroupId) -> Result<()>;
    /// (group, device) memberships of the visible tenants' groups.
    async fn group_devices(&self, scope: TenantId) -> Result<Vec<(GroupId, DeviceId)>>;
    /// (user, group) grants of the visible tenants' groups.
    async fn group_grants(&self, scope: TenantId) -> Result<Vec<(UserId, GroupId)>>;
    async fn audit(&self, entry: NewAudit) -> Result<()>;
    async fn audit_log(&self, scope: TenantId, limit: i64) -> Result<Vec<AuditEntry>>;
}

/// The audit entry of an action, made from what the action created: the
/// store writes it in the action's own transaction.
pub type AuditWith<T> = Box<dyn FnOnce(&T) -> NewAudit + Send>;

/// Users and API tokens.
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn create_user(&self, user: NewUser, now: i64) -> Result<User>;
    /// [`UserStore::create_user`] and its audit entry, in one transaction.
    async fn create_user_audited(
        &self,
        user: NewUser,
        now: i64,
        audit: AuditWith<User>,
    ) -> Result<User>;
    async fn user(&self, scope: TenantId, id: UserId) -> Result<Option<User>>;
    async fn users(&self, scope: TenantId) -> Result<Vec<User>>;
    /// For logging in: the user and its password hash.
    async fn user_by_email(&self, email: &str) -> Result<Option<(User, String)>>;
    async fn count_users(&self) -> Result<i64>;
    async fn create_token(
        &self,
        user: &User,
        name: &str,
        role: Role,
        secret_hash: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<ApiToken>;
    /// [`UserStore::create_token`] and its audit entry, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn create_token_audited(
        &self,
        user: &User,
        name: &str,
        role: Role,
        secret_hash: &str,
        expires_at: Option<i64>,
        now: i64,
        audit: AuditWith<ApiToken>,
    ) -> Result<ApiToken>;
    /// The token of that hash and its user, if any.
    async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<(ApiToken, User)>>;
    /// The user's TOTP secrets (sealed) and last accepted step.
    async fn totp_state(&self, user: UserId) -> Result<Option<TotpState>>;
    /// Start (or restart) enrolment with a sealed secret; the active one, if
    /// any, stays until the new one is confirmed.
    async fn set_totp_pending(&self, user: UserId, sealed: &[u8]) -> Result<()>;
    /// Make the pending secret the active one, with `step` used.
    async fn confirm_totp(&self, user: UserId, step: i64) -> Result<bool>;
    /// Record `step` as used; false when it (or a later one) was used already.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;
    /// Store `value` under `name` unless a value is there already; returns
    /// the stored value (the first server's, when several race).
    async fn settle_setting(&self, name: &str, value: &str) -> Result<String>;
    /// Is logging in as `email` locked at `now`?
    async fn login_locked(&self, email: &str, now: i64) -> Result<bool>;
    /// Count a failed login of `email`: at `policy.max_failures` within
    /// `policy.window_secs`, logins are locked for `policy.lockout_secs`.
    async fn record_login_failure(&self, email: &str, now: i64, policy: LoginPolicy) -> Result<()>;
    /// A successful login: forget `email`'s failures, and purge the rows
    /// of others that no longer count.
    async fn clear_login_failures(&self, email: &str, now: i64, policy: LoginPolicy) -> Result<()>;
}

/// The durable, per-account login limit (holds across server processes).
#[derive(Clone, Copy, Debug)]
pub struct LoginPolicy {
    pub max_failures: i64,
    pub window_secs: i64,
    pub lockout_secs: i64,
}

/// Web portal sessions, and what ends credentials: disabling a user, a
/// new password, revoking an API token.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn create_session(&self, user: UserId, secret_hash: &str, now: i64) -> Result<Session>;
    /// The session of that hash and its user, expired or not.
    async fn session_by_hash(&self, secret_hash: &str) -> Result<Option<(Session, User)>>;
    /// Record activity (for the idle expiry).
    async fn touch_session(&self, id: SessionId, now: i64) -> Result<()>;
    async fn delete_session(&self, id: SessionId) -> Result<()>;
    /// Delete the sessions idle since before `idle_before` or created
    /// before `created_before`; returns how many.
    async fn purge_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64>;
    /// The user's live and expired sessions.
    async fn sessions_of(&self, user: UserId) -> Result<Vec<Session>>;
    /// Disable or enable a visible user; disabling deletes its sessions and
    /// API tokens in the same transaction. False when the user is not visible.
    async fn set_user_disabled(&self, scope: TenantId, id: UserId, disabled: bool) -> Result<bool>;
    /// A new password hash; the user's sessions are deleted with the old
    /// one, and its API tokens too unless `keep_tokens`.
    async fn set_password(&self, id: UserId, password_hash: &str, keep_tokens: bool) -> Result<()>;
    /// The API tokens of a visible user (never their secrets).
    async fn tokens_of(&self, scope: TenantId, user: UserId) -> Result<Vec<ApiToken>>;
    async fn token(&self, scope: TenantId, id: TokenId) -> Result<Option<ApiToken>>;
    /// Revoke (delete) a visible token. False when it is not visible.
    async fn delete_token(&self, scope: TenantId, id: TokenId) -> Result<bool>;
    /// [`CredentialStore::set_user_disabled`] with its audit entry, in one
    /// transaction (no entry when nothing changed).
    async fn set_user_disabled_audited(
        &self,
        scope: TenantId,
        id: UserId,
        disabled: bool,
        audit: NewAudit,
    ) -> Result<bool>;
    /// [`CredentialStore::set_password`] with its audit entry.
    async fn set_password_audited(
        &self,
        id: UserId,
        password_hash: &str,
        keep_tokens: bool,
        audit: NewAudit,
    ) -> Result<()>;
    /// End every API token and session of `user`, with the audit entry;
    /// returns how many (tokens, sessions).
    async fn end_credentials_audited(&self, user: UserId, audit: NewAudit) -> Result<(u64, u64)>;
    /// Remove a visible user's second factor (enrolled and pending), with
    /// the audit entry. False when the user is not visible.
    async fn reset_totp_audited(
        &self,
        scope: TenantId,
        id: UserId,
        audit: NewAudit,
    ) -> Result<bool>;
    /// [`CredentialStore::delete_token`] with its audit entry.
    async fn delete_token_audited(
        &self,
        scope: TenantId,
        id: TokenId,
        audit: NewAudit,
    ) -> Result<bool>;
}

/// Agents, their activation and their sequence numbers.
#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn create_agent(&self, agent: NewAgent, now: i64) -> Result<Agent>;
    async fn agent(&self, scope: TenantId, id: AgentId) -> Result<Option<Agent>>;
    async fn agents(&self, scope: TenantId) -> Result<Vec<Agent>>;
    /// Unscoped: for an agent that authenticates itself with its key or PIN.
    async fn agent_with_secrets(&self, id: AgentId) -> Result<Option<(Agent, AgentSecrets)>>;
    /// Count a failed PIN guess; returns the failures so far. At `max`
    /// failures the PIN is deleted: the agent needs a new one.
    async fn record_pin_failure(&self, id: AgentId, max: i64) -> Result<i64>;
    /// Give a pending agent a (new) PIN verifier; resets the failures.
    /// False when the agent is not visible or not pending.
    async fn set_pin(
        &self,
        scope: TenantId,
        id: AgentId,
        verifier: &[u8],
        expires_at: i64,
    ) -> Result<bool>;
    /// Pending → active with its sealed key; the PIN verifier is deleted.
    /// False when the agent was not pending with an unexpired PIN.
    async fn activate_agent(
        &self,
        id: AgentId,
        key_sealed: &[u8],
        report: &AgentReport,
        now: i64,
    ) -> Result<bool>;
    /// Revoke: every later submission is rejected. False if not found.
    async fn revoke_agent(&self, scope: TenantId, id: AgentId) -> Result<bool>;
    /// [`AgentStore::set_pin`] with its audit entry, in one transaction.
    async fn set_pin_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        verifier: &[u8],
        expires_at: i64,
        audit: NewAudit,
    ) -> Result<bool>;
    /// [`AgentStore::revoke_agent`] with its audit entry.
    async fn revoke_agent_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        audit: NewAudit,
    ) -> Result<bool>;
    /// Record a heartbeat at sequence `seq` of the agent's heartbeats (their
    /// own sequence, apart from submissions): applied once, false when `seq`
    /// is not after the last applied heartbeat or the agent may not submit
    /// (both checked in the statement that applies it).
    async fn heartbeat(
        &self,
        id: AgentId,
        seq: u64,
        record: &HeartbeatRecord,
        now: i64,
    ) -> Result<bool>;
    /// Push a new configuration to a visible agent that is not revoked: its
    /// version increases, `seal` makes the stored (sealed) configuration for
    /// that version, and `audit` the entry, all in one transaction. The new
    /// version, or None when the agent is not visible or revoked.
    async fn set_agent_config_audited(
        &self,
        scope: TenantId,
        id: AgentId,
        seal: SealWith,
        audit: AuditWith<i64>,
        now: i64,
    ) -> Result<Option<i64>>;
    /// The configuration pushed to a visible agent, sealed as stored.
    async fn agent_config(&self, scope: TenantId, id: AgentId)
    -> Result<Option<StoredAgentConfig>>;
}

/// Commands to agents (see [`crate::command`]: what is stored when).
#[async_trait]
pub trait CommandStore: Send + Sync {
    /// Store a queued command for an agent of `command.tenant_id` that is
    /// not revoked, with its audit entry, in one transaction (and, on
    /// PostgreSQL, `NOTIFY` its agent's holders at commit). None when the
    /// agent is revoked or not the tenant's.
    async fn create_command_audited(
        &self,
        command: crate::command::CommandToStore,
        audit: AuditWith<crate::command::CommandRecord>,
        now: i64,
    ) -> Result<Option<crate::command::CommandRecord>>;
    /// A visible agent's commands, newest first.
    async fn commands(
        &self,
        scope: TenantId,
        agent: AgentId,
        limit: i64,
        now: i64,
    ) -> Result<Vec<crate::command::CommandRecord>>;
    /// Unscoped (the agent authenticated itself): its queued, unexpired
    /// commands, oldest first.
    async fn queued_commands(
        &self,
        agent: AgentId,
        limit: i64,
        now: i64,
    ) -> Result<Vec<crate::command::CommandRecord>>;
    /// The agent acknowledged these (queued → delivered; others unchanged).
    async fn acknowledge_commands(&self, agent: AgentId, ids: &[u64], now: i64) -> Result<()>;
    /// The agent's result: stored when the command is the agent's and not
    /// finished yet (the first result stays). The command as stored now,
    /// None when nothing was stored.
    async fn finish_command(
        &self,
        agent: AgentId,
        id: u64,
        outcome: &crate::command::CommandOutcome,
        now: i64,
    ) -> Result<Option<crate::command::CommandRecord>>;
}

/// Seals a secret for storage once the store knows what it is bound to
/// (here: a configuration's version).
pub type SealWith = Box<dyn FnOnce(i64) -> Result<Vec<u8>> + Send>;

/// A pushed configuration as stored.
#[derive(Clone, Default)]
pub struct StoredAgentConfig {
    /// 0 when none was pushed.
    pub version: i64,
    pub updated_at: Option<i64>,
    /// Sealed with the master key under `model::config_context`.
    pub sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for StoredAgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoredAgentConfig(version {}, …)", self.version)
    }
}

/// Devices and their history.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Store one submission, exactly once: the agent's sequence number
    /// advances in the same transaction as the data.
    async fn ingest(&self, batch: IngestBatch) -> Result<IngestOutcome>;
    async fn devices(&self, filter: &DeviceFilter) -> Result<Vec<Device>>;
    /// How many of the filter's devices are in each condition and supply
    /// need, and how many were last heard from before `silent_before`
    /// (the filter's `after` and `limit` are ignored).
    async fn device_counts(
        &self,
        filter: &DeviceFilter,
        silent_before: i64,
    ) -> Result<DeviceCounts>;
    /// Open alerts of the filter's devices by severity.
    async fn open_alert_counts(&self, filter: &DeviceFilter) -> Result<Vec<(String, i64)>>;
    async fn device(&self, scope: TenantId, id: DeviceId) -> Result<Option<Device>>;
    /// The latest snapshot of a device (JSON), scoped.
    async fn device_snapshot(
        &self,
        scope: TenantId,
        id: DeviceId,
    ) -> Result<Option<printwatch_snapshot::Snapshot>>;
    async fn meter_readings(
        &self,
        scope: TenantId,
        id: DeviceId,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<MeterReading>>>;
    /// Readings of one meter in `[from, to)` and the last one before `from`,
    /// for every visible device: (device, baseline, readings).
    async fn meter_series(
        &self,
        scope: TenantId,
        name: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Device, Option<i64>, Vec<(i64, bool)>)>>;
    async fn supply_readings(
        &self,
        scope: TenantId,
        id: DeviceId,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<SupplyReading>>>;
    async fn alerts(
        &self,
        scope: TenantId,
        id: DeviceId,
        open_only: bool,
    ) -> Result<Option<Vec<AlertRecord>>>;
    /// Every meter of every visible device with readings in `[from, to)`
    /// or before: the last reading before `from` and the readings in the
    /// period, in time order (billing).
    async fn meter_history(&self, scope: TenantId, from: i64, to: i64)
    -> Result<Vec<MeterHistory>>;
    /// The latest snapshot of every visible device.
    async fn device_snapshots(
        &self,
        scope: TenantId,
    ) -> Result<Vec<(DeviceId, printwatch_snapshot::Snapshot)>>;
    /// Supply readings of every visible device since `from`, by device
    /// and in time order (forecasts).
    async fn supply_history(
        &self,
        scope: TenantId,
        from: i64,
    ) -> Result<Vec<(DeviceId, SupplyReading)>>;
    /// Meter readings of every visible device, in reading order (exports).
    async fn fleet_meters(&self, filter: &ReadingFilter) -> Result<Vec<FleetMeterReading>>;
    /// Supply readings of every visible device, in reading order (exports).
    async fn fleet_supplies(&self, filter: &ReadingFilter) -> Result<Vec<FleetSupplyReading>>;
}

/// Which readings of the fleet an export wants: the caller's scope and
/// grants (like the device list), a period, and a keyset page.
#[derive(Clone, Debug)]
pub struct ReadingFilter {
    pub scope: TenantId,
    /// Only devices in groups granted to this user (viewers).
    pub granted_to: Option<UserId>,
    /// `[from, to)`, UNIX seconds.
    pub from: i64,
    pub to: i64,
    /// Reading ids after this one.
    pub after: i64,
    pub limit: i64,
    /// Only the last reading of each meter or supply in the period.
    pub latest: bool,
}

/// One meter of one device around a period, for billing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterHistory {
    pub device_id: DeviceId,
    pub meter: String,
    /// The last reading before the period.
    pub baseline: Option<crate::billing::Reading>,
    /// The readings in the period, in time order.
    pub readings: Vec<crate::billing::Reading>,
}

/// One meter reading with its device, for fleet exports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct FleetMeterReading {
    /// The reading's id: the keyset of the next page.
    pub id: i64,
    pub device_id: DeviceId,
    pub tenant_id: TenantId,
    pub identity: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub name: String,
    pub value: i64,
    pub at: i64,
    pub reset: bool,
}

/// One supply reading with its device, for fleet exports.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FleetSupplyReading {
    pub id: i64,
    pub device_id: DeviceId,
    pub tenant_id: TenantId,
    pub identity: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub description: String,
    pub kind: String,
    pub color: Option<String>,
    pub percent: Option<f64>,
    pub state: String,
    pub at: i64,
}

/// Everything the server stores.
pub trait Store:
    TenantStore + UserStore + CredentialStore + AgentStore + DeviceStore + CommandStore
{
    fn backend(&self) -> Backend;
}

/// The SQL implementation, for SQLite and PostgreSQL alike.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
}

impl SqlStore {
    /// Connect to `url` (`sqlite://PATH` or `postgres://…`) and migrate.
    pub async fn connect(url: &str) -> Result<SqlStore> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(ServerError::DatabaseUrl(redact_url(url)));
        };
        let options = AnyPoolOptions::new();
        let pool = match backend {
            Backend::Sqlite => {
                options
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            use sqlx::Executor;
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = NORMAL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA busy_timeout = 10000",
                            ] {
                                conn.execute(pragma).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => options.max_connections(16).connect(url).await?,
        };
        let store = SqlStore { pool, backend };
        migrate(&store.pool, backend).await?;
        Ok(store)
    }

    /// The SQLite database in `dir` (created if missing).
    pub async fn open_data_dir(dir: &std::path::Path) -> Result<SqlStore> {
        let path = dir.join(SQLITE_FILE);
        SqlStore::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The SQLite database's file name in the data directory.
pub const SQLITE_FILE: &str = "printwatch.db";

/// A database URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:…@{}", &url[..s], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

pub(crate) fn opt_id<T>(row: &AnyRow, col: &str, f: fn(i64) -> T) -> Result<Option<T>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(f))
}

/// Shared handle used by the HTTP layer.
pub type DynStore = Arc<dyn Store>;

#[cfg(test)]
mod tests {
    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://pw:secret@db:5432/x"),
            "postgres://pw:…@db:5432/x"
        );
        assert_eq!(super::redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}
