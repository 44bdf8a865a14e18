//! The header fields of an rrweb event, read without parsing the payload.
//!
//! The server derives a session's counters and signals from `type`,
//! `timestamp`, `data.source`, `data.type`, `data.href`, `data.x`/`data.y`
//! (of mouse interactions), `data.id` and the length of `data.text` (of
//! input events) and a few scalars of `data.payload`; every other
//! field (in particular full snapshot trees) is skipped by the lexer, never
//! built.

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
    /// `data.x` and `data.y`: where a mouse interaction happened (CSS px,
    /// rounded).
    pub x: Option<i64>,
    pub y: Option<i64>,
    /// `data.id`: the node an incremental snapshot is about (the field of
    /// an input event).
    pub id: Option<i64>,
    /// The length of `data.text` in characters: an input event's value,
    /// masked (one `*` per character) or not. The text itself is not kept.
    pub text_len: Option<u64>,
    /// `data.payload.status` (a `reel/network@1` response status).
    pub status: Option<i64>,
    /// `data.payload.error` is present and not null (a `reel/network@1`
    /// request that failed without a response).
    pub error: bool,
    /// ... and is one of [`crate::signals::ABORTED_ERRORS`]: the page
    /// itself cancelled the request.
    pub aborted: bool,
    /// `data.payload.name` (a `track` custom event's name).
    pub name: Option<String>,
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
                "x" => h.x = px(map.next_value::<Lenient<f64>>()?.0),
                "y" => h.y = px(map.next_value::<Lenient<f64>>()?.0),
                "id" => h.id = map.next_value::<Lenient<i64>>()?.0,
                "text" => h.text_len = map.next_value::<Chars>()?.0,
                "payload" => {
                    let p = map.next_value::<PayloadOf>()?;
                    h.level = p.level;
                    h.status = p.status;
                    h.error = p.error.present;
                    h.aborted = p.error.aborted;
                    h.name = p.name;
                }
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

/// A coordinate in whole CSS px (saturating; NaN is absent).
pub(crate) fn px(v: Option<f64>) -> Option<i64> {
    v.filter(|v| v.is_finite()).map(|v| v.round() as i64)
}

/// The length of a string as JavaScript counts it (UTF-16 code units, so
/// a value the tracker masked, one `*` per unit, keeps its length), or
/// `None` when the JSON holds something else. Counted in the JSON text
/// where it lies: the string is neither copied nor unescaped (a lone
/// surrogate escape is one unit, as in JavaScript, not an error).
pub(crate) struct Chars(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for Chars {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de serde_json::value::RawValue>::deserialize(d)?;
        Ok(Chars(utf16_len(raw.get())))
    }
}

/// The UTF-16 length of the JSON string literal `json` (quotes included),
/// or `None` when `json` is another JSON value.
fn utf16_len(json: &str) -> Option<u64> {
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    let mut n = 0u64;
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            // `\uXXXX` is one unit; any other escape one character.
            if chars.next() == Some('u') {
                chars.nth(3);
            }
            n += 1;
        } else {
            n += c.len_utf16() as u64;
        }
    }
    Some(n)
}

/// A value of type `T`, or `None` when the JSON holds something else.
pub(crate) struct Lenient<T>(pub(crate) Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Only small scalars reach here; an odd type is buffered and dropped.
        let v = serde_json::Value::deserialize(d)?;
        Ok(Lenient(T::deserialize(v).ok()))
    }
}

/// The scalars read from `payload` when it is an object (`level`,
/// `status`, `error`, `name`); the rest is skipped.
#[derive(Default)]
pub(crate) struct PayloadOf {
    pub(crate) level: Option<String>,
    pub(crate) status: Option<i64>,
    pub(crate) error: NetError,
    pub(crate) name: Option<String>,
}

impl<'de> Deserialize<'de> for PayloadOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PayloadOf;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PayloadOf, A::Error> {
                let mut p = PayloadOf::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "level" => p.level = map.next_value::<Lenient<String>>()?.0,
                        "status" => p.status = map.next_value::<Lenient<i64>>()?.0,
                        "name" => p.name = map.next_value::<Lenient<String>>()?.0,
                        "error" => p.error = map.next_value::<NetError>()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(p)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PayloadOf, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PayloadOf::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
            fn visit_unit<E>(self) -> Result<PayloadOf, E> {
                Ok(PayloadOf::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Tag of the custom event (type 5) the tracker records just before a full
/// snapshot it takes again in a page it already recorded in the session (a
/// live viewer asked, batches were lost): the Meta event after it is a
/// re-record, not a page load (PROTOCOL.md §7).
pub const RESNAPSHOT_TAG: &str = "reel/resnapshot";
/// A network payload's `error`: whether it is anything but `null`, and
/// whether it is the page's own cancellation
/// ([`crate::signals::ABORTED_ERRORS`]). Only a string is looked at; any
/// other value is skipped without being built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NetError {
    pub(crate) present: bool,
    pub(crate) aborted: bool,
}

impl<'de> Deserialize<'de> for NetError {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NetError;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<NetError, E> {
                Ok(NetError {
                    present: true,
                    aborted: crate::signals::ABORTED_ERRORS.contains(&s),
                })
            }
            fn visit_unit<E>(self) -> Result<NetError, E> {
                Ok(NetError::default())
            }
            fn visit_none<E>(self) -> Result<NetError, E> {
                Ok(NetError::default())
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<NetError, D::Error> {
                d.deserialize_any(V)
            }
            fn visit_bool<E>(self, _: bool) -> Result<NetError, E> {
                Ok(PRESENT)
            }
            fn visit_i64<E>(self, _: i64) -> Result<NetError, E> {
                Ok(PRESENT)
            }
            fn visit_u64<E>(self, _: u64) -> Result<NetError, E> {
                Ok(PRESENT)
            }
            fn visit_f64<E>(self, _: f64) -> Result<NetError, E> {
                Ok(PRESENT)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NetError, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(PRESENT)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NetError, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(PRESENT)
            }
        }
        const PRESENT: NetError = NetError {
            present: true,
            aborted: false,
        };
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

    /// True for the tracker's mark of a re-record ([`RESNAPSHOT_TAG`]).
    pub fn is_resnapshot(&self) -> bool {
        self.kind == event_type::CUSTOM
            && self
                .data
                .as_ref()
                .is_some_and(|d| d.tag.as_deref() == Some(RESNAPSHOT_TAG))
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
    fn click_position_and_payload_scalars_are_read() {
        let d = |json: &str| EventHeader::parse(json).unwrap().data.unwrap();
        let c =
            d(r#"{"type":3,"timestamp":1,"data":{"source":2,"type":2,"id":5,"x":10.6,"y":-2}}"#);
        assert_eq!((c.x, c.y), (Some(11), Some(-2)));
        let odd = d(r#"{"type":3,"timestamp":1,"data":{"source":2,"type":2,"x":"1","y":null}}"#);
        assert_eq!((odd.x, odd.y), (None, None));
        let net = d(
            r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"status":503,"error":null,"url":"u"}}}"#,
        );
        assert_eq!((net.status, net.error), (Some(503), false));
        let err = d(
            r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"status":0,"error":"Failed to fetch"}}}"#,
        );
        assert!(err.error && !err.aborted);
        for (error, aborted) in [
            ("\"aborted\"", true),
            ("\"abort\"", true),
            ("\"abortedx\"", false),
            ("1", false),
        ] {
            let net = d(&format!(
                r#"{{"type":6,"timestamp":1,"data":{{"plugin":"reel/network@1","payload":{{"status":0,"error":{error}}}}}}}"#
            ));
            assert_eq!((net.error, net.aborted), (true, aborted), "{error}");
        }
        let track = d(
            r#"{"type":5,"timestamp":1,"data":{"tag":"track","payload":{"name":"signup","props":{"a":1}}}}"#,
        );
        assert_eq!(track.name.as_deref(), Some("signup"));
    }

    #[test]
    fn input_field_and_value_length_are_read_as_javascript_counts_them() {
        let d = |json: &str| EventHeader::parse(json).unwrap().data.unwrap();
        let input = |text: &str| {
            let h = d(&format!(
                r#"{{"type":3,"timestamp":1,"data":{{"source":5,"text":{text},"isChecked":false,"id":9}}}}"#
            ));
            (h.id, h.text_len)
        };
        assert_eq!(input(r#""Alice""#), (Some(9), Some(5)));
        assert_eq!(input(r#""*****""#), (Some(9), Some(5)));
        assert_eq!(input(r#""""#), (Some(9), Some(0)));
        // Escapes are one unit each; outside the BMP two, as a mask has it.
        assert_eq!(input(r#""a\"\\\n\u00e9""#), (Some(9), Some(5)));
        assert_eq!(input("\"\u{e9}\u{1F600}\""), (Some(9), Some(3)));
        assert_eq!(input(r#""\ud83d\ude00""#), (Some(9), Some(2)));
        // A lone surrogate is a unit, not an error.
        assert_eq!(input(r#""\ud800x""#), (Some(9), Some(2)));
        // Not a string: no length, and not an error either.
        assert_eq!(input("5"), (Some(9), None));
        assert_eq!(input(r#"{"a":["b"]}"#), (Some(9), None));
        assert_eq!(input("null"), (Some(9), None));
        let odd = d(r#"{"type":3,"timestamp":1,"data":{"source":5,"id":"9"}}"#);
        assert_eq!((odd.id, odd.text_len), (None, None));
    }

    #[test]
    fn meta_href_is_read() {
        let h = EventHeader::parse(r#"{"type":4,"timestamp":7,"data":{"href":"https://shop/x"}}"#)
            .unwrap();
        assert_eq!(h.href(), Some("https://shop/x"));
        assert_eq!(h.timestamp, 7);
    }
}
