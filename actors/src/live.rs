//! Live: what a session keeps so that a viewer who joins mid-session sees
//! the page at once, and the presence of live sessions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use reel_protocol::live::Presence;

use crate::traits::{PresenceStore, StoreResult};

/// A presence entry lives this long unless refreshed: a dead node's
/// sessions vanish from presence within it.
pub const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// How often a live session refreshes its presence entry.
pub const PRESENCE_HEARTBEAT: Duration = Duration::from_secs(10);
/// A session with no open connection leaves presence after this (a page
/// load reconnects well within it).
pub const PRESENCE_GRACE: Duration = Duration::from_secs(5);
/// A watch lasts this long unless the watcher's node renews it.
pub const WATCH_LEASE: Duration = Duration::from_secs(30);
/// Watchers' nodes renew their watches this often.
pub const WATCH_RENEW: Duration = Duration::from_secs(10);
/// Bytes of a tab's live tail (latest Meta, full snapshot and the events
/// after it). Past it the tail is dropped, and a viewer who joins asks the
/// tracker for a fresh snapshot instead.
pub const LIVE_TAIL_MAX: usize = 256 * 1024;

/// One tab's latest Meta and full snapshot and the events after them.
#[derive(Debug, Default)]
pub struct LiveTail {
    buf: Vec<u8>,
    /// `buf` begins with a full snapshot.
    synced: bool,
}

impl LiveTail {
    /// Adds a batch (NDJSON). `snapshot_from`: the offset of the line the
    /// tail restarts at (a Meta before a full snapshot, or the snapshot),
    /// when the batch holds a full snapshot.
    pub fn push(&mut self, ndjson: &[u8], snapshot_from: Option<usize>) {
        match snapshot_from {
            Some(at) if at <= ndjson.len() => {
                self.buf.clear();
                self.buf.extend_from_slice(&ndjson[at..]);
                self.synced = self.buf.len() <= LIVE_TAIL_MAX;
                if !self.synced {
                    self.buf = Vec::new();
                }
            }
            _ if self.synced => {
                if self.buf.len() + ndjson.len() > LIVE_TAIL_MAX {
                    self.buf = Vec::new();
                    self.synced = false;
                } else {
                    self.buf.extend_from_slice(ndjson);
                }
            }
            _ => {}
        }
    }

    /// What a joining viewer gets first, when the tail has a snapshot.
    pub fn catch_up(&self) -> Option<&[u8]> {
        self.synced.then_some(&self.buf[..])
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

/// The shared presence store, as the session actors hold it.
pub type SharedPresence = Arc<dyn PresenceStore>;

/// Where the tail restarts in a batch: the last full snapshot (type 2),
/// from the Meta (type 4) just before it when there is one. `kinds` are
/// the events' types with their line lengths (without the newline).
pub fn snapshot_from(kinds: impl IntoIterator<Item = (u32, usize)>) -> Option<usize> {
    let mut at = 0usize;
    let mut meta: Option<usize> = None;
    let mut found = None;
    for (kind, len) in kinds {
        match kind {
            4 => meta = Some(at),
            2 => found = Some(meta.take().unwrap_or(at)),
            _ => meta = None,
        }
        at += len + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_restarts_at_the_meta_before_the_last_snapshot() {
        // Lines: 3 (5 bytes), Meta (4), Snapshot (6), 3 (2).
        let at = snapshot_from([(3, 5), (4, 4), (2, 6), (3, 2)]);
        assert_eq!(at, Some(6));
        assert_eq!(snapshot_from([(2, 3), (3, 1)]), Some(0));
        assert_eq!(snapshot_from([(3, 3)]), None);
        let mut tail = LiveTail::default();
        tail.push(b"x\n", None);
        assert_eq!(tail.catch_up(), None, "no snapshot yet");
        tail.push(b"a\nM\nS\n", Some(2));
        tail.push(b"e\n", None);
        assert_eq!(tail.catch_up(), Some(&b"M\nS\ne\n"[..]));
        tail.push(&vec![b'z'; LIVE_TAIL_MAX], None);
        assert_eq!(tail.catch_up(), None, "past its bound the tail is dropped");
    }

    #[tokio::test]
    async fn presence_entries_expire() {
        let store = InMemoryPresence::default();
        let p = Presence {
            session: "s".into(),
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
        };
        store.put(1, &p, Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.list(1).await.unwrap(), vec![p.clone()]);
        store.put(1, &p, Duration::ZERO).await.unwrap();
        assert!(store.list(1).await.unwrap().is_empty());
        store.put(1, &p, Duration::from_secs(60)).await.unwrap();
        store.remove(1, "s").await.unwrap();
        assert!(store.list(1).await.unwrap().is_empty());
    }
}
