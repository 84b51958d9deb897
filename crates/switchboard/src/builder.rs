//! Configuring and starting a pool.

use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Context, Handler, Recipient};
use switchboard_core::{
    Backend, Bus, Check, DatabaseUrl, Delivery, Event, Filter, Flow, Guard, GuardPolicy, Guards,
    Kind, Result,
};

use crate::backend::{backend_of, sqlite_target};
use crate::config::{Backoff, HealthCheck, ParamPolicy, PoolConfig};
use crate::handle::Switchboard;
use crate::pool::{Manager, Warm};
use crate::shared::Shared;

/// A subscription made before the pool opens its first connection, so it
/// sees `Connecting` and `Connected` too.
type Attach = Box<dyn FnOnce(&Bus, &str) -> Result<()>>;

/// Configures a pool; [`Builder::start`] spawns its manager.
#[must_use]
pub struct Builder {
    url: String,
    config: PoolConfig,
    bus: Option<Bus>,
    attach: Vec<Attach>,
    guards: Guards,
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = DatabaseUrl::parse(&self.url)
            .map(|u| u.redacted().to_owned())
            .unwrap_or_else(|_| "<invalid>".into());
        f.debug_struct("Builder")
            .field("url", &url)
            .field("config", &self.config)
            .field("subscriptions", &self.attach.len())
            .field("guards", &self.guards)
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
    /// PostgreSQL connection (default 8; 1 turns it off); see
    /// [`PoolConfig::pipeline`].
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.config.pipeline = depth;
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
    /// bus of its own.
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
        self.attach.push(Box::new(move |bus, _| {
            bus.subscribe_actor(&name, actor, filter, delivery);
            Ok(())
        }));
        self
    }

    /// Subscribes an actor through a `Recipient` before the first connect
    /// (three allocations per event; see [`Bus::subscribe`]).
    pub fn subscribe(
        mut self,
        name: &str,
        recipient: Recipient<Event>,
        filter: Filter,
        delivery: Delivery,
    ) -> Self {
        let name = name.to_owned();
        self.attach.push(Box::new(move |bus, _| {
            bus.subscribe(&name, recipient, filter, delivery);
            Ok(())
        }));
        self
    }

    /// Subscribes a supervised actor before the first connect; see
    /// [`Bus::subscribe_supervised`].
    pub fn subscribe_supervised<A, F>(
        mut self,
        name: &str,
        factory: F,
        filter: Filter,
        delivery: Delivery,
    ) -> Self
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let name = name.to_owned();
        self.attach.push(Box::new(move |bus, _| {
            bus.subscribe_supervised(&name, factory, filter, delivery);
            Ok(())
        }));
        self
    }

    /// Calls `f` on every event of `kind`, from the first connect on.
    pub fn listen<F, R>(mut self, kind: Kind, f: F) -> Self
    where
        F: FnMut(Event) -> R + Send + 'static,
        R: Into<Flow>,
    {
        self.attach.push(Box::new(move |bus, pool| {
            crate::listen::listen(bus, pool, kind, f).map(|_| ())
        }));
        self
    }

    /// Adds a guard, called inline before every connect and statement, after
    /// the guards added before it. It fails closed (a panic denies the work)
    /// and may not rewrite; see [`guard_with`](Self::guard_with).
    ///
    /// Guards see `Execute` and `Load` statements. Statements a `Transaction`
    /// or `Interact` closure issues through diesel are reported in events but
    /// not guarded: diesel runs them without asking.
    pub fn guard(self, guard: impl Guard) -> Self {
        self.guard_with(guard, GuardPolicy::default())
    }

    /// Adds an inline guard with its own policy (fail open, may rewrite).
    pub fn guard_with(mut self, guard: impl Guard, policy: GuardPolicy) -> Self {
        self.guards = self.guards.inline(guard, policy);
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
        let sqlite_path = match backend {
            Backend::Sqlite => Some(sqlite_target(&url)?),
            _ => None,
        };
        let bus = self.bus.unwrap_or_default();
        for attach in self.attach {
            attach(&bus, &self.config.name)?;
        }
        let shared = Arc::new(Shared::new(
            self.config,
            url,
            backend,
            sqlite_path,
            bus,
            self.guards,
        ));
        let handle = Switchboard::new(Manager::new(shared.clone()).start(), shared);
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
