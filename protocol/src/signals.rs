//! Frustration and failure signals of a session (PROTOCOL.md §7): what the
//! session actor counts as events stream by, what the session row and the
//! live presence entry carry, and their bounds.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Clicks within this time of each other can make a rage click.
pub const RAGE_WINDOW_MS: i64 = 1_000;
/// ... and within this distance (CSS px) of the first one.
pub const RAGE_RADIUS_PX: i64 = 30;
/// This many clicks within the window and radius are one rage click.
pub const RAGE_MIN_CLICKS: usize = 3;
/// A click followed by no DOM mutation, navigation or network request
/// within this time is a dead click.
pub const DEAD_CLICK_MS: i64 = 1_000;
/// A response status at or above this is a failed request (as is a
/// network error).
pub const FAILED_STATUS: i64 = 500;
/// A network event's `error` when the page itself cancelled the request
/// (fetch's `AbortError`, which the tracker records as `aborted`; an XHR's
/// `abort` event): not a failed request (PROTOCOL.md §7 counts status >=
/// [`FAILED_STATUS`] and network errors).
pub const ABORTED_ERRORS: &[&str] = &["aborted", "abort"];
/// Distinct `reel.track` names kept per session; more are counted in
/// nothing and dropped from the row (the events stay in the recording).
pub const MAX_TRACK_NAMES: usize = 100;
/// Bytes of one track name (PROTOCOL.md §7: 1..128).
pub const TRACK_NAME_MAX_BYTES: usize = 128;
/// Distinct error texts (console errors and `error` events) kept per
/// session for `error_contains`.
pub const MAX_ERROR_TEXTS: usize = 50;
/// Bytes of one kept error text; longer is cut at a character boundary.
pub const ERROR_TEXT_MAX_BYTES: usize = 512;

/// Distinct `reel.track` names a live presence entry carries (the first
/// seen on this node); the session row keeps up to [`MAX_TRACK_NAMES`].
/// Bounds the entry that every presence update publishes.
pub const MAX_LIVE_TRACK_NAMES: usize = 20;

/// The live part of a session's signals, carried by its presence entry so
/// the live list can flag a visitor while it happens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct LiveSignals {
    pub console_errors: i64,
    pub failed_requests: i64,
    pub rage_clicks: i64,
    pub dead_clicks: i64,
    /// The session's distinct `reel.track` names in first-seen order, at
    /// most [`MAX_LIVE_TRACK_NAMES`]. Absent (empty) from nodes older
    /// than this field.
    #[serde(default)]
    #[ts(as = "Option<Vec<String>>", optional)]
    pub track_events: Vec<String>,
}
