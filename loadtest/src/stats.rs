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
}

/// Counters per second of the run, shared by every client.
pub struct Timeline {
    t0: Instant,
    acks: Vec<AtomicU64>,
    raw_bytes: Vec<AtomicU64>,
    max_latency_us: Vec<AtomicU64>,
}

impl Timeline {
    pub fn new(t0: Instant, seconds: usize) -> Timeline {
        let zeros = || (0..seconds).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
        Timeline {
            t0,
            acks: zeros(),
            raw_bytes: zeros(),
            max_latency_us: zeros(),
        }
    }

    fn slot(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.t0).as_secs() as usize).min(self.acks.len() - 1)
    }

    /// One batch of `raw_bytes` acked at `at` after `latency`.
    pub fn record_ack(&self, at: Instant, raw_bytes: u64, latency: Duration) {
        let i = self.slot(at);
        self.acks[i].fetch_add(1, Ordering::Relaxed);
        self.raw_bytes[i].fetch_add(raw_bytes, Ordering::Relaxed);
        self.max_latency_us[i].fetch_max(latency.as_micros() as u64, Ordering::Relaxed);
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
