//! The harness every integration suite shares (each includes it with
//! `#[path = "../support/mod.rs"] mod support;` and uses part of it).
//!
//! # Layout
//! - `storage`: the storage a test runs on (embedded, or Postgres and S3).
//! - `app`: a real node in the test's process (`spawn_app`).
//! - `process`: `reel serve` and the CLI as child processes.
//! - `redis`: a `redis-server` of the test's own.
//! - `tracker`: a tracker over a real WebSocket, and its events.
//! - `http`: the replay API with a token, and the health routes.
//! - `accounts`: people, signing in, requests as a person or a token.

// Each suite uses part of it.
#![allow(dead_code, unused_imports)]

mod accounts;
mod app;
mod http;
mod process;
mod redis;
mod storage;
mod tracker;

use std::time::Duration;

pub use accounts::*;
pub use app::*;
pub use http::*;
pub use process::*;
pub use redis::*;
pub use storage::*;
pub use tracker::*;

/// Logs print only when `TEST_LOG` is set.
pub fn init_logs() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,reel=debug")
            .try_init();
    }
}

/// The `p` quantile (0..=1) of `sorted`; zero when it is empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}
