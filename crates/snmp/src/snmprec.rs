//! The snmprec recording format of snmpsim: one `OID|tag|value` per line.
//!
//! TODO(helper): implementation in progress. The API below is fixed.

use std::path::Path;

use crate::VarBind;

/// A line that could not be read, and why (1-based line number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

/// What a recording held: the records that were read, in file order, and
/// the lines that were reported and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub records: Vec<VarBind>,
    pub problems: Vec<LineProblem>,
}

/// Reads a whole recording; a bad line is reported and skipped, never fatal.
pub fn parse(_bytes: &[u8]) -> Recording {
    Recording::default()
}

/// Reads a recording file.
pub fn read_file(path: &Path) -> std::io::Result<Recording> {
    Ok(parse(&std::fs::read(path)?))
}

/// Writes one record as a line (with its newline).
pub fn write_record(out: &mut impl std::io::Write, record: &VarBind) -> std::io::Result<()> {
    let _ = (out, record);
    Ok(())
}

/// A whole recording as text.
pub fn to_string(records: &[VarBind]) -> String {
    let mut out = Vec::new();
    for r in records {
        let _ = write_record(&mut out, r);
    }
    String::from_utf8_lossy(&out).into_owned()
}
