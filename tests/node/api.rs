//! The replay API: authentication, organisation scope, list filters and
//! cursor paging.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::support::*;

async fn record(app: &TestNode, visitor: &str, events: &[String], user: Option<&str>) -> String {
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, None, "tab", None).await;
    if let Some(u) = user {
        t.send_json(&json!({"t": "identify", "user_id": u})).await;
    }
    t.batch_acked(0, events).await;
    t.end(0).await;
    t.close().await;
    w["session"].as_str().unwrap().to_string()
}

#[actix_web::test]
async fn api_needs_a_token_of_the_right_organisation() {
    let app = spawn_app().await;
    let session = record(&app, "v", &[ev::click(T0, 1)], None).await;
    let rel = format!("/api/v1/sessions/{session}");
    let path = format!("{}{rel}", app.base);
    let res = app.http.get(&path).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthenticated"
    );
    let res = app
        .http
        .get(&path)
        .bearer_auth("reel_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);

    // A token of another organisation sees nothing of this one.
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let other = index
        .create_token("other-org", "x", "admin", None)
        .await
        .unwrap()
        .1;
    let res = app.get_as(&rel, &other).await;
    assert_eq!(res.status(), 404);
    let res = app.get_as(&format!("{rel}/events"), &other).await;
    assert_eq!(res.status(), 404);
    let list = format!("/api/v1/sites/{}/sessions", app.site_id);
    let res = app.get_as(&list, &other).await;
    assert_eq!(res.status(), 404);
    // A member token of this organisation reads.
    let member = index
        .create_token("default", "m", "member", None)
        .await
        .unwrap()
        .1;
    let res = app.get_as(&rel, &member).await;
    assert_eq!(res.status(), 200);
}

#[actix_web::test]
async fn session_list_filters_and_pages() {
    let app = spawn_app().await;
    let plain = record(
        &app,
        "a",
        &[
            ev::meta(T0, "https://shop.example/shoes"),
            ev::click(T0 + 10, 1),
        ],
        None,
    )
    .await;
    let errors = record(
        &app,
        "b",
        &[
            ev::meta(T0, "https://shop.example/cart?x=50%"),
            ev::console_error(T0 + 5),
        ],
        None,
    )
    .await;
    let user = record(
        &app,
        "c",
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
        Some("user-7"),
    )
    .await;
    // Let identify land (it is written in the background).
    app.wait_session(&user, "user id", |v| v["user_id"] == "user-7")
        .await;

    let app = &app;
    let list = |q: &str| {
        let path = format!("/api/v1/sites/{}/sessions{q}", app.site_id);
        async move { app.get_json(&path).await }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    // Newest first.
    assert_eq!(
        ids(&list("").await),
        vec![user.clone(), errors.clone(), plain.clone()]
    );
    assert_eq!(ids(&list("?has_errors=true").await), vec![errors.clone()]);
    assert_eq!(ids(&list("?user_id=user-7").await), vec![user.clone()]);
    assert_eq!(ids(&list("?url=shoes").await), vec![plain.clone()]);
    // LIKE wildcards in the filter are literal.
    assert_eq!(ids(&list("?url=50%25").await), vec![errors.clone()]);
    assert_eq!(ids(&list("?url=_").await), Vec::<String>::new());
    assert_eq!(
        ids(&list("?min_duration_ms=3600000").await),
        Vec::<String>::new()
    );
    let now = reel_actors::now_ms();
    assert_eq!(
        ids(&list(&format!("?from={}", now + 60_000)).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&list(&format!("?to={}", now + 60_000)).await).len(), 3);

    // Cursor paging visits every session once.
    let mut seen = Vec::new();
    let mut q = "?limit=2".to_string();
    loop {
        let page = list(&q).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => q = format!("?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec![user, errors, plain]);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 3);

    let res = app
        .get(&format!(
            "/api/v1/sites/{}/sessions?cursor=zzz",
            app.site_id
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app
        .get(&format!(
            "/api/v1/sites/{}/sessions?limit=lots",
            app.site_id
        ))
        .await;
    assert_eq!(res.status(), 400);
    let res = app.get("/api/v1/sites/999/sessions").await;
    assert_eq!(res.status(), 404);
}

#[actix_web::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    record(&app, "v", &[ev::click(T0, 1)], None).await;
    let res = app
        .http
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .http
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["index"], "ok");
    assert_eq!(body["blob_store"], "ok");
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "reel_batches_total",
        "reel_events_total",
        "reel_open_connections",
        "reel_live_sessions",
        "reel_segments_flushed_total",
        "reel_segment_flush_seconds_bucket",
        "reel_ack_delay_seconds_bucket",
        "reel_ingest_inflight_bytes",
        "reel_http_request_duration_seconds_bucket{",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    assert!(text.contains(r#"route="/healthz""#));
}

/// `GET /api/v1/sessions/{id}/segments`: the stored objects, readable as
/// zstd NDJSON; on S3 with presigning, each has a URL that fetches it
/// without credentials.
#[actix_web::test]
async fn segments_are_listed_with_presigned_urls_where_the_store_signs() {
    let app = spawn_app_with(|c| c.s3.presign_ttl_s = Some(300)).await;
    let events = vec![ev::full_snapshot(T0, "home"), ev::click(T0 + 1, 1)];
    let session = record(&app, "v", &events, None).await;
    let res = app
        .get(&format!("/api/v1/sessions/{session}/segments"))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-reel-session-writing"], "false");
    let segments: Vec<Value> = res.json().await.unwrap();
    assert_eq!(segments.len(), 1, "{segments:?}");
    let seg = &segments[0];
    assert_eq!(seg["tab"], "tab");
    assert_eq!(
        (seg["first_seq"].as_u64(), seg["last_seq"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(seg["event_count"], 2);
    // `{first_seq:020}-{last_seq:020}-{node}`: unique per writer.
    let key = seg["key"].as_str().unwrap();
    assert!(
        key.contains("/tab/00000000000000000000-00000000000000000000-")
            && key.ends_with(".ndjson.zst"),
        "{key}"
    );
    // One batch: it ends where the decompressed object ends.
    assert_eq!(seg["batch_ends"].as_array().map(Vec::len), Some(1));
    match seg["url"].as_str() {
        // Embedded defaults: the local blob store signs nothing.
        None => assert!(!on_postgres_s3(), "S3 with presign_ttl_s signs URLs"),
        Some(url) => {
            assert!(on_postgres_s3());
            // No bearer token: the signature is the credential.
            let body = reqwest::get(url).await.unwrap();
            assert_eq!(body.status(), 200);
            let bytes = body.bytes().await.unwrap();
            let text = String::from_utf8(zstd::decode_all(&bytes[..]).unwrap()).unwrap();
            assert_eq!(text, ndjson(&events));
        }
    }
}
