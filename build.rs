//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the
//! migrations directory at compile time but, on stable Rust, cannot ask
//! Cargo to watch it.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
