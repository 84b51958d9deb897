//! The message ids a source delivered lately, to skip a redelivery (an ack
//! that was lost or late) or a duplicate stored outside the server's
//! duplicate window.

use std::collections::{HashSet, VecDeque};

/// The last `capacity` ids, oldest forgotten first.
#[derive(Debug)]
pub(crate) struct Recent {
    capacity: usize,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    pub fn new(capacity: usize) -> Self {
        Recent {
            capacity,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers `id`; false if it was already remembered.
    pub fn insert(&mut self, id: &str) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ids_only() {
        let mut r = Recent::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"));
        assert!(r.insert("a"), "a was forgotten when c came");
        assert!(!r.insert("c"));
    }
}
