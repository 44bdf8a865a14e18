//! JSON shapes of the replay API (PROTOCOL.md §2), shared with the dashboard.
//!
//! Every id and counter is a 64-bit integer in storage. JSON numbers are
//! exact to 2^53, which no counter of a single session approaches.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::settings::Settings;

/// One session's index row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SessionInfo {
    pub id: String,
    pub site_id: i64,
    pub visitor_id: String,
    pub user_id: Option<String>,
    pub user_traits: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub started_at: i64,
    pub last_activity_at: i64,
    pub ended_at: Option<i64>,
    pub duration_ms: i64,
    pub active_ms: i64,
    pub page_loads: i64,
    pub first_url: String,
    pub urls: Vec<String>,
    pub referrer: String,
    pub clicks: i64,
    pub keypresses: i64,
    pub console_errors: i64,
    pub events: i64,
    pub raw_bytes: i64,
    pub stored_bytes: i64,
    pub segments: i64,
    pub tabs: Vec<String>,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub screen_w: i64,
    pub screen_h: i64,
    pub lang: String,
    pub tz: String,
    /// The session has not ended: more segments may come.
    pub live: bool,
    /// Writes of this session (segments, its end) are waiting on the
    /// answering node for storage that is down: the replay is not complete
    /// yet, and what is missing arrives once storage is back.
    #[serde(default)]
    pub writing: bool,
    /// Kept past its site's retention (PROTOCOL.md §6).
    #[serde(default)]
    pub pinned: bool,
}

/// One stored segment of a session, for clients that fetch segments
/// themselves (`GET /api/v1/sessions/{session}/segments`). A segment holds
/// batches `first_seq..=last_seq` of its tab. Segments of a tab may overlap
/// (two nodes stored the same batches after a failover): read a tab's
/// segments in `first_seq` order and skip the batches already read, using
/// `batch_ends`; the events route does this for you.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SegmentInfo {
    pub tab: String,
    pub first_seq: u64,
    pub last_seq: u64,
    /// First and last event timestamps (ms).
    pub first_ts: i64,
    pub last_ts: i64,
    pub event_count: u64,
    /// Compressed size.
    pub stored_bytes: u64,
    /// The object's key in the blob store: zstd-compressed NDJSON.
    pub key: String,
    /// Where each batch ends in the decompressed object, in bytes: entry
    /// `i` ends batch `first_seq + i`. To skip batches up to seq `n`
    /// (`first_seq <= n < last_seq`), start at `batch_ends[n - first_seq]`.
    /// `null` for segments stored before reel recorded them: read those
    /// whole, or skip them when every seq they hold was read.
    pub batch_ends: Option<Vec<u64>>,
    /// A presigned URL to GET the object straight from S3 (or a CDN in
    /// front of it), when the node is configured to sign them.
    pub url: Option<String>,
}

/// A page of the session list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SessionPage {
    pub sessions: Vec<SessionInfo>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/v1/sites/{site_id}/sessions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct SessionFilter {
    /// Sessions that started at or after this (ms).
    pub from: Option<i64>,
    /// Sessions that started before this (ms).
    pub to: Option<i64>,
    pub min_duration_ms: Option<i64>,
    /// A URL the session visited contains this.
    pub url: Option<String>,
    pub user_id: Option<String>,
    pub has_errors: Option<bool>,
    /// 1 to [`MAX_PAGE_SIZE`], default [`DEFAULT_PAGE_SIZE`].
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

/// A site, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SiteInfo {
    pub id: i64,
    pub name: String,
    /// The public key trackers connect with.
    pub site_key: String,
    /// Empty: any origin.
    pub allowed_origins: Vec<String>,
    /// What its trackers are told in `welcome` and `settings` (the node
    /// adds its own batch and frame bounds).
    pub settings: Settings,
    /// Days its recordings are kept.
    pub retention_days: i64,
}

/// `GET /api/v1/sites`: the token's organisation's sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SiteList {
    pub sites: Vec<SiteInfo>,
}
