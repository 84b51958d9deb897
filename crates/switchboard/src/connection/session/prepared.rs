//! Prepared statements for `Execute`: SQL text a connection runs again
//! reuses the statement the backend prepared for it the time before, so a
//! repeated `INSERT` costs one round trip instead of two (prepare, then
//! execute).
//!
//! diesel never caches a raw SQL query (`sql_query`), since its text may
//! be built from values and the cache would grow without bound. Here each
//! connection keeps its own bounded set of texts it may cache: a text is
//! admitted the second time the connection runs it (one-off texts, such as
//! those with values spelled into them, never take a place), and at most
//! [`KEPT`] texts are admitted. Texts beyond that run unprepared, as every
//! text did before; none is ever evicted, since diesel cannot drop one
//! statement from its cache (and MySQL keeps a dropped statement on the
//! server until the connection closes).

use std::hash::BuildHasher;
use std::sync::Arc;

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};

/// Texts one connection keeps prepared at most. On MySQL, prepared
/// statements count against the server's `max_prepared_stmt_count`
/// (16,382 by default, for all connections together).
pub(crate) const KEPT: usize = 64;

/// Slots of the table of texts seen once.
const SEEN: usize = 256;

/// Which `Execute` texts one connection keeps prepared.
#[derive(Default)]
pub(crate) struct Texts {
    /// Hashes of texts run once, each in the slot its hash picks (a text
    /// that meets a different one there takes its place): made on the
    /// first `Execute`, so connections that run none carry no table.
    seen: Vec<u64>,
    /// The texts kept; its hasher also hashes the texts of `seen`.
    kept: std::collections::HashSet<Arc<str>, foldhash::fast::RandomState>,
}

impl Texts {
    /// Whether `sql` may be prepared and kept: it was kept already, or is
    /// run for the second time and there is room.
    pub(crate) fn admit(&mut self, sql: &Arc<str>) -> bool {
        if self.kept.contains(&**sql) {
            return true;
        }
        if self.kept.len() >= KEPT {
            return false;
        }
        let hash = self.kept.hasher().hash_one(&**sql) | 1;
        if self.seen.is_empty() {
            self.seen = vec![0; SEEN];
        }
        let slot = &mut self.seen[hash as usize % SEEN];
        if *slot == hash {
            *slot = 0;
            self.kept.insert(sql.clone());
            true
        } else {
            *slot = hash;
            false
        }
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.kept.len()
    }
}

/// A query diesel keeps prepared, by its SQL text, when `cache` is set.
pub(crate) struct Cached<Q> {
    pub(crate) query: Q,
    pub(crate) cache: bool,
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Cached<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    /// What the statement caches of diesel and diesel-async ask of the
    /// query they run. A raw SQL query answers no whatever its text; this
    /// one answers yes for a text its connection admitted. (Hidden in
    /// diesel's docs unless its `i-implement-a-third-party-backend...`
    /// feature is on, which diesel-async turns on.)
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        if self.cache {
            Ok(true)
        } else {
            self.query.is_safe_to_cache_prepared(backend)
        }
    }
}

/// No static id: diesel then keys the prepared statement by its SQL text
/// and bind types.
impl<Q> QueryId for Cached<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_kept_from_its_second_run() {
        let mut texts = Texts::default();
        let sql: Arc<str> = Arc::from("INSERT INTO t (a) VALUES ($1)");
        assert!(!texts.admit(&sql), "the first run is not kept");
        assert!(texts.admit(&sql), "the second is");
        assert!(texts.admit(&Arc::from("INSERT INTO t (a) VALUES ($1)")));
        assert_eq!(texts.kept(), 1);
    }

    #[test]
    fn one_off_texts_never_take_a_place() {
        let mut texts = Texts::default();
        for i in 0..10_000 {
            assert!(!texts.admit(&Arc::from(format!("SELECT {i}"))));
        }
        assert_eq!(texts.kept(), 0);
    }

    #[test]
    fn at_most_kept_texts_are_admitted() {
        let mut texts = Texts::default();
        let mut admitted = 0;
        for i in 0..KEPT * 4 {
            let sql: Arc<str> = Arc::from(format!("SELECT {i}"));
            texts.admit(&sql);
            admitted += usize::from(texts.admit(&sql));
        }
        assert_eq!(admitted, KEPT);
        assert_eq!(texts.kept(), KEPT);
        let first: Arc<str> = Arc::from("SELECT 0");
        assert!(texts.admit(&first), "a kept text stays kept");
    }
}
