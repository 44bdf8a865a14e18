//! Cleaning of the strings a client sends, at the edge (PROTOCOL.md §3):
//! every string that reaches the index loses its NUL characters (Postgres
//! `TEXT` cannot hold U+0000, and no page, user or trait needs one), and
//! the free-form ones are cut to their bound (`Limits`), never refused.
//!
//! [`crate::decode_message`] applies this to `hello` (`page.url`,
//! `page.referrer`, `page.title`, `lang`, `tz`), `identify` (`user_id`,
//! trait keys and values) and the `data.href` an event header yields.
//! Event bytes themselves are stored as received and never cleaned.

use std::collections::BTreeMap;

use crate::event::EventHeader;
use crate::limits::Limits;
use crate::messages::{Hello, Identify};

/// Drops every NUL character of `s`, then cuts it to at most `max_bytes`
/// bytes at a character boundary (the cut never splits a character, so
/// the result may be up to 3 bytes shorter than `max_bytes`).
pub fn clean(s: &mut String, max_bytes: u64) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
    truncate_at_char_boundary(s, max_bytes);
}

/// Cuts `s` to at most `max_bytes` bytes without splitting a character.
pub fn truncate_at_char_boundary(s: &mut String, max_bytes: u64) {
    let max = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// Drops the NUL characters of `s` (no bound).
pub fn drop_nul(s: &mut String) {
    if s.contains('\0') {
        s.retain(|c| c != '\0');
    }
}

/// Cleans a `hello`: every string dropped of NULs and cut to its bound.
pub fn clean_hello(h: &mut Hello, limits: &Limits) {
    clean(&mut h.page.url, limits.hello_url_bytes);
    clean(&mut h.page.referrer, limits.hello_referrer_bytes);
    clean(&mut h.page.title, limits.hello_title_bytes);
    clean(&mut h.lang, limits.hello_lang_bytes);
    clean(&mut h.tz, limits.hello_tz_bytes);
}

/// Cleans an `identify` whose sizes are already checked: NULs dropped from
/// `user_id` and every trait key and value. Two keys that differ only by
/// NULs become one; the later in key order wins.
pub fn clean_identify(id: &mut Identify) {
    drop_nul(&mut id.user_id);
    if id
        .traits
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        let traits = std::mem::take(&mut id.traits);
        id.traits = traits
            .into_iter()
            .map(|(mut k, mut v)| {
                drop_nul(&mut k);
                drop_nul(&mut v);
                (k, v)
            })
            .collect::<BTreeMap<_, _>>();
    }
}

/// Cleans what the index takes from an event header: a Meta event's
/// `data.href` (a page URL, bounded like `hello`'s `page.url`).
pub fn clean_header(h: &mut EventHeader, limits: &Limits) {
    if let Some(href) = h.data.as_mut().and_then(|d| d.href.as_mut()) {
        clean(href, limits.hello_url_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cleaned(s: &str, max: u64) -> String {
        let mut s = s.to_owned();
        clean(&mut s, max);
        s
    }

    #[test]
    fn nuls_are_dropped_everywhere() {
        assert_eq!(cleaned("\0a\0b\0", 100), "ab");
        assert_eq!(cleaned("\0\0", 100), "");
        assert_eq!(cleaned("plain", 100), "plain");
    }

    #[test]
    fn the_bound_is_inclusive_and_applies_after_nuls_go() {
        assert_eq!(cleaned("abcd", 4), "abcd");
        assert_eq!(cleaned("abcde", 4), "abcd");
        assert_eq!(cleaned("a\0b\0c\0d", 4), "abcd");
        assert_eq!(cleaned("abc", 0), "");
    }

    #[test]
    fn truncation_never_splits_a_character() {
        // "é" is 2 bytes, "€" 3, "𝄞" 4.
        assert_eq!(cleaned("aé", 2), "a");
        assert_eq!(cleaned("aé", 3), "aé");
        assert_eq!(cleaned("€€", 5), "€");
        assert_eq!(cleaned("𝄞", 3), "");
        assert_eq!(cleaned("a𝄞", 4), "a");
        assert_eq!(cleaned("a𝄞", 5), "a𝄞");
    }

    #[test]
    fn hello_fields_are_cut_to_their_limits() {
        let limits = Limits {
            hello_url_bytes: 5,
            hello_referrer_bytes: 4,
            hello_title_bytes: 3,
            hello_lang_bytes: 2,
            hello_tz_bytes: 1,
            ..Limits::default()
        };
        let json = r#"{"t":"hello","v":1,"visitor":"v","tab":"t","page":{"url":"https://\u0000x","referrer":"r\u0000\u0000eferrer","title":"ééé"},"lang":"en-GB","tz":"\u0000UTC"}"#;
        let msg = crate::decode_message(json.as_bytes(), &limits).unwrap();
        let crate::ClientMessage::Hello(h) = msg else {
            panic!("not hello")
        };
        assert_eq!(h.page.url, "https");
        assert_eq!(h.page.referrer, "refe");
        assert_eq!(h.page.title, "é");
        assert_eq!(h.lang, "en");
        assert_eq!(h.tz, "U");
    }

    #[test]
    fn identify_and_meta_href_lose_their_nuls() {
        let limits = Limits {
            hello_url_bytes: 12,
            ..Limits::default()
        };
        let json = r#"{"t":"identify","user_id":"u\u00001","traits":{"pl\u0000an":"p\u0000ro"}}"#;
        let crate::ClientMessage::Identify(id) =
            crate::decode_message(json.as_bytes(), &limits).unwrap()
        else {
            panic!("not identify")
        };
        assert_eq!(id.user_id, "u1");
        assert_eq!(
            id.traits,
            BTreeMap::from([("plan".to_string(), "pro".to_string())])
        );
        let json = r#"{"t":"events","seq":0,"events":[{"type":4,"timestamp":1,"data":{"href":"https://\u0000a/long/path"}}]}"#;
        let crate::ClientMessage::Events(b) =
            crate::decode_message(json.as_bytes(), &limits).unwrap()
        else {
            panic!("not events")
        };
        assert_eq!(b.headers[0].href(), Some("https://a/lo"));
        // The event itself is kept byte for byte.
        assert!(b.events[0].contains(r"\u0000a/long/path"));
    }

    proptest! {
        /// Any string: no NUL left, within the bound, a prefix of the
        /// string without its NULs, and as long as the bound allows.
        #[test]
        fn cleaning_is_a_bounded_nul_free_prefix(s in any::<String>(), max in 0u64..64) {
            let out = cleaned(&s, max);
            let no_nul: String = s.chars().filter(|&c| c != '\0').collect();
            prop_assert!(!out.contains('\0'));
            prop_assert!(out.len() as u64 <= max);
            prop_assert!(no_nul.starts_with(&out));
            if out.len() < no_nul.len() {
                let next = no_nul[out.len()..].chars().next().unwrap();
                prop_assert!(out.len() + next.len_utf8() > max as usize);
            }
        }
    }
}
