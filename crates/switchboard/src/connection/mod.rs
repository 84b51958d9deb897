//! The Connection actor: owns exactly one driver connection and publishes
//! every lifecycle event of it, in order.
//!
//! Its [`State`] says who has the connection: nobody (`Ready`), one holder
//! (`Lent`, a lease or a one-off message), the pipelined statements of
//! several callers (`Pipelined`, PostgreSQL), or nobody ever again
//! (`Closed`). Work arrives as one message, [`Task`]; see `task` for how
//! each mode runs, whether the manager or the caller itself (through the
//! pool's `Ledger`) took it. A connection records its own return in the
//! pool's state (the same `Ledger`) and wakes the manager only when that
//! leaves it something to do; a connection that closed, or a lease given
//! back from any thread, tells the manager through [`Released`].

mod probe;
pub(crate) mod reset;
mod session;
mod setup;
mod task;

#[cfg(feature = "postgres")]
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use switchboard_core::{
    CloseReason, ConnectionId, Emitter, Error, ErrorInfo, ErrorKind, Labels, Payload, Result,
    RollbackReason,
};

use crate::backend::DbConnection;
use crate::guarded::Scope;
use crate::lease::Grant;
use crate::pool::state::Release;
use crate::pool::{GivenBack, Ledger, Manager, Settle};
use crate::shared::Shared;
pub(crate) use probe::{Instrument, Probe};
use reset::{Outcome, Owed};
#[cfg(feature = "postgres")]
pub(crate) use session::pg_query;
pub(crate) use session::prepared::Cached;
pub(crate) use session::{Counts, Session};
pub(crate) use setup::Hooks;
pub use setup::{CheckoutHook, DisconnectHook, SetupHook};
pub(crate) use task::{Deadline, Job, Mode, Reply, Task};

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

/// The lease holder gives the connection back; `discard`: it tainted the
/// session and wants the connection thrown away instead.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Return {
    pub(crate) discard: bool,
}

/// Checks the connection with a cheap statement before it is lent; a
/// connection that fails is invalidated and closes itself.
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct Ping;

/// What a check before lending concluded.
enum Verdict {
    Accepted,
    Rejected,
}

/// Closes the connection and stops the actor.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close(pub(crate) CloseReason);

/// Who has the connection.
pub(crate) enum State {
    /// Nobody: the pool may lend it.
    Ready(Box<DbConnection>),
    /// A ping has it, before the pool lends it.
    Checking,
    /// One holder since `since`: a lease or a one-off message. `conn` is
    /// `None` while a piece of work has the connection.
    Lent {
        since: Instant,
        conn: Option<Box<DbConnection>>,
    },
    /// Shared by pipelined statements.
    #[cfg(feature = "postgres")]
    Pipelined(Pipeline),
    /// Being reset after its holder gave it back, before the pool lends it
    /// again (the reset holds the actor until it ends).
    Resetting,
    /// Closed: `Closing` and `Closed` were published, the manager told.
    /// (Also what a state is swapped for while it changes.)
    Closed,
}

/// A PostgreSQL connection shared by pipelined statements.
#[cfg(feature = "postgres")]
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
    manager: Addr<Manager>,
    /// The pool's state, where the connection records its own return.
    ledger: Ledger,
    opened: Instant,
}

impl ConnectionActor {
    pub(crate) fn new(
        mut conn: DbConnection,
        emitter: Arc<Emitter>,
        shared: Arc<Shared>,
        manager: Addr<Manager>,
        ledger: Ledger,
    ) -> Self {
        let probe = Probe::new(emitter.clone(), shared.clone());
        conn.set_instrumentation(Instrument(probe.clone()));
        ConnectionActor {
            id: emitter.connection(),
            state: State::Ready(Box::new(conn)),
            emitter,
            shared,
            probe,
            manager,
            ledger,
            opened: Instant::now(),
        }
    }

    /// Tells the pool how the connection came back, at `now`: in the
    /// pool's state itself, waking the manager only if that leaves it
    /// something to do; by message when the connection closed (the manager
    /// forgets it).
    fn release(&self, how: Release, now: Instant) {
        if how != Release::Gone {
            match self.ledger.give_back(self.id, how, now, &self.shared) {
                GivenBack::Settled => return,
                GivenBack::ForTheManager => {
                    self.manager.do_send(Settle);
                    return;
                }
                GivenBack::NotRecorded => {}
            }
        }
        self.manager.do_send(Released { id: self.id, how });
    }

    /// Lends the connection whole: `CheckedOut`, with the holder's labels
    /// on this and every later event until it is given back.
    fn lend(&mut self, waited: Duration, labels: Labels) {
        self.whole();
        let now = Instant::now();
        self.state = match std::mem::replace(&mut self.state, State::Closed) {
            State::Ready(conn) => State::Lent {
                since: now,
                conn: Some(conn),
            },
            other => other,
        };
        self.emitter.set_labels(labels);
        self.emitter.emit_at(Payload::CheckedOut { waited }, now);
    }

    /// Ends a loan: `CheckedIn`, then the manager may lend it again. A
    /// connection its holder broke is closed instead.
    fn give_back(&mut self, ctx: &mut Context<Self>) {
        let State::Lent { since, conn } = &mut self.state else {
            return;
        };
        let now = Instant::now();
        let held = now.saturating_duration_since(*since);
        let conn = conn.take();
        self.emitter.emit_at(Payload::CheckedIn { held }, now);
        self.emitter.set_labels(Labels::new());
        let Some(conn) = conn else {
            // Closing tells the manager the connection is gone.
            self.close(CloseReason::Invalidated, ctx);
            return;
        };
        let owed = self.probe.debt.take();
        if owed.is_nothing() {
            self.state = State::Ready(conn);
            self.release(Release::Free, now);
        } else {
            self.reset(conn, owed, ctx);
        }
    }

    /// Pays what the last holder left behind (see `reset`), then hands
    /// the connection back to the pool; a reset that fails invalidates it,
    /// so it is never lent out dirty.
    fn reset(&mut self, mut conn: Box<DbConnection>, owed: Owed, ctx: &mut Context<Self>) {
        self.state = State::Resetting;
        let shared = self.shared.clone();
        let scope = Scope::for_hooks(&self.emitter, &self.shared, &self.probe);
        let work = async move {
            let started = Instant::now();
            let limit = shared.config.connect_timeout;
            let reset = reset::reset(&mut conn, &shared, owed, scope);
            // SQLite's blocking calls must not be abandoned half-way (see
            // `pool::connect`); its reset is local and bounded by its busy
            // timeout.
            let outcome = if shared.backend == switchboard_core::Backend::Sqlite {
                reset.await
            } else {
                match tokio::time::timeout(limit, reset).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::Timeout {
                        after: limit,
                        phase: switchboard_core::Phase::Reset,
                    }),
                }
            }
            .map_err(|e| shared.scrub(e));
            (conn, outcome, started.elapsed())
        };
        ctx.wait(
            work.into_actor(self)
                .map(move |(conn, outcome, took), act, ctx| {
                    if owed.tx_open {
                        act.emitter.emit(Payload::TxRollback {
                            depth: 1,
                            reason: RollbackReason::Reset,
                        });
                    }
                    match outcome {
                        Ok(Outcome::Done(what)) => {
                            // The setup hooks, run again, noted what they
                            // set as owed; it is what every new connection
                            // has, so the next holder owes nothing for it.
                            act.probe.debt.take();
                            act.emitter.emit(Payload::Reset { took, what });
                            act.state = State::Ready(conn);
                            act.release(Release::Free, Instant::now());
                        }
                        Ok(Outcome::Replace) => {
                            drop(conn);
                            act.close(CloseReason::Reset, ctx);
                        }
                        Err(e) => {
                            drop(conn);
                            act.invalidate(e.info());
                            act.close(CloseReason::Invalidated, ctx);
                        }
                    }
                }),
        );
    }

    /// The connection shared for one more pipelined statement; `None` if it
    /// broke, closed, is lent, or is not PostgreSQL.
    #[cfg(feature = "postgres")]
    fn share(&mut self) -> Option<Rc<AsyncPgConnection>> {
        if let State::Ready(conn) = &self.state
            && let DbConnection::Postgres(_) = **conn
        {
            self.state = match std::mem::replace(&mut self.state, State::Closed) {
                State::Ready(conn) => match *conn {
                    DbConnection::Postgres(pg) => State::Pipelined(Pipeline {
                        conn: Rc::new(pg.into_raw()),
                        in_flight: 0,
                        broken: None,
                    }),
                    #[allow(unreachable_patterns)]
                    other => State::Ready(Box::new(other)),
                },
                other => other,
            };
        }
        match &mut self.state {
            State::Pipelined(p) if p.broken.is_none() => {
                p.in_flight += 1;
                Some(p.conn.clone())
            }
            _ => None,
        }
    }

    /// A pipelined statement with `labels`, lent at `lent`, ended (`lost`
    /// set if it found the connection unusable). After the last one, the
    /// connection is invalidated and closed if any of them found it
    /// broken, else kept shared for the next. Tells the manager either way.
    #[cfg(feature = "postgres")]
    fn unshare(
        &mut self,
        labels: &Labels,
        lent: Instant,
        lost: Option<ErrorInfo>,
        ctx: &mut Context<Self>,
    ) {
        let State::Pipelined(p) = &mut self.state else {
            return;
        };
        let now = Instant::now();
        let held = now.saturating_duration_since(lent);
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
                self.emitter.emit(Payload::Invalidated { error });
            }
            self.emitter
                .emit_as_at(Payload::CheckedIn { held }, labels, now);
            self.close(CloseReason::Invalidated, ctx);
            return;
        };
        // With no statement left the connection stays shared, ready for the
        // next one without being unwrapped and wrapped again (a move of the
        // whole driver connection and an allocation, each time); whatever
        // takes it whole makes it whole first (`whole`).
        self.emitter
            .emit_as_at(Payload::CheckedIn { held }, labels, now);
        self.release(how, now);
    }

    /// A connection shared by no statement any more made whole again,
    /// before it is lent or checked.
    fn whole(&mut self) {
        #[cfg(feature = "postgres")]
        if let State::Pipelined(p) = &self.state
            && p.in_flight == 0
            && p.broken.is_none()
        {
            // Every statement's future, and its clone, is gone by now.
            self.state = match std::mem::replace(&mut self.state, State::Closed) {
                State::Pipelined(p) => match Rc::try_unwrap(p.conn) {
                    Ok(pg) => State::Ready(Box::new(DbConnection::from(pg))),
                    Err(conn) => State::Pipelined(Pipeline { conn, ..p }),
                },
                other => other,
            };
        }
    }

    /// The connection proved unusable: `Invalidated`; it closes when its
    /// holder is done with it.
    fn invalidate(&mut self, error: ErrorInfo) {
        self.emitter.emit(Payload::Invalidated { error });
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
        self.emitter.emit(Payload::Closing { reason });
        drop(std::mem::replace(&mut self.state, State::Closed));
        self.emitter.emit(Payload::Closed {
            lifetime: self.opened.elapsed(),
            statements: self.probe.statements(),
        });
        self.release(Release::Gone, Instant::now());
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
    fn handle(&mut self, msg: Return, ctx: &mut Self::Context) {
        if msg.discard
            && let State::Lent { conn, .. } = &mut self.state
            && let Some(conn) = conn.take()
        {
            drop(conn);
            self.invalidate(ErrorInfo::new(
                ErrorKind::Invalidated,
                None,
                "the lease holder invalidated the connection",
            ));
        }
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
        self.whole();
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
        let scope = Scope::for_hooks(&self.emitter, &self.shared, &self.probe);
        let work = async move {
            // A checkout hook, if the pool has one, replaces the ping.
            let result = match &shared.hooks.checkout {
                Some(_) => match shared.hooks.check_out(&mut conn, scope).await {
                    Ok(true) => Ok(Verdict::Accepted),
                    Ok(false) => Ok(Verdict::Rejected),
                    Err(e) => Err(shared.scrub(e)),
                },
                None => conn
                    .raw_batch_execute("SELECT 1")
                    .await
                    .map(|()| Verdict::Accepted)
                    .map_err(|e| shared.scrub(e)),
            };
            (conn, result)
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(conn, result), act, ctx| match result {
                Ok(Verdict::Accepted) => {
                    act.state = State::Ready(conn);
                    Ok(())
                }
                Ok(Verdict::Rejected) => {
                    drop(conn);
                    act.close(CloseReason::Rejected, ctx);
                    Err(Error::ConnectionLost {
                        message: "the pool's checkout hook rejected the connection".into(),
                    })
                }
                Err(e) => {
                    drop(conn);
                    act.invalidate(e.info());
                    act.close(CloseReason::Invalidated, ctx);
                    Err(e)
                }
            },
        )))
    }
}
