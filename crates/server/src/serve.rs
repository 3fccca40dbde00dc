//! Starting the server: open the store, first-start initialisation, listen.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_rustls::TlsAcceptor;

use crate::http::{AppState, TlsConnection, router};
use crate::secrets::{MasterKey, hash_password, random_secret};
use crate::store::{DynStore, SqlStore, redact_url};
use crate::{Result, ServerError};

/// Environment variable with the first administrator's password.
pub const ADMIN_PASSWORD_ENV: &str = "PRINTWATCH_ADMIN_PASSWORD";
/// Environment variable with the first administrator's e-mail.
pub const ADMIN_EMAIL_ENV: &str = "PRINTWATCH_ADMIN_EMAIL";
/// The first administrator's e-mail made by [`open`] and [`first_start`]
/// (tests, benches, the demo). `printwatch server` has no default: its
/// first start needs `--admin-email`, so that no installation has a
/// guessable administrator login an attacker can lock or guess at.
pub const ADMIN_EMAIL: &str = "admin@localhost";

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Holds the SQLite database (unless `database_url` is set) and
    /// `master.key` (unless `PRINTWATCH_MASTER_KEY` is set).
    pub data_dir: PathBuf,
    /// `postgres://…` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
}

/// What the first start created.
#[derive(Debug)]
pub struct FirstStart {
    pub admin_email: String,
    /// Set when the password was generated: print it once, never log it.
    pub generated_password: Option<String>,
}

/// Open the store and the master key; initialise on first start with
/// [`ADMIN_EMAIL`].
pub async fn open(
    config: &ServeConfig,
    admin_password: Option<String>,
) -> Result<(AppState, Option<FirstStart>)> {
    open_as(config, Some(ADMIN_EMAIL), admin_password).await
}

/// Open the store and the master key; initialise on first start, with
/// `admin_email` as the first administrator (needed then: an error
/// without it).
pub async fn open_as(
    config: &ServeConfig,
    admin_email: Option<&str>,
    admin_password: Option<String>,
) -> Result<(AppState, Option<FirstStart>)> {
    let io = |source| ServerError::Io {
        path: config.data_dir.display().to_string(),
        source,
    };
    if !config.data_dir.exists() {
        std::fs::create_dir_all(&config.data_dir).map_err(io)?;
        // The database holds password hashes and sealed keys: owner only.
        #[cfg(unix)]
        std::fs::set_permissions(
            &config.data_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .map_err(io)?;
    }
    let store = match &config.database_url {
        Some(url) => {
            tracing::info!(database = %redact_url(url), "opening PostgreSQL");
            SqlStore::connect(url).await?
        }
        None => SqlStore::open_data_dir(&config.data_dir).await?,
    };
    let master = MasterKey::load_or_create(&config.data_dir)?;
    let store: DynStore = Arc::new(store);
    check_master_key(&store, &master).await?;
    let first = first_start_as(&store, admin_email, admin_password).await?;
    let state = AppState::new(store, master);
    if let Some(url) = &config.database_url {
        // Commands issued through another server wake this one's holders.
        crate::command::spawn_pg_listener(url.clone(), state.hub.clone());
    }
    Ok((state, first))
}

/// The database remembers the first server's master key (as a check
/// value): a server with another key would seal agent keys that the others
/// cannot open, and could open none of theirs, so it must not start.
pub async fn check_master_key(store: &DynStore, master: &MasterKey) -> Result<()> {
    let mine = master.check_value();
    let stored = store.settle_setting(MASTER_KEY_CHECK, &mine).await?;
    if stored != mine {
        return Err(ServerError::MasterKey(format!(
            "this server's master key is not the one this database was first started with: \
             give every server the same key ({} or master.key in the data directory)",
            crate::secrets::MASTER_KEY_ENV
        )));
    }
    Ok(())
}

/// Setting name of the master key's check value.
const MASTER_KEY_CHECK: &str = "master_key_check";

/// Create the provider tenant and its administrator ([`ADMIN_EMAIL`]) if
/// there is none.
pub async fn first_start(
    store: &DynStore,
    admin_password: Option<String>,
) -> Result<Option<FirstStart>> {
    first_start_as(store, Some(ADMIN_EMAIL), admin_password).await
}

/// Create the provider tenant and its administrator `admin_email` if there
/// is none; without an e-mail then, an error that says how to give one.
pub async fn first_start_as(
    store: &DynStore,
    admin_email: Option<&str>,
    admin_password: Option<String>,
) -> Result<Option<FirstStart>> {
    // Fast path for every later start: no password hash to compute.
    if store.provider().await?.is_some() {
        return Ok(None);
    }
    let email = admin_email
        .map(|e| e.trim().to_lowercase())
        .unwrap_or_default();
    if email.is_empty() {
        return Err(ServerError::Invalid(format!(
            "first start: name the first administrator with --admin-email EMAIL (or {ADMIN_EMAIL_ENV})"
        )));
    }
    if !email.contains('@')
        || email.len() > crate::http::MAX_EMAIL
        || email.chars().any(char::is_whitespace)
    {
        return Err(ServerError::Invalid(format!(
            "the administrator's e-mail {email:?} is not an address"
        )));
    }
    let (password, generated) = match admin_password.filter(|p| !p.is_empty()) {
        Some(p) => (p, false),
        None => (random_secret(18), true),
    };
    // Several servers may get here at once: one transaction decides.
    if store
        .initialise(&email, &hash_password(&password)?, crate::now())
        .await?
        .is_none()
    {
        return Ok(None);
    }
    Ok(Some(FirstStart {
        admin_email: email,
        generated_password: generated.then_some(password),
    }))
}

/// How long a client may take to send a request's headers (and how long a
/// kept-alive connection may stay idle): slow clients ("slowloris") cannot
/// hold connections open for free.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TLS client may take for its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// What one client, and all of them, may hold of the listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to send a request's headers; also the idle time of a kept-alive
    /// connection.
    pub header_timeout: Duration,
    /// Time to send a whole request body, from the end of its headers (an
    /// 8 MiB envelope at 1 Mbit/s takes 67 s).
    pub body_timeout: Duration,
    /// Connections open at once; more are refused (503) until some close.
    pub max_connections: usize,
    /// Connections open at once from one TCP peer address (trusted reverse
    /// proxies excepted: they carry every client).
    pub max_per_address: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: HEADER_READ_TIMEOUT,
            body_timeout: Duration::from_secs(120),
            max_connections: 10_000,
            max_per_address: 64,
        }
    }
}

/// Raise this process's open-file limit to its hard limit: each connection
/// holds a descriptor, and the usual soft limit (1,024) is far below
/// [`Limits::max_connections`]. Returns the limit in force; warns when it
/// is still below the connection cap (plus room for the database and logs).
pub fn raise_open_file_limit(limits: &Limits) -> u64 {
    let wanted = (limits.max_connections as u64).saturating_add(1024);
    let now = match rlimit::increase_nofile_limit(wanted) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft)
        }
    };
    if now < wanted {
        tracing::warn!(
            limit = now,
            connections = limits.max_connections,
            "the open-file limit is below the connection cap: raise it (ulimit -n, LimitNOFILE=)"
        );
    }
    now
}

/// Connections the kernel queues before `accept` (Linux caps it at
/// `net.core.somaxconn`, 4,096 by default): under a flood of connection
/// attempts, a short queue drops a real client's SYN, which it sends
/// again only after a second.
pub const LISTEN_BACKLOG: u32 = 4096;

/// A listening socket on `addr` with [`LISTEN_BACKLOG`].
pub fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve HTTP until `shutdown` completes.
pub async fn run(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with(state, listener, None, Limits::default(), shutdown).await
}

/// Serve HTTP, or HTTPS with `tls`, until `shutdown` completes; then stop
/// accepting and let the requests in flight finish (within a bound).
///
/// Our own loop over hyper rather than `axum::serve`, which offers no
/// header-read timeout, no body deadline and no connection limits.
pub async fn run_with(
    state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let proxies = state.proxies.clone();
    serve_app(router(state), proxies, listener, tls, limits, shutdown).await
}

/// Plain HTTP that only sends browsers to the HTTPS listener on
/// `https_port` (308, the same host, path and query), with the same
/// limits as the server's own listener. For `--redirect-http`.
pub async fn run_redirect(
    listener: tokio::net::TcpListener,
    https_port: u16,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| async move {
        https_location(&request, https_port)
    });
    serve_app(
        app,
        Arc::new(crate::http::TrustedProxies::default()),
        listener,
        None,
        limits,
        shutdown,
    )
    .await
}

/// The redirect of one plain-HTTP request: the host as the client named
/// it (a name or an address, nothing else), the HTTPS port, the path.
fn https_location(request: &axum::extract::Request, https_port: u16) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| match h.rsplit_once(':') {
            // An IPv6 literal keeps its brackets; a port is dropped.
            Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => h,
        })
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
        });
    let Some(host) = host else {
        return (
            StatusCode::BAD_REQUEST,
            "this address serves HTTPS only: name the host (Host header) to be sent there",
        )
            .into_response();
    };
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, format!("https://{host}{port}{path}"))],
    )
        .into_response()
}

/// The accept loop shared by the server's listeners: `app` on every
/// connection, within `limits`.
async fn serve_app(
    app: axum::Router,
    proxies: Arc<crate::http::TrustedProxies>,
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let acceptor = tls.map(TlsAcceptor::from);
    let body_timeout = limits.body_timeout;
    let app = app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            next.run(request.map(|body| {
                axum::body::Body::new(DeadlineBody {
                    inner: body,
                    deadline: Box::pin(tokio::time::sleep(body_timeout)),
                })
            }))
        },
    ));
    let slots = Arc::new(ConnectionSlots::new(limits));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut shutdown => break,
        };
        let exempt = proxies.trusts(peer.ip());
        let Some(slot) = slots.take(peer.ip(), exempt) else {
            // Refused at once and cheaply: the descriptor is given back
            // within a second whatever the client does.
            if acceptor.is_none() {
                connections.spawn(refuse(tcp));
            }
            continue;
        };
        let app = app.clone();
        let stopping = stopping.clone();
        let header_timeout = limits.header_timeout;
        match acceptor.clone() {
            None => {
                connections.spawn(async move {
                    let activity = slot.activity.clone();
                    connection(tcp, app, header_timeout, stopping, activity, peer, false).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                connections.spawn(async move {
                    let tls =
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => return,
                        };
                    let activity = slot.activity.clone();
                    connection(tls, app, header_timeout, stopping, activity, peer, true).await;
                    drop(slot);
                });
            }
        }
    }
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("requests still in flight at shutdown were cut");
    }
    Ok(())
}

/// The answer to a connection over the limits (plain HTTP; over TLS the
/// connection is closed: a handshake would cost more than it tells).
async fn refuse(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BODY: &str = "{\"error\":\"too many connections: try again later\"}";
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 5\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    // Read what the client sent (a little, for a moment): closing with its
    // request unread would reset the connection, and the client would lose
    // the answer.
    let _ = tokio::time::timeout(Duration::from_millis(250), async {
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

/// Open connections, in all and per peer address.
///
/// At the global cap a new connection is not refused while an idle one is
/// open: an idle connection (no request in flight) is closed to make room,
/// the oldest of those that never sent a whole request first (what a flood
/// holds open), else the oldest kept-alive one between requests. HTTP lets a server close
/// an idle connection at any time (clients retry on a new one), and so a
/// flood of idle connections cannot keep a real client out: its new
/// connection evicts the oldest idle one, and once its request is in
/// flight it is not idle. Only when every connection is busy are new ones
/// refused (503). The per-address cap still refuses outright: one address
/// must not evict everyone else.
struct ConnectionSlots {
    limits: Limits,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    /// Connections told to close that have not closed yet.
    evicting: usize,
    per_peer: HashMap<IpAddr, usize>,
    /// Every open connection by age (ids increase).
    live: std::collections::BTreeMap<u64, Arc<Activity>>,
    next_id: u64,
}

/// What the slots know of one connection, shared with its task.
#[derive(Default)]
struct Activity {
    /// Requests in flight on it (0 or 1 over HTTP/1.1).
    busy: std::sync::atomic::AtomicUsize,
    /// It has sent a whole request: a client's kept-alive connection, not
    /// one opened only to be held.
    served: std::sync::atomic::AtomicBool,
    /// Told to close to make room for a new connection.
    evicted: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Activity {
    fn is_idle(&self) -> bool {
        self.busy.load(std::sync::atomic::Ordering::Acquire) == 0
    }
}

/// Counts a request in flight while it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn new(activity: &Arc<Activity>) -> InFlight {
        activity
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        activity
            .served
            .store(true, std::sync::atomic::Ordering::Release);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .busy
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// One open connection; its slot is given back when dropped.
struct Slot {
    slots: Arc<ConnectionSlots>,
    peer: Option<IpAddr>,
    id: u64,
    activity: Arc<Activity>,
}

impl ConnectionSlots {
    fn new(limits: Limits) -> ConnectionSlots {
        ConnectionSlots {
            limits,
            open: Mutex::new(Open::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a connection from `peer`, if the limits allow one
    /// (closing the longest-idle connection when at the global cap).
    fn take(self: &Arc<Self>, peer: IpAddr, exempt: bool) -> Option<Slot> {
        use std::sync::atomic::Ordering;
        let mut open = self.lock();
        if !exempt && open.per_peer.get(&peer).copied().unwrap_or(0) >= self.limits.max_per_address
        {
            return None;
        }
        if open.total - open.evicting >= self.limits.max_connections {
            // Connections that never sent a request go first (what a
            // flood holds), then kept-alive ones between requests; the
            // oldest of each first.
            let evictable = |a: &&Arc<Activity>| a.is_idle() && !a.evicted.load(Ordering::Acquire);
            let never_served = open
                .live
                .values()
                .filter(evictable)
                .find(|a| !a.served.load(Ordering::Acquire));
            let victim = never_served
                .or_else(|| open.live.values().find(evictable))
                .cloned()?;
            victim.evicted.store(true, Ordering::Release);
            victim.wake.notify_one();
            open.evicting += 1;
        }
        if !exempt {
            *open.per_peer.entry(peer).or_insert(0) += 1;
        }
        open.total += 1;
        let id = open.next_id;
        open.next_id += 1;
        let activity = Arc::new(Activity::default());
        open.live.insert(id, activity.clone());
        Some(Slot {
            slots: self.clone(),
            peer: (!exempt).then_some(peer),
            id,
            activity,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        open.total = open.total.saturating_sub(1);
        open.live.remove(&self.id);
        if self
            .activity
            .evicted
            .load(std::sync::atomic::Ordering::Acquire)
        {
            open.evicting = open.evicting.saturating_sub(1);
        }
        if let Some(peer) = self.peer
            && let Some(n) = open.per_peer.get_mut(&peer)
        {
            *n -= 1;
            if *n == 0 {
                open.per_peer.remove(&peer);
            }
        }
    }
}

/// A request body that must arrive before a deadline: past it, reading
/// fails (the handler answers 400 and the connection closes), so a client
/// that announces a body and sends it slowly, or never, holds nothing for long.
struct DeadlineBody {
    inner: axum::body::Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for DeadlineBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(
                "the request body did not arrive in time",
            ))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// One HTTP/1.1 connection, with the header-read timeout; at shutdown it
/// finishes the request in flight and closes. Each request gets the peer's
/// address and, over `tls`, the marker that tells the cookie code the
/// client uses HTTPS, as extensions: the router is shared, not rebuilt
/// per connection (`Router::layer` would copy every route: tens of KiB).
async fn connection<I>(
    io: I,
    app: axum::Router,
    header_timeout: Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    activity: Arc<Activity>,
    peer: SocketAddr,
    tls: bool,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        // hyper's default read buffer grows to ~400 KiB per connection;
        // headers fit in 16 KiB and bodies are read in chunks anyway.
        .max_buf_size(16 * 1024);
    let counted = activity.clone();
    let service = tower::service_fn(
        move |mut request: axum::http::Request<hyper::body::Incoming>| {
            // Busy from its headers until its answer is written: a
            // connection with a request in flight is never evicted.
            let in_flight = InFlight::new(&counted);
            request.extensions_mut().insert(ConnectInfo(peer));
            if tls {
                request.extensions_mut().insert(TlsConnection);
            }
            let answer = tower::ServiceExt::oneshot(app.clone(), request);
            async move {
                let response = answer.await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    axum::body::Body::new(Counted {
                        body,
                        _in_flight: in_flight,
                    })
                }))
            }
        },
    );
    // With upgrades: the agents' command channel is a WebSocket. Once
    // upgraded, the connection leaves this function (and the listener's
    // caps); the channel's handler bounds it (`http::channel`).
    let conn = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        // A change is the stop signal (an error: the server is gone).
        _ = stopping.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
        // Room for a new connection: closed at once when still idle (no
        // request to lose), else after the request in flight.
        () = activity.wake.notified() => {
            if activity.is_idle() {
                return;
            }
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// An answer's body that keeps its connection counted busy until the
/// body is written out.
struct Counted {
    body: axum::body::Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Counted {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// The data directory's default, for the CLI.
pub fn default_data_dir() -> &'static Path {
    Path::new("printwatch-data")
}
