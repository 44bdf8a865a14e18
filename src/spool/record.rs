//! The spool's record format: `[len: u32 LE][crc32 of payload: u32 LE][payload]`,
//! where the payload is a version byte then the bincode encoding of the
//! codec module ([`crate::codec`]): version 1 holds a `SpoolBatch` (spools
//! written before the outbox), version 2 a [`SpoolRecord`] whose segment
//! records have no batch ends, version 3 a [`SpoolRecord`].
//!
//! A reader that meets a record it cannot read resynchronises: it scans
//! forward for the next offset where a whole record with a matching CRC
//! starts, so one torn or corrupt record never hides the records after it.

use crate::codec::{self, CodecError};
pub use crate::codec::{SpoolRecord, SpoolRecordRef};

/// Bytes before the payload.
pub const RECORD_HEADER: usize = 8;
/// The largest payload a record may claim. Nothing the node writes comes
/// near it (a batch is at most 16 MiB decompressed, a segment a few MiB
/// compressed); a larger length field marks garbage, not a record.
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

/// Why a record could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// The buffer ends inside this record (a write torn by a crash).
    #[error("truncated record")]
    Truncated,
    #[error("record checksum mismatch")]
    Checksum,
    #[error("record length {0} over the limit")]
    Length(usize),
    #[error(transparent)]
    Payload(#[from] CodecError),
}

/// Encodes a record as one framed spool record: the payload is encoded in
/// place after room for the header, which is filled in last.
pub fn encode(record: SpoolRecordRef<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + codec::payload_hint(record));
    out.resize(RECORD_HEADER, 0);
    codec::encode_spool_into(record, &mut out);
    let payload = &out[RECORD_HEADER..];
    let (len, crc) = (payload.len() as u32, crc32fast::hash(payload));
    out[0..4].copy_from_slice(&len.to_le_bytes());
    out[4..8].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes the record at the start of `buf`; returns it and its length.
pub fn decode(buf: &[u8]) -> Result<(SpoolRecord, usize), RecordError> {
    let payload = frame(buf)?;
    let record = codec::decode_spool(payload)?;
    Ok((record, RECORD_HEADER + payload.len()))
}

/// The payload of the framed record at the start of `buf`, its CRC checked.
fn frame(buf: &[u8]) -> Result<&[u8], RecordError> {
    if buf.len() < RECORD_HEADER {
        return Err(RecordError::Truncated);
    }
    // unwrap: slices of length 4, checked above.
    let len = u32::from_le_bytes(buf[0..4].try_into().unwrap()) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().unwrap());
    if len > MAX_PAYLOAD {
        return Err(RecordError::Length(len));
    }
    let end = RECORD_HEADER + len;
    if buf.len() < end {
        return Err(RecordError::Truncated);
    }
    let payload = &buf[RECORD_HEADER..end];
    if crc32fast::hash(payload) != crc {
        return Err(RecordError::Checksum);
    }
    Ok(payload)
}

/// Bytes a scan could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where the unreadable bytes start.
    pub offset: usize,
    pub bytes: usize,
    /// Why the first record there could not be read.
    pub error: String,
    /// The bytes run to the end of the buffer (a write torn by a crash,
    /// never acked) rather than lying between readable records.
    pub tail: bool,
}

/// What a scan of a spool file found.
#[derive(Debug, Default)]
pub struct Scan {
    pub records: Vec<SpoolRecord>,
    pub skipped: Vec<Skipped>,
}

/// Reads every record of `data`. After a record it cannot read, it looks
/// for the next offset where a whole, CRC-checked record starts and goes on
/// from there.
pub fn scan(data: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut at = 0;
    while at < data.len() {
        match decode(&data[at..]) {
            Ok((record, len)) => {
                out.records.push(record);
                at += len;
            }
            Err(e) => {
                let next = (at + 1..data.len()).find(|&i| decode(&data[i..]).is_ok());
                let end = next.unwrap_or(data.len());
                out.skipped.push(Skipped {
                    offset: at,
                    bytes: end - at,
                    error: e.to_string(),
                    tail: next.is_none(),
                });
                at = end;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::tests::batch_at as batch;
    use reel_actors::traits::OutboxOp;

    #[test]
    fn round_trips() {
        let rec = encode(SpoolRecordRef::Batch(&batch(u64::MAX)));
        let (back, len) = decode(&rec).unwrap();
        assert_eq!(back, SpoolRecord::Batch(batch(u64::MAX)));
        assert_eq!(len, rec.len());
        let op = OutboxOp::EndSession {
            session_id: "s".into(),
            ended_at: i64::MAX,
        };
        let rec = encode(SpoolRecordRef::Op(&op));
        assert_eq!(decode(&rec).unwrap().0, SpoolRecord::Op(op));
    }

    #[test]
    fn torn_and_corrupt_records_are_detected() {
        let rec = encode(SpoolRecordRef::Batch(&batch(1)));
        for cut in [0, 3, 8, rec.len() - 1] {
            assert_eq!(decode(&rec[..cut]).unwrap_err(), RecordError::Truncated);
        }
        let mut bad = rec.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(&bad).unwrap_err(), RecordError::Checksum);
        let mut huge = rec.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(RecordError::Length(_))));
    }

    fn seqs(scan: &Scan) -> Vec<u64> {
        scan.records
            .iter()
            .map(|r| match r {
                SpoolRecord::Batch(b) => b.seq,
                SpoolRecord::Op(_) => u64::MAX,
            })
            .collect()
    }

    #[test]
    fn a_scan_resynchronises_after_a_torn_record_in_the_middle() {
        let mut data = encode(SpoolRecordRef::Batch(&batch(0)));
        // A write torn part-way (the disk filled), then later records.
        let torn = encode(SpoolRecordRef::Batch(&batch(1)));
        data.extend_from_slice(&torn[..torn.len() / 2]);
        let resume = data.len();
        data.extend_from_slice(&encode(SpoolRecordRef::Batch(&batch(2))));
        data.extend_from_slice(&encode(SpoolRecordRef::Batch(&batch(3))));
        // And a torn tail.
        data.extend_from_slice(&torn[..5]);
        let scan = scan(&data);
        assert_eq!(seqs(&scan), vec![0, 2, 3]);
        assert_eq!(scan.skipped.len(), 2);
        assert_eq!(scan.skipped[0].offset + scan.skipped[0].bytes, resume);
        assert!(!scan.skipped[0].tail);
        assert!(scan.skipped[1].tail);
        assert_eq!(scan.skipped[1].bytes, 5);
    }

    #[test]
    fn garbage_between_records_is_skipped() {
        let mut data = vec![0xAB; 100];
        data.extend_from_slice(&encode(SpoolRecordRef::Batch(&batch(7))));
        let scan = scan(&data);
        assert_eq!(seqs(&scan), vec![7]);
        assert_eq!(scan.skipped[0].bytes, 100);
    }
}
