//! Web portal sessions: the cookie, CSRF, logout, expiry, disabled users,
//! new passwords, and client addresses behind a trusted reverse proxy.
//! Every test runs on SQLite, and on PostgreSQL when
//! `PRINTWATCH_TEST_POSTGRES` is set (as the store battery does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use common::app::{ADMIN_PASSWORD, TestApp};
use http_body_util::BodyExt;
use printwatch_server::http::{
    SESSION_IDLE_SECS, SESSION_MAX_SECS, TlsConnection, TrustedProxies, router,
};
use printwatch_server::ids::{TenantId, UserId};
use printwatch_server::secrets::{random_secret, token_hash};
use printwatch_server::store::{CredentialStore, TenantStore, UserStore};
use serde_json::{Value, json};
use tower::ServiceExt;

const HOST: &str = "pw.example";
const PEER: &str = "192.0.2.10:50000";

/// One request, as a browser or a proxy would send it.
#[derive(Clone)]
struct Req {
    method: Method,
    path: String,
    peer: SocketAddr,
    tls: bool,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

struct Answer {
    status: StatusCode,
    set_cookie: Option<String>,
    body: Value,
}

fn req(method: Method, path: &str) -> Req {
    Req {
        method,
        path: path.into(),
        peer: PEER.parse().unwrap(),
        tls: false,
        headers: vec![("host", HOST.into())],
        content_type: "application/json",
        body: vec![],
    }
}

impl Req {
    fn json(mut self, body: Value) -> Req {
        self.body = body.to_string().into_bytes();
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Req {
        self.headers.push((name, value.into()));
        self
    }

    fn cookie(self, cookie: &str) -> Req {
        self.header("cookie", cookie)
    }

    fn from(mut self, peer: &str) -> Req {
        self.peer = peer.parse().unwrap();
        self
    }

    async fn send(self, router: &Router) -> Answer {
        let mut r = Request::builder()
            .method(self.method)
            .uri(self.path)
            .header(header::CONTENT_TYPE, self.content_type)
            .extension(ConnectInfo(self.peer));
        if self.tls {
            r = r.extension(TlsConnection);
        }
        for (k, v) in self.headers {
            r = r.header(k, v);
        }
        let response = router
            .clone()
            .oneshot(r.body(Body::from(self.body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let set_cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            set_cookie,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}

/// Log in with a session; returns (the `Cookie` header value, the CSRF token).
async fn session_login(router: &Router, email: &str, password: &str) -> (String, String) {
    let a = req(Method::POST, "/api/v1/login")
        .json(json!({"email": email, "password": password, "session": true}))
        .send(router)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let set = a.set_cookie.expect("a session cookie");
    let cookie = set.split(';').next().unwrap().to_string();
    (cookie, a.body["csrf_token"].as_str().unwrap().to_string())
}

async fn tenant_names(app: &TestApp) -> Vec<String> {
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    let mut names: Vec<String> = app
        .db
        .store
        .tenants(provider)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    names.sort();
    names
}

async fn new_user(app: &TestApp, email: &str) -> i64 {
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(json!({"tenant_id": provider.0, "email": email,
                        "password": "a long enough password", "role": "operator"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json()["id"].as_i64().unwrap()
}

async fn cookie_attributes(app: &TestApp) {
    let login = || {
        req(Method::POST, "/api/v1/login")
            .json(json!({"email": "admin@localhost", "password": ADMIN_PASSWORD, "session": true}))
    };
    // Plain HTTP: no Secure, so no __Host- prefix either.
    let plain = login().send(&app.router).await.set_cookie.unwrap();
    assert!(plain.starts_with("printwatch_session="), "{plain}");
    let value = plain.split(';').next().unwrap().split_once('=').unwrap().1;
    assert!(value.len() >= 22, "at least 128 bits: {value}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(plain.contains(&format!("; {attribute}")), "{plain}");
    }
    assert!(!plain.contains("Secure"), "{plain}");
    // Only the hash is stored.
    let stored = app.db.store.session_by_hash(value).await.unwrap().is_some();
    assert!(!stored);
    assert!(
        app.db
            .store
            .session_by_hash(&token_hash(value))
            .await
            .unwrap()
            .is_some()
    );
    // TLS: Secure and __Host-.
    let mut tls = login();
    tls.tls = true;
    let secure = tls.send(&app.router).await.set_cookie.unwrap();
    assert!(secure.starts_with("__Host-printwatch_session="), "{secure}");
    assert!(
        secure.contains("; Secure") && secure.contains("; Path=/"),
        "{secure}"
    );
    // HTTPS at a trusted proxy: Secure; the same header from anyone else: not.
    let proxied = router(
        app.state
            .clone()
            .with_trusted_proxies(TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()])),
    );
    let https = login()
        .from("10.1.2.3:40000")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-for", "198.51.100.4");
    let a = https.clone().send(&proxied).await.set_cookie.unwrap();
    assert!(a.starts_with("__Host-") && a.contains("; Secure"), "{a}");
    let spoofed = https.from("203.0.113.5:40000").send(&proxied).await;
    let b = spoofed.set_cookie.unwrap();
    assert!(
        b.starts_with("printwatch_session=") && !b.contains("Secure"),
        "{b}"
    );
    // Over HTTPS the cookie without __Host- is not read (it could be planted).
    let (cookie, _) = session_login(&app.router, "admin@localhost", ADMIN_PASSWORD).await;
    let mut r = req(Method::GET, "/api/v1/me").cookie(&cookie);
    r.tls = true;
    assert_eq!(r.send(&app.router).await.status, StatusCode::UNAUTHORIZED);
}

async fn csrf_rules(app: &TestApp) {
    let (cookie, csrf) = session_login(&app.router, "admin@localhost", ADMIN_PASSWORD).await;
    // Reads need nothing more than the cookie.
    let me = req(Method::GET, "/api/v1/me")
        .cookie(&cookie)
        .send(&app.router)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["user"]["email"], "admin@localhost");
    let s = req(Method::GET, "/api/v1/session")
        .cookie(&cookie)
        .send(&app.router)
        .await;
    assert_eq!(s.body["auth"], "session");
    assert_eq!(s.body["csrf_token"], csrf.as_str());

    let before = tenant_names(app).await;
    let create = |name: &str| {
        req(Method::POST, "/api/v1/tenants")
            .cookie(&cookie)
            .json(json!({"name": name}))
    };
    // No token, a wrong token, the token with a foreign origin: 403, nothing changed.
    let refused = [
        create("no token"),
        create("wrong token").header("x-csrf-token", "x"),
        create("wrong token").header("x-csrf-token", &csrf[1..]),
        create("other origin")
            .header("x-csrf-token", &csrf)
            .header("origin", "https://evil.example"),
        create("other scheme")
            .header("x-csrf-token", &csrf)
            .header("origin", "https://pw.example"),
        create("null origin")
            .header("x-csrf-token", &csrf)
            .header("origin", "null"),
        create("other referer")
            .header("x-csrf-token", &csrf)
            .header("referer", "https://evil.example/pw.example/"),
    ];
    for r in refused {
        let a = r.send(&app.router).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
        let message = a.body["error"].as_str().unwrap();
        assert!(message.contains("X-CSRF-Token"), "{message}");
        assert!(!message.contains(&csrf));
    }
    assert_eq!(
        tenant_names(app).await,
        before,
        "a refused request changed something"
    );
    // The token, with or without our own origin: done.
    for (name, origin) in [
        ("with token", None),
        ("same origin", Some("origin")),
        ("same referer", Some("referer")),
    ] {
        let mut r = create(name).header("x-csrf-token", &csrf);
        if let Some(h) = origin {
            r = r.header(h, "http://pw.example/portal");
        }
        let a = r.send(&app.router).await;
        assert_eq!(a.status, StatusCode::CREATED, "{name}: {}", a.body);
    }
    // Bearer tokens are exempt (a browser never sends one by itself).
    let a = req(Method::POST, "/api/v1/tenants")
        .header("authorization", &format!("Bearer {}", app.admin_token))
        .header("origin", "https://evil.example")
        .json(json!({"name": "by token"}))
        .send(&app.router)
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    // A bad bearer token is refused even with a good cookie beside it.
    let a = create("bad bearer")
        .header("x-csrf-token", &csrf)
        .header("authorization", "Bearer pwt_nonsense")
        .send(&app.router)
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let mut names = tenant_names(app).await;
    names.retain(|n| !before.contains(n));
    assert_eq!(
        names,
        ["by token", "same origin", "same referer", "with token"]
    );
    let token = req(Method::GET, "/api/v1/session")
        .header("authorization", &format!("Bearer {}", app.admin_token))
        .send(&app.router)
        .await;
    assert_eq!(token.body["auth"], "token");
    assert_eq!(token.body["csrf_token"], Value::Null);
}

async fn logout_kills_the_session(app: &TestApp) {
    let (cookie, csrf) = session_login(&app.router, "admin@localhost", ADMIN_PASSWORD).await;
    let admin = app
        .db
        .store
        .user_by_email("admin@localhost")
        .await
        .unwrap()
        .unwrap()
        .0;
    assert_eq!(app.db.store.sessions_of(admin.id).await.unwrap().len(), 1);
    // Logging out is a change: the token is needed.
    let no = req(Method::POST, "/api/v1/logout")
        .cookie(&cookie)
        .send(&app.router)
        .await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    // As a form field (a plain HTML form) it works too.
    let mut form = req(Method::POST, "/api/v1/logout").cookie(&cookie);
    form.content_type = "application/x-www-form-urlencoded";
    form.body = format!("a=b&csrf_token={csrf}").into_bytes();
    let out = form.send(&app.router).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    let cleared = out.set_cookie.unwrap();
    assert!(cleared.starts_with("printwatch_session=;") && cleared.contains("Max-Age=0"));
    assert!(app.db.store.sessions_of(admin.id).await.unwrap().is_empty());
    let me = req(Method::GET, "/api/v1/me")
        .cookie(&cookie)
        .send(&app.router)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    // A session login replaces the browser's previous session.
    let (first, _) = session_login(&app.router, "admin@localhost", ADMIN_PASSWORD).await;
    let again = req(Method::POST, "/api/v1/login")
        .cookie(&first)
        .json(json!({"email": "admin@localhost", "password": ADMIN_PASSWORD, "session": true}))
        .send(&app.router)
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(app.db.store.sessions_of(admin.id).await.unwrap().len(), 1);
}

async fn expired_sessions_are_rejected(app: &TestApp) {
    let admin = app
        .db
        .store
        .user_by_email("admin@localhost")
        .await
        .unwrap()
        .unwrap()
        .0;
    let now = printwatch_server::now();
    let me = async |secret: &str| {
        req(Method::GET, "/api/v1/me")
            .cookie(&format!("printwatch_session={secret}"))
            .send(&app.router)
            .await
            .status
    };
    // Fresh: fine.
    let fresh = random_secret(32);
    app.db
        .store
        .create_session(admin.id, &token_hash(&fresh), now)
        .await
        .unwrap();
    assert_eq!(me(&fresh).await, StatusCode::OK);
    // Idle too long.
    let idle = random_secret(32);
    app.db
        .store
        .create_session(admin.id, &token_hash(&idle), now - SESSION_IDLE_SECS - 1)
        .await
        .unwrap();
    assert_eq!(me(&idle).await, StatusCode::UNAUTHORIZED);
    // Active all along, but older than the absolute limit.
    let old = random_secret(32);
    let s = app
        .db
        .store
        .create_session(admin.id, &token_hash(&old), now - SESSION_MAX_SECS - 1)
        .await
        .unwrap();
    app.db.store.touch_session(s.id, now).await.unwrap();
    assert_eq!(me(&old).await, StatusCode::UNAUTHORIZED);
    // Expired sessions are deleted when seen.
    let left = app.db.store.sessions_of(admin.id).await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(me("unknown-secret").await, StatusCode::UNAUTHORIZED);
    // Purging leaves live sessions.
    let purged = app
        .db
        .store
        .purge_sessions(now - SESSION_IDLE_SECS, now - SESSION_MAX_SECS)
        .await
        .unwrap();
    assert_eq!(purged, 0);
    assert_eq!(me(&fresh).await, StatusCode::OK);
}

async fn disabled_users_and_new_passwords_end_sessions(app: &TestApp) {
    let id = new_user(app, "ops@pw.example").await;
    let (cookie, _) = session_login(&app.router, "ops@pw.example", "a long enough password").await;
    let me = async |cookie: &str| {
        req(Method::GET, "/api/v1/me")
            .cookie(cookie)
            .send(&app.router)
            .await
            .status
    };
    assert_eq!(me(&cookie).await, StatusCode::OK);
    // An administrator disables the user (through the portal, as it would).
    let admin = app.session_login("admin@localhost", ADMIN_PASSWORD).await;
    let admin = (admin.0.as_str(), admin.1.as_str());
    let disable = format!("/api/v1/users/{id}/disable");
    let r = app.session_call(Method::POST, &disable, admin, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert_eq!(me(&cookie).await, StatusCode::UNAUTHORIZED);
    assert!(
        app.db
            .store
            .sessions_of(UserId(id))
            .await
            .unwrap()
            .is_empty()
    );
    let refused = req(Method::POST, "/api/v1/login")
        .json(json!({"email": "ops@pw.example", "password": "a long enough password", "session": true}))
        .send(&app.router)
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    // Another tenant's scope cannot disable or enable.
    assert!(
        !app.db
            .store
            .set_user_disabled(TenantId(987_654), UserId(id), false)
            .await
            .unwrap()
    );
    let enable = format!("/api/v1/users/{id}/enable");
    let r = app.session_call(Method::POST, &enable, admin, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // A new password ends every session, this one included.
    let (a, csrf) = session_login(&app.router, "ops@pw.example", "a long enough password").await;
    let (b, _) = session_login(&app.router, "ops@pw.example", "a long enough password").await;
    let change = |current: &str| {
        req(Method::POST, "/api/v1/me/password")
            .cookie(&a)
            .header("x-csrf-token", &csrf)
            .json(json!({"current_password": current, "new_password": "another long password"}))
    };
    let wrong = change("not the password").send(&app.router).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(me(&b).await, StatusCode::OK);
    let done = change("a long enough password").send(&app.router).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
    assert_eq!(me(&a).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&b).await, StatusCode::UNAUTHORIZED);
    session_login(&app.router, "ops@pw.example", "another long password").await;
}

async fn logins_are_audited_without_secrets(app: &TestApp) {
    let bad = req(Method::POST, "/api/v1/login")
        .json(json!({"email": "admin@localhost", "password": "hunter2-wrong"}))
        .send(&app.router)
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let unknown = req(Method::POST, "/api/v1/login")
        .json(json!({"email": "nobody@pw.example", "password": "hunter2-unknown"}))
        .send(&app.router)
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let (cookie, csrf) = session_login(&app.router, "admin@localhost", ADMIN_PASSWORD).await;
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    let log = app.db.store.audit_log(provider, 100).await.unwrap();
    let text = format!("{log:?}");
    for secret in [
        "hunter2",
        ADMIN_PASSWORD,
        &csrf,
        cookie.split_once('=').unwrap().1,
    ] {
        assert!(!text.contains(secret), "a secret in the audit log: {text}");
    }
    let has = |action: &str, actor: &str, detail: &str| {
        log.iter()
            .any(|e| e.action == action && e.actor == actor && e.detail.contains(detail))
    };
    assert!(
        has("login.failure", "admin@localhost", "wrong password"),
        "{text}"
    );
    assert!(
        has("login.failure", "nobody@pw.example", "unknown user"),
        "{text}"
    );
    assert!(has("login.success", "admin@localhost", "session"), "{text}");
    assert!(
        has("login.success", "admin@localhost", "from 192.0.2.10"),
        "{text}"
    );
}

async fn proxied_addresses_count_only_from_trusted_peers(app: &TestApp) {
    let proxied = router(
        app.state
            .clone()
            .with_trusted_proxies(TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()])),
    );
    let attempt = |peer: &str, xff: &str| {
        req(Method::POST, "/api/v1/login")
            .from(peer)
            .header("x-forwarded-for", xff)
            .json(json!({"email": "admin@localhost", "password": "wrong password!"}))
    };
    // Through the proxy, ten failures of one client block that client…
    for _ in 0..10 {
        let a = attempt("10.0.0.1:1000", "1.1.1.1, 198.51.100.1")
            .send(&proxied)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = attempt("10.0.0.1:1000", "198.51.100.1")
        .send(&proxied)
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    // …even when it writes another address left of its own…
    let spoof = attempt("10.0.0.2:1000", "9.9.9.9, 198.51.100.1")
        .send(&proxied)
        .await;
    assert_eq!(spoof.status, StatusCode::TOO_MANY_REQUESTS);
    // …and not the other clients of the same proxy.
    let other = attempt("10.0.0.1:1000", "198.51.100.2")
        .send(&proxied)
        .await;
    assert_eq!(other.status, StatusCode::UNAUTHORIZED);
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    let log = app.db.store.audit_log(provider, 100).await.unwrap();
    assert!(log.iter().any(|e| e.detail.contains("from 198.51.100.1")));
    assert!(!log.iter().any(|e| e.detail.contains("1.1.1.1")));

    // An untrusted peer's X-Forwarded-For is ignored: a new address per
    // try does not escape the limit on the peer itself.
    for i in 0..10 {
        let a = attempt("203.0.113.7:1000", &format!("198.51.100.{}", 100 + i))
            .send(&proxied)
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let blocked = attempt("203.0.113.7:1000", "198.51.100.200")
        .send(&proxied)
        .await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS);
    // Nor does it block the address it names.
    let named = attempt("10.0.0.1:1000", "198.51.100.105")
        .send(&proxied)
        .await;
    assert_eq!(named.status, StatusCode::UNAUTHORIZED);
}

async fn users_are_disabled_and_tokens_revoked_with_an_audit_trail(app: &TestApp) {
    let ops = new_user(app, "ops@pw.example").await;
    let other = new_user(app, "other@pw.example").await;
    let ops_login = app.login("ops@pw.example", "a long enough password").await;
    let other_login = app
        .login("other@pw.example", "a long enough password")
        .await;
    let created = app
        .call(
            Method::POST,
            "/api/v1/tokens",
            Some(&ops_login),
            Some(json!({"name": "script"})),
        )
        .await;
    let secret = created.json()["token"].as_str().unwrap().to_string();
    let script = created.json()["record"]["id"].as_i64().unwrap();
    // Listings name the tokens, never their secrets.
    let own = app
        .call(Method::GET, "/api/v1/tokens", Some(&ops_login), None)
        .await;
    let listed = app
        .call(
            Method::GET,
            &format!("/api/v1/users/{ops}/tokens"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.json(), listed.json());
    let names: Vec<String> = own
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["login", "script"]);
    for body in [own.text(), listed.text()] {
        assert!(!body.contains(&secret) && !body.contains(&ops_login) && !body.contains("hash"));
    }
    // Another operator neither sees nor revokes it; its owner can.
    let path = format!("/api/v1/tokens/{script}");
    let theirs = app
        .call(Method::DELETE, &path, Some(&other_login), None)
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    let r = app
        .call(Method::DELETE, &path, Some(&ops_login), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    let me = app
        .call(Method::GET, "/api/v1/me", Some(&secret), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let again = app
        .call(Method::DELETE, &path, Some(&ops_login), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    // An administrator revokes anyone's.
    let login_id = own.json()[0]["id"].as_i64().unwrap();
    let r = app
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{login_id}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app
        .call(Method::GET, "/api/v1/me", Some(&ops_login), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    // Disabling: not oneself; the user's tokens stop working.
    let admin = app
        .db
        .store
        .user_by_email("admin@localhost")
        .await
        .unwrap()
        .unwrap()
        .0;
    let own_disable = format!("/api/v1/users/{}/disable", admin.id);
    let r = app
        .call(Method::POST, &own_disable, Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{other}/disable"),
            Some(&other_login),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "operators manage no users");
    let r = app
        .call(
            Method::POST,
            &format!("/api/v1/users/{other}/disable"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let me = app
        .call(Method::GET, "/api/v1/me", Some(&other_login), None)
        .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let provider = app.db.store.provider().await.unwrap().unwrap().id;
    let log = app.db.store.audit_log(provider, 100).await.unwrap();
    for (action, target) in [
        ("token.revoke", format!("token {script}")),
        ("token.revoke", format!("token {login_id}")),
        ("user.disable", format!("user {other}")),
    ] {
        assert!(
            log.iter().any(|e| e.action == action && e.target == target),
            "{action} {target}: {log:?}"
        );
    }
    assert!(!format!("{log:?}").contains(&secret));
}

/// Each test on a fresh server on SQLite, and on PostgreSQL when configured.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = super::TestApp::on(super::common::TestDb::sqlite().await).await;
                    super::$name(&app).await;
                    app.db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::common::TestDb::postgres(stringify!($name)).await else {
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
    cookie_attributes,
    csrf_rules,
    logout_kills_the_session,
    expired_sessions_are_rejected,
    disabled_users_and_new_passwords_end_sessions,
    logins_are_audited_without_secrets,
    proxied_addresses_count_only_from_trusted_peers,
    users_are_disabled_and_tokens_revoked_with_an_audit_trail,
);
