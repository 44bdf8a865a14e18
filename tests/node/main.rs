//! Integration tests of a real reel node: real HTTP and WebSocket clients
//! against a server on port 0 with a fresh data directory.

mod accounts;
mod api;
mod client_strings;
mod close_codes;
mod dead_letters;
mod disk_full;
mod failover;
mod ingest;
mod lifecycle;
mod lifecycle_erase;
mod overload;
mod process;
mod sites;
#[path = "../support/mod.rs"]
mod support;
mod web;
