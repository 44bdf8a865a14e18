//! The one place bincode (pinned `=2.0.1`) is used: payloads of the local
//! spool's records (framed by [`crate::spool::record`]), and the envelope
//! of messages between nodes on the bus. Recordings in the blob store are
//! zstd NDJSON, never bincode.
//!
//! Every payload starts with a version byte. Spool payloads: version 1
//! holds a bare `SpoolBatch` (spools written before the outbox, still
//! read), version 2 a spool record whose segments have no batch ends
//! (still read), version 3 a spool record. Bus envelopes: version 1.

use std::collections::BTreeMap;

use reel_actors::stats::SegmentDelta;
use reel_actors::traits::{BusMessage, NewSession, OutboxOp, SegmentRecord, SpoolBatch};
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
/// Version byte of spool payloads written now.
pub const SPOOL_VERSION: u8 = 3;
/// Version byte of bus envelopes. A node drops envelopes of a version it
/// does not know (and counts them), so nodes of two versions can share a
/// bus during a rolling upgrade.
pub const BUS_VERSION: u8 = 1;

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

/// A version 2 spool record: [`Wire`] as it was before [`SegmentRecord`]
/// gained `batch_ends`. bincode is not self-describing, so the old shape
/// is spelled out here (same variants, same order) and converted.
#[derive(Deserialize)]
enum WireV2 {
    Batch(SpoolBatch),
    Op(OutboxOpV2),
}

#[derive(Deserialize)]
enum OutboxOpV2 {
    OpenSession(NewSession),
    Segment {
        record: SegmentRecordV2,
        delta: SegmentDelta,
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
                delta,
                blob,
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
    let (wire, hint) = match record {
        SpoolRecordRef::Batch(b) => (WireRef::Batch(b), b.ndjson.len()),
        SpoolRecordRef::Op(op) => (
            WireRef::Op(op),
            match op {
                OutboxOp::Segment { blob, .. } => blob.len(),
                _ => 0,
            },
        ),
    };
    let mut payload = Vec::with_capacity(hint + 256);
    payload.push(SPOOL_VERSION);
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(&wire, &mut payload, config()).unwrap();
    payload
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
        Some(&SPOOL_VERSION_V2) => {
            let (wire, _): (WireV2, _) =
                bincode::serde::decode_from_slice(&payload[1..], config()).map_err(decode_err)?;
            Ok(match wire {
                WireV2::Batch(b) => SpoolRecord::Batch(b),
                WireV2::Op(op) => SpoolRecord::Op(op.into()),
            })
        }
        Some(&SPOOL_VERSION_BATCH) => Ok(SpoolRecord::Batch(
            bincode::serde::decode_from_slice(&payload[1..], config())
                .map_err(decode_err)?
                .0,
        )),
        Some(&v) => Err(CodecError::Version(v)),
        None => Err(CodecError::Decode("empty payload".into())),
    }
}

/// A bus message as it travels between nodes: `[version][bincode]`.
pub fn encode_bus(msg: &BusMessage) -> Vec<u8> {
    let mut out = vec![BUS_VERSION];
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(msg, &mut out, config()).unwrap();
    out
}

/// Decodes a bus envelope.
pub fn decode_bus(buf: &[u8]) -> Result<BusMessage, CodecError> {
    match buf.first() {
        Some(&BUS_VERSION) => bincode::serde::decode_from_slice(&buf[1..], config())
            .map(|(m, _)| m)
            .map_err(|e| CodecError::Decode(e.to_string())),
        Some(&v) => Err(CodecError::Version(v)),
        None => Err(CodecError::Decode("empty envelope".into())),
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
            blob: vec![1, 2, 3],
        }
    }

    #[test]
    fn segment_ops_round_trip_with_their_batch_ends() {
        let op = segment_op();
        let payload = encode_spool(SpoolRecordRef::Op(&op));
        assert_eq!(payload[0], SPOOL_VERSION);
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Op(op));
    }

    /// The shape a version 2 node wrote, encoded as it encoded it.
    #[derive(Serialize)]
    enum WriteV2<'a> {
        #[allow(dead_code)]
        Batch(&'a SpoolBatch),
        Op(OpV2<'a>),
    }

    #[derive(Serialize)]
    enum OpV2<'a> {
        #[allow(dead_code)]
        OpenSession(&'a NewSession),
        Segment {
            record: RecordV2<'a>,
            delta: &'a SegmentDelta,
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
            delta: &delta,
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
        bincode::serde::encode_into_std_write(WriteV2::Batch(&batch()), &mut payload, config())
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
        bincode::serde::encode_into_std_write(batch(), &mut payload, config()).unwrap();
        assert_eq!(decode_spool(&payload).unwrap(), SpoolRecord::Batch(batch()));
    }
}
