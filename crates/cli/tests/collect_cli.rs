//! `printwatch collect` as users and scripts call it (PRODUCT.md): the JSON
//! snapshot, SNMPv3 authPriv, and every documented exit code. Runs against
//! `printwatch sim` serving the project's own synthetic recording, so it
//! needs nothing installed. Addresses: 127.86.6.x.

mod common;

use std::process::Command;
use std::time::Duration;

fn fixture() -> std::path::PathBuf {
    common::workspace_root().join("examples/recordings/acme-laser.snmprec")
}

fn collect(tmp: &common::TempDir, args: &[&str]) -> common::Output {
    let mut cmd = Command::new(common::printwatch());
    cmd.arg("collect").args(args);
    common::run(&mut cmd, Duration::from_secs(30), tmp.path())
}

#[test]
fn collect_json_v2c_v3_and_exit_codes() {
    let tmp = common::TempDir::new("collect-cli");
    let printer_ip = common::test_ip(6, 1);
    let router_ip = common::test_ip(6, 2);
    let silent_ip = common::test_ip(6, 3);
    let port = common::free_udp_port(&[printer_ip, router_ip, silent_ip]);
    // A device that answers SNMP but is no printer.
    let router = tmp.file("router.snmprec");
    std::fs::write(
        &router,
        "1.3.6.1.2.1.1.1.0|4|Linux edge-router\n1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n",
    )
    .expect("write the router recording");
    let fleet = tmp.file("fleet.toml");
    std::fs::write(
        &fleet,
        format!(
            "port = {port}\n\
             [[v3-user]]\nuser = \"monitor\"\nauth-protocol = \"sha256\"\nauth-password = \"monitor-auth-pass\"\n\
             priv-protocol = \"aes256\"\npriv-password = \"monitor-priv-pass\"\n\
             [[device]]\naddress = \"{printer_ip}\"\nrecording = {:?}\n\
             [[device]]\naddress = \"{router_ip}\"\nrecording = {:?}\n\
             [[device]]\naddress = \"{silent_ip}\"\nrecording = {:?}\nfaults = {{ silent = true }}\n",
            fixture().display().to_string(),
            router.display().to_string(),
            router.display().to_string()
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

    // v2c, JSON: the documented keys, the snapshot's own values.
    let out = collect(&tmp, &["--json", &printer]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let snap: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON snapshot");
    for key in [
        "schema_version",
        "target",
        "collected_at",
        "vendor",
        "family",
        "model",
        "serial",
        "mac",
        "firmware",
        "hostname",
        "location",
        "contact",
        "asset_number",
        "sys_object_id",
        "sys_descr",
        "color",
        "status",
        "console",
        "meters",
        "supplies",
        "trays",
        "alerts",
        "warnings",
    ] {
        assert!(snap.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(snap["target"], printer.as_str());
    assert_eq!(snap["serial"], "ACM4200X0012345");
    assert_eq!(snap["mac"], "00:00:aa:12:34:56");
    assert_eq!(snap["color"], false);
    let meters = snap["meters"].as_array().expect("meters");
    let meter = |name: &str| {
        meters
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["value"].clone())
    };
    assert_eq!(meter("total"), Some(48213.into()));
    assert_eq!(meter("marker_life"), Some(48213.into()));
    // The PWG counter MIB (its tables are read after a deferred probe):
    // lifetime work totals per service.
    assert_eq!(meter("print"), Some(40000.into()));
    assert_eq!(meter("copy_mono"), Some(8213.into()));
    assert_eq!(meter("scan"), Some(1502.into()));
    let total = meters.iter().find(|m| m["name"] == "total").expect("total");
    assert_eq!(total["oid"], "1.3.6.1.4.1.2699.1.3.1.8.1.1.4.1.3.3");
    let supplies = snap["supplies"].as_array().expect("supplies");
    assert_eq!(supplies[0]["percent"], 34.5);
    assert_eq!(supplies[2]["state"], "some_remaining");
    assert!(supplies[2]["percent"].is_null());
    assert_eq!(snap["alerts"][0]["code"], "marker_toner_almost_empty");
    assert_eq!(snap["console"][0], "Ready");

    // SNMPv3 authPriv (SHA-256 / AES-256): the same device, read the same.
    let v3 = collect(
        &tmp,
        &[
            "--json",
            "--snmp-version",
            "3",
            "--user",
            "monitor",
            "--auth-protocol",
            "sha256",
            "--auth-password",
            "monitor-auth-pass",
            "--priv-protocol",
            "aes256",
            "--priv-password",
            "monitor-priv-pass",
            &printer,
        ],
    );
    assert_eq!(v3.code(), Some(0), "{}", v3.stderr);
    let snap3: serde_json::Value = serde_json::from_slice(&v3.stdout).expect("JSON snapshot");
    assert_eq!(snap3["serial"], snap["serial"]);
    assert_eq!(snap3["meters"], snap["meters"]);

    // 4: a named SNMPv3 failure.
    let wrong = collect(
        &tmp,
        &[
            "--snmp-version",
            "3",
            "--user",
            "monitor",
            "--auth-protocol",
            "sha256",
            "--auth-password",
            "not-the-password",
            "--priv-protocol",
            "aes256",
            "--priv-password",
            "monitor-priv-pass",
            "--timeout",
            "0.5",
            &printer,
        ],
    );
    assert_eq!(wrong.code(), Some(4), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("wrong digest"), "{}", wrong.stderr);
    // 5: answered, not a printer.
    let not_printer = collect(&tmp, &[&format!("{router_ip}:{port}")]);
    assert_eq!(not_printer.code(), Some(5), "{}", not_printer.stderr);
    // 3: no answer.
    let silent = collect(
        &tmp,
        &[
            "--timeout",
            "0.3",
            "--retries",
            "0",
            &format!("{silent_ip}:{port}"),
        ],
    );
    assert_eq!(silent.code(), Some(3), "{}", silent.stderr);
    // 2: usage.
    let usage = collect(&tmp, &["--timeout", "nope", &printer]);
    assert_eq!(usage.code(), Some(2), "{}", usage.stderr);
    let bad_target = collect(&tmp, &["[::1"]);
    assert_eq!(bad_target.code(), Some(2), "{}", bad_target.stderr);
    // The readable summary names the device.
    let text = collect(&tmp, &[&printer]);
    assert_eq!(text.code(), Some(0));
    assert!(text.stdout_text().contains("ACM4200X0012345"));
}
