//! `GET /v1/ingest`: the tracker's WebSocket (PROTOCOL.md §1). The site key
//! and `Origin` are checked before the upgrade; then one task per
//! connection reads frames, feeds the session actor and writes acks in
//! order as batches become durable.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use futures_util::stream::{FuturesOrdered, StreamExt};
use reel_actors::metric_names;
use reel_actors::redact::Redactor;
use reel_actors::session::{
    Batch, Control, Detach, EndTab, Identify, NotDurable, Refusal, SessionActor, CONTROL_CAPACITY,
};
use reel_actors::sessions::ClientInfo;
use reel_actors::stats::BatchStats;
use reel_actors::traits::{SiteRecord, StoreError, StoreResult};
use reel_protocol::messages::{ClientMessage, EventsBatch, Hello};
use reel_protocol::{decode_message, frame_json, ErrorCode, Frame, ServerMessage};
use sentry::SentryFutureExt;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::admission::InflightPermit;
use super::{ApiError, AppState, ConnCounts, ConnSlot, Phase};

#[derive(Deserialize)]
pub struct IngestQuery {
    site: Option<String>,
    visitor: Option<String>,
}

/// `Retry-After` when the spool is full (s).
pub const SPOOL_FULL_RETRY_S: u64 = 30;
/// `Retry-After` when the index is down and the site is not cached (s).
pub const INDEX_DOWN_RETRY_S: u64 = 10;
/// Checks the site, origin, node phase and connection limits, then upgrades.
pub async fn ingest(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<IngestQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let retry = state.config.shutdown.goaway_retry_ms.div_ceil(1000).max(1);
    match state.phase() {
        Phase::Running => {}
        Phase::Maintenance => {
            return Err(ApiError {
                retry_after: Some(retry.max(60)),
                ..ApiError::new(ErrorCode::Unavailable, state.maintenance_refusal())
            })
        }
        Phase::Draining | Phase::Closing => {
            return Err(ApiError {
                retry_after: Some(retry),
                ..ApiError::new(ErrorCode::Unavailable, "this node is shutting down")
            })
        }
    }
    if state.spool.disk_full() {
        metrics::counter!(metric_names::SPOOL_FULL_REFUSALS_TOTAL).increment(1);
        return Err(ApiError {
            retry_after: Some(SPOOL_FULL_RETRY_S),
            ..ApiError::new(ErrorCode::Unavailable, "this node's disk is full")
        });
    }
    let spooled = state.spool.bytes();
    if spooled >= state.config.spool.max_bytes {
        metrics::counter!(metric_names::SPOOL_FULL_REFUSALS_TOTAL).increment(1);
        return Err(ApiError {
            retry_after: Some(SPOOL_FULL_RETRY_S),
            ..ApiError::new(
                ErrorCode::Unavailable,
                "this node's spool is full while storage is unreachable",
            )
        });
    }
    // Before existing connections suffer: refuse new ones while acks are slow.
    state.admission.admit()?;
    let key = query.site.as_deref().unwrap_or("");
    let site_rx = if reel_protocol::ids::check_id(key).is_ok() {
        state.sites.get(&*state.index, key).await.map_err(|e| {
            tracing::warn!(error = %e, "site lookup failed: index unreachable");
            ApiError {
                retry_after: Some(INDEX_DOWN_RETRY_S),
                ..ApiError::new(ErrorCode::Unavailable, "the index is unreachable")
            }
        })?
    } else {
        None
    };
    let site_rx =
        site_rx.ok_or_else(|| ApiError::new(ErrorCode::UnknownSite, "no site has this key"))?;
    let site = site_rx.borrow().clone();
    if !site.allowed_origins.is_empty() {
        let origin = req
            .headers()
            .get("origin")
            .and_then(|o| o.to_str().ok())
            .unwrap_or("");
        if !site
            .allowed_origins
            .iter()
            .any(|o| o.trim_end_matches('/') == origin)
        {
            return Err(ApiError::new(
                ErrorCode::OriginNotAllowed,
                format!("origin {origin:?} is not allowed for this site"),
            ));
        }
    }
    let slot = ConnCounts::acquire(&state, super::client_addr::client_addr(&req), site.id)?;
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let limits = &state.config.limits;
    let stream = stream
        .max_frame_size(limits.frame_bytes as usize)
        .aggregate_continuations()
        .max_continuation_size(limits.frame_bytes as usize);
    let client = client_info(&req);
    let conn = Connection {
        id: state.conns.next_conn_id(),
        state: state.clone(),
        visitor_param: query.visitor.clone(),
        client: Some(client),
        redactor: reel_actors::redact::shared(&site.settings),
        site_id: site.id,
        session: None,
        session_id: None,
        sent_settings: None,
        unread: Duration::ZERO,
        _slot: slot,
    };
    // The connection outlives the request: its own Sentry scope (a copy
    // of the request's, with the site; the session once attached).
    super::failures::tag_site(site.id);
    match super::failures::task_hub() {
        Some(hub) => actix_web::rt::spawn(conn.run(session, stream, site_rx).bind_hub(hub)),
        None => actix_web::rt::spawn(conn.run(session, stream, site_rx)),
    };
    Ok(response)
}

/// Browser, OS and device class from the `User-Agent`.
fn client_info(req: &HttpRequest) -> ClientInfo {
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(512)
        .collect::<String>();
    let parsed = woothee::parser::Parser::new().parse(&ua);
    let (browser, os, device) = match parsed {
        Some(p) => (
            p.name.to_string(),
            p.os.to_string(),
            match p.category {
                "pc" => "desktop",
                "smartphone" => "mobile",
                "mobilephone" => "mobile",
                "appliance" => "appliance",
                "crawler" => "bot",
                _ => "unknown",
            }
            .to_string(),
        ),
        None => ("UNKNOWN".into(), "UNKNOWN".into(), "unknown".into()),
    };
    ClientInfo {
        user_agent: ua,
        browser,
        os,
        device,
    }
}

/// How long a closing connection waits for the client's close frame.
const CLOSE_DRAIN: Duration = Duration::from_secs(2);

/// An ack owed, once its batch is durable (or failed).
struct Owed {
    seq: u64,
    /// A new batch (not a duplicate).
    fresh: bool,
    /// When its frame was read off the socket: the ack delay runs from here.
    read_at: Instant,
    res: StoreResult<()>,
}

/// Acks owed by one connection, in order. Bounded in bytes by the node's
/// ingest budget: each holds its batch's share (an [`InflightPermit`])
/// until the batch is durable, and a connection reads no frame while its
/// next batch waits for the budget.
type PendingAck = Pin<Box<dyn std::future::Future<Output = Owed> + Send>>;

/// One tracker connection. Sized for 100,000 idle ones per node: what is
/// only needed for `hello` is dropped after it, the site is read from its
/// watch (shared by every connection of the site) rather than copied, and
/// rare, deep paths (`hello`, refusals) are boxed futures so that the
/// connection's task stays small while it waits for frames.
struct Connection {
    id: u64,
    state: web::Data<AppState>,
    /// The site's id (the site itself, as last known, is in its watch).
    site_id: i64,
    /// The site's redaction rules, applied to each batch before it goes
    /// to the session (and so to the spool): a change of the site's
    /// rules applies from the next batch.
    redactor: Arc<Redactor>,
    /// `visitor` from the URL; must equal `hello.visitor`. Taken by `hello`.
    visitor_param: Option<String>,
    /// From the upgrade request's `User-Agent`; taken by `hello`.
    client: Option<ClientInfo>,
    /// The session actor and tab, once `hello` is done.
    session: Option<(Addr<SessionActor>, String)>,
    /// The session's id, once `hello` is done: its feature flags are
    /// evaluated for it.
    session_id: Option<String>,
    /// How long the socket went unread while the last batch waited for its
    /// session's mailbox: credited to the next batch's rate limits.
    unread: Duration,
    /// A hash of the settings the tracker was last told (in `welcome` or
    /// `settings`), to tell whether a site change concerns it.
    sent_settings: Option<u64>,
    /// Keeps the connection counted while it lives.
    _slot: ConnSlot,
}

/// How a connection ends.
enum Exit {
    /// Send `error`, then close with the code's close code.
    Refuse(ErrorCode, String),
    /// The node's disk is full: send `goaway` (the tracker keeps what is
    /// unacked and resends it after reconnecting), then close with 4503.
    Hold,
    /// Close normally with this code.
    Close(CloseCode),
    /// The peer is gone.
    Gone,
}

impl From<Refusal> for Exit {
    fn from(r: Refusal) -> Exit {
        Exit::Refuse(r.code, r.message)
    }
}

impl Connection {
    async fn run(
        mut self,
        mut ws: Session,
        mut stream: actix_ws::AggregatedMessageStream,
        mut site: watch::Receiver<SiteRecord>,
    ) {
        let (control_tx, mut control_rx) = mpsc::channel::<Control>(CONTROL_CAPACITY);
        let mut phase = self.state.phase.subscribe();
        let limits = self.state.config.limits.clone();
        let idle = Duration::from_millis(limits.idle_timeout_ms);
        let mut ping = tokio::time::interval(Duration::from_millis(
            limits.ping_interval_ms.clamp(10, idle.as_millis() as u64),
        ));
        ping.tick().await;
        let mut last_seen = Instant::now();
        let mut acks: FuturesOrdered<PendingAck> = FuturesOrdered::new();
        let mut control_tx = Some(control_tx);
        let mut disk_full = self.state.disk_full.clone();
        let mut flags = self.state.flags.subscribe();
        // False once the site is gone from the cache (it keeps what it had).
        let mut site_followed = true;
        let exit = loop {
            tokio::select! {
                msg = stream.next() => {
                    last_seen = Instant::now();
                    let read_at = last_seen;
                    match msg {
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            if let Err(e) = self.on_frame(Frame::Text(text.as_bytes()), read_at, &mut ws, &mut acks, &mut control_tx, &site).await {
                                break e;
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(bytes))) => {
                            if let Err(e) = self.on_frame(Frame::Binary(&bytes), read_at, &mut ws, &mut acks, &mut control_tx, &site).await {
                                break e;
                            }
                        }
                        Some(Ok(AggregatedMessage::Ping(b))) => {
                            if ws.pong(&b).await.is_err() { break Exit::Gone; }
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break Exit::Close(CloseCode::Normal),
                        Some(Err(ProtocolError::Overflow)) => {
                            break Exit::Refuse(ErrorCode::TooLarge, format!("frame over the {} byte limit", limits.frame_bytes));
                        }
                        // The peer went away without a close frame (a closed tab).
                        Some(Err(ProtocolError::Io(_))) => break Exit::Gone,
                        Some(Err(e)) => break Exit::Refuse(ErrorCode::BadMessage, e.to_string()),
                    }
                }
                Some(owed) = acks.next(), if !acks.is_empty() => {
                    if let Err(exit) = self.on_durable(owed, &mut ws).await {
                        break exit;
                    }
                }
                full = disk_full.changed() => {
                    if full.is_ok() && *disk_full.borrow_and_update() {
                        // Acks already owed go out first.
                        match self.settle_acks(&mut ws, &mut acks).await {
                            Ok(()) => break Exit::Hold,
                            Err(exit) => break exit,
                        }
                    }
                }
                Some(ctrl) = control_rx.recv() => {
                    match ctrl {
                        Control::Send(msg) => {
                            if ws.text(msg.to_json()).await.is_err() { break Exit::Gone; }
                        }
                        Control::Close(code, message) => break Exit::Refuse(code, message),
                    }
                }
                changed = site.changed(), if site_followed => {
                    if changed.is_err() {
                        site_followed = false;
                        continue;
                    }
                    let settings = {
                        let now = site.borrow_and_update();
                        if !self.redactor.same_rules(&now.settings) {
                            self.redactor = reel_actors::redact::shared(&now.settings);
                        }
                        self.settings_now(&now)
                    };
                    if let Err(exit) = self.tell_settings(settings, &mut ws).await {
                        break exit;
                    }
                }
                changed = flags.changed() => {
                    if changed.is_err() { break Exit::Close(CloseCode::Away); }
                    drop(flags.borrow_and_update());
                    let settings = self.settings_now(&site.borrow());
                    if let Err(exit) = self.tell_settings(settings, &mut ws).await {
                        break exit;
                    }
                }
                changed = phase.changed() => {
                    if changed.is_err() { break Exit::Close(CloseCode::Away); }
                    let now = *phase.borrow_and_update();
                    match now {
                        Phase::Running => {}
                        Phase::Maintenance => break Exit::Refuse(ErrorCode::Unavailable, self.state.maintenance_refusal()),
                        Phase::Draining => {
                            let retry_after_ms = self.state.config.shutdown.goaway_retry_ms;
                            if ws.text(ServerMessage::Goaway { retry_after_ms }.to_json()).await.is_err() { break Exit::Gone; }
                        }
                        Phase::Closing => {
                            // Acks already owed go out first.
                            match self.settle_acks(&mut ws, &mut acks).await {
                                Ok(()) => break Exit::Close(CloseCode::Away),
                                Err(exit) => break exit,
                            }
                        }
                    }
                }
                _ = ping.tick() => {
                    if last_seen.elapsed() >= idle {
                        break Exit::Refuse(ErrorCode::Idle, format!("nothing received for {} ms", idle.as_millis()));
                    }
                    if ws.ping(b"").await.is_err() { break Exit::Gone; }
                }
            }
        };
        if let Some((addr, _)) = &self.session {
            addr.do_send(Detach { conn_id: self.id });
        }
        match exit {
            Exit::Refuse(code, message) => {
                metrics::counter!(metric_names::ERRORS_TOTAL, "code" => code.as_str()).increment(1);
                if code == ErrorCode::Internal {
                    tracing::error!(
                        conn = self.id,
                        message,
                        "connection closed on a server fault"
                    );
                } else {
                    tracing::debug!(conn = self.id, code = %code, message, "connection refused");
                }
                let msg = ServerMessage::Error {
                    code,
                    message: message.clone(),
                }
                .to_json();
                let _ = ws.text(msg).await;
                // A clone keeps the response open after the close frame, so
                // the drain below can read the client's last frames.
                let keep_open = ws.clone();
                let _ = ws
                    .close(Some(CloseReason {
                        code: CloseCode::Other(code.close_code()),
                        description: Some(message.chars().take(120).collect()),
                    }))
                    .await;
                Box::pin(drain(stream)).await;
                drop(keep_open);
            }
            Exit::Hold => {
                metrics::counter!(metric_names::ERRORS_TOTAL, "code" => ErrorCode::Unavailable.as_str())
                    .increment(1);
                let retry_after_ms = SPOOL_FULL_RETRY_S * 1000;
                let _ = ws
                    .text(ServerMessage::Goaway { retry_after_ms }.to_json())
                    .await;
                let message = "this node's disk is full: hold your data and reconnect later";
                let _ = ws
                    .text(
                        ServerMessage::Error {
                            code: ErrorCode::Unavailable,
                            message: message.into(),
                        }
                        .to_json(),
                    )
                    .await;
                let _ = ws
                    .close(Some(CloseReason {
                        code: CloseCode::Other(ErrorCode::Unavailable.close_code()),
                        description: Some(message.into()),
                    }))
                    .await;
            }
            Exit::Close(code) => {
                let _ = ws
                    .close(Some(CloseReason {
                        code,
                        description: None,
                    }))
                    .await;
            }
            Exit::Gone => {}
        }
    }

    /// Handles one data frame.
    async fn on_frame(
        &mut self,
        frame: Frame<'_>,
        read_at: Instant,
        ws: &mut Session,
        acks: &mut FuturesOrdered<PendingAck>,
        control_tx: &mut Option<mpsc::Sender<Control>>,
        site: &watch::Receiver<SiteRecord>,
    ) -> Result<(), Exit> {
        let limits = &self.state.config.limits;
        let wire_bytes = match frame {
            Frame::Text(b) | Frame::Binary(b) => b.len() as u64,
        };
        let json = frame_json(frame, limits).map_err(|e| Exit::Refuse(e.code(), e.to_string()))?;
        let msg =
            decode_message(&json, limits).map_err(|e| Exit::Refuse(e.code(), e.to_string()))?;
        metrics::counter!(metric_names::MESSAGES_TOTAL).increment(1);
        match (msg, &self.session) {
            (ClientMessage::Hello(hello), None) => {
                // unwrap-free: the sender is only taken here, once.
                let control = control_tx
                    .take()
                    .ok_or_else(|| Exit::Refuse(ErrorCode::BadMessage, "second hello".into()))?;
                // The site as it is now (a copy only for `hello`'s time).
                let site = site.borrow().clone();
                // Boxed: `hello` is deep and once per connection; the
                // task does not carry its size while it waits for frames.
                Box::pin(self.on_hello(hello, &site, ws, control)).await
            }
            (ClientMessage::Hello(_), Some(_)) => {
                Err(Exit::Refuse(ErrorCode::BadMessage, "a second hello".into()))
            }
            (_, None) => Err(Exit::Refuse(
                ErrorCode::BadMessage,
                "the first message must be hello".into(),
            )),
            (ClientMessage::Events(batch), Some((addr, tab))) => {
                let mut msg = to_batch(tab, batch, wire_bytes, &self.redactor);
                // The batch's bytes in memory until durable: the larger of
                // its frame and its decoded events.
                let bytes = wire_bytes.max(msg.ndjson.len() as u64);
                let addr = addr.clone();
                let waited = Instant::now();
                let permit = self.reserve(bytes, ws, acks).await?;
                // The socket went unread while this batch waited for the
                // budget, and while the previous one waited for the mailbox.
                msg.held = waited.elapsed() + std::mem::take(&mut self.unread);
                // The session's mailbox holds at most MAILBOX_CAPACITY
                // batches, and no more bytes than the budget: a full one
                // makes this send wait (and the socket unread).
                let sent = Instant::now();
                let accepted = addr
                    .send(msg)
                    .await
                    .map_err(|_| Exit::Refuse(ErrorCode::Internal, "session is gone".into()))??;
                self.unread = sent.elapsed();
                metrics::counter!(metric_names::BATCH_BYTES_TOTAL).increment(wire_bytes);
                let (seq, fresh) = (accepted.seq, accepted.fresh);
                let durable = accepted.durable;
                acks.push_back(Box::pin(async move {
                    let res = durable.await;
                    // Durable (or failed): the bytes leave the budget now,
                    // even before the ack is written.
                    drop(permit);
                    Owed {
                        seq,
                        fresh,
                        read_at,
                        res,
                    }
                }));
                Ok(())
            }
            (ClientMessage::Identify(id), Some((addr, _))) => {
                addr.send(Identify {
                    user_id: id.user_id,
                    traits: id.traits,
                    wire_bytes,
                })
                .await
                .map_err(|_| Exit::Refuse(ErrorCode::Internal, "session is gone".into()))??;
                Ok(())
            }
            (ClientMessage::End, Some((addr, tab))) => {
                // Acks owed go first, then the end's own ack once committed.
                self.settle_acks(ws, acks).await?;
                let last = addr
                    .send(EndTab { tab: tab.clone() })
                    .await
                    .map_err(|_| Exit::Refuse(ErrorCode::Internal, "session is gone".into()))?;
                if let Some(seq) = last {
                    ws.text(ServerMessage::Ack { seq }.to_json())
                        .await
                        .map_err(|_| Exit::Gone)?;
                }
                Ok(())
            }
        }
    }

    /// `bytes` of the node's ingest budget for the next batch. While they
    /// are not free the socket is not read (TCP pushes back on the
    /// tracker), but acks owed still go out as their batches become
    /// durable, which is also what frees the budget.
    async fn reserve(
        &self,
        bytes: u64,
        ws: &mut Session,
        acks: &mut FuturesOrdered<PendingAck>,
    ) -> Result<InflightPermit, Exit> {
        let admission = &self.state.admission;
        if let Some(permit) = admission.try_reserve(bytes) {
            return Ok(permit);
        }
        let wait = admission.reserve(bytes);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                permit = &mut wait => return Ok(permit),
                Some(owed) = acks.next(), if !acks.is_empty() => self.on_durable(owed, ws).await?,
            }
        }
    }

    /// A batch is durable (ack it, and count its ack delay) or failed.
    async fn on_durable(&self, owed: Owed, ws: &mut Session) -> Result<(), Exit> {
        if let Err(e) = owed.res {
            // Boxed: rare, and the connection's task need not carry it.
            return Err(Box::pin(self.not_durable(owed.seq, owed.fresh, e)).await);
        }
        ws.text(ServerMessage::Ack { seq: owed.seq }.to_json())
            .await
            .map_err(|_| Exit::Gone)?;
        self.state.admission.ack_written(owed.read_at.elapsed());
        Ok(())
    }

    /// Sends every ack owed, in order, as its batch becomes durable; stops
    /// at the first batch that could not be made durable.
    async fn settle_acks(
        &self,
        ws: &mut Session,
        acks: &mut FuturesOrdered<PendingAck>,
    ) -> Result<(), Exit> {
        while let Some(owed) = acks.next().await {
            self.on_durable(owed, ws).await?;
        }
        Ok(())
    }

    /// A batch could not be made durable: no later ack is sent, the session
    /// forgets the batch (so that `next_seq` does not pass it), and the
    /// connection ends. With the disk full the tracker is asked to hold its
    /// data; otherwise it is a server fault (1011).
    async fn not_durable(&self, seq: u64, fresh: bool, e: StoreError) -> Exit {
        if let (true, Some((addr, tab))) = (fresh, &self.session) {
            let _ = addr
                .send(NotDurable {
                    conn_id: self.id,
                    tab: tab.clone(),
                    seq,
                })
                .await;
        }
        if self.state.spool.disk_full() {
            tracing::warn!(conn = self.id, seq, error = %e, "batch not durable: the disk is full");
            Exit::Hold
        } else {
            tracing::error!(conn = self.id, seq, error = %e, "batch not durable");
            Exit::Refuse(
                ErrorCode::Internal,
                "the batch could not be made durable".into(),
            )
        }
    }

    async fn on_hello(
        &mut self,
        hello: Hello,
        site: &SiteRecord,
        ws: &mut Session,
        control: mpsc::Sender<Control>,
    ) -> Result<(), Exit> {
        let client = self.client.take().unwrap_or_default();
        if let Some(v) = self.visitor_param.take() {
            if v != hello.visitor.as_str() {
                return Err(Exit::Refuse(
                    ErrorCode::BadMessage,
                    "hello.visitor differs from the visitor in the URL".into(),
                ));
            }
        }
        let attached = self
            .state
            .sessions
            .hello(site, &hello, &client, self.id, control)
            .await?;
        let settings = tracker_settings(&self.state, site, &attached.session);
        let hash = settings_hash(&settings);
        let welcome = ServerMessage::Welcome {
            session: reel_protocol::SessionId::parse(attached.session.clone())
                .map_err(|e| Exit::Refuse(ErrorCode::Internal, e.to_string()))?,
            tab: hello.tab.clone(),
            next_seq: attached.next_seq,
            settings,
        };
        ws.text(welcome.to_json()).await.map_err(|_| Exit::Gone)?;
        self.sent_settings = Some(hash);
        tracing::debug!(conn = self.id, session_id = %attached.session, tab = %hello.tab, next_seq = attached.next_seq, "tab attached");
        super::failures::tag_session(&attached.session);
        self.session = Some((attached.addr, hello.tab.into_string()));
        self.session_id = Some(attached.session);
        Ok(())
    }

    /// The tracker's settings as `site` and the flags say now, once its
    /// session is known (its flags are evaluated for it); `None` before.
    fn settings_now(&self, site: &SiteRecord) -> Option<reel_protocol::Settings> {
        let session_id = self.session_id.as_deref()?;
        Some(tracker_settings(&self.state, site, session_id))
    }

    /// The site or the flags changed: tells a welcomed tracker its
    /// settings when they differ from what it was last told (a rename or
    /// new origins do not concern it). Before `welcome` there is nothing
    /// to do: the welcome carries the settings as they are then.
    async fn tell_settings(
        &mut self,
        settings: Option<reel_protocol::Settings>,
        ws: &mut Session,
    ) -> Result<(), Exit> {
        let (Some(settings), Some(sent)) = (settings, self.sent_settings) else {
            return Ok(());
        };
        let hash = settings_hash(&settings);
        if sent == hash {
            return Ok(());
        }
        ws.text(ServerMessage::Settings(settings).to_json())
            .await
            .map_err(|_| Exit::Gone)?;
        metrics::counter!(metric_names::SETTINGS_SENT_TOTAL).increment(1);
        tracing::debug!(conn = self.id, site_id = self.site_id, "settings sent");
        self.sent_settings = Some(hash);
        Ok(())
    }
}

/// A hash of a tracker's settings (of their JSON, as the tracker is told
/// them): a connection keeps it, not the settings, to tell a change.
fn settings_hash(settings: &reel_protocol::Settings) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_vec(settings)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

/// What a tracker of a session of a site is told in `welcome` and
/// `settings`: the site's settings with this node's batch and frame
/// bounds, whether the node is in maintenance, and the feature flags
/// evaluated for the session (its organisation, site and id). A capture
/// is on only when both the site's setting and its flag say so.
pub fn tracker_settings(
    state: &AppState,
    site_record: &SiteRecord,
    session_id: &str,
) -> reel_protocol::Settings {
    use reel_protocol::flags::Flag;
    let site = &site_record.settings;
    let rules = state.flags.borrow().clone();
    let flags = rules.evaluate(&reel_actors::flags::Subject {
        org_id: Some(site_record.org_id),
        site_id: Some(site_record.id),
        key: session_id,
    });
    let flag = |f: Flag| flags.get(f.name()).copied().unwrap_or(f.default_on());
    reel_protocol::Settings {
        capture_console: site.capture_console && flag(Flag::CaptureConsole),
        capture_network: site.capture_network && flag(Flag::CaptureNetwork),
        flags,
        // Only a tracker that said hello as maintenance began sees true
        // (and is closed with 4503 at once).
        maintenance: state.phase() == Phase::Maintenance,
        batch_max_events: state.config.limits.batch_events,
        max_frame_bytes: state.config.limits.frame_bytes,
        // The node applies them; a tracker has no use for them.
        redact_patterns: Vec::new(),
        ..site.clone()
    }
}

/// After our close frame, reads (and drops) what the client still sends
/// until its close frame, so that the socket is not reset under unread
/// data and the client gets to read our `error` and close code.
async fn drain(mut stream: actix_ws::AggregatedMessageStream) {
    let _ = tokio::time::timeout(CLOSE_DRAIN, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, AggregatedMessage::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The session actor's form of a batch: events as NDJSON, as received
/// but for what the site's redaction rules rewrote, the counters read
/// from their headers (sizes are the stored ones), and the NDJSON as the
/// zstd frame the tab's buffer keeps. Everything here reads the headers
/// decoded with the events, in one scan of the frame; no event is parsed
/// again (but those redaction rewrites).
pub fn to_batch(tab: &str, batch: EventsBatch<'_>, wire_bytes: u64, redactor: &Redactor) -> Batch {
    let events = redactor.events(&batch.headers, batch.events.iter().copied());
    let len: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut ndjson = Vec::with_capacity(len);
    for e in &events {
        let start = ndjson.len();
        ndjson.extend_from_slice(e.as_bytes());
        // A raw line break can only be whitespace between JSON tokens (in
        // strings it is escaped). JSON.stringify never writes one; should a
        // client, it becomes a space so that each line stays one event.
        // The decoder said whether any event holds one; a rewritten event
        // is checked here.
        if batch.line_breaks || matches!(e, std::borrow::Cow::Owned(_)) {
            for b in &mut ndjson[start..] {
                if *b == b'\n' || *b == b'\r' {
                    *b = b' ';
                }
            }
        }
        ndjson.push(b'\n');
    }
    let stats = BatchStats::from_headers(batch.headers.iter().zip(events.iter().map(|e| e.len())));
    let signals = reel_actors::signals::events(&batch.headers);
    let snapshot_from = reel_actors::live::snapshot_from(
        batch
            .headers
            .iter()
            .map(|h| h.kind)
            .zip(events.iter().map(|e| e.len())),
    );
    // The tab's buffer holds this frame: compressed here, on the
    // connection's task, not on the session actor's thread.
    let frame = reel_actors::segment::frame(&ndjson);
    Batch {
        tab: tab.to_owned(),
        seq: batch.seq,
        wire_bytes,
        ndjson,
        frame,
        stats,
        signals,
        snapshot_from,
        held: Duration::ZERO,
    }
}
