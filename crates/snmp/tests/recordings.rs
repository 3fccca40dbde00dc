//! Every real snmprec recording under `../shared/recordings` (see its
//! README): read it, check the problems are exactly the known defects, write
//! it back and read it again.
//!
//! The folder is test data that is not part of the repository: when it, or
//! a part of it, is absent the test records a skip (`printwatch_testkit`),
//! a failure under `PRINTWATCH_REQUIRE_ALL=1`.
//! `PRINTWATCH_RECORDINGS` points elsewhere.

use std::path::{Path, PathBuf};

use printwatch_snmp::snmprec;

fn recordings_dir() -> PathBuf {
    printwatch_testkit::recordings::root()
}

fn snmprec_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            snmprec_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "snmprec") {
            out.push(path);
        }
    }
}

/// Lines that hold something (not blank, not a comment).
fn content_lines(bytes: &[u8]) -> usize {
    bytes
        .split(|&b| b == b'\n')
        .map(|line| line.trim_ascii())
        .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
        .count()
}

/// The known defects: file (relative path) -> (line, words the message has).
fn known_problems(relative: &str) -> Vec<(usize, &'static str)> {
    match relative {
        // An OID value of a single arc `0` (README: "Known defect"). The
        // README says 9 such lines; the file has these 8.
        "librenms/snmprec/zebra.snmprec" => [330, 331, 332, 333, 334, 335, 348, 349]
            .into_iter()
            .map(|line| (line, "OID value 0 cannot be encoded in BER"))
            .collect(),
        // ipAdEntIfIndex and ipAdEntNetMask of 192.168.1.0 recorded twice,
        // with the same values.
        "librenms/snmprec/canonprinter_lbp.snmprec" => vec![
            (
                69,
                "duplicate OID 1.3.6.1.2.1.4.20.1.2.192.168.1.0 (first on line 68",
            ),
            (
                72,
                "duplicate OID 1.3.6.1.2.1.4.20.1.3.192.168.1.0 (first on line 71",
            ),
        ],
        _ => vec![],
    }
}

#[test]
fn real_recordings_read_write_and_read_back() {
    let dir = match printwatch_testkit::recordings::dir() {
        Ok(dir) => dir,
        Err(why) => return printwatch_testkit::skip(&why, ""),
    };
    // Every part with snmprec files must be there: a missing one would
    // quietly check fewer files.
    for part in [
        "librenms/snmprec",
        "librenms/detect-only",
        "printmaster/snmprec",
    ] {
        printwatch_testkit::recordings::files(&dir, part, ".snmprec");
    }
    let mut files = Vec::new();
    snmprec_files(&dir, &mut files);
    assert!(!files.is_empty(), "no *.snmprec under {}", dir.display());

    let mut zebra_seen = false;
    let mut total_records = 0;
    let mut total_problems = 0;
    for path in &files {
        let relative = path
            .strip_prefix(&dir)
            .expect("below the folder")
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(path).expect("readable recording");
        let recording = snmprec::parse(&bytes);
        println!(
            "{relative}: {} records, {} problems",
            recording.records.len(),
            recording.problems.len()
        );
        for problem in &recording.problems {
            println!("  {problem}");
        }

        let expected = known_problems(&relative);
        zebra_seen |= relative == "librenms/snmprec/zebra.snmprec";
        let lines: Vec<usize> = recording.problems.iter().map(|p| p.line).collect();
        let expected_lines: Vec<usize> = expected.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, expected_lines, "{relative}: problem lines");
        for (problem, (_, words)) in recording.problems.iter().zip(&expected) {
            assert!(
                problem.message.contains(words),
                "{relative}: {problem} should say {words:?}"
            );
        }
        assert!(!recording.records.is_empty(), "{relative}: no records");
        // Every other line was kept.
        assert_eq!(
            recording.records.len() + recording.problems.len(),
            content_lines(&bytes),
            "{relative}: every line is either a record or a problem"
        );

        let text = snmprec::to_string(&recording.records);
        let again = snmprec::parse(text.as_bytes());
        assert_eq!(again.problems, vec![], "{relative}: re-reading the rewrite");
        assert_eq!(
            again.records, recording.records,
            "{relative}: re-reading the rewrite"
        );
        total_records += recording.records.len();
        total_problems += recording.problems.len();
    }
    println!(
        "{} files, {total_records} records, {total_problems} problems",
        files.len()
    );
    assert!(
        zebra_seen,
        "librenms/snmprec/zebra.snmprec is missing from {}",
        dir.display()
    );
}

/// The zebra file's defects are exactly its `|6|0` lines, found here from the
/// file itself rather than from a list.
#[test]
fn zebra_problems_are_its_single_arc_oid_values() {
    let path = recordings_dir().join("librenms/snmprec/zebra.snmprec");
    let Ok(bytes) = std::fs::read(&path) else {
        return printwatch_testkit::skip(
            &format!("{} is absent", path.display()),
            printwatch_testkit::recordings::ENABLE,
        );
    };
    let bad_lines: Vec<usize> = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| line.ends_with(b"|6|0"))
        .map(|(index, _)| index + 1)
        .collect();
    let recording = snmprec::parse(&bytes);
    let lines: Vec<usize> = recording.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, bad_lines);
    assert_eq!(lines.len(), 8);
}
