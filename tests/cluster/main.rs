//! Several reel nodes as real processes on shared Postgres and S3, behind a
//! real nginx configured from the repository's `deploy/nginx.conf`.
//!
//! Feature flags cross nodes there too, with a Redis of the test's own.
//!
//! Needs nginx (`scripts/services` installs Debian's), Postgres and an
//! S3-compatible server (`scripts/services`, `scripts/s3-server`).

mod flags;
mod nginx;
#[path = "../support/mod.rs"]
mod support;
