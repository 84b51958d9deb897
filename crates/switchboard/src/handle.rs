//! The handle users hold: send messages, attach subscribers, shut down.

use std::sync::Arc;

use actix::dev::{Request as ActixRequest, ToEnvelope};
use actix::{Actor, Addr, Context, Handler, Message};
use switchboard_core::status::{PoolGauges, PoolStats, PoolStatus};
use switchboard_core::{
    Backend, Bus, Delivery, Error, Event, Filter, Result, Subscriber, Subscription, SubscriptionId,
};

use crate::builder::Builder;
use crate::lease::Lease;
use crate::messages::{Checkout, Request, Shutdown};
use crate::pool::{Ledger, Manager, Placed, Recycle, Routed, Status};
use crate::shared::Shared;
use tokio::sync::oneshot;

/// A running pool: its manager actor and its bus. Cheap to clone.
#[derive(Clone)]
pub struct Switchboard {
    addr: Addr<Manager>,
    shared: Arc<Shared>,
    /// The pool's state, where a statement that finds a connection free
    /// takes it without a turn of the manager.
    ledger: Ledger,
}

impl std::fmt::Debug for Switchboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switchboard")
            .field("pool", &self.shared.pool)
            .field("backend", &self.shared.backend)
            .field("url", &self.shared.url)
            .finish()
    }
}

impl Switchboard {
    /// Starts configuring a pool for a database URL (`postgres://`,
    /// `mysql://`, `sqlite://file.db`, `sqlite::memory:`).
    pub fn builder(url: impl Into<String>) -> Builder {
        Builder::new(url)
    }

    pub(crate) fn new(addr: Addr<Manager>, shared: Arc<Shared>, ledger: Ledger) -> Self {
        Switchboard {
            addr,
            shared,
            ledger,
        }
    }

    /// Sends a message to the manager, actix style: the outer `Result` fails
    /// only if the manager is gone, the inner one is the message's own.
    pub fn send<M>(&self, msg: M) -> ActixRequest<Manager, M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        Manager: Handler<M>,
        <Manager as Actor>::Context: ToEnvelope<Manager, M>,
    {
        self.addr.send(msg)
    }

    /// Runs a query message and returns its result, with a gone manager
    /// folded into [`Error::Gone`].
    ///
    /// A statement that finds a connection free for it (nobody queued, no
    /// time limit to watch, no retry to send) goes straight to that
    /// connection, without a turn of the manager; any other waits for the
    /// manager to place it, as [`send`](Self::send) always does.
    pub async fn run<R>(&self, request: R) -> Result<R::Output>
    where
        R: Request + Message<Result = Result<<R as Request>::Output>>,
        Manager: Handler<R>,
    {
        let retry = request.next_attempt();
        let placed = Placed::of(request, &self.shared);
        if let Some(grant) = placed.lend_now(&retry, &self.ledger, &self.shared) {
            let (tx, rx) = oneshot::channel();
            placed.send_to(grant, tx);
            return rx
                .await
                .unwrap_or(Err(Error::Gone(switchboard_core::ActorRole::Connection)));
        }
        self.addr
            .send::<Routed<R>>(Routed { placed, retry })
            .await
            .map_err(|_| self.gone())?
    }

    /// Why the manager does not answer: shut down by `shutdown()`, or its
    /// actix System stopped.
    fn gone(&self) -> Error {
        if self
            .shared
            .closed
            .load(std::sync::atomic::Ordering::Acquire)
        {
            Error::ShuttingDown {
                pool: self.shared.pool.to_string(),
            }
        } else {
            Error::Gone(switchboard_core::ActorRole::Manager)
        }
    }

    /// Borrows one connection until the returned lease is dropped.
    pub async fn checkout(&self) -> Result<Lease> {
        self.run_checkout(Checkout::new()).await
    }

    /// Like [`Switchboard::checkout`] with labels or a timeout.
    pub async fn run_checkout(&self, checkout: Checkout) -> Result<Lease> {
        self.addr.send(checkout).await.map_err(|_| self.gone())?
    }

    /// Drains and stops the manager; see [`Shutdown`]. Then every
    /// subscription of the pool's bus ends, once it has received what was
    /// queued for it (channels disconnect, `listen` threads return, actor
    /// subscribers are let go), unless another pool still running shares
    /// the bus ([`Bus::close`], [`Bus::attach_pool`]).
    pub async fn shutdown(&self) -> Result<()> {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Release);
        match self.addr.send(Shutdown).await {
            Ok(r) => r,
            // Already stopped: nothing left to drain.
            Err(_) => Ok(()),
        }
    }

    /// Replaces every connection without stopping the pool (HikariCP's
    /// `softEvictConnections`): idle ones are closed now, lent ones when
    /// they come back (`Closing { reason: recycled }`), and new ones open
    /// as callers need them. No caller fails for it. Use it after a
    /// failover, a password rotation or a schema change that cached plans
    /// must not outlive. During shutdown: `Error::ShuttingDown`.
    pub async fn recycle(&self) -> Result<()> {
        self.addr.send(Recycle).await.map_err(|_| self.gone())?
    }

    /// The manager's address.
    pub fn addr(&self) -> &Addr<Manager> {
        &self.addr
    }

    /// The bus this pool publishes on, for its raw subscriptions
    /// ([`Bus::subscribe`], [`Bus::subscribe_supervised`],
    /// [`Bus::subscribe_fn`], [`Bus::subscribe_channel`], [`Bus::listen`])
    /// and their [`unsubscribe`](Bus::unsubscribe).
    pub fn bus(&self) -> &Bus {
        &self.shared.bus
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.shared.pool
    }

    /// The pool's backend.
    pub fn backend(&self) -> Backend {
        self.shared.backend
    }

    /// A snapshot of the pool and every connection: bounds, idle, busy,
    /// waiting, and per connection its state, age, statements, last error
    /// and the statement under way. Serializable (serve it as JSON).
    pub async fn status(&self) -> Result<PoolStatus> {
        self.addr.send(Status).await.map_err(|_| self.gone())
    }

    /// Current sizes.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats.snapshot(self.shared.config.max_size)
    }

    /// Starts `actor` on the current arbiter, subscribed to this pool's
    /// bus, and returns its address: the way to subscribe an actor of your
    /// own (no allocation per event); see [`Bus::subscribe_actor`].
    pub fn subscribe_actor<A>(
        &self,
        name: &str,
        actor: A,
        filter: Filter,
        delivery: Delivery,
    ) -> (SubscriptionId, Addr<A>)
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
    {
        self.shared
            .bus
            .subscribe_actor(name, actor, filter, delivery)
    }

    /// Attaches a subscriber (an audit log, a logger, metrics, a NATS
    /// exporter, ...) to this pool's bus, and returns its subscription; see
    /// [`Subscriber`]. Actors, closures, channels and `listen` subscribe on
    /// the [`bus`](Self::bus) itself.
    pub fn attach<S: Subscriber>(&self, subscriber: S) -> Result<Subscription, S::Error> {
        subscriber.attach(&self.shared.bus)
    }
}

impl PoolGauges for Switchboard {
    fn name(&self) -> &str {
        Switchboard::name(self)
    }

    fn backend(&self) -> Backend {
        Switchboard::backend(self)
    }

    fn stats(&self) -> PoolStats {
        Switchboard::stats(self)
    }
}
