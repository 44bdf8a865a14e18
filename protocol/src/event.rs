//! The header fields of an rrweb event, read without parsing the payload.
//!
//! The server derives a session's counters from `type`, `timestamp`,
//! `data.source`, `data.type` and `data.href`; every other field (in
//! particular full snapshot trees) is skipped by the lexer, never built.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// rrweb `EventType`.
pub mod event_type {
    pub const DOM_CONTENT_LOADED: u32 = 0;
    pub const LOAD: u32 = 1;
    pub const FULL_SNAPSHOT: u32 = 2;
    pub const INCREMENTAL_SNAPSHOT: u32 = 3;
    pub const META: u32 = 4;
    pub const CUSTOM: u32 = 5;
    pub const PLUGIN: u32 = 6;
}

/// rrweb `IncrementalSource` (`data.source` of an incremental snapshot).
pub mod source {
    pub const MUTATION: u32 = 0;
    pub const MOUSE_MOVE: u32 = 1;
    pub const MOUSE_INTERACTION: u32 = 2;
    pub const SCROLL: u32 = 3;
    pub const VIEWPORT_RESIZE: u32 = 4;
    pub const INPUT: u32 = 5;
    pub const TOUCH_MOVE: u32 = 6;
    pub const MEDIA_INTERACTION: u32 = 7;
    pub const LOG: u32 = 11;
}

/// rrweb `MouseInteractions` (`data.type` of a mouse interaction).
pub mod mouse {
    pub const CLICK: u32 = 2;
    pub const DBL_CLICK: u32 = 4;
    pub const TOUCH_END: u32 = 9;
}

/// The fields of an event the server reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventHeader {
    #[serde(rename = "type")]
    pub kind: u32,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    #[serde(default)]
    pub data: Option<DataHeader>,
}

/// The header fields of `data`. Fields of an unexpected type are read as
/// absent: the header is for counting, and an odd payload is not an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataHeader {
    pub source: Option<u32>,
    pub kind: Option<u32>,
    pub href: Option<String>,
    /// rrweb plugin records: `data.plugin` names the plugin.
    pub plugin: Option<String>,
    /// Custom events: `data.tag`.
    pub tag: Option<String>,
    /// `data.payload.level` (the console plugin's log level).
    pub level: Option<String>,
}

impl<'de> Deserialize<'de> for DataHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> Visitor<'de> for DataVisitor {
    type Value = DataHeader;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DataHeader, A::Error> {
        let mut h = DataHeader::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "source" => h.source = map.next_value::<Lenient<u32>>()?.0,
                "type" => h.kind = map.next_value::<Lenient<u32>>()?.0,
                "href" => h.href = map.next_value::<Lenient<String>>()?.0,
                "plugin" => h.plugin = map.next_value::<Lenient<String>>()?.0,
                "tag" => h.tag = map.next_value::<Lenient<String>>()?.0,
                "payload" => h.level = map.next_value::<LevelOf>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(h)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DataHeader, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(DataHeader::default())
    }

    fn visit_bool<E>(self, _: bool) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
    fn visit_i64<E>(self, _: i64) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
    fn visit_u64<E>(self, _: u64) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
    fn visit_f64<E>(self, _: f64) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
    fn visit_unit<E>(self) -> Result<DataHeader, E> {
        Ok(DataHeader::default())
    }
}

/// A value of type `T`, or `None` when the JSON holds something else.
struct Lenient<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only small scalars reach here; an odd type is buffered and dropped.
        let v = serde_json::Value::deserialize(d)?;
        Ok(Lenient(T::deserialize(v).ok()))
    }
}

/// `payload.level` when `payload` is an object; the rest is skipped.
struct LevelOf(Option<String>);

impl<'de> Deserialize<'de> for LevelOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LevelOf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LevelOf, A::Error> {
                let mut level = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if key == "level" {
                        level = map.next_value::<Lenient<String>>()?.0;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(LevelOf(level))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LevelOf, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LevelOf(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
            fn visit_unit<E>(self) -> Result<LevelOf, E> {
                Ok(LevelOf(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// What an event counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A Meta event: a page load (or re-record) with its URL.
    PageLoad,
    /// A click, double click or tap.
    Click,
    /// Typing into an input.
    Keypress,
    /// Another user input (scroll, mouse move, touch move).
    OtherInput,
    /// A console error recorded by rrweb's console plugin, or a custom
    /// `error` event.
    ConsoleError,
    Other,
}

impl EventHeader {
    /// Parses the header of one event's JSON.
    pub fn parse(json: &str) -> Result<EventHeader, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// Classifies the event for the session counters.
    pub fn kind(&self) -> EventKind {
        let data = self.data.as_ref();
        match self.kind {
            event_type::META => EventKind::PageLoad,
            event_type::INCREMENTAL_SNAPSHOT => match data.and_then(|d| d.source) {
                Some(source::MOUSE_INTERACTION) => match data.and_then(|d| d.kind) {
                    Some(mouse::CLICK | mouse::DBL_CLICK | mouse::TOUCH_END) => EventKind::Click,
                    _ => EventKind::OtherInput,
                },
                Some(source::INPUT) => EventKind::Keypress,
                Some(source::MOUSE_MOVE | source::SCROLL | source::TOUCH_MOVE) => {
                    EventKind::OtherInput
                }
                _ => EventKind::Other,
            },
            event_type::PLUGIN
                if data.is_some_and(|d| {
                    d.plugin
                        .as_deref()
                        .is_some_and(|p| p.ends_with("console@1"))
                        && d.level.as_deref() == Some("error")
                }) =>
            {
                EventKind::ConsoleError
            }
            event_type::CUSTOM if data.is_some_and(|d| d.tag.as_deref() == Some("error")) => {
                EventKind::ConsoleError
            }
            _ => EventKind::Other,
        }
    }

    /// The page URL of a Meta event.
    pub fn href(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.href.as_deref())
    }

    /// True for events that are the user doing something (active time).
    pub fn is_user_input(&self) -> bool {
        matches!(
            self.kind(),
            EventKind::Click | EventKind::Keypress | EventKind::OtherInput
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(json: &str) -> EventKind {
        EventHeader::parse(json).unwrap().kind()
    }

    #[test]
    fn classifies_rrweb_events() {
        assert_eq!(
            kind(r#"{"type":4,"timestamp":1,"data":{"href":"https://a/","width":1,"height":2}}"#),
            EventKind::PageLoad
        );
        assert_eq!(
            kind(r#"{"type":3,"timestamp":1,"data":{"source":2,"type":2,"id":5,"x":1,"y":2}}"#),
            EventKind::Click
        );
        assert_eq!(
            kind(r#"{"type":3,"timestamp":1,"data":{"source":2,"type":1,"id":5}}"#),
            EventKind::OtherInput
        );
        assert_eq!(
            kind(
                r#"{"type":3,"timestamp":1,"data":{"source":5,"text":"*","isChecked":false,"id":9}}"#
            ),
            EventKind::Keypress
        );
        assert_eq!(
            kind(
                r#"{"type":6,"timestamp":1,"data":{"plugin":"rrweb/console@1","payload":{"level":"error","trace":[],"payload":["\"x\""]}}}"#
            ),
            EventKind::ConsoleError
        );
        assert_eq!(
            kind(
                r#"{"type":6,"timestamp":1,"data":{"plugin":"rrweb/console@1","payload":{"level":"log"}}}"#
            ),
            EventKind::Other
        );
        assert_eq!(
            kind(r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":"boom"}}"#),
            EventKind::ConsoleError
        );
        assert_eq!(
            kind(
                r#"{"type":2,"timestamp":1,"data":{"node":{"type":0,"childNodes":[]},"initialOffset":{"top":0,"left":0}}}"#
            ),
            EventKind::Other
        );
    }

    #[test]
    fn odd_data_shapes_are_not_errors() {
        assert_eq!(
            kind(r#"{"type":3,"timestamp":1,"data":{"source":"x","type":[1]}}"#),
            EventKind::Other
        );
        assert_eq!(
            kind(r#"{"type":5,"timestamp":1,"data":null}"#),
            EventKind::Other
        );
        assert_eq!(
            kind(r#"{"type":5,"timestamp":1,"data":[1,2]}"#),
            EventKind::Other
        );
        assert_eq!(kind(r#"{"type":5,"timestamp":1}"#), EventKind::Other);
    }

    #[test]
    fn header_needs_integer_type_and_timestamp() {
        assert!(EventHeader::parse(r#"{"type":"3","timestamp":1}"#).is_err());
        assert!(EventHeader::parse(r#"{"type":3,"timestamp":1.5}"#).is_err());
        assert!(EventHeader::parse(r#"{"timestamp":1}"#).is_err());
        assert!(EventHeader::parse(r#"[1]"#).is_err());
    }

    #[test]
    fn meta_href_is_read() {
        let h = EventHeader::parse(r#"{"type":4,"timestamp":7,"data":{"href":"https://shop/x"}}"#)
            .unwrap();
        assert_eq!(h.href(), Some("https://shop/x"));
        assert_eq!(h.timestamp, 7);
    }
}
