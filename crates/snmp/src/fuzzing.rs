//! The checks behind the fuzz targets in `fuzz/`, shared with the stable
//! test `tests/fuzz_corpus.rs` that replays the corpora. Not a public API.
//!
//! Each check panics when an invariant breaks, which is what a fuzzer and a
//! test both report.

use crate::snmprec;
use crate::{Oid, Value, VarBind};

/// Arbitrary bytes as a recording: reading must not panic, the problems must
/// point at real lines in order, and every record read must come back
/// unchanged after writing and reading it again, alone and all together.
pub fn check_snmprec(data: &[u8]) {
    let recording = snmprec::parse(data);
    let lines = data.split(|&b| b == b'\n').count();
    let mut last = 0;
    for problem in &recording.problems {
        assert!(
            problem.line > last && problem.line <= lines,
            "problem line {} out of order or past the last line {lines}",
            problem.line
        );
        assert!(!problem.message.is_empty(), "empty problem message");
        last = problem.line;
    }
    assert!(recording.records.len() + recording.problems.len() <= lines);
    for record in &recording.records {
        check_record_round_trip(record);
    }
    let text = snmprec::to_string(&recording.records);
    let again = snmprec::parse(text.as_bytes());
    assert_eq!(again.problems, vec![], "re-reading what was written");
    assert_eq!(
        again.records, recording.records,
        "re-reading what was written"
    );
}

/// Arbitrary bytes as an SNMP message: when async-snmp decodes them, every
/// varbind value must convert to ours without panicking; a converted value
/// must convert back to the same engine value (Gauge32 stands for the
/// historic UInteger32), and every writable varbind must survive snmprec.
pub fn check_snmp_message(data: &[u8]) {
    use async_snmp::message::{CommunityPdu, Message};

    let Ok(outcome) = Message::decode(
        bytes::Bytes::copy_from_slice(data),
        async_snmp::DecodeConfig::DEFAULT,
    ) else {
        return;
    };
    let message = outcome.value;
    let varbinds: &[async_snmp::VarBind] = match &message {
        Message::Community(m) => match m.pdu() {
            CommunityPdu::Standard(pdu) => pdu.varbinds(),
            CommunityPdu::TrapV1(trap) => trap.varbinds(),
        },
        Message::V3(m) => m.pdu().map_or(&[], |pdu| pdu.varbinds()),
    };
    for varbind in varbinds {
        let Ok(value) = Value::try_from(&varbind.value) else {
            continue;
        };
        let expected = match &varbind.value {
            async_snmp::Value::UInteger32(v) => async_snmp::Value::Gauge32(*v),
            other => other.clone(),
        };
        match async_snmp::Value::try_from(&value) {
            Ok(back) => assert_eq!(back, expected, "value changed by the round trip"),
            Err(_) => assert!(
                matches!(&value, Value::ObjectId(oid) if !oid.is_encodable()),
                "only a non-encodable OID value may fail to convert back: {value:?}"
            ),
        }
        let record = VarBind::new(Oid::from(varbind.oid.arcs()), value);
        if snmprec::check_record(&record).is_ok() {
            check_record_round_trip(&record);
        }
    }
}

fn check_record_round_trip(record: &VarBind) {
    let mut line = Vec::new();
    if let Err(e) = snmprec::write_record(&mut line, record) {
        panic!("a record that was read cannot be written: {e} ({record:?})");
    }
    assert!(line.ends_with(b"\n") && line.iter().filter(|&&b| b == b'\n').count() == 1);
    let again = snmprec::parse(&line);
    assert_eq!(
        again.problems,
        vec![],
        "re-reading {:?}",
        String::from_utf8_lossy(&line)
    );
    assert_eq!(
        again.records,
        vec![record.clone()],
        "re-reading {:?}",
        String::from_utf8_lossy(&line)
    );
}
