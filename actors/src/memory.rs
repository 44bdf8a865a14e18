//! The node-wide bound on batches held in memory once they are durable:
//! the tabs' segment buffers and the segments being written. Both hold
//! compressed bytes (each batch's zstd frame, made by its connection,
//! [`crate::segment::frame`]): what is charged is what memory holds.
//!
//! Each tab's buffer may grow to `segments.max_bytes` (4 MiB raw) before it
//! becomes a segment, so a thousand busy tabs could still hold hundreds of
//! megabytes. This budget (`segments.max_buffered_bytes`) keeps the sum
//! bounded:
//!
//! - when the buffers alone pass its *soft* mark (three quarters), a tab
//!   whose buffer is larger than the fair share (the buffers' bytes over
//!   the buffers holding bytes) becomes a segment at once (or at its
//!   session's next sweep, should no batch arrive);
//! - at the bound (buffers and segments being written together), ingest
//!   connections stop reading their sockets until written segments free
//!   bytes (TCP pushes back on the trackers), and new connections are
//!   refused (503 `unavailable`).
//!
//! Segments being written do not count towards the soft mark: a
//! slow commit path must slow the input down, not cut the buffers into ever
//! smaller segments (more segments are more commits, a longer queue, and
//! still less room for buffers).
//!
//! Bytes are charged by [`Charge`], which gives them back when dropped.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::metric_names;
use tokio::sync::Notify;

/// A buffer smaller than this is never committed early: segments stay
/// large enough to compress well.
pub const EARLY_FLUSH_MIN_BYTES: u64 = 64 * 1024;

/// The budget and what is charged to it now.
pub struct BufferMemory {
    /// Bytes charged now.
    used: AtomicU64,
    /// Of which in tabs' buffers (not yet segments).
    buffered: AtomicU64,
    /// Buffers holding bytes now.
    holders: AtomicU64,
    /// Above this, large buffers are committed early.
    soft: u64,
    /// At this, ingest stops reading.
    max: u64,
    /// Woken when bytes are given back below `max`.
    freed: Notify,
}

impl fmt::Debug for BufferMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferMemory")
            .field("used", &self.used())
            .field("max", &self.max)
            .finish()
    }
}

impl BufferMemory {
    pub fn new(max_bytes: u64) -> Arc<BufferMemory> {
        let max = max_bytes.max(1);
        metrics::gauge!(metric_names::SEGMENT_BUFFER_BYTES).set(0.0);
        metrics::gauge!(metric_names::SEGMENT_BUFFER_MAX_BYTES).set(max as f64);
        Arc::new(BufferMemory {
            used: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            holders: AtomicU64::new(0),
            soft: max / 4 * 3,
            max,
            freed: Notify::new(),
        })
    }

    /// A charge of nothing yet, to [`Charge::set`] as its buffer grows.
    pub fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            memory: Some(self.clone()),
            bytes: 0,
            committing: false,
        }
    }

    /// Bytes charged now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }

    /// Bytes in tabs' buffers now.
    pub fn buffered(&self) -> u64 {
        self.buffered.load(Ordering::Acquire)
    }

    /// Are the buffers past the soft mark (large buffers go early)?
    pub fn pressed(&self) -> bool {
        self.buffered() > self.soft
    }

    /// Is the budget spent (ingest waits, new connections are refused)?
    pub fn is_full(&self) -> bool {
        self.used() >= self.max
    }

    /// Should a buffer charged `bytes` become a segment now, before it is full?
    /// Under pressure, when it is larger than the fair share.
    pub fn should_flush(&self, bytes: u64) -> bool {
        if !self.pressed() || bytes < EARLY_FLUSH_MIN_BYTES {
            return false;
        }
        let holders = self.holders.load(Ordering::Acquire).max(1);
        bytes >= self.buffered() / holders
    }

    /// Resolves once the budget is no longer spent.
    pub async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a release between the two
            // still wakes this waiter.
            freed.as_mut().enable();
            if !self.is_full() {
                return;
            }
            freed.await;
        }
    }

    fn add(&self, bytes: u64, buffered: bool) {
        if buffered {
            self.buffered.fetch_add(bytes, Ordering::AcqRel);
        }
        let used = self.used.fetch_add(bytes, Ordering::AcqRel) + bytes;
        metrics::gauge!(metric_names::SEGMENT_BUFFER_BYTES).set(used as f64);
    }

    fn sub(&self, bytes: u64, buffered: bool) {
        if buffered {
            self.buffered.fetch_sub(bytes, Ordering::AcqRel);
        }
        let used = self.used.fetch_sub(bytes, Ordering::AcqRel) - bytes;
        metrics::gauge!(metric_names::SEGMENT_BUFFER_BYTES).set(used as f64);
        if used < self.max {
            self.freed.notify_waiters();
        }
    }
}

/// Bytes one buffer (or one segment being written) holds against the
/// budget; given back when dropped. The default charges no budget.
#[derive(Default)]
pub struct Charge {
    memory: Option<Arc<BufferMemory>>,
    bytes: u64,
    /// The bytes left their buffer: a segment being written.
    committing: bool,
}

impl fmt::Debug for Charge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Charge({})", self.bytes)
    }
}

impl Charge {
    /// The buffer now holds `bytes`.
    pub fn set(&mut self, bytes: u64) {
        let Some(memory) = &self.memory else {
            return;
        };
        let buffered = !self.committing;
        match (self.bytes, bytes) {
            (0, 1..) if buffered => {
                memory.holders.fetch_add(1, Ordering::AcqRel);
            }
            (1.., 0) if buffered => {
                memory.holders.fetch_sub(1, Ordering::AcqRel);
            }
            _ => {}
        }
        if bytes > self.bytes {
            memory.add(bytes - self.bytes, buffered);
        } else if bytes < self.bytes {
            memory.sub(self.bytes - bytes, buffered);
        }
        self.bytes = bytes;
    }

    /// The buffer became a segment: its bytes stay charged until it is
    /// written, but no longer count as buffered.
    pub fn into_committing(mut self) -> Charge {
        if let (Some(memory), false) = (&self.memory, self.committing) {
            if self.bytes > 0 {
                memory.buffered.fetch_sub(self.bytes, Ordering::AcqRel);
                memory.holders.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.committing = true;
        self
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_and_are_given_back_when_dropped() {
        let m = BufferMemory::new(1_000);
        let mut a = m.charge();
        let mut b = m.charge();
        a.set(300);
        b.set(200);
        assert_eq!(m.used(), 500);
        a.set(100);
        assert_eq!(m.used(), 300);
        drop(b);
        assert_eq!(m.used(), 100);
        drop(a);
        assert_eq!(m.used(), 0);
        assert_eq!(m.holders.load(Ordering::Acquire), 0);
    }

    #[test]
    fn segments_being_written_count_towards_the_bound_not_the_soft_mark() {
        let m = BufferMemory::new(1_000_000);
        let mut buffer = m.charge();
        buffer.set(800_000);
        assert!(m.pressed());
        let segment = std::mem::replace(&mut buffer, m.charge()).into_committing();
        assert_eq!((m.used(), m.buffered()), (800_000, 0));
        assert!(!m.pressed(), "a commit queue does not cut buffers short");
        buffer.set(200_000);
        assert!(m.is_full());
        assert!(!m.should_flush(buffer.bytes()));
        drop(segment);
        assert_eq!((m.used(), m.buffered()), (200_000, 200_000));
        assert_eq!(m.holders.load(Ordering::Acquire), 1);
    }

    #[test]
    fn only_buffers_above_the_fair_share_go_early_and_only_under_pressure() {
        let m = BufferMemory::new(1_000_000);
        let mut big = m.charge();
        let mut small = m.charge();
        big.set(500_000);
        small.set(100_000);
        // 600 KB of 1 MB: below the soft mark of 750 KB.
        assert!(!m.should_flush(big.bytes()));
        small.set(300_000);
        // 800 KB: the fair share is 400 KB.
        assert!(m.pressed());
        assert!(m.should_flush(big.bytes()));
        assert!(!m.should_flush(small.bytes()));
        // Tiny buffers never go early.
        assert!(!m.should_flush(EARLY_FLUSH_MIN_BYTES - 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_waits_until_bytes_are_given_back() {
        let m = BufferMemory::new(1_000);
        let mut held = m.charge();
        held.set(1_000);
        assert!(m.is_full());
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { m.room().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        held.set(999);
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("woken once below the bound")
            .unwrap();
    }
}
