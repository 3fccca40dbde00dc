//! The agent's transport against real servers and a real CONNECT proxy, on
//! loopback only.
//!
//! - TLS: a hyper server over tokio-rustls whose certificate (from rcgen) is
//!   signed by a test CA written to a temporary PEM file.
//! - The proxy is Debian's `tinyproxy`, started by the test with its own
//!   configuration on a free port of 127.0.0.1. Without it a test records a
//!   skip (`printwatch_testkit::skip`), a failure under
//!   `PRINTWATCH_REQUIRE_ALL=1` (`.ci/run` installs it). `PRINTWATCH_TINYPROXY` names another binary.
//! - Address plan: the servers listen on `127.88.<test>.<n>`, never on
//!   127.0.0.1 where the proxy listens; ports are free ones found at run time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use printwatch_agent::transport::{Phase, Transport, TransportError, TransportOptions};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------
// Skips

/// A real component is missing: a recorded skip (the caller then returns),
/// or a failure under `PRINTWATCH_REQUIRE_ALL=1`.
fn missing(why: &str) {
    printwatch_testkit::skip(why, "");
}

macro_rules! need {
    ($found:expr) => {
        match $found {
            Ok(value) => value,
            Err(why) => {
                missing(&why);
                return;
            }
        }
    };
}

// ---------------------------------------------------------------------------
// tinyproxy

fn tinyproxy_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PRINTWATCH_TINYPROXY") {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!(
                "tinyproxy not installed: PRINTWATCH_TINYPROXY={} is not a file",
                path.display()
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("tinyproxy"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            "tinyproxy not installed (apt-get install tinyproxy; .ci/run installs it)".to_owned()
        })
}

/// A tinyproxy process of the test's own, killed on drop.
struct Tinyproxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// Starts tinyproxy on a free port of 127.0.0.1 with `extra` lines of
    /// configuration; `Err` when the binary is missing.
    fn start(extra: &str) -> Result<Tinyproxy, String> {
        let binary = tinyproxy_binary()?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let port = free_port(Ipv4Addr::LOCALHOST);
        let log = dir.path().join("tinyproxy.log");
        let config = dir.path().join("tinyproxy.conf");
        // No ConnectPort line: CONNECT to every port is allowed.
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 30\nMaxClients 20\n\
                 LogFile \"{}\"\nLogLevel Info\n{extra}\n",
                log.display()
            ),
        )
        .expect("write tinyproxy.conf");
        let mut child = Command::new(&binary)
            .arg("-d")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "tinyproxy exited ({status}) before listening; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tinyproxy did not listen on 127.0.0.1:{port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Tinyproxy {
            child,
            port,
            log,
            _dir: dir,
        })
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many `CONNECT target` requests the proxy logged.
    fn connects_to(&self, target: SocketAddr) -> usize {
        let wanted = format!("): CONNECT {target} HTTP/1.1");
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("Request (file descriptor") && line.ends_with(&wanted))
            .count()
    }

    /// Waits (a little) until the log shows `count` CONNECTs to `target`.
    async fn expect_connects(&self, target: SocketAddr, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.connects_to(target) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            self.connects_to(target),
            count,
            "CONNECTs to {target} in tinyproxy's log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

// ---------------------------------------------------------------------------
// Certificates

struct Pki {
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

/// A test CA (in `ca_file`) and a server certificate it signed for
/// `localhost` and `ip`.
fn pki(ip: Ipv4Addr) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "printwatch test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["localhost".to_owned(), ip.to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    Pki {
        _dir: dir,
        ca_file,
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
    }
}

fn server_tls(
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(pki.key.clone_key()))
        .unwrap();
    Arc::new(config)
}

// ---------------------------------------------------------------------------
// The test server

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    host: String,
    content_type: String,
    user_agent: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Record {
    connections: AtomicUsize,
    requests: Mutex<Vec<Seen>>,
    tls_versions: Mutex<Vec<rustls::ProtocolVersion>>,
}

struct TestServer {
    addr: SocketAddr,
    record: Arc<Record>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    async fn start(ip: Ipv4Addr, tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let record = Arc::new(Record::default());
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let task = tokio::spawn({
            let record = record.clone();
            async move {
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        return;
                    };
                    record.connections.fetch_add(1, Ordering::SeqCst);
                    let record = record.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            None => serve_one(TokioIo::new(tcp), record).await,
                            Some(acceptor) => {
                                let Ok(tls) = acceptor.accept(tcp).await else {
                                    return;
                                };
                                if let Some(version) = tls.get_ref().1.protocol_version() {
                                    record.tls_versions.lock().unwrap().push(version);
                                }
                                serve_one(TokioIo::new(tls), record).await;
                            }
                        }
                    });
                }
            }
        });
        TestServer { addr, record, task }
    }

    fn requests(&self) -> Vec<Seen> {
        self.record.requests.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.record.connections.load(Ordering::SeqCst)
    }
}

async fn serve_one<I>(io: I, record: Arc<Record>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| answer(request, record.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

/// 202 and `got N bytes`; `…/big` answers 2 MiB.
async fn answer(
    request: hyper::Request<Incoming>,
    record: Arc<Record>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let header = |name: hyper::header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        host: header(hyper::header::HOST),
        content_type: header(hyper::header::CONTENT_TYPE),
        user_agent: header(hyper::header::USER_AGENT),
        body,
    };
    let reply = if seen.path.ends_with("/big") {
        vec![b'x'; 2 << 20]
    } else {
        format!("got {} bytes", seen.body.len()).into_bytes()
    };
    record.requests.lock().unwrap().push(seen);
    Ok(hyper::Response::builder()
        .status(202)
        .body(Full::new(Bytes::from(reply)))
        .unwrap())
}

fn options(proxy: Option<&str>, ca_file: Option<&Path>) -> TransportOptions {
    TransportOptions {
        // Some(""): no proxy, whatever this process's environment says.
        proxy: Some(proxy.unwrap_or_default().to_owned()),
        ca_file: ca_file.map(Path::to_owned),
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(20),
    }
}

/// A body that is not all one byte, so that reordering would show.
fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

// ---------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn https_with_the_test_ca_and_without_it() {
    let ip = Ipv4Addr::new(127, 88, 1, 1);
    let pki = pki(ip);
    let server = TestServer::start(ip, Some(server_tls(&pki, rustls::DEFAULT_VERSIONS))).await;
    let url = format!("https://{}/pw/", server.addr);

    let transport = Transport::new(&url, options(None, Some(&pki.ca_file))).unwrap();
    let body = payload(300_000);
    let (status, answer) = transport
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            body.clone(),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(answer, b"got 300000 bytes");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let seen = &seen[0];
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/pw/agent/v1/submit", "the prefix and the path");
    assert_eq!(seen.host, server.addr.to_string());
    assert_eq!(seen.content_type, "application/octet-stream");
    assert!(
        seen.user_agent.starts_with("printwatch-agent/"),
        "{}",
        seen.user_agent
    );
    assert!(seen.body == body, "the body arrives intact");
    assert_eq!(
        *server.record.tls_versions.lock().unwrap(),
        [rustls::ProtocolVersion::TLSv1_3]
    );

    // Clones share the configuration and work from other tasks.
    let clone = transport.clone();
    let (status, _) =
        tokio::spawn(async move { clone.post("/x", "text/plain", b"hi".to_vec(), 64).await })
            .await
            .unwrap()
            .unwrap();
    assert_eq!(status, 202);

    // Without the CA file the certificate is not trusted, and the message
    // says what to set.
    let untrusting = Transport::new(&url, options(None, None)).unwrap();
    let error = untrusting
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            b"x".to_vec(),
            1024,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::UntrustedCertificate { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("not trusted"), "{message}");
    assert!(
        message.contains("uplink.ca-file") && message.contains("--ca-file"),
        "{message}"
    );
    assert!(
        !error.is_unreachable(),
        "a configuration problem, not an outage"
    );
    assert_eq!(
        server.requests().len(),
        2,
        "nothing reached the server without trust"
    );

    // The answer is bounded.
    let error = transport
        .post("/big", "text/plain", Vec::new(), 1 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::TooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn tls_1_2_servers_work() {
    let ip = Ipv4Addr::new(127, 88, 2, 1);
    let pki = pki(ip);
    let server = TestServer::start(ip, Some(server_tls(&pki, &[&rustls::version::TLS12]))).await;
    let transport = Transport::new(
        &format!("https://{}", server.addr),
        options(None, Some(&pki.ca_file)),
    )
    .unwrap();
    let (status, answer) = transport
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            payload(5000),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, answer.as_slice()),
        (202, b"got 5000 bytes".as_slice())
    );
    assert_eq!(
        *server.record.tls_versions.lock().unwrap(),
        [rustls::ProtocolVersion::TLSv1_2]
    );
}

/// The client's hello offers TLS 1.3 and 1.2 and nothing older: read it
/// raw and walk to its `supported_versions` extension (RFC 8446 §4.1.2,
/// §4.2.1).
#[tokio::test]
async fn offers_only_tls_1_2_and_1_3() {
    let ip = Ipv4Addr::new(127, 88, 3, 1);
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hello = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        // Record header: type 22 (handshake), legacy version, length.
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await.unwrap();
        assert_eq!(header[0], 22, "a handshake record");
        let mut record = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
        tcp.read_exact(&mut record).await.unwrap();
        record
    });
    let transport = Transport::new(&format!("https://{addr}"), options(None, None)).unwrap();
    let _ = transport.post("/", "text/plain", Vec::new(), 16).await;
    let record = hello.await.unwrap();

    // Handshake header: type 1 (ClientHello), 3-byte length.
    assert_eq!(record[0], 1, "a ClientHello");
    let mut at = 4;
    assert_eq!(record[at..at + 2], [3, 3], "legacy_version is TLS 1.2");
    at += 2 + 32; // legacy_version, random
    at += 1 + usize::from(record[at]); // legacy_session_id
    at += 2 + usize::from(u16::from_be_bytes([record[at], record[at + 1]])); // cipher_suites
    at += 1 + usize::from(record[at]); // legacy_compression_methods
    let end = at + 2 + usize::from(u16::from_be_bytes([record[at], record[at + 1]]));
    at += 2;
    let mut versions = None;
    while at < end {
        let kind = u16::from_be_bytes([record[at], record[at + 1]]);
        let len = usize::from(u16::from_be_bytes([record[at + 2], record[at + 3]]));
        let data = &record[at + 4..at + 4 + len];
        if kind == 43 {
            // supported_versions: a 1-byte length, then 2-byte versions.
            versions = Some(
                data[1..]
                    .chunks(2)
                    .map(|v| u16::from_be_bytes([v[0], v[1]]))
                    .collect::<Vec<_>>(),
            );
        }
        at += 4 + len;
    }
    let mut versions = versions.expect("a supported_versions extension");
    versions.sort_unstable();
    assert_eq!(versions, [0x0303, 0x0304], "TLS 1.2 and 1.3 only");
}

// ---------------------------------------------------------------------------
// Plain HTTP, bounds and failures

#[tokio::test]
async fn answers_and_waits_are_bounded() {
    let ip = Ipv4Addr::new(127, 88, 4, 1);
    let server = TestServer::start(ip, None).await;
    let transport =
        Transport::new(&format!("http://{}", server.addr), options(None, None)).unwrap();
    let (status, answer) = transport
        .post("/agent/v1/submit", "application/json", b"{}".to_vec(), 64)
        .await
        .unwrap();
    assert_eq!(
        (status, answer.as_slice()),
        (202, b"got 2 bytes".as_slice())
    );
    assert_eq!(server.requests()[0].host, server.addr.to_string());

    // Announced too large (Content-Length).
    let error = transport
        .post("/big", "text/plain", Vec::new(), 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::TooLarge { .. }),
        "{error:?}"
    );

    // Too large without announcing it: an endless chunked answer.
    let endless = TcpListener::bind((Ipv4Addr::new(127, 88, 4, 2), 0))
        .await
        .unwrap();
    let endless_addr = endless.local_addr().unwrap();
    let endless_task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = endless.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = tcp.read(&mut request).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await;
                let chunk = format!("1000\r\n{}\r\n", "y".repeat(0x1000));
                while tcp.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    let transport_endless =
        Transport::new(&format!("http://{endless_addr}"), options(None, None)).unwrap();
    let error = transport_endless
        .post("/", "text/plain", Vec::new(), 100_000)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::TooLarge { limit: 100_000, .. }),
        "{error:?}"
    );
    endless_task.abort();

    // A server that accepts and never answers: the request timeout.
    let silent = TcpListener::bind((Ipv4Addr::new(127, 88, 4, 3), 0))
        .await
        .unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let silent_task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    let mut quick = options(None, None);
    quick.request_timeout = Duration::from_millis(500);
    let transport_silent = Transport::new(&format!("http://{silent_addr}"), quick).unwrap();
    let started = Instant::now();
    let error = transport_silent
        .post("/", "text/plain", Vec::new(), 64)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Timeout {
                phase: Phase::Request,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(error.is_unreachable());
    silent_task.abort();

    // Nothing listens: connection refused, retryable.
    let closed = SocketAddr::from((
        Ipv4Addr::new(127, 88, 4, 4),
        free_port(Ipv4Addr::new(127, 88, 4, 4)),
    ));
    let transport_closed =
        Transport::new(&format!("https://{closed}"), options(None, None)).unwrap();
    let error = transport_closed
        .post("/", "text/plain", Vec::new(), 64)
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&format!("server {closed}")),
        "{error}"
    );
    assert!(error.is_unreachable());

    // A name that cannot resolve (.invalid is reserved: RFC 6761).
    let transport_dns = Transport::new("https://printwatch.invalid", options(None, None)).unwrap();
    let error = transport_dns
        .post("/", "text/plain", Vec::new(), 64)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::Dns { .. } | TransportError::Timeout { .. }
        ),
        "{error:?}"
    );
    assert!(error.is_unreachable());
}

// ---------------------------------------------------------------------------
// Through tinyproxy

#[tokio::test]
async fn through_tinyproxy_only() {
    let proxy = need!(Tinyproxy::start(""));
    let ip = Ipv4Addr::new(127, 88, 5, 1);
    let pki = pki(ip);
    let server = TestServer::start(ip, Some(server_tls(&pki, rustls::DEFAULT_VERSIONS))).await;
    let url = format!("https://{}/pw", server.addr);

    // uplink.proxy: two requests, two tunnels, two connections at the server.
    let transport = Transport::new(&url, options(Some(&proxy.url()), Some(&pki.ca_file))).unwrap();
    assert_eq!(
        transport.proxy().map(ToString::to_string),
        Some(proxy.url())
    );
    for n in 1..=2 {
        let body = payload(70_000 + n);
        let (status, answer) = transport
            .post(
                "/agent/v1/submit",
                "application/octet-stream",
                body.clone(),
                1024,
            )
            .await
            .unwrap();
        assert_eq!(status, 202);
        assert_eq!(answer, format!("got {} bytes", body.len()).into_bytes());
        assert!(server.requests().last().unwrap().body == body);
    }
    proxy.expect_connects(server.addr, 2).await;
    assert_eq!(server.connections(), 2);

    // The environment's HTTPS_PROXY, NO_PROXY naming another network.
    let env_proxy = proxy.url();
    let env = move |name: &str| match name {
        "HTTPS_PROXY" => Some(env_proxy.clone()),
        "NO_PROXY" => Some("localhost,10.0.0.0/8,.example.com".to_owned()),
        _ => None,
    };
    let mut from_env = options(None, Some(&pki.ca_file));
    from_env.proxy = None;
    let transport_env = Transport::with_env(&url, from_env.clone(), &env).unwrap();
    let (status, _) = transport_env
        .post(
            "/agent/v1/heartbeat",
            "application/octet-stream",
            b"hb".to_vec(),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(status, 202);
    proxy.expect_connects(server.addr, 3).await;
    assert_eq!(server.connections(), 3);

    // NO_PROXY naming the server's network: straight to the server.
    let env_proxy = proxy.url();
    let bypass = move |name: &str| match name {
        "https_proxy" => Some(env_proxy.clone()),
        "no_proxy" => Some("example.com, 127.88.0.0/16".to_owned()),
        _ => None,
    };
    let transport_direct = Transport::with_env(&url, from_env, &bypass).unwrap();
    assert!(transport_direct.proxy().is_none());
    transport_direct
        .post(
            "/agent/v1/heartbeat",
            "application/octet-stream",
            b"hb".to_vec(),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(server.connections(), 4);
    proxy.expect_connects(server.addr, 3).await;

    // A plain http:// server is reached through a CONNECT tunnel as well.
    let plain = TestServer::start(Ipv4Addr::new(127, 88, 5, 2), None).await;
    let transport_plain = Transport::new(
        &format!("http://{}", plain.addr),
        options(Some(&proxy.url()), None),
    )
    .unwrap();
    let (status, answer) = transport_plain
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            b"abc".to_vec(),
            64,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, answer.as_slice()),
        (202, b"got 3 bytes".as_slice())
    );
    proxy.expect_connects(plain.addr, 1).await;
    assert_eq!(plain.requests()[0].path, "/agent/v1/submit");

    // Without the proxy the configured transport fails: it never goes
    // around it.
    let port = proxy.port;
    proxy.stop();
    let error = transport
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            b"x".to_vec(),
            1024,
        )
        .await
        .unwrap_err();
    assert!(matches!(error, TransportError::Connect { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .contains(&format!("proxy 127.0.0.1:{port}")),
        "{error}"
    );
    assert!(error.is_unreachable());
    assert_eq!(server.connections(), 4, "no direct connection");
}

#[tokio::test]
async fn tinyproxy_credentials_and_refusals() {
    let proxy = need!(Tinyproxy::start("BasicAuth alice s3cret"));
    let ip = Ipv4Addr::new(127, 88, 6, 1);
    let pki = pki(ip);
    let server = TestServer::start(ip, Some(server_tls(&pki, rustls::DEFAULT_VERSIONS))).await;
    let url = format!("https://{}", server.addr);
    let with = |credentials: &str| {
        let proxy_url = format!("http://{credentials}127.0.0.1:{}", proxy.port);
        Transport::new(&url, options(Some(&proxy_url), Some(&pki.ca_file))).unwrap()
    };

    for credentials in ["", "alice:wrong-s3cret@"] {
        let error = with(credentials)
            .post(
                "/agent/v1/submit",
                "application/octet-stream",
                b"x".to_vec(),
                64,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(error, TransportError::ProxyAuth { .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.contains("USER:PASSWORD") && !message.contains("s3cret"),
            "{message}"
        );
        assert!(!format!("{error:?}").contains("s3cret"));
        assert!(!error.is_unreachable());
    }
    let transport = with("alice:s3cret@");
    assert!(!format!("{transport:?}").contains("s3cret"));
    assert_eq!(
        transport.proxy().map(ToString::to_string),
        Some(proxy.url())
    );
    let (status, answer) = transport
        .post(
            "/agent/v1/submit",
            "application/octet-stream",
            b"through".to_vec(),
            64,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, answer.as_slice()),
        (202, b"got 7 bytes".as_slice())
    );
    assert_eq!(server.connections(), 1);

    // The proxy cannot reach the server: its 5xx is an outage (retry).
    let dead = SocketAddr::from((
        Ipv4Addr::new(127, 88, 6, 2),
        free_port(Ipv4Addr::new(127, 88, 6, 2)),
    ));
    let to_dead = Transport::new(
        &format!("https://{dead}"),
        options(
            Some(&format!("http://alice:s3cret@127.0.0.1:{}", proxy.port)),
            Some(&pki.ca_file),
        ),
    )
    .unwrap();
    let error = to_dead
        .post("/", "text/plain", Vec::new(), 64)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::ProxyRefused {
                status: 500..=599,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_unreachable());
    assert!(!error.to_string().contains("s3cret"));

    // A proxy whose policy refuses the port: 403, not an outage.
    let strict = need!(Tinyproxy::start("ConnectPort 1"));
    let refused = Transport::new(&url, options(Some(&strict.url()), Some(&pki.ca_file))).unwrap();
    let error = refused
        .post("/", "text/plain", Vec::new(), 64)
        .await
        .unwrap_err();
    assert!(
        matches!(error, TransportError::ProxyRefused { status: 403, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains("403") && message.contains(&server.addr.to_string()),
        "{message}"
    );
    assert!(!error.is_unreachable());
    assert_eq!(server.connections(), 1);
}
