//! Redaction on the node (PROTOCOL.md §7): what console, network and error
//! events carry is rewritten before a batch reaches the spool, whatever
//! the tracker sent, so that nothing the rules match is stored, sent to a
//! live viewer or kept in a live tail.
//!
//! Which events: rrweb console plugin events (type 6, `data.plugin` ending
//! in `console@1`, as [`EventHeader::kind`] counts them), `reel/network@1`
//! events (type 6) and custom `error` events (type 5), told apart by the
//! header the codec already read. Every other event (snapshots above all)
//! is never parsed and keeps its bytes.
//!
//! In those events every string is checked, keys included, except the
//! event's and `data`'s own keys and the values of `data.plugin` and
//! `data.tag` (they keep the event what it is). Numbers, booleans and null
//! are left alone. Rules, each match replaced with [`REDACTED`]:
//! - e-mail addresses (also with `@` written `%40`);
//! - the token after `Bearer`, and the value after `Authorization:` or
//!   `Authorization=` (to the end of the line or a quote); a string whose
//!   key is `authorization` (any case) as a whole;
//! - card-like digit runs: 13 to 19 digits, single spaces or dashes
//!   between them allowed, that pass the Luhn check (so that most ms
//!   timestamps and ids stay readable);
//! - the site's `redact_params`: the value of `NAME=` after `?`, `&`,
//!   `#`, `;` or at the start of a string, and of `"NAME":"..."` in JSON
//!   text (a stringified console argument or a recorded body, its quotes
//!   escaped or not); in the
//!   network `url` and the error `source`, parameter names are also
//!   compared percent-decoded, as the tracker does;
//! - the site's `redact_patterns` (checked by
//!   [`reel_protocol::site::redact_pattern`]), each match as a whole.
//!
//! Network events first lose what §7 does not let them carry (see
//! [`Redactor::network_fields`]): every member of `data.payload` whose
//! name holds `header` (any case) is dropped, and so is every body (a
//! member whose name holds `body`: the tracker's `request_body` and
//! `response_body`) unless each `url` of the payload matches the site's
//! `network_body_urls` ([`BodyUrls`]); an allowed body is cut to
//! [`NETWORK_BODY_MAX_BYTES`] of UTF-8 at a character boundary. Those
//! members are removed from the payload object, which is written again
//! from its other members' bytes (whitespace between them may go). This
//! runs after the rules above, so a cut never hides half a secret from
//! them; `url` is matched as it reads then.
//!
//! A rewritten event keeps its bytes except the strings that changed
//! (each written again by `serde_json`, so escapes may differ), key order
//! included: the event is scanned, never rebuilt. A string holding a lone
//! UTF-16 surrogate escape is read with U+FFFD in its place; it is written
//! again only when a rule matched it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use crate::metric_names;
use reel_protocol::event::{event_type, EventHeader};
use reel_protocol::settings::NETWORK_BODY_MAX_BYTES;
use reel_protocol::site::BodyUrls;
use reel_protocol::Settings;
use regex::Regex;

/// What a redacted match reads as.
pub const REDACTED: &str = "[redacted]";
/// `data.plugin` of network events.
pub const NETWORK_PLUGIN: &str = "reel/network@1";
/// `data.plugin` of rrweb's console plugin ends with this.
pub const CONSOLE_PLUGIN_SUFFIX: &str = "console@1";
/// `data.tag` of error events.
pub const ERROR_TAG: &str = "error";

/// The events redaction reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Console,
    Network,
    Error,
}

/// Which of the redacted kinds the event is, from its header alone.
pub fn target(h: &EventHeader) -> Option<Target> {
    let data = h.data.as_ref()?;
    match h.kind {
        event_type::PLUGIN => match data.plugin.as_deref()? {
            NETWORK_PLUGIN => Some(Target::Network),
            p if p.ends_with(CONSOLE_PLUGIN_SUFFIX) => Some(Target::Console),
            _ => None,
        },
        event_type::CUSTOM if data.tag.as_deref() == Some(ERROR_TAG) => Some(Target::Error),
        _ => None,
    }
}

/// One rule: each non-empty match of `re` that passes `check` becomes
/// capture group `keep` (0: nothing), then [`REDACTED`].
struct Rule {
    re: Regex,
    keep: usize,
    check: Option<fn(&str) -> bool>,
}

impl Rule {
    fn new(pattern: &str, keep: usize) -> Rule {
        Rule {
            // unwrap: the built-in patterns are constants, and a site's
            // names are escaped (tested).
            re: Regex::new(pattern).unwrap(),
            keep,
            check: None,
        }
    }

    fn apply<'t>(&self, text: Cow<'t, str>) -> Cow<'t, str> {
        let mut out: Option<String> = None;
        let mut last = 0;
        for caps in self.re.captures_iter(&text) {
            // unwrap: group 0 is always there.
            let m = caps.get(0).unwrap();
            if m.is_empty() || self.check.is_some_and(|ok| !ok(m.as_str())) {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[last..m.start()]);
            if self.keep > 0 {
                o.push_str(caps.get(self.keep).map_or("", |g| g.as_str()));
            }
            o.push_str(REDACTED);
            last = m.end();
        }
        match out {
            Some(mut o) => {
                o.push_str(&text[last..]);
                Cow::Owned(o)
            }
            None => text,
        }
    }
}

/// The built-in rules, compiled once.
static BUILT_IN: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        Rule::new(
            r"[A-Za-z0-9._%+\-]+(?:@|%40)(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}",
            0,
        ),
        Rule::new(
            r#"(?i)(authorization\\?["']?\s*[:=]\s*\\?["']?)[^"'\\\r\n]+"#,
            1,
        ),
        Rule::new(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*", 1),
        Rule {
            check: Some(luhn),
            ..Rule::new(r"\b\d(?:[ \-]?\d){12,18}\b", 0)
        },
    ]
});

/// Does this run of digits (with separators) pass the Luhn check?
fn luhn(run: &str) -> bool {
    let mut sum = 0;
    let mut n = 0;
    for d in run.bytes().rev().filter(u8::is_ascii_digit) {
        let mut v = u32::from(d - b'0');
        if n % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
        n += 1;
    }
    (13..=19).contains(&n) && sum % 10 == 0
}

/// A site's redaction rules, compiled. Cheap to share: see [`shared`].
pub struct Redactor {
    /// `redact_params` as set, for [`Redactor::same_rules`].
    params: Vec<String>,
    /// `redact_patterns` as set.
    patterns: Vec<String>,
    /// `network_body_urls` as set.
    body_urls: Vec<String>,
    /// `network_body_urls` compiled: whose bodies network events keep.
    bodies: BodyUrls,
    /// `redact_params` in lower case.
    params_lower: Vec<String>,
    /// The site's rules: its params as text, then its patterns.
    rules: Vec<Rule>,
}

impl Redactor {
    /// The rules of a site's settings. A pattern that does not compile
    /// (stored before the node checked it) is skipped and logged.
    pub fn new(settings: &Settings) -> Redactor {
        let mut rules = Vec::new();
        if !settings.redact_params.is_empty() {
            let alt = settings
                .redact_params
                .iter()
                .map(|p| regex::escape(p))
                .collect::<Vec<_>>()
                .join("|");
            rules.push(Rule::new(
                &format!(r#"(?i)((?:^|[?&#;])(?:{alt})=)[^&#;\s"'<>]*"#),
                1,
            ));
            rules.push(Rule::new(
                &format!(r#"(?i)(\\?"(?:{alt})\\?"\s*:\s*\\?")(?:[^"\\]|\\[^"])*"#),
                1,
            ));
        }
        for p in &settings.redact_patterns {
            match reel_protocol::site::redact_pattern(p) {
                Ok(re) => rules.push(Rule {
                    re,
                    keep: 0,
                    check: None,
                }),
                Err(e) => tracing::warn!(error = %e, "a redaction pattern is skipped"),
            }
        }
        Redactor {
            params: settings.redact_params.clone(),
            patterns: settings.redact_patterns.clone(),
            body_urls: settings.network_body_urls.clone(),
            bodies: BodyUrls::new(&settings.network_body_urls),
            params_lower: settings
                .redact_params
                .iter()
                .map(|p| p.to_lowercase())
                .collect(),
            rules,
        }
    }

    /// Were these rules made from the same redaction settings?
    pub fn same_rules(&self, settings: &Settings) -> bool {
        self.params == settings.redact_params
            && self.patterns == settings.redact_patterns
            && self.body_urls == settings.network_body_urls
    }

    /// The event rewritten, or `None` when it is not one of the redacted
    /// kinds or no rule matched (its bytes stay as they are).
    pub fn event(&self, header: &EventHeader, json: &str) -> Option<String> {
        let target = target(header)?;
        let rewritten = rewrite(json, |place, s| self.string(target, place, s));
        match target {
            // Cut after the rules ran: a cut never splits a secret so
            // that a rule no longer sees it.
            Target::Network => self
                .network_fields(rewritten.as_deref().unwrap_or(json))
                .or(rewritten),
            Target::Console | Target::Error => rewritten,
        }
    }

    /// A network event without what §7 does not let it carry, or `None`
    /// when it carries none of it: in each `data.payload` object, members
    /// named like a header are dropped, bodies are dropped unless every
    /// `url` member of that payload is a string matching the site's
    /// `network_body_urls`, and a kept body that is not a string (or
    /// `null`) is dropped, one over [`NETWORK_BODY_MAX_BYTES`] cut. Every
    /// `data` and `payload` member is read, so a duplicated key hides
    /// nothing.
    pub fn network_fields(&self, json: &str) -> Option<String> {
        let b = json.as_bytes();
        let root = skip_ws(b, 0);
        if b.get(root) != Some(&b'{') {
            return None;
        }
        let (members_of_root, _) = members(json, root)?;
        let mut edits: Vec<(Range<usize>, String)> = Vec::new();
        for data in members_of_root.iter().filter(|m| m.key == "data") {
            if b.get(data.value.start) != Some(&b'{') {
                continue;
            }
            let (members_of_data, _) = members(json, data.value.start)?;
            for payload in members_of_data.iter().filter(|m| m.key == "payload") {
                if b.get(payload.value.start) != Some(&b'{') {
                    continue;
                }
                let (fields, end) = members(json, payload.value.start)?;
                if let Some(new) = self.payload_fields(json, &fields) {
                    edits.push((payload.value.start..end, new));
                }
            }
        }
        if edits.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(json.len());
        let mut copied = 0;
        for (span, new) in edits {
            out.push_str(&json[copied..span.start]);
            out.push_str(&new);
            copied = span.end;
        }
        out.push_str(&json[copied..]);
        Some(out)
    }

    /// One network payload object written again without its header
    /// members and the bodies it may not keep, or `None` when all its
    /// members stay as they are.
    fn payload_fields(&self, json: &str, fields: &[Member<'_>]) -> Option<String> {
        let b = json.as_bytes();
        let mut urls = fields.iter().filter(|m| m.key == "url").peekable();
        let bodies_allowed = urls.peek().is_some()
            && urls.all(|m| {
                b.get(m.value.start) == Some(&b'"')
                    && self
                        .bodies
                        .matches(&decode(&json[m.value.start + 1..m.value.end - 1]))
            });
        let mut changed = false;
        let mut kept: Vec<Cow<'_, str>> = Vec::with_capacity(fields.len());
        for m in fields {
            let name = m.key.to_ascii_lowercase();
            let member = &json[m.start..m.value.end];
            if name.contains(HEADER_FIELD) {
                changed = true;
                continue;
            }
            if !name.contains(BODY_FIELD) {
                kept.push(Cow::Borrowed(member));
                continue;
            }
            let value = &json[m.value.clone()];
            match b[m.value.start] {
                _ if !bodies_allowed => changed = true,
                b'n' if value == "null" => kept.push(Cow::Borrowed(member)),
                b'"' => match clip_body(value) {
                    None => kept.push(Cow::Borrowed(member)),
                    Some(cut) => {
                        changed = true;
                        // unwrap: a string always serialises.
                        let cut = serde_json::to_string(&cut).unwrap();
                        kept.push(Cow::Owned(format!(
                            "{}{cut}",
                            &json[m.start..m.value.start]
                        )));
                    }
                },
                _ => changed = true,
            }
        }
        changed.then(|| format!("{{{}}}", kept.join(",")))
    }

    /// The events of a batch, each rewritten or as it was.
    pub fn events<'a>(
        &self,
        headers: &[EventHeader],
        events: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Cow<'a, str>> {
        events
            .into_iter()
            .zip(headers)
            .map(|(json, h)| match self.event(h, json) {
                Some(new) => {
                    metrics::counter!(metric_names::REDACTED_EVENTS_TOTAL).increment(1);
                    Cow::Owned(new)
                }
                None => Cow::Borrowed(json),
            })
            .collect()
    }

    /// One string of a redacted event: its new value, or `None`.
    fn string(&self, target: Target, place: Place<'_>, s: &str) -> Option<String> {
        let mut text = Cow::Borrowed(s);
        if let Place::Value { zone, key } = place {
            match (zone, key, target) {
                (Zone::Data, Some("plugin" | "tag"), _) => return None,
                (Zone::Payload, Some("url"), Target::Network)
                | (Zone::Payload, Some("source"), Target::Error) => {
                    text = self.url(text);
                }
                _ => {}
            }
            if key.is_some_and(|k| k.eq_ignore_ascii_case("authorization")) {
                text = Cow::Borrowed(REDACTED);
            }
        }
        for rule in BUILT_IN.iter().chain(&self.rules) {
            text = rule.apply(text);
        }
        (text != s).then(|| text.into_owned())
    }

    /// A URL with the values of the site's `redact_params` in its query
    /// and fragment redacted, names compared percent-decoded and in lower
    /// case (as the tracker does).
    fn url<'t>(&self, url: Cow<'t, str>) -> Cow<'t, str> {
        let Some(start) = url.find(['?', '#']) else {
            return url;
        };
        if self.params_lower.is_empty() {
            return url;
        }
        let mut out = String::with_capacity(url.len());
        out.push_str(&url[..start]);
        let mut changed = false;
        let rest = &url[start..];
        let mut part_start = 0;
        let seps = |c: char| matches!(c, '?' | '&' | '#' | ';');
        // Each part starts with its separator.
        let mut bounds: Vec<usize> = rest.match_indices(seps).map(|(i, _)| i).collect();
        bounds.push(rest.len());
        for &end in bounds.iter().skip(1) {
            let part = &rest[part_start..end];
            let (sep, body) = part.split_at(1);
            match body.split_once('=') {
                Some((name, value))
                    if value != REDACTED && self.params_lower.contains(&decode_name(name)) =>
                {
                    out.push_str(sep);
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                    changed = true;
                }
                _ => out.push_str(part),
            }
            part_start = end;
        }
        if changed {
            Cow::Owned(out)
        } else {
            url
        }
    }
}

/// A network payload member whose name (in lower case) holds this is a
/// header: never kept (§7 records none).
pub const HEADER_FIELD: &str = "header";
/// A network payload member whose name (in lower case) holds this is a
/// body (the tracker's `request_body`, `response_body`): kept only for
/// the site's `network_body_urls`, at most [`NETWORK_BODY_MAX_BYTES`].
pub const BODY_FIELD: &str = "body";

/// A body's string literal (quotes included) cut to
/// [`NETWORK_BODY_MAX_BYTES`] of UTF-8 at a character boundary, or `None`
/// when it is not longer than that.
fn clip_body(literal: &str) -> Option<String> {
    // Decoding never makes a string longer than its literal.
    if literal.len() < 2 || literal.len() - 2 <= NETWORK_BODY_MAX_BYTES {
        return None;
    }
    let text = decode(&literal[1..literal.len() - 1]);
    if text.len() <= NETWORK_BODY_MAX_BYTES {
        return None;
    }
    let mut end = NETWORK_BODY_MAX_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// One member of a JSON object, by where it sits in the event.
struct Member<'a> {
    /// Its key, decoded.
    key: Cow<'a, str>,
    /// Where its key's opening quote is.
    start: usize,
    /// Its value's bytes.
    value: Range<usize>,
}

/// The members of the object opening at `at` (a `{`) and the index after
/// its `}`; `None` when it is not well formed (only valid JSON reaches
/// here: the codec parsed it).
fn members(json: &str, at: usize) -> Option<(Vec<Member<'_>>, usize)> {
    let b = json.as_bytes();
    let mut out = Vec::new();
    let mut i = skip_ws(b, at + 1);
    if b.get(i) == Some(&b'}') {
        return Some((out, i + 1));
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let (lit, after_key) = string_at(json, i);
        let colon = skip_ws(b, after_key);
        if b.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(b, colon + 1);
        let end = value_end(json, start)?;
        out.push(Member {
            key: decode(lit),
            start: i,
            value: start..end,
        });
        let next = skip_ws(b, end);
        match b.get(next) {
            Some(b',') => i = skip_ws(b, next + 1),
            Some(b'}') => return Some((out, next + 1)),
            _ => return None,
        }
    }
}

/// The first index at or after `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index after the JSON value starting at `i`; `None` when there is
/// none or it is not closed.
fn value_end(json: &str, i: usize) -> Option<usize> {
    let b = json.as_bytes();
    match *b.get(i)? {
        b'"' => {
            let (_, end) = string_at(json, i);
            (b.get(end - 1) == Some(&b'"') && end > i + 1).then_some(end)
        }
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_at(json, j).1;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let end = b[i..]
                .iter()
                .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                .map_or(b.len(), |n| i + n);
            (end > i).then_some(end)
        }
    }
}

/// A query parameter name percent-decoded (`+` as a space) and in lower case.
fn decode_name(raw: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_lowercase()
}

/// Where a string sits in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// The event object.
    Root,
    /// The event's `data` object.
    Data,
    /// `data.payload`, an object.
    Payload,
    /// Anywhere else.
    Other,
}

/// A string is an object's key, or a value (with the key it is under).
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    Key,
    Value { zone: Zone, key: Option<&'a str> },
}

/// An open object or array.
struct Frame {
    zone: Zone,
    object: bool,
    /// The member being read (objects).
    key: Option<String>,
    /// The next string is a key.
    expect_key: bool,
}

/// `json` with each string `f` gives a new value for replaced, or `None`
/// when it gives none. Keys of the event and of `data` are not offered.
/// Only valid JSON reaches here (the codec parsed it); anything else is
/// scanned without panicking, for what it is worth.
fn rewrite(json: &str, mut f: impl FnMut(Place<'_>, &str) -> Option<String>) -> Option<String> {
    let b = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            c @ (b'{' | b'[') => {
                let object = c == b'{';
                let zone = match stack.last() {
                    None if object => Zone::Root,
                    Some(p) if object && p.object => match (p.zone, p.key.as_deref()) {
                        (Zone::Root, Some("data")) => Zone::Data,
                        (Zone::Data, Some("payload")) => Zone::Payload,
                        _ => Zone::Other,
                    },
                    _ => Zone::Other,
                };
                stack.push(Frame {
                    zone,
                    object,
                    key: None,
                    expect_key: object,
                });
                i += 1;
            }
            b'}' | b']' => {
                stack.pop();
                i += 1;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.expect_key = top.object;
                }
                i += 1;
            }
            b'"' => {
                let (lit, end) = string_at(json, i);
                let decoded = decode(lit);
                let new = match stack.last_mut() {
                    Some(top) if top.object && top.expect_key => {
                        top.expect_key = false;
                        top.key = Some(decoded.clone().into_owned());
                        match top.zone {
                            Zone::Root | Zone::Data => None,
                            Zone::Payload | Zone::Other => f(Place::Key, &decoded),
                        }
                    }
                    Some(top) => f(
                        Place::Value {
                            zone: top.zone,
                            key: if top.object { top.key.as_deref() } else { None },
                        },
                        &decoded,
                    ),
                    None => f(
                        Place::Value {
                            zone: Zone::Other,
                            key: None,
                        },
                        &decoded,
                    ),
                };
                if let Some(new) = new {
                    let o = out.get_or_insert_with(|| String::with_capacity(json.len() + 16));
                    o.push_str(&json[copied..i]);
                    // unwrap: a string always serialises.
                    o.push_str(&serde_json::to_string(&new).unwrap());
                    copied = end;
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    let mut o = out?;
    o.push_str(&json[copied..]);
    Some(o)
}

/// The string literal opening at `at` (a `"`): its text between the
/// quotes, and the index after its closing quote (the end of `json` when
/// it is not closed).
fn string_at(json: &str, at: usize) -> (&str, usize) {
    let b = json.as_bytes();
    let mut i = at + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return (&json[at + 1..i], i + 1),
            _ => i += 1,
        }
    }
    (&json[at + 1..], json.len())
}

/// A JSON string literal's text decoded; an escape that is no character
/// (a lone surrogate) or broken reads as U+FFFD.
fn decode(lit: &str) -> Cow<'_, str> {
    if !lit.contains('\\') {
        return Cow::Borrowed(lit);
    }
    let mut out = String::with_capacity(lit.len());
    let mut chars = lit.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => match hex4(&mut chars) {
                Some(hi) if (0xD800..0xDC00).contains(&hi) => {
                    let mut ahead = chars.clone();
                    let lo = (ahead.next() == Some('\\') && ahead.next() == Some('u'))
                        .then(|| hex4(&mut ahead))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    match lo {
                        Some(lo) => {
                            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            chars = ahead;
                        }
                        None => out.push('\u{FFFD}'),
                    }
                }
                Some(c) => out.push(char::from_u32(c).unwrap_or('\u{FFFD}')),
                None => out.push('\u{FFFD}'),
            },
            Some(other) => out.push(other),
            None => {}
        }
    }
    Cow::Owned(out)
}

/// Four hex digits, as a number.
fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}

/// Redactors by the rules they were made from (`redact_params`,
/// `redact_patterns`, `network_body_urls`), while someone holds them.
type Shared = HashMap<(Vec<String>, Vec<String>, Vec<String>), Weak<Redactor>>;

static SHARED: LazyLock<Mutex<Shared>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The redactor of these settings, compiled once for all the connections
/// (of every site) that hold the same rules.
pub fn shared(settings: &Settings) -> Arc<Redactor> {
    let key = (
        settings.redact_params.clone(),
        settings.redact_patterns.clone(),
        settings.network_body_urls.clone(),
    );
    let mut map = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = map.get(&key).and_then(Weak::upgrade) {
        return r;
    }
    let r = Arc::new(Redactor::new(settings));
    if map.len() >= 64 && map.len().is_power_of_two() {
        map.retain(|_, w| w.strong_count() > 0);
    }
    map.insert(key, Arc::downgrade(&r));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(params: &[&str], patterns: &[&str]) -> Settings {
        Settings {
            redact_params: params.iter().map(|p| (*p).to_owned()).collect(),
            redact_patterns: patterns.iter().map(|p| (*p).to_owned()).collect(),
            ..Settings::default()
        }
    }

    /// The event after redaction with `r`, as stored.
    fn stored(r: &Redactor, json: &str) -> String {
        let h = EventHeader::parse(json).unwrap();
        r.event(&h, json).unwrap_or_else(|| json.to_owned())
    }

    fn console(args: &[&str]) -> String {
        let args: Vec<String> = args
            .iter()
            .map(|a| serde_json::to_string(a).unwrap())
            .collect();
        serde_json::json!({"type":6,"timestamp":1,"data":{"plugin":"rrweb/console@1","payload":{"level":"log","trace":["at f (https://shop.example/app.js:1:2)"],"payload":args}}}).to_string()
    }

    fn network(url: &str) -> String {
        format!(
            r#"{{"type":6,"timestamp":5,"data":{{"plugin":"reel/network@1","payload":{{"method":"GET","url":{},"status":500,"ok":false,"start":1700000000000,"duration_ms":12,"request_bytes":null,"response_bytes":3,"initiator":"fetch","error":null}}}}}}"#,
            serde_json::to_string(url).unwrap()
        )
    }

    fn error(message: &str, stack: &str, source: &str) -> String {
        serde_json::json!({"type":5,"timestamp":9,"data":{"tag":"error","payload":{"message":message,"stack":stack,"source":source,"line":3,"col":4}}}).to_string()
    }

    /// The value at `path` of the stored event's JSON.
    fn at(json: &str, path: &str) -> serde_json::Value {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v.pointer(path).cloned().unwrap_or(serde_json::Value::Null)
    }

    #[test]
    fn built_in_rules_redact_console_arguments() {
        let r = Redactor::new(&Settings::default());
        let out = stored(
            &r,
            &console(&[
                "mail ann.lee+shop@mail.example.co.uk now",
                "url-encoded ann%40mail.example.com",
                "Authorization: Basic dXNlcjpwYXNz",
                "{\"headers\":{\"Authorization\":\"Token abc123\"}}",
                "sent Bearer eyJhbGciOi.J9x_y-z== ok",
                "card 4111 1111 1111 1111 and 5500-0000-0000-0004, 4111111111111111",
                "not cards: 1700000000000 1234567890123 12345678901234567890",
            ]),
        );
        let args = at(&out, "/data/payload/payload");
        let args: Vec<String> = args
            .as_array()
            .unwrap()
            .iter()
            .map(|a| serde_json::from_str(a.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(args[0], "mail [redacted] now");
        assert_eq!(args[1], "url-encoded [redacted]");
        assert_eq!(args[2], "Authorization: [redacted]");
        assert_eq!(args[3], r#"{"headers":{"Authorization":"[redacted]"}}"#);
        assert_eq!(args[4], "sent Bearer [redacted] ok");
        assert_eq!(args[5], "card [redacted] and [redacted], [redacted]");
        // Luhn: a ms timestamp and a counting run are not cards; 20 digits
        // are no card-like run.
        assert_eq!(
            args[6],
            "not cards: 1700000000000 1234567890123 12345678901234567890"
        );
        assert_eq!(
            at(&out, "/data/payload/trace"),
            serde_json::json!(["at f (https://shop.example/app.js:1:2)"])
        );
    }

    #[test]
    fn untouched_parts_keep_their_bytes_and_order() {
        let r = Redactor::new(&Settings::default());
        let json = r#"{"timestamp":2, "type":6,"data":{"payload":{"z":1.50,"payload":["\"a@b.example\"","\u00e9"],"level":"warn"},"plugin":"rrweb/console@1"}}"#;
        let out = stored(&r, json);
        assert_eq!(
            out,
            r#"{"timestamp":2, "type":6,"data":{"payload":{"z":1.50,"payload":["\"[redacted]\"","\u00e9"],"level":"warn"},"plugin":"rrweb/console@1"}}"#
        );
    }

    #[test]
    fn other_events_are_never_rewritten() {
        let r = Redactor::new(&settings(&["token"], &["SECRET"]));
        for json in [
            r#"{"type":2,"timestamp":1,"data":{"node":{"type":0,"textContent":"a@b.example SECRET 4111111111111111"},"initialOffset":{"top":0,"left":0}}}"#,
            r#"{"type":3,"timestamp":1,"data":{"source":5,"text":"a@b.example","id":9}}"#,
            r#"{"type":5,"timestamp":1,"data":{"tag":"track","payload":{"name":"a@b.example"}}}"#,
            r#"{"type":6,"timestamp":1,"data":{"plugin":"other/thing@1","payload":"a@b.example"}}"#,
            r#"{"type":4,"timestamp":1,"data":{"href":"https://shop.example/?token=abc"}}"#,
        ] {
            let h = EventHeader::parse(json).unwrap();
            assert_eq!(r.event(&h, json), None, "{json}");
        }
        // A redacted kind with nothing to redact keeps its bytes too.
        let json = console(&["all fine", "{\"n\":1}"]);
        let h = EventHeader::parse(&json).unwrap();
        assert_eq!(r.event(&h, &json), None);
        let json = network("https://shop.example/api?page=2");
        let h = EventHeader::parse(&json).unwrap();
        assert_eq!(r.event(&h, &json), None);
    }

    #[test]
    fn network_urls_lose_the_site_params_even_percent_encoded() {
        let r = Redactor::new(&Settings {
            network_body_urls: vec!["https://a.example/*".into()],
            ..settings(&["token", "Order_Ref"], &[])
        });
        let out = stored(
            &r,
            &network("https://shop.example/api?a=1&TOKEN=abc&order%5Fref=42&tok=keep#frag&token=x"),
        );
        assert_eq!(
            at(&out, "/data/payload/url"),
            "https://shop.example/api?a=1&TOKEN=[redacted]&order%5Fref=[redacted]&tok=keep#frag&token=[redacted]"
        );
        // Numbers stay numbers, untouched.
        assert_eq!(at(&out, "/data/payload/start"), 1700000000000i64);
        assert_eq!(at(&out, "/data/payload/status"), 500);
        // In console text and bodies: `NAME=` and `"NAME":"..."`.
        let body = r#"{"type":6,"timestamp":5,"data":{"plugin":"reel/network@1","payload":{"url":"https://a.example/","request_body":"token=abc&x=1","response_body":"{\"order_ref\":\"R-1\",\"ok\":true}","error":"GET https://a.example/?token=zz failed"}}}"#;
        let out = stored(&r, body);
        assert_eq!(
            at(&out, "/data/payload/request_body"),
            "token=[redacted]&x=1"
        );
        assert_eq!(
            at(&out, "/data/payload/response_body"),
            r#"{"order_ref":"[redacted]","ok":true}"#
        );
        assert_eq!(
            at(&out, "/data/payload/error"),
            "GET https://a.example/?token=[redacted] failed"
        );
        // Without redact_params the built-ins still apply.
        let none = Redactor::new(&settings(&[], &[]));
        let out = stored(
            &none,
            &network("https://a.example/?token=abc&m=a@b.example"),
        );
        assert_eq!(
            at(&out, "/data/payload/url"),
            "https://a.example/?token=abc&m=[redacted]"
        );
    }

    /// A network event to `url` with these extra payload members (JSON).
    fn network_with(url: &str, extra: &str) -> String {
        format!(
            r#"{{"type":6,"timestamp":5,"data":{{"plugin":"reel/network@1","payload":{{"method":"POST","url":{},"status":200,"ok":true,{extra},"initiator":"fetch","error":null}}}}}}"#,
            serde_json::to_string(url).unwrap()
        )
    }

    fn body_site(urls: &[&str]) -> Redactor {
        Redactor::new(&Settings {
            network_body_urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            ..Settings::default()
        })
    }

    #[test]
    fn network_headers_are_never_stored() {
        // Even for a URL whose bodies the site allows.
        let r = body_site(&["https://shop.example/*"]);
        let json = network_with(
            "https://shop.example/api",
            r#""headers":{"cookie":"sid=1"}, "request_headers":[["x-api","k"]],"ResponseHeaders":"set-cookie: a","req\u0048eaders":1,"request_body":"hi""#,
        );
        let out = stored(&r, &json);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let mut keys: Vec<&str> = v["data"]["payload"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "error",
                "initiator",
                "method",
                "ok",
                "request_body",
                "status",
                "url"
            ]
        );
        assert!(!out.contains("sid=1") && !out.contains("x-api"), "{out}");
        // The other members keep their bytes; the header is read again.
        assert!(out.starts_with(
            r#"{"type":6,"timestamp":5,"data":{"plugin":"reel/network@1","payload":{"method":"POST","url":"https://shop.example/api","status":200,"ok":true,"request_body":"hi","#
        ));
        let h = EventHeader::parse(&out).unwrap();
        assert_eq!(target(&h), Some(Target::Network));
        assert_eq!(h, EventHeader::parse(&json).unwrap());
        // Console and error events keep such members (no such rule there).
        let console = r#"{"type":6,"timestamp":1,"data":{"plugin":"rrweb/console@1","payload":{"level":"log","headers":"x","payload":[]}}}"#;
        let h = EventHeader::parse(console).unwrap();
        assert_eq!(r.event(&h, console), None);
    }

    #[test]
    fn network_bodies_are_kept_only_for_the_sites_urls() {
        let bodies = r#""request_body":"q=1","response_body":"{\"stock\":7}""#;
        let body_of = |r: &Redactor, json: &str| {
            let out = stored(r, json);
            (
                at(&out, "/data/payload/request_body"),
                at(&out, "/data/payload/response_body"),
            )
        };
        let kept = (
            serde_json::json!("q=1"),
            serde_json::json!(r#"{"stock":7}"#),
        );
        let gone = (serde_json::Value::Null, serde_json::Value::Null);
        // No network_body_urls: no body at all.
        let none = body_site(&[]);
        assert_eq!(
            body_of(&none, &network_with("https://shop.example/api", bodies)),
            gone
        );
        let r = body_site(&["https://shop.example/api/*", "*/lab/data"]);
        assert_eq!(
            body_of(&r, &network_with("https://shop.example/api/cart", bodies)),
            kept
        );
        assert_eq!(
            body_of(&r, &network_with("http://x.example/lab/data#f", bodies)),
            kept
        );
        // A kept event with nothing to drop keeps its bytes.
        let json = network_with("https://shop.example/api/cart", bodies);
        let h = EventHeader::parse(&json).unwrap();
        assert_eq!(r.event(&h, &json), None);
        for url in [
            "https://shop.example/apix",
            "https://other.example/api/cart",
            "http://x.example/lab/data2",
        ] {
            assert_eq!(body_of(&r, &network_with(url, bodies)), gone, "{url}");
        }
        // Any name holding "body", any case.
        let out = stored(
            &r,
            &network_with(
                "https://evil.example/",
                r#""Body":"b","rawBODY":{"a":1},"x":1"#,
            ),
        );
        assert_eq!(at(&out, "/data/payload/x"), 1);
        assert!(!out.contains("Body") && !out.contains("BODY"), "{out}");
        // Every url must match: a second `url` member, or none, loses it.
        let twice = network_with(
            "https://shop.example/api/cart",
            &format!(r#""url":"https://evil.example/",{bodies}"#),
        );
        assert!(!stored(&r, &twice).contains("stock"));
        let no_url = r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"response_body":"secret"}}}"#;
        assert!(!stored(&r, no_url).contains("secret"));
        let odd_url = r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"url":["https://shop.example/api/x"],"response_body":"secret"}}}"#;
        assert!(!stored(&r, odd_url).contains("secret"));
        // An allowed body that is not a string is dropped; null stays.
        let out = stored(
            &r,
            &network_with(
                "https://shop.example/api/x",
                r#""request_body":null,"response_body":{"deep":"x"}"#,
            ),
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert!(v["data"]["payload"]["request_body"].is_null());
        assert!(v["data"]["payload"].get("request_body").is_some());
        assert!(v["data"]["payload"].get("response_body").is_none());
        // A duplicated `payload` hides nothing (the codec refuses a
        // duplicated `data`).
        let dup = r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":{"url":"https://evil.example/","headers":"h","response_body":"b1"},"payload":{"response_body":"b2"}}}"#;
        let h = EventHeader::parse(dup).unwrap();
        let out = r.event(&h, dup).unwrap();
        assert!(
            !out.contains("b1") && !out.contains("b2") && !out.contains("headers"),
            "{out}"
        );
    }

    #[test]
    fn an_allowed_body_is_cut_to_the_limit_at_a_character_boundary() {
        assert_eq!(NETWORK_BODY_MAX_BYTES, 16 * 1024);
        let r = body_site(&["https://shop.example/*"]);
        let body_after = |body: &str| {
            let json = network_with(
                "https://shop.example/x",
                &format!(
                    r#""response_body":{}"#,
                    serde_json::to_string(body).unwrap()
                ),
            );
            let out = stored(&r, &json);
            at(&out, "/data/payload/response_body")
                .as_str()
                .unwrap()
                .to_owned()
        };
        // At the limit: kept whole (and the event untouched); one over: cut.
        let exact = "a".repeat(NETWORK_BODY_MAX_BYTES);
        assert_eq!(body_after(&exact), exact);
        let json = network_with(
            "https://shop.example/x",
            &format!(r#""response_body":"{exact}""#),
        );
        let h = EventHeader::parse(&json).unwrap();
        assert_eq!(r.event(&h, &json), None);
        assert_eq!(body_after(&format!("{exact}b")), exact);
        assert_eq!(
            body_after(&"x".repeat(20 * 1024)).len(),
            NETWORK_BODY_MAX_BYTES
        );
        // Three-byte characters: 16383 bytes, whole characters only.
        let euros = body_after(&"€".repeat(7000));
        assert_eq!(euros.len(), NETWORK_BODY_MAX_BYTES - 1);
        assert!(euros.chars().all(|c| c == '€'));
        // Escapes count as the characters they stand for.
        let lines = "\n".repeat(NETWORK_BODY_MAX_BYTES);
        assert_eq!(body_after(&lines), lines);
        let quoted = format!("{}\"", "\"".repeat(NETWORK_BODY_MAX_BYTES));
        assert_eq!(body_after(&quoted).len(), NETWORK_BODY_MAX_BYTES);
        // The rules run first: a card at the cut is redacted, not halved.
        let card = format!(
            "{} 4111 1111 1111 1111",
            "a".repeat(NETWORK_BODY_MAX_BYTES - 11)
        );
        let cut = body_after(&card);
        assert!(cut.ends_with("[redacted]"), "{}", &cut[cut.len() - 20..]);
        assert!(!cut.contains("4111"));
    }

    #[test]
    fn error_events_are_redacted() {
        let r = Redactor::new(&Settings::default());
        let out = stored(
            &r,
            &error(
                "fetch failed for bob@corp.example",
                "Error: 401\n    headers: Authorization: Bearer abc.def\n    at x (https://a.example/app.js?sig=123:1:1)",
                "https://a.example/app.js?key=k1",
            ),
        );
        assert_eq!(
            at(&out, "/data/payload/message"),
            "fetch failed for [redacted]"
        );
        let stack = at(&out, "/data/payload/stack");
        let stack = stack.as_str().unwrap();
        assert!(
            !stack.contains("abc.def") && !stack.contains("123"),
            "{stack}"
        );
        assert!(stack.contains("Authorization: [redacted]"), "{stack}");
        assert_eq!(
            at(&out, "/data/payload/source"),
            "https://a.example/app.js?key=[redacted]"
        );
        assert_eq!(at(&out, "/data/payload/line"), 3);
        assert_eq!(at(&out, "/data/tag"), "error");
        // A payload that is a plain string.
        let out = stored(
            &r,
            r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":"boom for c@d.example"}}"#,
        );
        assert_eq!(at(&out, "/data/payload"), "boom for [redacted]");
    }

    #[test]
    fn site_patterns_apply_after_the_built_ins() {
        let r = Redactor::new(&settings(&[], &["ORD-\\d{6}", "(?i)secret\\s+\\w+"]));
        let out = stored(
            &r,
            &console(&["order ORD-123456 and Secret sauce", "ORD-12"]),
        );
        let args = at(&out, "/data/payload/payload");
        assert_eq!(
            args,
            serde_json::json!(["\"order [redacted] and [redacted]\"", "\"ORD-12\""])
        );
        // A pattern that can match nothing but an empty string changes nothing.
        let r = Redactor::new(&settings(&[], &["\\b"]));
        assert_eq!(r.rules.len(), 1);
        let json = console(&["word"]);
        let h = EventHeader::parse(&json).unwrap();
        assert_eq!(r.event(&h, &json), None);
        // One that does not compile is skipped, the others apply.
        let r = Redactor::new(&settings(&[], &["(open", "x+"]));
        assert_eq!(r.rules.len(), 1);
        assert_eq!(
            at(&stored(&r, &console(&["axxb"])), "/data/payload/payload/0"),
            "\"a[redacted]b\""
        );
    }

    #[test]
    fn header_values_and_structure_keys_are_kept() {
        // A site pattern that would match the header's own strings.
        let r = Redactor::new(&settings(&[], &["error", "console", "data", "payload"]));
        let json = error("an error", "", "");
        let out = stored(&r, &json);
        assert_eq!(at(&out, "/data/tag"), "error");
        assert_eq!(at(&out, "/data/payload/message"), "an [redacted]");
        let h = EventHeader::parse(&out).unwrap();
        assert_eq!(target(&h), Some(Target::Error));
        let out = stored(&r, &console(&["x"]));
        assert_eq!(at(&out, "/data/plugin"), "rrweb/console@1");
        // Keys inside the payload are checked too (a hostile tracker).
        let r = Redactor::new(&Settings::default());
        let out = stored(
            &r,
            r#"{"type":5,"timestamp":1,"data":{"tag":"error","extra":"x@y.example","payload":{"x@y.example":{"authorization":"Basic zzz","deep":[["4111-1111-1111-1111"]]}}},"top":"z@y.example"}"#,
        );
        assert!(
            !out.contains("y.example") && !out.contains("zzz") && !out.contains("4111"),
            "{out}"
        );
        assert_eq!(
            at(&out, "/data/payload/[redacted]/authorization"),
            "[redacted]"
        );
        assert_eq!(at(&out, "/data/extra"), "[redacted]");
        assert_eq!(at(&out, "/top"), "[redacted]");
    }

    #[test]
    fn hostile_payloads_never_panic_and_keep_the_event() {
        let r = Redactor::new(&settings(&["token"], &["zz+"]));
        let huge = format!("{}a@b.example{}", "x".repeat(1 << 20), "y".repeat(1 << 20));
        let deep = format!(
            r#"{{"type":6,"timestamp":1,"data":{{"plugin":"rrweb/console@1","payload":{}"q@r.example"{}}}}}"#,
            "[".repeat(120),
            "]".repeat(120)
        );
        let cases = [
            // Arguments that are not strings.
            r#"{"type":6,"timestamp":1,"data":{"plugin":"rrweb/console@1","payload":{"level":"log","payload":[1,true,null,{"a":[]},4111111111111111],"trace":7}}}"#.to_owned(),
            // A payload that is not an object.
            r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":[1,"a@b.example"]}}"#.to_owned(),
            r#"{"type":6,"timestamp":1,"data":{"plugin":"reel/network@1","payload":"token=1"}}"#.to_owned(),
            r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":null}}"#.to_owned(),
            r#"{"type":5,"timestamp":1,"data":{"tag":"error"}}"#.to_owned(),
            // Lone surrogates and odd escapes.
            r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":{"message":"\ud800 a@b.example \udc00\u0000\/"}}}"#.to_owned(),
            r#"{"type":5,"timestamp":1,"data":{"tag":"error","payload":{"message":"\ud800 fine \ud83d\ude00"}}}"#.to_owned(),
            // A network url that is no URL.
            network("?&&=&token&=x&token=&%zz=1&%E2%82=2#"),
            network("%"),
            console(&[&huge]),
            deep,
        ];
        for json in &cases {
            let h = EventHeader::parse(json).unwrap();
            assert!(target(&h).is_some(), "{json}");
            let out = r.event(&h, json).unwrap_or_else(|| json.clone());
            // Valid JSON as the codec reads it (a lone surrogate escape
            // passes there, not in a `Value`), still an object.
            let raw: &serde_json::value::RawValue =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out:.200}"));
            assert!(raw.get().starts_with('{'));
            assert!(
                !out.contains("b.example") && !out.contains("r.example"),
                "{out:.300}"
            );
            assert_eq!(EventHeader::parse(&out).unwrap(), h);
        }
        let out = stored(&r, &cases[5]);
        assert_eq!(
            at(&out, "/data/payload/message"),
            "\u{fffd} [redacted] \u{fffd}\u{0}/"
        );
        // Nothing matched: the lone surrogate escape stays as sent.
        let h = EventHeader::parse(&cases[6]).unwrap();
        assert_eq!(r.event(&h, &cases[6]), None);
        let out = stored(&r, &cases[7]);
        assert_eq!(
            at(&out, "/data/payload/url"),
            // (`zz+` is the site's pattern.)
            "?&&=&token&=x&token=[redacted]&%[redacted]=1&%E2%82=2#"
        );
        // Not JSON at all (never reaches here: the codec parsed it) does
        // not panic either.
        for junk in [
            "",
            "\"",
            "{\"a\":\"\\",
            "[[[",
            "}}]]\"x@y.example",
            "{\"a\":\"\\u12\"}",
        ] {
            let _ = rewrite(junk, |_, s| Some(s.to_owned()));
        }
    }

    #[test]
    fn param_names_become_escaped_patterns() {
        // Names with regex syntax are literal.
        let r = Redactor::new(&settings(&["a.b", "c+", "(x"], &[]));
        let out = stored(&r, &console(&["?a.b=1&axb=2&c+=3&(x=4"]));
        assert_eq!(
            at(&out, "/data/payload/payload/0"),
            "\"?a.b=[redacted]&axb=2&c+=[redacted]&(x=[redacted]\""
        );
    }

    #[test]
    fn redactors_are_shared_while_held() {
        let s = settings(&["token"], &["ORD-\\d+"]);
        let a = shared(&s);
        let b = shared(&s);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(a.same_rules(&s));
        let other = settings(&["token"], &[]);
        assert!(!a.same_rules(&other));
        assert!(!Arc::ptr_eq(&a, &shared(&other)));
    }

    #[test]
    fn luhn_tells_cards_from_other_runs() {
        assert!(luhn("4111111111111111"));
        assert!(luhn("4242 4242 4242 4242"));
        assert!(luhn("378282246310005"));
        assert!(!luhn("4111111111111112"));
        assert!(!luhn("411111111111"));
    }
}
