//! The one place bincode (pinned `=2.0.1`) is used: records of the local
//! spool, and the envelope of messages between nodes on the bus.
//! Recordings in the blob store are zstd NDJSON, never bincode.
//!
//! A record is `[len: u32 LE][crc32 of payload: u32 LE][payload]`, where the
//! payload is a version byte then the bincode encoding: version 1 holds a
//! `SpoolBatch` (spools written before the outbox), version 2 a
//! [`SpoolRecord`].

use reel_actors::traits::{OutboxOp, SpoolBatch};
use serde::{Deserialize, Serialize};

/// Version byte of a payload holding a bare batch (still read).
pub const SPOOL_VERSION_BATCH: u8 = 1;
/// Version byte of spool payloads written now.
pub const SPOOL_VERSION: u8 = 2;

/// One record of the spool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub enum SpoolRecord {
    /// An acked batch not yet in a segment in storage.
    Batch(SpoolBatch),
    /// A write waiting in the outbox.
    Op(OutboxOp),
}

/// [`SpoolRecord`] by reference, for encoding without a copy (same encoding).
#[derive(Serialize)]
pub enum SpoolRecordRef<'a> {
    Batch(&'a SpoolBatch),
    Op(&'a OutboxOp),
}
/// Bytes before the payload.
pub const RECORD_HEADER: usize = 8;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a record as one framed spool record.
pub fn encode_record(record: SpoolRecordRef<'_>) -> Vec<u8> {
    let hint = match record {
        SpoolRecordRef::Batch(b) => b.ndjson.len(),
        SpoolRecordRef::Op(OutboxOp::Segment { blob, .. }) => blob.len(),
        SpoolRecordRef::Op(_) => 0,
    };
    let mut payload = Vec::with_capacity(hint + 256);
    payload.push(SPOOL_VERSION);
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(&record, &mut payload, config()).unwrap();
    let mut out = Vec::with_capacity(payload.len() + RECORD_HEADER);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Version byte of bus envelopes. A node drops envelopes of a version it
/// does not know (and counts them), so nodes of two versions can share a
/// bus during a rolling upgrade.
pub const BUS_VERSION: u8 = 1;

/// A bus message as it travels between nodes: `[version][bincode]`.
pub fn encode_bus(msg: &reel_actors::traits::BusMessage) -> Vec<u8> {
    let mut out = vec![BUS_VERSION];
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(msg, &mut out, config()).unwrap();
    out
}

/// Decodes a bus envelope.
pub fn decode_bus(buf: &[u8]) -> Result<reel_actors::traits::BusMessage, RecordError> {
    match buf.first() {
        Some(&BUS_VERSION) => bincode::serde::decode_from_slice(&buf[1..], config())
            .map(|(m, _)| m)
            .map_err(|e| RecordError::Decode(e.to_string())),
        Some(&v) => Err(RecordError::Version(v)),
        None => Err(RecordError::Decode("empty envelope".into())),
    }
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The file ends inside this record (a write torn by a crash).
    #[error("truncated record")]
    Truncated,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("unknown spool record version {0}")]
    Version(u8),
    #[error("undecodable record: {0}")]
    Decode(String),
}

/// Decodes the record at the start of `buf`; returns it and its length.
pub fn decode_record(buf: &[u8]) -> Result<(SpoolRecord, usize), RecordError> {
    if buf.len() < RECORD_HEADER {
        return Err(RecordError::Truncated);
    }
    // unwrap: slices of length 4, checked above.
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    let end = RECORD_HEADER + len;
    if buf.len() < end {
        return Err(RecordError::Truncated);
    }
    let payload = &buf[RECORD_HEADER..end];
    if crc32fast::hash(payload) != crc {
        return Err(RecordError::Checksum);
    }
    let decode_err = |e: bincode::error::DecodeError| RecordError::Decode(e.to_string());
    let record = match payload.first() {
        Some(&SPOOL_VERSION) => {
            bincode::serde::decode_from_slice(&payload[1..], config())
                .map_err(decode_err)?
                .0
        }
        Some(&SPOOL_VERSION_BATCH) => SpoolRecord::Batch(
            bincode::serde::decode_from_slice(&payload[1..], config())
                .map_err(decode_err)?
                .0,
        ),
        Some(&v) => return Err(RecordError::Version(v)),
        None => return Err(RecordError::Decode("empty payload".into())),
    };
    Ok((record, end))
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
    fn round_trips() {
        let rec = encode_record(SpoolRecordRef::Batch(&batch()));
        let (back, len) = decode_record(&rec).unwrap();
        assert_eq!(back, SpoolRecord::Batch(batch()));
        assert_eq!(len, rec.len());
        let op = OutboxOp::EndSession {
            session_id: "s".into(),
            ended_at: i64::MAX,
        };
        let rec = encode_record(SpoolRecordRef::Op(&op));
        assert_eq!(decode_record(&rec).unwrap().0, SpoolRecord::Op(op));
    }

    #[test]
    fn bus_envelopes_round_trip_and_unknown_versions_are_refused() {
        let msg = reel_actors::traits::BusMessage::LiveEvents {
            session: "s".into(),
            tab: "t".into(),
            ndjson: b"{\"type\":2}\n".to_vec(),
        };
        let env = encode_bus(&msg);
        assert_eq!(decode_bus(&env).unwrap(), msg);
        let mut future = env.clone();
        future[0] = 9;
        assert_eq!(decode_bus(&future).unwrap_err(), RecordError::Version(9));
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
            let mut rec = (payload.len() as u32).to_le_bytes().to_vec();
            rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
            rec.extend_from_slice(&payload);
            decode_record(&rec).unwrap().0
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
        let rec = encode_record(SpoolRecordRef::Op(&op));
        assert_eq!(decode_record(&rec).unwrap().0, SpoolRecord::Op(op));
    }

    #[test]
    fn version_one_batches_are_still_read() {
        let mut payload = vec![SPOOL_VERSION_BATCH];
        bincode::serde::encode_into_std_write(batch(), &mut payload, config()).unwrap();
        let mut rec = (payload.len() as u32).to_le_bytes().to_vec();
        rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        assert_eq!(decode_record(&rec).unwrap().0, SpoolRecord::Batch(batch()));
    }

    #[test]
    fn torn_and_corrupt_records_are_detected() {
        let rec = encode_record(SpoolRecordRef::Batch(&batch()));
        for cut in [0, 3, 8, rec.len() - 1] {
            assert_eq!(
                decode_record(&rec[..cut]).unwrap_err(),
                RecordError::Truncated
            );
        }
        let mut bad = rec.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode_record(&bad).unwrap_err(), RecordError::Checksum);
    }
}
