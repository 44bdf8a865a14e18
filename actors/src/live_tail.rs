//! A tab's live tail on disk: the latest Meta and full snapshot and every
//! batch after them, so that a viewer who joins mid-session starts from
//! the node's own copy, however large the page, without asking the
//! visitor's browser for a new snapshot. The node holds none of these
//! bytes in memory: per tab it knows only the file, its length and the
//! seq of its last batch.
//!
//! One file per tab, `{dir}/{hex(session)}/{hex(tab)}.tail`, a sequence
//! of records `seq (u64 LE) | len (u32 LE) | len bytes of NDJSON`. The
//! first record starts with the Meta (or the snapshot), and seqs follow
//! each other without a gap; anything else (a batch missed, a rewind, a
//! torn record after a crash) empties the file, and the next full
//! snapshot starts it again. The file is independent of the spool and of
//! the segments, so spool trims, segment cuts and compression never move
//! it. Every call here is blocking file I/O: run it off the async threads.

use crate::metric_names;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Bytes of one tab's tail file. Past it (a page that sends no new full
/// snapshot for a long time) the file is emptied and a joining viewer
/// asks the tracker for a snapshot instead; the next full snapshot
/// starts a new tail.
pub const TAIL_FILE_MAX: u64 = 64 * 1024 * 1024;
/// A catch-up goes to the watchers in messages of about this many bytes,
/// each whole batches (a batch larger than this is a message of its own).
pub const CATCH_UP_CHUNK: usize = 1024 * 1024;
/// Bytes of a record's header: seq and length.
const HEADER: u64 = 12;

/// The directory of a session's tails.
pub fn session_dir(dir: &Path, session: &str) -> PathBuf {
    dir.join(hex(session))
}

/// Lowercase hex of an id: safe as a file name whatever the id holds.
fn hex(id: &str) -> String {
    id.bytes().map(|b| format!("{b:02x}")).collect()
}

/// One tab's tail file. It is opened for each write or read and closed
/// again, so that live tabs hold no file descriptors.
#[derive(Debug)]
pub struct TailFile {
    /// Where the file is.
    path: PathBuf,
    /// The file's records were checked (on first use).
    checked: bool,
    /// Bytes of whole records in the file.
    len: u64,
    /// The seq of the last record; `None` when the file is empty.
    last_seq: Option<u64>,
    /// The file's bound ([`TAIL_FILE_MAX`]).
    max: u64,
}

impl TailFile {
    /// The tail of `tab` in `session_dir` (not opened yet).
    pub fn new(session_dir: &Path, tab: &str, max: u64) -> TailFile {
        TailFile {
            path: session_dir.join(format!("{}.tail", hex(tab))),
            checked: false,
            len: 0,
            last_seq: None,
            max,
        }
    }

    /// The seq of the tail's last batch, `None` when it has no snapshot.
    pub fn last_seq(&mut self) -> io::Result<Option<u64>> {
        self.open()?;
        Ok(self.last_seq)
    }

    /// Adds batch `seq`. `snapshot_from`: where the batch's Meta (or full
    /// snapshot) starts when it holds a full snapshot ([`crate::live::snapshot_from`]):
    /// the tail restarts there. A batch that does not follow the last one
    /// empties the tail.
    pub fn push(
        &mut self,
        seq: u64,
        ndjson: &[u8],
        snapshot_from: Option<usize>,
    ) -> io::Result<()> {
        self.open()?;
        let part = match snapshot_from {
            Some(at) if at <= ndjson.len() => {
                self.clear()?;
                &ndjson[at..]
            }
            _ if self.last_seq.is_some_and(|l| l.checked_add(1) == Some(seq)) => ndjson,
            _ => return self.clear(),
        };
        let Ok(n) = u32::try_from(part.len()) else {
            return self.clear();
        };
        if self.len + HEADER + u64::from(n) > self.max {
            metrics::counter!(metric_names::LIVE_TAILS_DROPPED_TOTAL).increment(1);
            return self.clear();
        }
        let mut rec = Vec::with_capacity(HEADER as usize);
        rec.extend_from_slice(&seq.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        let written = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|mut file| {
                file.seek(SeekFrom::Start(self.len))?;
                file.write_all(&rec)?;
                file.write_all(part)
            });
        if let Err(e) = written {
            // What the failed write left is cut off with the rest; a file
            // that went away (its directory cleaned) is made again by the
            // next batch.
            self.len = 0;
            self.last_seq = None;
            self.checked = false;
            let _ = OpenOptions::new()
                .write(true)
                .open(&self.path)
                .and_then(|f| f.set_len(0));
            return Err(e);
        }
        self.len += HEADER + u64::from(n);
        self.last_seq = Some(seq);
        Ok(())
    }

    /// The tail, as messages of whole batches of about [`CATCH_UP_CHUNK`]
    /// bytes, when it holds a snapshot and every batch through `through`
    /// (the tab's last received seq); `None` otherwise.
    pub fn read(&mut self, through: u64) -> io::Result<Option<Vec<Vec<u8>>>> {
        self.open()?;
        if self.last_seq != Some(through) {
            return Ok(None);
        }
        let file = File::open(&self.path)?;
        let mut reader = io::BufReader::new(file.take(self.len));
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        let mut head = [0u8; HEADER as usize];
        let mut left = self.len;
        while left >= HEADER {
            reader.read_exact(&mut head)?;
            // unwrap: the slice is 4 bytes long.
            let n = u32::from_le_bytes(head[8..].try_into().unwrap()) as usize;
            let chunk = match chunks.last_mut() {
                Some(c) if c.len() + n <= CATCH_UP_CHUNK => c,
                _ => {
                    chunks.push(Vec::with_capacity(n));
                    // unwrap: pushed just above.
                    chunks.last_mut().unwrap()
                }
            };
            let start = chunk.len();
            chunk.resize(start + n, 0);
            reader.read_exact(&mut chunk[start..])?;
            left -= HEADER + n as u64;
        }
        Ok(Some(chunks))
    }

    /// Empties the tail.
    fn clear(&mut self) -> io::Result<()> {
        self.last_seq = None;
        if std::mem::take(&mut self.len) == 0 {
            return Ok(());
        }
        OpenOptions::new().write(true).open(&self.path)?.set_len(0)
    }

    /// Opens the file on first use and checks its records: a torn last
    /// record (a crash mid-write) is cut off, a file that does not hold
    /// consecutive seqs is emptied.
    fn open(&mut self) -> io::Result<()> {
        if self.checked {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        let (len, last) = scan(&mut file)?;
        if len != file.metadata()?.len() {
            file.set_len(len)?;
        }
        self.checked = true;
        self.len = len;
        self.last_seq = last;
        Ok(())
    }
}

/// The length of the whole, consecutive records at the start of `file`
/// (0 when they are not consecutive) and the last one's seq. Reads only
/// the headers.
fn scan(file: &mut File) -> io::Result<(u64, Option<u64>)> {
    let size = file.metadata()?.len();
    let (mut at, mut last) = (0u64, None::<u64>);
    let mut head = [0u8; HEADER as usize];
    while at + HEADER <= size {
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut head)?;
        // unwrap: the slices are 8 and 4 bytes long.
        let seq = u64::from_le_bytes(head[..8].try_into().unwrap());
        let n = u64::from(u32::from_le_bytes(head[8..].try_into().unwrap()));
        if at + HEADER + n > size {
            break;
        }
        if last.is_some_and(|l| l.checked_add(1) != Some(seq)) {
            return Ok((0, None));
        }
        last = Some(seq);
        at += HEADER + n;
    }
    Ok((at, last))
}

/// Removes a session's tails (the session ended).
pub fn remove_session(dir: &Path, session: &str) {
    let path = session_dir(dir, session);
    if let Err(e) = fs::remove_dir_all(&path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "live tails not removed");
        }
    }
}

/// Removes the tails of sessions untouched for `older_than` (sessions
/// that ended on another node after a failover, or while this one was
/// down). Returns how many sessions' tails went.
pub fn sweep(dir: &Path, older_than: Duration) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        let newest = fs::read_dir(&path)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|f| f.metadata().ok()?.modified().ok())
            .chain(entry.metadata().ok().and_then(|m| m.modified().ok()))
            .max();
        let stale = newest.is_none_or(|t| now.duration_since(t).unwrap_or_default() >= older_than);
        if stale && fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail(dir: &Path) -> TailFile {
        TailFile::new(&session_dir(dir, "s"), "tab/1", TAIL_FILE_MAX)
    }

    fn joined(chunks: Vec<Vec<u8>>) -> Vec<u8> {
        chunks.concat()
    }

    #[test]
    fn a_tail_starts_at_the_last_snapshot_and_holds_what_followed() {
        let dir = tempfile_dir("starts");
        let mut t = tail(&dir);
        t.push(0, b"x\n", None).unwrap();
        assert_eq!(t.read(0).unwrap(), None, "no snapshot yet");
        t.push(1, b"a\nM\nS\n", Some(2)).unwrap();
        t.push(2, b"e\n", None).unwrap();
        assert_eq!(joined(t.read(2).unwrap().unwrap()), b"M\nS\ne\n");
        assert_eq!(
            t.read(1).unwrap(),
            None,
            "a tail that is not the tab's last"
        );
        // A new snapshot restarts it.
        t.push(3, b"M2\nS2\n", Some(0)).unwrap();
        assert_eq!(joined(t.read(3).unwrap().unwrap()), b"M2\nS2\n");
        // A missed batch empties it until the next snapshot.
        t.push(5, b"f\n", None).unwrap();
        assert_eq!(t.last_seq().unwrap(), None);
        t.push(6, b"g\n", None).unwrap();
        assert_eq!(t.read(6).unwrap(), None);
        // A batch sent again after a rewind empties it too.
        t.push(7, b"S3\n", Some(0)).unwrap();
        t.push(8, b"h\n", None).unwrap();
        t.push(8, b"h\n", None).unwrap();
        assert_eq!(t.last_seq().unwrap(), None);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_tail_whose_file_went_away_is_made_again_by_the_next_snapshot() {
        let dir = tempfile_dir("gone");
        let mut t = tail(&dir);
        t.push(0, b"M\nS\n", Some(0)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(t.read(0).is_err(), "no file: no catch-up");
        assert!(t.push(1, b"e\n", None).is_err());
        assert_eq!(t.read(1).unwrap(), None, "nothing after the loss");
        t.push(2, b"M\nS2\n", Some(0)).unwrap();
        t.push(3, b"f\n", None).unwrap();
        assert_eq!(joined(t.read(3).unwrap().unwrap()), b"M\nS2\nf\n");
    }

    #[test]
    fn a_tail_past_its_bound_is_dropped_until_the_next_snapshot() {
        let dir = tempfile_dir("bound");
        let mut t = TailFile::new(&dir, "t", 100);
        t.push(0, &[b'S'; 50], Some(0)).unwrap();
        t.push(1, &[b'e'; 20], None).unwrap();
        assert!(t.read(1).unwrap().is_some());
        t.push(2, &[b'e'; 20], None).unwrap();
        assert_eq!(t.read(2).unwrap(), None, "12+50+12+20+12+20 > 100");
        t.push(3, &[b'S'; 88], Some(0)).unwrap();
        assert!(t.read(3).unwrap().is_some(), "12+88 = 100 fits");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_catch_up_comes_in_chunks_of_whole_batches() {
        let dir = tempfile_dir("chunks");
        let mut t = tail(&dir);
        let snapshot = vec![b'S'; CATCH_UP_CHUNK + 10];
        t.push(0, &snapshot, Some(0)).unwrap();
        for seq in 1..=4 {
            t.push(seq, &vec![b'e'; CATCH_UP_CHUNK / 3], None).unwrap();
        }
        let chunks = t.read(4).unwrap().unwrap();
        let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
        let third = CATCH_UP_CHUNK / 3;
        assert_eq!(lens, vec![CATCH_UP_CHUNK + 10, 3 * third, third]);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_tail_survives_a_restart_and_a_torn_record_is_cut_off() {
        let dir = tempfile_dir("restart");
        let mut t = tail(&dir);
        t.push(4, b"M\nS\n", Some(0)).unwrap();
        t.push(5, b"e\n", None).unwrap();
        drop(t);
        // A crash in the middle of the next record.
        let path = session_dir(&dir, "s").join(format!("{}.tail", hex("tab/1")));
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&6u64.to_le_bytes()).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(b"torn").unwrap();
        drop(f);
        let mut t = tail(&dir);
        assert_eq!(joined(t.read(5).unwrap().unwrap()), b"M\nS\ne\n");
        t.push(6, b"f\n", None).unwrap();
        assert_eq!(joined(t.read(6).unwrap().unwrap()), b"M\nS\ne\nf\n");
        remove_session(&dir, "s");
        assert!(!session_dir(&dir, "s").exists());
        // Sweeping: fresh tails stay, stale ones go.
        let mut t = tail(&dir);
        t.push(0, b"S\n", Some(0)).unwrap();
        assert_eq!(sweep(&dir, Duration::from_secs(3600)), 0);
        assert_eq!(sweep(&dir, Duration::ZERO), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    /// A fresh directory of this test's own.
    fn tempfile_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "reel-live-tail-{name}-{}-{}",
            std::process::id(),
            crate::now_ms()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }
}
