//! How long each statement text takes on the server, as measured: what the
//! pool's placement reads to tell a statement known to be fast (which may
//! be pipelined behind others, and have others pipelined behind it) from
//! one that is slow or not yet seen (which gets a connection to itself).
//!
//! Statements are named by a key: a hash of an `Execute`'s SQL text, or of
//! a typed `Load` query's type when its text depends on its type alone
//! ([`LoadAny::sql_key`](crate::LoadAny::sql_key)). Keys live in a fixed
//! table, each in the slot its hash picks; a key that meets another one
//! there takes its place, so the table never grows, and a text pushed out
//! is just not known any more. Connections record, the manager reads; the
//! slots are atomics, so neither waits for the other.

use std::hash::{BuildHasher, Hash};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A statement whose time, averaged over its recent runs, is below this
/// is fast. A statement sent behind another waits for it: one known to take
/// longer must not have others behind it.
pub(crate) const FAST_BELOW: Duration = Duration::from_millis(1);

/// Slots in the table: distinct statement texts known at once, about.
const SLOTS: usize = 1024;

/// Each run weighs 1/2^WEIGHT in the average: a text that turns slow stops
/// being pipelined within a few runs (a first run of 50 ms makes a 50 µs
/// text's average 6 ms), and one that turns fast again is after about a
/// dozen.
const WEIGHT: u32 = 3;

/// Measured times of statement texts, by key.
pub(crate) struct Timings {
    /// `(key, average nanoseconds)` per slot; key 0 marks an empty slot.
    slots: Box<[(AtomicU64, AtomicU64)]>,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            slots: (0..SLOTS)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
        }
    }
}

impl Timings {
    /// The key of a statement named by `name` (its SQL text, or its query
    /// type). Never 0.
    pub(crate) fn key<T: Hash + ?Sized>(name: &T) -> u64 {
        static SEED: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);
        SEED.hash_one(name) | 1
    }

    fn slot(&self, key: u64) -> &(AtomicU64, AtomicU64) {
        &self.slots[(key >> 32) as usize % SLOTS]
    }

    /// Notes that the statement `key` took `took` on the server.
    pub(crate) fn record(&self, key: u64, took: Duration) {
        let (k, avg) = self.slot(key);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        // Two connections recording at once may lose one of the two
        // samples, or mix a sample into another key's average just taken
        // over; either only blurs an estimate.
        if k.load(Ordering::Relaxed) == key {
            let old = avg.load(Ordering::Relaxed);
            let new = (old - (old >> WEIGHT)).saturating_add(nanos >> WEIGHT);
            avg.store(new, Ordering::Relaxed);
        } else {
            avg.store(nanos, Ordering::Relaxed);
            k.store(key, Ordering::Relaxed);
        }
    }

    /// Whether the statement `key` is known and fast.
    pub(crate) fn is_fast(&self, key: u64) -> bool {
        let (k, avg) = self.slot(key);
        k.load(Ordering::Relaxed) == key
            && avg.load(Ordering::Relaxed) < FAST_BELOW.as_nanos() as u64
    }

    #[cfg(test)]
    fn average(&self, key: u64) -> Option<Duration> {
        let (k, avg) = self.slot(key);
        (k.load(Ordering::Relaxed) == key)
            .then(|| Duration::from_nanos(avg.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_statement_is_fast_once_measured_fast() {
        let t = Timings::default();
        let key = Timings::key(&"SELECT 1");
        assert!(!t.is_fast(key), "never measured: not known to be fast");
        t.record(key, Duration::from_micros(40));
        assert!(t.is_fast(key));
    }

    #[test]
    fn one_slow_run_makes_a_fast_statement_slow_for_a_while() {
        let t = Timings::default();
        let key = Timings::key(&"SELECT report()");
        for _ in 0..100 {
            t.record(key, Duration::from_micros(50));
        }
        t.record(key, 50 * MS);
        assert!(!t.is_fast(key));
        let mut runs = 0;
        while !t.is_fast(key) {
            t.record(key, Duration::from_micros(50));
            runs += 1;
            assert!(runs < 100, "never fast again");
        }
        assert!(runs > 5, "fast again after {runs} runs");
        assert!(t.average(key).is_some_and(|a| a < MS));
    }

    #[test]
    fn a_slow_statement_stays_slow() {
        let t = Timings::default();
        let key = Timings::key(&"SELECT pg_sleep(0.05)");
        for _ in 0..1000 {
            t.record(key, 50 * MS);
            assert!(!t.is_fast(key));
        }
    }

    #[test]
    fn a_key_taking_over_a_slot_starts_afresh() {
        let t = Timings::default();
        // Two keys for the same slot.
        let a = 1 | (5u64 << 32);
        let b = 3 | (5u64 << 32);
        t.record(a, Duration::from_micros(10));
        t.record(b, 50 * MS);
        assert!(!t.is_fast(a), "pushed out: not known any more");
        assert!(!t.is_fast(b));
        assert_eq!(t.average(b), Some(50 * MS));
    }
}
