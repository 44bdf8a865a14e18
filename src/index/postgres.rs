//! The Postgres index (`REEL_DATABASE_URL=postgres://...`): connecting and
//! migrating; the queries are shared with SQLite in [`super::sql`].

use std::time::Duration;

use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres};

/// Connections in each node's pool.
pub const POOL_SIZE: u32 = 16;
/// How long a query waits for a connection before the index counts as
/// unavailable (and the write goes to the outbox).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PgIndex {
    pool: PgPool,
    /// Does `segments.batch_ends` exist? (See [`super::sql`].)
    batch_ends: super::ColumnProbe,
    /// Do the lifecycle tables exist (tombstones, pins)? (See [`super::sql`].)
    lifecycle: super::ColumnProbe,
}

impl PgIndex {
    /// Connects to the database at `url`.
    pub async fn connect(url: &str) -> anyhow::Result<PgIndex> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(PgIndex {
            pool,
            batch_ends: super::ColumnProbe::default(),
            lifecycle: super::ColumnProbe::default(),
        })
    }

    /// Applies every pending migration. Safe while older nodes serve: every
    /// migration is additive (see `docs/operations.md`), and sqlx takes an
    /// advisory lock so that two nodes never migrate at once.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        // A node older than the schema starts: migrations are additive.
        migrator.set_ignore_missing(true);
        migrator.run(&self.pool).await?;
        Ok(())
    }
}

super::sql::sql_index!(PgIndex, Postgres, PgRow, "ILIKE");
super::accounts::accounts_sql!(PgIndex, sqlx::Postgres, sqlx::postgres::PgRow);
