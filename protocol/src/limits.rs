//! Every ingest limit, with the documented defaults (PROTOCOL.md §1).

use serde::{Deserialize, Serialize};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Ingest limits. Each is configurable (`[limits]` in `reel.toml`) and each
/// has a test that crosses it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// One WebSocket frame, text or binary, in bytes.
    pub frame_bytes: u64,
    /// One message after gzip decompression, in bytes (gzip bomb guard).
    pub decompressed_bytes: u64,
    /// Events in one `events` batch.
    pub batch_events: u64,
    /// One rrweb event's JSON, in bytes.
    pub event_bytes: u64,
    /// Sustained bytes per second per session (token bucket refill).
    pub session_bytes_per_sec: u64,
    /// Byte burst per session (token bucket size).
    pub session_bytes_burst: u64,
    /// Sustained messages per second per session.
    pub session_messages_per_sec: u64,
    /// Message burst per session.
    pub session_messages_burst: u64,
    /// A session ends after this long without events, in ms.
    pub inactivity_timeout_ms: u64,
    /// A session ends this long after it started, in ms.
    pub max_session_duration_ms: u64,
    /// A session ends when its raw event bytes pass this.
    pub max_session_bytes: u64,
    /// A connection that receives nothing for this long is closed with `idle`, in ms.
    pub idle_timeout_ms: u64,
    /// The server pings every connection this often, in ms.
    pub ping_interval_ms: u64,
    /// Open ingest connections from one IP address.
    pub connections_per_ip: u64,
    /// Open ingest connections for one site on one node.
    pub connections_per_site: u64,
    /// Open connections of one session (its tabs, and page loads racing
    /// their predecessor's close).
    pub connections_per_session: u64,
    /// Distinct tab ids over a session's life.
    pub tabs_per_session: u64,
    /// `identify.user_id` length in bytes.
    pub user_id_bytes: u64,
    /// Entries in `identify.traits`.
    pub traits_count: u64,
    /// One trait key or value, in bytes.
    pub trait_bytes: u64,
    /// `hello.page.url`, in bytes; longer is cut (at a character boundary),
    /// never refused. Also bounds a Meta event's `data.href` as the index
    /// keeps it (the event itself is stored whole).
    pub hello_url_bytes: u64,
    /// `hello.page.referrer`, in bytes; longer is cut, never refused.
    pub hello_referrer_bytes: u64,
    /// `hello.page.title`, in bytes; longer is cut, never refused.
    pub hello_title_bytes: u64,
    /// `hello.lang`, in bytes; longer is cut, never refused.
    pub hello_lang_bytes: u64,
    /// `hello.tz`, in bytes; longer is cut, never refused.
    pub hello_tz_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            frame_bytes: 4 * MIB,
            decompressed_bytes: 16 * MIB,
            batch_events: 5_000,
            event_bytes: 8 * MIB,
            session_bytes_per_sec: MIB,
            session_bytes_burst: 16 * MIB,
            session_messages_per_sec: 50,
            session_messages_burst: 200,
            inactivity_timeout_ms: 30 * 60 * 1000,
            max_session_duration_ms: 4 * 60 * 60 * 1000,
            max_session_bytes: 256 * MIB,
            idle_timeout_ms: 60_000,
            ping_interval_ms: 25_000,
            connections_per_ip: 256,
            connections_per_site: 100_000,
            connections_per_session: 32,
            tabs_per_session: 64,
            user_id_bytes: 256,
            traits_count: 50,
            trait_bytes: 1024,
            hello_url_bytes: 8 * KIB,
            hello_referrer_bytes: 8 * KIB,
            hello_title_bytes: 8 * KIB,
            hello_lang_bytes: 64,
            hello_tz_bytes: 64,
        }
    }
}

/// Largest `seq` and `acked`: 2^53 - 1, the largest integer a JavaScript
/// tracker holds exactly (about 285 million years of one batch a second).
pub const MAX_SEQ: u64 = (1 << 53) - 1;

/// The ack deadline of PROTOCOL.md: a received batch is acked within this.
pub const MAX_ACK_DELAY_MS: u64 = 5_000;
