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
    /// Requests that failed: status >= 500 or a network error (§7).
    #[serde(default)]
    pub failed_requests: i64,
    /// 3 or more clicks within 1 s within 30 px, each run counted once.
    #[serde(default)]
    pub rage_clicks: i64,
    /// Clicks followed by no mutation, navigation or request within 1 s.
    #[serde(default)]
    pub dead_clicks: i64,
    /// Distinct `reel.track` names, in first-seen order.
    #[serde(default)]
    pub track_events: Vec<String>,
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
    pub has_failed_requests: Option<bool>,
    pub has_rage_clicks: Option<bool>,
    pub has_dead_clicks: Option<bool>,
    /// A `reel.track` name the session sent (exact).
    pub track: Option<String>,
    /// A console error or error event's text contains this.
    pub error_contains: Option<String>,
    pub visitor_id: Option<String>,
    /// `KEY:VALUE`: the user's trait KEY is exactly VALUE.
    #[serde(rename = "trait")]
    pub user_trait: Option<String>,
    pub browser: Option<String>,
    pub os: Option<String>,
    /// `desktop`, `mobile`, `tablet` or `unknown`.
    pub device: Option<String>,
    /// `true`: a tracker is connected now (presence), `false`: none is.
    pub live: Option<bool>,
    /// 1 to [`MAX_PAGE_SIZE`], default [`DEFAULT_PAGE_SIZE`].
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 500;

/// Bytes of a text filter (`url`, `user_id`, `visitor_id`, and the key and
/// the value of `trait` each) — as long as an identify's trait.
pub const FILTER_TEXT_MAX_BYTES: usize = 1024;
/// Bytes of `browser`, `os` and `device` (the index holds the short names
/// of the user-agent parser).
pub const FILTER_AGENT_MAX_BYTES: usize = 64;
/// Bytes of `error_contains`: no kept error text is longer.
pub const FILTER_ERROR_MAX_BYTES: usize = crate::signals::ERROR_TEXT_MAX_BYTES;
/// Bytes of `track`: no track name is longer.
pub const FILTER_TRACK_MAX_BYTES: usize = crate::signals::TRACK_NAME_MAX_BYTES;
/// Live session ids (presence) one `live` filter sends to the index: the
/// newest this many of a site's live sessions. Past it, `live=true` lists
/// only these and `live=false` may list an older live session.
pub const MAX_LIVE_FILTER_IDS: usize = 10_000;

/// Why a [`SessionFilter`] is refused (a 400 that names the parameter).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {why}")]
pub struct FilterError {
    pub param: &'static str,
    pub why: String,
}

impl SessionFilter {
    /// Checks every filter's bound and shape: texts within their byte
    /// bounds, the new text filters not empty, `trait` as `KEY:VALUE` with
    /// a key.
    pub fn check(&self) -> Result<(), FilterError> {
        fn text(
            param: &'static str,
            v: &Option<String>,
            max: usize,
            empty_ok: bool,
        ) -> Result<(), FilterError> {
            let Some(v) = v else { return Ok(()) };
            if v.len() > max {
                return Err(FilterError {
                    param,
                    why: format!("at most {max} bytes"),
                });
            }
            if v.is_empty() && !empty_ok {
                return Err(FilterError {
                    param,
                    why: "must not be empty".into(),
                });
            }
            Ok(())
        }
        text("url", &self.url, FILTER_TEXT_MAX_BYTES, true)?;
        text("user_id", &self.user_id, FILTER_TEXT_MAX_BYTES, true)?;
        text("visitor_id", &self.visitor_id, FILTER_TEXT_MAX_BYTES, false)?;
        text("track", &self.track, FILTER_TRACK_MAX_BYTES, false)?;
        text(
            "error_contains",
            &self.error_contains,
            FILTER_ERROR_MAX_BYTES,
            false,
        )?;
        text("browser", &self.browser, FILTER_AGENT_MAX_BYTES, false)?;
        text("os", &self.os, FILTER_AGENT_MAX_BYTES, false)?;
        text("device", &self.device, FILTER_AGENT_MAX_BYTES, false)?;
        if let Some(t) = &self.user_trait {
            let Some((k, v)) = t.split_once(':') else {
                return Err(FilterError {
                    param: "trait",
                    why: "KEY:VALUE expected".into(),
                });
            };
            if k.is_empty() {
                return Err(FilterError {
                    param: "trait",
                    why: "the key must not be empty".into(),
                });
            }
            if k.len() > FILTER_TEXT_MAX_BYTES || v.len() > FILTER_TEXT_MAX_BYTES {
                return Err(FilterError {
                    param: "trait",
                    why: format!("key and value at most {FILTER_TEXT_MAX_BYTES} bytes each"),
                });
            }
        }
        Ok(())
    }

    /// `trait=KEY:VALUE` split at the first `:` (a value may hold `:`).
    pub fn trait_pair(&self) -> Option<(&str, &str)> {
        self.user_trait.as_deref()?.split_once(':')
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut SessionFilter)) -> Result<(), FilterError> {
        let mut filter = SessionFilter::default();
        f(&mut filter);
        filter.check()
    }

    #[test]
    fn every_text_filter_is_bounded() {
        type Set = fn(&mut SessionFilter, String);
        let cases: [(&str, usize, Set); 8] = [
            ("url", FILTER_TEXT_MAX_BYTES, |f, v| f.url = Some(v)),
            ("user_id", FILTER_TEXT_MAX_BYTES, |f, v| f.user_id = Some(v)),
            ("visitor_id", FILTER_TEXT_MAX_BYTES, |f, v| {
                f.visitor_id = Some(v)
            }),
            ("track", FILTER_TRACK_MAX_BYTES, |f, v| f.track = Some(v)),
            ("error_contains", FILTER_ERROR_MAX_BYTES, |f, v| {
                f.error_contains = Some(v)
            }),
            ("browser", FILTER_AGENT_MAX_BYTES, |f, v| {
                f.browser = Some(v)
            }),
            ("os", FILTER_AGENT_MAX_BYTES, |f, v| f.os = Some(v)),
            ("device", FILTER_AGENT_MAX_BYTES, |f, v| f.device = Some(v)),
        ];
        for (param, max, set) in cases {
            assert_eq!(with(|f| set(f, "é".repeat(max / 2))), Ok(()), "{param}");
            let err = with(|f| set(f, "x".repeat(max + 1))).unwrap_err();
            assert_eq!(err.param, param);
        }
        let key = "k".repeat(FILTER_TEXT_MAX_BYTES);
        assert_eq!(
            with(|f| f.user_trait = Some(format!("{key}:{key}"))),
            Ok(())
        );
        let err = with(|f| f.user_trait = Some(format!("{key}k:v"))).unwrap_err();
        assert_eq!(err.param, "trait");
        let err = with(|f| f.user_trait = Some(format!("k:{key}v"))).unwrap_err();
        assert_eq!(err.param, "trait");
    }

    #[test]
    fn new_text_filters_are_not_empty_and_trait_has_a_key() {
        assert_eq!(
            with(|f| f.track = Some(String::new())).unwrap_err().param,
            "track"
        );
        assert_eq!(
            with(|f| f.browser = Some(String::new())).unwrap_err().param,
            "browser"
        );
        assert_eq!(
            with(|f| f.user_trait = Some("plan".into()))
                .unwrap_err()
                .param,
            "trait"
        );
        assert_eq!(
            with(|f| f.user_trait = Some(":pro".into()))
                .unwrap_err()
                .param,
            "trait"
        );
        let f = SessionFilter {
            user_trait: Some("plan:pro:annual".into()),
            ..Default::default()
        };
        assert_eq!(f.check(), Ok(()));
        assert_eq!(f.trait_pair(), Some(("plan", "pro:annual")));
        assert_eq!(with(|f| f.user_trait = Some("plan:".into())), Ok(()));
    }
}
