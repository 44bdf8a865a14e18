//! The node's live sessions: a registry of session actors by id, and how a
//! `hello` continues, restores or starts a session.

use std::sync::Arc;

use actix::prelude::*;
use rand::Rng;
use reel_protocol::{ErrorCode, Hello};
use tokio::sync::mpsc;

use crate::deps::Deps;
pub use crate::deps::SessionsConfig;
use crate::memory::BufferMemory;
use crate::metric_names;
use crate::outbox::Outbox;
use crate::registry::Registry;
use crate::session::{Attach, AttachError, Control, FlushAll, Refusal, SessionActor};
use crate::traits::{
    topics, Bus, BusMessage, Index, NewSession, OutboxOp, PresenceStore, SiteRecord, Spool,
    StoreError,
};

/// Facts about the connecting client for a new session's row.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: String,
    pub browser: String,
    pub os: String,
    pub device: String,
}

/// A connection attached to a session.
pub struct Attached {
    pub session: String,
    pub addr: Addr<SessionActor>,
    pub next_seq: u64,
}

/// The node's sessions.
#[derive(Clone)]
pub struct Sessions {
    deps: Arc<Deps>,
    /// Live session actors by session id.
    registry: Arc<Registry<SessionActor>>,
}

/// Length of generated session ids.
pub const SESSION_ID_LEN: usize = 22;

/// A new random id of `[A-Za-z0-9]` (131 bits for 22 characters).
pub fn new_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Sessions {
    pub fn new(
        outbox: Arc<Outbox>,
        index: Arc<dyn Index>,
        bus: Arc<dyn Bus>,
        presence: Arc<dyn PresenceStore>,
        spool: Arc<dyn Spool>,
        recovery: Arc<crate::recovery::Progress>,
        config: SessionsConfig,
    ) -> Sessions {
        Sessions {
            deps: Arc::new(Deps {
                outbox,
                index,
                bus,
                presence,
                spool,
                recovery,
                memory: BufferMemory::new(config.max_buffered_bytes),
                config,
            }),
            registry: Arc::default(),
        }
    }

    pub fn config(&self) -> &SessionsConfig {
        &self.deps.config
    }

    /// The bound on durable batches held in memory.
    pub fn memory(&self) -> &Arc<BufferMemory> {
        &self.deps.memory
    }

    /// The drain of the earlier run's spool.
    pub fn recovery(&self) -> &crate::recovery::Progress {
        &self.deps.recovery
    }

    /// Live sessions on this node.
    pub fn live_count(&self) -> usize {
        self.registry.len()
    }

    /// Ids of the sessions live on this node.
    pub fn live_ids(&self) -> Vec<String> {
        self.registry.ids()
    }

    /// Attaches a connection that said `hello`: continues the named session
    /// when it may, otherwise starts a new one.
    pub async fn hello(
        &self,
        site: &SiteRecord,
        hello: &Hello,
        client: &ClientInfo,
        conn_id: u64,
        control: mpsc::Sender<Control>,
    ) -> Result<Attached, Refusal> {
        let internal =
            |e: crate::traits::StoreError| Refusal::new(ErrorCode::Internal, e.to_string());
        let visitor = hello.visitor.as_str();
        let attach = |acked: Option<u64>, control: mpsc::Sender<Control>| Attach {
            conn_id,
            site_id: site.id,
            visitor: visitor.to_owned(),
            tab: hello.tab.as_str().to_owned(),
            acked,
            control,
            url: hello.page.url.clone(),
            title: hello.page.title.clone(),
            device: client.device.clone(),
            browser: client.browser.clone(),
            os: client.os.clone(),
        };
        if let Some(sid) = &hello.session {
            let sid = sid.as_str();
            if let Some(addr) = self
                .restore(sid, site.id, visitor)
                .await
                .map_err(internal)?
            {
                match self
                    .attach(&addr, attach(hello.acked, control.clone()))
                    .await
                {
                    Ok(next_seq) => {
                        return Ok(Attached {
                            session: sid.to_owned(),
                            addr,
                            next_seq,
                        })
                    }
                    Err(AttachError::NotContinuable) => {}
                    Err(AttachError::Refused(r)) => return Err(r),
                }
            }
        }
        // A new session: a tab that was mid-session elsewhere starts over.
        let now = crate::now_ms();
        let new = NewSession {
            id: new_id(SESSION_ID_LEN),
            site_id: site.id,
            visitor_id: visitor.to_owned(),
            started_at: now,
            first_url: hello.page.url.clone(),
            referrer: hello.page.referrer.clone(),
            user_agent: client.user_agent.clone(),
            browser: client.browser.clone(),
            os: client.os.clone(),
            device: client.device.clone(),
            screen_w: hello.screen.w.into(),
            screen_h: hello.screen.h.into(),
            lang: hello.lang.clone(),
            tz: hello.tz.clone(),
        };
        // The row goes in now, or into the outbox while the index is down.
        self.deps
            .outbox
            .write(&OutboxOp::OpenSession(new.clone()))
            .await
            .map_err(internal)?;
        metrics::counter!(metric_names::SESSIONS_STARTED_TOTAL).increment(1);
        let actor = SessionActor::new(
            self.deps.clone(),
            self.registry.clone(),
            new.id.clone(),
            site.id,
            new.visitor_id.clone(),
            now,
            // Active from now: the row's write may have waited on the index.
            crate::now_ms(),
            0,
        );
        let addr = actor.start();
        self.registry.insert(new.id.clone(), addr.clone());
        match self.attach(&addr, attach(None, control)).await {
            Ok(next_seq) => Ok(Attached {
                session: new.id,
                addr,
                next_seq,
            }),
            Err(AttachError::Refused(r)) => Err(r),
            Err(AttachError::NotContinuable) => Err(Refusal::new(
                ErrorCode::Internal,
                "new session refused attach",
            )),
        }
    }

    async fn attach(&self, addr: &Addr<SessionActor>, msg: Attach) -> Result<u64, AttachError> {
        match addr.send(msg).await {
            Ok(res) => res,
            // The actor stopped between lookup and attach: it has ended.
            Err(_) => Err(AttachError::NotContinuable),
        }
    }

    /// The actor of a session that may continue: live on this node, or
    /// restored from the index when it belongs to this site and visitor and
    /// has not ended. `None` when it may not continue.
    async fn restore(
        &self,
        sid: &str,
        site_id: i64,
        visitor: &str,
    ) -> Result<Option<Addr<SessionActor>>, crate::traits::StoreError> {
        let slot = self.registry.slot(sid);
        let limits = &self.deps.config.limits;
        let res = slot
            .get_or_try_init(|| async {
                let rec = match self.deps.index.find_session(sid).await {
                    Ok(Some(r)) => Some(r),
                    // A row still in the outbox, unless the session was
                    // deleted meanwhile (find_session skips tombstoned ones).
                    Ok(None) => match self.deps.outbox.opening(sid) {
                        Some(n) if !self.deps.index.is_tombstoned(sid).await.unwrap_or(true) => {
                            Some(record_of(n))
                        }
                        _ => None,
                    },
                    Err(StoreError::Unavailable(e)) => match self.deps.outbox.opening(sid) {
                        Some(n) => Some(record_of(n)),
                        None => {
                            // The index cannot say whether the session may
                            // continue: a new one starts (nothing is lost,
                            // the visit is split in two).
                            tracing::warn!(session_id = sid, error = %e, "index unavailable, starting a new session");
                            None
                        }
                    },
                    Err(e) => return Err(Restore::Store(e)),
                };
                let now = crate::now_ms();
                match rec {
                    Some(r)
                        if r.site_id == site_id
                            && r.visitor_id == visitor
                            && r.ended_at.is_none()
                            && now - r.last_activity_at < limits.inactivity_timeout_ms as i64
                            && now - r.started_at < limits.max_session_duration_ms as i64 =>
                    {
                        let actor = SessionActor::new(
                            self.deps.clone(),
                            self.registry.clone(),
                            r.id,
                            r.site_id,
                            r.visitor_id,
                            r.started_at,
                            r.last_activity_at,
                            r.raw_bytes.max(0) as u64,
                        );
                        Ok(actor.start())
                    }
                    _ => Err(Restore::No),
                }
            })
            .await;
        match res {
            Ok(addr) => Ok(Some(addr.clone())),
            Err(e) => {
                // Leave no empty slot behind.
                self.registry.remove_empty(sid);
                match e {
                    Restore::No => Ok(None),
                    Restore::Store(s) => Err(s),
                }
            }
        }
    }

    /// The bus and presence store the sessions publish to.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.deps.bus
    }

    pub fn presence(&self) -> &Arc<dyn PresenceStore> {
        &self.deps.presence
    }

    /// Serves watch requests addressed to this node: each renews (or
    /// starts) the watch of a session live here. Runs until the bus ends.
    pub fn serve_watches(&self) {
        let mut rx = self
            .deps
            .bus
            .subscribe(&topics::node(&self.deps.config.node_id));
        let registry = self.registry.clone();
        actix::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(BusMessage::WatchRequest { session, fresh }) => {
                        let addr = registry.get(&session);
                        if let Some(addr) = addr {
                            addr.do_send(crate::session::Watch { fresh });
                        }
                    }
                    Ok(_) => {}
                    // Missed requests are renewed within the lease.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Ends the sessions live here that are deleted (on any node: the
    /// notice comes through the bus). Runs until the bus ends.
    pub fn serve_deletes(&self) {
        let mut rx = self.deps.bus.subscribe(topics::SESSIONS);
        let registry = self.registry.clone();
        actix::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(BusMessage::SessionDeleted { session }) => {
                        if let Some(addr) = registry.get(&session) {
                            addr.do_send(crate::session::Deleted);
                        }
                    }
                    Ok(_) => {}
                    // A missed notice: the tombstone still refuses every
                    // write, and the tracker's next hello starts anew.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "session deletion notices lost");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Commits every live session's buffers (shutdown). Sessions stay open
    /// in the index: trackers continue them on another node or after restart.
    pub async fn flush_all(&self) {
        let addrs = self.registry.addrs();
        // A stopped actor has already committed its buffers.
        let _ = futures_util::future::join_all(addrs.iter().map(|a| a.send(FlushAll))).await;
    }
}

/// A session row still in the outbox, as the index would return it.
fn record_of(n: NewSession) -> crate::traits::SessionRecord {
    crate::traits::SessionRecord {
        id: n.id,
        site_id: n.site_id,
        visitor_id: n.visitor_id,
        started_at: n.started_at,
        last_activity_at: n.started_at,
        ended_at: None,
        raw_bytes: 0,
    }
}

enum Restore {
    No,
    Store(crate::traits::StoreError),
}
