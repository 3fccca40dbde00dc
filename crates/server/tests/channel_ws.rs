//! The command channel's WebSocket, server side, on a real listener: the
//! server speaks first (a challenge), a sealed hello naming it opens the
//! channel, commands are pushed as they are queued, every message of the
//! agent is answered, and hellos that do not authenticate, name another
//! connection's challenge or come out of order close the socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::app::TestApp;
use futures::{SinkExt, StreamExt};
use printwatch_protocol::channel::{Challenge, ChannelDown, ChannelUp, Command, CommandResult};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::{AgentId, AgentKey};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = WebSocketStream<TcpStream>;

async fn listen(app: &TestApp) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = printwatch_server::http::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

async fn connect(port: u16) -> (Ws, String) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut ws, answer) =
        tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/agent/v1/channel/ws"), tcp)
            .await
            .expect("upgraded");
    assert_eq!(answer.status(), StatusCode::SWITCHING_PROTOCOLS);
    let Some(Ok(Message::Text(text))) = ws.next().await else {
        panic!("no challenge first");
    };
    let challenge: Challenge = serde_json::from_str(text.as_str()).unwrap();
    assert!(challenge.bytes().is_ok());
    (ws, challenge.challenge)
}

async fn agent(app: &TestApp) -> (AgentId, AgentKey) {
    let tenant = app.customer("WS customer").await;
    let code = app.new_agent(&app.admin_token, tenant, "ws").await;
    let Ok(key) = app.activate(&code).await else {
        panic!("not activated");
    };
    (code.agent_id, key)
}

fn up(challenge: &str, acks: Vec<u64>, results: Vec<CommandResult>) -> ChannelUp {
    ChannelUp {
        challenge: challenge.into(),
        agent_version: "0.1.0".into(),
        acks,
        results,
    }
}

async fn send(ws: &mut Ws, key: &AgentKey, agent: AgentId, seq: u64, message: &ChannelUp) {
    let sealed = envelope::seal(
        key,
        Direction::AgentToServer,
        agent,
        seq,
        message,
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    ws.send(Message::Binary(sealed.into())).await.unwrap();
}

/// The next sealed message, or None when the socket closed.
async fn next(ws: &mut Ws, key: &AgentKey) -> Option<(u64, ChannelDown)> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), ws.next())
            .await
            .expect("an answer in time")
        {
            Some(Ok(Message::Binary(bytes))) => {
                let opened =
                    envelope::open::<ChannelDown>(key, Direction::ServerToAgent, &bytes).unwrap();
                return Some((opened.seq, opened.message));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_are_pushed_at_once_and_answered() {
    let app = TestApp::new().await;
    let port = listen(&app).await;
    let (agent, key) = agent(&app).await;
    let (mut ws, challenge) = connect(port).await;
    send(&mut ws, &key, agent, 1, &up(&challenge, vec![], vec![])).await;
    let (seq, first) = next(&mut ws, &key).await.expect("the channel is up");
    assert_eq!(seq, 1);
    assert_eq!(first.challenge, challenge);
    assert!(first.commands.is_empty());

    let issued = Instant::now();
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/agents/{agent}/commands"),
            Some(&app.admin_token),
            Some(json!({"kind": "scan_now"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let id = r.json()["id"].as_u64().unwrap();
    let (seq, pushed) = next(&mut ws, &key).await.expect("pushed");
    assert!(
        issued.elapsed() < Duration::from_secs(1),
        "{:?}",
        issued.elapsed()
    );
    assert_eq!(seq, 2);
    assert_eq!(pushed.commands[0].id, id);
    assert_eq!(pushed.commands[0].command, Command::ScanNow);

    let result = CommandResult {
        id,
        ok: true,
        detail: "a discovery sweep started".into(),
    };
    send(
        &mut ws,
        &key,
        agent,
        2,
        &up(&challenge, vec![id], vec![result]),
    )
    .await;
    let (_, answer) = next(&mut ws, &key).await.expect("answered");
    assert_eq!(answer.stored, vec![id]);
    assert!(answer.commands.is_empty(), "sent once per connection");
    let list = app
        .call(
            Method::GET,
            &format!("/api/v1/agents/{agent}/commands"),
            Some(&app.admin_token),
            None,
        )
        .await
        .json();
    assert_eq!(list[0]["state"], "done");

    // Out of order: closed.
    send(&mut ws, &key, agent, 2, &up(&challenge, vec![], vec![])).await;
    assert!(next(&mut ws, &key).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hellos_that_do_not_authenticate_close_the_socket() {
    let app = TestApp::new().await;
    let port = listen(&app).await;
    let (agent, key) = agent(&app).await;
    // Another key.
    let (mut ws, challenge) = connect(port).await;
    let forged = AgentKey::from_bytes([9; 32]);
    send(&mut ws, &forged, agent, 1, &up(&challenge, vec![], vec![])).await;
    assert!(next(&mut ws, &forged).await.is_none());
    // Another connection's challenge (a recorded hello replayed).
    let (mut first, first_challenge) = connect(port).await;
    let (mut second, _) = connect(port).await;
    send(
        &mut second,
        &key,
        agent,
        1,
        &up(&first_challenge, vec![], vec![]),
    )
    .await;
    assert!(next(&mut second, &key).await.is_none());
    // The right one still opens.
    send(
        &mut first,
        &key,
        agent,
        1,
        &up(&first_challenge, vec![], vec![]),
    )
    .await;
    assert!(next(&mut first, &key).await.is_some());
    // A message far larger than the socket's read buffer (64 results of
    // 4 KiB that do not compress) comes through whole.
    let results: Vec<CommandResult> = (0..64)
        .map(|i| CommandResult {
            id: 1_000_000 + i,
            ok: false,
            detail: {
                use rand::Rng;
                rand::thread_rng()
                    .sample_iter(rand::distributions::Alphanumeric)
                    .take(4096)
                    .map(char::from)
                    .collect()
            },
        })
        .collect();
    send(
        &mut first,
        &key,
        agent,
        2,
        &up(&first_challenge, vec![], results),
    )
    .await;
    let (_, answer) = next(&mut first, &key).await.expect("answered");
    assert_eq!(answer.stored.len(), 64);
    // Not an Upgrade: refused as JSON.
    let r = app
        .call(Method::GET, "/agent/v1/channel/ws", None, None)
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
}
