//! The poller: our trait over the SNMP engine, and its UDP implementation.
//!
//! One [`SnmpEngine`] owns one UDP socket per address family and a cache of
//! SNMPv3 engine identities and derived keys; every [`Session`] built from it
//! shares them, so thousands of targets can be in flight over one socket.
//! The engine (async-snmp) already splits GETs on `tooBig`, falls back from
//! GETBULK to GETNEXT for v1, halves max-repetitions on `tooBig` and stops
//! walks on OIDs that do not increase: we configure and test that, we do not
//! rewrite it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_snmp::{Auth, Client, EngineCache, Retry, UdpHandle, UdpTransport, UsmConfig};
use tokio::sync::OnceCell;

use crate::credentials::{CommunityVersion, Credentials};
use crate::des_salt::DesSaltFile;
use crate::{Oid, SnmpError, Value, VarBind};

/// Timeouts, retries and PDU sizes of a session.
#[derive(Clone, Debug)]
pub struct SnmpOptions {
    /// Time to wait for each answer (per try).
    pub timeout: Duration,
    /// How many times a request is sent again after a timeout.
    pub retries: u32,
    /// GETBULK max-repetitions for walks.
    pub max_repetitions: u32,
    /// Most OIDs put in one GET (the engine splits further on `tooBig`).
    pub max_oids_per_request: usize,
}

impl Default for SnmpOptions {
    fn default() -> Self {
        SnmpOptions {
            timeout: Duration::from_secs(1),
            retries: 1,
            max_repetitions: 25,
            max_oids_per_request: 64,
        }
    }
}

/// What printwatch needs of an SNMP agent. Implemented over UDP by
/// [`Session`]; the printer knowledge and the tests can provide their own.
pub trait Poller: Send + Sync {
    /// The agent's address.
    fn target(&self) -> SocketAddr;

    /// GET of many OIDs, in as few PDUs as the agent allows. Objects the agent
    /// does not have come back as `NoSuchObject` / `NoSuchInstance`. The
    /// answers come in OID order, not the order asked.
    fn get(&self, oids: &[Oid]) -> impl Future<Output = Result<Vec<VarBind>, SnmpError>> + Send;

    /// Every object below `subtree`, in order (GETBULK where the version
    /// allows, GETNEXT otherwise).
    fn walk(&self, subtree: &Oid) -> impl Future<Output = Result<Vec<VarBind>, SnmpError>> + Send;

    /// One GETNEXT: the first object after `oid`, or `EndOfMibView`.
    fn get_next(&self, oid: &Oid) -> impl Future<Output = Result<VarBind, SnmpError>> + Send;

    /// One GETNEXT of several OIDs in one PDU: the successor of each, in
    /// order (`EndOfMibView` where there is none).
    fn get_next_many(
        &self,
        oids: &[Oid],
    ) -> impl Future<Output = Result<Vec<VarBind>, SnmpError>> + Send;

    /// One GETBULK (v2c and v3): the successor of each of the first
    /// `non_repeaters` OIDs, then the `max_repetitions` successors of each
    /// other OID, interleaved row by row (RFC 3416 §4.2.3).
    fn get_bulk(
        &self,
        oids: &[Oid],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> impl Future<Output = Result<Vec<VarBind>, SnmpError>> + Send;

    /// Whether GETBULK exists (not in SNMPv1).
    fn has_bulk(&self) -> bool;
}

/// The shared part of all sessions: sockets, the v3 engine cache, derived
/// keys and the DES salt state.
pub struct SnmpEngine {
    v4: OnceCell<UdpTransport>,
    v6: OnceCell<UdpTransport>,
    engine_cache: Arc<EngineCache>,
    /// Password-to-key derivation costs milliseconds; do it once per user.
    master_keys: Mutex<HashMap<String, async_snmp::MasterKeys>>,
    des_salt: DesSaltFile,
}

impl SnmpEngine {
    /// An engine whose DES salt state (needed only for DES privacy) lives in
    /// `state_dir`, or in memory when `None`.
    pub fn new(state_dir: Option<PathBuf>) -> Self {
        SnmpEngine {
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            engine_cache: Arc::new(EngineCache::new()),
            master_keys: Mutex::new(HashMap::new()),
            des_salt: DesSaltFile::new(state_dir),
        }
    }

    async fn transport(&self, target: SocketAddr) -> Result<&UdpTransport, SnmpError> {
        let (cell, bind) = if target.is_ipv4() {
            (&self.v4, "0.0.0.0:0")
        } else {
            (&self.v6, "[::]:0")
        };
        cell.get_or_try_init(|| async {
            // Advertise the largest UDP message we can take (msgMaxSize):
            // with the engine's default of 1472, net-snmp agents answer a v3
            // GETBULK that would not fit with genErr instead of fewer rows.
            UdpTransport::builder()
                .bind(bind)
                .receive_capacity(async_snmp::MAX_UDP_PAYLOAD)
                // One socket carries thousands of targets: the OS default
                // (~208 KiB) overflows under load and answers are lost
                // (seen as timeouts). The kernel caps this at rmem_max.
                .recv_buffer_size(4 * 1024 * 1024)
                .build()
                .await
                .map_err(|e| SnmpError::Network {
                    target,
                    message: format!("cannot open a UDP socket: {e}"),
                })
        })
        .await
    }

    /// A session with one agent.
    pub async fn session(
        &self,
        target: SocketAddr,
        credentials: &Credentials,
        options: &SnmpOptions,
    ) -> Result<Session, SnmpError> {
        credentials
            .validate()
            .map_err(|e| SnmpError::Config(e.to_string()))?;
        let auth = self.auth(credentials)?;
        let transport = self.transport(target).await?;
        let retry = Retry::fixed(options.retries, Duration::ZERO)
            .map_err(|e| SnmpError::Config(format!("retries: {e}")))?;
        let mut builder = Client::builder(target, auth)
            .request_timeout(options.timeout)
            .retry(retry)
            .max_oids_per_request(options.max_oids_per_request.max(1))
            .walk_options(async_snmp::WalkOptions {
                max_repetitions: options.max_repetitions.max(1),
                ..Default::default()
            })
            .engine_cache(self.engine_cache.clone())
            // Agents report refused credentials (wrong digest, unknown user)
            // in unauthenticated Reports. Reading them lets us name the
            // failure instead of waiting for a timeout; answers from another
            // address are not accepted, and data still needs authentication.
            .allow_unauthenticated_v3_time_correction(true)
            .strict_source(true);
        if uses_des(credentials) {
            builder = builder.des_salt_state(self.des_salt.state()?);
        }
        let client = builder
            .build_with(transport)
            .await
            .map_err(|e| SnmpError::from_engine(*e, target))?;
        Ok(Session {
            client,
            target,
            time_at_start: authenticated_time(&self.engine_cache, target),
            engine_cache: self.engine_cache.clone(),
            encrypted: matches!(credentials, Credentials::Usm(u) if u.privacy.is_some()),
            answered: AtomicBool::new(false),
            v1: matches!(
                credentials,
                Credentials::Community {
                    version: CommunityVersion::V1,
                    ..
                }
            ),
        })
    }

    fn auth(&self, credentials: &Credentials) -> Result<Auth, SnmpError> {
        let config_err = |e: async_snmp::CryptoError| SnmpError::Config(e.to_string());
        Ok(match credentials {
            Credentials::Community { version, community } => {
                let community = community.expose().as_bytes().to_vec();
                match version {
                    CommunityVersion::V1 => Auth::v1(community),
                    CommunityVersion::V2c => Auth::v2c(community),
                }
            }
            Credentials::Usm(usm) => {
                let mut config = UsmConfig::new(usm.user.clone().into_bytes())
                    .context_name(usm.context.clone().into_bytes());
                if let Some((auth_protocol, auth_password)) = &usm.auth {
                    let key_id = format!(
                        "{auth_protocol}\0{}\0{:?}\0{}",
                        auth_password.expose(),
                        usm.privacy.as_ref().map(|p| p.0),
                        usm.privacy.as_ref().map(|p| p.1.expose()).unwrap_or("")
                    );
                    let mut cache = self
                        .master_keys
                        .lock()
                        .map_err(|_| SnmpError::Config("key cache poisoned".into()))?;
                    let keys = match cache.get(&key_id) {
                        Some(keys) => keys.clone(),
                        None => {
                            let mut keys = async_snmp::MasterKeys::new(
                                (*auth_protocol).into(),
                                auth_password.expose().as_bytes(),
                            )
                            .map_err(config_err)?;
                            if let Some((priv_protocol, priv_password)) = &usm.privacy {
                                keys = keys
                                    .with_privacy(
                                        (*priv_protocol).into(),
                                        priv_password.expose().as_bytes(),
                                    )
                                    .map_err(config_err)?;
                            }
                            cache.insert(key_id, keys.clone());
                            keys
                        }
                    };
                    config = config.with_master_keys(keys).map_err(config_err)?;
                }
                Auth::Usm(config)
            }
        })
    }
}

/// The engine boots and time last learned from an authenticated message of
/// `target`, if any.
fn authenticated_time(cache: &EngineCache, target: SocketAddr) -> Option<(u32, u32)> {
    cache.get(&target).and_then(|state| {
        state
            .authenticated_time()
            .map(|t| (t.boots(), t.latest_received_time()))
    })
}

fn uses_des(credentials: &Credentials) -> bool {
    matches!(credentials, Credentials::Usm(u)
        if matches!(u.privacy, Some((crate::PrivProtocol::Des, _))))
}

/// A conversation with one agent over the engine's shared socket.
pub struct Session {
    client: Client<UdpHandle>,
    target: SocketAddr,
    engine_cache: Arc<EngineCache>,
    /// SNMPv3 authPriv.
    encrypted: bool,
    /// Some request of this session had an answer.
    answered: AtomicBool,
    /// The engine's time learned from authenticated messages when the
    /// session began (see [`Session::err`]).
    time_at_start: Option<(u32, u32)>,
    v1: bool,
}

impl Session {
    /// Every object the agent has: each top-level subtree in turn, found with
    /// one GETNEXT past the previous one (a walk of `1` cannot be encoded).
    pub async fn walk_all(&self) -> Result<Vec<VarBind>, SnmpError> {
        // Nearly every agent keeps everything under 1.3: one GETNEXT PDU asks
        // both what comes first and what comes after 1.3, and when the answer
        // is "1.3 only", that subtree is the whole walk.
        let iso_org = Oid::from([1, 3]);
        let probe = self
            .get_next_many(&[Oid::from([0, 0]), iso_org.child(u32::MAX)])
            .await?;
        if let [first, after] = probe.as_slice()
            && !first.value.is_exception()
            && first.oid.starts_with(&iso_org)
            && (after.value.is_exception() || after.oid <= iso_org.child(u32::MAX))
        {
            return self.walk(&iso_org).await;
        }
        let mut all = Vec::new();
        let mut cursor = Oid::from([0, 0]);
        loop {
            let next = self.get_next(&cursor).await?;
            if next.value.is_exception() || next.oid <= cursor {
                return Ok(all);
            }
            let arcs = next.oid.arcs();
            let subtree = Oid::from(&arcs[..arcs.len().min(2)]);
            let part = self.walk(&subtree).await?;
            all.extend(part);
            // The last OID of the subtree: the next GETNEXT starts past it.
            cursor = subtree.child(u32::MAX);
        }
    }

    /// Whether the agent has answered a request of this session.
    pub fn answered(&self) -> bool {
        self.answered.load(Ordering::Relaxed)
    }

    /// The engine's answer in our types (and a note that the agent answers,
    /// for [`Session::err`]).
    fn convert(&self, varbinds: &[async_snmp::VarBind]) -> Result<Vec<VarBind>, SnmpError> {
        self.answered.store(true, Ordering::Relaxed);
        varbinds
            .iter()
            .map(|vb| {
                Ok(VarBind::new(
                    Oid::from(vb.oid.arcs()),
                    Value::try_from(&vb.value).map_err(|e| SnmpError::Malformed {
                        target: self.target,
                        message: format!("{}: {e}", vb.oid),
                    })?,
                ))
            })
            .collect()
    }

    #[allow(clippy::boxed_local)] // the engine hands its errors over boxed
    fn err(&self, e: Box<async_snmp::Error>) -> SnmpError {
        let error = SnmpError::from_engine(*e, self.target);
        // authPriv, never an answer, but during this session the agent sent
        // an authenticated message (its time, after discovery): the
        // authentication key is right, and the agent drops what it cannot
        // decrypt (a wrong privacy password or protocol). Say so rather than
        // "no answer". (A time already known at the start proves nothing
        // now: the device may simply be gone.)
        if error.is_timeout()
            && self.encrypted
            && !self.answered.load(Ordering::Relaxed)
            && authenticated_time(&self.engine_cache, self.target)
                .is_some_and(|now| Some(now) != self.time_at_start)
        {
            return SnmpError::V3 {
                target: self.target,
                failure: crate::error::V3Failure::SilentAfterAuthentication,
            };
        }
        error
    }
}

impl Poller for Session {
    fn target(&self) -> SocketAddr {
        self.target
    }

    fn has_bulk(&self) -> bool {
        !self.v1
    }

    async fn get_next_many(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let wire: Vec<async_snmp::Oid> = oids.iter().map(async_snmp::Oid::from).collect();
        match self.client.get_next_many(&wire).await {
            Ok(response) => self.convert(&response.varbinds),
            // SNMPv1: one OID without a successor fails the whole PDU
            // (noSuchName); ask one by one.
            Err(e)
                if self.v1
                    && matches!(
                        &*e,
                        async_snmp::Error::Snmp {
                            status: async_snmp::ErrorStatus::NoSuchName,
                            ..
                        }
                    ) =>
            {
                let mut out = Vec::with_capacity(oids.len());
                for oid in oids {
                    out.push(self.get_next(oid).await?);
                }
                Ok(out)
            }
            Err(e) => Err(self.err(e)),
        }
    }

    async fn get_bulk(
        &self,
        oids: &[Oid],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> Result<Vec<VarBind>, SnmpError> {
        let wire: Vec<async_snmp::Oid> = oids.iter().map(async_snmp::Oid::from).collect();
        let varbinds = self
            .client
            .get_bulk(&wire, non_repeaters, max_repetitions)
            .await
            .map_err(|e| self.err(e))?;
        self.convert(&varbinds)
    }

    async fn get(&self, oids: &[Oid]) -> Result<Vec<VarBind>, SnmpError> {
        let mut pending: Vec<Oid> = oids.to_vec();
        let mut missing: Vec<Oid> = Vec::new();
        loop {
            if pending.is_empty() {
                break;
            }
            let wire: Vec<async_snmp::Oid> = pending.iter().map(async_snmp::Oid::from).collect();
            match self.client.get_many(&wire).await {
                Ok(response) => {
                    let mut varbinds = self.convert(&response.varbinds)?;
                    varbinds.extend(
                        missing
                            .into_iter()
                            .map(|oid| VarBind::new(oid, Value::NoSuchObject)),
                    );
                    varbinds.sort_by(|a, b| a.oid.cmp(&b.oid));
                    return Ok(varbinds);
                }
                // SNMPv1 has no exception values: one missing object fails
                // the whole PDU with noSuchName. Drop that object, ask again.
                Err(e) => match &*e {
                    async_snmp::Error::Snmp {
                        status: async_snmp::ErrorStatus::NoSuchName,
                        oid: Some(oid),
                        ..
                    } if self.v1 => {
                        let bad = Oid::from(oid.arcs());
                        let before = pending.len();
                        pending.retain(|o| *o != bad);
                        if pending.len() == before {
                            return Err(self.err(e));
                        }
                        missing.push(bad);
                    }
                    _ => return Err(self.err(e)),
                },
            }
        }
        missing.sort();
        Ok(missing
            .into_iter()
            .map(|oid| VarBind::new(oid, Value::NoSuchObject))
            .collect())
    }

    async fn walk(&self, subtree: &Oid) -> Result<Vec<VarBind>, SnmpError> {
        let stream = self.client.walk(subtree.into()).map_err(|e| self.err(e))?;
        let varbinds = stream.collect().await.map_err(|e| self.err(e))?;
        self.convert(&varbinds)
    }

    async fn get_next(&self, oid: &Oid) -> Result<VarBind, SnmpError> {
        let response = match self.client.get_next(&oid.into()).await {
            Ok(response) => response,
            // SNMPv1 says "end of the MIB" with noSuchName (RFC 1157 §4.1.3).
            Err(e)
                if self.v1
                    && matches!(
                        &*e,
                        async_snmp::Error::Snmp {
                            status: async_snmp::ErrorStatus::NoSuchName,
                            ..
                        }
                    ) =>
            {
                return Ok(VarBind::new(oid.clone(), Value::EndOfMibView));
            }
            Err(e) => return Err(self.err(e)),
        };
        let mut varbinds = self.convert(&response.varbinds)?;
        match varbinds.len() {
            1 => Ok(varbinds.remove(0)),
            n => Err(SnmpError::Malformed {
                target: self.target,
                message: format!("GETNEXT answered with {n} variable bindings"),
            }),
        }
    }
}
