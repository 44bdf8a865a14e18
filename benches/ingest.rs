//! Per-batch CPU of the ingest path and what a live tab holds in memory
//! (issue 13, items 1 and 3), on the load tester's generated rrweb
//! (`loadtest/src/rrweb.rs`: the events `reel-loadtest` sends).
//!
//! ```text
//! cargo bench --bench ingest -- [--repeats 7] [--batches 64]
//! ```
//!
//! For batches of 3.6 KB and 11 KB it times, per batch (the median of
//! `--repeats` runs over `--batches` distinct batches):
//! - decoding: before, serde's two passes (each event borrowed raw, then
//!   parsed again for its header); after, `decode_message` (one scan);
//! - compression: before, the batch's share of zstd level 3 over its whole
//!   60 s segment at the cut; after, its own frame (`segment::frame`);
//! - the spool record's encoding, and the whole of `to_batch`.
//!
//! Then, for one tab at 11 KB/s over a 60 s segment (a Meta and a 100 KB
//! full snapshot, then 59 incremental batches; and a segment of only
//! incremental batches, as a long page's later ones), the bytes its buffer
//! holds before (raw NDJSON, grown as the buffer grew) and after (the
//! frames), and stored / raw for the whole segment at zstd 3 and for
//! per-batch frames at several levels. Results: docs/PERFORMANCE.md,
//! "Compress as you go".

use std::time::{Duration, Instant};

use reel::http::ingest::to_batch;
use reel::spool::record;
use reel_actors::redact::Redactor;
use reel_actors::segment::{self, TabBuffer, FRAME_LEVEL};
use reel_actors::stats::BatchStats;
use reel_actors::traits::SpoolBatch;
use reel_loadtest::rrweb::EventGen;
use reel_protocol::messages::ClientMessage;
use reel_protocol::{decode_message, EventHeader, Limits, Settings};
use serde_json::value::RawValue;

const T0: u64 = 1_700_000_000_000;

struct Args {
    repeats: usize,
    batches: usize,
}

fn args() -> Args {
    let mut a = Args {
        repeats: 7,
        batches: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .expect("a number after the option")
        };
        match arg.as_str() {
            "--repeats" => a.repeats = value(),
            "--batches" => a.batches = value(),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    a
}

/// `events` (a JSON array) as the `events` message of batch `seq`.
fn message(seq: u64, events: &str) -> String {
    format!(r#"{{"t":"events","seq":{seq},"events":{events}}}"#)
}

/// The median over `repeats` of the time per item of `f` run on each item.
fn per_item<T>(repeats: usize, items: &[T], mut f: impl FnMut(&T)) -> Duration {
    let mut runs: Vec<Duration> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            for item in items {
                f(item);
            }
            start.elapsed() / items.len() as u32
        })
        .collect();
    runs.sort();
    runs[runs.len() / 2]
}

/// The decoding before one scan: serde borrows each event raw, then each
/// event is parsed again for its header.
fn decode_two_passes(json: &str) -> usize {
    #[derive(serde::Deserialize)]
    struct Wire<'a> {
        #[allow(dead_code)]
        t: &'a str,
        #[allow(dead_code)]
        seq: u64,
        #[serde(borrow)]
        events: Vec<&'a RawValue>,
    }
    let wire: Wire = serde_json::from_str(json).unwrap();
    let headers: Vec<EventHeader> = wire
        .events
        .iter()
        .map(|e| EventHeader::parse(e.get()).unwrap())
        .collect();
    headers.len()
}

fn spool_batch(seq: u64, ndjson: Vec<u8>) -> SpoolBatch {
    SpoolBatch {
        site_id: 1,
        session_id: "s".into(),
        session_started_at: 0,
        tab_id: "t".into(),
        seq,
        received_at: 0,
        ndjson,
        stats: BatchStats::default(),
    }
}

/// The NDJSON of each message, as `to_batch` makes it.
fn ndjson_of(messages: &[String], redactor: &Redactor) -> Vec<Vec<u8>> {
    let limits = Limits::default();
    messages
        .iter()
        .map(|m| {
            let ClientMessage::Events(b) = decode_message(m.as_bytes(), &limits).unwrap() else {
                unreachable!()
            };
            to_batch("t", b, m.len() as u64, redactor).ndjson
        })
        .collect()
}

fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn cpu_table(a: &Args, redactor: &Redactor) {
    let limits = Limits::default();
    println!(
        "Per-batch CPU (µs per batch, median of {} runs over {} batches; bench profile)",
        a.repeats, a.batches
    );
    println!();
    println!("| batch | decode before (serde, 2 passes) | decode after (1 scan) | compress before (share of zstd 3 of the 60 s segment) | compress after (own frame, level {FRAME_LEVEL}) | spool record encode | `to_batch` after (redaction, stats, signals, NDJSON, frame) | before total (decode + compress) | after total |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for size in [3_600usize, 11_000] {
        let mut gen = EventGen::new(size as u64);
        let messages: Vec<String> = (0..a.batches as u64)
            .map(|i| message(i + 1, &gen.incremental_batch(T0 + i * 1000, size)))
            .collect();
        let ndjson = ndjson_of(&messages, redactor);
        let two = per_item(a.repeats, &messages, |m| {
            std::hint::black_box(decode_two_passes(m));
        });
        let one = per_item(a.repeats, &messages, |m| {
            std::hint::black_box(decode_message(m.as_bytes(), &limits).unwrap());
        });
        // A 60 s segment of these batches, compressed whole at the cut.
        let segment: Vec<u8> = ndjson.iter().take(60).flatten().copied().collect();
        let in_segment = ndjson.len().min(60) as u32;
        let whole = per_item(a.repeats, &[&segment], |s| {
            std::hint::black_box(zstd::bulk::compress(s, 3).unwrap());
        }) / in_segment;
        let frames = per_item(a.repeats, &ndjson, |n| {
            std::hint::black_box(segment::frame(n));
        });
        let batches: Vec<SpoolBatch> = ndjson
            .iter()
            .enumerate()
            .map(|(i, n)| spool_batch(i as u64, n.clone()))
            .collect();
        let encode = per_item(a.repeats, &batches, |b| {
            std::hint::black_box(record::encode(record::SpoolRecordRef::Batch(b)));
        });
        let whole_batch = per_item(a.repeats, &messages, |m| {
            let ClientMessage::Events(b) = decode_message(m.as_bytes(), &limits).unwrap() else {
                unreachable!()
            };
            std::hint::black_box(to_batch("t", b, m.len() as u64, redactor));
        });
        let raw = messages.iter().map(String::len).sum::<usize>() / messages.len();
        println!(
            "| {:.1} KB ({} B message) | {} | {} | {} | {} | {} | {} | {} | {} |",
            size as f64 / 1000.0,
            raw,
            us(two),
            us(one),
            us(whole),
            us(frames),
            us(encode),
            us(whole_batch),
            us(two + whole),
            us(one + frames),
        );
    }
    println!();
}

/// Capacity of a buffer grown to `lens` as the tab buffer grew before
/// (doubling up to `BUFFER_GROWTH_STEP`, then by that step).
fn raw_capacity(lens: &[usize]) -> usize {
    let mut buf: Vec<u8> = Vec::new();
    for &more in lens {
        let needed = buf.len() + more;
        if needed > buf.capacity() {
            let cap = buf.capacity();
            let target = needed.max((cap * 2).min(cap + segment::BUFFER_GROWTH_STEP));
            buf.reserve_exact(target - buf.len());
        }
        buf.resize(needed, 0);
    }
    buf.capacity()
}

fn memory_and_ratio(redactor: &Redactor) {
    let mut gen = EventGen::new(11);
    let mut first = vec![message(0, &gen.first_batch(T0, 100_000))];
    let incremental: Vec<String> = (1..=119u64)
        .map(|i| message(i, &gen.incremental_batch(T0 + i * 1000, 11_000)))
        .collect();
    first.extend(incremental[..59].iter().cloned());
    let cases = [
        ("Meta + 100 KB snapshot, then 59 × 11 KB", first),
        ("60 × 11 KB incremental", incremental[59..].to_vec()),
    ];
    println!("One tab at 11 KB/s over a 60 s segment");
    println!();
    println!("| segment | raw NDJSON | held before (raw buffer capacity) | held after (frames capacity) | whole segment zstd 3 (before) | frames level 1 | frames level 3 | frames level 6 | frames level 9 | frames level 12 | frames level 19 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, messages) in cases {
        let ndjson = ndjson_of(&messages, redactor);
        let raw: usize = ndjson.iter().map(Vec::len).sum();
        let held_before = raw_capacity(&ndjson.iter().map(Vec::len).collect::<Vec<_>>());
        let mut buf = TabBuffer::default();
        let now = tokio::time::Instant::now();
        for (i, n) in ndjson.iter().enumerate() {
            let b = spool_batch(i as u64, n.clone());
            buf.push(&b, &segment::frame(n), None, now);
        }
        let held_after = buf.held_bytes() as usize;
        let whole: Vec<u8> = ndjson.iter().flatten().copied().collect();
        let whole3 = zstd::bulk::compress(&whole, 3).unwrap().len();
        let ratio = |stored: usize| format!("{:.2}× ({} B)", raw as f64 / stored as f64, stored);
        let mut row = format!(
            "| {name} | {raw} B | {} KiB | {} KiB | {} |",
            held_before / 1024,
            held_after / 1024,
            ratio(whole3)
        );
        for level in [1, 3, 6, 9, 12, 19] {
            let stored: usize = ndjson
                .iter()
                .map(|n| zstd::bulk::compress(n, level).unwrap().len())
                .sum();
            row.push_str(&format!(" {} |", ratio(stored)));
        }
        println!("{row}");
        // The buffer's frames are the object readers decompress.
        assert_eq!(zstd::stream::decode_all(&buf.frames[..]).unwrap(), whole);
    }
    println!();
}

fn main() {
    let a = args();
    let redactor = Redactor::new(&Settings::default());
    cpu_table(&a, &redactor);
    memory_and_ratio(&redactor);
}
