//! The reel wire contract (PROTOCOL.md v1) in code: the single source of truth
//! for message shapes, limits and error codes. No I/O, no async runtime.
//!
//! # Layout
//! - [`ids`]: validated identifier newtypes (`VisitorId`, `SessionId`, `TabId`, `SiteKey`).
//! - [`messages`]: every v1 ingest message, client to server and server to client.
//! - [`clean`]: NULs dropped from, and bounds applied to, every client
//!   string that reaches the index (PROTOCOL.md §3).
//! - [`codec`]: text and gzip-binary frame decoding with the frame, decompressed
//!   size and event limits.
//! - [`event`]: the few header fields of an rrweb event that the server reads.
//! - `scan`: one pass over an `events` message, finding each event's bounds
//!   and reading its header in the same scan (used by [`codec`]).
//! - [`error`]: stable error codes with their HTTP statuses and close codes.
//! - [`limits`]: the `Limits` struct with the documented defaults.
//! - [`settings`]: the settings a tracker receives in `welcome`.
//! - [`flags`]: feature flags: every flag's name, default and description,
//!   their rules and scopes, and the evaluated set clients receive.
//! - [`api`]: JSON shapes of the replay API (§2).
//! - [`site`]: site administration (§5): request bodies, bounds and checks.
//! - [`lifecycle`]: data lifecycle (§6): erasure requests and receipts,
//!   site usage.
//! - [`live`]: the live dashboard socket (§4): presence and watching.
//! - [`notes`]: notes on a session (§7): shapes, bounds and checks.
//! - [`accounts`]: accounts and access (§5): roles, sign-in, members,
//!   invitations, API tokens, the audit log, and their limits.

pub mod accounts;
pub mod api;
pub mod bindings;
pub mod clean;
pub mod codec;
pub mod error;
pub mod event;
pub mod flags;
pub mod ids;
pub mod lifecycle;
pub mod limits;
pub mod live;
pub mod messages;
pub mod notes;
mod scan;
pub mod settings;
pub mod signals;
pub mod site;

pub use codec::{decode_message, frame_json, DecodeError, Frame};
pub use error::ErrorCode;
pub use event::EventHeader;
pub use ids::{IdError, SessionId, SiteKey, TabId, VisitorId};
pub use limits::Limits;
pub use messages::{ClientMessage, Hello, ServerMessage};
pub use settings::Settings;

/// The protocol version this crate speaks (`hello.v`).
pub const PROTOCOL_VERSION: u32 = 1;
