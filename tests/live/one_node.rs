//! One node, in-process bus: presence and watching end to end.

use std::time::Duration;

use serde_json::{json, Value};

use crate::client::*;
use crate::support::*;

fn meta(ts: i64) -> String {
    ev::meta(ts, "https://shop.example/cart")
}

/// A tracker with a first page (Meta + full snapshot) sent and acked.
async fn visitor(app: &TestNode, v: &str) -> (Tracker, String) {
    let mut t = app.tracker(v).await;
    let session = t.hello(v, None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    t.batch_acked(0, &[meta(T0), ev::full_snapshot(T0 + 1, "cart page")])
        .await;
    (t, session)
}

#[actix_web::test]
async fn presence_shows_joins_updates_and_leaves() {
    let app = spawn_app().await;
    let addr = app.node.addr.to_string();
    let mut live = Live::connect(&addr, &app.token).await;
    live.send(json!({"t": "presence", "site": app.site_id}))
        .await;
    let snap = live.recv().await;
    assert_eq!(
        snap,
        json!({"t": "presence_snapshot", "site": app.site_id, "sessions": []})
    );

    let (mut t, session) = visitor(&app, "v1").await;
    let join = live.until("join", |m| m["t"] == "presence_join").await;
    let p = &join["session"];
    assert_eq!(p["session"], session.as_str());
    assert_eq!(p["visitor"], "v1");
    assert_eq!(p["title"], "Shop");
    assert_eq!(p["node"], app.node.state.node_id.as_str());
    assert!(p["started_at"].as_i64().unwrap() > 0);

    // The page's Meta moves the visitor to /cart; identify names them.
    t.send_json(&json!({"t": "identify", "user_id": "u-7"}))
        .await;
    let upd = live
        .until("update with user", |m| {
            m["t"] == "presence_update" && m["session"]["user_id"] == "u-7"
        })
        .await;
    assert_eq!(upd["session"]["url"], "https://shop.example/cart");

    // A second client gets the snapshot with the visitor in it.
    let mut other = Live::connect(&addr, &app.token).await;
    other
        .send(json!({"t": "presence", "site": app.site_id}))
        .await;
    let snap = other.recv().await;
    assert_eq!(snap["sessions"][0]["session"], session.as_str());

    // The visitor leaves: gone from presence after the grace period.
    t.close().await;
    let leave = live.until("leave", |m| m["t"] == "presence_leave").await;
    assert_eq!(
        leave,
        json!({"t": "presence_leave", "site": app.site_id, "session": session})
    );
}

#[actix_web::test]
async fn a_watcher_starts_from_the_snapshot_and_follows_live() {
    let app = spawn_app().await;
    let addr = app.node.addr.to_string();
    let (mut t, session) = visitor(&app, "v").await;
    t.batch_acked(1, &[ev::click(T0 + 10, 1)]).await;

    let mut live = Live::connect(&addr, &app.token).await;
    live.send(json!({"t": "watch", "session": session})).await;
    // First: the tab's Meta, full snapshot and the events after them.
    let first = live.until("events", |m| m["t"] == "events").await;
    assert_eq!(first["session"], session.as_str());
    assert_eq!(first["tab"], "tab");
    let kinds: Vec<i64> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_i64().unwrap())
        .collect();
    assert_eq!(kinds, vec![4, 2, 3], "{first}");
    // The node had the snapshot: the tracker is not asked for one (the
    // next thing it hears is its next ack). What the visitor does next
    // reaches the watcher, as sent.
    t.batch_acked(2, &[ev::click(T0 + 20, 42)]).await;
    let next = live.until("the click", |m| m["t"] == "events").await;
    assert_eq!(next["events"][0]["data"]["id"], 42, "{next}");
    assert_eq!(next["events"][0]["timestamp"], T0 + 20);

    // Bad requests get an error; the socket stays open.
    live.send(json!({"t": "watch", "session": "nope"})).await;
    let e = live.until("error", |m| m["t"] == "error").await;
    assert_eq!(e["code"], "not_found");
    live.send(json!({"t": "presence", "site": 999_999})).await;
    let e = live.until("error", |m| m["t"] == "error").await;
    assert_eq!(e["code"], "not_found");
    live.send(json!({"t": "shout"})).await;
    let e = live.until("error", |m| m["t"] == "error").await;
    assert_eq!(e["code"], "bad_message");
    t.batch_acked(3, &[ev::click(T0 + 30, 43)]).await;
    let next = live.until("the next click", |m| m["t"] == "events").await;
    assert_eq!(next["events"][0]["data"]["id"], 43);
}

#[actix_web::test]
async fn the_live_socket_needs_a_token_or_a_sign_in_cookie() {
    let app = spawn_app().await;
    let url = format!("{}/v1/live", app.ws_base);
    let err = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(res) => assert_eq!(res.status(), 401),
        other => panic!("{other}"),
    }
    // The dashboard's way: a person signs in, the cookie opens the socket
    // (from the dashboard's own origin).
    app.create_user(
        "watcher@example.com",
        reel_protocol::accounts::Role::Viewer,
        None,
    )
    .await;
    let res = app
        .login("watcher@example.com", &password_for("watcher@example.com"))
        .await;
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = url.as_str().into_client_request().unwrap();
    req.headers_mut().insert("cookie", pair.parse().unwrap());
    req.headers_mut()
        .insert("origin", app.base.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    use futures_util::{SinkExt, StreamExt};
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        json!({"t": "presence", "site": app.site_id}).to_string(),
    ))
    .await
    .unwrap();
    let m = ws.next().await.unwrap().unwrap();
    let v: Value = serde_json::from_str(m.to_text().unwrap()).unwrap();
    assert_eq!(v["t"], "presence_snapshot");
}

/// A watcher that does not read is cut off when its queue is full; a
/// watcher that reads gets every event, and the visitor is not slowed.
#[actix_web::test]
async fn a_slow_watcher_is_cut_off_and_others_are_not_affected() {
    let app = spawn_app_with(|c| {
        c.limits.session_bytes_per_sec = 1 << 30;
        c.limits.session_bytes_burst = 1 << 30;
        c.limits.session_messages_per_sec = 100_000;
        c.limits.session_messages_burst = 100_000;
        c.limits.max_session_bytes = 1 << 40;
    })
    .await;
    let addr = app.node.addr.to_string();
    let (mut t, session) = visitor(&app, "v").await;
    let mut slow = Live::connect_small_buffer(&addr, &app.token).await;
    slow.send(json!({"t": "watch", "session": session})).await;
    let mut fast = Live::connect(&addr, &app.token).await;
    fast.send(json!({"t": "watch", "session": session})).await;
    // Both watches are registered once the fast one sees the catch-up.
    fast.until("catch-up", |m| m["t"] == "events").await;
    // More messages than the live queue, the WebSocket's channel and the
    // socket buffers hold together.
    const BATCHES: u32 = 450;
    let big = "x".repeat(200 * 1024);
    let reader = tokio::spawn(async move {
        let mut clicks = 0u32;
        while clicks < BATCHES {
            let m = fast.recv().await;
            if m["t"] == "events" {
                clicks += m["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["type"] == 3)
                    .count() as u32;
            }
        }
        clicks
    });
    let mut seq = 1;
    let mut acked = 0;
    while acked < BATCHES {
        t.send_batch(seq, &[ev::input(T0 + seq as i64, 3, &big)])
            .await;
        seq += 1;
        // Acks (and the snapshot requests) come back; read what is there.
        loop {
            let m = t.recv().await;
            if m["t"] == "ack" {
                acked += 1;
                break;
            }
        }
    }
    assert_eq!(
        reader.await.unwrap(),
        BATCHES,
        "the reading watcher got every event"
    );
    // The slow one was cut off: its socket ends (after a watch_ended).
    loop {
        match slow.next(Duration::from_secs(30)).await {
            None => break,
            Some(m) if m["t"] == "watch_ended" => assert_eq!(m["reason"], "too_slow"),
            Some(_) => {}
        }
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("reel_live_slow_clients_total") && !l.ends_with(" 0")),
        "the slow client was counted"
    );
}

/// A session that ends (here: inactivity) leaves presence at once and ends
/// its watches with `session_ended`.
#[actix_web::test]
async fn an_ending_session_leaves_presence_and_ends_its_watches() {
    let app = spawn_app_with(|c| c.limits.inactivity_timeout_ms = 1_500).await;
    let addr = app.node.addr.to_string();
    let mut live = Live::connect(&addr, &app.token).await;
    live.send(json!({"t": "presence", "site": app.site_id}))
        .await;
    assert_eq!(live.recv().await["t"], "presence_snapshot");
    let (_t, session) = visitor(&app, "v").await;
    live.until("join", |m| m["t"] == "presence_join").await;
    live.send(json!({"t": "watch", "session": session})).await;
    live.until("catch-up", |m| m["t"] == "events").await;
    // The tracker stays connected and sends nothing: the session ends.
    let mut left = false;
    let mut ended = false;
    while !(left && ended) {
        let m = live.recv().await;
        match m["t"].as_str() {
            Some("presence_leave") => left = m["session"] == session.as_str(),
            Some("watch_ended") => {
                assert_eq!(m["reason"], "session_ended", "{m}");
                ended = true;
            }
            _ => {}
        }
    }
}
