//! The README's walkthrough, run as written: the `sh` blocks between
//! `<!-- walkthrough -->` and `<!-- /walkthrough -->` go, in order, into one
//! bash script (`set -euo pipefail`: any failing step fails the test) run in
//! a temporary directory with the `printwatch` under test first on the PATH.
//! It starts a real server, simulator and agent, so the documented commands
//! are the ones that work.
//!
//! Only the ports change: the server's `127.0.0.1:8080` and the simulator's
//! UDP `16100` become free high ports, so that the test stays on loopback
//! and runs beside others. `examples/` is linked into the directory. It needs
//! bash, curl and jq (a recorded skip without them; `.ci/run` installs them).
//!
//! The README's first commands are checked too: the demo, then `tools/test`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const START: &str = "<!-- walkthrough -->";
const END: &str = "<!-- /walkthrough -->";
const SERVER: &str = "127.0.0.1:8080";
const SIM_PORT: &str = "16100";
/// The simulator's addresses in the README (`--bind 127.0.0.0/29 --count 3`).
const SIM_HOSTS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(127, 0, 0, 1),
    Ipv4Addr::new(127, 0, 0, 2),
    Ipv4Addr::new(127, 0, 0, 3),
];

fn readme() -> String {
    let path = printwatch_testkit::workspace_root().join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The bodies of the ```sh blocks of `text`, in order.
fn sh_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim_end() == "```sh" => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => blocks.extend(current.take()),
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    assert!(current.is_none(), "an sh block is not closed");
    blocks
}

/// The walkthrough's part of the README.
fn walkthrough(text: &str) -> &str {
    let start = text
        .find(START)
        .expect("the README has <!-- walkthrough -->");
    let end = text
        .find(END)
        .expect("the README has <!-- /walkthrough -->");
    assert!(
        start < end,
        "the walkthrough's markers are in the wrong order"
    );
    &text[start + START.len()..end]
}

#[test]
fn the_first_commands_are_the_demo_and_the_test_command() {
    let text = readme();
    let first = sh_blocks(&text).into_iter().next().expect("an sh block");
    assert_eq!(first, "cargo run --release -- demo\ntools/test\n");
    let tools_test = printwatch_testkit::workspace_root().join("tools/test");
    assert!(tools_test.is_file(), "{} is missing", tools_test.display());
}

fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port on loopback")
}

/// A high UDP port free on every simulator address.
fn free_udp_port() -> u16 {
    for _ in 0..100 {
        let Ok(first) = std::net::UdpSocket::bind((SIM_HOSTS[0], 0)) else {
            continue;
        };
        let Ok(port) = first.local_addr().map(|a| a.port()) else {
            continue;
        };
        if port >= 10_000
            && SIM_HOSTS[1..]
                .iter()
                .all(|ip| std::net::UdpSocket::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no UDP port free on {SIM_HOSTS:?}");
}

/// Kills the script's process group (the server, simulator and agent it
/// started in the background) when dropped, even after a failure.
struct Group(u32);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn the_walkthrough_runs_as_written() {
    let missing: Vec<&str> = ["bash", "curl", "jq"]
        .into_iter()
        .filter(|p| program(p).is_none())
        .collect();
    if !missing.is_empty() {
        return printwatch_testkit::skip(
            &format!("the README walkthrough needs {}", missing.join(", ")),
            "Debian: apt-get install curl jq",
        );
    }
    let text = readme();
    let part = walkthrough(&text);
    for token in [SERVER, SIM_PORT] {
        assert!(
            part.contains(token),
            "the walkthrough no longer uses {token}"
        );
    }
    let blocks = sh_blocks(part);
    assert!(
        blocks.len() >= 6,
        "the walkthrough has {} blocks",
        blocks.len()
    );
    let (tcp, udp) = (free_tcp_port(), free_udp_port());
    let script = format!("set -euo pipefail\n{}", blocks.concat())
        .replace(SERVER, &format!("127.0.0.1:{tcp}"))
        .replace(SIM_PORT, &udp.to_string());

    let dir = tempfile::tempdir().expect("a temporary directory");
    std::os::unix::fs::symlink(
        printwatch_testkit::workspace_root().join("examples"),
        dir.path().join("examples"),
    )
    .expect("link examples/");
    std::fs::write(dir.path().join("walkthrough.sh"), &script).expect("write the script");
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_printwatch"));
    let bin_dir = bin.parent().unwrap_or(Path::new("."));
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("a PATH");
    let stdout = dir.path().join("stdout");
    let stderr = dir.path().join("stderr");
    let mut child = {
        use std::os::unix::process::CommandExt as _;
        Command::new("bash")
            .arg("walkthrough.sh")
            .current_dir(dir.path())
            .env("PATH", path)
            // Nothing of the caller's environment may steer the server.
            .env_remove("PRINTWATCH_DATABASE_URL")
            .env_remove("PRINTWATCH_ADMIN_EMAIL")
            .env_remove("PRINTWATCH_MASTER_KEY")
            .env_remove("PRINTWATCH_AGENT_STATE")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("start bash")
    };
    let _group = Group(child.id());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(180) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(&stdout).unwrap_or_default();
    let err = std::fs::read_to_string(&stderr).unwrap_or_default();
    let shown = format!("--- script\n{script}\n--- stdout\n{out}\n--- stderr\n{err}");
    let Some(status) = status else {
        panic!("the walkthrough did not end within 180 s\n{shown}");
    };
    assert!(
        status.success(),
        "the walkthrough failed ({status})\n{shown}"
    );

    // What each step shows.
    assert!(out.contains("activation code: "), "{shown}");
    let devices: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| l.starts_with("{\"id\""))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(devices.len(), 3, "three devices listed\n{shown}");
    let serials: std::collections::BTreeSet<&str> = devices
        .iter()
        .filter_map(|d| d["serial"].as_str())
        .collect();
    assert_eq!(serials.len(), 3, "each with its own serial\n{shown}");
    for header in ["percent", "value"] {
        assert!(
            out.lines().any(|l| l.contains(',') && l.contains(header)),
            "a CSV export with a {header} column\n{shown}"
        );
    }
    assert!(out.contains("/api/v1/openapi.json"), "{shown}");
    assert!(out.contains("api docs: 200 text/html"), "{shown}");
    println!("{shown}");
}
