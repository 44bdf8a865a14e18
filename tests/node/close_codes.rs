//! Every row of the close-code table and of the pre-upgrade refusals,
//! provoked and answered as PROTOCOL.md says, while another session on the
//! same node keeps recording.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A session that records a batch every 20 ms until stopped; returns how
/// many batches were acked. Panics (failing the test) on any error.
/// Returns once the session has started.
async fn control_session(app: &TestNode) -> (oneshot::Sender<()>, tokio::task::JoinHandle<u64>) {
    let url = app.ingest_url("control");
    let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let mut t = Tracker::connect(&url, Some("https://shop.example"))
            .await
            .unwrap();
        t.hello("control", None, "tab", None).await;
        let _ = ready_tx.send(());
        let mut seq = 0;
        loop {
            t.batch_acked(seq, &[ev::click(T0 + seq as i64, 1)]).await;
            seq += 1;
            tokio::select! {
                _ = &mut stop_rx => break,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        t.end(seq - 1).await;
        seq
    });
    ready_rx.await.unwrap();
    (stop_tx, handle)
}

async fn started(app: &TestNode, visitor: &str) -> Tracker {
    let mut t = app.tracker(visitor).await;
    t.hello(visitor, None, "tab", None).await;
    t
}

#[actix_web::test]
async fn every_close_code_is_answered_while_other_sessions_keep_working() {
    let app = spawn_app_with(|c| {
        c.limits.frame_bytes = 64 * 1024;
        c.limits.decompressed_bytes = 256 * 1024;
        c.limits.batch_events = 50;
        c.limits.event_bytes = 16 * 1024;
        c.limits.max_session_bytes = 100_000;
        c.limits.idle_timeout_ms = 500;
        c.limits.ping_interval_ms = 100;
    })
    .await;
    let (stop, control) = control_session(&app).await;

    // 4400 bad_message: each way a message can be bad.
    let with = |field: &str, value: serde_json::Value| {
        let mut h = hello("v", None, "tab", None);
        h[field] = value;
        h
    };
    let bad = [
        (
            "first message not hello",
            json!({"t": "events", "seq": 0, "events": []}),
        ),
        ("unsupported v", with("v", json!(2))),
        ("wrong field type", with("tab", json!(7))),
        ("bad id", with("tab", json!("tab with spaces"))),
        ("unknown t", json!({"t": "subscribe"})),
        (
            "visitor differs from the URL",
            with("visitor", json!("someone-else")),
        ),
    ];
    for (what, msg) in bad {
        let mut t = app.tracker("v").await;
        t.send_json(&msg).await;
        let e = t.expect_error_close("bad_message", 4400).await;
        assert!(!e["message"].as_str().unwrap().is_empty(), "{what}");
    }
    let mut t = app.tracker("v").await;
    t.send_text("{not json").await;
    t.expect_error_close("bad_message", 4400).await;
    let mut t = app.tracker("v").await;
    t.ws.send(Message::Binary(b"\x1f\x8b\x08 not gzip".to_vec()))
        .await
        .unwrap();
    t.expect_error_close("bad_message", 4400).await;
    let mut t = started(&app, "v").await;
    t.send_json(&hello("v", None, "tab", None)).await;
    t.expect_error_close("bad_message", 4400).await;
    let mut t = started(&app, "v").await;
    t.send_text(r#"{"t":"events","seq":0,"events":[{"type":"x","timestamp":1}]}"#)
        .await;
    t.expect_error_close("bad_message", 4400).await;

    // 4409 seq_gap, then the reconnect learns where to resume.
    let mut t = app.tracker("gap").await;
    let w = t.hello("gap", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    t.send_batch(2, &[ev::click(T0 + 2, 1)]).await;
    t.expect_error_close("seq_gap", 4409).await;
    let mut t = app.tracker("gap").await;
    let w = t.hello("gap", Some(&session), "tab", Some(0)).await;
    assert_eq!(w["next_seq"], 1);
    t.batch_acked(1, &[ev::click(T0 + 1, 1)]).await;

    // 4413 too_large: a frame, a decompressed message, a batch, an event.
    let mut t = started(&app, "big").await;
    t.send_batch(
        0,
        &[format!(
            r#"{{"type":5,"timestamp":1,"data":"{}"}}"#,
            "x".repeat(70 * 1024)
        )],
    )
    .await;
    t.expect_error_close("too_large", 4413).await;
    let mut t = started(&app, "big").await;
    let bomb = {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 300 * 1024]).unwrap();
        enc.finish().unwrap()
    };
    t.ws.send(Message::Binary(bomb)).await.unwrap();
    t.expect_error_close("too_large", 4413).await;
    let mut t = started(&app, "big").await;
    t.send_batch(0, &vec![ev::click(T0, 1); 51]).await;
    t.expect_error_close("too_large", 4413).await;
    let mut t = started(&app, "big").await;
    t.send_batch(
        0,
        &[format!(
            r#"{{"type":5,"timestamp":1,"data":"{}"}}"#,
            "x".repeat(17 * 1024)
        )],
    )
    .await;
    t.expect_error_close("too_large", 4413).await;
    let mut t = started(&app, "big").await;
    t.send_json(&json!({"t": "identify", "user_id": "u".repeat(300)}))
        .await;
    t.expect_error_close("too_large", 4413).await;

    // 4410 session_over: past the maximum raw bytes.
    let mut t = started(&app, "heavy").await;
    let chunk = format!(
        r#"{{"type":5,"timestamp":1,"data":"{}"}}"#,
        "y".repeat(15 * 1024)
    );
    for seq in 0..6 {
        t.batch_acked(seq, &vec![chunk.clone(); 1]).await;
    }
    t.send_batch(6, &vec![chunk.clone(); 2]).await;
    t.expect_error_close("session_over", 4410).await;

    // 4429 rate_limited: over the message burst of one session.
    let mut t = started(&app, "fast").await;
    // Sent without waiting; the server may close before the last is out.
    for seq in 0..250 {
        let _ =
            t.ws.feed(Message::Text(batch_json(seq, &[ev::click(T0, 1)])))
                .await;
    }
    let _ = t.ws.flush().await;
    t.expect_error_close("rate_limited", 4429).await;

    // 4408 idle: a connection that answers nothing, not even pings.
    // The client stays silent (does not even read, so pings go unanswered)
    // for longer than the idle timeout.
    let mut t = started(&app, "idle").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let e = t.expect_error_close("idle", 4408).await;
    assert!(e["message"].as_str().unwrap().contains("500"));

    let acked = {
        let _ = stop.send(());
        control.await.unwrap()
    };
    assert!(
        acked > 10,
        "the control session kept recording: {acked} batches"
    );
}

#[actix_web::test]
async fn no_organisation_role_can_switch_maintenance_and_recording_continues() {
    let app = spawn_app().await;
    let (stop, control) = control_session(&app).await;
    let mut t = started(&app, "m").await;
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let member = index
        .create_token("default", "m", "member", None)
        .await
        .unwrap()
        .1;
    let other_admin = index
        .create_token("other-org", "x", "admin", None)
        .await
        .unwrap()
        .1;
    index.close().await;
    let post = |token: Option<&str>, body: serde_json::Value| {
        let mut req = app
            .http
            .post(format!("{}/api/v1/admin/maintenance", app.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    for token in [app.token.as_str(), member.as_str(), other_admin.as_str()] {
        for body in [
            json!({"enabled": true}),
            json!({"enabled": false}),
            json!({}),
        ] {
            let res = post(Some(token), body).await.unwrap();
            assert_eq!(res.status(), 403);
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["error"], "forbidden", "{body}");
        }
    }
    let res = post(None, json!({"enabled": true})).await.unwrap();
    assert_eq!(res.status(), 401);
    // Nothing changed: the open tracker, a new one and the control
    // session go on recording, and the node stays ready.
    t.batch_acked(1, &[ev::click(T0 + 1, 1)]).await;
    let mut n = started(&app, "n").await;
    n.batch_acked(0, &[ev::click(T0, 1)]).await;
    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let _ = stop.send(());
    assert!(control.await.unwrap() > 0);
}

#[actix_web::test]
async fn the_maintenance_start_flag_holds_the_node_in_maintenance() {
    // REEL_MAINTENANCE: refused from the first connection, whatever the
    // index's switch says (off here).
    let app = spawn_app_with(|c| c.maintenance = true).await;
    let refused = Tracker::connect(&app.ingest_url("m"), Some("https://shop.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.body["error"], "unavailable");
    assert!(refused.retry_after.unwrap().parse::<u64>().unwrap() > 0);
    let ready = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    // The operator's switch reads off, and the node stays in maintenance.
    let switch = app.node.state.index.maintenance().await.unwrap();
    assert!(!switch.enabled);
    assert!(!reel::maintenance::apply(&app.node.state, &switch));
    assert_eq!(app.node.state.phase(), reel::http::Phase::Maintenance);
}

#[actix_web::test]
async fn a_server_fault_closes_with_1011_and_others_keep_recording() {
    use sqlx::Connection;
    if on_postgres_s3() {
        // The fault provoked here is SQLite's schema changed under the node;
        // the Postgres run covers outages in tests/storage.
        eprintln!("skipped: the fault provoked is in SQLite's schema");
        return;
    }
    let app = spawn_app().await;
    let (stop, control) = control_session(&app).await;
    let mut other = started(&app, "other").await;
    // A column the node writes is gone: a new session's row fails at once,
    // for no reason of its own content, which is a fault of the server side
    // (not queued: no retry would help).
    let url = format!("sqlite://{}", app.dir.path().join("index.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("ALTER TABLE sessions RENAME COLUMN tz TO tz_lost")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut t = app.tracker("fault").await;
    t.send_json(&hello("fault", None, "tab", None)).await;
    t.expect_error_close("internal", 1011).await;
    // Sessions already open keep recording while the fault lasts.
    for seq in 0..5 {
        other
            .batch_acked(seq, &[ev::click(T0 + seq as i64, 1)])
            .await;
    }
    sqlx::query("ALTER TABLE sessions RENAME COLUMN tz_lost TO tz")
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = stop.send(());
    let acked = control.await.unwrap();
    assert!(
        acked >= 1,
        "the control session kept recording: {acked} batches"
    );
    // And the node works again.
    let mut t = started(&app, "after").await;
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
}

#[actix_web::test]
async fn a_session_the_index_cannot_take_now_is_welcomed_and_recorded_and_indexed_later() {
    use sqlx::Connection;
    if on_postgres_s3() {
        eprintln!("skipped: the slow index provoked is SQLite's lock");
        return;
    }
    let app = spawn_app().await;
    // Another process holds SQLite's write lock: a new session's row waits
    // OPEN_SESSION_TIMEOUT (2 s), under SQLite's busy timeout (5 s), and is
    // then queued in the outbox, so the tracker is welcomed and recorded.
    let url = format!("sqlite://{}", app.dir.path().join("index.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut t = app.tracker("locked").await;
    let welcome = t.hello("locked", None, "tab", None).await;
    let session = welcome["session"].as_str().unwrap().to_owned();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    t.end(0).await;
    // The queued row, then the tab's segment, reach the index.
    app.wait_session(&session, "the queued session's segment", |v| {
        v["segments"] == 1
    })
    .await;
    let events = app.events(&session, None).await;
    assert_eq!(events.lines().count(), 1, "{events}");
}

#[actix_web::test]
async fn refusals_before_the_upgrade() {
    let app = spawn_app_with(|c| c.limits.connections_per_ip = 3).await;
    // 401: unknown site.
    let url = format!("{}/v1/ingest?site=nope&visitor=v", app.ws_base);
    let r = Tracker::connect(&url, Some("https://shop.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "unknown_site");
    let url = format!("{}/v1/ingest?visitor=v", app.ws_base);
    assert_eq!(
        Tracker::connect(&url, None).await.err().unwrap().status,
        401
    );
    // 403: an origin the site does not list, or none.
    let r = Tracker::connect(&app.ingest_url("v"), Some("https://evil.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.body["error"], "origin_not_allowed");
    assert_eq!(
        Tracker::connect(&app.ingest_url("v"), None)
            .await
            .err()
            .unwrap()
            .status,
        403
    );
    // 429: too many connections from one address.
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(started(&app, "v").await);
    }
    let r = Tracker::connect(&app.ingest_url("v"), Some("https://shop.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.body["error"], "rate_limited");
    // The open ones still work; closing one frees a place.
    open[0].batch_acked(0, &[ev::click(T0, 1)]).await;
    open.pop().unwrap().close().await;
    wait_until_connectable(&app).await;
}

/// Polls (bounded) until a connection is accepted again after places freed.
async fn wait_until_connectable(app: &TestNode) {
    let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
    loop {
        match Tracker::connect(&app.ingest_url("v"), Some("https://shop.example")).await {
            Ok(t) => return t.close().await,
            Err(r) => {
                assert_eq!(r.status, 429);
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the place was never freed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[actix_web::test]
async fn byte_rate_connection_and_tab_limits() {
    let app = spawn_app_with(|c| {
        c.limits.session_bytes_per_sec = 5_000;
        c.limits.session_bytes_burst = 20_000;
        c.limits.connections_per_session = 2;
        c.limits.tabs_per_session = 3;
        c.limits.connections_per_site = 6;
    })
    .await;
    // Connections of one site.
    let mut open = Vec::new();
    for i in 0..6 {
        open.push(started(&app, &format!("s{i}")).await);
    }
    let r = Tracker::connect(&app.ingest_url("s9"), Some("https://shop.example"))
        .await
        .err()
        .unwrap();
    assert_eq!(r.status, 429);
    assert_eq!(r.body["message"], "too many connections for this site");
    for t in open {
        t.close().await;
    }
    wait_until_connectable(&app).await;

    // Bytes: the burst passes, then the sustained rate is enforced.
    let mut t = started(&app, "bytes").await;
    let event = format!(
        r#"{{"type":5,"timestamp":1,"data":"{}"}}"#,
        "z".repeat(4_000)
    );
    for seq in 0..4 {
        t.batch_acked(seq, std::slice::from_ref(&event)).await;
    }
    t.send_batch(4, &[event.clone(), event.clone()]).await;
    let e = t.expect_error_close("rate_limited", 4429).await;
    assert!(e["message"].as_str().unwrap().contains("bytes"));

    // Connections of one session.
    let mut a = app.tracker("multi").await;
    let w = a.hello("multi", None, "t1", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    let mut b = app.tracker("multi").await;
    b.hello("multi", Some(&session), "t2", None).await;
    let mut c = app.tracker("multi").await;
    c.send_json(&hello("multi", Some(&session), "t3", None))
        .await;
    c.expect_error_close("rate_limited", 4429).await;
    // Distinct tabs over the session's life.
    b.close().await;
    for tab in ["t2", "t3"] {
        let mut x = app.tracker("multi").await;
        x.hello("multi", Some(&session), tab, None).await;
        x.close().await;
    }
    let mut x = app.tracker("multi").await;
    x.send_json(&hello("multi", Some(&session), "t4", None))
        .await;
    let e = x.expect_error_close("rate_limited", 4429).await;
    assert!(e["message"].as_str().unwrap().contains("tabs"));
    // The session's first tab records on.
    a.batch_acked(0, &[ev::click(T0, 1)]).await;
}
