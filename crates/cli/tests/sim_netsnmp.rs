//! `printwatch sim` walked by net-snmp's own tools: every record of each
//! served recording (less the lines our parser reports invalid) must come
//! back with its OID, type and value bytes, in order, and the walk must end
//! cleanly (endOfMibView, exit 0, nothing on standard error), over v2c
//! (community `public` and the recording's base name), v3 authPriv (the
//! simulator's default user: `simulator`, SHA / AES-128, `auctoritas` /
//! `privatus`), with GETNEXT (`snmpwalk`) and GETBULK (`snmpbulkwalk`).
//!
//! Interface used (PRODUCT.md, `printwatch sim --help`): `printwatch sim
//! --bind ADDRESS --port PORT FILE`, and `--bind CIDR --count N --map FILE
//! DIR…` whose map has one line per address: `ADDRESS:PORT<TAB>FILE-NAME`.
//!
//! Each test serves on `127.86.3.<n>` (one address, or a block) and a free
//! high port.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{NetSnmpEnv, Proc, TempDir, need};

/// net-snmp's arguments for the simulator's v3 user.
const V3: &[&str] = &[
    "-v3",
    "-l",
    "authPriv",
    "-u",
    common::SIM_V3_USER,
    "-a",
    "SHA",
    "-A",
    common::SIM_V3_AUTH,
    "-x",
    "AES",
    "-X",
    common::SIM_V3_PRIV,
];

/// Reads `ADDRESS[:PORT] … RECORDING` lines: the address is the first
/// token that parses as one, the recording the last token, matched to one
/// of `files` by file name, base name or path.
fn parse_map(
    text: &str,
    files: &[PathBuf],
    port: u16,
) -> Result<Vec<(SocketAddr, PathBuf)>, String> {
    let mut map = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let tokens: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '→' || c == '=')
            .filter(|t| !t.is_empty())
            .collect();
        let address = tokens
            .iter()
            .find_map(|t| {
                t.parse::<SocketAddr>()
                    .ok()
                    .or_else(|| t.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, port)))
            })
            .ok_or_else(|| format!("map line without an address: {line:?}"))?;
        let last = tokens.last().copied().unwrap_or("");
        let file = files
            .iter()
            .find(|f| {
                f.file_name().is_some_and(|n| n == last)
                    || common::stem(f) == last
                    || f.as_os_str() == last
            })
            .ok_or_else(|| format!("map line names no recording served: {line:?}"))?;
        map.push((address, file.clone()));
    }
    Ok(map)
}

/// Starts `printwatch sim ARGS…` and waits for its map: from `map_file`, or
/// (without one) from its standard output, until `count` lines are there.
fn start_sim(
    tmp: &TempDir,
    args: &[String],
    map_file: Option<&Path>,
    count: usize,
    files: &[PathBuf],
    port: u16,
) -> (Proc, Vec<(SocketAddr, PathBuf)>) {
    let mut all = vec!["sim".to_owned()];
    all.extend_from_slice(args);
    let mut sim = Proc::spawn("printwatch-sim", tmp.path(), &common::printwatch(), &all);
    let started = Instant::now();
    let map = loop {
        sim.assert_running();
        let text = match map_file {
            Some(p) => std::fs::read_to_string(p).unwrap_or_default(),
            None => sim.stdout(),
        };
        if text.lines().filter(|l| !l.trim().is_empty()).count() >= count && text.ends_with('\n') {
            break parse_map(&text, files, port).unwrap_or_else(|e| panic!("{e}\n{}", sim.log()));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "printwatch sim {}: no map of {count} lines within 60 s\n{}",
            args.join(" "),
            sim.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        map.len(),
        count,
        "printwatch sim: expected {count} map lines, got {map:?}"
    );
    for (address, _) in &map {
        common::wait_for_agent(&mut sim, *address, "public", Duration::from_secs(30));
    }
    (sim, map)
}

/// Walks one served recording with every tool and credential, comparing
/// each walk with the recording.
fn check_device(
    tools: &Tools,
    env: &NetSnmpEnv,
    tmp: &TempDir,
    address: SocketAddr,
    file: &Path,
    failures: &mut Vec<String>,
) {
    let expectation = common::expectation(file);
    let name = common::stem(file);
    let v2c_public: &[&str] = &["-v2c", "-c", "public"];
    let v2c_name: Vec<&str> = vec!["-v2c", "-c", &name];
    let walks: [(&str, &Path, &[&str]); 4] = [
        ("snmpwalk v2c public", &tools.snmpwalk, v2c_public),
        ("snmpbulkwalk v2c base name", &tools.snmpbulkwalk, &v2c_name),
        ("snmpwalk v3 authPriv", &tools.snmpwalk, V3),
        ("snmpbulkwalk v3 authPriv", &tools.snmpbulkwalk, V3),
    ];
    for (what, tool, credentials) in walks {
        let label = format!("sim {name} at {address}: {what}");
        match common::try_netsnmp_walk(tool, env, tmp, credentials, address, ".1") {
            Ok(got) => {
                let diff = common::compare(&expectation.records, &got);
                let excluded = if expectation.excluded_lines.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} invalid lines left out)",
                        expectation.excluded_lines.len()
                    )
                };
                common::report(&format!("{}{excluded}", diff.summary(&label)));
                if !diff.is_clean() {
                    failures.push(format!("{}\n{}", diff.summary(&label), diff.details(5)));
                }
            }
            Err(e) => {
                common::report(&format!("{label}: FAILED"));
                failures.push(format!("{label}: {e}"));
            }
        }
    }
}

struct Tools {
    snmpwalk: PathBuf,
    snmpbulkwalk: PathBuf,
}

fn tools() -> Result<Tools, String> {
    Ok(Tools {
        snmpwalk: common::netsnmp_tool("snmpwalk")?,
        snmpbulkwalk: common::netsnmp_tool("snmpbulkwalk")?,
    })
}

/// One recording on one address (zebra: it has lines that cannot be served,
/// which the simulator must skip without losing the rest); the map on
/// standard output.
#[test]
fn one_recording_walked_by_netsnmp() {
    let tools = need!(tools());
    let file = need!(common::recording("librenms/snmprec/zebra.snmprec"));
    let tmp = TempDir::new("sim-one");
    let ip = common::test_ip(3, 1);
    let port = common::free_udp_port(&[ip]);
    let args = vec![
        "--bind".to_owned(),
        ip.to_string(),
        "--port".to_owned(),
        port.to_string(),
        file.display().to_string(),
    ];
    let files = [file];
    let (_sim, map) = start_sim(&tmp, &args, None, 1, &files, port);
    assert_eq!(
        map[0].0,
        SocketAddr::from((ip, port)),
        "the map names another address"
    );
    let env = NetSnmpEnv::new(&tmp);
    let mut failures = Vec::new();
    check_device(&tools, &env, &tmp, map[0].0, &map[0].1, &mut failures);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every full recording (two directories) on the first addresses of a
/// block, the map in a file.
#[test]
fn fleet_of_recordings_walked_by_netsnmp() {
    let tools = need!(tools());
    let root = need!(common::recordings_dir());
    let dirs = ["librenms/snmprec", "printmaster/snmprec"];
    let files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| printwatch_testkit::recordings::files(&root, d, ".snmprec"))
        .collect();
    if files.len() < 2 {
        common::missing(&format!("fewer than two recordings in {dirs:?}"));
        return;
    }
    let tmp = TempDir::new("sim-fleet");
    let block_base = Ipv4Addr::new(127, 86, 3, 32);
    let count = files.len();
    assert!(count <= 30, "the /27 holds 30 devices");
    let addresses: Vec<Ipv4Addr> = (1..=count as u8)
        .map(|i| Ipv4Addr::from(u32::from(block_base) + u32::from(i)))
        .collect();
    let port = common::free_udp_port(&addresses);
    let map_file = tmp.file("map.txt");
    let mut args = vec![
        "--bind".to_owned(),
        format!("{block_base}/27"),
        "--count".to_owned(),
        count.to_string(),
        "--port".to_owned(),
        port.to_string(),
        "--map".to_owned(),
        map_file.display().to_string(),
    ];
    args.extend(dirs.iter().map(|d| root.join(d).display().to_string()));
    let (_sim, map) = start_sim(&tmp, &args, Some(&map_file), count, &files, port);

    // The first N usable addresses of the block, each serving a different
    // recording (N recordings for N addresses).
    let mut served: Vec<SocketAddr> = map.iter().map(|(a, _)| *a).collect();
    served.sort();
    let wanted: Vec<SocketAddr> = addresses
        .iter()
        .map(|ip| SocketAddr::from((*ip, port)))
        .collect();
    assert_eq!(served, wanted, "devices not on the first {count} addresses");
    let mut recordings: Vec<&PathBuf> = map.iter().map(|(_, f)| f).collect();
    recordings.sort();
    recordings.dedup();
    assert_eq!(recordings.len(), count, "a recording served twice: {map:?}");

    let env = NetSnmpEnv::new(&tmp);
    let mut failures = Vec::new();
    for (address, file) in &map {
        check_device(&tools, &env, &tmp, *address, file, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} walks differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
