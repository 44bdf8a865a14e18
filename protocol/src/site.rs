//! Site administration (PROTOCOL.md §5 "Sites"): the bodies of
//! `POST /api/v1/sites` and `PATCH /api/v1/sites/{id}`, the install
//! snippet's answer, every bound on what an admin may set, and the checks
//! that apply them. The server, `reel site create` and the dashboard read
//! the bounds from here (the dashboard through the bindings).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::settings::Settings;

/// A site's name, in bytes (after trimming surrounding whitespace).
pub const SITE_NAME_MAX_BYTES: usize = 128;
/// Allowed origins of one site.
pub const MAX_ORIGINS: usize = 32;
/// One allowed origin, in bytes (a DNS name is at most 253).
pub const ORIGIN_MAX_BYTES: usize = 300;
/// `settings.block_selector`, in bytes.
pub const BLOCK_SELECTOR_MAX_BYTES: usize = 1024;
/// Names in `settings.redact_params`.
pub const MAX_REDACT_PARAMS: usize = 50;
/// One name in `settings.redact_params`, in bytes.
pub const REDACT_PARAM_MAX_BYTES: usize = 64;
/// Patterns in `settings.redact_patterns`.
pub const MAX_REDACT_PATTERNS: usize = 20;
/// One pattern in `settings.redact_patterns`, in bytes.
pub const REDACT_PATTERN_MAX_BYTES: usize = 256;
/// One pattern in `settings.redact_patterns` compiled, at most this many
/// bytes (the `regex` crate's size limit; `\w{100}` and the like pass,
/// `\w{1000}{1000}` does not).
pub const REDACT_PATTERN_COMPILED_MAX_BYTES: usize = 1024 * 1024;
/// Patterns in `settings.network_body_urls`.
pub const MAX_NETWORK_BODY_URLS: usize = 20;
/// One pattern in `settings.network_body_urls`, in bytes.
pub const NETWORK_BODY_URL_MAX_BYTES: usize = 512;
/// Fewest days a site may keep its recordings.
pub const MIN_RETENTION_DAYS: i64 = 1;
/// Most days a site may keep its recordings (about ten years).
pub const MAX_RETENTION_DAYS: i64 = 3650;
/// Days a new site keeps its recordings (PROTOCOL.md §6).
pub const DEFAULT_RETENTION_DAYS: i64 = 90;
/// Milliseconds in a day (of retention).
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// `POST /api/v1/sites`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    pub name: String,
    /// `scheme://host[:port]` each (http or https); empty or absent: any origin.
    #[serde(default)]
    pub origins: Vec<String>,
}

/// `PATCH /api/v1/sites/{id}`: what is present changes, the rest stays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SitePatch {
    #[ts(optional)]
    pub name: Option<String>,
    /// Replaces the list; `[]`: any origin.
    #[ts(optional)]
    pub origins: Option<Vec<String>>,
    #[ts(optional)]
    pub settings: Option<SettingsPatch>,
    #[ts(optional)]
    pub retention_days: Option<i64>,
}

/// The tracker settings an admin sets; the others are the node's (batch
/// and frame bounds, maintenance) and are refused here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    /// 0.0 to 1.0.
    #[ts(optional)]
    pub sample_rate: Option<f64>,
    #[ts(optional)]
    pub mask_all_inputs: Option<bool>,
    #[ts(optional)]
    pub mask_text: Option<bool>,
    /// A CSS selector; empty: none.
    #[ts(optional)]
    pub block_selector: Option<String>,
    #[ts(optional)]
    pub capture_console: Option<bool>,
    #[ts(optional)]
    pub capture_network: Option<bool>,
    #[ts(optional)]
    pub capture_errors: Option<bool>,
    /// Replaces the list (names are trimmed; duplicates, compared without
    /// regard to case, are dropped).
    #[ts(optional)]
    pub redact_params: Option<Vec<String>>,
    /// Replaces the list of regular expressions the node redacts
    /// (duplicates are dropped; each is checked with [`redact_pattern`]).
    #[ts(optional)]
    pub redact_patterns: Option<Vec<String>>,
    /// Replaces the list; `[]`: no body is recorded.
    #[ts(optional)]
    pub network_body_urls: Option<Vec<String>>,
    /// Leave browsers with Do-Not-Track or Global Privacy Control unrecorded.
    #[ts(optional)]
    pub honor_dnt: Option<bool>,
}

/// `GET /api/v1/sites/{id}/snippet`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct SiteSnippet {
    /// The `<script>` tag to paste into the site's pages.
    pub html: String,
}

/// Why an admin's site change is refused (400 `bad_request`, with this
/// text as the message).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SiteError {
    #[error("the name must be 1 to {SITE_NAME_MAX_BYTES} bytes")]
    NameLength,
    #[error("the name must not hold control characters")]
    NameControl,
    #[error("at most {MAX_ORIGINS} origins")]
    TooManyOrigins,
    #[error("an origin must be at most {ORIGIN_MAX_BYTES} bytes")]
    OriginLength,
    #[error("origin {origin:?}: {why}")]
    BadOrigin { origin: String, why: &'static str },
    #[error("settings.sample_rate must be between 0 and 1")]
    SampleRate,
    #[error("settings.block_selector must be at most {BLOCK_SELECTOR_MAX_BYTES} bytes")]
    BlockSelectorLength,
    #[error("settings.block_selector must not hold control characters")]
    BlockSelectorControl,
    #[error("settings.redact_params holds at most {MAX_REDACT_PARAMS} names of 1 to {REDACT_PARAM_MAX_BYTES} bytes without control characters")]
    RedactParams,
    #[error("settings.redact_patterns holds at most {MAX_REDACT_PATTERNS} patterns of 1 to {REDACT_PATTERN_MAX_BYTES} bytes without control characters")]
    RedactPatterns,
    #[error("settings.redact_patterns: {pattern:?} is not a usable pattern: {why}")]
    RedactPattern { pattern: String, why: String },
    #[error("settings.network_body_urls holds at most {MAX_NETWORK_BODY_URLS} patterns of 1 to {NETWORK_BODY_URL_MAX_BYTES} bytes without control characters")]
    NetworkBodyUrls,
    #[error("retention_days must be {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}")]
    Retention,
    #[error("nothing to change: give name, origins, settings or retention_days")]
    Empty,
}

/// A site's name, trimmed.
pub fn site_name(name: &str) -> Result<String, SiteError> {
    let name = name.trim();
    if name.is_empty() || name.len() > SITE_NAME_MAX_BYTES {
        return Err(SiteError::NameLength);
    }
    if name.chars().any(char::is_control) {
        return Err(SiteError::NameControl);
    }
    Ok(name.to_owned())
}

/// Allowed origins, each checked and written as a browser sends `Origin`
/// (see [`origin`]); duplicates are dropped.
pub fn origins(list: &[String]) -> Result<Vec<String>, SiteError> {
    if list.len() > MAX_ORIGINS {
        return Err(SiteError::TooManyOrigins);
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for o in list {
        let o = origin(o)?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

/// One allowed origin, `scheme://host[:port]` with scheme `http` or
/// `https`, as a browser writes its `Origin` header: scheme and host in
/// lower case, no default port (80, 443), no path (a lone trailing `/` is
/// dropped), no user, query or fragment.
pub fn origin(raw: &str) -> Result<String, SiteError> {
    let bad = |why: &'static str| SiteError::BadOrigin {
        origin: raw.to_owned(),
        why,
    };
    if raw.len() > ORIGIN_MAX_BYTES {
        return Err(SiteError::OriginLength);
    }
    let lower = raw.trim().to_ascii_lowercase();
    let (scheme, rest) = lower
        .split_once("://")
        .ok_or_else(|| bad("must be scheme://host[:port]"))?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return Err(bad("the scheme must be http or https")),
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(bad(
            "no path, query, fragment or user: only scheme://host[:port]",
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        // An IPv6 literal without a port: the colon is inside the brackets.
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty()
            && v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
    };
    if !host_ok {
        return Err(bad("the host must be a DNS name or an IP address"));
    }
    match port {
        None => Ok(format!("{scheme}://{host}")),
        Some(p) => {
            let n: u16 = p
                .parse()
                .ok()
                .filter(|n| *n > 0 && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
                .ok_or_else(|| bad("the port must be 1 to 65535"))?;
            if p == default_port {
                Ok(format!("{scheme}://{host}"))
            } else {
                Ok(format!("{scheme}://{host}:{n}"))
            }
        }
    }
}

/// Days of retention, within bounds.
pub fn retention_days(days: i64) -> Result<i64, SiteError> {
    if (MIN_RETENTION_DAYS..=MAX_RETENTION_DAYS).contains(&days) {
        Ok(days)
    } else {
        Err(SiteError::Retention)
    }
}

impl SettingsPatch {
    /// `settings` with this patch applied, or why it is refused (nothing
    /// applies then).
    pub fn apply(&self, settings: &Settings) -> Result<Settings, SiteError> {
        let mut out = settings.clone();
        if let Some(rate) = self.sample_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(SiteError::SampleRate);
            }
            out.sample_rate = rate;
        }
        if let Some(m) = self.mask_all_inputs {
            out.mask_all_inputs = m;
        }
        if let Some(m) = self.mask_text {
            out.mask_text = m;
        }
        if let Some(h) = self.honor_dnt {
            out.honor_dnt = h;
        }
        if let Some(sel) = &self.block_selector {
            let sel = sel.trim();
            if sel.len() > BLOCK_SELECTOR_MAX_BYTES {
                return Err(SiteError::BlockSelectorLength);
            }
            if sel.chars().any(char::is_control) {
                return Err(SiteError::BlockSelectorControl);
            }
            out.block_selector = sel.to_owned();
        }
        if let Some(c) = self.capture_console {
            out.capture_console = c;
        }
        if let Some(c) = self.capture_network {
            out.capture_network = c;
        }
        if let Some(c) = self.capture_errors {
            out.capture_errors = c;
        }
        if let Some(list) = &self.redact_params {
            out.redact_params = bounded_list(list, MAX_REDACT_PARAMS, REDACT_PARAM_MAX_BYTES, true)
                .ok_or(SiteError::RedactParams)?;
        }
        if let Some(list) = &self.redact_patterns {
            out.redact_patterns = redact_patterns(list)?;
        }
        if let Some(list) = &self.network_body_urls {
            out.network_body_urls = bounded_list(
                list,
                MAX_NETWORK_BODY_URLS,
                NETWORK_BODY_URL_MAX_BYTES,
                false,
            )
            .ok_or(SiteError::NetworkBodyUrls)?;
        }
        Ok(out)
    }
}

/// Redaction patterns, each checked with [`redact_pattern`], duplicates
/// dropped. Not trimmed: a space may be part of a pattern.
pub fn redact_patterns(list: &[String]) -> Result<Vec<String>, SiteError> {
    if list.len() > MAX_REDACT_PATTERNS {
        return Err(SiteError::RedactPatterns);
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for p in list {
        if p.is_empty() || p.len() > REDACT_PATTERN_MAX_BYTES || p.chars().any(char::is_control) {
            return Err(SiteError::RedactPatterns);
        }
        redact_pattern(p)?;
        if !out.contains(p) {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// One redaction pattern compiled as the node uses it: `regex` syntax,
/// compiled within [`REDACT_PATTERN_COMPILED_MAX_BYTES`], and refused when
/// it matches the empty string (it would match everywhere).
pub fn redact_pattern(pattern: &str) -> Result<regex::Regex, SiteError> {
    let refuse = |why: String| SiteError::RedactPattern {
        pattern: pattern.chars().take(64).collect(),
        why,
    };
    let re = regex::RegexBuilder::new(pattern)
        .size_limit(REDACT_PATTERN_COMPILED_MAX_BYTES)
        .dfa_size_limit(REDACT_PATTERN_COMPILED_MAX_BYTES)
        .build()
        .map_err(|e| {
            refuse(match e {
                // The parser's message spans lines (the pattern, a caret,
                // then the error): its last line says what is wrong.
                regex::Error::Syntax(s) => s
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("invalid syntax")
                    .trim()
                    .trim_start_matches("error: ")
                    .to_owned(),
                regex::Error::CompiledTooBig(_) => {
                    format!("compiled, it is over {REDACT_PATTERN_COMPILED_MAX_BYTES} bytes")
                }
                _ => e.to_string(),
            })
        })?;
    if re.is_match("") {
        return Err(refuse("it matches the empty string".into()));
    }
    Ok(re)
}

/// `list` trimmed, without duplicates (compared without regard to case
/// when `fold_case`), or None when it holds more than `max_items` entries
/// or an entry that is empty, over `max_bytes` or holds a control
/// character.
fn bounded_list(
    list: &[String],
    max_items: usize,
    max_bytes: usize,
    fold_case: bool,
) -> Option<Vec<String>> {
    if list.len() > max_items {
        return None;
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let item = item.trim();
        if item.is_empty() || item.len() > max_bytes || item.chars().any(char::is_control) {
            return None;
        }
        let dup = out.iter().any(|o| {
            if fold_case {
                o.eq_ignore_ascii_case(item)
            } else {
                o == item
            }
        });
        if !dup {
            out.push(item.to_owned());
        }
    }
    Some(out)
}

impl SitePatch {
    /// Does it change nothing?
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.origins.is_none()
            && self.settings.is_none()
            && self.retention_days.is_none()
    }
}

/// A site's `network_body_urls`, compiled as the node matches them: each
/// pattern against the whole URL without its fragment, `*` any run of
/// characters but a line break (`\n`, `\r`, U+2028, U+2029), the rest
/// literal, case-sensitive. The same match as the tracker's `matchesAny`
/// (`tracker/src/network.ts`, a JavaScript `RegExp` of `.*` per `*`),
/// written once on the Rust side.
#[derive(Debug, Clone)]
pub struct BodyUrls {
    /// One anchored alternation of all the patterns; `None` without any
    /// (or, should they ever not compile, then no body is allowed).
    re: Option<regex::Regex>,
}

impl BodyUrls {
    /// The patterns as a site sets them.
    pub fn new(patterns: &[String]) -> BodyUrls {
        if patterns.is_empty() {
            return BodyUrls { re: None };
        }
        let alt = patterns
            .iter()
            .map(|p| {
                p.split('*')
                    .map(regex::escape)
                    .collect::<Vec<_>>()
                    .join(r"[^\n\r\x{2028}\x{2029}]*")
            })
            .collect::<Vec<_>>()
            .join("|");
        let re = regex::RegexBuilder::new(&format!("^(?:{alt})$"))
            .size_limit(REDACT_PATTERN_COMPILED_MAX_BYTES * MAX_NETWORK_BODY_URLS)
            .build();
        BodyUrls { re: re.ok() }
    }

    /// Are bodies of requests to `url` recorded? Its fragment is ignored.
    pub fn matches(&self, url: &str) -> bool {
        let bare = url.split('#').next().unwrap_or(url);
        self.re.as_ref().is_some_and(|re| re.is_match(bare))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_written_as_browsers_send_them() {
        for (raw, want) in [
            ("https://shop.example", "https://shop.example"),
            ("HTTPS://Shop.Example/", "https://shop.example"),
            ("https://shop.example:443", "https://shop.example"),
            ("http://shop.example:80", "http://shop.example"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://[::1]", "http://[::1]"),
        ] {
            assert_eq!(origin(raw).unwrap(), want, "{raw}");
        }
        for raw in [
            "shop.example",
            "ftp://shop.example",
            "https://",
            "https://shop.example/path",
            "https://shop.example?q",
            "https://user@shop.example",
            "https://shop..example",
            "https://shop.example:0",
            "https://shop.example:65536",
            "https://shop.example:+80",
            "https://sh op.example",
            "javascript://x",
        ] {
            assert!(
                matches!(origin(raw), Err(SiteError::BadOrigin { .. })),
                "{raw}"
            );
        }
        let long = format!("https://{}.example", "a.".repeat(ORIGIN_MAX_BYTES / 2));
        assert_eq!(origin(&long), Err(SiteError::OriginLength));
    }

    #[test]
    fn each_bound_is_enforced_at_its_edge() {
        assert!(site_name(&"n".repeat(SITE_NAME_MAX_BYTES)).is_ok());
        assert_eq!(
            site_name(&"n".repeat(SITE_NAME_MAX_BYTES + 1)),
            Err(SiteError::NameLength)
        );
        assert_eq!(site_name("  "), Err(SiteError::NameLength));
        assert_eq!(site_name("a\u{0}b"), Err(SiteError::NameControl));
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("https://s{i}.example"))
            .collect();
        assert!(origins(&many[..MAX_ORIGINS]).is_ok());
        assert_eq!(origins(&many), Err(SiteError::TooManyOrigins));
        assert_eq!(
            origins(&["https://a.example".into(), "https://A.example/".into()]).unwrap(),
            vec!["https://a.example".to_string()]
        );
        assert!(retention_days(MIN_RETENTION_DAYS).is_ok());
        assert!(retention_days(MAX_RETENTION_DAYS).is_ok());
        assert!(retention_days(MIN_RETENTION_DAYS - 1).is_err());
        assert!(retention_days(MAX_RETENTION_DAYS + 1).is_err());
        let s = Settings::default();
        let patch = |p: SettingsPatch| p.apply(&s);
        assert!(patch(SettingsPatch {
            sample_rate: Some(1.0),
            ..Default::default()
        })
        .is_ok());
        for rate in [-0.01, 1.01, f64::NAN] {
            assert_eq!(
                patch(SettingsPatch {
                    sample_rate: Some(rate),
                    ..Default::default()
                }),
                Err(SiteError::SampleRate)
            );
        }
        let sel = |n: usize| SettingsPatch {
            block_selector: Some("a".repeat(n)),
            ..Default::default()
        };
        assert!(patch(sel(BLOCK_SELECTOR_MAX_BYTES)).is_ok());
        assert_eq!(
            patch(sel(BLOCK_SELECTOR_MAX_BYTES + 1)),
            Err(SiteError::BlockSelectorLength)
        );
    }

    #[test]
    fn capture_lists_are_bounded_at_their_edges() {
        let s = Settings::default();
        let params = |list: Vec<String>| {
            SettingsPatch {
                redact_params: Some(list),
                ..Default::default()
            }
            .apply(&s)
        };
        let names = |n: usize| (0..n).map(|i| format!("p{i}")).collect::<Vec<_>>();
        assert_eq!(
            params(names(MAX_REDACT_PARAMS))
                .unwrap()
                .redact_params
                .len(),
            MAX_REDACT_PARAMS
        );
        assert_eq!(
            params(names(MAX_REDACT_PARAMS + 1)),
            Err(SiteError::RedactParams)
        );
        assert!(params(vec!["a".repeat(REDACT_PARAM_MAX_BYTES)]).is_ok());
        for bad in [
            "a".repeat(REDACT_PARAM_MAX_BYTES + 1),
            " ".into(),
            "a\nb".into(),
        ] {
            assert_eq!(params(vec![bad]), Err(SiteError::RedactParams));
        }
        assert_eq!(
            params(vec![" Token ".into(), "token".into()])
                .unwrap()
                .redact_params,
            vec!["Token".to_string()]
        );
        let urls = |list: Vec<String>| {
            SettingsPatch {
                network_body_urls: Some(list),
                ..Default::default()
            }
            .apply(&s)
        };
        let patterns = |n: usize| {
            (0..n)
                .map(|i| format!("https://a.example/{i}/*"))
                .collect::<Vec<_>>()
        };
        assert!(urls(patterns(MAX_NETWORK_BODY_URLS)).is_ok());
        assert_eq!(
            urls(patterns(MAX_NETWORK_BODY_URLS + 1)),
            Err(SiteError::NetworkBodyUrls)
        );
        assert!(urls(vec!["a".repeat(NETWORK_BODY_URL_MAX_BYTES)]).is_ok());
        assert_eq!(
            urls(vec!["a".repeat(NETWORK_BODY_URL_MAX_BYTES + 1)]),
            Err(SiteError::NetworkBodyUrls)
        );
        let off: SettingsPatch = serde_json::from_str(
            r#"{"capture_console":false,"capture_network":false,"capture_errors":false}"#,
        )
        .unwrap();
        let off = off.apply(&s).unwrap();
        assert!(!off.capture_console && !off.capture_network && !off.capture_errors);
        assert!(s.capture_console && s.capture_network && s.capture_errors);
        assert!(s.network_body_urls.is_empty());
        assert!(s.redact_params.iter().any(|p| p == "token"));
    }

    #[test]
    fn body_urls_match_as_the_trackers_matches_any() {
        let v = |list: &[&str]| list.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
        let none = BodyUrls::new(&[]);
        assert!(!none.matches("https://shop.example/api/cart"));
        assert!(!none.matches(""));
        let b = BodyUrls::new(&v(&["https://shop.example/api/*", "*/lab/data?x=(1)+[2]"]));
        // `*`: any run, empty included; the whole URL; fragment ignored.
        assert!(b.matches("https://shop.example/api/"));
        assert!(b.matches("https://shop.example/api/cart?sku=1#frag"));
        assert!(!b.matches("https://shop.example/apis"));
        assert!(!b.matches("http://shop.example/api/cart"));
        assert!(!b.matches("https://evil.example/?https://shop.example/api/"));
        // Case-sensitive, and regex syntax in a pattern is literal.
        assert!(!b.matches("https://SHOP.example/api/cart"));
        assert!(b.matches("http://a.example/lab/data?x=(1)+[2]"));
        assert!(!b.matches("http://a.example/lab/data?x=1+2"));
        assert!(!b.matches("http://a.example/labXdata?x=(1)+[2]"));
        // `*` does not run over a line break (JavaScript's `.`).
        assert!(!b.matches("https://shop.example/api/a\nb"));
        assert!(!b.matches("https://shop.example/api/a\u{2028}b"));
        // A pattern without `*` is the URL itself.
        let exact = BodyUrls::new(&v(&["https://a.example/x"]));
        assert!(exact.matches("https://a.example/x#y"));
        assert!(!exact.matches("https://a.example/x?y"));
    }

    #[test]
    fn redact_patterns_are_bounded_and_compiled() {
        let s = Settings::default();
        let apply = |list: Vec<String>| {
            SettingsPatch {
                redact_patterns: Some(list),
                ..Default::default()
            }
            .apply(&s)
        };
        assert!(s.redact_patterns.is_empty());
        let many = |n: usize| (0..n).map(|i| format!("ACME-{i}-\\d+")).collect::<Vec<_>>();
        assert_eq!(
            apply(many(MAX_REDACT_PATTERNS))
                .unwrap()
                .redact_patterns
                .len(),
            MAX_REDACT_PATTERNS
        );
        assert_eq!(
            apply(many(MAX_REDACT_PATTERNS + 1)),
            Err(SiteError::RedactPatterns)
        );
        let long = |n: usize| format!("a{}", "b".repeat(n - 1));
        assert!(apply(vec![long(REDACT_PATTERN_MAX_BYTES)]).is_ok());
        assert_eq!(
            apply(vec![long(REDACT_PATTERN_MAX_BYTES + 1)]),
            Err(SiteError::RedactPatterns)
        );
        for bad in ["", "a\nb\u{7}"] {
            assert_eq!(apply(vec![bad.into()]), Err(SiteError::RedactPatterns));
        }
        // Not trimmed, duplicates dropped.
        assert_eq!(
            apply(vec![" x ".into(), " x ".into(), "x".into()])
                .unwrap()
                .redact_patterns,
            vec![" x ".to_string(), "x".to_string()]
        );
        let why = |p: &str| match apply(vec![p.into()]) {
            Err(SiteError::RedactPattern { why, .. }) => why,
            other => panic!("{p}: {other:?}"),
        };
        assert_eq!(why("(abc"), "unclosed group");
        assert!(
            why("\\w{1000}{1000}").contains("bytes"),
            "{}",
            why("\\w{1000}{1000}")
        );
        assert_eq!(why("x*"), "it matches the empty string");
        let err = apply(vec!["[z-a]".into()]).unwrap_err().to_string();
        assert!(
            err.starts_with("settings.redact_patterns: \"[z-a]\""),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let p: SettingsPatch =
            serde_json::from_str(r#"{"redact_patterns":["ORD-\\d{6}"]}"#).unwrap();
        assert_eq!(p.apply(&s).unwrap().redact_patterns, vec!["ORD-\\d{6}"]);
    }

    #[test]
    fn settings_stored_before_capture_get_its_defaults() {
        let old: Settings = serde_json::from_str(r#"{"mask_text":false}"#).unwrap();
        assert!(old.capture_console && old.capture_network && old.capture_errors);
        assert_eq!(old.redact_params, Settings::default().redact_params);
    }

    #[test]
    fn node_owned_settings_are_refused_in_a_patch() {
        let err = serde_json::from_str::<SettingsPatch>(r#"{"maintenance":true}"#);
        assert!(err.is_err());
        let err = serde_json::from_str::<SitePatch>(r#"{"nme":"x"}"#);
        assert!(err.is_err());
        let p: SettingsPatch =
            serde_json::from_str(r#"{"mask_text":false,"block_selector":".secret"}"#).unwrap();
        let s = p.apply(&Settings::default()).unwrap();
        assert!(!s.mask_text && s.mask_all_inputs);
        assert_eq!(s.block_selector, ".secret");
        assert!(!s.honor_dnt);
        let p: SettingsPatch = serde_json::from_str(r#"{"honor_dnt":true}"#).unwrap();
        assert!(p.apply(&s).unwrap().honor_dnt);
        assert!(serde_json::from_str::<SettingsPatch>(r#"{"honor_dnt":"yes"}"#).is_err());
    }
}
