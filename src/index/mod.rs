//! Index adapters: SQLite (embedded defaults) behind the `Index` trait.

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
