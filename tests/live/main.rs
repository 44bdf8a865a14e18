//! Live presence and live watching (PROTOCOL.md §4): on one node with the
//! in-process bus, and across nodes sharing a Redis of the test's own.

mod client;
mod cluster;
mod one_node;
#[path = "../support/mod.rs"]
mod support;
