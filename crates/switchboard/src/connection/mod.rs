//! The Connection actor: owns exactly one driver connection and publishes
//! every lifecycle event of it, in order.
//!
//! Work arrives as [`Run`] messages. The handler takes the connection out of
//! the actor, runs the work, and puts it back in an `AtomicResponse`, so the
//! actor handles nothing else meanwhile: a lease, a transaction or a
//! closure has the connection to itself.
//!
//! Independent `Execute`/`Load` statements on PostgreSQL may instead arrive
//! as [`Pipe`] messages: the connection is then shared (`Rc`) by the
//! futures of several statements, which diesel-async pipelines over it, and
//! the actor keeps taking further `Pipe`s while they run. The manager sends
//! a `Run` only once every pipelined statement has ended and the connection
//! is whole again. Each statement's events carry its own labels; events of
//! pipelined statements interleave, tied together by their `query_id`.

mod probe;
mod session;

use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::OneshotSender;
use actix::prelude::*;
use diesel_async::pg::AsyncPgConnection;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
use switchboard_core::{
    CloseReason, ConnectionId, Emitter, Error, ErrorInfo, EventKind, Labels, Result,
};

use crate::backend::DbConnection;
use crate::lease::Grant;
use crate::shared::Shared;
pub(crate) use probe::{Instrument, Probe};
use session::Held;
pub(crate) use session::{Session, execute_dyn};

/// One piece of work on a connection.
pub(crate) type Job<T> =
    Box<dyn for<'s> FnOnce(&'s mut Session) -> LocalBoxFuture<'s, Result<T>> + Send>;

/// Tells the manager a connection is free again (or gone).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Released {
    pub(crate) id: ConnectionId,
    /// The connection is unusable and has closed itself (or will once its
    /// pipelined statements have ended).
    pub(crate) broken: bool,
    /// One pipelined statement ended; the connection may carry others.
    pub(crate) pipelined: bool,
}

/// Runs a job. `grant` is set for a one-off message (the connection is lent
/// for this job alone and given back after it); `None` inside a lease.
pub(crate) struct Run<T> {
    pub(crate) job: Job<T>,
    pub(crate) grant: Option<Grant>,
    pub(crate) labels: Labels,
    /// When the message's own timeout passes; statements still running
    /// then are cancelled.
    pub(crate) deadline: Option<Instant>,
}

impl<T: Send + 'static> Message for Run<T> {
    type Result = Result<T>;
}

/// Runs an `Execute` or `Load` job pipelined: on a PostgreSQL connection
/// other such jobs may be using at the same time. The actor takes further
/// messages while it runs.
pub(crate) struct Pipe<T> {
    pub(crate) job: Job<T>,
    pub(crate) grant: Grant,
    pub(crate) labels: Labels,
}

impl<T: Send + 'static> Message for Pipe<T> {
    type Result = Result<T>;
}

/// Runs a [`Run`] or [`Pipe`] the manager sent straight on, and answers the
/// caller directly instead of through the manager.
pub(crate) struct Answer<W, T> {
    pub(crate) work: W,
    pub(crate) reply: Reply<T>,
}

impl<W, T> Message for Answer<W, T> {
    type Result = ();
}

/// Where a caller waits for its result. Dropped unanswered (the connection
/// stopped before the work reached it), it answers `Error::Gone`.
pub(crate) struct Reply<T>(Option<OneshotSender<Result<T>>>);

impl<T> Reply<T> {
    /// `None`: nobody waits for the answer (actix's `do_send`).
    pub(crate) fn new(tx: Option<OneshotSender<Result<T>>>) -> Self {
        Reply(tx)
    }

    pub(crate) fn send(mut self, result: Result<T>) {
        if let Some(tx) = self.0.take() {
            // The caller may have given up; nobody else wants the result.
            let _ = tx.send(result);
        }
    }

    /// The sender itself, for actix to answer through.
    pub(crate) fn take(mut self) -> Option<OneshotSender<Result<T>>> {
        self.0.take()
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(Error::Gone("connection")));
        }
    }
}

/// Lends the connection to a lease holder.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Lend {
    pub(crate) grant: Grant,
    pub(crate) labels: Labels,
}

/// The lease holder gives the connection back.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Return;

/// Checks the connection with a cheap statement before it is lent; a
/// connection that fails is invalidated and closes itself.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct Ping;

/// Closes the connection and stops the actor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close(pub(crate) CloseReason);

/// The actor owning one connection.
pub(crate) struct ConnectionActor {
    id: ConnectionId,
    /// `None` only while a job has it or it is pipelining, or after it
    /// broke or closed.
    conn: Option<DbConnection>,
    /// The connection while pipelined statements share it.
    pipe: Option<Rc<AsyncPgConnection>>,
    /// Pipelined statements under way.
    in_pipe: usize,
    /// Why the pipelined connection proved unusable: it closes once its
    /// last pipelined statement has ended.
    pipe_broken: Option<ErrorInfo>,
    emitter: Arc<Emitter>,
    shared: Arc<Shared>,
    probe: Arc<Probe>,
    manager: Recipient<Released>,
    opened: Instant,
    /// When the current borrower got the connection.
    lent_at: Option<Instant>,
    closed: bool,
}

impl ConnectionActor {
    pub(crate) fn new(
        mut conn: DbConnection,
        emitter: Arc<Emitter>,
        shared: Arc<Shared>,
        manager: Recipient<Released>,
    ) -> Self {
        let probe = Probe::new(emitter.clone(), shared.clone());
        conn.set_instrumentation(Instrument(probe.clone()));
        ConnectionActor {
            id: emitter.connection(),
            conn: Some(conn),
            pipe: None,
            in_pipe: 0,
            pipe_broken: None,
            emitter,
            shared,
            probe,
            manager,
            opened: Instant::now(),
            lent_at: None,
            closed: false,
        }
    }

    fn lend(&mut self, waited: Duration, labels: Labels) {
        self.emitter.set_labels(labels);
        self.lent_at = Some(Instant::now());
        self.emitter.emit(EventKind::CheckedOut { waited });
    }

    /// Ends a loan: `CheckedIn`, then the manager may lend it again.
    fn give_back(&mut self, ctx: &mut Context<Self>) {
        let held = self.lent_at.take().map(|t| t.elapsed()).unwrap_or_default();
        self.emitter.emit(EventKind::CheckedIn { held });
        self.emitter.set_labels(Labels::new());
        if self.conn.is_none() {
            // Closing tells the manager the connection is gone.
            self.close(CloseReason::Invalidated, ctx);
        } else {
            self.manager.do_send(Released {
                id: self.id,
                broken: false,
                pipelined: false,
            });
        }
    }

    /// The connection shared for one more pipelined statement; `None` if it
    /// broke, closed, or is not PostgreSQL.
    fn share(&mut self) -> Option<Rc<AsyncPgConnection>> {
        if self.pipe_broken.is_some() {
            return None;
        }
        if self.pipe.is_none() {
            match self.conn.take() {
                Some(DbConnection::Postgres(pg)) => self.pipe = Some(Rc::new(pg)),
                other => {
                    self.conn = other;
                    return None;
                }
            }
        }
        self.pipe.clone()
    }

    /// A pipelined statement with `labels`, lent for `held`, ended (`lost`
    /// set if it found the connection unusable). After the last one, the
    /// connection is whole again, or invalidated and closed if any of them
    /// found it broken. Tells the manager either way.
    fn unshare(
        &mut self,
        labels: &Labels,
        held: Duration,
        lost: Option<ErrorInfo>,
        ctx: &mut Context<Self>,
    ) {
        self.in_pipe -= 1;
        if self.pipe_broken.is_none() {
            self.pipe_broken = lost;
        }
        let broken = self.pipe_broken.is_some();
        let last = self.in_pipe == 0;
        let pipe = if last { self.pipe.take() } else { None };
        // As for a caller with the connection to itself: `Invalidated`,
        // `CheckedIn`, then `Closing` and `Closed`.
        let invalidated = if last { self.pipe_broken.take() } else { None };
        if let Some(error) = invalidated {
            drop(pipe);
            self.invalidate(error);
            self.emitter.emit_as(EventKind::CheckedIn { held }, labels);
            // Closing tells the manager the connection is gone.
            self.close(CloseReason::Invalidated, ctx);
            return;
        }
        self.emitter.emit_as(EventKind::CheckedIn { held }, labels);
        if let Some(rc) = pipe {
            // Every statement's future, and its clone, is gone by now.
            match Rc::try_unwrap(rc) {
                Ok(pg) => self.conn = Some(DbConnection::Postgres(pg)),
                Err(rc) => self.pipe = Some(rc),
            }
        }
        self.manager.do_send(Released {
            id: self.id,
            broken,
            pipelined: true,
        });
    }

    /// The connection proved unusable: `Invalidated`, then closed.
    fn invalidate(&mut self, error: ErrorInfo) {
        self.emitter.emit(EventKind::Invalidated { error });
        self.conn = None;
    }

    fn close(&mut self, reason: CloseReason, ctx: &mut Context<Self>) {
        self.finish(reason);
        ctx.stop();
    }

    /// `Closing`, the driver connection dropped, `Closed`: once only. The
    /// manager is told the connection is gone, whoever closed it: a
    /// connection that broke inside a lease is otherwise never given back
    /// (the lease's `Return` reaches a stopped actor). A manager that closed
    /// it itself has already forgotten it and ignores this.
    fn finish(&mut self, reason: CloseReason) {
        if self.closed {
            return;
        }
        self.closed = true;
        self.emitter.emit(EventKind::Closing { reason });
        drop(self.conn.take());
        self.emitter.emit(EventKind::Closed {
            lifetime: self.opened.elapsed(),
            statements: self.probe.statements(),
        });
        self.manager.do_send(Released {
            id: self.id,
            broken: true,
            pipelined: false,
        });
    }
}

impl Actor for ConnectionActor {
    type Context = Context<Self>;

    /// Stopped from outside (its arbiter or system stopping): still tell
    /// subscribers the connection is gone.
    fn stopped(&mut self, _: &mut Self::Context) {
        self.finish(CloseReason::Shutdown);
    }
}

impl<T: Send + 'static> Handler<Run<T>> for ConnectionActor {
    type Result = AtomicResponse<Self, Result<T>>;

    fn handle(&mut self, msg: Run<T>, ctx: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(self.run(msg, ctx))
    }
}

impl<T: Send + 'static> Handler<Answer<Run<T>, T>> for ConnectionActor {
    type Result = ();

    /// As `Run`: the actor handles nothing else until the work is done.
    fn handle(&mut self, msg: Answer<Run<T>, T>, ctx: &mut Self::Context) {
        let Answer { work, reply } = msg;
        let run = self.run(work, ctx);
        ctx.wait(run.map(move |result, _, _| reply.send(result)));
    }
}

impl<T: Send + 'static> Handler<Pipe<T>> for ConnectionActor {
    type Result = ResponseActFuture<Self, Result<T>>;

    fn handle(&mut self, msg: Pipe<T>, _: &mut Self::Context) -> Self::Result {
        self.pipe(msg)
    }
}

impl<T: Send + 'static> Handler<Answer<Pipe<T>, T>> for ConnectionActor {
    type Result = ();

    /// As `Pipe`: the actor takes further messages meanwhile.
    fn handle(&mut self, msg: Answer<Pipe<T>, T>, ctx: &mut Self::Context) {
        let Answer { work, reply } = msg;
        let pipe = self.pipe(work);
        ctx.spawn(pipe.map(move |result, _, _| reply.send(result)));
    }
}

impl ConnectionActor {
    /// Runs `msg` with the connection to itself.
    fn run<T: Send + 'static>(
        &mut self,
        msg: Run<T>,
        ctx: &mut Context<Self>,
    ) -> ResponseActFuture<Self, Result<T>> {
        let Run {
            job,
            grant,
            labels,
            deadline,
        } = msg;
        let one_off = grant.is_some();
        match grant {
            Some(grant) => {
                let waited = grant.disarm();
                self.lend(waited, labels.clone());
            }
            None => self.emitter.set_labels(labels.clone()),
        }
        let Some(conn) = self.conn.take() else {
            let err = Error::ConnectionLost {
                message: "the connection was closed before this work reached it".into(),
            };
            if one_off {
                self.give_back(ctx);
            }
            return Box::pin(actix::fut::ready(Err(err)));
        };
        let mut session = Session {
            conn: Held::Own(conn),
            emitter: self.emitter.clone(),
            shared: self.shared.clone(),
            probe: self.probe.clone(),
            labels,
            deadline,
            poisoned: false,
        };
        let work = async move {
            let result = AssertUnwindSafe(job(&mut session)).catch_unwind().await;
            match (result, session.conn) {
                (Ok(result), _) if session.poisoned => (None, result),
                (Ok(result), Held::Own(conn)) => (Some(conn), result),
                (Ok(result), Held::Pipelined(_)) => (None, result),
                (Err(panic), _) => {
                    let message = switchboard_core::error::panic_message(&*panic);
                    (None, Err(Error::Panic(message)))
                }
            }
        };
        Box::pin(work.into_actor(self).map(move |(conn, result), act, ctx| {
            match conn {
                Some(conn) if !matches!(result, Err(Error::ConnectionLost { .. })) => {
                    act.conn = Some(conn)
                }
                _ => {
                    let info = match &result {
                        Err(e) => e.info(),
                        Ok(_) => ErrorInfo::new("unknown", None, "connection unusable"),
                    };
                    act.invalidate(info);
                }
            }
            if one_off {
                act.give_back(ctx);
            } else if act.conn.is_none() {
                act.close(CloseReason::Invalidated, ctx);
            }
            result
        }))
    }

    /// Runs `msg` pipelined, sharing the connection.
    fn pipe<T: Send + 'static>(&mut self, msg: Pipe<T>) -> ResponseActFuture<Self, Result<T>> {
        let Pipe { job, grant, labels } = msg;
        let waited = grant.disarm();
        let lent = Instant::now();
        self.emitter
            .emit_as(EventKind::CheckedOut { waited }, &labels);
        let Some(conn) = self.share() else {
            self.emitter.emit_as(
                EventKind::CheckedIn {
                    held: Duration::ZERO,
                },
                &labels,
            );
            self.manager.do_send(Released {
                id: self.id,
                broken: true,
                pipelined: true,
            });
            let err = Error::ConnectionLost {
                message: "the connection was closed before this work reached it".into(),
            };
            return Box::pin(actix::fut::ready(Err(err)));
        };
        self.in_pipe += 1;
        let mut session = Session {
            conn: Held::Pipelined(conn),
            emitter: self.emitter.clone(),
            shared: self.shared.clone(),
            probe: self.probe.clone(),
            labels: labels.clone(),
            deadline: None,
            poisoned: false,
        };
        let work = async move {
            let result = AssertUnwindSafe(job(&mut session)).catch_unwind().await;
            drop(session);
            result.unwrap_or_else(|panic| {
                Err(Error::Panic(switchboard_core::error::panic_message(
                    &*panic,
                )))
            })
        };
        Box::pin(work.into_actor(self).map(move |result, act, ctx| {
            let lost = match &result {
                Err(e @ (Error::ConnectionLost { .. } | Error::Panic(_))) => Some(e.info()),
                _ => None,
            };
            act.unshare(&labels, lent.elapsed(), lost, ctx);
            result
        }))
    }
}

impl Handler<Lend> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Lend, _: &mut Self::Context) {
        let waited = msg.grant.disarm();
        self.lend(waited, msg.labels);
    }
}

impl Handler<Return> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, _: Return, ctx: &mut Self::Context) {
        self.give_back(ctx);
    }
}

impl Handler<Close> for ConnectionActor {
    type Result = ();
    fn handle(&mut self, msg: Close, ctx: &mut Self::Context) {
        self.close(msg.0, ctx);
    }
}

impl Handler<Ping> for ConnectionActor {
    type Result = AtomicResponse<Self, Result<()>>;

    fn handle(&mut self, _: Ping, _: &mut Self::Context) -> Self::Result {
        let Some(mut conn) = self.conn.take() else {
            return AtomicResponse::new(Box::pin(actix::fut::ready(Err(Error::ConnectionLost {
                message: "the connection was already closed".into(),
            }))));
        };
        let shared = self.shared.clone();
        let work = async move {
            let result = conn
                .batch_execute("SELECT 1")
                .await
                .map_err(|e| shared.scrub(e));
            (conn, result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(conn, result), act, ctx| {
                match &result {
                    Ok(()) => act.conn = Some(conn),
                    Err(e) => {
                        act.invalidate(e.info());
                        act.close(CloseReason::Invalidated, ctx);
                    }
                }
                result
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_dropped_unanswered_answers_gone() {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<Result<u32>>();
        drop(Reply::new(Some(tx)));
        match rx.try_recv() {
            Ok(Err(Error::Gone(what))) => assert_eq!(what, "connection"),
            other => panic!("expected Gone(connection), got {other:?}"),
        }
    }

    #[test]
    fn a_reply_sends_its_result_once() {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<Result<u32>>();
        Reply::new(Some(tx)).send(Ok(7));
        assert!(matches!(rx.try_recv(), Ok(Ok(7))));
    }
}
