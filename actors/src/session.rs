//! The session actor: one per live visitor session on a node. Every tab's
//! connection of the session feeds it; it checks sequence numbers, appends
//! batches to the spool (the ack waits for that), buffers them per tab,
//! keeps the session's counters and commits segments.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix::prelude::*;
use reel_protocol::{ErrorCode, ServerMessage};
use tokio::sync::{mpsc, oneshot};
// The runtime's clock (the actor tests pause it): buffer ages and rate
// limits follow it.
use tokio::time::Instant;

use crate::deps::Deps;
use crate::identify::IdentifyWriter;
use crate::live::Live;
use crate::metric_names;
use crate::presence::SessionPresence;
use crate::ratelimit::{Over, SessionRate};
use crate::registry::Registry;
use crate::retry::retry;
use crate::segment;
use crate::signals::{SessionSignals, SignalEvent};
use crate::stats::BatchStats;
use crate::tab::TabState;
use crate::traits::{topics, BusMessage, Durable, OutboxOp, SpoolBatch, StoreError};
use reel_protocol::live::Presence;

/// Messages waiting in a session's mailbox before senders wait
/// (backpressure onto the connections' read loops). In bytes it is bounded
/// by the node's ingest budget (`ingest.max_inflight_bytes`): a connection
/// reserves a batch's bytes before sending it here.
pub const MAILBOX_CAPACITY: usize = 256;
/// Control messages waiting for one connection; when full, the newest is
/// dropped (they are advisory: snapshot requests, settings).
pub const CONTROL_CAPACITY: usize = 16;

/// What a session tells one of its connections. Small (the message is
/// boxed): each connection's channel preallocates a block of slots.
#[derive(Debug, Clone)]
pub enum Control {
    /// Send this message.
    Send(Box<ServerMessage>),
    /// Send `error` with this code, then close with its close code.
    Close(ErrorCode, String),
}

/// A refusal, sent to the client as `error` then a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

// ---- messages ----

/// Attach a connection (one tab) to the session.
#[derive(Message)]
#[rtype(result = "Result<u64, AttachError>")]
pub struct Attach {
    pub conn_id: u64,
    pub site_id: i64,
    pub visitor: String,
    pub tab: String,
    pub acked: Option<u64>,
    pub control: mpsc::Sender<Control>,
    /// The page the connection is on, for presence.
    pub url: String,
    pub title: String,
    /// `desktop`, `mobile`, `tablet` or `unknown`.
    pub device: String,
    /// Browser and OS names, for presence.
    pub browser: String,
    pub os: String,
}

/// Why a connection could not attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachError {
    /// The session has ended or is someone else's: start a new one.
    NotContinuable,
    /// Refuse the connection.
    Refused(Refusal),
}

/// A connection went away.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    pub conn_id: u64,
}

/// One decoded `events` batch.
#[derive(Message)]
#[rtype(result = "Result<BatchAccepted, Refusal>")]
pub struct Batch {
    pub tab: String,
    pub seq: u64,
    /// Size of the message on the wire, for the byte rate limit.
    pub wire_bytes: u64,
    pub ndjson: Vec<u8>,
    /// `ndjson` as one zstd frame ([`segment::frame`]), compressed by the
    /// connection: the tab's buffer keeps this, not `ndjson`.
    pub frame: Vec<u8>,
    pub stats: BatchStats,
    /// The events that matter to the signals ([`crate::signals::events`]).
    pub signals: Vec<SignalEvent>,
    /// Where a live tail restarts in `ndjson` (the batch holds a full
    /// snapshot); see [`crate::live::snapshot_from`].
    pub snapshot_from: Option<usize>,
    /// How long the connection held this batch back (not reading its
    /// socket) before handing it over: credited to the rate limits, since
    /// what the tracker sent meanwhile arrives at once after it.
    pub held: std::time::Duration,
}

/// A batch was taken: ack `seq` once `durable` resolves.
pub struct BatchAccepted {
    pub seq: u64,
    pub durable: Durable,
    /// A new batch (not a duplicate acked again): should `durable` fail,
    /// the connection reports it with [`NotDurable`].
    pub fresh: bool,
}

/// A new batch's spool append failed (the disk is full, or it failed):
/// it was never acked. The tab forgets it and every later batch, so that
/// `welcome.next_seq` never passes it and the tracker sends it again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotDurable {
    /// The connection that sent it.
    pub conn_id: u64,
    pub tab: String,
    pub seq: u64,
}

/// `identify`, cleaned by the codec. Refused (the connection closes)
/// over the session's rate limits, like a batch.
#[derive(Message)]
#[rtype(result = "Result<(), Refusal>")]
pub struct Identify {
    pub user_id: String,
    pub traits: BTreeMap<String, String>,
    /// Size of the message on the wire, for the byte rate limit.
    pub wire_bytes: u64,
}

/// `end`: commit the tab's buffer; resolves with the tab's last received seq
/// once its segments are committed.
#[derive(Message)]
#[rtype(result = "Option<u64>")]
pub struct EndTab {
    pub tab: String,
}

/// Someone watches the session: publish its events for a lease. A new
/// watch first gets each tab's live tail, and the trackers are asked for
/// a fresh snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Watch {
    /// A new watcher (not a renewal): it needs the tails.
    pub fresh: bool,
}

/// Node shutdown: commit every buffer; resolves when all are committed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FlushAll;

/// The session was deleted (PROTOCOL.md §6): close its connections and
/// end it. What it still commits is refused by its tombstone.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deleted;

/// A segment of `tab` was committed.
#[derive(Message)]
#[rtype(result = "()")]
struct Committed {
    tab: String,
}

// ---- state ----

/// A live session.
pub struct SessionActor {
    /// Session id.
    id: String,
    /// Site the session belongs to.
    site_id: i64,
    /// Visitor the session belongs to.
    visitor: String,
    /// Start, ms since the epoch.
    started_at: i64,
    /// Latest event timestamp or message arrival, ms since the epoch.
    last_activity_at: i64,
    /// Raw event bytes received over the session's life (restored from the index).
    raw_bytes: u64,
    /// Tabs by id ([`crate::tab`]). At most `limits.tabs_per_session`:
    /// an attach of one more tab is refused (`rate_limited`, then a close).
    tabs: HashMap<String, TabState>,
    /// Open connections by id, with their tab and control channel (each
    /// bounded by [`CONTROL_CAPACITY`]). At most
    /// `limits.connections_per_session`: one more is refused like a tab.
    conns: HashMap<u64, (String, mpsc::Sender<Control>)>,
    /// The session's message and byte rate limits.
    rate: SessionRate,
    /// Set once the session is ending: no new connection attaches.
    ending: bool,
    /// The session's signals across its tabs; its presence shows their
    /// live counts.
    signals: SessionSignals,
    /// The session in presence ([`crate::presence`]).
    presence: SessionPresence,
    /// The watch lease, and the live task that keeps the tabs' tails on
    /// disk and publishes to the watchers ([`crate::live`]).
    live: Live,
    /// Writes the newest identify; started by the first one. Bounded: one
    /// waits, a newer one replaces it.
    identify: Option<IdentifyWriter>,
    /// `identified_at` of the last identify (ms): each is stamped later
    /// than the one before, even within one millisecond.
    identified_at: i64,
    /// Storage, config and the bus.
    deps: Arc<Deps>,
    /// The node's live sessions, left when the actor stops.
    registry: Arc<Registry<SessionActor>>,
}

impl SessionActor {
    /// A session actor for a session the index already holds.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        deps: Arc<Deps>,
        registry: Arc<Registry<SessionActor>>,
        id: String,
        site_id: i64,
        visitor: String,
        started_at: i64,
        last_activity_at: i64,
        raw_bytes: u64,
    ) -> SessionActor {
        SessionActor {
            rate: SessionRate::new(&deps.config.limits, Instant::now()),
            tabs: HashMap::new(),
            conns: HashMap::new(),
            ending: false,
            signals: SessionSignals::default(),
            presence: SessionPresence::new(
                site_id,
                Presence {
                    session: id.clone(),
                    visitor: visitor.clone(),
                    user_id: None,
                    url: String::new(),
                    title: String::new(),
                    device: String::new(),
                    browser: String::new(),
                    os: String::new(),
                    started_at,
                    last_activity_at,
                    node: deps.config.node_id.clone(),
                    signals: Default::default(),
                },
            ),
            live: Live::new(id.clone(), deps.config.live_dir.clone()),
            identify: None,
            identified_at: 0,
            id,
            site_id,
            visitor,
            started_at,
            last_activity_at,
            raw_bytes,
            deps,
            registry,
        }
    }

    // The session's work, shared by the handlers and the sweep.

    /// Brings presence up to date ([`SessionPresence::sync`]).
    fn sync_presence(&mut self) {
        let connected = !self.conns.is_empty();
        self.presence
            .sync(connected, self.ending, self.last_activity_at);
    }

    /// Shows the live signals in presence from the next sync on.
    fn show_signals(&mut self) {
        self.presence.show_signals(&self.signals.live);
    }

    /// Takes one message of `wire_bytes` from the session's rate limits.
    fn charge(&mut self, wire_bytes: u64, now: Instant) -> Result<(), Refusal> {
        let limits = &self.deps.config.limits;
        self.rate.take(wire_bytes, now).map_err(|over| {
            let message = match over {
                Over::Messages => format!(
                    "over {} messages per second",
                    limits.session_messages_per_sec
                ),
                Over::Bytes => format!("over {} bytes per second", limits.session_bytes_per_sec),
            };
            Refusal::new(ErrorCode::RateLimited, message)
        })
    }

    /// Hands batch `seq` of `tab` to the live task: to its tail and, when
    /// watched, to the watchers. When it was dropped for the watchers (the
    /// bus is behind), the tab's trackers are asked for a snapshot, from
    /// which the watchers pick up again.
    fn live_batch(&mut self, tab: &str, seq: u64, ndjson: Vec<u8>, snapshot_from: Option<usize>) {
        if !self
            .live
            .batch(&self.deps.bus, tab, seq, ndjson, snapshot_from)
        {
            self.ask_snapshot(tab)();
        }
    }

    /// Asks `tab`'s connections, as they are now, for a fresh snapshot.
    fn ask_snapshot(&self, tab: &str) -> impl FnOnce() + Send + 'static {
        let controls: Vec<mpsc::Sender<Control>> = self
            .conns
            .values()
            .filter(|(t, _)| t == tab)
            .map(|(_, c)| c.clone())
            .collect();
        move || {
            for c in controls {
                let _ = c.try_send(Control::Send(Box::new(ServerMessage::Snapshot)));
            }
        }
    }

    /// Commits `tab`'s buffer as a segment, off the actor's thread.
    fn flush_tab(&mut self, tab_id: &str, ctx: &mut Context<Self>) {
        let Some(tab) = self.tabs.get_mut(tab_id) else {
            return;
        };
        let Some(seg) = tab.take_segment(
            &self.deps.memory,
            self.site_id,
            self.started_at,
            &self.id,
            tab_id,
            &self.deps.config.node_id,
        ) else {
            return;
        };
        let deps = self.deps.clone();
        let tab_name = tab_id.to_owned();
        let fut = async move { segment::commit(seg, &deps.outbox, Some(deps.spool.clone())).await };
        let addr = ctx.address();
        actix::spawn(async move {
            fut.await;
            addr.do_send(Committed { tab: tab_name });
        });
    }

    /// Commits every tab's buffer; the future resolves once every segment
    /// of the session in flight is committed.
    fn flush_all(
        &mut self,
        ctx: &mut Context<Self>,
    ) -> impl std::future::Future<Output = ()> + 'static {
        let tabs: Vec<String> = self.tabs.keys().cloned().collect();
        for tab in &tabs {
            if let Some(t) = self.tabs.get_mut(tab) {
                t.finish();
            }
            self.flush_tab(tab, ctx);
        }
        let waits: Vec<_> = tabs.iter().map(|t| self.wait_tab(t)).collect();
        async move {
            for w in waits {
                let _ = w.await;
            }
        }
    }

    /// A future that resolves once every in-flight segment of `tab` is committed.
    fn wait_tab(&mut self, tab: &str) -> oneshot::Receiver<()> {
        match self.tabs.get_mut(tab) {
            Some(t) => t.wait(),
            None => {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(());
                rx
            }
        }
    }

    /// Tells every connection, then ends the session: commit every buffer,
    /// set `ended_at`, leave the registry.
    fn end_session(&mut self, code: ErrorCode, why: &str, ended_at: i64, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.ending = true;
        tracing::info!(session_id = %self.id, reason = why, "session ended");
        for (_, (_, tx)) in self.conns.drain() {
            let _ = tx.try_send(Control::Close(code, why.to_owned()));
        }
        // Leave presence now, behind any presence write already queued.
        self.presence.leave();
        // The tails go once the live task is done with what came before.
        self.live.end(&self.deps.bus);
        let flushed = self.flush_all(ctx);
        let deps = self.deps.clone();
        let id = self.id.clone();
        async move {
            flushed.await;
            let op = OutboxOp::EndSession {
                session_id: id.clone(),
                ended_at,
            };
            retry("end_session", &id, || deps.outbox.write(&op)).await;
            let ended = BusMessage::WatchEnded {
                session: id.clone(),
                reason: reel_protocol::live::WATCH_SESSION_ENDED.into(),
            };
            let _ = deps.bus.publish(&topics::live(&id), ended).await;
        }
        .into_actor(self)
        .map(|_, _, ctx| ctx.stop())
        .spawn(ctx);
    }

    /// Sweeps: ends the session when inactive or too old, commits buffers
    /// that have waited too long.
    fn tick(&mut self, ctx: &mut Context<Self>) {
        if self.ending {
            return;
        }
        self.sync_presence();
        self.live.expire();
        let cfg = &self.deps.config;
        let now = crate::now_ms();
        if now - self.last_activity_at >= cfg.limits.inactivity_timeout_ms as i64 {
            let at = self.last_activity_at;
            self.end_session(
                ErrorCode::SessionOver,
                "session ended after inactivity",
                at,
                ctx,
            );
            return;
        }
        if now - self.started_at >= cfg.limits.max_session_duration_ms as i64 {
            self.end_session(
                ErrorCode::SessionOver,
                "session passed its maximum duration",
                now,
                ctx,
            );
            return;
        }
        // Under memory pressure the larger buffers go, whatever their age
        // (also when no batch arrives to trigger it: reads may be held).
        let max_age = cfg.segment_max_age;
        let memory = &self.deps.memory;
        let old: Vec<String> = self
            .tabs
            .iter()
            .filter(|(_, t)| t.due(max_age, memory))
            .map(|(k, _)| k.clone())
            .collect();
        for tab in old {
            self.flush_tab(&tab, ctx);
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(MAILBOX_CAPACITY);
        ctx.run_interval(self.deps.config.sweep_interval, |act, ctx| act.tick(ctx));
        metrics::gauge!(metric_names::LIVE_SESSIONS).increment(1.0);
        // Presence writes go out in order, off the actor.
        self.presence
            .start(self.deps.presence.clone(), self.deps.bus.clone());
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        // A session is only stopped once it has ended (its buffers committed).
        if !self.ending {
            // The commits run on without the actor; nobody waits for them.
            drop(self.flush_all(ctx));
        }
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        metrics::gauge!(metric_names::LIVE_SESSIONS).decrement(1.0);
        self.registry.remove(&self.id);
    }
}

/// Attaches a tab's connection; resolves with the tab's `next_seq` once every
/// batch received before it is durable.
impl Handler<Attach> for SessionActor {
    type Result = ResponseActFuture<Self, Result<u64, AttachError>>;

    fn handle(&mut self, msg: Attach, _: &mut Context<Self>) -> Self::Result {
        let refuse = |e: AttachError| Box::pin(fut::ready(Err(e))) as Self::Result;
        if self.ending || msg.site_id != self.site_id || msg.visitor != self.visitor {
            return refuse(AttachError::NotContinuable);
        }
        let limits = &self.deps.config.limits;
        if self.conns.len() as u64 >= limits.connections_per_session {
            return refuse(AttachError::Refused(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "a session may have at most {} open connections",
                    limits.connections_per_session
                ),
            )));
        }
        if !self.tabs.contains_key(&msg.tab) && self.tabs.len() as u64 >= limits.tabs_per_session {
            return refuse(AttachError::Refused(Refusal::new(
                ErrorCode::RateLimited,
                format!(
                    "a session may have at most {} tabs",
                    limits.tabs_per_session
                ),
            )));
        }
        // Reconnecting tabs replace nothing: several connections of one tab
        // (a page load racing its predecessor's close) all feed the session.
        self.conns
            .insert(msg.conn_id, (msg.tab.clone(), msg.control.clone()));
        self.presence.set_page(&msg.url, Some(&msg.title));
        self.presence.set_device(&msg.device, &msg.browser, &msg.os);
        self.sync_presence();
        if self.live.watched() {
            // A watched tab's new page: its first batch will hold a snapshot.
            let _ = msg
                .control
                .try_send(Control::Send(Box::new(ServerMessage::Snapshot)));
        }
        let floor = msg.acked.map_or(0, |a| a.saturating_add(1));
        let barrier = self.deps.spool.barrier();
        let settle = self
            .tabs
            .get_mut(&msg.tab)
            .is_some_and(|t| std::mem::take(&mut t.settle));
        let committed = settle.then(|| self.wait_tab(&msg.tab));
        if let Some(tab) = self.tabs.get_mut(&msg.tab) {
            tab.next_seq = tab.next_seq.max(floor);
            let next = tab.next_seq;
            return Box::pin(
                async move {
                    if let Some(committed) = committed {
                        let _ = committed.await;
                    }
                    barrier.await.map_err(|e| {
                        AttachError::Refused(Refusal::new(ErrorCode::Internal, e.to_string()))
                    })?;
                    Ok(next)
                }
                .into_actor(self),
            );
        }
        let index = self.deps.index.clone();
        let (session, tab_id) = (self.id.clone(), msg.tab.clone());
        Box::pin(
            async move { index.tab_next_seq(&session, &tab_id).await }
                .into_actor(self)
                .map(move |res, act, _| {
                    let stored = match res {
                        Ok(stored) => stored,
                        // The index is down: the client's ack is what is known.
                        Err(StoreError::Unavailable(e)) => {
                            tracing::warn!(session_id = %act.id, error = %e, "index unavailable, tab continues from the client's ack");
                            0
                        }
                        Err(e) => {
                            return Err(AttachError::Refused(Refusal::new(
                                ErrorCode::Internal,
                                e.to_string(),
                            )))
                        }
                    };
                    // Batches of the earlier run still draining are
                    // stored below this: a tab continues past them (the
                    // tracker's resends of them are duplicates, acked).
                    let draining = act.deps.recovery.next_seq(&act.id, &msg.tab);
                    let memory = &act.deps.memory;
                    let tab = act
                        .tabs
                        .entry(msg.tab)
                        .or_insert_with(|| TabState::new(memory));
                    tab.next_seq = tab.next_seq.max(stored).max(floor).max(draining);
                    Ok(tab.next_seq)
                }),
        )
    }
}

/// Forgets a connection. When it was its tab's last one, the tab's buffer
/// becomes a segment now: the tab closed or is between page loads, and its
/// `end` may not have made it out of the unloading page. Either way that is
/// the segment `end` would have made.
impl Handler<Detach> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Detach, ctx: &mut Context<Self>) {
        let Some((tab, _)) = self.conns.remove(&msg.conn_id) else {
            return;
        };
        self.sync_presence();
        if !self.conns.values().any(|(t, _)| *t == tab) {
            self.flush_tab(&tab, ctx);
        }
    }
}

/// Takes a batch: rate limits, seq check, size limit, spool append, buffer.
impl Handler<Batch> for SessionActor {
    type Result = Result<BatchAccepted, Refusal>;

    fn handle(&mut self, msg: Batch, ctx: &mut Context<Self>) -> Self::Result {
        let now = Instant::now();
        if !msg.held.is_zero() {
            self.rate.credit(msg.held);
        }
        self.charge(msg.wire_bytes, now)?;
        let limits = &self.deps.config.limits;
        if self.ending {
            return Err(Refusal::new(
                ErrorCode::SessionOver,
                "the session has ended",
            ));
        }
        let Some(tab) = self.tabs.get_mut(&msg.tab) else {
            return Err(Refusal::new(
                ErrorCode::Internal,
                "batch for a tab that is not attached",
            ));
        };
        if msg.seq < tab.next_seq {
            // A duplicate: it was received before; ack it again once
            // everything received so far is durable.
            metrics::counter!(metric_names::DUPLICATE_BATCHES_TOTAL).increment(1);
            return Ok(BatchAccepted {
                seq: msg.seq,
                durable: self.deps.spool.barrier(),
                fresh: false,
            });
        }
        if msg.seq > tab.next_seq {
            return Err(Refusal::new(
                ErrorCode::SeqGap,
                format!("expected seq {}, got {}", tab.next_seq, msg.seq),
            ));
        }
        let new_total = self.raw_bytes + msg.stats.raw_bytes;
        if new_total > limits.max_session_bytes {
            let max = limits.max_session_bytes;
            self.end_session(
                ErrorCode::SessionOver,
                &format!("session passed its maximum of {max} raw bytes"),
                crate::now_ms(),
                ctx,
            );
            return Err(Refusal::new(
                ErrorCode::SessionOver,
                "session passed its maximum size",
            ));
        }
        let received_at = crate::now_ms();
        // unwrap: looked up above, and nothing removed it since.
        let tab = self.tabs.get_mut(&msg.tab).unwrap();
        let mut stats = msg.stats;
        tab.signals_before
            .push_back((msg.seq, tab.signals.clone(), tab.keys.clone()));
        stats.keypresses = tab.keys.count(&std::mem::take(&mut stats.typing));
        stats.signals = self.signals.batch(
            &mut tab.signals,
            &msg.signals,
            stats.last_ts,
            stats.console_errors,
            &msg.ndjson,
        );
        self.show_signals();
        let mut batch = SpoolBatch {
            site_id: self.site_id,
            session_id: self.id.clone(),
            session_started_at: self.started_at,
            tab_id: msg.tab.clone(),
            seq: msg.seq,
            received_at,
            ndjson: msg.ndjson,
            stats,
        };
        let (ticket, durable) = self.deps.spool.append(&batch);
        // unwrap: looked up above, and nothing removed it since.
        let tab = self.tabs.get_mut(&msg.tab).unwrap();
        tab.next_seq += 1;
        tab.buffer.push(&batch, &msg.frame, Some(ticket), now);
        tab.charge.set(tab.buffer.held_bytes());
        let len = tab.buffer.raw_len as u64;
        let early = self.deps.memory.should_flush(tab.charge.bytes());
        if early {
            metrics::counter!(metric_names::SEGMENTS_FLUSHED_EARLY_TOTAL).increment(1);
        }
        let full = early || len >= self.deps.config.segment_max_bytes;
        if let Some((url, _)) = batch.stats.urls.last() {
            self.presence.set_page(url, None);
        }
        // The batch's bytes go on to its tail (and the watchers).
        let ndjson = std::mem::take(&mut batch.ndjson);
        self.live_batch(&msg.tab, msg.seq, ndjson, msg.snapshot_from);
        self.raw_bytes = new_total;
        self.last_activity_at = self.last_activity_at.max(received_at);
        metrics::counter!(metric_names::BATCHES_TOTAL).increment(1);
        metrics::counter!(metric_names::EVENTS_TOTAL).increment(batch.stats.events);
        metrics::counter!(metric_names::EVENT_BYTES_TOTAL).increment(batch.stats.raw_bytes);
        if full {
            self.flush_tab(&msg.tab, ctx);
        }
        Ok(BatchAccepted {
            seq: msg.seq,
            durable,
            fresh: true,
        })
    }
}

/// Forgets a batch whose spool append failed, and every later batch of its
/// tab: they were never acked, and the tracker sends them again from
/// `welcome.next_seq`. When the batch already left the buffer for a
/// segment being committed (or another connection of the tab may have had
/// later batches acked), nothing is forgotten: the tab's buffer is
/// committed from memory and the next attach waits for its commits.
impl Handler<NotDurable> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: NotDurable, ctx: &mut Context<Self>) {
        let shared = self
            .conns
            .iter()
            .any(|(id, (tab, _))| *id != msg.conn_id && *tab == msg.tab);
        let Some(tab) = self.tabs.get_mut(&msg.tab) else {
            return;
        };
        if msg.seq >= tab.next_seq {
            // Already forgotten.
            return;
        }
        let buffered = tab.buffer.first_seq.is_some_and(|first| first <= msg.seq);
        if buffered && !shared {
            let dropped = tab.rewind(msg.seq);
            let tickets: Vec<_> = dropped.iter().filter_map(|b| b.ticket).collect();
            let bytes: u64 = dropped.iter().map(|b| b.stats.raw_bytes).sum();
            self.deps.spool.release(&tickets);
            self.signals.forget(dropped.iter().map(|b| &b.stats));
            self.show_signals();
            self.raw_bytes = self.raw_bytes.saturating_sub(bytes);
            tracing::warn!(session_id = %self.id, tab = %msg.tab, seq = msg.seq, dropped = dropped.len(), "batches not made durable are forgotten; the tracker resends them");
        } else {
            tab.settle = true;
            tracing::warn!(session_id = %self.id, tab = %msg.tab, seq = msg.seq, "a batch not made durable is committed from memory");
            self.flush_tab(&msg.tab, ctx);
        }
    }
}

/// Links the session to a user: charged to the rate limits, then written
/// to the index in the background by the session's identify writer (the
/// newest identify replaces one not yet written).
impl Handler<Identify> for SessionActor {
    type Result = Result<(), Refusal>;

    fn handle(&mut self, msg: Identify, _: &mut Context<Self>) -> Self::Result {
        self.charge(msg.wire_bytes, Instant::now())?;
        metrics::counter!(metric_names::IDENTIFIES_TOTAL).increment(1);
        if self.presence.set_user(&msg.user_id) {
            self.sync_presence();
        }
        self.identified_at = crate::now_ms().max(self.identified_at + 1);
        let op = OutboxOp::IdentifyAt {
            session_id: self.id.clone(),
            user_id: msg.user_id,
            traits: msg.traits,
            identified_at: self.identified_at,
        };
        let writer = self.identify.get_or_insert_with(|| {
            let outbox = self.deps.outbox.clone();
            IdentifyWriter::start(self.id.clone(), move |op| {
                let outbox = outbox.clone();
                async move { outbox.write(&op).await.map(|_| ()) }
            })
        });
        writer.put(op);
        Ok(())
    }
}

/// Commits a tab's buffer and resolves once its segments are in the index.
impl Handler<EndTab> for SessionActor {
    type Result = ResponseFuture<Option<u64>>;

    fn handle(&mut self, msg: EndTab, ctx: &mut Context<Self>) -> Self::Result {
        self.flush_tab(&msg.tab, ctx);
        let last = self
            .tabs
            .get(&msg.tab)
            .and_then(|t| t.next_seq.checked_sub(1));
        let wait = self.wait_tab(&msg.tab);
        Box::pin(async move {
            let _ = wait.await;
            last
        })
    }
}

/// Starts or renews a watch. A new watch gets each tab's live tail first,
/// and every connection is asked for a fresh snapshot.
impl Handler<Watch> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Context<Self>) {
        if self.ending {
            return;
        }
        if !self.live.renew(msg.fresh) {
            return;
        }
        metrics::counter!(metric_names::WATCHES_STARTED_TOTAL).increment(1);
        // Each tab from its tail on disk; a tab the node has no tail of
        // (none yet, or lost: a restart, a dropped batch) asks its trackers.
        let tabs: Vec<(String, Option<u64>)> = self
            .tabs
            .iter()
            .map(|(tab, state)| (tab.clone(), state.next_seq.checked_sub(1)))
            .collect();
        for (tab, through) in tabs {
            let missing = self.ask_snapshot(&tab);
            self.live
                .catch_up(&self.deps.bus, &tab, through, Box::new(missing));
        }
        // Connections whose tab is still attaching have nothing yet.
        for (tab, tx) in self.conns.values() {
            if !self.tabs.contains_key(tab) {
                let _ = tx.try_send(Control::Send(Box::new(ServerMessage::Snapshot)));
            }
        }
    }
}

/// Commits every buffer (node shutdown) and resolves once all are committed.
impl Handler<FlushAll> for SessionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: FlushAll, ctx: &mut Context<Self>) -> Self::Result {
        Box::pin(self.flush_all(ctx))
    }
}

/// Ends a deleted session at once; its trackers start a new, unlinked
/// session when they reconnect.
impl Handler<Deleted> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: Deleted, ctx: &mut Context<Self>) {
        self.end_session(
            ErrorCode::SessionOver,
            "session deleted",
            crate::now_ms(),
            ctx,
        );
    }
}

/// Marks a segment done and wakes whoever waits for its tab.
impl Handler<Committed> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: Committed, _: &mut Context<Self>) {
        if let Some(tab) = self.tabs.get_mut(&msg.tab) {
            tab.committed();
        }
    }
}

#[cfg(test)]
mod tests {
    //! The actor's timed behaviour under paused time: a sweep every
    //! [`SWEEP`], so that each event is checked half a sweep before and
    //! after the sweep that should act on it.

    use std::time::Duration;

    use futures_util::FutureExt;
    use reel_protocol::live::WATCH_SESSION_ENDED;
    use tokio::sync::broadcast;

    use super::*;
    use crate::deps::SessionsConfig;
    use crate::live::WATCH_LEASE;
    use crate::presence::{PRESENCE_GRACE, PRESENCE_HEARTBEAT};
    use crate::testing::{self, MemSpool, TestDeps, NEVER};
    use crate::traits::{Bus, PresenceStore};

    const SWEEP: Duration = Duration::from_secs(1);
    const MAX_AGE: Duration = Duration::from_secs(10);
    const SITE: i64 = 1;

    fn config() -> SessionsConfig {
        SessionsConfig {
            sweep_interval: SWEEP,
            segment_max_age: MAX_AGE,
            ..SessionsConfig::default()
        }
    }

    /// Session `s1` started now on the doubles, last active at
    /// `last_activity_at` and started at `started_at` (ms, the index's
    /// clock), registered as live. Its sweeps run at `t0 + n * SWEEP`.
    fn start(
        t: &TestDeps,
        started_at: i64,
        last_activity_at: i64,
    ) -> (Addr<SessionActor>, Arc<Registry<SessionActor>>, Instant) {
        let registry = Arc::new(Registry::default());
        let actor = SessionActor::new(
            t.deps.clone(),
            registry.clone(),
            "s1".into(),
            SITE,
            "v1".into(),
            started_at,
            last_activity_at,
            0,
        );
        let t0 = Instant::now();
        let addr = actor.start();
        registry.insert("s1".into(), addr.clone());
        (addr, registry, t0)
    }

    /// Attaches connection `conn` of tab `t` on page `url`; its `next_seq`
    /// and its control channel.
    async fn attach(
        addr: &Addr<SessionActor>,
        conn: u64,
        url: &str,
    ) -> (u64, mpsc::Receiver<Control>) {
        let (control, rx) = mpsc::channel(CONTROL_CAPACITY);
        let next = addr
            .send(Attach {
                conn_id: conn,
                site_id: SITE,
                visitor: "v1".into(),
                tab: "t".into(),
                acked: None,
                control,
                url: url.into(),
                title: String::new(),
                device: "desktop".into(),
                browser: "Firefox".into(),
                os: "Linux".into(),
            })
            .await
            .expect("the session is live")
            .expect("attached");
        (next, rx)
    }

    /// Batch `seq` of tab `t`: one event, on page `url` when given.
    fn batch(seq: u64, url: Option<&str>) -> Batch {
        let ndjson = format!("{{\"type\":3,\"timestamp\":{seq}}}\n").into_bytes();
        let stats = BatchStats {
            events: 1,
            raw_bytes: ndjson.len() as u64,
            first_ts: seq as i64,
            last_ts: seq as i64,
            urls: url
                .map(|u| (u.to_owned(), seq as i64))
                .into_iter()
                .collect(),
            ..BatchStats::default()
        };
        Batch {
            tab: "t".into(),
            seq,
            wire_bytes: ndjson.len() as u64,
            frame: segment::frame(&ndjson),
            ndjson,
            stats,
            signals: Vec::new(),
            snapshot_from: None,
            held: Duration::ZERO,
        }
    }

    /// Sends `b` and returns its acceptance.
    async fn send(addr: &Addr<SessionActor>, b: Batch) -> BatchAccepted {
        addr.send(b)
            .await
            .expect("the session is live")
            .expect("accepted")
    }

    /// Sleeps (paused time) until `t0 + at`.
    async fn at(t0: Instant, at: Duration) {
        tokio::time::sleep_until(t0 + at).await;
    }

    /// The next message to a connection.
    async fn told(control: &mut mpsc::Receiver<Control>) -> Control {
        tokio::time::timeout(NEVER, control.recv())
            .await
            .expect("a control message")
            .expect("the connection is open")
    }

    /// The next message on a topic.
    async fn next(rx: &mut broadcast::Receiver<BusMessage>) -> BusMessage {
        tokio::time::timeout(NEVER, rx.recv())
            .await
            .expect("a message")
            .expect("the topic is open")
    }

    /// The seq of the first batch tab `t`'s buffer holds.
    struct OldestBuffered;

    impl Message for OldestBuffered {
        type Result = Option<u64>;
    }

    impl Handler<OldestBuffered> for SessionActor {
        type Result = Option<u64>;

        fn handle(&mut self, _: OldestBuffered, _: &mut Context<Self>) -> Option<u64> {
            self.tabs.get("t").and_then(|t| t.buffer.first_seq)
        }
    }

    #[actix::test]
    async fn a_buffer_becomes_a_segment_at_the_first_sweep_after_segment_max_age() {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::synced());
        let (addr, _, t0) = start(&t, crate::now_ms(), crate::now_ms());
        attach(&addr, 1, "/a").await;
        send(&addr, batch(0, None)).await.durable.await.unwrap();
        at(t0, MAX_AGE / 2).await;
        send(&addr, batch(1, None)).await.durable.await.unwrap();
        // The buffer's age is its oldest batch's: the sweeps before it
        // leave the buffer alone.
        at(t0, MAX_AGE - SWEEP / 2).await;
        assert_eq!(addr.send(OldestBuffered).await.unwrap(), Some(0));
        assert!(t.index.stored().segments.is_empty());
        // The sweep at MAX_AGE cuts it.
        at(t0, MAX_AGE + SWEEP / 2).await;
        let stored = tokio::time::timeout(NEVER, t.index.until(|s| !s.segments.is_empty()))
            .await
            .expect("a segment");
        let seg = &stored.segments[0];
        assert_eq!((seg.first_seq, seg.last_seq), (0, 1));
        assert_eq!(addr.send(OldestBuffered).await.unwrap(), None);
        // A batch after the cut starts a new buffer, with its own age.
        send(&addr, batch(2, None)).await.durable.await.unwrap();
        at(t0, MAX_AGE * 2 + SWEEP / 4).await;
        assert_eq!(addr.send(OldestBuffered).await.unwrap(), Some(2));
        assert_eq!(t.index.stored().segments.len(), 1);
    }

    #[actix::test]
    async fn an_idle_session_ends_at_the_next_sweep_as_of_its_last_activity() {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::synced());
        let mut watchers = t.bus.subscribe(&topics::live("s1"));
        // Restored from the index, idle for the whole timeout already
        // (the session's clock is the index's: ms since the epoch).
        let idle = t.deps.config.limits.inactivity_timeout_ms as i64;
        let last = crate::now_ms() - idle;
        let (addr, registry, t0) = start(&t, last, last);
        let (_, mut control) = attach(&addr, 1, "/a").await;
        at(t0, SWEEP / 2).await;
        assert!(control.try_recv().is_err(), "no sweep yet");
        at(t0, SWEEP + SWEEP / 2).await;
        let Control::Close(code, why) = told(&mut control).await else {
            panic!("the connection is closed");
        };
        assert_eq!(code, ErrorCode::SessionOver);
        assert_eq!(why, "session ended after inactivity");
        // Ended at its last activity, then its watchers are told.
        let BusMessage::WatchEnded { reason, .. } = next(&mut watchers).await else {
            panic!("the watch ends");
        };
        assert_eq!(reason, WATCH_SESSION_ENDED);
        assert_eq!(t.index.stored().ended, vec![("s1".to_owned(), last)]);
        // The actor stops and leaves the registry.
        tokio::time::timeout(NEVER, async {
            while addr.connected() {
                tokio::time::sleep(SWEEP).await;
            }
        })
        .await
        .expect("the actor stops");
        assert!(registry.get("s1").is_none());
    }

    #[actix::test]
    async fn a_session_past_its_maximum_duration_ends_at_the_next_sweep_with_its_buffers_committed()
    {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::synced());
        let max = t.deps.config.limits.max_session_duration_ms as i64;
        let (addr, _, t0) = start(&t, crate::now_ms() - max, crate::now_ms());
        let (_, mut control) = attach(&addr, 1, "/a").await;
        send(&addr, batch(0, None)).await.durable.await.unwrap();
        at(t0, SWEEP + SWEEP / 2).await;
        let Control::Close(_, why) = told(&mut control).await else {
            panic!("the connection is closed");
        };
        assert_eq!(why, "session passed its maximum duration");
        // The buffer is committed before the session's end is written.
        let stored = tokio::time::timeout(NEVER, t.index.until(|s| !s.ended.is_empty()))
            .await
            .expect("ended");
        assert_eq!(stored.segments.len(), 1);
        assert_eq!(stored.segments[0].first_seq, 0);
        // An ended session takes no more batches.
        let refused = addr.send(batch(1, None)).await;
        assert!(!matches!(refused, Ok(Ok(_))), "a batch after the end");
    }

    #[actix::test]
    async fn a_batch_is_acked_only_once_the_spool_has_fsynced_it() {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::default());
        let (addr, _, t0) = start(&t, crate::now_ms(), crate::now_ms());
        assert_eq!(attach(&addr, 1, "/a").await.0, 0);
        let first = send(&addr, batch(0, None)).await;
        assert!(first.fresh);
        let mut durable = first.durable;
        // However long the fsync takes, there is no ack before it.
        at(t0, SWEEP * 3 + SWEEP / 2).await;
        assert!((&mut durable).now_or_never().is_none());
        // The tracker resends it (its connection dropped): a duplicate,
        // not appended again, acked once everything before is durable.
        let again = send(&addr, batch(0, None)).await;
        assert!(!again.fresh);
        let mut again = again.durable;
        assert!((&mut again).now_or_never().is_none());
        // A second connection of the tab attaches past it only then.
        let second = actix::spawn({
            let addr = addr.clone();
            async move { attach(&addr, 2, "/a").await.0 }
        });
        at(t0, SWEEP * 4 + SWEEP / 2).await;
        assert!(!second.is_finished());
        t.spool.sync();
        durable.await.unwrap();
        again.await.unwrap();
        assert_eq!(second.await.unwrap(), 1);
        assert_eq!(t.spool.seqs(), vec![0]);
    }

    #[actix::test]
    async fn presence_joins_at_attach_refreshes_every_heartbeat_and_leaves_after_the_grace() {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::synced());
        let mut site = t.bus.subscribe(&topics::presence(SITE));
        let (addr, _, t0) = start(&t, crate::now_ms(), crate::now_ms());
        attach(&addr, 1, "/a").await;
        let BusMessage::PresenceJoin { presence, .. } = next(&mut site).await else {
            panic!("a join");
        };
        assert_eq!(
            (presence.url.as_str(), presence.node.as_str()),
            ("/a", "node")
        );
        // Nothing changed: the sweeps write nothing until the heartbeat.
        at(t0, PRESENCE_HEARTBEAT - SWEEP / 2).await;
        assert!(site.try_recv().is_err());
        at(t0, PRESENCE_HEARTBEAT + SWEEP / 4).await;
        assert!(matches!(
            next(&mut site).await,
            BusMessage::PresenceUpdate { .. }
        ));
        // A page load in a batch is published by the next sweep.
        send(&addr, batch(0, Some("/b"))).await;
        at(t0, PRESENCE_HEARTBEAT + SWEEP + SWEEP / 4).await;
        let BusMessage::PresenceUpdate { presence, .. } = next(&mut site).await else {
            panic!("an update");
        };
        assert_eq!(presence.url, "/b");
        assert_eq!(t.presence.list(SITE).await.unwrap()[0].url, "/b");
        // The last connection goes: the session stays in presence for
        // the grace (a page load reconnects within it), then leaves.
        let alone = PRESENCE_HEARTBEAT + SWEEP + SWEEP / 4;
        addr.send(Detach { conn_id: 1 }).await.unwrap();
        at(t0, alone + PRESENCE_GRACE - SWEEP / 2).await;
        assert!(site.try_recv().is_err());
        assert_eq!(t.presence.list(SITE).await.unwrap().len(), 1);
        at(t0, alone + PRESENCE_GRACE + SWEEP).await;
        assert!(matches!(
            next(&mut site).await,
            BusMessage::PresenceLeave { .. }
        ));
        assert!(t.presence.list(SITE).await.unwrap().is_empty());
    }

    #[actix::test]
    async fn a_watch_publishes_batches_until_its_lease_runs_out() {
        tokio::time::pause();
        let t = testing::deps(config(), MemSpool::synced());
        let mut watchers = t.bus.subscribe(&topics::live("s1"));
        let (addr, _, t0) = start(&t, crate::now_ms(), crate::now_ms());
        let (_, mut control) = attach(&addr, 1, "/a").await;
        send(&addr, batch(0, None)).await;
        // A new watcher: no tail kept here (no live directory), so the
        // tab's tracker is asked for a snapshot.
        addr.send(Watch { fresh: true }).await.unwrap();
        let Control::Send(msg) = told(&mut control).await else {
            panic!("a snapshot request");
        };
        assert!(matches!(*msg, ServerMessage::Snapshot));
        send(&addr, batch(1, None)).await;
        let BusMessage::LiveEvents { tab, ndjson, .. } = next(&mut watchers).await else {
            panic!("live events");
        };
        assert_eq!((tab.as_str(), ndjson), ("t", batch(1, None).ndjson));
        // Not renewed: the lease runs out, and nothing more is published.
        at(t0, WATCH_LEASE + SWEEP / 2).await;
        send(&addr, batch(2, None)).await;
        at(t0, WATCH_LEASE + SWEEP * 2).await;
        assert!(watchers.try_recv().is_err());
    }
}
