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
///
/// The newest entries sit in slots chosen by their id, so that a
/// statement's start and its outcome, a few events apart, meet without a
/// tree (this runs for every statement of a pool a tap watches, on the
/// connection's own thread); an entry a newer one pushes out of its slot
/// moves to the tree.
///
/// Used by this crate's subscribers and by the operations console, which
/// remembers each statement's SQL until its outcome.
#[derive(Debug)]
pub struct InFlight<T> {
    /// By id modulo their number (a power of two): an id and its entry.
    slots: Box<[Option<(u64, T)>]>,
    /// Entries pushed out of their slot, keyed by id, so the oldest is the
    /// first.
    older: BTreeMap<u64, T>,
    /// Entries the tree keeps before its oldest is dropped (the capacity
    /// less the slots).
    older_capacity: usize,
}

/// Slots at most.
const SLOTS: usize = 64;

impl<T> InFlight<T> {
    /// A map holding at most `capacity` entries (at least 1).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // A power of two, so that finding a slot is a mask, not a division
        // (four per statement).
        let slots = 1 << capacity.min(SLOTS).ilog2();
        InFlight {
            slots: (0..slots).map(|_| None).collect(),
            older: BTreeMap::new(),
            older_capacity: capacity - slots,
        }
    }

    fn slot(&self, id: u64) -> usize {
        (id & (self.slots.len() as u64 - 1)) as usize
    }

    /// Remembers an entry, forgetting the oldest past the capacity.
    pub fn insert(&mut self, id: u64, value: T) {
        if !self.older.is_empty() {
            self.older.remove(&id);
        }
        let slot = self.slot(id);
        if let Some((pushed, entry)) = self.slots[slot].replace((id, value))
            && pushed != id
            && self.older_capacity > 0
        {
            self.older.insert(pushed, entry);
            while self.older.len() > self.older_capacity {
                self.older.pop_first();
            }
        }
    }

    /// The entry, if it is still remembered.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        let slot = self.slot(id);
        match &mut self.slots[slot] {
            Some((held, entry)) if *held == id => Some(entry),
            _ => self.older.get_mut(&id),
        }
    }

    /// Forgets an entry and returns what was remembered.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let slot = self.slot(id);
        match &self.slots[slot] {
            Some((held, _)) if *held == id => self.slots[slot].take().map(|(_, entry)| entry),
            _ => self.older.remove(&id),
        }
    }

    /// Entries remembered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count() + self.older.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.older.is_empty() && self.slots.iter().all(Option::is_none)
    }
}

#[cfg(test)]
mod tests {
    use super::InFlight;

    #[test]
    fn any_capacity_is_kept_exactly() {
        // Slots are a power of two; the tree holds the rest.
        for capacity in [1, 2, 3, 5, 63, 64, 65, 100] {
            let mut map = InFlight::new(capacity);
            for id in 0..300u64 {
                map.insert(id, id);
            }
            assert_eq!(map.len(), capacity, "{capacity}");
            let oldest = 300 - capacity as u64;
            assert_eq!(map.remove(oldest - 1), None, "{capacity}");
            assert_eq!(map.remove(299), Some(299), "{capacity}");
            if capacity > 1 {
                assert_eq!(map.remove(oldest), Some(oldest), "{capacity}");
            }
        }
    }

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

    #[test]
    fn entries_pushed_out_of_their_slot_are_kept_up_to_the_capacity() {
        // 64 slots and 36 more in the tree.
        let mut map = InFlight::new(100);
        for id in 0..200u64 {
            map.insert(id, id * 10);
        }
        assert_eq!(map.len(), 100);
        // The newest 64 in their slots, the 36 before them in the tree; the
        // rest forgotten, oldest first.
        for id in 0..100 {
            assert_eq!(map.get_mut(id), None, "{id}");
        }
        for id in 100..200 {
            assert_eq!(map.get_mut(id).copied(), Some(id * 10), "{id}");
        }
        assert_eq!(map.remove(100), Some(1000));
        assert_eq!(map.remove(199), Some(1990));
        assert_eq!(map.remove(199), None);
        assert_eq!(map.len(), 98);
        // An id seen again replaces what was remembered, wherever it was.
        map.insert(101, 7);
        assert_eq!(map.remove(101), Some(7));
        assert_eq!(map.remove(101), None);
    }
}
