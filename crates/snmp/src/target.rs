//! Targets as users write them: `HOST`, `HOST:PORT`, `[IPv6]:PORT`, or a
//! bare IPv6 address.

use std::net::{IpAddr, SocketAddr};

use crate::SnmpError;

/// A host and a port, not resolved yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetSpec {
    pub host: String,
    pub port: u16,
}

impl TargetSpec {
    pub fn parse(text: &str, default_port: u16) -> Result<Self, SnmpError> {
        let invalid = || SnmpError::InvalidTarget(text.chars().take(200).collect());
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid());
        }
        if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
            host.parse::<std::net::Ipv6Addr>().map_err(|_| invalid())?;
            let port = match after {
                "" => default_port,
                p => p
                    .strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(invalid)?,
            };
            return Ok(TargetSpec {
                host: host.to_owned(),
                port,
            });
        }
        if text.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(TargetSpec {
                host: text.to_owned(),
                port: default_port,
            });
        }
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| invalid())?),
            None => (text, default_port),
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(invalid());
        }
        Ok(TargetSpec {
            host: host.to_owned(),
            port,
        })
    }

    /// The first address the name resolves to.
    pub async fn resolve(&self) -> Result<SocketAddr, SnmpError> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|_| SnmpError::Resolve(self.host.clone()))?
            .next()
            .ok_or_else(|| SnmpError::Resolve(self.host.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = |s| TargetSpec::parse(s, 161).map(|t| (t.host, t.port));
        assert_eq!(t("10.0.0.5").ok(), Some(("10.0.0.5".into(), 161)));
        assert_eq!(t("printer:1161").ok(), Some(("printer".into(), 1161)));
        assert_eq!(t("[::1]:1161").ok(), Some(("::1".into(), 1161)));
        assert_eq!(t("[::1]").ok(), Some(("::1".into(), 161)));
        assert_eq!(t("fe80::1").ok(), Some(("fe80::1".into(), 161)));
        for bad in [
            "",
            "host:",
            "host:99999",
            "[::1",
            "[nonsense]:1",
            "a b",
            "h:1:x",
        ] {
            assert!(t(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
