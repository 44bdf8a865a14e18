//! Realistic rrweb events, written straight to JSON text: a Meta event and
//! a full snapshot of a plausible page for a tab's first batch, then
//! incremental snapshots (mouse moves, clicks, scrolls, inputs, DOM
//! mutations) for the later ones.

use std::fmt::Write;

/// rrweb `EventType`.
mod event_type {
    pub const FULL_SNAPSHOT: u8 = 2;
    pub const INCREMENTAL_SNAPSHOT: u8 = 3;
    pub const META: u8 = 4;
}

/// rrweb `IncrementalSource`.
mod source {
    pub const MUTATION: u8 = 0;
    pub const MOUSE_MOVE: u8 = 1;
    pub const MOUSE_INTERACTION: u8 = 2;
    pub const SCROLL: u8 = 3;
    pub const INPUT: u8 = 5;
}

/// rrweb `MouseInteractions`.
mod mouse {
    pub const MOUSE_UP: u8 = 0;
    pub const MOUSE_DOWN: u8 = 1;
    pub const CLICK: u8 = 2;
}

/// Page the simulated tracker records.
pub const PAGE_URL: &str = "https://demo.example/p";
pub const SCREEN_W: u32 = 1280;
pub const SCREEN_H: u32 = 720;

/// Share of a full snapshot that is one inline stylesheet (`_cssText`);
/// real pages often carry most of their snapshot bytes in CSS.
const CSS_SHARE: f64 = 0.2;

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "pricing",
    "account",
    "dashboard",
    "checkout",
    "settings",
    "invoice",
    "team",
    "project",
    "support",
    "search",
    "results",
    "download",
];

const TAGS: &[&str] = &["div", "span", "li", "p", "a", "button", "td", "label"];

/// A small, fast, seedable generator (splitmix64); good enough to vary
/// content, and keeps runs reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Uniform in `0.0..1.0`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.next_u64() as usize % items.len()]
    }
}

/// Generates one tab's events. Keeps the node ids of its page so that
/// later events refer to nodes that exist.
#[derive(Debug)]
pub struct EventGen {
    rng: Rng,
    /// Next rrweb node id to hand out.
    next_id: u64,
    /// Pointer position, moved by mouse-move events.
    x: i64,
    y: i64,
    /// Scroll position.
    scroll_y: i64,
}

impl EventGen {
    pub fn new(seed: u64) -> EventGen {
        EventGen {
            rng: Rng::new(seed),
            next_id: 1,
            x: 400,
            y: 300,
            scroll_y: 0,
        }
    }

    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    fn id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// An existing node id.
    fn some_node(&mut self) -> u64 {
        self.rng.range(1, self.next_id.saturating_sub(1).max(1))
    }

    fn words(&mut self, out: &mut String, min_chars: usize) {
        let start = out.len();
        while out.len() - start < min_chars {
            if out.len() > start {
                out.push(' ');
            }
            let w = self.rng.pick(WORDS);
            out.push_str(w);
        }
    }

    /// The JSON array of a tab's first batch: a Meta event and a full
    /// snapshot of about `snapshot_bytes` bytes.
    pub fn first_batch(&mut self, now_ms: u64, snapshot_bytes: usize) -> String {
        let mut out = String::with_capacity(snapshot_bytes + 1024);
        out.push('[');
        let _ = write!(
            out,
            r#"{{"type":{},"data":{{"href":"{PAGE_URL}","width":{SCREEN_W},"height":{SCREEN_H}}},"timestamp":{now_ms}}},"#,
            event_type::META
        );
        self.full_snapshot(&mut out, now_ms + 1, snapshot_bytes);
        out.push(']');
        out
    }

    /// Writes a full snapshot event of about `target` bytes.
    pub fn full_snapshot(&mut self, out: &mut String, ts: u64, target: usize) {
        let begin = out.len();
        self.next_id = 1;
        let doc = self.id();
        let doctype = self.id();
        let html = self.id();
        let head = self.id();
        let style = self.id();
        let css = self.id();
        let _ = write!(
            out,
            r#"{{"type":{},"data":{{"node":{{"type":0,"childNodes":[{{"type":1,"name":"html","publicId":"","systemId":"","id":{doctype}}},{{"type":2,"tagName":"html","attributes":{{"lang":"en"}},"childNodes":[{{"type":2,"tagName":"head","attributes":{{}},"childNodes":[{{"type":2,"tagName":"style","attributes":{{"_cssText":""#,
            event_type::FULL_SNAPSHOT
        );
        let css_bytes = (target as f64 * CSS_SHARE) as usize;
        let css_start = out.len();
        let mut rule = 0;
        while out.len() - css_start < css_bytes {
            let _ = write!(
                out,
                ".c{rule} .{} {{ margin: {}px; padding: {}px {}px; color: #{:06x}; }} ",
                self.rng.pick(WORDS),
                self.rng.range(0, 32),
                self.rng.range(0, 16),
                self.rng.range(0, 24),
                self.rng.range(0, 0xFF_FFFF)
            );
            rule += 1;
        }
        let body = self.id();
        let _ = write!(
            out,
            r#""}},"childNodes":[],"id":{css}}}],"id":{style}}},{{"type":2,"tagName":"body","attributes":{{"class":"page"}},"childNodes":["#
        );
        let _ = head;
        // Sections of the page until the target size, less the closing text.
        let closing = 160;
        let mut first = true;
        while out.len() - begin + closing < target {
            if !first {
                out.push(',');
            }
            first = false;
            self.section(out);
        }
        let _ = write!(
            out,
            r#"],"id":{body}}}],"id":{html}}}],"compatMode":"CSS1Compat","id":{doc}}},"initialOffset":{{"left":0,"top":0}}}},"timestamp":{ts}}}"#
        );
    }

    /// One `<section>` card: a heading, a paragraph, a link and an input.
    fn section(&mut self, out: &mut String) {
        let sec = self.id();
        let h = self.id();
        let ht = self.id();
        let p = self.id();
        let pt = self.id();
        let a = self.id();
        let at = self.id();
        let input = self.id();
        let _ = write!(
            out,
            r#"{{"type":2,"tagName":"section","attributes":{{"class":"card c{}"}},"childNodes":[{{"type":2,"tagName":"h2","attributes":{{}},"childNodes":[{{"type":3,"textContent":""#,
            sec % 97
        );
        let n = self.rng.range(10, 40) as usize;
        self.words(out, n);
        let _ = write!(
            out,
            r#"","id":{ht}}}],"id":{h}}},{{"type":2,"tagName":"p","attributes":{{"class":"muted"}},"childNodes":[{{"type":3,"textContent":""#
        );
        let n = self.rng.range(80, 400) as usize;
        self.words(out, n);
        let _ = write!(
            out,
            r#"","id":{pt}}}],"id":{p}}},{{"type":2,"tagName":"a","attributes":{{"href":"/p/{}","class":"btn btn-primary"}},"childNodes":[{{"type":3,"textContent":"Open","id":{at}}}],"id":{a}}},{{"type":2,"tagName":"input","attributes":{{"type":"text","name":"q{input}","value":"***"}},"childNodes":[],"id":{input}}}],"id":{sec}}}"#,
            self.rng.range(1, 9999)
        );
    }

    /// The JSON array of a later batch: incremental snapshots covering the
    /// second before `now_ms`, about `target` bytes in all.
    pub fn incremental_batch(&mut self, now_ms: u64, target: usize) -> String {
        let mut out = String::with_capacity(target + 1024);
        out.push('[');
        let mut ts = now_ms.saturating_sub(1000);
        let mut first = true;
        while out.len() + 1 < target {
            if !first {
                out.push(',');
            }
            first = false;
            ts += self.rng.range(0, 20);
            let ts = ts.min(now_ms);
            let roll = self.rng.unit();
            if roll < 0.45 {
                self.mouse_move(&mut out, ts);
            } else if roll < 0.55 {
                self.scroll(&mut out, ts);
            } else if roll < 0.63 {
                self.click(&mut out, ts);
            } else if roll < 0.75 {
                self.input(&mut out, ts);
            } else {
                self.mutation(&mut out, ts);
            }
        }
        out.push(']');
        out
    }

    fn incremental(out: &mut String, ts: u64) {
        let _ = write!(
            out,
            r#"{{"type":{},"timestamp":{ts},"data":{{"source":"#,
            event_type::INCREMENTAL_SNAPSHOT
        );
    }

    fn mouse_move(&mut self, out: &mut String, ts: u64) {
        Self::incremental(out, ts);
        let _ = write!(out, r#"{},"positions":["#, source::MOUSE_MOVE);
        let n = self.rng.range(3, 10);
        for i in 0..n {
            self.x = (self.x + self.rng.range(0, 40) as i64 - 20).clamp(0, SCREEN_W as i64);
            self.y = (self.y + self.rng.range(0, 40) as i64 - 20).clamp(0, SCREEN_H as i64);
            let id = self.some_node();
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                r#"{{"x":{},"y":{},"id":{id},"timeOffset":-{}}}"#,
                self.x,
                self.y,
                (n - i) * 50
            );
        }
        out.push_str("]}}");
    }

    fn scroll(&mut self, out: &mut String, ts: u64) {
        self.scroll_y = (self.scroll_y + self.rng.range(0, 400) as i64 - 150).max(0);
        Self::incremental(out, ts);
        let _ = write!(
            out,
            r#"{},"id":1,"x":0,"y":{}}}}}"#,
            source::SCROLL,
            self.scroll_y
        );
    }

    fn click(&mut self, out: &mut String, ts: u64) {
        let id = self.some_node();
        for (i, kind) in [mouse::MOUSE_DOWN, mouse::MOUSE_UP, mouse::CLICK]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            Self::incremental(out, ts);
            let _ = write!(
                out,
                r#"{},"type":{kind},"id":{id},"x":{},"y":{},"pointerType":0}}}}"#,
                source::MOUSE_INTERACTION,
                self.x,
                self.y
            );
        }
    }

    fn input(&mut self, out: &mut String, ts: u64) {
        let id = self.some_node();
        let len = self.rng.range(1, 24) as usize;
        Self::incremental(out, ts);
        let _ = write!(
            out,
            r#"{},"text":"{}","isChecked":false,"id":{id}}}}}"#,
            source::INPUT,
            "*".repeat(len)
        );
    }

    /// A DOM mutation: a few added nodes with text, attribute and text
    /// changes, and a removal.
    fn mutation(&mut self, out: &mut String, ts: u64) {
        Self::incremental(out, ts);
        let _ = write!(out, r#"{},"texts":["#, source::MUTATION);
        let texts = self.rng.range(0, 2);
        for i in 0..texts {
            if i > 0 {
                out.push(',');
            }
            let id = self.some_node();
            let _ = write!(out, r#"{{"id":{id},"value":""#);
            let n = self.rng.range(5, 60) as usize;
            self.words(out, n);
            out.push_str("\"}");
        }
        out.push_str(r#"],"attributes":["#);
        let attrs = self.rng.range(0, 3);
        for i in 0..attrs {
            if i > 0 {
                out.push(',');
            }
            let id = self.some_node();
            let _ = write!(
                out,
                r#"{{"id":{id},"attributes":{{"class":"card c{} is-{}","style":"transform: translateY({}px)"}}}}"#,
                self.rng.range(0, 96),
                self.rng.pick(WORDS),
                self.rng.range(0, 300)
            );
        }
        out.push_str(r#"],"removes":["#);
        if self.rng.unit() < 0.3 {
            let parent = self.some_node();
            let id = self.some_node();
            let _ = write!(out, r#"{{"parentId":{parent},"id":{id}}}"#);
        }
        out.push_str(r#"],"adds":["#);
        let adds = self.rng.range(1, 6);
        for i in 0..adds {
            if i > 0 {
                out.push(',');
            }
            let parent = self.some_node();
            let el = self.id();
            let text = self.id();
            let tag = self.rng.pick(TAGS);
            let _ = write!(
                out,
                r#"{{"parentId":{parent},"nextId":null,"node":{{"type":2,"tagName":"{tag}","attributes":{{"class":"row r{}"}},"childNodes":[],"id":{el}}}}},{{"parentId":{el},"nextId":null,"node":{{"type":3,"textContent":""#,
                el % 50
            );
            let n = self.rng.range(10, 200) as usize;
            self.words(out, n);
            let _ = write!(out, r#"","id":{text}}}}}"#);
        }
        out.push_str("]}}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reel_protocol::messages::ClientMessage;
    use reel_protocol::{decode_message, EventHeader, Limits};

    fn batch_message(seq: u64, events: &str) -> String {
        format!(r#"{{"t":"events","seq":{seq},"events":{events}}}"#)
    }

    #[test]
    fn first_batch_is_meta_then_full_snapshot_of_about_the_size_asked() {
        let mut gen = EventGen::new(7);
        for target in [50_000, 100_000, 200_000] {
            let events = gen.first_batch(1_700_000_000_000, target);
            let len = events.len();
            assert!(
                len >= target && len < target + 2_000,
                "asked {target}, got {len}"
            );
            let msg = batch_message(0, &events);
            let parsed = decode_message(msg.as_bytes(), &Limits::default()).expect("decodes");
            let ClientMessage::Events(batch) = parsed else {
                panic!("not events")
            };
            assert_eq!(batch.events.len(), 2);
            let meta = EventHeader::parse(batch.events[0]).unwrap();
            assert_eq!(meta.href(), Some(PAGE_URL));
            let snap: serde_json::Value = serde_json::from_str(batch.events[1]).unwrap();
            assert_eq!(snap["type"], 2);
            assert_eq!(snap["data"]["node"]["type"], 0);
        }
    }

    #[test]
    fn incremental_batches_are_valid_and_near_the_target_size() {
        let mut gen = EventGen::new(3);
        gen.first_batch(1_700_000_000_000, 50_000);
        for target in [2_000, 5_000, 11_000, 20_000] {
            let events = gen.incremental_batch(1_700_000_001_000, target);
            let len = events.len();
            assert!(
                len >= target && len < target + 4_000,
                "asked {target}, got {len}"
            );
            let msg = batch_message(1, &events);
            let parsed = decode_message(msg.as_bytes(), &Limits::default()).expect("decodes");
            let ClientMessage::Events(batch) = parsed else {
                panic!("not events")
            };
            assert!(!batch.events.is_empty());
            assert!((batch.events.len() as u64) < Limits::default().batch_events);
            for e in &batch.events {
                let v: serde_json::Value = serde_json::from_str(e).unwrap();
                assert_eq!(v["type"], 3);
                assert!(v["data"]["source"].is_u64());
            }
        }
    }

    #[test]
    fn same_seed_same_events() {
        let a = EventGen::new(9).first_batch(1, 20_000);
        let b = EventGen::new(9).first_batch(1, 20_000);
        assert_eq!(a, b);
    }
}
