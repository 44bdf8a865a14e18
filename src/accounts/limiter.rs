//! The sign-in rate limit (PROTOCOL.md §5): more than
//! `accounts.login_max_failures` failed sign-ins for one email or from one
//! address within `accounts.login_window_ms` are refused with 429
//! `rate_limited` and `Retry-After`, the right password included, until
//! the oldest failure leaves the window.
//!
//! Where it lives: in each node's memory. Behind a load balancer that
//! spreads sign-ins over N nodes, an attacker gets up to N times the
//! failures; a restart forgets them. Memory is bounded: at most
//! [`MAX_KEYS`] emails and addresses, each with at most
//! `login_max_failures` timestamps. When the table is full, keys whose
//! failures all left the window go first, then the key of the oldest
//! failure.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Emails and addresses followed at once.
pub const MAX_KEYS: usize = 100_000;

/// Failed sign-ins per email and per address, on this node.
pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    /// Failure times per key (`email:...`, `ip:...`), oldest first.
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> LoginLimiter {
        LoginLimiter {
            max_failures: max_failures as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The keys of a sign-in: its email and its address.
    pub fn keys(email: &str, ip: &str) -> [String; 2] {
        [format!("email:{email}"), format!("ip:{ip}")]
    }

    /// `None` when a sign-in with these keys may be tried; else how long
    /// until it may.
    pub fn check(&self, keys: &[String], now: Instant) -> Option<Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut wait: Option<Duration> = None;
        for key in keys {
            let Some(times) = map.get_mut(key) else {
                continue;
            };
            self.expire(times, now);
            if times.len() >= self.max_failures {
                // unwrap: max_failures > 0 entries are there.
                let oldest = *times.front().unwrap_or(&now);
                let left = (oldest + self.window).saturating_duration_since(now);
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        wait
    }

    /// Counts a failed sign-in against each key.
    pub fn failed(&self, keys: &[String], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        for key in keys {
            if !map.contains_key(key) && map.len() >= MAX_KEYS {
                self.make_room(&mut map, now);
            }
            let times = map.entry(key.clone()).or_default();
            self.expire(times, now);
            times.push_back(now);
            while times.len() > self.max_failures.max(1) {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in forgets the failures of its email (not of its
    /// address: one address may try many emails).
    pub fn succeeded(&self, email_key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(email_key);
    }

    fn expire(&self, times: &mut VecDeque<Instant>, now: Instant) {
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
    }

    fn make_room(&self, map: &mut HashMap<String, VecDeque<Instant>>, now: Instant) {
        map.retain(|_, times| {
            times
                .back()
                .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
        });
        if map.len() >= MAX_KEYS {
            let oldest = map
                .iter()
                .min_by_key(|(_, times)| times.back().copied())
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
    }

    /// Keys followed now (for tests of the bound).
    pub fn len(&self) -> usize {
        self.failures.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleventh_try_within_the_window_waits_for_the_oldest_failure() {
        let l = LoginLimiter::new(10, Duration::from_secs(900));
        let keys = LoginLimiter::keys("a@b.c", "10.0.0.1");
        let t0 = Instant::now();
        for i in 0..10 {
            assert_eq!(l.check(&keys, t0), None, "try {i}");
            l.failed(&keys, t0 + Duration::from_secs(i));
        }
        let wait = l.check(&keys, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(890));
        // Another email from the same address is refused too.
        let other = LoginLimiter::keys("x@b.c", "10.0.0.1");
        assert!(l.check(&other, t0 + Duration::from_secs(10)).is_some());
        // A success forgets the email, not the address.
        l.succeeded(&keys[0]);
        assert!(l.check(&other, t0 + Duration::from_secs(10)).is_some());
        assert!(l
            .check(&[keys[0].clone()], t0 + Duration::from_secs(10))
            .is_none());
        // Once the oldest failure leaves the window, one more try.
        assert_eq!(l.check(&keys, t0 + Duration::from_secs(900)), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            l.failed(&[format!("ip:{i}")], now);
        }
        assert!(l.len() <= MAX_KEYS);
        let keys = [String::from("email:a")];
        for _ in 0..10 {
            l.failed(&keys, now);
        }
        let map = l.failures.lock().unwrap();
        assert_eq!(map["email:a"].len(), 3);
    }
}
