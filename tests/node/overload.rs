//! Overload through the real interfaces: a tracker that sends faster than
//! the node can fsync is held back by the ingest budget (the node stops
//! reading its socket) yet every batch is acked, in order, with the bytes
//! in flight never above the budget; and with acks slower than the
//! admission threshold, a new connection gets 503 with `Retry-After`
//! while an open one keeps recording; durable batches held in memory stay
//! within `segments.max_buffered_bytes`, buffers becoming segments early.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use reel_actors::segment::BUFFER_GROWTH_STEP;

use crate::support::*;

/// A batch of about 40 KiB whose events say which seq they belong to.
fn batch(seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    vec![
        ev::full_snapshot(ts, &format!("page {seq} {}", "x".repeat(40_000))),
        ev::click(ts + 1, seq as u32),
    ]
}

/// The next text message the node sends on a split tracker socket.
async fn next_reply<S>(stream: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let msg = tokio::time::timeout(REPLY_TIMEOUT, stream.next())
        .await
        .expect("no reply in time")
        .expect("connection ended")
        .expect("connection failed");
    let Message::Text(text) = msg else {
        panic!("expected a text message, got {msg:?}");
    };
    serde_json::from_str(&text).unwrap()
}

#[actix_web::test]
async fn a_tracker_faster_than_the_disk_is_held_back_and_every_batch_is_acked_in_order() {
    const BATCHES: u64 = 150;
    // Room for one 40 KiB batch at a time: every other batch waits for the
    // fsync of the one before, its connection not reading meanwhile.
    const BUDGET: u64 = 64 * 1024;
    let app = spawn_app_with(|c| {
        c.ingest.max_inflight_bytes = BUDGET;
        c.limits.session_messages_per_sec = 10_000;
        c.limits.session_messages_burst = 10_000;
    })
    .await;
    let admission = &app.node.state.admission;
    assert_eq!(admission.max_inflight_bytes(), BUDGET);
    let mut t = app.tracker("v-flood").await;
    let welcome = t.hello("v-flood", None, "t1", None).await;
    let session = welcome["session"].as_str().unwrap().to_string();

    let (mut sink, mut stream) = t.ws.split();
    // All of it at once, as fast as TCP takes it.
    let sender = tokio::spawn(async move {
        for seq in 0..BATCHES {
            let frame = Message::Text(batch_json(seq, &batch(seq)));
            sink.feed(frame).await.unwrap();
        }
        sink.flush().await.unwrap();
        sink
    });
    for seq in 0..BATCHES {
        let v = next_reply(&mut stream).await;
        assert_eq!(v, json!({"t": "ack", "seq": seq}), "acks come in order");
        assert!(
            admission.inflight_bytes() <= BUDGET,
            "{} bytes in flight over a budget of {BUDGET}",
            admission.inflight_bytes()
        );
    }
    assert!(
        admission.waits() > 0,
        "the connection never waited for the budget"
    );
    let sink = sender.await.unwrap();
    let mut t = Tracker {
        ws: sink.reunite(stream).unwrap(),
    };
    t.end(BATCHES - 1).await;
    let events = app.events(&session, Some("t1")).await;
    assert_eq!(events.lines().count() as u64, BATCHES * 2);
    for seq in [0, BATCHES / 2, BATCHES - 1] {
        assert!(events.contains(&format!("page {seq} ")), "batch {seq} lost");
    }
    assert_eq!(admission.inflight_bytes(), 0);
}

#[actix_web::test]
async fn slow_acks_refuse_new_connections_while_open_ones_keep_recording() {
    // 5 µs of the 5 s bound: any ack is "slow".
    let app = spawn_app_with(|c| c.ingest.admission_ack_delay_ratio = 0.000_001).await;
    let mut open = app.tracker("v-open").await;
    open.hello("v-open", None, "t1", None).await;
    open.batch_acked(0, &batch(0)).await;

    let refused = Tracker::connect(&app.ingest_url("v-new"), Some("https://shop.example"))
        .await
        .err()
        .expect("a new connection is refused while acks are slow");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"], "unavailable", "{}", refused.body);
    assert_eq!(refused.retry_after.as_deref(), Some("5"));

    // The open connection keeps going.
    open.batch_acked(1, &batch(1)).await;
    open.end(1).await;
    let metrics = app.api().text("/metrics").await;
    assert!(
        metrics.contains(r#"reel_overload_refusals_total{reason="ack_delay"}"#),
        "refusal not counted"
    );
}

/// A batch of about 40 KB that zstd cannot shrink much (random printable
/// characters: about 0.83 of their size), so that its frame weighs on the
/// node's memory bound almost as much as its raw bytes.
fn noisy_batch(seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let noise: String = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Printable ASCII but `"` and `\`: nothing to escape.
            let mut c = b' ' + (x % 93) as u8;
            if c >= b'"' {
                c += 1;
            }
            if c >= b'\\' {
                c += 1;
            }
            c as char
        })
        .collect();
    vec![
        ev::full_snapshot(ts, &format!("page {seq} {noise}")),
        ev::click(ts + 1, seq as u32),
    ]
}

#[actix_web::test]
async fn buffers_past_the_memory_bound_become_segments_early_and_nothing_is_lost() {
    // 100 batches of 40 KB: 4.0 MB raw, below `segments.max_bytes`
    // (4 MiB), so without the bound no segment is written before `end`;
    // buffered compressed, they still pass the soft mark (3 MiB).
    const BATCHES: u64 = 100;
    const MEMORY: u64 = 4 * 1024 * 1024;
    let app = spawn_app_with(|c| {
        c.segments.max_buffered_bytes = MEMORY;
        // One batch read ahead at most: memory can pass its bound by no
        // more than that batch and one step of its buffer's growth.
        c.ingest.max_inflight_bytes = 64 * 1024;
        c.limits.session_messages_per_sec = 10_000;
        c.limits.session_messages_burst = 10_000;
    })
    .await;
    assert!(app.node.state.config.segments.max_bytes >= MEMORY);
    let memory = app.node.state.sessions.memory().clone();
    let mut t = app.tracker("v-memory").await;
    let welcome = t.hello("v-memory", None, "t1", None).await;
    let session = welcome["session"].as_str().unwrap().to_string();
    for seq in 0..BATCHES {
        t.batch_acked(seq, &noisy_batch(seq)).await;
        assert!(
            memory.used() <= MEMORY + (BUFFER_GROWTH_STEP + 64 * 1024) as u64,
            "{} bytes buffered over a bound of {MEMORY}",
            memory.used()
        );
    }
    // Still open, yet in storage: the buffer went early.
    let row = app
        .wait_session(&session, "an early segment", |v| {
            v["segments"].as_u64() >= Some(1)
        })
        .await;
    assert_eq!(row["ended_at"], Value::Null, "the tab is still open: {row}");
    t.end(BATCHES - 1).await;
    let events = app.events(&session, Some("t1")).await;
    assert_eq!(events.lines().count() as u64, BATCHES * 2);
    for seq in 0..BATCHES {
        assert!(events.contains(&format!("page {seq} ")), "batch {seq} lost");
    }
    assert_eq!(memory.used(), 0, "committed segments give their bytes back");
}

#[actix_web::test]
async fn a_tracker_held_back_by_the_node_is_not_rate_limited_for_what_it_sent_meanwhile() {
    // 40 batches/s against a limit of 50/s with a burst of only 5: within
    // the limit, unless the node's stall is counted against the tracker.
    const BATCHES: u64 = 60;
    let app = spawn_app_with(|c| {
        c.limits.session_messages_per_sec = 50;
        c.limits.session_messages_burst = 5;
    })
    .await;
    let memory = app.node.state.sessions.memory().clone();
    let mut t = app.tracker("v-held").await;
    let welcome = t.hello("v-held", None, "t1", None).await;
    let session = welcome["session"].as_str().unwrap().to_string();
    let (mut sink, mut stream) = t.ws.split();
    let small = |seq: u64| vec![ev::click(T0 + seq as i64, seq as u32)];
    // The buffer memory spent: the node stops reading this socket.
    let mut stall = memory.charge();
    stall.set(app.node.state.config.segments.max_buffered_bytes);
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(25));
        for seq in 0..BATCHES {
            tick.tick().await;
            sink.send(Message::Text(batch_json(seq, &small(seq))))
                .await
                .unwrap();
        }
        sink
    });
    // The first batch is read, then held; 1 s of batches queue up behind it.
    let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
    while app.node.state.admission.waits() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never held back");
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    drop(stall);
    for seq in 0..BATCHES {
        let v = next_reply(&mut stream).await;
        assert_eq!(
            v,
            json!({"t": "ack", "seq": seq}),
            "closed at {seq} instead: {v}"
        );
    }
    let sink = sender.await.unwrap();
    let mut t = Tracker {
        ws: sink.reunite(stream).unwrap(),
    };
    t.end(BATCHES - 1).await;
    let events = app.events(&session, Some("t1")).await;
    assert_eq!(events.lines().count() as u64, BATCHES);
}
