//! Storage under failure, on real services: a Postgres server and an S3
//! path of the test's own, stopped and cut while trackers record; the
//! spool's bound; and a schema migration applied while a node ingests.

mod adapters;
mod downtime;
mod erasure;
mod flags;
mod migration;
mod search;
mod services;
#[path = "../support/mod.rs"]
mod support;
