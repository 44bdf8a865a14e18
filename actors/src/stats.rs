//! Session counters, read from each event's header as batches stream by.

use std::collections::HashMap;

use reel_protocol::event::{event_type, EventHeader, EventKind};
use serde::{Deserialize, Serialize};

/// Gaps between user input events shorter than this count as active time.
pub const ACTIVE_GAP_MS: i64 = 5_000;

/// Fields of a page whose value length a tab remembers to count keys
/// ([`Keys`]). A page typed into in more fields than this starts its
/// memory over: the next input event of each field counts 1.
pub const MAX_TYPED_FIELDS: usize = 64;

/// What one batch adds to its session's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats {
    pub events: u64,
    pub raw_bytes: u64,
    pub page_loads: u64,
    pub clicks: u64,
    /// Keys typed, as the batch alone tells ([`Keys`]); the session actor
    /// counts them again with what the tab's earlier batches left.
    pub keypresses: u64,
    pub console_errors: u64,
    /// The batch's input events and new pages, in order, to count keys
    /// with. Not stored: counted before the batch is spooled.
    #[serde(skip)]
    pub typing: Vec<Typing>,
    /// URLs of the batch's page loads with their event timestamps, in order.
    pub urls: Vec<(String, i64)>,
    pub first_ts: i64,
    pub last_ts: i64,
    /// First and last user input in the batch, and the active time between.
    pub input: Option<InputSpan>,
    /// What the batch adds to the session's signals: set by the session
    /// actor's detector ([`crate::signals`]), which sees the tab's batches
    /// in order.
    pub signals: SignalDelta,
}

/// User input within a run of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSpan {
    pub first_ts: i64,
    pub last_ts: i64,
    pub active_ms: i64,
}

impl InputSpan {
    /// Joins a later span: the gap between them counts when it is short.
    pub fn then(self, next: InputSpan) -> InputSpan {
        let gap = next.first_ts - self.last_ts;
        let bridge = if (0..ACTIVE_GAP_MS).contains(&gap) {
            gap
        } else {
            0
        };
        InputSpan {
            first_ts: self.first_ts,
            last_ts: next.last_ts.max(self.last_ts),
            active_ms: self.active_ms + bridge + next.active_ms,
        }
    }
}

/// What counting keys reads from an event (PROTOCOL.md §7, "Input as
/// typed").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typing {
    /// A full snapshot: the page is recorded anew, its nodes numbered anew.
    NewPage,
    /// An input event: its field's node id and value length, when given.
    Input { node: Option<i64>, len: Option<u64> },
}

impl Typing {
    /// What `h` tells about typing, if anything.
    pub fn of(h: &EventHeader) -> Option<Typing> {
        match h.kind() {
            EventKind::Keypress => {
                let data = h.data.as_ref();
                Some(Typing::Input {
                    node: data.and_then(|d| d.id),
                    len: data.and_then(|d| d.text_len),
                })
            }
            _ if h.kind == event_type::FULL_SNAPSHOT => Some(Typing::NewPage),
            _ => None,
        }
    }
}

/// Counts keys from input events, which the tracker throttles (at most one
/// per field every 100 ms, with the field's whole value): each counts the
/// change in its field's value length since the field's previous input
/// event in the page, at least 1; a field's first input event counts 1.
/// Remembers each field's last length, for at most [`MAX_TYPED_FIELDS`]
/// fields of the page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keys {
    /// Value length of each field at its last input event, by node id.
    fields: HashMap<i64, u64>,
}

impl Keys {
    /// The keys `typing` adds, remembering the fields' new lengths.
    pub fn count(&mut self, typing: &[Typing]) -> u64 {
        let mut keys = 0;
        for t in typing {
            match *t {
                Typing::NewPage => self.fields.clear(),
                Typing::Input {
                    node: Some(node),
                    len: Some(len),
                } => {
                    if self.fields.len() >= MAX_TYPED_FIELDS && !self.fields.contains_key(&node) {
                        self.fields.clear();
                    }
                    let typed = match self.fields.insert(node, len) {
                        Some(before) => before.abs_diff(len),
                        None => 1,
                    };
                    keys += typed.max(1);
                }
                Typing::Input { .. } => keys += 1,
            }
        }
        keys
    }
}

impl BatchStats {
    /// Counts a batch from its event headers and raw sizes.
    pub fn from_headers<'a>(
        headers: impl IntoIterator<Item = (&'a EventHeader, usize)>,
    ) -> BatchStats {
        let mut s = BatchStats::default();
        // The tracker marks a re-recorded page (RESNAPSHOT_TAG) just before
        // its Meta, in the same batch: that Meta is not a page load.
        let mut rerecord = false;
        for (h, len) in headers {
            if s.events == 0 {
                s.first_ts = h.timestamp;
                s.last_ts = h.timestamp;
            }
            s.events += 1;
            // Each stored line is the event plus its newline.
            s.raw_bytes += len as u64 + 1;
            s.first_ts = s.first_ts.min(h.timestamp);
            s.last_ts = s.last_ts.max(h.timestamp);
            if h.is_resnapshot() {
                rerecord = true;
            }
            match h.kind() {
                EventKind::PageLoad if std::mem::take(&mut rerecord) => {}
                EventKind::PageLoad => {
                    s.page_loads += 1;
                    if let Some(url) = h.href() {
                        s.urls.push((url.to_owned(), h.timestamp));
                    }
                }
                EventKind::Click => s.clicks += 1,
                EventKind::Keypress => {}
                EventKind::ConsoleError => s.console_errors += 1,
                EventKind::OtherInput | EventKind::Other => {}
            }
            if let Some(t) = Typing::of(h) {
                s.typing.push(t);
            }
            if h.is_user_input() {
                let point = InputSpan {
                    first_ts: h.timestamp,
                    last_ts: h.timestamp,
                    active_ms: 0,
                };
                s.input = Some(match s.input {
                    Some(span) => span.then(point),
                    None => point,
                });
            }
        }
        s.keypresses = Keys::default().count(&s.typing);
        s
    }
}

/// What a segment adds to its session's row, committed with the segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentDelta {
    pub events: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub page_loads: u64,
    pub clicks: u64,
    pub keypresses: u64,
    pub console_errors: u64,
    pub active_ms: i64,
    /// URLs loaded, each with its first page load's timestamp.
    pub urls: Vec<(String, i64)>,
    /// When the node received the segment's last batch (ms, server clock).
    pub last_activity_at: i64,
    /// What the segment adds to the session's signals (PROTOCOL.md §7).
    pub signals: SignalDelta,
}

/// What a segment adds to its session's signals (PROTOCOL.md §7), bounded
/// by the limits of `reel_protocol::signals`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignalDelta {
    pub failed_requests: u64,
    pub rage_clicks: u64,
    pub dead_clicks: u64,
    /// `reel.track` names first seen in this segment.
    pub track_events: Vec<String>,
    /// Console error and `error` event texts first seen in this segment.
    pub error_texts: Vec<String>,
}

impl SignalDelta {
    /// Adds a later part: counts add up, names and texts not seen yet are
    /// appended.
    pub fn add(&mut self, more: &SignalDelta) {
        self.failed_requests += more.failed_requests;
        self.rage_clicks += more.rage_clicks;
        self.dead_clicks += more.dead_clicks;
        for name in &more.track_events {
            if !self.track_events.contains(name) {
                self.track_events.push(name.clone());
            }
        }
        for text in &more.error_texts {
            if !self.error_texts.contains(text) {
                self.error_texts.push(text.clone());
            }
        }
    }
}

impl SegmentDelta {
    /// Adds one batch. `prev_input` is the tab's last input before this
    /// batch, so that active time spans batch boundaries.
    pub fn add(&mut self, b: &BatchStats, prev_input: Option<InputSpan>) {
        self.events += b.events;
        self.raw_bytes += b.raw_bytes;
        self.page_loads += b.page_loads;
        self.clicks += b.clicks;
        self.keypresses += b.keypresses;
        self.console_errors += b.console_errors;
        self.signals.add(&b.signals);
        for (url, ts) in &b.urls {
            if !self.urls.iter().any(|(u, _)| u == url) {
                self.urls.push((url.clone(), *ts));
            }
        }
        if let Some(input) = b.input {
            self.active_ms += match prev_input {
                Some(prev) => prev.then(input).active_ms - prev.active_ms,
                None => input.active_ms,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(json: &str) -> EventHeader {
        EventHeader::parse(json).unwrap()
    }

    fn input(node: i64, len: u64) -> Typing {
        Typing::Input {
            node: Some(node),
            len: Some(len),
        }
    }

    #[test]
    fn keys_are_counted_from_each_fields_value_length() {
        let events = [
            h(r#"{"type":3,"timestamp":1,"data":{"source":5,"text":"*","id":5}}"#),
            // Three more keys within the tracker's 100 ms: one event.
            h(r#"{"type":3,"timestamp":2,"data":{"source":5,"text":"****","id":5}}"#),
            // Backspace.
            h(r#"{"type":3,"timestamp":3,"data":{"source":5,"text":"***","id":5}}"#),
            // A character replaced: the same length, still a key.
            h(r#"{"type":3,"timestamp":4,"data":{"source":5,"text":"***","id":5}}"#),
            // Another field, prefilled: its first event counts 1.
            h(r#"{"type":3,"timestamp":5,"data":{"source":5,"text":"abcdef","id":6}}"#),
            h(r#"{"type":3,"timestamp":6,"data":{"source":5,"text":"*****","id":5}}"#),
            // A new page numbers its nodes anew.
            h(r#"{"type":2,"timestamp":7,"data":{}}"#),
            h(r#"{"type":3,"timestamp":8,"data":{"source":5,"text":"*****","id":5}}"#),
            // No field or no value: 1.
            h(r#"{"type":3,"timestamp":9,"data":{"source":5,"isChecked":true}}"#),
            h(r#"{"type":3,"timestamp":10,"data":{"source":5,"text":7,"id":5}}"#),
        ];
        let s = BatchStats::from_headers(events.iter().map(|e| (e, 10)));
        assert_eq!(s.keypresses, 1 + 3 + 1 + 1 + 1 + 2 + 1 + 1 + 1);
        assert_eq!(s.typing.len(), events.len());
        assert_eq!(s.typing[6], Typing::NewPage);
    }

    #[test]
    fn a_tabs_keys_carry_over_from_batch_to_batch() {
        let mut keys = Keys::default();
        assert_eq!(keys.count(&[input(5, 1), input(5, 2)]), 2);
        // The batch alone would count 1; the tab knows the field had 2.
        let next = BatchStats::from_headers([(
            &h(r#"{"type":3,"timestamp":9,"data":{"source":5,"text":"Alice","id":5}}"#),
            10,
        )]);
        assert_eq!(next.keypresses, 1);
        assert_eq!(keys.count(&next.typing), 3);
    }

    #[test]
    fn a_page_typed_into_in_more_fields_than_remembered_starts_over() {
        let mut keys = Keys::default();
        let first: Vec<Typing> = (0..MAX_TYPED_FIELDS as i64).map(|n| input(n, 1)).collect();
        assert_eq!(keys.count(&first), MAX_TYPED_FIELDS as u64);
        // Every field is remembered...
        assert_eq!(keys.count(&[input(0, 4)]), 3);
        // ...until one more is typed into: the others are forgotten.
        assert_eq!(keys.count(&[input(MAX_TYPED_FIELDS as i64, 1)]), 1);
        assert_eq!(keys.count(&[input(1, 4)]), 1);
        assert_eq!(keys.count(&[input(MAX_TYPED_FIELDS as i64, 3)]), 2);
    }

    #[test]
    fn counts_page_loads_clicks_keys_and_active_time() {
        let events = [
            h(r#"{"type":4,"timestamp":1000,"data":{"href":"https://a/1"}}"#),
            h(r#"{"type":2,"timestamp":1001,"data":{}}"#),
            h(r#"{"type":3,"timestamp":2000,"data":{"source":2,"type":2}}"#),
            h(r#"{"type":3,"timestamp":3000,"data":{"source":5,"text":"x"}}"#),
            // 10 s gap: not active.
            h(r#"{"type":3,"timestamp":13000,"data":{"source":5,"text":"xy"}}"#),
            h(r#"{"type":3,"timestamp":14500,"data":{"source":1,"positions":[]}}"#),
        ];
        let s = BatchStats::from_headers(events.iter().map(|e| (e, 10)));
        assert_eq!(s.events, 6);
        assert_eq!(s.raw_bytes, 66);
        assert_eq!(s.page_loads, 1);
        assert_eq!(s.urls, vec![("https://a/1".to_string(), 1000)]);
        assert_eq!(s.clicks, 1);
        assert_eq!(s.keypresses, 2);
        assert_eq!((s.first_ts, s.last_ts), (1000, 14500));
        assert_eq!(s.input.unwrap().active_ms, 1000 + 1500);
    }

    #[test]
    fn a_re_recorded_page_is_not_a_page_load() {
        // A page, a live viewer's snapshot of it (marked), another page.
        let events = [
            h(r#"{"type":4,"timestamp":1000,"data":{"href":"https://a/1"}}"#),
            h(r#"{"type":2,"timestamp":1001,"data":{}}"#),
            h(r#"{"type":5,"timestamp":1500,"data":{"tag":"reel/resnapshot","payload":{}}}"#),
            h(r#"{"type":4,"timestamp":1500,"data":{"href":"https://a/1?tab=2"}}"#),
            h(r#"{"type":2,"timestamp":1500,"data":{}}"#),
            h(r#"{"type":4,"timestamp":2000,"data":{"href":"https://a/2"}}"#),
        ];
        let s = BatchStats::from_headers(events.iter().map(|e| (e, 10)));
        assert_eq!(s.page_loads, 2);
        assert_eq!(
            s.urls,
            vec![
                ("https://a/1".to_string(), 1000),
                ("https://a/2".to_string(), 2000)
            ]
        );
    }

    #[test]
    fn active_time_spans_batches() {
        let a = BatchStats::from_headers([(
            &h(r#"{"type":3,"timestamp":1000,"data":{"source":2,"type":2}}"#),
            1,
        )]);
        let b = BatchStats::from_headers([(
            &h(r#"{"type":3,"timestamp":3000,"data":{"source":2,"type":2}}"#),
            1,
        )]);
        let mut d = SegmentDelta::default();
        d.add(&a, None);
        d.add(&b, a.input);
        assert_eq!(d.active_ms, 2000);
        assert_eq!(d.clicks, 2);
    }
}
