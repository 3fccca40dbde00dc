//! The live API against its OpenAPI document, with schemathesis (a property
//! based API tester, PyPI): the server runs on loopback with seeded data,
//! schemathesis generates valid and invalid requests for every operation
//! from the document and checks that nothing answers 5xx and that every
//! answer (status, content type, body) is one the document describes.
//!
//! schemathesis comes from `tools/schemathesis-venv.sh` (`.ci/run` makes
//! it); `PRINTWATCH_SCHEMATHESIS` names its executable. Missing, the test
//! is a recorded skip (`printwatch_testkit::skip`), a failure under
//! `PRINTWATCH_REQUIRE_ALL=1`.
//! `PRINTWATCH_FUZZ_SEED` and `PRINTWATCH_FUZZ_EXAMPLES` change the seed
//! (fixed by default, so that CI is reproducible) and the examples per
//! operation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use axum::http::{Method, StatusCode};
use common::app::TestApp;
use printwatch_protocol::message::{AgentMessage, DeviceReport, Submission};
use printwatch_snapshot::{Alert, Meter, Snapshot, Source, Supply};
use serde_json::json;

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,negative_data_rejection";

/// Operations that could take the seeded data or the fuzzer's own access
/// away (deleting the seeded customer, revoking the admin's token, ending
/// all the admin's credentials): each runs alone after the rest, in this
/// order. Without this, the fuzzer ends its own token early and most
/// operations answer only 401 (schemathesis warns "Authentication failed").
const DESTRUCTIVE: [&str; 3] = [
    "DELETE /api/v1/tenants/{tenant_id}",
    "DELETE /api/v1/tokens/{token_id}",
    "DELETE /api/v1/me/credentials",
];

fn schemathesis() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("PRINTWATCH_SCHEMATHESIS").map(PathBuf::from),
        Some(PathBuf::from(
            "/opt/printwatch-ci/schemathesis-venv/bin/schemathesis",
        )),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/printwatch/schemathesis-venv/bin/schemathesis")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

fn snapshot(serial: &str, day: u32, total: u64) -> Snapshot {
    let mut s = Snapshot::new("10.9.8.7");
    s.collected_at = format!("2025-03-{day:02}T10:00:00Z");
    s.family = Some("HP".into());
    s.vendor = Some("HP".into());
    s.model = Some("LaserJet M404".into());
    s.serial = Some(serial.into());
    s.meters = vec![Meter {
        name: "total".into(),
        value: total,
        unit: "impressions".into(),
        oid: Source::One("1.3.6.1.2.1.43.10.2.1.4.1.1".into()),
    }];
    s.supplies = vec![Supply {
        description: "Black toner".into(),
        kind: "toner".into(),
        color: Some("black".into()),
        level: Some(40),
        max: Some(100),
        percent: Some(40.0),
        state: "ok".into(),
        unit: Some("percent".into()),
        part_number: None,
        serial: None,
        oid: None,
    }];
    s.alerts = vec![Alert {
        severity: "warning".into(),
        group: "marker_supplies".into(),
        code: "toner_low".into(),
        description: Some("Toner low".into()),
        location: None,
    }];
    s
}

/// A customer with a site, a group, a viewer, an agent and two devices
/// with meter, supply and alert history: answers with content to check.
async fn seed(app: &TestApp) {
    let t = Some(app.admin_token.as_str());
    let customer = app.customer("Acme").await;
    for (path, body) in [
        (
            "/api/v1/sites",
            json!({"tenant_id": customer, "name": "HQ"}),
        ),
        (
            "/api/v1/groups",
            json!({"tenant_id": customer, "name": "Floor 1"}),
        ),
        (
            "/api/v1/users",
            json!({"tenant_id": customer, "email": "viewer@acme.example",
                   "password": "a long enough password", "role": "viewer"}),
        ),
        (
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 30}),
        ),
    ] {
        let r = app.call(Method::POST, path, t, Some(body)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {}", r.text());
    }
    let code = app.new_agent(&app.admin_token, customer, "basement").await;
    let key = app.activate(&code).await.map_err(|r| r.text()).unwrap();
    for (seq, day, total) in [(1, 1, 1000), (2, 2, 1300)] {
        let reports = ["CN1", "CN2"]
            .map(|serial| DeviceReport::Full {
                snapshot: Box::new(snapshot(serial, day, total)),
            })
            .to_vec();
        let msg = AgentMessage::Submission(Submission {
            sent_at: format!("2025-03-{day:02}T10:00:00Z"),
            reports,
        });
        let r = app.submit(&key, code.agent_id, seq, &msg).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    }
    // A second, pending agent: its PIN can be renewed.
    app.new_agent(&app.admin_token, customer, "annex").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_api_keeps_to_its_openapi_document() {
    let Some(exe) = schemathesis() else {
        return printwatch_testkit::skip(
            "the API fuzz test: schemathesis not found",
            "run tools/test or tools/schemathesis-venv.sh, or set PRINTWATCH_SCHEMATHESIS",
        );
    };
    let app = TestApp::new().await;
    seed(&app).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(printwatch_server::serve::run(
        app.state.clone(),
        listener,
        async {
            let _ = stopped.await;
        },
    ));

    let seed_value = std::env::var("PRINTWATCH_FUZZ_SEED").unwrap_or_else(|_| "20250301".into());
    let examples = std::env::var("PRINTWATCH_FUZZ_EXAMPLES").unwrap_or_else(|_| "40".into());
    let work = tempfile::tempdir().unwrap();
    let command = |filter: [&str; 2]| {
        let mut cmd = Command::new(&exe);
        cmd.current_dir(work.path())
            .env("NO_COLOR", "1")
            .arg("run")
            .arg(format!("http://{addr}/api/v1/openapi.json"))
            .args(["--url", &format!("http://{addr}")])
            .args(["--checks", CHECKS])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", &examples])
            .args(["--seed", &seed_value])
            .args(["--workers", "2"])
            .args(["--request-timeout", "30"])
            .args(["--suppress-health-check", "all"])
            .args(["--no-shrink"])
            .args(["-H", &format!("Authorization: Bearer {}", app.admin_token)])
            .args(filter);
        cmd
    };
    let mut failures = vec![];
    let rest = format!(
        "^({})$",
        DESTRUCTIVE.map(|d| d.replace(['{', '}'], ".")).join("|")
    );
    let mut runs = vec![["--exclude-operation-id-regex", rest.as_str()]];
    runs.extend(DESTRUCTIVE.map(|d| ["--include-operation-id", d]));
    for filter in runs {
        let mut cmd = command(filter);
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .unwrap()
            .expect("schemathesis runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("{text}");
        if !out.status.success() {
            failures.push(format!("{filter:?}: {}", out.status));
        }
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert!(
        failures.is_empty(),
        "schemathesis found problems (above): {failures:?}"
    );
}
