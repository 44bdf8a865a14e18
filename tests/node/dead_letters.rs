//! Writes storage refuses for their content: a few attempts, then the dead
//! letters, and the session goes on; and a restarted node that serves
//! while it drains its earlier run's spool.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

fn batch(seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    vec![
        ev::full_snapshot(ts, &format!("page {seq}")),
        ev::click(ts + 1, seq as u32),
    ]
}

/// Makes the node's index refuse, for their content, an identify as
/// `poison` and any segment of a tab named `poison`: a CHECK constraint on
/// Postgres, a trigger raising ABORT (a constraint failure) on SQLite.
async fn poison(storage: &TestStorage, dir: &Path) {
    let statements = if storage.database_url().is_some() {
        [
            "ALTER TABLE sessions ADD CONSTRAINT poison \
             CHECK (user_id IS NULL OR user_id <> 'poison')",
            "ALTER TABLE segments ADD CONSTRAINT poison CHECK (tab_id <> 'poison')",
        ]
    } else {
        [
            "CREATE TRIGGER poison_user BEFORE UPDATE ON sessions \
             WHEN NEW.user_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison'); END",
            "CREATE TRIGGER poison_tab BEFORE INSERT ON segments \
             WHEN NEW.tab_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poison'); END",
        ]
    };
    for sql in statements {
        storage.execute(dir, sql).await;
    }
}

/// Lifts what [`poison`] set.
async fn cure(storage: &TestStorage, dir: &Path) {
    let statements = if storage.database_url().is_some() {
        [
            "ALTER TABLE sessions DROP CONSTRAINT poison",
            "ALTER TABLE segments DROP CONSTRAINT poison",
        ]
    } else {
        ["DROP TRIGGER poison_user", "DROP TRIGGER poison_tab"]
    };
    for sql in statements {
        storage.execute(dir, sql).await;
    }
}

/// The dead letters' JSON files, parsed.
fn dead_letters(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir.join("dead-letters")) else {
        return Vec::new();
    };
    let mut out: Vec<Value> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["op"].as_str().unwrap().to_string());
    out
}

/// Sends `end` on a tab; asserts its ack comes within 5 s.
async fn end_within_5s(t: &mut Tracker, last_seq: u64) {
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), t.end(last_seq))
        .await
        .expect("end acked within 5 s");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Starts the node on `dir` (its listener up before recovery ends) and
/// checks that `/healthz` answers 200 within 10 s of the start.
fn start_healthy_within_10_s(dir: &std::path::Path, storage: &TestStorage) -> Proc {
    let started = Instant::now();
    let node = Proc::serve(dir, storage).start_listening();
    let (status, _) = node
        .get("/healthz", Duration::from_secs(10))
        .expect("/healthz answers");
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "/healthz took {:?}",
        started.elapsed()
    );
    node
}

#[tokio::test]
async fn a_poisoned_write_goes_to_the_dead_letters_and_a_restart_serves_while_it_drains() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "poison");
    let key = site["site_key"].as_str().unwrap().to_string();
    let mut node = Proc::serve(dir.path(), &storage).start();
    poison(&storage, dir.path()).await;

    // A session identifies as `poison`, records a tab, and a tab whose
    // segment the index refuses. Both ends are acked; the session goes on.
    let (mut a, sa) = Tracker::open(&node.ingest_url(&key, "va"), "va").await;
    a.send_json(&json!({"t": "identify", "user_id": "poison", "traits": {"plan": "pro"}}))
        .await;
    for seq in 0..4 {
        a.batch_acked(seq, &batch(seq)).await;
    }
    let mut p = Tracker::connect(&node.ingest_url(&key, "va"), None)
        .await
        .unwrap();
    let w = p.hello("va", Some(&sa), "poison", None).await;
    assert_eq!(w["session"], sa.as_str());
    for seq in 0..3 {
        p.batch_acked(seq, &batch(seq)).await;
    }
    end_within_5s(&mut p, 2).await;
    end_within_5s(&mut a, 3).await;

    // Both refused writes are in the dead letters, whole.
    let deadline = Instant::now() + Duration::from_secs(10);
    let letters = loop {
        let letters = dead_letters(dir.path());
        if letters.len() >= 2 {
            break letters;
        }
        assert!(Instant::now() < deadline, "dead letters: {letters:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letters.len(), 2, "{letters:?}");
    let (identify, segment) = (&letters[0], &letters[1]);
    assert_eq!(identify["op"], "identify");
    assert_eq!(identify["session_id"], sa.as_str());
    assert_eq!(identify["write"]["IdentifyAt"]["user_id"], "poison");
    assert_eq!(identify["write"]["IdentifyAt"]["traits"]["plan"], "pro");
    assert_eq!(identify["attempts"], 3);
    assert!(identify["error"].as_str().unwrap().contains("refused"));
    assert_eq!(segment["op"], "segment");
    assert_eq!(segment["write"]["Segment"]["record"]["tab_id"], "poison");
    assert_eq!(segment["write"]["Segment"]["record"]["last_seq"], 2);
    let blob = dir
        .path()
        .join("dead-letters")
        .join(segment["blob_file"].as_str().unwrap());
    let raw = zstd::decode_all(&std::fs::read(blob).unwrap()[..]).unwrap();
    let want: Vec<String> = (0..3).flat_map(batch).collect();
    assert_eq!(String::from_utf8(raw).unwrap(), ndjson(&want));

    let api = Api::new(node.base(), &token);
    let metrics = api.text("/metrics").await;
    for op in ["identify", "segment"] {
        let line = format!("reel_dead_letters_total{{op=\"{op}\"}} 1");
        assert!(metrics.contains(&line), "no {line:?} in /metrics");
    }
    // The session's other tab is stored and readable.
    let got = api
        .text(&format!("/api/v1/sessions/{sa}/events?tab=tab"))
        .await;
    let want: Vec<String> = (0..4).flat_map(batch).collect();
    assert_eq!(got, ndjson(&want));

    // kill -9 with a tab's batches in the spool, not yet in a segment: the
    // restarted node listens at once, and drains in the background.
    for seq in 4..8 {
        a.batch_acked(seq, &batch(seq)).await;
    }
    node.sigkill();
    drop(node);
    let node = start_healthy_within_10_s(dir.path(), &storage);
    node.wait_recovered(Duration::from_secs(60));
    let api = Api::new(node.base(), &token);
    let got = api
        .text(&format!("/api/v1/sessions/{sa}/events?tab=tab"))
        .await;
    let want: Vec<String> = (0..8).flat_map(batch).collect();
    assert_eq!(got, ndjson(&want));
    // The poison tab's batches, still in the old spool, are in a dead
    // letter already: the drain does not refuse them a second time.
    assert_eq!(dead_letters(dir.path()).len(), 2);

    // Once what made storage refuse them is gone, the operator applies
    // them again; each one applied is removed.
    let (ok, listed) = cli_lines(dir.path(), &storage, &["dead-letters", "list"]);
    assert!(ok && listed.len() == 2, "{listed:?}");
    let (ok, out) = cli_lines(dir.path(), &storage, &["dead-letters", "replay"]);
    assert!(!ok && out.iter().all(|l| l["applied"] == false), "{out:?}");
    cure(&storage, dir.path()).await;
    let (ok, out) = cli_lines(dir.path(), &storage, &["dead-letters", "replay"]);
    assert!(ok && out.len() == 2, "{out:?}");
    assert!(out.iter().all(|l| l["applied"] == true), "{out:?}");
    assert!(dead_letters(dir.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("dead-letters"))
            .unwrap()
            .count(),
        0
    );
    let got = api
        .text(&format!("/api/v1/sessions/{sa}/events?tab=poison"))
        .await;
    let want: Vec<String> = (0..3).flat_map(batch).collect();
    assert_eq!(got, ndjson(&want));
    let info = api.json(&format!("/api/v1/sessions/{sa}")).await;
    assert_eq!(info["user_id"], "poison", "{info}");
}

/// A tab resumed on a restarted node while its earlier batches still drain
/// continues past them: nothing lost, nothing twice. On Postgres the drain
/// is held on a row lock while the tab resumes; elsewhere the two race.
#[tokio::test]
async fn a_tab_resumed_while_its_old_batches_drain_loses_and_duplicates_nothing() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "drain");
    let key = site["site_key"].as_str().unwrap().to_string();
    let mut node = Proc::serve(dir.path(), &storage).start();

    // A session streams; its batches are in the spool, not yet in
    // a segment, when the node is killed.
    let (mut b, sb) = Tracker::open(&node.ingest_url(&key, "vb"), "vb").await;
    for seq in 0..10 {
        b.batch_acked(seq, &batch(seq)).await;
    }
    // Pipelined: the node dies with some of these acked and some not.
    for seq in 10..16 {
        b.send_batch(seq, &batch(seq)).await;
    }
    let b_acked = b.acks_until(9, 11).await;
    node.sigkill();
    drop(node);
    drop(b);

    // On Postgres, the session's row is locked: the drain's commit waits
    // on it, so the drain is still running while the tab resumes.
    let lock = match storage.database_url() {
        Some(url) => {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query("BEGIN").execute(&mut db).await.unwrap();
            sqlx::query("SELECT id FROM sessions WHERE id = $1 FOR UPDATE")
                .bind(&sb)
                .execute(&mut db)
                .await
                .unwrap();
            Some(db)
        }
        None => None,
    };

    let node = start_healthy_within_10_s(dir.path(), &storage);
    let http = reqwest::Client::new();
    if lock.is_some() {
        // The drain waits on the row; the node is ready and records.
        let (status, ready) = readyz(&http, &node.base()).await;
        assert_eq!(ready["recovery"]["state"], "draining", "{ready}");
        assert!(ready["recovery"]["batches_left"].as_u64().unwrap() > 0);
        assert_eq!(status, 200, "{ready}");
    }

    // The tab resumes on the new run while its old batches may still be
    // draining: it continues past every batch the old spool holds, and
    // resends below that are acked as duplicates.
    let mut b = Tracker::connect(&node.ingest_url(&key, "vb"), None)
        .await
        .unwrap();
    let w = b.hello("vb", Some(&sb), "tab", Some(b_acked)).await;
    assert_eq!(w["session"], sb.as_str());
    let next = w["next_seq"].as_u64().unwrap();
    assert!(
        next > b_acked && next <= 16,
        "next_seq {next}, acked {b_acked}"
    );
    for seq in b_acked + 1..next {
        b.batch_acked(seq, &batch(seq)).await;
    }
    for seq in next..next + 5 {
        b.batch_acked(seq, &batch(seq)).await;
    }
    // A new visitor records during the drain too.
    let (mut c, sc) = Tracker::open(&node.ingest_url(&key, "vc"), "vc").await;
    c.batch_acked(0, &batch(0)).await;

    if let Some(mut db) = lock {
        sqlx::query("COMMIT").execute(&mut db).await.unwrap();
    }
    let last = next + 4;
    b.end(last).await;
    c.end(0).await;
    node.wait_recovered(Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(30);
    while readyz(&http, &node.base()).await.1["outbox"]["queued"] != 0 {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every batch of the tab once, in order: drained ones and new ones.
    let api = Api::new(node.base(), &token);
    let got = api
        .text(&format!("/api/v1/sessions/{sb}/events?tab=tab"))
        .await;
    let want: Vec<String> = (0..=last).flat_map(batch).collect();
    assert_eq!(got, ndjson(&want));
    let got = api
        .text(&format!("/api/v1/sessions/{sc}/events?tab=tab"))
        .await;
    assert_eq!(got, ndjson(&batch(0)));
    let (_, ready) = readyz(&http, &node.base()).await;
    assert_eq!(ready["recovery"]["batches_left"], 0, "{ready}");
}
