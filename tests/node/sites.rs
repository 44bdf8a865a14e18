//! Site administration (PROTOCOL.md §5 "Sites"): create and change sites
//! within every bound, organisation scope and roles, settings reaching
//! connected trackers within 5 s (through the node's own change, and
//! through the index poll alone), the capture_errors switch, new origins
//! on the next connection, and the install snippet.

use std::time::{Duration, Instant};

use reel_actors::traits::SiteUpdate;
use reel_protocol::site::{
    BLOCK_SELECTOR_MAX_BYTES, DEFAULT_RETENTION_DAYS, MAX_NETWORK_BODY_URLS, MAX_ORIGINS,
    MAX_REDACT_PARAMS, MAX_REDACT_PATTERNS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS,
    SITE_NAME_MAX_BYTES,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// Trackers get a site's new settings within this (PROTOCOL.md §5).
const SETTINGS_DEADLINE: Duration = Duration::from_secs(5);

fn site_path(id: &Value) -> String {
    format!("/api/v1/sites/{id}")
}

/// POSTs a site; asserts 201 and returns it.
async fn create(app: &TestNode, body: Value) -> Value {
    let (status, site) = app.api().send(Method::POST, "/api/v1/sites", &body).await;
    assert_eq!(status, 201, "{site}");
    site
}

/// PATCHes the site; returns the status and answer.
async fn patch(app: &TestNode, id: &Value, body: Value) -> (u16, Value) {
    app.api().send(Method::PATCH, &site_path(id), &body).await
}

/// Asserts a 400 `bad_request` whose message mentions `says`.
fn refused(answer: (u16, Value), says: &str) {
    let (status, body) = answer;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(says), "{message:?} does not say {says:?}");
}

/// The next message on `t` that is not an ack, within the settings deadline.
async fn next_settings(t: &mut Tracker) -> Value {
    let msg = tokio::time::timeout(SETTINGS_DEADLINE, async {
        loop {
            let m = t.recv().await;
            if m["t"] != "ack" {
                return m;
            }
        }
    })
    .await
    .expect("no settings message within 5 s");
    assert_eq!(msg["t"], "settings", "{msg}");
    msg
}

#[actix_web::test]
async fn sites_are_created_and_changed_within_every_bound() {
    let app = spawn_app().await;
    let site = create(
        &app,
        json!({"name": "  Shop  ", "origins": ["HTTPS://Shop.Example:443/", "http://localhost:8080"]}),
    )
    .await;
    assert_eq!(site["name"], "Shop");
    assert_eq!(
        site["allowed_origins"],
        json!(["https://shop.example", "http://localhost:8080"])
    );
    assert_eq!(site["retention_days"], DEFAULT_RETENTION_DAYS);
    assert!(site["site_key"].as_str().unwrap().starts_with("site_"));
    assert_eq!(site["settings"]["sample_rate"], 1.0);
    assert_eq!(site["settings"]["mask_all_inputs"], true);
    assert_eq!(site["settings"]["block_selector"], "");
    let id = &site["id"];

    // The name: 1 to 128 bytes.
    let api = app.api();
    let post = |body: Value| {
        let api = api.clone();
        async move { api.send(Method::POST, "/api/v1/sites", &body).await }
    };
    create(&app, json!({"name": "n".repeat(SITE_NAME_MAX_BYTES)})).await;
    refused(
        post(json!({"name": "n".repeat(SITE_NAME_MAX_BYTES + 1)})).await,
        "name",
    );
    refused(post(json!({"name": " "})).await, "name");
    refused(post(json!({"origins": []})).await, "name");
    // Origins: scheme://host[:port], http or https, at most MAX_ORIGINS.
    let many: Vec<String> = (0..=MAX_ORIGINS)
        .map(|i| format!("https://s{i}.example"))
        .collect();
    create(
        &app,
        json!({"name": "many", "origins": &many[..MAX_ORIGINS]}),
    )
    .await;
    refused(
        post(json!({"name": "too many", "origins": many})).await,
        "origins",
    );
    for bad in [
        "shop.example",
        "ftp://shop.example",
        "https://shop.example/path",
        "https://shop.example:99999",
    ] {
        refused(post(json!({"name": "x", "origins": [bad]})).await, bad);
        refused(patch(&app, id, json!({"origins": [bad]})).await, bad);
    }
    refused(post(json!({"name": "x", "colour": "red"})).await, "colour");

    // Rename and new origins.
    let (status, changed) = patch(
        &app,
        id,
        json!({"name": "Shop EU", "origins": ["https://eu.shop.example"]}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "Shop EU");
    assert_eq!(
        changed["allowed_origins"],
        json!(["https://eu.shop.example"])
    );
    refused(
        patch(
            &app,
            id,
            json!({"name": "n".repeat(SITE_NAME_MAX_BYTES + 1)}),
        )
        .await,
        "name",
    );
    refused(patch(&app, id, json!({"origins": many})).await, "origins");

    // Retention: 1 to 3650 days.
    for days in [MIN_RETENTION_DAYS, MAX_RETENTION_DAYS] {
        let (status, s) = patch(&app, id, json!({"retention_days": days})).await;
        assert_eq!((status, &s["retention_days"]), (200, &json!(days)));
    }
    for days in [MIN_RETENTION_DAYS - 1, MAX_RETENTION_DAYS + 1, -5] {
        refused(
            patch(&app, id, json!({"retention_days": days})).await,
            "retention_days",
        );
    }

    // Settings: only the admin's fields, each within its bounds.
    let (status, s) = patch(
        &app,
        id,
        json!({"settings": {"sample_rate": 0.0, "mask_text": false}}),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["settings"]["sample_rate"], 0.0);
    assert_eq!(s["settings"]["mask_text"], false);
    // Fields not given keep their values.
    let (_, s) = patch(&app, id, json!({"settings": {"sample_rate": 1.0}})).await;
    assert_eq!(s["settings"]["mask_text"], false);
    for rate in [-0.01, 1.01] {
        refused(
            patch(&app, id, json!({"settings": {"sample_rate": rate}})).await,
            "sample_rate",
        );
    }
    let sel = |n: usize| json!({"settings": {"block_selector": "a".repeat(n)}});
    let (status, _) = patch(&app, id, sel(BLOCK_SELECTOR_MAX_BYTES)).await;
    assert_eq!(status, 200);
    refused(
        patch(&app, id, sel(BLOCK_SELECTOR_MAX_BYTES + 1)).await,
        "block_selector",
    );
    let list = |field: &str, n: usize| {
        let items: Vec<String> = (0..n).map(|i| format!("https://a.example/{i}*")).collect();
        json!({"settings": {field: items}})
    };
    for (field, max) in [
        ("redact_params", MAX_REDACT_PARAMS),
        ("redact_patterns", MAX_REDACT_PATTERNS),
        ("network_body_urls", MAX_NETWORK_BODY_URLS),
    ] {
        let (status, s) = patch(&app, id, list(field, max)).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(s["settings"][field].as_array().unwrap().len(), max);
        refused(patch(&app, id, list(field, max + 1)).await, field);
    }
    refused(
        patch(&app, id, json!({"settings": {"maintenance": true}})).await,
        "maintenance",
    );
    refused(
        patch(&app, id, json!({"settings": {"batch_max_events": 1}})).await,
        "batch_max_events",
    );
    refused(patch(&app, id, json!({})).await, "nothing to change");
    refused(
        app.api()
            .send(Method::PATCH, &site_path(id), &json!("not an object"))
            .await,
        "JSON",
    );

    // The list shows what was set.
    let list = app.get_json("/api/v1/sites").await;
    let listed = list["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == *id)
        .unwrap()
        .clone();
    assert_eq!(listed["name"], "Shop EU");
    assert_eq!(listed["retention_days"], MAX_RETENTION_DAYS);
    assert_eq!(listed["settings"]["mask_text"], false);
    assert_eq!(
        listed["allowed_origins"],
        json!(["https://eu.shop.example"])
    );
}

#[actix_web::test]
async fn another_organisations_site_is_404_and_members_get_403() {
    let app = spawn_app().await;
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let other = index
        .create_token("other-org", "x", "admin", None)
        .await
        .unwrap()
        .1;
    let member = index
        .create_token("default", "m", "member", None)
        .await
        .unwrap()
        .1;
    let owner = index
        .create_token("default", "o", "owner", None)
        .await
        .unwrap()
        .1;
    index.close().await;
    let api = app.api();
    let mine = site_path(&json!(app.site_id));
    let rename = json!({"name": "taken over"});

    // Another organisation's admin: the site does not exist for it.
    let (status, body) = api.send_as(Method::PATCH, &mine, &other, &rename).await;
    assert_eq!((status, &body["error"]), (404, &json!("not_found")));
    let res = app.get_as(&format!("{mine}/snippet"), &other).await;
    assert_eq!(res.status(), 404);
    for missing in ["/api/v1/sites/999999", "/api/v1/sites/abc"] {
        let (status, _) = api.send(Method::PATCH, missing, &rename).await;
        assert_eq!(status, 404, "{missing}");
    }

    // A member may not administer sites; an owner may.
    let (status, body) = api
        .send_as(
            Method::POST,
            "/api/v1/sites",
            &member,
            &json!({"name": "m"}),
        )
        .await;
    assert_eq!((status, &body["error"]), (403, &json!("forbidden")));
    let (status, _) = api.send_as(Method::PATCH, &mine, &member, &rename).await;
    assert_eq!(status, 403);
    let (status, _) = api
        .send_as(Method::POST, "/api/v1/sites", &owner, &json!({"name": "o"}))
        .await;
    assert_eq!(status, 201);
    // No token at all.
    let (status, _) = api.send_as(Method::PATCH, &mine, "", &rename).await;
    assert_eq!(status, 401);

    // Nothing changed the site.
    let list = app.get_json("/api/v1/sites").await;
    assert_eq!(list["sites"][0]["name"], "test site");
}

#[actix_web::test]
async fn connected_trackers_get_new_settings_within_5_s() {
    let app = spawn_app().await;
    let mut t = app.tracker("v1").await;
    let w = t.hello("v1", None, "tab", None).await;
    assert_eq!(w["settings"]["mask_text"], true);
    assert_eq!(w["settings"]["capture_console"], true);
    assert_eq!(w["settings"]["network_body_urls"], json!([]));
    t.batch_acked(0, &[ev::click(T0, 1)]).await;

    let id = json!(app.site_id);
    let (status, _) = patch(
        &app,
        &id,
        json!({"settings": {"mask_text": false, "block_selector": ".card", "sample_rate": 0.5,
            "capture_network": false, "redact_params": ["sid"], "network_body_urls": ["*/api/*"]}}),
    )
    .await;
    assert_eq!(status, 200);
    let patched = Instant::now();
    let s = next_settings(&mut t).await;
    println!(
        "PATCH -> settings on the tracker: {:.1} ms",
        patched.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(s["mask_text"], false);
    assert_eq!(s["block_selector"], ".card");
    assert_eq!(s["sample_rate"], 0.5);
    assert_eq!(s["mask_all_inputs"], true);
    assert_eq!(s["capture_network"], false);
    assert_eq!(s["capture_console"], true);
    assert_eq!(s["redact_params"], json!(["sid"]));
    assert_eq!(s["network_body_urls"], json!(["*/api/*"]));
    // The node's own bounds come with them, as in welcome.
    assert_eq!(s["batch_max_events"], w["settings"]["batch_max_events"]);
    assert_eq!(s["max_frame_bytes"], w["settings"]["max_frame_bytes"]);
    assert_eq!(s["maintenance"], false);

    // A rename does not concern trackers: the next message is the next
    // settings change, not a repeat.
    let (status, _) = patch(&app, &id, json!({"name": "renamed"})).await;
    assert_eq!(status, 200);
    let (status, _) = patch(&app, &id, json!({"settings": {"mask_all_inputs": false}})).await;
    assert_eq!(status, 200);
    let s = next_settings(&mut t).await;
    assert_eq!(s["mask_all_inputs"], false);
    assert_eq!(s["mask_text"], false);

    // The session goes on.
    t.batch_acked(1, &[ev::click(T0 + 10, 1)]).await;

    // A new connection's welcome carries them.
    let mut t2 = app.tracker("v2").await;
    let w2 = t2.hello("v2", None, "tab", None).await;
    assert_eq!(w2["settings"]["mask_text"], false);
    assert_eq!(w2["settings"]["mask_all_inputs"], false);
    assert_eq!(w2["settings"]["block_selector"], ".card");
    assert_eq!(w2["settings"]["sample_rate"], 0.5);
}

#[actix_web::test]
async fn capture_errors_is_a_site_setting_that_reaches_trackers() {
    let app = spawn_app().await;
    let id = json!(app.site_id);
    // On by default: for a site stored before the setting, and a new one.
    let mut t = app.tracker("v1").await;
    let w = t.hello("v1", None, "tab", None).await;
    assert_eq!(w["settings"]["capture_errors"], true, "{w}");
    let new = create(&app, json!({"name": "new"})).await;
    assert_eq!(new["settings"]["capture_errors"], true, "{new}");

    // Not a boolean: refused.
    for bad in [json!("no"), json!(0)] {
        refused(
            patch(&app, &id, json!({"settings": {"capture_errors": bad}})).await,
            "expected a boolean",
        );
    }

    let (status, site) = patch(&app, &id, json!({"settings": {"capture_errors": false}})).await;
    assert_eq!(status, 200, "{site}");
    assert_eq!(site["settings"]["capture_errors"], false);
    // The other captures keep their values.
    assert_eq!(site["settings"]["capture_console"], true);
    assert_eq!(site["settings"]["capture_network"], true);
    // Connected trackers are told, new connections welcomed with it.
    let s = next_settings(&mut t).await;
    assert_eq!(s["capture_errors"], false, "{s}");
    let mut t2 = app.tracker("v2").await;
    let w2 = t2.hello("v2", None, "tab", None).await;
    assert_eq!(w2["settings"]["capture_errors"], false, "{w2}");
    // Stored: the list shows it.
    let list = app.get_json("/api/v1/sites").await;
    let listed = list["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(listed["settings"]["capture_errors"], false, "{listed}");

    let (status, site) = patch(&app, &id, json!({"settings": {"capture_errors": true}})).await;
    assert_eq!(
        (status, &site["settings"]["capture_errors"]),
        (200, &json!(true))
    );
    assert_eq!(next_settings(&mut t).await["capture_errors"], true);
}

#[actix_web::test]
async fn settings_reach_trackers_through_the_index_poll_alone() {
    // A change written straight to the index (as another node whose bus
    // hint was lost would leave it): no hint, no local cache update.
    let app = spawn_app().await;
    let mut t = app.tracker("v").await;
    t.hello("v", None, "tab", None).await;
    let index = reel::app::open_index(&app.node.state.config).await.unwrap();
    let org_id = app
        .node
        .state
        .index
        .site_by_key(&app.site_key)
        .await
        .unwrap()
        .unwrap()
        .org_id;
    let settings = reel_protocol::Settings {
        block_selector: "#ssn".into(),
        ..Default::default()
    };
    let changed = index
        .into_dyn()
        .update_site(
            org_id,
            app.site_id,
            &SiteUpdate {
                settings: Some(settings),
                ..SiteUpdate::default()
            },
        )
        .await
        .unwrap();
    assert!(changed.is_some());
    let written = Instant::now();
    let s = next_settings(&mut t).await;
    println!(
        "index write -> settings on the tracker (poll): {:.0} ms",
        written.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(s["block_selector"], "#ssn");
}

#[actix_web::test]
async fn new_origins_are_enforced_on_the_next_connection() {
    let app = spawn_app().await;
    let url = app.ingest_url("v");
    let old = "https://shop.example";
    let new = "https://www.shop.example";
    Tracker::connect(&url, Some(old)).await.unwrap();
    let refusal = Tracker::connect(&url, Some(new)).await.err().unwrap();
    assert_eq!(refusal.status, 403);

    let id = json!(app.site_id);
    let (status, _) = patch(&app, &id, json!({"origins": [format!("{new}/")]})).await;
    assert_eq!(status, 200);
    let refusal = Tracker::connect(&url, Some(old)).await.err().unwrap();
    assert_eq!(refusal.status, 403);
    assert_eq!(refusal.body["error"], "origin_not_allowed");
    let mut t = Tracker::connect(&url, Some(new)).await.unwrap();
    t.hello("v", None, "tab", None).await;

    // No origins: any origin.
    let (status, _) = patch(&app, &id, json!({"origins": []})).await;
    assert_eq!(status, 200);
    Tracker::connect(&url, Some("https://elsewhere.example"))
        .await
        .unwrap();
}

#[actix_web::test]
async fn the_snippet_loads_the_tracker_from_this_node_with_the_site_key() {
    let app = spawn_app().await;
    let snippet = app
        .get_json(&format!("/api/v1/sites/{}/snippet", app.site_id))
        .await;
    let want = format!(
        r#"<script async src="{}/t/loader.js" data-site="{}"></script>"#,
        app.base, app.site_key
    );
    assert_eq!(snippet["html"], want);
    // Through a proxy, the address the browser reaches.
    let res = app
        .http
        .get(format!("{}/api/v1/sites/{}/snippet", app.base, app.site_id))
        .bearer_auth(&app.token)
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "reel.example")
        .send()
        .await
        .unwrap();
    let html = res.json::<Value>().await.unwrap()["html"].clone();
    assert_eq!(
        html,
        format!(
            r#"<script async src="https://reel.example/t/loader.js" data-site="{}"></script>"#,
            app.site_key
        )
    );
}

#[actix_web::test]
async fn reel_site_create_checks_names_and_origins_as_the_api_does() {
    let app = spawn_app().await;
    let dir = app.dir.path();
    let (ok, _) = cli_lines(
        dir,
        &app.storage,
        &["site", "create", "--name", "x", "--origin", "shop.example"],
    );
    assert!(!ok, "an origin without a scheme was taken");
    let site = cli(
        dir,
        &app.storage,
        &[
            "site",
            "create",
            "--name",
            "cli",
            "--origin",
            "HTTPS://CLI.example/",
        ],
    );
    let list = app.get_json("/api/v1/sites").await;
    let listed = list["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == site["site_id"])
        .unwrap()
        .clone();
    assert_eq!(listed["allowed_origins"], json!(["https://cli.example"]));
    assert_eq!(listed["retention_days"], DEFAULT_RETENTION_DAYS);
}
