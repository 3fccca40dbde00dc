//! One SNMP agent per simulated address (async-snmp's agent cannot tell which
//! local address a request came to), serving one [`Device`].

use std::net::SocketAddr;
use std::sync::Arc;

use async_snmp::agent::{Agent, SecurityModel, View};
use async_snmp::handler::{
    BoxFuture, GetNextResult, GetResult, HandlerResult, MibHandler, RequestContext,
};
use async_snmp::message::SecurityLevel;
use async_snmp::v3::AuthoritativeEngine;
use async_snmp::{DesSaltState, MasterKeys, Oid as WireOid, UsmUser, VarBind as WireVarBind};
use printwatch_snmp::PrivProtocol;
use printwatch_snmp::credentials::UsmCredentials;

use crate::SimError;
use crate::device::Device;

/// Serves a device's objects to GET, GETNEXT and GETBULK.
struct DeviceHandler(Arc<Device>);

impl MibHandler for DeviceHandler {
    fn get<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a WireOid,
    ) -> BoxFuture<'a, HandlerResult<GetResult>> {
        Box::pin(async move {
            Ok(match self.0.get(oid) {
                Some(value) => GetResult::Value(value),
                None => GetResult::NoSuchObject,
            })
        })
    }

    fn get_next<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        oid: &'a WireOid,
    ) -> BoxFuture<'a, HandlerResult<GetNextResult>> {
        Box::pin(async move {
            Ok(match self.0.get_next(oid) {
                Some((next, value)) => GetNextResult::Value(WireVarBind::new(next, value)),
                None => GetNextResult::EndOfMibView,
            })
        })
    }

    // The recording is the whole tree, whatever prefix it is registered at.
    fn handles(&self, _prefix: &WireOid, _oid: &WireOid) -> bool {
        true
    }
}

/// A v3 user with its keys derived once (deriving costs milliseconds, and a
/// fleet has thousands of agents).
#[derive(Clone)]
pub struct PreparedUser {
    pub name: String,
    level: SecurityLevel,
    user: UsmUser,
    /// DES privacy needs salt state in the agent.
    des: bool,
}

impl PreparedUser {
    pub fn new(credentials: &UsmCredentials) -> Result<Self, SimError> {
        let err = |e: async_snmp::CryptoError| {
            SimError::Config(format!("v3 user {:?}: {e}", credentials.user))
        };
        let mut user = UsmUser::new(credentials.user.clone().into_bytes());
        let mut level = SecurityLevel::NoAuthNoPriv;
        if let Some((auth, password)) = &credentials.auth {
            let mut keys =
                MasterKeys::new((*auth).into(), password.expose().as_bytes()).map_err(err)?;
            level = SecurityLevel::AuthNoPriv;
            if let Some((privacy, password)) = &credentials.privacy {
                keys = keys
                    .with_privacy((*privacy).into(), password.expose().as_bytes())
                    .map_err(err)?;
                level = SecurityLevel::AuthPriv;
            }
            user = user.with_master_keys(keys).map_err(err)?;
        }
        Ok(PreparedUser {
            des: matches!(credentials.privacy, Some((PrivProtocol::Des, _))),
            name: credentials.user.clone(),
            level,
            user,
        })
    }
}

/// What one agent needs.
pub struct AgentSpec<'a> {
    pub bind: SocketAddr,
    pub device: Arc<Device>,
    pub communities: &'a [String],
    pub users: &'a [PreparedUser],
    pub max_message_size: Option<usize>,
}

/// Builds (binds) the agent; the caller runs it.
pub async fn build_agent(spec: AgentSpec<'_>) -> Result<Agent, SimError> {
    let engine_id = engine_id(spec.bind);
    let engine = AuthoritativeEngine::install(engine_id, |_| Ok::<(), std::io::Error>(()))
        .map_err(|e| SimError::Config(format!("engine: {e}")))?;
    let mut builder = Agent::builder()
        .bind(spec.bind.to_string())
        .authoritative_engine(engine)
        .without_builtin_handlers()
        // Thousands of sockets: the default 4 MiB receive buffer each is waste.
        .recv_buffer_size(Some(256 * 1024))
        .handler(WireOid::empty(), Arc::new(DeviceHandler(spec.device)));
    if let Some(size) = spec.max_message_size {
        builder = builder.max_message_size(size);
    }
    for community in spec.communities {
        builder = builder.community(community.as_bytes().to_vec());
    }
    if spec.users.iter().any(|u| u.des) {
        let salt = DesSaltState::install(|_| Ok::<(), std::io::Error>(()))
            .map_err(|e| SimError::Config(format!("DES salt: {e}")))?;
        builder = builder.des_salt_state(salt);
    }
    for user in spec.users {
        let prepared = user.user.clone();
        builder = builder
            .usm_user(user.name.clone().into_bytes(), move |_| Ok(prepared))
            .map_err(|e| SimError::Config(format!("v3 user {:?}: {e}", user.name)))?;
    }
    // VACM, so that a user answers only at its own security level (the
    // engine's allow_all_access would also answer lower levels).
    let communities = spec.communities.to_vec();
    let users = spec.users.to_vec();
    builder = builder.vacm(move |mut vacm| {
        for community in &communities {
            vacm = vacm
                .group(
                    community.clone().into_bytes(),
                    SecurityModel::V1,
                    "community",
                )
                .group(
                    community.clone().into_bytes(),
                    SecurityModel::V2c,
                    "community",
                );
        }
        vacm = vacm
            .access(
                "community",
                SecurityModel::V1,
                SecurityLevel::NoAuthNoPriv,
                |a| a.context_match_prefix().read_view("all"),
            )
            .access(
                "community",
                SecurityModel::V2c,
                SecurityLevel::NoAuthNoPriv,
                |a| a.context_match_prefix().read_view("all"),
            );
        for user in &users {
            let group = format!("usm-{}", user.name);
            vacm = vacm
                .group(
                    user.name.clone().into_bytes(),
                    SecurityModel::Usm,
                    group.clone(),
                )
                .access(group, SecurityModel::Usm, user.level, |a| {
                    a.context_match_prefix().read_view("all")
                });
        }
        vacm.view("all", |view: View| {
            [0, 1, 2].into_iter().fold(view, |view, root| {
                view.include(WireOid::from_slice(&[root]))
            })
        })
    });
    builder
        .build()
        .await
        .map_err(|e| SimError::Bind(spec.bind, e.to_string()))
}

/// A stable engine ID per address (RFC 3411 §5 format, octets form).
fn engine_id(addr: SocketAddr) -> Vec<u8> {
    let mut id = vec![0x80, 0x00, 0x1f, 0x88, 0x05];
    id.extend_from_slice(b"pwsim");
    match addr.ip() {
        std::net::IpAddr::V4(ip) => id.extend_from_slice(&ip.octets()),
        std::net::IpAddr::V6(ip) => id.extend_from_slice(&ip.octets()),
    }
    id.extend_from_slice(&addr.port().to_be_bytes());
    id
}
