//! Segments: a tab's batches, each compressed into its own zstd frame as it
//! arrives ([`frame`], on the connection's task), kept as the concatenated
//! frames, and committed to the blob store as they are (the object is the
//! frames one after the other, one zstd stream per RFC 8878 §3.1), then the
//! index, then trimmed from the spool.

use std::cell::RefCell;
use std::sync::Arc;
// The runtime's clock (the actor tests pause it): a buffer's age follows it.
use tokio::time::Instant;

use crate::memory::Charge;
use crate::metric_names;
use crate::outbox::{Applied, Outbox};
use crate::retry::retry;
use crate::stats::{BatchStats, InputSpan, SegmentDelta};
use crate::traits::{OutboxOp, SegmentRecord, Spool, SpoolBatch, SpoolTicket, StoreError};

/// zstd level of each batch's frame. A frame holds one batch (a few KB of
/// incremental events, or a full snapshot), compressed without the rest of
/// the segment as context; level 3 is fast and higher levels buy little on
/// frames this small (docs/PERFORMANCE.md, "Compress as you go").
pub const FRAME_LEVEL: i32 = 3;

/// The blob key of a segment. Layout, readable from any language:
/// `{site_id}/{yyyy-mm-dd of session start, UTC}/{session}/{tab}/{first_seq:020}-{last_seq:020}-{writer}.ndjson.zst`.
/// Keys of one tab sort in seq order. `writer` (the node's id, reduced to
/// `[A-Za-z0-9._-]`) makes the key unique per writer: two nodes storing
/// overlapping segments of a tab after a failover never overwrite each
/// other's object. (Segments stored before this carry
/// `{first_seq:020}.ndjson.zst`; readers find keys through the index row.)
pub fn blob_key(
    site_id: i64,
    session_started_at: i64,
    session: &str,
    tab: &str,
    (first_seq, last_seq): (u64, u64),
    writer: &str,
) -> String {
    format!(
        "{site_id}/{}/{session}/{tab}/{}",
        utc_date(session_started_at),
        blob_name(first_seq, last_seq, writer)
    )
}

/// The last part of a segment's key.
fn blob_name(first_seq: u64, last_seq: u64, writer: &str) -> String {
    format!(
        "{first_seq:020}-{last_seq:020}-{}.ndjson.zst",
        key_writer(writer)
    )
}

/// A node's id as it stands in blob keys: reduced to `[A-Za-z0-9._-]`.
pub fn key_writer(writer: &str) -> String {
    writer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `yyyy-mm-dd` of a millisecond timestamp (proleptic Gregorian, UTC).
pub fn utc_date(ms: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Compresses one batch's NDJSON into one zstd frame (level
/// [`FRAME_LEVEL`], content size in the header, no checksum), sized
/// exactly. Called where the batch is built, off the session actor's
/// thread; a thread's compression context is reused across batches.
pub fn frame(ndjson: &[u8]) -> Vec<u8> {
    thread_local! {
        static CTX: RefCell<Option<(zstd::bulk::Compressor<'static>, Vec<u8>)>> =
            const { RefCell::new(None) };
    }
    CTX.with(|ctx| {
        let mut ctx = ctx.borrow_mut();
        let (compressor, scratch) = match &mut *ctx {
            Some(c) => c,
            None => {
                // unwrap: a context at a valid level is only refused when
                // out of memory.
                let c = zstd::bulk::Compressor::new(FRAME_LEVEL).unwrap();
                ctx.insert((c, Vec::new()))
            }
        };
        scratch.clear();
        scratch.reserve(zstd::zstd_safe::compress_bound(ndjson.len()));
        // unwrap: the scratch holds the bound, so the frame fits.
        compressor.compress_to_buffer(ndjson, scratch).unwrap();
        let out = scratch.to_vec();
        // A thread that once compressed a 16 MiB batch does not keep its
        // scratch that large.
        if scratch.capacity() > 1 << 20 {
            *scratch = Vec::new();
        }
        out
    })
}

/// One buffered batch: where its lines end in the segment once
/// decompressed and where its frame ends in the buffer, its spool ticket
/// and its counters (kept so that a rewind can recount).
#[derive(Debug, Clone)]
pub struct Buffered {
    pub seq: u64,
    /// Where the batch's lines end in the decompressed segment (raw
    /// NDJSON bytes): the segment's `batch_ends`.
    pub end: usize,
    /// Where the batch's frame ends in [`TabBuffer::frames`].
    pub frame_end: usize,
    pub ticket: Option<SpoolTicket>,
    pub stats: BatchStats,
    pub received_at: i64,
}

/// One tab's batches not yet in a committed segment: their zstd frames,
/// one after the other.
#[derive(Debug, Default)]
pub struct TabBuffer {
    /// The batches' frames, concatenated: the segment object as it will be
    /// stored.
    pub frames: Vec<u8>,
    /// Raw NDJSON bytes the frames hold.
    pub raw_len: usize,
    pub first_seq: Option<u64>,
    pub last_seq: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub delta: SegmentDelta,
    /// When the oldest buffered batch arrived.
    pub oldest: Option<Instant>,
    pub received_at: i64,
    /// The buffered batches, in seq order.
    pub batches: Vec<Buffered>,
    /// The tab's last user input span, carried across segments.
    pub last_input: Option<InputSpan>,
    /// `last_input` before the first buffered batch, to recount from.
    input_before: Option<InputSpan>,
}

impl TabBuffer {
    pub fn is_empty(&self) -> bool {
        self.first_seq.is_none()
    }

    /// Does the buffer hold batch `seq`?
    pub fn holds(&self, seq: u64) -> bool {
        self.first_seq
            .is_some_and(|first| first <= seq && seq <= self.last_seq)
    }

    /// Bytes the buffer holds in memory (its frames' allocation): what it
    /// is charged against the node's bound.
    pub fn held_bytes(&self) -> u64 {
        self.frames.capacity() as u64
    }

    /// Adds a batch that was appended to the spool under `ticket`, with
    /// `frame`, its NDJSON compressed by [`frame`].
    pub fn push(
        &mut self,
        batch: &SpoolBatch,
        frame: &[u8],
        ticket: Option<SpoolTicket>,
        now: Instant,
    ) {
        if self.first_seq.is_none() {
            self.first_seq = Some(batch.seq);
            self.oldest = Some(now);
            self.received_at = batch.received_at;
            self.first_ts = batch.stats.first_ts;
            self.last_ts = batch.stats.last_ts;
            self.input_before = self.last_input;
        }
        grow(&mut self.frames, frame.len());
        self.frames.extend_from_slice(frame);
        self.raw_len += batch.ndjson.len();
        self.count(&batch.stats, batch.seq, batch.received_at);
        self.batches.push(Buffered {
            seq: batch.seq,
            end: self.raw_len,
            frame_end: self.frames.len(),
            ticket,
            stats: batch.stats.clone(),
            received_at: batch.received_at,
        });
    }

    /// Adds one batch's counters.
    fn count(&mut self, s: &BatchStats, seq: u64, received_at: i64) {
        self.last_seq = seq;
        if s.events > 0 {
            self.first_ts = self.first_ts.min(s.first_ts);
            self.last_ts = self.last_ts.max(s.last_ts);
        }
        self.delta.add(s, self.last_input);
        self.delta.last_activity_at = self.delta.last_activity_at.max(received_at);
        if let Some(input) = s.input {
            self.last_input = Some(match self.last_input {
                Some(prev) => prev.then(input),
                None => input,
            });
        }
    }

    /// Forgets batch `seq` and every later one (their spool appends failed:
    /// they were never acked, and the tracker sends them again). Returns
    /// what was dropped, so that its tickets are released. The frames are
    /// cut where the last kept batch's frame ends.
    pub fn rewind(&mut self, seq: u64) -> Vec<Buffered> {
        let Some(pos) = self.batches.iter().position(|b| b.seq >= seq) else {
            return Vec::new();
        };
        let dropped = self.batches.split_off(pos);
        let kept = std::mem::take(&mut self.batches);
        let mut frames = std::mem::take(&mut self.frames);
        frames.truncate(kept.last().map_or(0, |b| b.frame_end));
        let carry = self.input_before;
        let (oldest, received_at) = (self.oldest, self.received_at);
        *self = TabBuffer {
            last_input: carry,
            input_before: carry,
            ..TabBuffer::default()
        };
        if let Some(first) = kept.first() {
            self.first_seq = Some(first.seq);
            self.oldest = oldest;
            self.received_at = received_at;
            self.first_ts = first.stats.first_ts;
            self.last_ts = first.stats.last_ts;
            for b in &kept {
                self.count(&b.stats, b.seq, b.received_at);
            }
            self.raw_len = kept.last().map_or(0, |b| b.end);
            self.frames = frames;
            self.batches = kept;
        }
        metrics::counter!(metric_names::BATCHES_REWOUND_TOTAL).increment(dropped.len() as u64);
        dropped
    }

    /// Takes the buffer as a segment to commit, leaving it empty (the input
    /// carry stays). The frames move into the segment, not copied.
    /// `writer` is the committing node's id, part of the blob key.
    pub fn take(
        &mut self,
        site_id: i64,
        started_at: i64,
        session: &str,
        tab: &str,
        writer: &str,
    ) -> Option<PendingSegment> {
        let first_seq = self.first_seq.take()?;
        let delta = std::mem::take(&mut self.delta);
        let frames = std::mem::take(&mut self.frames);
        let raw_len = std::mem::take(&mut self.raw_len);
        let batches = std::mem::take(&mut self.batches);
        let record = SegmentRecord {
            session_id: session.to_owned(),
            tab_id: tab.to_owned(),
            first_seq,
            last_seq: self.last_seq,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
            event_count: delta.events,
            raw_bytes: raw_len as u64,
            stored_bytes: frames.len() as u64,
            blob_key: blob_key(
                site_id,
                started_at,
                session,
                tab,
                (first_seq, self.last_seq),
                writer,
            ),
            received_at: self.received_at,
            batch_ends: batches.iter().map(|b| b.end as u64).collect(),
        };
        self.oldest = None;
        Some(PendingSegment {
            record,
            delta,
            blob: frames,
            tickets: batches.iter().filter_map(|b| b.ticket).collect(),
            batches: batches
                .iter()
                .map(|b| SegmentBatch {
                    seq: b.seq,
                    end: b.end,
                    frame_end: b.frame_end,
                    events: b.stats.events,
                })
                .collect(),
            memory: Charge::default(),
        })
    }
}

/// A buffer grows by a quarter of its size (at least
/// [`BUFFER_GROWTH_MIN`]), by at most this at a time: its capacity (what it
/// holds against the node's memory bound) is never more than a quarter or
/// this above its length.
pub const BUFFER_GROWTH_STEP: usize = 512 * 1024;
/// The smallest growth of a buffer: a few batches' frames.
pub const BUFFER_GROWTH_MIN: usize = 16 * 1024;

/// Makes room for `more` bytes in `buf`, by at most a quarter of its size,
/// [`BUFFER_GROWTH_MIN`] or [`BUFFER_GROWTH_STEP`] more than needed.
fn grow(buf: &mut Vec<u8>, more: usize) {
    let needed = buf.len() + more;
    if needed <= buf.capacity() {
        return;
    }
    let cap = buf.capacity();
    let step = (cap / 4).clamp(BUFFER_GROWTH_MIN, BUFFER_GROWTH_STEP);
    buf.reserve_exact(needed.max(cap + step) - buf.len());
}

/// One batch of a segment being committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentBatch {
    pub seq: u64,
    /// Where its lines end in the decompressed segment.
    pub end: usize,
    /// Where its frame ends in the blob.
    pub frame_end: usize,
    /// Its events (lines).
    pub events: u64,
}

/// A segment on its way to storage.
#[derive(Debug)]
pub struct PendingSegment {
    pub record: SegmentRecord,
    pub delta: SegmentDelta,
    /// The object to store: the batches' zstd frames, concatenated.
    pub blob: Vec<u8>,
    pub tickets: Vec<SpoolTicket>,
    /// Its batches, in seq order.
    pub batches: Vec<SegmentBatch>,
    /// `blob`'s bytes against the node's bound, until written.
    pub memory: Charge,
}

impl PendingSegment {
    /// Drops the leading batches that a stored segment of the tab already
    /// holds (another node stored them after a failover in which acks were
    /// lost), cutting the blob at a frame boundary. Returns false when
    /// nothing is left.
    pub fn trim_stored(&mut self, stored: &[(u64, u64)]) -> bool {
        let held = |seq: u64| stored.iter().any(|&(a, b)| (a..=b).contains(&seq));
        let keep = self.batches.iter().position(|b| !held(b.seq));
        let Some(keep) = keep else {
            return false;
        };
        if keep == 0 {
            return true;
        }
        let cut = self.batches[keep - 1];
        let first = self.batches[keep].seq;
        self.blob.drain(..cut.frame_end);
        self.batches.drain(..keep);
        for b in &mut self.batches {
            b.end -= cut.end;
            b.frame_end -= cut.frame_end;
        }
        self.record.blob_key = rekey(&self.record.blob_key, self.record.first_seq, first);
        self.record.batch_ends = self.batches.iter().map(|b| b.end as u64).collect();
        self.record.first_seq = first;
        self.record.raw_bytes = self.batches.last().map_or(0, |b| b.end as u64);
        self.record.stored_bytes = self.blob.len() as u64;
        self.record.event_count = self.batches.iter().map(|b| b.events).sum();
        self.delta.events = self.record.event_count;
        self.delta.raw_bytes = self.record.raw_bytes;
        metrics::counter!(metric_names::SEGMENT_BATCHES_TRIMMED_TOTAL).increment(keep as u64);
        true
    }
}

/// `key` with its first seq `old` replaced by `new` (a segment trimmed
/// from the front). Keys of both layouts are rewritten; any other key is
/// kept (it stays unique: the trimmed segment is still this writer's).
fn rekey(key: &str, old: u64, new: u64) -> String {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    let old_first = format!("{old:020}");
    let rest = match name.strip_prefix(&old_first) {
        Some(rest) if rest.starts_with('-') || rest == ".ndjson.zst" => rest,
        _ => return key.to_owned(),
    };
    let name = format!("{new:020}{rest}");
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

/// Reads one tab's segments, in `first_seq` order, so that no batch is
/// read twice, also when segments overlap (two nodes stored the same
/// batches after a failover, see [`commit`]). The replay API streams
/// through it.
#[derive(Debug, Default, Clone, Copy)]
pub struct TabReader {
    /// The highest seq read so far. Segments come in `first_seq` order and
    /// each holds consecutive seqs, so every seq from the current segment's
    /// first up to this one has been read.
    read_through: Option<u64>,
}

impl TabReader {
    /// Where the part of `seg` not read yet starts in its decompressed
    /// bytes, and marks the segment read; `None` when all of it was read
    /// already (skip it without loading it). A segment without usable
    /// batch ends (stored before reel recorded them) that is only partly
    /// read is read whole: its overlap comes twice.
    pub fn unread_from(&mut self, seg: &SegmentRecord) -> Option<u64> {
        let read = self.read_through;
        self.read_through = Some(read.map_or(seg.last_seq, |r| r.max(seg.last_seq)));
        let Some(read) = read.filter(|&r| r >= seg.first_seq) else {
            return Some(0);
        };
        if read >= seg.last_seq {
            return None;
        }
        let batches = seg.last_seq - seg.first_seq + 1;
        let usable = seg.batch_ends.len() as u64 == batches
            && seg.batch_ends.windows(2).all(|w| w[0] <= w[1]);
        if !usable {
            metrics::counter!(metric_names::SEGMENT_OVERLAPS_READ_WHOLE_TOTAL).increment(1);
            return Some(0);
        }
        // read < last_seq, so the index is within the segment.
        Some(seg.batch_ends[(read - seg.first_seq) as usize])
    }
}

/// Compressions on the blocking pool at once: half the cores, at least
/// one. Live batches are compressed on their connections' tasks
/// ([`frame`]); this bounds the bulk work of a restarted node's drain,
/// which must not starve the spool writer and the connections.
fn compression_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

/// Each batch's [`frame`], compressed off the async threads in one of the
/// node's compression slots.
pub async fn frames(
    batches: Vec<SpoolBatch>,
) -> Result<(Vec<SpoolBatch>, Vec<Vec<u8>>), StoreError> {
    let _slot = compression_slots()
        .acquire()
        .await
        .map_err(|e| StoreError::Other(format!("compression slots closed: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let frames = batches.iter().map(|b| frame(&b.ndjson)).collect();
        (batches, frames)
    })
    .await
    .map_err(|e| StoreError::Other(format!("compression task failed: {e}")))
}

/// Commits a segment: write it through the outbox (blob,
/// then index row, which adds the segment's counters once; or, while
/// storage is down, durably queued in the spool), then trim its batches
/// from the spool. Returns the record and whether storage has it already.
pub async fn commit(
    mut seg: PendingSegment,
    outbox: &Outbox,
    spool: Option<Arc<dyn Spool>>,
) -> (SegmentRecord, Applied) {
    let started = Instant::now();
    // Batches another node has stored since (a failover where acks were
    // lost in flight) are not stored twice. Two nodes committing at once
    // can both pass this check: their segments then overlap in storage,
    // under keys unique per writer, and readers skip the batches they read
    // already ([`TabReader`]).
    if let Some(stored) = outbox
        .stored_ranges(&seg.record.session_id, &seg.record.tab_id)
        .await
    {
        if !seg.trim_stored(&stored) {
            tracing::info!(key = %seg.record.blob_key, "segment already in storage, not written again");
            if let Some(spool) = spool {
                spool.release(&seg.tickets);
            }
            return (seg.record, Applied::Now);
        }
    }
    let raw = seg.record.raw_bytes;
    // The frames are the object: moved into the write, never copied.
    let blob = bytes::Bytes::from(std::mem::take(&mut seg.blob));
    seg.record.stored_bytes = blob.len() as u64;
    seg.delta.stored_bytes = blob.len() as u64;
    let key = seg.record.blob_key.clone();
    let op = OutboxOp::Segment {
        record: seg.record,
        delta: seg.delta,
        blob,
    };
    // Fails only when the spool cannot write or storage fails in a way
    // that is neither unreachable nor a refusal; the batches stay in the
    // spool meanwhile. A segment storage refuses is in the dead letters
    // (record and blob) once this returns: its batches may go too.
    let applied = retry("segment_write", &key, || outbox.write(&op)).await;
    if let Some(spool) = spool {
        spool.release(&seg.tickets);
    }
    let OutboxOp::Segment { record, .. } = op else {
        unreachable!("built as a segment above")
    };
    if applied == Applied::DeadLettered {
        return (record, applied);
    }
    metrics::counter!(metric_names::SEGMENTS_FLUSHED_TOTAL).increment(1);
    metrics::counter!(metric_names::SEGMENT_RAW_BYTES_TOTAL).increment(raw);
    metrics::counter!(metric_names::SEGMENT_STORED_BYTES_TOTAL).increment(record.stored_bytes);
    metrics::histogram!(metric_names::SEGMENT_FLUSH_SECONDS)
        .record(started.elapsed().as_secs_f64());
    tracing::debug!(key = %key, raw, stored = record.stored_bytes, ?applied, "segment committed");
    (record, applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `b` with its frame, as the session does.
    fn push(buf: &mut TabBuffer, b: &SpoolBatch, ticket: Option<SpoolTicket>, now: Instant) {
        buf.push(b, &frame(&b.ndjson), ticket, now);
    }

    /// A segment object decompressed as readers do: a streaming decoder
    /// that reads every frame.
    fn unzip(blob: &[u8]) -> Vec<u8> {
        zstd::stream::decode_all(blob).unwrap()
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_700_000_000_000), "2023-11-14");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(-1), "1969-12-31");
    }

    #[test]
    fn a_buffer_grows_by_a_quarter_never_far_above_its_length() {
        let mut buf = Vec::new();
        let mut caps = Vec::new();
        for _ in 0..200 {
            grow(&mut buf, 40_000);
            buf.extend_from_slice(&[b'x'; 40_000]);
            let slack = buf.capacity() - buf.len();
            assert!(slack <= (buf.len() / 4).clamp(BUFFER_GROWTH_MIN, BUFFER_GROWTH_STEP));
            if caps.last() != Some(&buf.capacity()) {
                caps.push(buf.capacity());
            }
        }
        // 8 MB in a few dozen allocations, not one per batch.
        assert!(caps.len() < 50, "{} reallocations", caps.len());
        // Small frames: a 100 KiB buffer holds at most a quarter more.
        let mut small = Vec::new();
        for _ in 0..60 {
            grow(&mut small, 2_000);
            small.extend_from_slice(&[b'x'; 2_000]);
            assert!(small.capacity() - small.len() <= BUFFER_GROWTH_MIN.max(small.len() / 4));
        }
    }

    /// Batch `seq`: `n` events of a few kinds, as NDJSON.
    fn events_batch(seq: u64, n: usize) -> SpoolBatch {
        let mut ndjson = String::new();
        for i in 0..n {
            let ts = 1_700_000_000_000 + seq as i64 * 1000 + i as i64;
            ndjson.push_str(&format!(
                r#"{{"type":3,"timestamp":{ts},"data":{{"source":1,"positions":[{{"x":{},"y":{},"id":{i},"timeOffset":-{}}}]}}}}"#,
                (seq * 7 + i as u64) % 1280,
                (seq * 13 + i as u64 * 3) % 720,
                i % 50
            ));
            ndjson.push('\n');
        }
        SpoolBatch {
            site_id: 1,
            session_id: "s".into(),
            session_started_at: 0,
            tab_id: "t".into(),
            seq,
            received_at: seq as i64,
            ndjson: ndjson.into_bytes(),
            stats: crate::stats::BatchStats {
                events: n as u64,
                ..Default::default()
            },
        }
    }

    #[test]
    fn a_buffer_holds_one_frame_per_batch_and_raw_batch_ends() {
        let now = Instant::now();
        let mut buf = TabBuffer::default();
        let batches: Vec<SpoolBatch> = (0..5).map(|seq| events_batch(seq, 40)).collect();
        for b in &batches {
            push(&mut buf, b, Some(b.seq), now);
        }
        let raw: Vec<u8> = batches.iter().flat_map(|b| b.ndjson.clone()).collect();
        assert_eq!(buf.raw_len, raw.len());
        assert!(buf.frames.len() * 3 < raw.len(), "compressed as it came");
        assert_eq!(unzip(&buf.frames), raw, "the frames read as one stream");
        // Each frame is a whole zstd frame of its own batch.
        let mut start = 0;
        for (b, held) in batches.iter().zip(&buf.batches) {
            assert_eq!(unzip(&buf.frames[start..held.frame_end]), b.ndjson);
            start = held.frame_end;
        }
        let ends: Vec<usize> = buf.batches.iter().map(|b| b.end).collect();
        let mut expected = Vec::new();
        let mut at = 0;
        for b in &batches {
            at += b.ndjson.len();
            expected.push(at);
        }
        assert_eq!(ends, expected, "batch ends are raw NDJSON offsets");
        assert_eq!(buf.held_bytes(), buf.frames.capacity() as u64);
    }

    #[test]
    fn a_rewind_cuts_the_frames_at_a_batch_boundary_and_pushing_goes_on() {
        let now = Instant::now();
        let mut buf = TabBuffer::default();
        let batches: Vec<SpoolBatch> = (0..6).map(|seq| events_batch(seq, 30)).collect();
        for b in &batches {
            push(&mut buf, b, Some(b.seq), now);
        }
        let dropped = buf.rewind(2);
        assert_eq!(dropped.len(), 4);
        let kept: Vec<u8> = batches[..2].iter().flat_map(|b| b.ndjson.clone()).collect();
        assert_eq!(unzip(&buf.frames), kept);
        assert_eq!(buf.raw_len, kept.len());
        assert_eq!(buf.frames.len(), buf.batches[1].frame_end);
        // Resent after the rewind: the segment is as if never rewound.
        for b in &batches[2..] {
            push(&mut buf, b, Some(b.seq), now);
        }
        let all: Vec<u8> = batches.iter().flat_map(|b| b.ndjson.clone()).collect();
        let seg = buf.take(1, 0, "s", "t", "n1").unwrap();
        assert_eq!(unzip(&seg.blob), all);
        assert_eq!(*seg.record.batch_ends.last().unwrap(), all.len() as u64);
    }

    #[test]
    fn take_moves_the_frames_into_the_segment() {
        let now = Instant::now();
        let mut buf = TabBuffer::default();
        for seq in 7..10 {
            push(&mut buf, &events_batch(seq, 20), Some(seq), now);
        }
        let frames_at = buf.frames.as_ptr();
        let raw = buf.raw_len;
        let seg = buf.take(1, 0, "s", "t", "n1").unwrap();
        assert_eq!(seg.blob.as_ptr(), frames_at, "moved, not copied");
        assert!(buf.is_empty() && buf.frames.is_empty() && buf.raw_len == 0);
        assert_eq!(buf.held_bytes(), 0);
        assert_eq!(seg.record.raw_bytes, raw as u64);
        assert_eq!(seg.record.stored_bytes, seg.blob.len() as u64);
        assert_eq!((seg.record.first_seq, seg.record.last_seq), (7, 9));
        assert_eq!(seg.tickets, vec![7, 8, 9]);
        assert_eq!(
            seg.batches.iter().map(|b| b.events).sum::<u64>(),
            seg.record.event_count
        );
        // The object reads whole also through a reader that is told its
        // decompressed size up front (bulk decompression of every frame).
        let mut out = Vec::new();
        let mut d = zstd::stream::read::Decoder::new(&seg.blob[..]).unwrap();
        std::io::copy(&mut d, &mut out).unwrap();
        assert_eq!(out.len(), raw);
    }

    #[test]
    fn a_trim_cuts_the_blob_at_a_frame_boundary() {
        let now = Instant::now();
        let mut buf = TabBuffer::default();
        let batches: Vec<SpoolBatch> = (30..35).map(|seq| events_batch(seq, 10)).collect();
        for b in &batches {
            push(&mut buf, b, Some(b.seq), now);
        }
        let mut seg = buf.take(1, 0, "s", "t", "n1").unwrap();
        assert!(seg.trim_stored(&[(0, 32)]));
        let rest: Vec<u8> = batches[3..].iter().flat_map(|b| b.ndjson.clone()).collect();
        assert_eq!(unzip(&seg.blob), rest);
        assert_eq!(seg.record.raw_bytes, rest.len() as u64);
        assert_eq!(seg.record.event_count, 20);
        assert_eq!(
            seg.record.batch_ends,
            vec![batches[3].ndjson.len() as u64, rest.len() as u64]
        );
        assert_eq!(seg.batches[1].frame_end, seg.blob.len());
    }

    #[test]
    fn batches_another_node_stored_are_trimmed_from_the_front_only() {
        let mut buf = TabBuffer::default();
        let now = Instant::now();
        for seq in 30..35u64 {
            let b = SpoolBatch {
                site_id: 1,
                session_id: "s".into(),
                session_started_at: 0,
                tab_id: "t".into(),
                seq,
                received_at: 0,
                ndjson: format!("{{\"seq\":{seq}}}\n").into_bytes(),
                stats: crate::stats::BatchStats {
                    events: 1,
                    ..Default::default()
                },
            };
            push(&mut buf, &b, Some(seq), now);
        }
        let mut seg = buf.take(1, 0, "s", "t", "n1").unwrap();
        // A segment of this node still in flight (0..29) is not "stored".
        assert!(seg.trim_stored(&[(40, 50)]));
        assert_eq!(seg.record.first_seq, 30);
        // Another node stored ..=31: the segment starts at 32.
        assert!(seg.trim_stored(&[(20, 31)]));
        assert_eq!(seg.record.first_seq, 32);
        assert_eq!(
            unzip(&seg.blob),
            b"{\"seq\":32}\n{\"seq\":33}\n{\"seq\":34}\n".to_vec()
        );
        assert_eq!(seg.record.stored_bytes, seg.blob.len() as u64);
        assert_eq!(seg.record.raw_bytes, 33);
        assert_eq!(
            seg.record.blob_key,
            "1/1970-01-01/s/t/00000000000000000032-00000000000000000034-n1.ndjson.zst"
        );
        assert_eq!(seg.record.event_count, 3);
        assert_eq!(seg.record.batch_ends, vec![11, 22, 33]);
        // All of it stored: nothing left to write.
        assert!(!seg.trim_stored(&[(0, 100)]));
    }

    fn stats_batch(seq: u64, ts: i64) -> SpoolBatch {
        let line = format!(r#"{{"type":3,"timestamp":{ts},"data":{{"source":2,"type":2}}}}"#);
        let header = reel_protocol::event::EventHeader::parse(&line).unwrap();
        SpoolBatch {
            site_id: 1,
            session_id: "s".into(),
            session_started_at: 0,
            tab_id: "t".into(),
            seq,
            received_at: ts,
            stats: crate::stats::BatchStats::from_headers([(&header, line.len())]),
            ndjson: format!("{line}\n").into_bytes(),
        }
    }

    #[test]
    fn a_rewind_forgets_the_failed_batch_and_later_ones_and_recounts() {
        let now = Instant::now();
        let mut whole = TabBuffer::default();
        let mut rewound = TabBuffer::default();
        for seq in 0..3 {
            push(
                &mut whole,
                &stats_batch(seq, 1000 * seq as i64),
                Some(seq),
                now,
            );
        }
        for seq in 0..6 {
            push(
                &mut rewound,
                &stats_batch(seq, 1000 * seq as i64),
                Some(seq),
                now,
            );
        }
        let dropped = rewound.rewind(3);
        assert_eq!(
            dropped.iter().map(|b| b.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert!(rewound.holds(2) && !rewound.holds(3));
        assert_eq!(rewound.frames, whole.frames);
        assert_eq!(rewound.raw_len, whole.raw_len);
        assert_eq!(rewound.delta, whole.delta);
        assert_eq!(rewound.last_input, whole.last_input);
        assert_eq!(
            (rewound.first_ts, rewound.last_ts, rewound.last_seq),
            (whole.first_ts, whole.last_ts, whole.last_seq)
        );
        // Rewinding everything leaves an empty buffer with the carry.
        assert_eq!(rewound.rewind(0).len(), 3);
        assert!(rewound.is_empty() && rewound.frames.is_empty() && rewound.raw_len == 0);
        // Nothing at or after the seq: nothing dropped.
        assert!(whole.rewind(9).is_empty());
    }

    #[test]
    fn keys_sort_in_seq_order_and_are_unique_per_writer() {
        let a = blob_key(7, 1_700_000_000_000, "s1", "t1", (9, 12), "node-a");
        let b = blob_key(7, 1_700_000_000_000, "s1", "t1", (10, 10), "node-a");
        assert_eq!(
            a,
            "7/2023-11-14/s1/t1/00000000000000000009-00000000000000000012-node-a.ndjson.zst"
        );
        assert!(a < b);
        // Two writers of the same batches: two objects.
        let other = blob_key(7, 1_700_000_000_000, "s1", "t1", (9, 12), "node-b");
        assert_ne!(a, other);
        // A node id is reduced to characters safe in a key.
        assert!(blob_key(7, 0, "s1", "t1", (0, 0), "a/b c").ends_with("-a_b_c.ndjson.zst"));
    }

    #[test]
    fn a_trimmed_segment_keeps_its_writer_and_old_keys_are_rewritten_too() {
        let new = "1/d/s/t/00000000000000000030-00000000000000000039-n.ndjson.zst";
        assert_eq!(
            rekey(new, 30, 35),
            "1/d/s/t/00000000000000000035-00000000000000000039-n.ndjson.zst"
        );
        let old = "1/d/s/t/00000000000000000030.ndjson.zst";
        assert_eq!(
            rekey(old, 30, 35),
            "1/d/s/t/00000000000000000035.ndjson.zst"
        );
        assert_eq!(rekey("elsewhere", 30, 35), "elsewhere");
    }

    fn stored(first_seq: u64, last_seq: u64, batch_ends: Vec<u64>) -> SegmentRecord {
        SegmentRecord {
            session_id: "s".into(),
            tab_id: "t".into(),
            first_seq,
            last_seq,
            first_ts: 0,
            last_ts: 0,
            event_count: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            blob_key: String::new(),
            received_at: 0,
            batch_ends,
        }
    }

    #[test]
    fn a_reader_skips_the_batches_it_read_already() {
        let mut r = TabReader::default();
        // 30..=39, ten batches of 10 bytes.
        assert_eq!(
            r.unread_from(&stored(30, 39, (1..=10).map(|i| i * 10).collect())),
            Some(0)
        );
        // Another writer's 35..=59: starts after 39, i.e. after 5 batches.
        let b = stored(35, 59, (1..=25).map(|i| i * 7).collect());
        assert_eq!(r.unread_from(&b), Some(35));
        // Same first seq, shorter: all read, not even loaded.
        assert_eq!(r.unread_from(&stored(35, 50, Vec::new())), None);
        // Past a hole: read whole.
        assert_eq!(r.unread_from(&stored(70, 71, vec![3, 6])), Some(0));
        // An old row (no batch ends) partly read: read whole.
        assert_eq!(r.unread_from(&stored(71, 72, Vec::new())), Some(0));
        // Batch ends that do not match the seq range are not trusted.
        assert_eq!(r.unread_from(&stored(72, 74, vec![1, 2])), Some(0));
        assert_eq!(r.unread_from(&stored(60, 74, Vec::new())), None);
    }
}
