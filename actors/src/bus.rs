//! The in-process bus of the embedded defaults: one node, no broker.

use async_trait::async_trait;
use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::traits::{Bus, BusMessage, StoreResult};

/// Messages kept per topic for a slow subscriber before the oldest are
/// dropped (the subscriber is told how many it lost).
pub const TOPIC_CAPACITY: usize = 1024;

/// Topics are broadcast channels created on first use.
#[derive(Default)]
pub struct InProcessBus {
    topics: DashMap<String, broadcast::Sender<BusMessage>>,
}

impl InProcessBus {
    fn sender(&self, topic: &str) -> broadcast::Sender<BusMessage> {
        self.topics
            .entry(topic.to_owned())
            .or_insert_with(|| broadcast::channel(TOPIC_CAPACITY).0)
            .clone()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, topic: &str, msg: BusMessage) -> StoreResult<()> {
        // No subscriber is not an error: nobody is listening, and the topic
        // is forgotten (topics are per session: they must not pile up).
        let Some(tx) = self.topics.get(topic).map(|t| t.clone()) else {
            return Ok(());
        };
        if tx.send(msg).is_err() {
            self.topics.remove_if(topic, |_, t| t.receiver_count() == 0);
        }
        Ok(())
    }

    fn subscribe(&self, topic: &str) -> broadcast::Receiver<BusMessage> {
        self.sender(topic).subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_later_messages() {
        let bus = InProcessBus::default();
        let mut rx = bus.subscribe("presence:1");
        let msg = BusMessage::PresenceLeave {
            site: 1,
            session: "s".into(),
        };
        bus.publish("presence:1", msg.clone()).await.unwrap();
        let other = BusMessage::PresenceLeave {
            site: 2,
            session: "x".into(),
        };
        bus.publish("presence:2", other).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), msg);
        assert!(rx.try_recv().is_err());
        // A topic nobody listens to any more is forgotten.
        drop(rx);
        bus.publish("presence:1", msg).await.unwrap();
        assert!(bus.topics.is_empty());
    }
}
