//! The read-only switch: flipped by whoever decides (the rule engine's
//! read-only mode), obeyed by every connection of the pools watching it.
//!
//! A guard judges statements by parsing them, and a parser can misread.
//! When read-only mode is on, a pool also makes the database itself refuse
//! writes (PostgreSQL `default_transaction_read_only`, MySQL/MariaDB
//! `SET SESSION TRANSACTION READ ONLY`, SQLite `PRAGMA query_only`), so a
//! statement the parser took for a read still cannot write.
//!
//! The switch is one atomic counter, bumped on every change, whose parity is
//! the state: a connection remembers the count it last applied and compares
//! it before its next piece of work, one atomic load.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A read-only mode, shared by whoever flips it and whoever obeys it.
/// Cheap to clone: clones are the same switch.
#[derive(Clone, Default)]
pub struct ReadOnly(Arc<AtomicU64>);

impl ReadOnly {
    /// A switch, on or off.
    pub fn new(on: bool) -> Self {
        ReadOnly(Arc::new(AtomicU64::new(u64::from(on))))
    }

    /// Turns the mode on or off; returns whether that changed it.
    pub fn set(&self, on: bool) -> bool {
        let mut current = self.0.load(Ordering::Acquire);
        loop {
            if (current & 1 == 1) == on {
                return false;
            }
            match self.0.compare_exchange_weak(
                current,
                current.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Whether the mode is on.
    pub fn is_on(&self) -> bool {
        self.generation() & 1 == 1
    }

    /// A count that changes with every switch (its parity is the state):
    /// equal counts mean nothing changed in between.
    pub fn generation(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Whether `self` and `other` are the same switch.
    pub fn same(&self, other: &ReadOnly) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for ReadOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReadOnly").field(&self.is_on()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_reports_changes_and_its_generation_moves_with_them() {
        let s = ReadOnly::new(false);
        let g0 = s.generation();
        assert!(!s.is_on());
        assert!(!s.set(false), "already off");
        assert_eq!(s.generation(), g0);
        assert!(s.set(true));
        assert!(s.is_on());
        let g1 = s.generation();
        assert_ne!(g1, g0);
        assert!(!s.set(true), "already on");
        assert_eq!(s.generation(), g1);
        assert!(s.clone().set(false), "clones are the same switch");
        assert!(!s.is_on());
        assert_ne!(s.generation(), g1);
        assert!(ReadOnly::new(true).is_on());
    }

    #[test]
    fn concurrent_flips_leave_a_consistent_state() {
        let s = ReadOnly::new(false);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for n in 0..1000 {
                        s.set((n + i) % 2 == 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a flipping thread");
        }
        // Every change was one step: the parity still is the state.
        assert_eq!(s.is_on(), s.generation() % 2 == 1);
        let before = s.generation();
        assert!(s.set(!s.is_on()));
        assert_eq!(s.generation(), before + 1);
    }
}
