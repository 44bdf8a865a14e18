//! Compacted objects (docs/storage.md, "Cold compaction"): all of a tab's
//! batches in one object, recompressed at a high zstd level with a long
//! window, as a sequence of independent zstd frames. A frame starts at a
//! batch boundary, and past the first, at a batch that holds a full
//! snapshot once the frame before holds [`FRAME_RAW_BYTES`] (or at any
//! batch once it holds [`FRAME_MAX_RAW_BYTES`]), so that a reader can
//! start at any frame and a player can render from there. The frames'
//! range index ([`FrameRecord`]) is kept in the index. Decompressed, the
//! object is the tab's NDJSON, each batch once, byte for byte as the
//! segments held it. Building one is pure CPU: no I/O here.

use reel_protocol::EventHeader;

use crate::segment::TabReader;
use crate::traits::{FrameRecord, SegmentRecord};

/// The last part of a compacted object's key.
pub const COMPACTED_SUFFIX: &str = ".c.ndjson.zst";
/// zstd level of compacted objects: slow to write (on idle cores only),
/// as fast to read as any level.
pub const ZSTD_LEVEL: i32 = 19;
/// zstd window of compacted objects (log2 bytes): 128 MiB, so a frame's
/// later snapshots find the earlier ones. Readers need a window this large
/// (the reference decoder takes up to 2^27 without being told).
pub const WINDOW_LOG: u32 = 27;
/// A frame is cut at the next full snapshot once it holds this many raw bytes.
pub const FRAME_RAW_BYTES: usize = 4 * 1024 * 1024;
/// ...and at the next batch, snapshot or not, once it holds this many.
pub const FRAME_MAX_RAW_BYTES: usize = 32 * 1024 * 1024;

/// rrweb event types a player can start at.
const META: u32 = 4;
const FULL_SNAPSHOT: u32 = 2;

/// Is `key` a compacted object's?
pub fn is_compacted(key: &str) -> bool {
    key.ends_with(COMPACTED_SUFFIX)
}

/// The compacted object's key: in the tab's directory (that of its
/// segments' keys), `{first_seq:020}-{last_seq:020}-{writer}.c.ndjson.zst`.
pub fn compacted_key(segment_key: &str, first_seq: u64, last_seq: u64, writer: &str) -> String {
    let dir = segment_key.rsplit_once('/').map_or("", |(d, _)| d);
    let writer = crate::segment::key_writer(writer);
    let name = format!("{first_seq:020}-{last_seq:020}-{writer}{COMPACTED_SUFFIX}");
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

/// Why a tab is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCompactable {
    /// A segment without usable batch ends (stored before reel recorded
    /// them): its batches cannot be told apart.
    #[error("segment {0} has no batch ends")]
    NoBatchEnds(String),
    #[error("the tab has no segment")]
    Empty,
}

/// A tab's batches joined, each once, in seq order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub raw: Vec<u8>,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Entry `i` ends batch `first_seq + i` in `raw` (a seq no segment
    /// held is an empty batch).
    pub batch_ends: Vec<u64>,
}

/// Joins a tab's segments (with their decompressed bytes), read as the
/// replay API reads them: in seq order, longest first among those that
/// start at one seq, each batch once.
pub fn join(mut segments: Vec<(SegmentRecord, Vec<u8>)>) -> Result<Joined, NotCompactable> {
    segments.sort_by_key(|(s, _)| (s.first_seq, std::cmp::Reverse(s.last_seq)));
    let first_seq = segments.first().ok_or(NotCompactable::Empty)?.0.first_seq;
    let mut reader = TabReader::default();
    let mut raw = Vec::new();
    let mut ends: Vec<u64> = Vec::new();
    for (seg, data) in segments {
        let batches = seg.last_seq - seg.first_seq + 1;
        let usable = seg.batch_ends.len() as u64 == batches
            && seg.batch_ends.windows(2).all(|w| w[0] <= w[1])
            && seg
                .batch_ends
                .last()
                .is_some_and(|&e| e as usize <= data.len());
        if !usable {
            return Err(NotCompactable::NoBatchEnds(seg.blob_key));
        }
        let Some(from) = reader.unread_from(&seg) else {
            continue;
        };
        // Seqs no segment held, between the last read and this one.
        let next = first_seq + ends.len() as u64;
        for _ in next..seg.first_seq {
            ends.push(raw.len() as u64);
        }
        let base = raw.len() as u64;
        let skip = first_seq + ends.len() as u64 - seg.first_seq;
        for &end in &seg.batch_ends[skip as usize..] {
            ends.push(base + end - from);
        }
        raw.extend_from_slice(&data[from as usize..]);
    }
    Ok(Joined {
        raw,
        first_seq,
        last_seq: first_seq + ends.len() as u64 - 1,
        batch_ends: ends,
    })
}

/// A compacted object and its range index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    pub object: Vec<u8>,
    pub frames: Vec<FrameRecord>,
}

/// The header of each line of `bytes` (lines that do not parse are skipped).
fn headers(bytes: &[u8]) -> impl Iterator<Item = (usize, EventHeader)> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || loop {
        if pos >= bytes.len() {
            return None;
        }
        let start = pos;
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i);
        pos = end + 1;
        if let Some(h) = std::str::from_utf8(&bytes[start..end])
            .ok()
            .and_then(|l| EventHeader::parse(l).ok())
        {
            return Some((start, h));
        }
    })
}

/// Compresses a joined tab into frames (see the module's docs).
pub fn compress(j: &Joined, level: i32, window_log: u32) -> std::io::Result<Compacted> {
    let mut object = Vec::new();
    let mut frames = Vec::new();
    let mut batch = 0usize;
    while batch < j.batch_ends.len() {
        let start = if batch == 0 {
            0
        } else {
            j.batch_ends[batch - 1] as usize
        };
        let first_seq = j.first_seq + batch as u64;
        // The frame's batches: at least one, then until the cut.
        let mut end_batch = batch + 1;
        while end_batch < j.batch_ends.len() {
            let held = j.batch_ends[end_batch - 1] as usize - start;
            let next =
                &j.raw[j.batch_ends[end_batch - 1] as usize..j.batch_ends[end_batch] as usize];
            if held >= FRAME_MAX_RAW_BYTES || (held >= FRAME_RAW_BYTES && starts_page(next)) {
                break;
            }
            end_batch += 1;
        }
        let end = j.batch_ends[end_batch - 1] as usize;
        let first_batch = &j.raw[start..j.batch_ends[batch] as usize];
        let first_ts = headers(&j.raw[start..end])
            .next()
            .map_or(0, |(_, h)| h.timestamp);
        let compressed = compress_frame(&j.raw[start..end], level, window_log)?;
        frames.push(FrameRecord {
            frame: frames.len() as u32,
            first_seq,
            first_ts,
            offset: object.len() as u64,
            length: compressed.len() as u64,
            raw_offset: start as u64,
            snapshot: batch == 0 || starts_page(first_batch),
        });
        object.extend_from_slice(&compressed);
        batch = end_batch;
    }
    Ok(Compacted { object, frames })
}

/// Does the batch hold a Meta or full snapshot (a player can start there)?
fn starts_page(batch: &[u8]) -> bool {
    headers(batch).any(|(_, h)| h.kind == META || h.kind == FULL_SNAPSHOT)
}

fn compress_frame(raw: &[u8], level: i32, window_log: u32) -> std::io::Result<Vec<u8>> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), level)?;
    enc.include_checksum(true)?;
    enc.set_pledged_src_size(Some(raw.len() as u64))?;
    enc.long_distance_matching(true)?;
    enc.window_log(window_log)?;
    std::io::Write::write_all(&mut enc, raw)?;
    enc.finish()
}

/// Decompresses bytes holding one or more whole zstd frames (of a segment
/// or a compacted object), reading across frames, with the window
/// compacted objects need.
pub fn decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut dec = zstd::stream::read::Decoder::new(data)?;
    dec.window_log_max(WINDOW_LOG)?;
    let mut out = Vec::with_capacity(data.len() * 8);
    std::io::Read::read_to_end(&mut dec, &mut out)?;
    Ok(out)
}

/// Where a seek to `at` (ms since the Unix epoch) starts reading a
/// compacted object: the last frame a player can start at (it begins with
/// a full snapshot, or is the first) whose first event is at or before `at`.
pub fn seek_frame(frames: &[FrameRecord], at: i64) -> usize {
    frames
        .iter()
        .rposition(|f| f.snapshot && f.first_ts <= at)
        .unwrap_or(0)
}

/// Where a seek to `at` starts in decompressed NDJSON that begins at a
/// batch: the last Meta event at or before `at` (a page load, followed by
/// its full snapshot), else its start. Only lines that name their type
/// first (`{"type":4,`, as rrweb's events do) are parsed: the snapshots
/// between them are hundreds of KB each.
pub fn seek_in(data: &[u8], at: i64) -> usize {
    const HEAD: &[u8] = b"{\"type\":4,";
    let mut start = 0;
    let mut pos = 0;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        if line.starts_with(HEAD) {
            if let Some(h) = std::str::from_utf8(line)
                .ok()
                .and_then(|l| EventHeader::parse(l).ok())
            {
                if h.timestamp > at {
                    break;
                }
                start = pos;
            }
        }
        pos = end + 1;
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(first: u64, last: u64, key: &str, ends: Vec<u64>) -> SegmentRecord {
        SegmentRecord {
            session_id: "s".into(),
            tab_id: "t".into(),
            first_seq: first,
            last_seq: last,
            first_ts: 0,
            last_ts: 0,
            event_count: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            blob_key: key.into(),
            received_at: 0,
            batch_ends: ends,
        }
    }

    fn line(kind: u32, ts: i64, pad: usize) -> String {
        format!(
            "{{\"type\":{kind},\"timestamp\":{ts},\"data\":{{\"x\":\"{}\"}}}}\n",
            "a".repeat(pad)
        )
    }

    #[test]
    fn joins_overlapping_segments_each_batch_once() {
        let (a, b, c) = (line(3, 1, 1), line(3, 2, 1), line(3, 3, 1));
        let s1 = format!("{a}{b}");
        let s2 = format!("{b}{c}");
        let n = a.len() as u64;
        let j = join(vec![
            (seg(1, 2, "x/1", vec![n, 2 * n]), s1.into_bytes()),
            (seg(2, 3, "x/2", vec![n, 2 * n]), s2.into_bytes()),
        ])
        .unwrap();
        assert_eq!(j.raw, format!("{a}{b}{c}").into_bytes());
        assert_eq!((j.first_seq, j.last_seq), (1, 3));
        assert_eq!(j.batch_ends, vec![n, 2 * n, 3 * n]);
        // A hole in the seqs is an empty batch.
        let j = join(vec![
            (seg(1, 1, "x/1", vec![n]), a.clone().into_bytes()),
            (seg(3, 3, "x/3", vec![n]), c.clone().into_bytes()),
        ])
        .unwrap();
        assert_eq!(j.batch_ends, vec![n, n, 2 * n]);
        assert!(matches!(
            join(vec![(seg(1, 1, "x/1", vec![]), a.into_bytes())]),
            Err(NotCompactable::NoBatchEnds(_))
        ));
    }

    #[test]
    fn frames_start_at_snapshots_decompress_alone_and_seek() {
        // A page load (Meta + snapshot) every 100 batches of 100 KiB.
        let mut raw = String::new();
        let mut ends = Vec::new();
        for i in 0..400i64 {
            if i % 100 == 0 {
                raw.push_str(&line(META, i * 1000, 10));
                raw.push_str(&line(FULL_SNAPSHOT, i * 1000, 100_000));
            } else {
                raw.push_str(&line(3, i * 1000, 100_000));
            }
            ends.push(raw.len() as u64);
        }
        let j = Joined {
            raw: raw.clone().into_bytes(),
            first_seq: 0,
            last_seq: 399,
            batch_ends: ends,
        };
        let c = compress(&j, 3, WINDOW_LOG).unwrap();
        assert_eq!(decompress(&c.object).unwrap(), raw.as_bytes());
        assert!(c.frames.len() >= 2, "{:?}", c.frames);
        for f in &c.frames {
            assert!(f.snapshot);
            assert_eq!(f.first_ts, f.first_seq as i64 * 1000);
            let bytes = &c.object[f.offset as usize..(f.offset + f.length) as usize];
            let alone = decompress(bytes).unwrap();
            assert!(raw.as_bytes()[f.raw_offset as usize..].starts_with(&alone));
        }
        // A seek to 250 s starts at the page load of 200 s.
        let f = &c.frames[seek_frame(&c.frames, 250_000)];
        let rest = decompress(&c.object[f.offset as usize..]).unwrap();
        let at = seek_in(&rest, 250_000);
        assert!(rest[at..].starts_with(line(META, 200_000, 10).as_bytes()));
    }

    #[test]
    fn the_key_is_in_the_tab_directory() {
        assert_eq!(
            compacted_key(
                "1/2024-01-01/s/t/00000000000000000003-x.ndjson.zst",
                3,
                9,
                "n/1"
            ),
            "1/2024-01-01/s/t/00000000000000000003-00000000000000000009-n_1.c.ndjson.zst"
        );
        assert!(is_compacted(&compacted_key("a/b", 0, 0, "n")));
    }
}
