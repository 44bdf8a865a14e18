//! The live dashboard socket, `GET /v1/live` (PROTOCOL.md §4): presence of
//! a site's live sessions, and watching one session as it is recorded.
//! Text frames, one JSON message each, tagged by `t`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::signals::LiveSignals;

/// Limits of the live socket.
pub mod limits {
    /// Messages queued for one live client before it is cut off as too
    /// slow (`watch_ended` with [`super::WATCH_TOO_SLOW`] for its watches).
    pub const CLIENT_QUEUE: usize = 256;
    /// Sessions one live client may watch at once.
    pub const WATCHES_PER_CLIENT: usize = 8;
    /// Sites one live client may follow at once.
    pub const SITES_PER_CLIENT: usize = 16;
    /// Largest client message (bytes).
    pub const CLIENT_MESSAGE_BYTES: usize = 4096;
}

/// `watch_ended.reason` when the watcher fell too far behind.
pub const WATCH_TOO_SLOW: &str = "too_slow";
/// `watch_ended.reason` when the session ended.
pub const WATCH_SESSION_ENDED: &str = "session_ended";
/// `watch_ended.reason` reserved for a node known lost (today a session
/// that leaves presence ends its watches with [`WATCH_SESSION_ENDED`]).
pub const WATCH_NODE_LOST: &str = "node_lost";
/// `watch_ended.reason` when the watcher's access no longer reaches the
/// session's site (its membership was limited to other sites).
pub const WATCH_NOT_ALLOWED: &str = "not_allowed";

/// One live session as presence shows it (`P` in PROTOCOL.md §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Presence {
    pub session: String,
    pub visitor: String,
    pub user_id: Option<String>,
    /// The visitor's current page.
    pub url: String,
    pub title: String,
    /// `desktop`, `mobile`, `tablet` or `unknown`.
    pub device: String,
    /// The browser's name as the `User-Agent` says (`Chrome`, `Firefox`,
    /// `Safari`, ...; `UNKNOWN` when it says nothing known). Absent (empty)
    /// from nodes older than this field.
    #[serde(default)]
    pub browser: String,
    /// The operating system as the `User-Agent` says (`Windows 10`,
    /// `Mac OSX`, `Linux`, `Android`, `iPhone`, ...; `UNKNOWN` likewise).
    #[serde(default)]
    pub os: String,
    /// ms since the epoch.
    pub started_at: i64,
    pub last_activity_at: i64,
    /// The node the session is recorded on.
    pub node: String,
    /// What went wrong for the visitor so far (§7), so the live list can
    /// flag it while it happens.
    #[serde(default)]
    pub signals: LiveSignals,
}

/// Dashboard -> server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum LiveClientMessage {
    /// Subscribe to a site's live sessions.
    Presence { site: i64 },
    /// Follow one live session.
    Watch { session: String },
    /// Stop following it.
    Unwatch { session: String },
}

/// Server -> dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum LiveServerMessage {
    /// The site's live sessions, first after `presence`.
    PresenceSnapshot {
        site: i64,
        sessions: Vec<Presence>,
    },
    PresenceJoin {
        site: i64,
        session: Presence,
    },
    PresenceUpdate {
        site: i64,
        session: Presence,
    },
    PresenceLeave {
        site: i64,
        session: String,
    },
    /// Events of a watched session: first the tab's latest Meta and full
    /// snapshot and the events after it, then events as they arrive.
    Events {
        session: String,
        tab: String,
        /// rrweb events, as the tracker sent them.
        #[ts(type = "unknown[]")]
        events: Vec<Box<serde_json::value::RawValue>>,
    },
    /// The watch is over: the session ended, or the watcher fell behind.
    WatchEnded {
        session: String,
        reason: String,
    },
    /// A bad request; the connection stays open.
    Error {
        code: String,
        message: String,
    },
}

impl LiveServerMessage {
    /// The JSON text frame of this message.
    pub fn to_json(&self) -> String {
        // unwrap: every field serialises (strings, numbers, raw JSON).
        serde_json::to_string(self).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_protocol_shapes() {
        let m: LiveClientMessage = serde_json::from_str(r#"{"t":"presence","site":7}"#).unwrap();
        assert_eq!(m, LiveClientMessage::Presence { site: 7 });
        let m: LiveClientMessage = serde_json::from_str(r#"{"t":"watch","session":"s"}"#).unwrap();
        assert_eq!(
            m,
            LiveClientMessage::Watch {
                session: "s".into()
            }
        );
        assert!(serde_json::from_str::<LiveClientMessage>(r#"{"t":"nope"}"#).is_err());
        let ev = serde_json::value::RawValue::from_string(r#"{"type":4}"#.into()).unwrap();
        let out = LiveServerMessage::Events {
            session: "s".into(),
            tab: "t".into(),
            events: vec![ev],
        };
        assert_eq!(
            out.to_json(),
            r#"{"t":"events","session":"s","tab":"t","events":[{"type":4}]}"#
        );
        let leave = LiveServerMessage::PresenceLeave {
            site: 1,
            session: "s".into(),
        };
        assert_eq!(
            leave.to_json(),
            r#"{"t":"presence_leave","site":1,"session":"s"}"#
        );
    }
}
