//! The spool's disk fills while a tracker streams: refused batches are
//! never acked, the tracker is asked to hold its data, new connections
//! get 503 until there is space, and after space is freed, more streaming
//! and a `kill -9`, every batch that was ever acked reads back
//! byte-identical.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::support::*;

/// A tmpfs the test owns, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// `None` (and a message) where mounting is not allowed.
    fn mount(path: &Path, bytes: u64) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: mounting a small filesystem (tmpfs) is not allowed here");
            return None;
        }
        Some(SmallDisk {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// A batch of about 40 KiB whose events say which seq they belong to.
fn batch(seq: u64) -> Vec<String> {
    let ts = T0 + seq as i64 * 100;
    vec![
        ev::full_snapshot(ts, &format!("page {seq} {}", "x".repeat(40_000))),
        ev::click(ts + 1, seq as u32),
    ]
}

/// What the server said next: a message, or the close code.
enum Said {
    Msg(Value),
    Closed(u16),
}

async fn next(t: &mut Tracker) -> Said {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), t.ws.next())
            .await
            .expect("no reply in time");
        match msg {
            Some(Ok(Message::Text(text))) => {
                return Said::Msg(serde_json::from_str(&text).unwrap())
            }
            Some(Ok(Message::Close(frame))) => {
                return Said::Closed(frame.map_or(1005, |f| u16::from(f.code)))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("connection failed: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

/// Streams batches from 0 with up to 8 unacked, until the server ends the
/// connection; sets the highest seq acked (the acks are checked to come in
/// order) and returns whether a `goaway` came, and the close code.
async fn stream_until_refused(t: &mut Tracker, acked: &mut Option<u64>) -> (bool, u16) {
    let mut sent = 0;
    let mut goaway = false;
    loop {
        while sent - acked.map_or(0, |a| a + 1) < 8 {
            t.send_batch(sent, &batch(sent)).await;
            sent += 1;
        }
        match next(t).await {
            Said::Msg(m) if m["t"] == "ack" => {
                let seq = m["seq"].as_u64().unwrap();
                assert_eq!(seq, acked.map_or(0, |a| a + 1), "acks in order");
                *acked = Some(seq);
            }
            Said::Msg(m) if m["t"] == "goaway" => goaway = true,
            Said::Msg(m) => assert_eq!(m["t"], "error", "unexpected {m}"),
            Said::Closed(code) => return (goaway, code),
        }
    }
}

#[tokio::test]
async fn a_full_disk_loses_no_acked_batch() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("spool-disk"), 6 << 20) else {
        return;
    };
    let storage = TestStorage::new().await;
    let (site, token) = cli_site_and_token(dir.path(), &storage, "disk");
    let key = site["site_key"].as_str().unwrap().to_string();
    let spool_dir = disk.path.join("spool");
    let serve = || {
        Proc::serve(dir.path(), &storage)
            .env("REEL_SPOOL_DIR", &spool_dir)
            .env("REEL_SPOOL_MIN_FREE_BYTES", (256 << 10).to_string())
    };
    let mut node = serve().start();
    // Leave about 1.5 MiB of the 6 MiB free.
    let filler = disk.path.join("filler");
    std::fs::write(&filler, vec![1u8; (4 << 20) + (512 << 10)]).unwrap();

    let mut t = Tracker::connect(&node.ingest_url(&key, "v"), None)
        .await
        .unwrap();
    let w = t.hello("v", None, "tab", None).await;
    let session = w["session"].as_str().unwrap().to_string();
    let mut acked: Option<u64> = None;
    let (goaway, code) = stream_until_refused(&mut t, &mut acked).await;
    let first_acked = acked.expect("some batches were acked before the disk filled");
    assert!(goaway, "the tracker is asked to hold its data (goaway)");
    assert_eq!(code, 4503, "closed as unavailable");

    // While the disk is full, no new connection is admitted.
    let http = reqwest::Client::new();
    match Tracker::connect(&node.ingest_url(&key, "other"), None).await {
        Err(r) => {
            assert_eq!(r.status, 503);
            assert_eq!(r.body["error"], "unavailable");
            assert!(r.retry_after.is_some());
        }
        Ok(_) => panic!("a new connection was admitted while the disk is full"),
    }

    // Space comes back: within a few seconds the node admits again, and
    // the tab continues right after its last ack (nothing refused was
    // counted as durable).
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut t = loop {
        match Tracker::connect(&node.ingest_url(&key, "v"), None).await {
            Ok(t) => break t,
            Err(r) => {
                assert_eq!(r.status, 503);
                assert!(
                    Instant::now() < deadline,
                    "still refused after space came back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let w = t.hello("v", Some(&session), "tab", acked).await;
    assert_eq!(w["session"], session.as_str());
    assert_eq!(w["next_seq"], first_acked + 1);
    let resume = first_acked + 1;
    for seq in resume..resume + 10 {
        t.batch_acked(seq, &batch(seq)).await;
        acked = Some(seq);
    }
    // Sent but not waited for: these may or may not be stored, never twice.
    for seq in resume + 10..resume + 14 {
        t.send_batch(seq, &batch(seq)).await;
    }
    node.sigkill();
    drop(t);

    let node = serve().start();
    let api = Api::new(node.base(), token.as_str());
    let got = api
        .text(&format!("/api/v1/sessions/{session}/events?tab=tab"))
        .await;
    let last = acked.unwrap();
    let stored = got.lines().count() as u64 / 2;
    assert!(stored > last, "acked up to {last}, stored {stored} batches");
    let want: Vec<String> = (0..stored).flat_map(batch).collect();
    assert!(
        got == ndjson(&want),
        "the stored events are not batches 0..{stored} in order, each once"
    );
    let (status, ready) = readyz(&http, &node.base()).await;
    assert_eq!(status, 200, "{ready}");
}
