//! How a node follows what the operator and admins change in the index
//! (maintenance, sites, feature flags): it reads the index every poll
//! interval, and at once when the bus carries a hint on the topic (the
//! node or CLI that took the change publishes one). The index is the
//! truth; a hint only makes the read sooner, so a lost hint costs at most
//! one interval.

use std::time::Duration;

use reel_actors::traits::{Bus, BusMessage};
use tokio::sync::broadcast::{self, error::RecvError};

/// Why the follower reads now.
pub enum Wake {
    /// The interval came round.
    Tick,
    /// The bus carried a hint of this topic the follower wants.
    Hint(Box<BusMessage>),
    /// Hints were lost (a slow receiver): read, as one may be among them.
    Lost,
}

/// Waits for the next read.
pub struct Waker {
    hints: Option<broadcast::Receiver<BusMessage>>,
    every: tokio::time::Interval,
}

impl Waker {
    /// Reads every `interval` and on hints of `topic` (the first tick is at
    /// once).
    pub fn new(bus: &dyn Bus, topic: &str, interval: Duration) -> Waker {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Waker {
            hints: Some(bus.subscribe(topic)),
            every,
        }
    }

    /// The next reason to read: the interval, a message `wanted` accepts
    /// (others on the topic are passed over), or lost hints. When the
    /// topic closes, the interval alone goes on.
    pub async fn next(&mut self, wanted: impl Fn(&BusMessage) -> bool) -> Wake {
        loop {
            let heard = tokio::select! {
                _ = self.every.tick() => return Wake::Tick,
                heard = async {
                    match &mut self.hints {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => heard,
            };
            match heard {
                Ok(message) if wanted(&message) => return Wake::Hint(Box::new(message)),
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => return Wake::Lost,
                Err(RecvError::Closed) => self.hints = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reel_actors::bus::InProcessBus;

    const TOPIC: &str = "t";

    #[tokio::test]
    async fn wakes_on_the_interval_and_on_wanted_hints_only() {
        let bus = InProcessBus::default();
        // An interval far longer than the test: only a hint wakes it later.
        let mut waker = Waker::new(&bus, TOPIC, Duration::from_secs(3600));
        let wanted = |m: &BusMessage| matches!(m, BusMessage::FlagsChanged);
        assert!(matches!(waker.next(wanted).await, Wake::Tick), "at once");
        bus.publish(TOPIC, BusMessage::SiteChanged { site: 1 })
            .await
            .unwrap();
        let quiet = tokio::time::timeout(Duration::from_millis(200), waker.next(wanted)).await;
        assert!(
            quiet.is_err(),
            "a message it does not want does not wake it"
        );
        bus.publish(TOPIC, BusMessage::FlagsChanged).await.unwrap();
        let woke = tokio::time::timeout(Duration::from_secs(10), waker.next(wanted)).await;
        assert!(matches!(woke, Ok(Wake::Hint(m)) if matches!(*m, BusMessage::FlagsChanged)));
    }
}
