//! Three nodes sharing one Redis (a `redis-server` of the test's own):
//! presence and watching across nodes, a node killed, Redis restarted.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::client::*;
use crate::support::*;

/// A `reel serve` child process on the shared Redis, as node `node`.
fn start_node(dir: &Path, node: &str, storage: &TestStorage, redis: &str) -> Proc {
    // Rate limits high enough for the slow-watcher part.
    let config = dir.join("reel.toml");
    std::fs::write(
        &config,
        "[limits]\nsession_bytes_per_sec = 1073741824\nsession_bytes_burst = 1073741824\n\
         session_messages_per_sec = 100000\nsession_messages_burst = 100000\n",
    )
    .unwrap();
    Proc::serve(dir, storage)
        .env("REEL_CONFIG", &config)
        .env("REEL_REDIS_URL", redis)
        .env("REEL_NODE_ID", node)
        .env("REEL_WORKERS", "1")
        .start()
}

#[tokio::test]
async fn presence_and_watching_across_three_nodes_through_redis() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let mut redis = OwnRedis::start_on(free_port());
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (site, token) = cli_site_and_token(dirs[0].path(), &storage, "shop");
    let (site_id, key) = (
        site["site_id"].as_i64().unwrap(),
        site["site_key"].as_str().unwrap().to_string(),
    );
    let a = start_node(dirs[0].path(), "node-a", &storage, &redis.url());
    let b = start_node(dirs[1].path(), "node-b", &storage, &redis.url());
    let c = start_node(dirs[2].path(), "node-c", &storage, &redis.url());

    // B follows the site's presence.
    let mut on_b = Live::connect(&b.addr, &token).await;
    on_b.send(json!({"t": "presence", "site": site_id})).await;
    assert_eq!(on_b.recv().await["t"], "presence_snapshot");

    // A visitor records on A.
    let (mut t, session) = Tracker::open(&a.ingest_url(&key, "va"), "va").await;
    t.batch_acked(
        0,
        &[
            ev::meta(T0, "https://shop.example/"),
            ev::full_snapshot(T0 + 1, "home"),
        ],
    )
    .await;
    let join = on_b
        .until("the visitor on B", |m| m["t"] == "presence_join")
        .await;
    assert_eq!(join["session"]["session"], session.as_str());
    assert_eq!(join["session"]["node"], "node-a");

    // C watches it: the stream starts at the snapshot, then follows live.
    let mut on_c = Live::connect(&c.addr, &token).await;
    on_c.send(json!({"t": "watch", "session": session})).await;
    let first = on_c.until("catch-up", |m| m["t"] == "events").await;
    assert_eq!(first["events"][1]["type"], 2, "{first}");
    // A's copy of the tab started the stream: the tracker is not asked
    // for a snapshot (the next thing it hears is an ack, below).
    // Event entering A -> frame leaving C, as seen by clients on both.
    let mut lat = Vec::new();
    for seq in 1..=200u64 {
        let sent = Instant::now();
        t.send_batch(seq, &[ev::click(T0 + seq as i64, seq as u32)])
            .await;
        let m = on_c.until("the click", |m| m["t"] == "events").await;
        lat.push(sent.elapsed());
        assert_eq!(m["events"][0]["data"]["id"], seq, "{m}");
        assert_eq!(t.recv().await, json!({"t": "ack", "seq": seq}));
    }
    lat.sort();
    println!(
        "cross-node event -> watcher: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n={})",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
        lat.len()
    );

    // A watcher on C that does not read is cut off; a watcher on B that
    // reads gets every event, and the visitor is not slowed down.
    on_c.send(json!({"t": "unwatch", "session": session})).await;
    drop(on_c);
    let mut slow = Live::connect_small_buffer(&c.addr, &token).await;
    slow.send(json!({"t": "watch", "session": session})).await;
    let mut fast = Live::connect(&b.addr, &token).await;
    fast.send(json!({"t": "watch", "session": session})).await;
    fast.until("catch-up on B", |m| m["t"] == "events").await;
    const BIG: u64 = 450;
    let reader = tokio::spawn(async move {
        let mut got = 0u64;
        while got < BIG {
            let m = fast.recv().await;
            for e in m["events"].as_array().into_iter().flatten() {
                if e["type"] == 3 && e["data"]["source"] == 5 {
                    got += 1;
                }
            }
        }
        got
    });
    let big = "x".repeat(200 * 1024);
    for seq in 201..201 + BIG {
        t.send_batch(seq, &[ev::input(T0 + seq as i64, 3, &big)])
            .await;
        loop {
            if t.recv().await["t"] == "ack" {
                break;
            }
        }
    }
    assert_eq!(
        reader.await.unwrap(),
        BIG,
        "the reading watcher on B got every event"
    );
    loop {
        match slow.next(Duration::from_secs(30)).await {
            None => break,
            Some(m) if m["t"] == "watch_ended" => assert_eq!(m["reason"], "too_slow"),
            Some(_) => {}
        }
    }
    let mut seq = 201 + BIG;

    // Redis stops and comes back (empty: it keeps nothing): presence
    // recovers by itself, and a visitor who arrives later is seen on B.
    let port = redis.port;
    redis.stop();
    let mut bus_down = false;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !bus_down {
        assert!(Instant::now() < deadline, "A never noticed Redis was gone");
        let (_, ready) = readyz(&http, &a.base()).await;
        bus_down = ready["bus"] != "ok";
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Recording goes on meanwhile.
    t.batch_acked(seq, &[ev::click(T0 + seq as i64, 1)]).await;
    seq += 1;
    let _ = seq;
    let redis = OwnRedis::start_on(port);
    let (mut t2, s2) = Tracker::open(&a.ingest_url(&key, "vb"), "vb").await;
    t2.batch_acked(
        0,
        &[
            ev::meta(T0, "https://shop.example/late"),
            ev::full_snapshot(T0 + 1, "late"),
        ],
    )
    .await;
    let seen = on_b
        .until("the later visitor, after Redis came back", |m| {
            m["t"] == "presence_join" && m["session"]["session"] == s2.as_str()
        })
        .await;
    assert_eq!(seen["session"]["node"], "node-a");

    // A is killed: its visitors leave B's presence within the TTL.
    let killed = Instant::now();
    drop(a);
    let mut gone = std::collections::HashSet::new();
    while gone.len() < 2 {
        let m = on_b.until("leaves", |m| m["t"] == "presence_leave").await;
        gone.insert(m["session"].as_str().unwrap().to_string());
    }
    let took = killed.elapsed();
    println!(
        "node killed -> its visitors gone from presence: {:.1} s",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(45), "ghosts stayed {took:?}");
    assert!(gone.contains(&session) && gone.contains(&s2));
    drop((b, c, redis));
}

/// Every node follows the operator's maintenance switch within this.
const FOLLOW: Duration = Duration::from_secs(5);

/// Polls (bounded) until a new connection to `url` is refused with 503
/// (`refused`) or upgraded (`!refused`).
async fn wait_ingest(url: &str, refused: bool) {
    let deadline = Instant::now() + FOLLOW;
    loop {
        let got = Tracker::connect(url, None).await;
        match &got {
            Err(r) if refused && r.status == 503 => {
                assert_eq!(r.body["error"], "unavailable");
                assert!(r.retry_after.is_some());
                return;
            }
            Ok(_) if !refused => return,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "{url}: not {} within {FOLLOW:?}: {:?}",
            if refused { "refused" } else { "accepted" },
            got.err()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_nodes_on_one_postgres_follow_reel_maintenance() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let redis = OwnRedis::start_on(free_port());
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let key = cli(
        dirs[0].path(),
        &storage,
        &["site", "create", "--name", "shop"],
    )["site_key"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes = [
        start_node(dirs[0].path(), "node-a", &storage, &redis.url()),
        start_node(dirs[1].path(), "node-b", &storage, &redis.url()),
    ];
    let ingest = |addr: &str, v: &str| format!("ws://{addr}/v1/ingest?site={key}&visitor={v}");
    let mut trackers = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let v = format!("v{i}");
        let mut t = Tracker::connect(&ingest(&n.addr, &v), None).await.unwrap();
        t.hello(&v, None, "tab", None).await;
        t.batch_acked(0, &[ev::click(T0, 1)]).await;
        trackers.push(t);
    }

    // On, from an operator's shell that also reaches the bus.
    let out = Command::new(env!("CARGO_BIN_EXE_reel"))
        .args(["maintenance", "on", "--message", "upgrading"])
        .envs(storage.env())
        .env("REEL_REDIS_URL", redis.url())
        .env("REEL_DATA_DIR", dirs[0].path())
        .env("REEL_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let switched = Instant::now();
    for t in trackers.iter_mut() {
        tokio::time::timeout(FOLLOW, t.expect_error_close("unavailable", 4503))
            .await
            .expect("a tracker was not closed within 5 s");
    }
    // Through the bus this is well under the 2 s poll; through the poll
    // alone it would still be under 5 s.
    println!(
        "maintenance on -> both trackers closed: {:.0} ms",
        switched.elapsed().as_secs_f64() * 1e3
    );
    for (i, n) in nodes.iter().enumerate() {
        wait_ingest(&ingest(&n.addr, &format!("w{i}")), true).await;
    }

    // Off, from a shell without the bus: the index poll is the guarantee.
    let off = cli(dirs[1].path(), &storage, &["maintenance", "off"]);
    assert_eq!(off["maintenance"], false);
    for (i, n) in nodes.iter().enumerate() {
        let v = format!("x{i}");
        wait_ingest(&ingest(&n.addr, &v), false).await;
        let mut t = Tracker::connect(&ingest(&n.addr, &v), None).await.unwrap();
        t.hello(&v, None, "tab", None).await;
        t.batch_acked(0, &[ev::click(T0, 1)]).await;
    }
}

#[tokio::test]
async fn a_site_change_on_one_node_reaches_trackers_on_every_node() {
    init_logs();
    let storage = TestStorage::postgres_s3().await;
    let redis = OwnRedis::start_on(free_port());
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let (site, token) = cli_site_and_token(dirs[0].path(), &storage, "shop");
    let (site_id, key) = (
        site["site_id"].as_i64().unwrap(),
        site["site_key"].as_str().unwrap().to_string(),
    );
    let nodes = [
        start_node(dirs[0].path(), "node-a", &storage, &redis.url()),
        start_node(dirs[1].path(), "node-b", &storage, &redis.url()),
    ];
    let mut trackers = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let v = format!("v{i}");
        let mut t = Tracker::connect(&n.ingest_url(&key, &v), Some("https://shop.example"))
            .await
            .unwrap();
        t.hello(&v, None, "tab", None).await;
        t.batch_acked(0, &[ev::click(T0, 1)]).await;
        trackers.push(t);
    }

    // An admin changes the site through node A.
    let api = Api::new(nodes[0].base(), token);
    let (status, body) = api
        .send(
            reqwest::Method::PATCH,
            &format!("/api/v1/sites/{site_id}"),
            &json!({"settings": {"mask_text": false}, "origins": ["https://www.shop.example"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let patched = Instant::now();
    for (i, t) in trackers.iter_mut().enumerate() {
        let s = tokio::time::timeout(FOLLOW, t.recv())
            .await
            .expect("no settings within 5 s");
        assert_eq!(s["t"], "settings", "{s}");
        assert_eq!(s["mask_text"], false);
        // Through the bus this is well under the 2 s poll.
        println!(
            "PATCH on node-a -> settings on a tracker of node-{}: {:.0} ms",
            ["a", "b"][i],
            patched.elapsed().as_secs_f64() * 1e3
        );
    }
    // Node B refuses the old origin on the next connection.
    let url = nodes[1].ingest_url(&key, "w");
    let deadline = Instant::now() + FOLLOW;
    loop {
        match Tracker::connect(&url, Some("https://shop.example")).await {
            Err(r) if r.status == 403 => break,
            got => assert!(
                Instant::now() < deadline,
                "node-b still takes the old origin: {:?}",
                got.err()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut t = Tracker::connect(&url, Some("https://www.shop.example"))
        .await
        .unwrap();
    let w = t.hello("w", None, "tab", None).await;
    assert_eq!(w["settings"]["mask_text"], false);
}
