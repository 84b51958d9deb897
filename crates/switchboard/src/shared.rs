//! What the manager, its connections and its handles share about one pool.

use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_core::bus::PoolAttachment;
use switchboard_core::redact::Scrubber;
use switchboard_core::status::PoolStats;
use switchboard_core::{
    Backend, Bus, Classified, DatabaseUrl, Emitter, Error, Guards, Params, Result,
};
use switchboard_sql::{Classifier, Dialect};

use crate::FastMap;
use crate::config::{ParamPolicy, PoolConfig};
use crate::connection::Hooks;
use crate::connection::reset::{self, Effect};
use crate::load::LoadAny;
use crate::statement::backstop::Switches;
use crate::timings::Timings;

/// A `Load` query's SQL text, its classification and its parameters as
/// guards and events show them.
pub(crate) type LoadSql = (Arc<str>, Classified, Params);

/// Read-only facts and shared counters of one pool. Public in name only
/// (this module is private), as `Placement`'s argument.
pub struct Shared {
    pub(crate) config: PoolConfig,
    pub(crate) pool: Arc<str>,
    pub(crate) url: DatabaseUrl,
    pub(crate) backend: Backend,
    /// What diesel opens for SQLite (a path or a shared-memory URI).
    pub(crate) sqlite_path: Option<String>,
    pub(crate) bus: Bus,
    /// Asked before every connect and statement.
    pub(crate) guards: Guards,
    /// Connection setup, checkout and disconnect hooks.
    pub(crate) hooks: Hooks,
    /// Publishes the pool's own events (no connection).
    pub(crate) events: Emitter,
    /// The pool on its bus: released once the pool has drained, or when
    /// the last holder of this state goes; the last pool to leave a bus
    /// ends its subscriptions (channels disconnect, subscriber threads and
    /// actors are let go).
    pub(crate) attachment: PoolAttachment,
    /// Statement classification, cached by SQL text.
    pub(crate) classifier: Classifier,
    /// The SQL text, classification and (redacted) parameters of `Load`
    /// queries whose text depends on their type alone, by
    /// [`LoadAny::sql_key`]: built once, not per statement. (A type fixes
    /// its binds' types too; values are never cached.)
    pub(crate) load_sql: parking_lot::RwLock<FastMap<TypeId, LoadSql>>,
    /// What statements leave behind on their session, judged once per
    /// classification (see [`Shared::effect`]).
    effects: parking_lot::Mutex<FastMap<usize, (Classified, Effect)>>,
    pub(crate) dialect: Dialect,
    pub(crate) scrubber: Scrubber,
    pub(crate) stats: Counters,
    /// Set while connects fail and are retried; cleared by a success.
    pub(crate) outage: parking_lot::Mutex<Option<Outage>>,
    /// Set by `shutdown()`: a manager that stops answering was shut down,
    /// not lost.
    pub(crate) closed: std::sync::atomic::AtomicBool,
    /// How long statements take, as connections measure them: the
    /// manager pipelines only statements known to be fast.
    pub(crate) timings: Timings,
    /// The read-only switches the pool obeys (its guards' and the
    /// builder's): while one is on, the database refuses writes too.
    pub(crate) read_only: Switches,
}

/// The state of a connect outage, for callers' `Unreachable` errors.
#[derive(Debug, Clone)]
pub(crate) struct Outage {
    pub(crate) attempts: u32,
    pub(crate) last_error: String,
    pub(crate) retry_every: std::time::Duration,
}

impl Shared {
    /// A pool's shared state, its counters at zero and its caches empty.
    pub(crate) fn new(
        config: PoolConfig,
        url: DatabaseUrl,
        backend: Backend,
        sqlite_path: Option<String>,
        bus: Bus,
        guards: Guards,
        hooks: Hooks,
    ) -> Self {
        let pool: Arc<str> = Arc::from(config.name.as_str());
        Shared {
            events: Emitter::for_pool(bus.clone(), pool.clone(), backend),
            attachment: bus.attach_pool(),
            pool,
            classifier: Classifier::new(config.classifier_cache),
            load_sql: Default::default(),
            effects: Default::default(),
            dialect: Dialect::for_backend(backend),
            scrubber: url.scrubber(),
            config,
            url,
            backend,
            sqlite_path,
            bus,
            guards,
            hooks,
            stats: Counters::default(),
            outage: Default::default(),
            closed: Default::default(),
            timings: Timings::default(),
            read_only: Switches::default(),
        }
    }

    /// What `sql`, classified as `classified`, leaves behind on its session
    /// ([`reset::effect`]), judged once per classification: the classifier
    /// and the typed-SQL cache hand out one `Classified` per text, and
    /// judging means scanning the text for session functions, on every
    /// statement. Keyed by the classification's address, which stays its
    /// own while the memo holds a clone of it; bounded like the
    /// classifier's cache (past it, the memo starts again).
    pub(crate) fn effect(&self, sql: &str, classified: &Classified) -> Effect {
        let key = Arc::as_ptr(classified) as usize;
        if let Some((_, effect)) = self.effects.lock().get(&key) {
            return *effect;
        }
        let effect = reset::effect(sql, classified);
        // Held by this statement alone: no cache hands it out again.
        if Arc::strong_count(classified) == 1 {
            return effect;
        }
        let mut effects = self.effects.lock();
        if effects.len() >= self.config.classifier_cache.max(1) {
            effects.clear();
        }
        effects.insert(key, (classified.clone(), effect));
        effect
    }

    /// The same shared state, obeying `switches`.
    pub(crate) fn with_read_only(mut self, switches: Switches) -> Self {
        self.read_only = switches;
        self
    }

    /// The SQL text of a `Load` query, its classification and parameters,
    /// from the cache when the text depends on the query's type alone (and
    /// values are not shown).
    pub(crate) fn load_sql<Q: LoadAny<U>, U>(&self, query: &Q) -> Result<LoadSql> {
        let plain = self.config.params == ParamPolicy::Plain;
        self.typed_sql(query.sql_key(self.backend), || {
            Ok((
                query.sql_for(self.backend)?,
                query.params_for(self.backend, plain)?,
            ))
        })
    }

    /// The SQL text, classification and parameters of a typed query: from
    /// the cache when `key` names its type (whose text, and whose binds'
    /// types, depend on the type alone) and values are not shown; else
    /// from `make` (text and parameters), classified, and cached when
    /// `key` allows.
    pub(crate) fn typed_sql(
        &self,
        key: Option<TypeId>,
        make: impl FnOnce() -> diesel::QueryResult<(String, Params)>,
    ) -> Result<LoadSql> {
        let key = key.filter(|_| self.config.params != ParamPolicy::Plain);
        if let Some(hit) = key.and_then(|k| self.load_sql.read().get(&k).cloned()) {
            return Ok(hit);
        }
        let (sql, params) = make().map_err(Error::from)?;
        let sql: Arc<str> = sql.into();
        let classified = self.classifier.classify(&sql, self.dialect);
        if let Some(key) = key {
            let mut cache = self.load_sql.write();
            // Bounded like the classifier: past it, texts are built per use.
            if cache.len() < self.config.classifier_cache {
                cache.insert(key, (sql.clone(), classified.clone(), params.clone()));
            }
        }
        Ok((sql, classified, params))
    }

    /// A driver error as the secret-free [`Error`] callers and events get:
    /// the server's own codes, no password, and (unless the pool shows bind
    /// values) none of the row values servers quote in their messages.
    pub(crate) fn db_error(&self, err: &diesel::result::Error) -> Error {
        self.redact_values(
            self.scrub(Error::from_diesel(err, self.backend)),
            &[] as &[&str],
        )
    }

    /// Under [`ParamPolicy::Redacted`], `err` without `values` (a
    /// statement's binds as text) and the row values the server's message
    /// quotes.
    pub(crate) fn redact_values<S: AsRef<str>>(&self, err: Error, values: &[S]) -> Error {
        match self.config.params {
            ParamPolicy::Redacted => err.without_values(values),
            _ => err,
        }
    }

    /// Removes any secret from the text an error carries.
    pub(crate) fn scrub(&self, err: Error) -> Error {
        let s = |m: String| self.scrubber.scrub(&m);
        match err {
            Error::Database {
                kind,
                code,
                message,
            } => Error::Database {
                kind,
                code,
                message: s(message),
            },
            Error::ConnectionLost { message } => Error::ConnectionLost {
                message: s(message),
            },
            Error::Driver(m) => Error::Driver(s(m)),
            Error::Connect {
                target,
                kind,
                message,
            } => Error::Connect {
                target,
                kind,
                message: s(message),
            },
            other => other,
        }
    }
}

/// Pool sizes, kept by the manager and read by anyone.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) open: AtomicUsize,
    pub(crate) idle: AtomicUsize,
    pub(crate) waiting: AtomicUsize,
    pub(crate) connecting: AtomicUsize,
}

impl Counters {
    pub(crate) fn snapshot(&self, max: usize) -> PoolStats {
        PoolStats::new(
            self.open.load(Ordering::Relaxed),
            self.idle.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
            self.connecting.load(Ordering::Relaxed),
            max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Shared {
        Shared::new(
            PoolConfig::default(),
            DatabaseUrl::parse("postgres://u@localhost/db").expect("a URL"),
            Backend::Postgres,
            None,
            Bus::new(),
            Guards::default(),
            Default::default(),
        )
    }

    #[test]
    fn a_cached_classification_is_judged_once_and_judged_right() {
        let shared = shared();
        for sql in [
            "SELECT 1",
            "SELECT set_config('app.tenant', '7', false)",
            "BEGIN",
            "CREATE TEMP TABLE t (a int)",
        ] {
            let classified = shared.classifier.classify(sql, shared.dialect);
            let judged = shared.effect(sql, &classified);
            assert_eq!(judged, reset::effect(sql, &classified), "{sql}");
            // The second time, from the memo: the same answer.
            let again = shared.classifier.classify(sql, shared.dialect);
            assert!(Arc::ptr_eq(&classified, &again));
            assert_eq!(shared.effect(sql, &again), judged, "{sql}");
        }
        assert_eq!(shared.effects.lock().len(), 4);
        // A classification no cache holds is judged, not kept.
        let lone: Classified = Arc::new(switchboard_sql::classify("SET x = 1", shared.dialect));
        assert!(shared.effect("SET x = 1", &lone).session);
        assert_eq!(shared.effects.lock().len(), 4);
    }
}
