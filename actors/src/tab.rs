//! One tab of a session, as its session actor keeps it: the next seq it
//! expects, the batches not yet in a committed segment (their bytes
//! charged against the node's bound, [`crate::memory`]), the segments
//! being committed and who waits for them, and the tab's signal detector.
//! The actor decides when a tab's buffer becomes a segment; this module
//! holds what that takes, so the actor's file reads as its messages.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::memory::{BufferMemory, Charge};
use crate::metric_names;
use crate::segment::{Buffered, PendingSegment, TabBuffer};
use crate::signals::TabSignals;
use crate::stats::Keys;

/// One tab of the session.
#[derive(Debug, Default)]
pub struct TabState {
    /// The next seq expected from this tab.
    pub next_seq: u64,
    /// Batches not yet in a committed segment. Bounded by the segment cut
    /// (`segment_max_bytes`, `segment_max_age`) and the node's bound on
    /// buffered bytes: under pressure the larger buffers are cut early.
    pub buffer: TabBuffer,
    /// The buffer's bytes against the node's bound ([`crate::memory`]).
    pub charge: Charge,
    /// Segments of this tab being committed.
    in_flight: usize,
    /// `end` callers waiting for the in-flight segments. At most one per
    /// `end` or attach of the tab, each answered when its commits land.
    waiters: Vec<oneshot::Sender<()>>,
    /// A batch whose spool append failed is in a segment being committed:
    /// the next attach waits for the tab's commits, so that `next_seq`
    /// never passes a batch that is not durable.
    pub settle: bool,
    /// The tab's signal detector (rage run, pending clicks).
    pub signals: TabSignals,
    /// The value length of each field typed into (keypresses).
    pub keys: Keys,
    /// The detector and the fields as they were before each batch of the
    /// buffer, by seq: a rewind ([`TabState::rewind`]) restores them, so
    /// that the resent batches are counted once. As long as the buffer:
    /// emptied when the buffer becomes a segment.
    pub signals_before: VecDeque<(u64, TabSignals, Keys)>,
}

impl TabState {
    /// A new tab, its buffer charged to `memory`.
    pub fn new(memory: &Arc<BufferMemory>) -> TabState {
        TabState {
            charge: memory.charge(),
            ..TabState::default()
        }
    }

    /// Is the buffer due to become a segment: its oldest batch waited
    /// `max_age`, or the node's memory is pressed and this buffer is among
    /// the larger ones?
    pub fn due(&self, max_age: Duration, memory: &BufferMemory) -> bool {
        if self.buffer.oldest.is_some_and(|o| o.elapsed() >= max_age) {
            return true;
        }
        let early = memory.should_flush(self.charge.bytes());
        if early {
            metrics::counter!(metric_names::SEGMENTS_FLUSHED_EARLY_TOTAL).increment(1);
        }
        early
    }

    /// Takes the buffer as a segment to commit (`None` when it is empty)
    /// and counts it in flight until [`TabState::committed`]. Its bytes
    /// stay charged to `memory` until the segment is written.
    pub fn take_segment(
        &mut self,
        memory: &Arc<BufferMemory>,
        site_id: i64,
        started_at: i64,
        session: &str,
        tab: &str,
        node: &str,
    ) -> Option<PendingSegment> {
        let mut seg = self.buffer.take(site_id, started_at, session, tab, node)?;
        // Its batches can no longer be rewound.
        self.signals_before.clear();
        seg.memory = std::mem::replace(&mut self.charge, memory.charge()).into_committing();
        self.in_flight += 1;
        Some(seg)
    }

    /// A segment of the tab was committed: wakes whoever waits once none
    /// is in flight.
    pub fn committed(&mut self) {
        self.in_flight -= 1;
        if self.in_flight == 0 {
            for w in self.waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    /// Resolves once every segment of the tab in flight now is committed.
    pub fn wait(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if self.in_flight > 0 {
            self.waiters.push(tx);
        } else {
            let _ = tx.send(());
        }
        rx
    }

    /// Nothing more comes: the tab's pending clicks are dead, counted
    /// with its last segment (lost when it has none left to commit).
    pub fn finish(&mut self) {
        let dead = self.signals.finish();
        if !self.buffer.is_empty() {
            self.buffer.delta.signals.dead_clicks += dead;
        }
    }

    /// Forgets batch `seq` and every later one (their spool appends
    /// failed): the buffer gives back their memory, `next_seq` goes back
    /// to `seq` and the detector and the typed fields to before `seq`. Returns what was dropped.
    pub fn rewind(&mut self, seq: u64) -> Vec<Buffered> {
        let dropped = self.buffer.rewind(seq);
        self.charge.set(self.buffer.held_bytes());
        self.next_seq = seq;
        if let Some(pos) = self.signals_before.iter().position(|(s, _, _)| *s >= seq) {
            if let Some((_, signals, keys)) = self.signals_before.drain(pos..).next() {
                self.signals = signals;
                self.keys = keys;
            }
        }
        dropped
    }
}
