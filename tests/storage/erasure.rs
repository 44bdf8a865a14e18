//! Erasure under faults (PROTOCOL.md §6), on Postgres and an S3 path of
//! the test's own: a person with sessions ended, live and only in the
//! spool; S3 is cut during the erasure, the node is killed with SIGKILL
//! mid-job and restarted while S3 is still cut, then S3 comes back. At the
//! end nothing of that person is left, the receipt counts it, and no one
//! else's data was touched.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::services::{s3_target, Proxy};
use crate::support::*;

/// How long the resumed erasure may take once S3 is back.
const DONE_WITHIN: Duration = Duration::from_secs(60);

fn of(keys: &[String], session: &str) -> Vec<String> {
    keys.iter()
        .filter(|k| k.contains(&format!("/{session}/")))
        .cloned()
        .collect()
}

/// Polls `/metrics` of `node` until a line starting with `prefix` has a
/// value above zero.
fn wait_metric(node: &Proc, prefix: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some((_, text)) = node.get("/metrics", Duration::from_secs(5)) {
            let seen = text.lines().any(|l| {
                l.starts_with(prefix)
                    && l.rsplit(' ')
                        .next()
                        .and_then(|v| v.parse::<f64>().ok())
                        .is_some_and(|v| v > 0.0)
            });
            if seen {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no {prefix} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// The proxy runs on the test's runtime while the test blocks on the child
// process: more than one thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_killed_mid_job_and_starved_of_s3_finishes_and_touches_no_one_else() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let proxy = Proxy::start(s3_target()).await;
    let dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "erase-faults");
    let key = site["site_key"].as_str().unwrap().to_string();
    let site_id = site["site_id"].as_i64().unwrap();
    // Through the proxy; the same node id across the restart (so that it
    // takes its own job back at once, not after the lease expires).
    let serve = |create_bucket: &str| {
        Proc::serve(dir.path(), &storage)
            .env("REEL_S3_ENDPOINT", format!("http://{}", proxy.addr))
            .env("REEL_S3_CREATE_BUCKET", create_bucket)
            .env("REEL_NODE_ID", "node-erase")
            .start()
    };
    let mut node = serve("1");
    let api = Api::new(node.base(), &token);
    // Ended sessions of the person (vp) and of someone else (vo); a live
    // one of the person, its batches only in the spool (and its buffer).
    let (ended, live, live_session) =
        ended_and_live(&node, &api, &key, &["vp", "vp", "vo"], "vp").await;
    let (p1, p2, other) = (&ended[0], &ended[1], &ended[2]);
    let before = storage.objects(dir.path()).await;
    assert_eq!(of(&before, p1).len() + of(&before, p2).len(), 2);

    proxy.cut();
    let (status, accepted) = api
        .send(
            Method::POST,
            &format!("/api/v1/sites/{site_id}/erase"),
            &json!({"visitor_id": "vp"}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    // The job is under way (a tombstone written) and stuck on S3: kill it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.json(&format!("/api/v1/erasures/{id}")).await;
        assert_eq!(r["state"], "pending", "{r}");
        if r["sessions"].as_i64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "erasure did not start: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.sigkill();
    drop(node);
    drop(live);

    // Restarted with S3 still cut: the resumed job fails on S3 meanwhile.
    let node = serve("0");
    let api = Api::new(node.base(), &token);
    wait_metric(
        &node,
        "reel_s3_requests_total{op=\"delete_objects\",outcome=\"unavailable\"}",
        Duration::from_secs(30),
    );
    assert_eq!(
        api.json(&format!("/api/v1/erasures/{id}")).await["state"],
        "pending"
    );
    proxy.restore();

    let deadline = Instant::now() + DONE_WITHIN;
    let receipt: Value = loop {
        let r = api.json(&format!("/api/v1/erasures/{id}")).await;
        if r["state"] == "done" {
            break r;
        }
        assert!(Instant::now() < deadline, "erasure not done: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    node.wait_recovered(Duration::from_secs(30));
    // Let the outbox apply (and skip) what waited for S3.
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz(&reqwest::Client::new(), &node.base()).await.1["outbox"]["queued"] != 0 {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receipt["sessions"], 3, "{receipt}");
    let objects = receipt["objects"].as_u64().unwrap();
    assert!((2..=3).contains(&objects), "{receipt}");
    assert!(receipt["finished_at"].as_i64().unwrap() > 0);
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
    let listed = api.json(&format!("/api/v1/sites/{site_id}/sessions")).await;
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![other.as_str()]);
    assert_eq!(
        api.text(&format!("/api/v1/sessions/{other}/events?tab=tab"))
            .await
            .lines()
            .count(),
        2
    );
}
