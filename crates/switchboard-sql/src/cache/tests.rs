//! The cache: hits are counted, the bound holds, the least recently used
//! entry goes first, and failures are cached like successes.

use std::sync::Arc;

use crate::{CacheStats, Classifier, Dialect, classify};

fn stats(hits: u64, misses: u64) -> CacheStats {
    CacheStats { hits, misses }
}

#[test]
fn a_repeated_statement_is_a_hit_sharing_one_result() {
    let classifier = Classifier::new(8);
    let first = classifier.classify("SELECT * FROM users", Dialect::Postgres);
    let second = classifier.classify("SELECT * FROM users", Dialect::Postgres);

    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(*first, classify("SELECT * FROM users", Dialect::Postgres));
    assert_eq!(classifier.stats(), stats(1, 1));
    assert_eq!(classifier.len(), 1);
}

#[test]
fn the_dialect_is_part_of_the_key() {
    let classifier = Classifier::new(8);
    let mysql = classifier.classify("SELECT * FROM t WHERE a = ?", Dialect::Mysql);
    let postgres = classifier.classify("SELECT * FROM t WHERE a = ?", Dialect::Postgres);

    assert!(mysql.is_ok());
    assert!(postgres.is_err());
    assert_eq!(classifier.stats(), stats(0, 2));
    assert_eq!(classifier.len(), 2);
}

#[test]
fn parse_failures_are_cached_too() {
    let classifier = Classifier::new(8);
    let first = classifier.classify("SELEC 1", Dialect::Sqlite);
    let second = classifier.classify("SELEC 1", Dialect::Sqlite);

    assert!(first.is_err());
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(classifier.stats(), stats(1, 1));
}

#[test]
fn the_capacity_bounds_the_number_of_entries() {
    let classifier = Classifier::new(3);
    for n in 0..10 {
        classifier.classify(&format!("SELECT {n}"), Dialect::Generic);
        assert!(classifier.len() <= 3);
    }
    assert_eq!(classifier.len(), 3);
    assert_eq!(classifier.capacity(), 3);
    assert_eq!(classifier.stats(), stats(0, 10));
}

#[test]
fn the_least_recently_used_entry_is_evicted_first() {
    let classifier = Classifier::new(2);
    classifier.classify("SELECT 1", Dialect::Postgres); // miss: [1]
    classifier.classify("SELECT 2", Dialect::Postgres); // miss: [2, 1]
    classifier.classify("SELECT 1", Dialect::Postgres); // hit:  [1, 2]
    classifier.classify("SELECT 3", Dialect::Postgres); // miss, evicts 2: [3, 1]
    assert_eq!(classifier.stats(), stats(1, 3));

    classifier.classify("SELECT 1", Dialect::Postgres); // still cached
    assert_eq!(classifier.stats(), stats(2, 3));
    classifier.classify("SELECT 2", Dialect::Postgres); // was evicted
    assert_eq!(classifier.stats(), stats(2, 4));
}

#[test]
fn capacity_zero_disables_caching() {
    let classifier = Classifier::new(0);
    let first = classifier.classify("SELECT 1", Dialect::Postgres);
    let second = classifier.classify("SELECT 1", Dialect::Postgres);

    assert_eq!(first, second);
    assert!(!Arc::ptr_eq(&first, &second));
    assert!(classifier.is_empty());
    assert_eq!(classifier.capacity(), 0);
    assert_eq!(classifier.stats(), stats(0, 2));
}

#[test]
fn texts_longer_than_the_limit_are_classified_but_not_stored() {
    let classifier = Classifier::new(8).with_max_sql_len(20);
    let long = "SELECT * FROM a_rather_long_table_name";
    assert!(classifier.classify(long, Dialect::Postgres).is_ok());
    assert!(classifier.classify(long, Dialect::Postgres).is_ok());
    assert!(classifier.is_empty());

    classifier.classify("SELECT 1", Dialect::Postgres);
    classifier.classify("SELECT 1", Dialect::Postgres);
    assert_eq!(classifier.len(), 1);
    assert_eq!(classifier.stats(), stats(1, 3));
}

#[test]
fn the_default_holds_1024_entries() {
    let classifier = Classifier::default();
    assert_eq!(classifier.capacity(), 1024);
    assert_eq!(Classifier::DEFAULT_CAPACITY, 1024);
    assert!(classifier.is_empty());
    assert_eq!(classifier.stats(), CacheStats::default());
}

#[test]
fn one_classifier_serves_many_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Classifier>();

    let classifier = Classifier::new(16);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for n in 0..8 {
                    let result = classifier.classify(&format!("SELECT {n}"), Dialect::Mysql);
                    assert!(result.is_ok());
                }
            });
        }
    });
    let CacheStats { hits, misses } = classifier.stats();
    assert_eq!(hits + misses, 32);
    // Each text is parsed at least once, and at most once per thread.
    assert!((8..=32).contains(&misses), "misses: {misses}");
    assert_eq!(classifier.len(), 8);
}
