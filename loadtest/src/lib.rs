//! `reel-loadtest`: simulates many trackers against a running reel node
//! and measures ingest throughput and ack latency (send -> `ack`, i.e.
//! until the batch is durable).
//!
//! # Layout
//! - [`args`]: command-line options (the run, `sink`, `hold`).
//! - [`client`]: one simulated tracker (connect, `hello`, batches, `end`).
//! - [`rrweb`]: realistic rrweb events written straight to JSON.
//! - [`corpus`]: real recordings (fixture files) to replay with their timing.
//! - [`stats`]: per-client reports, the shared per-second timeline, percentiles.
//! - [`node`]: what is read from the node under test (`/metrics`, `/proc`).
//! - [`sink`]: the reference server every run can be compared with.
//! - [`verify`]: reading every session back and comparing it with what was acked.
//! - [`hold`]: idle connections and the node's RSS per held session.
//! - [`progress`]: the progress bar while a run goes.
//! - [`charts`]: SVG charts of a summary's seconds.
//! - [`sys`]: the open-files limit and the generator's own CPU time.
//!
//! [`run`] ties them together and returns the summary as JSON, after
//! writing the report and charts asked for ([`write_outputs`], which the
//! `hold` mode uses too); [`human`] renders it as text. The binary
//! (`main.rs`) only prints.

pub mod args;
pub mod charts;
pub mod client;
pub mod corpus;
pub mod hold;
pub mod node;
pub mod progress;
pub mod rrweb;
pub mod sink;
pub mod stats;
pub mod sys;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::http::Uri;

use crate::args::{Args, Output};
use crate::client::Ctx;
use crate::stats::{latency_summary, merge_counts, ClientReport, Timeline};

/// Delay between setting up and the first client connecting.
const START_DELAY: Duration = Duration::from_millis(100);

/// Seconds of timeline kept past the end of sending and draining.
const TIMELINE_SLACK_SECS: f64 = 10.0;

/// When, before `end`, the node's RSS is sampled with every client connected.
const RSS_SAMPLE_BEFORE_END: Duration = Duration::from_millis(500);

/// Bytes in the MB of "MB/s" (decimal, like network throughput).
const MB: f64 = 1e6;

/// Runs the load test described by `args`, its progress bar on standard
/// error; returns the summary: the run against the node, with `verify`
/// (`--verify`), `sink` and `vs_sink` (`--compare-sink`) when asked for,
/// and `charts`. The charts (`--charts`) and the report (`--report`) are
/// written before it returns, also when `--verify` failed.
pub async fn run(args: Args) -> anyhow::Result<Value> {
    run_with(args, progress::Draw::default()).await
}

/// [`run`] with its progress bars drawn on `draw` (one bar per run: two
/// with `--compare-sink`).
pub async fn run_with(args: Args, draw: progress::Draw) -> anyhow::Result<Value> {
    validate(&args)?;
    let corpus = match &args.corpus {
        Some(path) => Some(Arc::new(corpus::load(path)?)),
        None => None,
    };
    if args.verify && args.token.is_none() {
        bail!("--verify needs --token (or REEL_LOADTEST_TOKEN): reel token create --name loadtest --role viewer");
    }
    let (mut summary, reports) = run_once(&args, corpus.clone(), "reel", &draw).await?;
    if args.verify {
        let token = args.token.as_deref().unwrap_or_default();
        let base = args.server.trim_end_matches('/');
        summary["verify"] = verify::verify(base, token, &reports, args.verify_concurrency).await?;
    }
    drop(reports);
    if args.compare_sink {
        let sink =
            sink::InProcessSink::start(SocketAddr::from(([127, 0, 0, 1], 0)), args.sink_threads)?;
        let mut sink_args = args.clone();
        sink_args.server = format!("ws://{}", sink.addr);
        sink_args.server_pid = None;
        sink_args.no_metrics = true;
        sink_args.verify = false;
        sink_args.label = Some("sink".into());
        let (sink_summary, _) = run_once(&sink_args, corpus, "sink", &draw).await?;
        drop(sink);
        summary["vs_sink"] = vs_sink(&summary, &sink_summary);
        summary["sink"] = sink_summary;
    }
    write_outputs(&args.output, &mut summary)?;
    Ok(summary)
}

/// Writes what `output` asks for of a run's or a hold's `summary`: the
/// charts into `--charts` (their paths go into `summary.charts`), then the
/// summary, pretty-printed, into `--report`.
pub fn write_outputs(output: &Output, summary: &mut Value) -> anyhow::Result<()> {
    if let Some(dir) = &output.charts {
        summary["charts"] = json!(charts::write(dir, summary)?);
    }
    if let Some(path) = &output.report {
        let pretty = serde_json::to_string_pretty(summary)?;
        std::fs::write(path, pretty + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// reel's figures as a share (throughput) or multiple (latency) of the
/// sink's in the same run.
fn vs_sink(node: &Value, sink: &Value) -> Value {
    let ratio = |p: &str| {
        let a = node.pointer(p).and_then(Value::as_f64)?;
        let b = sink.pointer(p).and_then(Value::as_f64)?;
        (b > 0.0).then(|| round(a / b, 3))
    };
    json!({
        "batches_per_s": ratio("/steady/batches_per_s"),
        "raw_mb_per_s": ratio("/steady/raw_mb_per_s"),
        "batches_acked": ratio("/batches_acked"),
        "ack_p50": ratio("/ack_latency_ms/p50"),
        "ack_p99": ratio("/ack_latency_ms/p99"),
        "ack_max": ratio("/ack_latency_ms/max"),
        "welcome_p99": ratio("/welcome_latency_ms/p99"),
    })
}

/// One run of the clients against `args.server`; the summary and what
/// each client saw.
async fn run_once(
    args: &Args,
    corpus: Option<Arc<Vec<corpus::Fixture>>>,
    title: &str,
    draw: &progress::Draw,
) -> anyhow::Result<(Value, Vec<ClientReport>)> {
    let args = args.clone();
    let nofile = sys::raise_nofile().context("raising RLIMIT_NOFILE")?;
    if (nofile as usize) < args.clients + 64 {
        eprintln!(
            "warning: open-files limit {nofile} is below --clients {} plus slack",
            args.clients
        );
    }
    let base_url = args.server.trim_end_matches('/').to_string();
    let addr = resolve(&base_url).await?;
    let sources = source_addresses(&args, addr);
    let metrics_url = match (&args.metrics_url, args.no_metrics) {
        (_, true) => None,
        (Some(u), false) => Some(u.clone()),
        (None, false) => Some(format!(
            "{}/metrics",
            base_url.replacen("ws://", "http://", 1)
        )),
    };

    let metrics_before = match &metrics_url {
        Some(u) => match node::scrape(u).await {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("warning: could not scrape {u}: {e:#}");
                None
            }
        },
        None => None,
    };
    let server_cpu_before = args.server_pid.and_then(|p| node::cpu_seconds(p).ok());
    let own_cpu_before = sys::own_cpu_seconds();

    let t0 = Instant::now() + START_DELAY;
    let send_end = t0 + Duration::from_secs_f64(args.ramp + args.duration);
    let timeline_secs =
        (args.ramp + args.duration + args.drain_timeout + TIMELINE_SLACK_SECS).ceil() as usize;
    let run_id = crate::run_id();
    let ctx = Arc::new(Ctx {
        args: args.clone(),
        addr,
        base_url,
        sources: sources.clone(),
        t0,
        send_end,
        timeline: Timeline::new(t0, timeline_secs),
        run_id,
        corpus: corpus.clone(),
    });
    let progress = progress::Progress::start(ctx.clone(), title, draw, args.server_pid);
    // The node's RSS just before `end`: every connection and session live.
    let rss_sampler = args.server_pid.map(|pid| {
        let at = send_end - RSS_SAMPLE_BEFORE_END;
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            node::status_mib(pid, "VmRSS").ok()
        })
    });
    let handles: Vec<_> = (0..args.clients)
        .map(|i| tokio::spawn(client::run(ctx.clone(), i)))
        .collect();
    let mut reports = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(r) => reports.push(r),
            Err(e) => reports.push(ClientReport {
                connect_error: Some(format!("client task failed: {e}")),
                ..Default::default()
            }),
        }
    }
    progress.finish().await;
    let wall = t0.elapsed().as_secs_f64();
    let own_cpu = sys::own_cpu_seconds() - own_cpu_before;

    let metrics_after = match (&metrics_url, &metrics_before) {
        (Some(u), Some(_)) => node::scrape(u)
            .await
            .map_err(|e| eprintln!("warning: could not scrape {u}: {e:#}"))
            .ok(),
        _ => None,
    };
    let rss_loaded = match rss_sampler {
        Some(h) => h.await.ok().flatten(),
        None => None,
    };
    let server = args.server_pid.map(|pid| {
        let cpu = node::cpu_seconds(pid)
            .ok()
            .zip(server_cpu_before)
            .map(|(a, b)| round(a - b, 2));
        json!({
            "pid": pid,
            "cpu_s": cpu,
            "rss_mib_before_end": rss_loaded.map(|v| round(v, 1)),
            "rss_mib": node::status_mib(pid, "VmRSS").ok().map(|v| round(v, 1)),
            "hwm_mib": node::status_mib(pid, "VmHWM").ok().map(|v| round(v, 1)),
        })
    });
    let metrics = match (&metrics_before, &metrics_after) {
        (Some(b), Some(a)) => Some(node::histogram_deltas(b, a)),
        _ => None,
    };

    let summary = summarize(
        &args,
        &ctx,
        &reports,
        sources.len(),
        wall,
        own_cpu,
        server,
        metrics,
    );
    Ok((summary, reports))
}

fn validate(args: &Args) -> anyhow::Result<()> {
    if args.site.is_empty() {
        bail!("--site (or REEL_LOADTEST_SITE) is required: the key `reel site create` prints");
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    if args.duration <= 0.0 || args.ramp < 0.0 || args.rate < 0.0 {
        bail!("--duration must be positive, --ramp and --rate not negative");
    }
    if args.batch_kb_min == 0 || args.batch_kb_max < args.batch_kb_min {
        bail!("need 1 <= --batch-kb-min <= --batch-kb-max");
    }
    if args.speed <= 0.0 {
        bail!("--speed must be positive");
    }
    if args.snapshot_kb * 1000 > 4 * 1024 * 1024 - 4096 {
        bail!("--snapshot-kb over the node's 4 MiB frame limit");
    }
    Ok(())
}

/// The node's socket address from `ws://host:port`.
pub(crate) async fn resolve(base_url: &str) -> anyhow::Result<SocketAddr> {
    let uri: Uri = base_url
        .parse()
        .with_context(|| format!("bad --server {base_url:?}"))?;
    if uri.scheme_str() != Some("ws") {
        bail!("--server must be a ws:// URL (TLS is not supported by the load generator)");
    }
    let host = uri.host().context("--server has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = tokio::net::lookup_host((host.as_str(), port)).await?.next();
    addr.with_context(|| format!("{host} does not resolve"))
}

/// Loopback source addresses to spread connections over (empty: let the
/// system choose).
fn source_addresses(args: &Args, server: SocketAddr) -> Vec<IpAddr> {
    spread_sources(args.source_ips, args.conns_per_source, args.clients, server)
}

/// `source_ips` loopback source addresses (0: enough for
/// `conns_per_source` each of `clients`), when the node is on 127.0.0.0/8.
pub(crate) fn spread_sources(
    source_ips: usize,
    conns_per_source: usize,
    clients: usize,
    server: SocketAddr,
) -> Vec<IpAddr> {
    let loopback_v4 = matches!(server.ip(), IpAddr::V4(ip) if ip.is_loopback());
    let n = if source_ips > 0 {
        source_ips
    } else if loopback_v4 {
        clients.div_ceil(conns_per_source.max(1))
    } else {
        1
    };
    if n <= 1 || !loopback_v4 {
        return Vec::new();
    }
    // 127.0.0.1, 127.0.0.2, ... then 127.0.1.1, ...
    (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, (i / 254) as u8, (i % 254) as u8 + 1)))
        .collect()
}

pub(crate) fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    args: &Args,
    ctx: &Ctx,
    reports: &[ClientReport],
    source_ips: usize,
    wall: f64,
    own_cpu: f64,
    server: Option<Value>,
    metrics: Option<Value>,
) -> Value {
    let mut latencies = Vec::new();
    let mut welcome = Vec::new();
    let mut end_acks = Vec::new();
    let mut connect_errors = BTreeMap::new();
    let mut closes = BTreeMap::new();
    let mut errors = BTreeMap::new();
    let mut samples: BTreeMap<String, String> = BTreeMap::new();
    let mut transport = BTreeMap::new();
    let (mut sent, mut acked, mut raw_sent, mut raw_acked, mut wire_sent, mut unacked) =
        (0, 0, 0, 0, 0, 0);
    let (mut goaways, mut snapshots, mut clean, mut connected) = (0, 0, 0, 0);
    let mut refusals = 0;
    let mut throttled = Duration::ZERO;
    for r in reports {
        latencies.extend_from_slice(&r.ack_latencies_us);
        welcome.extend(r.welcome_us);
        end_acks.extend(r.end_ack_us);
        if let Some(e) = &r.connect_error {
            *connect_errors.entry(e.clone()).or_insert(0u64) += 1;
        }
        merge_counts(&mut closes, &r.server_closes);
        merge_counts(&mut errors, &r.server_errors);
        merge_counts(&mut transport, &r.transport_errors);
        for (k, v) in &r.error_samples {
            samples.entry(k.clone()).or_insert_with(|| v.clone());
        }
        sent += r.batches_sent;
        acked += r.batches_acked;
        raw_sent += r.raw_bytes_sent;
        raw_acked += r.raw_bytes_acked;
        wire_sent += r.wire_bytes_sent;
        unacked += r.unacked_at_end;
        goaways += r.goaways;
        refusals += r.refusals;
        snapshots += r.snapshot_requests;
        clean += r.clean_finish as u64;
        connected += r.connected as u64;
        throttled += r.throttled;
    }
    // Steady state: whole seconds after every client connected, until `end`.
    let first = args.ramp.ceil() as usize + 1;
    let last = (args.ramp + args.duration).floor() as usize;
    // Up to the last second anything was acked (drains end early).
    let horizon = last.max(first) + (args.drain_timeout.ceil() as usize) + 2;
    let seconds = ctx.timeline.seconds(horizon);
    let used = seconds
        .iter()
        .rposition(|s| s.acks > 0 || s.rss_kib.is_some())
        .map_or(0, |i| i + 1)
        .max(last + 1)
        .min(seconds.len());
    let seconds = &seconds[..used];
    let timeline = ctx.timeline.snapshot(horizon);
    let steady: Vec<_> = timeline
        .iter()
        .skip(first)
        .take(last.saturating_sub(first))
        .collect();
    let steady_secs = steady.len().max(1) as f64;
    let steady_acks: u64 = steady.iter().map(|s| s.0).sum();
    let steady_bytes: u64 = steady.iter().map(|s| s.1).sum();
    let steady_worst_ms = steady.iter().map(|s| s.2).max().unwrap_or(0) as f64 / 1000.0;
    let corpus = ctx.corpus.as_ref().map(|c| {
        json!({
            "fixtures": c.iter().map(|f| &f.name).collect::<Vec<_>>(),
            "speed": args.speed,
        })
    });
    let timeline: Vec<Value> = timeline
        .iter()
        .map(|(a, b, m)| json!([a, round(*b as f64 / MB, 2), round(*m as f64 / 1000.0, 1)]))
        .collect();
    let per_second: Vec<Value> = seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({
                "s": i,
                "acks": s.acks,
                "raw_mb": round(s.raw_bytes as f64 / MB, 3),
                "p50_ms": s.p50_us.map(|v| round(v as f64 / 1000.0, 2)),
                "p99_ms": s.p99_us.map(|v| round(v as f64 / 1000.0, 2)),
                "max_ms": round(s.max_us as f64 / 1000.0, 2),
                "rss_mib": s.rss_kib.map(|v| round(v as f64 / 1024.0, 1)),
            })
        })
        .collect();
    json!({
        "label": args.label,
        "clients": args.clients,
        "mode": if args.rate > 0.0 { "open" } else { "closed" },
        "rate_per_client": args.rate,
        "window": if args.rate > 0.0 { Value::Null } else { json!(args.window) },
        "gzip": args.gzip,
        "duration_s": args.duration,
        "ramp_s": args.ramp,
        "snapshot_kb": args.snapshot_kb,
        "batch_kb": [args.batch_kb_min, args.batch_kb_max],
        "source_ips": source_ips.max(1),
        "connected": connected,
        "connect_failed": reports.len() as u64 - connected,
        "connect_errors": connect_errors,
        "refusals_503": refusals,
        "offered_batches_per_s": if args.rate > 0.0 { json!(args.rate * args.clients as f64) } else { Value::Null },
        "clean_finishes": clean,
        "batches_sent": sent,
        "batches_acked": acked,
        "unacked_at_end": unacked,
        "raw_mb_sent": round(raw_sent as f64 / MB, 2),
        "raw_mb_acked": round(raw_acked as f64 / MB, 2),
        "wire_mb_sent": round(wire_sent as f64 / MB, 2),
        "steady": {
            "from_s": first,
            "to_s": last,
            "batches_per_s": round(steady_acks as f64 / steady_secs, 1),
            "raw_mb_per_s": round(steady_bytes as f64 / MB / steady_secs, 2),
            "worst_ack_ms": steady_worst_ms,
        },
        "ack_latency_ms": latency_summary(&mut latencies),
        "welcome_latency_ms": latency_summary(&mut welcome),
        "end_ack_latency_ms": latency_summary(&mut end_acks),
        "server_closes": closes,
        "server_errors": errors,
        "error_samples": samples,
        "transport_errors": transport,
        "goaways": goaways,
        "snapshot_requests": snapshots,
        "throttled_s": round(throttled.as_secs_f64(), 2),
        "wall_s": round(wall, 2),
        "loadtest_cpu_s": round(own_cpu, 2),
        "server": server,
        "server_metrics": metrics,
        "corpus": corpus,
        "per_second": per_second,
        "timeline": timeline,
    })
}

/// The summary as text for a person.
pub fn human(s: &Value) -> String {
    let mut out = String::new();
    let g = |p: &str| s.pointer(p).cloned().unwrap_or(Value::Null);
    let _ = writeln!(
        out,
        "reel-loadtest {}: {} clients, {} loop, rate {}/s, window {}, {} s (+{} s ramp), gzip {}",
        g("/label").as_str().unwrap_or("-"),
        g("/clients"),
        g("/mode").as_str().unwrap_or("?"),
        g("/rate_per_client"),
        g("/window"),
        g("/duration_s"),
        g("/ramp_s"),
        g("/gzip"),
    );
    if let Some(c) = s.get("corpus").filter(|c| !c.is_null()) {
        let _ = writeln!(
            out,
            "  corpus: {} at {}x their recorded timing (not --rate)",
            c["fixtures"], c["speed"]
        );
    }
    let _ = writeln!(
        out,
        "  connections: {} ok, {} failed {}, {} refusals (503), {} clean finishes",
        g("/connected"),
        g("/connect_failed"),
        g("/connect_errors"),
        g("/refusals_503"),
        g("/clean_finishes")
    );
    let _ = writeln!(
        out,
        "  batches: {} sent, {} acked, {} unacked at end; {} MB raw JSON acked",
        g("/batches_sent"),
        g("/batches_acked"),
        g("/unacked_at_end"),
        g("/raw_mb_acked")
    );
    let _ = writeln!(
        out,
        "  steady (s {}..{}): {} batches/s acked, {} MB/s raw JSON, worst ack {} ms",
        g("/steady/from_s"),
        g("/steady/to_s"),
        g("/steady/batches_per_s"),
        g("/steady/raw_mb_per_s"),
        g("/steady/worst_ack_ms")
    );
    let _ = writeln!(
        out,
        "  ack latency ms: p50 {} p90 {} p99 {} p99.9 {} max {} (n={})",
        g("/ack_latency_ms/p50"),
        g("/ack_latency_ms/p90"),
        g("/ack_latency_ms/p99"),
        g("/ack_latency_ms/p999"),
        g("/ack_latency_ms/max"),
        g("/ack_latency_ms/count")
    );
    let _ = writeln!(
        out,
        "  connect->welcome ms: p50 {} p99 {} max {}",
        g("/welcome_latency_ms/p50"),
        g("/welcome_latency_ms/p99"),
        g("/welcome_latency_ms/max")
    );
    let _ = writeln!(
        out,
        "  end->ack ms (segment committed): p50 {} p99 {} max {} (n={})",
        g("/end_ack_latency_ms/p50"),
        g("/end_ack_latency_ms/p99"),
        g("/end_ack_latency_ms/max"),
        g("/end_ack_latency_ms/count")
    );
    let _ = writeln!(
        out,
        "  server closes {}  errors {}  transport {}  goaways {}",
        g("/server_closes"),
        g("/server_errors"),
        g("/transport_errors"),
        g("/goaways")
    );
    let _ = writeln!(
        out,
        "  client throttled {} s total; load generator CPU {} s over {} s",
        g("/throttled_s"),
        g("/loadtest_cpu_s"),
        g("/wall_s")
    );
    if !g("/server").is_null() {
        let _ = writeln!(
            out,
            "  server: CPU {} s, RSS {} MiB before end, {} MiB after (peak {} MiB)",
            g("/server/cpu_s"),
            g("/server/rss_mib_before_end"),
            g("/server/rss_mib"),
            g("/server/hwm_mib")
        );
    }
    if let Some(m) = s.get("server_metrics").and_then(|m| m.as_object()) {
        for (k, v) in m {
            let _ = writeln!(out, "  metric {k}: {v}");
        }
    }
    if let Some(rows) = s.get("per_second").and_then(|t| t.as_array()) {
        let _ = writeln!(
            out,
            "  per second:   acks      MB  p50 ms  p99 ms  max ms  node RSS MiB"
        );
        for row in rows {
            if row["acks"].as_u64().unwrap_or(0) > 0 || !row["rss_mib"].is_null() {
                let f = |k: &str| match &row[k] {
                    Value::Null => "-".to_string(),
                    v => v.to_string(),
                };
                let _ = writeln!(
                    out,
                    "    {:>4}s {:>9} {:>7} {:>7} {:>7} {:>7} {:>13}",
                    row["s"],
                    f("acks"),
                    f("raw_mb"),
                    f("p50_ms"),
                    f("p99_ms"),
                    f("max_ms"),
                    f("rss_mib")
                );
            }
        }
    }
    if let Some(v) = s.get("verify").filter(|v| !v.is_null()) {
        let _ = writeln!(
            out,
            "verify: {} - {} sessions read back in {} s: {} acked batches missing, {} duplicated, {} unexpected events, {} failed reads ({} unacked batches stored anyway)",
            if v["ok"] == true { "OK" } else { "FAILED" },
            v["sessions"],
            v["seconds"],
            v["missing_acked_batches"],
            v["duplicate_batches"],
            v["unexpected_events"],
            v["failed_reads"],
            v["unacked_batches_stored"],
        );
        for e in v["examples"].as_array().into_iter().flatten() {
            let _ = writeln!(out, "  {}", e.as_str().unwrap_or_default());
        }
    }
    if let Some(sink) = s.get("sink").filter(|v| !v.is_null()) {
        out.push_str(&compare_table(s, sink));
    }
    out
}

/// reel and the sink side by side.
fn compare_table(node: &Value, sink: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nreel vs the sink (same workload, same machine, this run):"
    );
    let _ = writeln!(
        out,
        "  {:<28} {:>12} {:>12} {:>11}",
        "", "reel", "sink", "reel/sink"
    );
    let rows = [
        ("acked batches/s (steady)", "/steady/batches_per_s"),
        ("raw MB/s acked (steady)", "/steady/raw_mb_per_s"),
        ("batches acked", "/batches_acked"),
        ("ack p50 ms", "/ack_latency_ms/p50"),
        ("ack p90 ms", "/ack_latency_ms/p90"),
        ("ack p99 ms", "/ack_latency_ms/p99"),
        ("ack max ms", "/ack_latency_ms/max"),
        ("connect->welcome p99 ms", "/welcome_latency_ms/p99"),
        ("connections ok", "/connected"),
    ];
    for (name, p) in rows {
        let a = node.pointer(p).and_then(Value::as_f64);
        let b = sink.pointer(p).and_then(Value::as_f64);
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v}"));
        let ratio = match (a, b) {
            (Some(a), Some(b))
                if b > 0.0 && (p.starts_with("/ack") || p.starts_with("/welcome")) =>
            {
                format!("{:.2}x", a / b)
            }
            (Some(a), Some(b)) if b > 0.0 => format!("{:.1} %", 100.0 * a / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {:<28} {:>12} {:>12} {:>11}",
            name,
            cell(a),
            cell(b),
            ratio
        );
    }
    out
}

/// This run's id (hex of the clock's milliseconds), in the visitor ids it
/// makes, so that runs against one node do not share visitors.
pub(crate) fn run_id() -> String {
    format!(
        "{:x}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
            % 0xFFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec!["reel-loadtest", "--site", "k"];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    #[test]
    fn spreads_loopback_clients_over_source_addresses() {
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(source_addresses(&args(&["--clients", "100"]), server).is_empty());
        let s = source_addresses(&args(&["--clients", "1000"]), server);
        assert_eq!(s.len(), 5);
        assert_eq!(s[4], "127.0.0.5".parse::<IpAddr>().unwrap());
        let s = source_addresses(&args(&["--source-ips", "300"]), server);
        assert_eq!(s[254], "127.0.1.1".parse::<IpAddr>().unwrap());
        let remote: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert!(source_addresses(&args(&["--clients", "1000"]), remote).is_empty());
    }

    #[test]
    fn rejects_a_snapshot_over_the_frame_limit() {
        assert!(validate(&args(&["--snapshot-kb", "5000"])).is_err());
        assert!(validate(&args(&[])).is_ok());
    }
}
