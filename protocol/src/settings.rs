//! Settings a tracker receives in `welcome` and in `settings` messages. The
//! dashboard reads the same struct: one source of settings for both ends.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What the tracker should do. Unknown fields are ignored by trackers, so new
/// ones may be added within v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Settings {
    /// Fraction of new sessions to record, 0.0 to 1.0.
    pub sample_rate: f64,
    /// Mask the value of every input (privacy by default).
    pub mask_all_inputs: bool,
    /// Mask emails and long digit runs in page text.
    pub mask_text: bool,
    /// A CSS selector of elements not recorded at all (an empty box of
    /// their size), besides those marked `data-reel-block`; empty: none.
    /// At most [`crate::site::BLOCK_SELECTOR_MAX_BYTES`]. A tracker that
    /// cannot parse it does not record (privacy first).
    pub block_selector: String,
    /// Send a batch at least this often, in ms.
    pub batch_interval_ms: u64,
    /// Send a batch sooner once its JSON reaches this many bytes.
    pub batch_max_bytes: u64,
    /// Most events the server accepts in one batch.
    pub batch_max_events: u64,
    /// Largest frame the server accepts, in bytes.
    pub max_frame_bytes: u64,
    /// The node is in maintenance: do not record.
    pub maintenance: bool,
    /// Do not record a browser that sends Do-Not-Track or Global Privacy
    /// Control (PROTOCOL.md §6). The tracker remembers it (and the site's
    /// snippet carries it as `data-honor-dnt`), so that such a browser
    /// sends nothing, not even `hello`.
    pub honor_dnt: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sample_rate: 1.0,
            mask_all_inputs: true,
            mask_text: true,
            block_selector: String::new(),
            batch_interval_ms: 1_000,
            batch_max_bytes: 512 * 1024,
            batch_max_events: 5_000,
            max_frame_bytes: 4 * 1024 * 1024,
            maintenance: false,
            honor_dnt: false,
        }
    }
}
