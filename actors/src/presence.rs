//! Presence: which sessions are live on a site right now. Each session
//! shows itself while a connection is open (and for [`PRESENCE_GRACE`]
//! after the last closes), refreshes its entry every
//! [`PRESENCE_HEARTBEAT`], and publishes joins, updates and leaves on the
//! site's presence topic. Writes go out in order from one task per
//! session, off the actor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use dashmap::DashMap;
use reel_protocol::live::Presence;
use reel_protocol::signals::LiveSignals;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::metric_names;
use crate::traits::{topics, Bus, BusMessage, PresenceStore, StoreResult};

/// A presence entry lives this long unless refreshed: a dead node's
/// sessions vanish from presence within it.
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How often a live session refreshes its presence entry.
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(10);
/// A session with no open connection leaves presence after this (a page
/// load reconnects well within it).
pub const PRESENCE_GRACE: Duration = Duration::from_secs(5);
/// Presence writes waiting for the store and bus; when full, one is
/// dropped (the next heartbeat writes the current state again).
pub const PRESENCE_QUEUE: usize = 16;

/// The shared presence store, as the session actors hold it.
pub type SharedPresence = Arc<dyn PresenceStore>;

/// A presence write, applied in order by the session's presence task.
/// The presence is boxed: it is the larger variant by far. The queue holds
/// boxed ops: its channel preallocates a block of slots per session.
enum PresenceOp {
    Put(Box<Presence>, Option<BusMessage>),
    Remove(BusMessage),
}

/// One session's presence: what it shows and whether it is shown.
pub struct SessionPresence {
    /// The site the session belongs to.
    site: i64,
    /// The session as presence shows it.
    pub presence: Presence,
    /// It is in presence now.
    shown: bool,
    /// Changed since last published.
    dirty: bool,
    /// Last refresh of the presence entry.
    refreshed: Option<Instant>,
    /// Since when no connection is open.
    alone_since: Option<Instant>,
    /// Presence writes, in order. Bounded by [`PRESENCE_QUEUE`]: when
    /// full, an update is dropped (the next heartbeat repeats it). `None`
    /// until [`SessionPresence::start`].
    tx: Option<mpsc::Sender<Box<PresenceOp>>>,
}

impl SessionPresence {
    /// A session's presence, not shown yet, writing nothing until started.
    pub fn new(site: i64, presence: Presence) -> SessionPresence {
        SessionPresence {
            site,
            presence,
            shown: false,
            dirty: false,
            refreshed: None,
            alone_since: None,
            tx: None,
        }
    }

    /// Starts the task that applies the writes, in order, to `store` and
    /// `bus` (call it from the runtime the session runs on).
    pub fn start(&mut self, store: SharedPresence, bus: Arc<dyn Bus>) {
        let (tx, mut rx) = mpsc::channel::<Box<PresenceOp>>(PRESENCE_QUEUE);
        self.tx = Some(tx);
        let site = self.site;
        let session = self.presence.session.clone();
        tokio::spawn(async move {
            let topic = topics::presence(site);
            while let Some(op) = rx.recv().await {
                let msg = match *op {
                    PresenceOp::Put(p, msg) => {
                        if let Err(e) = store.put(site, &p, PRESENCE_TTL).await {
                            tracing::debug!(session_id = %session, error = %e, "presence write failed");
                        }
                        msg
                    }
                    PresenceOp::Remove(msg) => {
                        let _ = store.remove(site, &session).await;
                        Some(msg)
                    }
                };
                if let Some(msg) = msg {
                    let _ = bus.publish(&topic, msg).await;
                }
            }
        });
    }

    /// The page changed: the next sync publishes it.
    pub fn set_page(&mut self, url: &str, title: Option<&str>) {
        let p = &mut self.presence;
        if p.url != url || title.is_some_and(|t| p.title != t) {
            p.url = url.to_owned();
            if let Some(title) = title {
                p.title = title.to_owned();
            }
            self.dirty = true;
        }
    }

    /// The device, browser and OS, from the first connection that says.
    pub fn set_device(&mut self, device: &str, browser: &str, os: &str) {
        let p = &mut self.presence;
        if p.device.is_empty() {
            p.device = device.to_owned();
            p.browser = browser.to_owned();
            p.os = os.to_owned();
        }
    }

    /// The session is linked to a user; returns whether that changed.
    pub fn set_user(&mut self, user_id: &str) -> bool {
        if self.presence.user_id.as_deref() == Some(user_id) {
            return false;
        }
        self.presence.user_id = Some(user_id.to_owned());
        self.dirty = true;
        true
    }

    /// Marks presence changed when the live signals changed: the next
    /// sync publishes them.
    pub fn show_signals(&mut self, live: &LiveSignals) {
        if self.presence.signals != *live {
            self.presence.signals = live.clone();
            self.dirty = true;
        }
    }

    /// Brings presence up to date: shown while a connection is open (and
    /// for [`PRESENCE_GRACE`] after the last closes), refreshed every
    /// [`PRESENCE_HEARTBEAT`], updates published when something changed.
    /// An ending session is not shown again.
    pub fn sync(&mut self, connected: bool, ending: bool, last_activity_at: i64) {
        let now = Instant::now();
        let site = self.site;
        if !connected && !ending {
            let since = *self.alone_since.get_or_insert(now);
            if self.shown && now.duration_since(since) >= PRESENCE_GRACE {
                self.leave();
            }
            return;
        }
        self.alone_since = None;
        if ending {
            return;
        }
        self.presence.last_activity_at = last_activity_at;
        if !self.shown {
            self.shown = true;
            self.dirty = false;
            self.refreshed = Some(now);
            let p = self.presence.clone();
            let join = BusMessage::PresenceJoin {
                site,
                presence: p.clone(),
            };
            self.op(PresenceOp::Put(Box::new(p), Some(join)));
        } else if self.dirty
            || self
                .refreshed
                .is_none_or(|t| now.duration_since(t) >= PRESENCE_HEARTBEAT)
        {
            self.dirty = false;
            self.refreshed = Some(now);
            let p = self.presence.clone();
            let update = BusMessage::PresenceUpdate {
                site,
                presence: p.clone(),
            };
            self.op(PresenceOp::Put(Box::new(p), Some(update)));
        }
    }

    /// Leaves presence now, behind any presence write already queued.
    pub fn leave(&mut self) {
        self.shown = false;
        let leave = BusMessage::PresenceLeave {
            site: self.site,
            session: self.presence.session.clone(),
        };
        self.op(PresenceOp::Remove(leave));
    }

    /// Queues a write; drops it when the queue is full.
    fn op(&mut self, op: PresenceOp) {
        if let Some(tx) = &self.tx {
            if tx.try_send(Box::new(op)).is_err() {
                metrics::counter!(metric_names::PRESENCE_DROPPED_TOTAL).increment(1);
            }
        }
    }
}

/// Presence on one node (embedded defaults): entries expire like Redis keys.
#[derive(Default)]
pub struct InMemoryPresence {
    sites: DashMap<i64, HashMap<String, (Presence, Instant)>>,
}

#[async_trait]
impl PresenceStore for InMemoryPresence {
    async fn put(&self, site: i64, p: &Presence, ttl: Duration) -> StoreResult<()> {
        self.sites
            .entry(site)
            .or_default()
            .insert(p.session.clone(), (p.clone(), Instant::now() + ttl));
        Ok(())
    }

    async fn remove(&self, site: i64, session: &str) -> StoreResult<()> {
        if let Some(mut s) = self.sites.get_mut(&site) {
            s.remove(session);
        }
        self.sites.remove_if(&site, |_, s| s.is_empty());
        Ok(())
    }

    async fn list(&self, site: i64) -> StoreResult<Vec<Presence>> {
        let now = Instant::now();
        let Some(mut s) = self.sites.get_mut(&site) else {
            return Ok(Vec::new());
        };
        s.retain(|_, (_, until)| *until > now);
        let mut out: Vec<Presence> = s.values().map(|(p, _)| p.clone()).collect();
        out.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then(a.session.cmp(&b.session))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::InProcessBus;
    use tokio::sync::broadcast;

    fn presence(session: &str) -> Presence {
        Presence {
            session: session.into(),
            visitor: "v".into(),
            user_id: None,
            url: "u".into(),
            title: String::new(),
            device: "desktop".into(),
            browser: "Chrome".into(),
            os: "Linux".into(),
            started_at: 1,
            last_activity_at: 1,
            node: "n".into(),
            signals: Default::default(),
        }
    }

    /// A started session presence on site 1, the store and the site's topic.
    fn started() -> (
        SessionPresence,
        Arc<InMemoryPresence>,
        broadcast::Receiver<BusMessage>,
    ) {
        let store = Arc::new(InMemoryPresence::default());
        let bus = Arc::new(InProcessBus::default());
        let rx = bus.subscribe(&topics::presence(1));
        let mut p = SessionPresence::new(1, presence("s"));
        p.start(store.clone(), bus);
        (p, store, rx)
    }

    /// The next message on the topic (the presence task runs meanwhile).
    async fn next(rx: &mut broadcast::Receiver<BusMessage>) -> BusMessage {
        tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .expect("a presence message")
            .expect("the topic is open")
    }

    fn kind(msg: &BusMessage) -> &'static str {
        match msg {
            BusMessage::PresenceJoin { .. } => "join",
            BusMessage::PresenceUpdate { .. } => "update",
            BusMessage::PresenceLeave { .. } => "leave",
            _ => "other",
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_joins_refreshes_every_heartbeat_and_publishes_changes_at_once() {
        let (mut p, store, mut rx) = started();
        p.sync(true, false, 5);
        assert_eq!(kind(&next(&mut rx).await), "join");
        assert_eq!(store.list(1).await.unwrap()[0].last_activity_at, 5);
        // Nothing changed, heartbeat not due: nothing written.
        tokio::time::advance(PRESENCE_HEARTBEAT - Duration::from_millis(1)).await;
        p.sync(true, false, 5);
        assert!(rx.try_recv().is_err());
        // The heartbeat refreshes the entry.
        tokio::time::advance(Duration::from_millis(1)).await;
        p.sync(true, false, 6);
        assert_eq!(kind(&next(&mut rx).await), "update");
        // A change is published on the next sync, heartbeat or not.
        p.show_signals(&LiveSignals {
            rage_clicks: 1,
            track_events: vec!["checkout".into()],
            ..Default::default()
        });
        assert!(p.set_user("u1"));
        assert!(!p.set_user("u1"));
        p.sync(true, false, 6);
        let BusMessage::PresenceUpdate { presence, .. } = next(&mut rx).await else {
            panic!("an update");
        };
        assert_eq!(presence.user_id.as_deref(), Some("u1"));
        assert_eq!(presence.signals.rage_clicks, 1);
        assert_eq!(presence.signals.track_events, ["checkout"]);
        // Entries expire unless refreshed.
        tokio::time::advance(PRESENCE_TTL).await;
        assert!(store.list(1).await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_alone_leaves_after_the_grace_unless_a_connection_returns() {
        let (mut p, store, mut rx) = started();
        p.sync(true, false, 1);
        assert_eq!(kind(&next(&mut rx).await), "join");
        // A page load: the connection is back within the grace.
        p.sync(false, false, 1);
        tokio::time::advance(PRESENCE_GRACE - Duration::from_millis(1)).await;
        p.sync(false, false, 1);
        p.sync(true, false, 1);
        assert!(rx.try_recv().is_err(), "still shown, nothing changed");
        // Alone for the whole grace: it leaves.
        p.sync(false, false, 1);
        tokio::time::advance(PRESENCE_GRACE).await;
        p.sync(false, false, 1);
        assert_eq!(kind(&next(&mut rx).await), "leave");
        assert!(store.list(1).await.unwrap().is_empty());
        // Leaving twice publishes nothing more.
        p.sync(false, false, 1);
        assert!(rx.try_recv().is_err());
        // An ending session is not shown again.
        p.sync(true, true, 1);
        assert!(rx.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_writes_and_the_next_heartbeat_repeats_the_state() {
        let mut p = SessionPresence::new(1, presence("s"));
        // Started by hand without its task: nothing drains the queue.
        let (tx, _rx) = mpsc::channel(PRESENCE_QUEUE);
        p.tx = Some(tx);
        p.sync(true, false, 1);
        for n in 0..2 * PRESENCE_QUEUE {
            p.set_page(&format!("/{n}"), None);
            p.sync(true, false, 1);
        }
        assert_eq!(p.tx.as_ref().unwrap().capacity(), 0);
        assert!(
            !p.dirty,
            "a dropped update is not retried before the heartbeat"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn presence_entries_expire() {
        let store = InMemoryPresence::default();
        let p = presence("s");
        store.put(1, &p, Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.list(1).await.unwrap(), vec![p.clone()]);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(store.list(1).await.unwrap().is_empty());
        store.put(1, &p, Duration::from_secs(60)).await.unwrap();
        store.remove(1, "s").await.unwrap();
        assert!(store.list(1).await.unwrap().is_empty());
    }
}
