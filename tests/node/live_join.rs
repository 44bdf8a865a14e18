//! A live viewer joining from the node's own copy of the page (issue 13,
//! item 5): the tab's latest Meta and full snapshot and what followed are
//! kept on disk, not in memory, so a page whose snapshot is far larger
//! than any in-memory tail is still rendered at once, without asking the
//! visitor's browser for a new snapshot.

use serde_json::{json, Value};

use crate::live_client::Live;
use crate::support::*;

/// A full snapshot of a page this large (the in-memory tail held 256 KiB).
const SNAPSHOT_BYTES: usize = 600 * 1024;

/// A full snapshot whose page text makes it `SNAPSHOT_BYTES` long or more.
fn big_snapshot(ts: i64) -> String {
    ev::full_snapshot(ts, &"x".repeat(SNAPSHOT_BYTES))
}

/// The `(type, timestamp)` of every event the watcher got for `session`
/// until the click at `last_ts`, in order.
async fn watched_until(live: &mut Live, session: &str, last_ts: i64) -> Vec<(i64, i64)> {
    let mut seen = Vec::new();
    loop {
        let m = live.until("events", |m| m["t"] == "events").await;
        assert_eq!(m["session"], session);
        assert_eq!(m["tab"], "tab");
        for e in m["events"].as_array().unwrap() {
            if e["type"] == 2 {
                let text = e.to_string();
                assert!(text.len() > SNAPSHOT_BYTES, "the whole snapshot");
            }
            seen.push((
                e["type"].as_i64().unwrap(),
                e["timestamp"].as_i64().unwrap(),
            ));
        }
        if seen.last().is_some_and(|&(_, ts)| ts == last_ts) {
            return seen;
        }
    }
}

/// The visitor's tracker never answers `snapshot`: the test's tracker
/// only sends batches and reads acks, and fails on any other message.
async fn join_with_a_silent_tracker(cut_between: bool) {
    let app = spawn_app_with(|c| {
        // A segment is cut as soon as a buffer holds 64 KiB: right after
        // the snapshot's batch.
        if cut_between {
            c.segments.max_bytes = 64 * 1024;
        }
    })
    .await;
    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    t.batch_acked(
        1,
        &[
            ev::click(T0 + 1, 1),
            ev::meta(T0 + 2, "https://shop.example/docs"),
            big_snapshot(T0 + 3),
        ],
    )
    .await;
    t.batch_acked(2, &[ev::click(T0 + 4, 2)]).await;
    if cut_between {
        // The snapshot's segment is committed (and its batches trimmed
        // from the spool) before the viewer joins.
        app.wait_session(&session, "the snapshot's segment", |v| {
            v["segments"].as_i64() >= Some(1)
        })
        .await;
    }
    t.batch_acked(3, &[ev::click(T0 + 5, 3)]).await;

    let mut live = Live::connect(&app.node.addr.to_string(), &app.token).await;
    live.send(json!({"t": "watch", "session": session})).await;
    let first = watched_until(&mut live, &session, T0 + 5).await;
    assert_eq!(
        first,
        vec![(4, T0 + 2), (2, T0 + 3), (3, T0 + 4), (3, T0 + 5)],
        "Meta, the full snapshot, then what followed, once each"
    );
    // The tracker is not asked for a snapshot: the next thing it hears is
    // the ack of its next batch.
    t.send_batch(4, &[ev::click(T0 + 6, 4)]).await;
    let m: Value = t.recv().await;
    assert_eq!(m, json!({"t": "ack", "seq": 4}), "no snapshot request");
    let live_part = watched_until(&mut live, &session, T0 + 6).await;
    assert_eq!(live_part, vec![(3, T0 + 6)], "the live click, once");
}

#[actix_web::test]
async fn a_watcher_starts_from_the_nodes_copy_of_a_600_kib_snapshot_without_asking_the_tracker() {
    join_with_a_silent_tracker(false).await;
}

#[actix_web::test]
async fn a_watcher_starts_from_the_nodes_copy_also_after_a_segment_cut_between_snapshot_and_join() {
    join_with_a_silent_tracker(true).await;
}

/// Join-to-first-frame for a 600 KiB snapshot (docs/PERFORMANCE.md,
/// "Live"): the time from sending `watch` to receiving the events that
/// hold the full snapshot, over 20 joins of fresh live sockets.
/// `cargo test --test node join_to_first_frame -- --ignored --nocapture`
#[actix_web::test]
#[ignore]
async fn join_to_first_frame() {
    let app = spawn_app().await;
    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    t.batch_acked(
        0,
        &[
            ev::meta(T0, "https://shop.example/docs"),
            big_snapshot(T0 + 1),
        ],
    )
    .await;
    let mut times = Vec::new();
    for n in 0..20u32 {
        t.batch_acked(u64::from(n) + 1, &[ev::click(T0 + 2 + i64::from(n), n)])
            .await;
        let mut live = Live::connect(&app.node.addr.to_string(), &app.token).await;
        let start = std::time::Instant::now();
        live.send(json!({"t": "watch", "session": session})).await;
        let m = live
            .until("the snapshot", |m| {
                m["t"] == "events" && m["events"][1]["type"] == 2
            })
            .await;
        times.push(start.elapsed());
        assert_eq!(m["events"][0]["type"], 4);
    }
    times.sort();
    println!(
        "join-to-first-frame, {} KiB snapshot, {} joins: median {:?}, min {:?}, max {:?}",
        SNAPSHOT_BYTES / 1024,
        times.len(),
        percentile(&times, 0.5),
        times[0],
        times[times.len() - 1]
    );
}
