//! The SQL of notes on a session (PROTOCOL.md §7), shared by SQLite and
//! Postgres: [`notes_sql!`] gives an index struct the queries its `Index`
//! implementation ([`super::sql::sql_index!`]) calls. It is expanded after
//! `sql_index!` in the same module, whose `db_err`, `push_scope` and
//! `not_tombstoned` it uses. The struct has a `notes` probe: the table
//! comes with a migration, and a node runs on the previous schema until
//! `reel migrate` (see [`super::ColumnProbe`]).

/// How often an insert that lost a race for a note's id (two notes added
/// to one session at once on Postgres) is tried again before it fails.
pub const NOTE_ID_ATTEMPTS: usize = 5;

macro_rules! notes_sql {
    ($name:ident, $db:ty, $row:ty) => {
mod notes_impl {
use reel_actors::traits::{NoteAdded, Scope, StoreError, StoreResult};
use reel_protocol::notes::{NewNote, Note};
use sqlx::{QueryBuilder, Row};

use super::$name;
use super::{db_err, not_tombstoned, push_scope};

fn note_from_row(r: &$row) -> Result<Note, sqlx::Error> {
    Ok(Note {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        t: r.try_get("t")?,
        text: r.try_get("text")?,
        author: r.try_get("author")?,
        created_at: r.try_get("created_at")?,
    })
}

impl $name {
    /// Does `session_notes` exist yet? (See [`crate::index::ColumnProbe`].)
    pub(super) async fn has_notes(&self) -> StoreResult<bool> {
        self.probe(&self.notes, "SELECT session_id FROM session_notes WHERE 1 = 0").await
    }

    async fn need_notes(&self) -> StoreResult<()> {
        if self.has_notes().await? {
            Ok(())
        } else {
            Err(StoreError::Other(
                "the index has no notes table yet: run `reel migrate`".into(),
            ))
        }
    }

    /// Is the session there for `scope`, and not tombstoned?
    async fn note_session_visible(&self, scope: &Scope, session_id: &str) -> StoreResult<bool> {
        let lifecycle = self.has_lifecycle().await?;
        let mut q: QueryBuilder<$db> = QueryBuilder::new(
            "SELECT s.id FROM sessions s JOIN sites ON sites.id = s.site_id WHERE s.id = ",
        );
        q.push_bind(session_id);
        q.push(not_tombstoned(lifecycle));
        push_scope(&mut q, scope);
        let found = q
            .build()
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(found.is_some())
    }

    /// See `Index::add_note`. One statement inserts the note only for a
    /// session the scope reaches, that is not tombstoned and that holds
    /// fewer than `max` notes; its id is the session's largest plus one.
    /// Two notes added at once (Postgres) may pick the same id: the
    /// primary key refuses the second, which tries again.
    pub(super) async fn add_note_sql(
        &self,
        scope: &Scope,
        session_id: &str,
        note: &NewNote,
        author: &str,
        created_at: i64,
        max: usize,
    ) -> StoreResult<NoteAdded> {
        self.need_notes().await?;
        let lifecycle = self.has_lifecycle().await?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut q: QueryBuilder<$db> = QueryBuilder::new(
                "INSERT INTO session_notes (session_id, id, t, text, author, created_at) \
                 SELECT s.id, COALESCE((SELECT MAX(n.id) FROM session_notes n WHERE n.session_id = s.id), 0) + 1, ",
            );
            q.push_bind(note.t)
                .push(", ")
                .push_bind(note.text.clone())
                .push(", ")
                .push_bind(author.to_owned())
                .push(", ")
                .push_bind(created_at)
                .push(" FROM sessions s JOIN sites ON sites.id = s.site_id WHERE s.id = ")
                .push_bind(session_id.to_owned());
            q.push(not_tombstoned(lifecycle));
            push_scope(&mut q, scope);
            q.push(" AND (SELECT COUNT(*) FROM session_notes n WHERE n.session_id = s.id) < ")
                .push_bind(max as i64)
                .push(" RETURNING session_id, id, t, text, author, created_at");
            match q.build().fetch_optional(&self.pool).await {
                Ok(Some(row)) => return note_from_row(&row).map(NoteAdded::Added).map_err(db_err),
                Ok(None) => {
                    return Ok(if self.note_session_visible(scope, session_id).await? {
                        NoteAdded::Full
                    } else {
                        NoteAdded::NotFound
                    })
                }
                Err(sqlx::Error::Database(d))
                    if d.kind() == sqlx::error::ErrorKind::UniqueViolation
                        && attempt < crate::index::notes::NOTE_ID_ATTEMPTS =>
                {
                    continue
                }
                Err(e) => return Err(db_err(e)),
            }
        }
    }

    /// See `Index::notes`.
    pub(super) async fn notes_sql(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<Vec<Note>>> {
        self.need_notes().await?;
        if !self.note_session_visible(scope, session_id).await? {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT session_id, id, t, text, author, created_at FROM session_notes \
             WHERE session_id = $1 ORDER BY t, id",
        )
        .bind(session_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(note_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(db_err)
    }
}
}
    };
}

pub(crate) use notes_sql;
