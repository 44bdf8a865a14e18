//! The SQL index shared by SQLite and Postgres: one implementation of the
//! `Index` trait, instantiated per database by [`sql_index!`]. SQL is kept
//! portable (numbered parameters, ON CONFLICT, CASE instead of MAX(), 64-bit
//! integers everywhere); only connecting and migrating differ per database.

/// Implements the shared index methods and `Index` for `$name`, a struct
/// with a `pool: sqlx::Pool<$db>` field. `$like` is the case-insensitive
/// LIKE operator of the database.
macro_rules! sql_index {
    ($name:ident, $db:ty, $row:ty, $like:literal) => {
use std::collections::BTreeMap;

use async_trait::async_trait;
use reel_actors::stats::SegmentDelta;
use reel_actors::traits::{
    ErasureJob, Index, Maintenance, NewSession, Scope, SegmentRecord, SessionRecord, SessionRef,
    SiteRecord, SiteUpdate, SiteUsage, StoreError, StoreResult, Tombstone,
};
use reel_protocol::lifecycle::{ErasureReceipt, ErasureState, Person};
use reel_protocol::api::{
    SessionFilter, SessionInfo, SessionPage, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE,
};
use sqlx::{QueryBuilder, Row};

use super::{like_escape, new_site_key};

fn db_err(e: sqlx::Error) -> StoreError {
    if super::is_unavailable(&e) {
        StoreError::Unavailable(e.to_string())
    } else if super::is_refused(&e) {
        StoreError::Refused(e.to_string())
    } else {
        StoreError::Other(e.to_string())
    }
}

const SESSION_COLUMNS: &str = "s.id, s.site_id, s.visitor_id, s.user_id, s.user_traits, s.started_at, \
    s.last_activity_at, s.ended_at, s.active_ms, s.page_loads, s.first_url, s.referrer, s.clicks, \
    s.keypresses, s.console_errors, s.events, s.raw_bytes, s.stored_bytes, s.segments, s.browser, s.os, \
    s.device, s.screen_w, s.screen_h, s.lang, s.tz";

/// The session columns, with `pinned` once the schema has it.
fn session_columns(lifecycle: bool) -> String {
    if lifecycle {
        format!("{SESSION_COLUMNS}, s.pinned")
    } else {
        SESSION_COLUMNS.to_owned()
    }
}

/// Leaves out tombstoned sessions (alias `s`), once the schema has them.
fn not_tombstoned(lifecycle: bool) -> &'static str {
    if lifecycle {
        " AND NOT EXISTS (SELECT 1 FROM session_tombstones t WHERE t.session_id = s.id)"
    } else {
        ""
    }
}

fn session_from_row(r: &$row) -> Result<SessionInfo, sqlx::Error> {
    let started_at: i64 = r.try_get("started_at")?;
    let last: i64 = r.try_get("last_activity_at")?;
    let ended_at: Option<i64> = r.try_get("ended_at")?;
    let traits: String = r.try_get("user_traits")?;
    Ok(SessionInfo {
        id: r.try_get("id")?,
        site_id: r.try_get("site_id")?,
        visitor_id: r.try_get("visitor_id")?,
        user_id: r.try_get("user_id")?,
        user_traits: serde_json::from_str(&traits).unwrap_or_default(),
        started_at,
        last_activity_at: last,
        ended_at,
        duration_ms: ended_at.unwrap_or(last).max(last) - started_at,
        active_ms: r.try_get("active_ms")?,
        page_loads: r.try_get("page_loads")?,
        first_url: r.try_get("first_url")?,
        urls: Vec::new(),
        referrer: r.try_get("referrer")?,
        clicks: r.try_get("clicks")?,
        keypresses: r.try_get("keypresses")?,
        console_errors: r.try_get("console_errors")?,
        events: r.try_get("events")?,
        raw_bytes: r.try_get("raw_bytes")?,
        stored_bytes: r.try_get("stored_bytes")?,
        segments: r.try_get("segments")?,
        tabs: Vec::new(),
        browser: r.try_get("browser")?,
        os: r.try_get("os")?,
        device: r.try_get("device")?,
        screen_w: r.try_get("screen_w")?,
        screen_h: r.try_get("screen_h")?,
        lang: r.try_get("lang")?,
        tz: r.try_get("tz")?,
        live: ended_at.is_none(),
        writing: false,
        // Absent before migration 0007 (SQLite) / 0010 (Postgres) runs.
        pinned: match r.try_get::<i64, _>("pinned") {
            Ok(p) => p != 0,
            Err(sqlx::Error::ColumnNotFound(_)) => false,
            Err(e) => return Err(e),
        },
    })
}

fn segment_from_row(r: &$row) -> Result<SegmentRecord, sqlx::Error> {
    Ok(SegmentRecord {
        session_id: r.try_get("session_id")?,
        tab_id: r.try_get("tab_id")?,
        first_seq: r.try_get::<i64, _>("first_seq")? as u64,
        last_seq: r.try_get::<i64, _>("last_seq")? as u64,
        first_ts: r.try_get("first_ts")?,
        last_ts: r.try_get("last_ts")?,
        event_count: r.try_get::<i64, _>("event_count")? as u64,
        raw_bytes: r.try_get::<i64, _>("raw_bytes")? as u64,
        stored_bytes: r.try_get::<i64, _>("stored_bytes")? as u64,
        blob_key: r.try_get("blob_key")?,
        received_at: r.try_get("received_at")?,
        // Absent before migration 0004 (SQLite) / 0007 (Postgres) runs.
        batch_ends: match r.try_get::<Option<String>, _>("batch_ends") {
            Ok(ends) => ends.as_deref().map(super::parse_batch_ends).unwrap_or_default(),
            Err(sqlx::Error::ColumnNotFound(_)) => Vec::new(),
            Err(e) => return Err(e),
        },
    })
}

fn site_from_row(r: &$row) -> Result<SiteRecord, sqlx::Error> {
    let origins: String = r.try_get("allowed_origins")?;
    let settings: String = r.try_get("settings")?;
    Ok(SiteRecord {
        id: r.try_get("id")?,
        org_id: r.try_get("org_id")?,
        name: r.try_get("name")?,
        key: r.try_get("site_key")?,
        allowed_origins: serde_json::from_str(&origins).unwrap_or_default(),
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        // Absent before migration 0005 (SQLite) / 0008 (Postgres) runs.
        retention_days: match r.try_get("retention_days") {
            Err(sqlx::Error::ColumnNotFound(_)) => reel_protocol::site::DEFAULT_RETENTION_DAYS,
            other => other?,
        },
        updated_at: match r.try_get("updated_at") {
            Err(sqlx::Error::ColumnNotFound(_)) => 0,
            other => other?,
        },
    })
}

/// Limits a query to what `scope` reaches: pushes ` AND sites.org_id = ..`
/// and, for a scope of some sites, ` AND sites.id IN (..)` (`sites` is the
/// query's alias of the sites table).
fn push_scope(q: &mut QueryBuilder<'_, $db>, scope: &Scope) {
    q.push(" AND sites.org_id = ").push_bind(scope.org_id);
    if let Some(ids) = &scope.sites {
        if ids.is_empty() {
            q.push(" AND 1 = 0");
            return;
        }
        q.push(" AND sites.id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(*id);
        }
        q.push(")");
    }
}

/// Cursor of the session list: the last row's `started_at` and id.
fn encode_cursor(started_at: i64, id: &str) -> String {
    format!("{started_at}_{id}")
}

fn decode_cursor(c: &str) -> Option<(i64, String)> {
    let (ts, id) = c.split_once('_')?;
    Some((ts.parse().ok()?, id.to_owned()))
}

impl $name {
    /// Binds a segment row's columns as `$1`..`$11`, and its batch ends as
    /// `$12` when the schema has them: the order of both the insert and the
    /// update that replaces a shorter row.
    fn bind_segment<'q>(
        q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>>,
        seg: &'q SegmentRecord,
        batch_ends: Option<&'q Option<String>>,
    ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments<'q>> {
        let q = q
            .bind(&seg.session_id)
            .bind(&seg.tab_id)
            .bind(seg.first_seq as i64)
            .bind(seg.last_seq as i64)
            .bind(seg.first_ts)
            .bind(seg.last_ts)
            .bind(seg.event_count as i64)
            .bind(seg.raw_bytes as i64)
            .bind(seg.stored_bytes as i64)
            .bind(&seg.blob_key)
            .bind(seg.received_at);
        match batch_ends {
            Some(ends) => q.bind(ends),
            None => q,
        }
    }

    /// Does `segments.batch_ends` exist yet? (See [`super::ColumnProbe`].)
    async fn has_batch_ends(&self) -> StoreResult<bool> {
        if self.batch_ends.seen() {
            return Ok(true);
        }
        match sqlx::query("SELECT batch_ends FROM segments WHERE 1 = 0")
            .execute(&self.pool)
            .await
        {
            Ok(_) => {
                self.batch_ends.set_seen();
                Ok(true)
            }
            Err(e) if super::is_unavailable(&e) => Err(db_err(e)),
            Err(_) => Ok(false),
        }
    }

    /// Do the lifecycle tables exist yet? (See [`super::ColumnProbe`].)
    async fn has_lifecycle(&self) -> StoreResult<bool> {
        if self.lifecycle.seen() {
            return Ok(true);
        }
        match sqlx::query("SELECT session_id FROM session_tombstones WHERE 1 = 0")
            .execute(&self.pool)
            .await
        {
            Ok(_) => {
                self.lifecycle.set_seen();
                Ok(true)
            }
            Err(e) if super::is_unavailable(&e) => Err(db_err(e)),
            Err(_) => Ok(false),
        }
    }

    /// Fails when the schema has no lifecycle tables yet.
    async fn need_lifecycle(&self) -> StoreResult<()> {
        if self.has_lifecycle().await? {
            Ok(())
        } else {
            Err(StoreError::Other(
                "the index has no lifecycle tables yet: run `reel migrate`".into(),
            ))
        }
    }

    /// The organisation named `name`, created on first use.
    pub async fn org_id(&self, name: &str) -> anyhow::Result<i64> {
        sqlx::query("INSERT INTO organizations (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(reel_actors::now_ms())
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Creates a site in `org` (created on first use); returns its id and
    /// key. `name` and `origins` are checked as the API checks them.
    pub async fn create_site(
        &self,
        org: &str,
        name: &str,
        origins: &[String],
    ) -> anyhow::Result<(i64, String)> {
        let name = reel_protocol::site::site_name(name)?;
        let origins = reel_protocol::site::origins(origins)?;
        let org_id = self.org_id(org).await?;
        let site = self.insert_site(org_id, &name, &origins).await?;
        Ok((site.id, site.key))
    }

    /// The site named `name` in `org`, created (any origin) when missing;
    /// returns its id and key.
    pub async fn ensure_site(&self, org: &str, name: &str) -> anyhow::Result<(i64, String)> {
        let org_id = self.org_id(org).await?;
        let found: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, site_key FROM sites WHERE org_id = $1 AND name = $2 ORDER BY id LIMIT 1",
        )
        .bind(org_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match found {
            Some(site) => Ok(site),
            None => self.create_site(org, name, &[]).await,
        }
    }

    pub fn pool(&self) -> &sqlx::Pool<$db> {
        &self.pool
    }
}

#[async_trait]
impl Index for $name {
    async fn check(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn site_by_key(&self, key: &str) -> StoreResult<Option<SiteRecord>> {
        let row = sqlx::query("SELECT * FROM sites WHERE site_key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| site_from_row(&r)).transpose().map_err(db_err)
    }

    async fn site_by_id(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteRecord>> {
        let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT * FROM sites WHERE sites.id = ");
        q.push_bind(site_id);
        push_scope(&mut q, scope);
        let row = q
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.map(|r| site_from_row(&r)).transpose().map_err(db_err)
    }

    async fn sites(&self, scope: &Scope) -> StoreResult<Vec<SiteRecord>> {
        let mut q: QueryBuilder<$db> = QueryBuilder::new("SELECT * FROM sites WHERE 1 = 1");
        push_scope(&mut q, scope);
        q.push(" ORDER BY sites.id");
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(site_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn insert_site(
        &self,
        org_id: i64,
        name: &str,
        origins: &[String],
    ) -> StoreResult<SiteRecord> {
        let origins = serde_json::to_string(origins).map_err(|e| StoreError::Other(e.to_string()))?;
        let settings = serde_json::to_string(&reel_protocol::Settings::default())
            .map_err(|e| StoreError::Other(e.to_string()))?;
        // Retention and `updated_at` take their column defaults (90 days,
        // never changed), so that this works on the previous schema too.
        let row = sqlx::query(
            "INSERT INTO sites (org_id, name, site_key, allowed_origins, settings, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        )
        .bind(org_id)
        .bind(name)
        .bind(new_site_key())
        .bind(origins)
        .bind(settings)
        .bind(reel_actors::now_ms())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        site_from_row(&row).map_err(db_err)
    }

    async fn update_site(
        &self,
        org_id: i64,
        site_id: i64,
        update: &SiteUpdate,
    ) -> StoreResult<Option<SiteRecord>> {
        let origins = update
            .origins
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let settings = update
            .settings
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Other(e.to_string()))?;
        let row = sqlx::query(
            "UPDATE sites SET name = COALESCE($1, name), \
             allowed_origins = COALESCE($2, allowed_origins), settings = COALESCE($3, settings), \
             retention_days = COALESCE($4, retention_days), updated_at = $5 \
             WHERE id = $6 AND org_id = $7 RETURNING *",
        )
        .bind(update.name.clone())
        .bind(origins)
        .bind(settings)
        .bind(update.retention_days)
        .bind(reel_actors::now_ms())
        .bind(site_id)
        .bind(org_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| site_from_row(&r)).transpose().map_err(db_err)
    }

    async fn sites_changed_since(&self, since: i64) -> StoreResult<Vec<SiteRecord>> {
        let rows = sqlx::query("SELECT * FROM sites WHERE updated_at >= $1 ORDER BY id")
            .bind(since)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(site_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        // A tombstoned session is not found: a tracker that names it starts
        // a new, unlinked session.
        let row = sqlx::query(&format!(
            "SELECT id, site_id, visitor_id, started_at, last_activity_at, ended_at, raw_bytes FROM sessions s WHERE id = $1{}",
            not_tombstoned(self.has_lifecycle().await?)
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| -> Result<SessionRecord, sqlx::Error> {
            Ok(SessionRecord {
                id: r.try_get("id")?,
                site_id: r.try_get("site_id")?,
                visitor_id: r.try_get("visitor_id")?,
                started_at: r.try_get("started_at")?,
                last_activity_at: r.try_get("last_activity_at")?,
                ended_at: r.try_get("ended_at")?,
                raw_bytes: r.try_get("raw_bytes")?,
            })
        })
        .transpose()
        .map_err(db_err)
    }

    async fn open_session(&self, s: &NewSession) -> StoreResult<()> {
        // A deleted session's row never comes back (a queued write applied
        // late, a drained spool).
        let guard = if self.has_lifecycle().await? {
            " WHERE NOT EXISTS (SELECT 1 FROM session_tombstones WHERE session_id = $1)"
        } else {
            ""
        };
        sqlx::query(&format!(
            "INSERT INTO sessions (id, site_id, visitor_id, started_at, last_activity_at, first_url, referrer, \
             user_agent, browser, os, device, screen_w, screen_h, lang, tz) \
             SELECT $1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14{guard} \
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&s.id)
        .bind(s.site_id)
        .bind(&s.visitor_id)
        .bind(s.started_at)
        .bind(&s.first_url)
        .bind(&s.referrer)
        .bind(&s.user_agent)
        .bind(&s.browser)
        .bind(&s.os)
        .bind(&s.device)
        .bind(s.screen_w)
        .bind(s.screen_h)
        .bind(&s.lang)
        .bind(&s.tz)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn tab_next_seq(&self, session_id: &str, tab_id: &str) -> StoreResult<u64> {
        let max: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(last_seq) FROM segments WHERE session_id = $1 AND tab_id = $2",
        )
        .bind(session_id)
        .bind(tab_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(max.map_or(0, |m| m as u64 + 1))
    }

    async fn commit_segment(&self, seg: &SegmentRecord, d: &SegmentDelta) -> StoreResult<()> {
        let with_ends = self.has_batch_ends().await?;
        let lifecycle = self.has_lifecycle().await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A deleted session takes no segment (the caller checks again after
        // the commit, for a delete that raced this transaction).
        if lifecycle {
            let gone: Option<String> =
                sqlx::query_scalar("SELECT session_id FROM session_tombstones WHERE session_id = $1")
                    .bind(&seg.session_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if gone.is_some() {
                return Ok(());
            }
        }
        let batch_ends = super::format_batch_ends(&seg.batch_ends);
        // On the previous schema (before `reel migrate`), without batch ends.
        let insert = sqlx::query(if with_ends {
            "INSERT INTO segments (session_id, tab_id, first_seq, last_seq, first_ts, last_ts, event_count, \
             raw_bytes, stored_bytes, blob_key, received_at, batch_ends) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (session_id, tab_id, first_seq) DO NOTHING"
        } else {
            "INSERT INTO segments (session_id, tab_id, first_seq, last_seq, first_ts, last_ts, event_count, \
             raw_bytes, stored_bytes, blob_key, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (session_id, tab_id, first_seq) DO NOTHING"
        });
        let inserted = Self::bind_segment(insert, seg, with_ends.then_some(&batch_ends))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        // Another writer's segment starts at the same seq (two nodes stored
        // the tab's batches after a failover). Both hold consecutive seqs
        // from there, so the longer one holds all of the shorter: it takes
        // the row (its object is another key, nothing is overwritten). The
        // same segment committed again is not longer: nothing changes.
        let replaced = if inserted == 0 {
            let update = sqlx::query(if with_ends {
                "UPDATE segments SET last_seq = $4, first_ts = $5, last_ts = $6, event_count = $7, \
                 raw_bytes = $8, stored_bytes = $9, blob_key = $10, received_at = $11, batch_ends = $12 \
                 WHERE session_id = $1 AND tab_id = $2 AND first_seq = $3 AND last_seq < $4"
            } else {
                "UPDATE segments SET last_seq = $4, first_ts = $5, last_ts = $6, event_count = $7, \
                 raw_bytes = $8, stored_bytes = $9, blob_key = $10, received_at = $11 \
                 WHERE session_id = $1 AND tab_id = $2 AND first_seq = $3 AND last_seq < $4"
            });
            Self::bind_segment(update, seg, with_ends.then_some(&batch_ends))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected()
        } else {
            0
        };
        // The counters of a failover's overlapping batches count twice (as
        // they do when the overlapping segments start at different seqs).
        if inserted == 1 || replaced == 1 {
            sqlx::query(
                "UPDATE sessions SET events = events + $1, raw_bytes = raw_bytes + $2, stored_bytes = stored_bytes + $3, \
                 page_loads = page_loads + $4, clicks = clicks + $5, keypresses = keypresses + $6, \
                 console_errors = console_errors + $7, active_ms = active_ms + $8, segments = segments + $11, \
                 last_activity_at = CASE WHEN $9 > last_activity_at THEN $9 ELSE last_activity_at END \
                 WHERE id = $10",
            )
            .bind(d.events as i64)
            .bind(d.raw_bytes as i64)
            .bind(d.stored_bytes as i64)
            .bind(d.page_loads as i64)
            .bind(d.clicks as i64)
            .bind(d.keypresses as i64)
            .bind(d.console_errors as i64)
            .bind(d.active_ms)
            .bind(d.last_activity_at)
            .bind(&seg.session_id)
            .bind(inserted as i64)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            for (url, seen_at) in &d.urls {
                sqlx::query(
                    "INSERT INTO session_pages (session_id, url, first_seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (session_id, url) DO UPDATE SET first_seen_at = CASE \
                     WHEN excluded.first_seen_at < session_pages.first_seen_at \
                     THEN excluded.first_seen_at ELSE session_pages.first_seen_at END",
                )
                .bind(&seg.session_id)
                .bind(url)
                .bind(seen_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn identify(
        &self,
        session_id: &str,
        user_id: &str,
        traits: &BTreeMap<String, String>,
        identified_at: i64,
    ) -> StoreResult<()> {
        // An identify older than the one the row holds (replayed late from
        // a spool) changes nothing.
        sqlx::query(
            "UPDATE sessions SET user_id = $1, user_traits = $2, identified_at = $3 \
             WHERE id = $4 AND (identified_at IS NULL OR identified_at <= $3)",
        )
        .bind(user_id)
        .bind(serde_json::to_string(traits).unwrap_or_else(|_| "{}".into()))
        .bind(identified_at)
        .bind(session_id)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn end_session(&self, session_id: &str, ended_at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(ended_at)
            .bind(session_id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn end_stale_sessions(
        &self,
        inactive_before: i64,
        started_before: i64,
        keep: &[String],
    ) -> StoreResult<u64> {
        let mut q: QueryBuilder<$db> = QueryBuilder::new(
            "UPDATE sessions SET ended_at = last_activity_at WHERE ended_at IS NULL AND (last_activity_at < ",
        );
        q.push_bind(inactive_before)
            .push(" OR started_at < ")
            .push_bind(started_before)
            .push(")");
        if !keep.is_empty() {
            q.push(" AND id NOT IN (");
            let mut sep = q.separated(", ");
            for id in keep {
                sep.push_bind(id);
            }
            q.push(")");
        }
        q.build()
            .execute(&self.pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(db_err)
    }

    async fn session_info(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<SessionInfo>> {
        let lifecycle = self.has_lifecycle().await?;
        let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
            "SELECT {} FROM sessions s JOIN sites ON sites.id = s.site_id WHERE s.id = ",
            session_columns(lifecycle)
        ));
        q.push_bind(session_id);
        q.push(not_tombstoned(lifecycle));
        push_scope(&mut q, scope);
        let row = q
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut info = session_from_row(&row).map_err(db_err)?;
        info.urls = sqlx::query_scalar(
            "SELECT url FROM session_pages WHERE session_id = $1 ORDER BY first_seen_at, url",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        info.tabs = sqlx::query_scalar(
            "SELECT tab_id FROM segments WHERE session_id = $1 GROUP BY tab_id ORDER BY MIN(received_at), tab_id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Some(info))
    }

    async fn segments(&self, session_id: &str) -> StoreResult<Vec<SegmentRecord>> {
        // Columns by name: a cached plan of `SELECT *` fails on Postgres
        // once a migration adds a column.
        let sql = if self.has_batch_ends().await? {
            "SELECT session_id, tab_id, first_seq, last_seq, first_ts, last_ts, event_count, raw_bytes, \
             stored_bytes, blob_key, received_at, batch_ends FROM segments WHERE session_id = $1 \
             ORDER BY tab_id, first_seq"
        } else {
            "SELECT session_id, tab_id, first_seq, last_seq, first_ts, last_ts, event_count, raw_bytes, \
             stored_bytes, blob_key, received_at FROM segments WHERE session_id = $1 \
             ORDER BY tab_id, first_seq"
        };
        let rows =
            sqlx::query(sql)
                .bind(session_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        rows.iter()
            .map(segment_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn list_sessions(
        &self,
        scope: &Scope,
        site_id: i64,
        f: &SessionFilter,
    ) -> StoreResult<SessionPage> {
        let limit = f.limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as i64;
        let lifecycle = self.has_lifecycle().await?;
        let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
            "SELECT {} FROM sessions s JOIN sites ON sites.id = s.site_id WHERE s.site_id = ",
            session_columns(lifecycle)
        ));
        q.push_bind(site_id);
        q.push(not_tombstoned(lifecycle));
        push_scope(&mut q, scope);
        if let Some(from) = f.from {
            q.push(" AND s.started_at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            q.push(" AND s.started_at < ").push_bind(to);
        }
        if let Some(min) = f.min_duration_ms {
            q.push(" AND (COALESCE(s.ended_at, s.last_activity_at) - s.started_at) >= ")
                .push_bind(min);
        }
        if let Some(user) = &f.user_id {
            q.push(" AND s.user_id = ").push_bind(user.clone());
        }
        if let Some(has) = f.has_errors {
            q.push(if has {
                " AND s.console_errors > 0"
            } else {
                " AND s.console_errors = 0"
            });
        }
        if let Some(url) = &f.url {
            q.push(concat!(" AND (s.first_url ", $like, " "))
                .push_bind(format!("%{}%", like_escape(url)))
                .push(concat!(" ESCAPE '\\' OR EXISTS (SELECT 1 FROM session_pages p WHERE p.session_id = s.id AND p.url ", $like, " "))
                .push_bind(format!("%{}%", like_escape(url)))
                .push(" ESCAPE '\\'))");
        }
        if let Some(c) = &f.cursor {
            let (ts, id) =
                decode_cursor(c).ok_or_else(|| StoreError::Other("bad cursor".into()))?;
            q.push(" AND (s.started_at < ")
                .push_bind(ts)
                .push(" OR (s.started_at = ")
                .push_bind(ts)
                .push(" AND s.id < ")
                .push_bind(id)
                .push("))");
        }
        q.push(" ORDER BY s.started_at DESC, s.id DESC LIMIT ")
            .push_bind(limit + 1);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut sessions: Vec<SessionInfo> = rows
            .iter()
            .map(session_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)?;
        let next_cursor = if sessions.len() as i64 > limit {
            sessions.truncate(limit as usize);
            sessions.last().map(|s| encode_cursor(s.started_at, &s.id))
        } else {
            None
        };
        Ok(SessionPage {
            sessions,
            next_cursor,
        })
    }

    async fn tombstone(&self, t: &Tombstone) -> StoreResult<()> {
        self.need_lifecycle().await?;
        sqlx::query(
            "INSERT INTO session_tombstones (session_id, site_id, deleted_at, reason, erasure_id) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind(&t.session_id)
        .bind(t.site_id)
        .bind(t.deleted_at)
        .bind(t.reason.as_str())
        .bind(t.erasure_id.clone())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn is_tombstoned(&self, session_id: &str) -> StoreResult<bool> {
        if !self.has_lifecycle().await? {
            return Ok(false);
        }
        let found: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM session_tombstones WHERE session_id = $1")
                .bind(session_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn tombstone_objects(&self, session_id: &str, objects: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE session_tombstones SET objects = $2 WHERE session_id = $1 AND objects < $2",
        )
        .bind(session_id)
        .bind(objects)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(db_err)
    }

    async fn purge_session(&self, session_id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for sql in [
            "DELETE FROM session_pages WHERE session_id = $1",
            "DELETE FROM segments WHERE session_id = $1",
            "DELETE FROM sessions WHERE id = $1",
        ] {
            sqlx::query(sql)
                .bind(session_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn set_pinned(&self, scope: &Scope, session_id: &str, pinned: bool) -> StoreResult<bool> {
        self.need_lifecycle().await?;
        let mut q: QueryBuilder<$db> = QueryBuilder::new("UPDATE sessions SET pinned = ");
        q.push_bind(i64::from(pinned))
            .push(" WHERE id = ")
            .push_bind(session_id)
            .push(" AND NOT EXISTS (SELECT 1 FROM session_tombstones t WHERE t.session_id = sessions.id)")
            .push(" AND site_id IN (SELECT sites.id FROM sites WHERE 1 = 1");
        push_scope(&mut q, scope);
        q.push(")");
        let n = q
            .build()
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn sessions_of(&self, site_id: i64, person: &Person, limit: i64) -> StoreResult<Vec<SessionRef>> {
        let (column, id) = match person {
            Person::User(u) => ("user_id", u),
            Person::Visitor(v) => ("visitor_id", v),
        };
        let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
            "SELECT id, site_id FROM sessions WHERE site_id = $1 AND {column} = $2 ORDER BY started_at, id LIMIT $3"
        ))
        .bind(site_id)
        .bind(id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, site_id)| SessionRef { id, site_id })
            .collect())
    }

    async fn expired_sessions(&self, now: i64, limit: i64) -> StoreResult<Vec<(SessionRef, i64)>> {
        self.need_lifecycle().await?;
        // Per site, so that each scan walks (site_id, started_at).
        let sites: Vec<(i64, i64)> = sqlx::query_as("SELECT id, retention_days FROM sites ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut out: Vec<(SessionRef, i64)> = Vec::new();
        let leftovers: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT s.id, s.site_id, t.deleted_at FROM sessions s JOIN session_tombstones t ON t.session_id = s.id \
             ORDER BY t.deleted_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        out.extend(leftovers.into_iter().map(|(id, site_id, at)| (SessionRef { id, site_id }, at)));
        for (site_id, days) in sites {
            let left = limit - out.len() as i64;
            if left <= 0 {
                break;
            }
            let cutoff = now - days * reel_protocol::site::DAY_MS;
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT id, started_at FROM sessions WHERE site_id = $1 AND started_at < $2 AND pinned = 0 \
                 ORDER BY started_at, id LIMIT $3",
            )
            .bind(site_id)
            .bind(cutoff)
            .bind(left)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
            out.extend(rows.into_iter().map(|(id, at)| (SessionRef { id, site_id }, at + days * reel_protocol::site::DAY_MS)));
        }
        Ok(out)
    }

    async fn create_erasure(&self, org_id: i64, site_id: i64, person: &Person) -> StoreResult<String> {
        self.need_lifecycle().await?;
        let id = format!("er_{}", reel_actors::sessions::new_id(20));
        let (user, visitor) = match person {
            Person::User(u) => (Some(u.clone()), None),
            Person::Visitor(v) => (None, Some(v.clone())),
        };
        sqlx::query(
            "INSERT INTO erasures (id, org_id, site_id, user_id, visitor_id, state, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(org_id)
        .bind(site_id)
        .bind(user)
        .bind(visitor)
        .bind(ErasureState::Pending.as_str())
        .bind(reel_actors::now_ms())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(id)
    }

    async fn erasure(&self, org_id: i64, id: &str) -> StoreResult<Option<ErasureReceipt>> {
        self.need_lifecycle().await?;
        let row: Option<(String, Option<i64>)> =
            sqlx::query_as("SELECT state, finished_at FROM erasures WHERE id = $1 AND org_id = $2")
                .bind(id)
                .bind(org_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        let Some((state, finished_at)) = row else {
            return Ok(None);
        };
        let (sessions, objects): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(objects), 0) AS BIGINT) FROM session_tombstones WHERE erasure_id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Some(ErasureReceipt {
            state: if state == ErasureState::Done.as_str() {
                ErasureState::Done
            } else {
                ErasureState::Pending
            },
            sessions,
            objects,
            finished_at,
        }))
    }

    async fn claim_erasure(&self, holder: &str, now: i64, until: i64) -> StoreResult<Option<ErasureJob>> {
        if !self.has_lifecycle().await? {
            return Ok(None);
        }
        // A job whose lease expired, or this holder's own (it stopped on an
        // error and is tried again). The inner SELECT may pick a job another
        // node claims at the same moment: the outer condition, checked again
        // on the row, lets one win.
        let row: Option<(String, i64, i64, Option<String>, Option<String>)> = sqlx::query_as(
            "UPDATE erasures SET lease_holder = $1, lease_expires_at = $2 \
             WHERE id = (SELECT id FROM erasures WHERE state = $3 \
             AND (lease_expires_at < $4 OR lease_holder = $1) ORDER BY created_at, id LIMIT 1) \
             AND state = $3 AND (lease_expires_at < $4 OR lease_holder = $1) \
             RETURNING id, org_id, site_id, user_id, visitor_id",
        )
        .bind(holder)
        .bind(until)
        .bind(ErasureState::Pending.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some((id, org_id, site_id, user, visitor)) = row else {
            return Ok(None);
        };
        let person = match (user, visitor) {
            (Some(u), _) => Person::User(u),
            (None, Some(v)) => Person::Visitor(v),
            (None, None) => return Err(StoreError::Other(format!("erasure {id} names no person"))),
        };
        let receipt = self
            .erasure(org_id, &id)
            .await?
            .ok_or_else(|| StoreError::Other(format!("erasure {id} vanished")))?;
        Ok(Some(ErasureJob {
            id,
            org_id,
            site_id,
            person,
            receipt,
        }))
    }

    async fn renew_erasure(&self, id: &str, holder: &str, until: i64) -> StoreResult<bool> {
        let n = sqlx::query("UPDATE erasures SET lease_expires_at = $3 WHERE id = $1 AND lease_holder = $2")
            .bind(id)
            .bind(holder)
            .bind(until)
            .execute(&self.pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        Ok(n > 0)
    }

    async fn finish_erasure(&self, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE erasures SET state = $2, finished_at = $3 WHERE id = $1 AND state <> $2")
            .bind(id)
            .bind(ErasureState::Done.as_str())
            .bind(now)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool> {
        self.need_lifecycle().await?;
        let n = sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?
        .rows_affected();
        Ok(n > 0)
    }

    async fn site_usage(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteUsage>> {
        if self.site_by_id(scope, site_id).await?.is_none() {
            return Ok(None);
        }
        let lifecycle = self.has_lifecycle().await?;
        let (sessions, raw_bytes, stored_bytes, oldest): (i64, i64, i64, Option<i64>) =
            sqlx::query_as(&format!(
                "SELECT COUNT(*), CAST(COALESCE(SUM(s.raw_bytes), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(s.stored_bytes), 0) AS BIGINT), MIN(s.started_at) \
                 FROM sessions s WHERE s.site_id = $1{}",
                not_tombstoned(lifecycle)
            ))
            .bind(site_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(Some(SiteUsage {
            sessions,
            raw_bytes,
            stored_bytes,
            oldest_started_at: oldest,
        }))
    }

    async fn maintenance(&self) -> StoreResult<Maintenance> {
        let row: Option<(i64, String, i64)> =
            sqlx::query_as("SELECT enabled, message, updated_at FROM maintenance WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(row
            .map(|(enabled, message, updated_at)| Maintenance {
                enabled: enabled != 0,
                message,
                updated_at,
            })
            .unwrap_or_default())
    }

    async fn set_maintenance(&self, enabled: bool, message: &str) -> StoreResult<Maintenance> {
        let now = reel_actors::now_ms();
        sqlx::query(
            "INSERT INTO maintenance (id, enabled, message, updated_at) VALUES (1, $1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, message = excluded.message, updated_at = excluded.updated_at",
        )
        .bind(i64::from(enabled))
        .bind(message)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(Maintenance {
            enabled,
            message: message.to_owned(),
            updated_at: now,
        })
    }
}
    };
}

pub(crate) use sql_index;
