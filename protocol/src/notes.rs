//! Notes on a session (PROTOCOL.md §7): what a member writes at a moment of
//! a replay or a live session, listed on the session and shown on its
//! timeline. The request and answer shapes, their bounds and the check of
//! a new note.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A note's text, in bytes after trimming: at least 1, at most this.
pub const NOTE_TEXT_MAX_BYTES: usize = 2_000;
/// Notes one session holds at most; the next is refused (409 `conflict`).
pub const MAX_NOTES_PER_SESSION: usize = 200;
/// A note's `t` (ms from the session's `started_at`) is at most this: seven
/// days, well past any session's maximum duration.
pub const MAX_NOTE_T_MS: i64 = 7 * 24 * 3600 * 1000;

/// `POST /api/v1/sessions/{id}/notes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// The moment the note is about: ms from the session's `started_at`,
    /// the unit of the replay link `#/sessions/{id}?t=MS`.
    pub t: i64,
    pub text: String,
}

/// One note of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Note {
    /// 1, 2, 3, ... within its session, in the order notes were added.
    pub id: i64,
    pub session_id: String,
    /// ms from the session's `started_at`.
    pub t: i64,
    pub text: String,
    /// Who wrote it: a person's email, or `token:NAME` (as the audit log
    /// names callers).
    pub author: String,
    /// When it was written (ms since the Unix epoch).
    pub created_at: i64,
}

/// `GET /api/v1/sessions/{id}/notes`: ordered by `t`, then by `id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct NoteList {
    pub notes: Vec<Note>,
}

/// Why a new note is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("a note's text is empty")]
    Empty,
    #[error("a note's text is at most {NOTE_TEXT_MAX_BYTES} bytes")]
    TooLong,
    #[error("a note's text holds a control character (other than a line break or a tab)")]
    Control,
    #[error("a note's t is ms from the session's start: 0 to {MAX_NOTE_T_MS}")]
    BadTime,
    #[error("a session holds at most {MAX_NOTES_PER_SESSION} notes")]
    TooMany,
}

impl NewNote {
    /// The note to store: its text trimmed, its bounds checked.
    pub fn checked(&self) -> Result<NewNote, NoteError> {
        if !(0..=MAX_NOTE_T_MS).contains(&self.t) {
            return Err(NoteError::BadTime);
        }
        let text = self.text.trim();
        if text.is_empty() {
            return Err(NoteError::Empty);
        }
        if text.len() > NOTE_TEXT_MAX_BYTES {
            return Err(NoteError::TooLong);
        }
        // NUL and the like: Postgres cannot store a NUL, and no person types one.
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(NoteError::Control);
        }
        Ok(NewNote {
            t: self.t,
            text: text.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(t: i64, text: &str) -> NewNote {
        NewNote {
            t,
            text: text.into(),
        }
    }

    #[test]
    fn text_is_trimmed_then_bounded() {
        assert_eq!(note(5, "  hi \n").checked(), Ok(note(5, "hi")));
        assert_eq!(note(5, "").checked(), Err(NoteError::Empty));
        assert_eq!(note(5, " \n\t ").checked(), Err(NoteError::Empty));
        let longest = "é".repeat(NOTE_TEXT_MAX_BYTES / 2);
        assert_eq!(longest.len(), NOTE_TEXT_MAX_BYTES);
        assert!(note(5, &format!("  {longest}  ")).checked().is_ok());
        assert_eq!(
            note(5, &format!("{longest}x")).checked(),
            Err(NoteError::TooLong)
        );
        assert!(note(5, "two\nlines\tand a tab").checked().is_ok());
        assert_eq!(note(5, "a\0b").checked(), Err(NoteError::Control));
        assert_eq!(note(5, "a\u{1b}b").checked(), Err(NoteError::Control));
    }

    #[test]
    fn t_is_from_the_start_up_to_seven_days() {
        assert!(note(0, "x").checked().is_ok());
        assert!(note(MAX_NOTE_T_MS, "x").checked().is_ok());
        assert_eq!(note(-1, "x").checked(), Err(NoteError::BadTime));
        assert_eq!(
            note(MAX_NOTE_T_MS + 1, "x").checked(),
            Err(NoteError::BadTime)
        );
    }

    #[test]
    fn a_new_note_has_exactly_t_and_text() {
        let n: NewNote = serde_json::from_str(r#"{"t":1500,"text":"hi"}"#).unwrap();
        assert_eq!(n, note(1500, "hi"));
        assert!(serde_json::from_str::<NewNote>(r#"{"t":1.5,"text":"hi"}"#).is_err());
        assert!(serde_json::from_str::<NewNote>(r#"{"text":"hi"}"#).is_err());
        assert!(serde_json::from_str::<NewNote>(r#"{"t":1,"text":"hi","author":"x"}"#).is_err());
    }
}
