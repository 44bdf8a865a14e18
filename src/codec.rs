//! The one place bincode (pinned `=2.0.1`) is used: payloads of the local
//! spool's records (framed by [`crate::spool::record`]), and the envelope
//! of messages between nodes on the bus. Recordings in the blob store are
//! zstd NDJSON, never bincode.
//!
//! Every payload starts with a version byte. Spool payloads: version 1
//! holds a bare `SpoolBatch` (spools written before the outbox, still
//! read), version 2 a spool record. Bus envelopes: version 1.

use reel_actors::traits::{BusMessage, OutboxOp, SpoolBatch};
use serde::{Deserialize, Serialize};

use crate::spool::record::{SpoolRecord, SpoolRecordRef};

/// Version byte of a spool payload holding a bare batch (still read).
pub const SPOOL_VERSION_BATCH: u8 = 1;
/// Version byte of spool payloads written now.
pub const SPOOL_VERSION: u8 = 2;
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
mod tests {
    use super::*;
    use reel_actors::stats::BatchStats;

    fn batch() -> SpoolBatch {
        SpoolBatch {
            site_id: 3,
            session_id: "s".into(),
            session_started_at: 1_700_000_000_000,
            tab_id: "t".into(),
            seq: u64::MAX,
            received_at: 5,
            ndjson: b"{\"type\":4}\n".to_vec(),
            stats: BatchStats {
                events: 1,
                urls: vec![("https://a/".into(), 1)],
                ..BatchStats::default()
            },
        }
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
