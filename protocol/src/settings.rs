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
    /// Record the page's console (rrweb's console plugin, PROTOCOL.md §7).
    pub capture_console: bool,
    /// Record the page's fetch, XMLHttpRequest and sendBeacon requests as
    /// `reel/network@1` events (PROTOCOL.md §7).
    pub capture_network: bool,
    /// Record the page's uncaught errors and unhandled promise rejections
    /// as custom `error` events (PROTOCOL.md §7).
    pub capture_errors: bool,
    /// Query parameters (names, compared without regard to case) whose
    /// values a recorded request URL shows as `[redacted]`; replaces
    /// [`DEFAULT_REDACT_PARAMS`]. At most [`crate::site::MAX_REDACT_PARAMS`]
    /// names of [`crate::site::REDACT_PARAM_MAX_BYTES`].
    pub redact_params: Vec<String>,
    /// Regular expressions (Rust `regex` syntax) whose matches the node
    /// replaces with `[redacted]` in console, network and error events
    /// before it stores them (PROTOCOL.md §7), besides its built-in rules.
    /// At most [`crate::site::MAX_REDACT_PATTERNS`] patterns of
    /// [`crate::site::REDACT_PATTERN_MAX_BYTES`]. The node's own: trackers
    /// are sent `[]`.
    pub redact_patterns: Vec<String>,
    /// URL patterns (`*` matches any run of characters, matched against
    /// the whole URL without its fragment) of requests whose bodies are
    /// recorded, each at most [`NETWORK_BODY_MAX_BYTES`]; empty: no body
    /// is. At most [`crate::site::MAX_NETWORK_BODY_URLS`] patterns of
    /// [`crate::site::NETWORK_BODY_URL_MAX_BYTES`].
    pub network_body_urls: Vec<String>,
    /// Do not record a browser that sends Do-Not-Track or Global Privacy
    /// Control (PROTOCOL.md §6). The tracker remembers it (and the site's
    /// snippet carries it as `data-honor-dnt`), so that such a browser
    /// sends nothing, not even `hello`.
    pub honor_dnt: bool,
    /// Feature flags evaluated for this session (its organisation, site
    /// and id; docs/operations.md, "Feature flags"), by flag name. Only in
    /// what a node tells a tracker (`welcome`, `settings`): a site's stored
    /// settings have none, and then the field is left out. A tracker
    /// ignores names it does not know and takes a missing flag's default
    /// ([`crate::flags::Flag::default_on`]). `capture_console` and
    /// `capture_network` above already have their flags applied.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    #[ts(as = "Option<crate::flags::FlagSet>", optional)]
    pub flags: crate::flags::FlagSet,
}

/// Query parameters redacted in recorded request URLs unless a site sets
/// its own `redact_params`.
pub const DEFAULT_REDACT_PARAMS: &[&str] = &[
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "password",
    "secret",
    "client_secret",
    "key",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "session",
    "sessionid",
    "code",
    "signature",
    "sig",
];

/// A recorded request or response body is cut to this many bytes of UTF-8.
pub const NETWORK_BODY_MAX_BYTES: usize = 16 * 1024;

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
            capture_console: true,
            capture_network: true,
            capture_errors: true,
            redact_params: DEFAULT_REDACT_PARAMS
                .iter()
                .map(|p| (*p).to_owned())
                .collect(),
            redact_patterns: Vec::new(),
            network_body_urls: Vec::new(),
            honor_dnt: false,
            flags: Default::default(),
        }
    }
}
