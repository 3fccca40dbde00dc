//! Billing meter reads (`GET /api/v1/reports/billing`) against values
//! computed by hand: a colour device, a counter reset, a device replaced
//! mid-month, a late spool (readings delivered after the first report,
//! with times inside the month), and two customers; on SQLite and
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::app::TestApp;
use printwatch_protocol::message::{AgentMessage, DeviceReport, Submission};
use printwatch_protocol::{AgentId, AgentKey};
use printwatch_snapshot::{Meter, Snapshot, Source};
use serde_json::{Value, json};

fn snap(serial: &str, at: &str, meters: &[(&str, u64)]) -> DeviceReport {
    let mut s = Snapshot::new("10.1.1.1");
    s.collected_at = format!("2025-{at}T10:00:00Z");
    s.family = Some("Ricoh".into());
    s.model = Some("IM C3000".into());
    s.serial = Some(serial.into());
    s.meters = meters
        .iter()
        .map(|(name, value)| Meter {
            name: (*name).into(),
            value: *value,
            unit: "impressions".into(),
            oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
        })
        .collect();
    DeviceReport::Full {
        snapshot: Box::new(s),
    }
}

struct Agent {
    id: AgentId,
    key: AgentKey,
    seq: u64,
}

impl Agent {
    async fn new(app: &TestApp, tenant: i64, name: &str) -> Agent {
        let code = app.new_agent(&app.admin_token, tenant, name).await;
        let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
        Agent {
            id: code.agent_id,
            key,
            seq: 0,
        }
    }

    async fn send(&mut self, app: &TestApp, reports: Vec<DeviceReport>) {
        self.seq += 1;
        let msg = AgentMessage::Submission(Submission {
            sent_at: "2025-05-10T00:00:00Z".into(),
            reports,
        });
        let r = app.submit(&self.key, self.id, self.seq, &msg).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/reports/billing?{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()
}

fn device<'a>(report: &'a Value, serial: &str) -> &'a Value {
    report["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == serial)
        .unwrap_or_else(|| panic!("{serial} not in {report}"))
}

/// (start, end, usage, resets, review) of one meter of one device.
fn meter(report: &Value, serial: &str, name: &str) -> (i64, i64, i64, i64, Vec<String>) {
    let m = device(report, serial)["meters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["meter"] == name)
        .unwrap_or_else(|| panic!("{serial} {name}"))
        .clone();
    let review = m["review"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    (
        m["start"].as_i64().unwrap(),
        m["end"].as_i64().unwrap(),
        m["usage"].as_i64().unwrap(),
        m["resets"].as_i64().unwrap(),
        review,
    )
}

fn review(report: &Value, serial: &str) -> Vec<String> {
    device(report, serial)["review"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

fn customer<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["customer"] == name)
        .unwrap_or_else(|| panic!("{name} not in {report}"))
}

async fn billing_matches_the_hand_computed_reads(app: &TestApp) {
    let admin = app.admin_token.clone();
    let acme = app.customer("Acme").await;
    let beta = app.customer("Beta").await;
    let mut office = Agent::new(app, acme, "office").await;
    let mut annex = Agent::new(app, acme, "annex").await;
    let mut beta_agent = Agent::new(app, beta, "beta").await;
    let colour = |total, mono, color, scan| {
        [
            ("total", total),
            ("total_mono", mono),
            ("total_color", color),
            ("scan", scan),
        ]
    };

    // March: the readings before the period (the starts).
    office
        .send(
            app,
            vec![
                snap("C1", "03-20", &[("total", 20_000)]),
                snap("A1", "03-25", &colour(10_000, 8_000, 2_000, 500)),
                snap("B1", "03-30", &[("total", 5_000)]),
            ],
        )
        .await;
    annex
        .send(app, vec![snap("E1", "03-31", &[("total", 1_000)])])
        .await;
    beta_agent
        .send(app, vec![snap("F1", "03-31", &[("total", 50)])])
        .await;
    // April. E1's agent delivers its 5 April reading, then goes offline.
    annex
        .send(app, vec![snap("E1", "04-05", &[("total", 1_100)])])
        .await;
    office
        .send(
            app,
            vec![
                // C1 is replaced by D1 after 8 April: C1 is never seen again.
                snap("C1", "04-08", &[("total", 20_800)]),
                snap("D1", "04-09", &[("total", 300)]),
                snap("A1", "04-10", &colour(10_600, 8_400, 2_200, 500)),
                snap("B1", "04-12", &[("total", 5_400)]),
            ],
        )
        .await;
    // B1's counter goes back (a new controller board): a reset.
    office
        .send(app, vec![snap("B1", "04-15", &[("total", 100)])])
        .await;
    beta_agent
        .send(app, vec![snap("F1", "04-15", &[("total", 80)])])
        .await;
    office
        .send(
            app,
            vec![
                snap("A1", "04-29", &colour(11_000, 8_700, 2_300, 530)),
                snap("B1", "04-30", &[("total", 700)]),
                snap("D1", "04-30", &[("total", 1_500)]),
            ],
        )
        .await;
    beta_agent
        .send(app, vec![snap("F1", "04-29", &[("total", 90)])])
        .await;
    // May: not in April's bill.
    office
        .send(
            app,
            vec![snap("A1", "05-03", &colour(11_100, 8_780, 2_320, 530))],
        )
        .await;

    let before_spool = report(app, &admin, "month=2025-04").await;
    assert_eq!(before_spool["from"], "2025-04-01T00:00:00Z");
    assert_eq!(before_spool["to"], "2025-05-01T00:00:00Z");
    // E1 before its agent's spool arrives: 100 pages, and a warning.
    assert_eq!(meter(&before_spool, "E1", "total").2, 100);
    assert_eq!(review(&before_spool, "E1"), ["stopped_reporting"]);

    // The late spool: collected in April, delivered now.
    annex
        .send(
            app,
            vec![
                snap("E1", "04-20", &[("total", 1_500)]),
                snap("E1", "04-28", &[("total", 1_900)]),
                snap("E1", "05-02", &[("total", 2_000)]),
            ],
        )
        .await;
    let bill = report(app, &admin, "month=2025-04").await;

    // A1, colour: every meter from its March reading to its last April one.
    assert_eq!(
        meter(&bill, "A1", "total"),
        (10_000, 11_000, 1_000, 0, vec![])
    );
    assert_eq!(
        meter(&bill, "A1", "total_mono"),
        (8_000, 8_700, 700, 0, vec![])
    );
    assert_eq!(
        meter(&bill, "A1", "total_color"),
        (2_000, 2_300, 300, 0, vec![])
    );
    assert_eq!(meter(&bill, "A1", "scan"), (500, 530, 30, 0, vec![]));
    assert!(review(&bill, "A1").is_empty());
    // B1: 400 before the reset, 100 up to the first reading after it,
    // 600 after: 1,100, where end − start would be −4,300.
    assert_eq!(
        meter(&bill, "B1", "total"),
        (5_000, 700, 1_100, 1, vec!["counter_reset".to_string()])
    );
    assert_eq!(review(&bill, "B1"), ["counter_reset"]);
    // C1 replaced by D1: C1 to its last reading, D1 from its first.
    assert_eq!(
        meter(&bill, "C1", "total"),
        (20_000, 20_800, 800, 0, vec![])
    );
    assert_eq!(review(&bill, "C1"), ["stopped_reporting"]);
    assert_eq!(
        meter(&bill, "D1", "total"),
        (
            300,
            1_500,
            1_200,
            0,
            vec!["first_read_in_period".to_string()]
        )
    );
    assert_eq!(review(&bill, "D1"), ["first_read_in_period", "new_device"]);
    // E1 with its late spool: 1,000 → 1,900.
    assert_eq!(meter(&bill, "E1", "total"), (1_000, 1_900, 900, 0, vec![]));
    assert!(review(&bill, "E1").is_empty());
    // Per customer.
    let a = customer(&bill, "Acme");
    assert_eq!(a["devices"], 5);
    assert_eq!(a["to_review"], 3, "{a}");
    assert_eq!(
        a["usage"],
        json!({"total": 5_000, "total_mono": 700, "total_color": 300, "scan": 30})
    );
    let b = customer(&bill, "Beta");
    assert_eq!(
        (b["devices"].clone(), b["usage"]["total"].clone()),
        (json!(1), json!(40))
    );

    // The same period by dates.
    let by_dates = report(
        app,
        &admin,
        "from=2025-04-01T00:00:00Z&to=2025-05-01T00:00:00Z",
    )
    .await;
    assert_eq!(by_dates, bill);

    // CSV: a row per device and meter; per customer and meter.
    let csv = app
        .call(
            Method::GET,
            "/api/v1/reports/billing?month=2025-04&format=csv",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    assert!(
        text.starts_with(
            "from,to,tenant_id,customer,site,device_id,identity,model,serial,meter,start,start_at,end,end_at,usage,resets,review\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            ",B1,total,5000,2025-03-30T10:00:00Z,700,2025-04-30T10:00:00Z,1100,1,counter_reset\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(",D1,total,300,2025-04-09T10:00:00Z,1500,2025-04-30T10:00:00Z,1200,0,first_read_in_period new_device\r\n"),
        "{text}"
    );
    let csv = app
        .call(
            Method::GET,
            "/api/v1/reports/billing?month=2025-04&format=csv&by=customer",
            Some(&admin),
            None,
        )
        .await;
    assert!(
        csv.text().contains(&format!(
            "2025-04-01T00:00:00Z,2025-05-01T00:00:00Z,{acme},Acme,5,3,total,5000\r\n"
        )),
        "{}",
        csv.text()
    );

    // One customer's bill.
    let only_beta = report(app, &admin, &format!("month=2025-04&tenant_id={beta}")).await;
    assert_eq!(only_beta["devices"].as_array().unwrap().len(), 1);
    assert_eq!(only_beta["devices"][0]["serial"], "F1");
    assert_eq!(only_beta["customers"].as_array().unwrap().len(), 1);

    // A user of Beta sees Beta only.
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"tenant_id": beta, "email": "boss@beta.example", "password": "a long enough password", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let viewer = app
        .login("boss@beta.example", "a long enough password")
        .await;
    // A viewer without granted groups sees nothing; its admin all of Beta.
    let none = report(app, &viewer, "month=2025-04").await;
    assert_eq!(none["devices"], json!([]));
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"tenant_id": beta, "email": "admin@beta.example", "password": "a long enough password", "role": "admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let beta_admin = app
        .login("admin@beta.example", "a long enough password")
        .await;
    let theirs = report(app, &beta_admin, "month=2025-04").await;
    let serials: Vec<&str> = theirs["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["serial"].as_str().unwrap())
        .collect();
    assert_eq!(serials, ["F1"]);
    assert_eq!(theirs["customers"].as_array().unwrap().len(), 1);
    // Asking for another customer's bill gives nothing of it.
    let other = report(app, &beta_admin, &format!("month=2025-04&tenant_id={acme}")).await;
    assert_eq!(other["devices"], json!([]));

    // Periods that are not one.
    for bad in [
        "",
        "month=2025-13",
        "month=2025-04&from=2025-04-01T00:00:00Z",
        "from=2025-04-01T00:00:00Z",
        "from=2025-05-01T00:00:00Z&to=2025-04-01T00:00:00Z",
        "from=yesterday&to=today",
    ] {
        let r = app
            .call(
                Method::GET,
                &format!("/api/v1/reports/billing?{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
}

crate::app_on_both!(billing_matches_the_hand_computed_reads);
