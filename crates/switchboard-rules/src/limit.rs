//! The state of the stateful rules: a token bucket (`rate_limit`) and a
//! count of statements in flight (`max_concurrent`) per value of a label.
//!
//! Both are bounded by `max_label_values` per rule:
//! - a rate limit forgets the least recently seen value when it must track
//!   a new one; a forgotten value starts again with a full bucket;
//! - a concurrency limit forgets values with nothing in flight; when every
//!   tracked value has statements in flight it refuses to track another
//!   (a new value is denied, or reported in shadow mode).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use lru::LruCache;
use parking_lot::Mutex;

/// A token bucket per label value: `burst` tokens at most, refilled at
/// `per_second` by the checks' own time (`Check::at`), so that replays and
/// tests decide as the live engine did. Time that goes backwards refills
/// nothing.
#[derive(Debug)]
pub(crate) struct RateLimit {
    pub label: Box<str>,
    pub per_second: f64,
    pub burst: f64,
    /// Kept across a reload for a rule of the same name, kind and label.
    pub state: Arc<Buckets>,
}

/// The buckets of one rate limit.
#[derive(Debug)]
pub(crate) struct Buckets {
    /// Every check of a value updates its bucket and its place in the LRU
    /// order, so one mutex, held for one lookup, guards both.
    buckets: Mutex<LruCache<Box<str>, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    /// The latest check time seen; refills are measured from it.
    last: DateTime<Utc>,
}

impl Buckets {
    /// Empty, tracking at most `values` label values.
    pub(crate) fn new(values: NonZeroUsize) -> Arc<Self> {
        Arc::new(Buckets {
            buckets: Mutex::new(LruCache::new(values)),
        })
    }

    /// Tracks at most `values` label values from now on (evicting the least
    /// recently used when it shrinks).
    pub(crate) fn resize(&self, values: NonZeroUsize) {
        self.buckets.lock().resize(values);
    }
}

impl RateLimit {
    /// Takes a token for `value` at `at`; `false` when there is none.
    pub(crate) fn take(&self, value: &str, at: DateTime<Utc>) -> bool {
        let mut buckets = self.state.buckets.lock();
        match buckets.get_mut(value) {
            Some(bucket) => {
                bucket.tokens = self.level(bucket, at);
                bucket.last = bucket.last.max(at);
                if bucket.tokens >= 1.0 {
                    bucket.tokens -= 1.0;
                    true
                } else {
                    false
                }
            }
            None => {
                let bucket = Bucket {
                    tokens: self.burst - 1.0,
                    last: at,
                };
                buckets.put(value.into(), bucket);
                true
            }
        }
    }

    /// Whether [`take`](Self::take) would succeed, changing nothing.
    pub(crate) fn peek(&self, value: &str, at: DateTime<Utc>) -> bool {
        let buckets = self.state.buckets.lock();
        buckets
            .peek(value)
            .is_none_or(|bucket| self.level(bucket, at) >= 1.0)
    }

    /// Gives back a token [`take`](Self::take) took, because a later rule
    /// denied the statement.
    pub(crate) fn give_back(&self, value: &str) {
        if let Some(bucket) = self.state.buckets.lock().peek_mut(value) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
        }
    }

    /// The tokens in `bucket` at `at`.
    fn level(&self, bucket: &Bucket, at: DateTime<Utc>) -> f64 {
        let refill = match (at - bucket.last).num_nanoseconds() {
            Some(ns) if ns > 0 => ns as f64 * 1e-9 * self.per_second,
            Some(_) => 0.0,
            // More than 292 years apart: full if forwards, nothing if back.
            None if at > bucket.last => self.burst,
            None => 0.0,
        };
        (bucket.tokens + refill).min(self.burst)
    }
}

/// At most `max` statements in flight per label value. A statement counts
/// from its check until the [`Hold`] in its permit is dropped, which the
/// connection does when the statement ends.
#[derive(Debug)]
pub(crate) struct ConcurrencyLimit {
    pub label: Box<str>,
    pub max: u32,
    /// How many label values it tracks at most.
    pub values: usize,
    /// Kept across a reload for a rule of the same name, kind and label, so
    /// that statements in flight still count.
    pub state: Arc<InFlight>,
}

/// The in-flight counts of one concurrency limit.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// Counts are raised under this lock, so that two checks cannot both
    /// take the last place; a [`Hold`] lowers its count without it. Values
    /// at zero are swept out when the map is full.
    counts: Mutex<HashMap<Box<str>, Arc<AtomicU32>>>,
}

impl InFlight {
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }
}

/// One statement counted in flight; dropping it stops counting it.
#[derive(Debug)]
pub(crate) struct Hold(Arc<AtomicU32>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How a concurrency limit is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Count the statement in if there is room.
    Enforce,
    /// Count it in even when there is no room (the rule is shadowed, the
    /// statement runs).
    Shadow,
    /// Count nothing (explaining).
    DryRun,
}

/// A concurrency limit's answer.
#[derive(Debug)]
pub(crate) enum Admission {
    /// There was room; the hold counts the statement (none in a dry run).
    Room(Option<Hold>),
    /// `max` statements were in flight; counted anyway when shadowed.
    Full(Option<Hold>),
    /// The value is new and every tracked value has statements in flight.
    Untracked,
}

impl ConcurrencyLimit {
    /// Asks for a place for a statement with label value `value`.
    pub(crate) fn admit(&self, value: &str, admit: Admit) -> Admission {
        let mut counts = self.state.counts.lock();
        let count = match counts.get(value) {
            Some(count) => Arc::clone(count),
            None => {
                if counts.len() >= self.values {
                    counts.retain(|_, count| count.load(Ordering::Acquire) > 0);
                }
                if counts.len() >= self.values {
                    return Admission::Untracked;
                }
                let count = Arc::new(AtomicU32::new(0));
                if admit != Admit::DryRun {
                    counts.insert(value.into(), Arc::clone(&count));
                }
                count
            }
        };
        let room = count.load(Ordering::Acquire) < self.max;
        let hold = match (admit, room) {
            (Admit::DryRun, _) | (Admit::Enforce, false) => None,
            (Admit::Enforce, true) | (Admit::Shadow, _) => {
                count.fetch_add(1, Ordering::AcqRel);
                Some(Hold(count))
            }
        };
        if room {
            Admission::Room(hold)
        } else {
            Admission::Full(hold)
        }
    }

    /// Statements in flight for `value` (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn in_flight(&self, value: &str) -> u32 {
        self.state
            .counts
            .lock()
            .get(value)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Label values tracked (for tests).
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.state.counts.lock().len()
    }
}

#[cfg(test)]
mod tests;
