//! The spool's tests: one per corruption case, the fault cases, the full policy, and a
//! model-based property test with crashes at any instant.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::mem::{MemIo, Tear};
use super::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_750_000_000 - 1_750_000_000 % DAY; // midnight UTC

fn limits() -> SpoolLimits {
    SpoolLimits {
        max_bytes: 64 * 1024,
        segment_bytes: 4096,
        max_record_bytes: 4096,
    }
}

fn open(io: &MemIo) -> (Spool, OpenReport) {
    Spool::open_with(Box::new(io.clone()), limits()).unwrap()
}

fn meta(device: u64, collected_at: i64) -> RecordMeta {
    RecordMeta {
        device,
        collected_at,
    }
}

fn payload(n: u64) -> Vec<u8> {
    format!("snapshot {n} ").repeat(4).into_bytes()
}

/// Appends one record per device (1..=n) collected at `t`.
fn cycle(spool: &mut Spool, devices: u64, t: i64) -> Vec<RecordId> {
    let payloads: Vec<Vec<u8>> = (1..=devices)
        .map(|d| payload(d * 1000 + t as u64 % 1000))
        .collect();
    let batch: Vec<(RecordMeta, &[u8])> = (1..=devices)
        .map(|d| (meta(d, t), payloads[d as usize - 1].as_slice()))
        .collect();
    spool.append(&batch).unwrap().ids
}

fn append_one(spool: &mut Spool, n: u64) -> RecordId {
    let p = payload(n);
    spool.append(&[(meta(n, T0), &p)]).unwrap().ids[0]
}

fn ids(spool: &mut Spool) -> Vec<u64> {
    spool
        .peek(usize::MAX, usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.id.0)
        .collect()
}

fn first_segment(io: &MemIo) -> String {
    io.names()
        .into_iter()
        .find(|n| n.ends_with(".seg"))
        .unwrap()
}

/// Three records in one segment; returns the segment's name and the records' offsets.
fn three_records(io: &MemIo) -> (String, [usize; 3]) {
    let (mut spool, _) = open(io);
    for n in 1..=3 {
        append_one(&mut spool, n);
    }
    let len = record_len(payload(1).len()) as usize;
    (first_segment(io), [0, len, 2 * len])
}

fn edit(io: &MemIo, name: &str, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = io.file(name).unwrap();
    f(&mut bytes);
    io.set_file(name, bytes);
}

// ---- basics ----

#[test]
fn append_peek_ack_reopen() {
    let io = MemIo::new();
    let (mut spool, report) = open(&io);
    assert!(report.is_clean());
    assert_eq!(
        cycle(&mut spool, 3, T0),
        vec![RecordId(1), RecordId(2), RecordId(3)]
    );
    let peeked = spool.peek(2, usize::MAX).unwrap();
    assert_eq!(
        peeked.iter().map(|r| r.id.0).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(peeked[1].meta, meta(2, T0));
    assert_eq!(peeked[1].payload, payload(2000 + T0 as u64 % 1000));
    // The byte limit still returns one record.
    assert_eq!(spool.peek(10, 1).unwrap().len(), 1);
    spool.ack(RecordId(2)).unwrap();
    assert_eq!(ids(&mut spool), vec![3]);
    drop(spool);
    let (mut spool, report) = open(&io);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(ids(&mut spool), vec![3]);
    assert_eq!(spool.stats().acked_through, RecordId(2));
}

#[test]
fn ids_are_not_reused_after_everything_was_acked() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    cycle(&mut spool, 5, T0);
    spool.ack(RecordId(5)).unwrap();
    assert_eq!(spool.stats().bytes, 0, "acked segments are deleted");
    assert!(io.names().iter().all(|n| !n.ends_with(".seg")));
    drop(spool);
    let (mut spool, _) = open(&io);
    assert_eq!(append_one(&mut spool, 9), RecordId(6));
}

#[test]
fn ack_beyond_the_newest_record_is_an_error() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    cycle(&mut spool, 2, T0);
    assert!(matches!(
        spool.ack(RecordId(3)),
        Err(SpoolError::AckBeyondEnd { .. })
    ));
    assert_eq!(ids(&mut spool), vec![1, 2]);
}

#[test]
fn a_record_above_the_limit_is_an_error_not_a_panic() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    let big = vec![0; 5000];
    assert!(matches!(
        spool.append(&[(meta(1, T0), &big)]),
        Err(SpoolError::RecordTooLarge { index: 0, .. })
    ));
}

#[test]
fn real_filesystem_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spool");
    let (mut spool, _) = Spool::open(&path, limits()).unwrap();
    for t in 0..20 {
        cycle(&mut spool, 10, T0 + t * 900);
    }
    spool.ack(RecordId(150)).unwrap();
    let bytes = spool.stats().bytes;
    drop(spool);
    let (mut spool, report) = Spool::open(&path, limits()).unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(ids(&mut spool), (151..=200).collect::<Vec<_>>());
    let on_disk: u64 = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(on_disk, bytes);
    assert_eq!(spool.stats().bytes, bytes);
}

// ---- one test per corruption case ----

#[test]
fn torn_header_is_truncated() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| b.truncate(off[2] + 10));
    let (mut spool, report) = open(&io);
    assert_eq!(
        report.truncated,
        vec![Truncation {
            segment: seg.clone(),
            offset: off[2] as u64,
            bytes: 10
        }]
    );
    assert!(report.corrupt.is_empty());
    assert_eq!(ids(&mut spool), vec![1, 2]);
    assert_eq!(
        io.file(&seg).unwrap().len(),
        off[2],
        "the tail is cut off on disk"
    );
}

#[test]
fn torn_payload_is_truncated() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| b.truncate(off[2] + HEADER_LEN + 5));
    let (mut spool, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].offset, off[2] as u64);
    assert_eq!(ids(&mut spool), vec![1, 2]);
}

#[test]
fn bad_checksum_skips_that_record_only() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| b[off[1] + HEADER_LEN + 3] ^= 0x20);
    let (mut spool, report) = open(&io);
    assert_eq!(
        report.corrupt,
        vec![Corruption {
            segment: seg,
            offset: off[1] as u64,
            bytes: (off[2] - off[1]) as u64,
            kind: CorruptKind::Invalid
        }]
    );
    assert!(report.truncated.is_empty());
    assert_eq!(ids(&mut spool), vec![1, 3]);
    assert_eq!(spool.stats().corrupt_total, 1);
}

#[test]
fn flipped_header_field_is_caught_by_the_checksum() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| b[off[1] + 20] ^= 1); // the device key
    let (mut spool, report) = open(&io);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(ids(&mut spool), vec![1, 3]);
}

#[test]
fn length_pointing_past_the_end_is_a_torn_tail() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| {
        b[off[2] + 8..off[2] + 12].copy_from_slice(&4000u32.to_le_bytes())
    });
    let (mut spool, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(ids(&mut spool), vec![1, 2]);
}

#[test]
fn garbage_length_in_the_middle_resyncs_on_the_next_record() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| {
        b[off[1] + 8..off[1] + 12].copy_from_slice(&u32::MAX.to_le_bytes())
    });
    let (mut spool, report) = open(&io);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].offset, off[1] as u64);
    assert_eq!(ids(&mut spool), vec![1, 3]);
}

#[test]
fn zero_filled_tail_is_truncated() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| b.resize(b.len() + 3000, 0));
    let (mut spool, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].bytes, 3000);
    assert_eq!(ids(&mut spool), vec![1, 2, 3]);
    assert_eq!(io.file(&seg).unwrap().len(), off[2] + (off[1] - off[0]));
}

#[test]
fn garbage_segment_file_is_reported_and_removed() {
    let io = MemIo::new();
    let name = "00000000000000000001.seg";
    let mut x = 0x9e3779b97f4a7c15u64;
    let garbage: Vec<u8> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    io.set_file(name, garbage);
    let (mut spool, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].bytes, 10_000);
    assert!(io.file(name).is_none(), "an empty segment is deleted");
    assert_eq!(append_one(&mut spool, 1), RecordId(1));
    assert_eq!(ids(&mut spool), vec![1]);
}

#[test]
fn garbage_segment_file_with_magic_bytes_is_not_fatal() {
    let io = MemIo::new();
    let mut bytes = Vec::new();
    for i in 0..500u32 {
        bytes.extend_from_slice(&format::RECORD_MAGIC);
        bytes.extend_from_slice(&i.wrapping_mul(2654435761).to_le_bytes());
        bytes.extend_from_slice(&(i % 64).to_le_bytes());
    }
    io.set_file("00000000000000000001.seg", bytes);
    let (mut spool, report) = open(&io);
    assert_eq!(report.truncated.len(), 1);
    assert!(ids(&mut spool).is_empty());
}

#[test]
fn missing_segment_loses_only_its_records() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    // 100 records of 72 bytes per batch: each batch fills a 4 KiB segment.
    for t in 0..3 {
        cycle(&mut spool, 60, T0 + t * 900);
    }
    drop(spool);
    let segments: Vec<String> = io
        .names()
        .into_iter()
        .filter(|n| n.ends_with(".seg"))
        .collect();
    assert_eq!(segments.len(), 3);
    io.delete_file(&segments[1]);
    let (mut spool, report) = open(&io);
    assert!(report.is_clean());
    let got = ids(&mut spool);
    assert_eq!(got, (1..=60).chain(121..=180).collect::<Vec<_>>());
    assert_eq!(append_one(&mut spool, 7), RecordId(181));
}

#[test]
fn duplicate_record_is_skipped_as_out_of_order() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    edit(&io, &seg, |b| {
        let first = b[..off[1]].to_vec();
        b.extend_from_slice(&first);
    });
    let (mut spool, report) = open(&io);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].kind, CorruptKind::OutOfOrder(RecordId(1)));
    assert_eq!(ids(&mut spool), vec![1, 2, 3]);
}

#[test]
fn corrupt_ack_slot_falls_back_to_the_other() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    cycle(&mut spool, 6, T0);
    spool.ack(RecordId(2)).unwrap(); // slot 0
    spool.ack(RecordId(4)).unwrap(); // slot 1
    drop(spool);
    edit(&io, "ack-1", |b| b[17] ^= 0xff);
    let (mut spool, report) = open(&io);
    assert_eq!(report.ledger_corrupt, vec!["ack-1".to_owned()]);
    assert!(!report.ledger_lost);
    assert_eq!(spool.stats().acked_through, RecordId(2));
    assert_eq!(
        ids(&mut spool),
        vec![3, 4, 5, 6],
        "delivered again, not lost"
    );
    // The next ack rewrites the bad slot and keeps the good one.
    spool.ack(RecordId(5)).unwrap();
    drop(spool);
    let (spool, report) = open(&io);
    assert!(report.is_clean());
    assert_eq!(spool.stats().acked_through, RecordId(5));
}

#[test]
fn truncated_ack_file_is_reported() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    cycle(&mut spool, 3, T0);
    spool.ack(RecordId(1)).unwrap();
    drop(spool);
    edit(&io, "ack-0", |b| b.truncate(10));
    let (mut spool, report) = open(&io);
    assert!(report.ledger_lost);
    assert_eq!(ids(&mut spool), vec![1, 2, 3]);
    assert_eq!(append_one(&mut spool, 4), RecordId(4));
}

#[test]
fn leftover_compaction_file_is_removed() {
    let io = MemIo::new();
    let (seg, _) = three_records(&io);
    io.set_file(&format!("{seg}.compact"), b"half a rewrite".to_vec());
    io.set_file("notes.txt", b"not ours".to_vec());
    let (mut spool, report) = open(&io);
    assert_eq!(report.leftovers_removed, vec![format!("{seg}.compact")]);
    assert_eq!(report.unknown_files, vec!["notes.txt".to_owned()]);
    assert!(io.file(&format!("{seg}.compact")).is_none());
    assert!(io.file("notes.txt").is_some());
    assert_eq!(ids(&mut spool), vec![1, 2, 3]);
}

#[test]
fn record_going_bad_after_open_is_skipped_by_peek() {
    let io = MemIo::new();
    let (seg, off) = three_records(&io);
    let (mut spool, _) = open(&io);
    edit(&io, &seg, |b| b[off[0] + HEADER_LEN] ^= 1);
    assert_eq!(ids(&mut spool), vec![2, 3]);
    assert_eq!(spool.stats().corrupt_total, 1);
    assert_eq!(spool.stats().records, 2);
}

// ---- I/O failures ----

#[test]
fn failed_fsync_is_not_claimed_and_not_retried() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    append_one(&mut spool, 1);
    io.fail_next_sync();
    let p = payload(2);
    assert!(matches!(
        spool.append(&[(meta(2, T0), &p)]),
        Err(SpoolError::Sync { .. })
    ));
    assert_eq!(
        ids(&mut spool),
        vec![1],
        "the failed batch is not in the index"
    );
    // The next batch goes to a new segment, written and fsynced afresh.
    assert_eq!(append_one(&mut spool, 3), RecordId(3));
    assert_eq!(io.names().iter().filter(|n| n.ends_with(".seg")).count(), 2);
    let io = io.crash(Tear::Prefix(255));
    let (mut spool, _) = open(&io);
    assert_eq!(ids(&mut spool), vec![1, 3]);
}

#[test]
fn disk_full_mid_write_rolls_back() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    append_one(&mut spool, 1);
    let before = spool.stats().bytes;
    io.fail_next_write(50);
    let p = payload(2);
    assert!(matches!(
        spool.append(&[(meta(2, T0), &p)]),
        Err(SpoolError::Io { op: "write", .. })
    ));
    assert_eq!(spool.stats().bytes, before);
    assert_eq!(
        io.file(&first_segment(&io)).unwrap().len() as u64,
        before,
        "cut back on disk"
    );
    append_one(&mut spool, 3);
    drop(spool);
    let (mut spool, report) = open(&io);
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(ids(&mut spool), vec![1, 3]);
}

#[test]
fn failed_directory_fsync_of_a_new_segment_is_an_error() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    io.fail_next_sync_dir();
    let p = payload(1);
    assert!(spool.append(&[(meta(1, T0), &p)]).is_err());
    assert!(ids(&mut spool).is_empty());
    assert_eq!(append_one(&mut spool, 2), RecordId(2));
    let io = io.crash(Tear::None);
    let (mut spool, _) = open(&io);
    assert_eq!(ids(&mut spool), vec![2]);
}

#[test]
fn failed_ack_fsync_keeps_the_records() {
    let io = MemIo::new();
    let (mut spool, _) = open(&io);
    cycle(&mut spool, 3, T0);
    io.fail_next_sync();
    assert!(matches!(
        spool.ack(RecordId(2)),
        Err(SpoolError::Sync { .. })
    ));
    assert_eq!(ids(&mut spool), vec![1, 2, 3]);
    assert_eq!(spool.stats().acked_through, RecordId(0));
    spool.ack(RecordId(2)).unwrap();
    let io = io.crash(Tear::None);
    let (mut spool, _) = open(&io);
    assert_eq!(ids(&mut spool), vec![3]);
}

#[test]
fn crash_mid_append_keeps_every_acknowledged_record() {
    for ops in 0..8 {
        for tear in [
            Tear::None,
            Tear::Prefix(100),
            Tear::Prefix(255),
            Tear::Zeros,
        ] {
            let io = MemIo::new();
            let (mut spool, _) = open(&io);
            cycle(&mut spool, 3, T0);
            io.die_after(ops);
            let ok = spool
                .append(&[(meta(9, T0), &payload(9)), (meta(8, T0), &payload(8))])
                .is_ok();
            let io = io.crash(tear);
            let (mut spool, _) = open(&io);
            let got = ids(&mut spool);
            assert_eq!(&got[..3], &[1, 2, 3], "ops {ops} {tear:?}");
            if ok {
                assert_eq!(got, vec![1, 2, 3, 4, 5]);
            }
            let next = append_one(&mut spool, 7);
            assert!(next.0 > *got.last().unwrap());
        }
    }
}

// ---- the full policy ----

/// 4 KiB spool, 1 KiB segments.
fn tiny() -> SpoolLimits {
    SpoolLimits {
        max_bytes: 4096,
        segment_bytes: 1024,
        max_record_bytes: 1024,
    }
}

fn sized(n: u8) -> Vec<u8> {
    vec![n; 160] // 200 bytes on disk
}

#[test]
fn full_spool_drops_superseded_readings_oldest_first_and_reclaims_space() {
    let io = MemIo::new();
    let (mut spool, _) = Spool::open_with(Box::new(io.clone()), tiny()).unwrap();
    // Device 1, 20 readings of the same day: 4000 bytes.
    for i in 0..20u8 {
        let out = spool
            .append(&[(meta(1, T0 + i64::from(i) * 900), &sized(i))])
            .unwrap();
        assert!(out.dropped.is_empty());
    }
    let out = spool
        .append(&[(meta(1, T0 + 20 * 900), &sized(20))])
        .unwrap();
    assert_eq!(out.ids, vec![RecordId(21)]);
    assert_eq!(
        out.dropped,
        vec![RecordId(1)],
        "the oldest superseded reading"
    );
    assert_eq!(out.refused, 0);
    let stats = spool.stats();
    assert!(stats.bytes <= 4096, "{stats:?}");
    let on_disk: u64 = io
        .names()
        .iter()
        .filter(|n| n.ends_with(".seg"))
        .map(|n| io.file(n).unwrap().len() as u64)
        .sum();
    assert_eq!(on_disk, stats.bytes, "dropped space is reclaimed on disk");
    assert_eq!(stats.dropped_total, 1);
    assert_eq!(ids(&mut spool)[0], 2);
}

#[test]
fn full_spool_refuses_rather_than_drop_a_days_last_reading() {
    let io = MemIo::new();
    let (mut spool, _) = Spool::open_with(Box::new(io.clone()), tiny()).unwrap();
    // 20 devices, one reading each: every one is its day's last.
    for d in 0..20u8 {
        spool
            .append(&[(meta(u64::from(d), T0), &sized(d))])
            .unwrap();
    }
    let out = spool.append(&[(meta(99, T0), &sized(99))]).unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            ids: vec![],
            dropped: vec![],
            refused: 1
        }
    );
    assert_eq!(spool.stats().refused_total, 1);
    assert_eq!(ids(&mut spool).len(), 20);
    // A reading of yesterday for device 0 does not supersede today's.
    let out = spool.append(&[(meta(0, T0 - 10), &sized(1))]).unwrap();
    assert_eq!(out.refused, 1);
    // A later reading of device 0 today supersedes its earlier one.
    let out = spool.append(&[(meta(0, T0 + 600), &sized(2))]).unwrap();
    assert_eq!(out.dropped, vec![RecordId(1)]);
    assert_eq!(out.refused, 0);
}

#[test]
fn a_reading_collected_earlier_does_not_supersede_a_later_one() {
    let io = MemIo::new();
    let (mut spool, _) = Spool::open_with(Box::new(io.clone()), tiny()).unwrap();
    for d in 0..19u8 {
        spool
            .append(&[(meta(u64::from(d), T0 + 3600), &sized(d))])
            .unwrap();
    }
    spool.append(&[(meta(50, T0), &sized(50))]).unwrap();
    // Device 0 again, same day, but collected before its reading in the spool: keeps id 1.
    let out = spool.append(&[(meta(0, T0 + 60), &sized(0))]).unwrap();
    assert_eq!(out.refused, 1);
}

// ---- the model-based property test ----

#[derive(Clone, Debug)]
enum Op {
    /// (device, minutes after T0, payload length)
    Append(Vec<(u8, u16, u16)>),
    Peek(u8),
    /// Acknowledge through the k-th visible record (mod their count).
    Ack(u8),
    Reopen,
    /// The process dies after `ops` I/O operations of the next append (or ack), then a crash.
    Crash {
        ops: u8,
        ack: bool,
        tear: u8,
    },
    FailSync,
    FailWrite(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let batch = prop::collection::vec((0u8..4, 0u16..3 * 24 * 60, 0u16..300), 1..6);
    prop_oneof![
        6 => batch.prop_map(Op::Append),
        2 => any::<u8>().prop_map(Op::Peek),
        3 => any::<u8>().prop_map(Op::Ack),
        1 => Just(Op::Reopen),
        2 => (0u8..12, any::<bool>(), any::<u8>()).prop_map(|(ops, ack, tear)| Op::Crash { ops, ack, tear }),
        1 => Just(Op::FailSync),
        1 => (0u16..400).prop_map(Op::FailWrite),
    ]
}

/// What the spool must hold. `sure` records must survive anything; `maybe` ones (a failed ack
/// covered them) may vanish at a reopen; `ghosts` (failed or dropped) may come back at a reopen.
#[derive(Default)]
struct Model {
    records: BTreeMap<u64, (RecordMeta, Vec<u8>, bool)>, // (meta, payload, sure)
    ghosts: Vec<(RecordMeta, Vec<u8>)>,
    max_seen: u64,
    serial: u64,
}

impl Model {
    fn visible(&self) -> Vec<(u64, RecordMeta, Vec<u8>)> {
        self.records
            .iter()
            .map(|(id, (m, p, _))| (*id, *m, p.clone()))
            .collect()
    }

    /// After a reopen: every sure record is there, everything else was allowed to be.
    fn reconcile(&mut self, spool: &mut Spool) -> Result<(), TestCaseError> {
        let got = spool.peek(usize::MAX, usize::MAX).unwrap();
        let mut next = BTreeMap::new();
        for r in &got {
            match self.records.get(&r.id.0) {
                Some((m, p, sure)) => {
                    prop_assert_eq!((m, p), (&r.meta, &r.payload));
                    next.insert(r.id.0, (*m, p.clone(), *sure));
                }
                None => {
                    let ghost = self
                        .ghosts
                        .iter()
                        .any(|(m, p)| *m == r.meta && *p == r.payload);
                    prop_assert!(ghost, "record {} came from nowhere", r.id.0);
                    next.insert(r.id.0, (r.meta, r.payload.clone(), false));
                }
            }
            self.max_seen = self.max_seen.max(r.id.0);
        }
        for (id, (_, _, sure)) in &self.records {
            prop_assert!(!sure || next.contains_key(id), "durable record {} lost", id);
        }
        self.records = next;
        Ok(())
    }
}

fn small_limits() -> SpoolLimits {
    SpoolLimits {
        max_bytes: 8192,
        segment_bytes: 1024,
        max_record_bytes: 512,
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let limits = small_limits();
    let mut io = MemIo::new();
    let mut spool = Spool::open_with(Box::new(io.clone()), limits).unwrap().0;
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append(batch) => {
                let batch: Vec<(RecordMeta, Vec<u8>)> = batch
                    .into_iter()
                    .map(|(d, minutes, len)| {
                        model.serial += 1;
                        let mut p = model.serial.to_le_bytes().to_vec();
                        p.resize(usize::from(len).max(8), d);
                        (meta(u64::from(d), T0 + i64::from(minutes) * 60), p)
                    })
                    .collect();
                append(&mut spool, &mut model, &batch, limits, io.faults_pending())?;
            }
            Op::Peek(n) => {
                let n = usize::from(n % 8) + 1;
                let got = spool.peek(n, usize::MAX).unwrap();
                let want: Vec<_> = model.visible().into_iter().take(n).collect();
                let got: Vec<_> = got
                    .into_iter()
                    .map(|r| (r.id.0, r.meta, r.payload))
                    .collect();
                prop_assert_eq!(got, want);
            }
            Op::Ack(k) => {
                let faulty = io.faults_pending();
                let failed = ack(&mut spool, &mut model, k)?;
                prop_assert!(faulty || !failed, "ack failed without an injected fault");
            }
            Op::Reopen => {
                drop(spool);
                io.clear_faults();
                spool = Spool::open_with(Box::new(io.clone()), limits).unwrap().0;
                model.reconcile(&mut spool)?;
            }
            Op::Crash {
                ops,
                ack: do_ack,
                tear,
            } => {
                io.die_after(usize::from(ops));
                if do_ack {
                    let _ = ack(&mut spool, &mut model, tear);
                } else {
                    let p = {
                        model.serial += 1;
                        model.serial.to_le_bytes().to_vec()
                    };
                    let batch = vec![(meta(u64::from(tear % 4), T0 + i64::from(tear) * 600), p)];
                    append(&mut spool, &mut model, &batch, limits, true)?;
                }
                drop(spool);
                let tear = match tear % 3 {
                    0 => Tear::None,
                    1 => Tear::Prefix(tear),
                    _ => Tear::Zeros,
                };
                io = io.crash(tear);
                spool = Spool::open_with(Box::new(io.clone()), limits).unwrap().0;
                model.reconcile(&mut spool)?;
            }
            Op::FailSync => {
                io.fail_next_sync();
            }
            Op::FailWrite(n) => {
                io.fail_next_write(usize::from(n));
            }
        }
    }
    // Whatever happened, a clean reopen agrees with the model.
    drop(spool);
    io.clear_faults();
    let mut spool = Spool::open_with(Box::new(io.clone()), limits).unwrap().0;
    model.reconcile(&mut spool)
}

fn append(
    spool: &mut Spool,
    model: &mut Model,
    batch: &[(RecordMeta, Vec<u8>)],
    limits: SpoolLimits,
    faulty: bool,
) -> Result<(), TestCaseError> {
    let refs: Vec<(RecordMeta, &[u8])> = batch.iter().map(|(m, p)| (*m, p.as_slice())).collect();
    let before = spool.stats().bytes;
    match spool.append(&refs) {
        Ok(out) if out.refused > 0 => {
            prop_assert_eq!(out.refused, batch.len());
            prop_assert!(out.ids.is_empty() && out.dropped.is_empty());
            let batch_bytes: u64 = batch.iter().map(|(_, p)| record_len(p.len())).sum();
            prop_assert!(
                before + batch_bytes > limits.max_bytes,
                "refused with room to spare"
            );
        }
        Ok(out) => {
            prop_assert_eq!(out.ids.len(), batch.len());
            for (id, (m, p)) in out.ids.iter().zip(batch) {
                prop_assert!(
                    id.0 > model.max_seen,
                    "id {} reused (seen {})",
                    id.0,
                    model.max_seen
                );
                model.max_seen = id.0;
                model.records.insert(id.0, (*m, p.clone(), true));
            }
            for id in &out.dropped {
                let (m, _, _) = model.records.get(&id.0).cloned().ok_or_else(|| {
                    TestCaseError::fail(format!("dropped {} which is not there", id.0))
                })?;
                // Only a reading that a later one of the same device and day supersedes.
                let superseded = model.records.range(id.0 + 1..).any(|(_, (n, _, _))| {
                    n.device == m.device
                        && n.collected_at.div_euclid(DAY) == m.collected_at.div_euclid(DAY)
                        && n.collected_at >= m.collected_at
                });
                prop_assert!(superseded, "dropped {} which was the last of its day", id.0);
                let (m, p, _) = model
                    .records
                    .remove(&id.0)
                    .unwrap_or_else(|| unreachable!());
                model.ghosts.push((m, p));
            }
            if !faulty {
                prop_assert!(
                    spool.stats().bytes <= limits.max_bytes,
                    "{:?}",
                    spool.stats()
                );
            }
        }
        Err(_) => {
            prop_assert!(faulty, "append failed without an injected fault");
            model.ghosts.extend(batch.iter().cloned());
        }
    }
    Ok(())
}

/// True when the ack failed.
fn ack(spool: &mut Spool, model: &mut Model, k: u8) -> Result<bool, TestCaseError> {
    let visible: Vec<u64> = model.records.keys().copied().collect();
    if visible.is_empty() {
        return Ok(false);
    }
    let through = visible[usize::from(k) % visible.len()];
    match spool.ack(RecordId(through)) {
        Ok(()) => {
            model.records.retain(|id, _| *id > through);
            Ok(false)
        }
        Err(_) => {
            for (_, (_, _, sure)) in model.records.range_mut(..=through) {
                *sure = false;
            }
            Ok(true)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn spool_agrees_with_a_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
