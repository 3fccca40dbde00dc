//! The portal in a real headless Chromium: `printwatch demo` (the server,
//! a simulated fleet and an agent, on loopback) and `tests/browser/portal.mjs`
//! driving Debian's Chromium through playwright-core, with axe-core on every
//! page. The script's steps: sign in with the keyboard only and a second
//! factor, the dashboard, a device found by its serial, another customer's
//! user kept out (by link and by an edited address), the reports page and
//! its CSV download, the agents page (one created, its activate line
//! shown), sign-out; screenshots
//! at phone and desktop widths go to `target/browser-screenshots/`
//! (`tools/screenshots` copies them to `docs/screenshots/`).
//!
//! Needs `node`, `tests/browser/node_modules` (`npm ci` there) and Chromium
//! (`/usr/bin/chromium`, or `PRINTWATCH_CHROMIUM`): a skip without them,
//! a failure under `PRINTWATCH_REQUIRE_ALL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_printwatch");

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What the browser test needs, or why it cannot run.
fn prerequisites() -> Result<(PathBuf, PathBuf), String> {
    let root = printwatch_testkit::workspace_root();
    let dir = root.join("tests/browser");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Err("node is not installed".into());
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        return Err("tests/browser/node_modules is missing".into());
    }
    let chromium = std::env::var_os("PRINTWATCH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!("no Chromium at {}", chromium.display()));
    }
    Ok((dir, chromium))
}

#[test]
fn the_portal_works_in_chromium() {
    let (dir, chromium) = match prerequisites() {
        Ok(found) => found,
        Err(why) => {
            printwatch_testkit::skip(
                &format!("the browser test: {why}"),
                "apt-get install chromium nodejs npm; (cd tests/browser && npm ci)",
            );
            return;
        }
    };
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut demo = Proc(
        Command::new(BIN)
            .args(["demo", "--printers", "12", "--bind", "127.201.0.0/28"])
            .args(["--port", &free_udp_port().to_string()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--stop-after", "600", "--keep"])
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The demo prints its URL and login once the fleet is in the API.
    let mut lines = BufReader::new(demo.0.stdout.take().unwrap()).lines();
    let (mut url, mut login) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(180);
    while url.is_none() || login.is_none() {
        assert!(Instant::now() < deadline, "the demo did not start");
        let Some(Ok(line)) = lines.next() else {
            panic!("the demo stopped before printing its login");
        };
        if let Some(rest) = line.strip_prefix("portal: ") {
            url = rest
                .split_whitespace()
                .next()
                .map(|u| u.trim_end_matches('/').to_string());
        }
        if let Some(rest) = line.strip_prefix("login: ") {
            let mut parts = rest.split_whitespace();
            login = Some((
                parts.next().unwrap().to_string(),
                parts.next().unwrap().to_string(),
            ));
        }
    }
    // Keep reading so that the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let (email, password) = login.unwrap();
    let shots = printwatch_testkit::workspace_root().join("target/browser-screenshots");
    let out = Command::new("node")
        .arg(dir.join("portal.mjs"))
        .current_dir(&dir)
        .env("PW_URL", url.unwrap())
        .env("PW_EMAIL", email)
        .env("PW_PASSWORD", password)
        .env("PW_CHROMIUM", chromium)
        .env("PW_SHOTS", &shots)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    printwatch_testkit::report(&text);
    assert!(out.status.success(), "the browser test failed:\n{text}");
    for page in [
        "sign-in",
        "dashboard",
        "devices",
        "device",
        "reports",
        "agents",
    ] {
        for width in ["desktop", "phone"] {
            let shot = shots.join(format!("{page}-{width}.png"));
            assert!(shot.exists(), "{} missing", shot.display());
        }
    }
}
