//! The failover race (issue 9): two nodes commit overlapping segments of one
//! tab, and both pass the stored-ranges check because neither has committed
//! yet. Provoked deterministically: both writers' checks read the index,
//! then wait for each other before either commits. Replays must hold each
//! batch once, and no writer's object may replace the other's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;
use tokio::time::Instant;

use async_trait::async_trait;
use reel::app::{open_blob_store, open_index};
use reel::spool::{FileSpool, SpoolOptions};
use reel_actors::outbox::Outbox;
use reel_actors::segment::{self, TabBuffer};
use reel_actors::stats::{BatchStats, SegmentDelta};
use reel_actors::traits::{
    BlobStore, ErasureJob, Index, Maintenance, NewSession, Scope, SegmentRecord, SessionRecord,
    SessionRef, SiteRecord, SiteUpdate, SiteUsage, SpoolBatch, StoreError, StoreResult, Tombstone,
};
use reel_protocol::api::{SessionFilter, SessionInfo, SessionPage};
use reel_protocol::lifecycle::{ErasureReceipt, Person};
use serde_json::Value;

use crate::support::*;

/// Events per batch: more than one, so that a cut between batches shows.
const EVENTS_PER_BATCH: u64 = 3;

/// The index both writers share, whose `segments` (the stored-ranges
/// check) returns what it read only once both writers have read; and which
/// can delete the session right after each segment commit.
struct RacingIndex {
    inner: Arc<dyn Index>,
    both_checked: tokio::sync::Barrier,
    /// What a delete of the session does to segment commits.
    delete: DeleteRace,
}

/// A delete (the session's tombstone) racing a writer's segment commit.
enum DeleteRace {
    /// No delete.
    None,
    /// Right after each commit: between a writer's commit and its second
    /// look at the tombstone.
    AfterCommit,
    /// After the first commit failed (as a locked SQLite or a dropped
    /// connection fails it) once its object was written, and after the
    /// writer's second look at the tombstone: its next attempt finds the
    /// session deleted. The phases count that: 0 before the failure, 1
    /// failed, 2 looked again, 3 deleted.
    AfterFailedCommit(std::sync::atomic::AtomicU8),
}

/// The tombstone of a session deleted now.
fn deleted(session_id: &str) -> Tombstone {
    Tombstone {
        session_id: session_id.to_owned(),
        site_id: 0,
        deleted_at: reel_actors::now_ms(),
        reason: reel_actors::traits::DeleteReason::Deleted,
        erasure_id: None,
    }
}

#[async_trait]
impl Index for RacingIndex {
    async fn segments(&self, session_id: &str) -> StoreResult<Vec<SegmentRecord>> {
        let read = self.inner.segments(session_id).await;
        self.both_checked.wait().await;
        read
    }

    async fn check(&self) -> StoreResult<()> {
        self.inner.check().await
    }
    async fn site_by_key(&self, key: &str) -> StoreResult<Option<SiteRecord>> {
        self.inner.site_by_key(key).await
    }
    async fn site_by_id(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteRecord>> {
        self.inner.site_by_id(scope, site_id).await
    }
    async fn sites(&self, scope: &Scope) -> StoreResult<Vec<SiteRecord>> {
        self.inner.sites(scope).await
    }
    async fn insert_site(
        &self,
        org_id: i64,
        name: &str,
        origins: &[String],
    ) -> StoreResult<SiteRecord> {
        self.inner.insert_site(org_id, name, origins).await
    }
    async fn update_site(
        &self,
        org_id: i64,
        site_id: i64,
        update: &SiteUpdate,
    ) -> StoreResult<Option<SiteRecord>> {
        self.inner.update_site(org_id, site_id, update).await
    }
    async fn sites_changed_since(&self, since: i64) -> StoreResult<Vec<SiteRecord>> {
        self.inner.sites_changed_since(since).await
    }
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        self.inner.find_session(id).await
    }
    async fn open_session(&self, new: &NewSession) -> StoreResult<()> {
        self.inner.open_session(new).await
    }
    async fn tab_next_seq(&self, session_id: &str, tab_id: &str) -> StoreResult<u64> {
        self.inner.tab_next_seq(session_id, tab_id).await
    }
    async fn commit_segment(&self, seg: &SegmentRecord, delta: &SegmentDelta) -> StoreResult<()> {
        match &self.delete {
            DeleteRace::None => self.inner.commit_segment(seg, delta).await,
            DeleteRace::AfterCommit => {
                self.inner.commit_segment(seg, delta).await?;
                self.inner.tombstone(&deleted(&seg.session_id)).await
            }
            DeleteRace::AfterFailedCommit(phase) => {
                if phase.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
                    return self.inner.commit_segment(seg, delta).await;
                }
                Err(StoreError::Other(
                    "error returned from database: (code: 5) database is locked".into(),
                ))
            }
        }
    }
    async fn identify(
        &self,
        session_id: &str,
        user_id: &str,
        traits: &BTreeMap<String, String>,
        identified_at: i64,
    ) -> StoreResult<()> {
        self.inner
            .identify(session_id, user_id, traits, identified_at)
            .await
    }
    async fn maintenance(&self) -> StoreResult<Maintenance> {
        self.inner.maintenance().await
    }
    async fn tombstone(&self, t: &Tombstone) -> StoreResult<()> {
        self.inner.tombstone(t).await
    }
    async fn is_tombstoned(&self, session_id: &str) -> StoreResult<bool> {
        if let DeleteRace::AfterFailedCommit(phase) = &self.delete {
            if phase.compare_exchange(2, 3, SeqCst, SeqCst).is_ok() {
                self.inner.tombstone(&deleted(session_id)).await?;
            }
            let _ = phase.compare_exchange(1, 2, SeqCst, SeqCst);
        }
        self.inner.is_tombstoned(session_id).await
    }
    async fn tombstone_objects(&self, session_id: &str, objects: i64) -> StoreResult<()> {
        self.inner.tombstone_objects(session_id, objects).await
    }
    async fn purge_session(&self, session_id: &str) -> StoreResult<()> {
        self.inner.purge_session(session_id).await
    }
    async fn set_pinned(&self, scope: &Scope, session_id: &str, pinned: bool) -> StoreResult<bool> {
        self.inner.set_pinned(scope, session_id, pinned).await
    }
    async fn sessions_of(
        &self,
        site_id: i64,
        person: &Person,
        limit: i64,
    ) -> StoreResult<Vec<SessionRef>> {
        self.inner.sessions_of(site_id, person, limit).await
    }
    async fn expired_sessions(&self, now: i64, limit: i64) -> StoreResult<Vec<(SessionRef, i64)>> {
        self.inner.expired_sessions(now, limit).await
    }
    async fn create_erasure(
        &self,
        org_id: i64,
        site_id: i64,
        person: &Person,
    ) -> StoreResult<String> {
        self.inner.create_erasure(org_id, site_id, person).await
    }
    async fn erasure(&self, org_id: i64, id: &str) -> StoreResult<Option<ErasureReceipt>> {
        self.inner.erasure(org_id, id).await
    }
    async fn claim_erasure(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<ErasureJob>> {
        self.inner.claim_erasure(holder, now, until).await
    }
    async fn renew_erasure(&self, id: &str, holder: &str, until: i64) -> StoreResult<bool> {
        self.inner.renew_erasure(id, holder, until).await
    }
    async fn finish_erasure(&self, id: &str, now: i64) -> StoreResult<()> {
        self.inner.finish_erasure(id, now).await
    }
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        self.inner.take_lease(name, holder, now, until).await
    }
    async fn site_usage(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteUsage>> {
        self.inner.site_usage(scope, site_id).await
    }
    async fn add_note(
        &self,
        scope: &Scope,
        session_id: &str,
        note: &reel_protocol::notes::NewNote,
        author: &str,
        created_at: i64,
        max: usize,
    ) -> StoreResult<reel_actors::traits::NoteAdded> {
        self.inner
            .add_note(scope, session_id, note, author, created_at, max)
            .await
    }
    async fn notes(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<Vec<reel_protocol::notes::Note>>> {
        self.inner.notes(scope, session_id).await
    }
    async fn set_maintenance(&self, enabled: bool, message: &str) -> StoreResult<Maintenance> {
        self.inner.set_maintenance(enabled, message).await
    }
    async fn end_session(&self, session_id: &str, ended_at: i64) -> StoreResult<()> {
        self.inner.end_session(session_id, ended_at).await
    }
    async fn end_stale_sessions(
        &self,
        inactive_before: i64,
        started_before: i64,
        keep: &[String],
    ) -> StoreResult<u64> {
        self.inner
            .end_stale_sessions(inactive_before, started_before, keep)
            .await
    }
    async fn session_info(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<SessionInfo>> {
        self.inner.session_info(scope, session_id).await
    }
    async fn list_sessions(
        &self,
        scope: &Scope,
        site_id: i64,
        filter: &SessionFilter,
        live: &[String],
    ) -> StoreResult<SessionPage> {
        self.inner.list_sessions(scope, site_id, filter, live).await
    }
}

/// Batch `seq` of `tab`, the same bytes whichever node the tracker sent
/// it to: `EVENTS_PER_BATCH` custom events naming their tab, seq and index.
fn batch(site_id: i64, session: &str, tab: &str, seq: u64) -> SpoolBatch {
    let mut ndjson = String::new();
    for i in 0..EVENTS_PER_BATCH {
        let ts = T0 + (seq * EVENTS_PER_BATCH + i) as i64;
        ndjson.push_str(&format!(
            r#"{{"type":5,"timestamp":{ts},"data":{{"tag":"b","payload":{{"tab":"{tab}","seq":{seq},"i":{i}}}}}}}"#
        ));
        ndjson.push('\n');
    }
    SpoolBatch {
        site_id,
        session_id: session.into(),
        session_started_at: T0,
        tab_id: tab.into(),
        seq,
        received_at: T0,
        ndjson: ndjson.into_bytes(),
        stats: BatchStats::default(),
    }
}

/// One node's writer: its own spool and outbox on the shared storage.
pub fn writer(
    blob: &Arc<dyn BlobStore>,
    index: Arc<dyn Index>,
    dir: &Path,
) -> (Arc<Outbox>, Arc<FileSpool>) {
    let (spool, _) = FileSpool::open(
        dir,
        SpoolOptions {
            file_bytes: 1 << 20,
            min_free_bytes: 0,
        },
    )
    .unwrap();
    let spool = Arc::new(spool);
    (
        Outbox::start(
            blob.clone(),
            index,
            spool.clone(),
            Arc::new(reel::dead_letters::DirDeadLetters::open(&dir.join("dead"), 1 << 20).unwrap()),
        ),
        spool,
    )
}

/// The segment of `seqs` of `tab` as `node` commits it.
pub fn pending(
    site_id: i64,
    session: &str,
    tab: &str,
    seqs: std::ops::RangeInclusive<u64>,
    node: &str,
) -> segment::PendingSegment {
    let mut buf = TabBuffer::default();
    for seq in seqs {
        let b = batch(site_id, session, tab, seq);
        buf.push(&b, &segment::frame(&b.ndjson), None, Instant::now());
    }
    buf.take(site_id, T0, session, tab, node).unwrap()
}

/// `(tab, seq, i)` of each event line, in order.
fn batches_of(ndjson: &str) -> Vec<(String, u64, u64)> {
    ndjson
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let p = &v["data"]["payload"];
            (
                p["tab"].as_str().unwrap().to_owned(),
                p["seq"].as_u64().unwrap(),
                p["i"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[actix_web::test]
async fn overlapping_segments_of_two_nodes_replay_each_batch_once_and_overwrite_nothing() {
    let app = spawn_app().await;
    // The storage the node serves from, opened as two more nodes would.
    let mut config = test_config(app.dir.path());
    app.storage.apply(&mut config);
    let index = open_index(&config).await.unwrap().into_dyn();
    let blob = open_blob_store(&config).await.unwrap();
    let session = "failover-race";
    index
        .open_session(&NewSession {
            id: session.into(),
            site_id: app.site_id,
            visitor_id: "v".into(),
            started_at: T0,
            first_url: "https://shop.example/".into(),
            ..NewSession::default()
        })
        .await
        .unwrap();
    let racing = Arc::new(RacingIndex {
        inner: index.clone(),
        both_checked: tokio::sync::Barrier::new(2),
        delete: DeleteRace::None,
    });
    let spools = tempfile::tempdir().unwrap();
    let (a, _spool_a) = writer(&blob, racing.clone(), &spools.path().join("a"));
    let (b, _spool_b) = writer(&blob, racing.clone(), &spools.path().join("b"));
    let site = app.site_id;
    // Tab t1: node A holds 30..=39, node B (the tracker failed over with
    // acks lost in flight) 35..=59. Tab t2: both start at 30.
    for (tab, b_first) in [("t1", 35), ("t2", 30)] {
        let seg_a = pending(site, session, tab, 30..=39, "node-a");
        let seg_b = pending(site, session, tab, b_first..=59, "node-b");
        let ((rec_a, _), (rec_b, _)) = tokio::join!(
            segment::commit(seg_a, &a, None),
            segment::commit(seg_b, &b, None)
        );
        // Both passed the check: neither was trimmed.
        assert_eq!((rec_a.first_seq, rec_b.first_seq), (30, b_first));
        assert_ne!(rec_a.blob_key, rec_b.blob_key);
    }

    // No object replaced another: each writer's object holds its own batches.
    let stored = index.segments(session).await.unwrap();
    let mut keys: Vec<&str> = stored.iter().map(|s| s.blob_key.as_str()).collect();
    keys.dedup();
    assert_eq!(keys.len(), stored.len(), "{stored:?}");
    for seg in &stored {
        let data = zstd::decode_all(&blob.get(&seg.blob_key).await.unwrap()[..]).unwrap();
        let held = batches_of(std::str::from_utf8(&data).unwrap());
        let seqs: Vec<u64> = held.iter().map(|b| b.1).step_by(3).collect();
        assert_eq!(seqs, (seg.first_seq..=seg.last_seq).collect::<Vec<_>>());
        assert_eq!(seg.batch_ends.last().copied(), Some(data.len() as u64));
    }
    // t2: the longer of the two segments that start at 30 holds the row.
    let t2: Vec<_> = stored.iter().filter(|s| s.tab_id == "t2").collect();
    assert_eq!(t2.len(), 1);
    assert_eq!((t2[0].first_seq, t2[0].last_seq), (30, 59));
    if !on_postgres_s3() {
        // List the blob directory: all four objects are there.
        let files = files_under(&app.dir.path().join("blobs"));
        let names: Vec<String> = files
            .iter()
            .filter(|p| p.to_string_lossy().contains(session))
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "00000000000000000030-00000000000000000039-node-a.ndjson.zst",
                "00000000000000000035-00000000000000000059-node-b.ndjson.zst",
                "00000000000000000030-00000000000000000039-node-a.ndjson.zst",
                "00000000000000000030-00000000000000000059-node-b.ndjson.zst",
            ],
            "{files:?}"
        );
    }

    // The real events route: every batch once, in seq then batch order.
    let once = |tab: &str| -> Vec<(String, u64, u64)> {
        (30..=59)
            .flat_map(|seq| (0..EVENTS_PER_BATCH).map(move |i| (tab.to_owned(), seq, i)))
            .collect()
    };
    for tab in ["t1", "t2"] {
        let got = batches_of(&app.events(session, Some(tab)).await);
        assert_eq!(got, once(tab), "tab {tab}");
    }
    // Merged: each tab's events once, merged by timestamp.
    let merged = batches_of(&app.events(session, None).await);
    assert_eq!(merged.len(), 2 * once("t1").len());
    for tab in ["t1", "t2"] {
        let of_tab: Vec<_> = merged.iter().filter(|b| b.0 == tab).cloned().collect();
        assert_eq!(of_tab, once(tab), "merged, tab {tab}");
    }
}

/// Commits a segment of a new session through an index where `race`
/// deletes it, then checks that nothing of it is left: no object, no
/// segment row, no session row, and the API answers 404.
async fn commit_while_deleted(session: &str, race: DeleteRace) {
    let app = spawn_app().await;
    let mut config = test_config(app.dir.path());
    app.storage.apply(&mut config);
    let index = open_index(&config).await.unwrap().into_dyn();
    let blob = open_blob_store(&config).await.unwrap();
    index
        .open_session(&NewSession {
            id: session.into(),
            site_id: app.site_id,
            visitor_id: "v".into(),
            started_at: reel_actors::now_ms(),
            ..NewSession::default()
        })
        .await
        .unwrap();
    let racing = Arc::new(RacingIndex {
        inner: index.clone(),
        both_checked: tokio::sync::Barrier::new(1),
        delete: race,
    });
    let spool_dir = tempfile::tempdir().unwrap();
    let (outbox, _spool) = writer(&blob, racing, spool_dir.path());
    let seg = pending(app.site_id, session, "tab", 0..=4, "node-a");
    let key = seg.record.blob_key.clone();
    segment::commit(seg, &outbox, None).await;
    assert!(index.segments(session).await.unwrap().is_empty());
    assert!(index.find_session(session).await.unwrap().is_none());
    assert!(matches!(
        blob.get(&key).await,
        Err(reel_actors::traits::StoreError::NotFound)
    ));
    assert_eq!(
        app.get(&format!("/api/v1/sessions/{session}"))
            .await
            .status(),
        404
    );
}

#[actix_web::test]
async fn a_delete_that_lands_just_after_a_commit_leaves_no_row_and_no_object() {
    // The writer sees the tombstone after its commit and takes back what
    // it wrote: the object, the segment row, the session row.
    commit_while_deleted("deleted-mid-commit", DeleteRace::AfterCommit).await;
}

#[actix_web::test]
async fn a_commit_that_failed_after_its_object_was_written_leaves_no_object_of_a_session_deleted_meanwhile(
) {
    // The first attempt writes the object, fails and sees no tombstone;
    // the next finds the session deleted and takes the object back: erased
    // data stays nowhere.
    commit_while_deleted(
        "deleted-while-commit-failed",
        DeleteRace::AfterFailedCommit(Default::default()),
    )
    .await;
}
