//! The SNMP options every command that speaks SNMP shares (PRODUCT.md,
//! "Common SNMP options").

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use printwatch_snmp::credentials::{CredentialSpec, CredentialsFile};
use printwatch_snmp::target::TargetSpec;
use printwatch_snmp::{Credentials, Secret, Session, SnmpEngine, SnmpOptions};

#[derive(Args, Debug, Clone)]
pub struct SnmpArgs {
    /// SNMP version: 1, 2c or 3.
    #[arg(long, default_value = "2c", value_name = "1|2c|3")]
    pub snmp_version: String,
    /// Community (v1/v2c); repeatable where several are tried in order.
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
    /// TOML file of credential sets, tried in order.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
}

impl SnmpArgs {
    pub fn options(&self) -> anyhow::Result<SnmpOptions> {
        if !self.timeout.is_finite() || self.timeout <= 0.0 || self.timeout > 3600.0 {
            bail!("--timeout must be a number of seconds above 0 (and at most 3600)");
        }
        if self.retries > 10 {
            bail!("--retries must be at most 10");
        }
        Ok(SnmpOptions {
            timeout: Duration::from_secs_f64(self.timeout),
            retries: self.retries,
            ..SnmpOptions::default()
        })
    }

    /// The credential sets to try, in order: those of the command line, then
    /// those of `--credentials`.
    pub fn credential_sets(&self) -> anyhow::Result<Vec<Credentials>> {
        let mut sets = Vec::new();
        let communities: Vec<Option<Secret>> = if self.community.is_empty() {
            vec![None]
        } else {
            self.community
                .iter()
                .map(|c| Some(Secret::new(c.clone())))
                .collect()
        };
        let v3 = self.snmp_version.trim_start_matches('v') == "3";
        let explicit =
            self.credentials.is_none() || !self.community.is_empty() || self.user.is_some();
        if explicit {
            for community in if v3 { vec![None] } else { communities } {
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
                sets.push(spec.build()?);
            }
        }
        if let Some(path) = &self.credentials {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            sets.extend(CredentialsFile::parse(&text).map_err(anyhow::Error::msg)?);
        }
        Ok(sets)
    }

    /// A session with `target` (`HOST`, `HOST:PORT`, `[IPv6]:PORT`) using the
    /// first credential set, for the commands that talk to one device. The
    /// engine owns the socket the session uses: keep both.
    pub async fn session(
        &self,
        target: &str,
        options: &SnmpOptions,
    ) -> anyhow::Result<(SnmpEngine, Session)> {
        let target = TargetSpec::parse(target, 161)?;
        let credentials = self
            .credential_sets()?
            .into_iter()
            .next()
            .context("no credentials given")?;
        let address = target.resolve().await?;
        let engine = SnmpEngine::new(None);
        let session = engine.session(address, &credentials, options).await?;
        Ok((engine, session))
    }
}
