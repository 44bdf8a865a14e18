//! Cold compaction (docs/storage.md, "Cold compaction") on real `reel
//! serve` processes: a session recorded with compaction off, then a node
//! with it on. Each tab becomes one compacted object, the events route
//! answers byte for byte as before (whole, per tab, and from a seek), the
//! documented Python reader reads it, deletion removes the compacted
//! objects, a compaction stopped between its steps (a provoked failure,
//! then kill -9) leaves a readable session and finishes after a restart,
//! and a late segment of another node after compaction is kept. A real
//! recording (the committed fixture of `loadtest/fixtures/`) compacts to
//! well under its hot segments and replays byte for byte.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reel::app::{open_blob_store, open_index};
use reel::config::Config;
use reel_actors::stats::SegmentDelta;
use reel_actors::traits::SegmentRecord;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::*;

const COMPACTED: &str = ".c.ndjson.zst";
const WAIT: Duration = Duration::from_secs(60);

/// A config file for a node that compacts at once (no quiet time, no
/// grace), with `extra` lines in `[compaction]`.
fn compaction_file(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("compaction.toml");
    let mut text = format!("[compaction]\n{extra}\n");
    for default in [
        "enabled = true",
        "poll_ms = 50",
        "after_end_ms = 0",
        "quiet_ms = 0",
        "reader_grace_ms = 0",
    ] {
        let key = default.split(' ').next().unwrap();
        if !extra.contains(key) {
            text.push_str(default);
            text.push('\n');
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A node that compacts, on `dir` and `storage`.
fn compacting(dir: &Path, storage: &TestStorage, extra: &str) -> Proc {
    Proc::serve(dir, storage)
        .env("REEL_CONFIG", compaction_file(dir, extra))
        .start()
}

/// A node that does not compact.
fn not_compacting(dir: &Path, storage: &TestStorage) -> Proc {
    Proc::serve(dir, storage)
        .env("REEL_COMPACTION_ENABLED", "0")
        .start()
}

/// A recorded session: its id, start, and the time of its second page.
struct Recorded {
    session: String,
    base: i64,
    started_at: i64,
}

/// Records a session of two tabs: `tab` with two page loads (a segment
/// each, a page of several batches), `tab2` with one; then closes them.
async fn record(node: &Proc, api: &Api, key: &str) -> Recorded {
    let base = reel_actors::now_ms();
    let url = node.ingest_url(key, "v");
    let (mut t, session) = Tracker::open(&url, "v").await;
    let big = "x".repeat(20_000);
    t.batch_acked(
        0,
        &[
            ev::meta(base, "https://shop.example/"),
            ev::full_snapshot(base + 1, &big),
        ],
    )
    .await;
    for seq in 1..4u64 {
        t.batch_acked(seq, &[ev::click(base + seq as i64 * 1000, seq as u32)])
            .await;
    }
    t.end(3).await;
    t.close().await;
    // The second page of the tab, on a new connection (a navigation).
    let mut t = Tracker::connect(&url, None).await.unwrap();
    t.hello("v", Some(&session), "tab", Some(3)).await;
    t.batch_acked(
        4,
        &[
            ev::meta(base + 60_000, "https://shop.example/cart"),
            ev::full_snapshot(base + 60_001, "cart"),
        ],
    )
    .await;
    for seq in 5..8u64 {
        t.batch_acked(
            seq,
            &[ev::click(base + 60_000 + seq as i64 * 1000, seq as u32)],
        )
        .await;
    }
    t.end(7).await;
    t.close().await;
    let mut t2 = Tracker::connect(&url, None).await.unwrap();
    t2.hello("v", Some(&session), "tab2", None).await;
    t2.batch_acked(
        0,
        &[
            ev::meta(base + 500, "https://shop.example/help"),
            ev::full_snapshot(base + 501, "help"),
        ],
    )
    .await;
    t2.batch_acked(1, &[ev::click(base + 2500, 9)]).await;
    t2.end(1).await;
    t2.close().await;
    let deadline = Instant::now() + WAIT;
    let info = loop {
        let v = api.json(&format!("/api/v1/sessions/{session}")).await;
        if v["segments"] == 3 {
            break v;
        }
        assert!(Instant::now() < deadline, "segments not stored: {v}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    Recorded {
        session,
        base,
        started_at: info["started_at"].as_i64().unwrap(),
    }
}

/// A session recorded (see [`record`]) by a node that does not compact,
/// then stopped: what the tests go on from.
struct Setup {
    storage: TestStorage,
    dir: tempfile::TempDir,
    token: String,
    r: Recorded,
    /// What replay answered before any compaction.
    before: Vec<String>,
    /// The session's segment rows before any compaction.
    rows: Vec<Value>,
}

async fn recorded_then_stopped() -> Setup {
    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "compaction");
    let key = site["site_key"].as_str().unwrap().to_string();
    let node = not_compacting(dir.path(), &storage);
    let api = Api::new(node.base(), &token);
    let r = record(&node, &api, &key).await;
    let before = replay(&api, &r).await;
    let rows = segments(&api, &r.session).await;
    drop(node);
    Setup {
        storage,
        dir,
        token,
        r,
        before,
        rows,
    }
}

/// What replay answers: merged, per tab, and from a seek to the second
/// page of `tab` (whole and that tab's).
async fn replay(api: &Api, r: &Recorded) -> Vec<String> {
    let s = &r.session;
    let t = r.base + 60_500 - r.started_at;
    let mut out = Vec::new();
    for route in [
        format!("/api/v1/sessions/{s}/events"),
        format!("/api/v1/sessions/{s}/events?tab=tab"),
        format!("/api/v1/sessions/{s}/events?tab=tab2"),
        format!("/api/v1/sessions/{s}/events?tab=tab&t={t}"),
        format!("/api/v1/sessions/{s}/events?t={t}"),
    ] {
        let res = api.get(&route).await;
        assert_eq!(res.status(), 200, "GET {route}");
        out.push(res.text().await.unwrap());
    }
    out
}

/// The session's segment rows, from the API.
async fn segments(api: &Api, session: &str) -> Vec<Value> {
    api.json(&format!("/api/v1/sessions/{session}/segments"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until each of the session's two tabs is one compacted object
/// and the storage holds exactly the objects its rows name.
async fn wait_compacted(api: &Api, storage: &TestStorage, dir: &Path, session: &str) -> Vec<Value> {
    wait_compacted_tabs(api, storage, dir, session, 2).await
}

/// Waits until each of the session's `tabs` tabs is one compacted object
/// and the storage holds exactly the objects its rows name.
async fn wait_compacted_tabs(
    api: &Api,
    storage: &TestStorage,
    dir: &Path,
    session: &str,
    tabs: usize,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let segs = segments(api, session).await;
        let keys: Vec<String> = segs
            .iter()
            .map(|s| s["key"].as_str().unwrap().to_string())
            .collect();
        let objects: Vec<String> = storage
            .objects(dir)
            .await
            .into_iter()
            .filter(|k| k.contains(&format!("/{session}/")))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        if segs.len() == tabs && keys.iter().all(|k| k.ends_with(COMPACTED)) && objects == sorted {
            return segs;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted: {segs:?}, objects {objects:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn an_ended_session_becomes_one_compacted_object_per_tab_replayed_byte_identical() {
    let Setup {
        storage,
        dir,
        token,
        r,
        before,
        ..
    } = recorded_then_stopped().await;
    // The seek starts at the second page's Meta of `tab`.
    let from_page2 = &before[3];
    assert!(
        from_page2.starts_with(&format!(
            "{}\n",
            ev::meta(r.base + 60_000, "https://shop.example/cart")
        )),
        "{from_page2}"
    );
    assert!(before[1].ends_with(from_page2.as_str()));

    let node = compacting(dir.path(), &storage, "");
    let api = Api::new(node.base(), &token);
    let segs = wait_compacted(&api, &storage, dir.path(), &r.session).await;
    let tab = segs.iter().find(|s| s["tab"] == "tab").unwrap();
    assert_eq!(
        (tab["first_seq"].as_u64(), tab["last_seq"].as_u64()),
        (Some(0), Some(7))
    );
    assert_eq!(tab["batch_ends"].as_array().unwrap().len(), 8, "{segs:?}");
    assert_eq!(
        replay(&api, &r).await,
        before,
        "replay changed by compaction"
    );

    // The documented reader reads the compacted objects too.
    python_reader_agrees(dir.path(), &storage, &r.session, &before[1], &before[2]);

    // Deleting the session deletes its compacted objects.
    let (status, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/sessions/{}", r.session),
            &json!({}),
        )
        .await;
    assert_eq!(status, 204);
    let left: Vec<String> = storage
        .objects(dir.path())
        .await
        .into_iter()
        .filter(|k| k.contains(&r.session))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Runs docs/read_recordings.py on the node's data dir (SQLite and local
/// blobs only) with a Python that has zstandard; the events of each tab
/// must be those of the API.
fn python_reader_agrees(dir: &Path, storage: &TestStorage, session: &str, tab: &str, tab2: &str) {
    if storage.database_url().is_some() {
        return;
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let python = ["python3".into(), target.join("moto-venv/bin/python")]
        .into_iter()
        .find(|p: &PathBuf| {
            std::process::Command::new(p)
                .args(["-c", "import zstandard"])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let python = python.expect(
        "no Python with zstandard to run docs/read_recordings.py: ./scripts/services installs one",
    );
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/read_recordings.py"))
        .arg(dir.join("blobs"))
        .arg(session)
        .arg(dir.join("index.db"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut tabs: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("tab ") {
            current = rest.split(':').next().unwrap().to_string();
        } else {
            tabs.entry(current.clone())
                .or_default()
                .push(serde_json::from_str(line).unwrap());
        }
    }
    let parse = |s: &str| -> Vec<Value> {
        s.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(tabs["tab"], parse(tab));
    assert_eq!(tabs["tab2"], parse(tab2));
}

#[actix_web::test]
async fn a_compaction_stopped_between_its_steps_leaves_a_readable_session_and_resumes() {
    let Setup {
        storage,
        dir,
        token,
        r,
        before,
        rows: rows_before,
    } = recorded_then_stopped().await;

    // Stopped after writing the compacted objects: the rows still name
    // the segments, the session reads the same; then killed.
    let mut node = compacting(dir.path(), &storage, "fail_at = \"after_put\"");
    let api = Api::new(node.base(), &token);
    let deadline = Instant::now() + WAIT;
    while storage
        .objects(dir.path())
        .await
        .iter()
        .filter(|k| k.ends_with(COMPACTED))
        .count()
        == 0
    {
        assert!(Instant::now() < deadline, "no compacted object written");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(segments(&api, &r.session).await, rows_before);
    assert_eq!(replay(&api, &r).await, before);
    node.sigkill();

    // Stopped after the swap (the replaced objects doomed, not deleted
    // yet), killed again.
    let mut node = compacting(
        dir.path(),
        &storage,
        "fail_at = \"after_swap\"\nreader_grace_ms = 3600000",
    );
    let api = Api::new(node.base(), &token);
    let deadline = Instant::now() + WAIT;
    loop {
        let segs = segments(&api, &r.session).await;
        if segs.len() == 2
            && segs
                .iter()
                .all(|s| s["key"].as_str().unwrap().ends_with(COMPACTED))
        {
            break;
        }
        assert!(Instant::now() < deadline, "not swapped: {segs:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(replay(&api, &r).await, before);
    node.sigkill();

    // A node without failures: the readers' grace of the doomed objects
    // passes, the sweep deletes them, nothing else is left.
    storage
        .execute(dir.path(), "UPDATE doomed_blobs SET delete_after = 0")
        .await;
    let node = compacting(dir.path(), &storage, "");
    let api = Api::new(node.base(), &token);
    wait_compacted(&api, &storage, dir.path(), &r.session).await;
    assert_eq!(replay(&api, &r).await, before);
}

#[actix_web::test]
async fn a_late_segment_of_another_node_after_compaction_is_kept_and_compacted_again() {
    let Setup {
        storage,
        dir,
        token,
        r,
        ..
    } = recorded_then_stopped().await;
    let node = compacting(dir.path(), &storage, "");
    let api = Api::new(node.base(), &token);
    let segs = wait_compacted(&api, &storage, dir.path(), &r.session).await;
    let tab = segs.iter().find(|s| s["tab"] == "tab").unwrap().clone();
    let before = api
        .text(&format!("/api/v1/sessions/{}/events?tab=tab", r.session))
        .await;

    // Another node commits batches 7 (again) and 8 of the tab: a resend
    // after a failover that overlaps the compacted object.
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    storage.apply(&mut config);
    let index = open_index(&config).await.unwrap().into_dyn();
    let blob = open_blob_store(&config).await.unwrap();
    let b7 = format!("{}\n", ev::click(r.base + 67_000, 7));
    let b8 = format!("{}\n", ev::click(r.base + 90_000, 8));
    let raw = format!("{b7}{b8}");
    let dir_key = tab["key"]
        .as_str()
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    let late = SegmentRecord {
        session_id: r.session.clone(),
        tab_id: "tab".into(),
        first_seq: 7,
        last_seq: 8,
        first_ts: r.base + 67_000,
        last_ts: r.base + 90_000,
        event_count: 2,
        raw_bytes: raw.len() as u64,
        stored_bytes: 0,
        blob_key: format!("{dir_key}/00000000000000000007-00000000000000000008-other.ndjson.zst"),
        received_at: reel_actors::now_ms(),
        batch_ends: vec![b7.len() as u64, raw.len() as u64],
    };
    blob.put(
        &late.blob_key,
        Bytes::from(zstd::encode_all(raw.as_bytes(), 3).unwrap()),
    )
    .await
    .unwrap();
    index
        .commit_segment(&late, &SegmentDelta::default())
        .await
        .unwrap();
    let expected = format!("{before}{b8}");
    // Readable at once (batch 7 once), then compacted again with it.
    let deadline = Instant::now() + WAIT;
    loop {
        let now = api
            .text(&format!("/api/v1/sessions/{}/events?tab=tab", r.session))
            .await;
        assert_eq!(now, expected, "the late batch is lost or doubled");
        let segs = segments(&api, &r.session).await;
        let tab_rows: Vec<&Value> = segs.iter().filter(|s| s["tab"] == "tab").collect();
        if tab_rows.len() == 1
            && tab_rows[0]["key"].as_str().unwrap().ends_with(COMPACTED)
            && tab_rows[0]["last_seq"] == 8
        {
            break;
        }
        assert!(Instant::now() < deadline, "not compacted again: {segs:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    wait_compacted(&api, &storage, dir.path(), &r.session).await;
    drop(node);
}

/// The committed real recording (loadtest/fixtures/README.md): one tab
/// reading four pages of the Rust documentation in Chromium, as the
/// tracker sent it, 3.0 MB of rrweb.
const REAL_FIXTURE: &str = "loadtest/fixtures/rust-docs-4pages-s1-t1.batches.ndjson.zst";
/// Hot segments' stored bytes over the compacted object's, at least: the
/// fixture measures about 1.9 (the long window finds each page's markup
/// in the pages before it; the hot segments compress each batch alone).
const MIN_HOT_OVER_COMPACTED: f64 = 1.5;
/// Raw bytes over the compacted object's, at least: the fixture measures
/// about 18.5.
const MIN_RAW_OVER_COMPACTED: f64 = 14.0;

#[actix_web::test]
async fn a_real_recording_compacts_to_under_its_hot_segments_and_replays_byte_identical() {
    let fixture =
        reel_loadtest::corpus::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(REAL_FIXTURE))
            .unwrap();
    // Each batch's events, their bytes as the tracker sent them.
    let batches: Vec<Vec<String>> = fixture
        .batches
        .iter()
        .map(|b| {
            serde_json::from_str::<Vec<&serde_json::value::RawValue>>(&b.events)
                .unwrap()
                .into_iter()
                .map(|e| e.get().to_string())
                .collect()
        })
        .collect();
    let sent: String = batches.iter().flatten().map(|e| format!("{e}\n")).collect();
    // A page starts at a batch holding a Meta event.
    let meta = |e: &String| serde_json::from_str::<Value>(e).unwrap()["type"] == 4;
    let mut pages: Vec<std::ops::Range<usize>> = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        match pages.last_mut() {
            Some(p) if !b.iter().any(meta) => p.end = i + 1,
            _ => pages.push(i..i + 1),
        }
    }
    assert_eq!(pages.len(), 4, "the fixture's page loads");

    let storage = TestStorage::new().await;
    let dir = tempfile::tempdir().unwrap();
    let (site, token) = cli_site_and_token(dir.path(), &storage, "compaction");
    let key = site["site_key"].as_str().unwrap().to_string();
    let node = not_compacting(dir.path(), &storage);
    let api = Api::new(node.base(), &token);
    // As the tracker records a tab: a connection per page load, `end` on
    // leaving it, the next page resuming the session and the tab.
    let url = node.ingest_url(&key, "v");
    let mut session: Option<String> = None;
    for page in &pages {
        let mut t = Tracker::connect(&url, None).await.unwrap();
        let acked = page.start.checked_sub(1).map(|s| s as u64);
        let welcome = t.hello("v", session.as_deref(), "tab", acked).await;
        let id = welcome["session"].as_str().unwrap().to_string();
        assert_eq!(
            session.get_or_insert(id.clone()),
            &id,
            "a page left the session"
        );
        for seq in page.clone() {
            t.batch_acked(seq as u64, &batches[seq]).await;
        }
        t.end(page.end as u64 - 1).await;
        t.close().await;
    }
    let session = session.unwrap();
    let deadline = Instant::now() + WAIT;
    while api.json(&format!("/api/v1/sessions/{session}")).await["segments"] != pages.len() {
        assert!(Instant::now() < deadline, "segments not stored");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let replay = |api: Api| {
        let session = session.clone();
        async move {
            let whole = api
                .text(&format!("/api/v1/sessions/{session}/events"))
                .await;
            let tab = api
                .text(&format!("/api/v1/sessions/{session}/events?tab=tab"))
                .await;
            (whole, tab)
        }
    };
    let (whole, tab) = replay(api.clone()).await;
    same_bytes("hot segments, whole session", &whole, &sent);
    same_bytes("hot segments, the tab", &tab, &sent);
    let hot: u64 = segments(&api, &session)
        .await
        .iter()
        .map(|s| s["stored_bytes"].as_u64().unwrap())
        .sum();
    drop(node);

    let node = compacting(dir.path(), &storage, "");
    let api = Api::new(node.base(), &token);
    let segs = wait_compacted_tabs(&api, &storage, dir.path(), &session, 1).await;
    let (whole, tab) = replay(api.clone()).await;
    same_bytes("compacted, whole session", &whole, &sent);
    same_bytes("compacted, the tab", &tab, &sent);
    let compacted = segs[0]["stored_bytes"].as_u64().unwrap();
    let raw = sent.len() as f64;
    println!(
        "{REAL_FIXTURE}: {} B raw; hot segments {hot} B ({:.1}x); compacted {compacted} B ({:.1}x); hot / compacted {:.2}",
        sent.len(),
        raw / hot as f64,
        raw / compacted as f64,
        hot as f64 / compacted as f64
    );
    assert!(
        hot as f64 / compacted as f64 >= MIN_HOT_OVER_COMPACTED,
        "compacted {compacted} B against {hot} B of hot segments"
    );
    assert!(
        raw / compacted as f64 >= MIN_RAW_OVER_COMPACTED,
        "compacted {compacted} B of {raw} B raw"
    );
}

/// Fails at the first byte where `got` leaves `want` (the texts are MBs:
/// their whole diff would drown the message).
fn same_bytes(what: &str, got: &str, want: &str) {
    if got == want {
        return;
    }
    let at = got
        .bytes()
        .zip(want.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    let around = |s: &str| {
        String::from_utf8_lossy(&s.as_bytes()[at.saturating_sub(80)..(at + 80).min(s.len())])
            .into_owned()
    };
    panic!(
        "{what}: replay differs from what was sent at byte {at} ({} B against {} B)\n got: {}\nsent: {}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}
