//! What to sweep: CIDR blocks, ranges (`a.b.c.d-e.f.g.h`), single hosts and
//! host names, IPv6 hosts, minus exclusions.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

/// Largest sweep we accept (a /8 of IPv4): beyond it, a typo is likelier
/// than an intent.
pub const MAX_ADDRESSES: u64 = 1 << 24;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error(
        "{0:?} is not a target: give an address, a CIDR block (10.0.0.0/24), a range (10.0.0.1-10.0.0.50) or a host name"
    )]
    Invalid(String),
    #[error("range {0:?} ends before it starts")]
    Backwards(String),
    #[error("{0:?} covers {1} addresses; the most a scan takes is {MAX_ADDRESSES} (a /8)")]
    TooLarge(String, u64),
    #[error("cannot resolve host name {0:?}")]
    Unresolved(String),
}

/// One item of a target list, not expanded yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Net(IpNet),
    Range(IpAddr, IpAddr),
    Address(IpAddr),
    Name(String),
}

impl Target {
    pub fn parse(text: &str) -> Result<Self, TargetError> {
        let t = text.trim();
        let invalid = || TargetError::Invalid(t.chars().take(100).collect());
        if t.is_empty() {
            return Err(invalid());
        }
        if let Ok(ip) = t
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Target::Address(ip));
        }
        if t.contains('/') {
            let net: IpNet = t.parse().map_err(|_| invalid())?;
            let size = net_size(&net);
            if size > MAX_ADDRESSES {
                return Err(TargetError::TooLarge(t.to_owned(), size));
            }
            return Ok(Target::Net(net.trunc()));
        }
        if let Some((a, b)) = t.split_once('-')
            && let Ok(start) = a.trim().parse::<Ipv4Addr>()
        {
            // Full end address, or only its last octet ("10.0.0.1-50").
            let end = match b.trim().parse::<Ipv4Addr>() {
                Ok(end) => end,
                Err(_) => {
                    let last: u8 = b.trim().parse().map_err(|_| invalid())?;
                    let o = start.octets();
                    Ipv4Addr::new(o[0], o[1], o[2], last)
                }
            };
            if end < start {
                return Err(TargetError::Backwards(t.to_owned()));
            }
            let size = u64::from(u32::from(end) - u32::from(start)) + 1;
            if size > MAX_ADDRESSES {
                return Err(TargetError::TooLarge(t.to_owned(), size));
            }
            return Ok(Target::Range(IpAddr::V4(start), IpAddr::V4(end)));
        }
        let is_name = t.len() <= 253
            && t.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
            });
        if is_name {
            Ok(Target::Name(t.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The number of addresses (names count as one).
    pub fn size(&self) -> u64 {
        match self {
            Target::Net(net) => hosts_of(net).1,
            Target::Range(IpAddr::V4(a), IpAddr::V4(b)) => {
                u64::from(u32::from(*b) - u32::from(*a)) + 1
            }
            Target::Range(..) => 0,
            Target::Address(_) | Target::Name(_) => 1,
        }
    }
}

fn net_size(net: &IpNet) -> u64 {
    let bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if bits >= 63 { u64::MAX } else { 1u64 << bits }
}

/// First host and count of a block: network and broadcast addresses are left
/// out of IPv4 blocks larger than /31.
fn hosts_of(net: &IpNet) -> (IpAddr, u64) {
    let size = net_size(net);
    match net {
        IpNet::V4(v4) if v4.prefix_len() < 31 => {
            let first = u32::from(v4.network()).saturating_add(1);
            (IpAddr::V4(Ipv4Addr::from(first)), size - 2)
        }
        _ => (net.network(), size),
    }
}

/// The addresses of a target list, in order, without duplicates and without
/// the excluded ones. Names are resolved (first address).
pub async fn expand(targets: &[Target], exclude: &[Target]) -> Result<Vec<IpAddr>, TargetError> {
    let total: u64 = targets.iter().map(Target::size).sum();
    if total > MAX_ADDRESSES {
        return Err(TargetError::TooLarge("the targets".into(), total));
    }
    let excluded = addresses(exclude).await?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for ip in addresses(targets).await? {
        if !excluded.contains(&ip) && seen.insert(ip) {
            out.push(ip);
        }
    }
    Ok(out)
}

async fn addresses(targets: &[Target]) -> Result<Vec<IpAddr>, TargetError> {
    let mut out = Vec::new();
    for target in targets {
        match target {
            Target::Address(ip) => out.push(*ip),
            Target::Net(net) => {
                let (first, count) = hosts_of(net);
                out.extend(successive(first, count));
            }
            Target::Range(a, b) => {
                if let (IpAddr::V4(a), IpAddr::V4(b)) = (a, b) {
                    let count = u64::from(u32::from(*b) - u32::from(*a)) + 1;
                    out.extend(successive(IpAddr::V4(*a), count));
                }
            }
            Target::Name(name) => {
                let ip = tokio::net::lookup_host((name.as_str(), 0))
                    .await
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| TargetError::Unresolved(name.clone()))?;
                out.push(ip.ip());
            }
        }
    }
    Ok(out)
}

fn successive(first: IpAddr, count: u64) -> impl Iterator<Item = IpAddr> {
    (0..count).map(move |i| match first {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(i as u32))),
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6).wrapping_add(u128::from(i)),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[IpAddr]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn every_form_expands() {
        let t = |s: &str| Target::parse(s).expect(s);
        let got = expand(
            &[
                t("127.1.0.0/30"),
                t("127.1.0.5-127.1.0.6"),
                t("127.1.0.9-10"),
                t("127.1.0.1"),
                t("[::1]"),
                t("localhost"),
            ],
            &[t("127.1.0.6")],
        )
        .await
        .expect("expands");
        assert_eq!(
            ips(&got),
            vec![
                "127.1.0.1",
                "127.1.0.2",
                "127.1.0.5",
                "127.1.0.9",
                "127.1.0.10",
                "::1",
                "127.0.0.1"
            ]
        );
    }

    #[test]
    fn sizes_and_limits() {
        assert_eq!(Target::parse("10.0.0.0/24").expect("ok").size(), 254);
        assert_eq!(Target::parse("10.0.0.0/16").expect("ok").size(), 65534);
        assert_eq!(Target::parse("10.0.0.7/32").expect("ok").size(), 1);
        assert!(matches!(
            Target::parse("10.0.0.0/7"),
            Err(TargetError::TooLarge(..))
        ));
        assert!(matches!(
            Target::parse("fe80::/64"),
            Err(TargetError::TooLarge(..))
        ));
        assert!(matches!(
            Target::parse("10.0.0.9-10.0.0.1"),
            Err(TargetError::Backwards(_))
        ));
        for bad in [
            "",
            "10.0.0.1-x",
            "10.0.0.0/33",
            "a b",
            "-host",
            "10.0.0.1/24/2",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
        // A block given by a host address is its network.
        assert_eq!(
            Target::parse("10.0.0.77/30").expect("ok"),
            Target::Net("10.0.0.76/30".parse().expect("net"))
        );
    }
}
