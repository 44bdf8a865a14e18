//! `reel-loadtest hold`: N idle connections (`hello`, then only the
//! node's pings and their pongs), spread over loopback source addresses,
//! held for a while; reports the node's RSS per held session (its RSS
//! while holding minus its RSS before, over the connections held).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::args::HoldArgs;
use crate::stats::latency_summary;

/// How often the node's RSS and the connections held are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// How long the held connections are given to close at the end.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Seconds since the start, connections open, the node's RSS in MiB.
type Sample = (f64, u64, Option<f64>);

/// What the held connections count together.
#[derive(Default)]
struct Held {
    open: AtomicU64,
    pings: AtomicU64,
    server_closes: Mutex<BTreeMap<String, u64>>,
}

/// Runs the hold; returns the summary, after writing the charts
/// (`--charts`: `rss.svg` with `--server-pid`, `connections.svg`) and the
/// report (`--report`) asked for.
pub async fn run(args: HoldArgs) -> anyhow::Result<Value> {
    if args.clients == 0 || args.hold < 0.0 {
        anyhow::bail!("--clients must be at least 1, --hold not negative");
    }
    let nofile = crate::sys::raise_nofile().context("raising RLIMIT_NOFILE")?;
    if (nofile as usize) < args.clients + 64 {
        eprintln!(
            "warning: open-files limit {nofile} is below --clients {} plus slack",
            args.clients
        );
    }
    let base_url = args.server.trim_end_matches('/').to_string();
    let addr = crate::resolve(&base_url).await?;
    let sources = crate::spread_sources(args.source_ips, args.conns_per_source, args.clients, addr);
    let run_id = crate::run_id();
    let rss = |pid: Option<u32>| pid.and_then(|p| crate::node::status_mib(p, "VmRSS").ok());
    let rss_before = rss(args.server_pid);
    let started = Instant::now();
    let held = Arc::new(Held::default());
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let (stop_tx, stop_rx) = watch::channel(false);

    let bar = if args.output.no_progress {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(args.clients as u64), ProgressDrawTarget::stderr())
    };
    // unwrap: the template is a constant that parses.
    bar.set_style(
        ProgressStyle::with_template("hold [{bar:24}] {pos}/{len} {elapsed:>4} {msg}")
            .unwrap()
            .progress_chars("=> "),
    );
    let sampler = {
        let (held, samples, bar) = (held.clone(), samples.clone(), bar.clone());
        let pid = args.server_pid;
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => break,
                }
                let open = held.open.load(Ordering::Relaxed);
                let mib = rss(pid);
                samples.lock().unwrap_or_else(|e| e.into_inner()).push((
                    started.elapsed().as_secs_f64(),
                    open,
                    mib,
                ));
                bar.set_position(open);
                bar.set_message(match mib {
                    Some(m) => format!("held, node RSS {m:.1} MiB"),
                    None => "held".into(),
                });
            }
        })
    };

    let config = WebSocketConfig {
        write_buffer_size: 0,
        max_message_size: Some(1 << 20),
        max_frame_size: Some(1 << 20),
        ..Default::default()
    };
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let opened: Vec<Result<(Duration, tokio::task::JoinHandle<()>), String>> =
        futures_util::stream::iter((0..args.clients).map(|i| {
            let (base_url, site, held) = (&base_url, &args.site, held.clone());
            let source = sources.get(i % sources.len().max(1)).copied();
            let visitor = format!("hold{run_id}-{i}");
            let mut stop = stop_rx.clone();
            async move {
                let began = Instant::now();
                let open = crate::client::open_with(
                    addr, base_url, site, None, source, &visitor, "t", Some(config),
                );
                let (mut ws, _, _) = match tokio::time::timeout(connect_timeout, open).await {
                    Ok(Ok(x)) => x,
                    Ok(Err(e)) => return Err(e.message),
                    Err(_) => return Err("timeout before welcome".into()),
                };
                let welcome = began.elapsed();
                held.open.fetch_add(1, Ordering::Relaxed);
                let task = tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            m = ws.next() => match m {
                                Some(Ok(Message::Ping(_))) => {
                                    held.pings.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(Ok(Message::Close(f))) => {
                                    let key = f.map_or("1005".to_string(), |f| format!("{} {}", u16::from(f.code), f.reason));
                                    *held.server_closes.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
                                    break;
                                }
                                Some(Ok(_)) => {}
                                Some(Err(e)) => {
                                    *held.server_closes.lock().unwrap_or_else(|e| e.into_inner()).entry(format!("transport: {e}")).or_default() += 1;
                                    break;
                                }
                                None => break,
                            },
                            _ = stop.changed() => {
                                let _ = ws.close(None).await;
                                break;
                            }
                        }
                    }
                    held.open.fetch_sub(1, Ordering::Relaxed);
                });
                Ok((welcome, task))
            }
        }))
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let open_s = started.elapsed().as_secs_f64();
    let mut welcome_us = Vec::new();
    let mut tasks = Vec::new();
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    for o in opened {
        match o {
            Ok((w, t)) => {
                welcome_us.push(w.as_micros() as u64);
                tasks.push(t);
            }
            Err(e) => *connect_errors.entry(e).or_default() += 1,
        }
    }
    let connected = tasks.len() as u64;
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let held_at_end = held.open.load(Ordering::Relaxed);
    let rss_held = rss(args.server_pid);
    let hwm = args
        .server_pid
        .and_then(|p| crate::node::status_mib(p, "VmHWM").ok());
    let _ = stop_tx.send(true);
    let _ = sampler.await;
    bar.finish_and_clear();
    let closing = Instant::now();
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, futures_util::future::join_all(tasks)).await;
    let close_s = closing.elapsed().as_secs_f64();

    let per_session_kib = match (rss_before, rss_held) {
        (Some(b), Some(h)) if held_at_end > 0 => {
            Some(crate::round((h - b) * 1024.0 / held_at_end as f64, 2))
        }
        _ => None,
    };
    let samples = samples.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let closes = held
        .server_closes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut summary = json!({
        "mode": "hold",
        "label": args.label,
        "clients": args.clients,
        "source_ips": sources.len().max(1),
        "connected": connected,
        "connect_failed": args.clients as u64 - connected,
        "connect_errors": connect_errors,
        "held_at_end": held_at_end,
        "hold_s": args.hold,
        "open_s": crate::round(open_s, 2),
        "close_s": crate::round(close_s, 2),
        "welcome_latency_ms": latency_summary(&mut welcome_us),
        "pings_received": held.pings.load(Ordering::Relaxed),
        "server_closes": closes,
        "server": args.server_pid.map(|pid| json!({
            "pid": pid,
            "rss_mib_before": rss_before.map(|v| crate::round(v, 1)),
            "rss_mib_held": rss_held.map(|v| crate::round(v, 1)),
            "hwm_mib": hwm.map(|v| crate::round(v, 1)),
            "rss_kib_per_session": per_session_kib,
        })),
        "per_second": samples.iter().map(|(t, open, mib)| json!({
            "s": crate::round(*t, 1),
            "connected": open,
            "rss_mib": mib.map(|v| crate::round(v, 1)),
        })).collect::<Vec<_>>(),
    });
    crate::write_outputs(&args.output, &mut summary)?;
    Ok(summary)
}

/// The hold summary as text for a person.
pub fn human(s: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "reel-loadtest hold {}: {} connections over {} source addresses, held {} s",
        s["label"].as_str().unwrap_or("-"),
        s["clients"],
        s["source_ips"],
        s["hold_s"]
    );
    let _ = writeln!(
        out,
        "  opened {} in {} s ({} failed {}), {} still open at the end, closed in {} s",
        s["connected"],
        s["open_s"],
        s["connect_failed"],
        s["connect_errors"],
        s["held_at_end"],
        s["close_s"]
    );
    let _ = writeln!(
        out,
        "  connect->welcome ms: p50 {} p99 {} max {}; {} pings received; server closes {}",
        s["welcome_latency_ms"]["p50"],
        s["welcome_latency_ms"]["p99"],
        s["welcome_latency_ms"]["max"],
        s["pings_received"],
        s["server_closes"]
    );
    if !s["server"].is_null() {
        let v = &s["server"];
        let _ = writeln!(
            out,
            "  node RSS: {} MiB before, {} MiB held (peak {} MiB): {} KiB per held session",
            v["rss_mib_before"], v["rss_mib_held"], v["hwm_mib"], v["rss_kib_per_session"]
        );
    }
    out
}
