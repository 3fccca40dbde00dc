//! `/agent/v1/submit` on a real socket, header first (issue 10): an
//! envelope naming no agent with a key is refused before its body is sent,
//! and the bodies that are read are bounded (one per agent, a byte budget
//! for all). On SQLite, and on PostgreSQL when `PRINTWATCH_TEST_POSTGRES`
//! is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use common::TestDb;
use common::app::TestApp;
use printwatch_protocol::envelope::{self, Direction, seal};
use printwatch_protocol::message::{AgentMessage, ReceiptStatus, Submission};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::http::AppState;
use printwatch_server::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = super::TestApp::on(super::TestDb::sqlite().await).await;
                    super::$name(&app).await;
                    app.db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    let app = super::TestApp::on(db).await;
                    super::$name(&app).await;
                    app.db.finish().await;
                }
            )*
        }
    };
}

on_both!(
    agents_without_a_key_are_refused_before_the_body_is_sent,
    one_body_per_agent_is_received_at_once,
    bodies_in_flight_hold_at_most_the_budget,
);

/// `state` served on loopback; the sender stops it.
async fn listen(state: AppState) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve::run_with(
        state,
        listener,
        None,
        serve::Limits::default(),
        async {
            let _ = stopped.await;
        },
    ));
    (addr, stop)
}

/// A connection that has sent a submission's headers announcing `length`
/// bytes, and `first` of its body.
async fn start_upload(addr: SocketAddr, length: usize, first: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!(
            "POST /agent/v1/submit HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/octet-stream\r\nContent-Length: {length}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(first).await.unwrap();
    s
}

/// The answer's head and what came of its body within `wait`, or None
/// when the server said nothing.
async fn answer(s: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
        let text = String::from_utf8_lossy(&out);
        if let Some(head) = text.find("\r\n\r\n")
            && text[head..].contains('}')
        {
            break;
        }
    }
    (!out.is_empty()).then(|| String::from_utf8_lossy(&out).into_owned())
}

fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn message(pad: usize) -> AgentMessage {
    // Padding that does not compress, so the envelope has the size asked.
    use rand::Rng;
    let noise: String = (0..pad)
        .map(|_| char::from(b'a' + rand::thread_rng().gen_range(0..26)))
        .collect();
    AgentMessage::Submission(Submission {
        sent_at: noise,
        reports: vec![],
    })
}

fn sealed(key: &AgentKey, agent: AgentId, seq: u64, pad: usize) -> Vec<u8> {
    seal(
        key,
        Direction::AgentToServer,
        agent,
        seq,
        &message(pad),
        &mut rand::rngs::OsRng,
    )
    .unwrap()
}

async fn active_agent(app: &TestApp, tenant: i64, name: &str) -> (AgentId, AgentKey) {
    let code = app.new_agent(&app.admin_token, tenant, name).await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    (code.agent_id, key)
}

/// An envelope announcing 8 MiB under an agent id that has no key (none,
/// pending, revoked) is answered 401 after its 44-byte header, while the
/// client has sent nothing more: the server neither waits for nor holds
/// the body. An active agent's is read in full and applied.
async fn agents_without_a_key_are_refused_before_the_body_is_sent(app: &TestApp) {
    let tenant = app.customer("Acme").await;
    let pending = app.new_agent(&app.admin_token, tenant, "pending").await;
    let (revoked, _) = active_agent(app, tenant, "revoked").await;
    let r = app
        .call(
            axum::http::Method::POST,
            &format!("/api/v1/agents/{}/revoke", revoked.0),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let (addr, stop) = listen(app.state.clone()).await;
    let stranger = AgentKey::from_bytes([9; 32]);
    for (what, id) in [
        ("unknown", AgentId(987_654)),
        ("pending", pending.agent_id),
        ("revoked", revoked),
    ] {
        let envelope = sealed(&stranger, id, 1, 64);
        let mut s = start_upload(
            addr,
            envelope::MAX_ENVELOPE - 1,
            &envelope[..envelope::HEADER_LEN],
        )
        .await;
        let answer = answer(&mut s, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{what}: no answer before the body was sent"));
        assert_eq!(status_of(&answer), 401, "{what}: {answer}");
        assert_eq!(app.state.envelopes.in_flight(), 0, "{what}");
    }

    // An active agent's header passes: the server waits for the body…
    let (agent, key) = active_agent(app, tenant, "active").await;
    let envelope = sealed(&key, agent, 1, 2_000);
    let mut s = start_upload(addr, envelope.len(), &envelope[..envelope::HEADER_LEN]).await;
    assert!(
        answer(&mut s, Duration::from_millis(300)).await.is_none(),
        "answered before the body of an active agent"
    );
    // …and applies it once it has come.
    s.write_all(&envelope[envelope::HEADER_LEN..])
        .await
        .unwrap();
    let answer = answer(&mut s, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status_of(&answer), 200, "{answer}");
    let _ = stop.send(());
}

/// While one body naming an agent is being received, a second one naming
/// it is refused (429, `Retry-After`); once the first is done, the agent
/// is served again. Another agent is not held up meanwhile.
async fn one_body_per_agent_is_received_at_once(app: &TestApp) {
    let tenant = app.customer("Acme").await;
    let (agent, key) = active_agent(app, tenant, "one").await;
    let (other, other_key) = active_agent(app, tenant, "two").await;
    let (addr, stop) = listen(app.state.clone()).await;

    let slow = sealed(&key, agent, 1, 5_000);
    let mut s = start_upload(addr, slow.len(), &slow[..envelope::HEADER_LEN]).await;
    let admitted = async {
        while app.state.envelopes.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), admitted)
        .await
        .expect("the slow body is being received");

    let second = app.submit(&key, agent, 2, &message(10)).await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.text()
    );
    let r = app.deliver(&other_key, other, 1, &message(10)).await;
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);

    s.write_all(&slow[envelope::HEADER_LEN..]).await.unwrap();
    let first = answer(&mut s, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status_of(&first), 200, "{first}");
    assert_eq!(app.state.envelopes.in_flight(), 0);
    let r = app.deliver(&key, agent, 2, &message(10)).await;
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    let _ = stop.send(());
}

/// Bodies in flight reserve their announced length from a budget; over it,
/// 503 with `Retry-After` at once, and the budget is whole again after.
async fn bodies_in_flight_hold_at_most_the_budget(app: &TestApp) {
    const BUDGET: usize = 1024 * 1024;
    let tenant = app.customer("Acme").await;
    let (one, key_one) = active_agent(app, tenant, "one").await;
    let (two, key_two) = active_agent(app, tenant, "two").await;
    let state = app.state.clone().with_envelope_budget(BUDGET);
    let gate = state.envelopes.clone();
    let (addr, stop) = listen(state).await;

    // Announces 600 KiB, sends its header: holds 600 KiB of the budget.
    let big = sealed(&key_one, one, 1, 64);
    let mut held = start_upload(addr, 600 * 1024, &big[..envelope::HEADER_LEN]).await;
    let admitted = async {
        while gate.available() == BUDGET {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), admitted)
        .await
        .expect("the first body is being received");
    assert_eq!(gate.available(), BUDGET - 600 * 1024);

    let too_much = sealed(&key_two, two, 1, 64);
    let mut refused = start_upload(addr, 600 * 1024, &too_much[..envelope::HEADER_LEN]).await;
    let answer_two = answer(&mut refused, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status_of(&answer_two), 503, "{answer_two}");
    assert!(
        answer_two.to_ascii_lowercase().contains("retry-after:"),
        "{answer_two}"
    );
    // A small envelope fits beside the big one.
    let small = sealed(&key_two, two, 1, 64);
    let mut fits = start_upload(addr, small.len(), &small).await;
    let answer_small = answer(&mut fits, Duration::from_secs(5)).await.unwrap();
    assert_eq!(status_of(&answer_small), 200, "{answer_small}");

    // The held one gives up: its reservation is given back.
    drop(held.shutdown().await);
    drop(held);
    let returned = async {
        while gate.available() != BUDGET {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), returned)
        .await
        .expect("the budget is whole again");
    let _ = stop.send(());
}
