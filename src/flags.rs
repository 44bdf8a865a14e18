//! The operator's feature flag rules as a node follows them
//! (docs/operations.md, "Feature flags"). The rules live in the index
//! (written by `reel flag set|clear`); every node reads them every
//! [`POLL_INTERVAL`] and, when the bus carries a `BusMessage::FlagsChanged`
//! hint, at once. What it read goes into `AppState::flags`, a `watch`
//! that open ingest connections follow: each recomputes its tracker's
//! settings and sends `settings` when they differ. While the index cannot
//! be read, the node keeps the last rules it read.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use reel_actors::flags::{FlagRules, FlagStore};
use reel_actors::traits::{topics, BusMessage};
use tokio::sync::watch;

use crate::follow::Waker;
use crate::http::AppState;

/// How often a node reads the rules. With the read's own timeout
/// ([`READ_TIMEOUT`]) a node follows within 5 s without the bus.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// A read that takes longer than this failed (the node keeps the rules it
/// knows).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The rules as the index holds them now; `None` when it does not answer
/// within [`READ_TIMEOUT`].
pub async fn read(store: &dyn FlagStore) -> Result<FlagRules, String> {
    match tokio::time::timeout(READ_TIMEOUT, store.flag_rules()).await {
        Ok(Ok(rules)) => Ok(FlagRules::new(rules)),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".to_owned()),
    }
}

/// The rules at a node's start: unreadable, none (every flag at its
/// default) until the follower reads them.
pub async fn at_start(store: &dyn FlagStore) -> FlagRules {
    read(store).await.unwrap_or_else(|error| {
        tracing::warn!(%error, "flag rules unreadable at start: every flag at its default");
        FlagRules::default()
    })
}

/// Takes `rules` as read now: connections see them when they differ from
/// what the node had. Returns whether they did.
pub fn apply(flags: &watch::Sender<Arc<FlagRules>>, rules: FlagRules) -> bool {
    let count = rules.len();
    let changed = flags.send_if_modified(|old| {
        if **old == rules {
            return false;
        }
        *old = Arc::new(rules);
        true
    });
    metrics::gauge!(reel_actors::metric_names::FLAG_RULES).set(count as f64);
    if changed {
        tracing::info!(rules = count, "flag rules changed");
    }
    changed
}

/// Follows the rules for as long as the node runs.
pub async fn follow(state: web::Data<AppState>) {
    let mut waker = Waker::new(state.sessions.bus().as_ref(), topics::FLAGS, POLL_INTERVAL);
    let mut unreadable = false;
    loop {
        waker.next(|m| matches!(m, BusMessage::FlagsChanged)).await;
        match read(state.flag_store.as_ref()).await {
            Ok(rules) => {
                if unreadable {
                    tracing::info!("flag rules readable again");
                    unreadable = false;
                }
                apply(&state.flags, rules);
            }
            Err(error) => {
                if !unreadable {
                    tracing::warn!(%error, "flag rules unreadable: keeping the last known rules");
                    unreadable = true;
                }
            }
        }
    }
}
