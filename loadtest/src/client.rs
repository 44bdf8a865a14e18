//! One simulated tracker: connect, `hello`, wait for `welcome`, send
//! `events` batches open loop (a fixed rate) or closed loop (a window of
//! unacked batches), then `end`, wait for the acks owed, and close.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;
use futures_util::{SinkExt, StreamExt};
use reel_protocol::ServerMessage;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::sleep_until;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::args::Args;
use crate::corpus::Fixture;
use crate::rrweb::{EventGen, PAGE_URL, SCREEN_H, SCREEN_W};
use crate::stats::{ClientReport, Timeline};
use crate::verify::BatchPrint;

/// How long a client waits for the server's close after sending its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Message burst the client allows itself: under the node's 200.
const CLIENT_MSG_BURST: f64 = 150.0;

/// Byte burst the client allows itself: under the node's 16 MiB.
const CLIENT_BYTE_BURST: f64 = 12.0 * 1024.0 * 1024.0;

/// What every client shares.
pub struct Ctx {
    pub args: Args,
    /// The node's address, resolved once.
    pub addr: SocketAddr,
    /// `--server` without a trailing slash.
    pub base_url: String,
    /// Source addresses to bind, round robin; empty: the system chooses.
    pub sources: Vec<IpAddr>,
    /// Start of the run; client `i` connects at `t0 + ramp * i / clients`.
    pub t0: Instant,
    /// Every client sends `end` at this instant.
    pub send_end: Instant,
    pub timeline: Timeline,
    /// Distinguishes this run's visitor ids from earlier runs'.
    pub run_id: String,
    /// Corpus mode: the recordings the clients replay, round robin.
    pub corpus: Option<Arc<Vec<Fixture>>>,
}

/// Where a client's batches come from.
enum Source<'a> {
    Generated(EventGen),
    /// Fixture batches at their recorded offsets (divided by `speed`),
    /// from `start`; after the last, again from the first.
    Corpus {
        fixture: &'a Fixture,
        speed: f64,
        start: Instant,
        /// Index of the next batch.
        next: usize,
        /// Recorded milliseconds of the loops already replayed.
        base_ms: u64,
    },
}

/// Pause between the end of a fixture and its next loop, in recorded ms.
const CORPUS_LOOP_GAP_MS: u64 = 1000;

impl Source<'_> {
    /// When the next corpus batch is due (`None`: generated, any time).
    fn due(&self) -> Option<Instant> {
        match self {
            Source::Generated(_) => None,
            Source::Corpus {
                fixture,
                speed,
                start,
                next,
                base_ms,
            } => {
                let ms = base_ms + fixture.batches[*next].at_ms;
                Some(*start + Duration::from_secs_f64(ms as f64 / 1000.0 / speed))
            }
        }
    }

    /// The next batch's events (a JSON array).
    fn next_events(&mut self, args: &Args, full: bool) -> String {
        match self {
            Source::Generated(gen) => {
                let now = now_ms();
                if full {
                    gen.first_batch(now, args.snapshot_kb * 1000)
                } else {
                    let lo = (args.batch_kb_min * 1000) as u64;
                    let hi = (args.batch_kb_max.max(args.batch_kb_min) * 1000) as u64;
                    let target = gen.rng().range(lo, hi) as usize;
                    gen.incremental_batch(now, target)
                }
            }
            Source::Corpus {
                fixture,
                next,
                base_ms,
                ..
            } => {
                let events = fixture.batches[*next].events.clone();
                *next += 1;
                if *next == fixture.batches.len() {
                    *next = 0;
                    *base_ms += fixture.duration_ms() + CORPUS_LOOP_GAP_MS;
                }
                events
            }
        }
    }
}

/// A token bucket, to stay under the node's per-session rate limits.
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// When `n` tokens will be there (`n` is capped at the burst).
    fn ready_at(&mut self, n: f64, now: Instant) -> Instant {
        self.refill(now);
        let n = n.min(self.burst);
        if self.tokens >= n || self.rate <= 0.0 {
            now
        } else {
            now + Duration::from_secs_f64((n - self.tokens) / self.rate)
        }
    }

    fn take(&mut self, n: f64, now: Instant) {
        self.refill(now);
        self.tokens -= n.min(self.burst);
    }
}

/// A batch built and waiting to be sent.
struct Pending {
    seq: u64,
    frame: Message,
    raw_len: u64,
    wire_len: u64,
    /// When the rate caps first held this batch back.
    held_since: Option<Instant>,
}

/// A batch sent and not yet acked.
struct InFlight {
    seq: u64,
    sent_at: Instant,
    raw_len: u64,
}

pub(crate) type Ws = WebSocketStream<TcpStream>;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn count(map: &mut BTreeMap<String, u64>, key: impl Into<String>) {
    *map.entry(key.into()).or_default() += 1;
}

/// Runs client `idx` to the end and says what it saw.
pub async fn run(ctx: Arc<Ctx>, idx: usize) -> ClientReport {
    let mut report = ClientReport::default();
    let args = &ctx.args;
    let start =
        ctx.t0 + Duration::from_secs_f64(args.ramp * idx as f64 / args.clients.max(1) as f64);
    sleep_until(start.into()).await;
    let visitor = format!("lt{}-{idx}", ctx.run_id);
    let tab = format!("tab{idx}");
    let connect_timeout = Duration::from_secs_f64(args.connect_timeout);
    let mut began = Instant::now();
    let (mut ws, session_id, next_seq) = loop {
        let opened = tokio::time::timeout(connect_timeout, open(&ctx, idx, &visitor, &tab)).await;
        match opened {
            Ok(Ok(x)) => break x,
            // A 503 (overload, maintenance): counted, and tried again after
            // `Retry-After` plus jitter, as a tracker does, until the run ends.
            Ok(Err(Refused {
                retry_after: Some(after),
                ..
            })) if args.retry_refused && Instant::now() + after < ctx.send_end => {
                report.refusals += 1;
                let jitter = Duration::from_millis((idx as u64 * 7919) % 1000);
                tokio::time::sleep(after + jitter).await;
                began = Instant::now();
            }
            Ok(Err(e)) => {
                if e.retry_after.is_some() {
                    report.refusals += 1;
                }
                report.connect_error = Some(e.message);
                return report;
            }
            Err(_) => {
                report.connect_error = Some("timeout before welcome".into());
                return report;
            }
        }
    };
    report.connected = true;
    report.welcome_us = Some(began.elapsed().as_micros() as u64);
    report.session = Some(session_id);
    report.tab = tab;
    report.first_seq = next_seq;
    ctx.timeline.connected.fetch_add(1, Ordering::Relaxed);
    let mut source = match &ctx.corpus {
        Some(fixtures) => {
            let fixture = &fixtures[idx % fixtures.len()];
            report.fixture = Some(fixture.name.clone());
            Source::Corpus {
                fixture,
                speed: args.speed,
                start: Instant::now(),
                next: 0,
                base_ms: 0,
            }
        }
        None => Source::Generated(EventGen::new(
            args.seed.wrapping_mul(1_000_003).wrapping_add(idx as u64),
        )),
    };
    session(&ctx, &mut ws, &mut source, next_seq, &mut report).await;
    ctx.timeline.connected.fetch_sub(1, Ordering::Relaxed);
    report
}

/// Why a connection could not be opened.
pub(crate) struct Refused {
    pub(crate) message: String,
    /// A 503's `Retry-After`: the node asks the tracker to come back.
    pub(crate) retry_after: Option<Duration>,
}

impl From<String> for Refused {
    fn from(message: String) -> Refused {
        Refused {
            message,
            retry_after: None,
        }
    }
}

/// TCP connect (from a chosen source address), upgrade, `hello`, `welcome`.
/// Returns the socket, the session and `welcome.next_seq`.
async fn open(
    ctx: &Ctx,
    idx: usize,
    visitor: &str,
    tab: &str,
) -> Result<(Ws, String, u64), Refused> {
    open_with(
        ctx.addr,
        &ctx.base_url,
        &ctx.args.site,
        ctx.args.origin.as_deref(),
        ctx.sources.get(idx % ctx.sources.len().max(1)).copied(),
        visitor,
        tab,
        None,
    )
    .await
}

/// [`open`] for any caller (the hold mode too): `config` replaces the
/// client's WebSocket settings (a hold keeps small buffers).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn open_with(
    addr: SocketAddr,
    base_url: &str,
    site: &str,
    origin: Option<&str>,
    source: Option<IpAddr>,
    visitor: &str,
    tab: &str,
    config: Option<WebSocketConfig>,
) -> Result<(Ws, String, u64), Refused> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {}", e.kind()))?;
    if let Some(src) = source {
        socket
            .bind(SocketAddr::new(src, 0))
            .map_err(|e| format!("bind {src}: {}", e.kind()))?;
    }
    let stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    let url = format!("{base_url}/v1/ingest?site={site}&visitor={visitor}");
    let mut req = url
        .into_client_request()
        .map_err(|e| format!("request: {e}"))?;
    if let Some(origin) = origin {
        let v = HeaderValue::from_str(origin).map_err(|e| format!("origin: {e}"))?;
        req.headers_mut().insert("origin", v);
    }
    let config = config.unwrap_or(WebSocketConfig {
        max_message_size: Some(64 << 20),
        max_frame_size: Some(64 << 20),
        ..Default::default()
    });
    let (mut ws, _resp) = tokio_tungstenite::client_async_with_config(req, stream, Some(config))
        .await
        .map_err(|e| match e {
            WsError::Http(resp) => {
                let code = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                    .and_then(|v| v.get("error").and_then(|c| c.as_str()).map(str::to_owned))
                    .unwrap_or_default();
                let retry_after = (resp.status().as_u16() == 503).then(|| {
                    let secs = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(1);
                    Duration::from_secs(secs)
                });
                Refused {
                    message: format!("http {} {code}", resp.status().as_u16()),
                    retry_after,
                }
            }
            other => format!("upgrade: {}", short_error(&other)).into(),
        })?;
    let hello = serde_json::json!({
        "t": "hello", "v": reel_protocol::PROTOCOL_VERSION, "visitor": visitor, "session": null,
        "tab": tab, "acked": null,
        "page": {"url": PAGE_URL, "referrer": "", "title": "Demo"},
        "screen": {"w": SCREEN_W, "h": SCREEN_H}, "lang": "en", "tz": "UTC",
    });
    ws.send(Message::Text(hello.to_string()))
        .await
        .map_err(|e| format!("send hello: {}", short_error(&e)))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(&t) {
                Ok(ServerMessage::Welcome {
                    session, next_seq, ..
                }) => return Ok((ws, session.into_string(), next_seq)),
                Ok(ServerMessage::Error { code, message }) => {
                    return Err(format!("error before welcome: {} {message}", code.as_str()).into())
                }
                _ => return Err(format!("unexpected before welcome: {}", truncate(&t, 80)).into()),
            },
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                return Err(format!("closed before welcome: {code}").into());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("before welcome: {}", short_error(&e)).into()),
            None => return Err(String::from("eof before welcome").into()),
        }
    }
}

fn short_error(e: &WsError) -> String {
    match e {
        WsError::Io(io) => format!("io {:?}", io.kind()),
        WsError::ConnectionClosed => "connection closed".into(),
        WsError::AlreadyClosed => "already closed".into(),
        WsError::Protocol(p) => format!("protocol: {p}"),
        other => truncate(&other.to_string(), 80),
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Builds batch `seq`: generated, the tab's first batch (or a requested
/// re-snapshot) is Meta + full snapshot, later ones incremental; from a
/// corpus, the fixture's next batch. With `--verify`, what it holds is
/// kept in `prints`.
fn build(
    args: &Args,
    source: &mut Source,
    seq: u64,
    full: bool,
    prints: Option<&mut Vec<BatchPrint>>,
) -> Pending {
    let events = source.next_events(args, full);
    if let Some(prints) = prints {
        prints.push(BatchPrint::of(&events));
    }
    let json = format!(r#"{{"t":"events","seq":{seq},"events":{events}}}"#);
    let raw_len = json.len() as u64;
    let frame = if args.gzip {
        let mut enc = GzEncoder::new(Vec::with_capacity(json.len() / 4), Compression::fast());
        // unwrap: writing to a Vec cannot fail.
        enc.write_all(json.as_bytes()).unwrap();
        Message::Binary(enc.finish().unwrap())
    } else {
        Message::Text(json)
    };
    let wire_len = frame.len() as u64;
    Pending {
        seq,
        frame,
        raw_len,
        wire_len,
        held_since: None,
    }
}

/// Where the send loop is.
#[derive(PartialEq)]
enum Stage {
    Sending,
    /// `end` sent at `sent_at`; waiting for the acks owed and for the
    /// end's own ack (the tab's segment is committed) until `deadline`.
    Draining {
        deadline: Instant,
        sent_at: Instant,
    },
}

/// The send/receive loop of a connected client.
async fn session(
    ctx: &Ctx,
    ws: &mut Ws,
    source: &mut Source<'_>,
    first_seq: u64,
    report: &mut ClientReport,
) {
    let args = &ctx.args;
    let corpus = ctx.corpus.is_some();
    let closed_loop = args.rate <= 0.0 && !corpus;
    let period = if closed_loop {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(1.0 / args.rate)
    };
    let limit = if closed_loop {
        args.window.max(1)
    } else {
        args.max_outstanding.max(1)
    };
    let now = Instant::now();
    let mut msgs = Bucket::new(args.max_msgs_per_sec, CLIENT_MSG_BURST, now);
    let mut bytes = Bucket::new(args.max_kib_per_sec as f64 * 1024.0, CLIENT_BYTE_BURST, now);
    // hello counts against the node's message bucket too.
    msgs.take(1.0, now);
    let mut next_seq = first_seq;
    let mut last_sent: Option<u64> = None;
    let mut next_due = source.due().unwrap_or(now);
    let mut want_full = true;
    let mut pending: Option<Pending> = None;
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut stage = Stage::Sending;
    let far = Instant::now() + Duration::from_secs(86_400);

    loop {
        let now = Instant::now();
        if stage == Stage::Sending && now >= ctx.send_end {
            // Whatever is built but unsent is dropped, as a tab closing would.
            pending = None;
            if let Err(e) = ws.send(Message::Text(r#"{"t":"end"}"#.into())).await {
                count(
                    &mut report.transport_errors,
                    format!("send end: {}", short_error(&e)),
                );
                break;
            }
            stage = Stage::Draining {
                deadline: now + Duration::from_secs_f64(args.drain_timeout),
                sent_at: now,
            };
        }
        if let Stage::Draining { .. } = stage {
            // With no batch sent, the server owes no ack for `end`.
            if in_flight.is_empty() && (report.end_ack_us.is_some() || report.batches_sent == 0) {
                report.clean_finish = true;
                break;
            }
        }
        // When the next batch may go out.
        let send_at = if stage == Stage::Sending && in_flight.len() < limit {
            if pending.is_none() && (closed_loop || now >= next_due) {
                let prints = args.verify.then_some(&mut report.batches);
                pending = Some(build(args, source, next_seq, want_full, prints));
                want_full = false;
                next_seq += 1;
                if let Some(due) = source.due() {
                    next_due = due;
                } else if !closed_loop {
                    next_due += period;
                    if next_due < now {
                        // Fell behind (a slow send): skip, as a tracker's timer would.
                        next_due = now + period;
                    }
                }
            }
            match &mut pending {
                Some(p) => {
                    let ready = msgs
                        .ready_at(1.0, now)
                        .max(bytes.ready_at(p.wire_len as f64, now));
                    if ready > now && p.held_since.is_none() {
                        p.held_since = Some(now);
                    }
                    Some(ready)
                }
                None => Some(next_due),
            }
        } else {
            None
        };
        let (drain_deadline, end_sent_at) = match stage {
            Stage::Draining { deadline, sent_at } => (deadline, Some(sent_at)),
            Stage::Sending => (far, None),
        };

        tokio::select! {
            msg = ws.next() => {
                match msg {
                    Some(Ok(Message::Text(t))) => {
                        on_text(ctx, &t, &mut in_flight, &mut want_full, end_sent_at.zip(last_sent), report)
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let key = match frame {
                            Some(f) => format!("{} {}", u16::from(f.code), truncate(&f.reason, 60)),
                            None => "1005 (no status)".into(),
                        };
                        count(&mut report.server_closes, key);
                        break;
                    }
                    Some(Ok(Message::Binary(_))) => count(&mut report.transport_errors, "unexpected binary frame"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        count(&mut report.transport_errors, short_error(&e));
                        break;
                    }
                    None => {
                        count(&mut report.transport_errors, "eof without close");
                        break;
                    }
                }
            }
            _ = sleep_until(send_at.unwrap_or(far).into()), if send_at.is_some() => {
                let now = Instant::now();
                if let Some(p) = pending.take() {
                    if msgs.ready_at(1.0, now) > now || bytes.ready_at(p.wire_len as f64, now) > now {
                        pending = Some(p);
                        continue;
                    }
                    msgs.take(1.0, now);
                    bytes.take(p.wire_len as f64, now);
                    if let Some(since) = p.held_since {
                        report.throttled += now.saturating_duration_since(since);
                    }
                    let (seq, raw_len, wire_len) = (p.seq, p.raw_len, p.wire_len);
                    if let Err(e) = ws.send(p.frame).await {
                        count(&mut report.transport_errors, format!("send: {}", short_error(&e)));
                        break;
                    }
                    report.batches_sent += 1;
                    last_sent = Some(seq);
                    report.raw_bytes_sent += raw_len;
                    report.wire_bytes_sent += wire_len;
                    in_flight.push_back(InFlight { seq, sent_at: now, raw_len });
                }
            }
            _ = sleep_until(ctx.send_end.into()), if stage == Stage::Sending => {}
            _ = sleep_until(drain_deadline.into()), if drain_deadline != far => break,
        }
    }
    report.unacked_at_end = in_flight.len() as u64;
    // A batch built but never sent (dropped at `end`) is not the node's.
    report.batches.truncate(report.batches_sent as usize);
    if report.clean_finish {
        // Close and wait (briefly) for the server's close.
        if ws.close(None).await.is_ok() {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Close(Some(f)) = m {
                        if f.code != CloseCode::Normal {
                            count(
                                &mut report.server_closes,
                                format!("{} {}", u16::from(f.code), truncate(&f.reason, 60)),
                            );
                        }
                    }
                }
            })
            .await;
        }
    }
}

/// Handles one text message from the server.
///
/// `end`: when `end` was sent and the last batch's seq. An ack of that seq
/// that acks no batch still in flight is the end's own ack.
fn on_text(
    ctx: &Ctx,
    text: &str,
    in_flight: &mut VecDeque<InFlight>,
    want_full: &mut bool,
    end: Option<(Instant, u64)>,
    report: &mut ClientReport,
) {
    match serde_json::from_str::<ServerMessage>(text) {
        Ok(ServerMessage::Ack { seq }) => {
            let now = Instant::now();
            if let Some((end_sent, last)) = end {
                let acks_in_flight = in_flight.front().is_some_and(|b| b.seq <= seq);
                if seq == last && !acks_in_flight && report.end_ack_us.is_none() {
                    report.end_ack_us =
                        Some(now.saturating_duration_since(end_sent).as_micros() as u64);
                    return;
                }
            }
            while in_flight.front().is_some_and(|b| b.seq <= seq) {
                // unwrap: front() was just seen to be Some.
                let b = in_flight.pop_front().unwrap();
                let latency = now.saturating_duration_since(b.sent_at);
                report.ack_latencies_us.push(latency.as_micros() as u64);
                report.batches_acked += 1;
                report.last_acked = Some(b.seq);
                report.raw_bytes_acked += b.raw_len;
                ctx.timeline.record_ack(now, b.raw_len, latency);
            }
        }
        Ok(ServerMessage::Error { code, message }) => {
            count(&mut report.server_errors, code.as_str());
            report
                .error_samples
                .entry(code.as_str().to_string())
                .or_insert_with(|| truncate(&message, 200));
        }
        Ok(ServerMessage::Goaway { .. }) => report.goaways += 1,
        Ok(ServerMessage::Snapshot) => {
            report.snapshot_requests += 1;
            *want_full = true;
        }
        Ok(ServerMessage::Settings(_)) | Ok(ServerMessage::Welcome { .. }) => {}
        Err(_) => {
            let t = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v.get("t").and_then(|t| t.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "not json".into());
            count(
                &mut report.transport_errors,
                format!("unparsed server message t={t}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_waits_for_refill_and_caps_at_burst() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 20.0, t0);
        assert_eq!(b.ready_at(20.0, t0), t0);
        b.take(20.0, t0);
        let at = b.ready_at(5.0, t0);
        assert!((at - t0).as_secs_f64() > 0.49 && (at - t0).as_secs_f64() < 0.51);
        // Asking for more than the burst waits for a full bucket, not forever.
        let at = b.ready_at(1000.0, t0);
        assert!((at - t0).as_secs_f64() < 2.01);
    }
}
