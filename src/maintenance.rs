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
use reel_actors::metric_names;
use reel_actors::traits::{topics, BusMessage, Maintenance};

use crate::follow::{Wake, Waker};
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
        metrics::gauge!(metric_names::MAINTENANCE).set(if on { 1.0 } else { 0.0 });
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

/// Follows the switch for as long as the node runs: reads the index every
/// [`POLL_INTERVAL`], and at once when the bus carries a hint.
pub async fn follow(state: web::Data<AppState>) {
    let mut waker = Waker::new(
        state.sessions.bus().as_ref(),
        topics::MAINTENANCE,
        POLL_INTERVAL,
    );
    let mut unreadable = false;
    loop {
        let hint = match waker
            .next(|m| matches!(m, BusMessage::Maintenance { .. }))
            .await
        {
            Wake::Hint(hint) => match *hint {
                BusMessage::Maintenance { on, message } => Some(Maintenance {
                    enabled: on,
                    message,
                    updated_at: reel_actors::now_ms(),
                }),
                _ => None,
            },
            Wake::Tick | Wake::Lost => None,
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
