//! Cold compaction (docs/storage.md, "Cold compaction"): once a session
//! has ended (or has been quiet for a while), each of its tabs' segments
//! become one compacted object ([`crate::compacted`]). Per tab:
//!
//! 1. the new object's key is doomed (recorded as to delete once its
//!    `delete_after` passes), then the object is written;
//! 2. one index transaction checks that the tab's rows are still those it
//!    was built from (a late segment from another node, a second
//!    compactor, a deletion: else it abandons) and replaces them by the
//!    compacted row and its range index, undooms the new key and dooms the
//!    old ones (deleted after the readers' grace);
//! 3. the doomed objects that are due are deleted, then forgotten.
//!
//! A crash between any two steps leaves a readable session (the rows point
//! at whole objects) and every object no row will reference is doomed, so
//! the next sweep (on any node) deletes it. The heavy work (decompressing
//! and compressing) runs on a [`CpuPool`] of idle cores.
//!
//! The `compaction` feature flag ([`FlagGate`]) holds sessions back: one
//! for which it is off is skipped (not marked done), and compacted by a
//! later pass once the flag is on for it.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::compacted::{self, NotCompactable};
use crate::flags::{FlagRules, FlagStore, Subject};
use crate::metric_names;
use crate::traits::{
    BlobStore, CompactionIndex, Index, SegmentRecord, StoreError, StoreResult, Swapped,
};

/// A new object stays doomed this long unless its swap takes it: a swap
/// only goes through while at least half of it is left, so a sweep never
/// deletes an object a swap is about to reference.
pub const DOOM_TTL: Duration = Duration::from_secs(60 * 60);
/// Doomed objects deleted per request.
const SWEEP_PAGE: i64 = 1000;
/// Sessions held back by the `compaction` flag that a compactor remembers
/// (so that it asks for that many more candidates, and does not evaluate
/// them again, until the rules change). Beyond it, held sessions are
/// evaluated again each pass, and more of them than a pass asks for can
/// delay other sessions' compaction until the flag is on again.
pub const MAX_HELD_BY_FLAG: usize = 10_000;

/// The `compaction` feature flag as the compactor follows it: the rules
/// the node knows, and where to find a session's organisation and site.
pub struct FlagGate {
    pub rules: tokio::sync::watch::Receiver<Arc<FlagRules>>,
    pub store: Arc<dyn FlagStore>,
}

/// Sessions the flag held back, under the rules they were evaluated with.
#[derive(Default)]
struct Held {
    rules: Option<Arc<FlagRules>>,
    sessions: HashSet<String>,
}

/// The compactor's settings (the server's `[compaction]`; the defaults
/// are these).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    pub enabled: bool,
    /// A session that has not ended is compacted once it had no activity
    /// for this long.
    pub quiet: Duration,
    /// An ended session is compacted this long after its end (late
    /// segments of another node come in meanwhile).
    pub after_end: Duration,
    /// Sessions compacted at once.
    pub max_sessions: usize,
    /// How often the compactor looks for sessions.
    pub poll: Duration,
    /// Replaced objects are deleted this long after the swap, so that a
    /// replay that listed them before still reads them.
    pub reader_grace: Duration,
    /// zstd level of compacted objects.
    pub level: i32,
    /// For tests of crash safety: stop a tab's compaction after this step.
    pub fail_at: Option<FailAt>,
}

impl Default for CompactorConfig {
    fn default() -> Self {
        CompactorConfig {
            enabled: true,
            quiet: Duration::from_secs(30 * 60),
            after_end: Duration::from_secs(60),
            max_sessions: 2,
            poll: Duration::from_secs(10),
            reader_grace: Duration::from_secs(5 * 60),
            level: compacted::ZSTD_LEVEL,
            fail_at: None,
        }
    }
}

/// Where a provoked failure stops a tab's compaction (tests only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAt {
    /// The new object is written, the rows are not swapped.
    AfterPut,
    /// The rows are swapped, the old objects not deleted.
    AfterSwap,
}

impl FailAt {
    pub fn parse(s: &str) -> Option<FailAt> {
        match s {
            "after_put" => Some(FailAt::AfterPut),
            "after_swap" => Some(FailAt::AfterSwap),
            _ => None,
        }
    }
}

/// Runs CPU-heavy jobs off the async threads, on cores nothing else wants
/// (the server's pool runs them at `SCHED_IDLE`).
pub trait CpuPool: Send + Sync + 'static {
    fn spawn(&self, job: Box<dyn FnOnce() + Send>);
}

/// Runs `f` on `pool` and waits for it.
async fn on_pool<T: Send + 'static>(
    pool: &Arc<dyn CpuPool>,
    f: impl FnOnce() -> T + Send + 'static,
) -> StoreResult<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    pool.spawn(Box::new(move || {
        let _ = tx.send(f());
    }));
    rx.await
        .map_err(|_| StoreError::Other("compaction job dropped".into()))
}

/// What compacting a session came to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub tabs: u64,
    pub abandoned: u64,
    pub skipped: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The compactor of one node.
pub struct Compactor {
    pub index: Arc<dyn Index>,
    pub compaction: Arc<dyn CompactionIndex>,
    pub blob: Arc<dyn BlobStore>,
    pub cpu: Arc<dyn CpuPool>,
    pub config: CompactorConfig,
    /// This node's id: the writer part of compacted keys.
    pub writer: String,
    /// The sessions live on this node (their actors may still commit).
    pub live: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
    /// Sessions that failed on this node, not tried again until it restarts
    /// (a corrupt object must not be read every poll).
    failed: Mutex<HashSet<String>>,
    /// The `compaction` flag; `None`: every session is compacted.
    flags: Option<FlagGate>,
    /// Sessions the flag holds back (at most [`MAX_HELD_BY_FLAG`]).
    held: Mutex<Held>,
}

impl Compactor {
    pub fn new(
        index: Arc<dyn Index>,
        compaction: Arc<dyn CompactionIndex>,
        blob: Arc<dyn BlobStore>,
        cpu: Arc<dyn CpuPool>,
        config: CompactorConfig,
        writer: String,
        live: Arc<dyn Fn() -> Vec<String> + Send + Sync>,
    ) -> Compactor {
        Compactor {
            index,
            compaction,
            blob,
            cpu,
            config,
            writer,
            live,
            failed: Mutex::default(),
            flags: None,
            held: Mutex::default(),
        }
    }

    /// Compacts only the sessions the `compaction` flag is on for.
    pub fn with_flags(mut self, gate: FlagGate) -> Compactor {
        self.flags = Some(gate);
        self
    }

    /// Whether the `compaction` flag lets `session` be compacted now. The
    /// rules are evaluated per session (its organisation, site and id).
    async fn flag_allows(&self, session: &str) -> StoreResult<bool> {
        let Some(gate) = &self.flags else {
            return Ok(true);
        };
        let rules = gate.rules.borrow().clone();
        {
            let mut held = self
                .held
                .lock()
                .map_err(|_| StoreError::Other("poisoned".into()))?;
            if !held.rules.as_ref().is_some_and(|r| Arc::ptr_eq(r, &rules)) {
                // New rules: what they hold back is evaluated afresh.
                held.sessions.clear();
                held.rules = Some(rules.clone());
                metrics::gauge!(metric_names::COMPACTION_HELD_BY_FLAG).set(0.0);
            }
            if held.sessions.contains(session) {
                return Ok(false);
            }
        }
        let Some((org_id, site_id)) = gate.store.session_owner(session).await? else {
            return Ok(true);
        };
        let on = rules.is_on(
            reel_protocol::flags::Flag::Compaction,
            &Subject {
                org_id: Some(org_id),
                site_id: Some(site_id),
                key: session,
            },
        );
        if !on {
            let mut held = self
                .held
                .lock()
                .map_err(|_| StoreError::Other("poisoned".into()))?;
            if held.sessions.len() < MAX_HELD_BY_FLAG {
                held.sessions.insert(session.to_owned());
            }
            metrics::gauge!(metric_names::COMPACTION_HELD_BY_FLAG).set(held.sessions.len() as f64);
            tracing::debug!(session_id = %session, site_id, "compaction held back by its flag");
        }
        Ok(on)
    }

    /// Runs until the process ends: a pass every `poll`.
    pub async fn run(self: Arc<Self>) {
        if !self.config.enabled {
            return;
        }
        loop {
            if let Err(e) = self.clone().pass().await {
                tracing::warn!(error = %e, "compaction pass failed, tried again later");
            }
            tokio::time::sleep(self.config.poll).await;
        }
    }

    /// One pass: compacts the sessions that wait (up to `max_sessions` at
    /// once), then deletes the doomed objects that are due. Returns the
    /// sessions compacted.
    pub async fn pass(self: Arc<Self>) -> StoreResult<u64> {
        let now = crate::now_ms();
        let ended_before = now - self.config.after_end.as_millis() as i64;
        let quiet_before = now - self.config.quiet.as_millis() as i64;
        let want = (self.config.max_sessions.max(1) * 4) as i64;
        let failed_count = self.failed.lock().map(|f| f.len()).unwrap_or(0) as i64;
        let held_count = self.held.lock().map(|h| h.sessions.len()).unwrap_or(0) as i64;
        let candidates = self
            .compaction
            .compaction_candidates(ended_before, quiet_before, want + failed_count + held_count)
            .await?;
        let live: HashSet<String> = (self.live)().into_iter().collect();
        let candidates: Vec<String> = {
            let failed = self
                .failed
                .lock()
                .map_err(|_| StoreError::Other("poisoned".into()))?;
            candidates
                .into_iter()
                .filter(|s| !failed.contains(s) && !live.contains(s))
                .collect()
        };
        let mut allowed = Vec::with_capacity(want as usize);
        for session in candidates {
            if allowed.len() >= want as usize {
                break;
            }
            if self.flag_allows(&session).await? {
                allowed.push(session);
            }
        }
        let candidates = allowed;
        let slots = Arc::new(tokio::sync::Semaphore::new(self.config.max_sessions.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for session in candidates {
            let permit = slots.clone().acquire_owned().await;
            let me = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let started = Instant::now();
                let r = me.compact_session(&session).await;
                (session, r, started.elapsed())
            });
        }
        let mut compacted = 0;
        while let Some(joined) = tasks.join_next().await {
            let Ok((session, r, took)) = joined else {
                continue;
            };
            metrics::histogram!(metric_names::COMPACTION_SECONDS).record(took.as_secs_f64());
            match r {
                Ok(o) => {
                    if o.tabs > 0 {
                        compacted += 1;
                        metrics::counter!(metric_names::COMPACTION_SESSIONS_TOTAL).increment(1);
                        tracing::info!(session_id = %session, tabs = o.tabs, bytes_in = o.bytes_in, bytes_out = o.bytes_out, seconds = took.as_secs_f64(), "session compacted");
                    }
                }
                Err(e) => {
                    metrics::counter!(metric_names::COMPACTION_FAILURES_TOTAL).increment(1);
                    tracing::warn!(session_id = %session, error = %e, "session compaction failed");
                    if matches!(e, StoreError::Refused(_) | StoreError::NotFound) {
                        if let Ok(mut f) = self.failed.lock() {
                            f.insert(session);
                        }
                    }
                }
            }
        }
        self.sweep().await?;
        Ok(compacted)
    }

    /// Compacts each tab of `session` that is not one compacted object yet.
    pub async fn compact_session(&self, session: &str) -> StoreResult<Outcome> {
        let mut tabs: BTreeMap<String, Vec<SegmentRecord>> = BTreeMap::new();
        for seg in self.index.segments(session).await? {
            tabs.entry(seg.tab_id.clone()).or_default().push(seg);
        }
        let mut out = Outcome::default();
        let mut rows_after = 0;
        for (_, rows) in tabs {
            if rows.len() == 1 && compacted::is_compacted(&rows[0].blob_key) {
                rows_after += 1;
                continue;
            }
            let before = rows.len() as i64;
            let tabs_before = out.tabs;
            self.compact_tab(rows, &mut out).await?;
            rows_after += if out.tabs > tabs_before { 1 } else { before };
        }
        if out.abandoned == 0 {
            self.compaction
                .mark_compacted(session, rows_after, crate::now_ms())
                .await?;
        }
        Ok(out)
    }

    async fn compact_tab(&self, rows: Vec<SegmentRecord>, out: &mut Outcome) -> StoreResult<()> {
        // Read every object (compressed), then join and compress on the pool.
        let mut loaded = Vec::with_capacity(rows.len());
        for seg in &rows {
            let data = self.blob.get(&seg.blob_key).await?;
            loaded.push((seg.clone(), data));
        }
        let level = self.config.level;
        let built = on_pool(&self.cpu, move || build(loaded, level)).await??;
        let (joined_ends, first_seq, last_seq, raw_len, events, compacted) = match built {
            Ok(b) => b,
            Err(reason) => {
                tracing::info!(session_id = %rows[0].session_id, tab_id = %rows[0].tab_id, %reason, "tab left as it is");
                out.skipped += 1;
                return Ok(());
            }
        };
        let old_keys: HashSet<&str> = rows.iter().map(|r| r.blob_key.as_str()).collect();
        // A key of its own, never one of the rows it replaces.
        let mut writer = self.writer.clone();
        let mut key = compacted::compacted_key(&rows[0].blob_key, first_seq, last_seq, &writer);
        let mut n = 1;
        while old_keys.contains(key.as_str()) {
            writer = format!("{}.{n}", self.writer);
            key = compacted::compacted_key(&rows[0].blob_key, first_seq, last_seq, &writer);
            n += 1;
        }
        let record = SegmentRecord {
            session_id: rows[0].session_id.clone(),
            tab_id: rows[0].tab_id.clone(),
            first_seq,
            last_seq,
            first_ts: rows.iter().map(|r| r.first_ts).min().unwrap_or(0),
            last_ts: rows.iter().map(|r| r.last_ts).max().unwrap_or(0),
            event_count: events,
            raw_bytes: raw_len,
            stored_bytes: compacted.object.len() as u64,
            blob_key: key.clone(),
            received_at: rows.iter().map(|r| r.received_at).min().unwrap_or(0),
            batch_ends: joined_ends,
        };
        let bytes_in: u64 = rows.iter().map(|r| r.stored_bytes).sum();
        let bytes_out = compacted.object.len() as u64;
        // 1. Doom, then write.
        let now = crate::now_ms();
        self.compaction
            .doom(&record.session_id, &key, now + DOOM_TTL.as_millis() as i64)
            .await?;
        self.blob.put(&key, Bytes::from(compacted.object)).await?;
        if self.config.fail_at == Some(FailAt::AfterPut) {
            return Err(StoreError::Other("provoked failure after put".into()));
        }
        // 2. Swap the rows.
        let now = crate::now_ms();
        let swapped = self
            .compaction
            .swap_compacted(
                &rows,
                &record,
                &compacted.frames,
                now + (DOOM_TTL / 2).as_millis() as i64,
                now + self.config.reader_grace.as_millis() as i64,
            )
            .await?;
        match swapped {
            Swapped::Done => {
                out.tabs += 1;
                out.bytes_in += bytes_in;
                out.bytes_out += bytes_out;
                metrics::counter!(metric_names::COMPACTION_TABS_TOTAL).increment(1);
                metrics::counter!(metric_names::COMPACTION_BYTES_IN_TOTAL).increment(bytes_in);
                metrics::counter!(metric_names::COMPACTION_BYTES_OUT_TOTAL).increment(bytes_out);
                metrics::counter!(metric_names::COMPACTION_RAW_BYTES_TOTAL).increment(raw_len);
            }
            Swapped::Abandoned => {
                out.abandoned += 1;
                metrics::counter!(metric_names::COMPACTION_ABANDONED_TOTAL).increment(1);
                tracing::info!(session_id = %record.session_id, tab_id = %record.tab_id, "compaction abandoned: the tab changed meanwhile");
            }
        }
        if self.config.fail_at == Some(FailAt::AfterSwap) {
            return Err(StoreError::Other("provoked failure after swap".into()));
        }
        Ok(())
    }

    /// Deletes the doomed objects that are due, then forgets them.
    pub async fn sweep(&self) -> StoreResult<u64> {
        let mut deleted = 0;
        loop {
            let keys = self
                .compaction
                .due_doomed(crate::now_ms(), SWEEP_PAGE)
                .await?;
            if keys.is_empty() {
                return Ok(deleted);
            }
            self.blob.delete(&keys).await?;
            self.compaction.forget_doomed(&keys).await?;
            deleted += keys.len() as u64;
            metrics::counter!(metric_names::COMPACTION_OBJECTS_DELETED_TOTAL)
                .increment(keys.len() as u64);
            if (keys.len() as i64) < SWEEP_PAGE {
                return Ok(deleted);
            }
        }
    }
}

/// A built tab: batch ends, first and last seq, raw bytes, events, object.
type Built = (Vec<u64>, u64, u64, u64, u64, compacted::Compacted);

/// Decompresses a tab's objects, joins them and compresses the result.
fn build(
    loaded: Vec<(SegmentRecord, Bytes)>,
    level: i32,
) -> StoreResult<Result<Built, NotCompactable>> {
    let mut segments = Vec::with_capacity(loaded.len());
    for (seg, data) in loaded {
        let raw = compacted::decompress(&data)
            .map_err(|e| StoreError::Refused(format!("{} unreadable: {e}", seg.blob_key)))?;
        segments.push((seg, raw));
    }
    let joined = match compacted::join(segments) {
        Ok(j) => j,
        Err(e) => return Ok(Err(e)),
    };
    let object = compacted::compress(&joined, level, compacted::WINDOW_LOG)
        .map_err(|e| StoreError::Other(format!("compressing: {e}")))?;
    let events = joined.raw.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok(Ok((
        joined.batch_ends,
        joined.first_seq,
        joined.last_seq,
        joined.raw.len() as u64,
        events,
        object,
    )))
}
