//! The node's registry of live actors by id. A slot is filled once its
//! actor has started; concurrent callers naming the same id wait on the one
//! start. Generic over the actor, so the actor can deregister itself
//! without the registry knowing what it is.

use std::sync::Arc;

use actix::{Actor, Addr};
use dashmap::DashMap;
use tokio::sync::OnceCell;

/// One entry: empty while its actor starts.
pub type Slot<A> = Arc<OnceCell<Addr<A>>>;

/// Live actors by id.
pub struct Registry<A: Actor> {
    slots: DashMap<String, Slot<A>>,
}

impl<A: Actor> Default for Registry<A> {
    fn default() -> Self {
        Registry {
            slots: DashMap::new(),
        }
    }
}

impl<A: Actor> Registry<A> {
    /// The slot of `id`, created empty when there is none.
    pub fn slot(&self, id: &str) -> Slot<A> {
        self.slots
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone()
    }

    /// Registers a started actor under `id`.
    pub fn insert(&self, id: String, addr: Addr<A>) {
        self.slots
            .insert(id, Arc::new(OnceCell::new_with(Some(addr))));
    }

    /// The started actor of `id`.
    pub fn get(&self, id: &str) -> Option<Addr<A>> {
        self.slots.get(id).and_then(|s| s.get().cloned())
    }

    /// Removes `id` (its actor stopped).
    pub fn remove(&self, id: &str) {
        self.slots.remove(id);
    }

    /// Removes `id` when its slot was never filled (a start that failed).
    pub fn remove_empty(&self, id: &str) {
        self.slots.remove_if(id, |_, s| s.get().is_none());
    }

    /// Entries (started or starting).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Ids of every entry.
    pub fn ids(&self) -> Vec<String> {
        self.slots.iter().map(|e| e.key().clone()).collect()
    }

    /// Every started actor.
    pub fn addrs(&self) -> Vec<Addr<A>> {
        self.slots
            .iter()
            .filter_map(|e| e.value().get().cloned())
            .collect()
    }
}
