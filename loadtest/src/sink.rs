//! The sink: the thinnest WebSocket server that speaks the ingest protocol,
//! the reference every run is compared with. It upgrades `/v1/ingest`,
//! answers `hello` with `welcome`, decodes every frame with reel's own
//! codec (`reel_protocol::frame_json` and `decode_message`, so gzip and
//! JSON cost what they cost the node), acks every `events` batch at once,
//! pings every `ping_interval_ms`, acks `end`, and stores nothing.
//!
//! What reel does above the sink (sessions, spool with fsync, segments,
//! index) is what a run's ratio to the sink measures.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reel_protocol::{
    decode_message, frame_json, ClientMessage, Frame, Limits, ServerMessage, SessionId, Settings,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;

/// What the sink counted since it started.
#[derive(Default)]
pub struct SinkStats {
    pub connections: AtomicU64,
    pub open: AtomicU64,
    pub batches: AtomicU64,
    pub bad_messages: AtomicU64,
}

/// A sink running on a runtime of its own (its own threads, as a separate
/// server process would have), stopped when dropped.
pub struct InProcessSink {
    pub addr: SocketAddr,
    pub stats: Arc<SinkStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl InProcessSink {
    /// Starts a sink on `listen` (port 0: any) with `threads` worker
    /// threads.
    pub fn start(listen: SocketAddr, threads: usize) -> anyhow::Result<InProcessSink> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("reel-sink")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let stats = Arc::new(SinkStats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("reel-sink-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("sink: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        _ = serve(listener, s) => {}
                        _ = stopped => {}
                    }
                });
                // Open connections are dropped with the runtime.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(InProcessSink {
            addr,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for InProcessSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until the listener fails.
pub async fn serve(listener: TcpListener, stats: Arc<SinkStats>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let stats = stats.clone();
                tokio::spawn(async move {
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    stats.open.fetch_add(1, Ordering::Relaxed);
                    connection(stream, &stats).await;
                    stats.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            // Out of file descriptors, most likely: wait for some to close.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// A session id for a new session: unique within this sink.
fn new_session_id() -> SessionId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // unwrap: hex digits and a prefix always make a valid id.
    SessionId::parse(format!("sink{n:x}")).unwrap()
}

/// One tracker connection, `hello` to close.
async fn connection(stream: TcpStream, stats: &SinkStats) {
    let _ = stream.set_nodelay(true);
    let limits = Limits::default();
    let config = WebSocketConfig {
        max_message_size: Some(limits.frame_bytes as usize),
        max_frame_size: Some(limits.frame_bytes as usize),
        ..Default::default()
    };
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    let mut ping = tokio::time::interval(Duration::from_millis(limits.ping_interval_ms));
    ping.tick().await;
    let mut welcomed = false;
    let mut last_seq: Option<u64> = None;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = ping.tick() => {
                if ws.send(Message::Ping(Vec::new())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let (bytes, gzip) = match msg {
            Some(Ok(Message::Text(t))) => (t.into_bytes(), false),
            Some(Ok(Message::Binary(b))) => (b, true),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => continue,
        };
        let frame = if gzip {
            Frame::Binary(&bytes)
        } else {
            Frame::Text(&bytes)
        };
        let reply = match frame_json(frame, &limits)
            .map_err(|e| e.to_string())
            .and_then(|json| {
                decode_message(&json, &limits)
                    .map(|m| match m {
                        ClientMessage::Hello(h) if !welcomed => {
                            welcomed = true;
                            let next_seq = h.acked.map_or(0, |a| a + 1);
                            Some(ServerMessage::Welcome {
                                session: h.session.unwrap_or_else(new_session_id),
                                tab: h.tab,
                                next_seq,
                                settings: Settings::default(),
                            })
                        }
                        ClientMessage::Events(b) if welcomed => {
                            stats.batches.fetch_add(1, Ordering::Relaxed);
                            last_seq = Some(last_seq.map_or(b.seq, |s| s.max(b.seq)));
                            Some(ServerMessage::Ack { seq: b.seq })
                        }
                        ClientMessage::End if welcomed => {
                            last_seq.map(|seq| ServerMessage::Ack { seq })
                        }
                        ClientMessage::Identify(_) if welcomed => None,
                        _ => Some(ServerMessage::Error {
                            code: reel_protocol::ErrorCode::BadMessage,
                            message: "hello first, once".into(),
                        }),
                    })
                    .map_err(|e| e.to_string())
            }) {
            Ok(r) => r,
            Err(e) => Some(ServerMessage::Error {
                code: reel_protocol::ErrorCode::BadMessage,
                message: e,
            }),
        };
        if let Some(reply) = reply {
            let close = matches!(reply, ServerMessage::Error { .. });
            if close {
                stats.bad_messages.fetch_add(1, Ordering::Relaxed);
            }
            if ws.send(Message::Text(reply.to_json())).await.is_err() {
                return;
            }
            if close {
                let frame = CloseFrame {
                    code: CloseCode::from(4400),
                    reason: "bad_message".into(),
                };
                let _ = ws.close(Some(frame)).await;
                return;
            }
        }
    }
}
