//! `GET /v1/live`: the dashboard's live socket (PROTOCOL.md §4). One task
//! per connection: it follows sites' presence (a snapshot, then deltas from
//! the bus, re-checked against the store every [`RESYNC`] so that nothing
//! is missed across a bus outage and dead nodes' sessions leave), and
//! watches sessions (it asks the session's node to publish its events, and
//! forwards them from the first full snapshot on).
//!
//! The socket is opened with a bearer token or the sign-in cookie (viewer
//! and above; with the cookie, `Origin` must be the node's own, see
//! [`origin_allowed`]) and sees only the caller's scope: presence and
//! watching of its organisation's sites, or of the sites it is limited to.
//! The credential is checked again every [`CREDENTIAL_RECHECK`]: a revoked
//! token, a removed member or an ended sign-in closes the socket (policy
//! close, `unauthenticated`).
//!
//! Everything sent to the client goes through one queue of
//! [`limits::CLIENT_QUEUE`] messages. A client that lets it fill up is too
//! slow: its watches end (`too_slow`) and it is disconnected, so a slow
//! viewer costs the node a bounded amount of memory and nobody else waits.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures_util::StreamExt;
use reel_actors::live::WATCH_RENEW;
use reel_actors::metric_names;
use reel_actors::traits::{topics, BusMessage, Scope};
use reel_protocol::accounts::AuditAction;
use reel_protocol::live::{
    limits, LiveClientMessage, LiveServerMessage, Presence, WATCH_NOT_ALLOWED, WATCH_SESSION_ENDED,
    WATCH_TOO_SLOW,
};
use reel_protocol::{ErrorCode, EventHeader};
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;

use super::accounts::VIEW_AUDIT_WINDOW;
use super::auth::{audit_once, authorize, resolve, Caller, Credential, Right};
use super::{ApiError, AppState};

/// How often presence is re-read from the store and watches renewed.
pub const RESYNC: Duration = WATCH_RENEW;
/// How often an open socket checks its credential again: a revoked token
/// or a removed member's socket closes within this (and a query's time).
pub const CREDENTIAL_RECHECK: Duration = Duration::from_secs(3);
/// How long a too-slow client's goodbye may take before it is dropped.
const SLOW_CLOSE: Duration = Duration::from_secs(1);
/// Bus messages waiting for the connection task (from all its topics).
const INBOUND_CAPACITY: usize = 1024;

/// What the topic forwarders hand the connection task. The message is
/// boxed: it is the larger variant by far.
enum Inbound {
    Bus(Box<BusMessage>),
    /// A topic's receiver lost messages: this client is too slow.
    Lagged,
}

/// One followed site.
struct SiteFollow {
    forwarder: AbortHandle,
    known: HashMap<String, Presence>,
}

/// One watched session.
struct WatchState {
    site: i64,
    node: String,
    forwarder: AbortHandle,
    /// Tabs whose stream has begun (with a full snapshot).
    synced: HashSet<String>,
}

/// May a socket opened with the sign-in cookie come from this `Origin`?
/// Only from the node's own origin (the request's scheme and host) or a
/// configured public origin: another site's page cannot open it with the
/// cookie the browser would attach. No `Origin` (not a browser): yes.
fn origin_allowed(req: &HttpRequest, state: &AppState) -> bool {
    let Some(origin) = req.headers().get("origin").and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    origin.eq_ignore_ascii_case(&own)
        || state
            .config
            .accounts
            .public_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
}

/// Authenticates (bearer header or the dashboard's sign-in cookie, with
/// its `Origin` checked), then upgrades.
pub async fn live(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authorize(&req, &state, Right::Read).await?;
    if matches!(caller.credential, Credential::Session { .. }) && !origin_allowed(&req, &state) {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "the live socket opens with the sign-in cookie only from the dashboard's own origin",
        ));
    }
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::new(ErrorCode::BadRequest, e.to_string()))?;
    let stream = stream
        .max_frame_size(limits::CLIENT_MESSAGE_BYTES)
        .aggregate_continuations()
        .max_continuation_size(limits::CLIENT_MESSAGE_BYTES);
    metrics::gauge!(metric_names::LIVE_CLIENTS).increment(1.0);
    actix_web::rt::spawn(async move {
        run(state, caller, session, stream).await;
        metrics::gauge!(metric_names::LIVE_CLIENTS).decrement(1.0);
    });
    Ok(response)
}

/// Forwards a bus topic into the connection task's queue.
fn forward(mut rx: broadcast::Receiver<BusMessage>, tx: mpsc::Sender<Inbound>) -> AbortHandle {
    tokio::spawn(async move {
        loop {
            let item = match rx.recv().await {
                Ok(m) => Inbound::Bus(Box::new(m)),
                Err(broadcast::error::RecvError::Lagged(_)) => Inbound::Lagged,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(item).await.is_err() {
                return;
            }
        }
    })
    .abort_handle()
}

struct Conn {
    state: web::Data<AppState>,
    /// Who opened the socket; its access is refreshed at each recheck.
    caller: Caller,
    /// What it may see (from `caller`).
    scope: Scope,
    out: mpsc::Sender<String>,
    inbound: mpsc::Sender<Inbound>,
    sites: HashMap<i64, SiteFollow>,
    watches: HashMap<String, WatchState>,
    /// The client let its queue fill up.
    too_slow: bool,
    /// The credential no longer holds (revoked, expired, removed).
    revoked: bool,
}

async fn run(
    state: web::Data<AppState>,
    caller: Caller,
    session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
) {
    let (out, mut out_rx) = mpsc::channel::<String>(limits::CLIENT_QUEUE);
    let mut writer_session = session.clone();
    let writer = tokio::spawn(async move {
        while let Some(text) = out_rx.recv().await {
            if writer_session.text(text).await.is_err() {
                return;
            }
        }
    });
    let (inbound, mut inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
    let mut conn = Conn {
        state,
        scope: caller.scope(),
        caller,
        out,
        inbound,
        sites: HashMap::new(),
        watches: HashMap::new(),
        too_slow: false,
        revoked: false,
    };
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    let mut recheck = tokio::time::interval(CREDENTIAL_RECHECK);
    recheck.tick().await;
    let mut pong_session = session.clone();
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(Ok(AggregatedMessage::Text(text))) => conn.client_message(&text).await,
                Some(Ok(AggregatedMessage::Ping(b))) => {
                    let _ = pong_session.pong(&b).await;
                }
                Some(Ok(AggregatedMessage::Binary(_))) => {
                    conn.error("bad_message", "send text frames of JSON");
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {}
                Some(Ok(AggregatedMessage::Close(_))) | Some(Err(_)) | None => break,
            },
            Some(item) = inbound_rx.recv() => conn.inbound(item),
            _ = resync.tick() => conn.resync().await,
            _ = recheck.tick() => conn.recheck().await,
        }
        if conn.too_slow || conn.revoked {
            break;
        }
    }
    let too_slow = conn.too_slow;
    let revoked = conn.revoked;
    let watched: Vec<String> = conn.watches.keys().cloned().collect();
    conn.stop_all();
    drop(conn);
    drop(pong_session);
    let mut session = session;
    if too_slow {
        metrics::counter!(metric_names::LIVE_SLOW_CLIENTS_TOTAL).increment(1);
        writer.abort();
        // Best effort: the client is not reading, so its channel may be
        // full; dropping the last handle ends the connection either way.
        let _ = tokio::time::timeout(SLOW_CLOSE, async {
            for s in watched {
                let end = LiveServerMessage::WatchEnded {
                    session: s,
                    reason: WATCH_TOO_SLOW.into(),
                };
                session.text(end.to_json()).await?;
            }
            session
                .close(Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some("too slow: the live queue is full".into()),
                }))
                .await
        })
        .await;
    } else if revoked {
        writer.abort();
        metrics::counter!(metric_names::LIVE_REVOKED_TOTAL).increment(1);
        let _ = session
            .close(Some(CloseReason {
                code: CloseCode::Policy,
                description: Some("unauthenticated: the credential was revoked or expired".into()),
            }))
            .await;
    } else {
        let _ = writer.await;
        let _ = session.close(None).await;
    }
}

impl Conn {
    /// Queues a message for the client; a full queue marks it too slow.
    fn send(&mut self, msg: &LiveServerMessage) {
        self.send_text(msg.to_json());
    }

    fn send_text(&mut self, text: String) {
        if self.out.try_send(text).is_err() {
            self.too_slow = true;
        }
    }

    fn error(&mut self, code: &str, message: &str) {
        self.send(&LiveServerMessage::Error {
            code: code.into(),
            message: message.into(),
        });
    }

    async fn client_message(&mut self, text: &str) {
        let msg: LiveClientMessage = match serde_json::from_str(text) {
            Ok(m) => m,
            Err(e) => return self.error("bad_message", &format!("unreadable message: {e}")),
        };
        match msg {
            LiveClientMessage::Presence { site } => self.follow(site).await,
            LiveClientMessage::Watch { session } => self.watch(session).await,
            LiveClientMessage::Unwatch { session } => {
                if let Some(w) = self.watches.remove(&session) {
                    w.forwarder.abort();
                }
            }
        }
    }

    /// `presence`: subscribe first (no delta is lost), then the snapshot.
    async fn follow(&mut self, site: i64) {
        if self.sites.contains_key(&site) {
            return self.resync_site(site, true).await;
        }
        if self.sites.len() >= limits::SITES_PER_CLIENT {
            return self.error(
                "rate_limited",
                &format!("at most {} sites at once", limits::SITES_PER_CLIENT),
            );
        }
        match self.state.index.site_by_id(&self.scope, site).await {
            Ok(Some(_)) => {}
            Ok(None) => return self.error("not_found", "no such site"),
            Err(e) => return self.error("unavailable", &e.to_string()),
        }
        let rx = self.state.sessions.bus().subscribe(&topics::presence(site));
        let forwarder = forward(rx, self.inbound.clone());
        self.sites.insert(
            site,
            SiteFollow {
                forwarder,
                known: HashMap::new(),
            },
        );
        self.resync_site(site, true).await;
    }

    /// Re-reads a site's presence: a full snapshot, or the differences
    /// from what the client knows as joins and leaves.
    async fn resync_site(&mut self, site: i64, snapshot: bool) {
        let list = match self.state.sessions.presence().list(site).await {
            Ok(l) => l,
            Err(e) => {
                if snapshot {
                    self.error("unavailable", &format!("presence: {e}"));
                }
                return;
            }
        };
        let Some(follow) = self.sites.get_mut(&site) else {
            return;
        };
        let fresh: HashMap<String, Presence> = list
            .iter()
            .map(|p| (p.session.clone(), p.clone()))
            .collect();
        let mut msgs = Vec::new();
        if snapshot {
            msgs.push(LiveServerMessage::PresenceSnapshot {
                site,
                sessions: list,
            });
        } else {
            for gone in follow.known.keys().filter(|k| !fresh.contains_key(*k)) {
                msgs.push(LiveServerMessage::PresenceLeave {
                    site,
                    session: gone.clone(),
                });
            }
            for (id, p) in &fresh {
                if !follow.known.contains_key(id) {
                    msgs.push(LiveServerMessage::PresenceJoin {
                        site,
                        session: p.clone(),
                    });
                }
            }
        }
        follow.known = fresh;
        for m in msgs {
            self.send(&m);
        }
    }

    /// `watch`: the session must be the organisation's and live; its node
    /// is asked to publish, and the stream starts at a full snapshot.
    async fn watch(&mut self, session: String) {
        if self.watches.contains_key(&session) {
            return;
        }
        if self.watches.len() >= limits::WATCHES_PER_CLIENT {
            return self.error(
                "rate_limited",
                &format!("at most {} watches at once", limits::WATCHES_PER_CLIENT),
            );
        }
        let info = match self.state.index.session_info(&self.scope, &session).await {
            Ok(Some(i)) => i,
            Ok(None) => return self.error("not_found", "no such session"),
            Err(e) => return self.error("unavailable", &e.to_string()),
        };

        let node = match self.state.sessions.presence().list(info.site_id).await {
            Ok(list) => list
                .into_iter()
                .find(|p| p.session == session)
                .map(|p| p.node),
            Err(e) => return self.error("unavailable", &format!("presence: {e}")),
        };
        let Some(node) = node else {
            return self.error("not_live", "the session is not live");
        };
        if let Err(e) = audit_once(
            &self.state,
            &self.caller,
            AuditAction::LiveWatched,
            format!("session:{session}"),
            VIEW_AUDIT_WINDOW,
        )
        .await
        {
            return self.error("unavailable", &e.message);
        }
        let rx = self.state.sessions.bus().subscribe(&topics::live(&session));
        let forwarder = forward(rx, self.inbound.clone());
        self.request(&node, &session, true).await;
        metrics::counter!(metric_names::LIVE_WATCHES_TOTAL).increment(1);
        self.watches.insert(
            session,
            WatchState {
                site: info.site_id,
                node,
                forwarder,
                synced: HashSet::new(),
            },
        );
    }

    /// Asks `node` to publish `session`'s events: a new watch (`fresh`:
    /// with the tails first) or a renewal of the lease.
    async fn request(&self, node: &str, session: &str, fresh: bool) {
        let msg = BusMessage::WatchRequest {
            session: session.to_owned(),
            fresh,
        };
        if let Err(e) = self
            .state
            .sessions
            .bus()
            .publish(&topics::node(node), msg)
            .await
        {
            tracing::warn!(session_id = session, error = %e, "watch request not sent");
        }
    }

    fn inbound(&mut self, item: Inbound) {
        let msg = match item {
            Inbound::Lagged => {
                self.too_slow = true;
                return;
            }
            Inbound::Bus(m) => *m,
        };
        match msg {
            BusMessage::PresenceJoin { site, presence }
            | BusMessage::PresenceUpdate { site, presence } => {
                let Some(follow) = self.sites.get_mut(&site) else {
                    return;
                };
                let new = follow
                    .known
                    .insert(presence.session.clone(), presence.clone())
                    .is_none();
                let m = if new {
                    LiveServerMessage::PresenceJoin {
                        site,
                        session: presence,
                    }
                } else {
                    LiveServerMessage::PresenceUpdate {
                        site,
                        session: presence,
                    }
                };
                self.send(&m);
            }
            BusMessage::PresenceLeave { site, session } => {
                let Some(follow) = self.sites.get_mut(&site) else {
                    return;
                };
                if follow.known.remove(&session).is_some() {
                    self.send(&LiveServerMessage::PresenceLeave { site, session });
                }
            }
            BusMessage::LiveEvents {
                session,
                tab,
                ndjson,
            } => self.events(session, tab, &ndjson),
            BusMessage::WatchEnded { session, reason } => {
                if let Some(w) = self.watches.remove(&session) {
                    w.forwarder.abort();
                    self.send(&LiveServerMessage::WatchEnded { session, reason });
                }
            }
            BusMessage::WatchRequest { .. }
            | BusMessage::Probe { .. }
            | BusMessage::Maintenance { .. }
            | BusMessage::SiteChanged { .. }
            | BusMessage::SessionDeleted { .. }
            | BusMessage::FlagsChanged => {}
        }
    }

    /// Forwards a watched tab's events, from its first full snapshot on.
    fn events(&mut self, session: String, tab: String, ndjson: &[u8]) {
        let Some(w) = self.watches.get_mut(&session) else {
            return;
        };
        let from = if w.synced.contains(&tab) {
            0
        } else {
            let kinds = ndjson
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| {
                    let kind = serde_json::from_slice::<EventHeader>(l).map_or(0, |h| h.kind);
                    (kind, l.len())
                });
            match reel_actors::live::snapshot_from(kinds) {
                Some(at) => {
                    w.synced.insert(tab.clone());
                    at
                }
                // Nothing to render from yet: wait for the snapshot.
                None => return,
            }
        };
        let lines: Vec<&str> = ndjson[from..]
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| std::str::from_utf8(l).ok())
            .collect();
        if lines.is_empty() {
            return;
        }
        // Events are stored JSON exactly as received: splice them in.
        let text = format!(
            "{{\"t\":\"events\",\"session\":{},\"tab\":{},\"events\":[{}]}}",
            serde_json::Value::from(session),
            serde_json::Value::from(tab),
            lines.join(",")
        );
        self.send_text(text);
    }

    /// Renews watches and re-reads presence.
    async fn resync(&mut self) {
        let sites: Vec<i64> = self.sites.keys().copied().collect();
        for site in sites {
            self.resync_site(site, false).await;
        }
        let watches: Vec<(String, i64, String)> = self
            .watches
            .iter()
            .map(|(s, w)| (s.clone(), w.site, w.node.clone()))
            .collect();
        for (session, site, node) in watches {
            let now = match self.state.sessions.presence().list(site).await {
                Ok(list) => list
                    .into_iter()
                    .find(|p| p.session == session)
                    .map(|p| p.node),
                // Presence unreadable: keep the watch, renew where it was.
                Err(_) => Some(node),
            };
            match now {
                Some(node) => {
                    self.request(&node, &session, false).await;
                    if let Some(w) = self.watches.get_mut(&session) {
                        w.node = node;
                    }
                }
                None => {
                    if let Some(w) = self.watches.remove(&session) {
                        w.forwarder.abort();
                    }
                    self.send(&LiveServerMessage::WatchEnded {
                        session,
                        reason: WATCH_SESSION_ENDED.into(),
                    });
                }
            }
        }
    }

    /// Checks the credential again: gone, the socket closes; otherwise the
    /// scope follows the membership (sites and watches it no longer
    /// reaches end). An index that does not answer changes nothing.
    async fn recheck(&mut self) {
        let access = match resolve(&self.state, &self.caller.credential).await {
            Ok((_, access)) => access,
            Err(e) if e.code == ErrorCode::Unauthenticated => {
                self.revoked = true;
                return;
            }
            Err(_) => return,
        };
        self.caller.access = access;
        self.scope = self.caller.scope();
        let scope = self.scope.clone();
        self.sites.retain(|site, f| {
            let keep = scope.allows_site(*site);
            if !keep {
                f.forwarder.abort();
            }
            keep
        });
        let gone: Vec<String> = self
            .watches
            .iter()
            .filter(|(_, w)| !scope.allows_site(w.site))
            .map(|(s, _)| s.clone())
            .collect();
        for session in gone {
            if let Some(w) = self.watches.remove(&session) {
                w.forwarder.abort();
            }
            self.send(&LiveServerMessage::WatchEnded {
                session,
                reason: WATCH_NOT_ALLOWED.into(),
            });
        }
    }

    fn stop_all(&mut self) {
        for (_, f) in self.sites.drain() {
            f.forwarder.abort();
        }
        for (_, w) in self.watches.drain() {
            w.forwarder.abort();
        }
    }
}
