//! The outbox: every write a session makes to the index or the blob store
//! (its row, its segments, identify, its end) goes through here. While
//! storage answers, a write is applied at once. When it does not (Postgres
//! or S3 down), the write is appended to the node's spool (fsynced, so it
//! survives `kill -9`) and applied later, in order per session, by a lane
//! worker that retries with backoff until storage is back. Ingestion and
//! acks never wait for an outage.
//!
//! Ordering: writes of one session go to one lane, in the order they were
//! queued. Once anything is queued, every later write queues too until the
//! outbox is empty again, so a session's writes never overtake each other
//! across an outage. (Segment commits of one session commute: each adds its
//! own counters once.)
//!
//! Refusals: a write storage refuses for its content (a constraint, an
//! encoding, a request S3 will never take) fails the same way every time.
//! It is tried [`REFUSED_ATTEMPTS`] times, then kept in the node's dead
//! letters (with everything needed to apply it again), counted in
//! `reel_dead_letters_total{op}` and logged as an ERROR; the session's
//! other writes go on, and the write counts as settled ([`Applied::DeadLettered`]).
//!
//! Bounds: the queues hold only tickets and session ids; the bytes are in
//! the spool files on disk, bounded by `spool.max_bytes` (new ingest
//! connections are refused with 503 at that bound, see the server's
//! ingest route).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::mpsc;

use crate::metric_names;
use crate::retry::{retry, retry_unless_refused, REFUSED_ATTEMPTS, RETRY_BACKOFF_MIN};
use crate::traits::{
    BlobStore, DeadLetter, DeadLetters, Index, NewSession, OutboxOp, Spool, SpoolTicket,
    StoreError, StoreResult, UNSTAMPED_IDENTIFIED_AT,
};

/// Lanes applying queued writes in parallel (sessions hash onto lanes).
pub const LANES: usize = 8;
/// How long a segment commit asks the index what it holds already.
pub const NEXT_SEQ_TIMEOUT: Duration = Duration::from_secs(2);
/// A write tried at once gives up after this long and is queued instead.
pub const DIRECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for a new session's row, which the tracker's `welcome` waits
/// on: an index slow to take rows (a connection storm on SQLite's one
/// writer) queues them, rather than keeping trackers from their `welcome`
/// past their timeout (the tracker's 15 s, the load tester's 10 s).
pub const OPEN_SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// One queued write, as a lane knows it (the write itself is on disk).
struct Queued {
    ticket: SpoolTicket,
    session: String,
    kind: &'static str,
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Storage took it.
    Now,
    /// It is durable in the spool and will be applied when storage answers.
    Queued,
    /// Storage refused it for its content: it is in the dead letters.
    DeadLettered,
}

/// The node's outbox.
pub struct Outbox {
    /// Where segments go.
    blob: Arc<dyn BlobStore>,
    /// Where rows go.
    index: Arc<dyn Index>,
    /// Where queued writes wait.
    spool: Arc<dyn Spool>,
    /// Where writes storage refuses go.
    dead: Arc<dyn DeadLetters>,
    /// One sender per lane. Unbounded: an entry is a ticket and a session id
    /// (tens of bytes); what it names is on disk under the spool's bound.
    lanes: Vec<mpsc::UnboundedSender<Queued>>,
    /// Queued writes not yet applied.
    queued: AtomicU64,
    /// Queued writes per session.
    per_session: DashMap<String, u64>,
    /// Sessions whose row is queued, so that they can be continued while
    /// the index cannot say.
    opening: DashMap<String, NewSession>,
}

impl Outbox {
    /// Starts the lane workers (on the current tokio runtime).
    pub fn start(
        blob: Arc<dyn BlobStore>,
        index: Arc<dyn Index>,
        spool: Arc<dyn Spool>,
        dead: Arc<dyn DeadLetters>,
    ) -> Arc<Outbox> {
        let mut senders = Vec::with_capacity(LANES);
        let mut receivers = Vec::with_capacity(LANES);
        for _ in 0..LANES {
            let (tx, rx) = mpsc::unbounded_channel();
            senders.push(tx);
            receivers.push(rx);
        }
        let outbox = Arc::new(Outbox {
            blob,
            index,
            spool,
            dead,
            lanes: senders,
            queued: AtomicU64::new(0),
            per_session: DashMap::new(),
            opening: DashMap::new(),
        });
        metrics::gauge!(metric_names::OUTBOX_QUEUED).set(0.0);
        for rx in receivers {
            // The lane holds a weak handle: it ends when the node drops the outbox.
            tokio::spawn(lane(Arc::downgrade(&outbox), rx));
        }
        outbox
    }

    /// Writes not yet applied.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Acquire)
    }

    /// Has `session` writes waiting?
    pub fn has_pending(&self, session: &str) -> bool {
        self.per_session.contains_key(session)
    }

    /// The queued row of `session`, if its row is not in the index yet.
    pub fn opening(&self, session: &str) -> Option<NewSession> {
        self.opening.get(session).map(|n| n.clone())
    }

    /// The seq ranges of a tab's segments in storage, when the index
    /// answers quickly and nothing is queued (else `None`: no trim).
    pub async fn stored_ranges(&self, session: &str, tab: &str) -> Option<Vec<(u64, u64)>> {
        if self.queued() > 0 {
            return None;
        }
        let segments = tokio::time::timeout(NEXT_SEQ_TIMEOUT, self.index.segments(session))
            .await
            .ok()?
            .ok()?;
        Some(
            segments
                .into_iter()
                .filter(|s| s.tab_id == tab)
                .map(|s| (s.first_seq, s.last_seq))
                .collect(),
        )
    }

    /// Applies `op` now when storage answers and nothing is queued; queues
    /// it durably when storage is unreachable or something is queued
    /// already; puts it in the dead letters when storage refuses it
    /// [`REFUSED_ATTEMPTS`] times. Fails when storage fails otherwise (the
    /// caller retries) or the spool cannot write.
    pub async fn write(&self, op: &OutboxOp) -> StoreResult<Applied> {
        let mut refusals = 0;
        let mut wait = RETRY_BACKOFF_MIN;
        let direct = match op {
            OutboxOp::OpenSession(_) => OPEN_SESSION_TIMEOUT,
            _ => DIRECT_TIMEOUT,
        };
        while self.queued() == 0 {
            match tokio::time::timeout(direct, self.apply(op)).await {
                Ok(Ok(())) => return Ok(Applied::Now),
                Ok(Err(StoreError::Unavailable(e))) => {
                    tracing::warn!(session_id = %op.session_id(), op = op.kind(), error = %e, "storage unreachable, write queued in the outbox");
                    break;
                }
                Ok(Err(e @ StoreError::Refused(_))) => {
                    refusals += 1;
                    if refusals >= REFUSED_ATTEMPTS {
                        self.dead_letter(op, &e, refusals).await;
                        return Ok(Applied::DeadLettered);
                    }
                    tracing::warn!(session_id = %op.session_id(), op = op.kind(), error = %e, "storage refused a write, trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    tracing::warn!(session_id = %op.session_id(), op = op.kind(), "storage write timed out, queued in the outbox");
                    break;
                }
            }
        }
        self.enqueue(op).await?;
        Ok(Applied::Queued)
    }

    /// Keeps a write storage refused in the dead letters, counts it and
    /// logs it (an ERROR: a Sentry event). Never fails and never waits for
    /// storage: a dead letter that cannot be kept (the area is over its
    /// bound, the disk fails) is logged and counted all the same.
    async fn dead_letter(&self, op: &OutboxOp, error: &StoreError, attempts: u32) {
        let letter = DeadLetter {
            op: op.clone(),
            error: error.to_string(),
            attempts,
            at: crate::now_ms(),
        };
        metrics::counter!(metric_names::DEAD_LETTERS_TOTAL, "op" => op.kind()).increment(1);
        match self.dead.put(&letter).await {
            Ok(at) => tracing::error!(
                session_id = %op.session_id(),
                op = op.kind(),
                attempts,
                error = %error,
                dead_letter = %at,
                "storage refused a write; kept in the dead letters, the session goes on"
            ),
            Err(e) => tracing::error!(
                session_id = %op.session_id(),
                op = op.kind(),
                attempts,
                error = %error,
                dead_letter_error = %e,
                "storage refused a write and the dead letters could not keep it; the write is lost"
            ),
        }
    }

    /// Queues `op` without trying it first (a restarted node's leftovers).
    pub async fn enqueue(&self, op: &OutboxOp) -> StoreResult<()> {
        let (ticket, durable) = self.spool.append_op(op);
        durable.await?;
        let session = op.session_id().to_owned();
        if let OutboxOp::OpenSession(n) = &op {
            self.opening.insert(session.clone(), n.clone());
        }
        *self.per_session.entry(session.clone()).or_insert(0) += 1;
        let n = self.queued.fetch_add(1, Ordering::AcqRel) + 1;
        metrics::gauge!(metric_names::OUTBOX_QUEUED).set(n as f64);
        metrics::counter!(metric_names::OUTBOX_QUEUED_TOTAL, "op" => op.kind()).increment(1);
        let lane = lane_of(&session);
        // A lane ends only when the outbox is dropped.
        let _ = self.lanes[lane].send(Queued {
            ticket,
            session,
            kind: op.kind(),
        });
        Ok(())
    }

    /// Applies one write to storage (idempotent).
    async fn apply(&self, op: &OutboxOp) -> StoreResult<()> {
        apply(self.blob.as_ref(), self.index.as_ref(), op).await
    }

    /// A queued write was applied.
    fn done(&self, q: &Queued) {
        self.spool.release(&[q.ticket]);
        if let dashmap::mapref::entry::Entry::Occupied(mut e) =
            self.per_session.entry(q.session.clone())
        {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
        if q.kind == "open_session" {
            self.opening.remove(&q.session);
        }
        let n = self.queued.fetch_sub(1, Ordering::AcqRel) - 1;
        metrics::gauge!(metric_names::OUTBOX_QUEUED).set(n as f64);
        metrics::counter!(metric_names::OUTBOX_APPLIED_TOTAL, "op" => q.kind).increment(1);
        if n == 0 {
            tracing::info!("outbox drained: storage is taking writes again");
        }
    }
}

/// Applies one outbox write to storage (idempotent): the outbox's writes,
/// and an operator's re-application of a dead letter.
///
/// A deleted session's writes are skipped (its tombstone is checked first,
/// and again after a row or object is written, for a delete that raced the
/// write: what the write left is then removed; a skipped segment also
/// removes the object an earlier, failed attempt may have left): a queued
/// write, a drained spool or another node's late commit never brings it
/// back. A skipped
/// write counts as applied, so that its spool records are released.
pub async fn apply(blob: &dyn BlobStore, index: &dyn Index, op: &OutboxOp) -> StoreResult<()> {
    let session = op.session_id();
    if matches!(op, OutboxOp::OpenSession(_) | OutboxOp::Segment { .. })
        && index.is_tombstoned(session).await?
    {
        if let OutboxOp::Segment { record, .. } = op {
            // An earlier attempt of this write may have put the object and
            // failed after (its index commit): it goes too (a no-op when
            // there is none).
            blob.delete(std::slice::from_ref(&record.blob_key)).await?;
        }
        skipped(op);
        return Ok(());
    }
    match op {
        OutboxOp::OpenSession(n) => {
            index.open_session(n).await?;
            if index.is_tombstoned(session).await? {
                index.purge_session(session).await?;
                skipped(op);
            }
            Ok(())
        }
        OutboxOp::Segment {
            record,
            delta,
            blob: data,
        } => {
            // Blob first: an index row never names a missing object.
            blob.put(&record.blob_key, data.clone()).await?;
            let committed = index.commit_segment(record, delta).await;
            if index.is_tombstoned(session).await? {
                // Deleted meanwhile: whatever this commit left goes too.
                blob.delete(std::slice::from_ref(&record.blob_key)).await?;
                index.purge_session(session).await?;
                skipped(op);
                return Ok(());
            }
            committed
        }
        OutboxOp::Identify {
            session_id,
            user_id,
            traits,
        } => {
            index
                .identify(session_id, user_id, traits, UNSTAMPED_IDENTIFIED_AT)
                .await
        }
        OutboxOp::IdentifyAt {
            session_id,
            user_id,
            traits,
            identified_at,
        } => {
            index
                .identify(session_id, user_id, traits, *identified_at)
                .await
        }
        OutboxOp::EndSession {
            session_id,
            ended_at,
        } => index.end_session(session_id, *ended_at).await,
    }
}

/// Counts and logs a write of a deleted session that was not applied.
fn skipped(op: &OutboxOp) {
    metrics::counter!(metric_names::TOMBSTONED_WRITES_SKIPPED_TOTAL, "op" => op.kind())
        .increment(1);
    tracing::info!(session_id = %op.session_id(), op = op.kind(), "write of a deleted session skipped");
}

/// The lane a session's writes go to.
fn lane_of(session: &str) -> usize {
    // FNV-1a: stable and cheap; any spread will do.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in session.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h % LANES as u64) as usize
}

/// Applies one lane's queued writes in order, each retried until storage
/// takes it, or, refused for its content, put in the dead letters.
async fn lane(outbox: std::sync::Weak<Outbox>, mut rx: mpsc::UnboundedReceiver<Queued>) {
    while let Some(q) = rx.recv().await {
        let Some(ob) = outbox.upgrade() else { return };
        let spool = ob.spool.clone();
        let ticket = q.ticket;
        let op = retry("outbox_read", &q.session, || {
            let spool = spool.clone();
            async move {
                tokio::task::spawn_blocking(move || spool.read_op(ticket))
                    .await
                    .map_err(|e| StoreError::Other(e.to_string()))?
            }
        })
        .await;
        if let Err(e) = retry_unless_refused(q.kind, &q.session, || ob.apply(&op)).await {
            ob.dead_letter(&op, &e, REFUSED_ATTEMPTS).await;
        }
        ob.done(&q);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemBlobs, MemIndex, MemSpool, NoDeadLetters};

    /// An outbox on the doubles whose index takes `open` to write a row.
    fn outbox_with_rows_taking(open: Duration) -> Arc<Outbox> {
        let index = MemIndex::default();
        index.take_rows_in(open);
        Outbox::start(
            Arc::new(MemBlobs::default()),
            Arc::new(index),
            Arc::new(MemSpool::synced()),
            Arc::new(NoDeadLetters),
        )
    }

    fn row(id: &str) -> OutboxOp {
        OutboxOp::OpenSession(NewSession {
            id: id.to_owned(),
            site_id: 1,
            ..NewSession::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_the_index_takes_in_time_is_written_at_once() {
        let outbox = outbox_with_rows_taking(OPEN_SESSION_TIMEOUT - Duration::from_millis(100));
        let applied = outbox.write(&row("s1")).await.unwrap();
        assert_eq!(applied, Applied::Now);
        assert_eq!(outbox.queued(), 0);
        assert!(outbox.opening("s1").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_row_the_index_is_slow_to_take_is_queued_so_that_welcome_does_not_wait() {
        let outbox = outbox_with_rows_taking(DIRECT_TIMEOUT * 3);
        let started = tokio::time::Instant::now();
        let applied = outbox.write(&row("s1")).await.unwrap();
        assert_eq!(applied, Applied::Queued);
        assert_eq!(started.elapsed(), OPEN_SESSION_TIMEOUT);
        assert!(
            outbox.opening("s1").is_some(),
            "the queued row continues the session"
        );
        // Later writes queue behind it at once.
        let started = tokio::time::Instant::now();
        assert_eq!(outbox.write(&row("s2")).await.unwrap(), Applied::Queued);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[test]
    fn a_session_always_maps_to_the_same_lane() {
        assert_eq!(lane_of("abc"), lane_of("abc"));
        let spread: std::collections::HashSet<usize> =
            (0..100).map(|i| lane_of(&format!("s{i}"))).collect();
        assert_eq!(spread.len(), LANES);
    }
}
