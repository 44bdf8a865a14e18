//! The data lifecycle (PROTOCOL.md §6): deleting a session, erasing a
//! person, and the retention sweep. Every deletion goes the same way:
//!
//! 1. the tombstone is written, before anything is removed (from then on
//!    every write that could bring the session back is skipped, see
//!    [`crate::outbox::apply`], and every read answers "not found");
//! 2. the node where the session is live ends it (a bus notice);
//! 3. its blob objects are deleted, then its rows (pages, segments, row).
//!
//! Each step can be repeated: a deletion stopped half-way (a crash, an
//! outage) is finished by the next retention pass, which also picks up
//! tombstoned sessions whose rows are still there.
//!
//! Work that must be done once is coordinated through the index: an
//! erasure job is taken under a lease with an expiry (a node killed during
//! it loses the lease, and another node, or the same one restarted, takes
//! it over), and so is each retention pass.

use std::sync::Arc;
use std::time::Duration;

use crate::metric_names;
use crate::traits::{
    topics, BlobStore, Bus, BusMessage, DeleteReason, ErasureJob, Index, SessionRef, StoreResult,
    Tombstone,
};

/// How long a node holds an erasure job or a retention pass without
/// renewing its lease; a node killed during the work loses it after this.
pub const LEASE: Duration = Duration::from_secs(60);
/// Sessions an erasure or a retention pass reads at a time.
pub const PAGE: i64 = 200;
/// How often a node looks for erasure jobs that wait (and for leases that
/// expired); a new job on this node is started at once.
pub const ERASURE_POLL: Duration = Duration::from_secs(5);
/// How often each node tries a retention pass (one node does each, under
/// the lease): expired sessions go within this, well under the hour
/// PROTOCOL.md §6 allows.
pub const RETENTION_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// The retention pass's lease name.
pub const RETENTION_LEASE: &str = "retention";
/// How often a deletion is tried again when a write raced it (a late
/// segment commit adding a row between listing and removal).
const DELETE_ATTEMPTS: u32 = 3;

/// What lifecycle work uses.
#[derive(Clone)]
pub struct Lifecycle {
    pub index: Arc<dyn Index>,
    pub blob: Arc<dyn BlobStore>,
    pub bus: Arc<dyn Bus>,
    /// This node's id, the lease holder's name.
    pub node_id: String,
}

/// What one pass or job deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Deleted {
    pub sessions: u64,
    pub objects: u64,
}

impl Lifecycle {
    /// Deletes one session (steps 1 to 3 above); returns how many blob
    /// objects went. Deleting a deleted session again finishes what is left.
    pub async fn delete_session(
        &self,
        session: &SessionRef,
        reason: DeleteReason,
        erasure_id: Option<&str>,
    ) -> StoreResult<u64> {
        self.index
            .tombstone(&Tombstone {
                session_id: session.id.clone(),
                site_id: session.site_id,
                deleted_at: crate::now_ms(),
                reason,
                erasure_id: erasure_id.map(str::to_owned),
            })
            .await?;
        let notice = BusMessage::SessionDeleted {
            session: session.id.clone(),
        };
        if let Err(e) = self.bus.publish(topics::SESSIONS, notice).await {
            // The tombstone refuses its writes all the same.
            tracing::warn!(session_id = %session.id, error = %e, "session deletion notice not sent");
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.remove(&session.id).await {
                Ok(objects) => {
                    metrics::counter!(metric_names::SESSIONS_DELETED_TOTAL, "reason" => reason.as_str())
                        .increment(1);
                    metrics::counter!(metric_names::BLOB_OBJECTS_DELETED_TOTAL).increment(objects);
                    tracing::info!(session_id = %session.id, reason = reason.as_str(), objects, "session deleted");
                    return Ok(objects);
                }
                Err(e) if attempt < DELETE_ATTEMPTS => {
                    tracing::warn!(session_id = %session.id, error = %e, "session deletion failed (storage, or a racing write), trying again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes a tombstoned session's objects, then its rows.
    async fn remove(&self, session: &str) -> StoreResult<u64> {
        let keys: Vec<String> = self
            .index
            .segments(session)
            .await?
            .into_iter()
            .map(|s| s.blob_key)
            .collect();
        self.blob.delete(&keys).await?;
        self.index
            .tombstone_objects(session, keys.len() as i64)
            .await?;
        self.index.purge_session(session).await?;
        Ok(keys.len() as u64)
    }

    /// Runs one erasure job to its end: every session of the person on
    /// the site, live ones ended first, until none is left; then marks it
    /// done. Fails (the job stays pending, to be resumed) when storage
    /// fails or the lease is lost.
    pub async fn run_erasure(&self, job: &ErasureJob) -> StoreResult<Deleted> {
        let mut done = Deleted::default();
        loop {
            let page = self
                .index
                .sessions_of(job.site_id, &job.person, PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for s in &page {
                done.objects += self
                    .delete_session(s, DeleteReason::Erasure, Some(&job.id))
                    .await?;
                done.sessions += 1;
            }
            let until = crate::now_ms() + LEASE.as_millis() as i64;
            if !self
                .index
                .renew_erasure(&job.id, &self.node_id, until)
                .await?
            {
                return Err(crate::traits::StoreError::Other(format!(
                    "erasure {} lease lost",
                    job.id
                )));
            }
        }
        self.index.finish_erasure(&job.id, crate::now_ms()).await?;
        metrics::counter!(metric_names::ERASURES_DONE_TOTAL).increment(1);
        tracing::info!(erasure_id = %job.id, site_id = job.site_id, sessions = done.sessions, objects = done.objects, "erasure done");
        Ok(done)
    }

    /// Takes and runs every erasure job that waits (or whose holder died);
    /// returns how many ran to their end.
    pub async fn run_pending_erasures(&self) -> StoreResult<u64> {
        let mut ran = 0;
        loop {
            let now = crate::now_ms();
            let until = now + LEASE.as_millis() as i64;
            let Some(job) = self.index.claim_erasure(&self.node_id, now, until).await? else {
                return Ok(ran);
            };
            tracing::info!(erasure_id = %job.id, "erasure taken");
            self.run_erasure(&job).await?;
            ran += 1;
        }
    }

    /// One retention pass, when this node gets the lease (else nothing):
    /// deletes every unpinned session older than its site's retention,
    /// and finishes deletions that stopped half-way. `now` is the clock
    /// the pass measures age by.
    pub async fn retention_pass(&self, now: i64) -> StoreResult<Deleted> {
        let mut done = Deleted::default();
        let lease = |at: i64| at + LEASE.as_millis() as i64;
        // Leases run on the real clock, whatever `now` the pass measures by.
        let start = crate::now_ms();
        if !self
            .index
            .take_lease(RETENTION_LEASE, &self.node_id, start, lease(start))
            .await?
        {
            return Ok(done);
        }
        loop {
            let page = self.index.expired_sessions(now, PAGE).await?;
            // How far behind the sweep is: the oldest expiry it finds.
            let lag = page
                .iter()
                .map(|(_, expired_at)| now - expired_at)
                .max()
                .unwrap_or(0);
            metrics::gauge!(metric_names::RETENTION_LAG_SECONDS).set(lag.max(0) as f64 / 1000.0);
            if page.is_empty() {
                break;
            }
            for (s, _) in &page {
                done.objects += self
                    .delete_session(s, DeleteReason::Retention, None)
                    .await?;
                done.sessions += 1;
                metrics::counter!(metric_names::RETENTION_SESSIONS_DELETED_TOTAL).increment(1);
            }
            let now_real = crate::now_ms();
            if !self
                .index
                .take_lease(RETENTION_LEASE, &self.node_id, now_real, lease(now_real))
                .await?
            {
                break;
            }
        }
        // Let go: the next pass is whichever node comes first.
        let end = crate::now_ms();
        self.index
            .take_lease(RETENTION_LEASE, &self.node_id, end, end)
            .await?;
        metrics::gauge!(metric_names::RETENTION_LAST_PASS_TIMESTAMP_SECONDS)
            .set(crate::now_ms() as f64 / 1000.0);
        if done.sessions > 0 {
            tracing::info!(
                sessions = done.sessions,
                objects = done.objects,
                "retention pass deleted expired sessions"
            );
        }
        Ok(done)
    }

    /// Runs the node's lifecycle work until the process ends: erasure jobs
    /// (at once when `wake` is notified, else every [`ERASURE_POLL`]) and a
    /// retention pass every [`RETENTION_INTERVAL`], the first one interval
    /// after the start (a node that restarts in a loop does not sweep in a
    /// loop; `reel retention run` sweeps at once).
    pub async fn run(self, wake: Arc<tokio::sync::Notify>) {
        let mut next_retention = tokio::time::Instant::now() + RETENTION_INTERVAL;
        loop {
            if let Err(e) = self.run_pending_erasures().await {
                tracing::warn!(error = %e, "erasure stopped, resumed later");
            }
            if tokio::time::Instant::now() >= next_retention {
                if let Err(e) = self.retention_pass(crate::now_ms()).await {
                    tracing::warn!(error = %e, "retention pass stopped, tried again later");
                }
                next_retention = tokio::time::Instant::now() + RETENTION_INTERVAL;
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(ERASURE_POLL) => {}
            }
        }
    }
}
