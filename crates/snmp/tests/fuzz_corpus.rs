//! Replays the fuzz seed corpora (`fuzz/corpus/<target>/`, plus any crash
//! inputs kept there as regressions) on stable Rust, through the same checks
//! as the cargo-fuzz targets in `fuzz/fuzz_targets/`.
//!
//! The SNMP message seeds are byte fixtures explained field by field below;
//! a test checks that the corpus files are exactly those bytes and that
//! async-snmp encodes the same. `PRINTWATCH_WRITE_SEEDS=1` (re)writes them.

use std::path::{Path, PathBuf};

use async_snmp::message::{CommunityMessage, Message};
use async_snmp::{DecodeConfig, Oid, RequestPdu, ResponsePdu, Value, VarBind, Version};
use printwatch_snmp::fuzzing;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("readable corpus file");
            (path, bytes)
        })
        .collect()
}

fn replay(target: &str, check: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let outcome = std::panic::catch_unwind(|| check(&bytes));
        assert!(
            outcome.is_ok(),
            "{} fails the {target} check",
            path.display()
        );
    }
}

#[test]
fn snmprec_corpus_replays() {
    replay("snmprec", fuzzing::check_snmprec);
}

#[test]
fn snmp_message_corpus_replays() {
    replay("snmp_message", fuzzing::check_snmp_message);
}

/// The seeds for `snmprec` hold what they claim: good records, and in
/// `broken_lines.snmprec` nothing but problems.
#[test]
fn snmprec_seeds_are_what_they_say() {
    let corpus = corpus("snmprec");
    // The named seeds must be there: a check that runs only if found
    // passes when one is lost.
    for named in [
        "every_tag.snmprec",
        "crlf_latin1.snmprec",
        "broken_lines.snmprec",
    ] {
        assert!(
            corpus
                .iter()
                .any(|(p, _)| p.file_name().is_some_and(|n| n == named)),
            "the named seed fuzz/corpus/snmprec/{named} is missing"
        );
    }
    for (path, bytes) in corpus {
        let recording = printwatch_snmp::snmprec::parse(&bytes);
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        match name {
            "every_tag.snmprec" => {
                assert_eq!(recording.problems, vec![]);
                assert_eq!(recording.records.len(), 20);
            }
            "crlf_latin1.snmprec" => {
                assert_eq!(recording.problems, vec![]);
                assert_eq!(recording.records.len(), 4);
            }
            "broken_lines.snmprec" => {
                assert_eq!(
                    recording.records.len(),
                    1,
                    "only the first 0.0 line is good"
                );
                assert_eq!(recording.problems.len(), 29);
            }
            _ => {}
        }
    }
}

// ---- SNMPv2c GET of four printer objects, and its response ----
//
// BER (X.690 §8) TLVs; message layout RFC 1901 §3 (version 1 = v2c),
// PDU layout RFC 3416 §3.

/// sysDescr.0 = 1.3.6.1.2.1.1.1.0 (first two arcs packed: 40*1+3 = 0x2b).
const SYS_DESCR: [u8; 8] = [0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00];
/// sysUpTime.0 = 1.3.6.1.2.1.1.3.0
const SYS_UP_TIME: [u8; 8] = [0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x03, 0x00];
/// prtMarkerLifeCount.1.1 = 1.3.6.1.2.1.43.10.2.1.4.1.1 (RFC 3805)
const LIFE_COUNT: [u8; 12] = [
    0x2b, 0x06, 0x01, 0x02, 0x01, 0x2b, 0x0a, 0x02, 0x01, 0x04, 0x01, 0x01,
];
/// prtMarkerSuppliesLevel.1.1 = 1.3.6.1.2.1.43.11.1.1.9.1.1 (RFC 3805)
const SUPPLIES_LEVEL: [u8; 12] = [
    0x2b, 0x06, 0x01, 0x02, 0x01, 0x2b, 0x0b, 0x01, 0x01, 0x09, 0x01, 0x01,
];

fn get_request() -> Vec<u8> {
    let mut b = vec![
        0x30, 0x5b, // Message SEQUENCE, 91 bytes
        0x02, 0x01, 0x01, // version INTEGER 1 = SNMPv2c
        0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', // community "public"
        0xa0, 0x4e, // GetRequest-PDU [0], 78 bytes
        0x02, 0x04, 0x12, 0x34, 0x56, 0x78, // request-id 0x12345678
        0x02, 0x01, 0x00, // error-status 0 (noError)
        0x02, 0x01, 0x00, // error-index 0
        0x30, 0x40, // variable-bindings SEQUENCE OF, 64 bytes
    ];
    b.extend([0x30, 0x0c, 0x06, 0x08]); // VarBind, 12 bytes; name OID, 8 bytes
    b.extend(SYS_DESCR);
    b.extend([0x05, 0x00]); // value NULL (unSpecified in a request)
    b.extend([0x30, 0x0c, 0x06, 0x08]);
    b.extend(SYS_UP_TIME);
    b.extend([0x05, 0x00]);
    b.extend([0x30, 0x10, 0x06, 0x0c]); // VarBind, 16 bytes; name OID, 12 bytes
    b.extend(LIFE_COUNT);
    b.extend([0x05, 0x00]);
    b.extend([0x30, 0x10, 0x06, 0x0c]);
    b.extend(SUPPLIES_LEVEL);
    b.extend([0x05, 0x00]);
    b
}

fn get_response() -> Vec<u8> {
    let mut b = vec![
        0x30, 0x74, // Message SEQUENCE, 116 bytes
        0x02, 0x01, 0x01, // version INTEGER 1 = SNMPv2c
        0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', // community "public"
        0xa2, 0x67, // Response-PDU [2], 103 bytes
        0x02, 0x04, 0x12, 0x34, 0x56, 0x78, // request-id, as in the request
        0x02, 0x01, 0x00, // error-status 0 (noError)
        0x02, 0x01, 0x00, // error-index 0
        0x30, 0x59, // variable-bindings SEQUENCE OF, 89 bytes
    ];
    b.extend([0x30, 0x1e, 0x06, 0x08]); // VarBind, 30 bytes; name OID, 8 bytes
    b.extend(SYS_DESCR);
    b.extend([0x04, 0x12]); // OCTET STRING, 18 bytes
    b.extend(b"HP LaserJet M452nw");
    b.extend([0x30, 0x0f, 0x06, 0x08]); // VarBind, 15 bytes
    b.extend(SYS_UP_TIME);
    b.extend([0x43, 0x03, 0x03, 0xfe, 0x46]); // TimeTicks [APPLICATION 3] 261702
    b.extend([0x30, 0x13, 0x06, 0x0c]); // VarBind, 19 bytes
    b.extend(LIFE_COUNT);
    b.extend([0x41, 0x03, 0x01, 0xe2, 0x40]); // Counter32 [APPLICATION 1] 123456
    b.extend([0x30, 0x11, 0x06, 0x0c]); // VarBind, 17 bytes
    b.extend(SUPPLIES_LEVEL);
    b.extend([0x02, 0x01, 0xfd]); // INTEGER -3 ("some remaining", RFC 3805)
    b
}

fn oid(text: &str) -> Oid {
    Oid::parse(text).expect("test OID")
}

fn printer_oids() -> Vec<Oid> {
    [
        "1.3.6.1.2.1.1.1.0",
        "1.3.6.1.2.1.1.3.0",
        "1.3.6.1.2.1.43.10.2.1.4.1.1",
        "1.3.6.1.2.1.43.11.1.1.9.1.1",
    ]
    .into_iter()
    .map(oid)
    .collect()
}

/// A response carrying one value of every type we convert, from the encoder.
fn every_type_response() -> Vec<u8> {
    let values = vec![
        Value::Integer(i32::MIN),
        Value::OctetString(bytes::Bytes::from_static(b"\x00\xffbytes")),
        Value::Null,
        Value::ObjectIdentifier(oid("1.3.6.1.4.1.2435.2.3.9.1")),
        Value::IpAddress([192, 168, 0, 7]),
        Value::Counter32(u32::MAX),
        Value::Gauge32(42),
        Value::TimeTicks(261_702),
        Value::Opaque(bytes::Bytes::from_static(&[0x9f, 0x78, 0x04, 0x42])),
        Value::Counter64(u64::MAX),
        Value::NoSuchObject,
        Value::NoSuchInstance,
        Value::EndOfMibView,
    ];
    let varbinds = values
        .into_iter()
        .zip(1u32..)
        .map(|(value, i)| VarBind::new(oid(&format!("1.3.6.1.4.1.99.{i}.0")), value))
        .collect();
    let pdu = ResponsePdu::success(Version::V2c, 7, varbinds).expect("response PDU");
    CommunityMessage::v2c("public", pdu)
        .expect("message")
        .encode()
        .expect("encodes")
        .to_vec()
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let request = get_request();
    let truncated = request[..request.len() - 5].to_vec();
    vec![
        ("v2c_get_request.bin", request),
        ("v2c_get_response.bin", get_response()),
        ("v2c_every_type_response.bin", every_type_response()),
        // The request cut short: lengths now claim more than there is.
        ("v2c_get_request_truncated.bin", truncated),
    ]
}

#[test]
fn hand_written_packets_match_async_snmp() {
    let request = RequestPdu::get(Version::V2c, 0x1234_5678, &printer_oids()).expect("GET");
    let encoded = CommunityMessage::v2c("public", request)
        .expect("message")
        .encode()
        .expect("encodes");
    assert_eq!(encoded.as_ref(), get_request().as_slice(), "GET request");

    let values = [
        Value::OctetString(bytes::Bytes::from_static(b"HP LaserJet M452nw")),
        Value::TimeTicks(261_702),
        Value::Counter32(123_456),
        Value::Integer(-3),
    ];
    let varbinds = printer_oids()
        .into_iter()
        .zip(values)
        .map(|(oid, value)| VarBind::new(oid, value))
        .collect();
    let response = ResponsePdu::success(Version::V2c, 0x1234_5678, varbinds).expect("response");
    let encoded = CommunityMessage::v2c("public", response)
        .expect("message")
        .encode()
        .expect("encodes");
    assert_eq!(encoded.as_ref(), get_response().as_slice(), "GET response");

    // And both decode strictly, to our values.
    let decoded = Message::decode(bytes::Bytes::from(get_response()), DecodeConfig::STRICT)
        .expect("decodes")
        .value;
    let ours: Vec<printwatch_snmp::Value> = decoded
        .pdu()
        .expect("a PDU")
        .varbinds()
        .iter()
        .map(|vb| printwatch_snmp::Value::try_from(&vb.value).expect("converts"))
        .collect();
    assert_eq!(
        ours,
        vec![
            printwatch_snmp::Value::OctetString(b"HP LaserJet M452nw".to_vec()),
            printwatch_snmp::Value::TimeTicks(261_702),
            printwatch_snmp::Value::Counter32(123_456),
            printwatch_snmp::Value::Integer(-3),
        ]
    );
}

#[test]
fn snmp_message_seed_files_are_the_fixtures() {
    let dir = corpus_dir("snmp_message");
    let write = std::env::var("PRINTWATCH_WRITE_SEEDS").is_ok_and(|v| v == "1");
    for (name, bytes) in seeds() {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &bytes).expect("seed written");
        }
        let on_disk = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (PRINTWATCH_WRITE_SEEDS=1 writes the seeds)",
                path.display()
            )
        });
        assert_eq!(
            on_disk,
            bytes,
            "{} differs from its fixture",
            path.display()
        );
    }
}
