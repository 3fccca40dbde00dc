//! The command channel, server side, on SQLite and PostgreSQL: commands
//! issued through the REST API, carried by long-polling to an agent that
//! says hello with a sealed message bound to a fresh challenge,
//! acknowledged, answered with a sealed result, and listed with their
//! state; wake-ups within one process and (PostgreSQL `NOTIFY`) across
//! two.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::app::TestApp;
use http_body_util::BodyExt;
use printwatch_protocol::channel::{Challenge, ChannelDown, ChannelUp, Command, CommandResult};
use printwatch_protocol::envelope::{self, Direction};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::command::{ChannelHub, spawn_pg_listener};
use printwatch_server::http::{AppState, router};
use printwatch_server::store::{Backend, CommandStore, DynStore, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Agent {
    id: AgentId,
    key: AgentKey,
    tenant: i64,
}

async fn agent(app: &TestApp) -> Agent {
    let tenant = app.customer("Channel customer").await;
    let code = app.new_agent(&app.admin_token, tenant, "channel").await;
    let Ok(key) = app.activate(&code).await else {
        panic!("not activated");
    };
    Agent {
        id: code.agent_id,
        key,
        tenant,
    }
}

/// This app's state with a short hold (and, for a second server, its own hub).
fn server(app: &TestApp, hold: Duration, own_hub: bool) -> (Router, AppState) {
    let mut state = app.state.clone().with_poll_hold(hold);
    if own_hub {
        let store: DynStore = Arc::new(app.db.store.clone());
        state = AppState::new(store, (*app.state.master).clone()).with_poll_hold(hold);
    }
    (router(state.clone()), state)
}

async fn post(
    router: &Router,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, body)
}

async fn challenge(router: &Router) -> String {
    let (status, body) = post(
        router,
        "/agent/v1/channel/challenge",
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let c: Challenge = serde_json::from_slice(&body).expect("challenge");
    assert!(c.bytes().is_ok());
    c.challenge
}

fn hello(challenge: &str, acks: Vec<u64>, results: Vec<CommandResult>) -> ChannelUp {
    ChannelUp {
        challenge: challenge.into(),
        agent_version: "0.1.0".into(),
        acks,
        results,
    }
}

/// One long-poll: the sealed hello, the opened answer (or the refusal).
async fn poll(
    router: &Router,
    agent: &Agent,
    up: &ChannelUp,
) -> Result<ChannelDown, (StatusCode, String)> {
    let sealed = envelope::seal(
        &agent.key,
        Direction::AgentToServer,
        agent.id,
        1,
        up,
        &mut rand::rngs::OsRng,
    )
    .expect("seal");
    let (status, body) = post(
        router,
        "/agent/v1/channel/poll",
        "application/octet-stream",
        sealed,
    )
    .await;
    if status != StatusCode::OK {
        return Err((status, String::from_utf8_lossy(&body).into_owned()));
    }
    let opened = envelope::open::<ChannelDown>(&agent.key, Direction::ServerToAgent, &body)
        .expect("a sealed answer");
    assert_eq!(opened.message.challenge, up.challenge, "bound to the hello");
    assert_eq!((opened.agent_id, opened.seq), (agent.id, 1));
    Ok(opened.message)
}

async fn issue(app: &TestApp, agent: &Agent, body: Value) -> (StatusCode, Value) {
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/agents/{}/commands", agent.id),
            Some(&app.admin_token),
            Some(body),
        )
        .await;
    (r.status, r.json())
}

async fn listed(app: &TestApp, agent: &Agent) -> Vec<Value> {
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/agents/{}/commands", agent.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json().as_array().cloned().expect("a list")
}

async fn commands_go_queued_delivered_done(app: &TestApp) {
    let a = agent(app).await;
    let (router, _) = server(app, Duration::from_millis(300), false);
    let (status, created) = issue(app, &a, json!({"kind": "scan_now"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["state"], "queued");
    assert_eq!(created["kind"], "scan_now");
    assert_eq!(created["issued_by"], "admin@localhost");
    let id = created["id"].as_u64().expect("id");
    assert!(created["created_at"].as_i64().is_some());

    // Sent at once, and again until acknowledged.
    let c = challenge(&router).await;
    let down = poll(&router, &a, &hello(&c, vec![], vec![]))
        .await
        .expect("answer");
    assert_eq!(down.commands.len(), 1);
    assert_eq!(down.commands[0].id, id);
    assert_eq!(down.commands[0].command, Command::ScanNow);
    assert_eq!(listed(app, &a).await[0]["state"], "queued");
    let again = poll(&router, &a, &hello(&c, vec![], vec![]))
        .await
        .expect("answer");
    assert_eq!(again.commands.len(), 1, "not acknowledged: sent again");

    // Acknowledged: delivered, not sent again (the poll is held, then empty).
    let started = Instant::now();
    let down = poll(&router, &a, &hello(&c, vec![id], vec![]))
        .await
        .expect("answer");
    assert!(down.commands.is_empty() && down.stored.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250), "held");
    let row = &listed(app, &a).await[0];
    assert_eq!(row["state"], "delivered");
    assert!(row["delivered_at"].as_i64().is_some());

    // The result: stored, confirmed, and the first one stays.
    let result = |ok, detail: &str| CommandResult {
        id,
        ok,
        detail: detail.into(),
    };
    let down = poll(
        &router,
        &a,
        &hello(&c, vec![], vec![result(true, "sweep started")]),
    )
    .await
    .expect("answer");
    assert_eq!(down.stored, vec![id]);
    let down = poll(
        &router,
        &a,
        &hello(&c, vec![], vec![result(false, "again")]),
    )
    .await
    .expect("answer");
    assert_eq!(
        down.stored,
        vec![id],
        "confirmed again: the agent may forget it"
    );
    let row = &listed(app, &a).await[0];
    assert_eq!(row["state"], "done");
    assert_eq!(
        row["result"],
        json!({"ok": true, "detail": "sweep started"})
    );
    assert!(row["finished_at"].as_i64().is_some());

    // Audited, with who issued it.
    let log = app
        .call(Method::GET, "/api/v1/audit", Some(&app.admin_token), None)
        .await;
    assert!(log.text().contains("agent.command"), "{}", log.text());
}

async fn a_queued_command_wakes_the_held_poll(app: &TestApp) {
    let a = agent(app).await;
    let (router, _) = server(app, Duration::from_secs(20), false);
    let c = challenge(&router).await;
    let up = hello(&c, vec![], vec![]);
    let held = {
        let router = router.clone();
        let a = Agent {
            id: a.id,
            key: a.key.clone(),
            tenant: a.tenant,
        };
        tokio::spawn(async move {
            let started = Instant::now();
            let down = poll(&router, &a, &up).await.expect("answer");
            (down, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, created) = issue(
        app,
        &a,
        json!({"kind": "collect_now", "target": "192.0.2.7:1161"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["target"], "192.0.2.7:1161");
    let issued = Instant::now();
    let (down, _) = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("woken")
        .expect("task");
    assert!(
        issued.elapsed() < Duration::from_secs(1),
        "{:?}",
        issued.elapsed()
    );
    assert_eq!(
        down.commands[0].command,
        Command::CollectNow {
            target: "192.0.2.7:1161".into()
        }
    );
}

/// Two server processes on one database: a command issued on A reaches
/// the agent held by B (PostgreSQL: `NOTIFY`, within a second; SQLite has
/// one process in production: B's periodic look finds it).
async fn a_command_issued_on_one_server_reaches_the_agent_held_by_another(app: &TestApp) {
    let a = agent(app).await;
    let (b, b_state) = server(app, Duration::from_secs(20), true);
    let postgres = app.db.store.backend() == Backend::Postgres;
    if postgres {
        spawn_pg_listener(app.db.url.clone(), b_state.hub.clone());
        // The listener connects in the background.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let c = challenge(&b).await;
    let up = hello(&c, vec![], vec![]);
    let held = {
        let b = b.clone();
        let a = Agent {
            id: a.id,
            key: a.key.clone(),
            tenant: a.tenant,
        };
        tokio::spawn(async move { poll(&b, &a, &up).await.expect("answer") })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b_state.hub.holders(), 1);
    let (status, _) = issue(app, &a, json!({"kind": "scan_now"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let issued = Instant::now();
    let down = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .expect("reached")
        .expect("task");
    assert_eq!(down.commands.len(), 1);
    let took = issued.elapsed();
    if postgres {
        assert!(took < Duration::from_secs(1), "NOTIFY took {took:?}");
    } else {
        assert!(
            took <= Duration::from_secs(6),
            "the periodic look took {took:?}"
        );
    }
    let _: Arc<ChannelHub> = b_state.hub.clone();
}

async fn configure_is_checked_stored_and_carried_whole(app: &TestApp) {
    let a = agent(app).await;
    let (router, _) = server(app, Duration::from_millis(200), false);
    for bad in [
        json!({"kind": "configure", "config": {"uplink": {"proxy": "http://evil:1"}}}),
        json!({"kind": "configure", "config": {"collect": {"every": "often"}}}),
        json!({"kind": "configure", "config": {"scan": []}}),
        json!({"kind": "collect_now", "target": ""}),
        json!({"kind": "format_disk"}),
        json!({"kind": "scan_now", "extra": 1}),
    ] {
        let (status, body) = issue(app, &a, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert!(listed(app, &a).await.is_empty(), "nothing stored");
    let config = json!({"collect": {"every": "1m"}, "credentials": [{"community": "s3cret"}]});
    let (status, created) = issue(app, &a, json!({"kind": "configure", "config": config})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["config_version"], 1);
    assert!(
        !created.to_string().contains("s3cret"),
        "no secret in the command"
    );
    assert!(!listed(app, &a).await[0].to_string().contains("s3cret"));
    let c = challenge(&router).await;
    let down = poll(&router, &a, &hello(&c, vec![], vec![]))
        .await
        .expect("answer");
    let Command::Configure(pushed) = &down.commands[0].command else {
        panic!("{:?}", down.commands);
    };
    assert_eq!(pushed.version, 1);
    assert_eq!(
        pushed.config.credentials[0].community.as_deref(),
        Some("s3cret")
    );
    // The same version as `GET …/config` shows.
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/agents/{}/config", a.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.json()["version"], 1);
}

async fn hellos_that_do_not_authenticate_are_refused(app: &TestApp) {
    let a = agent(app).await;
    let (router, _) = server(app, Duration::from_millis(100), false);
    let c = challenge(&router).await;
    // Another key.
    let forger = Agent {
        id: a.id,
        key: AgentKey::from_bytes([9; 32]),
        tenant: a.tenant,
    };
    let (status, _) = poll(&router, &forger, &hello(&c, vec![], vec![]))
        .await
        .expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A challenge the server did not make, or one too old.
    use base64::Engine;
    let made_up = base64::engine::general_purpose::STANDARD.encode([1u8; 40]);
    let (status, _) = poll(&router, &a, &hello(&made_up, vec![], vec![]))
        .await
        .expect_err("refused");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Garbage.
    let (status, _) = post(
        &router,
        "/agent/v1/channel/poll",
        "application/octet-stream",
        b"PW\x01\x01".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // An agent that does not exist: refused on the header, the rest
    // never read (here it is not even sent).
    let nobody = Agent {
        id: AgentId(987_654),
        key: a.key.clone(),
        tenant: a.tenant,
    };
    let (status, _) = poll(&router, &nobody, &hello(&c, vec![], vec![]))
        .await
        .expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let sealed = envelope::seal(
        &a.key,
        Direction::AgentToServer,
        AgentId(987_654),
        1,
        &hello(&c, vec![], vec![]),
        &mut rand::rngs::OsRng,
    )
    .expect("seal");
    let (status, _) = post(
        &router,
        "/agent/v1/channel/poll",
        "application/octet-stream",
        sealed[..envelope::HEADER_LEN].to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Results of commands that are not the agent's are confirmed (they can
    // never be stored) and change nothing.
    let down = poll(
        &router,
        &a,
        &hello(
            &c,
            vec![424242],
            vec![CommandResult {
                id: 424242,
                ok: true,
                detail: String::new(),
            }],
        ),
    )
    .await
    .expect("answer");
    assert_eq!(down.stored, vec![424242]);
    // Revoked: refused like an unknown key, and no command can be issued.
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/agents/{}/revoke", a.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert!(r.status.is_success());
    let (status, _) = poll(&router, &a, &hello(&c, vec![], vec![]))
        .await
        .expect_err("refused");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = issue(app, &a, json!({"kind": "scan_now"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_deactivation_result_revokes_the_agent(app: &TestApp) {
    let a = agent(app).await;
    let (router, _) = server(app, Duration::from_millis(100), false);
    let (_, created) = issue(app, &a, json!({"kind": "deactivate"})).await;
    let id = created["id"].as_u64().expect("id");
    let c = challenge(&router).await;
    let down = poll(&router, &a, &hello(&c, vec![], vec![]))
        .await
        .expect("answer");
    assert_eq!(down.commands[0].command, Command::Deactivate);
    let down = poll(
        &router,
        &a,
        &hello(
            &c,
            vec![id],
            vec![CommandResult {
                id,
                ok: true,
                detail: "key erased".into(),
            }],
        ),
    )
    .await
    .expect("answer");
    assert_eq!(down.stored, vec![id]);
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/agents/{}", a.id),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.json()["status"], "revoked", "{}", r.text());
    assert_eq!(listed(app, &a).await[0]["state"], "done");
}

async fn commands_expire(app: &TestApp) {
    use printwatch_server::command::{CommandArgs, CommandState, CommandToStore};
    use printwatch_server::ids::TenantId;
    use printwatch_server::model::NewAudit;
    let a = agent(app).await;
    let store = &app.db.store;
    let now = printwatch_server::now();
    let tenant = TenantId(a.tenant);
    let created = store
        .create_command_audited(
            CommandToStore {
                agent_id: a.id,
                tenant_id: tenant,
                kind: "scan_now",
                args: CommandArgs::default(),
                issued_by: "test".into(),
                expires_at: now + 10,
            },
            Box::new(move |_| NewAudit {
                tenant_id: tenant,
                actor: "test".into(),
                action: "agent.command".into(),
                target: String::new(),
                detail: String::new(),
                at: now,
            }),
            now,
        )
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(created.state, CommandState::Queued);
    assert_eq!(
        store
            .queued_commands(a.id, 10, now + 9)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .queued_commands(a.id, 10, now + 10)
            .await
            .unwrap()
            .is_empty(),
        "not sent once expired"
    );
    let later = store.commands(tenant, a.id, 10, now + 10).await.unwrap();
    assert_eq!(later[0].state, CommandState::Expired);
    // Another tenant sees none of them.
    assert!(
        store
            .commands(TenantId(1), a.id, 10, now)
            .await
            .unwrap()
            .len()
            <= 1
    );
    let other = app.customer("Other").await;
    assert!(
        store
            .commands(TenantId(other), a.id, 10, now)
            .await
            .unwrap()
            .is_empty()
    );
    let _: &dyn Store = store;
}

crate::app_on_both!(
    commands_go_queued_delivered_done,
    a_queued_command_wakes_the_held_poll,
    a_command_issued_on_one_server_reaches_the_agent_held_by_another,
    configure_is_checked_stored_and_carried_whole,
    hellos_that_do_not_authenticate_are_refused,
    a_deactivation_result_revokes_the_agent,
    commands_expire,
);
