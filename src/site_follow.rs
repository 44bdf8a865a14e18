//! Admins' changes to sites as a node follows them, so that connected
//! trackers get new settings within 5 s and new connections are checked
//! against new origins. The truth is the index: every [`POLL_INTERVAL`]
//! the node reads the sites changed within the last [`CHANGE_WINDOW`],
//! and at once when the bus carries a `BusMessage::SiteChanged` hint (the
//! node that took the change publishes it). What it reads goes into the
//! site cache ([`crate::http::site_cache`]), whose open connections tell
//! their trackers when their settings differ from what they were told.
//!
//! The window is measured with this node's clock against `updated_at`,
//! stamped with the clock of the node that took the change: nodes whose
//! clocks differ by more than [`CHANGE_WINDOW`] follow through the hint
//! only. Reading a change twice changes nothing.

use std::time::Duration;

use actix_web::web;
use reel_actors::traits::{topics, BusMessage};

use crate::follow::Waker;
use crate::http::AppState;

/// How often a node reads the sites changed lately. With the read's own
/// timeout ([`READ_TIMEOUT`]) trackers follow within 5 s without the bus.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// A read that takes longer than this failed (the node keeps what it knows).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How far back each read looks: changes are read again for this long, so
/// that a clock skew between nodes or a slow commit below it loses none.
pub const CHANGE_WINDOW: Duration = Duration::from_secs(300);

/// Follows admins' changes for as long as the node runs.
pub async fn follow(state: web::Data<AppState>) {
    let mut waker = Waker::new(state.sessions.bus().as_ref(), topics::SITES, POLL_INTERVAL);
    let mut unreadable = false;
    loop {
        waker
            .next(|m| matches!(m, BusMessage::SiteChanged { .. }))
            .await;
        let since = reel_actors::now_ms() - CHANGE_WINDOW.as_millis() as i64;
        match tokio::time::timeout(READ_TIMEOUT, state.index.sites_changed_since(since)).await {
            Ok(Ok(sites)) => {
                if unreadable {
                    tracing::info!("site changes readable again");
                    unreadable = false;
                }
                for site in &sites {
                    state.sites.update(site);
                }
            }
            failed => {
                if !unreadable {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "no answer in time".to_owned(),
                    };
                    tracing::warn!(%error, "site changes unreadable: trackers keep their settings");
                    unreadable = true;
                }
            }
        }
    }
}
