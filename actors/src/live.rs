//! Live: a session's events published to its watchers while a watch
//! lease runs, and each tab's live tail on disk ([`crate::live_tail`]),
//! from which a viewer who joins mid-session starts.
//!
//! One task per session takes the session's batches, watch starts and
//! end, in order: it adds each batch to its tab's tail file, publishes it
//! when it was watched, and answers a new watch with each tab's tail read
//! from disk. Because the catch-up is read in that same order, a joining
//! viewer gets every event once: the catch-up holds the batches queued
//! before the watch, the live messages those after it. File I/O runs on
//! the blocking pool, never on the session's thread.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::live_tail::{self, TailFile, TAIL_FILE_MAX};
use crate::metric_names;
use crate::traits::{topics, Bus, BusMessage};

/// A watch lasts this long unless the watcher's node renews it.
pub const WATCH_LEASE: Duration = Duration::from_secs(30);
/// Watchers' nodes renew their watches this often.
pub const WATCH_RENEW: Duration = Duration::from_secs(10);
/// Batches, watch starts and the end waiting for the session's live task
/// (one batch each, at most a frame). When full, a batch misses its tab's
/// tail (emptied until the next full snapshot) and, when watched, is not
/// published: the tab's trackers are asked for a fresh snapshot, from
/// which watchers pick up again. A watch start that does not fit asks
/// them at once.
pub const LIVE_QUEUE: usize = 64;

/// Called when a tab has no tail to catch a viewer up from: asks the
/// tab's trackers for a fresh snapshot.
pub type Missing = Box<dyn FnOnce() + Send>;

/// What the session tells its live task, in order.
enum LiveOp {
    /// A batch the session took: added to its tab's tail, and published
    /// when watched.
    Batch {
        tab: String,
        seq: u64,
        ndjson: Vec<u8>,
        /// Where the tail restarts in `ndjson` ([`snapshot_from`]).
        snapshot_from: Option<usize>,
        publish: bool,
    },
    /// A new watcher: publish the tab's tail, which must end at
    /// `through`, or call `missing`.
    CatchUp {
        tab: String,
        through: u64,
        missing: Missing,
    },
    /// The session ended: its tails go.
    End,
}

/// What the task does once an op's file I/O is done.
enum Outcome {
    /// Publish these events of `tab`.
    Publish(String, Vec<u8>),
    /// No tail to catch up from.
    Missing(Missing),
}

/// A session's watch lease, and the queue to its live task.
pub struct Live {
    /// The session.
    session: String,
    /// Where the node keeps live tails; `None`: none are kept, and a
    /// joining viewer always waits for a fresh snapshot.
    dir: Option<PathBuf>,
    /// Events are published to watchers until then.
    until: Option<Instant>,
    /// The live task's queue; started by the first op. Bounded by
    /// [`LIVE_QUEUE`].
    tx: Option<mpsc::Sender<LiveOp>>,
}

impl Live {
    /// Nobody watches `session` yet; its tails are kept under `dir`.
    pub fn new(session: String, dir: Option<PathBuf>) -> Live {
        Live {
            session,
            dir,
            until: None,
            tx: None,
        }
    }

    /// Is someone watching?
    pub fn watched(&self) -> bool {
        self.until.is_some_and(|t| t > Instant::now())
    }

    /// Starts or renews the lease for [`WATCH_LEASE`]; returns whether
    /// this starts a watch (`fresh`, or the lease had run out), which
    /// needs each tab's tail first.
    pub fn renew(&mut self, fresh: bool) -> bool {
        let fresh = fresh || !self.watched();
        self.until = Some(Instant::now() + WATCH_LEASE);
        fresh
    }

    /// Forgets a lease that ran out.
    pub fn expire(&mut self) {
        if self.until.is_some() && !self.watched() {
            self.until = None;
        }
    }

    /// Takes batch `seq` of `tab`: to its tail, and to the watchers when
    /// watched. Returns false when it was meant for watchers and the
    /// queue was full (the caller asks the tab's trackers for a snapshot).
    pub fn batch(
        &mut self,
        bus: &Arc<dyn Bus>,
        tab: &str,
        seq: u64,
        ndjson: Vec<u8>,
        snapshot_from: Option<usize>,
    ) -> bool {
        let publish = self.watched();
        if self.dir.is_none() && !publish {
            return true;
        }
        let op = LiveOp::Batch {
            tab: tab.to_owned(),
            seq,
            ndjson,
            snapshot_from,
            publish,
        };
        if self.queue(bus).try_send(op).is_err() {
            metrics::counter!(metric_names::LIVE_DROPPED_TOTAL).increment(1);
            if publish {
                tracing::debug!(session_id = %self.session, tab, "live events dropped: the bus is behind; a snapshot is asked for");
                return false;
            }
        }
        true
    }

    /// Catches a new watcher up on `tab`, whose last batch is `through`:
    /// its tail is published, or, when the node has none, `missing` runs.
    pub fn catch_up(
        &mut self,
        bus: &Arc<dyn Bus>,
        tab: &str,
        through: Option<u64>,
        missing: Missing,
    ) {
        let (Some(through), Some(_)) = (through, &self.dir) else {
            return missing();
        };
        let op = LiveOp::CatchUp {
            tab: tab.to_owned(),
            through,
            missing,
        };
        if let Err(e) = self.queue(bus).try_send(op) {
            if let LiveOp::CatchUp { missing, .. } = e.into_inner() {
                missing();
            }
        }
    }

    /// The session ended: its tails are removed, after every op before.
    pub fn end(&mut self, bus: &Arc<dyn Bus>) {
        if self.dir.is_none() {
            return;
        }
        let tx = self.queue(bus).clone();
        tokio::spawn(async move {
            let _ = tx.send(LiveOp::End).await;
        });
    }

    /// The live task's queue, started on first use.
    fn queue(&mut self, bus: &Arc<dyn Bus>) -> &mpsc::Sender<LiveOp> {
        self.tx.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<LiveOp>(LIVE_QUEUE);
            tokio::spawn(run(self.session.clone(), self.dir.clone(), bus.clone(), rx));
            tx
        })
    }
}

/// The session's live task: applies ops in order, file I/O on the
/// blocking pool (all ops waiting at once in one go), then publishes.
async fn run(
    session: String,
    dir: Option<PathBuf>,
    bus: Arc<dyn Bus>,
    mut rx: mpsc::Receiver<LiveOp>,
) {
    let topic = topics::live(&session);
    let mut tails: HashMap<String, TailFile> = HashMap::new();
    let mut ops = Vec::with_capacity(LIVE_QUEUE);
    while rx.recv_many(&mut ops, LIVE_QUEUE).await > 0 {
        let batch = std::mem::take(&mut ops);
        let outcomes = match dir.clone() {
            Some(dir) => {
                let id = session.clone();
                let applied = tokio::task::spawn_blocking(move || {
                    let outcomes = apply(&dir, &id, &mut tails, batch);
                    (tails, outcomes)
                })
                .await;
                match applied {
                    Ok((t, outcomes)) => {
                        tails = t;
                        outcomes
                    }
                    Err(e) => {
                        tracing::error!(session_id = %session, error = %e, "live tail task failed");
                        return;
                    }
                }
            }
            None => batch.into_iter().filter_map(pass).collect(),
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Publish(tab, ndjson) => {
                    let msg = BusMessage::LiveEvents {
                        session: session.clone(),
                        tab,
                        ndjson,
                    };
                    let _ = bus.publish(&topic, msg).await;
                }
                Outcome::Missing(missing) => missing(),
            }
        }
    }
}

/// An op without tails kept: batches are published as they come.
fn pass(op: LiveOp) -> Option<Outcome> {
    match op {
        LiveOp::Batch {
            tab,
            ndjson,
            publish: true,
            ..
        } => Some(Outcome::Publish(tab, ndjson)),
        LiveOp::CatchUp { missing, .. } => Some(Outcome::Missing(missing)),
        LiveOp::Batch { .. } | LiveOp::End => None,
    }
}

/// Applies ops to the session's tail files (blocking file I/O), in order.
fn apply(
    dir: &Path,
    session: &str,
    tails: &mut HashMap<String, TailFile>,
    ops: Vec<LiveOp>,
) -> Vec<Outcome> {
    let session_dir = live_tail::session_dir(dir, session);
    let mut out = Vec::new();
    for op in ops {
        match op {
            LiveOp::Batch {
                tab,
                seq,
                ndjson,
                snapshot_from,
                publish,
            } => {
                let tail = tails
                    .entry(tab.clone())
                    .or_insert_with(|| TailFile::new(&session_dir, &tab, TAIL_FILE_MAX));
                if let Err(e) = tail.push(seq, &ndjson, snapshot_from) {
                    tracing::warn!(session_id = %session, tab, error = %e, "live tail not written");
                }
                if publish {
                    out.push(Outcome::Publish(tab, ndjson));
                }
            }
            LiveOp::CatchUp {
                tab,
                through,
                missing,
            } => {
                let tail = tails
                    .entry(tab.clone())
                    .or_insert_with(|| TailFile::new(&session_dir, &tab, TAIL_FILE_MAX));
                match tail.read(through) {
                    Ok(Some(chunks)) => {
                        metrics::counter!(metric_names::LIVE_CATCH_UPS_TOTAL).increment(1);
                        out.extend(chunks.into_iter().map(|c| Outcome::Publish(tab.clone(), c)));
                    }
                    Ok(None) => out.push(Outcome::Missing(missing)),
                    Err(e) => {
                        tracing::warn!(session_id = %session, tab, error = %e, "live tail not read");
                        out.push(Outcome::Missing(missing));
                    }
                }
            }
            LiveOp::End => {
                tails.clear();
                live_tail::remove_session(dir, session);
            }
        }
    }
    out
}

/// Where the tail restarts in a batch: the last full snapshot (type 2),
/// from the Meta (type 4) just before it when there is one. `kinds` are
/// the events' types with their line lengths (without the newline).
pub fn snapshot_from(kinds: impl IntoIterator<Item = (u32, usize)>) -> Option<usize> {
    let mut at = 0usize;
    let mut meta: Option<usize> = None;
    let mut found = None;
    for (kind, len) in kinds {
        match kind {
            4 => meta = Some(at),
            2 => found = Some(meta.take().unwrap_or(at)),
            _ => meta = None,
        }
        at += len + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::broadcast;

    fn events(msg: BusMessage) -> (String, Vec<u8>) {
        match msg {
            BusMessage::LiveEvents { tab, ndjson, .. } => (tab, ndjson),
            other => panic!("not events: {other:?}"),
        }
    }

    /// The next message on the topic, waiting on the live task (its file
    /// I/O runs on real threads: time may run on meanwhile).
    async fn next(rx: &mut broadcast::Receiver<BusMessage>) -> (String, Vec<u8>) {
        events(
            tokio::time::timeout(Duration::from_secs(60), rx.recv())
                .await
                .expect("a live message")
                .expect("the topic is open"),
        )
    }

    fn live(name: &str) -> (Live, Arc<dyn Bus>, broadcast::Receiver<BusMessage>, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "reel-live-{name}-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        let bus: Arc<dyn Bus> = Arc::new(crate::bus::InProcessBus::default());
        let rx = bus.subscribe(&topics::live("s"));
        (Live::new("s".into(), Some(dir.clone())), bus, rx, dir)
    }

    fn counter() -> (Arc<AtomicUsize>, impl Fn() -> Missing) {
        let n = Arc::new(AtomicUsize::new(0));
        let m = n.clone();
        (n, move || {
            let m = m.clone();
            Box::new(move || {
                m.fetch_add(1, Ordering::SeqCst);
            })
        })
    }

    #[test]
    fn the_tail_restarts_at_the_meta_before_the_last_snapshot() {
        // Lines: 3 (5 bytes), Meta (4), Snapshot (6), 3 (2).
        let at = snapshot_from([(3, 5), (4, 4), (2, 6), (3, 2)]);
        assert_eq!(at, Some(6));
        assert_eq!(snapshot_from([(2, 3), (3, 1)]), Some(0));
        assert_eq!(snapshot_from([(3, 3)]), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_watch_lasts_its_lease_unless_renewed() {
        let mut w = Live::new("s".into(), None);
        assert!(!w.watched());
        assert!(w.renew(false), "a first request starts a watch");
        tokio::time::advance(WATCH_LEASE - Duration::from_millis(1)).await;
        assert!(w.watched());
        assert!(!w.renew(false), "a renewal within the lease");
        assert!(w.renew(true), "a new watcher needs the tails");
        tokio::time::advance(WATCH_LEASE).await;
        w.expire();
        assert!(!w.watched() && w.until.is_none());
        assert!(
            w.renew(false),
            "a renewal after the lease ran out starts again"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_watcher_gets_the_tail_then_later_batches_once_each() {
        let (mut live, bus, mut rx, dir) = live("catch-up");
        let (asked, missing) = counter();
        // Unwatched: kept on disk, not published.
        live.batch(&bus, "t", 0, b"x\n".to_vec(), None);
        live.batch(&bus, "t", 1, b"a\nM\nS\n".to_vec(), Some(2));
        live.batch(&bus, "t", 2, b"e1\n".to_vec(), None);
        // A watcher joins; a batch follows at once, behind the catch-up.
        assert!(live.renew(true));
        live.catch_up(&bus, "t", Some(2), missing());
        assert!(live.batch(&bus, "t", 3, b"e2\n".to_vec(), None));
        assert_eq!(next(&mut rx).await, ("t".into(), b"M\nS\ne1\n".to_vec()));
        assert_eq!(next(&mut rx).await, ("t".into(), b"e2\n".to_vec()));
        assert_eq!(asked.load(Ordering::SeqCst), 0, "no snapshot asked for");
        // A tab without a snapshot on disk asks its trackers.
        live.batch(&bus, "u", 0, b"y\n".to_vec(), None);
        live.catch_up(&bus, "u", Some(0), missing());
        // A tail that misses the tab's last batch (a restart lost it) too.
        live.catch_up(&bus, "t", Some(9), missing());
        // A tab with no batch at all too, without waiting for the task.
        live.catch_up(&bus, "v", None, missing());
        live.batch(&bus, "t", 4, b"e3\n".to_vec(), None);
        assert_eq!(next(&mut rx).await, ("u".into(), b"y\n".to_vec()));
        assert_eq!(next(&mut rx).await, ("t".into(), b"e3\n".to_vec()));
        assert_eq!(asked.load(Ordering::SeqCst), 3);
        // The lease runs out: nothing more is published.
        tokio::time::advance(WATCH_LEASE).await;
        live.expire();
        live.batch(&bus, "t", 5, b"e4\n".to_vec(), None);
        // The session ends: its tails go.
        live.end(&bus);
        let session_dir = live_tail::session_dir(&dir, "s");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while session_dir.exists() {
            assert!(std::time::Instant::now() < deadline, "tails not removed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(rx.try_recv().is_err(), "e4 was not published");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_drops_a_watched_batch_and_empties_its_tail() {
        let (mut live, bus, mut rx, dir) = live("full");
        let (asked, missing) = counter();
        assert!(live.batch(&bus, "t", 0, b"S\n".to_vec(), Some(0)));
        live.renew(true);
        // The task does not run between these sends: the queue fills, and
        // the batch past it is dropped.
        let sent = (1..=LIVE_QUEUE as u64)
            .filter(|seq| live.batch(&bus, "t", *seq, b"e\n".to_vec(), None))
            .count();
        assert_eq!(sent, LIVE_QUEUE - 1);
        for _ in 1..LIVE_QUEUE {
            next(&mut rx).await;
        }
        // The tab's tail lost a batch: a new watcher waits for a snapshot.
        live.catch_up(&bus, "t", Some(LIVE_QUEUE as u64), missing());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while asked.load(Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no snapshot asked for"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_tail_directory_batches_are_published_and_joins_ask_for_a_snapshot() {
        let bus: Arc<dyn Bus> = Arc::new(crate::bus::InProcessBus::default());
        let mut rx = bus.subscribe(&topics::live("s"));
        let mut live = Live::new("s".into(), None);
        let (asked, missing) = counter();
        live.batch(&bus, "t", 0, b"S\n".to_vec(), Some(0));
        assert!(live.tx.is_none(), "nothing to do unwatched");
        live.renew(true);
        live.catch_up(&bus, "t", Some(0), missing());
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        live.batch(&bus, "t", 1, b"e\n".to_vec(), None);
        assert_eq!(next(&mut rx).await, ("t".into(), b"e\n".to_vec()));
    }
}
