//! Compression on real recordings: stored/raw and compression speed of the
//! ways reel could store a corpus of recorded tabs (the fixtures of
//! `loadtest/fixtures/`, see its README), printed as the Markdown table of
//! docs/PERFORMANCE.md "Compression on real recordings".
//!
//! Raw bytes are what the node stores before compression: each batch's
//! events as NDJSON, one event per line. The schemes:
//! - `segment-z3`: reel's hot segments today, one zstd level 3 frame per
//!   segment, the tab's batches cut into segments as the node does
//!   (docs/storage.md "When a segment is written");
//! - `batch-z3`: the same segments, one zstd level 3 frame per batch;
//! - `tab-z3`: one zstd level 3 frame per tab (the whole recording);
//! - `tab-z19-long`: zstd level 19, long-distance matching, window 2^27;
//! - `tab-gzip6`: gzip level 6 per tab;
//! - `*-dict`: zstd with a dictionary trained on the other tabs (every
//!   `--train-every`th tab trains, the rest are measured).
//!
//!   cargo run --release -p reel-loadtest --bin corpus-ratio -- target/corpus

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::value::RawValue;

/// A segment is cut when its oldest batch is this old: `segments.max_age_ms`
/// (docs/storage.md), plus half the 5 s sweep that checks it.
const SEGMENT_MAX_AGE_MS: u64 = 60_000 + 2_500;
/// A segment is cut when its raw bytes reach this: `segments.max_bytes`.
const SEGMENT_MAX_BYTES: usize = 4 << 20;
/// The level of hot segments (`actors/src/segment.rs` `ZSTD_LEVEL`).
const HOT_LEVEL: i32 = 3;
/// Cold levels measured.
const COLD_LEVEL: i32 = 19;
const LONG_WINDOW_LOG: u32 = 27;
const GZIP_LEVEL: u32 = 6;
/// Training pieces: the trainer wants many small samples, so events are cut
/// into pieces of at most this.
const SAMPLE_MAX: usize = 16 << 10;

#[derive(Parser)]
struct Args {
    /// Directories (or fixture files) holding `*.batches.ndjson.zst`.
    #[arg(default_value = "loadtest/fixtures")]
    paths: Vec<PathBuf>,
    /// Every Nth tab (sorted by name, from the first) trains the dictionary;
    /// the others are measured with it.
    #[arg(long, default_value_t = 3)]
    train_every: usize,
    /// Dictionary size in bytes.
    #[arg(long, default_value_t = 112_640)]
    dict_bytes: usize,
    /// Times each scheme runs; the fastest run counts.
    #[arg(long, default_value_t = 2)]
    reps: usize,
}

/// One recorded tab: its batches' NDJSON and send times.
struct Tab {
    name: String,
    /// `node_stored_bytes` of its `NAME.meta.json`: what the node stored
    /// while it was recorded.
    node_stored: Option<u64>,
    /// `(at ms, NDJSON of the batch's events, starts a page)`.
    batches: Vec<(u64, Vec<u8>, bool)>,
}

impl Tab {
    fn raw(&self) -> usize {
        self.batches.iter().map(|b| b.1.len()).sum()
    }

    fn whole(&self) -> Vec<u8> {
        self.batches
            .iter()
            .flat_map(|b| b.1.iter().copied())
            .collect()
    }

    /// The tab's segments as the node cuts them: at a page load (the
    /// previous page's `end`), when the oldest batch is 60 s old, at 4 MiB.
    fn segments(&self) -> Vec<Vec<&[u8]>> {
        let mut out: Vec<Vec<&[u8]>> = Vec::new();
        let mut cur: Vec<&[u8]> = Vec::new();
        let (mut oldest, mut bytes) = (0, 0);
        for (at, body, page) in &self.batches {
            if !cur.is_empty() && (*page || at.saturating_sub(oldest) >= SEGMENT_MAX_AGE_MS) {
                out.push(std::mem::take(&mut cur));
                bytes = 0;
            }
            if cur.is_empty() {
                oldest = *at;
            }
            cur.push(body);
            bytes += body.len();
            if bytes >= SEGMENT_MAX_BYTES {
                out.push(std::mem::take(&mut cur));
                bytes = 0;
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    }
}

fn load(path: &Path) -> anyhow::Result<Tab> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".batches.ndjson.zst"))
        .context("not a fixture name")?
        .to_string();
    let text = String::from_utf8(zstd::decode_all(std::fs::File::open(path)?)?)?;
    let mut batches = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: BTreeMap<String, &RawValue> =
            serde_json::from_str(line).with_context(|| format!("{name} line {}", i + 1))?;
        let (Some(at), Some(events)) = (fields.get("at"), fields.get("events")) else {
            bail!("{name} line {}: no `at` or `events`", i + 1);
        };
        let at: u64 = serde_json::from_str(at.get())?;
        let events: Vec<&RawValue> = serde_json::from_str(events.get())?;
        let mut body = Vec::new();
        let mut page = false;
        for e in events {
            page |= e.get().starts_with(r#"{"type":4,"#);
            body.extend_from_slice(e.get().as_bytes());
            body.push(b'\n');
        }
        batches.push((at, body, page));
    }
    let meta = path.with_file_name(format!("{name}.meta.json"));
    let node_stored = std::fs::read(meta)
        .ok()
        .and_then(|m| serde_json::from_slice::<serde_json::Value>(&m).ok())
        .and_then(|m| m.get("node_stored_bytes")?.as_u64());
    Ok(Tab {
        name,
        node_stored,
        batches,
    })
}

fn fixtures(paths: &[PathBuf]) -> anyhow::Result<Vec<Tab>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            for e in std::fs::read_dir(p)? {
                let f = e?.path();
                if f.to_string_lossy().ends_with(".batches.ndjson.zst") {
                    files.push(f);
                }
            }
        } else {
            files.push(p.clone());
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("no *.batches.ndjson.zst in {paths:?}");
    }
    files.iter().map(|f| load(f)).collect()
}

fn z(level: i32, data: &[u8]) -> Vec<u8> {
    // unwrap: compressing into memory at a valid level does not fail.
    zstd::bulk::compress(data, level).unwrap()
}

fn z_long(data: &[u8]) -> Vec<u8> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), COLD_LEVEL).unwrap();
    enc.long_distance_matching(true).unwrap();
    enc.window_log(LONG_WINDOW_LOG).unwrap();
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn unz_long(data: &[u8]) -> Vec<u8> {
    let mut dec = zstd::stream::Decoder::new(data).unwrap();
    dec.window_log_max(LONG_WINDOW_LOG).unwrap();
    let mut out = Vec::new();
    dec.read_to_end(&mut out).unwrap();
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZIP_LEVEL));
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// What a scheme measured over some tabs.
#[derive(Default, Clone, Copy)]
struct Measure {
    raw: usize,
    stored: usize,
    frames: usize,
    compress: Duration,
    decompress: Duration,
}

impl Measure {
    fn add(&mut self, o: Measure) {
        self.raw += o.raw;
        self.stored += o.stored;
        self.frames += o.frames;
        self.compress += o.compress;
        self.decompress += o.decompress;
    }
}

/// Compresses `units` (the frames of one tab) with `c`, checks that `d`
/// gives each back, and times both.
fn measure(
    units: &[Vec<u8>],
    c: &dyn Fn(&[u8]) -> Vec<u8>,
    d: &dyn Fn(&[u8]) -> Vec<u8>,
) -> Measure {
    let t = cpu_time();
    let out: Vec<Vec<u8>> = units.iter().map(|u| c(u)).collect();
    let compress = cpu_time() - t;
    let t = cpu_time();
    for (u, o) in units.iter().zip(&out) {
        assert!(d(o) == *u, "a frame does not decompress to its input");
    }
    Measure {
        raw: units.iter().map(Vec::len).sum(),
        stored: out.iter().map(Vec::len).sum(),
        frames: units.len(),
        compress,
        decompress: cpu_time() - t,
    }
}

type Codec = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// zstd at `level` with `dict`, prepared once (as a node would keep it).
fn dict_compressor(level: i32, dict: &[u8]) -> Codec {
    let cdict = zstd::dict::EncoderDictionary::copy(dict, level);
    Box::new(move |u| {
        zstd::bulk::Compressor::with_prepared_dictionary(&cdict)
            .and_then(|mut c| c.compress(u))
            .unwrap()
    })
}

fn dict_decompressor(dict: &[u8]) -> Codec {
    let ddict = zstd::dict::DecoderDictionary::copy(dict);
    Box::new(move |u| {
        let mut out = Vec::new();
        zstd::stream::Decoder::with_prepared_dictionary(u, &ddict)
            .and_then(|mut d| d.read_to_end(&mut out))
            .unwrap();
        out
    })
}

/// CPU time of this thread: speeds are per core busy, whatever else runs
/// on the machine.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to write.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

struct Scheme {
    name: &'static str,
    what: &'static str,
    /// The frames of a tab.
    units: fn(&Tab) -> Vec<Vec<u8>>,
    compress: Codec,
    decompress: Codec,
    /// Measured on the held-out tabs only (it uses the dictionary).
    dict: bool,
}

fn per_segment(t: &Tab) -> Vec<Vec<u8>> {
    t.segments().iter().map(|s| s.concat()).collect()
}

fn per_batch(t: &Tab) -> Vec<Vec<u8>> {
    t.batches.iter().map(|b| b.1.clone()).collect()
}

fn per_tab(t: &Tab) -> Vec<Vec<u8>> {
    vec![t.whole()]
}

/// Training samples: the events of `tabs`, cut into pieces of at most
/// [`SAMPLE_MAX`].
fn samples(tabs: &[&Tab]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for t in tabs {
        for (_, body, _) in &t.batches {
            for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                out.extend(line.chunks(SAMPLE_MAX).map(<[u8]>::to_vec));
            }
        }
    }
    out
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let tabs = fixtures(&args.paths)?;
    let every = args.train_every.max(2);
    let trains = |i: usize| i.is_multiple_of(every);
    let train: Vec<&Tab> = tabs
        .iter()
        .enumerate()
        .filter_map(|(i, t)| trains(i).then_some(t))
        .collect();
    let test_names: Vec<&str> = tabs
        .iter()
        .enumerate()
        .filter_map(|(i, t)| (!trains(i)).then_some(t.name.as_str()))
        .collect();

    let t = Instant::now();
    let dict = zstd::dict::from_samples(&samples(&train), args.dict_bytes)
        .context("training the dictionary")?;
    let train_time = t.elapsed();
    let schemes = vec![
        Scheme {
            name: "segment-z3",
            what: "(a) hot segments today: zstd 3, one frame per segment",
            units: per_segment,
            compress: Box::new(|u| z(HOT_LEVEL, u)),
            decompress: Box::new(|u| zstd::decode_all(u).unwrap()),
            dict: false,
        },
        Scheme {
            name: "batch-z3",
            what: "(b) zstd 3, one frame per batch",
            units: per_batch,
            compress: Box::new(|u| z(HOT_LEVEL, u)),
            decompress: Box::new(|u| zstd::decode_all(u).unwrap()),
            dict: false,
        },
        Scheme {
            name: "tab-z3",
            what: "(c) zstd 3, whole recording per tab",
            units: per_tab,
            compress: Box::new(|u| z(HOT_LEVEL, u)),
            decompress: Box::new(|u| zstd::decode_all(u).unwrap()),
            dict: false,
        },
        Scheme {
            name: "tab-z19-long",
            what: "(d) zstd 19, long window 2^27, per tab",
            units: per_tab,
            compress: Box::new(z_long),
            decompress: Box::new(unz_long),
            dict: false,
        },
        Scheme {
            name: "tab-gzip6",
            what: "(e) gzip 6, per tab",
            units: per_tab,
            compress: Box::new(gzip),
            decompress: Box::new(gunzip),
            dict: false,
        },
        Scheme {
            name: "tab-z19-dict",
            what: "(f) zstd 19 + site dictionary, per tab",
            units: per_tab,
            compress: dict_compressor(COLD_LEVEL, &dict),
            decompress: dict_decompressor(&dict),
            dict: true,
        },
        Scheme {
            name: "segment-z19-dict",
            what: "(f) zstd 19 + site dictionary, per segment",
            units: per_segment,
            compress: dict_compressor(COLD_LEVEL, &dict),
            decompress: dict_decompressor(&dict),
            dict: true,
        },
        Scheme {
            name: "batch-z3-dict",
            what: "zstd 3 + site dictionary, one frame per batch",
            units: per_batch,
            compress: dict_compressor(HOT_LEVEL, &dict),
            decompress: dict_decompressor(&dict),
            dict: true,
        },
    ];

    let raw: usize = tabs.iter().map(Tab::raw).sum();
    let pages: usize = tabs
        .iter()
        .map(|t| t.batches.iter().filter(|b| b.2).count())
        .sum();
    let segments: usize = tabs.iter().map(|t| t.segments().len()).sum();
    let batches: usize = tabs.iter().map(|t| t.batches.len()).sum();
    println!(
        "corpus: {} tabs, {pages} page loads, {batches} batches, {segments} segments (as the node cuts them), {:.1} MB raw; dictionary of {} bytes trained on {} tabs in {:.1} s, measured on {} held-out tabs ({})\n",
        tabs.len(),
        raw as f64 / 1e6,
        dict.len(),
        train.len(),
        train_time.as_secs_f64(),
        test_names.len(),
        test_names.join(", "),
    );
    let node: Option<u64> = tabs.iter().map(|t| t.node_stored).sum();
    if let Some(stored) = node {
        println!(
            "the node itself stored these tabs at {:.1}× (node_stored_bytes of the meta files)\n",
            raw as f64 / stored as f64
        );
    }
    println!("| scheme | what | frames | stored/raw, all tabs | stored/raw, held-out tabs | compress MB/s (CPU) | decompress MB/s (CPU) |");
    println!("|---|---|---|---|---|---|---|");
    for s in &schemes {
        if s.dict && test_names.is_empty() {
            continue;
        }
        let mut best: Option<(Measure, Measure)> = None;
        for _ in 0..args.reps.max(1) {
            let (mut all, mut held) = (Measure::default(), Measure::default());
            for (i, t) in tabs.iter().enumerate() {
                let trained = trains(i);
                if s.dict && trained {
                    continue;
                }
                let m = measure(&(s.units)(t), &*s.compress, &*s.decompress);
                all.add(m);
                if !trained {
                    held.add(m);
                }
            }
            if best.is_none_or(|(b, _)| all.compress < b.compress) {
                best = Some((all, held));
            }
        }
        // unwrap: reps >= 1.
        let (all, held) = best.unwrap();
        let ratio = |m: Measure| m.raw as f64 / m.stored as f64;
        let speed = |bytes: usize, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
        println!(
            "| `{}` | {} | {} | {} | {} | {:.1} | {:.0} |",
            s.name,
            s.what,
            all.frames,
            if s.dict {
                "—".to_string()
            } else {
                format!("{:.1}×", ratio(all))
            },
            if held.raw == 0 {
                "—".to_string()
            } else {
                format!("{:.1}×", ratio(held))
            },
            speed(all.raw, all.compress),
            speed(all.raw, all.decompress),
        );
    }
    Ok(())
}
