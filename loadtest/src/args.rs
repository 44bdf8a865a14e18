//! Command-line options: `reel-loadtest [OPTIONS]` runs trackers against a
//! node; `reel-loadtest sink` and `reel-loadtest hold` are the other modes.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Load tests of reel ingest: trackers (`reel-loadtest [OPTIONS]`), the
/// reference sink (`sink`), idle connections (`hold`).
#[derive(Parser, Debug)]
#[command(
    name = "reel-loadtest",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a subcommand: trackers sending batches (see `--help`).
    #[command(flatten)]
    pub run: Args,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the reference sink: the thinnest WebSocket server that speaks
    /// the ingest protocol (welcome, acks at once, pings), no storage.
    Sink(SinkArgs),
    /// Hold idle connections (hello, then pings only) and report the
    /// node's RSS per held session.
    Hold(HoldArgs),
}

/// `reel-loadtest sink`.
#[derive(Parser, Debug, Clone)]
pub struct SinkArgs {
    /// Address to listen on (ingest at `ws://ADDR/v1/ingest`).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// Worker threads (like the node's `REEL_WORKERS`).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// `reel-loadtest hold`.
#[derive(Parser, Debug, Clone)]
pub struct HoldArgs {
    /// Base WebSocket URL of the node; `/v1/ingest` is appended.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub server: String,

    /// Site key, as printed by `reel site create`.
    #[arg(long, env = "REEL_LOADTEST_SITE")]
    pub site: String,

    /// Connections to open and hold (one session each).
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,

    /// Seconds to hold every connection once all are open.
    #[arg(long, default_value_t = 30.0)]
    pub hold: f64,

    /// Connections opening at once.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,

    /// Loopback source addresses to spread the connections over (0: enough
    /// for `--conns-per-source` each).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,

    /// With `--source-ips 0`: connections per source address (under the
    /// node's `connections_per_ip`, 256 by default).
    #[arg(long, default_value_t = 200)]
    pub conns_per_source: usize,

    /// Seconds allowed for TCP connect, upgrade and `welcome`.
    #[arg(long, default_value_t = 30.0)]
    pub connect_timeout: f64,

    /// PID of the node on this machine: its RSS before and while holding.
    #[arg(long)]
    pub server_pid: Option<u32>,

    #[command(flatten)]
    pub output: Output,

    /// A name for this run, copied into the JSON summary.
    #[arg(long)]
    pub label: Option<String>,
}

/// Simulates concurrent reel trackers against a running node and measures
/// how long each batch takes to be acked (made durable).
#[derive(Parser, Debug, Clone)]
#[command(name = "reel-loadtest", version)]
pub struct Args {
    /// Base WebSocket URL of the node; `/v1/ingest` is appended.
    #[arg(long, default_value = "ws://127.0.0.1:8080")]
    pub server: String,

    /// Site key, as printed by `reel site create` (required; the sink
    /// takes any).
    #[arg(
        long,
        env = "REEL_LOADTEST_SITE",
        default_value = "",
        hide_default_value = true
    )]
    pub site: String,

    /// Concurrent trackers (one WebSocket, one session, one tab each).
    #[arg(long, default_value_t = 100)]
    pub clients: usize,

    /// Seconds of sending after the ramp, for every client.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,

    /// Seconds over which the clients connect, evenly spread.
    #[arg(long, default_value_t = 5.0)]
    pub ramp: f64,

    /// Batches per second per client (open loop, like a tracker's 1 s
    /// flush). 0: closed loop, as fast as acks allow with `--window`
    /// batches outstanding.
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Closed loop (`--rate 0`): batches a client keeps in flight.
    #[arg(long, default_value_t = 4)]
    pub window: usize,

    /// Open loop: a client stops sending while this many batches are
    /// unacked (a tracker's bounded retry buffer).
    #[arg(long, default_value_t = 256)]
    pub max_outstanding: usize,

    /// Size of the first batch's full snapshot, in KB (1,000 bytes).
    #[arg(long, default_value_t = 100)]
    pub snapshot_kb: usize,

    /// Smallest later batch (incremental snapshots), in KB.
    #[arg(long, default_value_t = 2)]
    pub batch_kb_min: usize,

    /// Largest later batch, in KB.
    #[arg(long, default_value_t = 20)]
    pub batch_kb_max: usize,

    /// Send gzip binary frames (as `CompressionStream('gzip')` does)
    /// instead of text frames.
    #[arg(long)]
    pub gzip: bool,

    /// `Origin` header to send (needed when the site lists origins).
    #[arg(long)]
    pub origin: Option<String>,

    /// Loopback source addresses to spread connections over (127.0.0.1,
    /// 127.0.0.2, ...), to stay under the node's per-IP connection limit.
    /// 0: enough for `--conns-per-source` each when the node is on
    /// 127.0.0.0/8, else the system's choice.
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,

    /// With `--source-ips 0`: connections per source address (the node's
    /// default `connections_per_ip` is 256).
    #[arg(long, default_value_t = 200)]
    pub conns_per_source: usize,

    /// Client-side cap on messages per second per session (the node allows
    /// 50/s sustained, 200 burst).
    #[arg(long, default_value_t = 45.0)]
    pub max_msgs_per_sec: f64,

    /// Client-side cap on wire KiB per second per session (the node allows
    /// 1 MiB/s sustained, 16 MiB burst).
    #[arg(long, default_value_t = 900)]
    pub max_kib_per_sec: u64,

    /// Seconds to wait, after `end`, for the acks owed and the end's own
    /// ack (which waits for the tab's segment to be committed).
    #[arg(long, default_value_t = 30.0)]
    pub drain_timeout: f64,

    /// A client refused with 503 (overload) connects again after the
    /// `Retry-After` (plus jitter) until the sending time is over; every
    /// refusal is counted in the summary.
    #[arg(long)]
    pub retry_refused: bool,

    /// Seconds allowed for TCP connect, upgrade and `welcome`.
    #[arg(long, default_value_t = 10.0)]
    pub connect_timeout: f64,

    /// Seed for the generated events (each client derives its own).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Scrape this Prometheus endpoint before and after the run and report
    /// spool fsync and group-size deltas. Default: derived from `--server`.
    #[arg(long)]
    pub metrics_url: Option<String>,

    /// Do not scrape the node's `/metrics`.
    #[arg(long)]
    pub no_metrics: bool,

    /// PID of the node on this machine: report its CPU seconds used during
    /// the run and its RSS at the end (from /proc).
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// A name for this run, copied into the JSON summary.
    #[arg(long)]
    pub label: Option<String>,

    /// Replay real recordings instead of generated events: a fixture file
    /// (`NAME.batches.ndjson.zst`) or a directory of them. Client `i`
    /// replays fixture `i mod n` at its recorded timing (`--speed`), again
    /// from the start when it ends; `--rate` and the `--*-kb` sizes do not
    /// apply.
    #[arg(long)]
    pub corpus: Option<PathBuf>,

    /// Corpus mode: replay this many times faster than recorded.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,

    /// After the run against the node, run the same workload against the
    /// reference sink (started in this process on threads of its own) and
    /// print both side by side with reel's share of the sink.
    #[arg(long)]
    pub compare_sink: bool,

    /// Worker threads of the sink of `--compare-sink`.
    #[arg(long, default_value_t = 2)]
    pub sink_threads: usize,

    /// After the run, read every session back through the node's API and
    /// fail on any acked batch missing or any event stored twice (needs
    /// `--token`).
    #[arg(long)]
    pub verify: bool,

    /// API token for `--verify` (`reel token create --name lt --role viewer`).
    #[arg(long, env = "REEL_LOADTEST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Sessions read back at once by `--verify`.
    #[arg(long, default_value_t = 8)]
    pub verify_concurrency: usize,

    #[command(flatten)]
    pub output: Output,
}

/// Where a run's results go, besides the text and the last-line JSON.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Output {
    /// Write the JSON report (the summary with every second) here.
    #[arg(long)]
    pub report: Option<PathBuf>,

    /// Write SVG charts here: a run's `throughput.svg` and `latency.svg`,
    /// and with `--server-pid` the node's `rss.svg`; a hold's
    /// `connections.svg` (connections open over time) and, with
    /// `--server-pid`, `rss.svg`.
    #[arg(long)]
    pub charts: Option<PathBuf>,

    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}
