//! The server on a real socket: open a data directory, first start, serve
//! HTTP on loopback, stop on request.
#![allow(clippy::unwrap_used, clippy::expect_used)]

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
