//! Data lifecycle (PROTOCOL.md §6): erasing a person, the erasure's
//! receipt and a site's usage.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Whom `POST /api/v1/sites/{id}/erase` erases: exactly one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub visitor_id: Option<String>,
}

/// One person of a site, as an erasure names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Person {
    /// Sessions linked to this user id by `identify`.
    User(String),
    /// Sessions of this browser.
    Visitor(String),
}

/// Why an erase request is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EraseError {
    #[error("give exactly one of user_id and visitor_id")]
    OneOf,
    #[error("the id is empty or longer than {MAX_PERSON_ID} bytes")]
    BadId,
}

/// The longest user or visitor id an erasure takes: a bound on the
/// request, above any id a node stores (visitor ids are at most
/// [`crate::ids::MAX_ID_LEN`], user ids `Limits::user_id_bytes`).
pub const MAX_PERSON_ID: usize = 4096;

impl EraseRequest {
    /// The person to erase.
    pub fn person(&self) -> Result<Person, EraseError> {
        let check = |id: &str| {
            if id.is_empty() || id.len() > MAX_PERSON_ID {
                Err(EraseError::BadId)
            } else {
                Ok(id.to_owned())
            }
        };
        match (&self.user_id, &self.visitor_id) {
            (Some(u), None) => Ok(Person::User(check(u)?)),
            (None, Some(v)) => Ok(Person::Visitor(check(v)?)),
            _ => Err(EraseError::OneOf),
        }
    }
}

/// `202` answer of an erase request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EraseAccepted {
    pub id: String,
}

/// State of an erasure job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ErasureState {
    Pending,
    Done,
}

impl ErasureState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErasureState::Pending => "pending",
            ErasureState::Done => "done",
        }
    }
}

/// `GET /api/v1/erasures/{id}`: the receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErasureReceipt {
    pub state: ErasureState,
    /// Sessions deleted so far.
    pub sessions: i64,
    /// Blob objects deleted so far.
    pub objects: i64,
    /// When it finished (ms since the Unix epoch); `null` while pending.
    pub finished_at: Option<i64>,
}

/// `GET /api/v1/sites/{id}/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SiteUsage {
    pub sessions: i64,
    pub raw_bytes: i64,
    pub stored_bytes: i64,
    /// The oldest recording's start (ms); `null` when there is none.
    pub oldest_started_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_erase_names_exactly_one_person_by_a_bounded_id() {
        let user = EraseRequest {
            user_id: Some("u1".into()),
            visitor_id: None,
        };
        assert_eq!(user.person(), Ok(Person::User("u1".into())));
        let visitor: EraseRequest = serde_json::from_str(r#"{"visitor_id":"v1"}"#).unwrap();
        assert_eq!(visitor.person(), Ok(Person::Visitor("v1".into())));
        let both: EraseRequest =
            serde_json::from_str(r#"{"user_id":"u","visitor_id":"v"}"#).unwrap();
        assert_eq!(both.person(), Err(EraseError::OneOf));
        assert_eq!(EraseRequest::default().person(), Err(EraseError::OneOf));
        let long = EraseRequest {
            user_id: Some("x".repeat(MAX_PERSON_ID + 1)),
            visitor_id: None,
        };
        assert_eq!(long.person(), Err(EraseError::BadId));
        let longest = EraseRequest {
            user_id: Some("x".repeat(MAX_PERSON_ID)),
            visitor_id: None,
        };
        assert!(longest.person().is_ok());
        assert!(serde_json::from_str::<EraseRequest>(r#"{"email":"a"}"#).is_err());
    }
}
