//! The Manager actor: one per database target. Spawns and supervises
//! Connection actors, lends them to callers in FIFO order, and drains on
//! shutdown.

mod lifecycle;
mod pool;
mod shutdown;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::WeakAddr;
use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use switchboard_core::status::PoolStatus;
use switchboard_core::{Check, ConnectionId, Emitter, Error, EventKind, Result};
use tokio::sync::oneshot;

use crate::backend::DbConnection;
use crate::backend::{Connected, connect};
use crate::connection::{Answer, ConnectionActor, Job, Lend, Pipe, Released, Reply, Run};
use crate::lease::{Grant, Lease};
use crate::load::LoadAny;
use crate::messages::{Checkout, Execute, Interact, Load, Opts, Request, Transaction, Work};
use crate::shared::{Outage, Shared};
use lifecycle::is_permanent;
use pool::{PoolState, Waiter};

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// The actor that owns a pool. Reach it through a
/// [`Switchboard`](crate::Switchboard) handle.
pub struct Manager {
    shared: Arc<Shared>,
    pool: PoolState,
    /// Set by `Shutdown`: no new work, close connections as they come back.
    draining: bool,
    /// Told when the last connection has closed during a drain.
    drained: Vec<oneshot::Sender<()>>,
    /// Connect slots waiting out their backoff, by connection id; each is
    /// counted in `pool.connecting` until its timer fires or is cancelled.
    retries: HashMap<ConnectionId, SpawnHandle>,
    /// This actor's own address, weak (a strong one would keep it alive),
    /// for grants to give a connection back by; made once, as making an
    /// address allocates.
    me: Option<WeakAddr<Manager>>,
}

impl Manager {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Manager {
            shared,
            pool: PoolState::default(),
            draining: false,
            drained: Vec::new(),
            retries: HashMap::new(),
            me: None,
        }
    }

    fn publish_stats(&self) {
        self.pool.publish(&self.shared.stats);
    }

    /// A connection for a caller arriving now, if it can have one without
    /// waiting: nobody is queued before it, and a connection is idle (and
    /// needs no ping first). A `pipelinable` caller first tries a place on
    /// a connection already pipelining, and pipelines on the connection it
    /// gets. `None`: the caller must queue.
    fn take_now(&mut self, pipelinable: bool, ctx: &mut Context<Self>) -> Option<Result<Grant>> {
        self.pool.prune_waiters();
        if !self.pool.waiters.is_empty() {
            return None;
        }
        if pipelinable && let Some(id) = self.pool.pipeline_room(self.shared.config.pipeline) {
            return Some(self.join_pipeline(id, ctx));
        }
        let &(id, idle_since) = self.pool.idle.last()?;
        if self.needs_ping(idle_since) {
            return None;
        }
        self.pool.idle.pop();
        if pipelinable {
            self.pool.pipelined.insert(id, 0);
            return Some(self.join_pipeline(id, ctx));
        }
        Some(self.grant(id, Duration::ZERO, false, ctx))
    }

    /// A place among the pipelined statements of `id` (already in
    /// `pool.pipelined`), counted there.
    fn join_pipeline(&mut self, id: ConnectionId, ctx: &mut Context<Self>) -> Result<Grant> {
        let grant = self.grant(id, Duration::ZERO, true, ctx);
        if grant.is_ok()
            && let Some(n) = self.pool.pipelined.get_mut(&id)
        {
            *n += 1;
        }
        grant
    }

    /// Asks for a connection: granted now if [`Manager::take_now`] finds
    /// one, else queued (after a ping of the idle connection it will get,
    /// if that one needs it; and the pool grows if it may).
    fn acquire(
        &mut self,
        pipelinable: bool,
        ctx: &mut Context<Self>,
    ) -> oneshot::Receiver<Result<Grant>> {
        let (tx, rx) = oneshot::channel();
        if self.draining {
            let _ = tx.send(Err(self.shutting_down()));
            return rx;
        }
        if let Some(grant) = self.take_now(pipelinable, ctx) {
            // The receiver is still here: the send cannot fail.
            let _ = tx.send(grant);
            self.publish_stats();
            return rx;
        }
        let waiter = Waiter {
            tx,
            since: Instant::now(),
            pipelinable,
        };
        if self.pool.waiters.is_empty()
            && let Some((id, _)) = self.pool.idle.pop()
        {
            // It needs a ping (else `take_now` had lent it). The caller waits
            // for the ping; it is first in line for this connection or, if
            // the ping fails, the next one.
            self.pool.waiters.push_back(waiter);
            self.ping(id, ctx);
            self.publish_stats();
            return rx;
        }
        self.pool.waiters.push_back(waiter);
        self.grow(ctx);
        self.publish_stats();
        rx
    }

    /// Gives `waiter` a place among the pipelined statements of `id`
    /// (already in `pool.pipelined`). Returns whether the waiter took it.
    fn pipeline(&mut self, id: ConnectionId, waiter: Waiter, ctx: &mut Context<Self>) -> bool {
        let grant = self.grant(id, waiter.since.elapsed(), true, ctx);
        let taken = grant.is_ok();
        match waiter.tx.send(grant) {
            Ok(()) if taken => {
                if let Some(n) = self.pool.pipelined.get_mut(&id) {
                    *n += 1;
                }
                true
            }
            Ok(()) => false,
            // That caller gave up; take the grant back without a release.
            Err(Ok(grant)) => {
                grant.disarm();
                false
            }
            Err(Err(_)) => false,
        }
    }

    /// Gives places on pipelining connection `id` to the callers at the
    /// front of the queue that may pipeline, while it has room.
    fn fill_pipeline(&mut self, id: ConnectionId, ctx: &mut Context<Self>) {
        let depth = self.shared.config.pipeline;
        while self.pool.pipelined.get(&id).is_some_and(|n| *n < depth)
            && self.pool.waiters.front().is_some_and(|w| w.pipelinable)
        {
            if let Some(w) = self.pool.waiters.pop_front() {
                self.pipeline(id, w, ctx);
            }
        }
    }

    fn grant(
        &self,
        id: ConnectionId,
        waited: Duration,
        pipelined: bool,
        ctx: &mut Context<Self>,
    ) -> Result<Grant> {
        let manager = match &self.me {
            Some(me) => me.clone(),
            None => ctx.address().downgrade(),
        };
        match self.pool.open.get(&id) {
            Some(addr) => Ok(Grant::new(id, addr.clone(), manager, waited, pipelined)),
            None => Err(Error::ConnectionLost {
                message: "connection vanished from the pool".into(),
            }),
        }
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown {
            pool: self.shared.pool.to_string(),
        }
    }

    /// Opens connections while callers outnumber connects under way and the
    /// pool is below its maximum.
    fn grow(&mut self, ctx: &mut Context<Self>) {
        while self.pool.waiters.len() > self.pool.connecting
            && self.pool.size() < self.shared.config.max_size
        {
            self.spawn_connection(ctx, None);
        }
    }

    /// Connects in the background; the result comes back to `on_connect`.
    fn spawn_connection(
        &mut self,
        ctx: &mut Context<Self>,
        notify: Option<oneshot::Sender<Result<()>>>,
    ) {
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        let emitter = Arc::new(Emitter::new(
            self.shared.bus.clone(),
            self.shared.pool.clone(),
            self.shared.backend,
            id,
        ));
        self.pool.connecting += 1;
        self.attempt_connect(emitter, 1, notify, ctx);
    }

    /// One connect attempt for a slot already counted in `connecting`.
    /// Retries of one slot share its connection id and emitter, so its
    /// events read `Connecting(1) → ConnectFailed → Connecting(2) → ...`.
    fn attempt_connect(
        &mut self,
        emitter: Arc<Emitter>,
        attempt: u32,
        notify: Option<oneshot::Sender<Result<()>>>,
        ctx: &mut Context<Self>,
    ) {
        let shared = self.shared.clone();
        let work = async move {
            let target: Arc<str> = shared.url.redacted().into();
            emitter.emit(EventKind::Connecting {
                target: target.to_string(),
                attempt,
            });
            if let Err(denied) = guard_connect(&shared, &emitter, target, attempt).await {
                return (emitter, Err(denied));
            }
            let result = match shared.bus.ready().await {
                Ok(()) => connect_within(&shared).await,
                Err(e) => Err(e),
            };
            if let Ok(c) = &result {
                emitter.emit(EventKind::Connected {
                    server_version: c.server_version.clone(),
                    took: c.took,
                });
            }
            (emitter, result)
        };
        ctx.spawn(
            work.into_actor(self)
                .map(move |(emitter, result), act, ctx| {
                    act.on_connect(emitter, attempt, result, notify, ctx);
                }),
        );
        self.publish_stats();
    }

    fn on_connect(
        &mut self,
        emitter: Arc<Emitter>,
        attempt: u32,
        result: Result<Connected>,
        notify: Option<oneshot::Sender<Result<()>>>,
        ctx: &mut Context<Self>,
    ) {
        self.pool.connecting -= 1;
        match result {
            Ok(connected) => {
                *self.shared.outage.lock() = None;
                let id = emitter.connection();
                self.pool.emitters.insert(id, emitter.clone());
                let actor = ConnectionActor::new(
                    connected.conn,
                    emitter,
                    self.shared.clone(),
                    ctx.address().recipient(),
                );
                self.pool.open.insert(id, Arc::new(actor.start()));
                if let Some(n) = notify {
                    let _ = n.send(Ok(()));
                }
                if self.draining {
                    self.close(id, switchboard_core::CloseReason::Shutdown, ctx);
                } else {
                    self.hand_off(id, ctx);
                }
            }
            Err(err) => self.on_connect_failed(emitter, attempt, err, notify, ctx),
        }
        self.publish_stats();
    }

    /// A failed attempt: retried after a backoff while someone needs a
    /// connection, unless no retry can help (wrong password, denial).
    fn on_connect_failed(
        &mut self,
        emitter: Arc<Emitter>,
        attempt: u32,
        err: Error,
        notify: Option<oneshot::Sender<Result<()>>>,
        ctx: &mut Context<Self>,
    ) {
        let permanent = is_permanent(&err);
        let warming = notify.is_some();
        let give_up = permanent || self.draining || (warming && self.shared.config.fail_fast);
        let retry = !give_up && self.demand();
        let delay = self.shared.config.backoff.delay(attempt);
        if !matches!(err, Error::Denied { .. }) {
            emitter.emit(EventKind::ConnectFailed {
                error: err.info(),
                attempt,
                retry_in: retry.then_some(delay),
            });
        }
        tracing::warn!(
            pool = %self.shared.pool, attempt, error = %err,
            retry_in_ms = retry.then_some(delay.as_millis() as u64),
            "connect failed"
        );
        if let Some(n) = notify {
            // Warming up: report the failure, unless the pool keeps trying
            // in the background and may start without it.
            let _ = n.send(if retry { Ok(()) } else { Err(err.clone()) });
        }
        if retry {
            *self.shared.outage.lock() = Some(Outage {
                attempts: attempt,
                last_error: err.to_string(),
                retry_every: self.shared.config.backoff.ceiling(attempt),
            });
            // The slot stays counted while it waits, so callers arriving
            // meanwhile do not start attempts of their own.
            self.pool.connecting += 1;
            let id = emitter.connection();
            let timer = ctx.run_later(delay, move |act, ctx| {
                act.retries.remove(&id);
                // The slot stops counting while it asks whether anyone still
                // needs it, or it would count as meeting its own demand.
                act.pool.connecting -= 1;
                if !act.draining && act.demand() {
                    act.pool.connecting += 1;
                    act.attempt_connect(emitter, attempt + 1, None, ctx);
                } else {
                    act.check_drained();
                    act.publish_stats();
                }
            });
            self.retries.insert(id, timer);
            return;
        }
        // With no connection at all, nobody queued could ever be served:
        // tell them why now rather than at their timeout.
        if self.pool.open.is_empty() && self.pool.connecting == 0 {
            for w in self.pool.waiters.drain(..) {
                let _ = w.tx.send(Err(err.clone()));
            }
        }
        self.check_drained();
    }

    /// Cancels every connect retry waiting out its backoff (on shutdown:
    /// nobody needs them, and the drain must not wait for them).
    pub(super) fn cancel_retries(&mut self, ctx: &mut Context<Self>) {
        for (_, timer) in self.retries.drain() {
            ctx.cancel_future(timer);
            self.pool.connecting -= 1;
        }
    }

    /// Whether a connect attempt would serve anyone: callers wait, or the
    /// pool is below its minimum.
    fn demand(&self) -> bool {
        !self.pool.waiters.is_empty()
            || self.pool.open.len() + self.pool.connecting < self.shared.config.min_size
    }

    /// Gives a free connection to the longest-waiting caller, or idles it.
    fn hand_off(&mut self, id: ConnectionId, ctx: &mut Context<Self>) {
        while let Some(front) = self.pool.waiters.front() {
            if front.pipelinable {
                // It pipelines, and so may the callers right behind it.
                self.pool.pipelined.insert(id, 0);
                self.fill_pipeline(id, ctx);
                if self.pool.pipelined.get(&id).is_some_and(|n| *n > 0) {
                    self.publish_stats();
                    return;
                }
                // Every one of them had given up.
                self.pool.pipelined.remove(&id);
                continue;
            }
            let Some(w) = self.pool.waiters.pop_front() else {
                break;
            };
            let grant = self.grant(id, w.since.elapsed(), false, ctx);
            match w.tx.send(grant) {
                Ok(()) => {
                    self.publish_stats();
                    return;
                }
                // That caller gave up; take the grant back without a release.
                Err(Ok(grant)) => {
                    grant.disarm();
                }
                Err(Err(_)) => {}
            }
        }
        self.pool.idle.push((id, Instant::now()));
        self.publish_stats();
    }

    /// Routes a query message. With a connection free now, and no time
    /// limit or retry to watch over, it goes straight to that connection,
    /// which answers the caller itself. Otherwise a future waits for a
    /// connection, sends the work on, and watches the time and retries.
    fn dispatch<R>(&mut self, request: R, ctx: &mut Context<Self>) -> Dispatched<R::Output>
    where
        R: Request + Message<Result = Result<<R as Request>::Output>>,
        Self: Handler<R>,
    {
        let retry = request.next_attempt();
        let pipelinable = request.pipelinable();
        let (Work(job), opts) = request.into_work();
        let pipelinable = pipelinable && self.may_pipeline(&opts);
        if retry.is_none() && opts.timeout.is_none() && !self.draining {
            match self.take_now(pipelinable, ctx) {
                Some(Ok(grant)) => {
                    self.publish_stats();
                    let addr = grant.addr.clone();
                    return Dispatched(if grant.pipelined {
                        Route::Pipe(
                            addr,
                            Pipe {
                                job,
                                grant,
                                labels: opts.labels,
                            },
                        )
                    } else {
                        Route::Run(
                            addr,
                            Run {
                                job,
                                grant: Some(grant),
                                labels: opts.labels,
                                deadline: None,
                            },
                        )
                    });
                }
                Some(Err(e)) => return Dispatched(Route::Ready(Err(e))),
                None => {}
            }
        }
        Dispatched(Route::Later(self.later(job, opts, retry, pipelinable, ctx)))
    }

    /// The future that waits for a connection for `job` and runs it there.
    fn later<R, T>(
        &mut self,
        job: Job<T>,
        opts: Opts,
        retry: Option<R>,
        pipelinable: bool,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<T>>
    where
        R: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
        Self: Handler<R>,
    {
        let rx = self.acquire(pipelinable, ctx);
        let shared = self.shared.clone();
        let manager = ctx.address();
        Box::pin(async move {
            let started = Instant::now();
            let run = async {
                let grant = wait_for_grant(rx, &shared, started).await?;
                let addr = grant.addr.clone();
                let sent = if grant.pipelined {
                    addr.send(Pipe {
                        job,
                        grant,
                        labels: opts.labels,
                    })
                    .await
                } else {
                    addr.send(Run {
                        job,
                        grant: Some(grant),
                        labels: opts.labels,
                        deadline: opts.timeout.map(|t| started + t),
                    })
                    .await
                };
                sent.map_err(|_| Error::Gone("connection"))?
            };
            let result = match opts.timeout {
                Some(after) => {
                    tokio::time::timeout(after, run)
                        .await
                        .unwrap_or(Err(Error::Timeout {
                            after,
                            during: "request",
                        }))
                }
                None => run.await,
            };
            match (result, retry) {
                // Marked retryable by the caller: again, on another
                // connection (this one was invalidated).
                (Err(e), Some(retry)) if e.is_connection_lost() => {
                    tracing::info!(pool = %shared.pool, error = %e, "connection lost under a retryable statement; sending it again");
                    manager
                        .send(retry)
                        .await
                        .map_err(|_| Error::Gone("manager"))?
                }
                (result, _) => result,
            }
        })
    }
}

impl Manager {
    /// Whether a message with `opts` may pipeline: on PostgreSQL, with
    /// pipelining on, and with no time limit (a cancelled statement would
    /// take its neighbours down with it).
    fn may_pipeline(&self, opts: &Opts) -> bool {
        let config = &self.shared.config;
        self.shared.backend == switchboard_core::Backend::Postgres
            && config.pipeline > 1
            && opts.timeout.is_none()
            && config.statement_timeout.is_none()
    }
}

/// Waits for the manager to grant a connection, up to the checkout timeout.
async fn wait_for_grant(
    rx: oneshot::Receiver<Result<Grant>>,
    shared: &Shared,
    started: Instant,
) -> Result<Grant> {
    match tokio::time::timeout(shared.config.checkout_timeout, rx).await {
        Ok(Ok(grant)) => grant,
        Ok(Err(_)) => Err(Error::Gone("manager")),
        Err(_) => {
            let stats = shared.stats.snapshot(shared.config.max_size);
            // Connects are failing: that, not the busy connections, is why
            // nobody was served.
            if let Some(outage) = &*shared.outage.lock() {
                return Err(Error::Unreachable {
                    pool: shared.pool.to_string(),
                    waited: started.elapsed(),
                    attempts: outage.attempts,
                    last_error: outage.last_error.clone(),
                    retry_every: outage.retry_every,
                });
            }
            Err(Error::PoolTimeout {
                pool: shared.pool.to_string(),
                waited: started.elapsed(),
                busy: stats.busy,
                max: stats.max,
                waiting: stats.waiting.saturating_sub(1),
            })
        }
    }
}

impl Actor for Manager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.me = Some(ctx.address().downgrade());
        self.start_reaper(ctx);
        if let Some(threshold) = self.shared.config.leak_threshold {
            // Checked a few times per threshold, so a report comes at most
            // a quarter of it late.
            let every = (threshold / 4).max(Duration::from_millis(5));
            ctx.run_interval(every, move |act, _| act.report_leaks(threshold));
        }
    }
}

impl Manager {
    fn report_leaks(&self, threshold: Duration) {
        for emitter in self.pool.emitters.values() {
            if let Some((held, holder)) = emitter.report_leak(threshold) {
                tracing::warn!(
                    pool = %self.shared.pool,
                    connection = emitter.connection(),
                    ?holder,
                    held_ms = held.as_millis() as u64,
                    "connection lent out longer than the leak threshold ({}ms); is a lease not being dropped?",
                    threshold.as_millis()
                );
            }
        }
    }

    fn status(&self) -> PoolStatus {
        let mut connections: Vec<_> = self
            .pool
            .emitters
            .iter()
            .map(|(id, emitter)| emitter.status(self.pool.is_idle(*id)))
            .collect();
        connections.sort_by_key(|c| c.id);
        let open = self.pool.open.len();
        let idle = self.pool.idle.len();
        PoolStatus {
            pool: self.shared.pool.clone(),
            backend: self.shared.backend,
            min: self.shared.config.min_size,
            max: self.shared.config.max_size,
            open,
            idle,
            busy: open.saturating_sub(idle),
            waiting: self
                .pool
                .waiters
                .iter()
                .filter(|w| !w.tx.is_closed())
                .count(),
            connecting: self.pool.connecting,
            connections,
        }
    }
}

/// Asks the manager for a [`PoolStatus`] snapshot.
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "PoolStatus")]
pub struct Status;

impl Handler<Status> for Manager {
    type Result = MessageResult<Status>;

    fn handle(&mut self, _: Status, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.status())
    }
}

impl Handler<Released> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Released, ctx: &mut Self::Context) {
        if !self.pool.open.contains_key(&msg.id) {
            return;
        }
        if msg.pipelined && !msg.broken {
            let Some(n) = self.pool.pipelined.get_mut(&msg.id) else {
                return;
            };
            *n = n.saturating_sub(1);
            if *n > 0 {
                self.fill_pipeline(msg.id, ctx);
                self.publish_stats();
                return;
            }
            // The last pipelined statement ended: the connection is free.
            self.pool.pipelined.remove(&msg.id);
        }
        if msg.broken {
            self.pool.remove(msg.id);
            self.replenish(ctx);
            self.check_drained();
        } else if self.draining {
            self.close(msg.id, switchboard_core::CloseReason::Shutdown, ctx);
        } else if self.expired(msg.id) {
            self.close(msg.id, switchboard_core::CloseReason::Lifetime, ctx);
            self.replenish(ctx);
        } else {
            self.hand_off(msg.id, ctx);
        }
        self.publish_stats();
    }
}

/// How the manager answers a query message: through the connection it
/// lent at once, or from a future that waits for one.
#[must_use]
pub struct Dispatched<T>(Route<T>);

enum Route<T> {
    /// A connection was lent at once; it runs the work and answers.
    Run(Arc<Addr<ConnectionActor>>, Run<T>),
    /// The same, as a pipelined statement.
    Pipe(Arc<Addr<ConnectionActor>>, Pipe<T>),
    /// Answered at once (the pool could not lend the connection it found).
    Ready(Result<T>),
    /// Waiting for a connection, or watching a timeout or retry.
    Later(ResponseFuture<Result<T>>),
}

impl<M, T> MessageResponse<Manager, M> for Dispatched<T>
where
    M: Message<Result = Result<T>>,
    T: Send + 'static,
{
    fn handle(self, ctx: &mut Context<Manager>, tx: Option<OneshotSender<Result<T>>>) {
        let reply = Reply::new(tx);
        match self.0 {
            // A connection that stopped meanwhile drops the message, and
            // with it the reply (answering `Gone`) and the grant (giving
            // the connection back).
            Route::Run(addr, work) => addr.do_send(Answer { work, reply }),
            Route::Pipe(addr, work) => addr.do_send(Answer { work, reply }),
            Route::Ready(result) => reply.send(result),
            Route::Later(fut) => {
                let reply = reply.take();
                MessageResponse::<Manager, M>::handle(fut, ctx, reply)
            }
        }
    }
}

macro_rules! dispatch_handler {
    ($msg:ty, [$($gen:tt)*], [$($bound:tt)*]) => {
        impl<$($gen)*> Handler<$msg> for Manager where $($bound)* {
            type Result = Dispatched<<$msg as Request>::Output>;
            fn handle(&mut self, msg: $msg, ctx: &mut Self::Context) -> Self::Result {
                self.dispatch(msg, ctx)
            }
        }
    };
}

dispatch_handler!(Execute, [], []);
dispatch_handler!(Load<Q, U>, [Q, U], [Q: LoadAny<U>, U: Send + 'static]);
dispatch_handler!(
    Transaction<F, T>,
    [F, T],
    [F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static, T: Send + 'static]
);
dispatch_handler!(
    Interact<F, T>,
    [F, T],
    [F: AsyncFnOnce(&mut DbConnection) -> Result<T> + Send + 'static, T: Send + 'static]
);

impl Handler<Checkout> for Manager {
    type Result = ResponseFuture<Result<Lease>>;

    fn handle(&mut self, msg: Checkout, ctx: &mut Self::Context) -> Self::Result {
        let rx = self.acquire(false, ctx);
        let shared = self.shared.clone();
        let opts = msg.opts;
        Box::pin(async move {
            let started = Instant::now();
            let lend = async {
                let grant = wait_for_grant(rx, &shared, started).await?;
                let lease = Lease::new(grant.id, (*grant.addr).clone(), opts.labels.clone());
                // Not awaited: actix skips a message whose sender gave up,
                // and a caller timing out here would then release the
                // connection twice (the grant on its drop, the lease's
                // `Return`). Sent without a reply, the lend always precedes
                // whatever the lease sends after it on the same mailbox.
                grant.addr.clone().do_send(Lend {
                    grant,
                    labels: opts.labels.clone(),
                });
                Ok(lease)
            };
            match opts.timeout {
                Some(after) => {
                    tokio::time::timeout(after, lend)
                        .await
                        .map_err(|_| Error::Timeout {
                            after,
                            during: "checkout",
                        })?
                }
                None => lend.await,
            }
        })
    }
}

/// Opens the pool's minimum connections; answers when all attempts ended,
/// with the first failure if any.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct Warm;

impl Handler<Warm> for Manager {
    type Result = ResponseFuture<Result<()>>;

    fn handle(&mut self, _: Warm, ctx: &mut Self::Context) -> Self::Result {
        let rxs: Vec<_> = (0..self.shared.config.min_size)
            .map(|_| {
                let (tx, rx) = oneshot::channel();
                self.spawn_connection(ctx, Some(tx));
                rx
            })
            .collect();
        Box::pin(async move {
            for rx in rxs {
                rx.await.map_err(|_| Error::Gone("manager"))??;
            }
            Ok(())
        })
    }
}

/// One connect, bounded by the pool's connect timeout.
async fn connect_within(shared: &Shared) -> Result<Connected> {
    let limit = shared.config.connect_timeout;
    let attempt = connect(&shared.url, shared.backend, shared.sqlite_path.as_deref());
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(Error::Connect {
            target: shared.url.redacted().to_owned(),
            kind: switchboard_core::ConnectErrorKind::Unreachable,
            message: format!(
                "no answer within the connect timeout ({}ms)",
                limit.as_millis()
            ),
        }),
    }
}

/// Asks the pool's guards whether a connect attempt may go ahead; a denial
/// is published as `Denied` (and no `ConnectFailed` follows).
async fn guard_connect(
    shared: &Shared,
    emitter: &Emitter,
    target: Arc<str>,
    attempt: u32,
) -> Result<()> {
    if shared.guards.is_empty() {
        return Ok(());
    }
    let check = Check::connect(
        shared.pool.clone(),
        shared.backend,
        emitter.connection(),
        target,
        attempt,
    );
    shared.guard(emitter, check).await.map(drop)
}
