//! What an observer remembers between two events of one statement (or one
//! connection), in bounded memory.
//!
//! An outcome event (`Executed`, `ExecuteFailed`, `Denied`) carries only the
//! query id; what the statement was comes from its `Executing`. On a lossy
//! subscription either half may be missing, so the map is bounded: past its
//! capacity the oldest entries (lowest query ids; ids grow process-wide) are
//! forgotten, and an outcome without its `Executing` is reported without
//! what only the `Executing` knew.

use std::collections::BTreeMap;

/// A bounded map from an id that grows over time (query ids, connection
/// ids) to what an observer remembered of an earlier event.
#[derive(Debug)]
pub(crate) struct InFlight<T> {
    /// Keyed by id, so the oldest is the first.
    entries: BTreeMap<u64, T>,
    /// Entries kept before the oldest is dropped.
    capacity: usize,
}

impl<T> InFlight<T> {
    /// A map holding at most `capacity` entries (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        InFlight {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Remembers an entry, forgetting the oldest past the capacity.
    pub(crate) fn insert(&mut self, id: u64, value: T) {
        self.entries.insert(id, value);
        while self.entries.len() > self.capacity {
            self.entries.pop_first();
        }
    }

    /// The entry, if it is still remembered.
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.entries.get_mut(&id)
    }

    /// Forgets an entry and returns what was remembered.
    pub(crate) fn remove(&mut self, id: u64) -> Option<T> {
        self.entries.remove(&id)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn forgets_the_oldest_past_capacity() {
        let mut map = InFlight::new(2);
        map.insert(1, "a");
        map.insert(2, "b");
        map.insert(3, "c");
        assert_eq!(map.len(), 2);
        assert_eq!(map.remove(1), None);
        assert_eq!(map.remove(3), Some("c"));
    }
}
