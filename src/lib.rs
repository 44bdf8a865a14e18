//! The `reel` server: adapters, HTTP and WebSocket routes, config, telemetry
//! and the CLI. The domain lives in `reel-actors`, the wire contract in
//! `reel-protocol`.
//!
//! # Layout
//! - [`config`]: the one typed config (defaults, `reel.toml`, `REEL_*`).
//! - [`secrets`]: values that never print, and the redaction of secrets
//!   from every text that leaves the process.
//! - [`telemetry`]: tracing, Sentry and the Prometheus recorder.
//! - [`codec`]: the pinned bincode codec of spool records.
//! - [`spool`]: the fsynced, group-committed local spool.
//! - [`dead_letters`]: writes storage refused, kept on disk as JSON files.
//! - [`blob`]: the local blob directory.
//! - [`s3`]: the S3 blob store (AWS or S3-compatible).
//! - [`redis`]: the Redis bus (pub/sub with a self-probe) and presence.
//! - [`index`]: the SQLite and Postgres index.
//! - [`timed`]: timing wrappers of the index and blob store (what each
//!   request spends in them, `http::timing`).
//! - [`otlp`]: optional OpenTelemetry trace export (OTLP over HTTP).
//! - [`accounts`]: people, passwords, the sign-in rate limit and what
//!   accounts need of the index (PROTOCOL.md §5).
//! - [`http`]: ingest, replay API, health and metrics routes.
//! - [`maintenance`]: the operator's maintenance switch as a node follows it.
//! - [`site_follow`]: admins' changes to sites as a node follows them.
//! - [`flags`]: the operator's feature flag rules as a node follows them.
//! - [`follow`]: how those three follow the index: a read every poll
//!   interval, and at once on a bus hint.
//! - [`app`]: building, running and gracefully stopping a node.
//! - [`cli`]: `reel serve | migrate | site create | token create |
//!   maintenance on|off|status | flag set|clear|list | dead-letters list|replay`.

pub mod accounts;
pub mod app;
pub mod blob;
pub mod cli;
pub mod codec;
pub mod config;
pub mod dead_letters;
pub mod flags;
pub mod follow;
pub mod http;
pub mod idle_pool;
pub mod index;
pub mod maintenance;
pub mod otlp;
pub mod redis;
pub mod s3;
pub mod secrets;
pub mod site_follow;
pub mod spool;
pub mod telemetry;
pub mod timed;
