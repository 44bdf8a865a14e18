//! `--verify`: every session the run made is read back through the node's
//! API (`GET /api/v1/sessions/{id}/events?tab=ID`, one event a line,
//! each exactly as received, batches in seq order) and compared with what
//! the clients sent: every acked batch must be there, once, and nothing
//! else but batches sent and not yet acked.
//!
//! The clients keep, per batch, its event count and a hash of its events
//! (not the events: a saturation run sends gigabytes), so the stored
//! events are compared by content, batch by batch.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::ClientReport;

/// How long one session's read may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a session that does not match yet is read again (its last
/// batches may still be on their way to storage).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);
const SETTLE_POLL: Duration = Duration::from_millis(250);

/// At most this many examples of what went wrong are reported.
const MAX_EXAMPLES: usize = 10;

/// What one batch held: its event count, a hash of all its events in
/// order, and the hash of its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPrint {
    pub events: u32,
    pub hash: u64,
    pub first: u64,
}

/// The hash of one event's JSON text.
pub fn event_hash(event: &str) -> u64 {
    let mut h = DefaultHasher::new();
    event.as_bytes().hash(&mut h);
    h.finish()
}

/// The hash of a run of event hashes.
fn combine(hashes: &[u64]) -> u64 {
    let mut h = DefaultHasher::new();
    hashes.hash(&mut h);
    h.finish()
}

impl BatchPrint {
    /// The print of an `events` array's JSON text.
    pub fn of(events_json: &str) -> BatchPrint {
        let hashes: Vec<u64> = match serde_json::from_str::<Vec<&RawValue>>(events_json) {
            Ok(events) => events.iter().map(|e| event_hash(e.get())).collect(),
            // Not an array: it will not be stored as events either.
            Err(_) => vec![event_hash(events_json)],
        };
        BatchPrint {
            events: hashes.len() as u32,
            hash: combine(&hashes),
            first: hashes.first().copied().unwrap_or(0),
        }
    }

    fn matches(&self, stored: &[u64]) -> bool {
        let n = self.events as usize;
        stored.len() >= n && combine(&stored[..n]) == self.hash
    }
}

/// How one tab's stored events compare with what was sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Acked batches not found (their seqs).
    pub missing: Vec<u64>,
    /// Batches found more than once (seqs of the repeats).
    pub duplicated: Vec<u64>,
    /// Stored events of no batch sent (after the last match).
    pub unexpected_events: u64,
    /// Batches sent, not acked, and stored anyway (fine: the ack was on its
    /// way).
    pub unacked_stored: u64,
    pub checked: u64,
}

impl Comparison {
    pub fn clean(&self) -> bool {
        self.missing.is_empty() && self.duplicated.is_empty() && self.unexpected_events == 0
    }
}

/// The batch already read (by the first hash of each, in `by_first`)
/// that the stored events at `at` repeat, if any.
fn repeat_at(
    sent: &[BatchPrint],
    by_first: &HashMap<u64, Vec<usize>>,
    stored: &[u64],
    at: usize,
) -> Option<usize> {
    by_first.get(stored.get(at)?).and_then(|v| {
        v.iter()
            .copied()
            .find(|&j| sent[j].matches(&stored[at..]) && sent[j].events > 0)
    })
}

/// Compares the stored events (their hashes, in order) of a tab with the
/// batches sent from `first_seq` on, of which those up to `last_acked`
/// were acked.
pub fn compare(
    sent: &[BatchPrint],
    first_seq: u64,
    last_acked: Option<u64>,
    stored: &[u64],
) -> Comparison {
    let mut out = Comparison::default();
    let mut by_first: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut at = 0;
    for (i, print) in sent.iter().enumerate() {
        let seq = first_seq + i as u64;
        let acked = last_acked.is_some_and(|a| seq <= a);
        out.checked += 1;
        loop {
            if print.matches(&stored[at..]) {
                at += print.events as usize;
                if !acked {
                    out.unacked_stored += 1;
                }
                by_first.entry(print.first).or_default().push(i);
                break;
            }
            // An earlier batch stored again?
            match repeat_at(sent, &by_first, stored, at) {
                Some(j) => {
                    out.duplicated.push(first_seq + j as u64);
                    at += sent[j].events as usize;
                }
                None => {
                    if acked {
                        out.missing.push(seq);
                    }
                    break;
                }
            }
        }
    }
    // Repeats of the last batches.
    while at < stored.len() {
        match repeat_at(sent, &by_first, stored, at) {
            Some(j) => {
                out.duplicated.push(first_seq + j as u64);
                at += sent[j].events as usize;
            }
            None => break,
        }
    }
    out.unexpected_events = (stored.len() - at) as u64;
    out
}

/// `ws://host:port` -> `host:port`.
fn authority(base_url: &str) -> anyhow::Result<String> {
    let rest = base_url
        .strip_prefix("ws://")
        .or_else(|| base_url.strip_prefix("http://"))
        .context("--server must be ws://HOST:PORT")?;
    Ok(rest.split('/').next().unwrap_or(rest).to_string())
}

/// GETs `path` with the bearer token; the status and the body (chunked
/// transfer decoded).
async fn get(authority: &str, path: &str, token: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("response has no header end")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let body = &buf[split + 4..];
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("response has no status")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// Decodes a chunked body.
fn dechunk(mut body: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("chunk size line")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .with_context(|| format!("chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            bail!("chunk cut short");
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// The stored events of one tab, as hashes.
async fn stored(
    authority: &str,
    token: &str,
    session: &str,
    tab: &str,
) -> anyhow::Result<Vec<u64>> {
    let path = format!("/api/v1/sessions/{session}/events?tab={tab}");
    let (status, body) = tokio::time::timeout(READ_TIMEOUT, get(authority, &path, token))
        .await
        .context("read timed out")??;
    match status {
        200 => {}
        404 => return Ok(Vec::new()),
        _ => bail!(
            "GET {path}: {status} {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ),
    }
    let text = String::from_utf8(body).context("events are not UTF-8")?;
    Ok(text
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(event_hash)
        .collect())
}

/// One client's session read back and compared (again, for a while, if
/// it does not match yet).
async fn verify_one(authority: &str, token: &str, r: &ClientReport) -> anyhow::Result<Comparison> {
    // unwrap-free: callers pass only clients with a session.
    let session = r.session.as_deref().unwrap_or_default();
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let events = stored(authority, token, session, &r.tab).await?;
        let c = compare(&r.batches, r.first_seq, r.last_acked, &events);
        if c.clean() || Instant::now() >= deadline {
            return Ok(c);
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Reads back every session of `reports`; the verdict as JSON (`ok`
/// false on any acked batch missing, any duplicate or a read that failed).
pub async fn verify(
    base_url: &str,
    token: &str,
    reports: &[ClientReport],
    concurrency: usize,
) -> anyhow::Result<Value> {
    let authority = authority(base_url)?;
    let started = Instant::now();
    let todo: Vec<&ClientReport> = reports
        .iter()
        .filter(|r| r.session.is_some() && !r.batches.is_empty())
        .collect();
    let results: Vec<(&ClientReport, anyhow::Result<Comparison>)> =
        futures_util::stream::iter(todo.into_iter().map(|r| {
            let authority = authority.clone();
            async move { (r, verify_one(&authority, token, r).await) }
        }))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let (mut missing, mut duplicated, mut unexpected, mut unacked_stored, mut checked) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut acked = 0u64;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples = Vec::new();
    for (r, result) in &results {
        acked += r.batches_acked;
        let session = r.session.as_deref().unwrap_or_default();
        match result {
            Ok(c) => {
                missing += c.missing.len() as u64;
                duplicated += c.duplicated.len() as u64;
                unexpected += c.unexpected_events;
                unacked_stored += c.unacked_stored;
                checked += c.checked;
                if !c.clean() && examples.len() < MAX_EXAMPLES {
                    examples.push(format!(
                        "session {session} tab {}: missing seqs {:?}, duplicated seqs {:?}, {} unexpected events",
                        r.tab,
                        &c.missing[..c.missing.len().min(10)],
                        &c.duplicated[..c.duplicated.len().min(10)],
                        c.unexpected_events
                    ));
                }
            }
            Err(e) => {
                *errors.entry(format!("{e:#}")).or_default() += 1;
                if examples.len() < MAX_EXAMPLES {
                    examples.push(format!("session {session}: {e:#}"));
                }
            }
        }
    }
    let failed_reads: u64 = errors.values().sum();
    Ok(json!({
        "ok": missing == 0 && duplicated == 0 && unexpected == 0 && failed_reads == 0,
        "sessions": results.len(),
        "batches_sent_checked": checked,
        "batches_acked": acked,
        "missing_acked_batches": missing,
        "duplicate_batches": duplicated,
        "unexpected_events": unexpected,
        "unacked_batches_stored": unacked_stored,
        "failed_reads": failed_reads,
        "read_errors": errors,
        "examples": examples,
        "seconds": (started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: &[&str]) -> (BatchPrint, Vec<u64>) {
        let json = format!("[{}]", events.join(","));
        (
            BatchPrint::of(&json),
            events.iter().map(|e| event_hash(e)).collect(),
        )
    }

    #[test]
    fn finds_missing_duplicated_and_unexpected_batches() {
        let (a, ha) = batch(&[r#"{"type":4,"timestamp":1}"#, r#"{"type":2,"timestamp":1}"#]);
        let (b, hb) = batch(&[r#"{"type":3,"timestamp":2}"#]);
        let (c, hc) = batch(&[r#"{"type":3,"timestamp":3}"#, r#"{"type":3,"timestamp":4}"#]);
        let sent = [a, b, c];
        let cat = |parts: &[&Vec<u64>]| {
            parts
                .iter()
                .flat_map(|p| p.iter().copied())
                .collect::<Vec<_>>()
        };

        // Exactly as sent, all acked.
        let ok = compare(&sent, 0, Some(2), &cat(&[&ha, &hb, &hc]));
        assert!(ok.clean(), "{ok:?}");
        assert_eq!(ok.checked, 3);
        // The last batch unacked and not stored, or stored: both fine.
        assert!(compare(&sent, 0, Some(1), &cat(&[&ha, &hb])).clean());
        let c2 = compare(&sent, 0, Some(1), &cat(&[&ha, &hb, &hc]));
        assert!(c2.clean() && c2.unacked_stored == 1);
        // An acked batch missing.
        let m = compare(&sent, 0, Some(2), &cat(&[&ha, &hc]));
        assert_eq!(m.missing, vec![1]);
        assert_eq!(m.unexpected_events, 0);
        // A batch stored twice, in the middle and at the end.
        let d = compare(&sent, 0, Some(2), &cat(&[&ha, &ha, &hb, &hc]));
        assert_eq!(d.duplicated, vec![0]);
        assert!(d.missing.is_empty());
        let d = compare(&sent, 0, Some(2), &cat(&[&ha, &hb, &hc, &hc]));
        assert_eq!(d.duplicated, vec![2]);
        // Events nobody sent.
        let u = compare(&sent, 0, Some(2), &cat(&[&ha, &hb, &hc, &vec![42]]));
        assert_eq!(u.unexpected_events, 1);
        assert!(!u.clean());
        // Seqs start at welcome.next_seq.
        let m = compare(&sent, 5, Some(7), &cat(&[&ha, &hb]));
        assert_eq!(m.missing, vec![7]);
    }

    #[test]
    fn decodes_chunked_bodies() {
        let body = b"5\r\nhello\r\n7;x=1\r\n world!\r\n0\r\n\r\n";
        assert_eq!(dechunk(body).unwrap(), b"hello world!");
        assert!(dechunk(b"5\r\nhel").is_err());
        assert_eq!(authority("ws://127.0.0.1:8080/").unwrap(), "127.0.0.1:8080");
    }
}
