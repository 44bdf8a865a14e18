//! Frame decoding under arbitrary input: `frame_json` then `decode_message`,
//! exactly as the ingest route calls them, with small limits so that every
//! limit is reachable by inputs of a few kilobytes.
//!
//! The first byte chooses the frame:
//! - `0x1f` (the first byte of gzip's magic): the whole input is a binary
//!   frame, as a browser would send it;
//! - anything else: the whole input is a text frame, so a plain JSON file
//!   (`fuzz/seeds/*.json`) is a seed as it is. The same bytes are also
//!   wrapped in gzip here (stored deflate blocks) and decoded as a binary
//!   frame, and both results must agree: mutations of the JSON reach the
//!   gzip path too, which they would not through raw gzip (a mutated gzip
//!   stream fails its CRC).
//!
//! Invariants: a refusal is `bad_message` or `too_large`; a decoded batch
//! has one header per event, stays within `batch_events` and `event_bytes`
//! and has `seq <= MAX_SEQ`; a decoded `hello` has `v == 1` and
//! `acked <= MAX_SEQ`; a decoded `identify` stays within its limits; a
//! frame's JSON is within `frame_bytes` (text) or `decompressed_bytes`
//! (gzip).
#![no_main]

use flate2::Crc;
use libfuzzer_sys::fuzz_target;
use reel_protocol::limits::MAX_SEQ;
use reel_protocol::messages::ClientMessage;
use reel_protocol::{decode_message, frame_json, ErrorCode, Frame, Limits, PROTOCOL_VERSION};

/// An input starting with this byte is a binary frame as it is.
const RAW_GZIP: u8 = 0x1f;

/// Limits small enough that libFuzzer's default `-max_len` (4096 bytes)
/// crosses each of them: a text frame over `frame_bytes`, an event over
/// `event_bytes`, a batch over `batch_events`, a gzip frame that inflates
/// past `decompressed_bytes` (4x the frame limit, the ratio of the
/// defaults), and every identify limit.
fn limits() -> Limits {
    Limits {
        frame_bytes: 2 * 1024,
        decompressed_bytes: 8 * 1024,
        batch_events: 16,
        event_bytes: 512,
        user_id_bytes: 64,
        traits_count: 8,
        trait_bytes: 128,
        hello_url_bytes: 96,
        hello_referrer_bytes: 64,
        hello_title_bytes: 32,
        hello_lang_bytes: 8,
        hello_tz_bytes: 8,
        ..Limits::default()
    }
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks.
/// Written by hand: a deflate compressor's state is a few hundred kilobytes
/// of zeroed memory per call, which under AddressSanitizer made this mode
/// several times slower than the text mode for no extra coverage of reel's
/// code (the decoder's side of compressed blocks is reached by `RAW_GZIP`).
fn gzip(data: &[u8]) -> Vec<u8> {
    const STORED_MAX: usize = u16::MAX as usize;
    let blocks = data.len().div_ceil(STORED_MAX).max(1);
    let mut out = Vec::with_capacity(10 + blocks * 5 + data.len() + 8);
    // Magic, deflate, no flags, no mtime, no extra flags, unknown OS.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut chunks = data.chunks(STORED_MAX).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Decodes one frame, checks every invariant, and returns a comparable
/// rendering of the outcome.
fn decode(frame: Frame<'_>, limits: &Limits) -> String {
    let cap = match frame {
        Frame::Text(_) => limits.frame_bytes,
        Frame::Binary(_) => limits.decompressed_bytes,
    };
    let json = match frame_json(frame, limits) {
        Ok(json) => json,
        Err(e) => return refused(e.code(), &e.to_string()),
    };
    assert!(
        json.len() as u64 <= cap,
        "frame_json returned {} bytes, over {cap}",
        json.len()
    );
    match decode_message(&json, limits) {
        Err(e) => refused(e.code(), &e.to_string()),
        Ok(msg) => {
            match &msg {
                ClientMessage::Events(batch) => {
                    assert!(batch.seq <= MAX_SEQ);
                    assert_eq!(batch.events.len(), batch.headers.len());
                    assert!(batch.events.len() as u64 <= limits.batch_events);
                    for e in &batch.events {
                        assert!(e.len() as u64 <= limits.event_bytes);
                    }
                    for h in &batch.headers {
                        if let Some(href) = h.href() {
                            assert!(!href.contains('\0'));
                            assert!(href.len() as u64 <= limits.hello_url_bytes);
                        }
                    }
                }
                ClientMessage::Hello(h) => {
                    assert_eq!(h.v, PROTOCOL_VERSION);
                    assert!(h.acked.map_or(true, |a| a <= MAX_SEQ));
                    for (s, max) in [
                        (&h.page.url, limits.hello_url_bytes),
                        (&h.page.referrer, limits.hello_referrer_bytes),
                        (&h.page.title, limits.hello_title_bytes),
                        (&h.lang, limits.hello_lang_bytes),
                        (&h.tz, limits.hello_tz_bytes),
                    ] {
                        assert!(!s.contains('\0'));
                        assert!(s.len() as u64 <= max);
                    }
                }
                ClientMessage::Identify(id) => {
                    assert!(id.user_id.len() as u64 <= limits.user_id_bytes);
                    assert!(!id.user_id.contains('\0'));
                    assert!(id.traits.len() as u64 <= limits.traits_count);
                    for (k, v) in &id.traits {
                        assert!(k.len() as u64 <= limits.trait_bytes);
                        assert!(v.len() as u64 <= limits.trait_bytes);
                        assert!(!k.contains('\0') && !v.contains('\0'));
                    }
                }
                ClientMessage::End => {}
            }
            format!("{msg:?}")
        }
    }
}

fn refused(code: ErrorCode, message: &str) -> String {
    assert!(
        matches!(code, ErrorCode::BadMessage | ErrorCode::TooLarge),
        "refusal with code {code}: {message}"
    );
    format!("refused {code}: {message}")
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    if data.first() == Some(&RAW_GZIP) {
        decode(Frame::Binary(data), &limits);
        return;
    }
    let text = decode(Frame::Text(data), &limits);
    let zipped = gzip(data);
    let binary = decode(Frame::Binary(&zipped), &limits);
    // Both frames fit (the decompressed limit is above the frame limit), so
    // neither is refused for its size and the outcomes must be the same.
    if zipped.len() as u64 <= limits.frame_bytes {
        assert_eq!(binary, text, "a gzip frame decodes unlike its text");
    }
});
