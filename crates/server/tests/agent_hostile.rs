//! Hostile input on the agent endpoints, on SQLite and PostgreSQL: a 4xx
//! answer and nothing stored, or data stored verbatim.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::TestDb;
use common::app::{Reply, TestApp};
use printwatch_protocol::activation::{AgentActivation, AgentInfo};
use printwatch_protocol::envelope::{Direction, seal};
use printwatch_protocol::message::{
    AgentMessage, DeviceReport, Heartbeat, ReceiptStatus, Submission,
};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::model::{AgentState, DeviceFilter};
use printwatch_server::store::{AgentStore, DeviceStore, TenantStore};
use printwatch_snapshot::{Alert, Meter, Snapshot, Source};
use serde_json::{Value, json};

/// Each test `fn(TestApp)` on SQLite, and on PostgreSQL when
/// `PRINTWATCH_TEST_POSTGRES` is set (the battery's rule).
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
    garbage_activations_are_refused_and_leave_the_pin,
    an_expired_agent_cannot_activate,
    an_agent_that_expired_since_it_activated_stores_nothing,
    sql_metacharacters_in_a_sealed_snapshot_are_data,
    nul_characters_in_a_sealed_snapshot_are_stored_replaced,
    replayed_envelopes_are_409_and_stored_once,
);

fn snapshot(serial: &str, day: u32, total: u64) -> Snapshot {
    let mut s = Snapshot::new("10.1.1.5");
    s.collected_at = format!("2025-03-{day:02}T10:00:00Z");
    s.family = Some("HP".into());
    s.model = Some("LaserJet M404".into());
    s.serial = Some(serial.into());
    s.meters = vec![Meter {
        name: "total".into(),
        value: total,
        unit: "impressions".into(),
        oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
    }];
    s
}

fn submission(snapshots: &[&Snapshot]) -> AgentMessage {
    AgentMessage::Submission(Submission {
        sent_at: "2025-03-01T00:00:00Z".into(),
        reports: snapshots
            .iter()
            .map(|s| DeviceReport::Full {
                snapshot: Box::new((*s).clone()),
            })
            .collect(),
    })
}

async fn devices(app: &TestApp) -> Vec<printwatch_server::model::Device> {
    let provider = app.db.store.provider().await.unwrap().unwrap();
    app.db
        .store
        .devices(&DeviceFilter {
            scope: provider.id,
            granted_to: None,
            after: None,
            limit: 10_000,
            only: Default::default(),
        })
        .await
        .unwrap()
}

async fn readings(app: &TestApp) -> usize {
    let provider = app.db.store.provider().await.unwrap().unwrap();
    let mut n = 0;
    for d in devices(app).await {
        n += app
            .db
            .store
            .meter_readings(provider.id, d.id, 0, i64::MAX)
            .await
            .unwrap()
            .unwrap()
            .len();
    }
    n
}

async fn activate_raw(app: &TestApp, body: Vec<u8>) -> Reply {
    app.raw(
        Method::POST,
        "/agent/v1/activate",
        None,
        "application/json",
        body,
    )
    .await
}

async fn active_agent(app: &TestApp) -> (AgentId, AgentKey) {
    let customer = app.customer("Acme").await;
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    (code.agent_id, key)
}

async fn garbage_activations_are_refused_and_leave_the_pin(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let info = AgentInfo {
        version: "0.1.0".into(),
        os: "linux".into(),
        hostname: None,
    };
    let (_, request) = AgentActivation::start(&code, info, &mut rand::rngs::OsRng).expect("start");
    let good = serde_json::to_value(&request).unwrap();
    let with = |field: &str, value: Value| {
        let mut v = good.clone();
        v[field] = value;
        v.to_string().into_bytes()
    };
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let oversized = json!({ "pad": "x".repeat(300 * 1024) }).to_string();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not JSON", b"agent_id=1&pin=123".to_vec()),
        ("truncated", good.to_string().as_bytes()[..20].to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x7b, 0x7d]),
        ("null", b"null".to_vec()),
        ("array", b"[1, 2, 3]".to_vec()),
        ("empty object", b"{}".to_vec()),
        ("deeply nested", deep.into_bytes()),
        ("oversized", oversized.into_bytes()),
        (
            "id as text",
            with("agent_id", json!(code.agent_id.to_string())),
        ),
        ("id negative", with("agent_id", json!(-1))),
        ("id huge", with("agent_id", json!(u64::MAX))),
        ("id float", with("agent_id", json!(1.5))),
        ("version as text", with("protocol_version", json!("1"))),
        ("version overflow", with("protocol_version", json!(256))),
        ("version unknown", with("protocol_version", json!(99))),
        (
            "key not base64",
            with("agent_public", json!("!!!not base64!!!")),
        ),
        ("key too short", with("agent_public", json!("AAAA"))),
        ("key as number", with("agent_public", json!(12))),
        ("proof not base64", with("proof", json!("' OR '1'='1"))),
        ("proof as array", with("proof", json!([1, 2]))),
        ("agent as text", with("agent", json!("linux"))),
        ("unknown field", with("pin", json!("123456"))),
    ];
    for (what, body) in bodies {
        let r = activate_raw(app, body).await;
        assert!(
            r.status.is_client_error(),
            "{what}: {} {}",
            r.status,
            r.text()
        );
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "{what}");
    }
    // Not JSON by its content type either.
    let r = app
        .raw(
            Method::POST,
            "/agent/v1/activate",
            None,
            "text/plain",
            good.to_string().into_bytes(),
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    // Nothing stored, the PIN untouched: the real activation still works.
    let (agent, secrets) = app
        .db
        .store
        .agent_with_secrets(code.agent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.state, AgentState::Pending);
    assert_eq!(secrets.pin_failures, 0);
    assert!(secrets.pin_verifier.is_some() && secrets.key_sealed.is_none());
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    let r = app
        .submit(
            &key,
            code.agent_id,
            1,
            &submission(&[&snapshot("CN1", 1, 5)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Used once: the same request again is refused.
    let again = activate_raw(app, good.to_string().into_bytes()).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
}

async fn an_expired_agent_cannot_activate(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&app.admin_token),
            Some(json!({
                "tenant_id": customer,
                "name": "too late",
                "expires_at": "2020-01-01T00:00:00Z",
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let code: printwatch_protocol::activation::ActivationCode = r.json()["activation_code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let Err(refused) = app.activate(&code).await else {
        panic!("activated");
    };
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(refused.json()["reason"], "expired");
    let (agent, secrets) = app
        .db
        .store
        .agent_with_secrets(code.agent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.state, AgentState::Pending);
    assert!(secrets.key_sealed.is_none(), "no key stored");
}

async fn an_agent_that_expired_since_it_activated_stores_nothing(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let now = printwatch_server::now();
    let r = app
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&app.admin_token),
            Some(json!({
                "tenant_id": customer,
                "name": "short-lived",
                "expires_at": printwatch_server::ingest::format_time(now + 5),
            })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let code: printwatch_protocol::activation::ActivationCode = r.json()["activation_code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    while printwatch_server::now() < now + 5 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let r = app
        .submit(
            &key,
            code.agent_id,
            1,
            &submission(&[&snapshot("CN1", 1, 5)]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["reason"], "expired");
    let hb = AgentMessage::Heartbeat(Heartbeat {
        agent_version: "0.2.0".into(),
        os: "linux".into(),
        hostname: None,
        sent_at: "2025-03-02T00:00:00Z".into(),
        ..Default::default()
    });
    let r = app.submit(&key, code.agent_id, 2, &hb).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(r.json()["reason"], "expired");
    assert!(devices(app).await.is_empty());
    let provider = app.db.store.provider().await.unwrap().unwrap();
    let agent = app
        .db
        .store
        .agent(provider.id, code.agent_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            agent.last_seq,
            agent.last_heartbeat_seq,
            agent.agent_version.as_deref()
        ),
        (0, 0, Some("0.1.0"))
    );
}

async fn sql_metacharacters_in_a_sealed_snapshot_are_data(app: &TestApp) {
    let (id, key) = active_agent(app).await;
    let hostile = [
        "'; DROP TABLE devices; --",
        "x' OR '1'='1",
        "\"); DELETE FROM meter_readings; --",
        "$1 $2 ? ?? \\ \\\\ %s %% _ `",
        "Robert'); DROP TABLE agents;--\u{e9}\u{1f5a8}",
    ];
    let mut s = snapshot(hostile[1], 1, 100);
    s.model = Some(hostile[0].into());
    s.vendor = Some(hostile[3].into());
    s.target = hostile[4].into();
    s.meters.push(Meter {
        name: hostile[2].into(),
        value: 7,
        unit: hostile[3].into(),
        oid: Source::One("1.3.6.1.4.1.1.1".into()),
    });
    s.alerts = vec![Alert {
        severity: "warning".into(),
        group: hostile[0].into(),
        code: hostile[1].into(),
        description: Some(hostile[2].into()),
        location: Some(2),
    }];
    let r = app.deliver(&key, id, 1, &submission(&[&s])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    let list = devices(app).await;
    assert_eq!(list.len(), 1);
    let d = &list[0];
    assert_eq!(d.model.as_deref(), Some(hostile[0]));
    assert_eq!(d.serial.as_deref(), Some(hostile[1]));
    assert_eq!(d.vendor.as_deref(), Some(hostile[3]));
    assert_eq!(d.target.as_deref(), Some(hostile[4]));
    let provider = app.db.store.provider().await.unwrap().unwrap();
    let stored = app
        .db
        .store
        .device_snapshot(provider.id, d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, s);
    let alerts = app
        .db
        .store
        .alerts(provider.id, d.id, true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].group.as_str(), alerts[0].code.as_str()),
        (hostile[0], hostile[1])
    );
    assert_eq!(alerts[0].description.as_deref(), Some(hostile[2]));
    let names: Vec<String> = app
        .db
        .store
        .meter_readings(provider.id, d.id, 0, i64::MAX)
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, vec!["total".to_string(), hostile[2].to_string()]);
    // Through the API as well, and every table is still there.
    let t = Some(app.admin_token.as_str());
    let detail = app
        .call(Method::GET, &format!("/api/v1/devices/{}", d.id.0), t, None)
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.text());
    assert_eq!(detail.json()["snapshot"]["model"], hostile[0]);
    assert_eq!(app.db.store.agents(provider.id).await.unwrap().len(), 1);
}

/// PostgreSQL refuses NUL in text: a snapshot carrying one (a buggy agent)
/// must still be stored, not fail for ever; NUL arrives as U+FFFD.
async fn nul_characters_in_a_sealed_snapshot_are_stored_replaced(app: &TestApp) {
    let (id, key) = active_agent(app).await;
    let mut s = snapshot("NUL1", 1, 100);
    s.family = Some("HP\0".into());
    s.model = Some("Laser\0Jet".into());
    s.alerts = vec![Alert {
        severity: "warning".into(),
        group: "\0".into(),
        code: "jam\0".into(),
        description: None,
        location: None,
    }];
    let r = app.deliver(&key, id, 1, &submission(&[&s])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    let list = devices(app).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].model.as_deref(), Some("Laser\u{fffd}Jet"));
    // The agent's next envelope of the same device applies too.
    let mut next = snapshot("NUL1", 2, 150);
    next.family = s.family.clone();
    let r = app.submit(&key, id, 2, &submission(&[&next])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(devices(app).await.len(), 1);
}

async fn replayed_envelopes_are_409_and_stored_once(app: &TestApp) {
    let (id, key) = active_agent(app).await;
    let sealed = |seq: u64, msg: &AgentMessage| {
        seal(
            &key,
            Direction::AgentToServer,
            id,
            seq,
            msg,
            &mut rand::rngs::OsRng,
        )
        .unwrap()
    };
    let first = sealed(1, &submission(&[&snapshot("CN1", 1, 100)]));
    let r = app.deliver_bytes(&key, first.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    // The same envelope again: delivered before, says so, stores nothing.
    for _ in 0..3 {
        let again = app.deliver_bytes(&key, first.clone()).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.reply.text());
        assert_eq!(again.receipt().status, ReceiptStatus::AlreadyApplied);
    }
    assert_eq!(readings(app).await, 1);
    let second = sealed(2, &submission(&[&snapshot("CN1", 2, 150)]));
    assert_eq!(
        app.deliver_bytes(&key, second.clone()).await.status,
        StatusCode::OK
    );
    // Older than the last applied: a replay or a reordering.
    let old = app.deliver_bytes(&key, first).await;
    assert_eq!(old.status, StatusCode::CONFLICT, "{}", old.reply.text());
    assert_eq!(
        old.receipt().status,
        ReceiptStatus::Stale { last_applied: 2 }
    );
    // A new envelope with an old sequence number, however authentic.
    let reused = sealed(1, &submission(&[&snapshot("CN1", 3, 10)]));
    let r = app.deliver_bytes(&key, reused).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.receipt().status, ReceiptStatus::Stale { last_applied: 2 });
    // Heartbeats count in a sequence of their own: 2 and even 1 are new
    // there, and never make a submission stale.
    let hb = AgentMessage::Heartbeat(Heartbeat {
        agent_version: "0.2.0".into(),
        os: "linux".into(),
        hostname: None,
        sent_at: "2025-03-02T00:00:00Z".into(),
        ..Default::default()
    });
    let hb100 = sealed(100, &hb);
    let r = app.deliver_bytes(&key, hb100.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    let r = app.deliver_bytes(&key, hb100).await;
    assert_eq!(r.receipt().status, ReceiptStatus::AlreadyApplied);
    let r = app.deliver_bytes(&key, sealed(99, &hb)).await;
    assert_eq!(
        r.receipt().status,
        ReceiptStatus::Stale { last_applied: 100 }
    );
    let third = sealed(3, &submission(&[&snapshot("CN1", 3, 175)]));
    let r = app.deliver_bytes(&key, third).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    // A receipt names the envelope it answers: it opens for no other.
    let fourth = sealed(4, &submission(&[&snapshot("CN1", 4, 180)]));
    let reply = app.submit_bytes(fourth.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    let twin = sealed(4, &submission(&[&snapshot("CN1", 4, 180)]));
    assert!(printwatch_protocol::envelope::open_receipt(&key, &twin, &reply.body).is_err());
    assert!(printwatch_protocol::envelope::open_receipt(&key, &fourth, &reply.body).is_ok());
    // A sequence number too large to store is refused, not "applied".
    let r = app
        .submit_bytes(sealed(u64::MAX, &submission(&[&snapshot("CN1", 5, 9)])))
        .await;
    assert!(r.status.is_client_error(), "{} {}", r.status, r.text());
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(readings(app).await, 4);
    assert_eq!(devices(app).await.len(), 1);
    let provider = app.db.store.provider().await.unwrap().unwrap();
    let agent = app.db.store.agent(provider.id, id).await.unwrap().unwrap();
    assert_eq!((agent.last_seq, agent.last_heartbeat_seq), (4, 100));
}
