//! Operating reel: what an operator relies on and runs beside the nodes,
//! through the node's real interfaces: secrets that never leak, failure
//! reporting to a Sentry stand-in, slow-request logs and OTLP traces,
//! alert rules and dashboards against a real Prometheus. Each module is
//! one concern; the nodes run as real processes.
//!
//! Needs Postgres, an S3-compatible server (`scripts/services`),
//! `redis-server` and `prometheus` (Debian's packages; `scripts/services`
//! installs them) for the parts that say so.

#[path = "../support/mod.rs"]
mod support;

mod monitoring;
mod profiling;
mod secrets;
mod sentry;
