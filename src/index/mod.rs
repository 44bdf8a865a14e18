//! Index adapters behind the `Index` trait: SQLite (embedded defaults) and
//! Postgres, sharing one SQL implementation.

pub mod postgres;
mod sql;
pub mod sqlite;

use sha2::{Digest, Sha256};

/// The stored form of an API token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new API token: a recognisable prefix and 192 random bits.
pub fn new_token() -> String {
    format!("reel_{}", reel_actors::sessions::new_id(32))
}

/// A new public site key.
pub fn new_site_key() -> String {
    format!("site_{}", reel_actors::sessions::new_id(20))
}

/// Whether a column added by a migration exists yet. A node may run on
/// the previous schema until `reel migrate` runs (migrations are online, see
/// `docs/operations.md`); it writes and reads without the column
/// meanwhile, probing again (a query that plans but reads no row) until
/// the column appears. Once seen, it is never probed again.
#[derive(Debug, Default)]
pub struct ColumnProbe {
    seen: std::sync::atomic::AtomicBool,
}

impl ColumnProbe {
    pub fn seen(&self) -> bool {
        self.seen.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_seen(&self) {
        self.seen.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The `segments.batch_ends` column: decimal byte offsets, comma-separated
/// (compact, and readable from SQL and any language); `NULL` when unknown.
pub fn format_batch_ends(ends: &[u64]) -> Option<String> {
    if ends.is_empty() {
        return None;
    }
    Some(
        ends.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Reads `segments.batch_ends`; anything that does not parse is unknown
/// (the segment is then read as one without batch ends).
pub fn parse_batch_ends(text: &str) -> Vec<u64> {
    text.split(',')
        .map(|n| n.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_default()
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The default organisation of `reel site create` and `reel token create`.
pub const DEFAULT_ORG: &str = "default";

/// The configured index: SQLite or Postgres, chosen by the URL's scheme.
pub enum SqlIndex {
    Sqlite(sqlite::SqliteIndex),
    Postgres(postgres::PgIndex),
}

macro_rules! both {
    ($self:ident, $i:ident => $e:expr) => {
        match $self {
            SqlIndex::Sqlite($i) => $e,
            SqlIndex::Postgres($i) => $e,
        }
    };
}

impl SqlIndex {
    /// Connects to `url`: `postgres://` or `postgresql://` selects Postgres,
    /// `sqlite:` SQLite.
    pub async fn connect(url: &str) -> anyhow::Result<SqlIndex> {
        if is_postgres(url) {
            Ok(SqlIndex::Postgres(postgres::PgIndex::connect(url).await?))
        } else {
            Ok(SqlIndex::Sqlite(sqlite::SqliteIndex::connect(url).await?))
        }
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        both!(self, i => i.migrate().await)
    }

    /// Creates a site in `org` (created on first use); returns its id and key.
    pub async fn create_site(
        &self,
        org: &str,
        name: &str,
        origins: &[String],
    ) -> anyhow::Result<(i64, String)> {
        both!(self, i => i.create_site(org, name, origins).await)
    }

    /// The site named `name` in `org`, created when missing.
    pub async fn ensure_site(&self, org: &str, name: &str) -> anyhow::Result<(i64, String)> {
        both!(self, i => i.ensure_site(org, name).await)
    }

    /// Creates an API token in `org`; returns the token.
    pub async fn create_token(&self, org: &str, name: &str, role: &str) -> anyhow::Result<String> {
        both!(self, i => i.create_token(org, name, role).await)
    }

    /// Closes the pool.
    pub async fn close(&self) {
        both!(self, i => i.pool().close().await)
    }

    /// The index behind the `Index` trait.
    pub fn into_dyn(self) -> std::sync::Arc<dyn reel_actors::traits::Index> {
        match self {
            SqlIndex::Sqlite(i) => std::sync::Arc::new(i),
            SqlIndex::Postgres(i) => std::sync::Arc::new(i),
        }
    }
}

/// Does `url` name a Postgres database?
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Does `e` say the database cannot be reached (as opposed to refusing a
/// statement)? Such writes wait in the outbox.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        // Postgres: connection exceptions (08), insufficient resources
        // (53), operator intervention (57: shutdown, cannot connect now).
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")),
        _ => false,
    }
}
