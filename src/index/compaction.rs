//! The SQL of cold compaction (docs/storage.md, "Cold compaction"), shared
//! by SQLite and Postgres: [`compaction_sql!`] implements
//! [`CompactionIndex`](reel_actors::traits::CompactionIndex) for an index
//! struct. It is expanded after `sql_index!` in the same module, whose
//! `db_err` it uses. The struct has a `compaction` probe: the tables come
//! with a migration (SQLite 0012, Postgres 0025), and until it ran the
//! compactor finds no candidates and reads no range index.

macro_rules! compaction_sql {
    ($name:ident, $db:ty, $row:ty) => {
mod compaction_impl {
use async_trait::async_trait;
use reel_actors::traits::{
    CompactionIndex, FrameRecord, SegmentRecord, StoreError, StoreResult, Swapped,
};
use sqlx::Row;

use super::$name;
use super::db_err;

impl $name {
    /// Do the compaction tables exist yet? (See [`crate::index::ColumnProbe`].)
    pub(super) async fn has_compaction(&self) -> StoreResult<bool> {
        self.probe(&self.compaction, "SELECT blob_key FROM doomed_blobs WHERE 1 = 0").await
    }

    async fn need_compaction(&self) -> StoreResult<()> {
        if self.has_compaction().await? {
            Ok(())
        } else {
            Err(StoreError::Other(
                "the index has no compaction tables yet: run `reel migrate`".into(),
            ))
        }
    }
}

#[async_trait]
impl CompactionIndex for $name {
    async fn compaction_candidates(
        &self,
        ended_before: i64,
        quiet_before: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        if !self.has_compaction().await? || !self.has_lifecycle().await? {
            return Ok(Vec::new());
        }
        sqlx::query_scalar(
            "SELECT s.id FROM sessions s LEFT JOIN compaction_done d ON d.session_id = s.id \
             WHERE s.segments > 0 AND (d.session_id IS NULL OR d.segments <> s.segments) \
             AND ((s.ended_at IS NOT NULL AND s.ended_at < $1) OR s.last_activity_at < $2) \
             AND NOT EXISTS (SELECT 1 FROM session_tombstones t WHERE t.session_id = s.id) \
             ORDER BY s.last_activity_at LIMIT $3",
        )
        .bind(ended_before)
        .bind(quiet_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn doom(&self, session_id: &str, key: &str, delete_after: i64) -> StoreResult<()> {
        self.need_compaction().await?;
        sqlx::query(
            "INSERT INTO doomed_blobs (blob_key, session_id, delete_after) VALUES ($1, $2, $3) \
             ON CONFLICT (blob_key) DO UPDATE SET delete_after = excluded.delete_after",
        )
        .bind(key)
        .bind(session_id)
        .bind(delete_after)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn swap_compacted(
        &self,
        old: &[SegmentRecord],
        new: &SegmentRecord,
        frames: &[FrameRecord],
        fresh_after: i64,
        old_delete_after: i64,
    ) -> StoreResult<Swapped> {
        self.need_compaction().await?;
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
        // Write first: SQLite takes its write lock, Postgres the session
        // row's (a segment commit updates that row too, so it waits).
        let locked = sqlx::query("UPDATE sessions SET segments = segments WHERE id = $1")
            .bind(&new.session_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        let gone: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM session_tombstones WHERE session_id = $1")
                .bind(&new.session_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if locked == 0 || gone.is_some() {
            return Ok(Swapped::Abandoned);
        }
        // The tab's rows must be exactly those it was built from.
        let rows = sqlx::query(
            "SELECT first_seq, last_seq, blob_key FROM segments WHERE session_id = $1 AND tab_id = $2",
        )
        .bind(&new.session_id)
        .bind(&new.tab_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut now_rows: Vec<(i64, i64, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)?;
        let mut was: Vec<(i64, i64, String)> = old
            .iter()
            .map(|s| (s.first_seq as i64, s.last_seq as i64, s.blob_key.clone()))
            .collect();
        now_rows.sort();
        was.sort();
        if now_rows != was {
            return Ok(Swapped::Abandoned);
        }
        let doomed: Option<i64> =
            sqlx::query_scalar("SELECT delete_after FROM doomed_blobs WHERE blob_key = $1")
                .bind(&new.blob_key)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if doomed.is_none_or(|at| at < fresh_after) {
            return Ok(Swapped::Abandoned);
        }
        for s in old {
            sqlx::query(
                "DELETE FROM segments WHERE session_id = $1 AND tab_id = $2 AND first_seq = $3 AND blob_key = $4",
            )
            .bind(&s.session_id)
            .bind(&s.tab_id)
            .bind(s.first_seq as i64)
            .bind(&s.blob_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("DELETE FROM segment_frames WHERE blob_key = $1")
                .bind(&s.blob_key)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            sqlx::query(
                "INSERT INTO doomed_blobs (blob_key, session_id, delete_after) VALUES ($1, $2, $3) \
                 ON CONFLICT (blob_key) DO UPDATE SET delete_after = excluded.delete_after",
            )
            .bind(&s.blob_key)
            .bind(&s.session_id)
            .bind(old_delete_after)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let ends = crate::index::format_batch_ends(&new.batch_ends);
        sqlx::query(
            "INSERT INTO segments (session_id, tab_id, first_seq, last_seq, first_ts, last_ts, event_count, \
             raw_bytes, stored_bytes, blob_key, received_at, batch_ends) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&new.session_id)
        .bind(&new.tab_id)
        .bind(new.first_seq as i64)
        .bind(new.last_seq as i64)
        .bind(new.first_ts)
        .bind(new.last_ts)
        .bind(new.event_count as i64)
        .bind(new.raw_bytes as i64)
        .bind(new.stored_bytes as i64)
        .bind(&new.blob_key)
        .bind(new.received_at)
        .bind(ends)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        for f in frames {
            sqlx::query(
                "INSERT INTO segment_frames (session_id, blob_key, frame, first_seq, first_ts, byte_offset, \
                 byte_length, raw_offset, snapshot) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&new.session_id)
            .bind(&new.blob_key)
            .bind(i64::from(f.frame))
            .bind(f.first_seq as i64)
            .bind(f.first_ts)
            .bind(f.offset as i64)
            .bind(f.length as i64)
            .bind(f.raw_offset as i64)
            .bind(i64::from(f.snapshot))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        sqlx::query("DELETE FROM doomed_blobs WHERE blob_key = $1")
            .bind(&new.blob_key)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let old_stored: i64 = old.iter().map(|s| s.stored_bytes as i64).sum();
        sqlx::query(
            "UPDATE sessions SET stored_bytes = stored_bytes + $1, segments = segments + $2 WHERE id = $3",
        )
        .bind(new.stored_bytes as i64 - old_stored)
        .bind(1 - old.len() as i64)
        .bind(&new.session_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Swapped::Done)
    }

    async fn mark_compacted(&self, session_id: &str, rows: i64, now: i64) -> StoreResult<()> {
        self.need_compaction().await?;
        sqlx::query(
            "INSERT INTO compaction_done (session_id, segments, done_at) \
             SELECT s.id, s.segments, $3 FROM sessions s \
             WHERE s.id = $1 AND (SELECT COUNT(*) FROM segments g WHERE g.session_id = s.id) = $2 \
             ON CONFLICT (session_id) DO UPDATE SET segments = excluded.segments, done_at = excluded.done_at",
        )
        .bind(session_id)
        .bind(rows)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn frames(&self, blob_key: &str) -> StoreResult<Vec<FrameRecord>> {
        if !self.has_compaction().await? {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT frame, first_seq, first_ts, byte_offset, byte_length, raw_offset, snapshot \
             FROM segment_frames WHERE blob_key = $1 ORDER BY frame",
        )
        .bind(blob_key)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r: &$row| {
                Ok(FrameRecord {
                    frame: r.try_get::<i64, _>(0)? as u32,
                    first_seq: r.try_get::<i64, _>(1)? as u64,
                    first_ts: r.try_get(2)?,
                    offset: r.try_get::<i64, _>(3)? as u64,
                    length: r.try_get::<i64, _>(4)? as u64,
                    raw_offset: r.try_get::<i64, _>(5)? as u64,
                    snapshot: r.try_get::<i64, _>(6)? != 0,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }

    async fn due_doomed(&self, now: i64, limit: i64) -> StoreResult<Vec<String>> {
        if !self.has_compaction().await? {
            return Ok(Vec::new());
        }
        // A key a row references again is not garbage: forgotten, never
        // deleted (a safety net; swaps never doom a referenced key).
        sqlx::query(
            "DELETE FROM doomed_blobs WHERE delete_after <= $1 AND EXISTS \
             (SELECT 1 FROM segments g WHERE g.session_id = doomed_blobs.session_id AND g.blob_key = doomed_blobs.blob_key)",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        sqlx::query_scalar(
            "SELECT blob_key FROM doomed_blobs WHERE delete_after <= $1 ORDER BY delete_after LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn forget_doomed(&self, keys: &[String]) -> StoreResult<()> {
        for key in keys {
            sqlx::query("DELETE FROM doomed_blobs WHERE blob_key = $1")
                .bind(key)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}
}
    };
}

pub(crate) use compaction_sql;
