//! The session list's filters over HTTP (PROTOCOL.md §7): bad values are
//! 400s that name the parameter, and "live" is presence, a tracker
//! connected now, in the list, its filter and the single session alike.
//! What each filter selects is asserted on both index backends in the
//! storage suite (tests/storage/search.rs).

use reel_protocol::api::{FILTER_AGENT_MAX_BYTES, FILTER_TEXT_MAX_BYTES, FILTER_TRACK_MAX_BYTES};
use serde_json::Value;

use crate::support::*;

fn ids(v: &Value) -> Vec<String> {
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[actix_web::test]
async fn bad_filters_are_400s_that_name_the_parameter() {
    let app = spawn_app().await;
    let path = |q: &str| format!("/api/v1/sites/{}/sessions?{q}", app.site_id);
    let long = |n: usize| "x".repeat(n);
    let bad = [
        ("trait=plan".to_string(), "trait"),
        ("trait=:pro".to_string(), "trait"),
        (
            format!("trait=k:{}", long(FILTER_TEXT_MAX_BYTES + 1)),
            "trait",
        ),
        (
            format!("browser={}", long(FILTER_AGENT_MAX_BYTES + 1)),
            "browser",
        ),
        (format!("os={}", long(FILTER_AGENT_MAX_BYTES + 1)), "os"),
        (
            format!("device={}", long(FILTER_AGENT_MAX_BYTES + 1)),
            "device",
        ),
        (
            format!("track={}", long(FILTER_TRACK_MAX_BYTES + 1)),
            "track",
        ),
        (
            format!("visitor_id={}", long(FILTER_TEXT_MAX_BYTES + 1)),
            "visitor_id",
        ),
        (format!("url={}", long(FILTER_TEXT_MAX_BYTES + 1)), "url"),
        ("error_contains=".to_string(), "error_contains"),
        ("live=maybe".to_string(), "live"),
        ("has_rage_clicks=2".to_string(), "has_rage_clicks"),
    ];
    for (q, param) in bad {
        let res = app.get(&path(&q)).await;
        assert_eq!(res.status(), 400, "{q}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "bad_request", "{q}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(param), "{q}: {message}");
    }
    // At the bounds, and every filter at once: fine.
    let all = format!(
        "browser={}&os=Linux&device=desktop&track={}&error_contains=TypeError&visitor_id=v\
         &trait=plan:pro&has_failed_requests=true&has_rage_clicks=false&has_dead_clicks=true&live=false",
        long(FILTER_AGENT_MAX_BYTES),
        long(FILTER_TRACK_MAX_BYTES)
    );
    let res = app.get(&path(&all)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(ids(&res.json().await.unwrap()), Vec::<String>::new());
}

/// Visitors who left looked live while their row stayed open (issue 12):
/// live is a tracker connected now, whatever `ended_at` says.
#[actix_web::test]
async fn live_means_a_tracker_is_connected_now() {
    let app = spawn_app().await;
    let mut t = app.tracker("v-live").await;
    let w = t.hello("v-live", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    let app = &app;
    let list = |q: &str| {
        let path = format!("/api/v1/sites/{}/sessions{q}", app.site_id);
        async move { app.get_json(&path).await }
    };
    // Connected: live in the row, the list and `live=true`.
    let info = app
        .wait_session(&session, "live", |v| v["live"] == true)
        .await;
    assert!(info["ended_at"].is_null());
    let all = list("").await;
    assert_eq!(ids(&all), std::slice::from_ref(&session));
    assert_eq!(all["sessions"][0]["live"], true);
    assert_eq!(
        ids(&list("?live=true").await),
        std::slice::from_ref(&session)
    );
    assert_eq!(ids(&list("?live=false").await), Vec::<String>::new());
    // The user agent filters match ASCII letters case-insensitively (the
    // test tracker sends no User-Agent: `UNKNOWN`).
    assert_eq!(
        ids(&list("?browser=unknown&live=true").await),
        std::slice::from_ref(&session)
    );

    // Gone: no longer live once presence lets it go, though the row is
    // still open (the session ends after its inactivity timeout).
    t.close().await;
    let info = app
        .wait_session(&session, "not live", |v| v["live"] == false)
        .await;
    assert!(info["ended_at"].is_null(), "{info}");
    let all = list("").await;
    assert_eq!(all["sessions"][0]["live"], false);
    assert_eq!(ids(&list("?live=true").await), Vec::<String>::new());
    assert_eq!(
        ids(&list("?live=false").await),
        std::slice::from_ref(&session)
    );
}

/// Ended: not live, in the row and the list.
#[actix_web::test]
async fn an_ended_session_is_not_live() {
    let app = spawn_app_with(|c| {
        c.limits.inactivity_timeout_ms = 400;
        c.sweep_interval_ms = 50;
    })
    .await;
    let mut t = app.tracker("v-end").await;
    let w = t.hello("v-end", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(0, &[ev::meta(T0, "https://shop.example/")])
        .await;
    t.expect_error_close("session_over", 4410).await;
    let info = app
        .wait_session(&session, "ended and not live", |v| {
            !v["ended_at"].is_null() && v["live"] == false
        })
        .await;
    assert_eq!(info["live"], false);
    let path = format!("/api/v1/sites/{}/sessions?live=false", app.site_id);
    let page = app.get_json(&path).await;
    assert_eq!(ids(&page), [session]);
    assert_eq!(page["sessions"][0]["live"], false);
}
