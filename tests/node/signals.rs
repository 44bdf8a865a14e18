//! Signals (PROTOCOL.md §7) computed as events stream in: failed requests,
//! rage and dead clicks, track names and console errors land on the
//! session row, and the presence entry carries them while it is live.

use futures_util::{SinkExt, StreamExt};
use reel_protocol::signals::{MAX_LIVE_TRACK_NAMES, MAX_TRACK_NAMES};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

fn network(ts: i64, status: &str, error: &str) -> String {
    format!(
        r#"{{"type":6,"timestamp":{ts},"data":{{"plugin":"reel/network@1","payload":{{"method":"GET","url":"https://shop.example/api","status":{status},"ok":false,"start":{ts},"duration_ms":12,"request_bytes":null,"response_bytes":null,"initiator":"fetch","error":{error}}}}}}}"#
    )
}

fn click_at(ts: i64, x: i64, y: i64) -> String {
    format!(
        r#"{{"type":3,"timestamp":{ts},"data":{{"source":2,"type":2,"id":7,"x":{x},"y":{y}}}}}"#
    )
}

fn mutation(ts: i64) -> String {
    format!(
        r#"{{"type":3,"timestamp":{ts},"data":{{"source":0,"texts":[],"attributes":[],"removes":[],"adds":[]}}}}"#
    )
}

fn track(ts: i64, name: &str) -> String {
    format!(
        r#"{{"type":5,"timestamp":{ts},"data":{{"tag":"track","payload":{{"name":"{name}","props":{{"plan":"pro"}}}}}}}}"#
    )
}

/// The next JSON text message of a live socket.
async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let msg = tokio::time::timeout(REPLY_TIMEOUT, ws.next())
            .await
            .expect("no live message in time")
            .expect("live socket ended")
            .expect("live socket failed");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[actix_web::test]
async fn signals_land_on_the_row_and_on_presence_while_live() {
    let app = spawn_app_with(|c| {
        c.limits.inactivity_timeout_ms = 2_000;
        c.sweep_interval_ms = 50;
    })
    .await;
    let mut live = app
        .open_live(&Cred::Bearer(app.token.clone()))
        .await
        .unwrap();
    live.send(Message::Text(
        json!({"t": "presence", "site": app.site_id}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut live).await["t"], "presence_snapshot");

    let mut t = app.tracker("v").await;
    let session = t.hello("v", None, "tab", None).await["session"]
        .as_str()
        .unwrap()
        .to_string();
    let mut events = vec![
        ev::meta(T0, "https://shop.example/"),
        ev::full_snapshot(T0 + 1, "shop"),
        // Two failed requests; a 4xx and requests the page aborted are not.
        network(T0 + 10, "500", "null"),
        network(T0 + 20, "0", r#""Failed to fetch""#),
        network(T0 + 30, "404", "null"),
        network(T0 + 31, "0", r#""aborted""#),
        network(T0 + 32, "0", r#""abort""#),
        // A rage burst: five clicks in 400 ms on one spot, each answered.
        ev::console_error(T0 + 40),
    ];
    for i in 0..5 {
        events.push(click_at(T0 + 100 + i * 100, 200 + i, 300));
        events.push(mutation(T0 + 101 + i * 100));
    }
    // A dead click: nothing happens for 1.5 s after it.
    events.push(click_at(T0 + 2_000, 600, 50));
    events.push(ev::mouse_move(T0 + 3_500));
    // More track names than the row keeps, and one sent twice.
    for i in 0..MAX_TRACK_NAMES + 5 {
        events.push(track(T0 + 4_000 + i as i64, &format!("step-{i:03}")));
    }
    events.push(track(T0 + 5_000, "step-000"));
    events.push(ev::console_error(T0 + 5_001));
    t.batch_acked(0, &events).await;

    // The live list sees the signals while the visitor is there, with the
    // first track names (bounded).
    let live_names: Vec<String> = (0..MAX_LIVE_TRACK_NAMES)
        .map(|i| format!("step-{i:03}"))
        .collect();
    let want = json!({"console_errors": 2, "failed_requests": 2, "rage_clicks": 1, "dead_clicks": 1, "track_events": live_names});
    loop {
        let m = next_json(&mut live).await;
        if m["t"] == "presence_update"
            && m["session"]["session"] == session.as_str()
            && m["session"]["signals"] == want
        {
            break;
        }
    }

    // Inactivity ends the session; its row holds the signals.
    t.expect_error_close("session_over", 4410).await;
    let info = app
        .wait_session(&session, "ended_at", |v| !v["ended_at"].is_null())
        .await;
    assert_eq!(info["console_errors"], 2, "{info}");
    assert_eq!(info["failed_requests"], 2, "{info}");
    assert_eq!(info["rage_clicks"], 1, "{info}");
    assert_eq!(info["dead_clicks"], 1, "{info}");
    let names: Vec<String> = (0..MAX_TRACK_NAMES)
        .map(|i| format!("step-{i:03}"))
        .collect();
    assert_eq!(info["track_events"], json!(names), "{info}");
    // The session list's row carries them too.
    let page = app
        .get_json(&format!("/api/v1/sites/{}/sessions", app.site_id))
        .await;
    let row = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == session.as_str())
        .expect("the session's row");
    assert_eq!(row["track_events"], json!(names), "{row}");
    assert_eq!(row["failed_requests"], 2, "{row}");
}

#[actix_web::test]
async fn each_row_of_a_session_list_page_carries_its_own_track_names() {
    let app = spawn_app().await;
    // Three sessions, started one after the other: names, none, names.
    let mut ids = Vec::new();
    for (i, names) in [&["signup", "cart"][..], &[][..], &["checkout"][..]]
        .into_iter()
        .enumerate()
    {
        let visitor = format!("v{i}");
        let mut t = app.tracker(&visitor).await;
        let session = t.hello(&visitor, None, "tab", None).await["session"]
            .as_str()
            .unwrap()
            .to_string();
        let t0 = T0 + i as i64 * 60_000;
        let mut events = vec![
            ev::meta(t0, "https://shop.example/"),
            ev::full_snapshot(t0 + 1, "shop"),
        ];
        for (j, name) in names.iter().enumerate() {
            events.push(track(t0 + 10 + j as i64, name));
            events.push(track(t0 + 20 + j as i64, name));
        }
        t.batch_acked(0, &events).await;
        t.send_json(&json!({"t": "end"})).await;
        app.wait_session(&session, "the track names committed", |v| {
            v["events"].as_u64() == Some(events.len() as u64)
                && v["track_events"].as_array().map(Vec::len) == Some(names.len())
        })
        .await;
        t.close().await;
        ids.push(session);
    }
    // Two pages, of two rows and one: each row has its own names.
    let list = format!("/api/v1/sites/{}/sessions?limit=2", app.site_id);
    let first = app.get_json(&list).await;
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second = app.get_json(&format!("{list}&cursor={cursor}")).await;
    let mut rows: Vec<Value> = first["sessions"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    rows.extend(second["sessions"].as_array().unwrap().iter().cloned());
    assert_eq!(rows.len(), 3);
    let names_of = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["track_events"].clone())
            .expect("a row")
    };
    // As the session itself lists them (first seen, then by name: these
    // two came in one batch).
    for id in &ids {
        let info = app.get_json(&format!("/api/v1/sessions/{id}")).await;
        assert_eq!(names_of(id), info["track_events"], "{id}");
    }
    assert_eq!(names_of(&ids[0]), json!(["cart", "signup"]));
    assert_eq!(names_of(&ids[1]), json!([]));
    assert_eq!(names_of(&ids[2]), json!(["checkout"]));
    // A filtered page too.
    let filtered = app
        .get_json(&format!(
            "/api/v1/sites/{}/sessions?track=cart",
            app.site_id
        ))
        .await;
    assert_eq!(filtered["sessions"][0]["id"], ids[0].as_str());
    assert_eq!(
        filtered["sessions"][0]["track_events"],
        json!(["cart", "signup"])
    );
}
