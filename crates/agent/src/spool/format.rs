//! On-disk formats: records in segment files, the two ack-ledger slots. Little-endian throughout.

use std::io;

use super::io::SpoolIo;
use super::{RecordId, RecordMeta};

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// A record: `magic` (4) · `crc` (4) · `len` (4) · `id` (8) · `device` (8) · `collected_at` (8) ·
/// payload (`len`). The CRC-32C covers everything after itself, so a torn or flipped byte anywhere
/// in the header or payload is caught.
pub const RECORD_MAGIC: [u8; 4] = *b"PWr1";
pub const HEADER_LEN: usize = 40;

pub fn record_len(payload_len: usize) -> u64 {
    (HEADER_LEN + payload_len) as u64
}

pub fn encode_record(out: &mut Vec<u8>, id: RecordId, meta: RecordMeta, payload: &[u8]) {
    let start = out.len();
    out.extend_from_slice(&RECORD_MAGIC);
    out.extend_from_slice(&[0; 4]); // crc, filled below
    // Payloads are limited far below 4 GiB before they get here.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&id.0.to_le_bytes());
    out.extend_from_slice(&meta.device.to_le_bytes());
    out.extend_from_slice(&meta.collected_at.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // reserved, keeps the header 8-byte aligned
    out.extend_from_slice(payload);
    let crc = CRC32C.checksum(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A header that passed its plausibility checks; the CRC is checked with the payload.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub crc: u32,
    pub len: u32,
    pub id: RecordId,
    pub meta: RecordMeta,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

pub fn parse_header(bytes: &[u8; HEADER_LEN]) -> Option<Header> {
    if bytes[..4] != RECORD_MAGIC {
        return None;
    }
    Some(Header {
        crc: u32_at(bytes, 4),
        len: u32_at(bytes, 8),
        id: RecordId(u64_at(bytes, 12)),
        meta: RecordMeta {
            device: u64_at(bytes, 20),
            collected_at: u64_at(bytes, 28) as i64,
        },
    })
}

pub fn checksum_ok(header_bytes: &[u8; HEADER_LEN], payload: &[u8], crc: u32) -> bool {
    let mut digest = CRC32C.digest();
    digest.update(&header_bytes[8..]);
    digest.update(payload);
    digest.finalize() == crc
}

/// A valid record found by [`scan_segment`].
#[derive(Clone, Copy, Debug)]
pub struct Found {
    pub id: RecordId,
    pub meta: RecordMeta,
    pub offset: u64,
    pub len: u32,
}

/// What a segment holds: its valid records, the invalid regions between them, and where the
/// valid data ends (bytes after `valid_end` hold no valid record: a torn or zero-filled tail).
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<Found>,
    /// (offset, length) of invalid bytes followed by a valid record.
    pub corrupt: Vec<(u64, u64)>,
    pub valid_end: u64,
}

/// Reads and checks every record of a segment. Never fails on content, only on I/O.
///
/// On a bad record it searches forward for the next magic whose record checks out (resync), so a
/// flipped bit costs one record, not the rest of the segment. A false resync needs a magic and a
/// matching CRC-32C at once.
pub fn scan_segment(io: &mut dyn SpoolIo, name: &str, max_payload: u32) -> io::Result<Scan> {
    let file_len = io.len(name)?;
    let mut scan = Scan::default();
    let mut pos = 0u64;
    let mut payload = Vec::new();
    while pos < file_len {
        if let Some(found) = try_record(io, name, pos, file_len, max_payload, &mut payload)? {
            scan.records.push(found);
            pos += record_len(found.len as usize);
            scan.valid_end = pos;
            continue;
        }
        // Resync: the next offset holding a valid record, if any.
        match resync(io, name, pos + 1, file_len, max_payload, &mut payload)? {
            Some(next) => {
                scan.corrupt.push((pos, next - pos));
                pos = next;
            }
            None => break,
        }
    }
    Ok(scan)
}

fn try_record(
    io: &mut dyn SpoolIo,
    name: &str,
    pos: u64,
    file_len: u64,
    max_payload: u32,
    payload: &mut Vec<u8>,
) -> io::Result<Option<Found>> {
    if file_len - pos < HEADER_LEN as u64 {
        return Ok(None);
    }
    let mut header_bytes = [0; HEADER_LEN];
    io.read_at(name, pos, &mut header_bytes)?;
    let Some(header) = parse_header(&header_bytes) else {
        return Ok(None);
    };
    // A garbage length must not make us allocate or read past the end.
    if header.len > max_payload || file_len - pos - (HEADER_LEN as u64) < u64::from(header.len) {
        return Ok(None);
    }
    payload.resize(header.len as usize, 0);
    io.read_at(name, pos + HEADER_LEN as u64, payload)?;
    if !checksum_ok(&header_bytes, payload, header.crc) {
        return Ok(None);
    }
    Ok(Some(Found {
        id: header.id,
        meta: header.meta,
        offset: pos,
        len: header.len,
    }))
}

fn resync(
    io: &mut dyn SpoolIo,
    name: &str,
    from: u64,
    file_len: u64,
    max_payload: u32,
    payload: &mut Vec<u8>,
) -> io::Result<Option<u64>> {
    const CHUNK: u64 = 64 * 1024;
    let mut chunk = Vec::new();
    let mut start = from;
    while start + (HEADER_LEN as u64) <= file_len {
        let len = CHUNK.min(file_len - start) as usize;
        chunk.resize(len, 0);
        io.read_at(name, start, &mut chunk)?;
        for at in 0..len.saturating_sub(3) {
            if chunk[at..at + 4] == RECORD_MAGIC {
                let pos = start + at as u64;
                if try_record(io, name, pos, file_len, max_payload, payload)?.is_some() {
                    return Ok(Some(pos));
                }
            }
        }
        // Overlap by 3 so a magic across the chunk boundary is seen.
        start += (len as u64).saturating_sub(3).max(1);
    }
    Ok(None)
}

/// An ack-ledger slot: `magic` (4) · `crc` (4) · `generation` (8) · `acked_through` (8).
/// Two slots are written alternately in place, so a torn write leaves the other one intact.
pub const LEDGER_MAGIC: [u8; 4] = *b"PWa1";
pub const LEDGER_LEN: usize = 24;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ledger {
    pub generation: u64,
    pub acked_through: u64,
}

pub fn encode_ledger(ledger: Ledger) -> [u8; LEDGER_LEN] {
    let mut out = [0; LEDGER_LEN];
    out[..4].copy_from_slice(&LEDGER_MAGIC);
    out[8..16].copy_from_slice(&ledger.generation.to_le_bytes());
    out[16..24].copy_from_slice(&ledger.acked_through.to_le_bytes());
    let crc = CRC32C.checksum(&out[8..]);
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

pub fn parse_ledger(bytes: &[u8]) -> Option<Ledger> {
    if bytes.len() != LEDGER_LEN || bytes[..4] != LEDGER_MAGIC {
        return None;
    }
    if CRC32C.checksum(&bytes[8..]) != u32_at(bytes, 4) {
        return None;
    }
    Some(Ledger {
        generation: u64_at(bytes, 8),
        acked_through: u64_at(bytes, 16),
    })
}
