//! The traits the domain depends on, implemented by adapters in the server.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use reel_protocol::api::{SessionFilter, SessionInfo, SessionPage};
use reel_protocol::live::Presence;
use serde::{Deserialize, Serialize};

use crate::stats::{BatchStats, SegmentDelta};

/// A storage failure. Adapters say what went wrong in the message.
///
/// Writes tell the three failures apart: `Unavailable` is transient (the
/// store is unreachable, timed out, answered 5xx or throttled: the write
/// waits in the outbox and is retried with backoff until it lands);
/// `Refused` is permanent (the store refuses the write for its content: a
/// constraint, an encoding or a request the store will never take, so
/// after a few attempts it goes to the dead letters); `Other` is anything
/// else (a misconfiguration, a local failure), retried like today.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("storage refused the write: {0}")]
    Refused(String),
    #[error("storage error: {0}")]
    Other(String),
}

impl StoreError {
    /// Will the same write fail the same way every time?
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Refused(_))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where segments live: a local directory or an S3 bucket.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Writes `data` at `key`, replacing what was there (writes are idempotent).
    async fn put(&self, key: &str, data: Bytes) -> StoreResult<()>;
    /// Reads the object at `key`.
    async fn get(&self, key: &str) -> StoreResult<Bytes>;
    /// Reads the object at `key` from byte `offset` to its end (a seek into
    /// a compacted object, see [`crate::compacted`]). Stores that can read
    /// a range (a file, an S3 `Range` GET) override this.
    async fn get_from(&self, key: &str, offset: u64) -> StoreResult<Bytes> {
        let all = self.get(key).await?;
        Ok(all.slice((offset as usize).min(all.len())..))
    }
    /// Deletes the objects at `keys`; a key with no object is no error (a
    /// delete that is repeated after a crash changes nothing). S3 sends
    /// them in `DeleteObjects` requests of up to 1,000 keys.
    async fn delete(&self, keys: &[String]) -> StoreResult<()>;
    /// Is the store reachable?
    async fn check(&self) -> StoreResult<()>;
    /// A URL that reads the object at `key` without credentials, when the
    /// store can sign one (S3 with presigning configured).
    async fn presign_get(&self, _key: &str) -> StoreResult<Option<String>> {
        Ok(None)
    }
}

/// A session as the index knows it, enough to continue it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    pub site_id: i64,
    pub visitor_id: String,
    pub started_at: i64,
    pub last_activity_at: i64,
    pub ended_at: Option<i64>,
    pub raw_bytes: i64,
}

/// What a new session's row starts with.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NewSession {
    pub id: String,
    pub site_id: i64,
    pub visitor_id: String,
    pub started_at: i64,
    pub first_url: String,
    pub referrer: String,
    pub user_agent: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub screen_w: i64,
    pub screen_h: i64,
    pub lang: String,
    pub tz: String,
}

/// One stored segment: a zstd NDJSON object holding batches
/// `first_seq..=last_seq` of one tab (consecutive seqs, no holes). Segments
/// of a tab may overlap: two nodes can store the same batches after a
/// failover; readers skip the batches they already read (see
/// [`crate::segment::TabReader`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    pub session_id: String,
    pub tab_id: String,
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_ts: i64,
    pub last_ts: i64,
    pub event_count: u64,
    pub raw_bytes: u64,
    pub stored_bytes: u64,
    pub blob_key: String,
    /// When the node received the segment's first batch (ms); orders tabs.
    pub received_at: i64,
    /// Where each batch ends in the decompressed object, in bytes: entry
    /// `i` ends batch `first_seq + i`. Empty when unknown (segments stored
    /// before reel recorded them).
    pub batch_ends: Vec<u64>,
}

/// One zstd frame of a compacted object (its range index, see
/// [`crate::compacted`]): the frame can be decompressed on its own, so a
/// reader that wants the batches from `first_seq` (or the time `first_ts`)
/// on starts reading the object at `offset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRecord {
    /// Its place in the object, from 0.
    pub frame: u32,
    /// The first batch in it.
    pub first_seq: u64,
    /// The timestamp of its first event (ms).
    pub first_ts: i64,
    /// Where it starts in the object, and its length (compressed bytes).
    pub offset: u64,
    pub length: u64,
    /// Where it starts in the decompressed object.
    pub raw_offset: u64,
    /// Does its first batch hold a full snapshot (a player can start here)?
    pub snapshot: bool,
}

/// What replacing a tab's segments by its compacted object came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swapped {
    /// Done: the old objects are doomed (deleted after the readers' grace).
    Done,
    /// The tab's rows are no longer those it was compacted from (a late
    /// segment, another compactor), the session was deleted, or the new
    /// object's doom expired: nothing changed (the new object stays doomed).
    Abandoned,
}

/// The index's side of cold compaction (docs/storage.md, "Cold
/// compaction"): which sessions wait for it, the swap of a tab's segment
/// rows for its compacted row in one transaction, and the doomed objects
/// (written to the blob store but referenced by no row, or no longer):
/// every object is doomed before it could become garbage, so a crash at
/// any point leaves nothing that nothing will delete.
#[async_trait]
pub trait CompactionIndex: Send + Sync + 'static {
    /// Up to `limit` sessions with a segment not compacted yet whose last
    /// activity is before `quiet_before`, or that ended before
    /// `ended_before` (ms); oldest activity first.
    async fn compaction_candidates(
        &self,
        ended_before: i64,
        quiet_before: i64,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    /// Dooms `key` of `session`: deleted once `delete_after` (ms) passed,
    /// unless a swap takes it first.
    async fn doom(&self, session_id: &str, key: &str, delete_after: i64) -> StoreResult<()>;
    /// In one transaction: when the tab's segment rows are exactly `old`
    /// (same keys and seqs), the session is not tombstoned and `new`'s key
    /// is doomed with a `delete_after` of at least `fresh_after`, deletes
    /// those rows, inserts `new` with `frames`, undooms `new`'s key and
    /// dooms the old keys until `old_delete_after`.
    async fn swap_compacted(
        &self,
        old: &[SegmentRecord],
        new: &SegmentRecord,
        frames: &[FrameRecord],
        fresh_after: i64,
        old_delete_after: i64,
    ) -> StoreResult<Swapped>;
    /// Records that the compactor is done with the session, when it holds
    /// `rows` segment rows (else a late segment came: it is left to the
    /// next pass). A later segment makes it a candidate again.
    async fn mark_compacted(&self, session_id: &str, rows: i64, now: i64) -> StoreResult<()>;
    /// The range index of a compacted object (empty for other segments).
    async fn frames(&self, blob_key: &str) -> StoreResult<Vec<FrameRecord>>;
    /// Up to `limit` doomed keys due at `now`.
    async fn due_doomed(&self, now: i64, limit: i64) -> StoreResult<Vec<String>>;
    /// Forgets doomed keys whose objects were deleted.
    async fn forget_doomed(&self, keys: &[String]) -> StoreResult<()>;
}

/// A site, as ingest needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRecord {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub key: String,
    /// Empty: any origin.
    pub allowed_origins: Vec<String>,
    pub settings: reel_protocol::Settings,
    /// Days its recordings are kept.
    pub retention_days: i64,
    /// When an admin last changed it (ms since the Unix epoch; 0: never).
    pub updated_at: i64,
}

/// An admin's change to a site: what is `Some` is written, the rest stays.
/// Values are checked before (see `reel_protocol::site`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteUpdate {
    pub name: Option<String>,
    pub origins: Option<Vec<String>>,
    /// The whole settings, with the admin's patch applied.
    pub settings: Option<reel_protocol::Settings>,
    pub retention_days: Option<i64>,
}

/// What a caller may read (PROTOCOL.md §5): one organisation, and in it
/// every site or only some. Every read of the replay API and of live
/// presence and watching takes one, and the index applies it in SQL, so a
/// route that forgets a check still cannot show another organisation's or
/// another site's sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub org_id: i64,
    /// `None`: every site of the organisation; `Some`: only these.
    pub sites: Option<Vec<i64>>,
}

impl Scope {
    /// All of `org_id`'s sites.
    pub fn org(org_id: i64) -> Scope {
        Scope {
            org_id,
            sites: None,
        }
    }

    /// Does the scope reach `site_id` (of its organisation)?
    pub fn allows_site(&self, site_id: i64) -> bool {
        self.sites.as_ref().is_none_or(|s| s.contains(&site_id))
    }
}

/// The operator's node-wide maintenance switch, as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Maintenance {
    /// On: nodes refuse new recordings and close open ones.
    pub enabled: bool,
    /// Told to trackers with the refusal; may be empty.
    pub message: String,
    /// When it was last switched (ms since the Unix epoch; 0: never).
    pub updated_at: i64,
}

/// Why a session was deleted, as its tombstone says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteReason {
    /// An admin deleted it (`DELETE /api/v1/sessions/{id}`).
    Deleted,
    /// Its site's retention passed.
    Retention,
    /// Its person was erased.
    Erasure,
}

impl DeleteReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeleteReason::Deleted => "deleted",
            DeleteReason::Retention => "retention",
            DeleteReason::Erasure => "erasure",
        }
    }
}

/// A deleted session's tombstone, written before anything of it is removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub session_id: String,
    pub site_id: i64,
    /// ms since the Unix epoch.
    pub deleted_at: i64,
    pub reason: DeleteReason,
    /// The erasure job that deletes it, if one does.
    pub erasure_id: Option<String>,
}

/// A session the lifecycle work deletes: its id and site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub id: String,
    pub site_id: i64,
}

/// An erasure job as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureJob {
    pub id: String,
    pub org_id: i64,
    pub site_id: i64,
    pub person: reel_protocol::lifecycle::Person,
    /// The receipt so far.
    pub receipt: reel_protocol::lifecycle::ErasureReceipt,
}

/// A site's totals (PROTOCOL.md §6).
pub type SiteUsage = reel_protocol::lifecycle::SiteUsage;

/// What adding a note to a session came to (PROTOCOL.md §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoteAdded {
    /// Stored, as listed from now on.
    Added(reel_protocol::notes::Note),
    /// The session already holds its most notes.
    Full,
    /// No session the scope reaches (none, another organisation's or
    /// site's, or tombstoned).
    NotFound,
}

/// The session index: organisations, sites, sessions, segments. (Accounts
/// and tokens are the server's, behind its own trait.)
#[async_trait]
pub trait Index: Send + Sync + 'static {
    /// Is the index reachable?
    async fn check(&self) -> StoreResult<()>;

    // Sites.
    async fn site_by_key(&self, key: &str) -> StoreResult<Option<SiteRecord>>;
    /// The site, when `scope` reaches it.
    async fn site_by_id(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteRecord>>;
    /// The sites `scope` reaches.
    async fn sites(&self, scope: &Scope) -> StoreResult<Vec<SiteRecord>>;
    /// Creates a site in organisation `org_id` with checked `name` and
    /// `origins`, default settings and retention; returns it.
    async fn insert_site(
        &self,
        org_id: i64,
        name: &str,
        origins: &[String],
    ) -> StoreResult<SiteRecord>;
    /// Applies `update` to the site, stamping `updated_at`; `None` when the
    /// organisation has no such site.
    async fn update_site(
        &self,
        org_id: i64,
        site_id: i64,
        update: &SiteUpdate,
    ) -> StoreResult<Option<SiteRecord>>;
    /// Every site whose `updated_at` is at or after `since` (ms): what nodes
    /// poll to follow admins' changes.
    async fn sites_changed_since(&self, since: i64) -> StoreResult<Vec<SiteRecord>>;

    // Sessions, written by session actors.
    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>>;
    async fn open_session(&self, new: &NewSession) -> StoreResult<()>;
    /// The first seq of `tab` that no committed segment holds.
    async fn tab_next_seq(&self, session_id: &str, tab_id: &str) -> StoreResult<u64>;
    /// Inserts the segment's row and adds its counters to the session, once:
    /// committing the same segment again changes nothing.
    async fn commit_segment(&self, seg: &SegmentRecord, delta: &SegmentDelta) -> StoreResult<()>;
    /// Links the session to a user, unless it holds an identify of a later
    /// `identified_at` (ms, the node's clock when it received it): an older
    /// identify applied late (replayed from a spool) never wins. Of two with
    /// the same time, the one applied last wins.
    async fn identify(
        &self,
        session_id: &str,
        user_id: &str,
        traits: &BTreeMap<String, String>,
        identified_at: i64,
    ) -> StoreResult<()>;
    async fn end_session(&self, session_id: &str, ended_at: i64) -> StoreResult<()>;
    /// Ends every open session whose last activity is older than
    /// `inactive_before` or that started before `started_before`, except
    /// `keep` (sessions live on this node). Returns how many ended.
    async fn end_stale_sessions(
        &self,
        inactive_before: i64,
        started_before: i64,
        keep: &[String],
    ) -> StoreResult<u64>;

    // Reading, for the replay API.
    /// The session's row, when `scope` reaches its site. Its `live` is
    /// `false`: the caller sets it from presence.
    async fn session_info(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<SessionInfo>>;
    async fn segments(&self, session_id: &str) -> StoreResult<Vec<SegmentRecord>>;
    /// The site's sessions, when `scope` reaches the site (else none).
    /// `live`: the site's sessions a tracker is connected to now (from
    /// presence), which `filter.live` selects or leaves out; the index
    /// does not know presence, so each row's `live` is `false` and the
    /// caller sets it.
    async fn list_sessions(
        &self,
        scope: &Scope,
        site_id: i64,
        filter: &SessionFilter,
        live: &[String],
    ) -> StoreResult<SessionPage>;

    // The data lifecycle (PROTOCOL.md §6). Until the schema has it (a
    // node older than `reel migrate`), tombstone checks answer "none" and
    // the lifecycle writes fail.
    /// Writes `t` (once: a second tombstone of the session changes nothing).
    async fn tombstone(&self, t: &Tombstone) -> StoreResult<()>;
    /// Has the session been deleted?
    async fn is_tombstoned(&self, session_id: &str) -> StoreResult<bool>;
    /// Records that `objects` blob objects of a tombstoned session are
    /// deleted (the largest count seen wins: a repeated delete counts the
    /// same objects again).
    async fn tombstone_objects(&self, session_id: &str, objects: i64) -> StoreResult<()>;
    /// Removes a session's rows: its notes, pages, segments and row.
    async fn purge_session(&self, session_id: &str) -> StoreResult<()>;
    /// Pins or unpins a session `scope` reaches; false when there is none.
    async fn set_pinned(&self, scope: &Scope, session_id: &str, pinned: bool) -> StoreResult<bool>;
    /// Up to `limit` sessions of the person on the site that still have a row.
    async fn sessions_of(
        &self,
        site_id: i64,
        person: &reel_protocol::lifecycle::Person,
        limit: i64,
    ) -> StoreResult<Vec<SessionRef>>;
    /// Up to `limit` sessions to delete for retention: unpinned sessions
    /// that started before `now` less their site's `retention_days`, and
    /// tombstoned sessions whose rows are still there (a delete that
    /// stopped half-way), oldest first; each with when it was due to go
    /// (its expiry, or when it was tombstoned), ms.
    async fn expired_sessions(&self, now: i64, limit: i64) -> StoreResult<Vec<(SessionRef, i64)>>;
    /// Creates a pending erasure job; returns its id.
    async fn create_erasure(
        &self,
        org_id: i64,
        site_id: i64,
        person: &reel_protocol::lifecycle::Person,
    ) -> StoreResult<String>;
    /// An erasure job's receipt, when it belongs to `org_id`.
    async fn erasure(
        &self,
        org_id: i64,
        id: &str,
    ) -> StoreResult<Option<reel_protocol::lifecycle::ErasureReceipt>>;
    /// Takes the lease of one pending erasure job whose lease has expired,
    /// or that `holder` holds already (it stopped on an error), oldest
    /// first, for `holder` until `until` (ms); `None` when none waits.
    async fn claim_erasure(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<ErasureJob>>;
    /// Extends a held lease of an erasure job; false when `holder` lost it.
    async fn renew_erasure(&self, id: &str, holder: &str, until: i64) -> StoreResult<bool>;
    /// Marks the job done, with the sessions and objects its tombstones count.
    async fn finish_erasure(&self, id: &str, now: i64) -> StoreResult<()>;
    /// Takes (or renews) the named lease for `holder` until `until` (ms);
    /// false when another holder has it unexpired.
    async fn take_lease(&self, name: &str, holder: &str, now: i64, until: i64)
        -> StoreResult<bool>;
    /// A site's totals, when `scope` reaches it.
    async fn site_usage(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteUsage>>;

    // Notes (PROTOCOL.md §7). Until the schema has them (a node older than
    // `reel migrate`), both fail; deleting a session works without them.
    /// Adds a checked note by `author` at `created_at` (ms) to a session
    /// `scope` reaches that is not tombstoned, unless it holds `max` notes.
    async fn add_note(
        &self,
        scope: &Scope,
        session_id: &str,
        note: &reel_protocol::notes::NewNote,
        author: &str,
        created_at: i64,
        max: usize,
    ) -> StoreResult<NoteAdded>;
    /// The notes of a session `scope` reaches, by `t` then `id`; `None`
    /// when there is no such session (or it is tombstoned).
    async fn notes(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<Vec<reel_protocol::notes::Note>>>;

    // Node-wide switches of the operator.
    /// The maintenance switch (one row: cheap enough to poll every second).
    async fn maintenance(&self) -> StoreResult<Maintenance>;
    /// Switches maintenance; returns the new state.
    async fn set_maintenance(&self, enabled: bool, message: &str) -> StoreResult<Maintenance>;
}

/// A message between nodes, or from a session to its watchers. On Redis it
/// travels in the versioned envelope of the server's codec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BusMessage {
    /// A session appeared on a site's presence (topic `presence:{site}`).
    PresenceJoin { site: i64, presence: Presence },
    /// A live session's presence changed (page, user, activity).
    PresenceUpdate { site: i64, presence: Presence },
    /// A session left the site's presence.
    PresenceLeave { site: i64, session: String },
    /// Someone watches `session`: its node publishes its events for the
    /// next lease (topic `node:{node}`). Sent again before the lease ends
    /// (`fresh: false`); a new watcher's first request (`fresh: true`) also
    /// gets each tab's live tail published, read from the node's disk, or,
    /// for a tab the node has no tail of, a snapshot requested.
    WatchRequest { session: String, fresh: bool },
    /// Events of a watched session (topic `live:{session}`): rrweb events
    /// as NDJSON, exactly as received.
    LiveEvents {
        session: String,
        tab: String,
        #[serde(with = "serde_bytes")]
        ndjson: Vec<u8>,
    },
    /// The watched session ended (topic `live:{session}`).
    WatchEnded { session: String, reason: String },
    /// A node checking that its own subscription still delivers.
    Probe { node: String, nonce: u64 },
    /// The operator switched maintenance (topic `maintenance`). A hint to
    /// follow now: nodes poll the index, which is the truth.
    Maintenance { on: bool, message: String },
    /// An admin changed a site (topic `sites`). A hint to read the sites
    /// changed lately now: nodes poll the index, which is the truth.
    /// (Appended last: bincode numbers variants by position.)
    SiteChanged { site: i64 },
    /// A session was deleted (topic `sessions`): the node where it is live
    /// ends it at once. Its tombstone, written before, is the truth: a
    /// node that misses this still cannot store anything of it.
    /// (Appended last.)
    SessionDeleted { session: String },
    /// The operator changed a feature flag's rules (topic `flags`). A hint
    /// to read the rules now: nodes poll the index, which is the truth.
    /// (Appended last.)
    FlagsChanged,
}

/// Topic names of the bus.
pub mod topics {
    /// Presence deltas of a site.
    pub fn presence(site: i64) -> String {
        format!("presence:{site}")
    }
    /// Requests to one node.
    pub fn node(node: &str) -> String {
        format!("node:{node}")
    }
    /// A watched session's events.
    pub fn live(session: &str) -> String {
        format!("live:{session}")
    }
    /// The operator's maintenance switch.
    pub const MAINTENANCE: &str = "maintenance";
    /// Admins' changes to sites.
    pub const SITES: &str = "sites";
    /// Deleted sessions.
    pub const SESSIONS: &str = "sessions";
    /// The operator's feature flag rules.
    pub const FLAGS: &str = "flags";
}

/// Publish/subscribe between nodes: in-process on one node, Redis in a cluster.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, topic: &str, msg: BusMessage) -> StoreResult<()>;
    /// Receives every later message on `topic`. A slow receiver loses the
    /// oldest messages (bounded), and learns how many it lost.
    fn subscribe(&self, topic: &str) -> tokio::sync::broadcast::Receiver<BusMessage>;
    /// Is the bus delivering? (`/readyz`; a node whose bus is down keeps
    /// recording.)
    fn state(&self) -> Result<(), String> {
        Ok(())
    }
}

/// Where presence lives: each node keeps its own sessions' entries, which
/// expire unless refreshed (a dead node's sessions vanish by themselves).
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Adds or refreshes `p` on `site` for `ttl`.
    async fn put(&self, site: i64, p: &Presence, ttl: std::time::Duration) -> StoreResult<()>;
    async fn remove(&self, site: i64, session: &str) -> StoreResult<()>;
    /// The site's unexpired entries.
    async fn list(&self, site: i64) -> StoreResult<Vec<Presence>>;
}

/// One batch as the spool keeps it until its segment is committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolBatch {
    pub site_id: i64,
    pub session_id: String,
    pub session_started_at: i64,
    pub tab_id: String,
    pub seq: u64,
    pub received_at: i64,
    /// The batch's events, one per line, each exactly as received, each line
    /// ending in `\n`.
    #[serde(with = "serde_bytes")]
    pub ndjson: Vec<u8>,
    pub stats: BatchStats,
}

/// A segment's blob as serde bytes, encoded exactly as `serde_bytes`
/// encodes a `Vec<u8>` (spool records and dead letters keep their format).
mod blob_bytes {
    use bytes::Bytes;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        serde_bytes::ByteBuf::deserialize(d).map(|b| Bytes::from(b.into_vec()))
    }
}

/// A write to the index or the blob store that waits in the outbox (on the
/// node's spool) until storage takes it. Applying one twice changes nothing
/// the second time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OutboxOp {
    /// Insert a session's row.
    OpenSession(NewSession),
    /// Put a segment's blob, then commit its index row.
    Segment {
        record: SegmentRecord,
        delta: SegmentDelta,
        /// The segment object: each batch's zstd frame, concatenated.
        /// Shared, not copied, on its way to the blob store.
        #[serde(with = "blob_bytes")]
        blob: Bytes,
    },
    /// Link a session to a user, as nodes wrote it before identifies were
    /// stamped. Still read from old spools, never written: it is applied
    /// as [`UNSTAMPED_IDENTIFIED_AT`], older than any stamped identify.
    Identify {
        session_id: String,
        user_id: String,
        traits: BTreeMap<String, String>,
    },
    /// Set a session's end.
    EndSession { session_id: String, ended_at: i64 },
    /// Link a session to a user, stamped with when the node received the
    /// `identify` (ms), so that an older one applied late does not win.
    /// (Appended last: spool records are bincode, which numbers variants
    /// by position, so the older variants keep their encoding.)
    IdentifyAt {
        session_id: String,
        user_id: String,
        traits: BTreeMap<String, String>,
        identified_at: i64,
    },
}

/// The `identified_at` of an [`OutboxOp::Identify`] from an old spool:
/// older than every stamped identify, so it applies only to a session no
/// stamped identify has reached.
pub const UNSTAMPED_IDENTIFIED_AT: i64 = 0;

impl OutboxOp {
    /// The session the write belongs to (writes of one session apply in order).
    pub fn session_id(&self) -> &str {
        match self {
            OutboxOp::OpenSession(n) => &n.id,
            OutboxOp::Segment { record, .. } => &record.session_id,
            OutboxOp::Identify { session_id, .. }
            | OutboxOp::IdentifyAt { session_id, .. }
            | OutboxOp::EndSession { session_id, .. } => session_id,
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            OutboxOp::OpenSession(_) => "open_session",
            OutboxOp::Segment { .. } => "segment",
            OutboxOp::Identify { .. } | OutboxOp::IdentifyAt { .. } => "identify",
            OutboxOp::EndSession { .. } => "end_session",
        }
    }
}

/// A write storage refused for its content every time it was tried: kept
/// in the dead letters (with everything needed to apply it again) so that
/// the session's other writes go on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The write, whole (a segment's compressed blob included).
    pub op: OutboxOp,
    /// Why storage refused it, the last time.
    pub error: String,
    /// How often it was tried.
    pub attempts: u32,
    /// When it was given up (ms since the Unix epoch).
    pub at: i64,
}

/// Where refused writes are kept for an operator to look at, apply again
/// or discard: a directory of files on the node.
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    /// Keeps `letter` durably; returns where (for the log). Fails when the
    /// area is over its bound or the disk fails: the caller logs it and
    /// moves on, it never waits.
    async fn put(&self, letter: &DeadLetter) -> StoreResult<String>;
}

/// Names one appended record (a batch or an outbox write), so that it can be
/// trimmed once it is in storage. Tickets grow in append order.
pub type SpoolTicket = u64;

/// Resolves when an appended batch is durable (fsynced).
pub type Durable = Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>;

/// The node's write-ahead spool: a batch is acked once it is here.
pub trait Spool: Send + Sync + 'static {
    /// Appends a batch; the future resolves once it is fsynced.
    fn append(&self, batch: &SpoolBatch) -> (SpoolTicket, Durable);
    /// Resolves once everything appended before it is durable.
    fn barrier(&self) -> Durable;
    /// These records are in storage: the spool may forget them.
    fn release(&self, tickets: &[SpoolTicket]);
    /// Appends an outbox write; the future resolves once it is fsynced.
    fn append_op(&self, op: &OutboxOp) -> (SpoolTicket, Durable);
    /// Reads back an appended outbox write (blocking file I/O: call it off
    /// the async threads).
    fn read_op(&self, ticket: SpoolTicket) -> StoreResult<OutboxOp>;
    /// Bytes the spool holds on disk.
    fn bytes(&self) -> u64;
    /// Is the spool's disk full? (No new connections are admitted then.)
    fn disk_full(&self) -> bool {
        false
    }
}
