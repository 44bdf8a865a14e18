//! The storage adapters' contract, written once and run on both backends:
//! SQLite + the local blob directory, and Postgres + S3. The outbox relies
//! on every write here being idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use reel::app::{open_blob_store, open_index};
use reel::config::Config;
use reel_actors::stats::{SegmentDelta, SignalDelta};
use reel_actors::traits::{
    BlobStore, DeleteReason, Index, NewSession, Scope, SegmentRecord, StoreError, Tombstone,
    UNSTAMPED_IDENTIFIED_AT,
};
use reel_protocol::api::SessionFilter;
use reel_protocol::lifecycle::{ErasureState, Person};
use reel_protocol::signals::{MAX_ERROR_TEXTS, MAX_TRACK_NAMES};

use crate::support::*;

pub(crate) struct Backend {
    pub(crate) index: Arc<dyn Index>,
    blob: Arc<dyn BlobStore>,
    pub(crate) site_id: i64,
    pub(crate) org_id: i64,
    pub(crate) _storage: TestStorage,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) async fn backend(storage: TestStorage) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    storage.apply(&mut config);
    let sql = open_index(&config).await.unwrap();
    sql.migrate().await.unwrap();
    let (site_id, key) = sql.create_site("acme", "shop", &[]).await.unwrap();
    let index = sql.into_dyn();
    let org_id = index.site_by_key(&key).await.unwrap().unwrap().org_id;
    Backend {
        index,
        blob: open_blob_store(&config).await.unwrap(),
        site_id,
        org_id,
        _storage: storage,
        _dir: dir,
    }
}

pub(crate) fn new_session(id: &str, site_id: i64, started_at: i64, url: &str) -> NewSession {
    NewSession {
        id: id.into(),
        site_id,
        visitor_id: format!("v-{id}"),
        started_at,
        first_url: url.into(),
        ..NewSession::default()
    }
}

fn segment(session: &str, first_seq: u64, last_seq: u64) -> (SegmentRecord, SegmentDelta) {
    let record = SegmentRecord {
        session_id: session.into(),
        tab_id: "tab".into(),
        first_seq,
        last_seq,
        first_ts: 1_000,
        last_ts: 2_000,
        event_count: 10,
        raw_bytes: 500,
        stored_bytes: 100,
        blob_key: format!("1/2026-11-23/{session}/tab/{first_seq:020}.ndjson.zst"),
        received_at: 1_000,
        batch_ends: Vec::new(),
    };
    let delta = SegmentDelta {
        events: 10,
        raw_bytes: 500,
        stored_bytes: 100,
        clicks: 2,
        last_activity_at: 2_000 + first_seq as i64,
        urls: vec![("https://shop.example/Cart".into(), 1_500)],
        ..SegmentDelta::default()
    };
    (record, delta)
}

/// The contract, on one backend.
async fn contract(b: Backend) {
    let (index, site, org) = (&b.index, b.site_id, b.org_id);
    // Opening a session twice (an outbox write applied again) changes nothing.
    let s = new_session("s1", site, 1_000, "https://shop.example/Home");
    index.open_session(&s).await.unwrap();
    index.open_session(&s).await.unwrap();
    // A segment committed twice adds its counters once.
    let (rec, delta) = segment("s1", 0, 4);
    index.commit_segment(&rec, &delta).await.unwrap();
    index.commit_segment(&rec, &delta).await.unwrap();
    let (rec2, delta2) = segment("s1", 5, 9);
    index.commit_segment(&rec2, &delta2).await.unwrap();
    let info = index
        .session_info(&Scope::org(org), "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((info.events, info.clicks, info.segments), (20, 4, 2));
    assert_eq!(info.raw_bytes, 1_000);
    assert_eq!(info.last_activity_at, 2_005);
    assert_eq!(info.urls, vec!["https://shop.example/Cart".to_string()]);
    assert_eq!(index.tab_next_seq("s1", "tab").await.unwrap(), 10);
    assert_eq!(index.tab_next_seq("s1", "other").await.unwrap(), 0);
    // Batch ends round trip; rows without them read as empty.
    let (mut rec3, delta3) = segment("s1", 10, 12);
    rec3.batch_ends = vec![100, 250, 500];
    index.commit_segment(&rec3, &delta3).await.unwrap();
    // Another writer's segment from the same first seq (a failover race):
    // the longer takes the row, the shorter or the same changes nothing.
    let (mut longer, delta4) = segment("s1", 10, 14);
    longer.blob_key = "1/2026-11-23/s1/tab/other-writer.ndjson.zst".into();
    longer.batch_ends = vec![100, 250, 500, 600, 700];
    index.commit_segment(&longer, &delta4).await.unwrap();
    index.commit_segment(&longer, &delta4).await.unwrap();
    index.commit_segment(&rec3, &delta3).await.unwrap();
    let segs = index.segments("s1").await.unwrap();
    assert_eq!(segs.len(), 3);
    assert!(segs[0].batch_ends.is_empty());
    assert_eq!(segs[2], longer);
    assert_eq!(index.tab_next_seq("s1", "tab").await.unwrap(), 15);
    let info = index
        .session_info(&Scope::org(org), "s1")
        .await
        .unwrap()
        .unwrap();
    // Three rows; the replaced row's counters count its overlap twice.
    assert_eq!((info.events, info.segments), (40, 3));
    // identify, end: the end is set once.
    let traits = BTreeMap::from([("plan".to_string(), "pro".to_string())]);
    index.identify("s1", "u-0", &traits, 1_000).await.unwrap();
    index.identify("s1", "u-1", &traits, 2_000).await.unwrap();
    // An older identify applied after a newer one (replayed from a spool)
    // changes nothing, stamped or not (an old spool's `Identify`).
    let older = BTreeMap::from([("plan".to_string(), "free".to_string())]);
    index.identify("s1", "u-old", &older, 1_999).await.unwrap();
    index
        .identify("s1", "u-unstamped", &older, UNSTAMPED_IDENTIFIED_AT)
        .await
        .unwrap();
    // The same identify applied twice is the same.
    index.identify("s1", "u-1", &traits, 2_000).await.unwrap();
    index.end_session("s1", 3_000).await.unwrap();
    index.end_session("s1", 9_000).await.unwrap();
    let info = index
        .session_info(&Scope::org(org), "s1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.user_id.as_deref(), Some("u-1"));
    assert_eq!(info.user_traits, traits);
    assert_eq!(info.ended_at, Some(3_000));
    assert!(!info.live);
    // 64-bit values survive: timestamps past 2^32 ms and seqs past 2^32.
    let big = new_session("s2", site, 4_102_444_800_000, "https://shop.example/home");
    index.open_session(&big).await.unwrap();
    let (mut rec, delta) = segment("s2", 5_000_000_000, 5_000_000_001);
    rec.first_ts = 4_102_444_800_000;
    index.commit_segment(&rec, &delta).await.unwrap();
    assert_eq!(
        index.tab_next_seq("s2", "tab").await.unwrap(),
        5_000_000_002
    );
    // The list: newest first, the URL search is a case-insensitive
    // substring match on the first URL or any URL loaded.
    let list = |url: &str| SessionFilter {
        url: Some(url.into()),
        ..SessionFilter::default()
    };
    let ids = |page: reel_protocol::api::SessionPage| {
        page.sessions.into_iter().map(|s| s.id).collect::<Vec<_>>()
    };
    let all = index
        .list_sessions(&Scope::org(org), site, &SessionFilter::default(), &[])
        .await
        .unwrap();
    assert_eq!(ids(all), vec!["s2", "s1"]);
    assert_eq!(
        ids(index
            .list_sessions(&Scope::org(org), site, &list("HOME"), &[])
            .await
            .unwrap()),
        vec!["s2", "s1"]
    );
    assert_eq!(
        ids(index
            .list_sessions(&Scope::org(org), site, &list("cart"), &[])
            .await
            .unwrap()),
        vec!["s2", "s1"]
    );
    assert_eq!(
        ids(index
            .list_sessions(&Scope::org(org), site, &list("100%"), &[])
            .await
            .unwrap()),
        Vec::<String>::new()
    );
    assert!(index
        .list_sessions(&Scope::org(org + 1), site, &SessionFilter::default(), &[])
        .await
        .unwrap()
        .sessions
        .is_empty());

    // An old spool's unstamped identify still applies to a session no
    // stamped identify has reached.
    let plain = new_session("s3", site, 1_500, "https://shop.example/x");
    index.open_session(&plain).await.unwrap();
    index
        .identify("s3", "u-3", &traits, UNSTAMPED_IDENTIFIED_AT)
        .await
        .unwrap();
    let info = index
        .session_info(&Scope::org(org), "s3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.user_id.as_deref(), Some("u-3"));

    // Blobs: round trip, overwrite (a segment written again), not found.
    let blob = &b.blob;
    blob.check().await.unwrap();
    blob.put("1/x/a.ndjson.zst", Bytes::from_static(b"one"))
        .await
        .unwrap();
    blob.put("1/x/a.ndjson.zst", Bytes::from_static(b"two"))
        .await
        .unwrap();
    assert_eq!(&blob.get("1/x/a.ndjson.zst").await.unwrap()[..], b"two");
    assert!(matches!(
        blob.get("1/x/missing").await,
        Err(StoreError::NotFound)
    ));
    lifecycle_contract(&b).await;
    signals_contract(&b).await;
}

/// Signals (PROTOCOL.md §7): counters and names added once per segment,
/// names and texts bounded per session, deleted with the session.
async fn signals_contract(b: &Backend) {
    let (index, site, org) = (&b.index, b.site_id, b.org_id);
    index
        .open_session(&new_session("sig", site, 1_000, "https://shop.example/"))
        .await
        .unwrap();
    let (rec, mut delta) = segment("sig", 0, 4);
    delta.signals = SignalDelta {
        failed_requests: 2,
        rage_clicks: 1,
        dead_clicks: 3,
        track_events: vec!["signup".into(), "pay".into()],
        error_texts: vec!["boom".into()],
    };
    // Committed twice (an outbox write applied again): added once.
    index.commit_segment(&rec, &delta).await.unwrap();
    index.commit_segment(&rec, &delta).await.unwrap();
    let (mut rec2, mut delta2) = segment("sig", 5, 9);
    rec2.first_ts = 3_000;
    delta2.signals = SignalDelta {
        failed_requests: 1,
        track_events: (0..MAX_TRACK_NAMES)
            .map(|i| format!("n{i:03}"))
            .chain(["signup".to_string()])
            .collect(),
        error_texts: (0..MAX_ERROR_TEXTS + 3).map(|i| format!("e{i}")).collect(),
        ..SignalDelta::default()
    };
    index.commit_segment(&rec2, &delta2).await.unwrap();
    let info = index
        .session_info(&Scope::org(org), "sig")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (info.failed_requests, info.rage_clicks, info.dead_clicks),
        (3, 1, 3)
    );
    // First seen first; past the bound, new names are not kept.
    let mut want = vec!["pay".to_string(), "signup".to_string()];
    want.extend((0..MAX_TRACK_NAMES - 2).map(|i| format!("n{i:03}")));
    assert_eq!(info.track_events, want);
    let dir = b._dir.path();
    let count = |table: &str| {
        format!("UPDATE {table} SET session_id = session_id WHERE session_id = 'sig'")
    };
    assert_eq!(
        b._storage.execute(dir, &count("session_error_texts")).await,
        MAX_ERROR_TEXTS as u64
    );
    // Deleting the session deletes its names and texts.
    index.purge_session("sig").await.unwrap();
    for table in ["session_track_events", "session_error_texts"] {
        assert_eq!(b._storage.execute(dir, &count(table)).await, 0, "{table}");
    }
}

/// Deletion (PROTOCOL.md §6): blob deletes in batches, tombstones that
/// every write honours, leases that one holder gets.
async fn lifecycle_contract(b: &Backend) {
    let (index, blob, site, org) = (&b.index, &b.blob, b.site_id, b.org_id);
    // More keys than one DeleteObjects request takes, and a missing one.
    let n = reel::s3::DELETE_BATCH + 5;
    let keys: Vec<String> = (0..n).map(|i| format!("{site}/d/del/tab/{i:05}")).collect();
    for k in &keys {
        blob.put(k, Bytes::from_static(b"x")).await.unwrap();
    }
    blob.put("keep/me", Bytes::from_static(b"kept"))
        .await
        .unwrap();
    let mut with_missing = keys.clone();
    with_missing.push("never/written".into());
    blob.delete(&with_missing).await.unwrap();
    for k in [&keys[0], &keys[reel::s3::DELETE_BATCH], &keys[n - 1]] {
        assert!(
            matches!(blob.get(k).await, Err(StoreError::NotFound)),
            "{k}"
        );
    }
    assert_eq!(&blob.get("keep/me").await.unwrap()[..], b"kept");
    // Deleting again is no error.
    blob.delete(&keys[..3]).await.unwrap();

    // A tombstoned session: no row comes back, no segment is committed.
    index
        .open_session(&new_session("gone", site, 10, "https://shop.example/"))
        .await
        .unwrap();
    let (seg, delta) = segment("gone", 0, 4);
    index.commit_segment(&seg, &delta).await.unwrap();
    assert!(!index.is_tombstoned("gone").await.unwrap());
    index
        .tombstone(&Tombstone {
            session_id: "gone".into(),
            site_id: site,
            deleted_at: 20,
            reason: DeleteReason::Deleted,
            erasure_id: None,
        })
        .await
        .unwrap();
    assert!(index.is_tombstoned("gone").await.unwrap());
    let scope = Scope::org(org);
    assert!(index.session_info(&scope, "gone").await.unwrap().is_none());
    assert!(index.find_session("gone").await.unwrap().is_none());
    index.purge_session("gone").await.unwrap();
    assert!(index.segments("gone").await.unwrap().is_empty());
    index
        .open_session(&new_session("gone", site, 10, "https://shop.example/"))
        .await
        .unwrap();
    let (late, delta) = segment("gone", 5, 9);
    index.commit_segment(&late, &delta).await.unwrap();
    assert!(index.segments("gone").await.unwrap().is_empty());
    let usage = index.site_usage(&scope, site).await.unwrap().unwrap();
    let listed = index
        .list_sessions(&scope, site, &SessionFilter::default(), &[])
        .await
        .unwrap();
    assert!(!listed.sessions.iter().any(|s| s.id == "gone"));
    assert_eq!(usage.sessions, listed.sessions.len() as i64);

    // Pins, in scope only.
    let pinned_id = &listed.sessions[0].id;
    assert!(index.set_pinned(&scope, pinned_id, true).await.unwrap());
    assert!(!index
        .set_pinned(&Scope::org(org + 1000), pinned_id, true)
        .await
        .unwrap());
    assert!(!index.set_pinned(&scope, "gone", true).await.unwrap());
    assert!(
        index
            .session_info(&scope, pinned_id)
            .await
            .unwrap()
            .unwrap()
            .pinned
    );

    // A lease: one holder until it expires or is let go.
    assert!(index.take_lease("l", "a", 100, 200).await.unwrap());
    assert!(!index.take_lease("l", "b", 150, 250).await.unwrap());
    assert!(index.take_lease("l", "a", 150, 300).await.unwrap());
    assert!(index.take_lease("l", "b", 301, 400).await.unwrap());

    // An erasure job: claimed by one node until its lease expires.
    let person = Person::Visitor("nobody".into());
    let id = index.create_erasure(org, site, &person).await.unwrap();
    let now = reel_actors::now_ms();
    let job = index
        .claim_erasure("a", now, now + 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.id.as_str(), &job.person), (id.as_str(), &person));
    assert!(index
        .claim_erasure("b", now, now + 60_000)
        .await
        .unwrap()
        .is_none());
    // Its holder takes it again (it stopped on an error and tries again).
    assert!(index
        .claim_erasure("a", now, now + 60_000)
        .await
        .unwrap()
        .is_some());
    // Expired: another node takes it over.
    let later = now + 60_001;
    let job = index
        .claim_erasure("b", later, later + 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.id, id);
    assert!(!index.renew_erasure(&id, "a", later).await.unwrap());
    index.finish_erasure(&id, later).await.unwrap();
    let receipt = index.erasure(org, &id).await.unwrap().unwrap();
    assert_eq!(receipt.state, ErasureState::Done);
    assert_eq!((receipt.sessions, receipt.objects), (0, 0));
    assert_eq!(receipt.finished_at, Some(later));
    assert!(index.erasure(org + 1000, &id).await.unwrap().is_none());
    assert!(index
        .claim_erasure("c", later * 2, later * 2)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn storage_contract_on_sqlite_and_local_blobs() {
    contract(backend(TestStorage::embedded()).await).await;
}

#[tokio::test]
async fn storage_contract_on_postgres_and_s3() {
    contract(backend(TestStorage::postgres_s3().await).await).await;
}
