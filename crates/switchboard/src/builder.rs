//! Configuring and starting a pool.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Recipient};
use switchboard_core::{
    Bus, Check, DatabaseUrl, Delivery, Error, Event, Filter, Guard, GuardPolicy, Guards, ReadOnly,
    Result, Subscriber,
};

use crate::backend::DbConnection;
use crate::backend::backend_of;
#[cfg(feature = "sqlite")]
use crate::backend::sqlite_target;
use crate::config::{Backoff, HealthCheck, ParamPolicy, PoolConfig, ResetPolicy};
use crate::connection::Hooks;
use crate::handle::Switchboard;
use crate::pool::{Manager, Warm};
use crate::shared::Shared;
use crate::statement::backstop::Switches;
use futures_util::future::BoxFuture;

/// A subscriber attached before the pool opens its first connection, so it
/// sees `Connecting` and `Connected` too.
type Attach = Box<dyn FnOnce(&Bus) -> Result<()>>;

/// Configures a pool; [`Builder::start`] spawns its manager.
#[must_use]
pub struct Builder {
    url: String,
    config: PoolConfig,
    bus: Option<Bus>,
    attach: Vec<Attach>,
    guards: Guards,
    hooks: Hooks,
    /// Read-only switches the pool obeys (its guards' and its own).
    read_only: Switches,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = DatabaseUrl::parse(&self.url)
            .map(|u| u.redacted().to_owned())
            .unwrap_or_else(|_| "<invalid>".into());
        f.debug_struct("Builder")
            .field("url", &url)
            .field("config", &self.config)
            .field("subscribers", &self.attach.len())
            .field("guards", &self.guards)
            .field("hooks", &self.hooks)
            .finish()
    }
}

impl Builder {
    pub(crate) fn new(url: impl Into<String>) -> Self {
        Builder {
            url: url.into(),
            config: PoolConfig::default(),
            bus: None,
            attach: Vec::new(),
            guards: Guards::new(),
            hooks: Hooks::default(),
            read_only: Switches::default(),
        }
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// The pool's name on events (default `"default"`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Minimum and maximum number of connections (default `1..=8`).
    pub fn pool_size(mut self, sizes: RangeInclusive<usize>) -> Self {
        self.config.min_size = *sizes.start();
        self.config.max_size = *sizes.end();
        self
    }

    /// How long a caller waits for a connection (default 30 s).
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.config.checkout_timeout = timeout;
        self
    }

    /// How long a shutdown may take (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Closes connections idle longer than this, down to the minimum size
    /// (default 10 min; `None` never closes idle connections).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Replaces connections older than this when next idle (default
    /// 30 min; `None` keeps them forever).
    pub fn max_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.config.max_lifetime = lifetime;
        self
    }

    /// How connections are checked before they are lent (default a ping
    /// after 30 s idle).
    pub fn health_check(mut self, check: HealthCheck) -> Self {
        self.config.health_check = check;
        self
    }

    /// Delays between connect attempts (default 50 ms doubling to 5 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How long a statement may run before it is cancelled on the server
    /// (default no limit); see [`PoolConfig::statement_timeout`].
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.config.statement_timeout = Some(timeout);
        self
    }

    /// How many `Execute`/`Load` messages may be pipelined over one
    /// PostgreSQL connection (default 32; 1 turns it off); see
    /// [`PoolConfig::pipeline`].
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.config.pipeline = depth;
        self
    }

    /// SQL run on every new connection before it is lent (and again after
    /// a session reset, which clears what it set): `SET application_name =
    /// 'billing'`, `SET search_path = app`, a time zone, SQLite pragmas
    /// (they run after the pool's default pragmas, so they may override
    /// them). Several calls run in order. A failure fails that connect
    /// (`ConnectFailed`); a syntax or permission error is not retried.
    pub fn on_connect_sql(mut self, sql: impl Into<String>) -> Self {
        self.hooks.setup.sql.push(sql.into());
        self
    }

    /// A hook run on every new connection after the `on_connect_sql`
    /// statements (and again after a session reset), like sqlx's
    /// `after_connect`: `|conn| Box::pin(async move { ... })`. Its error or
    /// panic fails that connect; it is bounded by the connect timeout.
    pub fn on_connect<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DbConnection) -> BoxFuture<'c, Result<()>> + Send + Sync + 'static,
    {
        self.hooks.setup.hooks.push(Arc::new(hook));
        self
    }

    /// A hook asked about every connection before it is lent whole (like
    /// SQLAlchemy's `checkout` event or sqlx's `before_acquire`):
    /// `Ok(false)` or an error rejects it (`Closing { reason: rejected }`,
    /// or `Invalidated` for an error) and another is tried, opened if need
    /// be. It replaces the idle ping, and costs every checkout a round trip
    /// to the connection actor; statements joining a pipeline already
    /// checked are not asked again.
    pub fn on_checkout<F>(mut self, hook: F) -> Self
    where
        F: for<'c> Fn(&'c mut DbConnection) -> BoxFuture<'c, Result<bool>> + Send + Sync + 'static,
    {
        self.hooks.checkout = Some(Arc::new(hook));
        self
    }

    /// Marks errors that mean the connection is unusable, though the driver
    /// did not say so (HikariCP's `SQLExceptionOverride`, SQLAlchemy's
    /// `handle_error` with `is_disconnect`): e.g. a proxy's failover error.
    /// Such an error becomes `Error::ConnectionLost`: the connection is
    /// invalidated and replaced, and a statement marked `retryable` is sent
    /// again on another connection.
    pub fn treat_as_disconnect(
        mut self,
        hook: impl Fn(&switchboard_core::Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.hooks.disconnect = Some(Arc::new(hook));
        self
    }

    /// What is reset on a connection handed back with a transaction open or
    /// its session changed; see [`ResetPolicy`]. Default
    /// [`ResetPolicy::Session`].
    pub fn reset_on_return(mut self, policy: ResetPolicy) -> Self {
        self.config.reset = policy;
        self
    }

    /// How long one connect attempt may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Whether `start()` fails when the database cannot be reached (default
    /// `false`: start anyway and keep retrying); see
    /// [`PoolConfig::fail_fast`].
    pub fn fail_fast(mut self, fail_fast: bool) -> Self {
        self.config.fail_fast = fail_fast;
        self
    }

    /// Reports a connection lent out longer than `threshold` (default off);
    /// see [`PoolConfig::leak_threshold`].
    pub fn leak_detection(mut self, threshold: Duration) -> Self {
        self.config.leak_threshold = Some(threshold);
        self
    }

    /// Whether bind values appear in events (default redacted).
    pub fn params(mut self, policy: ParamPolicy) -> Self {
        self.config.params = policy;
        self
    }

    /// Publishes on an existing bus (shared by several pools) instead of a
    /// bus of its own. When the last pool publishing on it has shut down,
    /// the bus ends its subscriptions ([`Bus::close`]): to hand subscribers
    /// over to a new pool, start the new one before shutting the old down.
    pub fn bus(mut self, bus: Bus) -> Self {
        self.bus = Some(bus);
        self
    }

    /// Starts `actor` and subscribes it before the first connect; see
    /// [`Bus::subscribe_actor`] (events reach it without a mailbox message,
    /// so without an allocation each).
    pub fn subscribe_actor<A>(
        mut self,
        name: &str,
        actor: A,
        filter: Filter,
        delivery: Delivery,
    ) -> Self
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
    {
        let name = name.to_owned();
        self.attach.push(Box::new(move |bus| {
            bus.subscribe_actor(&name, actor, filter, delivery);
            Ok(())
        }));
        self
    }

    /// Attaches a subscriber (an audit log, a logger, metrics, ...) to the
    /// pool's bus at [`start`](Self::start), before the first connect, so
    /// that it sees `PoolStarted`, `Connecting` and `Connected` too. Its
    /// subscription belongs to the pool: it runs until the bus closes, when
    /// the last pool publishing on it has shut down ([`Bus::close`]). If it
    /// cannot attach, `start` fails with [`Error::Config`] saying why.
    ///
    /// To keep the [`Subscription`](switchboard_core::Subscription), or
    /// for an actor, a closure or a channel, subscribe on a bus of your own
    /// and hand it over with [`bus`](Self::bus).
    pub fn attach<S>(mut self, subscriber: S) -> Self
    where
        S: Subscriber + 'static,
    {
        self.attach.push(Box::new(move |bus| {
            let subscription = subscriber
                .attach(bus)
                .map_err(|e| Error::Config(format!("a subscriber could not attach: {e}")))?;
            drop(subscription.kept());
            Ok(())
        }));
        self
    }

    /// Adds a guard, called inline before every connect and statement, after
    /// the guards added before it. It fails closed (a panic denies the work)
    /// and may not rewrite; see [`guard_with`](Self::guard_with).
    ///
    /// Guards see every statement: `Execute` and `Load` messages, and every
    /// statement a `Transaction` or `Interact` closure sends through its
    /// connection. A guard with a read-only mode ([`Guard::read_only`], the
    /// rule engine's) also switches the pool's connections to the
    /// database's own read-only mode while it is on; see
    /// [`read_only`](Self::read_only).
    pub fn guard(self, guard: impl Guard) -> Self {
        self.guard_with(guard, GuardPolicy::default())
    }

    /// Adds an inline guard with its own policy (fail open, may rewrite).
    pub fn guard_with(mut self, guard: impl Guard, policy: GuardPolicy) -> Self {
        if let Some(switch) = guard.read_only() {
            self.read_only.add(switch);
        }
        self.guards = self.guards.inline(guard, policy);
        self
    }

    /// Obeys a read-only switch: while it is on, every connection runs in
    /// the database's own read-only mode (PostgreSQL
    /// `default_transaction_read_only`, MySQL/MariaDB `SET SESSION
    /// TRANSACTION READ ONLY`, SQLite `PRAGMA query_only`), switched before
    /// its next use after each change, and statements that would turn that
    /// off are refused. Inline guards with a read-only mode (the rule
    /// engine) are obeyed without this.
    pub fn read_only(mut self, switch: ReadOnly) -> Self {
        self.read_only.add(switch);
        self
    }

    /// Adds an actor guard: sent a [`Check`] before every connect and
    /// statement and awaited up to the policy's deadline. A guard that does
    /// not answer in time, or whose actor stopped, fails closed unless the
    /// policy says it fails open.
    pub fn guard_actor(mut self, name: &str, guard: Recipient<Check>, policy: GuardPolicy) -> Self {
        self.guards = self.guards.actor(name, guard, policy);
        self
    }

    /// Validates the URL and configuration, spawns the manager on the
    /// current actix arbiter, opens the minimum connections, and returns
    /// the handle. Fails (and stops the manager) if the first connections
    /// cannot be opened.
    pub async fn start(self) -> Result<Switchboard> {
        let url = DatabaseUrl::parse(&self.url)?;
        let backend = backend_of(&url)?;
        self.config.validate()?;
        #[cfg(feature = "sqlite")]
        let sqlite_path = match backend {
            switchboard_core::Backend::Sqlite => Some(sqlite_target(&url)?),
            _ => None,
        };
        #[cfg(not(feature = "sqlite"))]
        let sqlite_path = None;
        let bus = self.bus.unwrap_or_default();
        for attach in self.attach {
            attach(&bus)?;
        }
        let shared = Arc::new(
            Shared::new(
                self.config,
                url,
                backend,
                sqlite_path,
                bus,
                self.guards,
                self.hooks,
            )
            .with_read_only(self.read_only),
        );
        shared.events.emit(switchboard_core::Payload::PoolStarted {
            min: shared.config.min_size,
            max: shared.config.max_size,
        });
        let manager = Manager::new(shared.clone());
        let ledger = manager.ledger();
        let handle = Switchboard::new(manager.start(), shared, ledger);
        let warmed = handle
            .send(Warm)
            .await
            .map_err(|_| switchboard_core::Error::Gone(switchboard_core::ActorRole::Manager))?;
        if let Err(e) = warmed {
            let _ = handle.shutdown().await;
            return Err(e);
        }
        Ok(handle)
    }
}
