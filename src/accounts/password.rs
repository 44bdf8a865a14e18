//! Password hashes: argon2id with the OWASP parameters (19 MiB of memory,
//! 2 iterations, 1 lane), in the PHC string format. Hashing runs on the
//! blocking pool: it takes tens of milliseconds of one core on purpose.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use reel_protocol::accounts::Password;

/// OWASP's argon2id minimum (Password Storage Cheat Sheet): m=19 MiB, t=2, p=1.
pub const MEMORY_KIB: u32 = 19 * 1024;
pub const ITERATIONS: u32 = 2;
pub const LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    // unwrap: the constants above are valid parameters (a test builds them).
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The stored form of `password`: an argon2id PHC string with a random salt.
pub async fn hash(password: &Password) -> anyhow::Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || hash_now(&password)).await?
}

fn hash_now(password: &Password) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

/// A hash of no one's password, verified against when the email is
/// unknown, so that an unknown email takes about as long as a wrong
/// password (and says the same).
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = Password::new(reel_actors::sessions::new_id(32));
        // unwrap: hashing fails only on invalid parameters, which a test rules out.
        hash_now(&random).unwrap()
    })
}

/// Does `password` match `stored` (a PHC string)? `None` (no such person)
/// and an unreadable hash verify against a dummy hash first, and are
/// false.
pub async fn verify(password: &Password, stored: Option<String>) -> bool {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let parsed = stored
            .as_deref()
            .and_then(|s| PasswordHash::new(s).ok())
            .map(|h| (h, true));
        let (hash, real) = match parsed {
            Some(h) => h,
            // unwrap: the dummy hash is one this module wrote.
            None => (PasswordHash::new(dummy_hash()).unwrap(), false),
        };
        let ok = argon2()
            .verify_password(password.expose().as_bytes(), &hash)
            .is_ok();
        ok && real
    })
    .await
    .unwrap_or(false)
}

/// Builds the dummy hash now (at start), so that the first sign-in of an
/// unknown email does not take twice as long as the others.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let p = Password::new("correct horse battery");
        let h = hash(&p).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("correct"));
        assert!(verify(&p, Some(h.clone())).await);
        assert!(!verify(&Password::new("wrong horse battery"), Some(h)).await);
        assert!(!verify(&p, None).await);
        assert!(!verify(&p, Some(String::new())).await);
    }
}
