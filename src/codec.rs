//! The one place bincode (pinned `=2.0.1`) is used: payloads of the local
//! spool's records (framed by [`crate::spool::record`]), and the envelope
//! of messages between nodes on the bus. Recordings in the blob store are
//! zstd NDJSON, never bincode.
//!
//! Every payload starts with a version byte. Spool payloads: version 1
//! holds a bare `SpoolBatch` (spools written before the outbox, still
//! read), version 2 a spool record whose segments have no batch ends
//! (still read), version 3 a spool record whose batch stats and segment
//! deltas have no signals (still read), version 4 a spool record. Bus
//! envelopes: version 1 (presence without signals, still read; messages
//! that hold no presence are still written as version 1, their encoding
//! did not change), version 2.

use std::collections::BTreeMap;

use reel_actors::stats::{BatchStats, InputSpan, SegmentDelta};
use reel_actors::traits::{BusMessage, NewSession, OutboxOp, SegmentRecord, SpoolBatch};
use reel_protocol::live::Presence;
use serde::{Deserialize, Serialize};

/// One record of the spool.
#[derive(Debug, Clone, PartialEq)]
pub enum SpoolRecord {
    /// An acked batch not yet in a segment in storage.
    Batch(SpoolBatch),
    /// A write waiting in the outbox.
    Op(OutboxOp),
}

/// [`SpoolRecord`] by reference, for encoding without a copy.
#[derive(Debug, Clone, Copy)]
pub enum SpoolRecordRef<'a> {
    Batch(&'a SpoolBatch),
    Op(&'a OutboxOp),
}

/// Version byte of a spool payload holding a bare batch (still read).
pub const SPOOL_VERSION_BATCH: u8 = 1;
/// Version byte of spool payloads written before segment records held
/// their batch ends (still read).
pub const SPOOL_VERSION_V2: u8 = 2;
/// Version byte of spool payloads written before batch stats and segment
/// deltas held signals (still read).
pub const SPOOL_VERSION_V3: u8 = 3;
/// Version byte of spool payloads written now.
pub const SPOOL_VERSION: u8 = 4;
/// Version byte of bus envelopes written before presence held signals:
/// still read, and still written for messages without a presence (their
/// encoding is the same), so that nodes of the previous version keep
/// getting them during a rolling upgrade.
pub const BUS_VERSION_V1: u8 = 1;
/// Version byte of bus envelopes. A node drops envelopes of a version it
/// does not know (and counts them), so nodes of two versions can share a
/// bus during a rolling upgrade.
pub const BUS_VERSION: u8 = 2;

/// Why a payload could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("unknown payload version {0}")]
    Version(u8),
    #[error("undecodable payload: {0}")]
    Decode(String),
}

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The bincode form of a spool record: same encoding as [`SpoolRecord`].
#[derive(Serialize)]
enum WireRef<'a> {
    Batch(&'a SpoolBatch),
    Op(&'a OutboxOp),
}

#[derive(Deserialize)]
enum Wire {
    Batch(SpoolBatch),
    Op(OutboxOp),
}

/// A version 3 spool record: [`Wire`] as it was before [`BatchStats`] and
/// [`SegmentDelta`] gained `signals`. bincode is not self-describing, so
/// the old shape is spelled out here (same variants, same order) and
/// converted (without signals).
#[derive(Deserialize)]
enum WireV3 {
    Batch(SpoolBatchV3),
    Op(OutboxOpV3),
}

#[derive(Deserialize)]
struct SpoolBatchV3 {
    site_id: i64,
    session_id: String,
    session_started_at: i64,
    tab_id: String,
    seq: u64,
    received_at: i64,
    #[serde(deserialize_with = "byte_buf")]
    ndjson: Vec<u8>,
    stats: BatchStatsV3,
}

#[derive(Deserialize)]
struct BatchStatsV3 {
    events: u64,
    raw_bytes: u64,
    page_loads: u64,
    clicks: u64,
    keypresses: u64,
    console_errors: u64,
    urls: Vec<(String, i64)>,
    first_ts: i64,
    last_ts: i64,
    input: Option<InputSpan>,
}

#[derive(Deserialize)]
struct SegmentDeltaV3 {
    events: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    page_loads: u64,
    clicks: u64,
    keypresses: u64,
    console_errors: u64,
    active_ms: i64,
    urls: Vec<(String, i64)>,
    last_activity_at: i64,
}

#[derive(Deserialize)]
enum OutboxOpV3 {
    OpenSession(NewSession),
    Segment {
        record: SegmentRecord,
        delta: SegmentDeltaV3,
        #[serde(deserialize_with = "byte_buf")]
        blob: Vec<u8>,
    },
    Identify {
        session_id: String,
        user_id: String,
        traits: BTreeMap<String, String>,
    },
    EndSession {
        session_id: String,
        ended_at: i64,
    },
    IdentifyAt {
        session_id: String,
        user_id: String,
        traits: BTreeMap<String, String>,
        identified_at: i64,
    },
}

impl From<SpoolBatchV3> for SpoolBatch {
    fn from(b: SpoolBatchV3) -> SpoolBatch {
        let s = b.stats;
        SpoolBatch {
            site_id: b.site_id,
            session_id: b.session_id,
            session_started_at: b.session_started_at,
            tab_id: b.tab_id,
            seq: b.seq,
            received_at: b.received_at,
            ndjson: b.ndjson,
            stats: BatchStats {
                events: s.events,
                raw_bytes: s.raw_bytes,
                page_loads: s.page_loads,
                clicks: s.clicks,
                keypresses: s.keypresses,
                console_errors: s.console_errors,
                typing: Vec::new(),
                urls: s.urls,
                first_ts: s.first_ts,
                last_ts: s.last_ts,
                input: s.input,
                signals: Default::default(),
            },
        }
    }
}

impl From<SegmentDeltaV3> for SegmentDelta {
    fn from(d: SegmentDeltaV3) -> SegmentDelta {
        SegmentDelta {
            events: d.events,
            raw_bytes: d.raw_bytes,
            stored_bytes: d.stored_bytes,
            page_loads: d.page_loads,
            clicks: d.clicks,
            keypresses: d.keypresses,
            console_errors: d.console_errors,
            active_ms: d.active_ms,
            urls: d.urls,
            last_activity_at: d.last_activity_at,
            signals: Default::default(),
        }
    }
}

impl From<OutboxOpV3> for OutboxOp {
    fn from(op: OutboxOpV3) -> OutboxOp {
        match op {
            OutboxOpV3::OpenSession(n) => OutboxOp::OpenSession(n),
            OutboxOpV3::Segment {
                record,
                delta,
                blob,
            } => OutboxOp::Segment {
                record,
                delta: delta.into(),
                blob: blob.into(),
            },
            OutboxOpV3::Identify {
                session_id,
                user_id,
                traits,
            } => OutboxOp::Identify {
                session_id,
                user_id,
                traits,
            },
            OutboxOpV3::EndSession {
                session_id,
                ended_at,
            } => OutboxOp::EndSession {
                session_id,
                ended_at,
            },
            OutboxOpV3::IdentifyAt {
                session_id,
                user_id,
                traits,
                identified_at,
            } => OutboxOp::IdentifyAt {
                session_id,
                user_id,
                traits,
                identified_at,
            },
        }
    }
}

/// A version 2 spool record: [`WireV3`] as it was before [`SegmentRecord`]
/// gained `batch_ends`, spelled out and converted likewise.
#[derive(Deserialize)]
enum WireV2 {
    Batch(SpoolBatchV3),
    Op(OutboxOpV2),
}

#[derive(Deserialize)]
enum OutboxOpV2 {
    OpenSession(NewSession),
    Segment {
        record: SegmentRecordV2,
        delta: SegmentDeltaV3,
        #[serde(deserialize_with = "byte_buf")]
        blob: Vec<u8>,
    },
    Identify {
        session_id: String,
        user_id: String,
        traits: BTreeMap<String, String>,
    },
    EndSession {
        session_id: String,
        ended_at: i64,
    },
}

#[derive(Deserialize)]
struct SegmentRecordV2 {
    session_id: String,
    tab_id: String,
    first_seq: u64,
    last_seq: u64,
    first_ts: i64,
    last_ts: i64,
    event_count: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    blob_key: String,
    received_at: i64,
}

/// Reads bytes encoded as serde bytes (as `serde_bytes` writes them).
fn byte_buf<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Bytes;
    impl<'de> serde::de::Visitor<'de> for Bytes {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
    }
    d.deserialize_byte_buf(Bytes)
}

impl From<OutboxOpV2> for OutboxOp {
    fn from(op: OutboxOpV2) -> OutboxOp {
        match op {
            OutboxOpV2::OpenSession(n) => OutboxOp::OpenSession(n),
            OutboxOpV2::Segment {
                record: r,
                delta,
                blob,
            } => OutboxOp::Segment {
                record: SegmentRecord {
                    session_id: r.session_id,
                    tab_id: r.tab_id,
                    first_seq: r.first_seq,
                    last_seq: r.last_seq,
                    first_ts: r.first_ts,
                    last_ts: r.last_ts,
                    event_count: r.event_count,
                    raw_bytes: r.raw_bytes,
                    stored_bytes: r.stored_bytes,
                    blob_key: r.blob_key,
                    received_at: r.received_at,
                    // Unknown: read as a segment stored before batch ends.
                    batch_ends: Vec::new(),
                },
                delta: delta.into(),
                blob: blob.into(),
            },
            OutboxOpV2::Identify {
                session_id,
                user_id,
                traits,
            } => OutboxOp::Identify {
                session_id,
                user_id,
                traits,
            },
            OutboxOpV2::EndSession {
                session_id,
                ended_at,
            } => OutboxOp::EndSession {
                session_id,
                ended_at,
            },
        }
    }
}

/// The payload of a spool record: `[version][bincode]`.
pub fn encode_spool(record: SpoolRecordRef<'_>) -> Vec<u8> {
    let mut payload = Vec::with_capacity(payload_hint(record));
    encode_spool_into(record, &mut payload);
    payload
}

/// Bytes a record's payload needs, about: its batch's or blob's bytes and
/// room for the rest.
pub fn payload_hint(record: SpoolRecordRef<'_>) -> usize {
    let bytes = match record {
        SpoolRecordRef::Batch(b) => b.ndjson.len(),
        SpoolRecordRef::Op(OutboxOp::Segment { blob, .. }) => blob.len(),
        SpoolRecordRef::Op(_) => 0,
    };
    bytes + 256
}

/// Appends a spool record's payload to `out`. The batch's NDJSON (or the
/// segment's blob) is serde bytes: bincode 2 writes its length, then the
/// bytes with one copy (`Encode for [u8]`), never a byte at a time.
pub fn encode_spool_into(record: SpoolRecordRef<'_>, out: &mut Vec<u8>) {
    let wire = match record {
        SpoolRecordRef::Batch(b) => WireRef::Batch(b),
        SpoolRecordRef::Op(op) => WireRef::Op(op),
    };
    out.push(SPOOL_VERSION);
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(&wire, out, config()).unwrap();
}

/// Decodes a spool record's payload.
pub fn decode_spool(payload: &[u8]) -> Result<SpoolRecord, CodecError> {
    let decode_err = |e: bincode::error::DecodeError| CodecError::Decode(e.to_string());
    match payload.first() {
        Some(&SPOOL_VERSION) => {
            let (wire, _): (Wire, _) =
                bincode::serde::decode_from_slice(&payload[1..], config()).map_err(decode_err)?;
            Ok(match wire {
                Wire::Batch(b) => SpoolRecord::Batch(b),
                Wire::Op(op) => SpoolRecord::Op(op),
            })
        }
        Some(&SPOOL_VERSION_V3) => {
            let (wire, _): (WireV3, _) =
                bincode::serde::decode_from_slice(&payload[1..], config()).map_err(decode_err)?;
            Ok(match wire {
                WireV3::Batch(b) => SpoolRecord::Batch(b.into()),
                WireV3::Op(op) => SpoolRecord::Op(op.into()),
            })
        }
        Some(&SPOOL_VERSION_V2) => {
            let (wire, _): (WireV2, _) =
                bincode::serde::decode_from_slice(&payload[1..], config()).map_err(decode_err)?;
            Ok(match wire {
                WireV2::Batch(b) => SpoolRecord::Batch(b.into()),
                WireV2::Op(op) => SpoolRecord::Op(op.into()),
            })
        }
        Some(&SPOOL_VERSION_BATCH) => Ok(SpoolRecord::Batch(
            bincode::serde::decode_from_slice::<SpoolBatchV3, _>(&payload[1..], config())
                .map_err(decode_err)?
                .0
                .into(),
        )),
        Some(&v) => Err(CodecError::Version(v)),
        None => Err(CodecError::Decode("empty payload".into())),
    }
}

/// A bus message as it travels between nodes: `[version][bincode]`.
/// Messages without a presence are encoded as in version 1 and say so.
pub fn encode_bus(msg: &BusMessage) -> Vec<u8> {
    let version = match msg {
        BusMessage::PresenceJoin { .. } | BusMessage::PresenceUpdate { .. } => BUS_VERSION,
        _ => BUS_VERSION_V1,
    };
    let mut out = vec![version];
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(msg, &mut out, config()).unwrap();
    out
}

/// Decodes a bus envelope.
pub fn decode_bus(buf: &[u8]) -> Result<BusMessage, CodecError> {
    let decode_err = |e: bincode::error::DecodeError| CodecError::Decode(e.to_string());
    match buf.first() {
        Some(&BUS_VERSION) => bincode::serde::decode_from_slice(&buf[1..], config())
            .map(|(m, _)| m)
            .map_err(decode_err),
        Some(&BUS_VERSION_V1) => {
            bincode::serde::decode_from_slice::<BusMessageV1, _>(&buf[1..], config())
                .map(|(m, _)| m.into())
                .map_err(decode_err)
        }
        Some(&v) => Err(CodecError::Version(v)),
        None => Err(CodecError::Decode("empty envelope".into())),
    }
}

/// A version 1 bus message: [`BusMessage`] as it was before [`Presence`]
/// gained `signals` (same variants, same order), converted without them.
#[derive(Deserialize)]
enum BusMessageV1 {
    PresenceJoin {
        site: i64,
        presence: PresenceV1,
    },
    PresenceUpdate {
        site: i64,
        presence: PresenceV1,
    },
    PresenceLeave {
        site: i64,
        session: String,
    },
    WatchRequest {
        session: String,
        fresh: bool,
    },
    LiveEvents {
        session: String,
        tab: String,
        #[serde(deserialize_with = "byte_buf")]
        ndjson: Vec<u8>,
    },
    WatchEnded {
        session: String,
        reason: String,
    },
    Probe {
        node: String,
        nonce: u64,
    },
    Maintenance {
        on: bool,
        message: String,
    },
    SiteChanged {
        site: i64,
    },
    SessionDeleted {
        session: String,
    },
    FlagsChanged,
}

#[derive(Deserialize)]
struct PresenceV1 {
    session: String,
    visitor: String,
    user_id: Option<String>,
    url: String,
    title: String,
    device: String,
    browser: String,
    os: String,
    started_at: i64,
    last_activity_at: i64,
    node: String,
}

impl From<PresenceV1> for Presence {
    fn from(p: PresenceV1) -> Presence {
        Presence {
            session: p.session,
            visitor: p.visitor,
            user_id: p.user_id,
            url: p.url,
            title: p.title,
            device: p.device,
            browser: p.browser,
            os: p.os,
            started_at: p.started_at,
            last_activity_at: p.last_activity_at,
            node: p.node,
            signals: Default::default(),
        }
    }
}

impl From<BusMessageV1> for BusMessage {
    fn from(m: BusMessageV1) -> BusMessage {
        match m {
            BusMessageV1::PresenceJoin { site, presence } => BusMessage::PresenceJoin {
                site,
                presence: presence.into(),
            },
            BusMessageV1::PresenceUpdate { site, presence } => BusMessage::PresenceUpdate {
                site,
                presence: presence.into(),
            },
            BusMessageV1::PresenceLeave { site, session } => {
                BusMessage::PresenceLeave { site, session }
            }
            BusMessageV1::WatchRequest { session, fresh } => {
                BusMessage::WatchRequest { session, fresh }
            }
            BusMessageV1::LiveEvents {
                session,
                tab,
                ndjson,
            } => BusMessage::LiveEvents {
                session,
                tab,
                ndjson,
            },
            BusMessageV1::WatchEnded { session, reason } => {
                BusMessage::WatchEnded { session, reason }
            }
            BusMessageV1::Probe { node, nonce } => BusMessage::Probe { node, nonce },
            BusMessageV1::Maintenance { on, message } => BusMessage::Maintenance { on, message },
            BusMessageV1::SiteChanged { site } => BusMessage::SiteChanged { site },
            BusMessageV1::SessionDeleted { session } => BusMessage::SessionDeleted { session },
            BusMessageV1::FlagsChanged => BusMessage::FlagsChanged,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use reel_actors::stats::BatchStats;

    /// A batch with a URL in its counters, shared with the spool's record tests.
    pub(crate) fn batch_at(seq: u64) -> SpoolBatch {
        SpoolBatch {
            site_id: 3,
            session_id: "s".into(),
            session_started_at: 1_700_000_000_000,
            tab_id: "t".into(),
            seq,
            received_at: 5,
            ndjson: b"{\"type\":4}\n".to_vec(),
            stats: BatchStats {
                events: 1,
                urls: vec![("https://a/".into(), 1)],
                ..BatchStats::default()
            },
        }
    }

    fn batch() -> SpoolBatch {
        batch_at(u64::MAX)
    }

    #[test]
    fn spool_payloads_round_trip() {
        let b = batch();
        let payload = encode_spool(SpoolRecordRef::Batch(&b));
        assert_eq!(payload[0], SPOOL_VERSION);
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Batch(b));
        let mut future = payload.clone();
        future[0] = 9;
        assert_eq!(decode_spool(&future).unwrap_err(), CodecError::Version(9));
    }

    #[test]
    fn bus_envelopes_round_trip_and_unknown_versions_are_refused() {
        let msg = BusMessage::LiveEvents {
            session: "s".into(),
            tab: "t".into(),
            ndjson: b"{\"type\":2}\n".to_vec(),
        };
        let env = encode_bus(&msg);
        assert_eq!(decode_bus(&env).unwrap(), msg);
        let mut future = env.clone();
        future[0] = 9;
        assert_eq!(decode_bus(&future).unwrap_err(), CodecError::Version(9));
        assert!(decode_bus(&env[..env.len() - 1]).is_err());
    }

    fn segment_op() -> OutboxOp {
        OutboxOp::Segment {
            record: SegmentRecord {
                session_id: "s".into(),
                tab_id: "t".into(),
                first_seq: 30,
                last_seq: 32,
                first_ts: 1,
                last_ts: 2,
                event_count: 3,
                raw_bytes: 33,
                stored_bytes: 20,
                blob_key: "1/1970-01-01/s/t/00000000000000000030.ndjson.zst".into(),
                received_at: 5,
                batch_ends: vec![11, 22, 33],
            },
            delta: SegmentDelta {
                events: 3,
                ..SegmentDelta::default()
            },
            blob: vec![1, 2, 3].into(),
        }
    }

    #[test]
    fn segment_ops_round_trip_with_their_batch_ends() {
        let op = segment_op();
        let payload = encode_spool(SpoolRecordRef::Op(&op));
        assert_eq!(payload[0], SPOOL_VERSION);
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(op));
    }

    /// A batch as a version 3 (and 2, and 1) node encoded it: stats
    /// without signals.
    #[derive(Serialize)]
    struct BatchV3<'a> {
        site_id: i64,
        session_id: &'a str,
        session_started_at: i64,
        tab_id: &'a str,
        seq: u64,
        received_at: i64,
        #[serde(serialize_with = "vec_as_bytes")]
        ndjson: &'a Vec<u8>,
        stats: StatsV3<'a>,
    }

    #[derive(Serialize)]
    struct StatsV3<'a> {
        events: u64,
        raw_bytes: u64,
        page_loads: u64,
        clicks: u64,
        keypresses: u64,
        console_errors: u64,
        urls: &'a Vec<(String, i64)>,
        first_ts: i64,
        last_ts: i64,
        input: Option<InputSpan>,
    }

    fn vec_as_bytes<S: serde::Serializer>(b: &&Vec<u8>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    fn batch_v3(b: &SpoolBatch) -> BatchV3<'_> {
        let s = &b.stats;
        BatchV3 {
            site_id: b.site_id,
            session_id: &b.session_id,
            session_started_at: b.session_started_at,
            tab_id: &b.tab_id,
            seq: b.seq,
            received_at: b.received_at,
            ndjson: &b.ndjson,
            stats: StatsV3 {
                events: s.events,
                raw_bytes: s.raw_bytes,
                page_loads: s.page_loads,
                clicks: s.clicks,
                keypresses: s.keypresses,
                console_errors: s.console_errors,
                urls: &s.urls,
                first_ts: s.first_ts,
                last_ts: s.last_ts,
                input: s.input,
            },
        }
    }

    /// A segment delta as a version 3 (and 2) node encoded it.
    #[derive(Serialize)]
    struct DeltaV3<'a> {
        events: u64,
        raw_bytes: u64,
        stored_bytes: u64,
        page_loads: u64,
        clicks: u64,
        keypresses: u64,
        console_errors: u64,
        active_ms: i64,
        urls: &'a Vec<(String, i64)>,
        last_activity_at: i64,
    }

    fn delta_v3(d: &SegmentDelta) -> DeltaV3<'_> {
        DeltaV3 {
            events: d.events,
            raw_bytes: d.raw_bytes,
            stored_bytes: d.stored_bytes,
            page_loads: d.page_loads,
            clicks: d.clicks,
            keypresses: d.keypresses,
            console_errors: d.console_errors,
            active_ms: d.active_ms,
            urls: &d.urls,
            last_activity_at: d.last_activity_at,
        }
    }

    /// The shape a version 3 node wrote, encoded as it encoded it.
    #[derive(Serialize)]
    enum WriteV3<'a> {
        Batch(BatchV3<'a>),
        Op(OpV3<'a>),
    }

    #[derive(Serialize)]
    #[allow(dead_code)]
    enum OpV3<'a> {
        OpenSession(&'a NewSession),
        Segment {
            record: &'a SegmentRecord,
            delta: DeltaV3<'a>,
            #[serde(serialize_with = "as_bytes")]
            blob: &'a [u8],
        },
        Identify {
            session_id: &'a str,
            user_id: &'a str,
            traits: &'a BTreeMap<String, String>,
        },
        EndSession {
            session_id: &'a str,
            ended_at: i64,
        },
        IdentifyAt {
            session_id: &'a str,
            user_id: &'a str,
            traits: &'a BTreeMap<String, String>,
            identified_at: i64,
        },
    }

    #[test]
    fn version_three_records_are_still_read_without_signals() {
        let OutboxOp::Segment {
            record,
            mut delta,
            blob,
        } = segment_op()
        else {
            unreachable!()
        };
        delta.urls = vec![("https://a/".into(), 9)];
        let old = WriteV3::Op(OpV3::Segment {
            record: &record,
            delta: delta_v3(&delta),
            blob: &blob,
        });
        let mut payload = vec![SPOOL_VERSION_V3];
        bincode::serde::encode_into_std_write(&old, &mut payload, config()).unwrap();
        let expected = OutboxOp::Segment {
            record: record.clone(),
            delta: delta.clone(),
            blob: blob.clone(),
        };
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(expected));
        let traits = BTreeMap::from([("plan".to_string(), "pro".to_string())]);
        let mut payload = vec![SPOOL_VERSION_V3];
        let old = WriteV3::Op(OpV3::IdentifyAt {
            session_id: "s",
            user_id: "u",
            traits: &traits,
            identified_at: 7,
        });
        bincode::serde::encode_into_std_write(&old, &mut payload, config()).unwrap();
        assert_eq!(
            decode_spool(&payload).unwrap(),
            SpoolRecord::Op(OutboxOp::IdentifyAt {
                session_id: "s".into(),
                user_id: "u".into(),
                traits,
                identified_at: 7,
            })
        );
        let mut payload = vec![SPOOL_VERSION_V3];
        bincode::serde::encode_into_std_write(
            WriteV3::Batch(batch_v3(&batch())),
            &mut payload,
            config(),
        )
        .unwrap();
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Batch(batch()));
    }

    #[test]
    fn signals_round_trip_in_version_four() {
        let mut b = batch();
        b.stats.signals = reel_actors::stats::SignalDelta {
            failed_requests: 2,
            rage_clicks: 1,
            dead_clicks: 3,
            track_events: vec!["signup".into()],
            error_texts: vec!["boom".into()],
        };
        let payload = encode_spool(SpoolRecordRef::Batch(&b));
        assert_eq!(payload[0], 4);
        assert_eq!(
            decode_spool(&payload).unwrap(),
            SpoolRecord::Batch(b.clone())
        );
        let OutboxOp::Segment {
            record,
            mut delta,
            blob,
        } = segment_op()
        else {
            unreachable!()
        };
        delta.signals = b.stats.signals.clone();
        let op = OutboxOp::Segment {
            record,
            delta,
            blob,
        };
        let payload = encode_spool(SpoolRecordRef::Op(&op));
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(op));
    }

    fn presence() -> Presence {
        Presence {
            session: "s".into(),
            visitor: "v".into(),
            user_id: Some("u".into()),
            url: "https://a/".into(),
            title: "A".into(),
            device: "desktop".into(),
            browser: "Chrome".into(),
            os: "Linux".into(),
            started_at: 1,
            last_activity_at: 2,
            node: "n".into(),
            signals: Default::default(),
        }
    }

    #[test]
    fn presence_travels_with_its_signals_and_version_one_presence_is_still_read() {
        let mut p = presence();
        p.signals.rage_clicks = 2;
        p.signals.failed_requests = 1;
        let msg = BusMessage::PresenceUpdate {
            site: 3,
            presence: p,
        };
        let env = encode_bus(&msg);
        assert_eq!(env[0], BUS_VERSION);
        assert_eq!(decode_bus(&env).unwrap(), msg);
        /// `Presence` as a version 1 node encoded it.
        #[derive(Serialize)]
        struct PresenceV1Out<'a> {
            session: &'a str,
            visitor: &'a str,
            user_id: Option<&'a str>,
            url: &'a str,
            title: &'a str,
            device: &'a str,
            browser: &'a str,
            os: &'a str,
            started_at: i64,
            last_activity_at: i64,
            node: &'a str,
        }
        #[derive(Serialize)]
        #[allow(dead_code)]
        enum MessageV1Out<'a> {
            PresenceJoin {
                site: i64,
                presence: PresenceV1Out<'a>,
            },
        }
        let p = presence();
        let old = MessageV1Out::PresenceJoin {
            site: 3,
            presence: PresenceV1Out {
                session: &p.session,
                visitor: &p.visitor,
                user_id: p.user_id.as_deref(),
                url: &p.url,
                title: &p.title,
                device: &p.device,
                browser: &p.browser,
                os: &p.os,
                started_at: p.started_at,
                last_activity_at: p.last_activity_at,
                node: &p.node,
            },
        };
        let mut env = vec![BUS_VERSION_V1];
        bincode::serde::encode_into_std_write(&old, &mut env, config()).unwrap();
        assert_eq!(
            decode_bus(&env).unwrap(),
            BusMessage::PresenceJoin {
                site: 3,
                presence: p
            }
        );
    }

    #[test]
    fn messages_without_presence_are_still_written_as_version_one() {
        for msg in [
            BusMessage::WatchRequest {
                session: "s".into(),
                fresh: true,
            },
            BusMessage::PresenceLeave {
                site: 1,
                session: "s".into(),
            },
            BusMessage::SessionDeleted {
                session: "s".into(),
            },
            BusMessage::FlagsChanged,
        ] {
            let env = encode_bus(&msg);
            assert_eq!(env[0], BUS_VERSION_V1);
            assert_eq!(decode_bus(&env).unwrap(), msg);
        }
    }

    /// The shape a version 2 node wrote, encoded as it encoded it.
    #[derive(Serialize)]
    enum WriteV2<'a> {
        Batch(BatchV3<'a>),
        Op(OpV2<'a>),
    }

    #[derive(Serialize)]
    enum OpV2<'a> {
        #[allow(dead_code)]
        OpenSession(&'a NewSession),
        Segment {
            record: RecordV2<'a>,
            delta: DeltaV3<'a>,
            #[serde(serialize_with = "as_bytes")]
            blob: &'a [u8],
        },
    }

    fn as_bytes<S: serde::Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    #[derive(Serialize)]
    struct RecordV2<'a> {
        session_id: &'a str,
        tab_id: &'a str,
        first_seq: u64,
        last_seq: u64,
        first_ts: i64,
        last_ts: i64,
        event_count: u64,
        raw_bytes: u64,
        stored_bytes: u64,
        blob_key: &'a str,
        received_at: i64,
    }

    #[test]
    fn version_two_segment_records_are_still_read_without_batch_ends() {
        let OutboxOp::Segment {
            record: r,
            delta,
            blob,
        } = segment_op()
        else {
            unreachable!()
        };
        let old = WriteV2::Op(OpV2::Segment {
            record: RecordV2 {
                session_id: &r.session_id,
                tab_id: &r.tab_id,
                first_seq: r.first_seq,
                last_seq: r.last_seq,
                first_ts: r.first_ts,
                last_ts: r.last_ts,
                event_count: r.event_count,
                raw_bytes: r.raw_bytes,
                stored_bytes: r.stored_bytes,
                blob_key: &r.blob_key,
                received_at: r.received_at,
            },
            delta: delta_v3(&delta),
            blob: &blob,
        });
        let mut payload = vec![SPOOL_VERSION_V2];
        bincode::serde::encode_into_std_write(&old, &mut payload, config()).unwrap();
        let expected = OutboxOp::Segment {
            record: SegmentRecord {
                batch_ends: Vec::new(),
                ..r.clone()
            },
            delta: delta.clone(),
            blob: blob.clone(),
        };
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(expected));
        // A version 2 batch and end-of-session write too.
        let mut payload = vec![SPOOL_VERSION_V2];
        bincode::serde::encode_into_std_write(
            WriteV2::Batch(batch_v3(&batch())),
            &mut payload,
            config(),
        )
        .unwrap();
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Batch(batch()));
    }

    #[test]
    fn identify_ops_of_spools_written_before_identified_at_are_still_read() {
        use reel_actors::stats::SegmentDelta;
        use reel_actors::traits::{NewSession, SegmentRecord};
        use std::collections::BTreeMap;
        /// `OutboxOp` as nodes wrote it before `IdentifyAt` was added.
        #[derive(Serialize)]
        #[allow(dead_code)]
        enum OldOp {
            OpenSession(NewSession),
            Segment {
                record: SegmentRecord,
                delta: SegmentDelta,
                // (`serde_bytes` in the real type; never encoded here.)
                blob: Vec<u8>,
            },
            Identify {
                session_id: String,
                user_id: String,
                traits: BTreeMap<String, String>,
            },
            EndSession {
                session_id: String,
                ended_at: i64,
            },
        }
        #[derive(Serialize)]
        #[allow(dead_code)]
        enum OldRecord {
            Batch(SpoolBatch),
            Op(OldOp),
        }
        let traits = BTreeMap::from([("plan".to_string(), "pro".to_string())]);
        let old = |op: OldOp| {
            let mut payload = vec![SPOOL_VERSION];
            bincode::serde::encode_into_std_write(OldRecord::Op(op), &mut payload, config())
                .unwrap();
            decode_spool(&payload).unwrap()
        };
        assert_eq!(
            old(OldOp::Identify {
                session_id: "s".into(),
                user_id: "u-1".into(),
                traits: traits.clone(),
            }),
            SpoolRecord::Op(OutboxOp::Identify {
                session_id: "s".into(),
                user_id: "u-1".into(),
                traits: traits.clone(),
            })
        );
        assert_eq!(
            old(OldOp::EndSession {
                session_id: "s".into(),
                ended_at: 7,
            }),
            SpoolRecord::Op(OutboxOp::EndSession {
                session_id: "s".into(),
                ended_at: 7,
            })
        );
        // What new nodes write round-trips.
        let op = OutboxOp::IdentifyAt {
            session_id: "s".into(),
            user_id: "u-2".into(),
            traits,
            identified_at: 1_700_000_000_000,
        };
        let payload = encode_spool(SpoolRecordRef::Op(&op));
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(op));
    }

    #[test]
    fn version_one_batches_are_still_read() {
        let mut payload = vec![SPOOL_VERSION_BATCH];
        bincode::serde::encode_into_std_write(batch_v3(&batch()), &mut payload, config()).unwrap();
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Batch(batch()));
    }
}
