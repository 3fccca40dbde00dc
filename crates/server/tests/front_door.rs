//! The server's front door (issue 10): what an attacker with network access,
//! or with one stolen credential, must not be able to do. Each test runs on
//! SQLite, and on PostgreSQL when `PRINTWATCH_TEST_POSTGRES` is set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::app::{ADMIN_PASSWORD, TestApp};
use printwatch_server::store::{LoginPolicy, TenantStore};
use serde_json::{Value, json};

const ADMIN: &str = "admin@localhost";

fn login_body(email: &str, password: &str) -> Option<Value> {
    Some(json!({"email": email, "password": password}))
}

async fn audit_failures(app: &TestApp) -> usize {
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    app.db
        .store
        .audit_log(provider, 100_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "login.failure")
        .count()
}

/// Over-long e-mails are refused at the door: no hash, no limiter key, no
/// audit row; and 1,500 failed logins from one client leave the limiter
/// and the audit log bounded.
async fn long_emails_and_login_floods_leave_memory_and_the_log_bounded(app: &TestApp) {
    let huge = format!("{}@x.example", "a".repeat(200_000));
    let r = app
        .call_from(
            "192.0.2.50:1",
            Method::POST,
            "/api/v1/login",
            None,
            login_body(&huge, "x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let long = format!("{}@x.example", "a".repeat(300));
    let r = app
        .call_from(
            "192.0.2.50:1",
            Method::POST,
            "/api/v1/login",
            None,
            login_body(&long, "x"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    let r = app
        .call_from(
            "192.0.2.50:1",
            Method::POST,
            "/api/v1/login",
            None,
            login_body(ADMIN, &"p".repeat(2000)),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert_eq!(audit_failures(app).await, 0);
    assert!(app.state.login_limiter.is_empty());

    let mut refused = 0;
    for i in 0..1_500 {
        let email = format!("{}-{i}@x.example", "b".repeat(200));
        let r = app
            .call_from(
                "192.0.2.51:1",
                Method::POST,
                "/api/v1/login",
                None,
                login_body(&email, "x"),
            )
            .await;
        match r.status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("{other}: {}", r.text()),
        }
    }
    let per_address = printwatch_server::http::MAX_FAILURES_PER_ADDRESS as usize;
    assert_eq!(refused, 1_500 - per_address);
    assert!(app.state.login_limiter.len() <= per_address);
    let audited = audit_failures(app).await;
    assert_eq!(
        audited,
        printwatch_server::http::MAX_AUDITED_FAILURES as usize
    );
}

/// Ten wrong passwords from each of five addresses put the administrator's
/// account under attack; its owner still logs in from elsewhere, and from
/// a guessing address with the second factor only.
async fn a_lockout_is_no_weapon_against_the_owner(app: &TestApp) {
    let policy = LoginPolicy {
        max_failures: 20,
        window_secs: 900,
        lockout_secs: 900,
    };
    let server = app.another_server(policy);
    let login = |peer: &'static str, password: &'static str| {
        let server = server.clone();
        async move {
            use tower::ServiceExt;
            let request = axum::http::Request::post("/api/v1/login")
                .header("content-type", "application/json")
                .extension(axum::extract::ConnectInfo(
                    peer.parse::<std::net::SocketAddr>().unwrap(),
                ))
                .body(axum::body::Body::from(
                    json!({"email": ADMIN, "password": password}).to_string(),
                ))
                .unwrap();
            server.oneshot(request).await.unwrap().status()
        }
    };
    let guessers = [
        "198.51.100.1:1",
        "198.51.100.2:1",
        "198.51.100.3:1",
        "198.51.100.4:1",
        "198.51.100.5:1",
    ];
    for peer in guessers {
        for _ in 0..10 {
            let status = login(peer, "a wrong guess").await;
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS].contains(&status),
                "{status}"
            );
        }
    }
    // The guessers are refused, even with the right password…
    assert_eq!(
        login(guessers[0], ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …a new address guessing gets 429 too (nothing to learn)…
    assert_eq!(
        login("198.51.100.9:1", "another guess").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // …and the owner, from its own address, logs in.
    assert_eq!(
        login("203.0.113.20:1", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
}

/// A full hashing pool answers 503 at once rather than queueing without end.
async fn a_full_hashing_pool_answers_503(app: &TestApp) {
    use printwatch_server::hashing::HashPool;
    let pool = HashPool::new(1, 0);
    let router = printwatch_server::http::router(app.state.clone().with_hasher(pool.clone()));
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let (started, running) = tokio::sync::oneshot::channel::<()>();
    let busy = tokio::spawn({
        let pool = pool.clone();
        async move {
            pool.run(move || {
                let _ = started.send(());
                wait.recv().ok();
            })
            .await
        }
    });
    running.await.unwrap();
    use tower::ServiceExt;
    let request = axum::http::Request::post("/api/v1/login")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"email": ADMIN, "password": ADMIN_PASSWORD}).to_string(),
        ))
        .unwrap();
    let answer = router.oneshot(request).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().contains_key("retry-after"));
    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
}

async fn create_user(app: &TestApp, tenant: i64, email: &str, role: &str) -> i64 {
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(json!({"tenant_id": tenant, "email": email,
                        "password": "a long enough password", "role": role})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

async fn new_token(app: &TestApp, login: &str, body: Value) -> (String, Value) {
    let r = app
        .call(Method::POST, "/api/v1/tokens", Some(login), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let j = r.json();
    (
        j["token"].as_str().unwrap().to_string(),
        j["record"].clone(),
    )
}

/// A new password or disabling the user ends its API tokens; tokens expire
/// in 90 days unless "never" is asked for; one call lists, one ends them all.
async fn credentials_end_with_what_should_end_them(app: &TestApp) {
    let c = app.customer("Acme").await;
    let id = create_user(app, c, "ops@acme.example", "operator").await;
    let login = app
        .login("ops@acme.example", "a long enough password")
        .await;
    let (token, record) = new_token(app, &login, json!({"name": "ci", "role": "viewer"})).await;
    let days =
        (record["expires_at"].as_i64().unwrap() - record["created_at"].as_i64().unwrap()) / 86_400;
    assert_eq!(days, 90);
    let (forever, record) =
        new_token(app, &login, json!({"name": "cron", "never_expires": true})).await;
    assert!(record["expires_at"].is_null());
    let me = async |t: &str| app.call(Method::GET, "/api/v1/me", Some(t), None).await;
    assert_eq!(me(&token).await.status, StatusCode::OK);

    // Disable and enable: the tokens do not come back.
    let path = format!("/api/v1/users/{id}/disable");
    let r = app
        .call(Method::POST, &path, Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let path = format!("/api/v1/users/{id}/enable");
    let r = app
        .call(Method::POST, &path, Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    for t in [&token, &forever, &login] {
        assert_eq!(me(t).await.status, StatusCode::UNAUTHORIZED);
    }

    // A new password revokes them, unless keep_tokens.
    let change = async |t: &str, from: &str, to: &str, keep: bool| {
        app.call(
            Method::POST,
            "/api/v1/me/password",
            Some(t),
            Some(json!({"current_password": from, "new_password": to, "keep_tokens": keep})),
        )
        .await
        .status
    };
    let login = app
        .login("ops@acme.example", "a long enough password")
        .await;
    let (token, _) = new_token(app, &login, json!({"name": "ci"})).await;
    let second = "another long password";
    assert_eq!(
        change(&login, "a long enough password", second, true).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&token).await.status, StatusCode::OK);
    assert_eq!(
        change(&token, second, "a third long password", false).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&token).await.status, StatusCode::UNAUTHORIZED);

    // List, then end everything in one call.
    let login = app.login("ops@acme.example", "a third long password").await;
    let (cookie, csrf) = app
        .session_login("ops@acme.example", "a third long password")
        .await;
    let (token, _) = new_token(app, &login, json!({"name": "ci"})).await;
    let listed = app
        .call(Method::GET, "/api/v1/me/credentials", Some(&token), None)
        .await
        .json();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1, "{listed}");
    let ended = app
        .call(Method::DELETE, "/api/v1/me/credentials", Some(&token), None)
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text());
    assert_eq!(ended.json()["tokens_revoked"], 2);
    assert_eq!(ended.json()["sessions_ended"], 1);
    assert_eq!(me(&login).await.status, StatusCode::UNAUTHORIZED);
    let r = app
        .session_call(Method::GET, "/api/v1/me", (&cookie, &csrf), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Dangerous actions need a fresh second factor; an administrator resets
/// another user's (audited).
async fn dangerous_actions_need_a_fresh_second_factor(app: &TestApp) {
    let c = app.customer("Acme").await;
    let t = Some(app.admin_token.as_str());
    let provider = app.db.store.provider().await.unwrap().unwrap().id.0;
    let r = app
        .call(Method::DELETE, &format!("/api/v1/tenants/{c}"), t, None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("X-Second-Factor"), "{}", r.text());
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            t,
            Some(json!({"tenant_id": provider, "email": "root2@p.example",
                        "password": "a long enough password", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Enrol (session, password), then the header with a current code passes.
    let (cookie, csrf) = app.session_login(ADMIN, ADMIN_PASSWORD).await;
    let s = (cookie.as_str(), csrf.as_str());
    let enrol = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            s,
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text());
    let secret = totp_secret(enrol.json()["secret"].as_str().unwrap());
    let now = printwatch_server::now() as u64;
    let code = |at: u64| printwatch_server::totp::code_at(&secret, at).unwrap();
    let r = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            s,
            Some(json!({"code": code(now - 30)})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let victim = create_user(app, c, "lost@acme.example", "viewer").await;
    let r = app
        .raw_with_header(
            Method::POST,
            &format!("/api/v1/users/{victim}/totp/reset"),
            &app.admin_token,
            ("x-second-factor", "000000"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .raw_with_header(
            Method::POST,
            &format!("/api/v1/users/{victim}/totp/reset"),
            &app.admin_token,
            ("x-second-factor", &code(now)),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let r = app
        .raw_with_header(
            Method::DELETE,
            &format!("/api/v1/tenants/{c}"),
            &app.admin_token,
            ("x-second-factor", &code(now)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a code is used once");
    let r = app
        .raw_with_header(
            Method::DELETE,
            &format!("/api/v1/tenants/{c}"),
            &app.admin_token,
            ("x-second-factor", &code(now + 30)),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let tenant = app
        .db
        .store
        .tenant(
            printwatch_server::ids::TenantId(provider),
            printwatch_server::ids::TenantId(c),
        )
        .await
        .unwrap();
    assert!(tenant.is_none(), "deleted");
    let log = app.call(Method::GET, "/api/v1/audit", t, None).await.text();
    assert!(log.contains("user.totp_reset"), "{log}");
}

fn totp_secret(text: &str) -> Vec<u8> {
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

/// A group of one customer cannot be granted to another customer's user.
async fn grants_stay_within_the_groups_tenant(app: &TestApp) {
    let a = app.customer("Acme").await;
    let b = app.customer("Bravo").await;
    let t = Some(app.admin_token.as_str());
    let group = app
        .call(
            Method::POST,
            "/api/v1/groups",
            t,
            Some(json!({"tenant_id": a, "name": "floor 1"})),
        )
        .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.text());
    let group = group.json()["id"].as_i64().unwrap();
    let other = create_user(app, b, "v@bravo.example", "viewer").await;
    let own = create_user(app, a, "v@acme.example", "viewer").await;
    let path = format!("/api/v1/groups/{group}/grants");
    let r = app
        .call(Method::POST, &path, t, Some(json!({"user_id": other})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    let r = app
        .call(Method::POST, &path, t, Some(json!({"user_id": own})))
        .await;
    assert!(r.status.is_success(), "{}", r.text());
}

app_on_both!(
    long_emails_and_login_floods_leave_memory_and_the_log_bounded,
    a_lockout_is_no_weapon_against_the_owner,
    a_full_hashing_pool_answers_503,
    credentials_end_with_what_should_end_them,
    dangerous_actions_need_a_fresh_second_factor,
    grants_stay_within_the_groups_tenant,
);
