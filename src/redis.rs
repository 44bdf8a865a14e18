//! Redis, when `REEL_REDIS_URL` is set: the bus between nodes (pub/sub,
//! every message in the versioned envelope of [`crate::codec`]) and
//! presence (a key per live session with a TTL, indexed per site).
//!
//! Redis pub/sub clients are known to go silently deaf: the connection
//! looks open and nothing arrives. The subscriber therefore publishes a
//! probe to its own channel every [`PROBE_INTERVAL`]; when no probe came
//! back within [`PROBE_TIMEOUT`], it drops the connection, reconnects and
//! subscribes to everything again. A node whose bus is down keeps
//! recording; `/readyz` and `reel_bus_up` say so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use dashmap::DashMap;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use reel_actors::metric_names;
use reel_actors::traits::{Bus, BusMessage, PresenceStore, StoreError, StoreResult};
use reel_protocol::live::Presence;
use tokio::sync::{broadcast, mpsc};

use crate::codec::{decode_bus, encode_bus};

/// Every key and channel reel uses starts with this.
pub const PREFIX: &str = "reel:";
/// How often the subscriber probes itself.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// No probe back within this: the subscription is dead, reconnect.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(6);
/// A command that gets no answer within this fails (Redis down).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between reconnection attempts of the subscriber.
pub const RECONNECT_MIN: Duration = Duration::from_millis(100);
pub const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Messages kept per topic for a slow local subscriber (it learns how many
/// it lost).
pub const TOPIC_CAPACITY: usize = 1024;

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(describe("redis", &e))
}

/// `what: e`, without the user information (the password) of any URL in
/// it: this text reaches logs and `/readyz`.
fn describe(what: &str, e: &dyn std::fmt::Display) -> String {
    crate::secrets::redact(&format!("{what}: {e}"))
}

/// A client of `url`; an error never holds the URL's password.
fn client(url: &str) -> anyhow::Result<redis::Client> {
    redis::Client::open(url).map_err(|e| anyhow::anyhow!(describe("redis URL", &e)))
}

/// The Redis connection of commands: reconnects by itself.
async fn manager(client: &redis::Client) -> anyhow::Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(RESPONSE_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(RECONNECT_MAX);
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| anyhow::anyhow!(describe("redis", &e)))
}

/// What the subscriber task is asked to do.
enum SubCmd {
    Subscribe(String),
}

/// The bus over Redis pub/sub.
pub struct RedisBus {
    /// Publishes (and probes).
    publisher: ConnectionManager,
    /// Local subscribers by topic.
    topics: Arc<DashMap<String, broadcast::Sender<BusMessage>>>,
    /// To the subscriber task.
    cmd: mpsc::UnboundedSender<SubCmd>,
    /// `Ok` while the subscription delivers; else why not.
    state: Arc<Mutex<Result<(), String>>>,
}

impl RedisBus {
    /// Connects to `url` and starts the subscriber of node `node`.
    pub async fn connect(url: &str, node: &str) -> anyhow::Result<RedisBus> {
        let client = client(url)?;
        let publisher = manager(&client).await?;
        let topics: Arc<DashMap<String, broadcast::Sender<BusMessage>>> = Arc::default();
        let state = Arc::new(Mutex::new(Err("connecting".to_string())));
        let (cmd, rx) = mpsc::unbounded_channel();
        let sub = Subscriber {
            client,
            publisher: publisher.clone(),
            topics: topics.clone(),
            state: state.clone(),
            probe: format!("{PREFIX}probe:{node}"),
            nonce: AtomicU64::new(0),
        };
        tokio::spawn(sub.run(rx));
        metrics::gauge!(metric_names::BUS_UP).set(0.0);
        Ok(RedisBus {
            publisher,
            topics,
            cmd,
            state,
        })
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, topic: &str, msg: BusMessage) -> StoreResult<()> {
        let mut conn = self.publisher.clone();
        let _: i64 = conn
            .publish(format!("{PREFIX}{topic}"), encode_bus(&msg))
            .await
            .map_err(unavailable)?;
        metrics::counter!(metric_names::BUS_PUBLISHED_TOTAL).increment(1);
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<BusMessage> {
        let mut created = false;
        let rx = self
            .topics
            .entry(topic.to_owned())
            .or_insert_with(|| {
                created = true;
                broadcast::channel(TOPIC_CAPACITY).0
            })
            .subscribe();
        if created {
            // The task ends only with the node.
            let _ = self.cmd.send(SubCmd::Subscribe(topic.to_owned()));
        }
        rx
    }

    fn state(&self) -> Result<(), String> {
        // unwrap: the lock is never held across a panic.
        self.state.lock().unwrap().clone()
    }
}

/// The subscriber task's state.
struct Subscriber {
    client: redis::Client,
    publisher: ConnectionManager,
    topics: Arc<DashMap<String, broadcast::Sender<BusMessage>>>,
    state: Arc<Mutex<Result<(), String>>>,
    /// This node's probe channel.
    probe: String,
    nonce: AtomicU64,
}

impl Subscriber {
    fn set_state(&self, s: Result<(), String>) {
        let up = s.is_ok();
        // unwrap: the lock is never held across a panic.
        let mut state = self.state.lock().unwrap();
        if state.is_ok() != up {
            match &s {
                Ok(()) => tracing::info!("bus subscription up"),
                Err(e) => tracing::error!(error = %e, "bus subscription down; recording goes on"),
            }
        }
        *state = s;
        metrics::gauge!(metric_names::BUS_UP).set(if up { 1.0 } else { 0.0 });
    }

    /// Connects, subscribes, delivers; reconnects whenever that fails or
    /// the probe stops coming back.
    async fn run(self, mut cmds: mpsc::UnboundedReceiver<SubCmd>) {
        let mut wait = RECONNECT_MIN;
        loop {
            let why = self.session(&mut cmds).await;
            if cmds.is_closed() {
                return;
            }
            metrics::counter!(metric_names::BUS_RECONNECTS_TOTAL).increment(1);
            self.set_state(Err(why));
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RECONNECT_MAX);
            if self.state.lock().map(|s| s.is_ok()).unwrap_or(false) {
                wait = RECONNECT_MIN;
            }
        }
    }

    /// One subscribed connection, until it fails. Returns why.
    async fn session(&self, cmds: &mut mpsc::UnboundedReceiver<SubCmd>) -> String {
        let pubsub =
            match tokio::time::timeout(RESPONSE_TIMEOUT, self.client.get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                Ok(Err(e)) => return describe("redis", &e),
                Err(_) => return "redis: connect timed out".into(),
            };
        let (mut sink, mut stream) = pubsub.split();
        let mut channels: Vec<String> = self
            .topics
            .iter()
            .map(|t| format!("{PREFIX}{}", t.key()))
            .collect();
        channels.push(self.probe.clone());
        for ch in &channels {
            if let Err(e) = sink.subscribe(ch).await {
                return describe("redis subscribe", &e);
            }
        }
        self.set_state(Ok(()));
        let mut last_probe = Instant::now();
        let mut every = tokio::time::interval(PROBE_INTERVAL);
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { return "redis: subscription closed".into() };
                    let channel = msg.get_channel_name();
                    if channel == self.probe {
                        last_probe = Instant::now();
                        continue;
                    }
                    let Some(topic) = channel.strip_prefix(PREFIX) else { continue };
                    match decode_bus(msg.get_payload_bytes()) {
                        Ok(m) => {
                            if let Some(tx) = self.topics.get(topic) {
                                let _ = tx.send(m);
                            }
                        }
                        Err(e) => {
                            metrics::counter!(metric_names::BUS_UNDECODABLE_TOTAL).increment(1);
                            tracing::warn!(topic, error = %e, "bus message dropped");
                        }
                    }
                }
                cmd = cmds.recv() => {
                    let Some(SubCmd::Subscribe(topic)) = cmd else { return "node stopping".into() };
                    if let Err(e) = sink.subscribe(format!("{PREFIX}{topic}")).await {
                        return describe("redis subscribe", &e);
                    }
                }
                _ = every.tick() => {
                    if last_probe.elapsed() > PROBE_TIMEOUT {
                        tracing::warn!("bus subscription silent past the probe timeout, reconnecting");
                        return "redis: subscription silent (probe lost)".into();
                    }
                    let nonce = self.nonce.fetch_add(1, Ordering::Relaxed);
                    let mut conn = self.publisher.clone();
                    let _: Result<i64, _> = conn.publish(&self.probe, nonce).await;
                    // Topics nobody listens to any more are let go.
                    let idle: Vec<String> = self
                        .topics
                        .iter()
                        .filter(|t| t.value().receiver_count() == 0)
                        .map(|t| t.key().clone())
                        .collect();
                    for topic in idle {
                        if self.topics.remove_if(&topic, |_, t| t.receiver_count() == 0).is_some() {
                            let _ = sink.unsubscribe(format!("{PREFIX}{topic}")).await;
                        }
                    }
                }
            }
        }
    }
}

/// Presence in Redis: `reel:presence:{site}:{session}` holds the entry as
/// JSON with a TTL, and the sorted set `reel:presence:{site}` holds the
/// site's sessions scored by expiry (ms), so that a site's list is one
/// range query and expired members are trimmed as they are read.
pub struct RedisPresence {
    conn: ConnectionManager,
}

impl RedisPresence {
    pub async fn connect(url: &str) -> anyhow::Result<RedisPresence> {
        let client = client(url)?;
        Ok(RedisPresence {
            conn: manager(&client).await?,
        })
    }
}

fn site_key(site: i64) -> String {
    format!("{PREFIX}presence:{site}")
}

fn entry_key(site: i64, session: &str) -> String {
    format!("{PREFIX}presence:{site}:{session}")
}

#[async_trait]
impl PresenceStore for RedisPresence {
    async fn put(&self, site: i64, p: &Presence, ttl: Duration) -> StoreResult<()> {
        let json = serde_json::to_string(p).map_err(|e| StoreError::Other(e.to_string()))?;
        let expires = reel_actors::now_ms() + ttl.as_millis() as i64;
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .set_ex(entry_key(site, &p.session), json, ttl.as_secs().max(1))
            .zadd(site_key(site), &p.session, expires)
            .expire(site_key(site), ttl.as_secs().max(1) as i64)
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn remove(&self, site: i64, session: &str) -> StoreResult<()> {
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .del(entry_key(site, session))
            .zrem(site_key(site), session)
            .query_async::<()>(&mut conn)
            .await
            .map_err(unavailable)
    }

    async fn list(&self, site: i64) -> StoreResult<Vec<Presence>> {
        let mut conn = self.conn.clone();
        let now = reel_actors::now_ms();
        let _: i64 = conn
            .zrembyscore(site_key(site), "-inf", now)
            .await
            .map_err(unavailable)?;
        let sessions: Vec<String> = conn
            .zrangebyscore(site_key(site), now, "+inf")
            .await
            .map_err(unavailable)?;
        if sessions.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = sessions.iter().map(|s| entry_key(site, s)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let mut out: Vec<Presence> = values
            .into_iter()
            .flatten()
            .filter_map(|v| serde_json::from_str(&v).ok())
            .collect();
        out.sort_by(|a, b| {
            b.started_at
                .cmp(&a.started_at)
                .then(a.session.cmp(&b.session))
        });
        Ok(out)
    }
}
