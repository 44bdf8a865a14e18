//! The node as a real process: SIGKILL loses nothing acked, SIGTERM flushes
//! every open session and exits 0.

use std::time::{Duration, Instant};

use crate::support::*;

fn batch(seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    vec![
        ev::full_snapshot(ts, &format!("page {seq}")),
        ev::click(ts + 1, seq as u32),
        ev::input(ts + 2, 4, "*"),
    ]
}

#[tokio::test]
async fn sigkill_loses_no_acked_batch() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "crash");
    let key = site["site_key"].as_str().unwrap().to_string();

    let mut node = Proc::serve(dir.path(), &storage).start();
    // Two sessions; one keeps sending without waiting for acks when the
    // node dies.
    let (mut a, sa) = Tracker::open(&node.ingest_url(&key, "va"), "va").await;
    let (mut b, sb) = Tracker::open(&node.ingest_url(&key, "vb"), "vb").await;
    for seq in 0..20 {
        a.batch_acked(seq, &batch(seq)).await;
    }
    for seq in 0..10 {
        b.batch_acked(seq, &batch(seq)).await;
    }
    // Pipelined: read acks as they come, kill after the 5th.
    for seq in 10..40 {
        b.send_batch(seq, &batch(seq)).await;
    }
    let b_acked = b.acks_until(9, 15).await;
    node.sigkill();
    drop(node);

    let node = Proc::serve(dir.path(), &storage).start();
    let api = Api::new(node.base(), &token);
    let got_a = api
        .text(&format!("/api/v1/sessions/{sa}/events?tab=tab"))
        .await;
    let want_a: Vec<String> = (0..20).flat_map(batch).collect();
    assert_eq!(got_a, ndjson(&want_a));
    // Session b: every acked batch, in order, nothing twice; batches sent
    // but not acked may be there too, as a whole prefix.
    let got_b = api
        .text(&format!("/api/v1/sessions/{sb}/events?tab=tab"))
        .await;
    let lines = got_b.lines().count();
    assert_eq!(lines % 3, 0);
    let stored = (lines / 3) as u64;
    assert!(
        stored > b_acked,
        "acked up to {b_acked}, stored {stored} batches"
    );
    let want_b: Vec<String> = (0..stored).flat_map(batch).collect();
    assert_eq!(got_b, ndjson(&want_b));

    // The tracker continues where the node's durable state ends.
    let mut b = Tracker::connect(&node.ingest_url(&key, "vb"), None)
        .await
        .unwrap();
    let w = b.hello("vb", Some(&sb), "tab", Some(b_acked)).await;
    assert_eq!(w["session"], sb.as_str());
    assert_eq!(w["next_seq"], stored);
}

#[tokio::test]
async fn sigterm_flushes_every_session_and_exits_zero() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let key = cli(dir.path(), &storage, &["site", "create", "--name", "term"])["site_key"]
        .as_str()
        .unwrap()
        .to_string();
    let node = Proc::serve(dir.path(), &storage).start();
    let mut trackers = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..3 {
        let v = format!("v{i}");
        let (mut t, s) = Tracker::open(&node.ingest_url(&key, &v), &v).await;
        for seq in 0..5 {
            t.batch_acked(seq, &batch(seq)).await;
        }
        trackers.push(t);
        sessions.push(s);
    }
    node.signal("-TERM");
    // Every tracker is told to go away, then closed.
    for t in trackers.iter_mut() {
        let m = t.recv().await;
        assert_eq!(m["t"], "goaway", "{m}");
        assert!(m["retry_after_ms"].as_u64().unwrap() > 0);
    }
    let (status, output) = node.exit_output(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    // Its background loops stop with it, inside its runtime: none drops a
    // database connection outside it (a panic, and a Sentry event, at
    // every exit).
    assert!(!output.contains("panicked"), "a panic at exit:\n{output}");

    // Every batch is in a committed segment: read the index and blob store
    // as they are, with the node stopped and the spool untouched.
    let mut config = reel::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    storage.apply(&mut config);
    let index = reel::app::open_index(&config).await.unwrap().into_dyn();
    let blob = reel::app::open_blob_store(&config).await.unwrap();
    for s in &sessions {
        let segments = index.segments(s).await.unwrap();
        assert!(!segments.is_empty());
        assert_eq!(segments.iter().map(|g| g.last_seq).max(), Some(4));
        let mut text = String::new();
        for g in &segments {
            let data = blob.get(&g.blob_key).await.unwrap();
            text.push_str(&String::from_utf8(zstd::decode_all(&data[..]).unwrap()).unwrap());
        }
        assert_eq!(text, ndjson(&(0..5).flat_map(batch).collect::<Vec<_>>()));
    }
}

/// Polls (bounded by `limit`) until a new tracker connection gets the
/// answer `want` asks for: `Some(status)` a refusal, `None` an upgrade.
async fn wait_ingest(url: &str, want: Option<u16>, limit: Duration) -> Option<Refused> {
    let deadline = Instant::now() + limit;
    loop {
        let got = Tracker::connect(url, None).await;
        match (&got, want) {
            (Ok(_), None) => return None,
            (Err(r), Some(status)) if r.status == status => return got.err(),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "ingest did not answer {want:?} within {limit:?}: {:?}",
            got.err()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node follows the operator's switch within this.
const FOLLOW: Duration = Duration::from_secs(5);

#[tokio::test]
async fn reel_maintenance_on_and_off_reach_a_running_node_within_5_s() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let key = cli(dir.path(), &storage, &["site", "create", "--name", "mnt"])["site_key"]
        .as_str()
        .unwrap()
        .to_string();
    let node = Proc::serve(dir.path(), &storage).start();
    let mut t = Tracker::connect(&node.ingest_url(&key, "v"), None)
        .await
        .unwrap();
    let w = t.hello("v", None, "tab", None).await;
    assert_eq!(w["settings"]["maintenance"], false);
    t.batch_acked(0, &batch(0)).await;

    // A separate process, on the node's database.
    let on = cli(
        dir.path(),
        &storage,
        &["maintenance", "on", "--message", "moving racks"],
    );
    let switched = Instant::now();
    assert_eq!(on["maintenance"], true, "{on}");
    assert_eq!(on["message"], "moving racks");
    let e = tokio::time::timeout(FOLLOW, t.expect_error_close("unavailable", 4503))
        .await
        .expect("the open tracker was not closed within 5 s");
    assert!(
        e["message"].as_str().unwrap().contains("moving racks"),
        "{e}"
    );
    let refused = wait_ingest(
        &node.ingest_url(&key, "v2"),
        Some(503),
        FOLLOW.saturating_sub(switched.elapsed()),
    )
    .await
    .unwrap();
    assert_eq!(refused.body["error"], "unavailable");
    assert!(refused.retry_after.unwrap().parse::<u64>().unwrap() > 0);
    let status = cli(dir.path(), &storage, &["maintenance", "status"]);
    assert_eq!(status["maintenance"], true);

    let off = cli(dir.path(), &storage, &["maintenance", "off"]);
    assert_eq!(off["maintenance"], false, "{off}");
    wait_ingest(&node.ingest_url(&key, "v3"), None, FOLLOW).await;
    let mut t = Tracker::connect(&node.ingest_url(&key, "v3"), None)
        .await
        .unwrap();
    let w = t.hello("v3", None, "tab", None).await;
    assert_eq!(w["settings"]["maintenance"], false);
    t.batch_acked(0, &batch(0)).await;
    let status = cli(dir.path(), &storage, &["maintenance", "status"]);
    assert_eq!(status["maintenance"], false);
}
