//! The load tester (`loadtest/`) on a few-second run against a real
//! `reel serve` (embedded defaults, a fresh data dir): generated trackers
//! verified through the API and compared with the sink, a corpus replay
//! verified too, and a short hold of idle connections; the runs' and the
//! hold's JSON reports and charts as the library writes them for the
//! binary. (The binary itself, with `sink` as a process, is
//! `loadtest/tests/cli.rs`.)

#[path = "../support/mod.rs"]
mod support;

use std::time::Instant;

use clap::Parser;
use reel_loadtest::args::{Args, HoldArgs};
use serde_json::Value;
use support::{cli_site_and_token, Proc, TestStorage};

/// The report file at `path`: it parses, and it is `summary` (as its
/// JSON text reads back).
fn assert_report(path: &std::path::Path, summary: &Value) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    let written: Value = serde_json::from_str(&text).unwrap();
    let printed: Value = serde_json::from_str(&summary.to_string()).unwrap();
    assert_eq!(written, printed, "{text}");
    written
}

fn assert_verified(s: &Value, sessions: u64) {
    let v = &s["verify"];
    assert_eq!(v["ok"], true, "verify failed: {v:#}");
    assert_eq!(v["sessions"], sessions, "{v:#}");
    assert_eq!(v["missing_acked_batches"], 0, "{v:#}");
    assert_eq!(v["duplicate_batches"], 0, "{v:#}");
    assert_eq!(v["unexpected_events"], 0, "{v:#}");
    assert!(v["batches_acked"].as_u64().unwrap() > 0, "{v:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_run_is_verified_compared_with_the_sink_and_holds_connections() {
    support::init_logs();
    let began = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::embedded();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "loadtest");
    let key = site["site_key"].as_str().unwrap().to_string();
    let node = Proc::serve(dir.path(), &storage).start();
    let server = format!("ws://{}", node.addr);
    let pid = node.child.id().to_string();
    let charts = dir.path().join("charts");
    let report = dir.path().join("report.json");

    // Generated trackers, open loop, then the same against the sink.
    let args = Args::parse_from([
        "reel-loadtest",
        "--server",
        &server,
        "--site",
        &key,
        "--clients",
        "10",
        "--duration",
        "2.5",
        "--ramp",
        "0.5",
        "--rate",
        "4",
        "--snapshot-kb",
        "20",
        "--batch-kb-min",
        "1",
        "--batch-kb-max",
        "4",
        "--drain-timeout",
        "10",
        "--server-pid",
        &pid,
        "--verify",
        "--token",
        &token,
        "--compare-sink",
        "--no-progress",
        "--charts",
        charts.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let s = reel_loadtest::run(args).await.unwrap();
    assert_eq!(s["connected"], 10, "{s:#}");
    assert_eq!(s["clean_finishes"], 10, "{s:#}");
    assert_verified(&s, 10);
    assert!(s["sink"]["batches_acked"].as_u64().unwrap() > 0, "{s:#}");
    assert!(
        s["vs_sink"]["batches_acked"].as_f64().unwrap() > 0.5,
        "{s:#}"
    );
    assert!(!s["per_second"].as_array().unwrap().is_empty());
    for chart in ["throughput.svg", "latency.svg", "rss.svg"] {
        let svg = std::fs::read_to_string(charts.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
    let text = reel_loadtest::human(&s);
    assert!(
        text.contains("verify: OK") && text.contains("reel/sink"),
        "{text}"
    );

    // The report holds what the text prints, and what the run did.
    let r = assert_report(&report, &s);
    // Every line but the node's raw metrics, whose unrounded means
    // serde_json reads back to a neighbouring float.
    let figures = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("metric "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(figures(&reel_loadtest::human(&r)), figures(&text));
    assert_eq!(r["connected"], 10, "{r:#}");
    let acked = r["batches_acked"].as_u64().unwrap();
    assert_eq!(r["verify"]["batches_acked"], acked, "{r:#}");
    assert_eq!(
        r["batches_sent"],
        acked + r["unacked_at_end"].as_u64().unwrap()
    );
    let per_second: u64 = r["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["acks"].as_u64().unwrap())
        .sum();
    assert_eq!(per_second, acked, "{r:#}");
    assert_eq!(r["ack_latency_ms"]["count"], acked, "{r:#}");
    assert!(r["vs_sink"]["batches_per_s"].is_number(), "{r:#}");
    assert_eq!(r["charts"].as_array().unwrap().len(), 3, "{r:#}");

    // A corpus replayed at its timing (twice as fast), verified.
    let fixture = reel_loadtest::corpus::write_tiny(dir.path()).unwrap();
    let args = Args::parse_from([
        "reel-loadtest",
        "--server",
        &server,
        "--site",
        &key,
        "--clients",
        "4",
        "--duration",
        "2",
        "--ramp",
        "0.2",
        "--corpus",
        fixture.to_str().unwrap(),
        "--speed",
        "2",
        "--drain-timeout",
        "10",
        "--verify",
        "--token",
        &token,
        "--no-progress",
    ]);
    let s = reel_loadtest::run(args).await.unwrap();
    assert_eq!(s["clean_finishes"], 4, "{s:#}");
    assert_verified(&s, 4);
    assert_eq!(s["corpus"]["fixtures"][0], "tiny");

    // 50 idle connections over 5 source addresses, charted and reported.
    let charts = dir.path().join("hold-charts");
    let report = dir.path().join("hold.json");
    let hold = HoldArgs::parse_from([
        "hold",
        "--server",
        &server,
        "--site",
        &key,
        "--clients",
        "50",
        "--hold",
        "1",
        "--conns-per-source",
        "10",
        "--server-pid",
        &pid,
        "--no-progress",
        "--charts",
        charts.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let h = reel_loadtest::hold::run(hold).await.unwrap();
    assert_eq!(h["connected"], 50, "{h:#}");
    assert_eq!(h["held_at_end"], 50, "{h:#}");
    assert_eq!(h["source_ips"], 5, "{h:#}");
    assert!(h["server"]["rss_kib_per_session"].is_number(), "{h:#}");
    let r = assert_report(&report, &h);
    assert_eq!(r["mode"], "hold");
    assert_eq!(
        reel_loadtest::hold::human(&r),
        reel_loadtest::hold::human(&h)
    );
    // Sampled each second from the start: RSS and connections over time.
    let rows = r["per_second"].as_array().unwrap();
    assert!(rows.iter().all(|row| row["rss_mib"].is_number()), "{r:#}");
    assert!(rows
        .iter()
        .all(|row| row["connected"].as_u64().unwrap() <= 50));
    for chart in ["rss.svg", "connections.svg"] {
        let svg = std::fs::read_to_string(charts.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
    }
    assert_eq!(r["charts"].as_array().unwrap().len(), 2, "{r:#}");
    eprintln!("loadtest suite took {:?}", began.elapsed());
}
