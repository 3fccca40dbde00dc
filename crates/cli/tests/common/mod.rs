//! The interoperability harness shared by the tests that talk to real SNMP
//! software: net-snmp's `snmpd` and tools, and the independent simulator
//! snmpsim (from PyPI).
//!
//! - A missing real component makes a test record a skip (printed, and in
//!   the registry `tools/test` summarises: `printwatch_testkit::skip`) and
//!   return, or fail when `PRINTWATCH_REQUIRE_ALL=1` (CI): [`missing`] and
//!   [`need!`].
//! - Every process a test starts is held by a [`Proc`] guard, killed when the
//!   guard is dropped, even when the test panics; every short command runs
//!   with a deadline ([`run`]).
//! - Traffic stays on loopback, on addresses of 127.0.0.0/8 other than
//!   127.0.0.1 (a system snmpd may hold 127.0.0.1:161) and high ports. Address
//!   plan: `127.86.<file>.<test>`, file 1 = interop_snmpd, 2 = interop_snmpsim,
//!   3 = sim_netsnmp, 4 = conformance, 5 = collect_budget, 6 = collect_cli,
//!   7 = cli_edges; the port is a free high one found at run time.
//! - [`parse_netsnmp`] reads net-snmp's output with `-On -Ox -Oe` (numeric
//!   OIDs, every string in hex, numeric enums) back into our [`VarBind`]s,
//!   so that walks are compared by OID, type and value bytes, never by text.
//!
//! Environment: `PRINTWATCH_RECORDINGS` (default `<workspace>/../shared/recordings`),
//! `PRINTWATCH_SNMPSIM` (default `/opt/printwatch-ci/snmpsim-venv/bin/snmpsim-command-responder`,
//! made by `.ci/run` or `tools/snmpsim-venv.sh`), `PRINTWATCH_REQUIRE_ALL`,
//! `PRINTWATCH_KEEP_TMP=1` keeps the temporary directories for a post-mortem.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use printwatch_snmp::snmprec::{self, Recording};
use printwatch_snmp::{Oid, Value, VarBind};

/// The environment variable that turns every skip into a failure.
pub const REQUIRE_ALL: &str = printwatch_testkit::REQUIRE_ALL;

/// Where `.ci/run` puts snmpsim when `PRINTWATCH_SNMPSIM` is not set.
pub const DEFAULT_SNMPSIM: &str = "/opt/printwatch-ci/snmpsim-venv/bin/snmpsim-command-responder";

/// The printwatch binary under test.
pub fn printwatch() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_printwatch"))
}

/// Writes a line to the real standard error, past the test harness's output
/// capture, so that skips and summaries show in CI logs.
pub fn report(line: &str) {
    printwatch_testkit::report(line);
}

/// A real component is missing: record the skip (the caller then returns,
/// or goes on with less), or panic when `PRINTWATCH_REQUIRE_ALL=1`. `why`
/// says how to get the component.
pub fn missing(why: &str) {
    printwatch_testkit::skip(why, "");
}

/// `need!(expr)`: the `Ok` value of a `Result<T, String>` that looks for a
/// real component, or (on `Err(why)`) skip the test, or fail it under
/// `PRINTWATCH_REQUIRE_ALL=1`. (Not every test file needs one.)
#[allow(unused_macros)]
macro_rules! need {
    ($found:expr) => {
        match $found {
            Ok(value) => value,
            Err(why) => {
                $crate::common::missing(&why);
                return;
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use need;

// ---------------------------------------------------------------------------
// Finding the real components

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    printwatch_testkit::workspace_root()
}

/// The folder of real printer recordings (`../shared/recordings`).
pub fn recordings_dir() -> Result<PathBuf, String> {
    printwatch_testkit::recordings::dir()
}

/// Every `*.snmprec` file under the recordings folder, sorted by path. A
/// part that is absent is a recorded skip (a failure under
/// `PRINTWATCH_REQUIRE_ALL=1`), not a smaller test.
pub fn all_recordings() -> Result<Vec<PathBuf>, String> {
    let root = recordings_dir()?;
    let mut files = Vec::new();
    for sub in [
        "librenms/snmprec",
        "librenms/detect-only",
        "printmaster/snmprec",
    ] {
        files.extend(printwatch_testkit::recordings::files(
            &root, sub, ".snmprec",
        ));
    }
    Ok(files)
}

/// The `*.snmprec` files of one folder, sorted.
pub fn snmprec_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "snmprec"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One recording of the shared folder (`librenms/snmprec/sharp.snmprec`).
pub fn recording(relative: &str) -> Result<PathBuf, String> {
    let path = recordings_dir()?.join(relative);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("recording {} is missing", path.display()))
    }
}

/// A file's base name (`sharp` for `…/sharp.snmprec`).
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An executable found by absolute path candidates, then on `PATH`.
pub fn find_program(name: &str, candidates: &[&str]) -> Result<PathBuf, String> {
    for c in candidates {
        let p = Path::new(c);
        if is_executable(p) {
            return Ok(p.to_path_buf());
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if is_executable(&p) {
                return Ok(p);
            }
        }
    }
    Err(format!(
        "{name} not found (Debian: apt-get install {})",
        match name {
            "snmpd" => "snmpd",
            _ => "snmp",
        }
    ))
}

fn is_executable(p: &Path) -> bool {
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// net-snmp's agent.
pub fn snmpd() -> Result<PathBuf, String> {
    find_program("snmpd", &["/usr/sbin/snmpd"])
}

/// A net-snmp command-line tool (`snmpwalk`, `snmpbulkwalk`, `snmpget`).
pub fn netsnmp_tool(name: &str) -> Result<PathBuf, String> {
    find_program(name, &[])
}

/// snmpsim's responder: `PRINTWATCH_SNMPSIM`, else the venv of `.ci/run`.
pub fn snmpsim() -> Result<PathBuf, String> {
    let path = std::env::var_os("PRINTWATCH_SNMPSIM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SNMPSIM));
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(format!(
            "snmpsim not found at {} (run tools/snmpsim-venv.sh, or set PRINTWATCH_SNMPSIM)",
            path.display()
        ))
    }
}

/// True when this process runs as root (read from /proc, no libc needed).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Temporary directories

/// A temporary directory, world-readable (snmpsim drops privileges to
/// `nobody` and must read what is in it), removed on drop unless
/// `PRINTWATCH_KEEP_TMP=1`.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        loop {
            let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = std::env::temp_dir().join(format!(
                "printwatch-{label}-{}-{n}-{nanos:08x}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    set_mode(&path, 0o755);
                    return TempDir { path };
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => panic!("cannot create {}: {e}", path.display()),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory (created, mode 0755).
    pub fn subdir(&self, name: &str) -> PathBuf {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).expect("create a subdirectory");
        set_mode(&p, 0o755);
        p
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var("PRINTWATCH_KEEP_TMP").is_ok_and(|v| v == "1") {
            report(&format!("kept {}", self.path.display()));
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode));
}

// ---------------------------------------------------------------------------
// Processes

/// A long-running process (an agent, a simulator), killed when dropped.
/// Its standard output and error go to files, read with [`Proc::stdout`] and
/// [`Proc::log`].
pub struct Proc {
    name: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// Longest life of a spawned server: a safety net (coreutils `timeout`) for
/// when the test process itself is killed and no destructor runs.
const SERVER_LIFETIME_SECS: u32 = 900;

impl Proc {
    /// Starts `program args…` with its output in `dir/<name>.stdout|stderr`.
    pub fn spawn(name: &str, dir: &Path, program: &Path, args: &[String]) -> Proc {
        Proc::spawn_env(name, dir, program, args, &[])
    }

    pub fn spawn_env(
        name: &str,
        dir: &Path,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Proc {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let mut cmd = match find_program("timeout", &["/usr/bin/timeout"]) {
            Ok(timeout) => {
                let mut c = Command::new(timeout);
                c.arg("--kill-after=5")
                    .arg(SERVER_LIFETIME_SECS.to_string())
                    .arg(program);
                c
            }
            Err(_) => Command::new(program),
        };
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).expect("create a log file"))
            .stderr(std::fs::File::create(&stderr).expect("create a log file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        Proc {
            name: name.to_owned(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// What the process wrote on standard output so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// The end of both outputs, for failure messages.
    pub fn log(&self) -> String {
        let mut text = String::new();
        for (label, path) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let body = std::fs::read_to_string(path).unwrap_or_default();
            let tail: Vec<&str> = body.lines().rev().take(40).collect();
            let _ = writeln!(
                text,
                "--- {} {label} (last {} lines)",
                self.name,
                tail.len()
            );
            for line in tail.into_iter().rev() {
                let _ = writeln!(text, "{line}");
            }
        }
        text
    }

    /// The exit status, if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Panics with the process's log if it has ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!("{} ended early ({status}):\n{}", self.name, self.log());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        // SIGTERM first: `timeout` passes it on to the server and exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// What a finished command left.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs a command to its end, killing it (and failing) after `limit`.
pub fn run(cmd: &mut Command, limit: Duration, dir: &Path) -> Output {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = dir.join(format!("cmd{n}.stdout"));
    let err_path = dir.join(format!("cmd{n}.stderr"));
    let shown = format!("{cmd:?}");
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("create an output file"))
        .stderr(std::fs::File::create(&err_path).expect("create an output file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let mut guard = Proc {
        name: shown.clone(),
        child: Some(child),
        stdout: out_path.clone(),
        stderr: err_path.clone(),
    };
    let status = loop {
        if let Some(status) = guard.exited() {
            break status;
        }
        if started.elapsed() > limit {
            panic!(
                "command did not end within {} s: {shown}\n{}",
                limit.as_secs(),
                guard.log()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(guard);
    Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

// ---------------------------------------------------------------------------
// Addresses and readiness

/// `127.86.<file>.<test>`: see the module documentation.
pub fn test_ip(file: u8, test: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 86, file, test)
}

/// A high UDP port that is free on every one of `ips` right now.
pub fn free_udp_port(ips: &[Ipv4Addr]) -> u16 {
    for _ in 0..200 {
        let first = UdpSocket::bind(SocketAddrV4::new(ips[0], 0))
            .unwrap_or_else(|e| panic!("cannot bind {}: {e}", ips[0]));
        let port = first.local_addr().expect("local address").port();
        if port < 10_000 {
            continue;
        }
        let held: Vec<_> = ips[1..]
            .iter()
            .map(|ip| UdpSocket::bind(SocketAddrV4::new(*ip, port)))
            .collect();
        if held.iter().all(Result::is_ok) {
            return port;
        }
    }
    panic!("no free UDP port on {ips:?}");
}

/// An SNMPv2c GET of sysDescr.0, encoded by hand (no SNMP library in the
/// loop: it only asks "is anybody there?").
fn v2c_probe(community: &str, request_id: u8) -> Vec<u8> {
    let community = community.as_bytes();
    assert!(community.len() < 90, "probe community too long");
    let varbind: &[u8] = &[
        0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
    ];
    let mut pdu = vec![
        0x02,
        0x01,
        request_id & 0x7f,
        0x02,
        0x01,
        0x00,
        0x02,
        0x01,
        0x00,
    ];
    pdu.push(0x30);
    pdu.push(varbind.len() as u8);
    pdu.extend_from_slice(varbind);
    let mut body = vec![0x02, 0x01, 0x01, 0x04, community.len() as u8];
    body.extend_from_slice(community);
    body.push(0xa0);
    body.push(pdu.len() as u8);
    body.extend_from_slice(&pdu);
    let mut msg = vec![0x30, body.len() as u8];
    msg.extend_from_slice(&body);
    msg
}

/// Waits until an agent answers a v2c GET with `community` (any answer), or
/// fails with the server's log if it ended or `limit` passed.
pub fn wait_for_agent(server: &mut Proc, target: SocketAddr, community: &str, limit: Duration) {
    let started = Instant::now();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("set a read timeout");
    let mut buf = [0u8; 65536];
    let mut id = 1u8;
    loop {
        server.assert_running();
        let _ = socket.send_to(&v2c_probe(community, id), target);
        id = id.wrapping_add(1);
        if let Ok((n, from)) = socket.recv_from(&mut buf)
            && from == target
            && n > 0
        {
            return;
        }
        if started.elapsed() > limit {
            panic!(
                "{target} did not answer within {} s\n{}",
                limit.as_secs(),
                server.log()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// net-snmp's tools

/// A private configuration for net-snmp's tools: MIB loading off (numeric
/// output only, no warnings) and a persistent directory of their own, so
/// that nothing in /etc/snmp, ~/.snmp or /var/lib/snmp is read or written.
pub struct NetSnmpEnv {
    conf_dir: PathBuf,
    persist_dir: PathBuf,
}

impl NetSnmpEnv {
    pub fn new(tmp: &TempDir) -> NetSnmpEnv {
        let conf_dir = tmp.subdir("netsnmp-conf");
        let persist_dir = tmp.subdir("netsnmp-persist");
        // Made here so that the tools do not say "Created directory" on stderr.
        let certs = persist_dir.join("cert_indexes");
        let _ = std::fs::create_dir_all(&certs);
        set_mode(&certs, 0o700);
        std::fs::write(
            conf_dir.join("snmp.conf"),
            format!("mibs :\npersistentDir {}\n", persist_dir.display()),
        )
        .expect("write snmp.conf");
        NetSnmpEnv {
            conf_dir,
            persist_dir,
        }
    }

    /// Applies the environment to a command of net-snmp (tool or agent).
    pub fn apply<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env("SNMPCONFPATH", &self.conf_dir)
            .env("SNMP_PERSISTENT_DIR", &self.persist_dir)
    }

    pub fn vars(&self) -> Vec<(String, String)> {
        vec![
            ("SNMPCONFPATH".into(), self.conf_dir.display().to_string()),
            (
                "SNMP_PERSISTENT_DIR".into(),
                self.persist_dir.display().to_string(),
            ),
        ]
    }
}

/// Runs a net-snmp walk tool (`snmpwalk` or `snmpbulkwalk`) with output
/// options `-On -Ox -Oe` and the given credential arguments over `root`,
/// and returns what it walked. Fails unless it ended cleanly (exit 0, no
/// error on standard error).
pub fn netsnmp_walk(
    tool: &Path,
    env: &NetSnmpEnv,
    tmp: &TempDir,
    credentials: &[&str],
    target: SocketAddr,
    root: &str,
) -> Vec<VarBind> {
    try_netsnmp_walk(tool, env, tmp, credentials, target, root).unwrap_or_else(|e| panic!("{e}"))
}

/// [`netsnmp_walk`], with the failure as a message instead of a panic.
pub fn try_netsnmp_walk(
    tool: &Path,
    env: &NetSnmpEnv,
    tmp: &TempDir,
    credentials: &[&str],
    target: SocketAddr,
    root: &str,
) -> Result<Vec<VarBind>, String> {
    let mut cmd = Command::new(tool);
    env.apply(&mut cmd)
        .args(["-On", "-Ox", "-Oe", "-t", "5", "-r", "1"])
        .args(credentials)
        .arg(target.to_string())
        .arg(root);
    let out = run(&mut cmd, Duration::from_secs(300), tmp.path());
    let shown = format!(
        "{} {} {target} {root}",
        tool.display(),
        credentials.join(" ")
    );
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Created directory:"))
        .collect();
    if !out.status.success() || !errors.is_empty() {
        return Err(format!(
            "{shown} did not end cleanly ({}):\n{}",
            out.status, out.stderr
        ));
    }
    parse_netsnmp(&out.stdout_text()).map_err(|e| format!("{shown}: {e}"))
}

/// Reads the output of net-snmp's tools with `-On -Ox -Oe` (`.OID = TYPE:
/// VALUE`, hex strings wrapped over several lines). A walk's closing
/// endOfMibView lines ("No more variables left in this MIB View") are not
/// records and are dropped.
pub fn parse_netsnmp(text: &str) -> Result<Vec<VarBind>, String> {
    let mut out: Vec<VarBind> = Vec::new();
    // Set while the last record is a hex string that may go on.
    let mut hex_open = false;
    for (n, line) in text.lines().enumerate() {
        let bad = |why: &str| format!("net-snmp output line {}: {why}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with('.') {
            // Continuation of a Hex-STRING.
            let last = out
                .last_mut()
                .filter(|_| hex_open)
                .ok_or_else(|| bad("stray line"))?;
            let Value::OctetString(bytes) = &mut last.value else {
                return Err(bad("continuation of a non-string"));
            };
            bytes.extend(parse_hex_bytes(line).map_err(|e| bad(&e))?);
            continue;
        }
        hex_open = false;
        let (oid_text, rest) = line.split_once(" = ").ok_or_else(|| bad("no ' = '"))?;
        let oid: Oid = oid_text.parse().map_err(|_| bad("bad OID"))?;
        if rest.starts_with("No more variables left in this MIB View") {
            continue;
        }
        let value = if rest == "\"\"" {
            Value::OctetString(Vec::new())
        } else if rest.starts_with("No Such Object available") {
            Value::NoSuchObject
        } else if rest.starts_with("No Such Instance currently exists") {
            Value::NoSuchInstance
        } else if rest == "NULL" {
            Value::Null
        } else {
            let (kind, v) = rest.split_once(": ").ok_or_else(|| bad("no type"))?;
            let num = |v: &str| v.trim().parse::<u64>().map_err(|_| bad("bad number"));
            let u32_of = |v: &str| -> Result<u32, String> {
                u32::try_from(num(v)?).map_err(|_| bad("number out of range"))
            };
            match kind {
                "INTEGER" => Value::Integer(v.trim().parse().map_err(|_| bad("bad integer"))?),
                "Hex-STRING" => {
                    hex_open = true;
                    Value::OctetString(parse_hex_bytes(v).map_err(|e| bad(&e))?)
                }
                "OID" => Value::ObjectId(v.trim().parse().map_err(|_| bad("bad OID value"))?),
                "IpAddress" => {
                    let ip: Ipv4Addr = v.trim().parse().map_err(|_| bad("bad IpAddress"))?;
                    Value::IpAddress(ip.octets())
                }
                "Counter32" => Value::Counter32(u32_of(v)?),
                "Gauge32" | "Unsigned32" => Value::Gauge32(u32_of(v)?),
                "Counter64" => Value::Counter64(num(v)?),
                "Timeticks" => {
                    // "(724425094) 83 days, 20:17:30.94"
                    let inner = v
                        .strip_prefix('(')
                        .and_then(|r| r.split_once(')'))
                        .ok_or_else(|| bad("bad Timeticks"))?
                        .0;
                    Value::TimeTicks(u32_of(inner)?)
                }
                "Opaque" => {
                    // net-snmp decodes the Opaque-wrapped float and double
                    // of RFC draft-perkins-opaque (laLoadFloat) and prints
                    // them rounded: the bytes are rebuilt from the text and
                    // may differ in the last bits; compare their type only.
                    let v = v.trim();
                    if let Some(f) = v.strip_prefix("Float: ") {
                        let f: f32 = f.trim().parse().map_err(|_| bad("bad Float"))?;
                        let mut b = vec![0x9f, 0x78, 0x04];
                        b.extend_from_slice(&f.to_be_bytes());
                        Value::Opaque(b)
                    } else if let Some(d) = v.strip_prefix("Double: ") {
                        let d: f64 = d.trim().parse().map_err(|_| bad("bad Double"))?;
                        let mut b = vec![0x9f, 0x79, 0x08];
                        b.extend_from_slice(&d.to_be_bytes());
                        Value::Opaque(b)
                    } else {
                        let hex = v.strip_prefix("Hex-STRING:").unwrap_or(v);
                        Value::Opaque(parse_hex_bytes(hex).map_err(|e| bad(&e))?)
                    }
                }
                other => return Err(bad(&format!("type {other} not understood"))),
            }
        };
        out.push(VarBind::new(oid, value));
    }
    Ok(out)
}

fn parse_hex_bytes(text: &str) -> Result<Vec<u8>, String> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).map_err(|_| format!("bad hex byte {b:?}")))
        .collect()
}

// ---------------------------------------------------------------------------
// printwatch

/// Runs `printwatch walk ARGS… --out FILE` (ARGS holds the target and the
/// subtrees), fails unless it ends with exit 0, and returns the recording
/// it wrote, read by our snmprec parser (which must find no bad line).
pub fn printwatch_walk(tmp: &TempDir, label: &str, args: &[&str]) -> Vec<VarBind> {
    try_printwatch_walk(tmp, label, args).unwrap_or_else(|e| panic!("{e}"))
}

/// [`printwatch_walk`], with the failure as a message instead of a panic.
pub fn try_printwatch_walk(
    tmp: &TempDir,
    label: &str,
    args: &[&str],
) -> Result<Vec<VarBind>, String> {
    let out_file = tmp.file(&format!("{label}.walk.snmprec"));
    let mut cmd = Command::new(printwatch());
    cmd.arg("walk").args(args).arg("--out").arg(&out_file);
    let shown = format!(
        "printwatch walk {} --out {}",
        args.join(" "),
        out_file.display()
    );
    let out = run(&mut cmd, Duration::from_secs(300), tmp.path());
    if !out.status.success() {
        return Err(format!(
            "{shown}: expected exit 0, got {}; stderr:\n{}",
            out.status, out.stderr
        ));
    }
    let bytes = std::fs::read(&out_file)
        .map_err(|e| format!("{shown}: no output file {}: {e}", out_file.display()))?;
    let parsed = snmprec::parse(&bytes);
    if !parsed.problems.is_empty() {
        return Err(format!(
            "{shown}: our own parser rejects lines of printwatch's recording: {:?}",
            &parsed.problems[..parsed.problems.len().min(5)]
        ));
    }
    Ok(parsed.records)
}

/// Runs `printwatch walk ARGS…` expecting it to fail, and returns its output.
pub fn printwatch_walk_failing(tmp: &TempDir, args: &[&str]) -> Output {
    let mut cmd = Command::new(printwatch());
    cmd.arg("walk").args(args);
    run(&mut cmd, Duration::from_secs(60), tmp.path())
}

// ---------------------------------------------------------------------------
// Recordings as expectations

/// What a walk of a served recording must return, and what was left out.
pub struct Expectation {
    /// Sorted by OID, one record per OID (the first of duplicates).
    pub records: Vec<VarBind>,
    /// 1-based line numbers of the lines left out (reported invalid by our
    /// parser, or holding a value the wire cannot carry).
    pub excluded_lines: BTreeSet<usize>,
    /// Records dropped as duplicates of an earlier OID.
    pub duplicates: usize,
}

/// The expectation for a recording file: its valid records in walk order.
pub fn expectation(path: &Path) -> Expectation {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let Recording { records, problems } = snmprec::parse(&bytes);
    let mut excluded_lines: BTreeSet<usize> = problems.iter().map(|p| p.line).collect();
    // A value the wire cannot carry (an OID value `0`) is not servable: if
    // the parser kept such a record, leave it out all the same, and its
    // line from what snmpsim serves.
    let unservable: BTreeSet<Oid> = records
        .iter()
        .filter(|r| matches!(&r.value, Value::ObjectId(o) if !o.is_encodable()))
        .map(|r| r.oid.clone())
        .collect();
    if !unservable.is_empty() {
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            let oid = line.split('|').next().and_then(|o| o.parse::<Oid>().ok());
            if oid.is_some_and(|o| unservable.contains(&o)) {
                excluded_lines.insert(i + 1);
            }
        }
    }
    let mut by_oid: BTreeMap<Oid, VarBind> = BTreeMap::new();
    let mut duplicates = 0;
    for r in records {
        if unservable.contains(&r.oid) {
            continue;
        }
        if by_oid.contains_key(&r.oid) {
            duplicates += 1;
        } else {
            by_oid.insert(r.oid.clone(), r);
        }
    }
    Expectation {
        records: by_oid.into_values().collect(),
        excluded_lines,
        duplicates,
    }
}

/// Copies a recording's lines to `dest`, without the excluded ones.
pub fn copy_servable(path: &Path, excluded_lines: &BTreeSet<usize>, dest: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut out = Vec::with_capacity(bytes.len());
    for (i, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        if !excluded_lines.contains(&(i + 1)) {
            out.extend_from_slice(line);
        }
    }
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
    set_mode(dest, 0o644);
}

// ---------------------------------------------------------------------------
// Comparing walks

/// How a walk differs from what was expected (by OID, type and value bytes).
#[derive(Default)]
pub struct WalkDiff {
    pub expected: usize,
    pub got: usize,
    pub missing: Vec<VarBind>,
    pub extra: Vec<VarBind>,
    pub mismatched: Vec<(VarBind, VarBind)>,
    /// Positions where an OID did not increase (a walk must be in order).
    pub out_of_order: Vec<(Oid, Oid)>,
}

impl WalkDiff {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.extra.is_empty()
            && self.mismatched.is_empty()
            && self.out_of_order.is_empty()
    }

    /// One line: expected / got / missing / extra / mismatches.
    pub fn summary(&self, label: &str) -> String {
        format!(
            "{label}: expected {} got {} missing {} extra {} mismatches {}{}",
            self.expected,
            self.got,
            self.missing.len(),
            self.extra.len(),
            self.mismatched.len(),
            if self.out_of_order.is_empty() {
                String::new()
            } else {
                format!(" out-of-order {}", self.out_of_order.len())
            }
        )
    }

    /// The first differences, readable.
    pub fn details(&self, limit: usize) -> String {
        let mut s = String::new();
        for r in self.missing.iter().take(limit) {
            let _ = writeln!(s, "  missing   {} = {}", r.oid, describe(&r.value));
        }
        for r in self.extra.iter().take(limit) {
            let _ = writeln!(s, "  extra     {} = {}", r.oid, describe(&r.value));
        }
        for (e, g) in self.mismatched.iter().take(limit) {
            let _ = writeln!(
                s,
                "  mismatch  {}: expected {}, got {}",
                e.oid,
                describe(&e.value),
                describe(&g.value)
            );
        }
        for (a, b) in self.out_of_order.iter().take(limit) {
            let _ = writeln!(s, "  order     {b} came after {a}");
        }
        s
    }
}

/// Compares a walk with what was expected: same OIDs, same types, same
/// value bytes, and the walk in increasing OID order.
pub fn compare(expected: &[VarBind], got: &[VarBind]) -> WalkDiff {
    let mut diff = WalkDiff {
        expected: expected.len(),
        got: got.len(),
        ..WalkDiff::default()
    };
    for pair in got.windows(2) {
        if pair[1].oid <= pair[0].oid {
            diff.out_of_order
                .push((pair[0].oid.clone(), pair[1].oid.clone()));
        }
    }
    let want: BTreeMap<&Oid, &VarBind> = expected.iter().map(|r| (&r.oid, r)).collect();
    let have: BTreeMap<&Oid, &VarBind> = got.iter().map(|r| (&r.oid, r)).collect();
    for (oid, e) in &want {
        match have.get(oid) {
            None => diff.missing.push((*e).clone()),
            Some(g) if g.value != e.value => diff.mismatched.push(((*e).clone(), (*g).clone())),
            Some(_) => {}
        }
    }
    for (oid, g) in &have {
        if !want.contains_key(oid) {
            diff.extra.push((*g).clone());
        }
    }
    diff
}

/// Fails with a readable list of differences unless the walk is exact.
pub fn assert_same_walk(label: &str, expected: &[VarBind], got: &[VarBind]) {
    let diff = compare(expected, got);
    report(&diff.summary(label));
    assert!(
        diff.is_clean(),
        "{}\n{}",
        diff.summary(label),
        diff.details(10)
    );
}

/// A value with its type and exact bytes.
pub fn describe(value: &Value) -> String {
    fn bytes(b: &[u8]) -> String {
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        match std::str::from_utf8(b) {
            Ok(t) if t.chars().all(|c| !c.is_control()) => format!("4x:{hex} {t:?}"),
            _ => format!("4x:{hex}"),
        }
    }
    match value {
        Value::Integer(v) => format!("Integer {v}"),
        Value::OctetString(b) => format!("OctetString {}", bytes(b)),
        Value::Null => "Null".into(),
        Value::ObjectId(o) => format!("ObjectId {o}"),
        Value::IpAddress(a) => format!("IpAddress {}", Ipv4Addr::from(*a)),
        Value::Counter32(v) => format!("Counter32 {v}"),
        Value::Gauge32(v) => format!("Gauge32 {v}"),
        Value::TimeTicks(v) => format!("TimeTicks {v}"),
        Value::Opaque(b) => format!("Opaque {}", bytes(b)),
        Value::Counter64(v) => format!("Counter64 {v}"),
        Value::NoSuchObject => "noSuchObject".into(),
        Value::NoSuchInstance => "noSuchInstance".into(),
        Value::EndOfMibView => "endOfMibView".into(),
    }
}

// ---------------------------------------------------------------------------
// snmpsim

/// The v3 user every snmpsim and `printwatch sim` of these tests serves
/// (the defaults of `printwatch sim`, and the README's snmpsim example).
pub const SIM_V3_USER: &str = "simulator";
pub const SIM_V3_AUTH: &str = "auctoritas";
pub const SIM_V3_PRIV: &str = "privatus";

/// A running snmpsim responder serving a data directory.
pub struct Snmpsim {
    pub target: SocketAddr,
    pub proc: Proc,
}

impl Snmpsim {
    /// Serves `files` (copied with their excluded lines left out, each
    /// under its base name: the community and the v3 context) on `ip`,
    /// with the v3 user `simulator` (SHA / AES-128), and waits until it
    /// answers with `probe_community`.
    pub fn start(
        program: &Path,
        tmp: &TempDir,
        ip: Ipv4Addr,
        files: &[(PathBuf, BTreeSet<usize>)],
        probe_community: &str,
    ) -> Snmpsim {
        let data = tmp.subdir("snmpsim-data");
        let cache = tmp.subdir("snmpsim-cache");
        // The responder drops privileges to nobody: its cache must be writable.
        set_mode(&cache, 0o777);
        for (path, excluded) in files {
            copy_servable(
                path,
                excluded,
                &data.join(format!("{}.snmprec", stem(path))),
            );
        }
        let port = free_udp_port(&[ip]);
        let target = SocketAddr::from((ip, port));
        let mut args = vec![
            format!("--data-dir={}", data.display()),
            format!("--cache-dir={}", cache.display()),
            format!("--agent-udpv4-endpoint={target}"),
            "--log-level=error".into(),
            format!("--v3-user={SIM_V3_USER}"),
            format!("--v3-auth-key={SIM_V3_AUTH}"),
            "--v3-auth-proto=SHA".into(),
            format!("--v3-priv-key={SIM_V3_PRIV}"),
            "--v3-priv-proto=AES".into(),
        ];
        if running_as_root() {
            args.push("--process-user=nobody".into());
            args.push("--process-group=nogroup".into());
        }
        let mut proc = Proc::spawn("snmpsim", tmp.path(), program, &args);
        // Index building takes a few seconds for big recordings.
        wait_for_agent(&mut proc, target, probe_community, Duration::from_secs(120));
        Snmpsim { target, proc }
    }
}

// ---------------------------------------------------------------------------
// printwatch sim serving a folder, and printwatch collect

/// A `printwatch sim` serving every recording of a folder, one address each
/// (`--bind CIDR --count N --map FILE DIR`), on a free high port.
pub struct SimFleet {
    pub proc: Proc,
    /// Base name of each recording → the address that serves it.
    pub agents: BTreeMap<String, SocketAddr>,
}

impl SimFleet {
    /// Serves the `*.snmprec` files of `dir` on the first usable addresses
    /// of `network/prefix` (e.g. 127.86.4.0/25), and waits until every
    /// agent answers (community `public`).
    pub fn start(tmp: &TempDir, network: Ipv4Addr, prefix: u8, dir: &Path) -> SimFleet {
        let count = snmprec_files(dir).len();
        assert!(count > 0, "no recording to serve in {}", dir.display());
        let base = u32::from(network);
        let ips: Vec<Ipv4Addr> = (1..=count as u32)
            .map(|i| Ipv4Addr::from(base + i))
            .collect();
        let port = free_udp_port(&ips);
        let map_file = tmp.file("sim-map.tsv");
        let args: Vec<String> = vec![
            "sim".into(),
            "--bind".into(),
            format!("{network}/{prefix}"),
            "--count".into(),
            count.to_string(),
            "--port".into(),
            port.to_string(),
            "--map".into(),
            map_file.display().to_string(),
            dir.display().to_string(),
        ];
        let mut proc = Proc::spawn("printwatch-sim", tmp.path(), &printwatch(), &args);
        let started = Instant::now();
        let text = loop {
            proc.assert_running();
            let text = std::fs::read_to_string(&map_file).unwrap_or_default();
            if text.ends_with('\n') && text.lines().count() >= count {
                break text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "printwatch sim: no map of {count} lines within 60 s\n{}",
                proc.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut agents = BTreeMap::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (address, recording) = line
                .split_once('\t')
                .unwrap_or_else(|| panic!("printwatch sim map line {line:?}"));
            let address: SocketAddr = address
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("printwatch sim map line {line:?}"));
            agents.insert(stem(Path::new(recording.trim())), address);
        }
        assert_eq!(agents.len(), count, "printwatch sim map:\n{text}");
        for address in agents.values() {
            wait_for_agent(&mut proc, *address, "public", Duration::from_secs(30));
        }
        SimFleet { proc, agents }
    }
}

/// Runs `printwatch collect --json --community COMMUNITY [EXTRA…] TARGET`
/// (v2c) to its end (2 minutes at most).
pub fn printwatch_collect(
    tmp: &TempDir,
    target: SocketAddr,
    community: &str,
    extra: &[&str],
) -> Output {
    let mut cmd = Command::new(printwatch());
    cmd.args(["collect", "--json", "--community", community])
        .args(extra)
        .arg(target.to_string());
    run(&mut cmd, Duration::from_secs(120), tmp.path())
}
