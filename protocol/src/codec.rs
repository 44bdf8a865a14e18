//! Frame decoding: a text frame is one JSON message, a binary frame is one
//! gzip-compressed JSON message (RFC 1952). Every limit of a frame is
//! checked here, before anything is stored.

use std::borrow::Cow;
use std::io::Read;

use flate2::bufread::GzDecoder;

use crate::clean;
use crate::error::ErrorCode;
use crate::event::EventHeader;
use crate::limits::{Limits, MAX_SEQ};
use crate::messages::{ClientMessage, EventsBatch, WireMessage};
use crate::scan;
use crate::PROTOCOL_VERSION;

/// One received WebSocket data frame.
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    Text(&'a [u8]),
    Binary(&'a [u8]),
}

/// Why a frame was refused. Each maps to one wire [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes is over the {limit} byte limit")]
    FrameTooLarge { len: u64, limit: u64 },
    #[error("message decompresses to more than the {limit} byte limit")]
    DecompressedTooLarge { limit: u64 },
    #[error("binary frame is not valid gzip: {0}")]
    BadGzip(String),
    #[error("message is not valid: {0}")]
    BadJson(String),
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u32),
    #[error("batch of {count} events is over the {limit} event limit")]
    TooManyEvents { count: u64, limit: u64 },
    #[error("event {index} of {len} bytes is over the {limit} byte limit")]
    EventTooLarge { index: usize, len: u64, limit: u64 },
    #[error("event {index} is not an rrweb event: {reason}")]
    BadEvent { index: usize, reason: String },
    #[error("{0} is above the largest sequence number (2^53 - 1)")]
    SeqTooLarge(&'static str),
    #[error("identify is over its limits: {0}")]
    IdentifyTooLarge(&'static str),
}

impl DecodeError {
    /// The wire error code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::FrameTooLarge { .. }
            | DecodeError::DecompressedTooLarge { .. }
            | DecodeError::TooManyEvents { .. }
            | DecodeError::EventTooLarge { .. }
            | DecodeError::IdentifyTooLarge(_) => ErrorCode::TooLarge,
            DecodeError::BadGzip(_)
            | DecodeError::BadJson(_)
            | DecodeError::UnsupportedVersion(_)
            | DecodeError::SeqTooLarge(_)
            | DecodeError::BadEvent { .. } => ErrorCode::BadMessage,
        }
    }
}

/// The JSON bytes of a frame: borrowed for text, decompressed for binary.
pub fn frame_json<'a>(frame: Frame<'a>, limits: &Limits) -> Result<Cow<'a, [u8]>, DecodeError> {
    let (bytes, gzip) = match frame {
        Frame::Text(b) => (b, false),
        Frame::Binary(b) => (b, true),
    };
    let len = bytes.len() as u64;
    if len > limits.frame_bytes {
        return Err(DecodeError::FrameTooLarge {
            len,
            limit: limits.frame_bytes,
        });
    }
    if !gzip {
        return Ok(Cow::Borrowed(bytes));
    }
    let limit = limits.decompressed_bytes;
    let mut out = Vec::with_capacity((bytes.len() * 4).min(limit as usize));
    let mut decoder = GzDecoder::new(bytes);
    // Read one byte past the limit to tell "exactly at" from "over".
    (&mut decoder)
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::BadGzip(e.to_string()))?;
    if out.len() as u64 > limit {
        return Err(DecodeError::DecompressedTooLarge { limit });
    }
    // One frame is one gzip member: anything after it is not ours to drop.
    if !decoder.into_inner().is_empty() {
        return Err(DecodeError::BadGzip("bytes after the gzip member".into()));
    }
    Ok(Cow::Owned(out))
}

/// Parses and validates one message. Events borrow from `json`. Every
/// string the index will keep is cleaned here ([`crate::clean`]): NULs
/// dropped, `hello`'s fields cut to their bounds.
///
/// An `events` message is read in one pass (the `scan` module): each event's
/// bounds and header in the same scan. Anything that scan does not read
/// exactly as serde would goes through serde (a raw borrow of each event,
/// then its header), with the same result or error.
pub fn decode_message<'a>(
    json: &'a [u8],
    limits: &Limits,
) -> Result<ClientMessage<'a>, DecodeError> {
    if let Some(scanned) = scan::events_message(json) {
        let mut batch = EventsBatch {
            seq: scanned.seq,
            events: scanned.events,
            headers: Vec::new(),
            line_breaks: scanned.line_breaks,
        };
        check_events(&mut batch, scanned.headers, limits)?;
        return Ok(ClientMessage::Events(batch));
    }
    let wire: WireMessage<'a> =
        serde_json::from_slice(json).map_err(|e| DecodeError::BadJson(e.to_string()))?;
    let mut msg = wire.into_message().map_err(DecodeError::BadJson)?;
    match &mut msg {
        ClientMessage::Hello(h) if h.v != PROTOCOL_VERSION => {
            return Err(DecodeError::UnsupportedVersion(h.v));
        }
        ClientMessage::Hello(h) if h.acked.is_some_and(|a| a > MAX_SEQ) => {
            return Err(DecodeError::SeqTooLarge("acked"));
        }
        ClientMessage::Events(batch) => check_events(batch, Vec::new(), limits)?,
        ClientMessage::Identify(id) => {
            if id.user_id.len() as u64 > limits.user_id_bytes {
                return Err(DecodeError::IdentifyTooLarge("user_id"));
            }
            if id.traits.len() as u64 > limits.traits_count {
                return Err(DecodeError::IdentifyTooLarge("traits count"));
            }
            if id.traits.iter().any(|(k, v)| {
                k.len() as u64 > limits.trait_bytes || v.len() as u64 > limits.trait_bytes
            }) {
                return Err(DecodeError::IdentifyTooLarge("trait size"));
            }
            clean::clean_identify(id);
        }
        ClientMessage::Hello(h) => clean::clean_hello(h, limits),
        _ => {}
    }
    Ok(msg)
}

/// Checks a batch against its limits and reads each event's header: from
/// `scanned` (the one-pass scan's, where it read one) or parsed here.
fn check_events(
    batch: &mut EventsBatch<'_>,
    scanned: Vec<Option<EventHeader>>,
    limits: &Limits,
) -> Result<(), DecodeError> {
    if batch.seq > MAX_SEQ {
        return Err(DecodeError::SeqTooLarge("seq"));
    }
    let count = batch.events.len() as u64;
    if count > limits.batch_events {
        return Err(DecodeError::TooManyEvents {
            count,
            limit: limits.batch_events,
        });
    }
    let mut scanned = scanned.into_iter();
    batch.headers.reserve(batch.events.len());
    for (index, text) in batch.events.iter().enumerate() {
        let len = text.len() as u64;
        if len > limits.event_bytes {
            return Err(DecodeError::EventTooLarge {
                index,
                len,
                limit: limits.event_bytes,
            });
        }
        let mut header = match scanned.next().flatten() {
            Some(h) => h,
            None => EventHeader::parse(text).map_err(|e| DecodeError::BadEvent {
                index,
                reason: e.to_string(),
            })?,
        };
        clean::clean_header(&mut header, limits);
        batch.headers.push(header);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ClientMessage;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use proptest::prelude::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    const HELLO: &str = r#"{"t":"hello","v":1,"visitor":"v1","session":null,"tab":"t1","acked":null,"page":{"url":"https://a/","referrer":"","title":"A"},"screen":{"w":1280,"h":720},"lang":"en","tz":"UTC"}"#;
    const EVENTS: &str = r#"{"t":"events","seq":3,"events":[{"type":4,"timestamp":1700000000000,"data":{"href":"https://a/"}},{"timestamp":1700000000001,"type":3, "data":{"source":2,"type":2}}]}"#;

    fn decode(frame: Frame<'_>, limits: &Limits) -> Result<String, DecodeError> {
        let json = frame_json(frame, limits)?;
        decode_message(&json, limits).map(|m| format!("{m:?}"))
    }

    #[test]
    fn text_and_gzip_frames_decode_alike() {
        let limits = Limits::default();
        let zipped = gzip(EVENTS.as_bytes());
        let a = decode(Frame::Text(EVENTS.as_bytes()), &limits).unwrap();
        let b = decode(Frame::Binary(&zipped), &limits).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn events_keep_their_exact_bytes() {
        let limits = Limits::default();
        let msg = decode_message(EVENTS.as_bytes(), &limits).unwrap();
        let ClientMessage::Events(batch) = msg else {
            panic!("not events")
        };
        assert_eq!(batch.seq, 3);
        assert_eq!(
            batch.events[1],
            r#"{"timestamp":1700000000001,"type":3, "data":{"source":2,"type":2}}"#
        );
        assert_eq!(batch.headers[0].timestamp, 1_700_000_000_000);
    }

    #[test]
    fn hello_parses_and_unknown_fields_are_ignored() {
        let with_extra = HELLO.replace("\"lang\"", "\"future\":{\"x\":1},\"lang\"");
        let msg = decode_message(with_extra.as_bytes(), &Limits::default()).unwrap();
        let ClientMessage::Hello(h) = msg else {
            panic!("not hello")
        };
        assert_eq!(h.tab.as_str(), "t1");
        assert_eq!(h.session, None);
        assert_eq!(h.screen.w, 1280);
    }

    #[test]
    fn refusals_have_their_codes() {
        let limits = Limits {
            frame_bytes: 300,
            decompressed_bytes: 1000,
            batch_events: 2,
            event_bytes: 100,
            ..Limits::default()
        };
        let cases: Vec<(Vec<u8>, bool, ErrorCode)> = vec![
            (b"not json".to_vec(), false, ErrorCode::BadMessage),
            (br#"{"t":"nope"}"#.to_vec(), false, ErrorCode::BadMessage),
            (br#"{"seq":1}"#.to_vec(), false, ErrorCode::BadMessage),
            (br#"{"t":"events","seq":"1","events":[]}"#.to_vec(), false, ErrorCode::BadMessage),
            (br#"{"t":"events","seq":-1,"events":[]}"#.to_vec(), false, ErrorCode::BadMessage),
            (HELLO.replace("\"v\":1", "\"v\":2").into_bytes(), false, ErrorCode::BadMessage),
            (HELLO.replace("\"t1\"", "\"t 1\"").into_bytes(), false, ErrorCode::BadMessage),
            (br#"{"t":"events","seq":1,"events":[{"type":1}]}"#.to_vec(), false, ErrorCode::BadMessage),
            (b"\x1f\x8b\x08garbage".to_vec(), true, ErrorCode::BadMessage),
            (br#"{"t":"events","seq":9007199254740992,"events":[]}"#.to_vec(), false, ErrorCode::BadMessage),
            (HELLO.replace("\"acked\":null", "\"acked\":18446744073709551615").into_bytes(), false, ErrorCode::BadMessage),
            (vec![b' '; 301], false, ErrorCode::TooLarge),
            (gzip(&vec![b' '; 1001]), true, ErrorCode::TooLarge),
            (
                br#"{"t":"events","seq":1,"events":[{"type":1,"timestamp":1},{"type":1,"timestamp":1},{"type":1,"timestamp":1}]}"#.to_vec(),
                false,
                ErrorCode::TooLarge,
            ),
            (
                format!(r#"{{"t":"events","seq":1,"events":[{{"type":1,"timestamp":1,"data":"{}"}}]}}"#, "x".repeat(100)).into_bytes(),
                false,
                ErrorCode::TooLarge,
            ),
        ];
        for (bytes, gz, code) in cases {
            let frame = if gz {
                Frame::Binary(&bytes)
            } else {
                Frame::Text(&bytes)
            };
            let err = decode(frame, &limits).unwrap_err();
            assert_eq!(
                err.code(),
                code,
                "{err} for {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn bytes_after_the_gzip_member_are_refused() {
        let mut two = gzip(br#"{"t":"end"}"#);
        assert!(frame_json(Frame::Binary(&two), &Limits::default()).is_ok());
        two.extend_from_slice(&gzip(br#"{"t":"end"}"#));
        let err = frame_json(Frame::Binary(&two), &Limits::default()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage);
    }

    #[test]
    fn limits_are_inclusive() {
        let body = vec![b' '; 1000];
        let limits = Limits {
            decompressed_bytes: 1000,
            ..Limits::default()
        };
        // Exactly at the limit decompresses (then fails as JSON, not as size).
        let err = decode(Frame::Binary(&gzip(&body)), &limits).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BadMessage);
    }

    #[test]
    fn gzip_bomb_is_refused_without_inflating_it() {
        let bomb = gzip(&vec![b'a'; 64 * 1024 * 1024]);
        assert!(bomb.len() < 1024 * 1024);
        let err = frame_json(Frame::Binary(&bomb), &Limits::default()).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DecompressedTooLarge {
                limit: 16 * 1024 * 1024
            }
        );
    }

    #[test]
    fn identify_limits() {
        let limits = Limits {
            user_id_bytes: 4,
            traits_count: 1,
            trait_bytes: 3,
            ..Limits::default()
        };
        let ok = br#"{"t":"identify","user_id":"abcd","traits":{"a":"b"}}"#;
        assert!(decode_message(ok, &limits).is_ok());
        for bad in [
            &br#"{"t":"identify","user_id":"abcde"}"#[..],
            br#"{"t":"identify","user_id":"a","traits":{"a":"b","c":"d"}}"#,
            br#"{"t":"identify","user_id":"a","traits":{"a":"bcde"}}"#,
        ] {
            assert_eq!(
                decode_message(bad, &limits).unwrap_err().code(),
                ErrorCode::TooLarge
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(4096)
        ))]

        /// Arbitrary bytes never panic, and every refusal has a wire code.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), gz in any::<bool>()) {
            let limits = Limits::default();
            let frame = if gz { Frame::Binary(&bytes) } else { Frame::Text(&bytes) };
            if let Err(e) = decode(frame, &limits) {
                prop_assert!(matches!(e.code(), ErrorCode::BadMessage | ErrorCode::TooLarge));
            }
        }

        /// Mutating a valid frame (flipping, inserting or deleting bytes)
        /// gives either a valid message or a coded refusal, never a panic;
        /// a decoded batch's events are always within the limits.
        #[test]
        fn mutated_valid_frames(
            which in 0usize..3,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8),
            gz in any::<bool>(),
        ) {
            let base = [HELLO, EVENTS, r#"{"t":"identify","user_id":"u-1","traits":{"plan":"pro"}}"#][which];
            let mut bytes = base.as_bytes().to_vec();
            for (pos, byte, op) in edits {
                let at = pos % (bytes.len() + 1);
                match op {
                    0 if at < bytes.len() => bytes[at] = byte,
                    1 => bytes.insert(at, byte),
                    _ if at < bytes.len() => { bytes.remove(at); }
                    _ => {}
                }
            }
            let limits = Limits { batch_events: 2, event_bytes: 200, ..Limits::default() };
            let wire = if gz { gzip(&bytes) } else { bytes.clone() };
            let frame = if gz { Frame::Binary(&wire) } else { Frame::Text(&wire) };
            match frame_json(frame, &limits).and_then(|j| {
                let owned = j.into_owned();
                let res = decode_message(&owned, &limits).map(|m| match m {
                    ClientMessage::Events(b) => {
                        b.events.len() <= 2 && b.events.iter().all(|e| e.len() <= 200)
                            && b.headers.len() == b.events.len()
                    }
                    _ => true,
                });
                res
            }) {
                Ok(within) => prop_assert!(within),
                Err(e) => prop_assert!(matches!(e.code(), ErrorCode::BadMessage | ErrorCode::TooLarge)),
            }
        }
    }
}
