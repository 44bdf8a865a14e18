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
        // No subscriber is not an error: nobody is listening.
        let _ = self.sender(topic).send(msg);
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
        let mut rx = bus.subscribe("site:1");
        let msg = BusMessage::SessionEnded {
            site_id: 1,
            session: "s".into(),
        };
        bus.publish("site:1", msg.clone()).await.unwrap();
        bus.publish(
            "site:2",
            BusMessage::SessionEnded {
                site_id: 2,
                session: "x".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(rx.recv().await.unwrap(), msg);
        assert!(rx.try_recv().is_err());
    }
}
