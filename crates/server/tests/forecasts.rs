//! Supply forecasts through the API: a device's forecast and the fleet's
//! supplies to order (JSON and CSV, by customer and site, with part
//! numbers), on SQLite and PostgreSQL. The forecasts count from the real
//! clock, so the readings are dated from it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::http::{Method, StatusCode};
use common::app::TestApp;
use printwatch_protocol::message::{AgentMessage, DeviceReport, Submission};
use printwatch_server::ingest::format_time;
use printwatch_snapshot::{Snapshot, Supply};
use serde_json::{Value, json};

const DAY: i64 = 86_400;

fn supply(description: &str, color: &str, part: &str, percent: Option<f64>, state: &str) -> Supply {
    Supply {
        description: description.into(),
        kind: if description == "Staples" {
            "staples"
        } else {
            "toner"
        }
        .into(),
        color: Some(color.into()),
        level: percent.map(|p| p as i64),
        max: Some(100),
        percent,
        state: state.into(),
        unit: Some("percent".into()),
        part_number: Some(part.into()),
        serial: None,
        oid: None,
    }
}

fn report(serial: &str, at: i64, supplies: Vec<Supply>) -> DeviceReport {
    let mut s = Snapshot::new("10.2.2.2");
    s.collected_at = format_time(at);
    s.family = Some("HP".into());
    s.model = Some("Color LaserJet M454".into());
    s.serial = Some(serial.into());
    s.location = Some("2nd floor, =copy room".into());
    s.supplies = supplies;
    DeviceReport::Full {
        snapshot: Box::new(s),
    }
}

async fn agent_sends(app: &TestApp, tenant: i64, site: Option<i64>, reports: Vec<DeviceReport>) {
    let r = app
        .call(
            Method::POST,
            "/api/v1/agents",
            Some(&app.admin_token),
            Some(json!({"tenant_id": tenant, "name": format!("agent {site:?}"), "site_id": site})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let code = r.json()["activation_code"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    let msg = AgentMessage::Submission(Submission {
        sent_at: format_time(printwatch_server::now()),
        reports,
    });
    let r = app.submit(&key, code.agent_id, 1, &msg).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let r = app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
    r.json()
}

async fn forecasts_and_the_supplies_to_order(app: &TestApp) {
    let admin = app.admin_token.clone();
    let acme = app.customer("Acme").await;
    let site = app
        .call(
            Method::POST,
            "/api/v1/sites",
            Some(&admin),
            Some(json!({"tenant_id": acme, "name": "Main street"})),
        )
        .await
        .json()["id"]
        .as_i64()
        .unwrap();
    let now = printwatch_server::now();
    // P1, daily for 21 days until an hour ago: black 90 → 50 % (2 %/day,
    // 25 days left), cyan 90 → 10 % (4 %/day, 2.5 days left), a drum
    // that does not move, staples empty.
    let p1: Vec<DeviceReport> = (0..=20)
        .map(|d| {
            let at = now - 3600 - (20 - d) * DAY;
            report(
                "P1",
                at,
                vec![
                    supply(
                        "Black Toner",
                        "black",
                        "W2030A",
                        Some(90.0 - 2.0 * d as f64),
                        "ok",
                    ),
                    supply(
                        "Cyan Toner",
                        "cyan",
                        "W2031A",
                        Some(90.0 - 4.0 * d as f64),
                        "ok",
                    ),
                    supply("Drum", "none", "W1A01", Some(60.0), "ok"),
                    supply(
                        "Staples",
                        "none",
                        "Y1G14A",
                        None,
                        if d == 20 { "empty" } else { "ok" },
                    ),
                ],
            )
        })
        .collect();
    agent_sends(app, acme, Some(site), p1).await;
    // P2, no site, one reading: low, nothing to forecast from.
    agent_sends(
        app,
        acme,
        None,
        vec![report(
            "P2",
            now - 7200,
            vec![supply("Black Toner", "black", "CF259A", None, "low")],
        )],
    )
    .await;
    let devices = get(app, &admin, "/api/v1/devices").await;
    let p1_id = devices["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["serial"] == "P1")
        .unwrap()["id"]
        .as_i64()
        .unwrap();

    // The device's forecast.
    let f = get(app, &admin, &format!("/api/v1/devices/{p1_id}/forecast")).await;
    let supplies = f["supplies"].as_array().unwrap();
    let black = &supplies[0]["forecast"];
    assert_eq!(black["status"], "predicted", "{f}");
    let days = black["days_left"].as_f64().unwrap();
    assert!((days - 25.0).abs() < 1.0, "{f}");
    assert!(black["days_left_low"].as_f64().unwrap() < days);
    assert!(black["days_left_high"].as_f64().unwrap() > days);
    assert!((black["percent_per_day"].as_f64().unwrap() - 2.0).abs() < 0.1);
    assert_eq!(supplies[0]["part_number"], "W2030A");
    assert_eq!(supplies[2]["forecast"]["status"], "unknown");
    assert_eq!(supplies[2]["forecast"]["reason"], "not_draining");
    assert_eq!(supplies[3]["forecast"]["status"], "empty");

    // Within 14 days: cyan (forecast), staples (empty), P2's toner (low).
    let order = get(app, &admin, "/api/v1/reports/supplies-to-order?days=14").await;
    assert_eq!(order["days"], 14);
    let customers = order["customers"].as_array().unwrap();
    assert_eq!(customers.len(), 1, "{order}");
    assert_eq!(customers[0]["customer"], "Acme");
    let sites = customers[0]["sites"].as_array().unwrap();
    // Devices without a site first, then by name.
    assert_eq!(sites.len(), 2, "{order}");
    assert_eq!(sites[0]["site"], Value::Null);
    assert_eq!(sites[0]["supplies"][0]["part_number"], "CF259A");
    assert_eq!(sites[0]["supplies"][0]["reason"], "reported_low");
    assert_eq!(sites[1]["site"], "Main street");
    let main: Vec<(String, String)> = sites[1]["supplies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["part_number"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        main,
        [
            ("Y1G14A".to_string(), "empty".to_string()),
            ("W2031A".to_string(), "forecast".to_string()),
        ]
    );
    // Within 30 days the black toner too.
    let order = get(app, &admin, "/api/v1/reports/supplies-to-order?days=30").await;
    let parts: Vec<&str> = order["customers"][0]["sites"][1]["supplies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["part_number"].as_str().unwrap())
        .collect();
    assert_eq!(parts, ["Y1G14A", "W2031A", "W2030A"]);
    // The default is 14 days.
    let default = get(app, &admin, "/api/v1/reports/supplies-to-order").await;
    assert_eq!(default["days"], 14);

    // CSV: one row per supply, formulas neutralised.
    let csv = app
        .call(
            Method::GET,
            "/api/v1/reports/supplies-to-order?days=14&format=csv",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.content_type.as_deref(), Some("text/csv; charset=utf-8"));
    let text = csv.text();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "tenant_id,customer,site,device_id,identity,model,serial,location,description,kind,color,part_number,percent,state,reason,days_left,days_left_low,days_left_high,empty_at"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(text.contains(",Main street,"), "{text}");
    assert!(text.contains(",W2031A,10,ok,forecast,2."), "{text}");
    assert!(text.contains("\"2nd floor, =copy room\""), "{text}");

    // A viewer without granted groups sees nothing; bad horizons refused.
    let r = app
        .call(
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            Some(json!({"tenant_id": acme, "email": "v@acme.example", "password": "a long enough password", "role": "viewer"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let viewer = app.login("v@acme.example", "a long enough password").await;
    let none = get(app, &viewer, "/api/v1/reports/supplies-to-order?days=30").await;
    assert_eq!(none["customers"], json!([]));
    let r = app
        .call(
            Method::GET,
            &format!("/api/v1/devices/{p1_id}/forecast"),
            Some(&viewer),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for bad in ["days=0", "days=367", "days=soon", "days=14&x=1"] {
        let r = app
            .call(
                Method::GET,
                &format!("/api/v1/reports/supplies-to-order?{bad}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
}

crate::app_on_both!(forecasts_and_the_supplies_to_order);
