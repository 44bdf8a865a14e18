//! What session actors share: storage, the bus, presence, the spool and
//! the node's session settings.

use std::sync::Arc;
use std::time::Duration;

use reel_protocol::Limits;

use crate::memory::BufferMemory;
use crate::outbox::Outbox;
use crate::recovery::Progress;
use crate::traits::{Bus, Index, PresenceStore, Spool};

/// Session behaviour a node is configured with.
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    pub limits: Limits,
    /// A tab's buffer becomes a segment once its raw bytes reach this.
    pub segment_max_bytes: u64,
    /// ... or once its oldest batch has waited this long.
    pub segment_max_age: Duration,
    /// The node's bound on bytes in segment buffers and in segments
    /// waiting for compression ([`crate::memory`]).
    pub max_buffered_bytes: u64,
    /// How often each session checks its timeouts and buffer ages.
    pub sweep_interval: Duration,
    /// This node's id, as shown in presence.
    pub node_id: String,
    /// Where the tabs' live tails are kept ([`crate::live_tail`]); `None`:
    /// none are kept, and a joining viewer waits for a fresh snapshot.
    pub live_dir: Option<std::path::PathBuf>,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            limits: Limits::default(),
            segment_max_bytes: 4 * 1024 * 1024,
            segment_max_age: Duration::from_secs(60),
            max_buffered_bytes: 512 * 1024 * 1024,
            sweep_interval: Duration::from_secs(5),
            node_id: "node".into(),
            live_dir: None,
        }
    }
}

/// What session actors share: storage, config and the registry.
pub struct Deps {
    pub index: Arc<dyn Index>,
    /// Every index and blob write goes through here.
    pub outbox: Arc<Outbox>,
    pub bus: Arc<dyn Bus>,
    /// Presence of this node's live sessions.
    pub presence: Arc<dyn PresenceStore>,
    pub spool: Arc<dyn Spool>,
    /// A restarted node's drain of its earlier run's spool.
    pub recovery: Arc<Progress>,
    /// The bound on durable batches held in memory.
    pub memory: Arc<BufferMemory>,
    pub config: SessionsConfig,
}
