//! Accounts and access (PROTOCOL.md §5), the parts that are not HTTP:
//!
//! # Layout
//! - [`password`]: argon2id password hashes.
//! - [`store`]: what accounts need of the index ([`AccountStore`]).
//! - [`limiter`]: the sign-in rate limit (failures per email and per IP).
//!
//! Authorisation (who is calling, with which role and scope) is
//! `crate::http::auth`; the routes are `crate::http::accounts`.

pub mod limiter;
pub mod password;
pub mod store;

pub use store::AccountStore;

/// A day in ms, the unit of the protocol's expiries.
pub const DAY_MS: i64 = reel_protocol::site::DAY_MS;

/// A new sign-in id (the `reel_session` cookie) or invitation code: 192
/// random bits. Stored only hashed ([`crate::index::token_hash`]).
pub fn new_secret_id() -> String {
    reel_actors::sessions::new_id(32)
}

/// An email as stored and compared: trimmed, lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Is `email` plausible (one `@` with text on both sides, no spaces, at
/// most [`reel_protocol::accounts::MAX_NAME_BYTES`])? Delivery is not
/// reel's business: the invitation link is copied by hand.
pub fn valid_email(email: &str) -> bool {
    email.len() <= reel_protocol::accounts::MAX_NAME_BYTES
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty() && !b.contains('@'))
}
