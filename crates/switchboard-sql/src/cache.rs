//! A bounded, thread-safe LRU cache in front of [`classify`], for the hot
//! path where every statement is classified before it runs.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use parking_lot::Mutex;

use crate::{Dialect, classify};

pub use switchboard_core::class::Classified;

/// How often a [`Classifier`] answered from its cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that parsed the text (including texts too long to cache and
    /// every lookup when the capacity is 0).
    pub misses: u64,
}

/// Classifies SQL through a bounded LRU cache keyed by (dialect, SQL text).
///
/// Applications send the same few statements over and over, so parsing each
/// distinct text once pays for itself. Bounds, and what happens at them:
///
/// - at most `capacity` entries; inserting into a full cache evicts the
///   least recently used entry. A capacity of 0 disables caching.
/// - texts longer than [`max_sql_len`](Self::with_max_sql_len) bytes
///   (default 16 KiB) are classified but never stored, so that a few huge
///   literal-laden statements cannot pin memory.
///
/// Parse failures are cached too: the same bad text fails the same way.
/// Methods take `&self`; share one `Classifier` between threads (in an
/// `Arc` or a `static`). Two threads missing on the same text at once both
/// parse it; the second insert replaces the first with an equal result.
pub struct Classifier {
    /// The cache; a mutex because even a hit reorders the LRU list. Held
    /// only for one lookup or one insert, never while parsing. `None` when
    /// the capacity is 0.
    entries: Option<Mutex<LruCache<CacheKey, Classified, foldhash::quality::RandomState>>>,
    /// Texts longer than this many bytes bypass the cache.
    max_sql_len: usize,
    /// Statistics, outside the mutex so that reading them never waits.
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Classifier {
    /// The capacity of [`Classifier::default`].
    pub const DEFAULT_CAPACITY: usize = 1024;
    /// The default for [`with_max_sql_len`](Self::with_max_sql_len): 16 KiB.
    pub const DEFAULT_MAX_SQL_LEN: usize = 16 * 1024;

    /// A classifier caching up to `capacity` results (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Classifier {
            entries: NonZeroUsize::new(capacity)
                .map(|cap| Mutex::new(LruCache::with_hasher(cap, Default::default()))),
            max_sql_len: Self::DEFAULT_MAX_SQL_LEN,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Texts longer than `bytes` are classified on every call and never
    /// stored.
    #[must_use]
    pub fn with_max_sql_len(mut self, bytes: usize) -> Self {
        self.max_sql_len = bytes;
        self
    }

    /// Classifies `sql`, from the cache when this (dialect, text) was seen
    /// recently. See [`classify`](crate::classify()) for what is reported.
    pub fn classify(&self, sql: &str, dialect: Dialect) -> Classified {
        let Some(entries) = self
            .entries
            .as_ref()
            .filter(|_| sql.len() <= self.max_sql_len)
        else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Arc::new(classify(sql, dialect));
        };

        let key: &dyn KeyView = &(dialect, sql);
        if let Some(hit) = entries.lock().get(key).cloned() {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return hit;
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let result = Arc::new(classify(sql, dialect));
        let key = CacheKey {
            dialect,
            sql: sql.into(),
        };
        entries.lock().put(key, Arc::clone(&result));
        result
    }

    /// How many results are cached now.
    pub fn len(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |entries| entries.lock().len())
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most results this classifier keeps.
    pub fn capacity(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |entries| entries.lock().cap().get())
    }

    /// Hits and misses since the classifier was created.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

impl Default for Classifier {
    /// Capacity [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) (1024).
    fn default() -> Self {
        Classifier::new(Self::DEFAULT_CAPACITY)
    }
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("max_sql_len", &self.max_sql_len)
            .field("stats", &self.stats())
            .finish()
    }
}

/// An owned cache key.
#[derive(Debug)]
struct CacheKey {
    dialect: Dialect,
    sql: Box<str>,
}

/// A (dialect, text) pair, owned or borrowed, so that a lookup can use the
/// caller's `&str` instead of copying it into a key: the cache is keyed by
/// `CacheKey` and looked up through `dyn KeyView`, which `CacheKey` borrows
/// as. Hash and equality are defined once, on `dyn KeyView`, so both forms
/// agree.
trait KeyView {
    fn dialect(&self) -> Dialect;
    fn sql(&self) -> &str;
}

impl KeyView for CacheKey {
    fn dialect(&self) -> Dialect {
        self.dialect
    }
    fn sql(&self) -> &str {
        &self.sql
    }
}

impl KeyView for (Dialect, &str) {
    fn dialect(&self) -> Dialect {
        self.0
    }
    fn sql(&self) -> &str {
        self.1
    }
}

impl Hash for dyn KeyView + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.dialect().hash(state);
        self.sql().hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.dialect() == other.dialect() && self.sql() == other.sql()
    }
}

impl Eq for dyn KeyView + '_ {}

impl<'a> Borrow<dyn KeyView + 'a> for CacheKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl Hash for CacheKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self as &dyn KeyView).hash(state);
    }
}

impl PartialEq for CacheKey {
    fn eq(&self, other: &Self) -> bool {
        (self as &dyn KeyView) == (other as &dyn KeyView)
    }
}

impl Eq for CacheKey {}

#[cfg(test)]
mod tests;
