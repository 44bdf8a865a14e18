//! Frustration and failure signals (PROTOCOL.md §7), computed as a tab's
//! events stream by: failed requests, rage clicks, dead clicks, `reel.track`
//! names and error texts. Fed from event headers ([`events`]) and, for the
//! texts of console errors and `error` events only, from those small lines
//! of the batch; snapshots are never parsed.
//!
//! Time is the tab's event clock (the newest event timestamp seen), never
//! the wall clock: a pending click is dead once a later event of its tab
//! passes its deadline with no mutation, navigation or request before it.
//! Pending clicks survive a segment cut (the tab's next page, on a new
//! connection, may be the navigation the click caused) and are resolved as
//! dead when the session's buffers are committed for good ([`TabSignals::finish`]).

use std::collections::{HashSet, VecDeque};

use reel_protocol::event::{event_type, mouse, source, EventHeader, EventKind};
use reel_protocol::signals::{
    LiveSignals, DEAD_CLICK_MS, ERROR_TEXT_MAX_BYTES, FAILED_STATUS, MAX_ERROR_TEXTS,
    MAX_LIVE_TRACK_NAMES, MAX_TRACK_NAMES, RAGE_MIN_CLICKS, RAGE_RADIUS_PX, RAGE_WINDOW_MS,
    TRACK_NAME_MAX_BYTES,
};

use crate::stats::{BatchStats, SignalDelta};

/// The `data.plugin` of network events.
pub const NETWORK_PLUGIN: &str = "reel/network@1";

/// One event that matters to the signals, read from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEvent {
    /// The event's timestamp (ms).
    pub ts: i64,
    pub kind: SignalKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalKind {
    /// A click, where it happened when known (CSS px).
    Click { at: Option<(i64, i64)> },
    /// A DOM mutation or a navigation (Meta): the page responded.
    Response,
    /// A `reel/network@1` request: the page responded; `failed` when its
    /// status is at least [`FAILED_STATUS`] or it has an error that is not
    /// the page's own cancellation
    /// ([`reel_protocol::signals::ABORTED_ERRORS`]).
    Request { failed: bool },
    /// A `track` custom event with a name of 1 to [`TRACK_NAME_MAX_BYTES`].
    Track(String),
    /// A console error or `error` event: line `line` of the batch holds it.
    Error { line: usize },
}

/// The signal events of a batch, from its events' headers in order.
pub fn events<'a>(headers: impl IntoIterator<Item = &'a EventHeader>) -> Vec<SignalEvent> {
    let mut out = Vec::new();
    for (line, h) in headers.into_iter().enumerate() {
        let kind = match (h.kind, h.data.as_ref()) {
            (event_type::META, _) => Some(SignalKind::Response),
            (_, None) => None,
            (event_type::INCREMENTAL_SNAPSHOT, Some(d)) => match (d.source, d.kind) {
                (Some(source::MUTATION), _) => Some(SignalKind::Response),
                (Some(source::MOUSE_INTERACTION), Some(mouse::CLICK)) => {
                    Some(SignalKind::Click { at: d.x.zip(d.y) })
                }
                _ => None,
            },
            (event_type::PLUGIN, Some(d)) if d.plugin.as_deref() == Some(NETWORK_PLUGIN) => {
                Some(SignalKind::Request {
                    failed: (d.error && !d.aborted) || d.status.is_some_and(|s| s >= FAILED_STATUS),
                })
            }
            (event_type::CUSTOM, Some(d)) if d.tag.as_deref() == Some("track") => d
                .name
                .clone()
                .filter(|n| !n.is_empty() && n.len() <= TRACK_NAME_MAX_BYTES)
                .map(SignalKind::Track),
            _ => None,
        };
        let kind = kind.or_else(|| {
            (h.kind() == EventKind::ConsoleError).then_some(SignalKind::Error { line })
        });
        if let Some(kind) = kind {
            out.push(SignalEvent {
                ts: h.timestamp,
                kind,
            });
        }
    }
    out
}

/// Clicks near each other in space and time, the current candidate for a
/// rage click.
#[derive(Debug, Clone)]
struct RageRun {
    /// Where the run's first click was.
    at: (i64, i64),
    /// The run's latest clicks (at most [`RAGE_MIN_CLICKS`]).
    recent: VecDeque<i64>,
    /// The run was counted already (a run counts once).
    counted: bool,
}

/// One tab's detector: the rage run and the clicks waiting to be resolved.
/// Small (a few timestamps): the session keeps a copy from before each
/// buffered batch, so that a rewind restores it.
#[derive(Debug, Clone, Default)]
pub struct TabSignals {
    /// The tab's event clock: the newest timestamp seen.
    clock: Option<i64>,
    run: Option<RageRun>,
    /// Pending clicks: their times (never decreasing, clamped to the clock)
    /// and how many clicks share each time.
    pending: VecDeque<(i64, u64)>,
}

impl TabSignals {
    /// Advances the clock to `ts` (it never goes back) and resolves the
    /// clicks whose deadline it passed as dead.
    fn tick(&mut self, ts: i64, out: &mut SignalDelta) -> i64 {
        let now = self.clock.map_or(ts, |c| c.max(ts));
        self.clock = Some(now);
        while let Some(&(at, n)) = self.pending.front() {
            if now - at <= DEAD_CLICK_MS {
                break;
            }
            out.dead_clicks += n;
            self.pending.pop_front();
        }
        now
    }

    /// Feeds one event: counts into `out`. Track names and error texts are
    /// left to [`SessionSignals`].
    pub fn observe(&mut self, ev: &SignalEvent, out: &mut SignalDelta) {
        let now = self.tick(ev.ts, out);
        match &ev.kind {
            SignalKind::Click { at } => {
                self.rage(now, *at, out);
                match self.pending.back_mut() {
                    Some((t, n)) if *t == now => *n += 1,
                    _ => self.pending.push_back((now, 1)),
                }
            }
            SignalKind::Response => self.pending.clear(),
            SignalKind::Request { failed } => {
                self.pending.clear();
                if *failed {
                    out.failed_requests += 1;
                }
            }
            SignalKind::Track(_) | SignalKind::Error { .. } => {}
        }
    }

    /// Extends or restarts the rage run with a click at `now`.
    fn rage(&mut self, now: i64, at: Option<(i64, i64)>, out: &mut SignalDelta) {
        let Some((x, y)) = at else {
            self.run = None;
            return;
        };
        let continues = self.run.as_ref().is_some_and(|r| {
            let (dx, dy) = (x - r.at.0, y - r.at.1);
            dx.saturating_mul(dx).saturating_add(dy.saturating_mul(dy))
                <= RAGE_RADIUS_PX * RAGE_RADIUS_PX
                && r.recent.back().is_some_and(|&t| now - t <= RAGE_WINDOW_MS)
        });
        if !continues {
            self.run = Some(RageRun {
                at: (x, y),
                recent: VecDeque::with_capacity(RAGE_MIN_CLICKS + 1),
                counted: false,
            });
        }
        let run = self.run.as_mut().expect("set above");
        run.recent.push_back(now);
        while run.recent.len() > RAGE_MIN_CLICKS
            || run
                .recent
                .front()
                .is_some_and(|&t| now - t > RAGE_WINDOW_MS)
        {
            run.recent.pop_front();
        }
        if run.recent.len() >= RAGE_MIN_CLICKS && !run.counted {
            run.counted = true;
            out.rage_clicks += 1;
        }
    }

    /// The tab's events reached `ts` (a batch's newest event).
    pub fn advance(&mut self, ts: i64, out: &mut SignalDelta) {
        self.tick(ts, out);
    }

    /// Nothing more comes (the session's buffers are committed for good):
    /// the pending clicks are dead.
    pub fn finish(&mut self) -> u64 {
        self.pending.drain(..).map(|(_, n)| n).sum()
    }
}

/// The session's signals across its tabs: the live counts, and the track
/// names and error texts reported so far (each bounded per session).
#[derive(Debug, Default)]
pub struct SessionSignals {
    pub live: LiveSignals,
    tracks: HashSet<String>,
    errors: HashSet<String>,
}

impl SessionSignals {
    /// Feeds one batch of a tab: `events` from [`events`], `last_ts` its
    /// newest timestamp, `console_errors` as counted by the batch's stats
    /// (the one source of that count), `ndjson` its lines (after
    /// redaction: error texts are read from them). Returns what the batch
    /// adds, for its stats.
    pub fn batch(
        &mut self,
        tab: &mut TabSignals,
        events: &[SignalEvent],
        last_ts: i64,
        console_errors: u64,
        ndjson: &[u8],
    ) -> SignalDelta {
        let mut out = SignalDelta::default();
        let mut lines = Lines::new(ndjson);
        for ev in events {
            tab.observe(ev, &mut out);
            match &ev.kind {
                SignalKind::Track(name)
                    if self.tracks.len() < MAX_TRACK_NAMES && self.tracks.insert(name.clone()) =>
                {
                    if self.live.track_events.len() < MAX_LIVE_TRACK_NAMES {
                        self.live.track_events.push(name.clone());
                    }
                    out.track_events.push(name.clone());
                }
                SignalKind::Error { line } if self.errors.len() < MAX_ERROR_TEXTS => {
                    let Some(text) = lines.nth(*line).and_then(error_text) else {
                        continue;
                    };
                    if self.errors.insert(text.clone()) {
                        out.error_texts.push(text);
                    }
                }
                _ => {}
            }
        }
        tab.advance(last_ts, &mut out);
        self.live.console_errors += console_errors as i64;
        self.count(&out);
        out
    }

    /// Takes back what batches that were never acked added (their spool
    /// appends failed, and the tracker sends them again; see
    /// `Handler<NotDurable>`): their counts leave the live ones and their
    /// first-seen track names and error texts may be reported again, so
    /// that the resent batches count once. The tab's detector is restored
    /// by its caller, from the copy taken before the first of them.
    pub fn forget<'a>(&mut self, dropped: impl IntoIterator<Item = &'a BatchStats>) {
        for s in dropped {
            let d = &s.signals;
            self.live.console_errors -= s.console_errors as i64;
            self.live.failed_requests -= d.failed_requests as i64;
            self.live.rage_clicks -= d.rage_clicks as i64;
            self.live.dead_clicks -= d.dead_clicks as i64;
            for name in &d.track_events {
                self.tracks.remove(name);
            }
            self.live
                .track_events
                .retain(|name| !d.track_events.contains(name));
            for text in &d.error_texts {
                self.errors.remove(text);
            }
        }
    }

    /// Adds resolved dead clicks (from [`TabSignals::finish`]) to the live counts.
    pub fn dead(&mut self, n: u64) {
        self.live.dead_clicks += n as i64;
    }

    fn count(&mut self, d: &SignalDelta) {
        self.live.failed_requests += d.failed_requests as i64;
        self.live.rage_clicks += d.rage_clicks as i64;
        self.live.dead_clicks += d.dead_clicks as i64;
    }
}

/// Finds lines of a batch by index, going forward only.
struct Lines<'a> {
    rest: &'a [u8],
    /// Index of the first line of `rest`.
    at: usize,
}

impl<'a> Lines<'a> {
    fn new(ndjson: &'a [u8]) -> Lines<'a> {
        Lines {
            rest: ndjson,
            at: 0,
        }
    }

    /// Line `n` (without its newline); `None` when passed or absent.
    fn nth(&mut self, n: usize) -> Option<&'a [u8]> {
        while self.at < n {
            let end = self.rest.iter().position(|b| *b == b'\n')?;
            self.rest = &self.rest[end + 1..];
            self.at += 1;
        }
        if self.at != n || self.rest.is_empty() {
            return None;
        }
        let end = self
            .rest
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(self.rest.len());
        Some(&self.rest[..end])
    }
}

/// The text of a console error (its arguments joined by spaces, string
/// arguments unquoted) or an `error` event (its message), trimmed and cut
/// to [`ERROR_TEXT_MAX_BYTES`] at a character boundary; `None` when empty.
pub fn error_text(line: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let payload = v.get("data")?.get("payload")?;
    let text = match payload {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(p) => match (p.get("message"), p.get("payload")) {
            (Some(serde_json::Value::String(m)), _) => m.clone(),
            (_, Some(serde_json::Value::Array(args))) => args
                .iter()
                .map(|a| match a {
                    // The console plugin stringifies each argument.
                    serde_json::Value::String(s) => match serde_json::from_str(s) {
                        Ok(serde_json::Value::String(inner)) => inner,
                        _ => s.clone(),
                    },
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" "),
            _ => return None,
        },
        _ => return None,
    };
    let text = cut(text.trim(), ERROR_TEXT_MAX_BYTES);
    (!text.is_empty()).then(|| text.to_owned())
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(ts: i64, x: i64, y: i64) -> String {
        format!(
            r#"{{"type":3,"timestamp":{ts},"data":{{"source":2,"type":2,"id":1,"x":{x},"y":{y}}}}}"#
        )
    }

    fn mutation(ts: i64) -> String {
        format!(
            r#"{{"type":3,"timestamp":{ts},"data":{{"source":0,"adds":[],"removes":[],"texts":[],"attributes":[]}}}}"#
        )
    }

    fn mouse_move(ts: i64) -> String {
        format!(r#"{{"type":3,"timestamp":{ts},"data":{{"source":1,"positions":[]}}}}"#)
    }

    /// Feeds `lines` as one batch of one tab.
    fn feed(s: &mut SessionSignals, tab: &mut TabSignals, lines: &[String]) -> SignalDelta {
        let headers: Vec<EventHeader> = lines
            .iter()
            .map(|l| EventHeader::parse(l).unwrap())
            .collect();
        let ndjson: Vec<u8> = lines
            .iter()
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        let last = headers.iter().map(|h| h.timestamp).max().unwrap_or(0);
        let errors = headers
            .iter()
            .filter(|h| h.kind() == EventKind::ConsoleError)
            .count() as u64;
        s.batch(tab, &events(&headers), last, errors, &ndjson)
    }

    fn one(lines: &[String]) -> SignalDelta {
        feed(
            &mut SessionSignals::default(),
            &mut TabSignals::default(),
            lines,
        )
    }

    #[test]
    fn a_rage_run_counts_once() {
        // Each click answered by a mutation: only rage counts.
        let run = |n: i64| {
            (0..n)
                .flat_map(|i| {
                    [
                        click(1000 + i * 200, 100 + i, 100),
                        mutation(1001 + i * 200),
                    ]
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(one(&run(2)).rage_clicks, 0);
        assert_eq!(one(&run(3)).rage_clicks, 1);
        assert_eq!(one(&run(5)).rage_clicks, 1);
        // A pause, then another burst: a second run.
        let mut two = run(3);
        two.extend([
            click(5000, 100, 100),
            click(5100, 100, 100),
            click(5200, 100, 100),
        ]);
        two.push(mutation(5201));
        assert_eq!(one(&two).rage_clicks, 2);
    }

    #[test]
    fn clicks_apart_in_space_or_time_are_no_rage() {
        // 31 px from the first click: a new run each time.
        let far = [
            click(1000, 0, 0),
            click(1100, 31, 0),
            click(1200, 62, 0),
            mutation(1201),
        ];
        assert_eq!(one(&far).rage_clicks, 0);
        // 30 px (on the radius) still counts.
        let near = [
            click(1000, 0, 0),
            click(1100, 30, 0),
            click(1200, 0, 30),
            mutation(1201),
        ];
        assert_eq!(one(&near).rage_clicks, 1);
        // Three clicks spread over more than 1 s.
        let slow = [
            click(1000, 0, 0),
            mutation(1001),
            click(1600, 0, 0),
            mutation(1601),
            click(2100, 0, 0),
            mutation(2101),
        ];
        assert_eq!(one(&slow).rage_clicks, 0);
        // Double clicks and clicks without coordinates are no rage.
        let dbl = r#"{"type":3,"timestamp":1000,"data":{"source":2,"type":4,"x":1,"y":1}}"#;
        let bare = r#"{"type":3,"timestamp":1000,"data":{"source":2,"type":2}}"#;
        let lines: Vec<String> = [dbl, dbl, dbl, bare, bare, bare]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(one(&lines).rage_clicks, 0);
    }

    #[test]
    fn a_click_without_response_within_a_second_is_dead() {
        let alive = [click(1000, 5, 5), mutation(1900), mouse_move(3000)];
        assert_eq!(one(&alive).dead_clicks, 0);
        let on_the_second = [click(1000, 5, 5), mutation(2000), mouse_move(3000)];
        assert_eq!(one(&on_the_second).dead_clicks, 0);
        let late = [click(1000, 5, 5), mutation(2100)];
        assert_eq!(one(&late).dead_clicks, 1);
        // A navigation or a request answers a click too.
        let meta = r#"{"type":4,"timestamp":1500,"data":{"href":"https://a/"}}"#;
        let request = r#"{"type":6,"timestamp":1500,"data":{"plugin":"reel/network@1","payload":{"status":200,"error":null}}}"#;
        for answer in [meta, request] {
            let lines = [click(1000, 5, 5), answer.to_string(), mouse_move(4000)];
            assert_eq!(one(&lines).dead_clicks, 0, "{answer}");
        }
    }

    #[test]
    fn pending_clicks_resolve_on_later_batches_and_at_the_end() {
        let mut s = SessionSignals::default();
        let mut tab = TabSignals::default();
        // Nothing after the click yet: pending.
        assert_eq!(feed(&mut s, &mut tab, &[click(1000, 5, 5)]).dead_clicks, 0);
        // A later batch passes its deadline.
        assert_eq!(feed(&mut s, &mut tab, &[mouse_move(2500)]).dead_clicks, 1);
        assert_eq!(s.live.dead_clicks, 1);
        // A click answered in the next batch (the tab's next page) is alive.
        feed(&mut s, &mut tab, &[click(3000, 5, 5)]);
        let meta = r#"{"type":4,"timestamp":3400,"data":{"href":"https://a/2"}}"#.to_string();
        assert_eq!(feed(&mut s, &mut tab, &[meta]).dead_clicks, 0);
        // A click still pending when the tab is done is dead.
        feed(&mut s, &mut tab, &[click(5000, 5, 5), click(5000, 50, 50)]);
        assert_eq!(tab.finish(), 2);
        assert_eq!(tab.finish(), 0);
    }

    #[test]
    fn failed_requests_are_5xx_or_errors() {
        let net = |status: &str, error: &str| {
            format!(
                r#"{{"type":6,"timestamp":1,"data":{{"plugin":"reel/network@1","payload":{{"method":"GET","url":"https://a/x","status":{status},"ok":false,"error":{error}}}}}}}"#
            )
        };
        let lines = [
            net("500", "null"),
            net("503", "null"),
            net("0", r#""Failed to fetch""#),
            net("404", "null"),
            net("200", "null"),
            net("null", "null"),
        ];
        assert_eq!(one(&lines).failed_requests, 3);
    }

    #[test]
    fn client_errors_and_requests_the_page_aborted_are_not_failed() {
        let net = |status: &str, error: &str| {
            format!(
                r#"{{"type":6,"timestamp":1,"data":{{"plugin":"reel/network@1","payload":{{"method":"GET","url":"https://a/x","status":{status},"ok":false,"error":{error}}}}}}}"#
            )
        };
        // 4xx, the edge below 500, and cancellations (fetch's AbortError
        // as the tracker records it, an XHR's abort event).
        for (status, error) in [
            ("400", "null"),
            ("404", "null"),
            ("429", "null"),
            ("499", "null"),
            ("0", r#""aborted""#),
            ("0", r#""abort""#),
            ("0", r#""\u0061bort""#),
        ] {
            let d = one(&[net(status, error)]);
            assert_eq!(d.failed_requests, 0, "{status} {error}");
        }
        assert_eq!(reel_protocol::signals::ABORTED_ERRORS, ["aborted", "abort"]);
        // Network errors that are not the page's doing still count: an
        // XHR's error and timeout, a refused connection, any other value.
        for (status, error) in [
            ("0", r#""error""#),
            ("0", r#""timeout""#),
            ("0", r#""Failed to fetch""#),
            ("0", r#""Aborted""#),
            ("0", "true"),
            ("0", r#"{"name":"abort"}"#),
            ("500", r#""aborted""#),
        ] {
            let d = one(&[net(status, error)]);
            assert_eq!(d.failed_requests, 1, "{status} {error}");
        }
    }

    #[test]
    fn batches_taken_back_and_sent_again_count_once() {
        let track = |ts: i64, name: &str| {
            format!(
                r#"{{"type":5,"timestamp":{ts},"data":{{"tag":"track","payload":{{"name":"{name}","props":{{}}}}}}}}"#
            )
        };
        let failed = |ts: i64| {
            format!(
                r#"{{"type":6,"timestamp":{ts},"data":{{"plugin":"reel/network@1","payload":{{"status":500,"error":null}}}}}}"#
            )
        };
        let mut s = SessionSignals::default();
        let mut tab = TabSignals::default();
        // An acked batch: a click left pending, a track name.
        let acked = feed(&mut s, &mut tab, &[track(1000, "cart"), click(1500, 0, 0)]);
        assert_eq!(acked.track_events, vec!["cart"]);
        // A batch whose spool append fails: the pending click dies, a rage
        // run, a failed request and a new name.
        let lost = vec![
            click(2600, 200, 200),
            click(2700, 200, 200),
            click(2800, 200, 200),
            mutation(2801),
            failed(2900),
            track(2950, "checkout"),
        ];
        let before = tab.clone();
        let first = feed(&mut s, &mut tab, &lost);
        assert_eq!(
            (first.dead_clicks, first.rage_clicks, first.failed_requests),
            (1, 1, 1)
        );
        assert_eq!(first.track_events, vec!["checkout"]);
        let counted = s.live.clone();
        assert_eq!(counted.track_events, vec!["cart", "checkout"]);
        // Taken back (the detector restored as it was), then sent again:
        // the same delta, and the live counts hold it once.
        let stats = BatchStats {
            signals: first.clone(),
            ..BatchStats::default()
        };
        s.forget([&stats]);
        tab = before;
        let again = feed(&mut s, &mut tab, &lost);
        assert_eq!(again, first);
        assert_eq!(s.live, counted);
        // Without the take-back, the name would be missing from the resent
        // batch and the counts doubled: what the test above guards.
        let doubled = feed(&mut s, &mut tab.clone(), &lost);
        assert!(doubled.track_events.is_empty());
    }

    #[test]
    fn track_names_are_distinct_and_bounded() {
        let track = |name: &str| {
            format!(
                r#"{{"type":5,"timestamp":1,"data":{{"tag":"track","payload":{{"name":"{name}","props":{{}}}}}}}}"#
            )
        };
        let mut s = SessionSignals::default();
        let mut tab = TabSignals::default();
        let first = feed(&mut s, &mut tab, &[track("a"), track("b"), track("a")]);
        assert_eq!(first.track_events, vec!["a", "b"]);
        // Seen in an earlier batch (of any tab): not again.
        let again = feed(
            &mut s,
            &mut TabSignals::default(),
            &[track("b"), track("c")],
        );
        assert_eq!(again.track_events, vec!["c"]);
        // The live entry carries them as they come, first seen first.
        assert_eq!(s.live.track_events, vec!["a", "b", "c"]);
        // Names outside 1..=128 bytes are ignored.
        let long = "x".repeat(TRACK_NAME_MAX_BYTES + 1);
        let odd = feed(&mut s, &mut tab, &[track(""), track(&long)]);
        assert!(odd.track_events.is_empty());
        // Past the bound, new names are dropped.
        let many: Vec<String> = (0..MAX_TRACK_NAMES + 10)
            .map(|i| track(&format!("n{i}")))
            .collect();
        let d = feed(&mut s, &mut tab, &many);
        assert_eq!(d.track_events.len(), MAX_TRACK_NAMES - 3);
        assert!(feed(&mut s, &mut tab, &[track("z")])
            .track_events
            .is_empty());
        // The live entry holds the first MAX_LIVE_TRACK_NAMES of them.
        assert_eq!(s.live.track_events.len(), MAX_LIVE_TRACK_NAMES);
        assert_eq!(s.live.track_events[..3], ["a", "b", "c"]);
        assert_eq!(
            s.live.track_events.last().map(String::as_str),
            Some(format!("n{}", MAX_LIVE_TRACK_NAMES - 4).as_str())
        );
    }

    #[test]
    fn error_texts_are_read_distinct_bounded_and_cut() {
        let console = |args: &str| {
            format!(
                r#"{{"type":6,"timestamp":1,"data":{{"plugin":"rrweb/console@1","payload":{{"level":"error","trace":[],"payload":{args}}}}}}}"#
            )
        };
        let error = |msg: &str| {
            format!(
                r#"{{"type":5,"timestamp":1,"data":{{"tag":"error","payload":{{"message":"{msg}","stack":""}}}}}}"#
            )
        };
        let mut s = SessionSignals::default();
        let mut tab = TabSignals::default();
        let d = feed(
            &mut s,
            &mut tab,
            &[
                mutation(1),
                console(r#"["\"checkout failed\"","42"]"#),
                error("TypeError: x is undefined"),
                error("TypeError: x is undefined"),
                r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":"boom"}}"#.into(),
            ],
        );
        assert_eq!(
            d.error_texts,
            vec!["checkout failed 42", "TypeError: x is undefined", "boom"]
        );
        assert_eq!(s.live.console_errors, 4);
        // Long texts are cut at a character boundary.
        let long = "é".repeat(ERROR_TEXT_MAX_BYTES);
        let d = feed(&mut s, &mut tab, &[error(&long)]);
        assert_eq!(d.error_texts[0].len(), ERROR_TEXT_MAX_BYTES);
        assert!(d.error_texts[0].chars().all(|c| c == 'é'));
        // Past the bound, new texts are dropped (the errors still count).
        let many: Vec<String> = (0..MAX_ERROR_TEXTS + 5)
            .map(|i| error(&format!("e{i}")))
            .collect();
        let d = feed(&mut s, &mut tab, &many);
        assert_eq!(d.error_texts.len(), MAX_ERROR_TEXTS - 4);
        assert_eq!(s.live.console_errors, 4 + 1 + MAX_ERROR_TEXTS as i64 + 5);
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
    }
}
