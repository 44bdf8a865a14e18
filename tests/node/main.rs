//! Integration tests of a real reel node: real HTTP and WebSocket clients
//! against a server on port 0 with a fresh data directory.

mod api;
mod close_codes;
mod failover;
mod helpers;
mod ingest;
mod lifecycle;
mod process;
mod web;
