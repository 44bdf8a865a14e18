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
            notes: super::ColumnProbe::default(),
            signals: super::ColumnProbe::default(),
            search: super::ColumnProbe::default(),
            compaction: super::ColumnProbe::default(),
            flags: super::ColumnProbe::default(),
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

// `@>` on `user_traits` as jsonb: the GIN index of migration 0023 holds it,
// and the planner combines it with the list's other conditions (reading a
// common value's sessions first would cost more than it saves). Error
// texts: `ILIKE` by the trigram index of migration 0022.
super::sql::sql_index!(PgIndex, Postgres, PgRow, "ILIKE",
ids: ("(SELECT jsonb_array_elements_text(CAST(", " AS jsonb)))"),
ids_table: ("jsonb_array_elements_text(CAST(", " AS jsonb)) AS l(value) JOIN"),
traits: (
    " AND CAST(s.user_traits AS jsonb) @> jsonb_build_object(CAST(",
    " AS text), CAST(",
    " AS text))"
),
search: (
    probe: "SELECT 1 FROM session_error_texts WHERE 1 = 0",
    trait_ids: None,
    error_fts: None
));
super::accounts::accounts_sql!(PgIndex, sqlx::Postgres, sqlx::postgres::PgRow);
super::notes::notes_sql!(PgIndex, sqlx::Postgres, sqlx::postgres::PgRow);
super::compaction::compaction_sql!(PgIndex, sqlx::Postgres, sqlx::postgres::PgRow);
super::flags::flags_sql!(PgIndex, sqlx::Postgres, sqlx::postgres::PgRow);
