//! Integration tests of a real reel node: real HTTP and WebSocket clients
//! against a server on port 0 with a fresh data directory.

mod accounts;
mod api;
mod client_addr;
mod client_strings;
mod close_codes;
mod compaction;
mod dead_letters;
mod disk_full;
mod failover;
mod flags;
mod ingest;
mod lifecycle;
mod lifecycle_erase;
#[path = "../live/client.rs"]
#[allow(dead_code)]
mod live_client;
mod live_join;
mod notes;
mod overload;
mod process;
mod redaction;
mod search;
mod signals;
mod sites;
#[path = "../support/mod.rs"]
mod support;
mod web;
