//! The server on a real socket: open a data directory, first start, serve
//! HTTP on loopback, stop on request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use printwatch_server::serve::{self, ServeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn serves_on_loopback_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (state, first) = serve::open(&config, None).await.unwrap();
    assert!(first.unwrap().generated_password.is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config.data_dir)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run(state, listener, async {
        let _ = stopped.await;
    }));
    let doc = get(addr, "/api/v1/openapi.json").await;
    assert!(doc.starts_with("HTTP/1.1 200"), "{doc}");
    assert!(doc.contains("\"openapi\":\"3.1.0\""));
    let denied = get(addr, "/api/v1/devices").await;
    assert!(denied.starts_with("HTTP/1.1 401"), "{denied}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    // A second start finds its data and initialises nothing.
    let (_, first) = serve::open(&config, None).await.unwrap();
    assert!(first.is_none());
}

/// Several servers start for the first time on one database at once: one
/// provider and one administrator are created, and every start succeeds.
async fn concurrent_first_starts(db: common::TestDb) {
    use printwatch_server::store::{DynStore, TenantStore, UserStore};
    const SERVERS: usize = 8;
    let mut stores: Vec<DynStore> = vec![];
    for _ in 0..SERVERS {
        stores.push(std::sync::Arc::new(db.reopen().await));
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(SERVERS));
    let mut starts = tokio::task::JoinSet::new();
    for store in stores.clone() {
        let barrier = barrier.clone();
        starts.spawn(async move {
            barrier.wait().await;
            serve::first_start(&store, Some("a long enough password".into())).await
        });
    }
    let mut created = 0;
    while let Some(result) = starts.join_next().await {
        let first = result.unwrap().expect("every first start succeeds");
        created += usize::from(first.is_some());
    }
    assert_eq!(created, 1, "exactly one start initialised");
    let provider = db.store.provider().await.unwrap().unwrap();
    let tenants = db.store.tenants(provider.id).await.unwrap();
    assert_eq!(tenants.len(), 1, "{tenants:?}");
    assert_eq!(db.store.count_users().await.unwrap(), 1);
    let log = db.store.audit_log(provider.id, 100).await.unwrap();
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "server.initialise")
            .count(),
        1
    );
    for s in stores {
        drop(s);
    }
    db.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_make_one_provider_on_sqlite() {
    concurrent_first_starts(common::TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_starts_make_one_provider_on_postgres() {
    let Some(db) = common::TestDb::postgres("concurrent_first_starts").await else {
        return;
    };
    concurrent_first_starts(db).await;
}

/// Servers sharing a database must share the master key: one with another
/// key refuses to start, with a message that says so.
async fn another_master_key_refuses_to_start(database_url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str| ServeConfig {
        data_dir: dir.path().join(name),
        database_url: database_url.clone(),
    };
    // SQLite: one data directory whose master.key is replaced; PostgreSQL:
    // two servers, each with its own data directory (and key).
    let (first, second) = match database_url {
        None => (config("data"), config("data")),
        Some(_) => (config("one"), config("two")),
    };
    serve::open(&first, None).await.unwrap();
    serve::open(&first, None)
        .await
        .expect("the same key starts again");
    let key = second.data_dir.join("master.key");
    std::fs::create_dir_all(&second.data_dir).unwrap();
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let err = serve::open(&second, None).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("master key"), "{text}");
    assert!(!text.contains(&"ab".repeat(32)), "no key in messages");
}

#[tokio::test]
async fn another_master_key_refuses_to_start_on_sqlite() {
    another_master_key_refuses_to_start(None).await;
}

#[tokio::test]
async fn another_master_key_refuses_to_start_on_postgres() {
    let Some(db) = common::TestDb::postgres("another_master_key").await else {
        return;
    };
    another_master_key_refuses_to_start(Some(db.url.clone())).await;
    db.finish().await;
}

/// A client that never finishes its request headers is disconnected after
/// the header-read timeout ("slowloris"); one that finishes in time is served.
#[tokio::test]
async fn slow_request_headers_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (state, _) = serve::open(&config, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = serve::Limits {
        header_timeout: std::time::Duration::from_millis(500),
        ..Default::default()
    };
    let server = tokio::spawn(serve::run_with(state, listener, None, limits, async {
        let _ = stopped.await;
    }));

    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut out = vec![];
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        slow.read_to_end(&mut out),
    )
    .await;
    assert!(closed.is_ok(), "the server kept a half-sent request open");
    assert!(!String::from_utf8_lossy(&out).contains(" 200 "));

    // Headers sent in pieces, but within the timeout: served.
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\n")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    ok.write_all(b"Host: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    ok.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A server on loopback with these limits; the sender stops it.
async fn limited_server(
    limits: serve::Limits,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<printwatch_server::Result<()>>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let (state, _) = serve::open(&config, None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::run_with(state, listener, None, limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, server, dir)
}

/// A request whose body is announced and never sent (or sent too slowly)
/// is answered and closed at the body deadline, not held for minutes.
#[tokio::test]
async fn a_body_that_never_arrives_is_cut_off() {
    let limits = serve::Limits {
        body_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let (addr, stop, server, _dir) = limited_server(limits).await;
    for path in ["/api/v1/login", "/agent/v1/submit"] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{{\"email\""
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = vec![];
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "{path}: the server waited for the body");
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 4"), "{path}: {text}");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Connections over the per-address cap are refused at once with a 503
/// that says why. At the global cap, a new connection closes the one idle
/// the longest (a flood of idle connections cannot keep a client out);
/// only when every connection has a request in flight is it refused.
#[tokio::test]
async fn connections_over_the_caps_are_refused_or_make_room() {
    let limits = serve::Limits {
        max_connections: 4,
        max_per_address: 2,
        ..Default::default()
    };
    let (addr, stop, server, _dir) = limited_server(limits).await;
    let from = |ip: &str| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        socket.connect(addr)
    };
    let request = |mut s: tokio::net::TcpStream| async move {
        s.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    };
    let closed_soon = |mut s: tokio::net::TcpStream| async move {
        let mut buf = [0u8; 64];
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(5), s.read(&mut buf)).await,
            Ok(Ok(0) | Err(_))
        )
    };
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(100));
    // A client's kept-alive connection (one request served), and an idle
    // one that never sent a request, from one address: its cap.
    let mut kept = from("127.0.0.1").await.unwrap();
    async fn answered(s: &mut tokio::net::TcpStream) -> String {
        // A small answer (a 404 of a few bytes), read whole.
        s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = vec![0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        let mut rest = vec![0u8; 64 * 1024];
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(300), s.read(&mut rest)).await;
        String::from_utf8_lossy(&head).into_owned()
    }
    assert_eq!(answered(&mut kept).await, "HTTP/1.1 404");
    let second = from("127.0.0.1").await.unwrap();
    settle().await;
    let third = request(from("127.0.0.1").await.unwrap()).await;
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    assert!(third.contains("too many connections"), "{third}");
    // Two more addresses, idle: the global cap (four) is reached.
    let idle_b = from("127.0.0.2").await.unwrap();
    let idle_c = from("127.0.0.3").await.unwrap();
    settle().await;
    // A fifth client is served all the same: the oldest connection that
    // never sent a request is closed to make room for it; the client's
    // kept-alive connection, older, stays and is served again.
    let served = request(from("127.0.0.4").await.unwrap()).await;
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    assert!(closed_soon(second).await, "the idle connection stayed open");
    assert_eq!(answered(&mut kept).await, "HTTP/1.1 404");
    drop((kept, idle_b, idle_c));
    settle().await;
    // Four connections with a request in flight (a body announced, not
    // yet sent): none is idle, so a fifth is refused.
    let mut busy = vec![];
    for ip in ["127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"] {
        let mut s = from(ip).await.unwrap();
        s.write_all(
            b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
        busy.push(s);
    }
    settle().await;
    let refused = request(from("127.0.0.9").await.unwrap()).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    drop(busy);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Every answer says: no sniffing, no caching, no framing; over HTTPS, HSTS.
#[tokio::test]
async fn answers_carry_security_headers() {
    use axum::http::Request;
    use tower::ServiceExt;
    let app = common::app::TestApp::new().await;
    for tls in [false, true] {
        for path in ["/api/v1/openapi.json", "/api/v1/devices", "/nowhere"] {
            let mut r = Request::get(path)
                .extension(axum::extract::ConnectInfo(
                    "192.0.2.1:1000".parse::<std::net::SocketAddr>().unwrap(),
                ))
                .header("host", "pw.example");
            if tls {
                r = r.extension(printwatch_server::http::TlsConnection);
            }
            let answer = app
                .router
                .clone()
                .oneshot(r.body(axum::body::Body::empty()).unwrap())
                .await
                .unwrap();
            let h = answer.headers();
            let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
            assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
            assert_eq!(get("cache-control"), "no-store", "{path}");
            assert_eq!(get("x-frame-options"), "DENY", "{path}");
            assert!(get("content-security-policy").contains("frame-ancestors 'none'"));
            assert_eq!(
                get("strict-transport-security").starts_with("max-age="),
                tls,
                "{path} tls={tls}"
            );
        }
    }
    app.db.finish().await;
}

/// The first start names its administrator: no built-in login to guess.
#[tokio::test]
async fn the_first_start_needs_the_administrators_email() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServeConfig {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    let err = serve::open_as(&config, None, None)
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("--admin-email"), "{err}");
    let bad = serve::open_as(&config, Some("not an address"), None).await;
    assert!(bad.is_err());
    let (_, first) = serve::open_as(&config, Some(" Boss@Dealer.Example "), None)
        .await
        .unwrap();
    assert_eq!(first.unwrap().admin_email, "boss@dealer.example");
    // Later starts need none.
    let (_, first) = serve::open_as(&config, None, None).await.unwrap();
    assert!(first.is_none());
}

/// `--redirect-http`: plain HTTP only sends browsers to HTTPS, on the same
/// host (as the client named it) with the path and query kept; a missing
/// or malformed Host is refused rather than echoed.
#[tokio::test]
async fn plain_http_redirects_to_https() {
    for https_port in [8443u16, 443] {
        let listener = serve::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve::run_redirect(
            listener,
            https_port,
            serve::Limits::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let ask = |head: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(head.as_bytes()).await.unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out).await;
            out
        };
        let port = if https_port == 443 {
            String::new()
        } else {
            format!(":{https_port}")
        };
        for (host, location) in [
            (
                "pw.example:8080",
                format!("https://pw.example{port}/devices?q=a%20b"),
            ),
            (
                "pw.example",
                format!("https://pw.example{port}/devices?q=a%20b"),
            ),
            ("[::1]:80", format!("https://[::1]{port}/devices?q=a%20b")),
        ] {
            let head: &'static str = Box::leak(
                format!(
                    "GET /devices?q=a%20b HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                )
                .into_boxed_str(),
            );
            let answer = ask(head).await;
            assert!(answer.starts_with("HTTP/1.1 308"), "{host}: {answer}");
            assert!(
                answer
                    .to_lowercase()
                    .contains(&format!("location: {}\r\n", location.to_lowercase())),
                "{host}: {answer}"
            );
        }
        for head in [
            "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: evil.example/x\r\nConnection: close\r\n\r\n",
        ] {
            let answer = ask(head).await;
            assert!(
                answer.starts_with("HTTP/1") && answer.contains(" 400 "),
                "{head:?}: {answer}"
            );
        }
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
