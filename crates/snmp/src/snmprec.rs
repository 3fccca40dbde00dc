//! The snmprec recording format of snmpsim: one `OID|tag|value` per line.
//!
//! # Reading
//! - A line is split on its first two `|` only, so a value may contain `|`.
//! - Lines end in `\n` or `\r\n`; a UTF-8 byte order mark before the first
//!   line is ignored. Blank lines and lines starting with `#` are skipped.
//! - The input is bytes, not text: a plain OCTET STRING (tag `4`) keeps its
//!   bytes exactly, latin-1 or anything else included.
//! - Tags are the BER tags in decimal: `2` Integer, `4` OctetString, `5` Null,
//!   `6` OID, `64` IpAddress, `65` Counter32, `66` Gauge32, `67` TimeTicks,
//!   `68` Opaque, `70` Counter64, `128`/`129`/`130` noSuchObject /
//!   noSuchInstance / endOfMibView (empty value). A suffix `x` (`4x`, `64x`,
//!   `68x`) means the value is hex-encoded bytes. OIDs may carry a leading dot.
//! - A line that cannot be read (bad number, unknown tag, bad hex, an OID BER
//!   cannot carry, a repeated OID, a line longer than [`MAX_LINE_LEN`]) is a
//!   [`LineProblem`] and is skipped; the rest of the file is still read. For
//!   a repeated OID the first line wins. Nothing in here panics on input.
//! - Around non-string values (numbers, OIDs, addresses, hex) surrounding
//!   ASCII whitespace is ignored, as snmpsim does; a plain string value is
//!   taken exactly.
//!
//! Not supported (reported as an unknown tag): snmpsim's variation modules
//! (`tag:module`) and Python-escaped values (tag suffix `e`).
//!
//! # Writing
//! [`write_record`] writes the canonical form: OID without leading dot, a
//! plain tag `4` only for printable ASCII that does not end in a space
//! (snmpsim strips line ends), otherwise `4x` with lowercase hex; Opaque
//! always as `68x`; IpAddress as a dotted quad. Whatever it writes, [`parse`]
//! reads back as the same record.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;

use crate::{Oid, Value, VarBind};

/// Longest line we read (without its line end): 1 MiB.
pub const MAX_LINE_LEN: usize = 1 << 20;

/// At most this many bytes of a bad value are quoted in a problem message.
const QUOTE_LEN: usize = 60;

/// A line that could not be read, and why (1-based line number).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What a recording held: the records that were read, in file order, and
/// the lines that were reported and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    pub records: Vec<VarBind>,
    pub problems: Vec<LineProblem>,
}

/// Reads a whole recording; a bad line is reported and skipped, never fatal.
pub fn parse(bytes: &[u8]) -> Recording {
    let mut recording = Recording::default();
    // Where each OID was first seen, to report repeats.
    let mut first_seen: HashMap<Oid, usize> = HashMap::new();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let record = match parse_line(line) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(message) => {
                recording.problems.push(LineProblem {
                    line: number,
                    message,
                });
                continue;
            }
        };
        if let Some(first) = first_seen.get(&record.oid) {
            recording.problems.push(LineProblem {
                line: number,
                message: format!(
                    "duplicate OID {} (first on line {first}, which is kept)",
                    record.oid
                ),
            });
            continue;
        }
        first_seen.insert(record.oid.clone(), number);
        recording.records.push(record);
    }
    recording
}

/// Reads one line (with or without its `\n` / `\r\n`): `Ok(None)` for a
/// blank or comment line, `Err` with a message saying what is wrong.
pub fn parse_line(line: &[u8]) -> Result<Option<VarBind>, String> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > MAX_LINE_LEN {
        return Err(format!(
            "line is {} bytes long, longer than the limit of {MAX_LINE_LEN}",
            line.len()
        ));
    }
    let content = line.trim_ascii_start();
    if content.is_empty() || content.starts_with(b"#") {
        return Ok(None);
    }

    let mut fields = line.splitn(3, |&b| b == b'|');
    let (Some(oid_field), Some(tag_field), Some(value)) =
        (fields.next(), fields.next(), fields.next())
    else {
        let bars = line.iter().filter(|&&b| b == b'|').count();
        return Err(format!(
            "expected OID|tag|value, found {} ({bars} '|' instead of 2)",
            quote(line)
        ));
    };

    let oid = parse_record_oid(oid_field)?;
    let tag = parse_tag(tag_field)?;
    let value = parse_value(tag, value)?;
    Ok(Some(VarBind::new(oid, value)))
}

/// Reads a recording file.
pub fn read_file(path: &Path) -> std::io::Result<Recording> {
    Ok(parse(&std::fs::read(path)?))
}

/// Writes one record as a line (with its newline).
///
/// Fails with [`io::ErrorKind::InvalidInput`], writing nothing, for a record
/// that [`parse`] would refuse: an empty OID, or an OID (the record's or an
/// ObjectId value) that BER cannot encode.
pub fn write_record(out: &mut impl std::io::Write, record: &VarBind) -> std::io::Result<()> {
    check_record(record).map_err(|message| io::Error::new(io::ErrorKind::InvalidInput, message))?;
    let mut line = format!("{}|", record.oid).into_bytes();
    match &record.value {
        Value::OctetString(bytes) if is_plain_text(bytes) => {
            line.extend_from_slice(b"4|");
            line.extend_from_slice(bytes);
        }
        Value::OctetString(bytes) => {
            line.extend_from_slice(b"4x|");
            push_hex(&mut line, bytes);
        }
        Value::Opaque(bytes) => {
            line.extend_from_slice(b"68x|");
            push_hex(&mut line, bytes);
        }
        Value::IpAddress([a, b, c, d]) => {
            line.extend_from_slice(format!("64|{a}.{b}.{c}.{d}").as_bytes());
        }
        other => {
            let text = match other {
                Value::Integer(v) => v.to_string(),
                Value::ObjectId(oid) => oid.to_string(),
                Value::Counter32(v) | Value::Gauge32(v) | Value::TimeTicks(v) => v.to_string(),
                Value::Counter64(v) => v.to_string(),
                // Null and the three exceptions have an empty value.
                _ => String::new(),
            };
            line.extend_from_slice(format!("{}|{text}", other.tag()).as_bytes());
        }
    }
    line.push(b'\n');
    out.write_all(&line)
}

/// A whole recording as text.
///
/// Records that [`write_record`] refuses (see there) are left out; use
/// [`check_record`] first when that matters.
pub fn to_string(records: &[VarBind]) -> String {
    let mut out = Vec::new();
    for r in records {
        let _ = write_record(&mut out, r);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a record can be written and read back: `Err` says why not.
pub fn check_record(record: &VarBind) -> Result<(), String> {
    check_encodable("record OID", &record.oid)?;
    if let Value::ObjectId(oid) = &record.value {
        check_encodable("OID value", oid)?;
    }
    Ok(())
}

fn check_encodable(what: &str, oid: &Oid) -> Result<(), String> {
    if oid.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if !oid.is_encodable() {
        return Err(format!(
            "{what} {oid} cannot be encoded in BER (X.690 needs at least two arcs, \
             the first 0-2 and the second below 40 unless the first is 2)"
        ));
    }
    Ok(())
}

/// A plain tag-4 value must survive snmpsim too: printable ASCII, and no
/// trailing space (snmpsim strips the line).
fn is_plain_text(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| (0x20..=0x7e).contains(b)) && bytes.last() != Some(&b' ')
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// A tag as written: its number and whether the value is hex.
#[derive(Clone, Copy)]
struct Tag {
    number: u8,
    hex: bool,
}

fn parse_tag(field: &[u8]) -> Result<Tag, String> {
    let text = field.trim_ascii();
    let unknown = |why: &str| {
        Err(format!(
            "unknown tag {}{why}; expected 2, 4, 5, 6, 64-68, 70 or 128-130 \
             (4, 64 and 68 also with suffix x for hex)",
            quote(text)
        ))
    };
    if text.is_empty() {
        return Err("empty tag; expected a type number such as 2 or 4".to_string());
    }
    if text.contains(&b':') {
        return unknown(" (snmpsim variation modules are not supported)");
    }
    if text.len() > 1 && text.ends_with(b"e") {
        return unknown(" (Python-escaped values, suffix e, are not supported)");
    }
    let (digits, hex) = match text.strip_suffix(b"x") {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    let number = match digits {
        b"2" => 2,
        b"4" => 4,
        b"5" => 5,
        b"6" => 6,
        b"64" => 64,
        b"65" => 65,
        b"66" => 66,
        b"67" => 67,
        b"68" => 68,
        b"70" => 70,
        b"128" => 128,
        b"129" => 129,
        b"130" => 130,
        _ => return unknown(""),
    };
    if hex && !matches!(number, 4 | 64 | 68) {
        return Err(format!(
            "tag {number}x: the hex form (suffix x) exists only for 4, 64 and 68"
        ));
    }
    Ok(Tag { number, hex })
}

fn parse_record_oid(field: &[u8]) -> Result<Oid, String> {
    let text = std::str::from_utf8(field)
        .map_err(|_| format!("record OID {} is not dotted decimal", quote(field)))?;
    let oid: Oid = text.parse().map_err(|e| format!("record OID: {e}"))?;
    check_encodable("record OID", &oid)?;
    Ok(oid)
}

fn parse_value(tag: Tag, raw: &[u8]) -> Result<Value, String> {
    if tag.hex {
        let bytes = decode_hex(raw.trim_ascii())?;
        return match tag.number {
            4 => Ok(Value::OctetString(bytes)),
            68 => Ok(Value::Opaque(bytes)),
            _ => <[u8; 4]>::try_from(bytes.as_slice())
                .map(Value::IpAddress)
                .map_err(|_| format!("IpAddress needs 4 bytes, the hex value has {}", bytes.len())),
        };
    }
    match tag.number {
        4 => return Ok(Value::OctetString(raw.to_vec())),
        68 => return Ok(Value::Opaque(raw.to_vec())),
        _ => {}
    }
    let text = raw.trim_ascii();
    let Ok(text) = std::str::from_utf8(text) else {
        return Err(format!(
            "value {} of tag {} is not ASCII text",
            quote(text),
            tag.number
        ));
    };
    Ok(match tag.number {
        2 => Value::Integer(parse_number(text, "Integer")?),
        5 => empty(text, "Null", Value::Null)?,
        6 => {
            let oid: Oid = text.parse().map_err(|e| format!("OID value: {e}"))?;
            check_encodable("OID value", &oid)?;
            Value::ObjectId(oid)
        }
        64 => Value::IpAddress(parse_dotted_quad(text)?),
        65 => Value::Counter32(parse_number(text, "Counter32")?),
        66 => Value::Gauge32(parse_number(text, "Gauge32")?),
        67 => Value::TimeTicks(parse_number(text, "TimeTicks")?),
        70 => Value::Counter64(parse_number(text, "Counter64")?),
        128 => empty(text, "noSuchObject", Value::NoSuchObject)?,
        129 => empty(text, "noSuchInstance", Value::NoSuchInstance)?,
        _ => empty(text, "endOfMibView", Value::EndOfMibView)?,
    })
}

fn empty(text: &str, name: &str, value: Value) -> Result<Value, String> {
    if text.is_empty() {
        Ok(value)
    } else {
        Err(format!(
            "{name} takes an empty value, found {}",
            quote(text.as_bytes())
        ))
    }
}

/// Decimal, an optional `-` for signed types, nothing else.
fn parse_number<T>(text: &str, name: &str) -> Result<T, String>
where
    T: std::str::FromStr + Bounded,
{
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{name} value {} is not a decimal number",
            quote(text.as_bytes())
        ));
    }
    text.parse().map_err(|_| {
        format!(
            "{name} value {} is out of range ({} to {})",
            quote(text.as_bytes()),
            T::MIN_TEXT,
            T::MAX_TEXT
        )
    })
}

/// The range of a number type, for messages.
trait Bounded {
    const MIN_TEXT: &'static str;
    const MAX_TEXT: &'static str;
}

impl Bounded for i32 {
    const MIN_TEXT: &'static str = "-2147483648";
    const MAX_TEXT: &'static str = "2147483647";
}

impl Bounded for u32 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "4294967295";
}

impl Bounded for u64 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "18446744073709551615";
}

fn parse_dotted_quad(text: &str) -> Result<[u8; 4], String> {
    let bad = || {
        format!(
            "IpAddress value {} is not a dotted quad such as 192.168.0.1",
            quote(text.as_bytes())
        )
    };
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for slot in &mut out {
        let part = parts.next().ok_or_else(bad)?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        *slot = part.parse().map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(out)
}

fn decode_hex(text: &[u8]) -> Result<Vec<u8>, String> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    if let Some(at) = text.iter().position(|&b| nibble(b).is_none()) {
        return Err(format!(
            "bad hex value {}: {} at position {} is not a hex digit",
            quote(text),
            quote(&text[at..=at]),
            at + 1
        ));
    }
    if !text.len().is_multiple_of(2) {
        return Err(format!(
            "bad hex value {}: odd number of hex digits ({})",
            quote(text),
            text.len()
        ));
    }
    Ok(text
        .chunks_exact(2)
        .filter_map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect())
}

/// A byte string for a message: quoted, escaped, shortened.
fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTE_LEN)];
    let mut text = format!("{:?}", String::from_utf8_lossy(shown));
    if bytes.len() > QUOTE_LEN {
        text.push_str(&format!("... ({} bytes)", bytes.len()));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(text: &str) -> Oid {
        text.parse().expect("test OID")
    }

    fn vb(text: &str, value: Value) -> VarBind {
        VarBind::new(oid(text), value)
    }

    /// The single record of a one-line fixture, which must have no problem.
    fn one(line: &[u8]) -> VarBind {
        let recording = parse(line);
        assert_eq!(
            recording.problems,
            vec![],
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(recording.records.len(), 1);
        recording.records[0].clone()
    }

    /// The single problem of a one-line fixture, which must have no record.
    fn problem(line: &[u8]) -> String {
        let recording = parse(line);
        assert_eq!(
            recording.records,
            vec![],
            "{:?}",
            String::from_utf8_lossy(line)
        );
        assert_eq!(recording.problems.len(), 1, "{:?}", recording.problems);
        assert_eq!(recording.problems[0].line, 1);
        recording.problems[0].message.clone()
    }

    fn written(record: &VarBind) -> String {
        let mut out = Vec::new();
        write_record(&mut out, record).expect("writable");
        String::from_utf8(out).expect("the writer writes ASCII")
    }

    #[track_caller]
    fn assert_mentions(message: &str, words: &[&str]) {
        for word in words {
            assert!(
                message.contains(word),
                "{message:?} should mention {word:?}"
            );
        }
    }

    // ---- every tag ----

    #[test]
    fn reads_every_tag() {
        let text = b"\
1.3.6.1.2.1.1.1.0|4|HP LaserJet M452nw
1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.11.2.3.9.1
1.3.6.1.2.1.1.3.0|67|261702
1.3.6.1.2.1.2.1.0|2|-7
1.3.6.1.2.1.2.2.1.10.1|65|4294967295
1.3.6.1.2.1.2.2.1.5.1|66|100000000
1.3.6.1.2.1.4.20.1.1.10.0.0.5|64|10.0.0.5
1.3.6.1.2.1.31.1.1.1.6.1|70|18446744073709551615
1.3.6.1.4.1.1.1|5|
1.3.6.1.4.1.1.2|68|raw
1.3.6.1.4.1.1.3|128|
1.3.6.1.4.1.1.4|129|
1.3.6.1.4.1.1.5|130|
";
        let recording = parse(text);
        assert_eq!(recording.problems, vec![]);
        assert_eq!(
            recording.records,
            vec![
                vb(
                    "1.3.6.1.2.1.1.1.0",
                    Value::OctetString(b"HP LaserJet M452nw".to_vec())
                ),
                vb(
                    "1.3.6.1.2.1.1.2.0",
                    Value::ObjectId(oid("1.3.6.1.4.1.11.2.3.9.1"))
                ),
                vb("1.3.6.1.2.1.1.3.0", Value::TimeTicks(261_702)),
                vb("1.3.6.1.2.1.2.1.0", Value::Integer(-7)),
                vb("1.3.6.1.2.1.2.2.1.10.1", Value::Counter32(u32::MAX)),
                vb("1.3.6.1.2.1.2.2.1.5.1", Value::Gauge32(100_000_000)),
                vb(
                    "1.3.6.1.2.1.4.20.1.1.10.0.0.5",
                    Value::IpAddress([10, 0, 0, 5])
                ),
                vb("1.3.6.1.2.1.31.1.1.1.6.1", Value::Counter64(u64::MAX)),
                vb("1.3.6.1.4.1.1.1", Value::Null),
                vb("1.3.6.1.4.1.1.2", Value::Opaque(b"raw".to_vec())),
                vb("1.3.6.1.4.1.1.3", Value::NoSuchObject),
                vb("1.3.6.1.4.1.1.4", Value::NoSuchInstance),
                vb("1.3.6.1.4.1.1.5", Value::EndOfMibView),
            ]
        );
    }

    #[test]
    fn integer_limits_are_accepted() {
        assert_eq!(one(b"1.3.6|2|-2147483648").value, Value::Integer(i32::MIN));
        assert_eq!(one(b"1.3.6|2|2147483647").value, Value::Integer(i32::MAX));
        assert_eq!(one(b"1.3.6|2|007").value, Value::Integer(7));
        assert_eq!(one(b"1.3.6|65|0").value, Value::Counter32(0));
    }

    #[test]
    fn empty_plain_string() {
        assert_eq!(one(b"1.3.6|4|").value, Value::OctetString(vec![]));
        assert_eq!(one(b"1.3.6|4x|").value, Value::OctetString(vec![]));
    }

    // ---- hex forms ----

    #[test]
    fn hex_octet_string_any_case() {
        assert_eq!(
            one(b"1.3.6.1.2.1.2.2.1.6.1|4x|0080779FaB01").value,
            Value::OctetString(vec![0x00, 0x80, 0x77, 0x9f, 0xab, 0x01])
        );
    }

    #[test]
    fn hex_ip_address() {
        assert_eq!(
            one(b"1.3.6.1.2.1.4.20.1.3.10.180.116.29|64x|ffffff00").value,
            Value::IpAddress([255, 255, 255, 0])
        );
    }

    #[test]
    fn hex_opaque() {
        assert_eq!(
            one(b"1.3.6.1.4.1.2021.10.1.6.1|68x|9f780442").value,
            Value::Opaque(vec![0x9f, 0x78, 0x04, 0x42])
        );
    }

    // ---- leading dots, | inside values, line ends, bytes ----

    #[test]
    fn leading_dots_on_record_and_value_oids() {
        let record = one(b".1.3.6.1.2.1.1.2.0|6|.1.3.6.1.4.1.1129.1.2.1");
        assert_eq!(
            record,
            vb(
                "1.3.6.1.2.1.1.2.0",
                Value::ObjectId(oid("1.3.6.1.4.1.1129.1.2.1"))
            )
        );
        assert_eq!(
            written(&record),
            "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.1129.1.2.1\n"
        );
    }

    #[test]
    fn bars_inside_a_value_are_kept() {
        assert_eq!(
            one(b"1.3.6.1.2.1.1.1.0|4|a|b||c|").value,
            Value::OctetString(b"a|b||c|".to_vec())
        );
        let record = vb("1.3.6", Value::OctetString(b"|x|".to_vec()));
        assert_eq!(written(&record), "1.3.6|4||x|\n");
        assert_eq!(one(written(&record).as_bytes()), record);
    }

    #[test]
    fn crlf_line_ends() {
        let recording = parse(b"1.3.6.1|4|first\r\n1.3.6.2|2|5\r\n\r\n1.3.6.3|4|last\r\n");
        assert_eq!(recording.problems, vec![]);
        assert_eq!(
            recording.records,
            vec![
                vb("1.3.6.1", Value::OctetString(b"first".to_vec())),
                vb("1.3.6.2", Value::Integer(5)),
                vb("1.3.6.3", Value::OctetString(b"last".to_vec())),
            ]
        );
    }

    #[test]
    fn last_line_without_newline() {
        let recording = parse(b"1.3.6.1|2|1\n1.3.6.2|4|no newline");
        assert_eq!(recording.problems, vec![]);
        assert_eq!(recording.records.len(), 2);
        assert_eq!(
            recording.records[1].value,
            Value::OctetString(b"no newline".to_vec())
        );
    }

    #[test]
    fn raw_latin1_bytes_are_kept_exactly() {
        // "Drucker Büro" in latin-1, with a stray control byte.
        let line = b"1.3.6.1.2.1.1.6.0|4|Drucker B\xfcro\x01 \xff\n";
        let record = one(line);
        assert_eq!(
            record.value,
            Value::OctetString(b"Drucker B\xfcro\x01 \xff".to_vec())
        );
        // Written back as hex, which reads back the same.
        let text = written(&record);
        assert_eq!(
            text,
            "1.3.6.1.2.1.1.6.0|4x|447275636b65722042fc726f0120ff\n"
        );
        assert_eq!(one(text.as_bytes()), record);
    }

    #[test]
    fn utf8_byte_order_mark_is_ignored() {
        let recording = parse(b"\xEF\xBB\xBF1.3.6.1|2|1\n");
        assert_eq!(recording.problems, vec![]);
        assert_eq!(recording.records, vec![vb("1.3.6.1", Value::Integer(1))]);
    }

    #[test]
    fn blank_and_comment_lines_are_skipped_but_counted() {
        let recording = parse(b"# a comment\n\n   \n  # indented comment\n1.3.6|2|x\n");
        assert_eq!(recording.records, vec![]);
        assert_eq!(recording.problems.len(), 1);
        assert_eq!(recording.problems[0].line, 5);
    }

    #[test]
    fn whitespace_around_non_string_values_is_ignored() {
        assert_eq!(one(b" 1.3.6 | 2 | 42 ").value, Value::Integer(42));
        assert_eq!(
            one(b"1.3.6|64| 10.1.2.3\t").value,
            Value::IpAddress([10, 1, 2, 3])
        );
        // ...but a plain string is taken exactly.
        assert_eq!(
            one(b"1.3.6|4| a ").value,
            Value::OctetString(b" a ".to_vec())
        );
    }

    // ---- bad lines: one test per kind of problem ----

    #[test]
    fn bad_line_without_fields() {
        assert_mentions(&problem(b"1.3.6.1.2.1.1.1.0"), &["OID|tag|value", "0 '|'"]);
        assert_mentions(
            &problem(b"1.3.6.1.2.1.1.1.0|4"),
            &["OID|tag|value", "1 '|'"],
        );
    }

    #[test]
    fn bad_record_oid() {
        assert_mentions(&problem(b"1.3.x|2|1"), &["record OID", "1.3.x"]);
        assert_mentions(&problem(b"1.3.6.99999999999|2|1"), &["record OID"]);
        assert_mentions(&problem(b"\xff\xfe|2|1"), &["record OID", "dotted decimal"]);
    }

    #[test]
    fn bad_empty_record_oid() {
        assert_mentions(&problem(b"|2|1"), &["record OID is empty"]);
    }

    #[test]
    fn bad_record_oid_not_encodable() {
        assert_mentions(&problem(b"1|2|1"), &["record OID 1 cannot be encoded"]);
        assert_mentions(&problem(b"3.1|2|1"), &["record OID 3.1 cannot be encoded"]);
    }

    #[test]
    fn bad_unknown_tag() {
        for tag in ["3", "69", "71", "04", "4y", "x", "255", "99999999999"] {
            let line = format!("1.3.6|{tag}|1");
            assert_mentions(&problem(line.as_bytes()), &["unknown tag", tag]);
        }
        assert_mentions(&problem(b"1.3.6|4e|a\\x00"), &["unknown tag", "suffix e"]);
        assert_mentions(
            &problem(b"1.3.6|2:numeric|rate=1"),
            &["unknown tag", "variation modules"],
        );
    }

    #[test]
    fn bad_empty_tag() {
        assert_mentions(&problem(b"1.3.6||1"), &["empty tag"]);
    }

    #[test]
    fn bad_hex_suffix_where_it_makes_no_sense() {
        for tag in ["2x", "5x", "6x", "65x", "70x", "128x"] {
            let line = format!("1.3.6|{tag}|00");
            assert_mentions(&problem(line.as_bytes()), &[tag, "only for 4, 64 and 68"]);
        }
    }

    #[test]
    fn bad_hex_digit() {
        assert_mentions(
            &problem(b"1.3.6|4x|00zz"),
            &["bad hex", "\"z\"", "position 3"],
        );
        assert_mentions(&problem(b"1.3.6|68x|0 1"), &["bad hex", "position 2"]);
    }

    #[test]
    fn bad_hex_odd_length() {
        assert_mentions(&problem(b"1.3.6|4x|abc"), &["bad hex", "odd number", "(3)"]);
    }

    #[test]
    fn bad_hex_ip_address_length() {
        assert_mentions(
            &problem(b"1.3.6|64x|0a0b0c"),
            &["IpAddress needs 4 bytes", "has 3"],
        );
        assert_mentions(&problem(b"1.3.6|64x|0a0b0c0d0e"), &["has 5"]);
    }

    #[test]
    fn bad_integer_not_a_number() {
        for value in ["", "abc", "1.5", "+1", "0x10", "--1", "1 2"] {
            let line = format!("1.3.6|2|{value}");
            assert_mentions(
                &problem(line.as_bytes()),
                &["Integer value", "not a decimal number"],
            );
        }
        assert_mentions(
            &problem(b"1.3.6|65|-1"),
            &["Counter32 value \"-1\"", "out of range"],
        );
    }

    #[test]
    fn bad_integer_out_of_range() {
        let cases: [(&str, &str); 7] = [
            ("2|2147483648", "Integer"),
            ("2|-2147483649", "Integer"),
            ("65|4294967296", "Counter32"),
            ("66|4294967296", "Gauge32"),
            ("67|99999999999", "TimeTicks"),
            ("70|18446744073709551616", "Counter64"),
            ("70|-1", "Counter64"),
        ];
        for (rest, name) in cases {
            let line = format!("1.3.6|{rest}");
            assert_mentions(&problem(line.as_bytes()), &[name, "out of range"]);
        }
    }

    #[test]
    fn bad_ip_address() {
        for value in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1..2.3",
            "a.b.c.d",
            "0001.2.3.4",
            "",
        ] {
            let line = format!("1.3.6|64|{value}");
            assert_mentions(&problem(line.as_bytes()), &["IpAddress", "dotted quad"]);
        }
    }

    #[test]
    fn bad_oid_value() {
        assert_mentions(&problem(b"1.3.6|6|1.3.six"), &["OID value", "1.3.six"]);
    }

    /// As in librenms/snmprec/zebra.snmprec: an OID value of one arc.
    #[test]
    fn bad_oid_value_not_encodable() {
        assert_mentions(
            &problem(b"1.3.6.1.2.1.25.3.2.1.4.1|6|0"),
            &["OID value 0 cannot be encoded in BER"],
        );
        assert_mentions(&problem(b"1.3.6|6|"), &["OID value is empty"]);
        assert_mentions(
            &problem(b"1.3.6|6|1.40.1"),
            &["OID value 1.40.1 cannot be encoded"],
        );
        // Two arcs are enough.
        assert_eq!(one(b"1.3.6|6|0.0").value, Value::ObjectId(oid("0.0")));
    }

    #[test]
    fn bad_non_empty_null_and_exceptions() {
        assert_mentions(&problem(b"1.3.6|5|0"), &["Null takes an empty value"]);
        assert_mentions(&problem(b"1.3.6|128|x"), &["noSuchObject"]);
        assert_mentions(&problem(b"1.3.6|129|x"), &["noSuchInstance"]);
        assert_mentions(&problem(b"1.3.6|130|x"), &["endOfMibView"]);
    }

    #[test]
    fn bad_non_ascii_number() {
        assert_mentions(&problem(b"1.3.6|2|\xff"), &["not ASCII text"]);
    }

    #[test]
    fn bad_duplicate_oid_keeps_the_first() {
        let recording = parse(b"1.3.6.1|2|1\n1.3.6.2|2|2\n.1.3.6.1|2|3\n");
        assert_eq!(
            recording.records,
            vec![
                vb("1.3.6.1", Value::Integer(1)),
                vb("1.3.6.2", Value::Integer(2))
            ]
        );
        assert_eq!(recording.problems.len(), 1);
        assert_eq!(recording.problems[0].line, 3);
        assert_mentions(
            &recording.problems[0].message,
            &["duplicate OID 1.3.6.1", "line 1"],
        );
    }

    #[test]
    fn bad_line_too_long() {
        let mut text = b"1.3.6.1|4|".to_vec();
        text.resize(MAX_LINE_LEN + 1, b'a');
        text.extend_from_slice(b"\n1.3.6.2|2|1\n");
        let recording = parse(&text);
        assert_eq!(recording.records, vec![vb("1.3.6.2", Value::Integer(1))]);
        assert_eq!(recording.problems.len(), 1);
        assert_eq!(recording.problems[0].line, 1);
        assert_mentions(&recording.problems[0].message, &["longer than the limit"]);
        // Exactly at the limit is fine.
        let mut text = b"1.3.6.1|4|".to_vec();
        text.resize(MAX_LINE_LEN, b'a');
        assert_eq!(parse(&text).problems, vec![]);
    }

    #[test]
    fn bad_lines_do_not_stop_the_file() {
        let text = b"1.3.6.1|2|1\n1.3.6.2|2|x\n1.3.6.3|6|0\n1.3.6.4|99|1\n1.3.6.5|2|5\n";
        let recording = parse(text);
        assert_eq!(
            recording.records,
            vec![
                vb("1.3.6.1", Value::Integer(1)),
                vb("1.3.6.5", Value::Integer(5))
            ]
        );
        let lines: Vec<usize> = recording.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert_eq!(
            recording.problems[0].to_string(),
            format!("line 2: {}", recording.problems[0].message)
        );
    }

    #[test]
    fn long_bad_values_are_shortened_in_messages() {
        let mut line = b"1.3.6|2|".to_vec();
        line.resize(5000, b'9');
        let message = problem(&line);
        assert!(message.len() < 300, "{message}");
        assert_mentions(&message, &["4992 bytes"]);
    }

    // ---- writer ----

    #[test]
    fn writes_canonical_lines() {
        let cases = [
            (Value::Integer(-5), "1.3.6|2|-5\n"),
            (
                Value::OctetString(b"Canon LBP6670 /P".to_vec()),
                "1.3.6|4|Canon LBP6670 /P\n",
            ),
            (Value::OctetString(b"".to_vec()), "1.3.6|4|\n"),
            (
                Value::OctetString(b"line\nbreak".to_vec()),
                "1.3.6|4x|6c696e650a627265616b\n",
            ),
            (Value::OctetString(b"cr\r".to_vec()), "1.3.6|4x|63720d\n"),
            (
                Value::OctetString(b"trailing ".to_vec()),
                "1.3.6|4x|747261696c696e6720\n",
            ),
            (Value::OctetString(b"\x00\xAB".to_vec()), "1.3.6|4x|00ab\n"),
            (
                Value::OctetString("é".as_bytes().to_vec()),
                "1.3.6|4x|c3a9\n",
            ),
            (Value::Null, "1.3.6|5|\n"),
            (
                Value::ObjectId(oid("1.3.6.1.4.1.2435")),
                "1.3.6|6|1.3.6.1.4.1.2435\n",
            ),
            (Value::IpAddress([192, 168, 0, 7]), "1.3.6|64|192.168.0.7\n"),
            (Value::Counter32(7), "1.3.6|65|7\n"),
            (Value::Gauge32(8), "1.3.6|66|8\n"),
            (Value::TimeTicks(9), "1.3.6|67|9\n"),
            (Value::Opaque(b"text".to_vec()), "1.3.6|68x|74657874\n"),
            (
                Value::Counter64(u64::MAX),
                "1.3.6|70|18446744073709551615\n",
            ),
            (Value::NoSuchObject, "1.3.6|128|\n"),
            (Value::NoSuchInstance, "1.3.6|129|\n"),
            (Value::EndOfMibView, "1.3.6|130|\n"),
        ];
        for (value, line) in cases {
            let record = vb(".1.3.6", value);
            assert_eq!(written(&record), line);
            assert_eq!(one(line.as_bytes()), record, "{line:?}");
        }
    }

    #[test]
    fn writer_refuses_what_the_reader_would_refuse() {
        let bad = [
            vb("", Value::Integer(1)),
            vb("1", Value::Integer(1)),
            vb("1.3.6", Value::ObjectId(oid("0"))),
            vb("1.3.6", Value::ObjectId(Oid::default())),
        ];
        for record in bad {
            let mut out = Vec::new();
            let error = write_record(&mut out, &record).expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
            assert!(out.is_empty());
            assert!(check_record(&record).is_err());
            assert_eq!(to_string(std::slice::from_ref(&record)), "");
        }
    }

    #[test]
    fn to_string_writes_every_record_in_order() {
        let records = vec![
            vb(
                "1.3.6.1.2.1.1.1.0",
                Value::OctetString(b"Zebra ZT410".to_vec()),
            ),
            vb("1.3.6.1.2.1.1.3.0", Value::TimeTicks(12)),
        ];
        let text = to_string(&records);
        assert_eq!(
            text,
            "1.3.6.1.2.1.1.1.0|4|Zebra ZT410\n1.3.6.1.2.1.1.3.0|67|12\n"
        );
        assert_eq!(parse(text.as_bytes()).records, records);
    }

    // ---- property: what is written reads back exactly ----

    mod prop {
        use super::*;
        use proptest::collection::{btree_set, vec};
        use proptest::prelude::*;

        fn encodable_oid() -> impl Strategy<Value = Oid> {
            (0u32..=2, any::<u32>(), vec(any::<u32>(), 0..12)).prop_map(|(first, second, rest)| {
                let second = if first < 2 { second % 40 } else { second };
                let mut arcs = vec![first, second];
                arcs.extend(rest);
                Oid::new(arcs)
            })
        }

        fn bytes() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                vec(any::<u8>(), 0..48),
                // Mostly printable, to exercise the plain form and its edges.
                vec(
                    prop_oneof![0x20u8..=0x7e, Just(b' '), Just(b'|'), Just(b'\r')],
                    0..48
                ),
            ]
        }

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                any::<i32>().prop_map(Value::Integer),
                bytes().prop_map(Value::OctetString),
                Just(Value::Null),
                encodable_oid().prop_map(Value::ObjectId),
                any::<[u8; 4]>().prop_map(Value::IpAddress),
                any::<u32>().prop_map(Value::Counter32),
                any::<u32>().prop_map(Value::Gauge32),
                any::<u32>().prop_map(Value::TimeTicks),
                bytes().prop_map(Value::Opaque),
                any::<u64>().prop_map(Value::Counter64),
                Just(Value::NoSuchObject),
                Just(Value::NoSuchInstance),
                Just(Value::EndOfMibView),
            ]
        }

        fn records() -> impl Strategy<Value = Vec<VarBind>> {
            btree_set(encodable_oid(), 0..40).prop_flat_map(|oids| {
                let n = oids.len();
                vec(value(), n).prop_map(move |values| {
                    oids.iter()
                        .cloned()
                        .zip(values)
                        .map(|(oid, value)| VarBind::new(oid, value))
                        .collect()
                })
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn written_records_read_back_exactly(records in records()) {
                let text = to_string(&records);
                let recording = parse(text.as_bytes());
                prop_assert_eq!(recording.problems, vec![]);
                prop_assert_eq!(recording.records, records);
            }

            #[test]
            fn written_records_read_back_with_crlf(records in records()) {
                let text = to_string(&records).replace('\n', "\r\n");
                let recording = parse(text.as_bytes());
                prop_assert_eq!(recording.problems, vec![]);
                prop_assert_eq!(recording.records, records);
            }

            #[test]
            fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
                crate::fuzzing::check_snmprec(&data);
            }

            #[test]
            fn arbitrary_lines_never_panic(
                lines in vec(
                    (
                        prop_oneof![Just(".1.3.6.1".to_string()), "[0-9.]{0,12}"],
                        prop_oneof![
                            Just("2".to_string()), Just("4x".to_string()),
                            Just("6".to_string()), Just("64".to_string()), "[0-9x]{0,4}"
                        ],
                        "[0-9a-f.|-]{0,24}",
                    ),
                    0..20,
                )
            ) {
                let text: String = lines
                    .iter()
                    .map(|(o, t, v)| format!("{o}|{t}|{v}\n"))
                    .collect();
                crate::fuzzing::check_snmprec(text.as_bytes());
            }
        }
    }
}
