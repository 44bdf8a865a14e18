//! A tracker speaking PROTOCOL.md §1 over a real WebSocket, and the
//! messages and rrweb-shaped events it sends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a test waits for any one reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// The tests' clock: 2025-11-13, in milliseconds.
pub const T0: i64 = 1_763_000_000_000;

/// The next `settings` message `t` receives within `limit` of `since`
/// (a change followed within a bound); acks and other messages before it
/// are skipped.
pub async fn settings_within(t: &mut Tracker, since: Instant, limit: Duration) -> Value {
    loop {
        let left = limit
            .checked_sub(since.elapsed())
            .unwrap_or_else(|| panic!("no settings within {limit:?}"));
        let m = tokio::time::timeout(left, t.recv())
            .await
            .unwrap_or_else(|_| panic!("no settings within {limit:?}"));
        if m["t"] == "settings" {
            return m;
        }
    }
}

/// Why a connection attempt was refused before the upgrade.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

/// A tracker speaking PROTOCOL.md §1 over a real WebSocket.
pub struct Tracker {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Tracker {
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Tracker, Refused> {
        let mut req = url.into_client_request().unwrap();
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Tracker { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                let status = res.status().as_u16();
                let retry_after = res
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let body = res
                    .body()
                    .as_ref()
                    .map(|b| serde_json::from_slice(b).unwrap())
                    .unwrap_or(Value::Null);
                Err(Refused {
                    status,
                    body,
                    retry_after,
                })
            }
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_json(&mut self, v: &Value) {
        self.send_text(v.to_string()).await;
    }

    /// Says hello; returns the `welcome`.
    pub async fn hello(
        &mut self,
        visitor: &str,
        session: Option<&str>,
        tab: &str,
        acked: Option<u64>,
    ) -> Value {
        self.send_json(&hello(visitor, session, tab, acked)).await;
        let w = self.recv().await;
        assert_eq!(w["t"], "welcome", "{w}");
        w
    }

    /// Sends batch `seq` of raw event JSON strings.
    pub async fn send_batch(&mut self, seq: u64, events: &[String]) {
        self.send_text(batch_json(seq, events)).await;
    }

    /// The next server message (pings are answered by the library).
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(REPLY_TIMEOUT, self.ws.next())
                .await
                .expect("no reply in time")
                .expect("connection ended")
                .expect("connection failed");
            match msg {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Close(c) => panic!("closed: {c:?}"),
                _ => continue,
            }
        }
    }

    /// Connects to `url` and starts a new session of `visitor` on tab
    /// `tab`; returns the tracker and the session id.
    pub async fn open(url: &str, visitor: &str) -> (Tracker, String) {
        let mut t = Tracker::connect(url, None).await.unwrap();
        let session = t.hello(visitor, None, "tab", None).await["session"]
            .as_str()
            .unwrap()
            .to_string();
        (t, session)
    }

    /// Reads acks (checked to come in order, after `acked`) until one of
    /// `seq` or later; returns it.
    pub async fn acks_until(&mut self, mut acked: u64, seq: u64) -> u64 {
        while acked < seq {
            let m = self.recv().await;
            assert_eq!(m["t"], "ack", "{m}");
            let got = m["seq"].as_u64().unwrap();
            assert!(got > acked, "ack {got} after {acked}");
            acked = got;
        }
        acked
    }

    pub async fn expect_ack(&mut self, seq: u64) {
        let m = self.recv().await;
        assert_eq!(m, json!({"t": "ack", "seq": seq}));
    }

    /// Sends a batch and waits for its ack.
    pub async fn batch_acked(&mut self, seq: u64, events: &[String]) {
        self.send_batch(seq, events).await;
        self.expect_ack(seq).await;
    }

    /// Sends `end`; waits for the ack of `last_seq`.
    pub async fn end(&mut self, last_seq: u64) {
        self.send_json(&json!({"t": "end"})).await;
        self.expect_ack(last_seq).await;
    }

    /// Expects `error` with `code`, then a close with `close_code`
    /// (acks that were owed may come first).
    pub async fn expect_error_close(&mut self, code: &str, close_code: u16) -> Value {
        let mut error = Value::Null;
        loop {
            let msg = tokio::time::timeout(REPLY_TIMEOUT, self.ws.next())
                .await
                .expect("no close in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["t"] == "error" {
                        assert_eq!(v["code"], code, "{v}");
                        error = v;
                    } else {
                        assert_eq!(v["t"], "ack", "unexpected {v}");
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    // Send the close reply now (the library queues it).
                    let _ = self.ws.flush().await;
                    assert_eq!(
                        frame.code,
                        CloseCode::from(close_code),
                        "close {frame:?} after {error}"
                    );
                    assert!(
                        !error.is_null(),
                        "closed with {close_code} without an error message"
                    );
                    return error;
                }
                Some(Ok(Message::Close(None))) => panic!("closed without a code"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed before close: {e}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // Drain until the server's close arrives.
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout(Duration::from_secs(2), self.ws.next()).await
        {}
    }
}

pub fn hello(visitor: &str, session: Option<&str>, tab: &str, acked: Option<u64>) -> Value {
    json!({
        "t": "hello", "v": 1, "visitor": visitor, "session": session, "tab": tab, "acked": acked,
        "page": {"url": "https://shop.example/", "referrer": "", "title": "Shop"},
        "screen": {"w": 1280, "h": 720}, "lang": "en", "tz": "UTC"
    })
}

pub fn batch_json(seq: u64, events: &[String]) -> String {
    format!(
        r#"{{"t":"events","seq":{seq},"events":[{}]}}"#,
        events.join(",")
    )
}

/// rrweb-shaped events, written by hand so that odd but valid JSON
/// (spaces, escapes, key order) checks byte-for-byte storage.
pub mod ev {
    pub fn meta(ts: i64, href: &str) -> String {
        format!(
            r#"{{"type":4,"data":{{"href":"{href}","width":1280,"height":720}},"timestamp":{ts}}}"#
        )
    }
    pub fn full_snapshot(ts: i64, text: &str) -> String {
        format!(
            r#"{{"type":2,"data":{{"node":{{"type":0,"childNodes":[{{"type":2,"tagName":"html","attributes":{{}},"childNodes":[{{"type":3,"textContent":"{text} \u00e9\n","id":3}}],"id":2}}],"id":1}},"initialOffset":{{"left":0,"top":0}}}},"timestamp":{ts}}}"#
        )
    }
    pub fn click(ts: i64, id: u32) -> String {
        format!(
            r#"{{"type":3, "data":{{"source":2,"type":2,"id":{id},"x":10.5,"y":20}},"timestamp":{ts}}}"#
        )
    }
    pub fn input(ts: i64, id: u32, text: &str) -> String {
        format!(
            r#"{{"timestamp":{ts},"type":3,"data":{{"source":5,"text":"{text}","isChecked":false,"id":{id}}}}}"#
        )
    }
    pub fn mouse_move(ts: i64) -> String {
        format!(
            r#"{{"type":3,"data":{{"source":1,"positions":[{{"x":1,"y":2,"id":4,"timeOffset":-10}}]}},"timestamp":{ts}}}"#
        )
    }
    pub fn console_error(ts: i64) -> String {
        format!(
            r#"{{"type":6,"data":{{"plugin":"rrweb/console@1","payload":{{"level":"error","trace":["at x"],"payload":["\"boom\""]}}}},"timestamp":{ts}}}"#
        )
    }
}

/// NDJSON of events: one per line.
pub fn ndjson(events: &[String]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Timestamps of NDJSON lines.
pub fn timestamps(ndjson: &str) -> Vec<i64> {
    ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["timestamp"]
                .as_i64()
                .unwrap()
        })
        .collect()
}

/// Counts of each line, to check that nothing is stored twice.
pub fn line_counts(ndjson: &str) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for l in ndjson.lines() {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}
