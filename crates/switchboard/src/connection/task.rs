//! The one work message a connection takes, [`Task`], and how it runs.
//!
//! A task runs in one of three modes:
//! - `OneOff`: the connection is lent for this task alone, and given back
//!   after it;
//! - `Lease`: inside a lease, which already holds the connection;
//! - `Pipelined`: an `Execute` or `Load` sharing a PostgreSQL connection
//!   with others, which diesel-async pipelines.
//!
//! The first two have the connection to themselves: the actor handles
//! nothing else until the task is done (`ctx.wait`), so a lease, a
//! transaction or a closure is never interleaved with other work. A
//! pipelined task lets the actor take further tasks meanwhile (`ctx.spawn`).
//! Each pipelined statement's events carry its own labels; events of
//! pipelined statements interleave, tied together by their `query_id`.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix::dev::OneshotSender;
use actix::prelude::*;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;
#[cfg(feature = "postgres")]
use switchboard_core::Payload;
use switchboard_core::{ActorRole, CloseReason, Error, ErrorInfo, ErrorKind, Labels, Result};

use super::session::Held;
use super::{ConnectionActor, Session, State};
use crate::guarded::Scope;
use crate::lease::Grant;

/// One piece of work on a connection.
pub(crate) type Job<T> =
    Box<dyn for<'s> FnOnce(&'s mut Session) -> LocalBoxFuture<'s, Result<T>> + Send>;

/// When a message's own timeout passes, and what it was: statements still
/// running then are cancelled, and every part of the message that fails for
/// it reports the same `Error::Timeout { after, phase: Request }`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) after: std::time::Duration,
}

impl Deadline {
    /// The deadline of a message with `timeout`, sent at `started`.
    pub(crate) fn of(started: Instant, timeout: Option<std::time::Duration>) -> Option<Self> {
        timeout.map(|after| Deadline {
            at: started + after,
            after,
        })
    }

    /// The error its passing gives.
    pub(crate) fn error(&self) -> Error {
        Error::Timeout {
            after: self.after,
            phase: switchboard_core::Phase::Request,
        }
    }
}

/// Who holds the connection while a task runs.
pub(crate) enum Mode {
    /// Lent for this task alone by `Grant`.
    OneOff(Grant),
    /// Inside a lease, which holds the connection already.
    Lease,
    /// A place among the connection's pipelined statements.
    Pipelined(Grant),
}

/// Runs a job on the connection and answers its caller.
pub(crate) struct Task<T> {
    job: Job<T>,
    mode: Mode,
    labels: Labels,
    /// When the message's own timeout passes; statements still running
    /// then are cancelled.
    deadline: Option<Deadline>,
    reply: Reply<T>,
}

impl<T> Message for Task<T> {
    type Result = ();
}

impl<T> Task<T> {
    pub(crate) fn new(job: Job<T>, mode: Mode, labels: Labels, deadline: Option<Deadline>) -> Self {
        Task {
            job,
            mode,
            labels,
            deadline,
            reply: Reply::new(None),
        }
    }

    /// The task, answering through actix's reply sender.
    pub(crate) fn replying(mut self, reply: Reply<T>) -> Self {
        self.reply = reply;
        self
    }

    /// The task, answering on `tx`.
    pub(crate) fn answering(self, tx: OneshotSender<Result<T>>) -> Self {
        self.replying(Reply::new(Some(tx)))
    }
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

    /// Whether the caller stopped waiting.
    fn abandoned(&self) -> bool {
        self.0.as_ref().is_some_and(|tx| tx.is_closed())
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(Error::Gone(ActorRole::Connection)));
        }
    }
}

impl<T: Send + 'static> Handler<Task<T>> for ConnectionActor {
    type Result = ();

    fn handle(&mut self, task: Task<T>, ctx: &mut Self::Context) {
        // A caller that gave up before its task started: skipped, as actix
        // skips such a message; a grant it held gives the connection back.
        if task.reply.abandoned() {
            return;
        }
        let Task {
            job,
            mode,
            labels,
            deadline,
            reply,
        } = task;
        match mode {
            #[cfg(feature = "postgres")]
            Mode::Pipelined(grant) => match self.pipe(job, grant, labels) {
                Ok(run) => {
                    ctx.spawn(run.map(move |result, _, _| reply.send(result)));
                }
                Err(e) => reply.send(Err(e)),
            },
            // Only a PostgreSQL pool pipelines (`Manager::pipelines`); the
            // grant, dropped, gives its place back.
            #[cfg(not(feature = "postgres"))]
            Mode::Pipelined(grant) => {
                drop((grant, job, labels));
                reply.send(Err(Error::Driver(
                    "pipelining needs switchboard's `postgres` feature".into(),
                )));
            }
            Mode::OneOff(grant) => {
                let waited = grant.disarm();
                self.lend(waited, labels.clone());
                match self.run(job, labels, deadline, true) {
                    Ok(run) => ctx.wait(run.map(move |result, _, _| reply.send(result))),
                    Err(e) => reply.send(Err(e)),
                }
            }
            Mode::Lease => {
                self.emitter.set_labels(labels.clone());
                match self.run(job, labels, deadline, false) {
                    Ok(run) => ctx.wait(run.map(move |result, _, _| reply.send(result))),
                    Err(e) => reply.send(Err(e)),
                }
            }
        }
    }
}

impl ConnectionActor {
    /// Runs `job` with the connection to itself; `one_off`: give it back
    /// after. Not boxed here: the context boxes what it waits for, and a
    /// second box would cost an allocation per message.
    fn run<T: Send + 'static>(
        &mut self,
        job: Job<T>,
        labels: Labels,
        deadline: Option<Deadline>,
        one_off: bool,
    ) -> Result<impl ActorFuture<Self, Output = Result<T>> + 'static> {
        let conn = match &mut self.state {
            State::Lent { conn, .. } => conn.take(),
            _ => None,
        };
        let Some(conn) = conn else {
            return Err(Error::ConnectionLost {
                message: "the connection was closed before this work reached it".into(),
            });
        };
        let mut session = Session {
            conn: Held::Own(conn),
            scope: Scope::new(&self.emitter, &self.shared, &self.probe, labels, deadline),
        };
        let work = async move {
            let result = AssertUnwindSafe(job(&mut session)).catch_unwind().await;
            match (result, session.conn) {
                (Ok(result), _) if session.scope.poisoned => (None, result),
                (Ok(result), Held::Own(conn)) => (Some(conn), result),
                #[cfg(feature = "postgres")]
                (Ok(result), Held::Pipelined(_)) => (None, result),
                (Err(panic), _) => {
                    let message = switchboard_core::error::panic_message(&*panic);
                    (None, Err(Error::Panic(message)))
                }
            }
        };
        Ok(work.into_actor(self).map(move |(conn, result), act, ctx| {
            let usable = conn.filter(|_| !matches!(result, Err(Error::ConnectionLost { .. })));
            if usable.is_none() {
                let info = match &result {
                    Err(e) => e.info(),
                    Ok(_) => ErrorInfo::new(ErrorKind::Unknown, None, "connection unusable"),
                };
                act.invalidate(info);
            }
            if let State::Lent { conn, .. } = &mut act.state {
                *conn = usable;
            }
            if one_off {
                act.give_back(ctx);
            } else if let State::Lent { conn: None, .. } = act.state {
                act.close(CloseReason::Invalidated, ctx);
            }
            result
        }))
    }

    /// Runs `job` pipelined, sharing the connection. Not boxed here, as
    /// [`run`](Self::run).
    #[cfg(feature = "postgres")]
    fn pipe<T: Send + 'static>(
        &mut self,
        job: Job<T>,
        grant: Grant,
        labels: Labels,
    ) -> Result<impl ActorFuture<Self, Output = Result<T>> + 'static> {
        let waited = grant.disarm();
        let lent = Instant::now();
        self.emitter
            .emit_as_at(Payload::CheckedOut { waited }, &labels, lent);
        let Some(conn) = self.share() else {
            self.emitter.emit_as(
                Payload::CheckedIn {
                    held: std::time::Duration::ZERO,
                },
                &labels,
            );
            self.release(crate::pool::state::Release::Gone, lent);
            return Err(Error::ConnectionLost {
                message: "the connection was closed before this work reached it".into(),
            });
        };
        let mut session = Session {
            conn: Held::Pipelined(conn),
            scope: Scope::new(
                &self.emitter,
                &self.shared,
                &self.probe,
                labels.clone(),
                None,
            ),
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
        Ok(work.into_actor(self).map(move |result, act, ctx| {
            let lost = match &result {
                Err(e @ (Error::ConnectionLost { .. } | Error::Panic(_))) => Some(e.info()),
                _ => None,
            };
            act.unshare(&labels, lent, lost, ctx);
            result
        }))
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
            Ok(Err(Error::Gone(what))) => assert_eq!(what, ActorRole::Connection),
            other => panic!("expected Gone(connection), got {other:?}"),
        }
    }

    #[test]
    fn a_reply_sends_its_result_once() {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<Result<u32>>();
        Reply::new(Some(tx)).send(Ok(7));
        assert!(matches!(rx.try_recv(), Ok(Ok(7))));
    }

    #[test]
    fn a_reply_whose_caller_left_is_abandoned() {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<u32>>();
        let reply = Reply::new(Some(tx));
        assert!(!reply.abandoned());
        drop(rx);
        assert!(reply.abandoned());
        assert!(!Reply::<u32>::new(None).abandoned());
    }
}
