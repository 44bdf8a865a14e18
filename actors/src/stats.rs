//! Session counters, read from each event's header as batches stream by.

use reel_protocol::event::{EventHeader, EventKind};
use serde::{Deserialize, Serialize};

/// Gaps between user input events shorter than this count as active time.
pub const ACTIVE_GAP_MS: i64 = 5_000;

/// What one batch adds to its session's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchStats {
    pub events: u64,
    pub raw_bytes: u64,
    pub page_loads: u64,
    pub clicks: u64,
    pub keypresses: u64,
    pub console_errors: u64,
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
                EventKind::Keypress => s.keypresses += 1,
                EventKind::ConsoleError => s.console_errors += 1,
                EventKind::OtherInput | EventKind::Other => {}
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
