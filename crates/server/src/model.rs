//! What the server stores, as the rest of the server sees it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use printwatch_protocol::config::AgentConfig;

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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
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
    /// Last applied sequence number of the agent's submissions.
    pub last_seq: i64,
    /// Last applied sequence number of its heartbeats (a sequence of its own).
    pub last_heartbeat_seq: i64,
    /// Last contact (activation, heartbeat or submission), server time.
    pub last_seen_at: Option<i64>,
    pub agent_version: Option<String>,
    pub os: Option<String>,
    pub hostname: Option<String>,
    /// Version of the configuration pushed to it (0: none).
    pub config_version: i64,
    #[serde(flatten)]
    pub health: AgentHealth,
    pub created_at: i64,
}

/// Silent for this many heartbeat intervals, an agent is offline.
pub const OFFLINE_AFTER_HEARTBEATS: i64 = 3;
/// The heartbeat interval of an agent that did not tell its own (PRODUCT.md).
pub const DEFAULT_HEARTBEAT_SECS: i64 = 300;

/// Where an agent stands at the time of asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Active and heard from within three heartbeat intervals.
    Online,
    /// Active, silent for three heartbeat intervals or more.
    Offline,
    /// Waiting for activation.
    Pending,
    Revoked,
    /// Its credentials ran out (`expires_at`).
    Expired,
}

impl Agent {
    /// May this agent submit at `now`?
    pub fn may_submit(&self, now: i64) -> bool {
        self.state == AgentState::Active && !self.expired(now)
    }

    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// Why this agent may not submit at `now`, if it may not.
    pub fn refusal(&self, now: i64) -> Option<ServerError> {
        match self.state {
            AgentState::Revoked | AgentState::Pending => Some(ServerError::AgentRevoked),
            AgentState::Active if self.expired(now) => Some(ServerError::AgentExpired),
            AgentState::Active => None,
        }
    }

    /// The last applied sequence number of `stream`.
    pub fn last_applied(&self, stream: Stream) -> u64 {
        let last = match stream {
            Stream::Submissions => self.last_seq,
            Stream::Heartbeats => self.last_heartbeat_seq,
        };
        u64::try_from(last).unwrap_or(0)
    }

    /// Its heartbeat interval in seconds: its own, else the default.
    pub fn heartbeat_every_secs(&self) -> i64 {
        self.health
            .heartbeat_every_secs
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_HEARTBEAT_SECS)
    }

    pub fn status(&self, now: i64) -> AgentStatus {
        match self.state {
            AgentState::Revoked => AgentStatus::Revoked,
            _ if self.expired(now) => AgentStatus::Expired,
            AgentState::Pending => AgentStatus::Pending,
            AgentState::Active => {
                let silent_until = self.last_seen_at.map(|t| {
                    t.saturating_add(
                        self.heartbeat_every_secs()
                            .saturating_mul(OFFLINE_AFTER_HEARTBEATS),
                    )
                });
                if silent_until.is_some_and(|until| now < until) {
                    AgentStatus::Online
                } else {
                    AgentStatus::Offline
                }
            }
        }
    }

    /// Does a heartbeat reporting `in_force` need the pushed configuration?
    pub fn config_to_push(&self, in_force: u64) -> bool {
        self.config_version > 0 && u64::try_from(self.config_version).ok() != Some(in_force)
    }
}

/// An agent with its status at the time of asking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AgentView {
    #[serde(flatten)]
    pub agent: Agent,
    pub online: bool,
    pub status: AgentStatus,
}

impl AgentView {
    pub fn at(agent: Agent, now: i64) -> AgentView {
        let status = agent.status(now);
        AgentView {
            agent,
            online: status == AgentStatus::Online,
            status,
        }
    }
}

/// Which sequence an envelope counts in (the protocol's envelope docs):
/// submissions and heartbeats count apart, so that a heartbeat never makes
/// a submission waiting in the agent's spool stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Submissions,
    Heartbeats,
}

impl Stream {
    pub fn of(message: &printwatch_protocol::message::AgentMessage) -> Stream {
        use printwatch_protocol::message::AgentMessage;
        match message {
            AgentMessage::Heartbeat(_) => Stream::Heartbeats,
            AgentMessage::Submission(_) => Stream::Submissions,
        }
    }
}

/// What the agent's last heartbeat told (all None before the first).
/// Numbers are the agent's, clamped to i64; texts are cut to bounds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct AgentHealth {
    /// When the last heartbeat arrived (server time).
    pub last_heartbeat_at: Option<i64>,
    /// Seconds since the agent started.
    pub uptime_secs: Option<i64>,
    /// Records waiting in its spool, and their bytes.
    pub spool_records: Option<i64>,
    pub spool_bytes: Option<i64>,
    /// Devices the agent knows.
    pub devices: Option<i64>,
    pub last_sweep: Option<LastSweep>,
    /// Its heartbeat interval: silent for three of them, it is offline.
    pub heartbeat_every_secs: Option<i64>,
    /// Version of the pushed configuration in force (0: none, its file's).
    pub config_in_force: Option<i64>,
    /// Why the last pushed configuration was not applied.
    pub config_error: Option<String>,
    /// The server's time minus the agent's `sent_at`, in seconds: how far
    /// the agent's clock is behind (negative: ahead), give or take transit.
    pub clock_error_secs: Option<i64>,
}

/// The agent's last discovery sweep, as it reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LastSweep {
    /// RFC 3339, by the agent's clock (as sent, cut to 64 characters).
    pub started_at: String,
    pub duration_ms: i64,
    pub addresses: i64,
    pub printers: i64,
    pub failures: i64,
}

/// Bounds of what agents tell about themselves (characters).
pub const MAX_AGENT_VERSION: usize = 100;
pub const MAX_AGENT_OS: usize = 100;
pub const MAX_AGENT_HOSTNAME: usize = 255;
pub const MAX_CONFIG_ERROR: usize = 1000;
const MAX_SWEEP_TIME: usize = 64;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// An agent's count, as stored: BIGINT, so the largest ones are clamped.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A heartbeat as stored: bounded, clamped, stamped with the server's time.
#[derive(Clone, Debug, Default)]
pub struct HeartbeatRecord {
    pub report: AgentReport,
    pub health: AgentHealth,
}

impl HeartbeatRecord {
    pub fn new(hb: &printwatch_protocol::message::Heartbeat, now: i64) -> HeartbeatRecord {
        let sent_at = crate::ingest::parse_time(&hb.sent_at);
        HeartbeatRecord {
            report: AgentReport::bounded(&hb.agent_version, &hb.os, hb.hostname.as_deref()),
            health: AgentHealth {
                last_heartbeat_at: Some(now),
                uptime_secs: Some(clamp(hb.uptime_secs)),
                spool_records: Some(clamp(hb.spool_records)),
                spool_bytes: Some(clamp(hb.spool_bytes)),
                devices: Some(clamp(hb.devices)),
                last_sweep: hb.last_sweep.as_ref().map(|s| LastSweep {
                    started_at: cut(&s.started_at, MAX_SWEEP_TIME),
                    duration_ms: clamp(s.duration_ms),
                    addresses: clamp(s.addresses),
                    printers: clamp(s.printers),
                    failures: clamp(s.failures),
                }),
                heartbeat_every_secs: Some(clamp(hb.heartbeat_every_secs)),
                config_in_force: Some(clamp(hb.config_version)),
                config_error: hb.config_error.as_deref().map(|e| cut(e, MAX_CONFIG_ERROR)),
                clock_error_secs: sent_at.map(|t| now.saturating_sub(t)),
            },
        }
    }
}

/// An agent's secrets as stored: never serialised, never logged.
#[derive(Clone, Default)]
pub struct AgentSecrets {
    pub pin_verifier: Option<Vec<u8>>,
    pub pin_failures: i64,
    /// The agent key, sealed with the server master key.
    pub key_sealed: Option<Vec<u8>>,
    /// The configuration pushed to it (JSON, sealed with the master key
    /// under [`config_context`]), version `Agent::config_version`.
    pub config_sealed: Option<Vec<u8>>,
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

impl AgentReport {
    /// The agent's words, cut to the bounds the API shows.
    pub fn bounded(version: &str, os: &str, hostname: Option<&str>) -> AgentReport {
        AgentReport {
            version: cut(version, MAX_AGENT_VERSION),
            os: cut(os, MAX_AGENT_OS),
            hostname: hostname.map(|h| cut(h, MAX_AGENT_HOSTNAME)),
        }
    }
}

/// What the API answers in place of a secret of a pushed configuration
/// (a community or a password); a push that sends it back is refused.
pub const SECRET_MASK: &str = "********";

/// Checks a configuration an administrator pushes to an agent: its values
/// read (as the agent will read them), `[uplink]` is empty (it stays local
/// to the agent: a bad push must not cut it off), and no secret is the
/// mask the API answers in its place (a configuration read back and pushed
/// again would replace the real secret with it).
pub fn check_pushed_config(config: &AgentConfig) -> Result<()> {
    config
        .validate()
        .map_err(|e| ServerError::Invalid(format!("configuration: {e}")))?;
    if config.uplink != Default::default() {
        return Err(ServerError::Invalid(
            "configuration: [uplink] stays local to the agent (a push must not cut it off); \
             leave it out"
                .into(),
        ));
    }
    for (i, set) in config.credentials.iter().enumerate() {
        for (name, value) in [
            ("community", &set.community),
            ("auth-password", &set.auth_password),
            ("priv-password", &set.priv_password),
        ] {
            if value.as_deref() == Some(SECRET_MASK) {
                return Err(ServerError::Invalid(format!(
                    "configuration: credentials[{}].{name} is the mask the API answers in its \
                     place: send the secret itself",
                    i + 1
                )));
            }
        }
    }
    Ok(())
}

/// Reads a pushed configuration from its JSON: every table a JSON object,
/// `credentials` an array of them (serde would also build a table from an
/// array, field by field, which nobody means), then the agent file's keys.
pub fn pushed_config_from_json(value: serde_json::Value) -> Result<AgentConfig> {
    use serde_json::Value;
    let invalid = |what: String| ServerError::Invalid(format!("configuration: {what}"));
    let Value::Object(tables) = &value else {
        return Err(invalid(
            "must be a JSON object of the agent file's tables".into(),
        ));
    };
    for (name, table) in tables {
        let fits = match (name.as_str(), table) {
            ("credentials", Value::Array(sets)) => sets.iter().all(Value::is_object),
            ("credentials", _) => false,
            (_, table) => table.is_object(),
        };
        if !fits {
            return Err(invalid(if name == "credentials" {
                "credentials must be an array of objects".into()
            } else {
                format!("{name} must be a table (a JSON object)")
            }));
        }
    }
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// The configuration with its secrets replaced by [`SECRET_MASK`].
pub fn masked_config(config: &AgentConfig) -> AgentConfig {
    let mut out = config.clone();
    for set in &mut out.credentials {
        for secret in [
            &mut set.community,
            &mut set.auth_password,
            &mut set.priv_password,
        ] {
            if secret.is_some() {
                *secret = Some(SECRET_MASK.into());
            }
        }
    }
    out
}

/// What a pushed configuration is bound to when sealed at rest: its agent
/// and its version (a stored configuration cannot be passed off as
/// another agent's, or as another version).
pub fn config_context(agent: AgentId, version: i64) -> Vec<u8> {
    let mut context = b"printwatch/agent-config-at-rest/v1/".to_vec();
    context.extend_from_slice(&agent.0.to_be_bytes());
    context.extend_from_slice(&version.to_be_bytes());
    context
}

/// The configuration pushed to an agent, as the API shows it (secrets
/// masked).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct AgentConfigView {
    #[schemars(with = "i64")]
    pub agent_id: AgentId,
    /// 0 when none was pushed; increases with every push.
    pub version: i64,
    pub updated_at: Option<i64>,
    /// The configuration as PUT (the agent file's keys), communities and
    /// passwords masked. Documented as any JSON: its own schema is the PUT
    /// body's, and the answer side of the document may not define it again.
    #[schemars(with = "Option<serde_json::Value>")]
    pub config: Option<AgentConfig>,
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
