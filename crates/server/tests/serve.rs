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
    let timeout = std::time::Duration::from_millis(500);
    let server = tokio::spawn(serve::run_with(state, listener, None, timeout, async {
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
