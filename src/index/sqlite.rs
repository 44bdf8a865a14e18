//! The SQLite index (embedded defaults): connecting and migrating; the
//! queries are shared with Postgres in [`super::sql`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqlitePool};

/// How long a write waits for SQLite's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool.
pub const POOL_SIZE: u32 = 8;

pub struct SqliteIndex {
    pool: SqlitePool,
    /// Does `segments.batch_ends` exist? (See [`super::sql`].)
    batch_ends: super::ColumnProbe,
    /// Do the lifecycle tables exist (tombstones, pins)? (See [`super::sql`].)
    lifecycle: super::ColumnProbe,
    /// Does `session_notes` exist? (See [`super::sql`].)
    notes: super::ColumnProbe,
    /// Do the signal columns and tables exist? (See [`super::sql`].)
    signals: super::ColumnProbe,
    /// Do the search tables exist? (See [`super::sql`].)
    search: super::ColumnProbe,
    /// Do the compaction tables exist? (See [`super::compaction`].)
    compaction: super::ColumnProbe,
    /// Does `flag_rules` exist? (See [`super::flags`].)
    flags: super::ColumnProbe,
}

impl SqliteIndex {
    /// Opens (creating when missing) the database at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<SqliteIndex> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or(path);
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)?;
                }
            }
        }
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await?;
        Ok(SqliteIndex {
            pool,
            batch_ends: super::ColumnProbe::default(),
            lifecycle: super::ColumnProbe::default(),
            notes: super::ColumnProbe::default(),
            signals: super::ColumnProbe::default(),
            search: super::ColumnProbe::default(),
            compaction: super::ColumnProbe::default(),
            flags: super::ColumnProbe::default(),
        })
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        // A node older than the schema starts: migrations are additive.
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }
}

// `error_fts`: the trigram index first (`CROSS JOIN` keeps that order),
// then each hit's row by rowid.
super::sql::sql_index!(SqliteIndex, Sqlite, SqliteRow, "LIKE",
ids: ("(SELECT value FROM json_each(", "))"),
ids_table: ("json_each(", ") l CROSS JOIN"),
traits: (
    " AND EXISTS (SELECT 1 FROM json_each(s.user_traits) j WHERE j.key = ",
    " AND j.value = ",
    ")"
),
search: (
    probe: "SELECT 1 FROM session_traits, session_error_fts WHERE 1 = 0",
    trait_ids: Some("SELECT session_id FROM session_traits WHERE site_id = $1 AND key = $2 AND value = $3 LIMIT $4"),
    error_fts: Some(
        "SELECT DISTINCT t.session_id FROM session_error_fts f CROSS JOIN session_error_texts t ON t.rowid = f.rowid \
         WHERE session_error_fts MATCH $2 AND t.site_id = $1 AND t.text LIKE $3 ESCAPE '\\' LIMIT $4"
    )
));
super::accounts::accounts_sql!(SqliteIndex, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
super::notes::notes_sql!(SqliteIndex, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
super::compaction::compaction_sql!(SqliteIndex, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
super::flags::flags_sql!(SqliteIndex, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
