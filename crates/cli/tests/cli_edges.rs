//! The rough edges a new user meets first (issue 15): credential sets
//! tried in order by `collect` and `walk`, exit codes with their hints, the
//! guard on large scans and the progress lines of a scan without a
//! terminal. Runs the binary against `printwatch sim` serving the
//! project's own recording on loopback (127.86.7.x, a free high port), so
//! it needs nothing installed.

mod common;

use std::process::Command;
use std::time::Duration;

fn fixture() -> std::path::PathBuf {
    common::workspace_root().join("examples/recordings/acme-laser.snmprec")
}

fn printwatch(tmp: &common::TempDir, args: &[&str]) -> common::Output {
    let mut cmd = Command::new(common::printwatch());
    cmd.args(args);
    common::run(&mut cmd, Duration::from_secs(60), tmp.path())
}

const V3: &[&str] = &[
    "--snmp-version",
    "3",
    "--user",
    "monitor",
    "--auth-protocol",
    "sha",
    "--auth-password",
    "monitor-auth-pass",
    "--priv-protocol",
    "aes",
];

/// A simulated printer (with a v3 user, authPriv SHA/AES) and a silent
/// address, on a free port.
struct Fleet {
    _sim: common::Proc,
    printer: String,
    printer_ip: String,
    silent: String,
    port: u16,
}

fn fleet(tmp: &common::TempDir) -> Fleet {
    let printer_ip = common::test_ip(7, 1);
    let silent_ip = common::test_ip(7, 2);
    let port = common::free_udp_port(&[printer_ip, silent_ip]);
    let fleet = tmp.file("fleet.toml");
    std::fs::write(
        &fleet,
        format!(
            "port = {port}\n\
             [[v3-user]]\nuser = \"monitor\"\nauth-protocol = \"sha\"\nauth-password = \"monitor-auth-pass\"\n\
             priv-protocol = \"aes\"\npriv-password = \"monitor-priv-pass\"\n\
             [[device]]\naddress = \"{printer_ip}\"\nrecording = {:?}\n\
             [[device]]\naddress = \"{silent_ip}\"\nrecording = {:?}\nfaults = {{ silent = true }}\n",
            fixture().display().to_string(),
            fixture().display().to_string(),
        ),
    )
    .expect("write the fleet");
    let mut sim = common::Proc::spawn(
        "sim",
        tmp.path(),
        &common::printwatch(),
        &["sim".into(), "--fleet".into(), fleet.display().to_string()],
    );
    let printer = format!("{printer_ip}:{port}");
    common::wait_for_agent(
        &mut sim,
        printer.parse().expect("address"),
        "public",
        Duration::from_secs(20),
    );
    Fleet {
        _sim: sim,
        printer,
        printer_ip: printer_ip.to_string(),
        silent: format!("{silent_ip}:{port}"),
        port,
    }
}

#[test]
fn exit_codes_name_the_likely_cause() {
    let tmp = common::TempDir::new("cli-edges-exit");
    let f = fleet(&tmp);
    let quick = ["--timeout", "0.3", "--retries", "0"];

    // A wrong community: 3, and the hint.
    let mut args = vec!["collect", "--community", "not-this-one"];
    args.extend(quick);
    args.push(&f.printer);
    let wrong = printwatch(&tmp, &args);
    assert_eq!(wrong.code(), Some(3), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("no answer"), "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("wrong community") && wrong.stderr.contains("SNMP is disabled"),
        "{}",
        wrong.stderr
    );
    assert!(
        !wrong.stderr.contains("not-this-one"),
        "a secret shown: {}",
        wrong.stderr
    );
    assert!(wrong.stderr.contains("after no retry"), "{}", wrong.stderr);

    // A wrong v3 privacy password: the agent authenticated us, then never
    // answered: 4, named.
    let mut args = vec!["collect"];
    args.extend(V3);
    args.extend(["--priv-password", "not-the-priv-pass"]);
    // Patient enough for discovery on a loaded machine: the silence that
    // follows is what is named.
    args.extend(["--timeout", "1", "--retries", "0"]);
    args.push(&f.printer);
    let privacy = printwatch(&tmp, &args);
    assert_eq!(privacy.code(), Some(4), "{}", privacy.stderr);
    assert!(
        privacy.stderr.contains("decryption failure"),
        "{}",
        privacy.stderr
    );
    assert!(
        privacy.stderr.contains("--priv-password"),
        "{}",
        privacy.stderr
    );
    assert!(
        !privacy.stderr.contains("not-the-priv-pass"),
        "{}",
        privacy.stderr
    );
    // The right one collects.
    let mut args = vec!["collect"];
    args.extend(V3);
    args.extend(["--priv-password", "monitor-priv-pass", &f.printer]);
    let right = printwatch(&tmp, &args);
    assert_eq!(right.code(), Some(0), "{}", right.stderr);

    // A device that is silent to every request stays "no answer" (3).
    let mut args = vec!["collect"];
    args.extend(V3);
    args.extend(["--priv-password", "monitor-priv-pass"]);
    args.extend(quick);
    args.push(&f.silent);
    let silent = printwatch(&tmp, &args);
    assert_eq!(silent.code(), Some(3), "{}", silent.stderr);

    // Usage errors: 2, before anything is sent.
    for args in [
        vec!["collect", "--snmp-version", "4", &f.printer],
        vec![
            "collect",
            "--snmp-version",
            "3",
            "--user",
            "monitor",
            "--auth-password",
            "short",
            &f.printer,
        ],
        vec!["collect", "--snmp-version", "3", &f.printer],
        vec!["collect", "127.0.0.1:99999"],
        vec!["collect", "no/such/host"],
        vec!["collect", "--retries", "11", &f.printer],
        vec!["walk", "--snmp-version", "4", &f.printer],
        vec!["walk", &f.printer, "1.3.six"],
        vec!["scan", "--snmp-version", "4", &f.printer_ip],
        vec!["scan", "10.0.0.0/33"],
        vec!["scan", "--rate", "0", &f.printer_ip],
    ] {
        let out = printwatch(&tmp, &args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.elapsed < Duration::from_secs(5),
            "{args:?} waited for something"
        );
    }
}

#[test]
fn credential_sets_are_tried_in_order() {
    let tmp = common::TempDir::new("cli-edges-credentials");
    let f = fleet(&tmp);

    // First community wrong, second right: collected, the second named on
    // stderr and in the snapshot, no community shown.
    let out = printwatch(
        &tmp,
        &[
            "collect",
            "--json",
            "--timeout",
            "1",
            "--retries",
            "0",
            "--community",
            "wrong-one",
            "--community",
            "public",
            &f.printer,
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    assert_eq!(snap["serial"], "ACM4200X0012345");
    assert_eq!(snap["credential"], "v2c community #2");
    assert_eq!(snap["addresses"], serde_json::json!([f.printer_ip]));
    assert!(
        out.stderr
            .contains("credential set 1 of 2 (v2c community #1): no answer"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("answered to credential set 2 of 2: v2c community #2"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-one"), "{}", out.stderr);

    // A credentials file: a v3 user with a wrong password (refused, named),
    // then a community that answers.
    let file = tmp.file("credentials.toml");
    std::fs::write(
        &file,
        "[[credentials]]\nuser = \"monitor\"\nauth-protocol = \"sha\"\nauth-password = \"wrong-auth-pass\"\n\
         [[credentials]]\ncommunity = \"public\"\n",
    )
    .expect("write the credentials");
    let file = file.display().to_string();
    let out = printwatch(
        &tmp,
        &[
            "collect",
            "--json",
            "--timeout",
            "1",
            "--credentials",
            &file,
            &f.printer,
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    assert_eq!(snap["credential"], "credentials file set 2 (v2c community)");
    assert!(out.stderr.contains("wrong digest"), "{}", out.stderr);
    assert!(!out.stderr.contains("wrong-auth-pass"), "{}", out.stderr);

    // Every set refused by a device that answers: 4, not 3.
    std::fs::write(
        tmp.file("refused.toml"),
        "[[credentials]]\nuser = \"monitor\"\nauth-protocol = \"sha\"\nauth-password = \"wrong-auth-pass\"\n\
         [[credentials]]\nuser = \"nobody\"\nauth-protocol = \"sha\"\nauth-password = \"wrong-auth-pass\"\n",
    )
    .expect("write the credentials");
    let refused = tmp.file("refused.toml").display().to_string();
    let out = printwatch(
        &tmp,
        &[
            "collect",
            "--timeout",
            "1",
            "--credentials",
            &refused,
            &f.printer,
        ],
    );
    assert_eq!(out.code(), Some(4), "{}", out.stderr);

    // Walk, the same way.
    let out = printwatch(
        &tmp,
        &[
            "walk",
            "--timeout",
            "1",
            "--retries",
            "0",
            "--community",
            "wrong-one",
            "--community",
            "public",
            &f.printer,
            "1.3.6.1.2.1.1",
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout_text().contains("1.3.6.1.2.1.1.1.0|4|"),
        "{}",
        out.stdout_text()
    );
    assert!(
        out.stderr.contains("credential set 2 of 2"),
        "{}",
        out.stderr
    );
    // Both silent: 3, the hint, and the sets tried.
    let out = printwatch(
        &tmp,
        &[
            "walk",
            "--timeout",
            "0.3",
            "--retries",
            "0",
            "--community",
            "wrong-one",
            "--community",
            "wrong-two",
            &f.printer,
        ],
    );
    assert_eq!(out.code(), Some(3), "{}", out.stderr);
    assert!(
        out.stderr.contains("any of the 2 credential sets"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("wrong community"), "{}", out.stderr);

    // Scan: a second community finds the printer; its snapshot names it.
    let port = f.port.to_string();
    let out = printwatch(
        &tmp,
        &[
            "scan",
            "--json",
            "--port",
            &port,
            "--timeout",
            "1",
            "--retries",
            "0",
            "--community",
            "wrong-one",
            "--community",
            "public",
            &f.printer_ip,
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let snap: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap_or_default())
            .expect("one JSON line");
    assert_eq!(snap["credential"], "v2c community #2");
}

#[test]
fn a_scan_reports_progress_and_exits_by_what_it_found() {
    let tmp = common::TempDir::new("cli-edges-scan");
    let f = fleet(&tmp);
    let port = f.port.to_string();
    let silent_ip = f.silent.split(':').next().unwrap_or_default().to_owned();
    // Standard error is a file here: progress lines, not a bar.
    let out = printwatch(
        &tmp,
        &[
            "scan",
            "--port",
            &port,
            "--timeout",
            "1",
            "--retries",
            "0",
            "--progress-every",
            "0.2",
            &format!("{}-2", f.printer_ip),
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let progress: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("scan: "))
        .collect();
    assert!(!progress.is_empty(), "{}", out.stderr);
    assert!(
        progress.iter().all(|l| l.contains("/2 probed")),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains('\r'),
        "a terminal bar in a file: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 printer on 2 addresses"),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout_text().contains("ACM4200X0012345"),
        "{}",
        out.stdout_text()
    );
    // Nothing answers: 3.
    let out = printwatch(
        &tmp,
        &[
            "scan",
            "--port",
            &port,
            "--timeout",
            "0.3",
            "--retries",
            "0",
            &silent_ip,
        ],
    );
    assert_eq!(out.code(), Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("no address answered"), "{}", out.stderr);
}

/// `unshare -rn`: a new network namespace (only a loopback, down), where
/// no packet can leave, when the system allows it.
fn without_network() -> Option<Command> {
    let unshare = common::find_program("unshare", &["/usr/bin/unshare"]).ok()?;
    let works = Command::new(&unshare)
        .args(["-rn", "true"])
        .status()
        .is_ok_and(|s| s.success());
    works.then(|| {
        let mut cmd = Command::new(unshare);
        cmd.arg("-rn").arg(common::printwatch());
        cmd
    })
}

#[test]
fn a_large_scan_is_refused_before_anything_is_sent() {
    let tmp = common::TempDir::new("cli-edges-large");
    // Not a terminal (stdin is /dev/null): refused, with the estimate and
    // the flag. The refusal comes before any socket; to be sure no packet
    // leaves even if it did not, the scan runs in a namespace without a
    // network where that is allowed, and excludes the whole range anyway
    // (the guard counts what was asked for).
    let args = ["scan", "10.0.0.0/8", "--exclude", "10.0.0.0/8"];
    let mut cmd = without_network().unwrap_or_else(|| Command::new(common::printwatch()));
    cmd.args(args);
    let out = common::run(&mut cmd, Duration::from_secs(30), tmp.path());
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("16,777,214 addresses"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("at --rate 2,000: about 2 h 19 min"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was sent"), "{}", out.stderr);
    assert!(
        out.elapsed < Duration::from_secs(10),
        "it waited for something"
    );
    assert!(out.stdout.is_empty());
    // Above ten minutes at the chosen rate, though below a /16.
    let out = printwatch(
        &tmp,
        &[
            "scan",
            "--rate",
            "50",
            "10.0.0.0/16",
            "--exclude",
            "10.0.0.0/16",
        ],
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("65,534 addresses at --rate 50: about 22 min"),
        "{}",
        out.stderr
    );
}

/// The demo's own output: the SNMPv3 line it prints works against its
/// fleet (the documented user `demo`, authPriv SHA/AES), and so does the
/// scan it suggests.
#[cfg(feature = "server")]
#[test]
fn the_demo_prints_next_steps_that_work_and_a_v3_user() {
    let tmp = common::TempDir::new("cli-edges-demo");
    let hosts: Vec<std::net::Ipv4Addr> = (33..=37).map(|n| common::test_ip(7, n)).collect();
    let port = common::free_udp_port(&hosts);
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port");
    let mut demo = common::Proc::spawn(
        "demo",
        tmp.path(),
        &common::printwatch(),
        &[
            "demo".into(),
            "--printers".into(),
            "4".into(),
            "--bind".into(),
            "127.86.7.32/28".into(),
            "--port".into(),
            port.to_string(),
            "--listen".into(),
            listen.to_string(),
            "--keep".into(),
            tmp.path().join("demo").display().to_string(),
            "--stop-after".into(),
            "60".into(),
        ],
    );
    let started = std::time::Instant::now();
    let output = loop {
        let text = demo.stdout();
        if text.contains("Ctrl-C stops everything.") {
            break text;
        }
        demo.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the demo did not get ready:\n{}",
            demo.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let suggested = |start: &str| -> Vec<String> {
        output
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?}:\n{output}"))
            .split_whitespace()
            .skip(1) // "printwatch"
            .map(String::from)
            .collect()
    };
    let v3 = suggested("printwatch collect --snmp-version 3");
    assert!(v3.contains(&"demo-priv-pass".to_string()), "{v3:?}");
    let mut cmd = Command::new(common::printwatch());
    cmd.args(&v3).arg("--json");
    let out = common::run(&mut cmd, Duration::from_secs(30), tmp.path());
    assert_eq!(out.code(), Some(0), "{v3:?}: {}", out.stderr);
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    assert!(snap["serial"].is_string(), "{snap}");
    // The same device over v2c is the same device.
    let mut cmd = Command::new(common::printwatch());
    cmd.args(suggested("printwatch collect 127.86.7.33"));
    let plain = common::run(&mut cmd, Duration::from_secs(30), tmp.path());
    assert_eq!(plain.code(), Some(0), "{}", plain.stderr);
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).expect("JSON snapshot");
    assert_eq!(plain["serial"], snap["serial"]);
    assert!(
        plain["firmware"].is_string(),
        "the demo's HP names its firmware: {plain}"
    );
    let mut cmd = Command::new(common::printwatch());
    cmd.args(suggested("printwatch scan"));
    let scan = common::run(&mut cmd, Duration::from_secs(60), tmp.path());
    assert_eq!(scan.code(), Some(0), "{}", scan.stderr);
    assert!(
        scan.stderr.contains("4 printers on 5 addresses"),
        "{}",
        scan.stderr
    );
}
