//! The shared recordings folder (`../shared/recordings`, see its README):
//! test data that is not in the repository. A test asks for each part it
//! reads; a part that is absent or empty is a recorded skip (a failure under
//! `PRINTWATCH_REQUIRE_ALL=1`), so that a test never quietly checks fewer
//! devices than it claims.

use std::path::{Path, PathBuf};

use crate::skip;

/// Points the tests at another copy of the folder.
pub const VAR: &str = "PRINTWATCH_RECORDINGS";

/// How to get the folder, for skip messages.
pub const ENABLE: &str = "put the shared recordings at ../shared/recordings beside the work tree, \
                          or set PRINTWATCH_RECORDINGS to a copy of them";

/// Every part the tests read, relative to the folder.
pub const PARTS: &[&str] = &[
    "librenms/snmprec",
    "librenms/expected",
    "librenms/detect-only",
    "printmaster/snmprec",
    "printmaster",
    "bieniu-brother/fixtures",
    "bieniu-brother/expected/test_init.ambr",
];

/// `$PRINTWATCH_RECORDINGS`, else `<workspace>/../shared/recordings`.
pub fn root() -> PathBuf {
    match std::env::var_os(VAR).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate::workspace_root().join("../shared/recordings"),
    }
}

/// The folder, or why it is not there (it must hold at least
/// `librenms/snmprec`).
pub fn dir() -> Result<PathBuf, String> {
    let dir = root();
    if dir.join("librenms/snmprec").is_dir() {
        Ok(dir)
    } else {
        Err(format!("no recordings at {} ({ENABLE})", dir.display()))
    }
}

/// The files of `root/relative` whose names end in `suffix`, sorted. None
/// there (the folder is absent or empty) is a skip of that part: the
/// caller goes on without it, or fails under `PRINTWATCH_REQUIRE_ALL=1`.
pub fn files(root: &Path, relative: &str, suffix: &str) -> Vec<PathBuf> {
    let found = list(&root.join(relative), suffix);
    if found.is_empty() {
        incomplete(root, relative, &format!("no *{suffix} files there"));
    }
    found
}

/// `root/relative` if that file exists; otherwise a skip of what it holds.
pub fn file(root: &Path, relative: &str) -> Option<PathBuf> {
    let path = root.join(relative);
    if path.is_file() {
        Some(path)
    } else {
        incomplete(root, relative, "missing");
        None
    }
}

/// A part of the folder is absent: the test goes on without it (a skip)
/// or fails under `PRINTWATCH_REQUIRE_ALL=1`.
pub fn incomplete(root: &Path, relative: &str, why: &str) {
    skip(
        &format!(
            "the recordings at {} are incomplete: {relative}: {why} (the test checks fewer devices without it)",
            root.display()
        ),
        ENABLE,
    );
}

/// The files of one folder whose names end in `suffix`, sorted (none when
/// the folder is absent).
pub fn list(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}
