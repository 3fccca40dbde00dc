//! The agent's durable on-disk spool: device snapshots wait here until the server acknowledged them.
//!
//! Modelled on vector's `disk_v2` buffer (data files + a ledger), made smaller: one writer, one
//! reader, both in this process, and reads are cheap enough to do synchronously.
//!
//! # Files (all in one directory)
//! - `NNNNNNNNNNNNNNNNNNNN.seg`: **segments**, append-only, named by the first record id they were
//!   created for (20 digits, so names sort like ids). A record is a 40-byte header (magic `PWr1`,
//!   CRC-32C, payload length, id, device, collected_at, reserved) and the payload; the CRC covers
//!   everything after itself. The newest segment is *active* (appended to) until it reaches
//!   `segment_bytes`; a batch never spans two segments.
//! - `ack-0`, `ack-1`: the **ack ledger**, two 24-byte slots (magic, CRC-32C, generation,
//!   acked-through id) written alternately in place. The valid slot with the higher generation
//!   wins, so a torn write of one slot leaves the previous value in the other.
//! - `NAME.seg.compact`: a compaction in progress; deleted when found at open.
//!
//! # Invariants
//! 1. Ids increase through the segments in name order; an id given out by a successful `append`
//!    is never given out again (the next id is above every id on disk, every segment name, and the
//!    ledger's acked-through).
//! 2. A record is deleted from disk only when it is `<=` the durable acked-through (whole segments
//!    are deleted) or when the full policy dropped it (compaction).
//! 3. When `append` or `ack` returns `Ok`, its effect is durable: data fsynced, and the directory
//!    fsynced after a file was created, renamed or removed.
//! 4. The in-memory index (id, meta, place; about 48 bytes a record, never a payload) holds
//!    exactly the valid, unacked, undropped records on disk. After a failed write or fsync the
//!    index does not hold the batch; the bytes may still be on disk, and may reappear after a
//!    restart (never claimed durable, at most delivered once more).
//! 5. `bytes` (the segments' lengths) stays `<= max_bytes` after every `append` that returned,
//!    except while a compaction fails (then the next append retries).
//!
//! # Writes and fsyncs
//! - `append`: one `write` of the whole batch to the active segment, one `fsync` of it, plus an
//!   fsync of the directory when the segment was just created. Nothing is claimed before that.
//! - `ack`: write the other ledger slot, `fsync` it (and the directory the first time the slot
//!   is created); then forget the acked records and delete segments that hold nothing live, then
//!   one directory fsync (a failure here is only lost space: open deletes such segments again).
//! - compaction: write the kept records to `NAME.seg.compact`, `fsync`, `rename` over `NAME.seg`,
//!   `fsync` the directory.
//! - `open`: truncations are fsynced; the ledger value it trusts is written afresh to the other
//!   slot and fsynced *before* any segment is deleted on its word (what it read may be the page
//!   cache's copy of a write whose fsync failed); deletions end with one directory fsync.
//!
//! # Failures (after PostgreSQL's "fsyncgate")
//! A failed fsync may have dropped the dirty pages while a second fsync would report success, so
//! an fsync is never retried for the same data: the batch is abandoned (its ids are burned), the
//! file cut back to where it was, the segment sealed, and the next batch goes to a new segment,
//! written and fsynced afresh (the cut is fsynced too: a new write, not a retry, so the abandoned
//! batch does not come back after a crash). A failed ledger write is retried into the *same* slot, so the other
//! slot keeps the last durable value.
//!
//! # Crash at any instant (what `open` finds)
//! - **mid-append / before its fsync**: a prefix of the batch, possibly torn or zero-filled. Whole
//!   records that check out are kept (they were collected; delivering them is harmless); the
//!   invalid tail is truncated and reported.
//! - **after the fsync, before the directory fsync of a new segment**: the segment may be gone;
//!   the append never returned `Ok`, so nothing promised is lost.
//! - **mid-ack**: the ledger slot being written is torn (the other slot wins: the ack did not
//!   happen and those records are delivered again) or whole (the ack happened).
//! - **mid-segment-delete**: segments holding only acked records are still there; open deletes them.
//! - **mid-compaction**: before the rename the old segment is intact and the `.compact` file is
//!   deleted; after it the new one is complete (it was fsynced first). Either way no kept record
//!   is lost; dropped ones may come back and are dropped again when space is needed.
//!
//! # Corruption is never fatal
//! A record whose header or CRC does not check out is skipped: the scan searches forward for the
//! next magic whose record checks out. Invalid bytes followed by a valid record are reported as
//! corrupt; invalid bytes up to the end of a segment (torn or zero-filled tail) are truncated. A
//! record whose id does not increase is skipped. An unreadable ledger means "nothing acked"
//! (records are delivered again rather than lost). A missing segment loses only its records.
//! Records that go bad after open are skipped by `peek` and counted.
//!
//! # When the spool is full (`max_bytes`)
//! A reading is *superseded* when a later record (higher id) of the same device on the same UTC
//! day was collected at the same time or later. Superseded readings are dropped, oldest first,
//! until the new batch fits; the last reading of a device's UTC day is never dropped, since
//! billing needs it. Space is reclaimed for real by compacting segments (oldest first, taking
//! acked and corrupt bytes with them). If even that cannot make room, the whole batch is refused
//! (reported in [`AppendOutcome::refused`], counted in [`SpoolStats::refused_total`]). The batch
//! is written before the drops it justifies, so a failed append never costs an older reading;
//! the spool may therefore exceed `max_bytes` by one batch for the duration of an `append`.

mod format;
pub mod io;
pub mod mem;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::ErrorKind;
use std::path::Path;

use format::{HEADER_LEN, Ledger, record_len};
pub use io::{FsIo, SpoolIo};

/// Increasing id of a record, never reused, also across restarts and after everything was acked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId(pub u64);

/// Plain metadata kept beside the payload, used by the full-spool policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMeta {
    /// A stable 64-bit key of the device (the daemon hashes the device identity).
    pub device: u64,
    /// When the reading was collected, Unix seconds UTC.
    pub collected_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub id: RecordId,
    pub meta: RecordMeta,
    pub payload: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpoolLimits {
    /// The bound on the segments' bytes on disk (`spool.max-size`).
    pub max_bytes: u64,
    /// A segment takes no more batches once this long.
    pub segment_bytes: u64,
    /// The largest payload accepted; also bounds what a corrupt length can make us read.
    pub max_record_bytes: u32,
}

impl Default for SpoolLimits {
    fn default() -> SpoolLimits {
        SpoolLimits {
            max_bytes: 256 << 20,
            segment_bytes: 8 << 20,
            max_record_bytes: 1 << 20,
        }
    }
}

impl SpoolLimits {
    /// The defaults with another `max_bytes`, segments scaled down for small spools.
    pub fn with_max_bytes(max_bytes: u64) -> SpoolLimits {
        let default = SpoolLimits::default();
        SpoolLimits {
            max_bytes,
            segment_bytes: default.segment_bytes.min((max_bytes / 16).max(4096)),
            ..default
        }
    }

    fn validate(&self) -> Result<(), SpoolError> {
        let reason = if self.max_bytes < 4096 {
            "spool.max-size must be at least 4KiB"
        } else if self.segment_bytes == 0 || self.segment_bytes > self.max_bytes {
            "the segment size must be between 1 byte and spool.max-size"
        } else if self.max_record_bytes == 0 {
            "the record size limit must not be zero"
        } else {
            return Ok(());
        };
        Err(SpoolError::InvalidLimits { reason })
    }
}

/// What `append` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The ids given to the records, in order; empty when the batch was refused.
    pub ids: Vec<RecordId>,
    /// Older, superseded readings dropped to make room.
    pub dropped: Vec<RecordId>,
    /// Records of this batch refused because the spool is full of readings it must keep.
    pub refused: usize,
}

/// What `open` found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Invalid tails cut off (a crash mid-append, a zero-filled tail).
    pub truncated: Vec<Truncation>,
    /// Invalid records skipped (bad checksum, garbage length or magic, id out of order).
    pub corrupt: Vec<Corruption>,
    /// Ledger slots that did not check out.
    pub ledger_corrupt: Vec<String>,
    /// No ledger slot checked out although one existed: everything is delivered again.
    pub ledger_lost: bool,
    /// Leftovers of an interrupted compaction, deleted.
    pub leftovers_removed: Vec<String>,
    /// Files that are not the spool's, left alone.
    pub unknown_files: Vec<String>,
}

impl OpenReport {
    /// Nothing was wrong.
    pub fn is_clean(&self) -> bool {
        self.truncated.is_empty()
            && self.corrupt.is_empty()
            && self.ledger_corrupt.is_empty()
            && !self.ledger_lost
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truncation {
    pub segment: String,
    pub offset: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    pub segment: String,
    pub offset: u64,
    pub bytes: u64,
    pub kind: CorruptKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CorruptKind {
    /// Bytes that hold no valid record.
    Invalid,
    /// A valid record whose id is not above the one before it (a duplicate or misplaced copy).
    OutOfOrder(RecordId),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Records waiting for an acknowledgement.
    pub records: u64,
    /// Bytes of the segment files on disk.
    pub bytes: u64,
    /// The acked-through id (`last_acked_seq` of `agent status`), 0 when none.
    pub acked_through: RecordId,
    /// Since open: readings dropped by the full policy.
    pub dropped_total: u64,
    /// Since open: records refused because the spool was full.
    pub refused_total: u64,
    /// Since open: corrupt records skipped (at open and later).
    pub corrupt_total: u64,
}

/// The spool's one error type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    #[error(
        "spool: could not {op} {file}: {source}; check that the agent's state directory is \
         writable and the disk is not full or failing"
    )]
    Io {
        op: &'static str,
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "spool: fsync of {file} failed: {source}; the last write is not durable and is not \
         retried (the kernel may have dropped it); check the disk's health"
    )]
    Sync {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "spool: record {index} of the batch has {len} bytes, more than the limit of {max}; \
         this is a bug in the agent, please report it"
    )]
    RecordTooLarge { index: usize, len: usize, max: u32 },
    #[error(
        "spool: acknowledgement through record {through} but the newest record is {newest}; \
         the uplink acknowledged records it never read, please report it"
    )]
    AckBeyondEnd { through: u64, newest: u64 },
    #[error("spool: invalid limits: {reason}; fix [spool] max-size in the configuration")]
    InvalidLimits { reason: &'static str },
}

fn io_error(op: &'static str, file: &str) -> impl FnOnce(std::io::Error) -> SpoolError {
    let file = file.to_owned();
    move |source| SpoolError::Io { op, file, source }
}

fn sync_error(file: &str) -> impl FnOnce(std::io::Error) -> SpoolError {
    let file = file.to_owned();
    move |source| SpoolError::Sync { file, source }
}

const LEDGER_SLOTS: [&str; 2] = ["ack-0", "ack-1"];
const SEGMENT_SUFFIX: &str = ".seg";
const COMPACT_SUFFIX: &str = ".seg.compact";
const DIRECTORY: &str = "the spool directory";

fn segment_name(first: u64) -> String {
    format!("{first:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn utc_day(collected_at: i64) -> i64 {
    collected_at.div_euclid(86_400)
}

/// A record in the index: where it is and what the full policy needs. No payload.
#[derive(Clone, Copy, Debug)]
struct Entry {
    id: u64,
    meta: RecordMeta,
    segment: u64,
    offset: u64,
    len: u32,
}

impl Entry {
    fn disk_len(&self) -> u64 {
        record_len(self.len as usize)
    }
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    /// The file's length as far as we know.
    len: u64,
    /// Bytes of the records in the index (the rest is acked, dropped or invalid).
    live: u64,
}

pub struct Spool {
    io: Box<dyn SpoolIo>,
    limits: SpoolLimits,
    /// Unacked records in id order.
    index: VecDeque<Entry>,
    segments: BTreeMap<u64, Segment>,
    /// The segment that takes the next batch; `None` means "start a new one".
    active: Option<u64>,
    next_id: u64,
    acked_through: u64,
    ledger_generation: u64,
    /// The slot the next ack writes (kept after a failed write, see the module docs).
    ledger_slot: usize,
    ledger_exists: [bool; 2],
    bytes: u64,
    dropped_total: u64,
    refused_total: u64,
    corrupt_total: u64,
}

impl Spool {
    /// Opens (creating) the spool in `dir`; recovers from a crash; corrupt records are skipped
    /// and reported, never fatal.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<(Spool, OpenReport), SpoolError> {
        let io = FsIo::new(dir).map_err(io_error("create", &dir.display().to_string()))?;
        Spool::open_with(Box::new(io), limits)
    }

    /// Opens the spool on any [`SpoolIo`] (tests use [`mem::MemIo`]).
    pub fn open_with(
        mut io: Box<dyn SpoolIo>,
        limits: SpoolLimits,
    ) -> Result<(Spool, OpenReport), SpoolError> {
        limits.validate()?;
        let mut report = OpenReport::default();
        let mut names = io.list().map_err(io_error("list", DIRECTORY))?;
        names.sort();

        let mut firsts = Vec::new();
        let mut ledger_exists = [false; 2];
        let mut dir_changed = false;
        for name in names {
            if let Some(first) = parse_segment_name(&name) {
                firsts.push(first);
            } else if let Some(slot) = LEDGER_SLOTS.iter().position(|s| *s == name) {
                ledger_exists[slot] = true;
            } else if name.ends_with(COMPACT_SUFFIX) {
                io.remove(&name).map_err(io_error("remove", &name))?;
                report.leftovers_removed.push(name);
                dir_changed = true;
            } else {
                report.unknown_files.push(name);
            }
        }

        // The ledger: the valid slot with the higher generation.
        let mut best: Option<(usize, Ledger)> = None;
        for (slot, name) in LEDGER_SLOTS.iter().enumerate() {
            if !ledger_exists[slot] {
                continue;
            }
            let len = io.len(name).map_err(io_error("read", name))?;
            let mut bytes = [0; format::LEDGER_LEN];
            let parsed = if len == bytes.len() as u64 {
                io.read_at(name, 0, &mut bytes)
                    .map_err(io_error("read", name))?;
                format::parse_ledger(&bytes)
            } else {
                None
            };
            match parsed {
                Some(ledger) if best.is_none_or(|(_, b)| ledger.generation > b.generation) => {
                    best = Some((slot, ledger));
                }
                Some(_) => {}
                None => report.ledger_corrupt.push((*name).to_owned()),
            }
        }
        report.ledger_lost = best.is_none() && ledger_exists.iter().any(|e| *e);
        let acked_through = best.map_or(0, |(_, l)| l.acked_through);

        let mut spool = Spool {
            io,
            limits,
            index: VecDeque::new(),
            segments: BTreeMap::new(),
            active: None,
            next_id: 1,
            acked_through,
            ledger_generation: best.map_or(0, |(_, l)| l.generation),
            ledger_slot: best.map_or(0, |(slot, _)| 1 - slot),
            ledger_exists,
            bytes: 0,
            dropped_total: 0,
            refused_total: 0,
            corrupt_total: 0,
        };

        // The segments, oldest first.
        let mut last_id = 0u64; // the highest valid id seen, acked or not
        let mut high_water = acked_through;
        for first in firsts {
            high_water = high_water.max(first.saturating_sub(1));
            let name = segment_name(first);
            let scan = format::scan_segment(&mut *spool.io, &name, limits.max_record_bytes)
                .map_err(io_error("read", &name))?;
            for &(offset, bytes) in &scan.corrupt {
                report.corrupt.push(Corruption {
                    segment: name.clone(),
                    offset,
                    bytes,
                    kind: CorruptKind::Invalid,
                });
            }
            let mut segment = Segment {
                len: scan.valid_end,
                live: 0,
            };
            for found in scan.records {
                if found.id.0 <= last_id {
                    report.corrupt.push(Corruption {
                        segment: name.clone(),
                        offset: found.offset,
                        bytes: record_len(found.len as usize),
                        kind: CorruptKind::OutOfOrder(found.id),
                    });
                    continue;
                }
                last_id = found.id.0;
                if found.id.0 <= acked_through {
                    continue;
                }
                let entry = Entry {
                    id: found.id.0,
                    meta: found.meta,
                    segment: first,
                    offset: found.offset,
                    len: found.len,
                };
                segment.live += entry.disk_len();
                spool.index.push_back(entry);
            }
            let file_len = spool.io.len(&name).map_err(io_error("read", &name))?;
            if scan.valid_end < file_len {
                spool
                    .io
                    .truncate(&name, scan.valid_end)
                    .map_err(io_error("truncate", &name))?;
                spool.io.sync(&name).map_err(sync_error(&name))?;
                report.truncated.push(Truncation {
                    segment: name.clone(),
                    offset: scan.valid_end,
                    bytes: file_len - scan.valid_end,
                });
            }
            spool.segments.insert(first, segment);
            spool.bytes += segment.len;
        }
        spool.next_id = high_water.max(last_id) + 1;
        spool.corrupt_total = report.corrupt.len() as u64;

        // The ledger just read may be the page cache's copy of a write whose fsync failed. Write
        // it afresh to the other slot before deleting anything on its word.
        if acked_through > 0 {
            spool.write_ledger(acked_through)?;
        }
        // Segments with nothing live (all acked, or only invalid bytes) go now.
        dir_changed |= spool.remove_empty_segments()?;
        if dir_changed {
            spool.io.sync_dir().map_err(sync_error(DIRECTORY))?;
        }
        spool.active = spool.segments.keys().next_back().copied();
        Ok((spool, report))
    }

    /// Appends records of one collection cycle; durable (fsynced) when it returns `Ok`. One fsync
    /// per call (plus one of the directory when a segment was started).
    pub fn append(&mut self, records: &[(RecordMeta, &[u8])]) -> Result<AppendOutcome, SpoolError> {
        for (index, (_, payload)) in records.iter().enumerate() {
            if payload.len() > self.limits.max_record_bytes as usize {
                let max = self.limits.max_record_bytes;
                return Err(SpoolError::RecordTooLarge {
                    index,
                    len: payload.len(),
                    max,
                });
            }
        }
        if records.is_empty() {
            return Ok(AppendOutcome::default());
        }
        let batch_bytes: u64 = records.iter().map(|(_, p)| record_len(p.len())).sum();
        let need = (self.bytes + batch_bytes).saturating_sub(self.limits.max_bytes);
        if need > 0 && (batch_bytes > self.limits.max_bytes || self.reclaimable(records) < need) {
            self.refused_total += records.len() as u64;
            return Ok(AppendOutcome {
                refused: records.len(),
                ..AppendOutcome::default()
            });
        }

        let segment = match self.active {
            Some(s)
                if self
                    .segments
                    .get(&s)
                    .is_some_and(|g| g.len < self.limits.segment_bytes) =>
            {
                s
            }
            _ => self.next_id,
        };
        let name = segment_name(segment);
        let created = !self.segments.contains_key(&segment);
        let old_len = self.segments.get(&segment).map_or(0, |s| s.len);

        let first = self.next_id;
        let mut buf = Vec::with_capacity(usize::try_from(batch_bytes).unwrap_or(0));
        let mut entries = Vec::with_capacity(records.len());
        for (k, (meta, payload)) in records.iter().enumerate() {
            let id = first + k as u64;
            let offset = old_len + buf.len() as u64;
            format::encode_record(&mut buf, RecordId(id), *meta, payload);
            entries.push(Entry {
                id,
                meta: *meta,
                segment,
                offset,
                len: payload.len() as u32,
            });
        }
        // Burned even if the write fails: a copy of the batch may survive on disk.
        self.next_id += records.len() as u64;

        let written = self
            .io
            .append(&name, &buf)
            .map_err(io_error("write", &name))
            .and_then(|()| self.io.sync(&name).map_err(sync_error(&name)))
            .and_then(|()| match created {
                true => self.io.sync_dir().map_err(sync_error(DIRECTORY)),
                false => Ok(()),
            });
        if let Err(error) = written {
            self.abandon_append(segment, old_len, buf.len() as u64);
            return Err(error);
        }

        let entry = self
            .segments
            .entry(segment)
            .or_insert(Segment { len: 0, live: 0 });
        entry.len += buf.len() as u64;
        entry.live += buf.len() as u64;
        self.bytes += buf.len() as u64;
        self.index.extend(entries);
        self.active = Some(segment);

        let dropped = match self.bytes > self.limits.max_bytes {
            true => self.make_room(),
            false => Vec::new(),
        };
        let ids = (first..self.next_id).map(RecordId).collect();
        Ok(AppendOutcome {
            ids,
            dropped,
            refused: 0,
        })
    }

    /// After a failed write or fsync: cut the file back, seal it, and know its length.
    fn abandon_append(&mut self, segment: u64, old_len: u64, written: u64) {
        let name = segment_name(segment);
        // Syncing the cut is a new write, not a retry of the failed one: it keeps the abandoned
        // batch from coming back after a crash.
        let len = match self
            .io
            .truncate(&name, old_len)
            .and_then(|()| self.io.sync(&name))
        {
            Ok(()) => old_len,
            Err(_) => self.io.len(&name).unwrap_or(old_len + written),
        };
        let entry = self
            .segments
            .entry(segment)
            .or_insert(Segment { len: 0, live: 0 });
        self.bytes = self.bytes - entry.len + len;
        entry.len = len;
        self.active = None;
        tracing::warn!(segment = %name, "spool: append failed; segment sealed, next batch starts a new one");
    }

    /// The oldest records, in id order, at most `max_records` and about `max_bytes` of payload
    /// (at least one record if any). Records found corrupt are skipped, counted and forgotten.
    pub fn peek(
        &mut self,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<Record>, SpoolError> {
        let mut out: Vec<Record> = Vec::new();
        let mut payload_bytes = 0usize;
        let mut i = 0;
        while i < self.index.len() && out.len() < max_records {
            let entry = self.index[i];
            if !out.is_empty() && payload_bytes + entry.len as usize > max_bytes {
                break;
            }
            match self.read_record(&entry)? {
                Some(payload) => {
                    payload_bytes += payload.len();
                    out.push(Record {
                        id: RecordId(entry.id),
                        meta: entry.meta,
                        payload,
                    });
                    i += 1;
                }
                None => {
                    self.forget_corrupt(i);
                }
            }
        }
        Ok(out)
    }

    /// Reads one record and checks it again; `None` when it went bad since it was indexed.
    fn read_record(&mut self, entry: &Entry) -> Result<Option<Vec<u8>>, SpoolError> {
        let name = segment_name(entry.segment);
        let mut bytes = vec![0; entry.disk_len() as usize];
        match self.io.read_at(&name, entry.offset, &mut bytes) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::UnexpectedEof) => {
                return Ok(None);
            }
            Err(e) => return Err(io_error("read", &name)(e)),
        }
        let mut header_bytes = [0; HEADER_LEN];
        header_bytes.copy_from_slice(&bytes[..HEADER_LEN]);
        let payload = bytes.split_off(HEADER_LEN);
        let ok = format::parse_header(&header_bytes).is_some_and(|h| {
            h.id.0 == entry.id
                && h.len == entry.len
                && format::checksum_ok(&header_bytes, &payload, h.crc)
        });
        Ok(ok.then_some(payload))
    }

    fn forget_corrupt(&mut self, i: usize) {
        if let Some(entry) = self.index.remove(i) {
            if let Some(segment) = self.segments.get_mut(&entry.segment) {
                segment.live -= entry.disk_len();
            }
            self.corrupt_total += 1;
            tracing::warn!(id = entry.id, segment = %segment_name(entry.segment), offset = entry.offset,
                "spool: record went bad on disk; skipped");
        }
    }

    /// Deletes every record with id `<= through` (the server acknowledged them). Durable when it
    /// returns `Ok`.
    pub fn ack(&mut self, through: RecordId) -> Result<(), SpoolError> {
        if through.0 <= self.acked_through {
            return Ok(());
        }
        if through.0 >= self.next_id {
            return Err(SpoolError::AckBeyondEnd {
                through: through.0,
                newest: self.next_id - 1,
            });
        }
        self.write_ledger(through.0)?;
        self.acked_through = through.0;
        while let Some(entry) = self.index.front().copied() {
            if entry.id > through.0 {
                break;
            }
            self.index.pop_front();
            if let Some(segment) = self.segments.get_mut(&entry.segment) {
                segment.live -= entry.disk_len();
            }
        }
        // The ack is durable; failing to delete files only costs space until the next try.
        match self.remove_empty_segments() {
            Ok(true) => {
                if let Err(e) = self.io.sync_dir() {
                    tracing::warn!(error = %e, "spool: directory fsync after deleting segments failed");
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "spool: deleting acknowledged segments failed"),
        }
        Ok(())
    }

    fn write_ledger(&mut self, acked_through: u64) -> Result<(), SpoolError> {
        let slot = self.ledger_slot;
        let name = LEDGER_SLOTS[slot];
        let generation = self.ledger_generation + 1;
        let bytes = format::encode_ledger(Ledger {
            generation,
            acked_through,
        });
        self.io
            .write_at(name, 0, &bytes)
            .map_err(io_error("write", name))?;
        self.io
            .truncate(name, bytes.len() as u64)
            .map_err(io_error("truncate", name))?;
        self.io.sync(name).map_err(sync_error(name))?;
        if !self.ledger_exists[slot] {
            self.io.sync_dir().map_err(sync_error(DIRECTORY))?;
            self.ledger_exists[slot] = true;
        }
        // Only a durable slot makes the other one writable.
        self.ledger_generation = generation;
        self.ledger_slot = 1 - slot;
        Ok(())
    }

    /// Deletes the segments with nothing live; true when one was deleted (the caller fsyncs the
    /// directory once for all).
    fn remove_empty_segments(&mut self) -> Result<bool, SpoolError> {
        let empty: Vec<u64> = self
            .segments
            .iter()
            .filter(|(_, s)| s.live == 0)
            .map(|(first, _)| *first)
            .collect();
        for first in &empty {
            let name = segment_name(*first);
            match self.io.remove(&name) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &name)(e)),
            }
            if let Some(segment) = self.segments.remove(first) {
                self.bytes -= segment.len;
            }
            if self.active == Some(*first) {
                self.active = None;
            }
        }
        Ok(!empty.is_empty())
    }

    /// Ids of the superseded readings, oldest first, among the index and (if given) a batch that
    /// would follow it. A reading is superseded by a higher id of the same device and UTC day
    /// collected at the same time or later.
    fn superseded(&self, batch: &[(RecordMeta, &[u8])]) -> Vec<(u64, u64)> {
        let mut latest: HashMap<(u64, i64), i64> = HashMap::new();
        let mut keep_latest = |meta: &RecordMeta| -> bool {
            let key = (meta.device, utc_day(meta.collected_at));
            let later = latest.get(&key).copied();
            if later.is_none_or(|t| t < meta.collected_at) {
                latest.insert(key, meta.collected_at);
            }
            later.is_some_and(|t| t >= meta.collected_at)
        };
        let mut out = Vec::new();
        for (meta, payload) in batch.iter().rev() {
            if keep_latest(meta) {
                out.push((u64::MAX, record_len(payload.len())));
            }
        }
        for entry in self.index.iter().rev() {
            if keep_latest(&entry.meta) {
                out.push((entry.id, entry.disk_len()));
            }
        }
        out.reverse();
        out
    }

    /// The bytes compaction could free if `batch` were appended.
    fn reclaimable(&self, batch: &[(RecordMeta, &[u8])]) -> u64 {
        let dead: u64 = self.segments.values().map(|s| s.len - s.live).sum();
        dead + self
            .superseded(batch)
            .iter()
            .map(|(_, len)| len)
            .sum::<u64>()
    }

    /// Compacts segments, oldest first, dropping superseded readings oldest first, until the
    /// spool is within `max_bytes`. Failures are logged: the records are durable either way.
    fn make_room(&mut self) -> Vec<RecordId> {
        let superseded: Vec<u64> = self.superseded(&[]).into_iter().map(|(id, _)| id).collect();
        let mut dropped = Vec::new();
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for first in firsts {
            let need = self.bytes.saturating_sub(self.limits.max_bytes);
            if need == 0 {
                break;
            }
            let Some(segment) = self.segments.get(&first).copied() else {
                continue;
            };
            let (start, end) = self.segment_range(first);
            let mut gain = segment.len - segment.live;
            let mut drop = Vec::new();
            for entry in self.index.range(start..end) {
                if gain >= need {
                    break;
                }
                if superseded.binary_search(&entry.id).is_ok() {
                    drop.push(entry.id);
                    gain += entry.disk_len();
                }
            }
            if gain == 0 {
                continue;
            }
            match self.compact(first, &drop) {
                Ok(()) => dropped.extend(drop.into_iter().map(RecordId)),
                Err(e) => {
                    tracing::warn!(error = %e, "spool: compaction failed; the spool stays over its limit until the next append");
                    break;
                }
            }
        }
        self.dropped_total += dropped.len() as u64;
        dropped
    }

    /// The index positions of a segment's records (contiguous: ids and segments grow together).
    fn segment_range(&self, first: u64) -> (usize, usize) {
        let start = self.index.partition_point(|e| e.segment < first);
        let end = self.index.partition_point(|e| e.segment <= first);
        (start, end)
    }

    /// Rewrites a segment without `drop` (sorted ids) and without its dead bytes; see the module
    /// docs for the crash argument.
    fn compact(&mut self, first: u64, drop: &[u64]) -> Result<(), SpoolError> {
        let name = segment_name(first);
        let tmp = format!("{name}.compact");
        let (start, end) = self.segment_range(first);
        let mut kept: Vec<Entry> = Vec::new();
        let mut gone: Vec<u64> = drop.to_vec();
        let mut lost = 0u64;

        if (start..end).all(|i| drop.binary_search(&self.index[i].id).is_ok()) {
            // Nothing to keep: delete instead of rewriting.
            self.io.remove(&name).map_err(io_error("remove", &name))?;
        } else {
            match self.io.remove(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("remove", &tmp)(e)),
            }
            let mut buf = Vec::new();
            let mut new_len = 0u64;
            for i in start..end {
                let entry = self.index[i];
                if drop.binary_search(&entry.id).is_ok() {
                    continue;
                }
                let Some(payload) = self.read_record(&entry)? else {
                    // Went bad since open: leave it behind, like open would.
                    gone.push(entry.id);
                    lost += 1;
                    continue;
                };
                let offset = new_len;
                format::encode_record(&mut buf, RecordId(entry.id), entry.meta, &payload);
                new_len += entry.disk_len();
                kept.push(Entry { offset, ..entry });
                if buf.len() >= 1 << 20 {
                    self.write_tmp(&tmp, &mut buf)?;
                }
            }
            self.write_tmp(&tmp, &mut buf)?;
            self.io.sync(&tmp).map_err(sync_error(&tmp))?;
            self.io
                .rename(&tmp, &name)
                .map_err(io_error("rename", &tmp))?;
        }

        // The rename (or removal) happened: the memory follows the namespace.
        gone.sort_unstable();
        let new_len: u64 = kept.iter().map(Entry::disk_len).sum();
        let mut kept = kept.into_iter();
        let mut rebuilt = VecDeque::with_capacity(self.index.len());
        for (i, entry) in self.index.drain(..).enumerate() {
            if i < start || i >= end {
                rebuilt.push_back(entry);
            } else if gone.binary_search(&entry.id).is_err() {
                rebuilt.extend(kept.next());
            }
        }
        self.index = rebuilt;
        let old = self.segments.remove(&first).map_or(0, |s| s.len);
        self.bytes = self.bytes - old + new_len;
        if new_len > 0 {
            self.segments.insert(
                first,
                Segment {
                    len: new_len,
                    live: new_len,
                },
            );
        }
        // Never append to a rewritten file: its handle and length are new.
        if self.active == Some(first) {
            self.active = None;
        }
        self.corrupt_total += lost;
        // The rename is done; if it is not durable a crash brings back the old file, whose
        // dropped readings are merely dropped again later.
        if let Err(e) = self.io.sync_dir() {
            tracing::warn!(error = %e, "spool: directory fsync after compaction failed");
        }
        Ok(())
    }

    fn write_tmp(&mut self, tmp: &str, buf: &mut Vec<u8>) -> Result<(), SpoolError> {
        if let Err(e) = self.io.append(tmp, buf) {
            let _ = self.io.remove(tmp);
            return Err(io_error("write", tmp)(e));
        }
        buf.clear();
        Ok(())
    }

    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            records: self.index.len() as u64,
            bytes: self.bytes,
            acked_through: RecordId(self.acked_through),
            dropped_total: self.dropped_total,
            refused_total: self.refused_total,
            corrupt_total: self.corrupt_total,
        }
    }
}
