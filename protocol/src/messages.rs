//! Every v1 ingest message (PROTOCOL.md §1). Client messages borrow their
//! events from the decoded frame: an event is kept as the exact bytes it was
//! received as, never re-serialised.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use ts_rs::TS;

use crate::error::ErrorCode;
use crate::ids::{SessionId, TabId, VisitorId};
use crate::settings::Settings;

/// A message from the tracker. Decoded by [`crate::decode_message`].
#[derive(Debug)]
pub enum ClientMessage<'a> {
    /// First message of every connection, exactly once.
    Hello(Hello),
    /// One batch of rrweb events.
    Events(EventsBatch<'a>),
    /// Links the session to a user of the site.
    Identify(Identify),
    /// The tab is going away: flush it and ack.
    End,
}

/// `hello`: who is connecting and where they left off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Hello {
    pub v: u32,
    #[ts(type = "string")]
    pub visitor: VisitorId,
    #[serde(default)]
    #[ts(type = "string | null")]
    pub session: Option<SessionId>,
    #[ts(type = "string")]
    pub tab: TabId,
    /// Highest seq of this (session, tab) the client holds an ack for.
    #[serde(default)]
    pub acked: Option<u64>,
    #[serde(default)]
    pub page: Page,
    #[serde(default)]
    pub screen: Screen,
    #[serde(default)]
    pub lang: String,
    #[serde(default)]
    pub tz: String,
}

/// The page a connection was opened from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Page {
    pub url: String,
    pub referrer: String,
    pub title: String,
}

/// Screen size in CSS pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct Screen {
    pub w: u32,
    pub h: u32,
}

/// `events`: batch `seq` of a (session, tab).
#[derive(Debug)]
pub struct EventsBatch<'a> {
    pub seq: u64,
    /// Each event's JSON exactly as received (valid JSON, no surrounding
    /// whitespace).
    pub events: Vec<&'a str>,
    /// The header of each event.
    pub headers: Vec<crate::event::EventHeader>,
    /// Whether an event holds a raw line break (`\n` or `\r` between its
    /// tokens; `JSON.stringify` never writes one): when false, no event
    /// needs its line breaks replaced to be one NDJSON line.
    pub line_breaks: bool,
}

/// Every client message field, flat, so that one pass of the parser reads a
/// message and events can borrow from the frame (serde's internally tagged
/// enums buffer their content, which raw values cannot borrow from).
#[derive(Deserialize)]
pub(crate) struct WireMessage<'a> {
    #[serde(borrow)]
    pub t: std::borrow::Cow<'a, str>,
    // hello
    pub v: Option<u32>,
    pub visitor: Option<VisitorId>,
    #[serde(default)]
    pub session: Option<SessionId>,
    pub tab: Option<TabId>,
    #[serde(default)]
    pub acked: Option<u64>,
    #[serde(default)]
    pub page: Option<Page>,
    #[serde(default)]
    pub screen: Option<Screen>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub tz: Option<String>,
    // events
    pub seq: Option<u64>,
    #[serde(borrow)]
    pub events: Option<Vec<&'a RawValue>>,
    // identify
    pub user_id: Option<String>,
    #[serde(default)]
    pub traits: Option<BTreeMap<String, String>>,
}

impl<'a> WireMessage<'a> {
    /// The message this is, or what is missing.
    pub(crate) fn into_message(self) -> Result<ClientMessage<'a>, String> {
        fn need<T>(v: Option<T>, t: &str, field: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("`{t}` needs field `{field}`"))
        }
        let t = self.t.as_ref();
        Ok(match t {
            "hello" => ClientMessage::Hello(Hello {
                v: need(self.v, t, "v")?,
                visitor: need(self.visitor, t, "visitor")?,
                session: self.session,
                tab: need(self.tab, t, "tab")?,
                acked: self.acked,
                page: self.page.unwrap_or_default(),
                screen: self.screen.unwrap_or_default(),
                lang: self.lang.unwrap_or_default(),
                tz: self.tz.unwrap_or_default(),
            }),
            "events" => {
                let seq = need(self.seq, t, "seq")?;
                let events: Vec<&'a str> = need(self.events, t, "events")?
                    .into_iter()
                    .map(RawValue::get)
                    .collect();
                let line_breaks = events.iter().any(|e| e.contains(['\n', '\r']));
                ClientMessage::Events(EventsBatch {
                    seq,
                    events,
                    headers: Vec::new(),
                    line_breaks,
                })
            }
            "identify" => ClientMessage::Identify(Identify {
                user_id: need(self.user_id, t, "user_id")?,
                traits: self.traits.unwrap_or_default(),
            }),
            "end" => ClientMessage::End,
            other => return Err(format!("unknown message type `{other}`")),
        })
    }
}

/// `identify`: the site's own user id and traits for this session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct Identify {
    pub user_id: String,
    #[serde(default)]
    pub traits: BTreeMap<String, String>,
}

/// A message to the tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome {
        #[ts(type = "string")]
        session: SessionId,
        #[ts(type = "string")]
        tab: TabId,
        /// First batch of this (session, tab) not yet durable.
        next_seq: u64,
        settings: Settings,
    },
    /// Every batch with seq <= `seq` is durable.
    Ack { seq: u64 },
    /// Record a full snapshot now.
    Snapshot,
    /// Settings changed: the site's (an admin's change), the node's
    /// (maintenance) or the feature flags evaluated for the session
    /// (`Settings::flags`, an operator's `reel flag` change). Sent only
    /// when they differ from what the tracker was last told.
    Settings(Settings),
    /// This node is draining: reconnect after `retry_after_ms` plus jitter.
    Goaway { retry_after_ms: u64 },
    /// The connection is about to be closed with `code.close_code()`.
    Error { code: ErrorCode, message: String },
}

impl ServerMessage {
    /// The JSON text frame of this message.
    pub fn to_json(&self) -> String {
        // unwrap: every field serialises (strings, numbers, plain structs).
        serde_json::to_string(self).unwrap()
    }
}

/// The client messages as the tracker writes them, for the TypeScript
/// bindings (the server decodes them with [`crate::decode_message`]).
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ClientMessageWire {
    Hello(Hello),
    Events {
        seq: u64,
        /// rrweb events.
        #[ts(type = "unknown[]")]
        events: Vec<serde_json::Value>,
    },
    Identify(Identify),
    End,
}
