//! One pass over an `events` message: each event's bounds and its header
//! fields ([`EventHeader`]) are read in the same scan of the bytes, instead
//! of a scan that borrows each event as a raw value and then a second
//! parse of each event for its header.
//!
//! The scan reads exactly what serde reads, or gives up: [`events_message`]
//! returns `None` for anything it does not read the way serde_json and the
//! derived deserializers would (a syntax error, a message that is not a
//! plain `events`, a key written with escapes), and the caller then takes
//! the serde path, which gives the same result or the error. An event whose
//! header the scan does not read (not an object, a duplicate or escaped
//! header key, a header value of the wrong type) gets `None` for its
//! header, and is parsed by [`EventHeader::parse`], which gives the header
//! or the error serde gives. The scan is at least as strict as serde_json:
//! whatever it accepts, serde accepts too, with the same result.
//!
//! Values of the header fields are small scalars, read by the same
//! deserializers the serde path uses, from their bytes: only payload trees
//! (full snapshots, mutations) are skipped, and they are skipped once.

use serde::de::DeserializeOwned;

use crate::event::{px, Chars, DataHeader, EventHeader, Lenient, NetError, PayloadOf};

/// Nesting deeper than this is left to serde (which skips any depth).
const MAX_DEPTH: u32 = 256;

/// What one scan of an `events` message found.
#[derive(Debug)]
pub(crate) struct Scanned<'a> {
    pub seq: u64,
    /// Each event's JSON exactly as received.
    pub events: Vec<&'a str>,
    /// Each event's header, or `None`: left to [`EventHeader::parse`].
    pub headers: Vec<Option<EventHeader>>,
    /// Whether an event holds a raw line break (whitespace between its
    /// tokens).
    pub line_breaks: bool,
}

/// The fields of a client message other than those of `events`: a message
/// that has one is left to serde (which checks its type).
const OTHER_FIELDS: [&[u8]; 11] = [
    b"v", b"visitor", b"session", b"tab", b"acked", b"page", b"screen", b"lang", b"tz", b"user_id",
    b"traits",
];

/// Scans `json` when it is an `events` message the scan reads exactly as
/// serde would (see the module's doc); `None` otherwise.
pub(crate) fn events_message(json: &[u8]) -> Option<Scanned<'_>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut sc = Scanner::new(text);
    let mut t_ok = None;
    let mut seq = None;
    let mut events = None;
    sc.ws();
    sc.object(|sc, key, escaped| {
        if escaped {
            return None;
        }
        match key {
            b"t" => {
                let (span, escaped) = sc.string_span()?;
                if t_ok.is_some() || escaped {
                    return None;
                }
                t_ok = Some(span == "events");
            }
            b"seq" => {
                let span = sc.value_span()?;
                if seq.is_some() {
                    return None;
                }
                seq = Some(serde_json::from_str::<u64>(span).ok()?);
            }
            b"events" => {
                if events.is_some() {
                    return None;
                }
                events = Some(sc.events()?);
            }
            k if OTHER_FIELDS.contains(&k) => return None,
            _ => sc.value()?,
        }
        Some(())
    })?;
    sc.ws();
    if sc.i != sc.b.len() || t_ok != Some(true) {
        return None;
    }
    let (events, headers, line_breaks) = events?;
    Some(Scanned {
        seq: seq?,
        events,
        headers,
        line_breaks,
    })
}

/// The events array: each event's text, header and whether any holds a
/// raw line break.
type Events<'a> = (Vec<&'a str>, Vec<Option<EventHeader>>, bool);

/// The bytes of each header field of an event, as found.
#[derive(Default)]
struct Fields<'a> {
    kind: Option<&'a str>,
    timestamp: Option<&'a str>,
    data: Option<Data<'a>>,
    /// A header key came twice (serde refuses it), or was escaped.
    odd: bool,
}

enum Data<'a> {
    Object(DataFields<'a>),
    /// Anything but an object, read by serde.
    Other(&'a str),
}

/// `data`'s fields; the last of a repeated key wins, as in
/// [`DataHeader`]'s deserializer.
#[derive(Default)]
struct DataFields<'a> {
    source: Option<&'a str>,
    kind: Option<&'a str>,
    href: Option<&'a str>,
    plugin: Option<&'a str>,
    tag: Option<&'a str>,
    x: Option<&'a str>,
    y: Option<&'a str>,
    id: Option<&'a str>,
    text: Option<&'a str>,
    payload: Option<Payload<'a>>,
}

enum Payload<'a> {
    Object {
        level: Option<&'a str>,
        status: Option<&'a str>,
        name: Option<&'a str>,
        error: Option<&'a str>,
    },
    /// Anything but an object, read by serde.
    Other(&'a str),
}

/// `span` read as `T`; `None` when serde refuses it.
fn read<T: DeserializeOwned>(span: &str) -> Option<T> {
    serde_json::from_str(span).ok()
}

/// A lenient field: absent, or `span` as `T` when it is one.
fn lenient<T: DeserializeOwned>(span: Option<&str>) -> Option<Option<T>> {
    match span {
        None => Some(None),
        Some(s) => read::<Lenient<T>>(s).map(|l| l.0),
    }
}

impl Fields<'_> {
    /// The header, as serde reads it; `None` when serde would refuse it
    /// (or the scan did not read it).
    fn header(self) -> Option<EventHeader> {
        if self.odd {
            return None;
        }
        let kind = read::<u32>(self.kind?)?;
        let timestamp = read::<i64>(self.timestamp?)?;
        let data = match self.data {
            None => None,
            Some(Data::Other(span)) => read::<Option<DataHeader>>(span)?,
            Some(Data::Object(d)) => Some(d.header()?),
        };
        Some(EventHeader {
            kind,
            timestamp,
            data,
        })
    }
}

impl DataFields<'_> {
    fn header(self) -> Option<DataHeader> {
        let mut h = DataHeader {
            source: lenient(self.source)?,
            kind: lenient(self.kind)?,
            href: lenient(self.href)?,
            plugin: lenient(self.plugin)?,
            tag: lenient(self.tag)?,
            x: px(lenient(self.x)?),
            y: px(lenient(self.y)?),
            id: lenient(self.id)?,
            text_len: match self.text {
                None => None,
                Some(span) => read::<Chars>(span)?.0,
            },
            ..DataHeader::default()
        };
        let p = match self.payload {
            None => PayloadOf::default(),
            Some(Payload::Other(span)) => read::<PayloadOf>(span)?,
            Some(Payload::Object {
                level,
                status,
                name,
                error,
            }) => PayloadOf {
                level: lenient(level)?,
                status: lenient(status)?,
                name: lenient(name)?,
                error: match error {
                    None => NetError::default(),
                    Some(span) => read::<NetError>(span)?,
                },
            },
        };
        h.level = p.level;
        h.status = p.status;
        h.error = p.error.present;
        h.aborted = p.error.aborted;
        h.name = p.name;
        Some(h)
    }
}

/// A strict JSON scanner over a UTF-8 text: it validates what it skips
/// (as serde_json's own skipping does) and fails on anything else.
struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
    /// A raw line break was seen since this was last cleared.
    breaks: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `x` that is zero (and maybe of bytes above
/// one that is: the lowest one flagged is right).
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
            depth: 0,
            breaks: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek()? != c {
            return None;
        }
        self.i += 1;
        Some(())
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' => {}
                b'\n' | b'\r' => self.breaks = true,
                _ => return,
            }
            self.i += 1;
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// Skips one value.
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.object(|sc, _, _| sc.value()),
            b'[' => self.array(|sc| sc.value()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// Skips one value and returns its text.
    fn value_span(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.value()?;
        Some(&self.text[start..self.i])
    }

    /// A string value's content (without quotes) and whether it holds an
    /// escape.
    fn string_span(&mut self) -> Option<(&'a str, bool)> {
        let start = self.i + 1;
        let escaped = self.string()?;
        Some((&self.text[start..self.i - 1], escaped))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if !self.b[self.i..].starts_with(word) {
            return None;
        }
        self.i += word.len();
        Some(())
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digits()?;
        }
        Some(())
    }

    /// Skips a string (at its opening quote); returns whether it holds an
    /// escape. Eight bytes at a time up to the next quote, backslash or
    /// control character (which JSON does not allow raw in a string).
    fn string(&mut self) -> Option<bool> {
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            while let Some(chunk) = self.b.get(self.i..self.i + 8) {
                // unwrap: the chunk is 8 bytes long.
                let x = u64::from_le_bytes(chunk.try_into().unwrap());
                let found = zero_bytes(x ^ (ONES * b'"' as u64))
                    | zero_bytes(x ^ (ONES * b'\\' as u64))
                    | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS);
                if found != 0 {
                    self.i += (found.trailing_zeros() / 8) as usize;
                    break;
                }
                self.i += 8;
            }
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *self.b.get(self.i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 6;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// Reads an object (at its `{`): `field` is called with each key (as
    /// written, and whether it holds an escape) and must consume its value.
    fn object(
        &mut self,
        mut field: impl FnMut(&mut Self, &'a [u8], bool) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        self.enter()?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            let start = self.i + 1;
            let escaped = self.string()?;
            let key = &self.b[start..self.i - 1];
            self.ws();
            self.eat(b':')?;
            self.ws();
            field(self, key, escaped)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Reads an array (at its `[`): `item` must consume each element.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.enter()?;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The `events` array: each event's text and header.
    fn events(&mut self) -> Option<Events<'a>> {
        let mut texts = Vec::new();
        let mut headers = Vec::new();
        let mut line_breaks = false;
        let outer = std::mem::take(&mut self.breaks);
        self.array(|sc| {
            sc.breaks = false;
            let start = sc.i;
            let header = if sc.peek()? == b'{' {
                sc.event()?.header()
            } else {
                sc.value()?;
                None
            };
            line_breaks |= sc.breaks;
            texts.push(&sc.text[start..sc.i]);
            headers.push(header);
            Some(())
        })?;
        self.breaks = outer;
        Some((texts, headers, line_breaks))
    }

    /// One event object: skipped, its header fields noted.
    fn event(&mut self) -> Option<Fields<'a>> {
        let mut f = Fields::default();
        self.object(|sc, key, escaped| {
            if escaped {
                f.odd = true;
                return sc.value();
            }
            match key {
                b"type" => {
                    f.odd |= f.kind.is_some();
                    f.kind = Some(sc.value_span()?);
                }
                b"timestamp" => {
                    f.odd |= f.timestamp.is_some();
                    f.timestamp = Some(sc.value_span()?);
                }
                b"data" => {
                    f.odd |= f.data.is_some();
                    f.data = Some(if sc.peek()? == b'{' {
                        match sc.data()? {
                            Some(d) => Data::Object(d),
                            None => {
                                f.odd = true;
                                Data::Other("")
                            }
                        }
                    } else {
                        Data::Other(sc.value_span()?)
                    });
                }
                _ => sc.value()?,
            }
            Some(())
        })?;
        Some(f)
    }

    /// `data` (an object): its header fields, or `Some(None)` when one of
    /// its keys is escaped (the event is left to serde).
    fn data(&mut self) -> Option<Option<DataFields<'a>>> {
        let mut d = DataFields::default();
        let mut odd = false;
        self.object(|sc, key, escaped| {
            if escaped {
                odd = true;
                return sc.value();
            }
            let slot = match key {
                b"source" => &mut d.source,
                b"type" => &mut d.kind,
                b"href" => &mut d.href,
                b"plugin" => &mut d.plugin,
                b"tag" => &mut d.tag,
                b"x" => &mut d.x,
                b"y" => &mut d.y,
                b"id" => &mut d.id,
                b"text" => &mut d.text,
                b"payload" => {
                    d.payload = Some(if sc.peek()? == b'{' {
                        match sc.payload()? {
                            Some(p) => p,
                            None => {
                                odd = true;
                                Payload::Other("")
                            }
                        }
                    } else {
                        Payload::Other(sc.value_span()?)
                    });
                    return Some(());
                }
                _ => return sc.value(),
            };
            *slot = Some(sc.value_span()?);
            Some(())
        })?;
        Some((!odd).then_some(d))
    }

    /// `data.payload` (an object): its scalars, or `Some(None)` when one of
    /// its keys is escaped.
    fn payload(&mut self) -> Option<Option<Payload<'a>>> {
        let (mut level, mut status, mut name, mut error) = (None, None, None, None);
        let mut odd = false;
        self.object(|sc, key, escaped| {
            if escaped {
                odd = true;
                return sc.value();
            }
            let slot = match key {
                b"level" => &mut level,
                b"status" => &mut status,
                b"name" => &mut name,
                b"error" => &mut error,
                _ => return sc.value(),
            };
            *slot = Some(sc.value_span()?);
            Some(())
        })?;
        Some((!odd).then_some(Payload::Object {
            level,
            status,
            name,
            error,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A batch as read: its seq, events, and each event's header or error.
    type Read = (u64, Vec<String>, Vec<Result<EventHeader, String>>);

    /// The serde path: each event borrowed raw, then its header parsed.
    fn serde_path(json: &str) -> Option<Read> {
        #[derive(serde::Deserialize)]
        struct M<'a> {
            t: String,
            seq: u64,
            #[serde(borrow)]
            events: Vec<&'a serde_json::value::RawValue>,
        }
        let m: M = serde_json::from_str(json).ok()?;
        if m.t != "events" {
            return None;
        }
        Some((
            m.seq,
            m.events.iter().map(|e| e.get().to_owned()).collect(),
            m.events
                .iter()
                .map(|e| EventHeader::parse(e.get()).map_err(|e| e.to_string()))
                .collect(),
        ))
    }

    /// The scan, with headers it left to serde parsed by serde.
    fn scan_path(json: &str) -> Option<Read> {
        let s = events_message(json.as_bytes())?;
        Some((
            s.seq,
            s.events.iter().map(|e| (*e).to_owned()).collect(),
            s.events
                .iter()
                .zip(s.headers)
                .map(|(e, h)| match h {
                    Some(h) => Ok(h),
                    None => EventHeader::parse(e).map_err(|e| e.to_string()),
                })
                .collect(),
        ))
    }

    /// Events of every kind the header reads, and odd ones.
    const EVENTS: &[&str] = &[
        r#"{"type":4,"data":{"href":"https://a/x?q=1","width":1280,"height":720},"timestamp":1700000000000}"#,
        r#"{"type":2,"data":{"node":{"type":0,"childNodes":[{"type":1,"name":"html"},{"type":2,"tagName":"html","attributes":{"lang":"en"},"childNodes":[{"type":3,"textContent":"a \"quoted\" \\ \u00e9 \ud83d\ude00 text"}],"id":3}],"id":1},"initialOffset":{"left":0,"top":-0.5e3}},"timestamp":1700000000001}"#,
        r#"{"type":3,"data":{"source":2,"type":2,"id":5,"x":10.4,"y":20.6},"timestamp":1700000000002}"#,
        r#"{"type":3,"data":{"source":5,"text":"***","isChecked":false,"id":9},"timestamp":1700000000003}"#,
        r#"{"type":3,"data":{"source":5,"text":"a \"b\" \u00e9 \ud83d\ude00 \ud800 é","isChecked":false,"id":10},"timestamp":1700000000003}"#,
        r#"{"type":3,"data":{"source":5,"text":{"a":[1]},"id":"10"},"timestamp":1700000000003}"#,
        r#"{"type":6,"data":{"plugin":"rrweb/console@1","payload":{"level":"error","trace":["at x"],"payload":["\"boom\""]}},"timestamp":1700000000004}"#,
        r#"{"type":6,"data":{"plugin":"reel/network@1","payload":{"url":"https://a/api","status":503,"error":null}},"timestamp":1700000000005}"#,
        r#"{"type":6,"data":{"plugin":"reel/network@1","payload":{"url":"https://a/api","error":"timeout"}},"timestamp":1700000000006}"#,
        r#"{"type":5,"data":{"tag":"track","payload":{"name":"signup","props":{}}},"timestamp":1700000000007}"#,
        r#"{"type":5,"data":{"tag":"reel/resnapshot"},"timestamp":1700000000008}"#,
        r#"{"type":3,"data":{"source":"2","type":[],"x":"1","y":null,"href":5},"timestamp":1}"#,
        r#"{"type":3,"data":[1,2],"timestamp":1}"#,
        r#"{"type":3,"data":"text","timestamp":1}"#,
        r#"{"type":3,"data":null,"timestamp":1}"#,
        r#"{"type":3,"timestamp":1}"#,
        r#"{"type":3,"data":{"payload":[1],"source":1},"timestamp":1}"#,
        r#"{"type":3,"data":{"payload":"x"},"timestamp":1}"#,
        r#"{ "type" : 3 ,
 "timestamp" : 1 , "data" : { "source" : 1 } }"#,
        r#"{"type":3,"type":4,"timestamp":1}"#,
        r#"{"type":"3","timestamp":1}"#,
        r#"{"type":3,"timestamp":1.5}"#,
        r#"{"timestamp":1}"#,
        r#"{"type":-1,"timestamp":1}"#,
        r#"{"type":3,"timestamp":-1700000000000}"#,
        r#"{"t\u0079pe":3,"timestamp":1}"#,
        r#"{"type":3,"timestamp":1,"data":{"s\u006frce":1}}"#,
        r#"{"type":3,"timestamp":1,"data":{"payload":{"lev\u0065l":"error"}}}"#,
        r#"{"type":3,"timestamp":1,"data":{"source":1,"source":2}}"#,
        r#"{"type":3,"timestamp":1,"data":{"x":1e400}}"#,
        r#"{"type":3,"timestamp":1,"data":{"href":"\ud800"}}"#,
        r#"{"type":3,"timestamp":1,"other":"\ud800"}"#,
        r#"[3,1]"#,
        r#"[1]"#,
        r#"7"#,
        r#""event""#,
        r#"{}"#,
        r#"{"type":3,"timestamp":99999999999999999999}"#,
        r#"{"type":4294967296,"timestamp":1}"#,
        r#"{"type":3,"timestamp":1,"data":{"x":-0.5,"y":1e2,"payload":{"status":200.0,"name":7,"error":false}}}"#,
        r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"status":0,"error":"aborted"}}}"#,
        r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"status":0,"error":"\u0061bort"}}}"#,
        r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"status":0,"error":{"abort":[1]}}}}"#,
    ];

    fn message(events: &[&str]) -> String {
        format!(
            r#"{{"t":"events","seq":3,"events":[{}]}}"#,
            events.join(",")
        )
    }

    #[test]
    fn reads_each_event_as_serde_does() {
        for e in EVENTS {
            let json = message(&[e]);
            assert_eq!(scan_path(&json), serde_path(&json), "{e}");
            assert!(scan_path(&json).is_some(), "valid JSON is scanned: {e}");
        }
        let json = message(EVENTS);
        let scanned = events_message(json.as_bytes()).unwrap();
        assert!(scanned.line_breaks);
        assert_eq!(scan_path(&json), serde_path(&json));
        // The common events are read by the scan itself.
        assert!(scanned.headers[..9].iter().all(Option::is_some));
        assert!(
            !events_message(message(&EVENTS[..9]).as_bytes())
                .unwrap()
                .line_breaks
        );
    }

    #[test]
    fn gives_up_on_what_it_does_not_read_as_serde_does() {
        for json in [
            r#"{"t":"events","seq":1,"events":[]} x"#,
            r#"{"t":"events","seq":1,"events":[],}"#,
            r#"{"t":"events","seq":1,"events":[1,]}"#,
            r#"{"t":"events","seq":1,"events":[01]}"#,
            r#"{"t":"events","seq":1,"events":[1.]}"#,
            r#"{"t":"events","seq":1,"events":["\x"]}"#,
            "{\"t\":\"events\",\"seq\":1,\"events\":[\"a\tb\"]}",
            r#"{"t":"events","seq":-1,"events":[]}"#,
            r#"{"t":"events","seq":null,"events":[]}"#,
            r#"{"t":"events","events":[]}"#,
            r#"{"t":"events","seq":1}"#,
            r#"{"t":"events","seq":1,"seq":2,"events":[]}"#,
            r#"{"t":"ev\u0065nts","seq":1,"events":[]}"#,
            r#"{"t":"hello","seq":1,"events":[]}"#,
            r#"{"t":"events","seq":1,"events":[],"visitor":5}"#,
            r#"{"t":"events","seq":1,"events":[tru]}"#,
            r#"[1]"#,
        ] {
            assert!(events_message(json.as_bytes()).is_none(), "{json}");
        }
        // Unknown fields are skipped, as serde does.
        let json = r#"{"future":{"a":[1,{"b":null}]},"t":"events","seq":1,"events":[]}"#;
        assert_eq!(events_message(json.as_bytes()).unwrap().seq, 1);
        // Deeper than the scan goes: left to serde.
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let json = message(&[&format!(r#"{{"type":3,"timestamp":1,"d":{deep}}}"#)]);
        assert!(events_message(json.as_bytes()).is_none());
        assert!(serde_path(&json).is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any edit of a message of real events: the scan and serde agree,
        /// or the scan gives up.
        #[test]
        fn agrees_with_serde_on_edited_messages(
            picks in proptest::collection::vec(0..EVENTS.len(), 1..6),
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8, any::<u8>()), 0..4),
        ) {
            let events: Vec<&str> = picks.iter().map(|&i| EVENTS[i]).collect();
            let mut bytes = message(&events).into_bytes();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len());
                let c = b"{}[]\",:\\0-e. \nut"[byte as usize % 16];
                match op {
                    0 => { bytes.remove(i); }
                    1 => bytes.insert(i, c),
                    2 => bytes[i] = c,
                    3 => bytes.insert(i, byte),
                    _ => bytes[i] = byte,
                }
            }
            let Ok(json) = std::str::from_utf8(&bytes) else {
                prop_assert!(events_message(&bytes).is_none());
                return Ok(());
            };
            if let Some(scanned) = scan_path(json) {
                prop_assert_eq!(Some(scanned), serde_path(json), "{}", json);
            }
        }
    }
}
