//! Index adapters behind the `Index` trait (and the server's
//! [`AccountStore`]): SQLite (embedded defaults) and Postgres, sharing one
//! SQL implementation.

pub mod accounts;
mod compaction;
mod flags;
mod notes;
pub mod postgres;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use reel_protocol::accounts::Role;
use sha2::{Digest, Sha256};

use crate::accounts::AccountStore;

/// The stored form of a secret that is random enough not to need a slow
/// hash (API tokens, sign-in ids, invitation codes): SHA-256, hex.
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
/// How a write transaction begins. SQLite: `BEGIN IMMEDIATE`, which takes
/// the write lock at once (waiting up to the busy timeout). A deferred
/// transaction that reads first (a tombstone check, the rows a swap
/// expects) fails at its first write with `database is locked` as soon as
/// another connection has written since its read began, and the busy
/// timeout does not wait that out: under load (a thousand tabs committing
/// segments together) every such commit would fail and back off.
/// Postgres: a plain `BEGIN` (row locks do the rest).
pub trait WriteTx: sqlx::Database {
    const BEGIN: &'static str;
}

impl WriteTx for sqlx::Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
}

impl WriteTx for sqlx::Postgres {
    const BEGIN: &'static str = "BEGIN";
}

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
        let index = if is_postgres(url) {
            postgres::PgIndex::connect(url)
                .await
                .map(SqlIndex::Postgres)
        } else {
            sqlite::SqliteIndex::connect(url)
                .await
                .map(SqlIndex::Sqlite)
        };
        // The URL may hold a password, and a driver's error may echo it.
        index.map_err(|e| anyhow::anyhow!(crate::secrets::redact(&format!("{e:#}"))))
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

    /// The accounts of this index.
    pub fn accounts(&self) -> &dyn AccountStore {
        both!(self, i => i)
    }

    /// The feature flag rules of this index.
    pub fn flags(&self) -> &dyn reel_actors::flags::FlagStore {
        both!(self, i => i)
    }

    /// Creates an API token in `org` (created on first use) with `role`
    /// (`owner`, `admin`, `member` or `viewer`) that expires after
    /// `expires_in_days` (`None`: never); returns its id and the token,
    /// which is stored only hashed.
    pub async fn create_token(
        &self,
        org: &str,
        name: &str,
        role: &str,
        expires_in_days: Option<u32>,
    ) -> anyhow::Result<(i64, String)> {
        let role = Role::parse(role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}"))?;
        let accounts = self.accounts();
        let org_id = accounts.org_by_name(org).await?;
        let token = new_token();
        let now = reel_actors::now_ms();
        let expires_at = expires_in_days.map(|d| now + i64::from(d) * crate::accounts::DAY_MS);
        let id = accounts
            .create_token(org_id, name, role, &token_hash(&token), now, expires_at)
            .await?;
        Ok((id, token))
    }

    /// Closes the pool.
    pub async fn close(&self) {
        both!(self, i => i.pool().close().await)
    }

    /// The index behind the `Index` trait.
    pub fn into_dyn(self) -> Arc<dyn reel_actors::traits::Index> {
        self.into_parts().0
    }

    /// The index behind the `Index` trait, behind [`AccountStore`] and
    /// behind the compactor's trait: one pool.
    pub fn into_parts(
        self,
    ) -> (
        Arc<dyn reel_actors::traits::Index>,
        Arc<dyn AccountStore>,
        Arc<dyn reel_actors::traits::CompactionIndex>,
    ) {
        let (index, accounts, compaction, _) = self.into_all_parts();
        (index, accounts, compaction)
    }

    /// As [`SqlIndex::into_parts`], and behind the flag rules' trait.
    #[allow(clippy::type_complexity)]
    pub fn into_all_parts(
        self,
    ) -> (
        Arc<dyn reel_actors::traits::Index>,
        Arc<dyn AccountStore>,
        Arc<dyn reel_actors::traits::CompactionIndex>,
        Arc<dyn reel_actors::flags::FlagStore>,
    ) {
        match self {
            SqlIndex::Sqlite(i) => {
                let i = Arc::new(i);
                (i.clone(), i.clone(), i.clone(), i)
            }
            SqlIndex::Postgres(i) => {
                let i = Arc::new(i);
                (i.clone(), i.clone(), i.clone(), i)
            }
        }
    }
}

/// Does `url` name a Postgres database?
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Does `e` say the database refuses the statement for its content (a
/// constraint, a value it cannot store), so that sending it again fails
/// the same way? Such writes go to the dead letters after a few attempts.
pub fn is_refused(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Encode(_) => true,
        sqlx::Error::Database(d) => {
            !matches!(d.kind(), sqlx::error::ErrorKind::Other)
                || d.code().is_some_and(|c| refused_code(&c))
        }
        _ => false,
    }
}

/// Is `code` (a Postgres SQLSTATE, or a SQLite result code) one of a
/// statement refused for its content? Postgres: data exceptions (class 22:
/// 22021 bad encoding, 22001 too long, 22003 out of range, ...) and
/// integrity constraint violations (class 23: 23505 unique, 23514 check,
/// ...). SQLite: SQLITE_TOOBIG (18), SQLITE_CONSTRAINT (19, with its
/// extended codes) and SQLITE_MISMATCH (20).
pub fn refused_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("22") || code.starts_with("23");
    }
    // SQLite: the primary code is the low byte of an extended one.
    code.parse::<u32>()
        .is_ok_and(|n| matches!(n & 0xff, 18..=20))
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
        sqlx::Error::Database(d) => d.code().is_some_and(|c| unavailable_code(&c)),
        _ => false,
    }
}

/// Is `code` a Postgres SQLSTATE of a database that cannot take statements
/// now: connection exceptions (08), insufficient resources (53), operator
/// intervention (57P: shutdown, cannot connect now)?
pub fn unavailable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("53") || code.starts_with("57P")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_refused_for_their_content_are_told_from_an_unreachable_database() {
        // Postgres: bad encoding, check, unique, not null, too long.
        for code in ["22021", "23514", "23505", "23502", "22001", "22P02"] {
            assert!(refused_code(code), "{code}");
        }
        // Postgres: connection failures, shutdown, out of resources,
        // serialization failures, an internal error: not the content's fault.
        for code in [
            "08006", "08001", "57P01", "53300", "40001", "XX000", "42501",
        ] {
            assert!(!refused_code(code), "{code}");
        }
        // SQLite: CONSTRAINT (and CHECK, UNIQUE), TOOBIG, MISMATCH; not BUSY.
        for code in ["19", "275", "2067", "18", "20"] {
            assert!(refused_code(code), "{code}");
        }
        for code in ["5", "10", "13", "517"] {
            assert!(!refused_code(code), "{code}");
        }
        // Unreachable, shut down, out of connections: transient.
        for code in ["08006", "08001", "08P01", "57P01", "57P03", "53300"] {
            assert!(unavailable_code(code), "{code}");
        }
        for code in ["22021", "23514", "40001", "42501"] {
            assert!(!unavailable_code(code), "{code}");
        }
        assert!(is_refused(&sqlx::Error::Encode("bad".into())));
        assert!(!is_refused(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
    }
}
