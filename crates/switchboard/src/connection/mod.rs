//! The Connection actor: owns exactly one driver connection and publishes
//! every lifecycle event of it, in order.
//!
//! Its [`State`] says who has the connection: nobody (`Ready`), one holder
//! (`Lent`, a lease or a one-off message), the pipelined statements of
//! several callers (`Pipelined`, PostgreSQL), or nobody ever again
//! (`Closed`). Work arrives as one message, [`Task`]; see `task` for how
//! each mode runs. The manager learns what came back through [`Released`].

mod probe;
mod session;
mod task;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use diesel_async::pg::AsyncPgConnection;
use switchboard_core::{
    CloseReason, ConnectionId, Emitter, Error, ErrorInfo, EventKind, Labels, Result,
};

use crate::backend::DbConnection;
use crate::lease::Grant;
use crate::pool::state::Release;
use crate::shared::Shared;
pub(crate) use probe::{Instrument, Probe};
pub(crate) use session::{Session, pg_query};
pub(crate) use task::{Job, Mode, Reply, Task};

/// Tells the manager how a connection came back.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Released {
    pub(crate) id: ConnectionId,
    pub(crate) how: Release,
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

/// Who has the connection.
pub(crate) enum State {
    /// Nobody: the pool may lend it.
    Ready(DbConnection),
    /// A ping has it, before the pool lends it.
    Checking,
    /// One holder since `since`: a lease or a one-off message. `conn` is
    /// `None` while a piece of work has the connection.
    Lent {
        since: Instant,
        conn: Option<DbConnection>,
    },
    /// Shared by pipelined statements.
    Pipelined(Pipeline),
    /// Closed: `Closing` and `Closed` were published, the manager told.
    /// (Also what a state is swapped for while it changes.)
    Closed,
}

/// A PostgreSQL connection shared by pipelined statements.
pub(crate) struct Pipeline {
    conn: Rc<AsyncPgConnection>,
    /// Statements under way on it.
    in_flight: usize,
    /// Why one of them found the connection unusable: it closes once the
    /// last has ended.
    broken: Option<ErrorInfo>,
}

/// The actor owning one connection.
pub(crate) struct ConnectionActor {
    id: ConnectionId,
    state: State,
    emitter: Arc<Emitter>,
    shared: Arc<Shared>,
    probe: Arc<Probe>,
    manager: Recipient<Released>,
    opened: Instant,
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
            state: State::Ready(conn),
            emitter,
            shared,
            probe,
            manager,
            opened: Instant::now(),
        }
    }

    fn release(&self, how: Release) {
        self.manager.do_send(Released { id: self.id, how });
    }

    /// Lends the connection whole: `CheckedOut`, with the holder's labels
    /// on this and every later event until it is given back.
    fn lend(&mut self, waited: Duration, labels: Labels) {
        self.state = match std::mem::replace(&mut self.state, State::Closed) {
            State::Ready(conn) => State::Lent {
                since: Instant::now(),
                conn: Some(conn),
            },
            other => other,
        };
        self.emitter.set_labels(labels);
        self.emitter.emit(EventKind::CheckedOut { waited });
    }

    /// Ends a loan: `CheckedIn`, then the manager may lend it again. A
    /// connection its holder broke is closed instead.
    fn give_back(&mut self, ctx: &mut Context<Self>) {
        let State::Lent { since, conn } = &mut self.state else {
            return;
        };
        let held = since.elapsed();
        let conn = conn.take();
        self.emitter.emit(EventKind::CheckedIn { held });
        self.emitter.set_labels(Labels::new());
        match conn {
            Some(conn) => {
                self.state = State::Ready(conn);
                self.release(Release::Free);
            }
            // Closing tells the manager the connection is gone.
            None => self.close(CloseReason::Invalidated, ctx),
        }
    }

    /// The connection shared for one more pipelined statement; `None` if it
    /// broke, closed, is lent, or is not PostgreSQL.
    fn share(&mut self) -> Option<Rc<AsyncPgConnection>> {
        self.state = match std::mem::replace(&mut self.state, State::Closed) {
            State::Ready(DbConnection::Postgres(pg)) => State::Pipelined(Pipeline {
                conn: Rc::new(pg.into_raw()),
                in_flight: 0,
                broken: None,
            }),
            other => other,
        };
        match &mut self.state {
            State::Pipelined(p) if p.broken.is_none() => {
                p.in_flight += 1;
                Some(p.conn.clone())
            }
            _ => None,
        }
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
        let State::Pipelined(p) = &mut self.state else {
            return;
        };
        p.in_flight -= 1;
        if p.broken.is_none() {
            p.broken = lost;
        }
        let how = match (&p.broken, p.in_flight) {
            (Some(_), 0) => None,
            (Some(_), _) => Some(Release::Gone),
            (None, _) => Some(Release::PlaceFreed),
        };
        let Some(how) = how else {
            // The last statement on a broken connection, as for a caller
            // with the connection to itself: `Invalidated`, `CheckedIn`,
            // then `Closing` and `Closed` (which tells the manager).
            if let Some(error) = p.broken.take() {
                self.emitter.emit(EventKind::Invalidated { error });
            }
            self.emitter.emit_as(EventKind::CheckedIn { held }, labels);
            self.close(CloseReason::Invalidated, ctx);
            return;
        };
        self.emitter.emit_as(EventKind::CheckedIn { held }, labels);
        if p.in_flight == 0 {
            // Every statement's future, and its clone, is gone by now.
            self.state = match std::mem::replace(&mut self.state, State::Closed) {
                State::Pipelined(p) => match Rc::try_unwrap(p.conn) {
                    Ok(pg) => State::Ready(DbConnection::from(pg)),
                    Err(conn) => State::Pipelined(Pipeline { conn, ..p }),
                },
                other => other,
            };
        }
        self.release(how);
    }

    /// The connection proved unusable: `Invalidated`; it closes when its
    /// holder is done with it.
    fn invalidate(&mut self, error: ErrorInfo) {
        self.emitter.emit(EventKind::Invalidated { error });
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
        if let State::Closed = self.state {
            return;
        }
        self.emitter.emit(EventKind::Closing { reason });
        drop(std::mem::replace(&mut self.state, State::Closed));
        self.emitter.emit(EventKind::Closed {
            lifetime: self.opened.elapsed(),
            statements: self.probe.statements(),
        });
        self.release(Release::Gone);
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
        let mut conn = match std::mem::replace(&mut self.state, State::Checking) {
            State::Ready(conn) => conn,
            other => {
                self.state = other;
                return AtomicResponse::new(Box::pin(actix::fut::ready(Err(
                    Error::ConnectionLost {
                        message: "the connection is not free to be checked".into(),
                    },
                ))));
            }
        };
        let shared = self.shared.clone();
        let work = async move {
            let result = conn
                .raw_batch_execute("SELECT 1")
                .await
                .map_err(|e| shared.scrub(e));
            (conn, result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(conn, result), act, ctx| {
                match &result {
                    Ok(()) => act.state = State::Ready(conn),
                    Err(e) => {
                        drop(conn);
                        act.invalidate(e.info());
                        act.close(CloseReason::Invalidated, ctx);
                    }
                }
                result
            },
        )))
    }
}
