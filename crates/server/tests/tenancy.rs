//! Tenancy, for every endpoint and every role: a user of customer A gets
//! nothing of customer B. Object endpoints answer exactly as for an id that
//! does not exist (403 before any lookup, or 404), and listings hold none of
//! B's data. The endpoints come from the server's own table
//! (`printwatch_server::http::endpoints()`, which also builds the router),
//! so a new endpoint cannot escape this test; a new path parameter fails it
//! until the fixture below knows it. A positive control makes sure each
//! endpoint really works for someone who may use it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use common::app::TestApp;
use printwatch_protocol::message::{AgentMessage, DeviceReport, Submission};
use printwatch_server::http::{Access, endpoints};
use printwatch_server::ids::TenantId;
use printwatch_server::model::DeviceFilter;
use printwatch_server::store::{
    AgentStore, CommandStore, CredentialStore, DeviceStore, TenantStore, UserStore,
};
use printwatch_snapshot::{Alert, Meter, Snapshot, Source, Supply};
use serde_json::{Value, json};

const MARKERS: [&str; 2] = ["bbb-secret", "bbbsecret"];
const MISSING: i64 = 987_654;

/// Ids of one customer's objects, by path parameter name.
struct Customer {
    tenant: i64,
    tokens: BTreeMap<&'static str, String>,
    /// Per role, a web portal session: (cookie, CSRF token).
    sessions: BTreeMap<&'static str, (String, String)>,
    ids: BTreeMap<&'static str, i64>,
}

async fn customer(app: &TestApp, tag: &str) -> Customer {
    let admin = Some(app.admin_token.as_str());
    let tenant = app.customer(&format!("Customer {tag}")).await;
    let mut ids = BTreeMap::from([("tenant_id", tenant)]);
    let mut tokens = BTreeMap::new();
    let mut sessions = BTreeMap::new();
    for role in ["admin", "operator", "viewer"] {
        let email = format!("{role}@{}.example", tag.to_lowercase());
        let r = app
            .call(
                Method::POST,
                "/api/v1/users",
                admin,
                Some(json!({"tenant_id": tenant, "email": email, "password": "a long enough password", "role": role})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        if role == "viewer" {
            ids.insert("user_id", r.json()["id"].as_i64().unwrap());
        }
        tokens.insert(role, app.login(&email, "a long enough password").await);
        if role == "viewer" {
            let t = app
                .call(
                    Method::POST,
                    "/api/v1/tokens",
                    Some(&tokens[role]),
                    Some(json!({"name": format!("{tag} token")})),
                )
                .await;
            assert_eq!(t.status, StatusCode::CREATED, "{}", t.text());
            ids.insert("token_id", t.json()["record"]["id"].as_i64().unwrap());
        }
        sessions.insert(
            role,
            app.session_login(&email, "a long enough password").await,
        );
    }
    let site = app
        .call(
            Method::POST,
            "/api/v1/sites",
            admin,
            Some(json!({"tenant_id": tenant, "name": format!("{tag} site")})),
        )
        .await;
    ids.insert("site_id", site.json()["id"].as_i64().unwrap());
    let group = app
        .call(
            Method::POST,
            "/api/v1/groups",
            admin,
            Some(json!({"tenant_id": tenant, "name": format!("{tag} group")})),
        )
        .await;
    let group_id = group.json()["id"].as_i64().unwrap();
    ids.insert("group_id", group_id);

    let code = app
        .new_agent(&app.admin_token, tenant, &format!("{tag} agent"))
        .await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    // The agent of the path parameter is a pending one (a new PIN for
    // another tenant's agent would be a take-over); the active one reports.
    let pending = app
        .new_agent(&app.admin_token, tenant, &format!("{tag} pending agent"))
        .await;
    ids.insert("agent_id", pending.agent_id.0);
    let mut s = Snapshot::new("10.0.0.1");
    s.collected_at = "2025-03-01T00:00:00Z".into();
    s.family = Some("Ricoh".into());
    s.serial = Some(format!("{}1", tag.replace('-', "")));
    s.model = Some(format!("{tag} model"));
    s.location = Some(format!("{tag} floor"));
    s.meters = vec![Meter {
        name: "total".into(),
        value: 10,
        unit: "impressions".into(),
        oid: Source::One("1.3".into()),
    }];
    s.supplies = vec![supply(&format!("{tag} toner"), 40.0)];
    s.alerts = vec![Alert {
        severity: "warning".into(),
        group: "other".into(),
        code: "jam".into(),
        description: Some(format!("{tag} jam")),
        location: None,
    }];
    let msg = AgentMessage::Submission(Submission {
        sent_at: s.collected_at.clone(),
        reports: vec![DeviceReport::Full {
            snapshot: Box::new(s),
        }],
    });
    assert_eq!(
        app.submit(&key, code.agent_id, 1, &msg).await.status,
        StatusCode::OK
    );
    let devices = app
        .call(Method::GET, "/api/v1/devices", Some(&tokens["admin"]), None)
        .await;
    let device = devices.json()["devices"][0]["id"].as_i64().unwrap();
    ids.insert("device_id", device);
    for (path, body) in [
        ("devices", json!({"device_id": device})),
        ("grants", json!({"user_id": ids["user_id"]})),
    ] {
        let r = app
            .call(
                Method::POST,
                &format!("/api/v1/groups/{group_id}/{path}"),
                admin,
                Some(body),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    Customer {
        tenant,
        tokens,
        sessions,
        ids,
    }
}

fn supply(description: &str, percent: f64) -> Supply {
    Supply {
        description: description.into(),
        kind: "toner".into(),
        color: Some("black".into()),
        level: Some(percent as i64),
        max: Some(100),
        percent: Some(percent),
        // Low: the supplies-to-order report lists it (no history to
        // forecast from), so a leak of that report would show.
        state: "low".into(),
        unit: Some("percent".into()),
        part_number: Some(format!("{description} part")),
        serial: None,
        oid: None,
    }
}

/// How one of A's users calls: its bearer token, or its portal session.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Token(&'a str),
    Session(&'a str, &'a str),
}

async fn send(
    app: &TestApp,
    auth: Auth<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> common::app::Reply {
    match auth {
        Auth::Token(t) => app.call(method, path, Some(t), body).await,
        Auth::Session(cookie, csrf) => app.session_call(method, path, (cookie, csrf), body).await,
    }
}

fn path_for(path: &str, ids: &dyn Fn(&str) -> i64) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => ids(name).to_string(),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Request bodies to try on every POST: one fits each kind of endpoint, the
/// others are refused. Every id in them is the victim's.
fn bodies(victim: &dyn Fn(&str) -> i64) -> Vec<Option<Value>> {
    let t = victim("tenant_id");
    vec![
        None,
        // An empty configuration (every key is optional).
        Some(json!({})),
        Some(json!({"name": "probe"})),
        Some(json!({"tenant_id": t, "name": "probe"})),
        Some(json!({"tenant_id": t, "name": "probe", "site_id": victim("site_id")})),
        Some(
            json!({"tenant_id": t, "email": "probe@probe.example", "password": "a long enough password", "role": "viewer"}),
        ),
        Some(json!({"device_id": victim("device_id")})),
        Some(json!({"user_id": victim("user_id")})),
        // A command to an agent.
        Some(json!({"kind": "scan_now"})),
    ]
}

const QUERIES: [&str; 2] = ["", "?month=2025-03"];

fn known(ids: &BTreeMap<&'static str, i64>, name: &str) -> i64 {
    *ids.get(name).unwrap_or_else(|| {
        panic!("path parameter {{{name}}} is new: give the tenancy fixture an object for it")
    })
}

async fn state_of(app: &TestApp, tenant: i64) -> String {
    let s = &app.db.store;
    let t = TenantId(tenant);
    let mut tokens = vec![];
    for u in s.users(t).await.unwrap() {
        tokens.push(s.tokens_of(t, u.id).await.unwrap());
    }
    let devices = s
        .devices(&DeviceFilter {
            scope: t,
            granted_to: None,
            after: None,
            limit: i64::MAX,
            only: Default::default(),
        })
        .await
        .unwrap();
    let mut commands = vec![];
    for a in s.agents(t).await.unwrap() {
        commands.push(s.commands(t, a.id, 1000, 0).await.unwrap());
    }
    let mut history = vec![];
    for d in &devices {
        history.push((
            s.meter_readings(t, d.id, 0, i64::MAX).await.unwrap(),
            s.supply_readings(t, d.id, 0, i64::MAX).await.unwrap(),
            s.alerts(t, d.id, false).await.unwrap(),
            s.device_snapshot(t, d.id)
                .await
                .unwrap()
                .map(|snap| serde_json::to_string(&snap).unwrap()),
        ));
    }
    format!(
        "{:?}",
        (
            (
                s.tenant(t, t).await.unwrap(),
                s.users(t).await.unwrap(),
                s.agents(t).await.unwrap(),
                s.sites(t).await.unwrap(),
                s.groups(t).await.unwrap(),
                s.audit_log(t, 1000).await.unwrap().len(),
                tokens,
            ),
            devices,
            history,
            s.group_devices(t).await.unwrap(),
            s.group_grants(t).await.unwrap(),
            commands,
        )
    )
}

async fn no_endpoint_gives_one_customer_anything_of_another(app: &TestApp) {
    let a = customer(app, "AAA").await;
    let b = customer(app, "BBB-SECRET").await;
    let before = state_of(app, b.tenant).await;
    // The comparison covers what B owns: a device, its readings, a group
    // membership and a grant.
    let store = &app.db.store;
    let t = TenantId(b.tenant);
    assert_eq!(store.group_devices(t).await.unwrap().len(), 1);
    assert_eq!(store.group_grants(t).await.unwrap().len(), 1);
    assert!(before.contains("MeterReading"), "{before}");
    let victim = |name: &str| known(&b.ids, name);
    let missing = |name: &str| {
        known(&b.ids, name);
        MISSING
    };
    // Every role of A, by bearer token and by portal session (cookie and
    // CSRF token, as the web portal sends them).
    let mut callers: Vec<(String, Auth)> = vec![];
    for (role, token) in &a.tokens {
        callers.push((role.to_string(), Auth::Token(token)));
    }
    for (role, (cookie, csrf)) in &a.sessions {
        callers.push((format!("{role} (session)"), Auth::Session(cookie, csrf)));
    }
    let mut checked = 0;
    for e in endpoints() {
        let Access::User(_) = e.access else { continue };
        for (role, auth) in &callers {
            // Logging out would end the session the rest of the test uses;
            // it names no object, so there is nothing of B's to reach.
            if matches!(auth, Auth::Session(..))
                && (e.path == "/api/v1/logout" || e.path == "/logout")
            {
                continue;
            }
            // Ending all the caller's credentials likewise: it acts on the
            // caller only (front_door::credentials_end_with_what_should_end_them).
            if e.method == Method::DELETE && e.path == "/api/v1/me/credentials" {
                continue;
            }
            for query in QUERIES {
                for body in bodies(&victim) {
                    let theirs = format!("{}{query}", path_for(e.path, &victim));
                    let r = send(app, *auth, e.method.clone(), &theirs, body.clone()).await;
                    let text = r.text().to_lowercase();
                    let what =
                        format!("{role} {} {theirs} {body:?}: {} {text}", e.method, r.status);
                    for marker in MARKERS {
                        assert!(!text.contains(marker), "leak: {what}");
                    }
                    if !e.path_params().is_empty() {
                        assert!(
                            r.status == StatusCode::NOT_FOUND
                                || r.status == StatusCode::FORBIDDEN
                                || r.status.is_client_error() && r.status != StatusCode::CONFLICT,
                            "{what}"
                        );
                        let nobody = format!("{}{query}", path_for(e.path, &missing));
                        let n = send(app, *auth, e.method.clone(), &nobody, body).await;
                        assert_eq!(
                            (r.status, r.body.clone()),
                            (n.status, n.body),
                            "another tenant's object must look like no object: {what}"
                        );
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100, "{checked}");
    assert_eq!(state_of(app, b.tenant).await, before, "B was changed");
    // A's sessions were live all along: the cookie half was real.
    for (role, (cookie, csrf)) in &a.sessions {
        let r = send(
            app,
            Auth::Session(cookie, csrf),
            Method::GET,
            "/api/v1/me",
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{role}: {}", r.text());
    }
    // B's own admin still sees B's device: the fixture is real.
    let r = app
        .call(
            Method::GET,
            "/api/v1/devices",
            Some(&b.tokens["admin"]),
            None,
        )
        .await;
    assert!(r.text().to_lowercase().contains("bbbsecret"));
}

async fn every_endpoint_works_for_someone_allowed(app: &TestApp) {
    // The positive control: without it, an endpoint that refuses everyone
    // would pass the tenancy test.
    let c = customer(app, "CCC").await;
    let own = |name: &str| known(&c.ids, name);
    // Endpoints no generic body can satisfy, each with its own test.
    let own_tests = [
        (
            Method::POST,
            "/api/v1/me/totp/confirm",
            "http_api::totp_codes_are_needed_once_enabled_and_never_accepted_twice",
        ),
        (
            Method::POST,
            "/api/v1/me/password",
            "sessions::disabled_users_and_new_passwords_end_sessions",
        ),
        (
            Method::POST,
            "/api/v1/me/totp",
            "http_api::totp_codes_are_needed_once_enabled_and_never_accepted_twice",
        ),
        // Enrolling needs an interactive session, which this walk (by
        // token) is not.
        (
            Method::POST,
            "/account/totp",
            "portal::an_authenticator_is_enrolled_on_the_account_page",
        ),
        (
            Method::POST,
            "/account/totp/confirm",
            "portal::an_authenticator_is_enrolled_on_the_account_page",
        ),
        (
            Method::DELETE,
            "/api/v1/me/credentials",
            "front_door::credentials_end_with_what_should_end_them",
        ),
        (
            Method::DELETE,
            "/api/v1/tenants/{tenant_id}",
            "front_door::dangerous_actions_need_a_fresh_second_factor",
        ),
        // The walk disables and enables the token's user first, which ends
        // its tokens (as it must).
        (
            Method::DELETE,
            "/api/v1/tokens/{token_id}",
            "sessions::users_are_disabled_and_tokens_revoked_with_an_audit_trail",
        ),
        (
            Method::POST,
            "/api/v1/users/{user_id}/totp/reset",
            "front_door::dangerous_actions_need_a_fresh_second_factor",
        ),
    ];
    let mut all = endpoints();
    all.retain(|e| {
        !own_tests
            .iter()
            .any(|(m, p, _)| *m == e.method && *p == e.path)
    });
    // Revoking the agent (it then takes no commands) and deleting the
    // tenant last.
    all.sort_by_key(|e| (e.method == Method::DELETE, e.path.ends_with("/revoke")));
    for e in all {
        let token = match e.access {
            Access::User(_) => app.admin_token.clone(),
            Access::Public | Access::Agent => continue,
        };
        let mut statuses = vec![];
        'found: for query in QUERIES {
            for body in bodies(&own) {
                let path = format!("{}{query}", path_for(e.path, &own));
                let r = app.call(e.method.clone(), &path, Some(&token), body).await;
                // A page's form answers with where to go next.
                let page_redirect = e.media == Some("text/html") && r.status.is_redirection();
                if r.status.is_success() || page_redirect {
                    break 'found;
                }
                statuses.push(r.status);
            }
        }
        assert!(
            statuses.len() < QUERIES.len() * bodies(&own).len(),
            "{} {} never succeeded: {statuses:?}",
            e.method,
            e.path
        );
    }
    // Deleting the tenant (and with it the agent) needs a second factor:
    // front_door::dangerous_actions_need_a_fresh_second_factor deletes one.
    let _ = c.tenant;
}

crate::app_on_both!(
    no_endpoint_gives_one_customer_anything_of_another,
    every_endpoint_works_for_someone_allowed,
);
