//! Test doubles for the actor tests: an index, a blob store, a spool and
//! dead letters kept in memory, and the [`Deps`] a session actor runs on
//! with them, the in-process bus and the in-memory presence. The spool's
//! fsync is the test's to give ([`MemSpool::sync`]), so a test sees what
//! waits for it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use reel_protocol::api::{SessionFilter, SessionInfo, SessionPage};
use tokio::sync::watch;

use crate::bus::InProcessBus;
use crate::deps::{Deps, SessionsConfig};
use crate::memory::BufferMemory;
use crate::outbox::Outbox;
use crate::presence::InMemoryPresence;
use crate::recovery::Progress;
use crate::stats::SegmentDelta;
use crate::traits::*;

/// What the index was told.
#[derive(Debug, Default, Clone)]
pub struct Stored {
    /// Committed segments, in commit order.
    pub segments: Vec<SegmentRecord>,
    /// Ended sessions with their `ended_at`.
    pub ended: Vec<(String, i64)>,
    /// Users sessions were linked to, in order.
    pub identified: Vec<String>,
}

/// An index in memory: every session may continue from seq 0, nothing is
/// tombstoned, and what is written is kept in [`Stored`].
#[derive(Default)]
pub struct MemIndex {
    state: watch::Sender<Stored>,
    /// How long writing a session's row takes (zero: at once).
    open_takes: Mutex<Duration>,
}

impl MemIndex {
    /// What the index holds now.
    pub fn stored(&self) -> Stored {
        self.state.borrow().clone()
    }

    /// Waits until `done` holds of what the index holds.
    pub async fn until(&self, done: impl Fn(&Stored) -> bool) -> Stored {
        let mut rx = self.state.subscribe();
        // unwrap: the sender lives in `self`.
        let stored = rx.wait_for(|s| done(s)).await.unwrap().clone();
        stored
    }

    /// Makes every session row take `d` to write (a slow index).
    pub fn take_rows_in(&self, d: Duration) {
        *self.open_takes.lock().unwrap() = d;
    }

    fn change(&self, f: impl FnOnce(&mut Stored)) {
        self.state.send_modify(f);
    }
}

#[async_trait]
#[allow(unused_variables)]
impl Index for MemIndex {
    async fn check(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn site_by_key(&self, key: &str) -> StoreResult<Option<SiteRecord>> {
        unreachable!("the actor tests do not use site_by_key")
    }

    async fn site_by_id(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteRecord>> {
        unreachable!("the actor tests do not use site_by_id")
    }

    async fn sites(&self, scope: &Scope) -> StoreResult<Vec<SiteRecord>> {
        unreachable!("the actor tests do not use sites")
    }

    async fn insert_site(
        &self,
        org_id: i64,
        name: &str,
        origins: &[String],
    ) -> StoreResult<SiteRecord> {
        unreachable!("the actor tests do not use insert_site")
    }

    async fn update_site(
        &self,
        org_id: i64,
        site_id: i64,
        update: &SiteUpdate,
    ) -> StoreResult<Option<SiteRecord>> {
        unreachable!("the actor tests do not use update_site")
    }

    async fn sites_changed_since(&self, since: i64) -> StoreResult<Vec<SiteRecord>> {
        unreachable!("the actor tests do not use sites_changed_since")
    }

    async fn find_session(&self, id: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(None)
    }

    async fn open_session(&self, new: &NewSession) -> StoreResult<()> {
        let takes = *self.open_takes.lock().unwrap();
        if !takes.is_zero() {
            tokio::time::sleep(takes).await;
        }
        Ok(())
    }

    async fn tab_next_seq(&self, session_id: &str, tab_id: &str) -> StoreResult<u64> {
        Ok(0)
    }

    async fn commit_segment(&self, seg: &SegmentRecord, delta: &SegmentDelta) -> StoreResult<()> {
        self.change(|s| s.segments.push(seg.clone()));
        Ok(())
    }

    async fn identify(
        &self,
        session_id: &str,
        user_id: &str,
        traits: &BTreeMap<String, String>,
        identified_at: i64,
    ) -> StoreResult<()> {
        self.change(|s| s.identified.push(user_id.to_owned()));
        Ok(())
    }

    async fn end_session(&self, session_id: &str, ended_at: i64) -> StoreResult<()> {
        self.change(|s| s.ended.push((session_id.to_owned(), ended_at)));
        Ok(())
    }

    async fn end_stale_sessions(
        &self,
        inactive_before: i64,
        started_before: i64,
        keep: &[String],
    ) -> StoreResult<u64> {
        unreachable!("the actor tests do not use end_stale_sessions")
    }

    async fn session_info(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<SessionInfo>> {
        unreachable!("the actor tests do not use session_info")
    }

    async fn segments(&self, session_id: &str) -> StoreResult<Vec<SegmentRecord>> {
        Ok(self
            .state
            .borrow()
            .segments
            .iter()
            .filter(|s| s.session_id == session_id)
            .cloned()
            .collect())
    }

    async fn list_sessions(
        &self,
        scope: &Scope,
        site_id: i64,
        filter: &SessionFilter,
        live: &[String],
    ) -> StoreResult<SessionPage> {
        unreachable!("the actor tests do not use list_sessions")
    }

    async fn tombstone(&self, t: &Tombstone) -> StoreResult<()> {
        unreachable!("the actor tests do not use tombstone")
    }

    async fn is_tombstoned(&self, session_id: &str) -> StoreResult<bool> {
        Ok(false)
    }

    async fn tombstone_objects(&self, session_id: &str, objects: i64) -> StoreResult<()> {
        unreachable!("the actor tests do not use tombstone_objects")
    }

    async fn purge_session(&self, session_id: &str) -> StoreResult<()> {
        unreachable!("the actor tests do not use purge_session")
    }

    async fn set_pinned(&self, scope: &Scope, session_id: &str, pinned: bool) -> StoreResult<bool> {
        unreachable!("the actor tests do not use set_pinned")
    }

    async fn sessions_of(
        &self,
        site_id: i64,
        person: &reel_protocol::lifecycle::Person,
        limit: i64,
    ) -> StoreResult<Vec<SessionRef>> {
        unreachable!("the actor tests do not use sessions_of")
    }

    async fn expired_sessions(&self, now: i64, limit: i64) -> StoreResult<Vec<(SessionRef, i64)>> {
        unreachable!("the actor tests do not use expired_sessions")
    }

    async fn create_erasure(
        &self,
        org_id: i64,
        site_id: i64,
        person: &reel_protocol::lifecycle::Person,
    ) -> StoreResult<String> {
        unreachable!("the actor tests do not use create_erasure")
    }

    async fn erasure(
        &self,
        org_id: i64,
        id: &str,
    ) -> StoreResult<Option<reel_protocol::lifecycle::ErasureReceipt>> {
        unreachable!("the actor tests do not use erasure")
    }

    async fn claim_erasure(
        &self,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<Option<ErasureJob>> {
        unreachable!("the actor tests do not use claim_erasure")
    }

    async fn renew_erasure(&self, id: &str, holder: &str, until: i64) -> StoreResult<bool> {
        unreachable!("the actor tests do not use renew_erasure")
    }

    async fn finish_erasure(&self, id: &str, now: i64) -> StoreResult<()> {
        unreachable!("the actor tests do not use finish_erasure")
    }

    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        unreachable!("the actor tests do not use take_lease")
    }

    async fn site_usage(&self, scope: &Scope, site_id: i64) -> StoreResult<Option<SiteUsage>> {
        unreachable!("the actor tests do not use site_usage")
    }

    async fn add_note(
        &self,
        scope: &Scope,
        session_id: &str,
        note: &reel_protocol::notes::NewNote,
        author: &str,
        created_at: i64,
        max: usize,
    ) -> StoreResult<NoteAdded> {
        unreachable!("the actor tests do not use add_note")
    }

    async fn notes(
        &self,
        scope: &Scope,
        session_id: &str,
    ) -> StoreResult<Option<Vec<reel_protocol::notes::Note>>> {
        unreachable!("the actor tests do not use notes")
    }

    async fn maintenance(&self) -> StoreResult<Maintenance> {
        unreachable!("the actor tests do not use maintenance")
    }

    async fn set_maintenance(&self, enabled: bool, message: &str) -> StoreResult<Maintenance> {
        unreachable!("the actor tests do not use set_maintenance")
    }
}

/// A blob store in memory.
#[derive(Default)]
pub struct MemBlobs {
    objects: Mutex<HashMap<String, Bytes>>,
}

#[async_trait]
impl BlobStore for MemBlobs {
    async fn put(&self, key: &str, data: Bytes) -> StoreResult<()> {
        // unwrap: no test panics while holding the lock.
        self.objects.lock().unwrap().insert(key.to_owned(), data);
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Bytes> {
        let objects = self.objects.lock().unwrap();
        objects.get(key).cloned().ok_or(StoreError::NotFound)
    }

    async fn delete(&self, keys: &[String]) -> StoreResult<()> {
        let mut objects = self.objects.lock().unwrap();
        for k in keys {
            objects.remove(k);
        }
        Ok(())
    }

    async fn check(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// Dead letters nobody should write: the doubles refuse nothing.
pub struct NoDeadLetters;

#[async_trait]
impl DeadLetters for NoDeadLetters {
    async fn put(&self, letter: &DeadLetter) -> StoreResult<String> {
        panic!("a write was dead-lettered: {letter:?}");
    }
}

/// A spool in memory whose fsync the test gives: an append is durable
/// once [`MemSpool::sync`] ran after it (or at once, when made with
/// [`MemSpool::synced`]).
#[derive(Default)]
pub struct MemSpool {
    /// The last ticket handed out (tickets start at 1).
    appended: AtomicU64,
    /// Every ticket up to this one is durable.
    durable: watch::Sender<u64>,
    /// Every append is durable at once.
    auto: AtomicBool,
    /// Batches appended, in order.
    batches: Mutex<Vec<SpoolBatch>>,
    /// Outbox writes appended, by ticket.
    ops: Mutex<HashMap<SpoolTicket, OutboxOp>>,
}

impl MemSpool {
    /// A spool whose appends are durable at once.
    pub fn synced() -> MemSpool {
        let spool = MemSpool::default();
        spool.auto.store(true, Ordering::SeqCst);
        spool
    }

    /// Makes every append so far durable (the fsync).
    pub fn sync(&self) {
        self.durable
            .send_replace(self.appended.load(Ordering::SeqCst));
    }

    /// Seqs of the batches appended, in order.
    pub fn seqs(&self) -> Vec<u64> {
        self.batches.lock().unwrap().iter().map(|b| b.seq).collect()
    }

    fn next(&self) -> SpoolTicket {
        let ticket = self.appended.fetch_add(1, Ordering::SeqCst) + 1;
        if self.auto.load(Ordering::SeqCst) {
            self.durable.send_modify(|d| *d = (*d).max(ticket));
        }
        ticket
    }

    /// Resolves once `ticket` is durable.
    fn durable(&self, ticket: SpoolTicket) -> Durable {
        let mut rx = self.durable.subscribe();
        Box::pin(async move {
            rx.wait_for(|d| *d >= ticket)
                .await
                .map(|_| ())
                .map_err(|_| StoreError::Other("the spool is gone".into()))
        })
    }
}

impl Spool for MemSpool {
    fn append(&self, batch: &SpoolBatch) -> (SpoolTicket, Durable) {
        self.batches.lock().unwrap().push(batch.clone());
        let ticket = self.next();
        (ticket, self.durable(ticket))
    }

    fn barrier(&self) -> Durable {
        self.durable(self.appended.load(Ordering::SeqCst))
    }

    fn release(&self, _tickets: &[SpoolTicket]) {}

    fn append_op(&self, op: &OutboxOp) -> (SpoolTicket, Durable) {
        let ticket = self.next();
        self.ops.lock().unwrap().insert(ticket, op.clone());
        (ticket, self.durable(ticket))
    }

    fn read_op(&self, ticket: SpoolTicket) -> StoreResult<OutboxOp> {
        let ops = self.ops.lock().unwrap();
        ops.get(&ticket).cloned().ok_or(StoreError::NotFound)
    }

    fn bytes(&self) -> u64 {
        0
    }
}

/// A session actor's dependencies, in memory.
pub struct TestDeps {
    pub deps: Arc<Deps>,
    pub index: Arc<MemIndex>,
    pub spool: Arc<MemSpool>,
    pub bus: Arc<InProcessBus>,
    pub presence: Arc<InMemoryPresence>,
}

/// [`Deps`] on the doubles, with `config`; start it on the runtime the
/// actors run on (the outbox starts its lanes).
pub fn deps(config: SessionsConfig, spool: MemSpool) -> TestDeps {
    let index = Arc::new(MemIndex::default());
    let spool = Arc::new(spool);
    let bus = Arc::new(InProcessBus::default());
    let presence = Arc::new(InMemoryPresence::default());
    let outbox = Outbox::start(
        Arc::new(MemBlobs::default()),
        index.clone(),
        spool.clone(),
        Arc::new(NoDeadLetters),
    );
    let deps = Arc::new(Deps {
        index: index.clone(),
        outbox,
        bus: bus.clone(),
        presence: presence.clone(),
        spool: spool.clone(),
        recovery: Arc::new(Progress::default()),
        memory: BufferMemory::new(config.max_buffered_bytes),
        config,
    });
    TestDeps {
        deps,
        index,
        spool,
        bus,
        presence,
    }
}

/// A duration long enough that a wait that takes it has failed (in
/// paused time it passes at once once nothing else can run).
pub const NEVER: Duration = Duration::from_secs(24 * 3600);
