//! The agent's HTTP(S) transport to the server: one POST, one answer.
//!
//! - **One fresh connection per request** (requests are minutes apart): TCP,
//!   then (through a proxy) an HTTP `CONNECT` tunnel, then (for `https://`)
//!   TLS, then one HTTP/1.1 exchange with `Connection: close`.
//! - **TLS**: rustls with the ring provider only, TLS 1.2 and 1.3, the
//!   system's CA certificates (`rustls-native-certs`) plus `uplink.ca-file`.
//!   A server whose certificate chains to neither fails with
//!   [`TransportError::UntrustedCertificate`], whose message names the key to set.
//! - **Proxies**: `uplink.proxy` if set, else the environment:
//!   `HTTPS_PROXY`/`https_proxy` for an `https://` server,
//!   `HTTP_PROXY`/`http_proxy` for an `http://` one, unless
//!   `NO_PROXY`/`no_proxy` names the server (see [`no_proxy_matches`]);
//!   `uplink.proxy` ignores `NO_PROXY`. The proxy is always asked for a
//!   `CONNECT` tunnel, also for a plain `http://` server (the server should be
//!   HTTPS in production: envelopes are sealed end to end either way, but TLS
//!   also hides who talks to whom). `http://USER:PASSWORD@HOST:PORT` sends
//!   `Proxy-Authorization: Basic`; the credentials are never printed
//!   ([`ProxyUrl`]'s `Display` and `Debug` leave them out).
//! - **Bounds**: `connect_timeout` for each of the TCP connect, the `CONNECT`
//!   exchange and the TLS handshake; `request_timeout` for the whole request,
//!   body included; the proxy's answer head at most 16 KiB, the server's
//!   answer head at most 64 KiB and its body at most `max_body` bytes.
//!
//! Nothing here retries: backoff belongs to the uplink, which can ask
//! [`TransportError::is_unreachable`] whether trying later may help.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, USER_AGENT};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use zeroize::Zeroizing;

/// The most a proxy's answer to `CONNECT` may hold before its blank line.
const MAX_PROXY_HEAD: usize = 16 * 1024;
/// The most the server's answer head (status line and headers) may hold.
const MAX_ANSWER_HEAD: usize = 64 * 1024;

/// How the transport reaches the server (`[uplink]` of the configuration).
#[derive(Clone, Debug)]
pub struct TransportOptions {
    /// `uplink.proxy` (`http://[USER:PASSWORD@]HOST:PORT` of a CONNECT proxy);
    /// `None`: the environment (`HTTPS_PROXY`/`https_proxy` for https URLs,
    /// `HTTP_PROXY`/`http_proxy` for http URLs, `NO_PROXY`/`no_proxy`
    /// honoured). An empty string means no proxy, whatever the environment.
    pub proxy: Option<String>,
    /// `uplink.ca-file`: PEM certificates added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// For each step of opening the connection: TCP, `CONNECT`, TLS.
    pub connect_timeout: Duration,
    /// The whole request, answer body included.
    pub request_timeout: Duration,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            proxy: None,
            ca_file: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// What was being done when a timeout struck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Opening the TCP connection (to the server or the proxy).
    Connect,
    /// Asking the proxy for a tunnel.
    ProxyConnect,
    /// The TLS handshake.
    TlsHandshake,
    /// Sending the request and reading the answer.
    Request,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Connect => "connecting",
            Phase::ProxyConnect => "asking the proxy for a tunnel",
            Phase::TlsHandshake => "in the TLS handshake",
            Phase::Request => "waiting for the request to complete",
        })
    }
}

/// Everything that can go wrong between the agent and the server. Messages
/// say what to do; none holds a proxy's credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server URL given at activation is not usable.
    #[error("invalid server URL {url:?}: {reason}; give http(s)://HOST[:PORT][/PREFIX]")]
    ServerUrl {
        /// The URL (left out when it holds credentials).
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The proxy URL (`uplink.proxy` or the environment) is not usable.
    #[error("invalid proxy URL (from {origin}): {reason}; give http://[USER:PASSWORD@]HOST:PORT")]
    ProxyUrl {
        /// `uplink.proxy` or the environment variable it came from.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `uplink.ca-file` cannot be used.
    #[error(
        "CA file {path}: {reason}; uplink.ca-file (or --ca-file) must name a readable PEM file of CA certificates"
    )]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// rustls refused the configuration (should not happen).
    #[error("TLS setup failed: {0}")]
    TlsSetup(String),
    /// The request path is not an absolute path.
    #[error("invalid request path {0:?}: it must start with '/' and hold no spaces or controls")]
    BadPath(String),
    /// The server's (or proxy's) name did not resolve.
    #[error("cannot resolve {host}: {source}; check the name in the URL and this site's DNS")]
    Dns {
        /// The name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// The TCP connection was refused or failed.
    #[error(
        "cannot connect to {target}: {source}; check that it is up and that the network lets this host reach it"
    )]
    Connect {
        /// `server HOST:PORT` or `proxy HOST:PORT`.
        target: String,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// A step took longer than its timeout.
    #[error(
        "timed out after {after:?} {phase} ({target}); the server or the network is slow or down"
    )]
    Timeout {
        /// The step.
        phase: Phase,
        /// `server HOST:PORT` or `proxy HOST:PORT`.
        target: String,
        /// The timeout that struck.
        after: Duration,
    },
    /// The proxy wants credentials, or others than those given (407; some
    /// proxies, tinyproxy among them, answer 401 to wrong ones).
    #[error(
        "the proxy {proxy} wants valid credentials (HTTP {status}): give them as http://USER:PASSWORD@HOST:PORT in uplink.proxy"
    )]
    ProxyAuth {
        /// The proxy, without credentials.
        proxy: String,
        /// 407 or 401.
        status: u16,
    },
    /// The proxy answered `CONNECT` with something else than 2xx.
    #[error(
        "the proxy {proxy} refused to open a tunnel to {target}: HTTP {status} {reason}; the proxy's administrator must allow CONNECT to that host and port"
    )]
    ProxyRefused {
        /// The proxy, without credentials.
        proxy: String,
        /// `HOST:PORT` of the server.
        target: String,
        /// The proxy's status code.
        status: u16,
        /// The proxy's reason phrase.
        reason: String,
    },
    /// The proxy did not answer `CONNECT` in HTTP.
    #[error(
        "the proxy {proxy} gave a malformed answer to CONNECT: {reason}; is uplink.proxy an HTTP proxy?"
    )]
    ProxyProtocol {
        /// The proxy, without credentials.
        proxy: String,
        /// What was wrong.
        reason: String,
    },
    /// The server's certificate does not chain to a trusted CA.
    #[error(
        "the certificate of {server} is not trusted ({reason}): if the server uses a private CA, set uplink.ca-file in the agent's configuration (or --ca-file at activation) to that CA's PEM file"
    )]
    UntrustedCertificate {
        /// `HOST:PORT` of the server.
        server: String,
        /// rustls's reason.
        reason: String,
    },
    /// Any other TLS failure (name mismatch, expired certificate, no common version…).
    #[error("TLS with {server} failed: {reason}{hint}")]
    Tls {
        /// `HOST:PORT` of the server.
        server: String,
        /// rustls's reason.
        reason: String,
        /// What to do, when known (starts with "; ").
        hint: &'static str,
    },
    /// An I/O error outside the steps above (writing to the proxy…).
    #[error("connection to {target} failed: {source}")]
    Io {
        /// `server HOST:PORT` or `proxy HOST:PORT`.
        target: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed (connection closed early, malformed answer…).
    #[error(
        "HTTP exchange with {server} failed: {source}; is the URL that of a printwatch server?"
    )]
    Http {
        /// `HOST:PORT` of the server.
        server: String,
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The answer's body is larger than the caller allows.
    #[error(
        "the answer from {server} is larger than {limit} bytes; is the URL that of a printwatch server?"
    )]
    TooLarge {
        /// `HOST:PORT` of the server.
        server: String,
        /// The caller's bound.
        limit: usize,
    },
}

impl TransportError {
    /// Whether the server may be reachable later (DNS, refused connection,
    /// timeouts, the proxy failing to reach it, a broken exchange): the
    /// uplink retries these with backoff (exit code 3 when a command gives up).
    /// The others need a change of configuration.
    pub fn is_unreachable(&self) -> bool {
        match self {
            TransportError::Dns { .. }
            | TransportError::Connect { .. }
            | TransportError::Timeout { .. }
            | TransportError::Io { .. }
            | TransportError::Http { .. }
            | TransportError::ProxyProtocol { .. } => true,
            // 5xx: the proxy could not reach the server; 4xx: policy.
            TransportError::ProxyRefused { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------
// URLs

/// A host as written in a URL: a name, or an IP address (IPv6 in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, lowercased.
    Name(String),
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
        }
    }
}

/// `HOST[:PORT]` (the part of a URL after the scheme and any credentials).
fn parse_host_port(authority: &str, default_port: u16) -> Result<(Host, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| "an IPv6 address needs its closing ']'".to_owned())?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| format!("{inside:?} is not an IPv6 address"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {after:?} after the IPv6 address"))?,
            ),
        };
        (Host::Ip(IpAddr::V6(ip)), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        if name.is_empty() {
            return Err("the host is missing".to_owned());
        }
        let host = match name.parse::<IpAddr>() {
            Ok(ip @ IpAddr::V4(_)) => Host::Ip(ip),
            Ok(IpAddr::V6(_)) => return Err("write an IPv6 address in brackets: [::1]".to_owned()),
            Err(_) => {
                if !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
                {
                    return Err(format!("{name:?} is not a host name"));
                }
                Host::Name(name.trim_end_matches('.').to_ascii_lowercase())
            }
        };
        (host, port)
    };
    let port = match port {
        None => default_port,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("{port:?} is not a port (1-65535)")),
        },
    };
    Ok((host, port))
}

/// The server's base URL: `http://HOST[:PORT][/PREFIX]` or `https://…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// `https://`.
    pub tls: bool,
    /// The host.
    pub host: Host,
    /// The port (80 or 443 when not written).
    pub port: u16,
    /// The path prefix without a trailing `/` (empty, or like `/printwatch`).
    pub prefix: String,
}

impl ServerUrl {
    /// Parses a base URL. Credentials, queries and fragments are refused.
    pub fn parse(url: &str) -> Result<ServerUrl, TransportError> {
        let bad = |reason: String| TransportError::ServerUrl {
            url: if url.contains('@') {
                "(left out: it holds credentials)".to_owned()
            } else {
                url.to_owned()
            },
            reason,
        };
        let trimmed = url.trim();
        let (tls, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, _)) => {
                return Err(bad(format!("the scheme {scheme:?} is not http or https")));
            }
            None => return Err(bad("it must start with https:// or http://".to_owned())),
        };
        if rest.contains(['?', '#']) {
            return Err(bad("a query or fragment has no place in it".to_owned()));
        }
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("credentials have no place in it".to_owned()));
        }
        let (host, port) = parse_host_port(authority, if tls { 443 } else { 80 }).map_err(bad)?;
        if !valid_path(path) {
            return Err(bad(
                "the path holds spaces, controls or non-ASCII characters".to_owned(),
            ));
        }
        Ok(ServerUrl {
            tls,
            host,
            port,
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `HOST:PORT` (IPv6 in brackets), as a proxy's `CONNECT` wants it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    fn host_header(&self) -> String {
        if self.port == if self.tls { 443 } else { 80 } {
            self.host.to_string()
        } else {
            self.authority()
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.host_header(), self.prefix)
    }
}

/// Printable ASCII without spaces: safe in a request line.
fn valid_path(path: &str) -> bool {
    path.bytes().all(|b| b.is_ascii_graphic())
}

/// A CONNECT proxy: `http://[USER:PASSWORD@]HOST[:PORT]` (`http://` may be
/// left out, as in many `HTTPS_PROXY` values; the port defaults to 80).
/// `Display` and `Debug` never show the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// The proxy's host.
    pub host: Host,
    /// The proxy's port.
    pub port: u16,
    /// `Basic …` for `Proxy-Authorization`, when the URL has credentials.
    authorization: Option<Zeroizing<String>>,
}

impl ProxyUrl {
    /// Parses a proxy URL; `origin` names where it came from, for errors.
    pub fn parse(url: &str, origin: &str) -> Result<ProxyUrl, TransportError> {
        let bad = |reason: String| TransportError::ProxyUrl {
            origin: origin.to_owned(),
            reason,
        };
        let trimmed = url.trim();
        let rest = match trimmed.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad(
                    "a TLS connection to the proxy itself (https://) is not supported: use http:// (the tunnel to the server is still TLS)"
                        .to_owned(),
                ));
            }
            Some(_) => return Err(bad("only http:// proxies are supported".to_owned())),
            None => trimmed,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (credentials, authority) = match rest.rsplit_once('@') {
            Some((credentials, authority)) => (Some(credentials), authority),
            None => (None, rest),
        };
        if authority.contains(['/', '?', '#']) {
            return Err(bad("a path has no place in it".to_owned()));
        }
        let (host, port) = parse_host_port(authority, 80).map_err(bad)?;
        let authorization = match credentials {
            None => None,
            Some(credentials) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                let user = Zeroizing::new(percent_decode(user).map_err(bad)?);
                let password = Zeroizing::new(percent_decode(password).map_err(bad)?);
                let pair = Zeroizing::new([user.as_slice(), b":", password.as_slice()].concat());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_slice());
                Some(Zeroizing::new(format!("Basic {encoded}")))
            }
        };
        Ok(ProxyUrl {
            host,
            port,
            authorization,
        })
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.has_credentials())
            .finish()
    }
}

fn percent_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    "a '%' in the credentials is not followed by two hex digits".to_owned()
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Choosing the proxy

/// Whether a `NO_PROXY` value names this host (then it is reached directly).
///
/// Entries are separated by commas (spaces around them ignored), compared
/// without regard to case:
/// - `*` alone: every host;
/// - a name (`example.com`, `.example.com` or `*.example.com`): that name
///   and every name under it (`www.example.com`), as curl does;
/// - an IP address (`10.1.2.3`, `::1` or `[::1]`): that address;
/// - a CIDR block (`10.0.0.0/8`, `fd00::/8`): every address in it;
/// - any of these with `:PORT` (IPv6 in brackets): only on that port.
///
/// Names are not resolved: `localhost` does not match `127.0.0.1`.
pub fn no_proxy_matches(no_proxy: &str, host: &Host, port: u16) -> bool {
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(entry, host, port))
}

fn entry_matches(entry: &str, host: &Host, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    // CIDR blocks first (they hold no port).
    if entry.contains('/') {
        return match (entry.parse::<ipnet::IpNet>(), host) {
            (Ok(net), Host::Ip(ip)) => net.contains(ip),
            _ => false,
        };
    }
    // A bare IPv6 address (colons, no brackets) has no port.
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return *host == Host::Ip(ip);
    }
    let (pattern, wanted_port) = split_entry_port(entry);
    if wanted_port.is_some_and(|wanted| wanted != port) {
        return false;
    }
    let pattern = pattern
        .strip_prefix('[')
        .and_then(|p| p.strip_suffix(']'))
        .unwrap_or(pattern);
    if let Ok(ip) = pattern.parse::<IpAddr>() {
        return *host == Host::Ip(ip);
    }
    let Host::Name(name) = host else {
        return false;
    };
    let pattern = pattern.trim_start_matches("*.").trim_start_matches('.');
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    if pattern.is_empty() {
        return false;
    }
    *name == pattern
        || name
            .strip_suffix(pattern.as_str())
            .is_some_and(|before| before.ends_with('.'))
}

/// `name:443` or `[::1]:443` → (pattern, port); anything else has no port.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some((pattern, port)) = entry.rsplit_once(':')
        && (pattern.ends_with(']') || !pattern.contains(':'))
        && let Ok(port) = port.parse::<u16>()
    {
        return (pattern, Some(port));
    }
    (entry, None)
}

/// The proxy to use for `server`: `configured` (`uplink.proxy`; empty means
/// none) or else the environment as read by `env`.
pub fn choose_proxy(
    server: &ServerUrl,
    configured: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ProxyUrl>, TransportError> {
    if let Some(configured) = configured {
        if configured.trim().is_empty() {
            return Ok(None);
        }
        return ProxyUrl::parse(configured, "uplink.proxy").map(Some);
    }
    let first = |names: &[&'static str]| {
        names.iter().find_map(|&name| {
            env(name)
                .filter(|value| !value.trim().is_empty())
                .map(|value| (name, value))
        })
    };
    let names: &[&'static str] = if server.tls {
        &["HTTPS_PROXY", "https_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy"]
    };
    let Some((origin, value)) = first(names) else {
        return Ok(None);
    };
    if let Some((_, no_proxy)) = first(&["NO_PROXY", "no_proxy"])
        && no_proxy_matches(&no_proxy, &server.host, server.port)
    {
        return Ok(None);
    }
    ProxyUrl::parse(&value, origin).map(Some)
}

// ---------------------------------------------------------------------------
// TLS

fn tls_config(
    ca_file: Option<&std::path::Path>,
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!("system CA certificates: {error}");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!("system CA certificates: {added} added, {ignored} unusable");
    if let Some(path) = ca_file {
        let bad = |reason: String| TransportError::CaFile {
            path: path.to_owned(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| bad(format!("not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(bad(
                "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| bad(format!("a certificate in it is not usable: {e}")))?;
        }
    }
    if roots.is_empty() {
        tracing::warn!(
            "no CA certificates: the system has none and uplink.ca-file is not set; HTTPS servers will not be trusted"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TransportError::TlsSetup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn tls_error(server: &str, error: io::Error) -> TransportError {
    use rustls::{CertificateError, Error as E};
    let Some(rustls_error) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return TransportError::Tls {
            server: server.to_owned(),
            reason: error.to_string(),
            hint: "; is the server's port an HTTPS one?",
        };
    };
    let reason = rustls_error.to_string();
    let tls = |hint| TransportError::Tls {
        server: server.to_owned(),
        reason: reason.clone(),
        hint,
    };
    match rustls_error {
        E::InvalidCertificate(
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnhandledCriticalExtension
            | CertificateError::InvalidPurpose,
        ) => TransportError::UntrustedCertificate {
            server: server.to_owned(),
            reason,
        },
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => tls(
            "; the certificate is for another name: use the server's name as written in its certificate",
        ),
        E::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => tls("; check this host's clock, and that the server's certificate is current"),
        E::PeerIncompatible(_) | E::AlertReceived(rustls::AlertDescription::ProtocolVersion) => {
            tls("; the server must offer TLS 1.2 or 1.3")
        }
        _ => tls(""),
    }
}

// ---------------------------------------------------------------------------
// The transport

/// Reaches the server: cheap to clone, shareable between tasks.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    server: ServerUrl,
    /// `HOST:PORT` of the server, for messages.
    server_name: String,
    proxy: Option<ProxyUrl>,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    options: TransportOptions,
    user_agent: HeaderValue,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("server", &self.inner.server.to_string())
            .field("proxy", &self.inner.proxy)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport to `server` (the base URL given at activation:
    /// `http://HOST[:PORT][/prefix]` or `https://…`), with the proxy from
    /// `options` or else this process's environment.
    pub fn new(server: &str, options: TransportOptions) -> Result<Transport, TransportError> {
        Transport::with_env(server, options, &|name| std::env::var(name).ok())
    }

    /// As [`Transport::new`], reading the proxy variables through `env`.
    pub fn with_env(
        server: &str,
        options: TransportOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Transport, TransportError> {
        let server = ServerUrl::parse(server)?;
        let proxy = choose_proxy(&server, options.proxy.as_deref(), env)?;
        // The CA file is checked even for an http:// server: a bad file
        // is a configuration error to report now, not at the next redirect.
        let config = tls_config(options.ca_file.as_deref())?;
        let tls = if server.tls {
            let name = match &server.host {
                Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
                Host::Name(name) => {
                    ServerName::try_from(name.clone()).map_err(|e| TransportError::ServerUrl {
                        url: server.to_string(),
                        reason: format!("the host is not a valid TLS server name: {e}"),
                    })?
                }
            };
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        let user_agent =
            HeaderValue::from_static(concat!("printwatch-agent/", env!("CARGO_PKG_VERSION")));
        Ok(Transport {
            inner: Arc::new(Inner {
                server_name: server.authority(),
                server,
                proxy,
                tls,
                options,
                user_agent,
            }),
        })
    }

    /// The server's base URL.
    pub fn server(&self) -> &ServerUrl {
        &self.inner.server
    }

    /// The proxy in use, if any (its `Display` leaves credentials out).
    pub fn proxy(&self) -> Option<&ProxyUrl> {
        self.inner.proxy.as_ref()
    }

    /// POSTs `body` to the server's prefix + `path` (like
    /// `/agent/v1/submit`) and answers the status and body; a body of more
    /// than `max_body` bytes is an error. Bounded by `request_timeout`.
    pub async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        max_body: usize,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        if !path.starts_with('/') || !valid_path(path) {
            return Err(TransportError::BadPath(path.to_owned()));
        }
        let inner = &self.inner;
        let after = inner.options.request_timeout;
        match tokio::time::timeout(after, self.exchange(path, content_type, body, max_body)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout {
                phase: Phase::Request,
                target: format!("server {}", inner.server_name),
                after,
            }),
        }
    }

    async fn exchange(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        max_body: usize,
    ) -> Result<(u16, Vec<u8>), TransportError> {
        let stream = self.open().await?;
        self.http(stream, path, content_type, body, max_body).await
    }

    /// A connection to the server: TCP, through the proxy's tunnel if
    /// any, in TLS for `https://`.
    async fn open(&self) -> Result<crate::websocket::ChannelIo, TransportError> {
        let inner = &self.inner;
        let tcp = match &inner.proxy {
            None => {
                connect(
                    &inner.server.host,
                    inner.server.port,
                    "server",
                    inner.options.connect_timeout,
                )
                .await?
            }
            Some(proxy) => {
                let tcp = connect(
                    &proxy.host,
                    proxy.port,
                    "proxy",
                    inner.options.connect_timeout,
                )
                .await?;
                bounded(
                    inner.options.connect_timeout,
                    Phase::ProxyConnect,
                    &format!("proxy {proxy}"),
                    tunnel(tcp, proxy, &inner.server.authority()),
                )
                .await?
            }
        };
        match &inner.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let target = format!("server {}", inner.server_name);
                let tls = bounded(
                    inner.options.connect_timeout,
                    Phase::TlsHandshake,
                    &target,
                    async {
                        connector
                            .connect(name.clone(), tcp)
                            .await
                            .map_err(|e| tls_error(&inner.server_name, e))
                    },
                )
                .await?;
                Ok(Box::new(tls))
            }
        }
    }

    /// A WebSocket to the server's prefix + `path`: an HTTP/1.1 Upgrade on
    /// a connection opened as for [`Transport::post`] (same proxy, TLS and
    /// CA), bounded by `request_timeout` until the server switched
    /// protocols. An answer other than 101 is
    /// [`crate::websocket::WsError::Refused`].
    pub async fn websocket(
        &self,
        path: &str,
    ) -> Result<crate::websocket::ChannelIo, crate::websocket::WsError> {
        use crate::websocket::WsError;
        if !path.starts_with('/') || !valid_path(path) {
            return Err(WsError::Failed(
                TransportError::BadPath(path.to_owned()).to_string(),
            ));
        }
        let inner = &self.inner;
        let after = inner.options.request_timeout;
        let opened = async {
            let stream = self
                .open()
                .await
                .map_err(|e| WsError::Failed(e.to_string()))?;
            let uri = format!("{}{path}", inner.server.prefix);
            crate::websocket::upgrade(
                stream,
                &uri,
                &inner.server.host_header(),
                &inner.user_agent,
                &inner.server_name,
            )
            .await
        };
        match tokio::time::timeout(after, opened).await {
            Ok(result) => result,
            Err(_) => Err(WsError::Failed(
                TransportError::Timeout {
                    phase: Phase::Request,
                    target: format!("server {}", inner.server_name),
                    after,
                }
                .to_string(),
            )),
        }
    }

    /// One HTTP/1.1 request on an open stream; the answer bounded.
    async fn http<S>(
        &self,
        stream: S,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
        max_body: usize,
    ) -> Result<(u16, Vec<u8>), TransportError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let inner = &self.inner;
        let server = inner.server_name.as_str();
        let http_error = |source| TransportError::Http {
            server: server.to_owned(),
            source,
        };
        let uri = format!("{}{path}", inner.server.prefix);
        let content_type = HeaderValue::from_str(content_type)
            .map_err(|_| TransportError::BadPath(format!("content type {content_type:?}")))?;
        let host = HeaderValue::from_str(&inner.server.host_header())
            .map_err(|_| TransportError::BadPath(format!("host {}", inner.server.host_header())))?;
        let request = hyper::Request::post(uri.as_str())
            .header(HOST, host)
            .header(CONTENT_TYPE, content_type)
            .header(CONTENT_LENGTH, body.len())
            .header(USER_AGENT, inner.user_agent.clone())
            .header(CONNECTION, "close")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| TransportError::BadPath(path.to_owned()))?;
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_ANSWER_HEAD)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        let exchange = async {
            let answer = sender.send_request(request).await.map_err(http_error)?;
            let status = answer.status().as_u16();
            let too_large = || TransportError::TooLarge {
                server: server.to_owned(),
                limit: max_body,
            };
            let announced = answer
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if announced.is_some_and(|n| n > max_body as u64) {
                return Err(too_large());
            }
            let mut body = answer.into_body();
            let mut out = Vec::with_capacity(announced.map_or(0, |n| n as usize));
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(http_error)?;
                if let Ok(data) = frame.into_data() {
                    if out.len() + data.len() > max_body {
                        return Err(too_large());
                    }
                    out.extend_from_slice(&data);
                }
            }
            Ok((status, out))
        };
        // Drive the connection and the exchange together: no task to leak.
        let mut connection = std::pin::pin!(connection);
        let mut exchange = std::pin::pin!(exchange);
        tokio::select! {
            biased;
            result = &mut exchange => result,
            // The connection ended first (closed, or failed): the exchange
            // then completes or fails with hyper's reason.
            _ = &mut connection => exchange.await,
        }
    }
}

/// The daemon's view of the connection (its errors as text, already saying
/// what to do).
impl crate::daemon::Link for Transport {
    fn post<'a>(
        &'a self,
        path: &'a str,
        content_type: &'a str,
        body: Vec<u8>,
        max_body: usize,
    ) -> futures::future::BoxFuture<'a, Result<(u16, Vec<u8>), String>> {
        Box::pin(async move {
            Transport::post(self, path, content_type, body, max_body)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn websocket<'a>(
        &'a self,
        path: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<crate::websocket::ChannelIo, crate::websocket::WsError>,
    > {
        Box::pin(async move { Transport::websocket(self, path).await })
    }
}

/// `future`, or a timeout error after `after`.
async fn bounded<T>(
    after: Duration,
    phase: Phase,
    target: &str,
    future: impl std::future::Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(after, future)
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::Timeout {
                phase,
                target: target.to_owned(),
                after,
            })
        })
}

/// A TCP connection to `host:port`, each resolved address in turn, each
/// attempt bounded by `after`.
async fn connect(
    host: &Host,
    port: u16,
    what: &str,
    after: Duration,
) -> Result<TcpStream, TransportError> {
    let target = format!("{what} {host}:{port}");
    let addresses: Vec<SocketAddr> = match host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
        Host::Name(name) => {
            bounded(after, Phase::Connect, &target, async {
                tokio::net::lookup_host((name.as_str(), port))
                    .await
                    .map(Iterator::collect)
                    .map_err(|source| TransportError::Dns {
                        host: name.clone(),
                        source,
                    })
            })
            .await?
        }
    };
    let mut last = None;
    for address in addresses {
        match tokio::time::timeout(after, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(source)) => {
                last = Some(TransportError::Connect {
                    target: target.clone(),
                    source,
                });
            }
            Err(_) => {
                last = Some(TransportError::Timeout {
                    phase: Phase::Connect,
                    target: target.clone(),
                    after,
                });
            }
        }
    }
    Err(last.unwrap_or_else(|| TransportError::Dns {
        host: host.to_string(),
        source: io::Error::new(io::ErrorKind::NotFound, "the name has no address"),
    }))
}

/// Asks the proxy for a tunnel to `authority` (`HOST:PORT`) and reads its
/// answer head byte by byte (so nothing of the tunnel is read with it).
async fn tunnel(
    mut tcp: TcpStream,
    proxy: &ProxyUrl,
    authority: &str,
) -> Result<TcpStream, TransportError> {
    let io_error = |source| TransportError::Io {
        target: format!("proxy {proxy}"),
        source,
    };
    let protocol = |reason: String| TransportError::ProxyProtocol {
        proxy: proxy.to_string(),
        reason,
    };
    let mut request = Zeroizing::new(format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: printwatch-agent/{}\r\n",
        env!("CARGO_PKG_VERSION")
    ));
    if let Some(authorization) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(authorization);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.map_err(io_error)?;

    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(protocol(format!(
                "its answer head is longer than {MAX_PROXY_HEAD} bytes"
            )));
        }
        let mut byte = [0u8; 1];
        match tcp.read(&mut byte).await.map_err(io_error)? {
            0 => {
                return Err(protocol(if head.is_empty() {
                    "it closed the connection without answering".to_owned()
                } else {
                    "it closed the connection in the middle of its answer".to_owned()
                }));
            }
            _ => head.push(byte[0]),
        }
    }
    let status_line = head
        .split(|&b| b == b'\n')
        .next()
        .map(|line| String::from_utf8_lossy(line).trim_end().to_owned())
        .unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    let reason: String = parts
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        let shown: String = status_line
            .chars()
            .filter(|c| !c.is_control())
            .take(100)
            .collect();
        return Err(protocol(format!("{shown:?} is not an HTTP status line")));
    };
    match status {
        200..=299 => Ok(tcp),
        401 | 407 => Err(TransportError::ProxyAuth {
            proxy: proxy.to_string(),
            status,
        }),
        _ => Err(TransportError::ProxyRefused {
            proxy: proxy.to_string(),
            target: authority.to_owned(),
            status,
            reason,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn name(n: &str) -> Host {
        Host::Name(n.to_owned())
    }
    fn ip(a: &str) -> Host {
        Host::Ip(a.parse().unwrap())
    }

    #[test]
    fn server_urls() {
        let url = ServerUrl::parse("https://pw.example.com").unwrap();
        assert_eq!((url.tls, url.port, url.prefix.as_str()), (true, 443, ""));
        assert_eq!(url.host, name("pw.example.com"));
        assert_eq!(url.to_string(), "https://pw.example.com");

        let url = ServerUrl::parse("HTTP://PW.Example.com:8080/printwatch/").unwrap();
        assert_eq!(
            (url.tls, url.port, url.prefix.as_str()),
            (false, 8080, "/printwatch")
        );
        assert_eq!(url.host, name("pw.example.com"));
        assert_eq!(url.authority(), "pw.example.com:8080");
        assert_eq!(url.host_header(), "pw.example.com:8080");
        assert_eq!(url.to_string(), "http://pw.example.com:8080/printwatch");

        let url = ServerUrl::parse("https://[::1]:8443/a/b").unwrap();
        assert_eq!(url.host, ip("::1"));
        assert_eq!((url.port, url.prefix.as_str()), (8443, "/a/b"));
        assert_eq!(url.authority(), "[::1]:8443");
        let url = ServerUrl::parse("https://[fe80::1]").unwrap();
        assert_eq!((url.port, url.host_header()), (443, "[fe80::1]".to_owned()));

        let url = ServerUrl::parse("http://10.1.2.3/").unwrap();
        assert_eq!(
            (url.host, url.port, url.prefix),
            (ip("10.1.2.3"), 80, String::new())
        );

        for bad in [
            "pw.example.com",
            "ftp://pw.example.com",
            "https://",
            "https://:443",
            "https://pw.example.com:0",
            "https://pw.example.com:70000",
            "https://pw.example.com:x",
            "https://::1/",
            "https://[::1",
            "https://[::1]x",
            "https://[nonsense]/",
            "https://pw.example.com/?q=1",
            "https://pw.example.com/#f",
            "https://pw exa.com/",
            "https://pw.example.com/a b",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
        let error = ServerUrl::parse("https://u:hunter2@pw.example.com").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("credentials"), "{error}");
    }

    #[test]
    fn proxy_urls_hide_their_credentials() {
        let proxy =
            ProxyUrl::parse("http://alice:s3cr%40t@proxy.example:3128/", "uplink.proxy").unwrap();
        assert_eq!(
            (proxy.host.clone(), proxy.port),
            (name("proxy.example"), 3128)
        );
        assert!(proxy.has_credentials());
        assert_eq!(proxy.to_string(), "http://proxy.example:3128");
        let debug = format!("{proxy:?}");
        assert!(
            !debug.contains("s3cr") && !debug.contains("alice"),
            "{debug}"
        );
        let expected = base64::engine::general_purpose::STANDARD.encode("alice:s3cr@t");
        assert_eq!(
            proxy.authorization.as_deref().map(String::as_str),
            Some(format!("Basic {expected}").as_str())
        );

        // No scheme (common in HTTPS_PROXY), default port, IPv6.
        let proxy = ProxyUrl::parse("proxy.example", "HTTPS_PROXY").unwrap();
        assert_eq!((proxy.port, proxy.has_credentials()), (80, false));
        let proxy = ProxyUrl::parse("http://[::1]:3128", "uplink.proxy").unwrap();
        assert_eq!(proxy.to_string(), "http://[::1]:3128");

        for bad in [
            "https://proxy.example:3128",
            "socks5://proxy.example:1080",
            "http://proxy.example:3128/path",
            "http://proxy.example:port",
            "http://",
            "http://user:pa%zzss@proxy.example:3128",
        ] {
            let error = ProxyUrl::parse(bad, "uplink.proxy").unwrap_err();
            assert!(error.to_string().contains("uplink.proxy"), "{error}");
            assert!(!error.to_string().contains("pa%zz"), "{error}");
        }
    }

    #[test]
    fn no_proxy_entries() {
        let host = name("pw.example.com");
        for (list, expected) in [
            ("", false),
            ("*", true),
            ("example.com", true),
            (".example.com", true),
            ("*.example.com", true),
            ("EXAMPLE.COM.", true),
            ("pw.example.com", true),
            ("ample.com", false),
            ("other.example.com", false),
            ("www.pw.example.com", false),
            ("internal, example.com", true),
            (" foo , bar ", false),
            ("example.com:443", true),
            ("example.com:8443", false),
            ("10.0.0.0/8", false),
        ] {
            assert_eq!(no_proxy_matches(list, &host, 443), expected, "{list:?}");
        }
        let v4 = ip("10.1.2.3");
        for (list, expected) in [
            ("10.1.2.3", true),
            ("10.1.2.4", false),
            ("10.0.0.0/8", true),
            ("192.168.0.0/16", false),
            ("10.1.2.3:443", true),
            ("10.1.2.3:80", false),
            ("1.2.3", false),
            ("*", true),
        ] {
            assert_eq!(no_proxy_matches(list, &v4, 443), expected, "{list:?}");
        }
        let v6 = ip("fd00::5");
        for (list, expected) in [
            ("fd00::5", true),
            ("[fd00::5]", true),
            ("[fd00::5]:443", true),
            ("[fd00::5]:80", false),
            ("fd00::/8", true),
            ("fe80::/10", false),
            ("::1", false),
        ] {
            assert_eq!(no_proxy_matches(list, &v6, 443), expected, "{list:?}");
        }
        // Names are not resolved.
        assert!(!no_proxy_matches("localhost", &ip("127.0.0.1"), 443));
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn proxy_from_configuration_or_environment() {
        let https = ServerUrl::parse("https://pw.example.com").unwrap();
        let http = ServerUrl::parse("http://pw.example.com").unwrap();
        let env = env_of(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "plain:8080"),
            ("NO_PROXY", "other.example"),
        ]);
        let chosen = |server, configured| {
            choose_proxy(server, configured, &env)
                .unwrap()
                .map(|p| p.to_string())
        };
        assert_eq!(chosen(&https, None).as_deref(), Some("http://secure:3128"));
        assert_eq!(chosen(&http, None).as_deref(), Some("http://plain:8080"));
        assert_eq!(
            chosen(&https, Some("http://conf:1")).as_deref(),
            Some("http://conf:1")
        );
        assert_eq!(chosen(&https, Some("")), None, "empty uplink.proxy: none");

        let bypass = env_of(&[
            ("https_proxy", "http://secure:3128"),
            ("no_proxy", ".example.com"),
        ]);
        assert!(choose_proxy(&https, None, &bypass).unwrap().is_none());
        // uplink.proxy is not subject to NO_PROXY.
        assert!(
            choose_proxy(&https, Some("http://conf:1"), &bypass)
                .unwrap()
                .is_some()
        );
        // Empty variables count as unset.
        let empty = env_of(&[("HTTPS_PROXY", " "), ("https_proxy", "http://lower:1")]);
        assert_eq!(
            choose_proxy(&https, None, &empty)
                .unwrap()
                .map(|p| p.to_string())
                .as_deref(),
            Some("http://lower:1")
        );
        assert!(choose_proxy(&https, None, &env_of(&[])).unwrap().is_none());
        let error =
            choose_proxy(&https, None, &env_of(&[("HTTPS_PROXY", "socks5://x:1")])).unwrap_err();
        assert!(error.to_string().contains("HTTPS_PROXY"), "{error}");
    }

    #[test]
    fn ca_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let options = |ca: &std::path::Path| TransportOptions {
            ca_file: Some(ca.to_owned()),
            proxy: Some(String::new()),
            ..TransportOptions::default()
        };
        let error = Transport::new("https://pw.example.com", options(&missing)).unwrap_err();
        assert!(matches!(error, TransportError::CaFile { .. }), "{error}");
        assert!(error.to_string().contains("cannot read"), "{error}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = Transport::new("https://pw.example.com", options(&empty)).unwrap_err();
        assert!(error.to_string().contains("no PEM certificate"), "{error}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = Transport::new("https://pw.example.com", options(&garbage)).unwrap_err();
        assert!(matches!(error, TransportError::CaFile { .. }), "{error}");
    }

    #[test]
    fn transport_is_shareable() {
        fn shareable<T: Clone + Send + Sync + 'static>() {}
        shareable::<Transport>();
        fn send<T: Send>(_: &T) {}
        let transport =
            Transport::with_env("http://127.0.0.1:9", TransportOptions::default(), &|_| None)
                .unwrap();
        send(&transport.post("/", "text/plain", Vec::new(), 1));
    }

    #[test]
    fn bad_paths_are_refused() {
        let transport =
            Transport::with_env("http://127.0.0.1:9", TransportOptions::default(), &|_| None)
                .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for path in ["agent/v1/submit", "/a b", "/a\r\nX: y"] {
            let error = runtime
                .block_on(transport.post(path, "application/octet-stream", Vec::new(), 10))
                .unwrap_err();
            assert!(matches!(error, TransportError::BadPath(_)), "{error}");
        }
    }
}
