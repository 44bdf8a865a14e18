//! Draining a restarted node's spool: every batch that was acked but is not
//! yet in a committed segment becomes a segment before the node serves.

use std::collections::HashMap;
use std::sync::Arc;

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
        let mut next: Option<u64> = None;
        let mut buf = TabBuffer::default();
        let now = std::time::Instant::now();
        let mut site: Option<(i64, i64)> = None;
        for b in group {
            site = Some((b.site_id, b.session_started_at));
            if committed
                .iter()
                .any(|&(first, last)| (first..=last).contains(&b.seq))
            {
                report.already_committed += 1;
                continue;
            }
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
            buf.push(&b, None, now);
            if buf.ndjson.len() as u64 >= segment_max_bytes {
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
    }
    Ok(report)
}
