//! Token buckets for the per-session byte and message rate limits.

use std::time::Duration;

use reel_protocol::Limits;
// The runtime's clock: under paused time (the actor tests) it is the
// test's; otherwise it is `std::time::Instant`.
use tokio::time::Instant;

/// A session's two rate limits: messages and bytes a second, each a token
/// bucket of the configured burst.
#[derive(Debug, Clone)]
pub struct SessionRate {
    /// Messages a second.
    messages: TokenBucket,
    /// Bytes a second, counted on the wire.
    bytes: TokenBucket,
}

/// The limit a message was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    Messages,
    Bytes,
}

impl SessionRate {
    /// Both buckets full.
    pub fn new(limits: &Limits, now: Instant) -> SessionRate {
        SessionRate {
            messages: TokenBucket::new(
                limits.session_messages_per_sec,
                limits.session_messages_burst,
                now,
            ),
            bytes: TokenBucket::new(
                limits.session_bytes_per_sec,
                limits.session_bytes_burst,
                now,
            ),
        }
    }

    /// Takes one message of `wire_bytes`: the message first, then its
    /// bytes (a message over the message limit takes no bytes).
    pub fn take(&mut self, wire_bytes: u64, now: Instant) -> Result<(), Over> {
        if !self.messages.take(1, now) {
            return Err(Over::Messages);
        }
        if !self.bytes.take(wire_bytes, now) {
            return Err(Over::Bytes);
        }
        Ok(())
    }

    /// Credits both buckets with `held` ([`TokenBucket::credit`]).
    pub fn credit(&mut self, held: Duration) {
        self.messages.credit(held);
        self.bytes.credit(held);
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u64, burst: u64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate: rate as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Takes `n` tokens if there are enough; false (and takes none) otherwise.
    pub fn take(&mut self, n: u64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        // Tokens credited past the burst are kept, but refill stops there.
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst.max(self.tokens));
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }
}

impl TokenBucket {
    /// Credits `held` of refill past the burst: the node held the sender
    /// back that long (it did not read its socket), so what the sender
    /// sent meanwhile arrives at once, and is not the sender's burst.
    pub fn credit(&mut self, held: Duration) {
        // Up to a burst on top of this hold's refill; never less than now
        // (a short hold right after a long one keeps the long one's).
        let extra = held.as_secs_f64() * self.rate;
        self.tokens = self
            .tokens
            .max((self.tokens + extra).min(self.burst + extra));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 20, t0);
        assert!(b.take(20, t0));
        assert!(!b.take(1, t0));
        // Half a second refills 5.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(5, t1));
        assert!(!b.take(1, t1));
        // Never more than the burst.
        let t2 = t1 + Duration::from_secs(100);
        assert!(!b.take(21, t2));
        assert!(b.take(20, t2));
    }

    #[test]
    fn time_held_back_is_credited_past_the_burst_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 20, t0);
        assert!(b.take(20, t0));
        // Held 3 s: 30 messages were sent meanwhile, on top of a burst.
        b.credit(Duration::from_secs(3));
        b.credit(Duration::from_micros(1));
        assert!(b.take(30, t0), "a short hold keeps the long one's credit");
        assert!(!b.take(1, t0));
        // The credit does not stay: refill is capped at the burst again.
        let t1 = t0 + Duration::from_secs(100);
        assert!(!b.take(21, t1));
    }
}
