//! The portal's pages through the router, on SQLite and PostgreSQL: signing
//! in (password, then the authenticator's code), the dashboard's numbers
//! and their links, search and filters, a device's page, another
//! customer's device out of reach, signing out with the form's CSRF token,
//! the headers every page carries, the agents page (create with the
//! code shown once, new code, revoke; CSRF, tenancy, roles). (The browser tests drive the same pages
//! in Chromium.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use common::app::{ADMIN_PASSWORD, TestApp};
use http_body_util::BodyExt;
use printwatch_protocol::message::{AgentMessage, DeviceReport, Heartbeat, Submission};
use printwatch_server::store::{AgentStore, TenantStore};
use printwatch_snapshot::{Meter, Snapshot, Source, Supply};
use serde_json::json;
use tower::ServiceExt;

crate::app_on_both!(
    signing_in_takes_the_password_then_the_code,
    the_dashboard_counts_what_needs_someone_and_links_to_it,
    a_customer_sees_only_its_own_devices_on_the_pages,
    pages_carry_a_strict_csp_and_redirect_when_signed_out,
    reports_show_a_months_pages_and_download_as_csv,
    an_authenticator_is_enrolled_on_the_account_page,
    agents_are_created_listed_given_new_codes_and_revoked_on_the_page,
    a_customer_manages_only_its_own_agents_and_viewers_none,
);

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// `name=value` of the session cookie this answer sets.
    fn cookie(&self) -> String {
        let set = self.headers[header::SET_COOKIE].to_str().unwrap();
        set.split(';').next().unwrap().to_string()
    }
}

/// One request as a browser sends it: a cookie, a form, our own Origin.
async fn browse(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Page {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "portal.test");
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    if form.is_some() {
        request = request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "http://portal.test");
    }
    let body = form.map(|f| Body::from(f.to_string())).unwrap_or_default();
    let response = app
        .router
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Page {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                        (b as char).to_string()
                    }
                    b => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let page = browse(
        app,
        Method::POST,
        "/login",
        None,
        Some(&form(&[
            ("email", email),
            ("password", password),
            ("next", "/"),
        ])),
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.text);
    page.cookie()
}

/// Scripts only by `src` (this server's files), no inline style.
fn assert_no_inline_code(html: &str, path: &str) {
    for tag in html.split("<script").skip(1) {
        let open = &tag[..tag.find('>').unwrap_or(tag.len())];
        assert!(
            open.contains("src=\"/assets/"),
            "{path}: an inline script: <script{open}>"
        );
    }
    assert!(!html.contains(" style="), "{path}: an inline style");
    assert!(!html.contains("<style"), "{path}: a style element");
}

/// The value of the hidden field `name` of a page's form.
fn field(text: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}: {text}"));
    let rest = &text[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// The CSRF token in a page's sign-out form.
fn csrf_of(page: &Page) -> String {
    let at = page
        .text
        .find("name=\"csrf_token\" value=\"")
        .expect("a sign-out form");
    let rest = &page.text[at + "name=\"csrf_token\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

fn printer(serial: &str, target: &str) -> Snapshot {
    let mut s = Snapshot::new(target);
    s.collected_at = "2025-03-01T10:00:00Z".into();
    s.family = Some("HP".into());
    s.vendor = Some("HP".into());
    s.model = Some("HP LaserJet M404".into());
    s.serial = Some(serial.into());
    s.status.device = Some("running".into());
    s.supplies = vec![Supply {
        description: "Black Cartridge".into(),
        kind: "toner".into(),
        color: Some("black".into()),
        level: Some(50),
        max: Some(100),
        percent: Some(50.0),
        state: "ok".into(),
        unit: Some("percent".into()),
        part_number: Some("CF259A".into()),
        serial: None,
        oid: None,
    }];
    s
}

/// A customer with these printers, reported by its agent.
async fn customer_with(app: &TestApp, name: &str, printers: Vec<Snapshot>) -> i64 {
    let customer = app.customer(name).await;
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    let reports = printers
        .into_iter()
        .map(|s| DeviceReport::Full {
            snapshot: Box::new(s),
        })
        .collect();
    let msg = AgentMessage::Submission(Submission {
        sent_at: "2025-03-01T10:00:00Z".into(),
        reports,
    });
    let r = app.submit(&key, code.agent_id, 1, &msg).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    customer
}

async fn device_id(app: &TestApp, serial: &str) -> i64 {
    let list = app
        .call(Method::GET, "/api/v1/devices", Some(&app.admin_token), None)
        .await
        .json();
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == serial)
        .and_then(|d| d["id"].as_i64())
        .unwrap()
}

async fn signing_in_takes_the_password_then_the_code(app: &TestApp) {
    let page = browse(app, Method::GET, "/login?next=/devices", None, None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("<label for=\"email\">"), "{}", page.text);
    assert!(page.text.contains("value=\"/devices\""));
    let wrong = browse(
        app,
        Method::POST,
        "/login",
        None,
        Some(&form(&[
            ("email", "admin@localhost"),
            ("password", "not it"),
        ])),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.text.contains("Wrong e-mail or password."),
        "{}",
        wrong.text
    );
    assert!(!wrong.headers.contains_key(header::SET_COOKIE));
    // Enrol a second factor through the API, then sign in on the page.
    let (cookie, csrf) = app.session_login("admin@localhost", ADMIN_PASSWORD).await;
    let enrol = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp",
            (&cookie, &csrf),
            Some(json!({"password": ADMIN_PASSWORD})),
        )
        .await;
    let secret = common::base32_decode(enrol.json()["secret"].as_str().unwrap());
    let now = printwatch_server::now() as u64;
    let code = printwatch_server::totp::code_at(&secret, now).unwrap();
    let confirm = app
        .session_call(
            Method::POST,
            "/api/v1/me/totp/confirm",
            (&cookie, &csrf),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(confirm.status, StatusCode::NO_CONTENT);
    let password_only = &[
        ("email", "admin@localhost"),
        ("password", ADMIN_PASSWORD),
        ("next", "/devices"),
    ];
    let asks = browse(
        app,
        Method::POST,
        "/login",
        None,
        Some(&form(password_only)),
    )
    .await;
    assert_eq!(asks.status, StatusCode::UNAUTHORIZED);
    assert!(asks.text.contains("id=\"totp\""), "{}", asks.text);
    assert!(asks.text.contains("6-digit code"), "{}", asks.text);
    // The second step carries a proof of the password, never the password.
    assert!(!asks.text.contains(ADMIN_PASSWORD));
    assert!(!asks.text.contains("name=\"password\""));
    let proof = field(&asks.text, "proof");
    // The code of the next step (the confirmed one is used up).
    let next_code = printwatch_server::totp::code_at(&secret, now + 30).unwrap();
    // A proof is bound to its e-mail and cannot be made up.
    for (email, proof) in [
        ("other@localhost", proof.as_str()),
        ("admin@localhost", "bm90IGEgcHJvb2Y"),
    ] {
        let forged = &[
            ("email", email),
            ("proof", proof),
            ("totp", next_code.as_str()),
        ];
        let r = browse(app, Method::POST, "/login", None, Some(&form(forged))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{email}: {}", r.text);
        assert!(
            r.text.contains("Wrong e-mail or password."),
            "{email}: {}",
            r.text
        );
    }
    let wrong_code = &[
        ("email", "admin@localhost"),
        ("proof", proof.as_str()),
        ("totp", "000000"),
        ("next", "/devices"),
    ];
    let again = browse(app, Method::POST, "/login", None, Some(&form(wrong_code))).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.text.contains("wrong or was used"), "{}", again.text);
    let proof = field(&again.text, "proof");
    let with_code = &[
        ("email", "admin@localhost"),
        ("proof", proof.as_str()),
        ("totp", next_code.as_str()),
        ("next", "/devices"),
    ];
    let signed_in = browse(app, Method::POST, "/login", None, Some(&form(with_code))).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.text
    );
    assert_eq!(signed_in.location(), "/devices");
    let cookie = signed_in.cookie();
    let devices = browse(app, Method::GET, "/devices", Some(&cookie), None).await;
    assert_eq!(devices.status, StatusCode::OK, "{}", devices.text);
    assert!(devices.text.contains("admin@localhost"));
    // Signing out needs the form's CSRF token; then the cookie is dead.
    let no_token = browse(app, Method::POST, "/logout", Some(&cookie), Some("")).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{}", no_token.text);
    let token = csrf_of(&devices);
    let out = browse(
        app,
        Method::POST,
        "/logout",
        Some(&cookie),
        Some(&form(&[("csrf_token", &token)])),
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.text);
    assert_eq!(out.location(), "/login");
    let after = browse(app, Method::GET, "/devices", Some(&cookie), None).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    // Another site is never where a sign-in leads.
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
    ] {
        let page = browse(
            app,
            Method::GET,
            &format!("/login?next={}", next.replace('/', "%2F")),
            None,
            None,
        )
        .await;
        assert!(!page.text.contains("evil.example"), "{next}: {}", page.text);
    }
}

async fn the_dashboard_counts_what_needs_someone_and_links_to_it(app: &TestApp) {
    let mut jammed = printer("JAM-1", "10.1.0.1");
    jammed.status.device = Some("down".into());
    jammed.status.errors = vec!["jammed".into()];
    let mut low = printer("LOW-2", "10.1.0.2");
    low.supplies[0].percent = Some(4.0);
    customer_with(app, "Acme", vec![jammed, low, printer("OK-3", "10.1.0.3")]).await;
    let cookie = sign_in(app, "admin@localhost", ADMIN_PASSWORD).await;
    let home = browse(app, Method::GET, "/", Some(&cookie), None).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.text);
    assert!(home.text.contains("3 devices in all"), "{}", home.text);
    let tile =
        |href: &str, count: i64| format!("<a href=\"{href}\"><span class=\"count\">{count}</span>");
    assert!(
        home.text.contains(&tile("/devices?condition=error", 1)),
        "{}",
        home.text
    );
    assert!(
        home.text.contains(&tile("/devices?supply=low", 1)),
        "{}",
        home.text
    );
    assert!(
        home.text.contains(&tile("/devices?condition=ok", 2)),
        "{}",
        home.text
    );
    // The links list what they count.
    let stopped = browse(
        app,
        Method::GET,
        "/devices?condition=error",
        Some(&cookie),
        None,
    )
    .await;
    assert!(
        stopped.text.contains("JAM-1") && !stopped.text.contains("OK-3"),
        "{}",
        stopped.text
    );
    let low_list = browse(app, Method::GET, "/devices?supply=low", Some(&cookie), None).await;
    assert!(low_list.text.contains("LOW-2") && !low_list.text.contains("JAM-1"));
    // Search by serial, then the device's page.
    let found = browse(app, Method::GET, "/devices?q=low-2", Some(&cookie), None).await;
    assert!(
        found.text.contains("LOW-2") && !found.text.contains("OK-3"),
        "{}",
        found.text
    );
    let id = device_id(app, "LOW-2").await;
    assert!(found.text.contains(&format!("href=\"/devices/{id}\"")));
    let device = browse(
        app,
        Method::GET,
        &format!("/devices/{id}"),
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(device.status, StatusCode::OK, "{}", device.text);
    for shown in [
        "HP LaserJet M404",
        "LOW-2",
        "10.1.0.2",
        "Black Cartridge",
        "CF259A",
        "value=\"4\"",
    ] {
        assert!(device.text.contains(shown), "{shown} not on the page");
    }
    // The chart: vendored uPlot and our script, by src, and its data-device.
    assert_no_inline_code(&device.text, "a device's page");
    assert!(
        device
            .text
            .contains(&format!("id=\"meter-chart\" data-device=\"{id}\""))
    );
    for asset in [
        "/assets/uplot.iife.min.js",
        "/assets/device-chart.js",
        "/assets/uplot.min.css",
    ] {
        let file = browse(app, Method::GET, asset, None, None).await;
        assert_eq!(file.status, StatusCode::OK, "{asset}");
        assert!(file.text.len() > 500, "{asset}");
    }
    // A hand-edited filter shows everything rather than failing.
    let odd = browse(
        app,
        Method::GET,
        "/devices?condition=%3Cscript%3E",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(odd.status, StatusCode::OK);
    assert!(!odd.text.contains("<script"), "{}", odd.text);
}

async fn a_customer_sees_only_its_own_devices_on_the_pages(app: &TestApp) {
    let acme = customer_with(app, "Acme", vec![printer("ACME-1", "10.2.0.1")]).await;
    customer_with(app, "Bravo", vec![printer("BRAVO-1", "10.3.0.1")]).await;
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&app.admin_token),
            Some(json!({"tenant_id": acme, "email": "it@acme.example",
                        "password": "a long enough password", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let cookie = sign_in(app, "it@acme.example", "a long enough password").await;
    let list = browse(app, Method::GET, "/devices", Some(&cookie), None).await;
    assert!(
        list.text.contains("ACME-1") && !list.text.contains("BRAVO-1"),
        "{}",
        list.text
    );
    let search = browse(app, Method::GET, "/devices?q=bravo", Some(&cookie), None).await;
    assert!(!search.text.contains("BRAVO-1"));
    let home = browse(app, Method::GET, "/", Some(&cookie), None).await;
    assert!(home.text.contains("1 device in all"), "{}", home.text);
    // Bravo's device by editing the id in the address: as if it did not exist.
    let theirs = device_id(app, "BRAVO-1").await;
    let r = browse(
        app,
        Method::GET,
        &format!("/devices/{theirs}"),
        Some(&cookie),
        None,
    )
    .await;
    let nothing = browse(app, Method::GET, "/devices/999999", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!((r.status, &r.text), (nothing.status, &nothing.text));
    assert!(!r.text.contains("BRAVO"));
}

async fn pages_carry_a_strict_csp_and_redirect_when_signed_out(app: &TestApp) {
    let cookie = sign_in(app, "admin@localhost", ADMIN_PASSWORD).await;
    for path in ["/", "/devices", "/login", "/devices/424242"] {
        let page = browse(app, Method::GET, path, Some(&cookie), None).await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.starts_with("default-src 'self'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(page.headers[header::CACHE_CONTROL], "no-store", "{path}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(page.headers["referrer-policy"], "same-origin", "{path}");
        assert_no_inline_code(&page.text, path);
    }
    for path in ["/", "/devices?q=x", "/devices/1"] {
        let page = browse(app, Method::GET, path, None, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            page.location().starts_with("/login?next=%2F")
                || page.location().starts_with("/login?next=/"),
            "{path}: {}",
            page.location()
        );
    }
}

async fn reports_show_a_months_pages_and_download_as_csv(app: &TestApp) {
    let customer = app.customer("Acme").await;
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    for (seq, day, total) in [(1, 2, 1_000), (2, 20, 1_750)] {
        let mut s = printer("VOL-1", "10.4.0.1");
        s.collected_at = format!("2025-03-{day:02}T10:00:00Z");
        s.meters = vec![Meter {
            name: "total".into(),
            value: total,
            unit: "impressions".into(),
            oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
        }];
        let msg = AgentMessage::Submission(Submission {
            sent_at: s.collected_at.clone(),
            reports: vec![DeviceReport::Full {
                snapshot: Box::new(s),
            }],
        });
        let r = app.submit(&key, code.agent_id, seq, &msg).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    let cookie = sign_in(app, "admin@localhost", ADMIN_PASSWORD).await;
    let page = browse(
        app,
        Method::GET,
        "/reports?month=2025-03",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("750 pages in all"), "{}", page.text);
    assert!(
        page.text.contains("<td>Acme</td><td>1</td><td>750</td>"),
        "{}",
        page.text
    );
    assert!(page.text.contains("VOL-1"));
    // The download links work with the session cookie (a browser's GET).
    let link = "/api/v1/reports/page-volume?month=2025-03&amp;by=customer&amp;format=csv";
    assert!(page.text.contains(link), "{}", page.text);
    let csv = browse(
        app,
        Method::GET,
        &link.replace("&amp;", "&"),
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(csv.status, StatusCode::OK, "{}", csv.text);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        csv.text.contains("2025-03,") && csv.text.contains(",Acme,1,750"),
        "{}",
        csv.text
    );
    // A month that is none is said so, and this month shown instead.
    let odd = browse(
        app,
        Method::GET,
        "/reports?month=2025-13",
        Some(&cookie),
        None,
    )
    .await;
    assert_eq!(odd.status, StatusCode::OK);
    assert!(odd.text.contains("not a month"), "{}", odd.text);
}

/// The activation code a page shows once, from its activate line.
fn activate_line(text: &str) -> (String, String) {
    let marker = "<code class=\"command\">";
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no activate line: {text}"));
    let rest = &text[at + marker.len()..];
    let line = rest[..rest.find('<').unwrap()].to_string();
    let code = line.rsplit(' ').next().unwrap().to_string();
    (line, code)
}

async fn agents_are_created_listed_given_new_codes_and_revoked_on_the_page(app: &TestApp) {
    let acme = app.customer("Acme").await;
    let cookie = sign_in(app, "admin@localhost", ADMIN_PASSWORD).await;
    let list = browse(app, Method::GET, "/agents", Some(&cookie), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(list.text.contains("No agents"), "{}", list.text);
    assert!(list.text.contains("href=\"/agents\" aria-current=\"page\""));
    assert!(
        list.text
            .contains(&format!("<option value=\"{acme}\">Acme</option>"))
    );
    let token = csrf_of(&list);
    let acme_id = acme.to_string();
    let new = form(&[
        ("csrf_token", &token),
        ("name", "Head office"),
        ("tenant_id", &acme_id),
        ("site_id", ""),
    ]);
    // Without the form's token: refused, nothing created.
    let forged = form(&[("name", "Forged"), ("tenant_id", &acme_id)]);
    let r = browse(app, Method::POST, "/agents", Some(&cookie), Some(&forged)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let created = browse(app, Method::POST, "/agents", Some(&cookie), Some(&new)).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    let (line, code) = activate_line(&created.text);
    assert_eq!(
        line,
        format!("printwatch agent activate --server http://portal.test --code {code}")
    );
    assert!(created.text.contains(&format!("<code>{code}</code>")));
    assert!(created.text.contains("Head office") && created.text.contains("Acme"));
    // The list shows it pending, and never the code again.
    let list = browse(app, Method::GET, "/agents", Some(&cookie), None).await;
    assert!(list.text.contains("Head office"), "{}", list.text);
    assert!(
        list.text.contains("agent-pending\">pending"),
        "{}",
        list.text
    );
    assert!(!list.text.contains(&code));
    let pending = browse(
        app,
        Method::GET,
        "/agents?status=pending",
        Some(&cookie),
        None,
    )
    .await;
    assert!(pending.text.contains("Head office"));
    let offline = browse(
        app,
        Method::GET,
        "/agents?status=offline",
        Some(&cookie),
        None,
    )
    .await;
    assert!(!offline.text.contains("Head office"), "{}", offline.text);
    let parsed: printwatch_protocol::activation::ActivationCode = code.parse().unwrap();
    let id = parsed.agent_id.0;
    // A new code: the old one no longer activates, the new one does.
    let path = format!("/agents/{id}/code");
    let r = browse(app, Method::POST, &path, Some(&cookie), Some("")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let again = browse(
        app,
        Method::POST,
        &path,
        Some(&cookie),
        Some(&form(&[("csrf_token", &token)])),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    let (_, second) = activate_line(&again.text);
    assert_ne!(second, code);
    assert!(app.activate(&parsed).await.is_err());
    let key = app
        .activate(&second.parse().unwrap())
        .await
        .map_err(|r| r.text())
        .unwrap();
    // Its heartbeat: online, with its version, OS, host, spool and devices.
    let hb = AgentMessage::Heartbeat(Heartbeat {
        agent_version: "0.4.0".into(),
        os: "linux".into(),
        hostname: Some("printroom".into()),
        sent_at: printwatch_server::ingest::format_time(printwatch_server::now()),
        heartbeat_every_secs: 60,
        spool_records: 4,
        devices: 12,
        ..Default::default()
    });
    let r = app.deliver(&key, parsed.agent_id, 1, &hb).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.reply.text());
    let list = browse(
        app,
        Method::GET,
        "/agents?status=online",
        Some(&cookie),
        None,
    )
    .await;
    for shown in [
        "Head office",
        "agent-online\">online",
        "<td>0.4.0</td>",
        "<td>linux</td>",
        "<td>printroom</td>",
        "<td>4</td>",
        "<td>12</td>",
    ] {
        assert!(list.text.contains(shown), "{shown}: {}", list.text);
    }
    assert!(
        !list.text.contains(&path),
        "an active agent takes no new code"
    );
    // Revoke: without the token refused, with it done and back to the list.
    let path = format!("/agents/{id}/revoke");
    let r = browse(app, Method::POST, &path, Some(&cookie), Some("")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = browse(
        app,
        Method::POST,
        &path,
        Some(&cookie),
        Some(&form(&[("csrf_token", &token)])),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(r.location(), "/agents");
    let revoked = browse(
        app,
        Method::GET,
        "/agents?status=revoked",
        Some(&cookie),
        None,
    )
    .await;
    assert!(revoked.text.contains("Head office"), "{}", revoked.text);
    // Audited as the API's are.
    let log = app
        .db
        .store
        .audit_log(printwatch_server::ids::TenantId(acme), 100)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    for action in ["agent.create", "agent.new_pin", "agent.revoke"] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    // A name that will not do: the form again, with why.
    let blank = form(&[
        ("csrf_token", &token),
        ("name", " "),
        ("tenant_id", &acme_id),
    ]);
    let r = browse(app, Method::POST, "/agents", Some(&cookie), Some(&blank)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("role=\"alert\""), "{}", r.text);
    // A site of another customer: the form again, with why.
    let site = app
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&app.admin_token),
            Some(json!({"tenant_id": app.customer("Bravo").await, "name": "Bravo HQ"})),
        )
        .await;
    assert_eq!(site.status, StatusCode::CREATED, "{}", site.text());
    let site_id = site.json()["id"].as_i64().unwrap().to_string();
    let mismatched = form(&[
        ("csrf_token", &token),
        ("name", "Misplaced"),
        ("tenant_id", &acme_id),
        ("site_id", &site_id),
    ]);
    let r = browse(
        app,
        Method::POST,
        "/agents",
        Some(&cookie),
        Some(&mismatched),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("not the chosen customer"), "{}", r.text);
    // The dashboard's offline tile leads to the offline agents.
    let home = browse(app, Method::GET, "/", Some(&cookie), None).await;
    assert!(
        home.text.contains("<a href=\"/agents?status=offline\">"),
        "{}",
        home.text
    );
}

async fn a_customer_manages_only_its_own_agents_and_viewers_none(app: &TestApp) {
    let acme = app.customer("Acme").await;
    let bravo = app.customer("Bravo").await;
    app.new_agent(&app.admin_token, acme, "Acme basement").await;
    let theirs = app
        .new_agent(&app.admin_token, bravo, "Bravo basement")
        .await;
    for (email, role) in [("it@acme.example", "admin"), ("v@acme.example", "viewer")] {
        let r = app
            .call(
                Method::POST,
                "/api/v1/users",
                Some(&app.admin_token),
                Some(json!({"tenant_id": acme, "email": email,
                            "password": "a long enough password", "role": role})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let cookie = sign_in(app, "it@acme.example", "a long enough password").await;
    let list = browse(app, Method::GET, "/agents", Some(&cookie), None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert!(
        list.text.contains("Acme basement") && !list.text.contains("Bravo"),
        "{}",
        list.text
    );
    let token = csrf_of(&list);
    // Bravo's agent, or Bravo as the customer: as if they did not exist.
    for action in ["code", "revoke"] {
        let r = browse(
            app,
            Method::POST,
            &format!("/agents/{}/{action}", theirs.agent_id.0),
            Some(&cookie),
            Some(&form(&[("csrf_token", &token)])),
        )
        .await;
        let nothing = browse(
            app,
            Method::POST,
            &format!("/agents/999999/{action}"),
            Some(&cookie),
            Some(&form(&[("csrf_token", &token)])),
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{action}: {}", r.text);
        assert_eq!((r.status, &r.text), (nothing.status, &nothing.text));
    }
    let bravo_id = bravo.to_string();
    let r = browse(
        app,
        Method::POST,
        "/agents",
        Some(&cookie),
        Some(&form(&[
            ("csrf_token", &token),
            ("name", "Planted"),
            ("tenant_id", &bravo_id),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let bravo_agents = app
        .db
        .store
        .agents(printwatch_server::ids::TenantId(bravo))
        .await
        .unwrap();
    assert_eq!(bravo_agents.len(), 1);
    assert_eq!(
        bravo_agents[0].state,
        printwatch_server::model::AgentState::Pending
    );
    // A viewer has no agents: no entry in the navigation, a 403 page.
    let viewer = sign_in(app, "v@acme.example", "a long enough password").await;
    let home = browse(app, Method::GET, "/", Some(&viewer), None).await;
    assert!(!home.text.contains("href=\"/agents"), "{}", home.text);
    let r = browse(app, Method::GET, "/agents", Some(&viewer), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.text.contains("<html"), "{}", r.text);
    let token = csrf_of(&home);
    let acme_id = acme.to_string();
    let r = browse(
        app,
        Method::POST,
        "/agents",
        Some(&viewer),
        Some(&form(&[
            ("csrf_token", &token),
            ("name", "Viewer's"),
            ("tenant_id", &acme_id),
        ])),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

async fn an_authenticator_is_enrolled_on_the_account_page(app: &TestApp) {
    let cookie = sign_in(app, "admin@localhost", ADMIN_PASSWORD).await;
    let account = browse(app, Method::GET, "/account", Some(&cookie), None).await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.text);
    assert!(
        account.text.contains("No authenticator is enrolled yet"),
        "{}",
        account.text
    );
    let csrf = field(&account.text, "csrf_token");
    // The password is needed, and the form's CSRF token.
    let wrong = browse(
        app,
        Method::POST,
        "/account/totp",
        Some(&cookie),
        Some(&form(&[("csrf_token", &csrf), ("password", "not it")])),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    assert!(wrong.text.contains("is wrong"), "{}", wrong.text);
    let no_token = browse(
        app,
        Method::POST,
        "/account/totp",
        Some(&cookie),
        Some(&form(&[("password", ADMIN_PASSWORD)])),
    )
    .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let enrol = browse(
        app,
        Method::POST,
        "/account/totp",
        Some(&cookie),
        Some(&form(&[
            ("csrf_token", &csrf),
            ("password", ADMIN_PASSWORD),
        ])),
    )
    .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.text);
    // The QR code is an SVG element drawn by the server, with no inline style.
    assert!(
        enrol.text.contains("<svg") && enrol.text.contains("</svg>"),
        "{}",
        enrol.text
    );
    assert_no_inline_code(&enrol.text, "the enrolment page");
    let at =
        enrol.text.find("<code class=\"command\">").unwrap() + "<code class=\"command\">".len();
    let secret_text = &enrol.text[at..at + enrol.text[at..].find('<').unwrap()];
    let secret = common::base32_decode(secret_text);
    let code = printwatch_server::totp::code_at(&secret, printwatch_server::now() as u64).unwrap();
    let done = browse(
        app,
        Method::POST,
        "/account/totp/confirm",
        Some(&cookie),
        Some(&form(&[("csrf_token", &csrf), ("code", &code)])),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(
        done.text.contains("Your authenticator is enrolled"),
        "{}",
        done.text
    );
    // Signing in now asks for the code.
    let asks = browse(
        app,
        Method::POST,
        "/login",
        None,
        Some(&form(&[
            ("email", "admin@localhost"),
            ("password", ADMIN_PASSWORD),
        ])),
    )
    .await;
    assert!(asks.text.contains("id=\"totp\""), "{}", asks.text);
    // A bearer token (not an interactive session) cannot enrol.
    let by_token = app
        .raw(
            Method::POST,
            "/account/totp",
            Some(&app.admin_token),
            "application/x-www-form-urlencoded",
            form(&[("password", ADMIN_PASSWORD)]).into_bytes(),
        )
        .await;
    assert_eq!(
        by_token.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_token.text()
    );
}
