//! Recording round trips: what goes in comes out byte for byte.

use serde_json::json;

use crate::support::*;

#[actix_web::test]
async fn two_tabs_three_page_loads_round_trip_byte_identical() {
    let app = spawn_app().await;
    let visitor = "visitor-1";

    // Tab A, first page load.
    let a1 = vec![
        ev::meta(T0, "https://shop.example/"),
        ev::full_snapshot(T0 + 1, "Home"),
        ev::click(T0 + 100, 3),
    ];
    let a2 = vec![ev::input(T0 + 300, 5, "**"), ev::mouse_move(T0 + 400)];
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, None, "tab-A", None).await;
    assert_eq!(w["next_seq"], 0);
    assert_eq!(w["tab"], "tab-A");
    assert_eq!(w["settings"]["mask_all_inputs"], true);
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &a1).await;
    t.batch_acked(1, &a2).await;
    t.send_json(&json!({"t": "identify", "user_id": "user-42", "traits": {"plan": "pro"}}))
        .await;
    t.end(1).await;
    t.close().await;

    // Tab B opens in between (second tab of the same session).
    let b1 = vec![
        ev::meta(T0 + 150, "https://shop.example/cart"),
        ev::full_snapshot(T0 + 151, "Cart"),
        ev::click(T0 + 400, 9),
    ];
    let b2 = vec![ev::console_error(T0 + 2_000)];
    let mut tb = app.tracker(visitor).await;
    let wb = tb.hello(visitor, Some(&session), "tab-B", None).await;
    assert_eq!(wb["session"], session.as_str());
    assert_eq!(wb["next_seq"], 0);
    tb.batch_acked(0, &b1).await;
    tb.batch_acked(1, &b2).await;
    tb.end(1).await;
    tb.close().await;

    // Tab A, second page load: seq continues.
    let a3 = vec![
        ev::meta(T0 + 1_000, "https://shop.example/checkout"),
        ev::full_snapshot(T0 + 1_001, "Checkout"),
        ev::click(T0 + 1_500, 7),
    ];
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, Some(&session), "tab-A", Some(1)).await;
    assert_eq!(w["session"], session.as_str());
    assert_eq!(w["next_seq"], 2);
    t.batch_acked(2, &a3).await;
    t.end(2).await;
    t.close().await;

    let tab_a: Vec<String> = [a1, a2, a3].concat();
    let tab_b: Vec<String> = [b1, b2].concat();
    assert_eq!(app.events(&session, Some("tab-A")).await, ndjson(&tab_a));
    assert_eq!(app.events(&session, Some("tab-B")).await, ndjson(&tab_b));

    // Merged: by timestamp, each tab's order kept, ties to the earlier tab.
    let mut merged: Vec<(i64, usize, usize, &String)> = Vec::new();
    for (tab, events) in [&tab_a, &tab_b].iter().enumerate() {
        for (i, e) in events.iter().enumerate() {
            let ts = serde_json::from_str::<serde_json::Value>(e).unwrap()["timestamp"]
                .as_i64()
                .unwrap();
            merged.push((ts, tab, i, e));
        }
    }
    merged.sort();
    let expected: Vec<String> = merged.into_iter().map(|m| m.3.clone()).collect();
    let got = app.events(&session, None).await;
    assert_eq!(got, ndjson(&expected));
    let ts = timestamps(&got);
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));

    // The index row counts what streamed by.
    let info = app.get_json(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(info["page_loads"], 3);
    assert_eq!(info["clicks"], 3);
    assert_eq!(info["keypresses"], 1);
    assert_eq!(info["console_errors"], 1);
    assert_eq!(info["events"], (tab_a.len() + tab_b.len()) as i64);
    assert_eq!(
        info["raw_bytes"],
        (ndjson(&tab_a).len() + ndjson(&tab_b).len()) as i64
    );
    assert!(info["stored_bytes"].as_i64().unwrap() > 0);
    assert_eq!(info["user_id"], "user-42");
    assert_eq!(info["user_traits"]["plan"], "pro");
    assert_eq!(info["first_url"], "https://shop.example/");
    assert_eq!(
        info["urls"],
        json!([
            "https://shop.example/",
            "https://shop.example/cart",
            "https://shop.example/checkout"
        ])
    );
    assert_eq!(info["tabs"], json!(["tab-A", "tab-B"]));
    // `live` (presence) is asserted in search.rs: the trackers closed here.
    assert_eq!(info["screen_w"], 1280);
}

#[actix_web::test]
async fn keypresses_count_the_keys_typed_not_the_throttled_input_events() {
    let app = spawn_app().await;
    let visitor = "visitor-typing";
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, None, "tab-A", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    // "Alice" typed into a masked field; the tracker sends at most one
    // input event per field every 100 ms, with the whole (masked) value.
    t.batch_acked(
        0,
        &[
            ev::meta(T0, "https://shop.example/checkout"),
            ev::full_snapshot(T0 + 1, "Checkout"),
            ev::input(T0 + 100, 5, "*"),
            ev::input(T0 + 200, 5, "***"),
        ],
    )
    .await;
    // The same field in the next batch (2 keys, then a backspace), and a
    // prefilled field typed into once.
    t.batch_acked(
        1,
        &[
            ev::input(T0 + 300, 5, "*****"),
            ev::input(T0 + 400, 5, "****"),
            ev::input(T0 + 500, 6, "WELCOME10"),
        ],
    )
    .await;
    // The next page numbers its nodes anew: node 5 is another field.
    t.batch_acked(
        2,
        &[
            ev::meta(T0 + 1_000, "https://shop.example/thanks"),
            ev::full_snapshot(T0 + 1_001, "Thanks"),
            ev::input(T0 + 1_100, 5, "ab"),
        ],
    )
    .await;
    t.end(2).await;
    t.close().await;

    let info = app.get_json(&format!("/api/v1/sessions/{session}")).await;
    assert_eq!(info["keypresses"], (1 + 2) + (2 + 1 + 1) + 1);
}

#[actix_web::test]
async fn gzip_binary_frames_store_the_same_bytes() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let app = spawn_app().await;
    let mut t = app.tracker("v-gz").await;
    let w = t.hello("v-gz", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    let events = vec![
        ev::meta(T0, "https://shop.example/"),
        ev::full_snapshot(T0 + 1, "Zipped"),
    ];
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(batch_json(0, &events).as_bytes()).unwrap();
    use futures_util::SinkExt;
    t.ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        enc.finish().unwrap(),
    ))
    .await
    .unwrap();
    t.expect_ack(0).await;
    t.end(0).await;
    assert_eq!(app.events(&session, Some("tab")).await, ndjson(&events));
}

#[actix_web::test]
async fn resend_after_reconnect_stores_nothing_twice() {
    let app = spawn_app().await;
    let v = "visitor-resend";
    let batches: Vec<Vec<String>> = (0..6)
        .map(|i| {
            vec![
                ev::click(T0 + i * 10, i as u32),
                ev::mouse_move(T0 + i * 10 + 1),
            ]
        })
        .collect();
    let mut t = app.tracker(v).await;
    let w = t.hello(v, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &batches[0]).await;
    // Sent and acked, but the connection drops and the client loses the
    // acks of 1 and 2 (it persisted only the ack of 0).
    t.batch_acked(1, &batches[1]).await;
    t.batch_acked(2, &batches[2]).await;
    drop(t);

    // The client only holds the ack of 0; the server knows 1 and 2.
    let mut t = app.tracker(v).await;
    let w = t.hello(v, Some(&session), "tab", Some(0)).await;
    assert_eq!(w["session"], session.as_str());
    assert_eq!(w["next_seq"], 3);
    // A client that resends anyway gets its duplicates acked again.
    t.batch_acked(1, &batches[1]).await;
    t.batch_acked(2, &batches[2]).await;
    for seq in 3..6 {
        t.batch_acked(seq, &batches[seq as usize]).await;
    }
    // And a duplicate of a batch in a committed segment too.
    t.end(5).await;
    t.batch_acked(4, &batches[4]).await;
    t.end(5).await;

    let got = app.events(&session, Some("tab")).await;
    assert_eq!(got, ndjson(&batches.concat()));
    assert!(line_counts(&got).values().all(|&n| n == 1));
}

#[actix_web::test]
async fn acked_above_what_the_node_holds_continues_from_there() {
    // Failover: another node acked 0..=4; this one never saw them.
    let app = spawn_app().await;
    let v = "v-failover";
    let mut t = app.tracker(v).await;
    let w = t.hello(v, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    t.close().await;
    let mut t = app.tracker(v).await;
    let w = t.hello(v, Some(&session), "tab", Some(4)).await;
    assert_eq!(w["next_seq"], 5);
    t.batch_acked(5, &[ev::click(T0 + 5, 1)]).await;
    t.end(5).await;
}

#[actix_web::test]
async fn a_session_of_another_visitor_or_site_is_not_continued() {
    let app = spawn_app().await;
    let mut t = app.tracker("owner").await;
    let w = t.hello("owner", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;

    let mut other = app.tracker("intruder").await;
    let w2 = other.hello("intruder", Some(&session), "tab", None).await;
    assert_ne!(w2["session"], session.as_str());
    assert_eq!(w2["next_seq"], 0);
    // The owner's session is untouched.
    t.batch_acked(1, &[ev::click(T0 + 1, 1)]).await;
}

/// A tab's batches are compressed one zstd frame each as they arrive, and
/// the segment object is those frames one after the other: the events
/// route reads it back byte for byte, any streaming decoder reads it
/// whole, and its batch ends are offsets in the raw NDJSON.
#[actix_web::test]
async fn a_segment_of_many_batches_is_many_frames_read_back_byte_identical() {
    use std::io::Read;

    let app = spawn_app().await;
    let mut t = app.tracker("v-frames").await;
    let w = t.hello("v-frames", None, "t1", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    let mut batches = vec![vec![
        ev::meta(T0, "https://a.example/é"),
        ev::full_snapshot(T0 + 1, "Home ✓ and more"),
    ]];
    for seq in 1..12i64 {
        batches.push(vec![
            ev::click(T0 + seq * 100, seq as u32),
            ev::mouse_move(T0 + seq * 100 + 1),
        ]);
    }
    for (seq, b) in batches.iter().enumerate() {
        t.batch_acked(seq as u64, b).await;
    }
    t.end(batches.len() as u64 - 1).await;
    let all: Vec<String> = batches.concat();
    assert_eq!(app.events(&session, Some("t1")).await, ndjson(&all));

    let res = app
        .get(&format!("/api/v1/sessions/{session}/segments"))
        .await;
    let segments: Vec<serde_json::Value> = res.json().await.unwrap();
    assert_eq!(segments.len(), 1, "one segment of 12 batches: {segments:?}");
    let seg = &segments[0];
    let mut end = 0;
    let expected_ends: Vec<u64> = batches
        .iter()
        .map(|b| {
            end += ndjson(b).len() as u64;
            end
        })
        .collect();
    let ends: Vec<u64> = seg["batch_ends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_u64().unwrap())
        .collect();
    assert_eq!(ends, expected_ends, "batch ends are raw NDJSON offsets");

    let blob = reel::app::open_blob_store(&app.node.state.config)
        .await
        .unwrap();
    let object = blob.get(seg["key"].as_str().unwrap()).await.unwrap();
    // The first frame alone is the first batch: the object is many frames.
    let mut first = Vec::new();
    zstd::stream::read::Decoder::new(&object[..])
        .unwrap()
        .single_frame()
        .read_to_end(&mut first)
        .unwrap();
    assert_eq!(first, ndjson(&batches[0]).into_bytes());
    assert_eq!(
        zstd::decode_all(&object[..]).unwrap(),
        ndjson(&all).into_bytes()
    );
}
