//! What each client measured, the per-second timeline all clients share,
//! and percentiles over sorted samples.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one client saw, handed back when it finishes.
#[derive(Debug, Default)]
pub struct ClientReport {
    /// TCP connect, upgrade and `welcome` succeeded.
    pub connected: bool,
    /// Why the connection could not be made, e.g. `http 429 rate_limited`.
    pub connect_error: Option<String>,
    /// 503 refusals before the connection was made (each retried after
    /// `Retry-After` with `--retry-refused`).
    pub refusals: u64,
    /// Connect start to `welcome`, in microseconds.
    pub welcome_us: Option<u64>,
    /// `end` sent to the end's own ack (the tab's segment committed), in
    /// microseconds.
    pub end_ack_us: Option<u64>,
    /// Send to ack of every acked batch, in microseconds.
    pub ack_latencies_us: Vec<u64>,
    pub batches_sent: u64,
    pub batches_acked: u64,
    /// JSON bytes of the `events` messages sent, before gzip.
    pub raw_bytes_sent: u64,
    /// JSON bytes of the `events` messages acked, before gzip.
    pub raw_bytes_acked: u64,
    /// Bytes of the frames sent (after gzip with `--gzip`).
    pub wire_bytes_sent: u64,
    /// Batches still unacked when the client gave up waiting.
    pub unacked_at_end: u64,
    /// Closes the server started, keyed `"<code> <reason>"`.
    pub server_closes: BTreeMap<String, u64>,
    /// `error` messages, keyed by code.
    pub server_errors: BTreeMap<String, u64>,
    /// The first `error` message text of each code.
    pub error_samples: BTreeMap<String, String>,
    /// Transport failures after connecting, keyed by a short description.
    pub transport_errors: BTreeMap<String, u64>,
    pub goaways: u64,
    pub snapshot_requests: u64,
    /// Time spent waiting on the client-side rate caps.
    pub throttled: Duration,
    /// Ended with `end`, every batch and the `end` acked.
    pub clean_finish: bool,
    /// The session `welcome` named.
    pub session: Option<String>,
    /// The tab id the client sent.
    pub tab: String,
    /// `welcome.next_seq`: the seq of `batches[0]`.
    pub first_seq: u64,
    /// With `--verify`: what each batch sent held, in seq order.
    pub batches: Vec<crate::verify::BatchPrint>,
    /// The highest seq an ack covered.
    pub last_acked: Option<u64>,
    /// Corpus mode: the fixture replayed.
    pub fixture: Option<String>,
}

/// Sub-buckets per power of two of [`Histogram`]: values are kept within
/// 1/16 (about 6 %).
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered: microseconds up to 2^40 (12 days).
const POWERS: u64 = 40;
/// Buckets of one [`Histogram`].
pub const BUCKETS: usize = ((POWERS - SUB_BITS as u64 + 1) * SUB) as usize;

/// A log-linear histogram of microseconds that many tasks add to at once;
/// its quantiles are the upper bound of a bucket (within about 6 %). The
/// exact quantiles of the summary come from every sample instead.
pub struct Histogram {
    counts: Vec<AtomicU64>,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        let v = v.min((1 << POWERS) - 1);
        if v < SUB {
            return v as usize;
        }
        let p = 63 - v.leading_zeros() as u64;
        let mantissa = v >> (p - SUB_BITS as u64);
        ((p - SUB_BITS as u64 + 1) * SUB + mantissa - SUB) as usize
    }

    /// The largest value bucket `i` holds.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let p = i / SUB + SUB_BITS as u64 - 1;
        let mantissa = i % SUB + SUB;
        ((mantissa + 1) << (p - SUB_BITS as u64)) - 1
    }

    pub fn record(&self, us: u64) {
        self.counts[Self::index(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile, nearest rank, as a bucket's upper bound.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper(i));
            }
        }
        None
    }
}

/// Counters per second of the run, shared by every client.
pub struct Timeline {
    t0: Instant,
    acks: Vec<AtomicU64>,
    raw_bytes: Vec<AtomicU64>,
    max_latency_us: Vec<AtomicU64>,
    /// Ack latencies of each second.
    latency: Vec<Histogram>,
    /// Ack latencies of the whole run so far (the progress bar's p99).
    pub all_latency: Histogram,
    /// The node's RSS in KiB, sampled each second (0: not sampled).
    rss_kib: Vec<AtomicU64>,
    /// Clients connected now.
    pub connected: AtomicU64,
    /// Batches acked so far.
    pub acked: AtomicU64,
}

/// One second of the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Second {
    pub acks: u64,
    pub raw_bytes: u64,
    pub max_us: u64,
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
    pub rss_kib: Option<u64>,
}

impl Timeline {
    pub fn new(t0: Instant, seconds: usize) -> Timeline {
        let seconds = seconds.max(1);
        let zeros = || (0..seconds).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Timeline {
            t0,
            acks: zeros(),
            raw_bytes: zeros(),
            max_latency_us: zeros(),
            latency: (0..seconds).map(|_| Histogram::default()).collect(),
            all_latency: Histogram::default(),
            rss_kib: zeros(),
            connected: AtomicU64::new(0),
            acked: AtomicU64::new(0),
        }
    }

    /// Seconds the timeline holds.
    pub fn len(&self) -> usize {
        self.acks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// The node's RSS at `at`.
    pub fn record_rss(&self, at: Instant, kib: u64) {
        self.rss_kib[self.slot(at)].store(kib, Ordering::Relaxed);
    }

    /// Acks of the second before the current one (the progress bar's rate).
    pub fn last_full_second_acks(&self, now: Instant) -> u64 {
        let i = self.slot(now);
        if i == 0 {
            return 0;
        }
        self.acks[i - 1].load(Ordering::Relaxed)
    }

    /// Every second up to `seconds`, with percentiles.
    pub fn seconds(&self, seconds: usize) -> Vec<Second> {
        (0..seconds.min(self.acks.len()))
            .map(|i| {
                let rss = self.rss_kib[i].load(Ordering::Relaxed);
                let max_us = self.max_latency_us[i].load(Ordering::Relaxed);
                // A bucket's upper bound may pass the exact maximum.
                let q = |q: f64| self.latency[i].quantile(q).map(|v| v.min(max_us));
                Second {
                    acks: self.acks[i].load(Ordering::Relaxed),
                    raw_bytes: self.raw_bytes[i].load(Ordering::Relaxed),
                    max_us,
                    p50_us: q(0.5),
                    p99_us: q(0.99),
                    rss_kib: (rss > 0).then_some(rss),
                }
            })
            .collect()
    }

    fn slot(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.t0).as_secs() as usize).min(self.acks.len() - 1)
    }

    /// One batch of `raw_bytes` acked at `at` after `latency`.
    pub fn record_ack(&self, at: Instant, raw_bytes: u64, latency: Duration) {
        let i = self.slot(at);
        self.acks[i].fetch_add(1, Ordering::Relaxed);
        self.raw_bytes[i].fetch_add(raw_bytes, Ordering::Relaxed);
        let us = latency.as_micros() as u64;
        self.max_latency_us[i].fetch_max(us, Ordering::Relaxed);
        self.latency[i].record(us);
        self.all_latency.record(us);
        self.acked.fetch_add(1, Ordering::Relaxed);
    }

    /// (acks, raw bytes, max latency in µs) per second, up to `seconds`.
    pub fn snapshot(&self, seconds: usize) -> Vec<(u64, u64, u64)> {
        (0..seconds.min(self.acks.len()))
            .map(|i| {
                (
                    self.acks[i].load(Ordering::Relaxed),
                    self.raw_bytes[i].load(Ordering::Relaxed),
                    self.max_latency_us[i].load(Ordering::Relaxed),
                )
            })
            .collect()
    }
}

/// The `q` quantile (0.0..=1.0) of sorted samples, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50/p90/p99/max/mean of microsecond samples, in milliseconds.
pub fn latency_summary(samples: &mut [u64]) -> serde_json::Value {
    samples.sort_unstable();
    let ms = |v: Option<u64>| v.map(|us| (us as f64 / 1000.0 * 100.0).round() / 100.0);
    let mean = if samples.is_empty() {
        None
    } else {
        Some(samples.iter().sum::<u64>() / samples.len() as u64)
    };
    serde_json::json!({
        "count": samples.len(),
        "p50": ms(quantile(samples, 0.50)),
        "p90": ms(quantile(samples, 0.90)),
        "p99": ms(quantile(samples, 0.99)),
        "p999": ms(quantile(samples, 0.999)),
        "max": ms(samples.last().copied()),
        "mean": ms(mean),
    })
}

/// Adds `from` into `into`, key by key.
pub fn merge_counts(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&v, 0.0), Some(1));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&[7], 0.99), Some(7));
    }

    #[test]
    fn histogram_keeps_values_within_a_sixteenth() {
        for v in [
            0u64,
            1,
            15,
            16,
            17,
            31,
            32,
            33,
            100,
            1000,
            12_345,
            987_654_321,
        ] {
            let i = Histogram::index(v);
            assert!(i < BUCKETS);
            let up = Histogram::upper(i);
            assert!(up >= v, "{v} -> bucket {i} up to {up}");
            assert!(up - v <= v / 16 + 1, "{v} -> {up}");
            if i > 0 {
                assert!(
                    Histogram::upper(i - 1) < v,
                    "{v} belongs above bucket {}",
                    i - 1
                );
            }
        }
        let h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for v in 1..=100 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((50_000..=53_200).contains(&p50), "{p50}");
        assert!(h.quantile(0.99).unwrap() >= 99_000);
        assert_eq!(h.count(), 100);
    }

    #[test]
    fn timeline_clamps_late_acks_into_the_last_second() {
        let t0 = Instant::now();
        let t = Timeline::new(t0, 3);
        t.record_ack(
            t0 + Duration::from_millis(1500),
            10,
            Duration::from_millis(4),
        );
        t.record_ack(t0 + Duration::from_secs(60), 5, Duration::from_millis(9));
        assert_eq!(t.snapshot(3), vec![(0, 0, 0), (1, 10, 4000), (1, 5, 9000)]);
    }
}
