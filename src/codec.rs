//! The one place bincode (pinned `=2.0.1`) is used: records of the local
//! spool. Recordings in the blob store are zstd NDJSON, never bincode.
//!
//! A record is `[len: u32 LE][crc32 of payload: u32 LE][payload]`, where the
//! payload is a version byte then the bincode encoding.

use reel_actors::traits::SpoolBatch;

/// Version byte of spool payloads.
pub const SPOOL_VERSION: u8 = 1;
/// Bytes before the payload.
pub const RECORD_HEADER: usize = 8;

fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// Encodes a batch as one framed spool record.
pub fn encode_record(batch: &SpoolBatch) -> Vec<u8> {
    let mut payload = Vec::with_capacity(batch.ndjson.len() + 256);
    payload.push(SPOOL_VERSION);
    // unwrap: encoding plain structs into a Vec does not fail.
    bincode::serde::encode_into_std_write(batch, &mut payload, config()).unwrap();
    let mut out = Vec::with_capacity(payload.len() + RECORD_HEADER);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
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
pub fn decode_record(buf: &[u8]) -> Result<(SpoolBatch, usize), RecordError> {
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
    match payload.first() {
        Some(&SPOOL_VERSION) => {}
        Some(&v) => return Err(RecordError::Version(v)),
        None => return Err(RecordError::Decode("empty payload".into())),
    }
    let (batch, _) = bincode::serde::decode_from_slice(&payload[1..], config())
        .map_err(|e| RecordError::Decode(e.to_string()))?;
    Ok((batch, end))
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
        let rec = encode_record(&batch());
        let (back, len) = decode_record(&rec).unwrap();
        assert_eq!(back, batch());
        assert_eq!(len, rec.len());
    }

    #[test]
    fn torn_and_corrupt_records_are_detected() {
        let rec = encode_record(&batch());
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
