//! reel's domain: one actor per live visitor session, and the storage traits
//! it depends on. Nothing here knows what SQLite, Postgres, S3 or Redis are.
//!
//! # Layout
//! - [`traits`]: `BlobStore`, `Index`, `Bus`, `Spool` and `DeadLetters`,
//!   with their records, and `StoreError` (transient, refused, other).
//! - [`stats`]: per-batch counters read from event headers, and their sums.
//! - [`segment`]: per-tab buffers, blob keys, zstd compression and the
//!   durable commit of a segment (blob, then index row, then spool trim).
//! - [`memory`]: the node-wide bound on durable batches held in memory
//!   (segment buffers and segments waiting for compression).
//! - [`outbox`]: index and blob writes, applied at once or, while storage
//!   is down, queued durably in the spool and applied in order later; a
//!   write storage refuses goes to the dead letters after a few attempts.
//! - [`deps`]: what session actors share (storage, bus, spool, settings).
//! - [`registry`]: live actors by id.
//! - [`session`]: the session actor.
//! - [`identify`]: a session's identify writes, at most one pending, the
//!   newest winning.
//! - [`sessions`]: the node's registry of live session actors and how a
//!   `hello` finds, restores or starts one.
//! - [`recovery`]: draining a restarted node's spool into segments, in the
//!   background, and how far that is.
//! - [`lifecycle`]: deleting a session (tombstone first), erasing a
//!   person as a resumable job, and the retention sweep, coordinated
//!   between nodes by leases in the index.
//! - [`ratelimit`]: token buckets.
//! - [`retry`]: retrying a storage write with backoff while data waits on disk.
//! - [`bus`]: the in-process bus of the embedded defaults.
//! - [`live`]: presence (in-memory store, timings) and the live tail a
//!   joining viewer starts from.

pub mod bus;
pub mod deps;
pub mod identify;
pub mod lifecycle;
pub mod live;
pub mod memory;
pub mod outbox;
pub mod ratelimit;
pub mod recovery;
pub mod registry;
pub mod retry;
pub mod segment;
pub mod session;
pub mod sessions;
pub mod stats;
pub mod traits;

pub use sessions::{Sessions, SessionsConfig};
pub use traits::{BlobStore, Bus, Index, Spool};

/// Milliseconds since the Unix epoch, as stored everywhere (i64).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
