//! The operator's maintenance switch as a node follows it. The switch lives
//! in the index (one row, written by `reel maintenance on|off`); every node
//! polls it every [`POLL_INTERVAL`] and, when the bus carries a
//! `BusMessage::Maintenance` hint, reads it at once. Entering maintenance
//! moves the node's [`Phase`] to `Maintenance` (new ingest gets 503, open
//! trackers 4503); leaving it moves it back to `Running`. A draining node
//! stays draining.
//!
//! `REEL_MAINTENANCE` (config `maintenance`) holds this node in maintenance
//! whatever the index says. While the index cannot be read, the node keeps
//! its last known state.

use std::time::Duration;

use actix_web::web;
use reel_actors::traits::{topics, BusMessage, Maintenance};
use tokio::sync::broadcast::{self, error::RecvError};

use crate::http::{AppState, Phase};

/// How often a node reads the switch. With the read's own timeout
/// ([`READ_TIMEOUT`]) a node follows within 5 s.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// A read of the switch that takes longer than this failed (the node keeps
/// its last known state).
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Moves the node to the switch's state: on when the index or the start
/// flag says so. Returns whether the phase changed.
pub fn apply(state: &AppState, switch: &Maintenance) -> bool {
    let on = switch.enabled || state.config.maintenance;
    let message = if switch.enabled {
        switch.message.as_str()
    } else {
        ""
    };
    // The message first: connections read it when the phase changes.
    if let Ok(mut m) = state.maintenance_message.write() {
        if *m != message {
            message.clone_into(&mut m);
        }
    }
    let changed = state.phase.send_if_modified(|p| match (*p, on) {
        (Phase::Running, true) => {
            *p = Phase::Maintenance;
            true
        }
        (Phase::Maintenance, false) => {
            *p = Phase::Running;
            true
        }
        _ => false,
    });
    if changed {
        metrics::gauge!("reel_maintenance").set(if on { 1.0 } else { 0.0 });
        if on {
            tracing::warn!(
                operator_message = message,
                forced_by_config = state.config.maintenance,
                "maintenance on: refusing and closing ingest"
            );
        } else {
            tracing::warn!("maintenance off: accepting ingest");
        }
    }
    changed
}

/// What the bus said.
enum Heard {
    /// The operator switched maintenance.
    Switch(Maintenance),
    /// Hints were lost (a slow receiver): read the index now.
    Lost,
    /// Another message on the topic.
    Other,
    /// The topic is gone: stop listening (the poll still follows).
    Closed,
}

async fn hear(hints: &mut Option<broadcast::Receiver<BusMessage>>) -> Heard {
    let Some(rx) = hints else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(BusMessage::Maintenance { on, message }) => Heard::Switch(Maintenance {
            enabled: on,
            message,
            updated_at: reel_actors::now_ms(),
        }),
        Ok(_) => Heard::Other,
        Err(RecvError::Lagged(_)) => Heard::Lost,
        Err(RecvError::Closed) => Heard::Closed,
    }
}

/// Follows the switch for as long as the node runs: reads the index every
/// [`POLL_INTERVAL`], and at once when the bus carries a hint.
pub async fn follow(state: web::Data<AppState>) {
    let mut hints = Some(state.sessions.bus().subscribe(topics::MAINTENANCE));
    let mut every = tokio::time::interval(POLL_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unreadable = false;
    loop {
        let hint = tokio::select! {
            _ = every.tick() => None,
            heard = hear(&mut hints) => match heard {
                Heard::Switch(s) => Some(s),
                Heard::Lost => None,
                Heard::Other => continue,
                Heard::Closed => {
                    hints = None;
                    continue;
                }
            },
        };
        match tokio::time::timeout(READ_TIMEOUT, state.index.maintenance()).await {
            Ok(Ok(switch)) => {
                if unreadable {
                    tracing::info!(
                        enabled = switch.enabled,
                        "maintenance switch readable again"
                    );
                    unreadable = false;
                }
                apply(&state, &switch);
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "no answer in time".to_owned(),
                };
                if let Some(hint) = &hint {
                    // The index does not answer but the operator spoke.
                    apply(&state, hint);
                }
                if !unreadable {
                    tracing::warn!(%error, phase = ?state.phase(), "maintenance switch unreadable: keeping the last known state");
                    unreadable = true;
                }
            }
        }
    }
}
