//! Cold compaction (docs/storage.md, "Cold compaction"; figures in
//! docs/PERFORMANCE.md, "Cold compaction"):
//!
//! 1. **Compression on real recordings** (`--corpus DIR`, fixtures of
//!    `loadtest/fixtures/` format): stored / raw of each tab as today's hot
//!    segments (60 s or 4 MiB, zstd level 3), compacted (level 19, long
//!    window, frames at page loads), and with a dictionary trained on the
//!    other half of the corpus (level 19, per hot segment); each compacted
//!    object is checked to decompress byte-identical.
//! 2. **Replay of a 1-hour recording** (generated: a batch every second,
//!    a page load with a full snapshot every 5 minutes) through a real
//!    node's events route, before and after compaction: time to the first
//!    byte, and a seek to minute 50 (`?t=`) to its first byte and to the
//!    end of the response.
//!
//! ```text
//! cargo bench --bench compaction -- [--corpus target/corpus] [--repeats 7] \
//!     [--postgres postgres://reel@127.0.0.1/reel_bench --s3 http://127.0.0.1:4566]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel::app::{open_blob_store, Node};
use reel::config::Config;
use reel::index::SqlIndex;
use reel_actors::compacted;
use reel_actors::compactor::{Compactor, CompactorConfig};
use reel_actors::stats::SegmentDelta;
use reel_actors::traits::{NewSession, SegmentRecord};

struct Args {
    corpus: Option<PathBuf>,
    repeats: usize,
    postgres: Option<String>,
    s3: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        corpus: None,
        repeats: 7,
        postgres: None,
        s3: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--corpus" => a.corpus = it.next().map(PathBuf::from),
            "--repeats" => a.repeats = it.next().and_then(|n| n.parse().ok()).expect("--repeats N"),
            "--postgres" => a.postgres = it.next(),
            "--s3" => a.s3 = it.next(),
            _ => {} // `cargo bench` passes `--bench`.
        }
    }
    a
}

/// One fixture's batches: (ms since its first batch, NDJSON of its events).
fn read_fixture(path: &Path) -> anyhow::Result<Vec<(i64, Vec<u8>)>> {
    #[derive(serde::Deserialize)]
    struct Line<'a> {
        at: i64,
        #[serde(borrow)]
        events: Vec<&'a serde_json::value::RawValue>,
    }
    let text = compacted::decompress(&std::fs::read(path)?)?;
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let l: Line = serde_json::from_slice(line)?;
        let mut nd = Vec::new();
        for e in l.events {
            nd.extend_from_slice(e.get().as_bytes());
            nd.push(b'\n');
        }
        out.push((l.at, nd));
    }
    Ok(out)
}

/// Today's hot segments of a tab: cut at each page load (the tracker's
/// `end` on navigation), at 60 s of age or at 4 MiB raw.
fn hot_segments(batches: &[(i64, Vec<u8>)]) -> Vec<Vec<u8>> {
    let mut segs = Vec::new();
    let mut cur = Vec::new();
    let mut started = None;
    for (at, nd) in batches {
        let page = nd.split(|&b| b == b'\n').any(|l| {
            reel_protocol::EventHeader::parse(std::str::from_utf8(l).unwrap_or(""))
                .is_ok_and(|h| h.kind == 4)
        });
        if let Some(s) = started {
            if page || at - s >= 60_000 || cur.len() >= 4 << 20 {
                segs.push(std::mem::take(&mut cur));
                started = None;
            }
        }
        started.get_or_insert(*at);
        cur.extend_from_slice(nd);
    }
    if !cur.is_empty() {
        segs.push(cur);
    }
    segs
}

fn joined(batches: &[(i64, Vec<u8>)]) -> compacted::Joined {
    let mut raw = Vec::new();
    let mut ends = Vec::new();
    for (_, nd) in batches {
        raw.extend_from_slice(nd);
        ends.push(raw.len() as u64);
    }
    compacted::Joined {
        raw,
        first_seq: 0,
        last_seq: batches.len() as u64 - 1,
        batch_ends: ends,
    }
}

fn corpus(dir: &Path) -> anyhow::Result<()> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".batches.ndjson.zst"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "no fixtures in {}", dir.display());
    let tabs: Vec<Vec<(i64, Vec<u8>)>> = files
        .iter()
        .map(|f| read_fixture(f))
        .collect::<anyhow::Result<_>>()?;
    let (mut raw, mut hot, mut cold, mut frames) = (0usize, 0usize, 0usize, 0usize);
    let started = Instant::now();
    for t in &tabs {
        let j = joined(t);
        raw += j.raw.len();
        // Hot segments: each batch its own frame, as the node stores them.
        hot += t
            .iter()
            .map(|(_, batch)| reel_actors::segment::frame(batch).len())
            .sum::<usize>();
        let c = compacted::compress(&j, compacted::ZSTD_LEVEL, compacted::WINDOW_LOG)?;
        anyhow::ensure!(
            compacted::decompress(&c.object)? == j.raw,
            "a compacted object does not decompress to its input"
        );
        cold += c.object.len();
        frames += c.frames.len();
    }
    let cold_s = started.elapsed().as_secs_f64();
    // A dictionary trained on the even tabs' hot segments, used on the odd ones'.
    let samples: Vec<Vec<u8>> = tabs
        .iter()
        .step_by(2)
        .flat_map(|t| hot_segments(t))
        .collect();
    let dict = zstd::dict::from_samples(&samples, 112 * 1024)?;
    let (mut d_raw, mut d_stored, mut d_cold) = (0usize, 0usize, 0usize);
    for t in tabs.iter().skip(1).step_by(2) {
        for seg in hot_segments(t) {
            d_raw += seg.len();
            let mut c = zstd::bulk::Compressor::with_dictionary(compacted::ZSTD_LEVEL, &dict)?;
            d_stored += c.compress(&seg)?.len();
        }
        let j = joined(t);
        d_cold += compacted::compress(&j, compacted::ZSTD_LEVEL, compacted::WINDOW_LOG)?
            .object
            .len();
    }
    let mb = |n: usize| n as f64 / 1e6;
    println!("corpus: {} tabs, {:.1} MB raw", tabs.len(), mb(raw));
    println!(
        "  hot segments (zstd {}, a frame per batch): {:.2} MB stored, {:.1}x",
        reel_actors::segment::FRAME_LEVEL,
        mb(hot),
        raw as f64 / hot as f64
    );
    println!(
        "  compacted (zstd {}, long window): {:.2} MB stored, {:.1}x, {} frames, {:.1} s (wall clock, one thread)",
        compacted::ZSTD_LEVEL,
        mb(cold),
        raw as f64 / cold as f64,
        frames,
        cold_s
    );
    println!(
        "  held-out half: dictionary (112 KiB, zstd {}) per hot segment {:.1}x, compacted {:.1}x",
        compacted::ZSTD_LEVEL,
        d_raw as f64 / d_stored as f64,
        d_raw as f64 / d_cold as f64
    );
    println!("  every compacted object decompressed byte-identical");
    Ok(())
}

/// A deterministic pseudo-random stream (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn word(&mut self) -> &'static str {
        const W: [&str; 24] = [
            "the",
            "session",
            "replay",
            "node",
            "segment",
            "index",
            "storage",
            "tracker",
            "documentation",
            "configure",
            "example",
            "returns",
            "request",
            "function",
            "parameter",
            "value",
            "option",
            "server",
            "client",
            "install",
            "release",
            "guide",
            "reference",
            "default",
        ];
        W[(self.next() % W.len() as u64) as usize]
    }
}

/// A documentation page's full snapshot, ~`bytes` long.
fn snapshot(rng: &mut Rng, ts: i64, bytes: usize) -> String {
    let mut nodes = String::new();
    let mut id = 10;
    while nodes.len() < bytes {
        let mut text = String::new();
        for _ in 0..(8 + rng.next() % 30) {
            text.push_str(rng.word());
            text.push(' ');
        }
        nodes.push_str(&format!(
            r#"{{"type":2,"tagName":"p","attributes":{{"class":"para-{}"}},"childNodes":[{{"type":3,"textContent":"{text}","id":{}}}],"id":{id}}},"#,
            rng.next() % 7,
            id + 1
        ));
        id += 2;
    }
    nodes.pop();
    format!(
        r#"{{"type":2,"data":{{"node":{{"type":0,"childNodes":[{{"type":2,"tagName":"html","attributes":{{}},"childNodes":[{nodes}],"id":2}}],"id":1}},"initialOffset":{{"left":0,"top":0}}}},"timestamp":{ts}}}"#
    )
}

/// One second of a visitor reading: mouse moves, a scroll, sometimes a
/// click or an input; ~3.6 KB.
fn second(rng: &mut Rng, ts: i64) -> String {
    let mut out = String::new();
    for i in 0..12 {
        let positions: Vec<String> = (0..6)
            .map(|k| {
                format!(
                    r#"{{"x":{},"y":{},"id":{},"timeOffset":{}}}"#,
                    rng.next() % 1280,
                    rng.next() % 800,
                    10 + rng.next() % 4000,
                    -(k * 16)
                )
            })
            .collect();
        out.push_str(&format!(
            r#"{{"type":3,"data":{{"source":1,"positions":[{}]}},"timestamp":{}}}"#,
            positions.join(","),
            ts + i * 80
        ));
        out.push('\n');
    }
    out.push_str(&format!(
        r#"{{"type":3,"data":{{"source":3,"id":1,"x":0,"y":{}}},"timestamp":{}}}"#,
        rng.next() % 20000,
        ts + 990
    ));
    out.push('\n');
    out
}

/// Stores a generated 1-hour tab as 60 s hot segments; returns the session.
async fn store_hour(
    index: &Arc<dyn reel_actors::traits::Index>,
    blob: &Arc<dyn reel_actors::traits::BlobStore>,
    site_id: i64,
    start: i64,
) -> anyhow::Result<(String, u64)> {
    let session = format!("bench{}", start % 1_000_000_000);
    index
        .open_session(&NewSession {
            id: session.clone(),
            site_id,
            visitor_id: "v".into(),
            started_at: start,
            ..Default::default()
        })
        .await?;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut raw_total = 0;
    for minute in 0..60u64 {
        let mut raw = Vec::new();
        let mut ends = Vec::new();
        for s in 0..60u64 {
            let seq = minute * 60 + s;
            let ts = start + seq as i64 * 1000;
            if seq % 300 == 0 {
                raw.extend_from_slice(
                    format!(r#"{{"type":4,"data":{{"href":"https://docs.example/page{}","width":1280,"height":800}},"timestamp":{ts}}}"#, seq / 300).as_bytes(),
                );
                raw.push(b'\n');
                raw.extend_from_slice(snapshot(&mut rng, ts + 1, 200_000).as_bytes());
                raw.push(b'\n');
            }
            raw.extend_from_slice(second(&mut rng, ts + 2).as_bytes());
            ends.push(raw.len() as u64);
        }
        let data = zstd::encode_all(&raw[..], reel_actors::segment::FRAME_LEVEL)?;
        let first = minute * 60;
        let seg = SegmentRecord {
            session_id: session.clone(),
            tab_id: "tab".into(),
            first_seq: first,
            last_seq: first + 59,
            first_ts: start + first as i64 * 1000,
            last_ts: start + (first as i64 + 60) * 1000 - 10,
            event_count: raw.iter().filter(|&&b| b == b'\n').count() as u64,
            raw_bytes: raw.len() as u64,
            stored_bytes: data.len() as u64,
            blob_key: reel_actors::segment::blob_key(
                site_id,
                start,
                &session,
                "tab",
                (first, first + 59),
                "bench",
            ),
            received_at: start + first as i64 * 1000,
            batch_ends: ends,
        };
        raw_total += raw.len() as u64;
        blob.put(&seg.blob_key, Bytes::from(data)).await?;
        index
            .commit_segment(
                &seg,
                &SegmentDelta {
                    events: seg.event_count,
                    raw_bytes: seg.raw_bytes,
                    stored_bytes: seg.stored_bytes,
                    ..Default::default()
                },
            )
            .await?;
    }
    index.end_session(&session, start + 3_600_000).await?;
    Ok((session, raw_total))
}

/// Time to the first byte and to the end of a GET.
async fn timed(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Duration, Duration, usize, String)> {
    let started = Instant::now();
    let mut res = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(res.status() == 200, "GET {url}: {}", res.status());
    let mut first = None;
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        first.get_or_insert_with(|| started.elapsed());
        body.extend_from_slice(&chunk);
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    Ok((
        first.unwrap_or_default(),
        started.elapsed(),
        body.len(),
        head,
    ))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn replay(a: &Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.compaction.enabled = false;
    let label = match (&a.postgres, &a.s3) {
        (Some(url), Some(endpoint)) => {
            config.database_url = Some(reel::secrets::Secret::new(url.clone()));
            config.s3.bucket = Some(format!("reel-bench-{}", reel_actors::now_ms()));
            config.s3.endpoint = Some(endpoint.clone());
            config.s3.create_bucket = true;
            "Postgres + S3"
        }
        _ => "SQLite + local",
    };
    let sql = SqlIndex::connect(&config.database_url()).await?;
    sql.migrate().await?;
    let (site_id, _) = sql.ensure_site("bench", "compaction").await?;
    let token = sql.create_token("bench", "bench", "admin", None).await?.1;
    let (index, _, compaction) = sql.into_parts();
    let blob = open_blob_store(&config).await?;
    let start = reel_actors::now_ms() - 2 * 3_600_000;
    let (session, raw) = store_hour(&index, &blob, site_id, start).await?;
    let mut node = Node::start(config.clone()).await?;
    actix_web::rt::spawn(node.take_server().expect("server"));
    let base = format!("http://{}", node.addr);
    let http = reqwest::Client::new();
    let all = format!("{base}/api/v1/sessions/{session}/events");
    let seek = format!("{all}?t={}", 50 * 60_000);
    let measure = |what: &'static str| {
        let (http, all, seek, token) = (http.clone(), all.clone(), seek.clone(), token.clone());
        async move {
            let (mut f, mut s, mut se) = (Vec::new(), Vec::new(), Vec::new());
            let mut seek_head = String::new();
            for _ in 0..a.repeats {
                f.push(timed(&http, &all, &token).await?.0);
                let (first, end, _, head) = timed(&http, &seek, &token).await?;
                s.push(first);
                se.push(end);
                seek_head = head;
            }
            println!(
                "  {what:<28} first byte {:>7.1} ms | seek to minute 50: first byte {:>7.1} ms, whole answer {:>7.1} ms",
                median(f).as_secs_f64() * 1000.0,
                median(s).as_secs_f64() * 1000.0,
                median(se).as_secs_f64() * 1000.0
            );
            anyhow::ensure!(
                seek_head.contains("\"type\":4") && seek_head.contains("page10"),
                "the seek did not start at minute 50's page load: {seek_head}"
            );
            anyhow::Ok(())
        }
    };
    println!(
        "replay of a 1-hour recording ({:.1} MB raw, 60 hot segments), {label}, median of {}:",
        raw as f64 / 1e6,
        a.repeats
    );
    measure("hot segments").await?;
    let pool = reel::idle_pool::IdlePool::start(1)?;
    let compactor = Compactor::new(
        index.clone(),
        compaction,
        blob.clone(),
        Arc::new(pool),
        CompactorConfig {
            reader_grace: Duration::ZERO,
            ..CompactorConfig::default()
        },
        "bench".into(),
        Arc::new(Vec::new),
    );
    let took = Instant::now();
    let out = compactor.compact_session(&session).await?;
    compactor.sweep().await?;
    println!(
        "  compacted in {:.1} s: {:.2} MB -> {:.2} MB ({:.1}x of raw)",
        took.elapsed().as_secs_f64(),
        out.bytes_in as f64 / 1e6,
        out.bytes_out as f64 / 1e6,
        raw as f64 / out.bytes_out.max(1) as f64
    );
    measure("compacted").await?;
    node.shutdown().await;
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let a = args();
    if let Some(dir) = &a.corpus {
        corpus(dir)?;
    }
    replay(&a).await
}
