//! Test support shared by the workspace's tests (a dev-dependency only).
//!
//! **Skips are visible.** A test that cannot run because a real component
//! is missing (PostgreSQL, snmpsim, net-snmp, the shared recordings…) calls
//! [`skip`]. Under `PRINTWATCH_REQUIRE_ALL=1` that panics with the reason, so
//! the run fails; otherwise it prints `skipped: …` past the harness's capture
//! and appends one line to the skip registry, which `tools/test` prints as a
//! summary at the end. Registry: `$PRINTWATCH_SKIP_LOG`, else
//! `<target>/printwatch-skips.log`; one line per skip, tab-separated:
//! `crate/test-binary`, test name, reason, how to enable it.
//!
//! Test processes run in parallel and each writes whole lines with one
//! `write` on a file opened with `O_APPEND`, so lines never interleave.
//!
//! **Tests do not shrink.** [`recordings`] finds `../shared/recordings` and
//! each part of it a test reads; a part that is absent is a skip with its
//! reason (a failure under `PRINTWATCH_REQUIRE_ALL=1`), never a silently
//! smaller test.

use std::io::Write as _;
use std::path::{Path, PathBuf};

pub mod recordings;

/// Turns every skip into a failure (CI: `.ci/run`).
pub const REQUIRE_ALL: &str = "PRINTWATCH_REQUIRE_ALL";
/// Where skips are recorded (set by `tools/test`).
pub const SKIP_LOG: &str = "PRINTWATCH_SKIP_LOG";

/// True under `PRINTWATCH_REQUIRE_ALL=1`.
pub fn require_all() -> bool {
    std::env::var(REQUIRE_ALL).is_ok_and(|v| v == "1")
}

/// Writes a line to the real standard error, past the test harness's
/// output capture, so that it shows in CI logs.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// The skip registry: `$PRINTWATCH_SKIP_LOG`, else
/// `$CARGO_TARGET_DIR/printwatch-skips.log`, else under `<workspace>/target`.
pub fn skip_log() -> PathBuf {
    if let Some(path) = std::env::var_os(SKIP_LOG).filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("printwatch-skips.log")
}

/// The running test: the harness names each test's thread after it.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("test")
        .to_owned()
}

/// The test binary: `printwatch-cli/conformance` (cargo sets the package
/// name when it runs tests; the executable's name ends in a hash).
fn test_binary() -> String {
    let package = std::env::var("CARGO_PKG_NAME").unwrap_or_default();
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let exe = match exe.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => exe,
    };
    match (package.is_empty(), exe.is_empty()) {
        (false, false) => format!("{package}/{exe}"),
        (false, true) => package,
        _ => exe,
    }
}

/// A real component is missing: fails the test under
/// `PRINTWATCH_REQUIRE_ALL=1`, else records the skip (the caller then
/// returns, or goes on with less, which the reason says). `enable` tells
/// how to get the component (may be empty when `reason` says it).
pub fn skip(reason: &str, enable: &str) {
    skip_as(&current_test(), reason, enable);
}

/// [`skip`] for a test whose name is not its thread's (a helper thread).
pub fn skip_as(test: &str, reason: &str, enable: &str) {
    if require_all() {
        if enable.is_empty() {
            panic!("{REQUIRE_ALL}=1 and a real component is missing: {reason}");
        }
        panic!("{REQUIRE_ALL}=1 and a real component is missing: {reason} ({enable})");
    }
    let binary = test_binary();
    if enable.is_empty() {
        report(&format!("skipped: {test}: {reason}"));
    } else {
        report(&format!("skipped: {test}: {reason} ({enable})"));
    }
    let line = registry_line(&binary, test, reason, enable);
    if let Err(e) = append_line(&skip_log(), &line) {
        // The skip still shows on stderr; say why the summary will lack it.
        report(&format!(
            "cannot record the skip in {}: {e}",
            skip_log().display()
        ));
    }
}

/// One registry line: fields without tabs or line breaks, tab-separated.
pub fn registry_line(binary: &str, test: &str, reason: &str, enable: &str) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    format!(
        "{}\t{}\t{}\t{}\n",
        clean(binary),
        clean(test),
        clean(reason),
        clean(enable)
    )
}

/// Appends `line` with a single `write` on an `O_APPEND` file, so that
/// lines of concurrent test processes never interleave.
pub fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let written = file.write(line.as_bytes())?;
    if written != line.len() {
        return Err(std::io::Error::other(format!(
            "short write: {written} of {} bytes",
            line.len()
        )));
    }
    Ok(())
}

/// One recorded skip, as read back from the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub binary: String,
    pub test: String,
    pub reason: String,
    pub enable: String,
}

/// Reads a registry's lines (lines that are not four fields are ignored).
pub fn read_registry(text: &str) -> Vec<Skip> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let skip = Skip {
                binary: f.next()?.to_owned(),
                test: f.next()?.to_owned(),
                reason: f.next()?.to_owned(),
                enable: f.next()?.to_owned(),
            };
            f.next().is_none().then_some(skip)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_and_lose_their_tabs() {
        let line = registry_line(
            "cli/x",
            "a_test",
            "no\tsnmpd\nhere",
            "apt-get install snmpd",
        );
        assert_eq!(line.matches('\t').count(), 3);
        assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
        assert_eq!(
            read_registry(&line),
            vec![Skip {
                binary: "cli/x".into(),
                test: "a_test".into(),
                reason: "no snmpd here".into(),
                enable: "apt-get install snmpd".into(),
            }]
        );
    }

    /// Many threads appending at once leave whole lines only.
    #[test]
    fn concurrent_appends_keep_lines_whole() {
        let dir = std::env::temp_dir().join(format!("printwatch-testkit-{}", std::process::id()));
        let path = dir.join("skips.log");
        let _ = std::fs::remove_file(&path);
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for i in 0..200 {
                        let reason = "x".repeat(100 + (t * 37 + i) % 300);
                        let line = registry_line("bin", &format!("t{t}_{i}"), &reason, "e");
                        append_line(path, &line).expect("append");
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).expect("read back");
        let skips = read_registry(&text);
        assert_eq!(text.lines().count(), 1600);
        assert_eq!(skips.len(), 1600);
        assert!(skips.iter().all(|s| s.reason.chars().all(|c| c == 'x')));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn skip_panics_under_require_all() {
        // set_var needs unsafe (forbidden here): the check runs this test
        // binary again, as a child with the variable set.
        let exe = std::env::current_exe().expect("the test binary");
        let out = std::process::Command::new(exe)
            .args(["--exact", "tests::skip_child", "--nocapture"])
            .env(REQUIRE_ALL, "1")
            .env("PRINTWATCH_TESTKIT_CHILD", "1")
            .output()
            .expect("run the child");
        assert!(
            !out.status.success(),
            "a skip under REQUIRE_ALL=1 must fail"
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("the thing is missing") || stdout.contains("the thing is missing"),
            "{stdout}\n{stderr}"
        );
    }

    #[test]
    fn skip_child() {
        if std::env::var("PRINTWATCH_TESTKIT_CHILD").is_ok() {
            skip("the thing is missing", "install the thing");
        }
    }
}
