//! Backpressure and admission on the ingest path. PROTOCOL.md §1 bounds the
//! ack delay (batch received -> ack written) at 5 s at any load the node
//! accepts; this module keeps that promise in two ways:
//!
//! - **Backpressure.** One node-wide budget of bytes read off sockets and
//!   not yet durable (`ingest.max_inflight_bytes`, a fair semaphore). A
//!   connection reserves a batch's bytes before handing it to its session
//!   and gives them back once the batch is durable (or failed). While it
//!   waits it does not read its socket, so TCP pushes back on the tracker.
//!   Every queue after the socket (the session's mailbox, the spool's
//!   writer queue) therefore holds at most the budget. Durable batches
//!   held in memory (segment buffers, segments waiting for compression)
//!   have their own bound, `segments.max_buffered_bytes`
//!   ([`reel_actors::memory`]): while it is spent, reservations wait too.
//! - **Admission.** The node measures its ack delay (`reel_ack_delay_seconds`)
//!   and refuses *new* connections (503 `unavailable`, `Retry-After`) while
//!   the recent delay passes `ingest.admission_ack_delay_ratio` of the bound,
//!   while batches have waited for the budget that long, or while the
//!   buffer memory is spent. Open connections keep going.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reel_actors::memory::BufferMemory;
use reel_actors::metric_names;
use reel_protocol::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;
use crate::config::IngestConfig;

/// `Retry-After` when the node refuses a connection for overload (s).
pub const OVERLOAD_RETRY_S: u64 = 5;
/// The recent-delay window is kept as this many slots, each a share of it.
const SLOTS: usize = 4;
/// `waiting_since` when nothing waits for the budget.
const NOBODY: u64 = u64::MAX;

/// The node's ingest budget and its recent ack delay.
pub struct Admission {
    /// Permits are bytes; fair (first come, first served).
    budget: Arc<Semaphore>,
    /// The budget, in bytes (and permits).
    capacity: u32,
    /// The bound on durable batches held in memory.
    memory: Arc<BufferMemory>,
    /// Ack delay above which new connections are refused.
    threshold: Duration,
    /// Length of one slot of `recent`.
    slot: Duration,
    /// Time zero of `recent` and `waiting_since`.
    epoch: Instant,
    /// The largest ack delay (µs) seen in each of the last [`SLOTS`] slots,
    /// with the slot's number (since `epoch`). Bounded: [`SLOTS`] entries.
    recent: Mutex<[(u64, u64); SLOTS]>,
    /// Reservations waiting for the budget now.
    waiters: AtomicUsize,
    /// Reservations that had to wait, since start.
    waits: AtomicU64,
    /// Since when (ms after `epoch`) some reservation has been waiting
    /// without a pause; [`NOBODY`] when none waits.
    waiting_since: AtomicU64,
}

/// Bytes of the budget held by one batch until it is durable (or failed):
/// given back when dropped.
pub struct InflightPermit {
    _permit: OwnedSemaphorePermit,
    bytes: u32,
}

impl Drop for InflightPermit {
    fn drop(&mut self) {
        metrics::gauge!(metric_names::INGEST_INFLIGHT_BYTES).decrement(self.bytes as f64);
    }
}

/// Keeps `waiters` and `waiting_since` true while a reservation waits, also
/// when the waiting connection goes away.
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.waiters.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.waiting_since.store(NOBODY, Ordering::Release);
        }
    }
}

impl Admission {
    pub fn new(config: &IngestConfig, memory: Arc<BufferMemory>) -> Admission {
        let capacity = config
            .max_inflight_bytes
            .clamp(1, u64::from(u32::MAX).min(Semaphore::MAX_PERMITS as u64))
            as u32;
        metrics::gauge!(metric_names::INGEST_INFLIGHT_BYTES).set(0.0);
        metrics::gauge!(metric_names::INGEST_INFLIGHT_MAX_BYTES).set(capacity as f64);
        Admission {
            budget: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            memory,
            threshold: config.admission_ack_delay(),
            slot: config.admission_window() / SLOTS as u32,
            epoch: Instant::now(),
            recent: Mutex::new([(0, 0); SLOTS]),
            waiters: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            waiting_since: AtomicU64::new(NOBODY),
        }
    }

    /// The budget's share a batch of `bytes` takes: all of it at most.
    fn permits(&self, bytes: u64) -> u32 {
        bytes.clamp(1, u64::from(self.capacity)) as u32
    }

    fn permit(&self, permit: OwnedSemaphorePermit) -> InflightPermit {
        let bytes = permit.num_permits() as u32;
        metrics::gauge!(metric_names::INGEST_INFLIGHT_BYTES).increment(bytes as f64);
        InflightPermit {
            _permit: permit,
            bytes,
        }
    }

    /// `bytes` of the budget if they are free now (and the buffer memory
    /// is not spent).
    pub fn try_reserve(&self, bytes: u64) -> Option<InflightPermit> {
        if self.memory.is_full() {
            return None;
        }
        let n = self.permits(bytes);
        let permit = self.budget.clone().try_acquire_many_owned(n).ok()?;
        Some(self.permit(permit))
    }

    /// `bytes` of the budget, once they are free (in the order asked) and
    /// the buffer memory is not spent.
    pub async fn reserve(&self, bytes: u64) -> InflightPermit {
        let n = self.permits(bytes);
        metrics::counter!(metric_names::INGEST_BUDGET_WAITS_TOTAL).increment(1);
        self.waits.fetch_add(1, Ordering::Relaxed);
        if self.waiters.fetch_add(1, Ordering::AcqRel) == 0 {
            self.waiting_since
                .store(self.epoch.elapsed().as_millis() as u64, Ordering::Release);
        }
        let waiting = Waiting(self);
        let started = Instant::now();
        if self.memory.is_full() {
            metrics::counter!(metric_names::INGEST_BUFFER_MEMORY_WAITS_TOTAL).increment(1);
            self.memory.room().await;
        }
        // unwrap: the budget is never closed.
        let permit = self.budget.clone().acquire_many_owned(n).await.unwrap();
        drop(waiting);
        // The batch's ack delay is at least its wait: count it at once, so
        // that admission sees a stall before any ack is written.
        self.note(started.elapsed());
        self.permit(permit)
    }

    /// Bytes of the budget held now.
    pub fn inflight_bytes(&self) -> u64 {
        u64::from(self.capacity) - self.budget.available_permits() as u64
    }

    /// The budget, in bytes.
    pub fn max_inflight_bytes(&self) -> u64 {
        u64::from(self.capacity)
    }

    /// How many batches had to wait for the budget (their connection
    /// stopped reading meanwhile), since the node started.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// An ack was written `delay` after its batch was read off the socket.
    pub fn ack_written(&self, delay: Duration) {
        metrics::histogram!(metric_names::ACK_DELAY_SECONDS).record(delay.as_secs_f64());
        self.note(delay);
    }

    /// Keeps `delay` in the recent window.
    fn note(&self, delay: Duration) {
        let now = self.slot_now();
        let us = delay.as_micros() as u64;
        // unwrap-free: a poisoned lock only loses a sample.
        if let Ok(mut recent) = self.recent.lock() {
            let entry = &mut recent[(now % SLOTS as u64) as usize];
            if entry.0 != now {
                *entry = (now, us);
            } else {
                entry.1 = entry.1.max(us);
            }
        }
    }

    fn slot_now(&self) -> u64 {
        (self.epoch.elapsed().as_micros() / self.slot.as_micros().max(1)) as u64
    }

    /// The largest ack delay of the recent window.
    pub fn recent_ack_delay(&self) -> Duration {
        let now = self.slot_now();
        let us = self.recent.lock().map_or(0, |recent| {
            recent
                .iter()
                .filter(|(slot, _)| now.saturating_sub(*slot) < SLOTS as u64)
                .map(|(_, us)| *us)
                .max()
                .unwrap_or(0)
        });
        Duration::from_micros(us)
    }

    /// How long batches have waited for the budget without a pause.
    pub fn budget_wait(&self) -> Duration {
        let since = self.waiting_since.load(Ordering::Acquire);
        if since == NOBODY {
            return Duration::ZERO;
        }
        let now = self.epoch.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(since))
    }

    /// Refuses a new connection (503 `unavailable`, counted by reason)
    /// while the node is too slow to take on more.
    pub fn admit(&self) -> Result<(), ApiError> {
        let reason = if self.recent_ack_delay() > self.threshold {
            "ack_delay"
        } else if self.budget_wait() > self.threshold {
            "inflight_budget"
        } else if self.memory.is_full() {
            "buffer_memory"
        } else {
            return Ok(());
        };
        metrics::counter!(metric_names::OVERLOAD_REFUSALS_TOTAL, "reason" => reason).increment(1);
        tracing::debug!(reason, "new connection refused: the node is overloaded");
        Err(ApiError {
            retry_after: Some(OVERLOAD_RETRY_S),
            ..ApiError::new(
                ErrorCode::Unavailable,
                "this node is overloaded: retry later",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(bytes: u64, ratio: f64) -> Admission {
        Admission::new(
            &IngestConfig {
                max_inflight_bytes: bytes,
                admission_ack_delay_ratio: ratio,
                admission_window_ms: 2_000,
            },
            BufferMemory::new(1 << 30),
        )
    }

    #[tokio::test]
    async fn a_batch_larger_than_the_budget_takes_all_of_it() {
        let a = admission(100, 0.5);
        let big = a.try_reserve(1_000).unwrap();
        assert!(a.try_reserve(1).is_none());
        drop(big);
        let _small = a.try_reserve(60).unwrap();
        assert!(a.try_reserve(60).is_none());
        assert!(a.try_reserve(40).is_some());
    }

    #[tokio::test]
    async fn waiting_for_the_budget_refuses_new_connections() {
        // A threshold of 5 ms: 0.001 of the 5 s bound.
        let a = Arc::new(admission(100, 0.001));
        let held = a.try_reserve(100).unwrap();
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { drop(a.reserve(10).await) })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while a.budget_wait() <= Duration::from_millis(5) {
            assert!(Instant::now() < deadline, "the waiter never waited");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(a.admit().unwrap_err().retry_after, Some(OVERLOAD_RETRY_S));
        drop(held);
        waiter.await.unwrap();
        assert_eq!(a.budget_wait(), Duration::ZERO);
    }

    #[tokio::test]
    async fn spent_buffer_memory_holds_reads_and_refuses_new_connections() {
        let memory = BufferMemory::new(1_000);
        let a = Arc::new(Admission::new(
            &IngestConfig {
                max_inflight_bytes: 100,
                admission_ack_delay_ratio: 0.5,
                admission_window_ms: 2_000,
            },
            memory.clone(),
        ));
        let mut buffers = memory.charge();
        buffers.set(1_000);
        assert!(a.try_reserve(10).is_none(), "no read while memory is spent");
        let err = a.admit().unwrap_err();
        assert_eq!(err.retry_after, Some(OVERLOAD_RETRY_S));
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { drop(a.reserve(10).await) })
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while a.waiters.load(Ordering::Acquire) == 0 {
            assert!(Instant::now() < deadline, "the reader never waited");
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished());
        // A segment compressed: its bytes leave the memory.
        buffers.set(500);
        waiter.await.unwrap();
        assert!(a.admit().is_ok());
    }

    #[test]
    fn a_slow_ack_refuses_new_connections_for_the_window() {
        let a = admission(100, 0.5);
        a.ack_written(Duration::from_millis(100));
        assert!(a.admit().is_ok());
        a.ack_written(Duration::from_millis(2_600));
        assert_eq!(a.recent_ack_delay(), Duration::from_millis(2_600));
        assert!(a.admit().is_err());
    }
}
