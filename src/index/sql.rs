//! The SQL index shared by SQLite and Postgres: one implementation of the
//! `Index` trait, instantiated per database by [`sql_index!`]. SQL is kept
//! portable (numbered parameters, ON CONFLICT, CASE instead of MAX(), 64-bit
//! integers everywhere); only connecting and migrating differ per database.

/// Implements the shared index methods and `Index` for `$name`, a struct
/// with a `pool: sqlx::Pool<$db>` field. `$like` is the case-insensitive
/// LIKE operator of the database. The rest are the SQL that differs, each
/// around one bound parameter: `$ids` a JSON array of strings as a
/// subquery (`$ids.0`, the array, `$ids.1`), `$ids_table` the same as the
/// table `l(value)` joined first to `sessions` (SQLite's `CROSS JOIN`
/// keeps that order), `$trait` a session whose
/// `user_traits` holds key `$trait.0`'s value `$trait.1`. `search`: a
/// query that fails until the schema has what the next two read;
/// `trait_ids` (`Some` on SQLite) the sessions of a site (`$1`) with trait
/// key `$2`'s value `$3` (at most `$4`) by an index; `error_fts` (`Some` on SQLite) the
/// sessions of a site (`$1`) with an error text that holds the phrase `$2`
/// of a trigram index and is `LIKE` `$3` (at most `$4`).
macro_rules! sql_index {
    ($name:ident, $db:ty, $row:ty, $like:literal,
     ids: ($ids_open:literal, $ids_close:literal),
     ids_table: ($ids_table_open:literal, $ids_table_close:literal),
     traits: ($trait_open:literal, $trait_mid:literal, $trait_close:literal),
     search: (probe: $search_probe:literal, trait_ids: $trait_ids:expr, error_fts: $error_fts:expr)) => {
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
use reel_protocol::signals::{MAX_ERROR_TEXTS, MAX_TRACK_NAMES};
use sqlx::{QueryBuilder, Row};

use super::{like_escape, new_site_key};

fn db_err(e: sqlx::Error) -> StoreError {
    let message = crate::secrets::redact(&e.to_string());
    if super::is_unavailable(&e) {
        StoreError::Unavailable(message)
    } else if super::is_refused(&e) {
        StoreError::Refused(message)
    } else {
        StoreError::Other(message)
    }
}

const SESSION_COLUMNS: &str = "s.id, s.site_id, s.visitor_id, s.user_id, s.user_traits, s.started_at, \
    s.last_activity_at, s.ended_at, s.active_ms, s.page_loads, s.first_url, s.referrer, s.clicks, \
    s.keypresses, s.console_errors, s.events, s.raw_bytes, s.stored_bytes, s.segments, s.browser, s.os, \
    s.device, s.screen_w, s.screen_h, s.lang, s.tz";

/// The session columns, with `pinned` and the signal counters once the
/// schema has them.
fn session_columns(lifecycle: bool, signals: bool) -> String {
    let mut cols = SESSION_COLUMNS.to_owned();
    if lifecycle {
        cols.push_str(", s.pinned");
    }
    if signals {
        cols.push_str(", s.failed_requests, s.rage_clicks, s.dead_clicks");
    }
    cols
}

/// A counter column absent before its migration runs reads as 0.
fn counter_or_zero(r: &$row, col: &str) -> Result<i64, sqlx::Error> {
    match r.try_get::<i64, _>(col) {
        Ok(n) => Ok(n),
        Err(sqlx::Error::ColumnNotFound(_)) => Ok(0),
        Err(e) => Err(e),
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
        // Absent before migration 0008 (SQLite) / 0012 (Postgres) runs.
        failed_requests: counter_or_zero(r, "failed_requests")?,
        rage_clicks: counter_or_zero(r, "rage_clicks")?,
        dead_clicks: counter_or_zero(r, "dead_clicks")?,
        track_events: Vec::new(),
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
        // Presence, not the row, says whether a tracker is connected now:
        // the caller (src/http) sets it.
        live: false,
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

/// The list's filters on signals, the visitor and the user agent, in SQL
/// both databases share (see docs/search.md for the index each one uses).
/// `browser`, `os` and `device` match ASCII letters case-insensitively
/// (`lower()` of the column, which the indexes of migration 0009/0013..
/// hold); `track` is exact; `error_contains` is a case-insensitive
/// substring of a kept error text.
fn push_signal_filters(q: &mut QueryBuilder<'_, $db>, site_id: i64, f: &SessionFilter) {
    for (has, column) in [
        (f.has_failed_requests, "s.failed_requests"),
        (f.has_rage_clicks, "s.rage_clicks"),
        (f.has_dead_clicks, "s.dead_clicks"),
    ] {
        if let Some(has) = has {
            q.push(" AND ").push(column).push(if has { " > 0" } else { " = 0" });
        }
    }
    if let Some(visitor) = &f.visitor_id {
        q.push(" AND s.visitor_id = ").push_bind(visitor.clone());
    }
    for (value, column) in [
        (&f.browser, "s.browser"),
        (&f.os, "s.os"),
        (&f.device, "s.device"),
    ] {
        if let Some(v) = value {
            q.push(" AND lower(")
                .push(column)
                .push(") = ")
                .push_bind(v.to_ascii_lowercase());
        }
    }
    // Per session, by the tables' primary keys (session_id first): cheap
    // for each row walked; a rare name or text drives the query instead
    // (see `few_sessions`).
    if let Some(name) = &f.track {
        q.push(" AND EXISTS (SELECT 1 FROM session_track_events te WHERE te.session_id = s.id AND te.site_id = ")
            .push_bind(site_id)
            .push(" AND te.name = ")
            .push_bind(name.clone())
            .push(")");
    }
    if let Some(text) = &f.error_contains {
        q.push(" AND EXISTS (SELECT 1 FROM session_error_texts et WHERE et.session_id = s.id AND et.site_id = ")
            .push_bind(site_id)
            .push(concat!(" AND et.text ", $like, " "))
            .push_bind(format!("%{}%", like_escape(text)))
            .push(" ESCAPE '\\')");
    }
}

/// At most this many sessions that the selective filters leave drive the
/// list's query (read by their ids, then sorted); more, and the list walks
/// the site's sessions newest first instead, where matches are dense
/// enough to fill a page soon.
const DRIVE_MAX: usize = 5_000;

/// Up to this many sessions of a selective filter drive the list's query
/// when another filter applies too (see `few_sessions`).
const GATHER_MAX: usize = 2 * DRIVE_MAX;

/// How many of the list's filters `f` sets (the cursor and limit aside).
fn filter_count(f: &SessionFilter) -> usize {
    [
        f.from.is_some(),
        f.to.is_some(),
        f.min_duration_ms.is_some(),
        f.url.is_some(),
        f.user_id.is_some(),
        f.has_errors.is_some(),
        f.has_failed_requests.is_some(),
        f.has_rage_clicks.is_some(),
        f.has_dead_clicks.is_some(),
        f.track.is_some(),
        f.error_contains.is_some(),
        f.visitor_id.is_some(),
        f.user_trait.is_some(),
        f.browser.is_some(),
        f.os.is_some(),
        f.device.is_some(),
        f.live.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count()
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

    /// Adds a segment's signals to its session (PROTOCOL.md §7): the
    /// counters, and the track names and error texts not there yet, up to
    /// [`MAX_TRACK_NAMES`] and [`MAX_ERROR_TEXTS`] per session. Runs once
    /// per segment row, like the other counters.
    async fn commit_signals(
        tx: &mut sqlx::Transaction<'_, $db>,
        seg: &SegmentRecord,
        d: &SegmentDelta,
    ) -> StoreResult<()> {
        let s = &d.signals;
        if s.failed_requests + s.rage_clicks + s.dead_clicks > 0 {
            sqlx::query(
                "UPDATE sessions SET failed_requests = failed_requests + $1, \
                 rage_clicks = rage_clicks + $2, dead_clicks = dead_clicks + $3 WHERE id = $4",
            )
            .bind(s.failed_requests as i64)
            .bind(s.rage_clicks as i64)
            .bind(s.dead_clicks as i64)
            .bind(&seg.session_id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        for name in &s.track_events {
            sqlx::query(
                "INSERT INTO session_track_events (session_id, site_id, name, first_seen_at) \
                 SELECT id, site_id, $2, $3 FROM sessions WHERE id = $1 \
                 AND (SELECT COUNT(*) FROM session_track_events WHERE session_id = $1) < $4 \
                 ON CONFLICT (session_id, name) DO NOTHING",
            )
            .bind(&seg.session_id)
            .bind(name)
            .bind(seg.first_ts)
            .bind(MAX_TRACK_NAMES as i64)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        for text in &s.error_texts {
            sqlx::query(
                "INSERT INTO session_error_texts (session_id, site_id, text) \
                 SELECT id, site_id, $2 FROM sessions WHERE id = $1 \
                 AND (SELECT COUNT(*) FROM session_error_texts WHERE session_id = $1) < $3 \
                 ON CONFLICT (session_id, text) DO NOTHING",
            )
            .bind(&seg.session_id)
            .bind(text)
            .bind(MAX_ERROR_TEXTS as i64)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }

    /// The sessions that a selective filter of `f` leaves, when few enough
    /// to drive the list's query: the live ids of `live=true`, a visitor's
    /// or a user's sessions, the sessions that sent a `track` name, hold a
    /// `trait` value or an error text with `error_contains`, each read by
    /// its index, the fewest kept. They drive when at most [`DRIVE_MAX`],
    /// or at most [`GATHER_MAX`] when another filter applies too (the
    /// walk would have to find rows that pass them all, rarer still).
    /// `None`: no filter is that selective, and the list walks the site's
    /// sessions in order. With the ids, `f` without the filter they
    /// pass already (the query need not check it again per row).
    async fn few_sessions(
        &self,
        site_id: i64,
        f: &SessionFilter,
        live: &[String],
    ) -> StoreResult<Option<(Vec<String>, SessionFilter)>> {
        let max = if filter_count(f) > 1 { GATHER_MAX } else { DRIVE_MAX };
        let mut best: Option<Vec<String>> = None;
        let mut rest = f.clone();
        // At most MAX_LIVE_FILTER_IDS: always few enough.
        if f.live == Some(true) {
            best = Some(live.to_vec());
            rest = SessionFilter { live: None, ..f.clone() };
        }
        let search = self.has_search().await?;
        for read in 0..5 {
            // No more than the fewest so far, and one more to tell "more".
            let bound = best.as_ref().map_or(max, |b| b.len().min(max)) as i64 + 1;
            let q = match read {
                0 | 1 => {
                    let (value, sql) = if read == 0 {
                        (&f.visitor_id, "SELECT id FROM sessions WHERE site_id = $1 AND visitor_id = $2 LIMIT $3")
                    } else {
                        (&f.user_id, "SELECT id FROM sessions WHERE site_id = $1 AND user_id = $2 LIMIT $3")
                    };
                    let Some(value) = value else { continue };
                    sqlx::query_scalar(sql).bind(site_id).bind(value.clone()).bind(bound)
                }
                2 => {
                    let Some(name) = &f.track else { continue };
                    sqlx::query_scalar(
                        "SELECT session_id FROM session_track_events WHERE site_id = $1 AND name = $2 LIMIT $3",
                    )
                    .bind(site_id)
                    .bind(name.clone())
                    .bind(bound)
                }
                3 => {
                    let trait_ids: Option<&str> = $trait_ids;
                    let (Some((key, value)), Some(sql), true) = (f.trait_pair(), trait_ids, search) else {
                        continue;
                    };
                    sqlx::query_scalar(sql)
                        .bind(site_id)
                        .bind(key.to_owned())
                        .bind(value.to_owned())
                        .bind(bound)
                }
                _ => {
                    let Some(text) = &f.error_contains else { continue };
                    let pattern = format!("%{}%", like_escape(text));
                    let fts: Option<&str> = $error_fts;
                    match fts {
                        // A trigram index finds substrings of 3 characters or more.
                        Some(sql) if search && text.chars().count() >= 3 => sqlx::query_scalar(sql)
                            .bind(site_id)
                            .bind(format!("\"{}\"", text.replace('"', "\"\"")))
                            .bind(pattern)
                            .bind(bound),
                        _ => sqlx::query_scalar(concat!(
                            "SELECT DISTINCT session_id FROM session_error_texts WHERE site_id = $1 AND text ",
                            $like,
                            " $2 ESCAPE '\\' LIMIT $3"
                        ))
                        .bind(site_id)
                        .bind(pattern)
                        .bind(bound),
                    }
                }
            };
            // Planned with its values, not as a cached generic plan (Postgres
            // would then scan the table, not the index a rare value picks).
            let ids: Vec<String> = q
                .persistent(false)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
            if (ids.len() as i64) < bound {
                best = Some(ids);
                rest = f.clone();
                match read {
                    0 => rest.visitor_id = None,
                    1 => rest.user_id = None,
                    2 => rest.track = None,
                    3 => rest.user_trait = None,
                    _ => rest.error_contains = None,
                }
            }
        }
        Ok(best.map(|ids| (ids, rest)))
    }

    /// Whether a schema object exists: `sql` selects it and fails until
    /// its migration has run; once seen it is not asked again (see
    /// [`super::ColumnProbe`]). An unreachable database is an error, not
    /// a "no".
    async fn probe(&self, seen: &super::ColumnProbe, sql: &'static str) -> StoreResult<bool> {
        if seen.seen() {
            return Ok(true);
        }
        match sqlx::query(sql).execute(&self.pool).await {
            Ok(_) => {
                seen.set_seen();
                Ok(true)
            }
            Err(e) if super::is_unavailable(&e) => Err(db_err(e)),
            Err(_) => Ok(false),
        }
    }

    /// Do the search tables of SQLite's migration 0011 exist yet (Postgres:
    /// the signal tables)? (See [`super::ColumnProbe`].)
    async fn has_search(&self) -> StoreResult<bool> {
        self.probe(&self.search, $search_probe).await
    }

    /// Does `segments.batch_ends` exist yet? (See [`super::ColumnProbe`].)
    async fn has_batch_ends(&self) -> StoreResult<bool> {
        self.probe(&self.batch_ends, "SELECT batch_ends FROM segments WHERE 1 = 0").await
    }

    /// Do the lifecycle tables exist yet? (See [`super::ColumnProbe`].)
    async fn has_lifecycle(&self) -> StoreResult<bool> {
        self.probe(&self.lifecycle, "SELECT session_id FROM session_tombstones WHERE 1 = 0").await
    }

    /// Do the signal columns and tables exist yet? (See [`super::ColumnProbe`].)
    async fn has_signals(&self) -> StoreResult<bool> {
        self.probe(&self.signals, "SELECT dead_clicks FROM sessions WHERE 1 = 0").await
    }

    /// Sets the `track_events` of a page of the site's sessions, in
    /// first-seen order, with one query for the whole page.
    async fn fill_track_events(&self, site_id: i64, sessions: &mut [SessionInfo]) -> StoreResult<()> {
        let ids: Vec<&str> = sessions.iter().map(|s| s.id.as_str()).collect();
        let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Other(e.to_string()))?;
        let mut q: QueryBuilder<$db> =
            QueryBuilder::new("SELECT session_id, name FROM session_track_events WHERE site_id = ");
        q.push_bind(site_id)
            .push(" AND session_id IN ")
            .push($ids_open)
            .push_bind(ids)
            .push($ids_close)
            .push(" ORDER BY session_id, first_seen_at, name");
        let rows = q
            .build()
            .persistent(false)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut names: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for r in &rows {
            let id: String = r.try_get("session_id").map_err(db_err)?;
            let name: String = r.try_get("name").map_err(db_err)?;
            names.entry(id).or_default().push(name);
        }
        for s in sessions {
            if let Some(n) = names.remove(&s.id) {
                s.track_events = n;
            }
        }
        Ok(())
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
        let signals = self.has_signals().await?;
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
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
            // On the previous schema (before `reel migrate`), without signals.
            if signals {
                Self::commit_signals(&mut tx, seg, d).await?;
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
        let signals = self.has_signals().await?;
        let mut q: QueryBuilder<$db> = QueryBuilder::new(format!(
            "SELECT {} FROM sessions s JOIN sites ON sites.id = s.site_id WHERE s.id = ",
            session_columns(lifecycle, signals)
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
        if signals {
            info.track_events = sqlx::query_scalar(
                "SELECT name FROM session_track_events WHERE session_id = $1 ORDER BY first_seen_at, name",
            )
            .bind(session_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        }
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
        live: &[String],
    ) -> StoreResult<SessionPage> {
        let limit = f.limit.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as i64;
        let lifecycle = self.has_lifecycle().await?;
        let signals = self.has_signals().await?;
        let mut q: QueryBuilder<$db> =
            QueryBuilder::new(format!("SELECT {} FROM ", session_columns(lifecycle, signals)));
        // A filter that few sessions pass drives the query from its
        // sessions; otherwise the site's sessions are walked newest first
        // until a page is full.
        let driven = self.few_sessions(site_id, f, live).await?;
        let f = match &driven {
            Some((_, rest)) => rest,
            None => f,
        };
        match driven.as_ref().map(|(ids, _)| ids) {
            Some(ids) => {
                let ids = serde_json::to_string(&ids).map_err(|e| StoreError::Other(e.to_string()))?;
                q.push($ids_table_open)
                    .push_bind(ids)
                    .push($ids_table_close)
                    .push(" sessions s ON s.id = l.value");
            }
            None => {
                q.push("sessions s");
            }
        }
        q.push(" JOIN sites ON sites.id = s.site_id WHERE s.site_id = ");
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
        push_signal_filters(&mut q, site_id, f);
        if let Some(is_live) = f.live {
            let ids = serde_json::to_string(live).map_err(|e| StoreError::Other(e.to_string()))?;
            q.push(if is_live { " AND s.id IN " } else { " AND s.id NOT IN " })
                .push($ids_open)
                .push_bind(ids)
                .push($ids_close);
        }
        if let Some((key, value)) = f.trait_pair() {
            q.push($trait_open)
                .push_bind(key.to_owned())
                .push($trait_mid)
                .push_bind(value.to_owned())
                .push($trait_close);
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
            // A row value: both databases read it as a range of the
            // list's index (the OR form made SQLite walk from the top).
            q.push(" AND (s.started_at, s.id) < (")
                .push_bind(ts)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        q.push(" ORDER BY s.started_at DESC, s.id DESC LIMIT ")
            .push_bind(limit + 1);
        // Planned with its values (see `few_sessions`).
        let rows = q
            .build()
            .persistent(false)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
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
        if signals && !sessions.is_empty() {
            self.fill_track_events(site_id, &mut sessions).await?;
        }
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
        // Notes and signals only once the schema has them (a node older
        // than `reel migrate`).
        let notes = self.has_notes().await?;
        let signals = self.has_signals().await?;
        let compaction = self.has_compaction().await?;
        let mut tx = self.pool
            .begin_with(<$db as crate::index::WriteTx>::BEGIN)
            .await.map_err(db_err)?;
        for sql in [
            compaction.then_some("DELETE FROM segment_frames WHERE session_id = $1"),
            compaction.then_some("DELETE FROM compaction_done WHERE session_id = $1"),
            notes.then_some("DELETE FROM session_notes WHERE session_id = $1"),
            signals.then_some("DELETE FROM session_track_events WHERE session_id = $1"),
            signals.then_some("DELETE FROM session_error_texts WHERE session_id = $1"),
            Some("DELETE FROM session_pages WHERE session_id = $1"),
            Some("DELETE FROM segments WHERE session_id = $1"),
            Some("DELETE FROM sessions WHERE id = $1"),
        ]
        .into_iter()
        .flatten()
        {
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

    async fn add_note(
        &self,
        scope: &Scope,
        session_id: &str,
        note: &reel_protocol::notes::NewNote,
        author: &str,
        created_at: i64,
        max: usize,
    ) -> StoreResult<reel_actors::traits::NoteAdded> {
        self.add_note_sql(scope, session_id, note, author, created_at, max)
            .await
    }

    async fn notes(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<Vec<reel_protocol::notes::Note>>> {
        self.notes_sql(scope, session_id).await
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
