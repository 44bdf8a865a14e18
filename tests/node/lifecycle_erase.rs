//! The data lifecycle (PROTOCOL.md §6): retention deletes exactly the
//! expired, unpinned sessions and their objects; a deleted or erased
//! session answers 404 on every read route; a tracker naming it starts a
//! new session; and a node that held its batches in its spool when it was
//! killed brings none of it back when it restarts and drains.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

/// A day in ms.
const DAY: i64 = 24 * 3600 * 1000;

/// Records one ended session of `visitor` (identified as `user`, when
/// given) with two batches; returns its id.
async fn record(app: &TestNode, visitor: &str, user: Option<&str>) -> String {
    let mut t = app.tracker(visitor).await;
    let w = t.hello(visitor, None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    if let Some(u) = user {
        t.send_json(&json!({"t": "identify", "user_id": u})).await;
    }
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    t.batch_acked(1, &[ev::click(T0 + 2, 2)]).await;
    t.end(1).await;
    app.wait_session(&session, "its segment", |v| {
        v["segments"].as_i64() >= Some(1) && user.is_none_or(|u| v["user_id"] == u)
    })
    .await;
    session
}

/// The objects of `session` among `keys`.
fn of(keys: &[String], session: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k.contains(&format!("/{session}/")))
        .cloned()
        .collect()
}

/// Every read route of a session answers 404.
async fn gone_everywhere(app: &TestNode, session: &str) {
    let api = app.api();
    for route in ["", "/events", "/events?tab=tab", "/segments"] {
        let status = api
            .get(&format!("/api/v1/sessions/{session}{route}"))
            .await
            .status();
        assert_eq!(status, 404, "GET /api/v1/sessions/{session}{route}");
    }
    let list = api
        .json(&format!("/api/v1/sites/{}/sessions", app.site_id))
        .await;
    assert!(
        !list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == session),
        "{session} still listed"
    );
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{session}/pin"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn retention_deletes_exactly_the_expired_unpinned_sessions_and_their_objects() {
    let app = spawn_app().await;
    let expired = record(&app, "va", None).await;
    let pinned = record(&app, "vb", None).await;
    let fresh = record(&app, "vc", None).await;
    let api = app.api();
    let (status, _) = api
        .send(
            Method::POST,
            &format!("/api/v1/sessions/{pinned}/pin"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        api.json(&format!("/api/v1/sessions/{pinned}")).await["pinned"],
        true
    );
    // Two sessions started 91 days ago (retention: 90), one of them pinned;
    // one started 89 days ago.
    let now = reel_actors::now_ms();
    for (s, age) in [(&expired, 91), (&pinned, 91), (&fresh, 89)] {
        let n = app
            .storage
            .execute(
                app.dir.path(),
                &format!(
                    "UPDATE sessions SET started_at = {}, last_activity_at = {} WHERE id = '{s}'",
                    now - age * DAY,
                    now - age * DAY
                ),
            )
            .await;
        assert_eq!(n, 1);
    }
    let usage = api
        .json(&format!("/api/v1/sites/{}/usage", app.site_id))
        .await;
    assert_eq!(usage["sessions"], 3);
    assert_eq!(usage["oldest_started_at"], now - 91 * DAY);
    let before = app.storage.objects(app.dir.path()).await;
    assert!(!of(&before, &expired).is_empty());

    let done = cli(app.dir.path(), &app.storage, &["retention", "run"]);
    assert_eq!(done["sessions"], 1, "{done}");
    assert_eq!(done["objects"], of(&before, &expired).len(), "{done}");

    let after = app.storage.objects(app.dir.path()).await;
    let want: Vec<String> = before
        .iter()
        .filter(|k| !k.contains(&format!("/{expired}/")))
        .cloned()
        .collect();
    assert_eq!(after, want);
    gone_everywhere(&app, &expired).await;
    for kept in [&pinned, &fresh] {
        assert_eq!(
            api.get(&format!("/api/v1/sessions/{kept}")).await.status(),
            200
        );
        assert_eq!(app.events(kept, Some("tab")).await.lines().count(), 3);
    }
    let usage = api
        .json(&format!("/api/v1/sites/{}/usage", app.site_id))
        .await;
    assert_eq!(usage["sessions"], 2);
    // A second pass finds nothing; unpinned, the old one goes too.
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/sessions/{pinned}/pin"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let done = cli(app.dir.path(), &app.storage, &["retention", "run"]);
    assert_eq!(done["sessions"], 1, "{done}");
    gone_everywhere(&app, &pinned).await;
    assert_eq!(
        of(&app.storage.objects(app.dir.path()).await, &fresh),
        of(&before, &fresh)
    );
}

#[actix_web::test]
async fn a_deleted_session_answers_404_everywhere_and_its_tracker_starts_anew() {
    let app = spawn_app().await;
    let other = record(&app, "vo", None).await;
    // A live session with a committed segment and a buffered batch.
    let mut t = app.tracker("v").await;
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    t.batch_acked(
        0,
        &[ev::meta(T0, "https://shop.example/"), ev::click(T0 + 1, 1)],
    )
    .await;
    app.wait_session(&session, "its row", |v| v["id"] == session.as_str())
        .await;
    let api = app.api();
    // An unknown session is 404.
    let (status, _) = api
        .send(Method::DELETE, "/api/v1/sessions/nosuchsession", &json!({}))
        .await;
    assert_eq!(status, 404);
    let res = app
        .http
        .delete(format!("{}/api/v1/sessions/{session}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The live tracker is told its session is over.
    t.expect_error_close("session_over", 4410).await;
    gone_everywhere(&app, &session).await;
    // Its buffered batch, committed as the session ended, left nothing.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let keys = app.storage.objects(app.dir.path()).await;
        assert!(!of(&keys, &other).is_empty());
        if of(&keys, &session).is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "objects of {session} left: {keys:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Reconnecting with its id starts a new, unlinked session.
    let mut t = app.tracker("v").await;
    let w = t.hello("v", Some(&session), "tab", Some(0)).await;
    assert_ne!(w["session"], session.as_str());
    assert_eq!(w["next_seq"], 0);
    // Deleting again: it is gone.
    let res = app
        .http
        .delete(format!("{}/api/v1/sessions/{session}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.events(&other, Some("tab")).await.lines().count(), 3);
}

#[actix_web::test]
async fn erasing_a_user_deletes_their_sessions_only_and_the_receipt_counts_them() {
    let app = spawn_app().await;
    let a1 = record(&app, "va1", Some("alice")).await;
    let a2 = record(&app, "va2", Some("alice")).await;
    let bob = record(&app, "vb", Some("bob")).await;
    let before = app.storage.objects(app.dir.path()).await;
    let alice_objects = of(&before, &a1).len() + of(&before, &a2).len();
    let api = app.api();
    let path = format!("/api/v1/sites/{}/erase", app.site_id);
    for bad in [
        json!({}),
        json!({"user_id": "a", "visitor_id": "b"}),
        json!({"user_id": ""}),
    ] {
        let (status, body) = api.send(Method::POST, &path, &bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = api
        .send(
            Method::POST,
            "/api/v1/sites/999999/erase",
            &json!({"user_id": "alice"}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, accepted) = api
        .send(Method::POST, &path, &json!({"user_id": "alice"}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    let receipt: Value = loop {
        let r = api.json(&format!("/api/v1/erasures/{id}")).await;
        if r["state"] == "done" {
            break r;
        }
        assert_eq!(r["state"], "pending");
        assert!(Instant::now() < deadline, "erasure not done: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(receipt["sessions"], 2, "{receipt}");
    assert_eq!(receipt["objects"], alice_objects, "{receipt}");
    assert!(receipt["finished_at"].as_i64().unwrap() > 0);
    gone_everywhere(&app, &a1).await;
    gone_everywhere(&app, &a2).await;
    let after = app.storage.objects(app.dir.path()).await;
    assert!(of(&after, &a1).is_empty() && of(&after, &a2).is_empty());
    assert_eq!(of(&after, &bob), of(&before, &bob));
    assert_eq!(app.events(&bob, Some("tab")).await.lines().count(), 3);
    assert_eq!(api.get("/api/v1/erasures/er_nosuchjob").await.status(), 404);
}

#[tokio::test]
async fn a_killed_nodes_spool_does_not_bring_an_erased_session_back() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "erase");
    let key = site["site_key"].as_str().unwrap().to_string();
    let site_id = site["site_id"].as_i64().unwrap().to_string();

    let mut node = Proc::serve(dir.path(), &storage).start();
    let (mut t, session) = Tracker::open(&node.ingest_url(&key, "gone"), "gone").await;
    // Acked, so durable in the spool; no segment yet (a buffer waits a minute).
    for seq in 0..5 {
        t.batch_acked(seq, &[ev::click(T0 + seq as i64, 1)]).await;
    }
    node.sigkill();
    drop(node);
    assert!(storage.objects(dir.path()).await.is_empty());

    // Erased while no node runs.
    let erased = cli(
        dir.path(),
        &storage,
        &["erase", "--site", &site_id, "--visitor-id", "gone"],
    );
    assert_eq!(erased["receipt"]["state"], "done", "{erased}");
    assert_eq!(erased["receipt"]["sessions"], 1, "{erased}");

    // The restarted node drains its spool: the batches are skipped.
    let node = Proc::serve(dir.path(), &storage).start();
    node.wait_recovered(Duration::from_secs(20));
    let api = Api::new(node.base(), &token);
    for route in ["", "/events", "/segments"] {
        assert_eq!(
            api.get(&format!("/api/v1/sessions/{session}{route}"))
                .await
                .status(),
            404,
            "{route}"
        );
    }
    assert!(storage.objects(dir.path()).await.is_empty());
    let (_, metrics) = node.get("/metrics", Duration::from_secs(5)).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("reel_tombstoned_writes_skipped_total") && !l.ends_with(" 0")),
        "no skipped write counted"
    );
}

#[tokio::test]
async fn an_erasure_a_killed_node_left_half_way_is_resumed_and_touches_no_one_else() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "resume");
    let key = site["site_key"].as_str().unwrap().to_string();
    let site_id = site["site_id"].as_i64().unwrap();

    let mut node = Proc::serve(dir.path(), &storage).start();
    let api = Api::new(node.base(), &token);
    // The person: two ended sessions and a live one whose batches are only
    // in the spool; someone else: one ended session.
    let (ended, _live, live_session) =
        ended_and_live(&node, &api, &key, &["vp", "vp", "vo"], "vp").await;
    node.sigkill();
    drop(node);
    let (p1, p2, other) = (&ended[0], &ended[1], &ended[2]);
    let before = storage.objects(dir.path()).await;
    let person_objects = of(&before, p1).len() + of(&before, p2).len();
    assert_eq!(person_objects, 2);

    // Where a node killed during the erasure left it: the job taken under a
    // lease that has expired, one session tombstoned, nothing removed yet.
    storage
        .execute(
            dir.path(),
            &format!(
                "INSERT INTO erasures (id, org_id, site_id, visitor_id, state, created_at, lease_holder, lease_expires_at) \
                 SELECT 'er_resumed', org_id, id, 'vp', 'pending', 1, 'killed-node', 2 FROM sites WHERE id = {site_id}"
            ),
        )
        .await;
    storage
        .execute(
            dir.path(),
            &format!(
                "INSERT INTO session_tombstones (session_id, site_id, deleted_at, reason, erasure_id) \
                 VALUES ('{p1}', {site_id}, 3, 'erasure', 'er_resumed')"
            ),
        )
        .await;

    let node = Proc::serve(dir.path(), &storage).start();
    let api = Api::new(node.base(), &token);
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipt = loop {
        let r = api.json("/api/v1/erasures/er_resumed").await;
        if r["state"] == "done" {
            break r;
        }
        assert!(Instant::now() < deadline, "erasure not resumed: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    node.wait_recovered(Duration::from_secs(20));
    assert_eq!(receipt["sessions"], 3, "{receipt}");
    // The live session's spooled batches may have become a segment before
    // the erasure reached it (then it counts), or been skipped after.
    let objects = receipt["objects"].as_u64().unwrap() as usize;
    assert!(
        (person_objects..=person_objects + 1).contains(&objects),
        "{receipt}"
    );
    for s in [p1, p2, &live_session] {
        for route in ["", "/events", "/segments"] {
            assert_eq!(
                api.get(&format!("/api/v1/sessions/{s}{route}"))
                    .await
                    .status(),
                404,
                "{s}{route}"
            );
        }
    }
    let after = storage.objects(dir.path()).await;
    assert_eq!(
        after,
        of(&before, other),
        "only the other person's objects are left"
    );
    assert_eq!(
        api.text(&format!("/api/v1/sessions/{other}/events?tab=tab"))
            .await
            .lines()
            .count(),
        2
    );
    let listed = api.json(&format!("/api/v1/sites/{site_id}/sessions")).await;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other.as_str()]);
}

/// Sessions rows of `visitor`, written behind the node's back: `n`, started
/// `age_days` ago, ids `{prefix}{i}`.
async fn insert_sessions(app: &TestNode, prefix: &str, visitor: &str, n: usize, age_days: i64) {
    let at = reel_actors::now_ms() - age_days * DAY;
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "('{prefix}{i:04}', {}, '{visitor}', {at}, {at}, {at})",
                app.site_id
            )
        })
        .collect();
    let inserted = app
        .storage
        .execute(
            app.dir.path(),
            &format!(
                "INSERT INTO sessions (id, site_id, visitor_id, started_at, last_activity_at, ended_at) VALUES {}",
                rows.join(", ")
            ),
        )
        .await;
    assert_eq!(inserted, n as u64);
}

#[actix_web::test]
async fn erasure_and_retention_walk_past_one_page_of_sessions() {
    let app = spawn_app().await;
    let n = reel_actors::lifecycle::PAGE as usize + 7;
    insert_sessions(&app, "many", "vmany", n, 1).await;
    insert_sessions(&app, "old", "vold", n, 400).await;
    let api = app.api();
    let (status, accepted) = api
        .send(
            Method::POST,
            &format!("/api/v1/sites/{}/erase", app.site_id),
            &json!({"visitor_id": "vmany"}),
        )
        .await;
    assert_eq!(status, 202);
    let id = accepted["id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let receipt = loop {
        let r = api.json(&format!("/api/v1/erasures/{id}")).await;
        if r["state"] == "done" {
            break r;
        }
        assert!(Instant::now() < deadline, "erasure not done: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(receipt["sessions"], n, "{receipt}");
    let done = cli(app.dir.path(), &app.storage, &["retention", "run"]);
    assert_eq!(done["sessions"], n, "{done}");
    let usage = api
        .json(&format!("/api/v1/sites/{}/usage", app.site_id))
        .await;
    assert_eq!(usage["sessions"], 0, "{usage}");
    assert_eq!(usage["oldest_started_at"], Value::Null);
}

#[actix_web::test]
async fn another_nodes_late_commit_leaves_nothing_of_a_deleted_session() {
    let app = spawn_app().await;
    let session = record(&app, "vlate", None).await;
    let res = app
        .http
        .delete(format!("{}/api/v1/sessions/{session}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Another node (its own spool and outbox on the same storage) still
    // held batches of the session's tab and commits them now.
    let mut config = test_config(app.dir.path());
    app.storage.apply(&mut config);
    let index = reel::app::open_index(&config).await.unwrap().into_dyn();
    let blob = reel::app::open_blob_store(&config).await.unwrap();
    let spool_dir = tempfile::tempdir().unwrap();
    let (outbox, spool) = crate::failover::writer(&blob, index.clone(), spool_dir.path());
    let seg = crate::failover::pending(app.site_id, &session, "tab", 2..=9, "node-late");
    let key = seg.record.blob_key.clone();
    let (_, applied) = reel_actors::segment::commit(seg, &outbox, Some(spool)).await;
    assert_eq!(applied, reel_actors::outbox::Applied::Now);
    assert!(index.segments(&session).await.unwrap().is_empty());
    assert!(matches!(
        blob.get(&key).await,
        Err(reel_actors::traits::StoreError::NotFound)
    ));
    assert!(of(&app.storage.objects(app.dir.path()).await, &session).is_empty());
    gone_everywhere(&app, &session).await;
}

#[actix_web::test]
async fn honor_dnt_reaches_the_snippet_and_the_trackers_settings() {
    let app = spawn_app().await;
    let api = app.api();
    let snippet = api
        .json(&format!("/api/v1/sites/{}/snippet", app.site_id))
        .await;
    assert!(!snippet["html"].as_str().unwrap().contains("data-honor-dnt"));
    let mut t = app.tracker("v").await;
    assert_eq!(
        t.hello("v", None, "tab", None).await["settings"]["honor_dnt"],
        false
    );
    let (status, site) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/sites/{}", app.site_id),
            &json!({"settings": {"honor_dnt": true}}),
        )
        .await;
    assert_eq!(status, 200, "{site}");
    assert_eq!(site["settings"]["honor_dnt"], true);
    let snippet = api
        .json(&format!("/api/v1/sites/{}/snippet", app.site_id))
        .await;
    assert!(
        snippet["html"]
            .as_str()
            .unwrap()
            .contains(" data-honor-dnt>"),
        "{snippet}"
    );
    // A connected tracker is told (and stops recording if its browser asks
    // not to be tracked); a new one learns it in its welcome.
    let m = t.recv().await;
    assert_eq!(
        (m["t"].as_str(), m["honor_dnt"].as_bool()),
        (Some("settings"), Some(true)),
        "{m}"
    );
    let mut t = app.tracker("w").await;
    assert_eq!(
        t.hello("w", None, "tab", None).await["settings"]["honor_dnt"],
        true
    );
    let (status, _) = api
        .send(
            Method::PATCH,
            &format!("/api/v1/sites/{}", app.site_id),
            &json!({"settings": {"honor_dnt": "yes"}}),
        )
        .await;
    assert_eq!(status, 400);
}
