//! A session's `identify` writes: at most one waits per session, and the
//! newest replaces an older one not yet written. A client may send many
//! `identify` messages (each up to ~100 KB of traits); a task per message,
//! each retrying through the outbox, piled up under a flood (3,000
//! identifies of 50 KB raised a node's RSS by 290 MB). Only the newest
//! matters: it is what the index must end up with.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::metric_names;
use crate::traits::{OutboxOp, StoreResult};

/// The newest identify of a session not yet handed to storage.
type Slot = Arc<Mutex<Option<OutboxOp>>>;

/// A session's identify writer: a slot holding the newest unwritten
/// identify, and one task writing it. Bounded: one identify waits in the
/// slot (a newer one replaces it) and one is being written.
pub struct IdentifyWriter {
    /// The newest identify not yet taken by the task.
    slot: Slot,
    /// Wakes the task. Capacity 1: when full, a wake is pending already and
    /// the task will find the slot's newest value.
    wake: mpsc::Sender<()>,
}

impl IdentifyWriter {
    /// Starts the writing task of `session` (on the current runtime).
    /// `write` applies one op (through the outbox, which puts an identify
    /// storage refuses for its content in the dead letters and reports it
    /// done); a failed write is retried with backoff, each time with the
    /// newest identify. The task ends once the writer is dropped and the
    /// slot is written.
    pub fn start<F, Fut>(session: String, write: F) -> IdentifyWriter
    where
        F: Fn(OutboxOp) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = StoreResult<()>> + Send + 'static,
    {
        let slot: Slot = Arc::new(Mutex::new(None));
        let (wake, mut rx) = mpsc::channel::<()>(1);
        let task_slot = slot.clone();
        tokio::spawn(async move {
            // After the sender is dropped, a pending wake is still received.
            while rx.recv().await.is_some() {
                while let Some(mut op) = take(&task_slot) {
                    crate::retry::retry("identify", &session, || {
                        // A newer identify replaces the one that failed.
                        if let Some(newer) = take(&task_slot) {
                            op = newer;
                        }
                        write(op.clone())
                    })
                    .await;
                }
            }
        });
        IdentifyWriter { slot, wake }
    }

    /// Hands `op` to the task; it replaces an identify not yet written.
    pub fn put(&self, op: OutboxOp) {
        let replaced = lock(&self.slot).replace(op).is_some();
        if replaced {
            metrics::counter!(metric_names::IDENTIFY_REPLACED_TOTAL).increment(1);
        }
        // Full: a wake is pending, and the task reads the slot after it.
        let _ = self.wake.try_send(());
    }
}

fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<OutboxOp>> {
    // A poisoned slot still holds a valid Option (no invariant spans it).
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

fn take(slot: &Slot) -> Option<OutboxOp> {
    lock(slot).take()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::traits::StoreError;

    fn op(n: i64) -> OutboxOp {
        OutboxOp::IdentifyAt {
            session_id: "s".into(),
            user_id: format!("u{n}"),
            traits: BTreeMap::from([("blob".to_string(), "x".repeat(1024))]),
            identified_at: n,
        }
    }

    fn user(op: &OutboxOp) -> String {
        match op {
            OutboxOp::IdentifyAt { user_id, .. } => user_id.clone(),
            _ => panic!("not an identify"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_keeps_one_pending_write_and_the_newest_wins() {
        let written = Arc::new(Mutex::new(Vec::new()));
        // Storage is slow: each write waits for a permit.
        let gate = Arc::new(Semaphore::new(0));
        let (w, g) = (written.clone(), gate.clone());
        let writer = IdentifyWriter::start("s".into(), move |op| {
            let (w, g) = (w.clone(), g.clone());
            async move {
                g.acquire().await.unwrap().forget();
                w.lock().unwrap().push(user(&op));
                Ok(())
            }
        });
        writer.put(op(0));
        tokio::time::sleep(Duration::from_millis(1)).await;
        for n in 1..=3_000 {
            writer.put(op(n));
            // Never more than the one in the slot (the other is in flight).
            assert!(lock(&writer.slot).is_some());
        }
        gate.add_permits(10);
        drop(writer);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(*written.lock().unwrap(), vec!["u0", "u3000"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_write_is_retried_with_the_newest_identify() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let written = Arc::new(Mutex::new(Vec::new()));
        let (a, w) = (attempts.clone(), written.clone());
        let writer = IdentifyWriter::start("s".into(), move |op| {
            let n = a.fetch_add(1, Ordering::SeqCst);
            let w = w.clone();
            async move {
                if n < 3 {
                    return Err(StoreError::Other("refused".into()));
                }
                w.lock().unwrap().push(user(&op));
                Ok(())
            }
        });
        writer.put(op(1));
        tokio::time::sleep(Duration::from_millis(1)).await;
        writer.put(op(2));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(*written.lock().unwrap(), vec!["u2"]);
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
    }
}
