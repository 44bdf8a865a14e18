//! Live latency across nodes: trackers record on node A, watchers on node
//! C follow some of their sessions, a presence follower on node B counts
//! joins. Prints the event -> watcher latency (a tracker's send to the
//! watcher's receipt, same machine clock) and the presence join delay
//! (welcome on A -> presence_join on B) as one JSON line.
//!
//! `loadtest/scripts/live-bench.sh` starts Redis and three nodes and runs it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

#[derive(Parser)]
struct Args {
    /// Node A (ingest), host:port.
    #[arg(long)]
    ingest: SocketAddr,
    /// Node B (presence follower), host:port.
    #[arg(long)]
    presence: SocketAddr,
    /// Node C (watchers), host:port.
    #[arg(long)]
    watch: SocketAddr,
    #[arg(long)]
    site: String,
    #[arg(long)]
    site_id: i64,
    #[arg(long)]
    token: String,
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Seconds of recording once every watcher is on.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Connections per loopback source address.
    #[arg(long, default_value_t = 200)]
    per_ip: usize,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

type Ws = tokio_tungstenite::WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(
    addr: SocketAddr,
    path: &str,
    from: Option<IpAddr>,
    token: Option<&str>,
) -> anyhow::Result<Ws> {
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse()?);
    }
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(stream)).await?;
    Ok(ws)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let welcomes: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let joins: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();

    // B: the presence follower.
    let mut follower = connect(args.presence, "/v1/live", None, Some(&args.token)).await?;
    follower
        .send(Message::Text(
            json!({"t": "presence", "site": args.site_id}).to_string(),
        ))
        .await?;
    let j = joins.clone();
    tokio::spawn(async move {
        while let Some(Ok(m)) = follower.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                if v["t"] == "presence_join" {
                    if let Some(s) = v["session"]["session"].as_str() {
                        j.lock()
                            .unwrap()
                            .entry(s.to_owned())
                            .or_insert_with(Instant::now);
                    }
                }
            }
        }
    });

    // A: the trackers, one batch a second.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sessions = Vec::new();
    let started = Instant::now();
    for i in 0..args.clients {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i / args.per_ip) as u8));
        let url = format!("/v1/ingest?site={}&visitor=v{i}", args.site);
        let mut ws = connect(args.ingest, &url, Some(ip), None).await?;
        let hello = json!({"t":"hello","v":1,"visitor":format!("v{i}"),"session":null,"tab":"t","acked":null,
            "page":{"url":"https://shop.example/","referrer":"","title":"Shop"},"screen":{"w":1280,"h":720},"lang":"en","tz":"UTC"});
        ws.send(Message::Text(hello.to_string())).await?;
        let session = loop {
            if let Some(Ok(Message::Text(t))) = ws.next().await {
                let v: Value = serde_json::from_str(&t)?;
                if v["t"] == "welcome" {
                    break v["session"].as_str().unwrap_or_default().to_owned();
                }
            }
        };
        welcomes
            .lock()
            .unwrap()
            .insert(session.clone(), Instant::now());
        sessions.push(session);
        let stop = stop.clone();
        tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
            let ms = (now_us() / 1000) as i64;
            let first = format!(
                r#"{{"t":"events","seq":0,"events":[{{"type":4,"timestamp":{ms},"data":{{"href":"https://shop.example/","width":1280,"height":720}}}},{{"type":2,"timestamp":{ms},"data":{{"node":{{"type":0,"childNodes":[],"id":1}},"initialOffset":{{"left":0,"top":0}}}}}}]}}"#
            );
            if tx.send(Message::Text(first)).await.is_err() {
                return;
            }
            let mut every = tokio::time::interval(Duration::from_secs(1));
            every.tick().await;
            let mut seq = 1u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                every.tick().await;
                let t = now_us();
                let batch = format!(
                    r#"{{"t":"events","seq":{seq},"events":[{{"type":3,"timestamp":{},"data":{{"source":2,"type":2,"id":{seq},"x":1,"y":1}},"t_us":{t}}}]}}"#,
                    t / 1000
                );
                if tx.send(Message::Text(batch)).await.is_err() {
                    return;
                }
                seq += 1;
            }
        });
    }
    let connect_s = started.elapsed().as_secs_f64();

    // C: the watchers.
    let watch_from = now_us();
    for s in sessions.iter().take(args.watchers) {
        let mut ws = connect(args.watch, "/v1/live", None, Some(&args.token)).await?;
        ws.send(Message::Text(
            json!({"t": "watch", "session": s}).to_string(),
        ))
        .await?;
        let lat = latencies.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                let Message::Text(t) = m else { continue };
                let got = now_us();
                let v: Value = serde_json::from_str(&t).unwrap_or_default();
                for e in v["events"].as_array().into_iter().flatten() {
                    if let Some(sent) = e["t_us"].as_u64() {
                        if sent > watch_from {
                            lat.lock()
                                .unwrap()
                                .push((got.saturating_sub(sent)) as f64 / 1000.0);
                        }
                    }
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let mut lat = latencies.lock().unwrap().clone();
    let (welcomes, joins) = (
        welcomes.lock().unwrap().clone(),
        joins.lock().unwrap().clone(),
    );
    let mut delays: Vec<f64> = welcomes
        .iter()
        .filter_map(|(s, w)| {
            joins
                .get(s)
                .map(|j| j.saturating_duration_since(*w).as_secs_f64() * 1e3)
        })
        .collect();
    let summary = json!({
        "clients": args.clients, "watchers": args.watchers, "duration_s": args.duration,
        "connect_s": connect_s,
        "watched_events": lat.len(),
        "event_to_watcher_ms": {"p50": pct(&mut lat, 0.5), "p99": pct(&mut lat, 0.99), "max": pct(&mut lat, 1.0)},
        "presence_joins_seen": delays.len(),
        "presence_join_delay_ms": {"p50": pct(&mut delays, 0.5), "p99": pct(&mut delays, 0.99), "max": pct(&mut delays, 1.0)},
    });
    println!("{summary}");
    Ok(())
}
