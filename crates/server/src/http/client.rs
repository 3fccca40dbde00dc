//! Where a request came from: the client's address (for rate limits), its
//! scheme (for the session cookie's `Secure`) and the host it asked for
//! (the server's own origin, for the CSRF origin check).
//!
//! Behind a reverse proxy the TCP peer is the proxy. Only when the peer is
//! one of the `--trusted-proxy` networks are `X-Forwarded-For` /
//! `Forwarded`, `X-Forwarded-Proto` and `X-Forwarded-Host` believed; from
//! anyone else they are ignored. The client is the rightmost hop that is
//! not a trusted proxy: everything left of it was written by the client
//! and may be spoofed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::header::{FORWARDED, HOST};
use axum::http::request::Parts;
use ipnet::IpNet;

/// Marks a request that arrived over TLS (set by [`crate::tls::run`]).
#[derive(Clone, Copy, Debug)]
pub struct TlsConnection;

/// The networks of the reverse proxies whose forwarding headers we believe.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    /// A CIDR, or a single address (a /32 or /128).
    pub fn parse_net(text: &str) -> Result<IpNet, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("{text:?} is not a CIDR (10.0.0.0/8, fd00::/8) or an address"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Is `ip` one of the trusted proxies?
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// What the server knows about the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub addr: Option<IpAddr>,
    /// The client used HTTPS (to us, or to a trusted proxy in front).
    pub https: bool,
    /// The host the client asked for (`Host`, or the trusted proxy's
    /// `X-Forwarded-Host`), lower case.
    pub host: Option<String>,
}

impl Client {
    pub fn of(parts: &Parts, proxies: &TrustedProxies) -> Client {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| canonical(c.0.ip()));
        let tls = parts.extensions.get::<TlsConnection>().is_some();
        let host = header_text(&parts.headers, HOST.as_str())
            .map(str::to_string)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_string()));
        resolve(peer, tls, host, &parts.headers, proxies)
    }

    /// `scheme://host[:port]` as browsers write it in `Origin`.
    pub fn origin(&self) -> Option<String> {
        let scheme = if self.https { "https" } else { "http" };
        self.host.as_deref().map(|h| normal_origin(scheme, h))
    }
}

fn resolve(
    peer: Option<IpAddr>,
    tls: bool,
    host: Option<String>,
    headers: &HeaderMap,
    proxies: &TrustedProxies,
) -> Client {
    let direct = Client {
        addr: peer,
        https: tls,
        host: host.map(|h| h.to_ascii_lowercase()),
    };
    let Some(peer) = peer.filter(|p| proxies.trusts(*p)) else {
        return direct;
    };
    let forwarded = forwarded_elements(headers);
    // X-Forwarded-For is what nearly every proxy appends; `Forwarded` is
    // read only when it is absent (a proxy that writes `Forwarded` must
    // strip a client's X-Forwarded-For).
    let hops: Vec<Option<IpAddr>> = if headers.contains_key("x-forwarded-for") {
        all_values(headers, "x-forwarded-for")
            .into_iter()
            .map(parse_hop)
            .collect()
    } else {
        forwarded
            .iter()
            .map(|e| e.get("for").and_then(|v| parse_hop(v)))
            .collect()
    };
    let proto = all_values(headers, "x-forwarded-proto")
        .last()
        .map(|p| p.to_ascii_lowercase())
        .or_else(|| forwarded.iter().rev().find_map(|e| e.get("proto").cloned()));
    let fwd_host = all_values(headers, "x-forwarded-host")
        .last()
        .map(|h| h.to_string())
        .or_else(|| forwarded.iter().rev().find_map(|e| e.get("host").cloned()));
    Client {
        addr: Some(client_hop(peer, &hops, proxies)),
        https: match proto.as_deref() {
            Some("https") => true,
            Some("http") => false,
            _ => tls,
        },
        host: fwd_host.map(|h| h.to_ascii_lowercase()).or(direct.host),
    }
}

/// Walk the chain from the right, from the trusted peer: the first hop that
/// is not a trusted proxy is the client. A hop that does not parse ends the
/// walk at the last address known (a trusted proxy wrote nothing better).
fn client_hop(peer: IpAddr, hops: &[Option<IpAddr>], proxies: &TrustedProxies) -> IpAddr {
    let mut current = peer;
    for hop in hops.iter().rev() {
        if !proxies.trusts(current) {
            break;
        }
        match hop {
            Some(ip) => current = *ip,
            None => break,
        }
    }
    current
}

/// One hop: `192.0.2.1`, `192.0.2.1:443`, `2001:db8::1`, `[2001:db8::1]:443`,
/// optionally quoted. None for garbage, `unknown` and obfuscated names.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.starts_with(':')) {
            return None;
        }
        return inside
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| canonical(IpAddr::V6(ip)));
    }
    t.parse::<SocketAddr>().ok().map(|s| canonical(s.ip()))
}

/// IPv4-mapped IPv6 addresses as IPv4, so that one client is one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Every comma-separated value of every line of a header, in order.
fn all_values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// RFC 7239 elements (`for=…;proto=…, for=…`), keys lower case, quotes
/// removed. Quoted commas are not expected in these values (addresses,
/// hosts, schemes) and would only make one element garbage.
fn forwarded_elements(headers: &HeaderMap) -> Vec<std::collections::HashMap<String, String>> {
    all_values(headers, FORWARDED.as_str())
        .into_iter()
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_string(),
                    )
                })
                .collect()
        })
        .collect()
}

/// `scheme://host[:port]`, lower case, without the scheme's default port.
pub fn normal_origin(scheme: &str, host: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let host = host.trim().to_ascii_lowercase();
    let default = if scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default).unwrap_or(&host);
    format!("{scheme}://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            nets.iter()
                .map(|n| TrustedProxies::parse_net(n).expect("net"))
                .collect(),
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn client(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> Client {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        resolve(
            Some(canonical(ip(peer))),
            false,
            Some("pw.example".into()),
            &map,
            &proxies(trusted),
        )
    }

    #[test]
    fn headers_of_an_untrusted_peer_are_ignored() {
        let c = client(
            "203.0.113.9",
            &[
                ("x-forwarded-for", "198.51.100.1"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "evil.example"),
                ("forwarded", "for=198.51.100.2;proto=https"),
            ],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("203.0.113.9")));
        assert!(!c.https);
        assert_eq!(c.origin().as_deref(), Some("http://pw.example"));
        // Nothing trusted: the same.
        let c = client("10.0.0.1", &[("x-forwarded-for", "198.51.100.1")], &[]);
        assert_eq!(c.addr, Some(ip("10.0.0.1")));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        // The client wrote "1.1.1.1" itself; the proxy appended its real address.
        let c = client(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "1.1.1.1, 198.51.100.7"),
                ("x-forwarded-proto", "https"),
            ],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.7")));
        assert!(c.https);
        assert_eq!(c.origin().as_deref(), Some("https://pw.example"));
        // Two proxies, the chain split over two header lines.
        let c = client(
            "10.0.0.1",
            &[
                ("x-forwarded-for", "1.1.1.1, 198.51.100.7"),
                ("x-forwarded-for", "10.0.0.2"),
            ],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.7")));
        // Everyone trusted (an internal client): the leftmost hop.
        let c = client(
            "10.0.0.1",
            &[("x-forwarded-for", "10.9.9.9, 10.0.0.2")],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("10.9.9.9")));
    }

    #[test]
    fn ipv6_hops_and_forwarded() {
        let c = client(
            "fd00::1",
            &[("x-forwarded-for", "[2001:db8::7]:4711, 2001:db8::8")],
            &["fd00::/8"],
        );
        assert_eq!(c.addr, Some(ip("2001:db8::8")));
        let c = client(
            "fd00::1",
            &[(
                "forwarded",
                "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";proto=https;host=PW.example:443",
            )],
            &["fd00::/8"],
        );
        assert_eq!(c.addr, Some(ip("2001:db8:cafe::17")));
        assert!(c.https);
        assert_eq!(c.origin().as_deref(), Some("https://pw.example"));
        // An IPv4-mapped peer is the IPv4 address.
        let c = client(
            "::ffff:10.0.0.1",
            &[("x-forwarded-for", "198.51.100.3")],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.3")));
    }

    #[test]
    fn garbage_ends_the_walk_at_the_last_known_address() {
        for garbage in [
            "garbage",
            "unknown",
            "_hidden",
            "[::1",
            "1.2.3.4.5",
            "",
            ",,,",
        ] {
            let c = client(
                "10.0.0.1",
                &[
                    ("x-forwarded-for", garbage),
                    ("x-forwarded-proto", "gopher"),
                ],
                &["10.0.0.0/8"],
            );
            // "" and ",,," are no hops at all: the peer too.
            assert_eq!(c.addr, Some(ip("10.0.0.1")), "{garbage:?}");
            assert!(!c.https);
        }
        // Garbage left of the real client does not matter.
        let c = client(
            "10.0.0.1",
            &[("x-forwarded-for", "<script>, 198.51.100.7")],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("198.51.100.7")));
        let c = client(
            "10.0.0.1",
            &[("forwarded", "for=unknown;proto")],
            &["10.0.0.0/8"],
        );
        assert_eq!(c.addr, Some(ip("10.0.0.1")));
    }

    #[test]
    fn nets_and_origins() {
        assert!(TrustedProxies::parse_net("10.0.0.0/8").is_ok());
        assert!(TrustedProxies::parse_net(" 192.0.2.1 ").is_ok());
        assert!(TrustedProxies::parse_net("fd00::/8").is_ok());
        assert!(TrustedProxies::parse_net("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse_net("proxy").is_err());
        assert_eq!(normal_origin("https", "A.example:443"), "https://a.example");
        assert_eq!(
            normal_origin("http", "a.example:8080"),
            "http://a.example:8080"
        );
        assert_eq!(normal_origin("http", "[::1]:80"), "http://[::1]");
    }
}
