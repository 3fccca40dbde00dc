//! What the server stores, as the rest of the server sees it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AgentId, DeviceId, GroupId, SessionId, SiteId, TenantId, TokenId, UserId};
use crate::{Result, ServerError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    Provider,
    Customer,
}

impl TenantKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Provider => "provider",
            TenantKind::Customer => "customer",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "provider" => Ok(TenantKind::Provider),
            "customer" => Ok(TenantKind::Customer),
            other => Err(ServerError::Corrupt(format!("tenant kind {other:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub parent_id: Option<TenantId>,
    pub kind: TenantKind,
    pub name: String,
    pub created_at: i64,
}

/// What a role may do. Every role reads only inside its tenant (a
/// provider's users also see its customers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ManageTenants,
    ManageUsers,
    ManageAgents,
    ReadDevices,
    ReadAudit,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything in the tenant.
    Admin,
    /// Agents and devices, no users.
    Operator,
    /// Reads the devices of the groups granted to the user.
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            other => Err(ServerError::Invalid(format!(
                "unknown role {other:?}: use admin, operator or viewer"
            ))),
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::Admin => true,
            Role::Operator => matches!(permission, ManageAgents | ReadDevices),
            Role::Viewer => matches!(permission, ReadDevices),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub tenant_id: TenantId,
    pub email: String,
    /// An argon2id PHC string (see `crate::secrets::hash_password`).
    pub password_hash: String,
    pub role: Role,
}

/// A user's TOTP secrets as stored (sealed with the master key).
#[derive(Clone, Default)]
pub struct TotpState {
    pub sealed: Option<Vec<u8>>,
    pub pending: Option<Vec<u8>>,
    pub last_step: i64,
}

impl std::fmt::Debug for TotpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpState(…)")
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Site {
    pub id: SiteId,
    pub tenant_id: TenantId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Group {
    pub id: GroupId,
    pub tenant_id: TenantId,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ApiToken {
    pub id: TokenId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A web portal session as stored (its secret is only in the cookie).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl Session {
    /// Idle for `idle` seconds, or older than `max` seconds.
    pub fn expired(&self, now: i64, idle: i64, max: i64) -> bool {
        now >= self.last_seen_at.saturating_add(idle) || now >= self.created_at.saturating_add(max)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub tenant_id: TenantId,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: i64,
}

#[derive(Clone, Debug)]
pub struct NewAudit {
    pub tenant_id: TenantId,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub at: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Created, waiting for activation with its PIN.
    Pending,
    Active,
    Revoked,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Pending => "pending",
            AgentState::Active => "active",
            AgentState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(AgentState::Pending),
            "active" => Ok(AgentState::Active),
            "revoked" => Ok(AgentState::Revoked),
            other => Err(ServerError::Corrupt(format!("agent state {other:?}"))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Agent {
    #[schemars(with = "i64")]
    pub id: AgentId,
    pub tenant_id: TenantId,
    pub site_id: Option<SiteId>,
    pub name: String,
    pub state: AgentState,
    pub pin_expires_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub last_seq: i64,
    pub last_seen_at: Option<i64>,
    pub agent_version: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    pub created_at: i64,
}

impl Agent {
    /// May this agent submit at `now`?
    pub fn may_submit(&self, now: i64) -> bool {
        self.state == AgentState::Active && self.expires_at.is_none_or(|e| now < e)
    }
}

/// An agent's secrets as stored: never serialised, never logged.
#[derive(Clone, Default)]
pub struct AgentSecrets {
    pub pin_verifier: Option<Vec<u8>>,
    pub pin_failures: i64,
    /// The agent key, sealed with the server master key.
    pub key_sealed: Option<Vec<u8>>,
}

impl std::fmt::Debug for AgentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentSecrets(…)")
    }
}

#[derive(Clone, Debug)]
pub struct NewAgent {
    pub tenant_id: TenantId,
    pub site_id: Option<SiteId>,
    pub name: String,
    /// None until [`crate::store::AgentStore::set_pin`] (the verifier is
    /// salted with the agent id, known only once the agent exists).
    pub pin_verifier: Option<Vec<u8>>,
    pub pin_expires_at: i64,
    pub expires_at: Option<i64>,
}

/// What an agent told about itself (activation, heartbeat).
#[derive(Clone, Debug, Default)]
pub struct AgentReport {
    pub version: String,
    pub os: String,
    pub hostname: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Device {
    pub id: DeviceId,
    pub tenant_id: TenantId,
    pub site_id: Option<SiteId>,
    pub identity: String,
    pub family: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub mac: Option<String>,
    /// The address it was last collected at (never its identity).
    pub target: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
    #[schemars(with = "Option<i64>")]
    pub last_agent_id: Option<AgentId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct MeterReading {
    pub name: String,
    pub value: i64,
    pub at: i64,
    /// The counter went down here: a reset, not negative usage.
    pub reset: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct SupplyReading {
    pub description: String,
    pub kind: String,
    pub color: Option<String>,
    pub percent: Option<f64>,
    pub state: String,
    pub at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AlertRecord {
    pub id: i64,
    pub severity: String,
    pub group: String,
    pub code: String,
    pub description: Option<String>,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

/// Which devices a listing covers.
#[derive(Clone, Debug)]
pub struct DeviceFilter {
    /// The caller's tenant: its own devices and its customers'.
    pub scope: TenantId,
    /// Only devices in groups granted to this user (viewers).
    pub granted_to: Option<UserId>,
    /// Keyset pagination: ids after this one.
    pub after: Option<DeviceId>,
    pub limit: i64,
}

/// One accepted submission, ready to store.
#[derive(Clone, Debug)]
pub struct IngestBatch {
    pub agent_id: AgentId,
    pub tenant_id: TenantId,
    pub site_id: Option<SiteId>,
    pub seq: u64,
    pub now: i64,
    pub reports: Vec<printwatch_protocol::message::DeviceReport>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// False when the sequence number had been applied already (a
    /// concurrent duplicate): nothing was stored.
    pub applied: bool,
    pub devices: usize,
    /// Identities whose delta did not apply: the agent must send them in full.
    pub resync: Vec<String>,
    /// Reports without an identity (no serial, no MAC): not stored.
    pub skipped: usize,
}
