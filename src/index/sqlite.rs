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

super::sql::sql_index!(SqliteIndex, Sqlite, SqliteRow, "LIKE");
super::accounts::accounts_sql!(SqliteIndex, sqlx::Sqlite, sqlx::sqlite::SqliteRow);
