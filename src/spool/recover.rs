//! What a restarted node finds in its spool, and getting it to storage:
//! the outbox writes an earlier run left are queued again (in order), then
//! its acked batches are drained into segments, then the old files go.
//! This runs in the background while the node serves (see
//! [`reel_actors::recovery::Progress`]).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use reel_actors::metric_names;
use reel_actors::outbox::Outbox;
use reel_actors::recovery::{DrainReport, DrainState, Progress};
use reel_actors::traits::{Index, OutboxOp, SpoolBatch};

use super::record::{self, SpoolRecord};

/// What a start found in the spool directory.
#[derive(Debug, Default)]
pub struct Recovered {
    pub batches: Vec<SpoolBatch>,
    /// Outbox writes an earlier run had not applied (some may have been:
    /// applying them again changes nothing), in the order they were queued.
    pub ops: Vec<OutboxOp>,
    /// The files read, removed once drained.
    pub files: Vec<PathBuf>,
    /// Unreadable bytes at the end of a file: a write torn by a crash,
    /// never acked.
    pub torn_tail_bytes: u64,
    /// Unreadable bytes between readable records, skipped by resynchronising.
    pub skipped_bytes: u64,
}

/// The spool's file name of file `id`.
pub(super) fn file_name(id: u64) -> String {
    format!("{id:020}.spool")
}

/// The spool files in `dir`, by id.
pub(super) fn list(dir: &Path) -> anyhow::Result<Vec<(u64, PathBuf)>> {
    let mut ids = Vec::new();
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
    Ok(ids)
}

/// Reads every record of the files `ids`. A record that cannot be read is
/// skipped and reading resumes at the next whole record; bytes skipped
/// between records are an ERROR and `reel_spool_skipped_bytes_total`.
pub(super) fn read(ids: &[(u64, PathBuf)]) -> anyhow::Result<Recovered> {
    let mut out = Recovered::default();
    for (_, path) in ids {
        let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let scan = record::scan(&data);
        for r in scan.records {
            match r {
                SpoolRecord::Batch(b) => out.batches.push(b),
                SpoolRecord::Op(op) => out.ops.push(op),
            }
        }
        for s in scan.skipped {
            if s.tail {
                out.torn_tail_bytes += s.bytes as u64;
                tracing::warn!(file = %path.display(), offset = s.offset, bytes = s.bytes, "torn write at the end of a spool file (never acked), skipped");
            } else {
                out.skipped_bytes += s.bytes as u64;
                metrics::counter!(metric_names::SPOOL_SKIPPED_BYTES_TOTAL)
                    .increment(s.bytes as u64);
                tracing::error!(file = %path.display(), offset = s.offset, bytes = s.bytes, error = %s.error, "unreadable spool bytes skipped; reading resumed at the next whole record");
            }
        }
        out.files.push(path.clone());
    }
    Ok(out)
}

/// Where recovered batches and writes go.
pub struct Destination<'a> {
    /// Writes go through this run's outbox.
    pub outbox: &'a Outbox,
    /// Asked which segments are stored already.
    pub index: Arc<dyn Index>,
    /// Drained batches are cut into segments of at most this many raw bytes.
    pub segment_max_bytes: u64,
    /// This node, the writer named in blob keys.
    pub node_id: &'a str,
}

/// Brings what an earlier run left in the spool to storage: its outbox
/// writes are queued again in this run's spool (in order), its batches are
/// drained into segments (skipping what storage or a queued segment holds),
/// then its files are removed: only once every batch and write in them is
/// in storage, queued durably in this run's spool, or in the dead letters.
/// Writes the dead letters hold (`dead`: refused before the crash, their
/// records still in the files) are not applied again.
/// `progress` must have begun with `recovered.batches` (before the node
/// served); it is finished here, `Done` or `Failed`.
pub async fn recover(
    recovered: Recovered,
    dir: &Path,
    to: Destination<'_>,
    dead: &[OutboxOp],
    progress: &Progress,
) -> anyhow::Result<DrainReport> {
    let result = recover_files(recovered, dir, to, dead, progress).await;
    progress.finish(if result.is_ok() {
        DrainState::Done
    } else {
        DrainState::Failed
    });
    result
}

async fn recover_files(
    recovered: Recovered,
    dir: &Path,
    to: Destination<'_>,
    dead: &[OutboxOp],
    progress: &Progress,
) -> anyhow::Result<DrainReport> {
    let Destination {
        outbox,
        index,
        segment_max_bytes,
        node_id,
    } = to;
    if recovered.files.is_empty() {
        return Ok(DrainReport::default());
    }
    let record = |op: &OutboxOp| match op {
        OutboxOp::Segment { record, .. } => Some(record.clone()),
        _ => None,
    };
    let dead_letter = |op: &OutboxOp| {
        dead.iter().any(|d| match (record(d), record(op)) {
            (Some(a), Some(b)) => a == b,
            (None, None) => d == op,
            _ => false,
        })
    };
    for op in recovered.ops.iter().filter(|op| !dead_letter(op)) {
        outbox.enqueue(op).await.context("re-queueing the outbox")?;
    }
    // Batches in a queued or dead-lettered segment are not drained again.
    let queued: Vec<_> = recovered
        .ops
        .iter()
        .chain(dead)
        .filter_map(record)
        .collect();
    let report = reel_actors::recovery::drain(
        recovered.batches,
        outbox,
        index,
        segment_max_bytes,
        &queued,
        node_id,
        progress,
    )
    .await
    .context("draining the spool")?;
    remove_files(dir, &recovered.files)?;
    tracing::info!(
        batches = report.batches,
        already_committed = report.already_committed,
        segments = report.segments,
        outbox_writes = recovered.ops.len(),
        torn_tail_bytes = recovered.torn_tail_bytes,
        skipped_bytes = recovered.skipped_bytes,
        "spool drained"
    );
    Ok(report)
}

/// Removes drained spool files (and makes the removal durable).
pub fn remove_files(dir: &Path, files: &[PathBuf]) -> std::io::Result<()> {
    for f in files {
        fs::remove_file(f)?;
    }
    fs::File::open(dir)?.sync_all()
}
