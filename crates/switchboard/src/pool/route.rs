//! Routing query messages and checkouts to connections.
//!
//! A message that finds a connection free, with no time limit or retry to
//! watch, goes straight to that connection, which answers the caller
//! itself: sent through [`Switchboard::run`](crate::Switchboard::run), the
//! caller takes the connection itself ([`Placed::lend_now`]) and the
//! manager never sees the message. Otherwise a future waits for a
//! connection, sends the work on, and watches the time and retries.

use std::sync::Arc;
use std::time::Instant;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use switchboard_core::{Error, Labels, Payload, Phase, Result};
use tokio::sync::oneshot;

use super::state::{Arrival, Place, Want};
use super::{Ledger, Manager};
use crate::backend::DbConnection;
use crate::connection::{ConnectionActor, Deadline, Job, Lend, Mode, Reply, Task};
use crate::lease::{Grant, Lease};
use crate::load::LoadAny;
use crate::messages::{Checkout, Execute, Interact, Load, Opts, Request, Transaction, Work};
use crate::shared::Shared;

/// What a caller gets when it asks: a grant now, or a place in the queue.
pub(super) enum Acquired {
    Now(Result<Grant>),
    Later(oneshot::Receiver<Result<Grant>>),
}

impl Acquired {
    /// Waits for the grant, up to the pool's checkout timeout.
    async fn grant(self, shared: &Shared, started: Instant, labels: &Labels) -> Result<Grant> {
        match self {
            Acquired::Now(grant) => grant,
            Acquired::Later(rx) => wait_for_grant(rx, shared, started, labels).await,
        }
    }
}

impl Manager {
    /// Asks the pool for a connection for a caller arriving now.
    pub(super) fn acquire(&mut self, want: Want, ctx: &mut Context<Self>) -> Acquired {
        self.prune_waiters();
        let now = Instant::now();
        let arrival = self.state.get().arrive(want, now);
        let acquired = match arrival {
            Arrival::Now { conn, place } => Acquired::Now(self.grant(conn, now, place).ok_or_else(
                || Error::ConnectionLost {
                    message: "connection vanished from the pool".into(),
                },
            )),
            Arrival::Queued(waiter) => {
                let (tx, rx) = oneshot::channel();
                self.waiters.insert(waiter, tx);
                Acquired::Later(rx)
            }
            Arrival::ShuttingDown => Acquired::Now(Err(self.shutting_down())),
        };
        self.carry_out(ctx);
        acquired
    }

    /// Routes a query message.
    fn dispatch<R>(&mut self, request: R, ctx: &mut Context<Self>) -> Dispatched<R::Output>
    where
        R: Request + Message<Result = Result<<R as Request>::Output>>,
        Self: Handler<R>,
    {
        let retry = request.next_attempt();
        self.route(Placed::of(request, &self.shared), retry, ctx)
    }

    /// Routes placed work: straight to a connection free for it, else
    /// through a future that waits for one, watches its time limit and
    /// sends `retry` if the connection is lost under it.
    fn route<R, T>(
        &mut self,
        placed: Placed<T>,
        retry: Option<R>,
        ctx: &mut Context<Self>,
    ) -> Dispatched<T>
    where
        R: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
        Self: Handler<R>,
    {
        let direct = placed.unwatched(&retry);
        let Placed { job, opts, want } = placed;
        let acquired = self.acquire(want, ctx);
        if direct {
            match acquired {
                Acquired::Now(Ok(grant)) => {
                    let addr = grant.addr.clone();
                    return Dispatched(Route::Direct(addr, work(job, grant, opts, None)));
                }
                Acquired::Now(Err(e)) => return Dispatched(Route::Ready(Err(e))),
                Acquired::Later(_) => {}
            }
        }
        Dispatched(Route::Later(self.later(job, opts, retry, acquired, ctx)))
    }

    /// The future that waits for a connection for `job` and runs it there.
    fn later<R, T>(
        &mut self,
        job: Job<T>,
        opts: Opts,
        retry: Option<R>,
        acquired: Acquired,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<T>>
    where
        R: Message<Result = Result<T>> + Send + 'static,
        T: Send + 'static,
        Self: Handler<R>,
    {
        let shared = self.shared.clone();
        let manager = ctx.address();
        Box::pin(async move {
            let started = Instant::now();
            let limit = opts.timeout;
            let run = async {
                let grant = acquired.grant(&shared, started, &opts.labels).await?;
                let addr = grant.addr.clone();
                let deadline = Deadline::of(started, opts.timeout);
                let (tx, rx) = oneshot::channel();
                addr.do_send(work(job, grant, opts, deadline).answering(tx));
                rx.await
                    .unwrap_or(Err(Error::Gone(switchboard_core::ActorRole::Connection)))
            };
            let result = match limit {
                Some(after) => {
                    tokio::time::timeout(after, run)
                        .await
                        .unwrap_or(Err(Error::Timeout {
                            after,
                            phase: Phase::Request,
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
                        .map_err(|_| Error::Gone(switchboard_core::ActorRole::Manager))?
                }
                (result, _) => result,
            }
        })
    }
}

/// A query message turned into work, with where the pool may place it.
/// A caller that finds a connection free for it takes one itself and sends
/// the work there ([`Placed::lend_now`]); otherwise the work goes to the
/// manager, which queues it.
pub(crate) struct Placed<T> {
    job: Job<T>,
    opts: Opts,
    want: Want,
}

impl<T: Send + 'static> Placed<T> {
    /// `request`'s work, and what it needs: only a statement measured fast
    /// shares a connection. One slow or not seen yet gets a connection to
    /// itself, so that nothing waits behind it. It must also leave nothing
    /// behind on its session (no transaction, no `SET`), or one caller's
    /// state would reach others.
    pub(crate) fn of<R: Request<Output = T>>(mut request: R, shared: &Shared) -> Self {
        let key = (request.pipelinable() && pipelines(shared) && request.shareable(shared))
            .then(|| request.timing_key(shared.backend))
            .flatten();
        let reads = request.reads_only();
        let (Work(job), opts) = request.into_work();
        let shares =
            may_pipeline(shared, &opts) && key.is_some_and(|key| shared.timings.is_fast(key));
        let want = match (shares, reads) {
            (false, _) => Want::Whole,
            (true, true) => Want::Read,
            (true, false) => Want::Write,
        };
        Placed { job, opts, want }
    }

    /// Whether nothing about this work needs watching once it runs: no
    /// time limit, and no `retry` to send if its connection is lost. Only
    /// such work goes straight to a connection.
    pub(crate) fn unwatched<R>(&self, retry: &Option<R>) -> bool {
        retry.is_none() && self.opts.timeout.is_none()
    }

    /// A connection (or place) free for this work now, taken without the
    /// manager: only for [`unwatched`](Self::unwatched) work, when nobody
    /// is queued and no ping is due (see [`Ledger::lend_now`]).
    pub(crate) fn lend_now<R>(
        &self,
        retry: &Option<R>,
        ledger: &Ledger,
        shared: &Shared,
    ) -> Option<Grant> {
        if !self.unwatched(retry) {
            return None;
        }
        ledger.lend_now(self.want, shared)
    }

    /// Runs the work on the connection `grant` lends, answering on `tx`.
    pub(crate) fn send_to(self, grant: Grant, tx: OneshotSender<Result<T>>) {
        let addr = grant.addr.clone();
        addr.do_send(work(self.job, grant, self.opts, None).answering(tx));
    }
}

/// Work a caller placed and could not take a connection for, sent to the
/// manager with the message to send again if its connection is lost (a
/// `retryable` message's next attempt).
pub(crate) struct Routed<R: Request> {
    pub(crate) placed: Placed<R::Output>,
    pub(crate) retry: Option<R>,
}

impl<R: Request> Message for Routed<R> {
    type Result = Result<R::Output>;
}

impl<R> Handler<Routed<R>> for Manager
where
    R: Request + Message<Result = Result<<R as Request>::Output>>,
    Self: Handler<R>,
{
    type Result = Dispatched<R::Output>;

    fn handle(&mut self, routed: Routed<R>, ctx: &mut Self::Context) -> Self::Result {
        self.route(routed.placed, routed.retry, ctx)
    }
}

/// Whether a message with `opts` may pipeline: on PostgreSQL, with
/// pipelining on, and with no time limit (a cancelled statement would
/// take its neighbours down with it).
fn may_pipeline(shared: &Shared, opts: &Opts) -> bool {
    pipelines(shared) && opts.timeout.is_none() && shared.config.statement_timeout.is_none()
}

/// Whether the pool pipelines at all: PostgreSQL (a build with the
/// `postgres` feature), with pipelining on.
fn pipelines(shared: &Shared) -> bool {
    cfg!(feature = "postgres")
        && shared.backend == switchboard_core::Backend::Postgres
        && shared.config.pipeline > 1
}

/// `job` as the work of the caller holding `grant`.
fn work<T>(job: Job<T>, grant: Grant, opts: Opts, deadline: Option<Deadline>) -> Task<T> {
    let mode = match grant.place {
        Place::Whole => Mode::OneOff(grant),
        Place::Pipelined => Mode::Pipelined(grant),
    };
    Task::new(job, mode, opts.labels, deadline)
}

/// Waits for the manager to grant a connection, up to the checkout timeout;
/// a caller that gives up is published as `CheckoutTimedOut` with its
/// `labels`.
async fn wait_for_grant(
    rx: oneshot::Receiver<Result<Grant>>,
    shared: &Shared,
    started: Instant,
    labels: &Labels,
) -> Result<Grant> {
    match tokio::time::timeout(shared.config.checkout_timeout, rx).await {
        Ok(Ok(grant)) => grant,
        Ok(Err(_)) => Err(Error::Gone(switchboard_core::ActorRole::Manager)),
        Err(_) => {
            let stats = shared.stats.snapshot(shared.config.max_size);
            let waited = started.elapsed();
            let waiting = stats.waiting.saturating_sub(1);
            let outage = shared.outage.lock().clone();
            shared.events.emit_as(
                Payload::CheckoutTimedOut {
                    waited,
                    waiting,
                    unreachable: outage.is_some(),
                },
                labels,
            );
            // Connects are failing: that, not the busy connections, is why
            // nobody was served.
            if let Some(outage) = outage {
                return Err(Error::Unreachable {
                    pool: shared.pool.to_string(),
                    waited,
                    attempts: outage.attempts,
                    last_error: outage.last_error,
                    retry_every: outage.retry_every,
                });
            }
            Err(Error::PoolTimeout {
                pool: shared.pool.to_string(),
                waited,
                busy: stats.busy,
                max: stats.max,
                waiting,
            })
        }
    }
}

/// How the manager answers a query message: through the connection it
/// lent at once, or from a future that waits for one.
#[must_use]
pub struct Dispatched<T>(Route<T>);

enum Route<T> {
    /// A connection was lent at once; it runs the work and answers.
    Direct(Arc<Addr<ConnectionActor>>, Task<T>),
    /// Answered at once (the pool turned the caller away).
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
        match self.0 {
            // A connection that stopped meanwhile drops the message, and
            // with it the reply (answering `Gone`) and the grant (giving
            // the connection back).
            Route::Direct(addr, work) => addr.do_send(work.replying(Reply::new(tx))),
            Route::Ready(result) => Reply::new(tx).send(result),
            Route::Later(fut) => MessageResponse::<Manager, M>::handle(fut, ctx, tx),
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
        let acquired = self.acquire(Want::Whole, ctx);
        let shared = self.shared.clone();
        let opts = msg.opts;
        Box::pin(async move {
            let started = Instant::now();
            let lend = async {
                let grant = acquired.grant(&shared, started, &opts.labels).await?;
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
                            phase: Phase::Checkout,
                        })?
                }
                None => lend.await,
            }
        })
    }
}
