//! The SNMP options every command that speaks SNMP shares (PRODUCT.md,
//! "Common SNMP options"), and the credential sets they describe, tried in
//! order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use printwatch_snmp::credentials::{CredentialSpec, CredentialsFile};
use printwatch_snmp::target::TargetSpec;
use printwatch_snmp::{
    Credentials, Oid, Poller, Secret, Session, SnmpEngine, SnmpError, SnmpOptions,
};

use crate::exit::{self, fail, usage};

#[derive(Args, Debug, Clone)]
pub struct SnmpArgs {
    /// SNMP version: 1, 2c or 3.
    #[arg(long, default_value = "2c", value_name = "1|2c|3")]
    pub snmp_version: String,
    /// Community (v1/v2c); repeat it to try several in order (default:
    /// public).
    #[arg(long, value_name = "NAME")]
    pub community: Vec<String>,
    /// SNMPv3 user name.
    #[arg(long)]
    pub user: Option<String>,
    /// SNMPv3 authentication protocol.
    #[arg(long, value_name = "md5|sha|sha224|sha256|sha384|sha512")]
    pub auth_protocol: Option<String>,
    /// SNMPv3 authentication password (at least 8 characters).
    #[arg(long, value_name = "PASSWORD")]
    pub auth_password: Option<String>,
    /// SNMPv3 privacy protocol (AES-192/256 as net-snmp's AES-192/AES-256).
    #[arg(long, value_name = "des|aes|aes192|aes256")]
    pub priv_protocol: Option<String>,
    /// SNMPv3 privacy password (at least 8 characters).
    #[arg(long, value_name = "PASSWORD")]
    pub priv_password: Option<String>,
    /// SNMPv3 context name.
    #[arg(long)]
    pub context: Option<String>,
    /// Seconds to wait for each answer (fractions allowed).
    #[arg(long, default_value = "1", value_name = "SECONDS")]
    pub timeout: f64,
    /// Times a request is sent again after a timeout.
    #[arg(long, default_value = "1", value_name = "N")]
    pub retries: u32,
    /// TOML file of credential sets ([[credentials]]), tried in order after
    /// those of the command line.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
}

/// One credential set and a name for it that holds no secret.
#[derive(Clone, Debug)]
pub struct CredentialSet {
    pub label: String,
    pub credentials: Credentials,
}

impl SnmpArgs {
    /// Timeouts and retries; out of range is a usage error.
    pub fn options(&self) -> anyhow::Result<SnmpOptions> {
        if !self.timeout.is_finite() || self.timeout <= 0.0 || self.timeout > 3600.0 {
            return Err(usage(
                "--timeout must be a number of seconds above 0 (and at most 3600)",
            ));
        }
        if self.retries > 10 {
            return Err(usage("--retries must be at most 10"));
        }
        Ok(SnmpOptions {
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            ..SnmpOptions::default()
        })
    }

    /// The credential sets to try, in order: those of the command line, then
    /// those of `--credentials`. A set that cannot work is a usage error.
    pub fn credential_sets(&self) -> anyhow::Result<Vec<CredentialSet>> {
        let mut sets = Vec::new();
        let v3 = self.snmp_version.trim_start_matches('v') == "3";
        let explicit =
            self.credentials.is_none() || !self.community.is_empty() || self.user.is_some();
        if explicit {
            let communities: Vec<Option<Secret>> = if self.community.is_empty() || v3 {
                vec![None]
            } else {
                self.community
                    .iter()
                    .map(|c| Some(Secret::new(c.clone())))
                    .collect()
            };
            let several = communities.len() > 1;
            for (i, community) in communities.into_iter().enumerate() {
                let spec = CredentialSpec {
                    snmp_version: Some(self.snmp_version.clone()),
                    community,
                    user: self.user.clone(),
                    auth_protocol: self.auth_protocol.clone(),
                    auth_password: self.auth_password.clone().map(Secret::new),
                    priv_protocol: self.priv_protocol.clone(),
                    priv_password: self.priv_password.clone().map(Secret::new),
                    context: self.context.clone(),
                };
                let credentials = spec.build().map_err(usage)?;
                let mut label = credentials.describe();
                if several {
                    label.push_str(&format!(" #{}", i + 1));
                }
                sets.push(CredentialSet { label, credentials });
            }
        }
        if let Some(path) = &self.credentials {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let file = CredentialsFile::parse(&text)
                .map_err(|e| usage(format!("{}: {e}", path.display())))?;
            for (i, credentials) in file.into_iter().enumerate() {
                sets.push(CredentialSet {
                    label: format!(
                        "credentials file set {} ({})",
                        i + 1,
                        credentials.describe()
                    ),
                    credentials,
                });
            }
        }
        Ok(sets)
    }

    /// A session with `target` (`HOST`, `HOST:PORT`, `[IPv6]:PORT`), for the
    /// commands that talk to one device. With several credential sets, each
    /// is tried in order with one small request (GETNEXT of `system`) until
    /// one is answered; stderr tells which. Usage errors come before any
    /// packet is sent.
    pub async fn connect(&self, target: &str, options: &SnmpOptions) -> anyhow::Result<Connection> {
        let spec = TargetSpec::parse(target, 161)?;
        let sets = self.credential_sets()?;
        if sets.is_empty() {
            return Err(usage("no credentials given"));
        }
        let address = spec.resolve().await?;
        // The engine owns the socket every session uses.
        let engine = SnmpEngine::new(None);
        if sets.len() == 1 {
            let set = sets.into_iter().next().context("no credentials given")?;
            let session = engine.session(address, &set.credentials, options).await?;
            return Ok(Connection {
                _engine: engine,
                session,
                set,
                choice: false,
                port: address.port(),
            });
        }
        let system = Oid::from([1, 3, 6, 1, 2, 1, 1]);
        let total = sets.len();
        let mut outcomes: Vec<(String, SnmpError)> = Vec::new();
        for (i, set) in sets.into_iter().enumerate() {
            let session = engine.session(address, &set.credentials, options).await?;
            let error = match session.get_next(&system).await {
                Ok(_) => None,
                // Any answer, even an error status, says these credentials
                // are heard; refusals and silence are not.
                Err(e) if !e.is_timeout() && !e.is_auth_failure() => None,
                Err(e) => Some(e),
            };
            match error {
                None => {
                    eprintln!(
                        "printwatch: {address} answered to credential set {} of {total}: {}",
                        i + 1,
                        set.label
                    );
                    return Ok(Connection {
                        _engine: engine,
                        session,
                        set,
                        choice: true,
                        port: address.port(),
                    });
                }
                Some(e) => {
                    let why = if e.is_timeout() {
                        "no answer".to_owned()
                    } else {
                        short_reason(&e)
                    };
                    eprintln!(
                        "printwatch: {address}: credential set {} of {total} ({}): {why}",
                        i + 1,
                        set.label
                    );
                    outcomes.push((set.label, e));
                }
            }
        }
        Err(none_answered(address, &outcomes))
    }
}

/// The reason of a refusal without the address (already said).
fn short_reason(e: &SnmpError) -> String {
    match e {
        SnmpError::V3 { failure, .. } => failure.to_string(),
        other => other.to_string(),
    }
}

/// Every credential set was tried and none was answered: 4 when the device
/// refused some (it is there), 3 when it stayed silent to all.
fn none_answered(address: SocketAddr, outcomes: &[(String, SnmpError)]) -> anyhow::Error {
    let tried = outcomes
        .iter()
        .map(|(label, _)| label.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if let Some((label, refused)) = outcomes.iter().find(|(_, e)| e.is_auth_failure()) {
        return fail(
            exit::AUTH,
            format!(
                "{address} refused every credential set tried ({tried}); {label}: {}",
                short_reason(refused)
            ),
        );
    }
    let community = outcomes
        .iter()
        .any(|(label, _)| label.contains("community"));
    fail(
        exit::NO_ANSWER,
        format!(
            "no answer from {address} to any of the {} credential sets tried ({tried}): {}",
            outcomes.len(),
            silence_hint(community, address.port())
        ),
    )
}

/// What silence usually means.
fn silence_hint(community: bool, port: u16) -> String {
    if community {
        format!(
            "a wrong community gets no answer at all, so check the community (--community), \
             or SNMP is disabled on the device, or UDP port {port} is blocked on the way"
        )
    } else {
        format!("SNMP (v3) may be disabled on the device, or UDP port {port} blocked on the way")
    }
}

/// A session and the credential set that answered.
pub struct Connection {
    _engine: SnmpEngine,
    pub session: Session,
    pub set: CredentialSet,
    /// Several sets were given (so which one answered is worth saying).
    pub choice: bool,
    port: u16,
}

impl Connection {
    /// The label to report in a snapshot: only when there was a choice.
    pub fn label(&self) -> Option<String> {
        self.choice.then(|| self.set.label.clone())
    }

    /// Adds what silence usually means to a "no answer" from a device that
    /// never answered this session.
    pub fn explain(&self, error: anyhow::Error) -> anyhow::Error {
        let timeout = crate::snmp_error(&error).is_some_and(SnmpError::is_timeout);
        if !timeout || self.session.answered() {
            return error;
        }
        let community = matches!(self.set.credentials, Credentials::Community { .. });
        fail(
            exit::NO_ANSWER,
            format!("{error:#}: {}", silence_hint(community, self.port)),
        )
    }
}
