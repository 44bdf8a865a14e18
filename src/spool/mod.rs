//! The node's spool: an append-only log on local disk. A batch is acked once
//! its record is fsynced here. One writer thread does group commit: it takes
//! every append that queued while the previous fsync ran, writes them all,
//! and one `fdatasync` serves them all. Files rotate at a size; a file is
//! deleted once every batch in it is in a committed segment. A restarted
//! node reads the files left behind and drains them to the blob store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use reel_actors::metric_names;
use reel_actors::traits::{
    Durable, OutboxOp, Spool, SpoolBatch, SpoolTicket, StoreError, StoreResult,
};
use tokio::sync::{oneshot, watch};

pub mod record;
pub mod recover;

use record::{SpoolRecord, SpoolRecordRef};
use recover::file_name;
pub use recover::{recover, remove_files, Destination, Recovered};

/// Where an outbox write sits in the spool: file id, offset, length.
type Location = (u64, u64, u64);

/// What the writer and readers share.
struct Shared {
    /// Outbox writes not yet released, by ticket.
    ops: Mutex<HashMap<SpoolTicket, Location>>,
    /// Bytes in the spool's files of this run.
    bytes: AtomicU64,
    /// The spool's disk is full (a write failed for want of space, or less
    /// than `min_free_bytes` is free): the node admits no new connections
    /// and asks open trackers to hold their data.
    disk_full: AtomicBool,
    /// The same, for whoever waits for a change.
    disk_full_tx: watch::Sender<bool>,
    /// Free space below which the disk counts as full.
    min_free_bytes: u64,
    dir: PathBuf,
}

impl Shared {
    fn set_disk_full(&self, full: bool) {
        if self.disk_full.swap(full, Ordering::AcqRel) != full {
            self.disk_full_tx.send_replace(full);
            metrics::gauge!(metric_names::SPOOL_DISK_FULL).set(if full { 1.0 } else { 0.0 });
            if full {
                tracing::error!(dir = %self.dir.display(), "the spool's disk is full: no new connections, open trackers hold their data until there is space");
            } else {
                tracing::info!(dir = %self.dir.display(), "the spool's disk has space again");
            }
        }
    }
}

enum Cmd {
    Append {
        ticket: SpoolTicket,
        record: Vec<u8>,
        /// An outbox write: remember where it is, to read it back.
        op: bool,
        done: oneshot::Sender<StoreResult<()>>,
    },
    Barrier(oneshot::Sender<StoreResult<()>>),
    Release(Vec<SpoolTicket>),
}

/// The spool handle shared by every session.
pub struct FileSpool {
    /// The next ticket and the writer's queue, under one lock so that
    /// tickets enter the queue in order. The queue itself is unbounded; its
    /// bytes are bounded by who feeds it: batches by the node's ingest
    /// budget (`ingest.max_inflight_bytes`: a batch holds its share until
    /// its append is fsynced), outbox writes by the segments being
    /// committed (see `reel_actors::memory`). A full budget stops
    /// the connections' reads, not this queue's senders.
    tx: Mutex<(SpoolTicket, mpsc::Sender<Cmd>)>,
    dir: PathBuf,
    shared: Arc<Shared>,
}

/// Spool settings.
#[derive(Debug, Clone, Copy)]
pub struct SpoolOptions {
    /// A new file starts once the current one holds this many bytes.
    pub file_bytes: u64,
    /// Free space on the spool's filesystem below which the disk counts as full.
    pub min_free_bytes: u64,
}

/// A file of the spool, as the writer tracks it.
struct FileState {
    /// Records in the file not yet in storage.
    pending: u64,
    /// Bytes of acked records in it.
    size: u64,
}

/// The file being appended to.
struct Current {
    id: u64,
    file: File,
    /// Bytes in the file, all of them whole records.
    size: u64,
}

/// An append written in this group, not yet fsynced.
struct Written {
    ticket: SpoolTicket,
    offset: u64,
    len: u64,
    op: bool,
    done: oneshot::Sender<StoreResult<()>>,
}

/// Why an append failed.
#[derive(Debug, Clone)]
struct Fault {
    message: String,
    disk_full: bool,
}

impl Fault {
    fn of(e: &std::io::Error) -> Fault {
        Fault {
            message: e.to_string(),
            disk_full: is_disk_full(e),
        }
    }

    fn error(&self) -> StoreError {
        StoreError::Other(format!("spool write failed: {}", self.message))
    }
}

/// Is `e` the filesystem running out of space (or quota)?
fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    /// Files to delete, handed to a thread of their own: an unlink of a
    /// large file can take tens of milliseconds, which no ack should wait for.
    deleter: mpsc::Sender<PathBuf>,
    file_bytes: u64,
    current: Option<Current>,
    next_file: u64,
    /// First ticket of each file -> file id.
    starts: BTreeMap<SpoolTicket, u64>,
    files: BTreeMap<u64, FileState>,
    /// Tickets whose append failed: nothing of them is in any file, so a
    /// release of one changes nothing. Rare, and emptied by those releases.
    failed: HashSet<SpoolTicket>,
    shared: Arc<Shared>,
}

impl FileSpool {
    /// Opens the spool in `dir`: reads what an earlier run left (to be
    /// brought to storage with [`recover`]), and starts a writer on new
    /// files after them.
    pub fn open(dir: &Path, options: SpoolOptions) -> anyhow::Result<(FileSpool, Recovered)> {
        fs::create_dir_all(dir)?;
        let ids = recover::list(dir)?;
        let recovered = recover::read(&ids)?;
        let next_file = ids.last().map_or(0, |(id, _)| id + 1);
        let (tx, rx) = mpsc::channel();
        let (deleter, doomed) = mpsc::channel::<PathBuf>();
        std::thread::Builder::new()
            .name("reel-spool-trim".into())
            .spawn(move || {
                for path in doomed {
                    if let Err(e) = fs::remove_file(&path) {
                        tracing::warn!(file = %path.display(), error = %e, "spool file removal failed");
                    }
                }
            })?;
        let shared = Arc::new(Shared {
            ops: Mutex::default(),
            bytes: AtomicU64::new(0),
            disk_full: AtomicBool::new(false),
            disk_full_tx: watch::channel(false).0,
            min_free_bytes: options.min_free_bytes,
            dir: dir.to_path_buf(),
        });
        metrics::gauge!(metric_names::SPOOL_DISK_FULL).set(0.0);
        metrics::gauge!(metric_names::SPOOL_DISK_MIN_FREE_BYTES).set(options.min_free_bytes as f64);
        let writer = Writer {
            shared: shared.clone(),
            dir: dir.to_path_buf(),
            deleter,
            file_bytes: options.file_bytes,
            current: None,
            next_file,
            starts: BTreeMap::new(),
            files: BTreeMap::new(),
            failed: HashSet::new(),
        };
        std::thread::Builder::new()
            .name("reel-spool".into())
            .spawn(move || writer.run(rx))?;
        let spool = FileSpool {
            tx: Mutex::new((0, tx)),
            dir: dir.to_path_buf(),
            shared,
        };
        spool.check_free_space();
        Ok((spool, recovered))
    }

    fn send(&self, make: impl FnOnce(SpoolTicket) -> Cmd) -> SpoolTicket {
        // unwrap: the lock is never held across a panic.
        let mut guard = self.tx.lock().unwrap();
        let ticket = guard.0;
        guard.0 += 1;
        // The writer only stops when the spool is dropped.
        let _ = guard.1.send(make(ticket));
        ticket
    }

    fn append_record(&self, record: Vec<u8>, op: bool) -> (SpoolTicket, Durable) {
        let (done, rx) = oneshot::channel();
        let ticket = self.send(|ticket| Cmd::Append {
            ticket,
            record,
            op,
            done,
        });
        (
            ticket,
            Box::pin(async move { rx.await.unwrap_or_else(|_| Err(gone())) }),
        )
    }

    /// Measures the free space of the spool's filesystem: below
    /// `min_free_bytes` the disk counts as full, at or above it (again) not.
    /// Returns the free bytes. Cheap (one `statvfs`); the node calls it
    /// every second.
    pub fn check_free_space(&self) -> Option<u64> {
        let free = free_bytes(&self.dir)?;
        metrics::gauge!(metric_names::SPOOL_DISK_FREE_BYTES).set(free as f64);
        self.shared
            .set_disk_full(free < self.shared.min_free_bytes.max(1));
        Some(free)
    }

    /// Follows the disk-full state.
    pub fn disk_full_watch(&self) -> watch::Receiver<bool> {
        self.shared.disk_full_tx.subscribe()
    }
}

/// Bytes an unprivileged writer may still use on the filesystem of `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `st` a writable
    // statvfs that the call fills in when it returns 0.
    let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // The field types differ between targets (u32 on some 32-bit ones).
    #[allow(clippy::unnecessary_cast)]
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

fn gone() -> StoreError {
    StoreError::Unavailable("spool writer stopped".into())
}

impl Spool for FileSpool {
    fn append(&self, batch: &SpoolBatch) -> (SpoolTicket, Durable) {
        self.append_record(record::encode(SpoolRecordRef::Batch(batch)), false)
    }

    fn append_op(&self, op: &OutboxOp) -> (SpoolTicket, Durable) {
        self.append_record(record::encode(SpoolRecordRef::Op(op)), true)
    }

    fn read_op(&self, ticket: SpoolTicket) -> StoreResult<OutboxOp> {
        // unwrap: the lock is never held across a panic.
        let loc = self.shared.ops.lock().unwrap().get(&ticket).copied();
        let (file, offset, len) =
            loc.ok_or_else(|| StoreError::Other(format!("no outbox write {ticket} in the spool")))?;
        let io = |e: std::io::Error| StoreError::Other(format!("reading the spool: {e}"));
        let f = File::open(self.dir.join(file_name(file))).map_err(io)?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact_at(&mut buf, offset).map_err(io)?;
        match record::decode(&buf) {
            Ok((SpoolRecord::Op(op), _)) => Ok(op),
            Ok((SpoolRecord::Batch(_), _)) => Err(StoreError::Other(format!(
                "spool record {ticket} is a batch, not an outbox write"
            ))),
            Err(e) => Err(StoreError::Other(format!("spool record {ticket}: {e}"))),
        }
    }

    fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    fn disk_full(&self) -> bool {
        self.shared.disk_full.load(Ordering::Acquire)
    }

    fn barrier(&self) -> Durable {
        let (done, rx) = oneshot::channel();
        // A barrier takes no ticket of its own; the counter is shared.
        self.send(|_| Cmd::Barrier(done));
        Box::pin(async move { rx.await.unwrap_or_else(|_| Err(gone())) })
    }

    fn release(&self, tickets: &[SpoolTicket]) {
        if tickets.is_empty() {
            return;
        }
        {
            // unwrap: the lock is never held across a panic.
            let mut ops = self.shared.ops.lock().unwrap();
            for t in tickets {
                ops.remove(t);
            }
        }
        let tickets = tickets.to_vec();
        self.send(|_| Cmd::Release(tickets));
    }
}

impl Writer {
    /// Group commit: every append that queued while the last fsync ran is
    /// written, then one fsync serves them all. An append succeeds only
    /// when its record is whole on disk and fsynced; one that fails leaves
    /// nothing behind (the file is cut back to before it, or sealed when
    /// even that fails), and every append queued after it in the group
    /// fails too, unwritten, so no later record follows a hole.
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut group: Vec<Cmd> = Vec::new();
        while let Ok(first) = rx.recv() {
            group.push(first);
            while let Ok(more) = rx.try_recv() {
                group.push(more);
            }
            let mut written: Vec<Written> = Vec::new();
            let mut refused: Vec<oneshot::Sender<StoreResult<()>>> = Vec::new();
            let mut barriers: Vec<oneshot::Sender<StoreResult<()>>> = Vec::new();
            let mut fault: Option<Fault> = None;
            let mut group_start: Option<u64> = None;
            for cmd in group.drain(..) {
                match cmd {
                    Cmd::Append {
                        ticket,
                        record,
                        op,
                        done,
                    } => {
                        if fault.is_none() {
                            match self.write(ticket, &record, group_start.is_none()) {
                                Ok(offset) => {
                                    group_start.get_or_insert(offset);
                                    written.push(Written {
                                        ticket,
                                        offset,
                                        len: record.len() as u64,
                                        op,
                                        done,
                                    });
                                    continue;
                                }
                                Err(e) => fault = Some(Fault::of(&e)),
                            }
                        }
                        self.failed.insert(ticket);
                        refused.push(done);
                    }
                    Cmd::Barrier(done) => barriers.push(done),
                    Cmd::Release(tickets) => self.release(&tickets),
                }
            }
            if written.is_empty() && refused.is_empty() && barriers.is_empty() {
                // Only trims: nothing to make durable.
                continue;
            }
            let started = Instant::now();
            if !written.is_empty() {
                let synced = match &self.current {
                    Some(cur) => cur.file.sync_data().map_err(|e| Fault::of(&e)),
                    // The file was sealed after a write failed in this
                    // group: what it holds of the group is not durable.
                    None => Err(fault.clone().unwrap_or_else(|| Fault {
                        message: "spool file sealed".into(),
                        disk_full: false,
                    })),
                };
                if let Err(f) = synced {
                    // What the fsync failed on may or may not be on disk:
                    // cut the file back to before this group, so that
                    // nothing unacked lingers to be read back as acked.
                    fault.get_or_insert(f);
                    // unwrap: `written` is not empty, so the group started.
                    self.cut_back(group_start.unwrap());
                    for w in written.drain(..) {
                        self.failed.insert(w.ticket);
                        refused.push(w.done);
                    }
                }
            }
            metrics::histogram!(metric_names::SPOOL_FSYNC_SECONDS)
                .record(started.elapsed().as_secs_f64());
            metrics::histogram!(metric_names::SPOOL_GROUP_SIZE)
                .record((written.len() + refused.len() + barriers.len()) as f64);
            let mut bytes = 0;
            for w in written {
                bytes += w.len;
                self.account(&w);
                let _ = w.done.send(Ok(()));
            }
            metrics::counter!(metric_names::SPOOL_BYTES_TOTAL).increment(bytes);
            if let Some(f) = &fault {
                if f.disk_full {
                    self.shared.set_disk_full(true);
                }
                let kind = if f.disk_full { "disk_full" } else { "io" };
                metrics::counter!(metric_names::SPOOL_WRITE_FAILURES_TOTAL, "kind" => kind)
                    .increment(refused.len() as u64);
                tracing::error!(error = %f.message, appends = refused.len(), "spool write failed; those batches are not acked");
                for done in refused {
                    let _ = done.send(Err(f.error()));
                }
            }
            // A barrier resolves once everything appended before it is
            // durable: not when an append of this group failed.
            for done in barriers {
                let _ = done.send(match &fault {
                    None => Ok(()),
                    Some(f) => Err(f.error()),
                });
            }
        }
    }

    /// Writes one record at the end of the current file (starting a new
    /// file first when the group starts and the current one is full);
    /// returns its offset. On failure the file is cut back to before it.
    fn write(&mut self, ticket: SpoolTicket, record: &[u8], first: bool) -> std::io::Result<u64> {
        // Files rotate only between groups, so that a group's records are
        // all in one file and one fsync covers them.
        let rotate = match &self.current {
            None => true,
            Some(cur) => first && cur.size >= self.file_bytes,
        };
        if rotate {
            self.rotate(ticket)?;
        }
        // unwrap: `rotate` set `current` when it was empty.
        let cur = self.current.as_mut().unwrap();
        let offset = cur.size;
        if let Err(e) = cur.file.write_all(record) {
            self.cut_back(offset);
            return Err(e);
        }
        cur.size += record.len() as u64;
        Ok(offset)
    }

    /// Starts a new file (the last one was fsynced by its last group).
    fn rotate(&mut self, ticket: SpoolTicket) -> std::io::Result<()> {
        if let Some(old) = self.current.take() {
            self.maybe_delete(old.id);
        }
        let id = self.next_file;
        self.next_file += 1;
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.dir.join(file_name(id)))?;
        // Make the new file's directory entry durable too.
        File::open(&self.dir)?.sync_all()?;
        self.current = Some(Current { id, file, size: 0 });
        self.starts.insert(ticket, id);
        self.files.insert(
            id,
            FileState {
                pending: 0,
                size: 0,
            },
        );
        metrics::gauge!(metric_names::SPOOL_FILES).set(self.files.len() as f64);
        Ok(())
    }

    /// Cuts the current file back to `offset` after a failed write. When
    /// even that fails, the file is sealed (no more appends; the next one
    /// starts a new file) and its torn tail is skipped when read back.
    fn cut_back(&mut self, offset: u64) {
        let Some(cur) = self.current.as_mut() else {
            return;
        };
        match cur.file.set_len(offset) {
            Ok(()) => cur.size = offset,
            Err(e) => {
                tracing::error!(file = cur.id, offset, error = %e, "a failed spool write could not be cut back; the file is sealed");
                let sealed = cur.id;
                self.current = None;
                self.maybe_delete(sealed);
            }
        }
    }

    /// Counts a durable record in the current file (a group that ends
    /// with its file sealed has no durable record).
    fn account(&mut self, w: &Written) {
        let Some(id) = self.current.as_ref().map(|c| c.id) else {
            return;
        };
        if w.op {
            // unwrap: the lock is never held across a panic.
            self.shared
                .ops
                .lock()
                .unwrap()
                .insert(w.ticket, (id, w.offset, w.len));
        }
        if let Some(state) = self.files.get_mut(&id) {
            state.pending += 1;
            state.size += w.len;
        }
        let total = self.shared.bytes.fetch_add(w.len, Ordering::Relaxed) + w.len;
        metrics::gauge!(metric_names::SPOOL_BYTES).set(total as f64);
    }

    fn release(&mut self, tickets: &[SpoolTicket]) {
        for &t in tickets {
            if self.failed.remove(&t) {
                continue;
            }
            let Some((_, &id)) = self.starts.range(..=t).next_back() else {
                continue;
            };
            if let Some(state) = self.files.get_mut(&id) {
                state.pending = state.pending.saturating_sub(1);
            }
            self.maybe_delete(id);
        }
    }

    /// Deletes file `id` when nothing in it is pending and it is not the
    /// file being written.
    fn maybe_delete(&mut self, id: u64) {
        let current = self.current.as_ref().map(|c| c.id);
        if current == Some(id) || self.files.get(&id).is_none_or(|s| s.pending > 0) {
            return;
        }
        if let Some(state) = self.files.remove(&id) {
            let total = self.shared.bytes.fetch_sub(state.size, Ordering::Relaxed) - state.size;
            metrics::gauge!(metric_names::SPOOL_BYTES).set(total as f64);
        }
        self.starts.retain(|_, f| *f != id);
        let _ = self.deleter.send(self.dir.join(file_name(id)));
        metrics::gauge!(metric_names::SPOOL_FILES).set(self.files.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reel_actors::stats::BatchStats;

    fn batch(seq: u64, size: usize) -> SpoolBatch {
        SpoolBatch {
            site_id: 1,
            session_id: "s".into(),
            session_started_at: 0,
            tab_id: "t".into(),
            seq,
            received_at: 0,
            ndjson: vec![b'x'; size],
            stats: BatchStats::default(),
        }
    }

    fn opts(file_bytes: u64) -> SpoolOptions {
        SpoolOptions {
            file_bytes,
            min_free_bytes: 0,
        }
    }

    fn files(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn appended_batches_are_recovered_and_released_files_go() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, rec) = FileSpool::open(dir.path(), opts(1000)).unwrap();
            assert!(rec.batches.is_empty());
            let mut tickets = Vec::new();
            for seq in 0..5 {
                let (t, durable) = spool.append(&batch(seq, 400));
                durable.await.unwrap();
                tickets.push(t);
            }
            // 400-byte records, files rotate past 1000 bytes: 3 files.
            assert_eq!(files(dir.path()), 2);
            spool.release(&tickets[..3]);
            spool.barrier().await.unwrap();
            // Files are removed off the writer thread: wait (bounded) for it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while files(dir.path()) != 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "spool file never removed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        let (_spool, rec) = FileSpool::open(dir.path(), opts(1000)).unwrap();
        let seqs: Vec<u64> = rec.batches.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        remove_files(dir.path(), &rec.files).unwrap();
        assert_eq!(files(dir.path()), 0);
    }

    #[tokio::test]
    async fn torn_tail_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, _) = FileSpool::open(dir.path(), opts(1 << 20)).unwrap();
            spool.append(&batch(0, 10)).1.await.unwrap();
            spool.append(&batch(1, 10)).1.await.unwrap();
        }
        let path = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (_s, rec) = FileSpool::open(dir.path(), opts(1 << 20)).unwrap();
        assert_eq!(rec.batches.len(), 1);
        assert!(rec.torn_tail_bytes > 0);
        assert_eq!(rec.skipped_bytes, 0);
    }

    /// A tmpfs of `bytes` the test owns, or `None` where mounting is not
    /// allowed (the test then says so and checks nothing).
    struct SmallDisk {
        dir: tempfile::TempDir,
    }

    impl SmallDisk {
        fn mount(bytes: u64) -> Option<SmallDisk> {
            let dir = tempfile::tempdir().unwrap();
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("skipped: mounting a tmpfs is not allowed here");
                return None;
            }
            Some(SmallDisk { dir })
        }
    }

    impl Drop for SmallDisk {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.dir.path())
                .status();
        }
    }

    #[tokio::test]
    async fn appends_that_find_the_disk_full_leave_nothing_behind() {
        let Some(disk) = SmallDisk::mount(1 << 20) else {
            return;
        };
        let dir = disk.dir.path().join("spool");
        let (spool, _) = FileSpool::open(&dir, opts(64 << 20)).unwrap();
        // Fill the disk with 40 KiB batches until appends fail.
        let mut acked = Vec::new();
        let mut refused = 0;
        for seq in 0..100 {
            let (_, durable) = spool.append(&batch(seq, 40 << 10));
            match durable.await {
                Ok(()) => {
                    assert_eq!(refused, 0, "an append after a refused one was acked");
                    acked.push(seq);
                }
                Err(_) => refused += 1,
            }
        }
        assert!(refused > 0 && !acked.is_empty());
        assert!(
            spool.disk_full(),
            "a write that found no space marks the disk full"
        );
        // The file holds exactly the acked records, whole.
        let spool_bytes = spool.bytes();
        let on_disk: u64 = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, spool_bytes);
        // A barrier after a refusal resolves once nothing more is owed.
        spool.barrier().await.unwrap();
        drop(spool);
        let (_, rec) = FileSpool::open(&dir, opts(64 << 20)).unwrap();
        let seqs: Vec<u64> = rec.batches.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, acked);
        assert_eq!((rec.torn_tail_bytes, rec.skipped_bytes), (0, 0));
    }

    #[tokio::test]
    async fn the_disk_counts_as_full_below_min_free_and_recovers() {
        let Some(disk) = SmallDisk::mount(4 << 20) else {
            return;
        };
        let dir = disk.dir.path().join("spool");
        let (spool, _) = FileSpool::open(
            &dir,
            SpoolOptions {
                file_bytes: 1 << 20,
                min_free_bytes: 2 << 20,
            },
        )
        .unwrap();
        let mut watch = spool.disk_full_watch();
        assert!(!spool.disk_full());
        let filler = disk.dir.path().join("filler");
        fs::write(&filler, vec![0u8; 3 << 20]).unwrap();
        assert!(spool.check_free_space().unwrap() < 2 << 20);
        assert!(spool.disk_full());
        assert!(*watch.borrow_and_update());
        fs::remove_file(&filler).unwrap();
        spool.check_free_space();
        assert!(!spool.disk_full());
        watch.changed().await.unwrap();
        assert!(!*watch.borrow());
        // Released tickets of refused appends change nothing.
        let (t, durable) = spool.append(&batch(0, 10));
        durable.await.unwrap();
        spool.release(&[t]);
        spool.barrier().await.unwrap();
    }
}
