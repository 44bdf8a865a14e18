//! The node's spool: an append-only log on local disk. A batch is acked once
//! its record is fsynced here. One writer thread does group commit: it takes
//! every append that queued while the previous fsync ran, writes them all,
//! and one `fdatasync` serves them all. Files rotate at a size; a file is
//! deleted once every batch in it is in a committed segment. A restarted
//! node reads the files left behind and drains them to the blob store.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use reel_actors::traits::{
    Durable, OutboxOp, Spool, SpoolBatch, SpoolTicket, StoreError, StoreResult,
};
use tokio::sync::oneshot;

use crate::codec::{decode_record, encode_record, RecordError, SpoolRecord, SpoolRecordRef};

/// Where an outbox write sits in the spool: file id, offset, length.
type Location = (u64, u64, u64);

/// What the writer and readers share.
#[derive(Default)]
struct Shared {
    /// Outbox writes not yet released, by ticket.
    ops: Mutex<HashMap<SpoolTicket, Location>>,
    /// Bytes in the spool's files of this run.
    bytes: AtomicU64,
}

/// File name of spool file `id`.
fn file_name(id: u64) -> String {
    format!("{id:020}.spool")
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
    /// tickets enter the queue in order.
    tx: Mutex<(SpoolTicket, mpsc::Sender<Cmd>)>,
    dir: PathBuf,
    shared: Arc<Shared>,
}

/// A file of the spool, as the writer tracks it.
struct FileState {
    /// Records in the file not yet in storage.
    pending: u64,
    /// Bytes written to it.
    size: u64,
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    /// Files to delete, handed to a thread of their own: an unlink of a
    /// large file can take tens of milliseconds, which no ack should wait for.
    deleter: mpsc::Sender<PathBuf>,
    file_bytes: u64,
    current: Option<(u64, File, u64)>,
    next_file: u64,
    /// First ticket of each file -> file id.
    starts: BTreeMap<SpoolTicket, u64>,
    files: BTreeMap<u64, FileState>,
    shared: Arc<Shared>,
}

/// What a start found in the spool directory.
pub struct Recovered {
    pub batches: Vec<SpoolBatch>,
    /// Outbox writes an earlier run had not applied (some may have been:
    /// applying them again changes nothing), in the order they were queued.
    pub ops: Vec<OutboxOp>,
    pub files: Vec<PathBuf>,
    /// Records that could not be read (a torn tail write is normal after a
    /// crash: it was never acked).
    pub skipped_tail_bytes: u64,
}

impl FileSpool {
    /// Opens the spool in `dir`: reads what an earlier run left (to be
    /// drained, then removed with [`remove_files`]), and starts a writer on
    /// new files after them.
    pub fn open(dir: &Path, file_bytes: u64) -> anyhow::Result<(FileSpool, Recovered)> {
        fs::create_dir_all(dir)?;
        let mut ids: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                ids.push((id, path));
            }
        }
        ids.sort();
        let mut recovered = Recovered {
            batches: Vec::new(),
            ops: Vec::new(),
            files: Vec::new(),
            skipped_tail_bytes: 0,
        };
        for (_, path) in &ids {
            let data = fs::read(path)?;
            let mut at = 0;
            while at < data.len() {
                match decode_record(&data[at..]) {
                    Ok((record, len)) => {
                        match record {
                            SpoolRecord::Batch(b) => recovered.batches.push(b),
                            SpoolRecord::Op(op) => recovered.ops.push(op),
                        }
                        at += len;
                    }
                    Err(e) => {
                        let rest = (data.len() - at) as u64;
                        if e != RecordError::Truncated {
                            tracing::error!(file = %path.display(), offset = at, error = %e, "spool record unreadable, skipping the rest of the file");
                        }
                        recovered.skipped_tail_bytes += rest;
                        break;
                    }
                }
            }
            recovered.files.push(path.clone());
        }
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
        let shared = Arc::new(Shared::default());
        let writer = Writer {
            shared: shared.clone(),
            dir: dir.to_path_buf(),
            deleter,
            file_bytes,
            current: None,
            next_file,
            starts: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        std::thread::Builder::new()
            .name("reel-spool".into())
            .spawn(move || writer.run(rx))?;
        Ok((
            FileSpool {
                tx: Mutex::new((0, tx)),
                dir: dir.to_path_buf(),
                shared,
            },
            recovered,
        ))
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
}

/// Removes drained spool files (and makes the removal durable).
pub fn remove_files(dir: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    for f in files {
        fs::remove_file(f)?;
    }
    File::open(dir)?.sync_all()
}

fn gone() -> StoreError {
    StoreError::Unavailable("spool writer stopped".into())
}

impl FileSpool {
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
}

impl Spool for FileSpool {
    fn append(&self, batch: &SpoolBatch) -> (SpoolTicket, Durable) {
        self.append_record(encode_record(SpoolRecordRef::Batch(batch)), false)
    }

    fn append_op(&self, op: &OutboxOp) -> (SpoolTicket, Durable) {
        self.append_record(encode_record(SpoolRecordRef::Op(op)), true)
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
        match decode_record(&buf) {
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
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        let mut waiting: Vec<oneshot::Sender<StoreResult<()>>> = Vec::new();
        let mut group: Vec<Cmd> = Vec::new();
        while let Ok(first) = rx.recv() {
            group.push(first);
            // Everything that queued during the last fsync joins this one.
            while let Ok(more) = rx.try_recv() {
                group.push(more);
            }
            let mut bytes = 0u64;
            let mut error: Option<String> = None;
            for cmd in group.drain(..) {
                match cmd {
                    Cmd::Append {
                        ticket,
                        record,
                        op,
                        done,
                    } => {
                        if error.is_none() {
                            bytes += record.len() as u64;
                            if let Err(e) = self.write(ticket, &record, op) {
                                error = Some(e.to_string());
                            }
                        }
                        waiting.push(done);
                    }
                    Cmd::Barrier(done) => waiting.push(done),
                    Cmd::Release(tickets) => self.release(&tickets),
                }
            }
            if waiting.is_empty() {
                // Only trims: nothing to make durable.
                continue;
            }
            let started = Instant::now();
            if error.is_none() {
                if let Some((_, file, _)) = &self.current {
                    if let Err(e) = file.sync_data() {
                        error = Some(e.to_string());
                    }
                }
            }
            let appends = waiting.len();
            metrics::histogram!("reel_spool_fsync_seconds").record(started.elapsed().as_secs_f64());
            metrics::histogram!("reel_spool_group_size").record(appends as f64);
            metrics::counter!("reel_spool_bytes_total").increment(bytes);
            if let Some(e) = &error {
                tracing::error!(error = %e, "spool write failed; batches not acked");
            }
            for done in waiting.drain(..) {
                let _ = done.send(match &error {
                    None => Ok(()),
                    Some(e) => Err(StoreError::Other(format!("spool write failed: {e}"))),
                });
            }
        }
    }

    fn write(&mut self, ticket: SpoolTicket, record: &[u8], op: bool) -> std::io::Result<()> {
        let rotate = match &self.current {
            None => true,
            Some((_, _, size)) => *size >= self.file_bytes,
        };
        if rotate {
            if let Some((id, file, _)) = self.current.take() {
                file.sync_data()?;
                self.maybe_delete(id);
            }
            let id = self.next_file;
            self.next_file += 1;
            let file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(self.dir.join(file_name(id)))?;
            // Make the new file's directory entry durable too.
            File::open(&self.dir)?.sync_all()?;
            self.current = Some((id, file, 0));
            self.starts.insert(ticket, id);
            self.files.insert(
                id,
                FileState {
                    pending: 0,
                    size: 0,
                },
            );
            metrics::gauge!("reel_spool_files").set(self.files.len() as f64);
        }
        // unwrap: `current` was set just above when it was empty.
        let (id, file, size) = self.current.as_mut().unwrap();
        file.write_all(record)?;
        if op {
            // unwrap: the lock is never held across a panic.
            self.shared
                .ops
                .lock()
                .unwrap()
                .insert(ticket, (*id, *size, record.len() as u64));
        }
        *size += record.len() as u64;
        if let Some(state) = self.files.get_mut(id) {
            state.pending += 1;
            state.size += record.len() as u64;
        }
        let total = self
            .shared
            .bytes
            .fetch_add(record.len() as u64, Ordering::Relaxed)
            + record.len() as u64;
        metrics::gauge!("reel_spool_bytes").set(total as f64);
        Ok(())
    }

    fn release(&mut self, tickets: &[SpoolTicket]) {
        for &t in tickets {
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
        let current = self.current.as_ref().map(|(c, _, _)| *c);
        if current == Some(id) || self.files.get(&id).is_none_or(|s| s.pending > 0) {
            return;
        }
        if let Some(state) = self.files.remove(&id) {
            let total = self.shared.bytes.fetch_sub(state.size, Ordering::Relaxed) - state.size;
            metrics::gauge!("reel_spool_bytes").set(total as f64);
        }
        self.starts.retain(|_, f| *f != id);
        let _ = self.deleter.send(self.dir.join(file_name(id)));
        metrics::gauge!("reel_spool_files").set(self.files.len() as f64);
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

    fn files(dir: &Path) -> usize {
        fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn appended_batches_are_recovered_and_released_files_go() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, rec) = FileSpool::open(dir.path(), 1000).unwrap();
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
        let (_spool, rec) = FileSpool::open(dir.path(), 1000).unwrap();
        let seqs: Vec<u64> = rec.batches.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, vec![3, 4]);
        remove_files(dir.path(), &rec.files).unwrap();
        assert_eq!(files(dir.path()), 0);
    }

    #[tokio::test]
    async fn torn_tail_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (spool, _) = FileSpool::open(dir.path(), 1 << 20).unwrap();
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
        let (_s, rec) = FileSpool::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(rec.batches.len(), 1);
        assert!(rec.skipped_tail_bytes > 0);
    }
}
