//! Draining a restarted node's spool: every batch that was acked but is not
//! yet in a committed segment becomes a segment. The drain runs in the
//! background while the node already serves; [`Progress`] says how far it
//! is (for `/readyz`) and, for each tab it holds batches of, the seq a
//! resumed tab continues from, so that a tab continued on this run never
//! takes a seq the drain will still commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::outbox::Outbox;
use crate::retry::retry;
use crate::segment::{self, TabBuffer};
use crate::traits::{Index, SegmentRecord, SpoolBatch, StoreResult};

/// What a drain did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DrainReport {
    /// Batches read from the spool.
    pub batches: u64,
    /// Batches already in committed segments, skipped.
    pub already_committed: u64,
    /// Segments written.
    pub segments: u64,
}

/// Where a restarted node's drain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainState {
    /// The earlier run's spool is being brought to storage.
    Draining,
    /// Nothing (more) to drain.
    Done,
    /// The drain stopped on an error; the earlier run's files stay for the
    /// next start.
    Failed,
}

/// How far a restarted node's drain is, shared by the drain, the session
/// actors (which continue tabs past what the drain holds) and `/readyz`.
#[derive(Debug)]
pub struct Progress {
    /// A [`DrainState`], as a number.
    state: AtomicU8,
    /// Batches of the earlier run not yet drained.
    batches_left: AtomicU64,
    /// For each `(session, tab)` with batches still to drain: the seq after
    /// the highest of them.
    tabs: DashMap<(String, String), u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            state: AtomicU8::new(DrainState::Done as u8),
            batches_left: AtomicU64::new(0),
            tabs: DashMap::new(),
        }
    }
}

impl Progress {
    /// A drain of `batches` is about to start: call before the node serves,
    /// so that no tab continues below them.
    pub fn begin(&self, batches: &[SpoolBatch]) {
        for b in batches {
            let mut next = self
                .tabs
                .entry((b.session_id.clone(), b.tab_id.clone()))
                .or_insert(0);
            *next = (*next).max(b.seq + 1);
        }
        self.batches_left
            .store(batches.len() as u64, Ordering::Release);
        self.state
            .store(DrainState::Draining as u8, Ordering::Release);
    }

    /// The drain is over (or failed).
    pub fn finish(&self, state: DrainState) {
        self.state.store(state as u8, Ordering::Release);
        if state == DrainState::Done {
            self.batches_left.store(0, Ordering::Release);
        }
    }

    pub fn state(&self) -> DrainState {
        match self.state.load(Ordering::Acquire) {
            s if s == DrainState::Draining as u8 => DrainState::Draining,
            s if s == DrainState::Failed as u8 => DrainState::Failed,
            _ => DrainState::Done,
        }
    }

    /// Batches of the earlier run not yet drained.
    pub fn batches_left(&self) -> u64 {
        self.batches_left.load(Ordering::Acquire)
    }

    /// The lowest seq a tab may continue from on this run: past every batch
    /// of it the drain holds. (Kept after the tab is drained: its segments
    /// may still wait in the outbox, where the index cannot see them.)
    pub fn next_seq(&self, session: &str, tab: &str) -> u64 {
        self.tabs
            .get(&(session.to_owned(), tab.to_owned()))
            .map_or(0, |n| *n)
    }

    /// `n` batches were drained (or skipped).
    fn drained(&self, n: u64) {
        let _ = self
            .batches_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                Some(left.saturating_sub(n))
            });
    }
}

/// Commits `batches` (in spool order) as segments of at most
/// `segment_max_bytes` raw bytes. Idempotent: batches the index already
/// holds, or that a segment in `queued` (outbox writes of the earlier run,
/// queued again) holds, are skipped, and a segment written twice by one
/// node has the same key. `node_id` (the writer in blob keys) is this
/// node's. Waits for the index when it is down.
pub async fn drain(
    batches: Vec<SpoolBatch>,
    outbox: &Outbox,
    index: Arc<dyn Index>,
    segment_max_bytes: u64,
    queued: &[SegmentRecord],
    node_id: &str,
    progress: &Progress,
) -> StoreResult<DrainReport> {
    let mut report = DrainReport {
        batches: batches.len() as u64,
        ..DrainReport::default()
    };
    // Group by (session, tab), keeping spool order within each.
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: HashMap<(String, String), Vec<SpoolBatch>> = HashMap::new();
    for b in batches {
        let key = (b.session_id.clone(), b.tab_id.clone());
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push(b);
    }
    for key in order {
        // unwrap: every key in `order` was inserted into `groups`.
        let mut group = groups.remove(&key).unwrap();
        let read = group.len() as u64;
        group.sort_by_key(|b| b.seq);
        group.dedup_by_key(|b| b.seq);
        // Batches inside a committed segment are skipped. Segments of a tab
        // may commit out of order, so check ranges, not just the highest seq.
        let stored = retry("index_segments", &key.0, || index.segments(&key.0)).await;
        let committed: Vec<(u64, u64)> = stored
            .iter()
            .chain(queued.iter().filter(|s| s.session_id == key.0))
            .filter(|s| s.tab_id == key.1)
            .map(|s| (s.first_seq, s.last_seq))
            .collect();
        let before = group.len();
        group.retain(|b| {
            !committed
                .iter()
                .any(|&(first, last)| (first..=last).contains(&b.seq))
        });
        report.already_committed += (before - group.len()) as u64;
        // Each batch's frame, as a live batch's is made by its connection.
        let (group, frames) = segment::frames(group).await?;
        let mut next: Option<u64> = None;
        let mut buf = TabBuffer::default();
        let now = tokio::time::Instant::now();
        let mut site: Option<(i64, i64)> = None;
        for (b, frame) in group.into_iter().zip(frames) {
            site = Some((b.site_id, b.session_started_at));
            if next.is_some_and(|n| b.seq != n) && !buf.is_empty() {
                // A hole (the tab continued on another node): cut here.
                if let Some(seg) =
                    buf.take(b.site_id, b.session_started_at, &key.0, &key.1, node_id)
                {
                    segment::commit(seg, outbox, None).await;
                    report.segments += 1;
                }
            }
            next = Some(b.seq + 1);
            buf.push(&b, &frame, None, now);
            if buf.raw_len as u64 >= segment_max_bytes {
                if let Some(seg) =
                    buf.take(b.site_id, b.session_started_at, &key.0, &key.1, node_id)
                {
                    segment::commit(seg, outbox, None).await;
                    report.segments += 1;
                }
            }
        }
        if let Some((site_id, started_at)) = site {
            if let Some(seg) = buf.take(site_id, started_at, &key.0, &key.1, node_id) {
                segment::commit(seg, outbox, None).await;
                report.segments += 1;
            }
        }
        progress.drained(read);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(session: &str, tab: &str, seq: u64) -> SpoolBatch {
        SpoolBatch {
            site_id: 1,
            session_id: session.into(),
            session_started_at: 0,
            tab_id: tab.into(),
            seq,
            received_at: 0,
            ndjson: b"{}\n".to_vec(),
            stats: Default::default(),
        }
    }

    #[test]
    fn a_tab_resumed_during_the_drain_continues_past_every_batch_it_holds() {
        let p = Progress::default();
        assert_eq!(p.state(), DrainState::Done);
        // Out of order, with a hole: the highest counts.
        p.begin(&[batch("s", "t", 3), batch("s", "t", 9), batch("s", "u", 0)]);
        assert_eq!(p.state(), DrainState::Draining);
        assert_eq!(p.batches_left(), 3);
        assert_eq!(p.next_seq("s", "t"), 10);
        assert_eq!(p.next_seq("s", "u"), 1);
        assert_eq!(p.next_seq("s", "other"), 0);
        p.drained(2);
        assert_eq!(p.batches_left(), 1);
        p.drained(5);
        assert_eq!(p.batches_left(), 0);
        p.finish(DrainState::Done);
        assert_eq!(p.state(), DrainState::Done);
        // Drained segments may still wait in the outbox: the floor stays.
        assert_eq!(p.next_seq("s", "t"), 10);
    }
}
