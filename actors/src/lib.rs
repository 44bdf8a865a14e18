//! reel's domain: one actor per live visitor session, and the storage traits
//! it depends on. Nothing here knows what SQLite, Postgres, S3 or Redis are.
//!
//! # Layout
//! - [`traits`]: `BlobStore`, `Index`, `Bus`, `Spool` and `DeadLetters`,
//!   with their records, and `StoreError` (transient, refused, other).
//! - [`stats`]: per-batch counters read from event headers, and their sums.
//! - [`signals`]: frustration and failure signals (failed requests, rage
//!   and dead clicks, track names, error texts) as a tab's events stream by.
//! - [`segment`]: per-tab buffers, blob keys, zstd compression and the
//!   durable commit of a segment (blob, then index row, then spool trim).
//! - [`memory`]: the node-wide bound on durable batches held in memory
//!   (segment buffers and segments waiting for compression).
//! - [`outbox`]: index and blob writes, applied at once or, while storage
//!   is down, queued durably in the spool and applied in order later; a
//!   write storage refuses goes to the dead letters after a few attempts.
//! - [`deps`]: what session actors share (storage, bus, spool, settings).
//! - [`redact`]: the site's redaction rules, applied to console, network
//!   and error events before a batch reaches the spool.
//! - [`registry`]: live actors by id.
//! - [`session`]: the session actor.
//! - [`tab`]: one tab of a session: its seq, buffer and memory charge,
//!   the segments in flight and who waits for them, its signal detector.
//! - [`identify`]: a session's identify writes, at most one pending, the
//!   newest winning.
//! - [`sessions`]: the node's registry of live session actors and how a
//!   `hello` finds, restores or starts one.
//! - [`recovery`]: draining a restarted node's spool into segments, in the
//!   background, and how far that is.
//! - [`lifecycle`]: deleting a session (tombstone first), erasing a
//!   person as a resumable job, and the retention sweep, coordinated
//!   between nodes by leases in the index.
//! - [`flags`]: feature flags evaluated (site over organisation over
//!   global over default; percentages stable per session id), and the
//!   `FlagStore` trait their rules are kept behind.
//! - [`ratelimit`]: token buckets, and a session's two rate limits.
//! - [`metric_names`]: every metric's name, kind, labels and help, declared
//!   once; call sites and the node's start-up use these consts.
//! - [`retry`]: retrying a storage write with backoff while data waits on disk.
//! - [`bus`]: the in-process bus of the embedded defaults.
//! - [`presence`]: a session's presence entry (join, heartbeat, grace,
//!   leave, written in order off the actor) and the in-memory store.
//! - [`live`]: the watch lease, and a session's live task: each batch to
//!   its tab's tail and, while watched, to the watchers; a new watcher
//!   caught up from the tails, in order.
//! - [`live_tail`]: a tab's live tail on disk (latest Meta, full snapshot
//!   and the batches after them), so that no tail is held in memory.

pub mod bus;
pub mod compacted;
pub mod compactor;
pub mod deps;
pub mod flags;
pub mod identify;
pub mod lifecycle;
pub mod live;
pub mod live_tail;
pub mod memory;
pub mod metric_names;
pub mod outbox;
pub mod presence;
pub mod ratelimit;
pub mod recovery;
pub mod redact;
pub mod registry;
pub mod retry;
pub mod segment;
pub mod session;
pub mod sessions;
pub mod signals;
pub mod stats;
pub mod tab;
#[cfg(test)]
pub(crate) mod testing;
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
