//! Sites by key as this node knows them, for ingest and its connections.
//! Ingest goes on while the index is down: a site seen within
//! [`SITE_CACHE_TTL`] is not looked up again, and a site seen at all is
//! used as last known while the index does not answer. Each entry is a
//! `watch` channel: an open connection follows its site, so that a change
//! (an admin's PATCH on this node, or one [`crate::site_follow`] reads from
//! the index) reaches its tracker as a `settings` message.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use reel_actors::traits::{Index, SiteRecord, StoreResult};
use tokio::sync::watch;

/// How long a site looked up in the index is used without asking again.
pub const SITE_CACHE_TTL: Duration = Duration::from_secs(30);
/// Sites kept in the cache at most. When full, the sites no connection
/// follows are dropped; when every one is followed, a new site is served
/// uncached (its connections then learn of changes only by reconnecting).
pub const SITE_CACHE_MAX: usize = 10_000;

/// One known site.
struct Entry {
    /// The site as last read; connections of the site hold receivers.
    site: watch::Sender<SiteRecord>,
    /// When it was last read from the index.
    fetched: Instant,
}

/// Sites by key.
#[derive(Default)]
pub struct SiteCache {
    sites: DashMap<String, Entry>,
}

impl SiteCache {
    /// The site with `key`, following its changes; `None` when no site has
    /// it; an error only when the index is down and the site was never seen.
    pub async fn get(
        &self,
        index: &dyn Index,
        key: &str,
    ) -> StoreResult<Option<watch::Receiver<SiteRecord>>> {
        let cached = self
            .sites
            .get(key)
            .map(|e| (e.site.subscribe(), e.fetched.elapsed() < SITE_CACHE_TTL));
        if let Some((rx, true)) = &cached {
            return Ok(Some(rx.clone()));
        }
        match index.site_by_key(key).await {
            Ok(Some(site)) => Ok(Some(self.put(site))),
            Ok(None) => {
                self.sites.remove(key);
                Ok(None)
            }
            Err(e) => match cached {
                Some((rx, _)) => Ok(Some(rx)),
                None => Err(e),
            },
        }
    }

    /// Takes `site` as read from the index now: its connections see it
    /// when it differs from what they had. Returns a receiver following it.
    pub fn put(&self, site: SiteRecord) -> watch::Receiver<SiteRecord> {
        if let Some(rx) = self.refresh(&site) {
            return rx;
        }
        if self.sites.len() >= SITE_CACHE_MAX {
            self.sites.retain(|_, e| e.site.receiver_count() > 0);
            if self.sites.len() >= SITE_CACHE_MAX {
                return watch::channel(site).1;
            }
        }
        let entry = self.sites.entry(site.key.clone()).or_insert_with(|| Entry {
            site: watch::Sender::new(site.clone()),
            fetched: Instant::now(),
        });
        entry.site.send_if_modified(|old| replace(old, &site));
        entry.site.subscribe()
    }

    /// Takes `site` as read from the index now, when this node knows it
    /// (nothing to tell otherwise: no connection of it is open here).
    pub fn update(&self, site: &SiteRecord) {
        self.refresh(site);
    }

    /// Updates the entry of `site` and returns a receiver of it; `None`
    /// when there is no entry.
    fn refresh(&self, site: &SiteRecord) -> Option<watch::Receiver<SiteRecord>> {
        let mut entry = self.sites.get_mut(&site.key)?;
        entry.fetched = Instant::now();
        entry.site.send_if_modified(|old| replace(old, site));
        Some(entry.site.subscribe())
    }
}

/// Replaces `old` with `new` when they differ; says whether it did.
fn replace(old: &mut SiteRecord, new: &SiteRecord) -> bool {
    if old == new {
        return false;
    }
    *old = new.clone();
    true
}
