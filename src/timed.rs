//! Thin timing wrappers around the index and the blob store, so that the
//! time a request spends in them is known ([`crate::http::timing`]): each
//! call made while a request's costs are in scope is charged to it (and,
//! with OTLP on, is a child span of the request's span); other calls (the
//! outbox, session actors, the compactor, background sweeps) pass straight
//! through, at the cost of one task-local look-up.
//!
//! A method added to one of these traits is added to its list here (the
//! compiler says so: the wrapper no longer implements the trait).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use reel_actors::stats::SegmentDelta;
use reel_actors::traits::{
    BlobStore, CompactionIndex, ErasureJob, FrameRecord, Index, Maintenance, NewSession, NoteAdded,
    Scope, SegmentRecord, SessionRecord, SessionRef, SiteRecord, SiteUpdate, SiteUsage,
    StoreResult, Swapped, Tombstone,
};
use reel_protocol::accounts::{AuditEntry, Invitation, Member, Role, TokenInfo};
use reel_protocol::api::{SessionFilter, SessionInfo, SessionPage};
use tracing::Instrument;

use crate::accounts::store::{
    Access, InvitationRecord, InvitationRefusal, LoginRecord, NewAudit, TokenLookup, UserRecord,
};
use crate::accounts::AccountStore;
use crate::http::timing::{self, Store};

/// A store whose calls are charged to the request being served.
pub struct Timed<T: ?Sized> {
    inner: Arc<T>,
}

/// The index's three faces (sessions, accounts, compaction), timed.
pub fn index_parts(
    (index, accounts, compaction): (
        Arc<dyn Index>,
        Arc<dyn AccountStore>,
        Arc<dyn CompactionIndex>,
    ),
) -> (
    Arc<dyn Index>,
    Arc<dyn AccountStore>,
    Arc<dyn CompactionIndex>,
) {
    (
        Arc::new(Timed { inner: index }),
        Arc::new(Timed { inner: accounts }),
        Arc::new(Timed { inner: compaction }),
    )
}

/// The blob store, timed.
pub fn blob_store(inner: Arc<dyn BlobStore>) -> Arc<dyn BlobStore> {
    Arc::new(Timed { inner })
}

/// Awaits `call` (operation `op` on `store`), charging its time to the
/// request being served, if any.
pub async fn timed<F: Future>(store: Store, op: &'static str, call: F) -> F::Output {
    let Some(costs) = timing::current() else {
        return call.await;
    };
    let span = crate::otlp::store_span(store, op);
    let started = Instant::now();
    let out = call.instrument(span).await;
    costs.charge(store, started.elapsed());
    out
}

/// Implements `$trait` for `Timed<dyn $trait>`: every method forwards to
/// the inner store through [`timed`] as an index call.
macro_rules! timed_index {
    ($trait:ident { $( fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty; )* }) => {
        #[async_trait]
        #[allow(clippy::too_many_arguments)]
        impl $trait for Timed<dyn $trait> {
            $(
                async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    timed(Store::Index, stringify!($name), self.inner.$name($($arg),*)).await
                }
            )*
        }
    };
}

timed_index!(Index {
    fn check() -> StoreResult<()>;
    fn site_by_key(key: &str) -> StoreResult<Option<SiteRecord>>;
    fn site_by_id(scope: &Scope, site_id: i64) -> StoreResult<Option<SiteRecord>>;
    fn sites(scope: &Scope) -> StoreResult<Vec<SiteRecord>>;
    fn insert_site(org_id: i64, name: &str, origins: &[String]) -> StoreResult<SiteRecord>;
    fn update_site(org_id: i64, site_id: i64, update: &SiteUpdate) -> StoreResult<Option<SiteRecord>>;
    fn sites_changed_since(since: i64) -> StoreResult<Vec<SiteRecord>>;
    fn find_session(id: &str) -> StoreResult<Option<SessionRecord>>;
    fn open_session(new: &NewSession) -> StoreResult<()>;
    fn tab_next_seq(session_id: &str, tab_id: &str) -> StoreResult<u64>;
    fn commit_segment(seg: &SegmentRecord, delta: &SegmentDelta) -> StoreResult<()>;
    fn identify(session_id: &str, user_id: &str, traits: &BTreeMap<String, String>, identified_at: i64) -> StoreResult<()>;
    fn end_session(session_id: &str, ended_at: i64) -> StoreResult<()>;
    fn end_stale_sessions(inactive_before: i64, started_before: i64, keep: &[String]) -> StoreResult<u64>;
    fn session_info(scope: &Scope, session_id: &str) -> StoreResult<Option<SessionInfo>>;
    fn segments(session_id: &str) -> StoreResult<Vec<SegmentRecord>>;
    fn list_sessions(scope: &Scope, site_id: i64, filter: &SessionFilter, live: &[String]) -> StoreResult<SessionPage>;
    fn tombstone(t: &Tombstone) -> StoreResult<()>;
    fn is_tombstoned(session_id: &str) -> StoreResult<bool>;
    fn tombstone_objects(session_id: &str, objects: i64) -> StoreResult<()>;
    fn purge_session(session_id: &str) -> StoreResult<()>;
    fn set_pinned(scope: &Scope, session_id: &str, pinned: bool) -> StoreResult<bool>;
    fn sessions_of(site_id: i64, person: &reel_protocol::lifecycle::Person, limit: i64) -> StoreResult<Vec<SessionRef>>;
    fn expired_sessions(now: i64, limit: i64) -> StoreResult<Vec<(SessionRef, i64)>>;
    fn create_erasure(org_id: i64, site_id: i64, person: &reel_protocol::lifecycle::Person) -> StoreResult<String>;
    fn erasure(org_id: i64, id: &str) -> StoreResult<Option<reel_protocol::lifecycle::ErasureReceipt>>;
    fn claim_erasure(holder: &str, now: i64, until: i64) -> StoreResult<Option<ErasureJob>>;
    fn renew_erasure(id: &str, holder: &str, until: i64) -> StoreResult<bool>;
    fn finish_erasure(id: &str, now: i64) -> StoreResult<()>;
    fn take_lease(name: &str, holder: &str, now: i64, until: i64) -> StoreResult<bool>;
    fn site_usage(scope: &Scope, site_id: i64) -> StoreResult<Option<SiteUsage>>;
    fn add_note(scope: &Scope, session_id: &str, note: &reel_protocol::notes::NewNote, author: &str, created_at: i64, max: usize) -> StoreResult<NoteAdded>;
    fn notes(scope: &Scope, session_id: &str) -> StoreResult<Option<Vec<reel_protocol::notes::Note>>>;
    fn maintenance() -> StoreResult<Maintenance>;
    fn set_maintenance(enabled: bool, message: &str) -> StoreResult<Maintenance>;
});

timed_index!(CompactionIndex {
    fn compaction_candidates(ended_before: i64, quiet_before: i64, limit: i64) -> StoreResult<Vec<String>>;
    fn doom(session_id: &str, key: &str, delete_after: i64) -> StoreResult<()>;
    fn swap_compacted(old: &[SegmentRecord], new: &SegmentRecord, frames: &[FrameRecord], fresh_after: i64, old_delete_after: i64) -> StoreResult<Swapped>;
    fn mark_compacted(session_id: &str, rows: i64, now: i64) -> StoreResult<()>;
    fn frames(blob_key: &str) -> StoreResult<Vec<FrameRecord>>;
    fn due_doomed(now: i64, limit: i64) -> StoreResult<Vec<String>>;
    fn forget_doomed(keys: &[String]) -> StoreResult<()>;
});

timed_index!(AccountStore {
    fn org_by_name(name: &str) -> StoreResult<i64>;
    fn user_by_email(email: &str) -> StoreResult<Option<UserRecord>>;
    fn create_user(org_id: i64, email: &str, name: &str, password_hash: &str, role: Role, sites: Option<&[i64]>) -> StoreResult<Option<i64>>;
    fn set_password(email: &str, password_hash: &str) -> StoreResult<bool>;
    fn access(user_id: i64, org_id: i64) -> StoreResult<Option<Access>>;
    fn members(org_id: i64) -> StoreResult<Vec<Member>>;
    fn update_member(org_id: i64, user_id: i64, role: Role, sites: Option<&[i64]>) -> StoreResult<bool>;
    fn remove_member(org_id: i64, user_id: i64, now: i64) -> StoreResult<bool>;
    fn create_login(id_hash: &str, user_id: i64, org_id: i64, now: i64, expires_at: i64) -> StoreResult<()>;
    fn login(id_hash: &str, now: i64, idle_ms: i64, touch_ms: i64) -> StoreResult<Option<LoginRecord>>;
    fn revoke_login(id_hash: &str, now: i64) -> StoreResult<()>;
    fn create_token(org_id: i64, name: &str, role: Role, token_hash: &str, now: i64, expires_at: Option<i64>) -> StoreResult<i64>;
    fn token_by_hash(hash: &str, now: i64) -> StoreResult<TokenLookup>;
    fn tokens(org_id: Option<i64>) -> StoreResult<Vec<TokenInfo>>;
    fn revoke_token(org_id: Option<i64>, id: i64, now: i64) -> StoreResult<bool>;
    fn create_invitation(org_id: i64, email: &str, role: Role, sites: Option<&[i64]>, code_hash: &str, created_by: &str, now: i64, expires_at: i64) -> StoreResult<i64>;
    fn invitations(org_id: i64) -> StoreResult<Vec<Invitation>>;
    fn revoke_invitation(org_id: i64, id: i64, now: i64) -> StoreResult<bool>;
    fn accept_invitation(code_hash: &str, name: &str, password_hash: &str, now: i64) -> StoreResult<Result<(InvitationRecord, i64), InvitationRefusal>>;
    fn audit(entry: &NewAudit, now: i64) -> StoreResult<()>;
    fn audit_once(entry: &NewAudit, now: i64, since: i64) -> StoreResult<()>;
    fn audit_page(org_id: i64, before: Option<i64>, limit: u32) -> StoreResult<Vec<(i64, AuditEntry)>>;
});

#[async_trait]
impl BlobStore for Timed<dyn BlobStore> {
    async fn put(&self, key: &str, data: Bytes) -> StoreResult<()> {
        timed(Store::Blob, "put", self.inner.put(key, data)).await
    }
    async fn get(&self, key: &str) -> StoreResult<Bytes> {
        timed(Store::Blob, "get", self.inner.get(key)).await
    }
    async fn get_from(&self, key: &str, offset: u64) -> StoreResult<Bytes> {
        timed(Store::Blob, "get_from", self.inner.get_from(key, offset)).await
    }
    async fn delete(&self, keys: &[String]) -> StoreResult<()> {
        timed(Store::Blob, "delete", self.inner.delete(keys)).await
    }
    async fn check(&self) -> StoreResult<()> {
        timed(Store::Blob, "check", self.inner.check()).await
    }
    /// Signing is local (no request to the store): not charged.
    async fn presign_get(&self, key: &str) -> StoreResult<Option<String>> {
        self.inner.presign_get(key).await
    }
}
