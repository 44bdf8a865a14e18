//! Session lifetime: inactivity and maximum duration end a session, and a
//! later `hello` naming it starts a new one.

use crate::support::*;

#[actix_web::test]
async fn inactivity_ends_the_session_and_the_next_hello_starts_a_new_one() {
    let app = spawn_app_with(|c| {
        c.limits.inactivity_timeout_ms = 400;
        c.sweep_interval_ms = 50;
    })
    .await;
    let mut t = app.tracker("v").await;
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 2)],
    )
    .await;
    // The open connection is told the session is over.
    t.expect_error_close("session_over", 4410).await;
    let info = app
        .wait_session(&session, "ended_at", |v| !v["ended_at"].is_null())
        .await;
    assert_eq!(info["live"], false);
    let ended = info["ended_at"].as_i64().unwrap();
    assert!(ended >= info["started_at"].as_i64().unwrap());
    // Buffered events were committed before the end.
    assert_eq!(info["events"], 2);
    assert_eq!(app.events(&session, Some("tab")).await.lines().count(), 2);

    let mut t = app.tracker("v").await;
    let w = t.hello("v", Some(&session), "tab", Some(0)).await;
    let next = w["session"].as_str().unwrap();
    assert_ne!(next, session);
    assert_eq!(w["next_seq"], 0);
}

#[actix_web::test]
async fn maximum_duration_ends_the_session() {
    let app = spawn_app_with(|c| {
        c.limits.max_session_duration_ms = 300;
        c.sweep_interval_ms = 50;
    })
    .await;
    let mut t = app.tracker("v").await;
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    // Keep it active: it ends anyway once past its maximum duration.
    let mut seq = 0;
    let error = loop {
        t.send_batch(seq, &[ev::click(T0 + seq as i64, 1)]).await;
        let m = t.recv().await;
        if m["t"] == "error" {
            break m;
        }
        assert_eq!(m["seq"], seq);
        seq += 1;
        // A tracker's pace, well under the message rate limit.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(error["code"], "session_over");
    app.wait_session(&session, "ended_at", |v| !v["ended_at"].is_null())
        .await;
}

#[actix_web::test]
async fn old_buffers_become_segments_without_an_end() {
    let app = spawn_app_with(|c| {
        c.segments.max_age_ms = 200;
        c.sweep_interval_ms = 50;
    })
    .await;
    let mut t = app.tracker("v").await;
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &[ev::click(T0, 1)]).await;
    let info = app
        .wait_session(&session, "a segment", |v| v["segments"] == 1)
        .await;
    assert_eq!(info["clicks"], 1);
}

#[actix_web::test]
async fn large_buffers_are_cut_into_segments() {
    let app = spawn_app_with(|c| c.segments.max_bytes = 4_000).await;
    let mut t = app.tracker("v").await;
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    let mut all = Vec::new();
    for seq in 0..10 {
        let batch: Vec<String> = (0..10)
            .map(|i| ev::input(T0 + seq * 10 + i, 1, "typing"))
            .collect();
        t.batch_acked(seq as u64, &batch).await;
        all.extend(batch);
    }
    t.end(9).await;
    let info = app.get_json(&format!("/api/v1/sessions/{session}")).await;
    let raw = ndjson(&all).len() as i64;
    assert!(info["segments"].as_i64().unwrap() >= raw / 4_000, "{info}");
    assert_eq!(app.events(&session, Some("tab")).await, ndjson(&all));
}
