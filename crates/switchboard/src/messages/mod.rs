//! Query messages: what callers send to a manager (or a lease).
//!
//! Every message can carry labels (request id, tenant, ...) that appear on
//! every event it causes, and a timeout covering the wait for a connection
//! and the work itself.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use diesel::query_builder::AsQuery;
use switchboard_core::{Classified, Labels, Result};

use crate::backend::DbConnection;
use crate::bind::{BindValue, Typed};
use crate::connection::{Job, Session};
use crate::guarded::{Isolation, TxOptions};
use crate::load::LoadAny;
use crate::shared::Shared;

/// Labels and timeout of one message.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Opts {
    /// Stamped on every event the message causes.
    pub labels: Labels,
    /// Limit on waiting for a connection plus running; `None` means only the
    /// pool's checkout timeout applies.
    pub timeout: Option<Duration>,
    /// Further attempts allowed when the connection is lost under the
    /// statement (set by `retryable`); 0: never retried.
    pub retries: u32,
    /// This message's attempt, from 1.
    pub attempt: u32,
}

impl Opts {
    /// The options of the next attempt: one retry fewer, the attempt
    /// number up and on the labels (`attempt = "2"`, ...), so every event of
    /// a retried statement says which attempt it belongs to.
    fn next_attempt(&self) -> Option<Opts> {
        if self.retries == 0 {
            return None;
        }
        let attempt = self.attempt.max(1) + 1;
        Some(Opts {
            labels: self.labels.clone().with("attempt", attempt.to_string()),
            timeout: self.timeout,
            retries: self.retries - 1,
            attempt,
        })
    }
}

/// The work a message turns into, run by a connection actor. Not
/// constructible outside this crate: [`Request`] is implemented only by the
/// messages in this module.
#[doc(hidden)]
pub struct Work<T>(pub(crate) Job<T>);

/// A message that runs on one connection: [`Execute`], [`Load`],
/// [`Transaction`], [`Interact`]. Send it to a [`Switchboard`](crate::Switchboard)
/// or a [`Lease`](crate::Lease).
pub trait Request: Placement + Send + 'static {
    /// What the message returns on success.
    type Output: Send + 'static;
    /// Splits the message into its work and options.
    #[doc(hidden)]
    fn into_work(self) -> (Work<Self::Output>, Opts);

    /// Whether the message is one independent autocommit statement, which
    /// may share a PostgreSQL connection with others (pipelining).
    #[doc(hidden)]
    fn pipelinable(&self) -> bool {
        false
    }

    /// Whether the message only reads (a typed `Load`): the pool pipelines
    /// reads, and spreads statements that may write over connections so
    /// that their commits share the server's log flushes.
    #[doc(hidden)]
    fn reads_only(&self) -> bool {
        false
    }

    /// The key under which the pool keeps this statement's measured time
    /// (see `timings`), if it names one statement text.
    #[doc(hidden)]
    fn timing_key(&self, _backend: switchboard_core::Backend) -> Option<u64> {
        None
    }

    /// The message to send again if this one loses its connection: `Some`
    /// only for a message marked `retryable` with retries left.
    #[doc(hidden)]
    fn next_attempt(&self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

mod placement {
    use crate::shared::Shared;

    /// How the pool may place a message: whether it may share a PostgreSQL
    /// connection with other callers' statements (pipelining). Public in
    /// name only, as [`Request`](super::Request)'s supertrait: nothing
    /// outside this crate can name it.
    pub trait Placement {
        /// Whether it is one autocommit statement that leaves nothing behind
        /// on its session (no transaction, no session state; see
        /// `connection::reset`): only such statements may share a
        /// connection, or one caller's `SET` would reach the others. What
        /// it learns on the way may be kept for the connection (see
        /// [`Execute`](super::Execute)).
        fn shareable(&mut self, shared: &Shared) -> bool;
    }
}

pub(crate) use placement::Placement;

impl Placement for Execute {
    fn shareable(&mut self, shared: &Shared) -> bool {
        let classified = shared.classifier.classify(&self.sql, shared.dialect);
        let neutral = shared.effect(&self.sql, &classified).is_neutral();
        // The connection would classify the same text again.
        self.classified = Some(classified);
        neutral
    }
}

impl<Q: LoadAny<U>, U> Placement for Load<Q, U> {
    fn shareable(&mut self, shared: &Shared) -> bool {
        match shared.load_sql(&self.query) {
            Ok((sql, classified, _)) => shared.effect(&sql, &classified).is_neutral(),
            Err(_) => false,
        }
    }
}

macro_rules! opts_methods {
    () => {
        /// Adds a label (request id, tenant, user, ...) to every event this
        /// message causes.
        pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.opts.labels = self.opts.labels.with(key, value);
            self
        }

        /// Replaces the labels.
        pub fn labels(mut self, labels: switchboard_core::Labels) -> Self {
            self.opts.labels = labels;
            self
        }

        /// Fails with [`Error::Timeout`](switchboard_core::Error::Timeout) if
        /// waiting for a connection and running take longer than this.
        pub fn timeout(mut self, timeout: std::time::Duration) -> Self {
            self.opts.timeout = Some(timeout);
            self
        }
    };
}

/// SQL text with typed binds; returns the number of rows affected.
///
/// Placeholders are the backend's own: `$1, $2` on PostgreSQL, `?` on MySQL
/// and SQLite (SQLite also accepts `$1`). A bind count that differs from the
/// placeholders is refused with `Error::BindMismatch` before the statement
/// is sent.
///
/// A connection keeps the text of an `Execute` it runs a second time
/// prepared, so that later runs cost one round trip instead of two (at
/// most 64 texts per connection; texts beyond run unprepared). An
/// `Execute` inside an `Interact` or `Transaction` closure is never kept.
#[derive(Clone)]
#[must_use]
pub struct Execute {
    pub(crate) sql: Arc<str>,
    pub(crate) binds: Vec<Arc<dyn BindValue>>,
    /// The SQL's classification, when the manager already asked for it
    /// (to place the statement).
    classified: Option<Classified>,
    opts: Opts,
}

impl std::fmt::Debug for Execute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Execute")
            .field("sql", &self.sql)
            .field("binds", &self.binds.len())
            .field("opts", &self.opts)
            .finish()
    }
}

impl Execute {
    /// A statement.
    pub fn sql(sql: impl Into<Arc<str>>) -> Self {
        Execute {
            sql: sql.into(),
            binds: Vec::new(),
            classified: None,
            opts: Opts::default(),
        }
    }

    /// Binds the next placeholder to `value` as SQL type `ST`
    /// (`diesel::sql_types::Integer`, `Text`, `Nullable<Bool>`, ...).
    pub fn bind<ST, T>(mut self, value: T) -> Self
    where
        Typed<ST, T>: BindValue,
    {
        self.binds.push(Typed::<ST, T>::boxed(value));
        self
    }

    /// Marks the statement safe to run again (a read, or an idempotent
    /// write): when its connection is lost under it (`Error::ConnectionLost`),
    /// it is sent again on another connection, at most `retries` times. Each
    /// attempt's events carry an `attempt` label (`"2"`, `"3"`, ...).
    /// Nothing else is ever retried.
    pub fn retryable(mut self, retries: u32) -> Self {
        self.opts.retries = retries;
        self
    }

    opts_methods!();
}

impl actix::Message for Execute {
    type Result = Result<usize>;
}

impl Request for Execute {
    type Output = usize;
    fn into_work(self) -> (Work<usize>, Opts) {
        let Execute {
            sql,
            binds,
            classified,
            opts,
        } = self;
        let job: Job<usize> =
            Box::new(move |s: &mut Session| Box::pin(s.execute(sql, binds, classified)));
        (Work(job), opts)
    }

    fn pipelinable(&self) -> bool {
        true
    }

    fn timing_key(&self, _: switchboard_core::Backend) -> Option<u64> {
        Some(crate::timings::Timings::key(&*self.sql))
    }

    fn next_attempt(&self) -> Option<Self> {
        // The options first: without retries there is no next attempt, and
        // nothing is copied (this is asked of every message).
        let opts = self.opts.next_attempt()?;
        Some(Execute {
            sql: self.sql.clone(),
            binds: self.binds.clone(),
            classified: self.classified.clone(),
            opts,
        })
    }
}

/// A typed diesel query; returns its rows as `Vec<U>`.
///
/// The query must build on all three backends (the usual diesel DSL does);
/// its SQL text for events comes from diesel's own query builder.
#[must_use]
pub struct Load<Q, U> {
    query: Q,
    opts: Opts,
    /// Copies the query for another attempt; set by `retryable`.
    copy: Option<fn(&Q) -> Q>,
    _rows: PhantomData<fn() -> U>,
}

impl<Q: std::fmt::Debug, U> std::fmt::Debug for Load<Q, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

impl<Q, U> Load<Q, U> {
    /// A query, e.g. `users::table.filter(users::active.eq(true))`.
    pub fn new<A>(query: A) -> Self
    where
        A: AsQuery<Query = Q>,
    {
        Load {
            query: query.as_query(),
            opts: Opts::default(),
            copy: None,
            _rows: PhantomData,
        }
    }

    /// Marks the query safe to run again: when its connection is lost
    /// under it, it is sent again on another connection, at most `retries`
    /// times; see [`Execute::retryable`].
    pub fn retryable(mut self, retries: u32) -> Self
    where
        Q: Clone,
    {
        self.opts.retries = retries;
        self.copy = Some(Q::clone);
        self
    }

    opts_methods!();
}

impl<Q, U> actix::Message for Load<Q, U>
where
    U: 'static,
{
    type Result = Result<Vec<U>>;
}

impl<Q, U> Request for Load<Q, U>
where
    Q: LoadAny<U>,
    U: Send + 'static,
{
    type Output = Vec<U>;
    fn into_work(self) -> (Work<Vec<U>>, Opts) {
        let query = self.query;
        let job: Job<Vec<U>> = Box::new(move |s: &mut Session| Box::pin(s.load(query)));
        (Work(job), self.opts)
    }

    fn pipelinable(&self) -> bool {
        true
    }

    fn reads_only(&self) -> bool {
        true
    }

    fn timing_key(&self, backend: switchboard_core::Backend) -> Option<u64> {
        self.query
            .sql_key(backend)
            .map(|id| crate::timings::Timings::key(&id))
    }

    fn next_attempt(&self) -> Option<Self> {
        let copy = self.copy?;
        let opts = self.opts.next_attempt()?;
        Some(Load {
            query: copy(&self.query),
            opts,
            copy: self.copy,
            _rows: PhantomData,
        })
    }
}

/// Declares a message that carries a closure given the connection, run by
/// the session method `$run`.
macro_rules! closure_message {
    ($(#[$doc:meta])* $name:ident, $run:ident, $what:literal) => {
        $(#[$doc])*
        #[must_use]
        pub struct $name<F, T> {
            f: F,
            opts: Opts,
            _out: PhantomData<fn() -> T>,
        }

        impl<F, T> $name<F, T>
        where
            F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
            T: Send + 'static,
        {
            #[doc = concat!("A message running `f` ", $what, ".")]
            pub fn new(f: F) -> Self {
                $name {
                    f,
                    opts: Opts::default(),
                    _out: PhantomData,
                }
            }

            opts_methods!();
        }

        impl<F, T> std::fmt::Debug for $name<F, T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("opts", &self.opts)
                    .finish_non_exhaustive()
            }
        }

        impl<F, T: 'static> actix::Message for $name<F, T> {
            type Result = Result<T>;
        }

        impl<F, T> Placement for $name<F, T> {
            fn shareable(&mut self, _: &Shared) -> bool {
                false
            }
        }

        impl<F, T> Request for $name<F, T>
        where
            F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
            T: Send + 'static,
        {
            type Output = T;
            fn into_work(self) -> (Work<T>, Opts) {
                let f = self.f;
                let job: Job<T> = Box::new(move |s: &mut Session| Box::pin(s.$run(f)));
                (Work(job), self.opts)
            }
        }
    };
}

mod transaction;
pub use transaction::Transaction;

closure_message!(
    /// A closure given the connection for anything else. Every statement it
    /// sends is guarded and reported like an `Execute` (origin `closure`).
    Interact,
    interact,
    "with the connection"
);

/// Asks for a [`Lease`](crate::Lease): one connection for a session of
/// several messages, returned to the pool when the lease is dropped.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Checkout {
    pub(crate) opts: Opts,
}

impl Checkout {
    /// A checkout request.
    pub fn new() -> Self {
        Checkout::default()
    }

    opts_methods!();
}

impl actix::Message for Checkout {
    type Result = Result<crate::Lease>;
}

/// Drains the manager: it stops taking work, lets in-flight statements
/// finish, closes every connection (`Closing`, `Closed`), waits for lossless
/// subscribers to receive everything, then stops. Bounded by the pool's
/// shutdown timeout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shutdown;

impl actix::Message for Shutdown {
    type Result = Result<()>;
}
