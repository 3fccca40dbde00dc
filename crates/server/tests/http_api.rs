//! The server through HTTP: first start, activation, sealed ingest, the
//! REST API, exports, and hostile input (a 4xx answer and nothing stored).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::app::{ADMIN_PASSWORD, TestApp};
use printwatch_protocol::delta;
use printwatch_protocol::envelope::{Direction, seal};
use printwatch_protocol::message::{
    AgentMessage, DeviceReport, Heartbeat, ReceiptStatus, Submission,
};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_server::ids::TenantId;
use printwatch_server::model::DeviceFilter;
use printwatch_server::store::{DeviceStore, TenantStore};
use printwatch_snapshot::{Alert, Meter, Snapshot, Source, Supply};
use serde_json::json;

fn snapshot(serial: &str, target: &str, day: u32, total: u64) -> Snapshot {
    let mut s = Snapshot::new(target);
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

fn submission(reports: Vec<DeviceReport>) -> AgentMessage {
    AgentMessage::Submission(Submission {
        sent_at: "2025-03-01T00:00:00Z".into(),
        reports,
    })
}

fn full(s: &Snapshot) -> DeviceReport {
    DeviceReport::Full {
        snapshot: Box::new(s.clone()),
    }
}

async fn device_count(app: &TestApp) -> usize {
    let provider = app.db.store.provider().await.unwrap().unwrap();
    app.db
        .store
        .devices(&DeviceFilter {
            scope: provider.id,
            granted_to: None,
            after: None,
            limit: 10_000,
        })
        .await
        .unwrap()
        .len()
}

async fn active_agent(app: &TestApp, customer: i64) -> (AgentId, AgentKey) {
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    (code.agent_id, key)
}

async fn first_start_creates_the_provider_and_its_administrator_once(app: &TestApp) {
    let store: printwatch_server::store::DynStore = std::sync::Arc::new(app.db.store.clone());
    assert!(
        printwatch_server::serve::first_start(&store, None)
            .await
            .unwrap()
            .is_none()
    );
    let me = app
        .call(Method::GET, "/api/v1/me", Some(&app.admin_token), None)
        .await;
    assert_eq!(me.json()["role"], "admin");
    let wrong = app
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"email": "admin@localhost", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = app
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"email": "x@y", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown.body, wrong.body,
        "unknown users look like wrong passwords"
    );

    let fresh = common::TestDb::sqlite().await;
    let store: printwatch_server::store::DynStore = std::sync::Arc::new(fresh.store.clone());
    let first = printwatch_server::serve::first_start(&store, None)
        .await
        .unwrap()
        .unwrap();
    let password = first.generated_password.expect("generated");
    assert!(password.len() >= 20);
}

async fn logins_are_rate_limited(app: &TestApp) {
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = app
            .call(
                Method::POST,
                "/api/v1/login",
                None,
                Some(json!({"email": "admin@localhost", "password": "guess"})),
            )
            .await
            .status;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

async fn an_agent_activates_submits_and_every_submission_applies_once(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let (id, key) = active_agent(app, customer).await;

    let day1 = snapshot("CN123", "10.1.1.5", 1, 1000);
    let sealed = seal(
        &key,
        Direction::AgentToServer,
        id,
        1,
        &submission(vec![full(&day1)]),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let r = app.deliver_bytes(&key, sealed.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    // The same envelope again (its answer was lost): already applied.
    let again = app.deliver_bytes(&key, sealed).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.receipt().status, ReceiptStatus::AlreadyApplied);
    // A delta next, from a new address: the same device.
    let mut day2 = snapshot("CN123", "10.1.1.77", 2, 1250);
    day2.alerts = vec![Alert {
        severity: "warning".into(),
        group: "marker_supplies".into(),
        code: "toner_low".into(),
        description: Some("Toner low".into()),
        location: None,
    }];
    let report = DeviceReport::Delta {
        identity: day1.identity().unwrap(),
        base: delta::digest(&day1).unwrap(),
        delta: delta::diff(&day1, &day2).unwrap(),
    };
    let r = app.deliver(&key, id, 2, &submission(vec![report])).await;
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    assert!(r.receipt().resync.is_empty());
    // Reordered: an older sequence number is refused.
    let r = app
        .deliver(&key, id, 1, &submission(vec![full(&day1)]))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.receipt().status, ReceiptStatus::Stale { last_applied: 2 });
    let hb = AgentMessage::Heartbeat(Heartbeat {
        agent_version: "0.2.0".into(),
        os: "windows".into(),
        hostname: None,
        sent_at: "2025-03-02T00:00:00Z".into(),
        ..Default::default()
    });
    assert_eq!(
        app.deliver(&key, id, 3, &hb).await.receipt().status,
        ReceiptStatus::Applied
    );

    let t = Some(app.admin_token.as_str());
    let list = app.call(Method::GET, "/api/v1/devices", t, None).await;
    let devices = list.json()["devices"].as_array().unwrap().clone();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["target"], "10.1.1.77");
    let dev = devices[0]["id"].as_i64().unwrap();
    let detail = app
        .call(Method::GET, &format!("/api/v1/devices/{dev}"), t, None)
        .await;
    assert_eq!(detail.json()["snapshot"]["meters"][0]["value"], 1250);
    let meters = app
        .call(
            Method::GET,
            &format!("/api/v1/devices/{dev}/meters"),
            t,
            None,
        )
        .await;
    assert_eq!(meters.json()["readings"].as_array().unwrap().len(), 2);
    let csv = app
        .call(
            Method::GET,
            &format!("/api/v1/devices/{dev}/meters?format=csv"),
            t,
            None,
        )
        .await;
    assert!(
        csv.text().starts_with("device_id,meter,value,at,reset\r\n"),
        "{}",
        csv.text()
    );
    let alerts = app
        .call(
            Method::GET,
            &format!("/api/v1/devices/{dev}/alerts?open=true"),
            t,
            None,
        )
        .await;
    assert_eq!(alerts.json()["alerts"][0]["code"], "toner_low");
    let volume = app
        .call(
            Method::GET,
            "/api/v1/reports/page-volume?month=2025-03",
            t,
            None,
        )
        .await;
    assert_eq!(
        volume.json()["devices"][0]["pages"],
        250,
        "{}",
        volume.text()
    );
    let by_customer = app
        .call(
            Method::GET,
            "/api/v1/reports/page-volume?month=2025-03&by=customer&format=csv",
            t,
            None,
        )
        .await;
    assert!(
        by_customer.text().contains("2025-03,2,Acme,1,250"),
        "{}",
        by_customer.text()
    );
    let agent = app
        .call(Method::GET, &format!("/api/v1/agents/{id}"), t, None)
        .await;
    assert_eq!(agent.json()["os"], "windows");
    // Heartbeats count apart from submissions.
    assert_eq!(agent.json()["last_seq"], 2);
    assert_eq!(agent.json()["last_heartbeat_seq"], 3);
    let audit = app.call(Method::GET, "/api/v1/audit", t, None).await;
    let actions: Vec<_> = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in ["tenant.create", "agent.create", "agent.activate"] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

async fn pins_are_single_use_and_survive_guessing(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let code = app.new_agent(&app.admin_token, customer, "a").await;
    assert!(app.activate(&code).await.is_ok());
    let reused = app.activate(&code).await.expect_err("single use");
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);

    // Five addresses guess five times each (agent ids are sequential):
    // the PIN survives, and its owner activates from a sixth.
    let code = app.new_agent(&app.admin_token, customer, "b").await;
    let mut wrong = code.clone();
    wrong.pin = printwatch_protocol::activation::Pin::generate(&mut rand::rngs::OsRng);
    let mut last = None;
    for guesser in 1..=5 {
        for _ in 0..5 {
            let peer = format!("198.51.100.{guesser}:4000");
            let r = app
                .activate_from(Some(&peer), &wrong)
                .await
                .expect_err("wrong PIN");
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
            last = Some(r);
        }
    }
    // An unknown agent looks the same as a wrong PIN.
    let mut unknown = code.clone();
    unknown.agent_id = AgentId(9999);
    let r = app
        .activate_from(Some("198.51.100.9:4000"), &unknown)
        .await
        .expect_err("unknown");
    let last = last.expect("a refusal");
    assert_eq!((r.status, r.body), (last.status, last.body));
    // The limit is on the guessers: ten failures and an address must wait,
    // even with the right PIN.
    for _ in 0..5 {
        let _ = app.activate_from(Some("198.51.100.1:4000"), &wrong).await;
    }
    let waits = app
        .activate_from(Some("198.51.100.1:4000"), &code)
        .await
        .expect_err("limited");
    assert_eq!(waits.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        app.activate_from(Some("203.0.113.7:4000"), &code)
            .await
            .is_ok()
    );
}

async fn hostile_submissions_get_4xx_and_store_nothing(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let (id, key) = active_agent(app, customer).await;
    let (other_id, other_key) = active_agent(app, customer).await;
    let msg = submission(vec![full(&snapshot("CN1", "10.0.0.1", 1, 5))]);
    let good = seal(
        &key,
        Direction::AgentToServer,
        id,
        1,
        &msg,
        &mut rand::rngs::OsRng,
    )
    .unwrap();

    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("empty", vec![], StatusCode::BAD_REQUEST),
        (
            "json instead of an envelope",
            br#"{"type":"submission","reports":[]}"#.repeat(3),
            StatusCode::BAD_REQUEST,
        ),
        (
            "oversized",
            vec![0u8; 9 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            "tampered",
            {
                let mut b = good.clone();
                let n = b.len();
                b[n - 20] ^= 1;
                b
            },
            StatusCode::UNAUTHORIZED,
        ),
        (
            "another agent's id",
            {
                let mut b = good.clone();
                b[4..12].copy_from_slice(&other_id.0.to_be_bytes());
                b
            },
            StatusCode::UNAUTHORIZED,
        ),
        (
            "unknown agent",
            {
                let mut b = good.clone();
                b[4..12].copy_from_slice(&777i64.to_be_bytes());
                b
            },
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong key",
            seal(
                &other_key,
                Direction::AgentToServer,
                id,
                1,
                &msg,
                &mut rand::rngs::OsRng,
            )
            .unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "server direction",
            seal(
                &key,
                Direction::ServerToAgent,
                id,
                1,
                &msg,
                &mut rand::rngs::OsRng,
            )
            .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not a message inside",
            seal(
                &key,
                Direction::AgentToServer,
                id,
                1,
                &json!({"type": "drop_tables"}),
                &mut rand::rngs::OsRng,
            )
            .unwrap(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (name, body, expected) in cases {
        let r = app.submit_bytes(body).await;
        assert_eq!(r.status, expected, "{name}: {}", r.text());
        assert!(
            !r.text().contains("sqlx"),
            "{name}: no internals in {}",
            r.text()
        );
    }
    assert_eq!(device_count(app).await, 0);

    // Revoked: the key is gone, nothing is stored.
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/agents/{id}/revoke"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.submit_bytes(good).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(device_count(app).await, 0);

    // Expired: authentic, but refused.
    let r = app
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&app.admin_token),
            Some(
                json!({"tenant_id": customer, "name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
            ),
        )
        .await;
    let code: printwatch_protocol::activation::ActivationCode = r.json()["activation_code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Expired before it was activated: refused (submissions of an agent
    // that expires later: tests/agent_hostile.rs).
    let Err(refused) = app.activate(&code).await else {
        panic!("activated");
    };
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(device_count(app).await, 0);
}

async fn hostile_api_input_gets_4xx(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let customer = app.customer("Acme").await;
    for (method, path, body, ok) in [
        (Method::POST, "/api/v1/tenants", "{\"name\": ", false),
        (Method::POST, "/api/v1/tenants", "[]", false),
        (
            Method::POST,
            "/api/v1/tenants",
            "{\"name\": \"x\", \"admin\": true}",
            false,
        ),
        (
            Method::POST,
            "/api/v1/agents",
            "{\"tenant_id\": \"1 OR 1=1\", \"name\": \"x\"}",
            false,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"tenant_id\": 1, \"email\": \"a@b\", \"password\": \"short\", \"role\": \"admin\"}",
            false,
        ),
        (
            Method::POST,
            "/api/v1/users",
            "{\"tenant_id\": 1, \"email\": \"a@b\", \"password\": \"long enough password\", \"role\": \"root\"}",
            false,
        ),
    ] {
        let r = app
            .raw(
                method,
                path,
                t,
                "application/json",
                body.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(
            r.status.is_client_error(),
            !ok,
            "{path} {body}: {} {}",
            r.status,
            r.text()
        );
    }
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    let r = app
        .raw(
            Method::POST,
            "/api/v1/tenants",
            t,
            "application/json",
            big.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    for path in [
        "/api/v1/devices?after=1;DROP%20TABLE%20devices",
        "/api/v1/devices?limit=0",
        "/api/v1/devices?limit=100000",
        "/api/v1/devices?format=xml",
        "/api/v1/devices/1%20OR%201=1",
        "/api/v1/devices/1/meters?from=yesterday",
        "/api/v1/reports/page-volume?month=2025-03'--",
        "/api/v1/reports/page-volume",
    ] {
        let r = app.call(Method::GET, path, t, None).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
    }
    for token in [None, Some("pwt_forged"), Some("' OR 1=1 --")] {
        let r = app.call(Method::GET, "/api/v1/devices", token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    // SQL metacharacters are data.
    let evil = "Robert'); DROP TABLE tenants;--";
    let r = app
        .call(
            Method::POST,
            "/api/v1/sites",
            t,
            Some(json!({"tenant_id": customer, "name": evil})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["name"], evil);
    assert_eq!(app.db.store.tenants(TenantId(1)).await.unwrap().len(), 2);
}

/// Every refusal reads the same way, whoever makes it: a JSON
/// `{"error": "invalid request: …"}` that names the field, never the
/// framework's plain text; a failed login says what failed.
async fn refusals_speak_the_apis_words(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    for (body, content_type, names) in [
        ("{\"name\": ", "application/json", "not valid JSON"),
        ("{}", "application/json", "missing field `name`"),
        ("{\"name\": 5}", "application/json", "invalid type"),
        (
            "{\"name\": \"x\"}",
            "text/plain",
            "Content-Type: application/json",
        ),
    ] {
        let r = app
            .raw(
                Method::POST,
                "/api/v1/tenants",
                t,
                content_type,
                body.as_bytes().to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(
            error.starts_with("invalid request: ") && error.contains(names),
            "{body}: {error}"
        );
        assert!(!error.contains("Failed to deserialize"), "{error}");
    }
    for path in ["/api/v1/devices?limit=many", "/api/v1/reports/page-volume"] {
        let r = app.call(Method::GET, path, t, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
        let error = r.json()["error"].as_str().unwrap_or_default().to_owned();
        assert!(error.starts_with("invalid request: "), "{path}: {error}");
    }
    let r = app.call(Method::GET, "/api/v1/devices/abc", t, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(r.json()["error"].is_string());
    // A failed login says that the e-mail or the password is wrong, not
    // that authentication is needed.
    let r = app
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"email": "nobody@example.com", "password": "wrong password"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "wrong e-mail or password");
    // A new agent's answer shows when its activation code expires, as a
    // later GET does.
    let customer = app.customer("Acme").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/agents",
            t,
            Some(json!({"tenant_id": customer, "name": "front desk"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created = r.json();
    let id = created["agent"]["id"].as_i64().unwrap_or_default();
    let later = app
        .call(Method::GET, &format!("/api/v1/agents/{id}"), t, None)
        .await
        .json();
    assert!(
        created["agent"]["pin_expires_at"].as_i64() > Some(0),
        "{created}"
    );
    assert_eq!(created["agent"]["pin_expires_at"], later["pin_expires_at"]);
}

async fn exports_neutralise_spreadsheet_formulas(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let (id, key) = active_agent(app, customer).await;
    let mut s = snapshot("CN1", "10.0.0.1", 1, 5);
    s.model = Some("=HYPERLINK(\"http://evil\",\"x\")".into());
    assert_eq!(
        app.submit(&key, id, 1, &submission(vec![full(&s)]))
            .await
            .status,
        StatusCode::OK
    );
    let csv = app
        .call(
            Method::GET,
            "/api/v1/devices?format=csv",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert!(csv.text().contains("\"'=HYPERLINK("), "{}", csv.text());
}

async fn the_openapi_document_lists_every_endpoint(app: &TestApp) {
    let doc = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    for e in printwatch_server::http::endpoints() {
        let op = &doc["paths"][e.path][e.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} missing", e.method, e.path);
    }
}

async fn totp_codes_are_needed_once_enabled_and_never_accepted_twice(app: &TestApp) {
    let login = |totp: Option<String>| {
        let mut body = json!({"email": "admin@localhost", "password": ADMIN_PASSWORD});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        app.call(Method::POST, "/api/v1/login", None, Some(body))
    };
    let (cookie, csrf) = app.session_login("admin@localhost", ADMIN_PASSWORD).await;
    let s = (cookie.as_str(), csrf.as_str());
    let no_enrolment = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_eq!(no_enrolment.status, StatusCode::BAD_REQUEST);
    // A token cannot enrol, nor a session without the password.
    let by_token = app
        .call(
            Method::POST,
            "/api/v1/me/totp",
            Some(&app.admin_token),
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(
        by_token.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_token.text()
    );
    let no_password = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            s,
            Some(json!({"password": "not the password"})),
        )
        .await;
    assert_eq!(no_password.status, StatusCode::BAD_REQUEST);
    let enrol = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            s,
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text());
    let url = enrol.json()["otpauth_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("otpauth://totp/printwatch:admin@localhost?secret="));
    let secret = base32_decode(enrol.json()["secret"].as_str().unwrap());
    // Pending: logging in still needs no code.
    assert_eq!(login(None).await.status, StatusCode::OK);
    let now = printwatch_server::now() as u64;
    let wrong = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let code = printwatch_server::totp::code_at(&secret, now).unwrap();
    let ok = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text());
    let needed = login(None).await;
    assert_eq!(needed.status, StatusCode::UNAUTHORIZED);
    assert!(needed.text().contains("two-factor"), "{}", needed.text());
    assert_eq!(
        login(Some(code.clone())).await.status,
        StatusCode::UNAUTHORIZED,
        "replayed"
    );
    let next = printwatch_server::totp::code_at(&secret, now + 30).unwrap();
    assert_eq!(login(Some(next.clone())).await.status, StatusCode::OK);
    assert_eq!(
        login(Some(next)).await.status,
        StatusCode::UNAUTHORIZED,
        "replayed"
    );
    // Replacing it needs the password and a current code too.
    let replace = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            s,
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(replace.status, StatusCode::BAD_REQUEST);
    // (With a code: the next step is used already, see above; the rule
    // is the one login keeps, checked by the tests of login.)
}

fn base32_decode(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, vec![]);
    for c in text.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    out
}

async fn creating_a_user_does_not_tell_which_addresses_other_tenants_use(app: &TestApp) {
    let a = app.customer("Acme").await;
    let b = app.customer("Bravo").await;
    let create = |token: String, tenant: i64, email: &'static str| async move {
        app.call(
            Method::POST,
            "/api/v1/users",
            Some(&token),
            Some(json!({"tenant_id": tenant, "email": email,
                        "password": "a long enough password", "role": "admin"})),
        )
        .await
    };
    let admin = app.admin_token.clone();
    assert_eq!(
        create(admin.clone(), b, "taken@bravo.example").await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        create(admin, a, "boss@acme.example").await.status,
        StatusCode::CREATED
    );
    let acme = app
        .login("boss@acme.example", "a long enough password")
        .await;
    let elsewhere = create(acme.clone(), a, "taken@bravo.example").await;
    let own = create(acme.clone(), a, "boss@acme.example").await;
    let malformed = create(acme, a, "not an address").await;
    assert_eq!(
        elsewhere.status,
        StatusCode::CONFLICT,
        "{}",
        elsewhere.text()
    );
    assert_eq!(
        (elsewhere.status, &elsewhere.body),
        (own.status, &own.body),
        "{} / {}",
        elsewhere.text(),
        own.text()
    );
    assert!(!elsewhere.text().to_lowercase().contains("bravo"));
    // A malformed address is no secret: it is told as such (400), not as
    // a conflict.
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.text()
    );
    assert!(
        malformed.text().contains("name@domain"),
        "{}",
        malformed.text()
    );
}

/// A lost administrator password is reset from the server's machine: the
/// old password and every token of the user end, the new one (or a
/// generated one) logs in, a lost second factor can go with it, and the
/// audit log says the console did it.
async fn the_console_resets_a_lost_password(app: &TestApp) {
    use printwatch_server::console::{CONSOLE_ACTOR, reset_password};
    let config = printwatch_server::serve::ServeConfig {
        data_dir: std::env::temp_dir().join("printwatch-no-such-dir"),
        database_url: Some(app.db.url.clone()),
    };
    // Enrol a second factor, then lose everything.
    let (cookie, csrf) = app.session_login("admin@localhost", ADMIN_PASSWORD).await;
    let s = (cookie.as_str(), csrf.as_str());
    let enrol = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            s,
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    let secret = base32_decode(enrol.json()["secret"].as_str().unwrap());
    let code = printwatch_server::totp::code_at(&secret, printwatch_server::now() as u64).unwrap();
    let confirmed = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::NO_CONTENT);

    let unknown = reset_password(&config, "nobody@example.com", None, false).await;
    assert!(format!("{:?}", unknown.unwrap_err()).contains("no user"));
    let short = reset_password(&config, "admin@localhost", Some("short".into()), false).await;
    assert!(format!("{:?}", short.unwrap_err()).contains("at least"));
    let mut nowhere = config.clone();
    nowhere.database_url = None;
    let missing = reset_password(&nowhere, "admin@localhost", None, false).await;
    assert!(format!("{:?}", missing.unwrap_err()).contains("no printwatch server data"));

    let new_password = "a brand new password";
    let reset = reset_password(
        &config,
        " Admin@Localhost ",
        Some(new_password.into()),
        true,
    )
    .await
    .unwrap();
    assert_eq!(reset.email, "admin@localhost");
    assert!(reset.generated_password.is_none() && reset.second_factor_removed);
    let old_token = app
        .call(Method::GET, "/api/v1/devices", Some(&app.admin_token), None)
        .await;
    assert_eq!(old_token.status, StatusCode::UNAUTHORIZED);
    let old = app
        .call(
            Method::POST,
            "/api/v1/login",
            None,
            Some(json!({"email": "admin@localhost", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.text());
    // No second factor asked any more: it was removed with the password.
    let token = app.login("admin@localhost", new_password).await;
    let audit = app
        .call(Method::GET, "/api/v1/audit", Some(&token), None)
        .await;
    let by_console: Vec<_> = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == CONSOLE_ACTOR)
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        by_console.contains(&"user.password_reset".to_string()),
        "{by_console:?}"
    );
    assert!(
        by_console.contains(&"user.totp_reset".to_string()),
        "{by_console:?}"
    );
    // Without a password given, one is generated and shown once.
    let generated = reset_password(&config, "admin@localhost", None, false)
        .await
        .unwrap()
        .generated_password
        .unwrap();
    assert!(generated.len() >= 12);
    app.login("admin@localhost", &generated).await;
}

/// The per-account login limit is in the database: failures on several
/// servers add up, unknown e-mails are limited alike, and a success resets.
async fn account_lockout_holds_across_servers(app: &TestApp) {
    // The default, scaled down (each failure costs an argon2 hash).
    let default = printwatch_server::http::ACCOUNT_LOGIN_LIMIT;
    assert!(default.max_failures >= 20 && default.lockout_secs >= 600);
    let policy = printwatch_server::store::LoginPolicy {
        max_failures: 12,
        ..default
    };
    let max = policy.max_failures;
    // Fewer failures per server than its in-memory limit of 10.
    let per_server = 4;
    let fail_on_servers = async |email: &str, failures: i64| {
        let mut left = failures;
        while left > 0 {
            let server = app.another_server(policy);
            for _ in 0..left.min(per_server) {
                let status = app.login_on(&server, email, "a wrong guess").await;
                assert_eq!(status, StatusCode::UNAUTHORIZED);
            }
            left -= per_server;
        }
    };
    // A success forgets the failures so far.
    fail_on_servers("admin@localhost", max - 5).await;
    let server = app.another_server(policy);
    assert_eq!(
        app.login_on(&server, "admin@localhost", ADMIN_PASSWORD)
            .await,
        StatusCode::OK
    );
    fail_on_servers("admin@localhost", max - 5).await;
    let server = app.another_server(policy);
    assert_eq!(
        app.login_on(&server, "admin@localhost", ADMIN_PASSWORD)
            .await,
        StatusCode::OK
    );
    // The maximum, spread over servers: the account is under attack
    // everywhere. It is no lock the attacker can use on its owner: a server
    // (here: a client address) without failures on it still lets the
    // right password in, and any wrong guess there answers 429 like the
    // refusals, telling nothing.
    fail_on_servers("admin@localhost", max).await;
    let fresh = app.another_server(policy);
    assert_eq!(
        app.login_on(&fresh, "admin@localhost", "still guessing")
            .await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let fresh = app.another_server(policy);
    assert_eq!(
        app.login_on(&fresh, "admin@localhost", ADMIN_PASSWORD)
            .await,
        StatusCode::OK
    );
    // Where the guesses came from, even the right password waits.
    let guesser = app.another_server(policy);
    fail_on_servers("nobody@nowhere.example", max).await;
    assert_eq!(
        app.login_on(&guesser, "nobody@nowhere.example", "x").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other accounts are not affected.
    let c = app.customer("Acme").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(json!({"tenant_id": c, "email": "ok@acme.example",
                        "password": "a long enough password", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(
        app.login_on(&fresh, "ok@acme.example", "a long enough password")
            .await,
        StatusCode::OK
    );
}

/// User and token creation write their audit entry in their own
/// transaction: when the entry cannot be written, nothing was created.
async fn audit_entries_commit_with_their_action(app: &TestApp) {
    use printwatch_server::model::{NewAudit, NewUser, Role};
    use printwatch_server::store::{AgentStore, CredentialStore, UserStore};
    let store = &app.db.store;
    let provider = store.provider().await.unwrap().unwrap().id;
    // An entry for a tenant that does not exist breaks a foreign key.
    let broken = |n: &str| NewAudit {
        tenant_id: TenantId(987_654),
        actor: "test".into(),
        action: n.into(),
        target: String::new(),
        detail: String::new(),
        at: 0,
    };
    let new_user = NewUser {
        tenant_id: provider,
        email: "audited@example.com".into(),
        password_hash: "x".into(),
        role: Role::Viewer,
    };
    let refused = store
        .create_user_audited(
            new_user.clone(),
            1,
            Box::new(move |_: &printwatch_server::model::User| broken("user.create")),
        )
        .await;
    assert!(refused.is_err());
    assert!(
        store
            .user_by_email("audited@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let (admin, _) = store
        .user_by_email("admin@localhost")
        .await
        .unwrap()
        .unwrap();
    let before = store.tokens_of(provider, admin.id).await.unwrap().len();
    let refused = store
        .create_token_audited(
            &admin,
            "t",
            Role::Viewer,
            "hash-of-nothing",
            None,
            1,
            Box::new(move |_: &printwatch_server::model::ApiToken| broken("token.create")),
        )
        .await;
    assert!(refused.is_err());
    assert_eq!(
        store.tokens_of(provider, admin.id).await.unwrap().len(),
        before
    );
    // Changes of users, tokens and agents: a failed entry undoes them.
    let customer = app.customer("Audited").await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(
                json!({"tenant_id": customer, "email": "victim@audited.example",
                        "password": "a long enough password", "role": "viewer"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let (victim, hash) = store
        .user_by_email("victim@audited.example")
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .set_user_disabled_audited(provider, victim.id, true, broken("user.disable"))
            .await
            .is_ok_and(|done| done)
    );
    assert!(
        !store
            .user(provider, victim.id)
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        store
            .set_password_audited(victim.id, "another hash", false, broken("user.password"))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .user_by_email("victim@audited.example")
            .await
            .unwrap()
            .unwrap()
            .1,
        hash
    );
    let token = store
        .create_token(&victim, "kept", Role::Viewer, "kept-hash", None, 1)
        .await
        .unwrap();
    assert!(
        store
            .delete_token_audited(provider, token.id, broken("token.revoke"))
            .await
            .is_err()
    );
    assert!(store.token(provider, token.id).await.unwrap().is_some());
    let code = app.new_agent(&app.admin_token, customer, "audited").await;
    let agent = code.agent_id;
    let agent = printwatch_server::ids::AgentId(agent.0);
    assert!(
        store
            .revoke_agent_audited(provider, agent, broken("agent.revoke"))
            .await
            .is_err()
    );
    assert!(
        store
            .set_pin_audited(provider, agent, &[0; 32], 1, broken("agent.new_pin"))
            .await
            .is_err()
    );
    let (still, secrets) = store.agent_with_secrets(agent).await.unwrap().unwrap();
    assert_eq!(still.state, printwatch_server::model::AgentState::Pending);
    assert!(secrets.pin_verifier.is_some_and(|v| v != [0; 32]));
    // The PIN issued with the agent still activates it.
    assert!(app.activate(&code).await.is_ok());

    // Through the API both are created, each with its entry.
    let r = app
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&app.admin_token),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json()["record"]["id"].as_i64().unwrap();
    let log = store.audit_log(provider, 100).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "token.create" && e.target == format!("token {id}"))
    );
}

fn toner(percent: f64) -> Supply {
    Supply {
        description: "Black Toner".into(),
        kind: "toner".into(),
        color: Some("black".into()),
        level: Some(percent as i64),
        max: Some(100),
        percent: Some(percent),
        state: "ok".into(),
        unit: Some("percent".into()),
        part_number: None,
        serial: None,
        oid: None,
    }
}

/// Fleet exports: meter readings of a period and supplies (all readings or
/// the latest), JSON and CSV, in keyset pages, scoped like the device list.
async fn fleet_exports_of_meters_and_supplies(app: &TestApp) {
    let admin = Some(app.admin_token.as_str());
    let acme = app.customer("Acme").await;
    let other = app.customer("Other").await;
    let (id, key) = active_agent(app, acme).await;
    for (seq, (day, total, percent)) in [(1, 5, 90.0), (2, 15, 80.0), (3, 30, 70.0)]
        .into_iter()
        .enumerate()
    {
        let mut s = snapshot("CN1", "10.0.0.1", day, total);
        s.supplies = vec![toner(percent)];
        let r = app
            .submit(&key, id, seq as u64 + 1, &submission(vec![full(&s)]))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let (oid, okey) = active_agent(app, other).await;
    let mut s = snapshot("OTHER1", "10.0.0.2", 2, 1000);
    s.supplies = vec![toner(10.0)];
    assert_eq!(
        app.submit(&okey, oid, 1, &submission(vec![full(&s)]))
            .await
            .status,
        StatusCode::OK
    );
    let get = |path: String, token: Option<String>| async move {
        app.call(Method::GET, &path, token.as_deref(), None).await
    };
    let admin = admin.map(str::to_owned);

    // A period: the provider sees day 2 of both customers.
    let day2 = "from=2025-03-02T00:00:00Z&to=2025-03-03T00:00:00Z";
    let r = get(format!("/api/v1/meters?{day2}"), admin.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let rows = r.json()["readings"].as_array().cloned().unwrap();
    let totals: Vec<(String, i64)> = rows
        .iter()
        .filter(|r| r["name"] == "total")
        .map(|r| {
            (
                r["serial"].as_str().unwrap().to_string(),
                r["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![("CN1".to_string(), 15), ("OTHER1".to_string(), 1000)]
    );

    // CSV, in pages of one row: the next page's keyset in a header.
    let r = get(
        format!("/api/v1/meters?{day2}&format=csv&limit=1"),
        admin.clone(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("device_id,tenant_id,identity,model,serial,meter,value,at,reset")
    );
    assert_eq!(lines.count(), 1, "{text}");
    let r = get(format!("/api/v1/meters?{day2}&limit=1"), admin.clone()).await;
    let next = r.json()["next_after"].as_i64().expect("a next page");
    let r = get(
        format!("/api/v1/meters?{day2}&limit=1000&after={next}"),
        admin.clone(),
    )
    .await;
    assert_eq!(
        r.json()["readings"].as_array().unwrap().len() + 1,
        rows.len()
    );

    // Supplies: every reading, or the latest of each supply.
    let r = get("/api/v1/supplies?latest=true".into(), admin.clone()).await;
    let latest: Vec<(String, f64)> = r.json()["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["serial"].as_str().unwrap().to_string(),
                r["percent"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        latest,
        vec![("CN1".to_string(), 70.0), ("OTHER1".to_string(), 10.0)]
    );
    let r = get("/api/v1/supplies?format=csv".into(), admin.clone()).await;
    assert!(
        r.text().starts_with(
            "device_id,tenant_id,identity,model,serial,description,kind,color,percent,state,at\r\n"
        ),
        "{}",
        r.text()
    );
    assert!(r.text().contains("Black Toner"));

    // Scoped like the device list: a customer's admin sees its own only,
    // a viewer only the groups granted to it.
    let mut tokens = vec![];
    for role in ["admin", "viewer"] {
        let email = format!("{role}@acme.example");
        let r = app
            .call(
                Method::POST,
                "/api/v1/users",
                admin.as_deref(),
                Some(json!({"tenant_id": acme, "email": email,
                            "password": "a long enough password", "role": role})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        tokens.push(app.login(&email, "a long enough password").await);
    }
    for path in ["/api/v1/meters", "/api/v1/supplies"] {
        let r = get(path.into(), Some(tokens[0].clone())).await;
        let text = r.text();
        assert!(text.contains("CN1") && !text.contains("OTHER1"), "{text}");
        let r = get(format!("{path}?format=csv"), Some(tokens[1].clone())).await;
        assert_eq!(r.text().lines().count(), 1, "{}", r.text());
    }
    for bad in [
        "/api/v1/meters?from=yesterday",
        "/api/v1/meters?limit=0",
        "/api/v1/supplies?limit=100001",
        "/api/v1/supplies?format=xml",
        "/api/v1/meters?after=1%20OR%201=1",
    ] {
        let r = get(bad.into(), admin.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
}

async fn heartbeats_show_in_the_agent_list_and_carry_the_pushed_configuration(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let (id, key) = active_agent(app, customer).await;
    let t = Some(app.admin_token.as_str());
    let agent_path = format!("/api/v1/agents/{id}");
    let show = || app.call(Method::GET, &agent_path, t, None);
    let r = show().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        (r.json()["status"].as_str(), r.json()["online"].as_bool()),
        (Some("online"), Some(true))
    );
    assert_eq!(r.json()["last_heartbeat_at"], serde_json::Value::Null);

    let now = printwatch_server::now();
    let hb = |config_version: u64| {
        AgentMessage::Heartbeat(Heartbeat {
            agent_version: "0.4.0".into(),
            os: "linux".into(),
            hostname: Some("printroom".into()),
            sent_at: printwatch_server::ingest::format_time(now - 30),
            heartbeat_every_secs: 60,
            uptime_secs: 3600,
            spool_records: 4,
            spool_bytes: 4096,
            devices: 12,
            config_version,
            ..Default::default()
        })
    };
    let r = app.deliver(&key, id, 1, &hb(0)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    let receipt = r.receipt();
    assert_eq!(receipt.status, ReceiptStatus::Applied);
    assert_eq!(receipt.config, None, "nothing pushed yet");
    let server_time = printwatch_server::ingest::parse_time(&receipt.server_time).unwrap();
    assert!((server_time - printwatch_server::now()).abs() <= 2);
    let r = show().await;
    let a = r.json();
    assert_eq!(
        (a["agent_version"].as_str(), a["hostname"].as_str()),
        (Some("0.4.0"), Some("printroom"))
    );
    assert_eq!(
        (a["uptime_secs"].as_i64(), a["devices"].as_i64()),
        (Some(3600), Some(12))
    );
    assert_eq!(
        (a["spool_records"].as_i64(), a["spool_bytes"].as_i64()),
        (Some(4), Some(4096))
    );
    assert_eq!(
        (
            a["heartbeat_every_secs"].as_i64(),
            a["config_in_force"].as_i64()
        ),
        (Some(60), Some(0))
    );
    let clock = a["clock_error_secs"].as_i64().unwrap();
    assert!((30..=35).contains(&clock), "{clock}");
    assert_eq!(a["status"], "online");
    let list = app.call(Method::GET, "/api/v1/agents", t, None).await;
    let listed = list
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id.0)
        .cloned()
        .unwrap();
    assert_eq!(
        (listed["status"].as_str(), listed["devices"].as_i64()),
        (Some("online"), Some(12))
    );

    // Pushing a configuration: checked, versioned, its secrets never answered.
    let config_path = format!("/api/v1/agents/{id}/config");
    let put = |body: serde_json::Value| app.call(Method::PUT, &config_path, t, Some(body));
    let r = app.call(Method::GET, &config_path, t, None).await;
    assert_eq!(
        (r.status, r.json()["version"].as_i64()),
        (StatusCode::OK, Some(0))
    );
    for (bad, why) in [
        (json!({"uplink": {"proxy": "http://evil:3128"}}), "uplink"),
        (
            json!({"collect": {"every": "15 fortnights"}}),
            "collect.every",
        ),
        (json!({"heartbeat": {"every": "0s"}}), "heartbeat.every"),
        (
            json!({"credentials": [{"community": "********"}]}),
            "credentials[1].community",
        ),
        (json!({"uplink": [null, null]}), "uplink must be a table"),
        (json!({"scan": ["10.0.0.0/8"]}), "scan must be a table"),
        (
            json!({"credentials": [["2c", "public"]]}),
            "credentials must be an array",
        ),
        (json!([]), "JSON object"),
    ] {
        let r = put(bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
        assert!(r.text().contains(why), "{bad}: {}", r.text());
    }
    let r = put(json!({"scan": {"rangez": []}})).await;
    assert!(r.status.is_client_error(), "{}", r.text());
    let config = json!({
        "scan": {"ranges": ["10.2.0.0/24"], "every": "12h"},
        "collect": {"every": "5m"},
        "credentials": [
            {"snmp-version": "2c", "community": "s3cret-community"},
            {"snmp-version": "3", "user": "mon", "auth-protocol": "sha", "auth-password": "s3cret-auth",
             "priv-protocol": "aes", "priv-password": "s3cret-priv"}
        ]
    });
    let r = put(config.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json()["version"], 1);
    assert!(!r.text().contains("s3cret"), "{}", r.text());
    let r = put(config.clone()).await;
    assert_eq!(r.json()["version"], 2);
    let r = app.call(Method::GET, &config_path, t, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(!r.text().contains("s3cret"), "{}", r.text());
    assert_eq!(r.json()["version"], 2);
    assert_eq!(
        r.json()["config"]["credentials"][0]["community"],
        "********"
    );
    assert_eq!(r.json()["config"]["credentials"][1]["user"], "mon");
    assert_eq!(r.json()["config"]["collect"]["every"], "5m");
    // Sealed at rest.
    let (_, secrets) = app.db.store.agent_with_secrets(id).await.unwrap().unwrap();
    let sealed = secrets.config_sealed.unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
    assert!(!sealed.windows(5).any(|w| w == b"12h\"\"" || w == b"10.2."));

    // The next heartbeat's receipt carries it, with its secrets.
    let r = app.deliver(&key, id, 2, &hb(0)).await;
    let pushed = r
        .receipt()
        .config
        .clone()
        .expect("the pushed configuration");
    assert_eq!(pushed.version, 2);
    let expected: printwatch_protocol::config::AgentConfig =
        serde_json::from_value(config).unwrap();
    assert_eq!(pushed.config, expected);
    // Once in force, no more.
    let r = app.deliver(&key, id, 3, &hb(2)).await;
    assert_eq!(r.receipt().status, ReceiptStatus::Applied);
    assert_eq!(r.receipt().config, None);
    assert_eq!(show().await.json()["config_in_force"], 2);
    assert_eq!(show().await.json()["config_version"], 2);
    // A submission's receipt never carries it.
    let r = app
        .deliver(
            &key,
            id,
            1,
            &submission(vec![full(&snapshot("CN9", "10.2.0.9", 1, 10))]),
        )
        .await;
    assert_eq!(
        (r.receipt().status, r.receipt().config.clone()),
        (ReceiptStatus::Applied, None)
    );
    let audit = app.call(Method::GET, "/api/v1/audit", t, None).await;
    let configured = audit
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "agent.configure")
        .count();
    assert_eq!(configured, 2);

    // Silent for three of its intervals (60 s): offline.
    let silent = printwatch_server::model::HeartbeatRecord::new(
        &Heartbeat {
            heartbeat_every_secs: 60,
            ..Default::default()
        },
        now - 180,
    );
    use printwatch_server::store::AgentStore;
    assert!(
        app.db
            .store
            .heartbeat(id, 10, &silent, now - 180)
            .await
            .unwrap()
    );
    let a = show().await.json();
    assert_eq!(
        (a["status"].as_str(), a["online"].as_bool()),
        (Some("offline"), Some(false))
    );
    // Revoked: shown as such, and takes no configuration.
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/agents/{id}/revoke"),
            t,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(show().await.json()["status"], "revoked");
    assert_eq!(put(json!({})).await.status, StatusCode::CONFLICT);
    // A pending agent.
    let code = app.new_agent(&app.admin_token, customer, "annex").await;
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/agents/{}", code.agent_id),
            t,
            None,
        )
        .await;
    assert_eq!(
        (r.json()["status"].as_str(), r.json()["online"].as_bool()),
        (Some("pending"), Some(false))
    );
}

crate::app_on_both!(
    heartbeats_show_in_the_agent_list_and_carry_the_pushed_configuration,
    first_start_creates_the_provider_and_its_administrator_once,
    logins_are_rate_limited,
    an_agent_activates_submits_and_every_submission_applies_once,
    pins_are_single_use_and_survive_guessing,
    hostile_submissions_get_4xx_and_store_nothing,
    hostile_api_input_gets_4xx,
    refusals_speak_the_apis_words,
    exports_neutralise_spreadsheet_formulas,
    the_openapi_document_lists_every_endpoint,
    totp_codes_are_needed_once_enabled_and_never_accepted_twice,
    creating_a_user_does_not_tell_which_addresses_other_tenants_use,
    account_lockout_holds_across_servers,
    the_console_resets_a_lost_password,
    audit_entries_commit_with_their_action,
    fleet_exports_of_meters_and_supplies,
);
