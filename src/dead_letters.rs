//! The dead letters: writes storage refused for their content, kept on the
//! node's disk for an operator to look at, apply again or discard.
//!
//! One JSON file per refused write, named
//! `{at, 20 digits}-{session}-{op}-{random}.json`:
//!
//! ```json
//! {"version": 1, "at": 1700000000000, "session_id": "…", "op": "identify",
//!  "error": "storage refused the write: …", "attempts": 3,
//!  "write": {"IdentifyAt": {"session_id": "…", "user_id": "…", …}}}
//! ```
//!
//! `write` is the outbox write as JSON. A segment's compressed blob is not
//! in it: it is the file named by `blob_file` beside it (the same name,
//! `.ndjson.zst`), written first, so the JSON never names a missing blob.
//! Files are fsynced before the write counts as settled. The area is
//! bounded (`dead_letters.max_bytes`): past it, a letter is not kept (the
//! caller logs an ERROR and counts it); nothing ever waits on it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use reel_actors::traits::{DeadLetter, DeadLetters, OutboxOp, StoreError, StoreResult};
use serde::{Deserialize, Serialize};

/// The version of the file format.
pub const FORMAT_VERSION: u32 = 1;

/// One dead letter's JSON file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LetterFile {
    pub version: u32,
    /// When the write was given up (ms since the Unix epoch).
    pub at: i64,
    pub session_id: String,
    /// The write's kind: `open_session`, `segment`, `identify`, `end_session`.
    pub op: String,
    /// Why storage refused it, the last time.
    pub error: String,
    pub attempts: u32,
    /// The outbox write, without a segment's blob.
    pub write: serde_json::Value,
    /// A segment's compressed blob, the file of this name beside this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_file: Option<String>,
}

/// The dead letters in a directory.
pub struct DirDeadLetters {
    dir: PathBuf,
    /// The area's bound (JSON files and blobs).
    max_bytes: u64,
}

impl DirDeadLetters {
    /// Opens (creates) the directory.
    pub fn open(dir: &Path, max_bytes: u64) -> anyhow::Result<DirDeadLetters> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the dead letters directory {}", dir.display()))?;
        Ok(DirDeadLetters {
            dir: dir.to_owned(),
            max_bytes,
        })
    }

    /// Bytes the area holds (an operator may remove files at any time, so
    /// this is measured, not counted).
    fn bytes(dir: &Path) -> std::io::Result<u64> {
        let mut total = 0;
        for entry in std::fs::read_dir(dir)? {
            let meta = entry?.metadata()?;
            if meta.is_file() {
                total += meta.len();
            }
        }
        Ok(total)
    }

    /// Writes one letter (blocking file I/O).
    fn put_blocking(dir: &Path, max_bytes: u64, letter: &DeadLetter) -> StoreResult<String> {
        let io = |e: std::io::Error| StoreError::Other(format!("dead letters: {e}"));
        let (write, blob) = match &letter.op {
            OutboxOp::Segment {
                record,
                delta,
                blob,
            } => (
                serde_json::json!({"Segment": {"record": record, "delta": delta}}),
                Some(&blob[..]),
            ),
            op => (
                serde_json::to_value(op).map_err(|e| StoreError::Other(e.to_string()))?,
                None,
            ),
        };
        let session: String = letter
            .op
            .session_id()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(64)
            .collect();
        let stem = format!(
            "{:020}-{session}-{}-{:08x}",
            letter.at.max(0),
            letter.op.kind(),
            rand::random::<u32>()
        );
        let blob_file = blob.map(|_| format!("{stem}.ndjson.zst"));
        let file = LetterFile {
            version: FORMAT_VERSION,
            at: letter.at,
            session_id: letter.op.session_id().to_owned(),
            op: letter.op.kind().to_owned(),
            error: letter.error.clone(),
            attempts: letter.attempts,
            write,
            blob_file: blob_file.clone(),
        };
        let json =
            serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Other(e.to_string()))?;
        let size = json.len() as u64 + blob.map_or(0, |b| b.len() as u64);
        let held = Self::bytes(dir).map_err(io)?;
        if held + size > max_bytes {
            return Err(StoreError::Other(format!(
                "dead letters over their bound: {held} bytes held, {size} more, max {max_bytes}"
            )));
        }
        if let (Some(name), Some(blob)) = (&blob_file, blob) {
            write_durably(&dir.join(name), blob).map_err(io)?;
        }
        let path = dir.join(format!("{stem}.json"));
        write_durably(&path, &json).map_err(io)?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(path.display().to_string())
    }
}

/// Writes `data` to `path` through a temporary file, fsynced, renamed.
fn write_durably(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[async_trait]
impl DeadLetters for DirDeadLetters {
    async fn put(&self, letter: &DeadLetter) -> StoreResult<String> {
        let (dir, max, letter) = (self.dir.clone(), self.max_bytes, letter.clone());
        tokio::task::spawn_blocking(move || Self::put_blocking(&dir, max, &letter))
            .await
            .map_err(|e| StoreError::Other(format!("dead letters: {e}")))?
    }
}

/// Reads a dead letter back as the outbox write it was (a segment's blob
/// from its file), to apply it again.
pub fn read(path: &Path) -> anyhow::Result<(LetterFile, OutboxOp)> {
    let file: LetterFile = serde_json::from_slice(
        &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let mut write = file.write.clone();
    if let Some(name) = &file.blob_file {
        let dir = path.parent().unwrap_or(Path::new("."));
        let blob = std::fs::read(dir.join(name)).with_context(|| format!("reading {name}"))?;
        write["Segment"]["blob"] = serde_json::Value::from(blob);
    }
    let op = serde_json::from_value(write)
        .with_context(|| format!("the write in {}", path.display()))?;
    Ok((file, op))
}

/// The dead letters' JSON files in `dir`, oldest first.
pub fn list(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The writes the dead letters in `dir` hold, without a segment's blob
/// (empty), so that a restarted node's drain does not refuse them again.
/// Letters that cannot be read are skipped (logged).
pub fn held(dir: &Path) -> Vec<OutboxOp> {
    let files = match list(dir) {
        Ok(files) => files,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "dead letters unreadable");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for path in files {
        let parsed = std::fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| Ok(serde_json::from_slice::<LetterFile>(&b)?))
            .and_then(|f| {
                let mut write = f.write;
                if f.blob_file.is_some() {
                    write["Segment"]["blob"] = serde_json::Value::Array(Vec::new());
                }
                Ok(serde_json::from_value::<OutboxOp>(write)?)
            });
        match parsed {
            Ok(op) => out.push(op),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "dead letter unreadable, skipped")
            }
        }
    }
    out
}

/// Removes a dead letter (its JSON file and a segment's blob).
pub fn remove(path: &Path, file: &LetterFile) -> std::io::Result<()> {
    if let Some(name) = &file.blob_file {
        let dir = path.parent().unwrap_or(Path::new("."));
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    std::fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use reel_actors::stats::SegmentDelta;
    use reel_actors::traits::SegmentRecord;

    use super::*;

    fn segment() -> OutboxOp {
        OutboxOp::Segment {
            record: SegmentRecord {
                session_id: "s1".into(),
                tab_id: "t".into(),
                first_seq: 0,
                last_seq: 3,
                first_ts: 1,
                last_ts: 2,
                event_count: 4,
                raw_bytes: 100,
                stored_bytes: 5,
                blob_key: "1/2023-11-14/s1/t/00000000000000000000.ndjson.zst".into(),
                received_at: 9,
                batch_ends: vec![25, 50, 75, 100],
            },
            delta: SegmentDelta::default(),
            blob: vec![0x28, 0xb5, 0x2f, 0xfd, 0].into(),
        }
    }

    fn letter(op: OutboxOp) -> DeadLetter {
        DeadLetter {
            op,
            error: "storage refused the write: check".into(),
            attempts: 3,
            at: 1_700_000_000_000,
        }
    }

    #[tokio::test]
    async fn a_dead_letter_keeps_the_whole_write_and_reads_back_as_it() {
        let dir = tempfile::tempdir().unwrap();
        let dead = DirDeadLetters::open(dir.path(), 1 << 20).unwrap();
        let identify = OutboxOp::IdentifyAt {
            session_id: "s1".into(),
            user_id: "poison".into(),
            traits: BTreeMap::from([("plan".into(), "pro".into())]),
            identified_at: 5,
        };
        for op in [segment(), identify] {
            let at = dead.put(&letter(op.clone())).await.unwrap();
            let (file, back) = read(Path::new(&at)).unwrap();
            assert_eq!(back, op);
            assert_eq!(file.session_id, "s1");
            assert_eq!(file.op, op.kind());
            assert!(file.error.contains("check"));
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&at).unwrap()).unwrap();
            // The blob is a file beside the JSON, not bytes inside it.
            assert!(json["write"]["Segment"].get("blob").is_none());
        }
        let files = list(dir.path()).unwrap();
        assert_eq!(files.len(), 2);
        let held = held(dir.path());
        assert_eq!(held.len(), 2);
        assert!(held
            .iter()
            .any(|op| matches!(op, OutboxOp::Segment { blob, .. } if blob.is_empty())));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
        for f in files {
            let (file, _) = read(&f).unwrap();
            remove(&f, &file).unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn past_its_bound_the_area_keeps_nothing_more_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let dead = DirDeadLetters::open(dir.path(), 1200).unwrap();
        dead.put(&letter(segment())).await.unwrap();
        let err = dead.put(&letter(segment())).await.unwrap_err();
        assert!(err.to_string().contains("over their bound"), "{err}");
        assert_eq!(list(dir.path()).unwrap().len(), 1);
    }
}
