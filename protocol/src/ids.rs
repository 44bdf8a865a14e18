//! Identifier newtypes. Parse, don't validate: a value of these types is
//! always 1 to 64 characters of `[A-Za-z0-9_-]`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest identifier, in bytes (all allowed characters are ASCII).
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("identifier is empty")]
    Empty,
    #[error("identifier is longer than {MAX_ID_LEN} characters")]
    TooLong,
    #[error("identifier has a character outside [A-Za-z0-9_-]")]
    BadChar,
}

/// Checks the identifier rule shared by every id on the wire.
pub fn check_id(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::BadChar);
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses `s`, refusing anything that breaks the identifier rule.
            pub fn parse(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check_id(&s)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(s.into_owned()).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A visitor: one browser profile, kept by the tracker in `localStorage`.
    VisitorId
);
id_type!(
    /// A recorded session: one visit, spanning page loads and tabs.
    SessionId
);
id_type!(
    /// One browser tab of a session.
    TabId
);
id_type!(
    /// The public key a site's tracker connects with.
    SiteKey
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn valid_ids_round_trip(s in "[A-Za-z0-9_-]{1,64}") {
            let id = SessionId::parse(s.clone()).unwrap();
            prop_assert_eq!(id.as_str(), s.as_str());
            let json = serde_json::to_string(&id).unwrap();
            let back: SessionId = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, id);
        }

        #[test]
        fn strings_with_other_characters_are_refused(
            head in "[A-Za-z0-9_-]{0,30}",
            bad in "[^A-Za-z0-9_-]",
            tail in "[A-Za-z0-9_-]{0,30}",
        ) {
            let s = format!("{head}{bad}{tail}");
            prop_assert!(TabId::parse(s).is_err());
        }

        #[test]
        fn ids_longer_than_64_are_refused(s in "[A-Za-z0-9_-]{65,100}") {
            prop_assert_eq!(VisitorId::parse(s), Err(IdError::TooLong));
        }
    }

    #[test]
    fn empty_id_is_refused() {
        assert_eq!(SiteKey::parse(""), Err(IdError::Empty));
        assert!(serde_json::from_str::<SessionId>("\"\"").is_err());
    }
}
