//! The pool: its decisions as plain data ([`state`]) and the Manager actor
//! that carries them out.
//!
//! The Manager owns one pool. It feeds [`PoolState`] what happens (a caller
//! arrives, a connection comes back, a connect ends, a timer fires) and
//! carries out the actions that come out ([`Manager::carry_out`]): lending
//! connections, connecting, pinging, closing, turning callers away. It owns
//! what the state machine must not: actor addresses, emitters, the callers'
//! reply channels and timers. Two inputs it does not feed itself, both
//! through the shared state ([`Ledger`]): a connection that comes back
//! records that itself and wakes the manager only if there is something to
//! carry out, and a statement that finds a connection free (nobody queued,
//! no ping due) takes it itself, without a turn of the manager.
//!
//! - [`state`]: the decisions, tested alone;
//! - `ledger`: the state shared with the connections, which record their
//!   own returns, and with the handles, whose statements take free
//!   connections;
//! - `route`: query messages, straight to a free connection or through a
//!   wait;
//! - `connect`: connect attempts, their guards, events and retries;
//! - `health`: idle timeout, lifetime, pings and leak reports;
//! - `shutdown`: the drain.

mod connect;
mod health;
mod ledger;
mod route;
mod shutdown;
pub(crate) mod state;

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use switchboard_core::status::PoolStatus;
use switchboard_core::{ConnectionId, Emitter, Error, Result};
use tokio::sync::oneshot;

use crate::FastMap;
use crate::connection::{ConnectionActor, Released};
use crate::lease::Grant;
use crate::shared::Shared;
pub(crate) use connect::Warm;
use ledger::publish_stats;
pub(crate) use ledger::{GivenBack, Ledger, Settle};
pub use route::Dispatched;
pub(crate) use route::{Placed, Routed};
use state::{Action, Limits, Place, PoolState, Refusal, WaiterId};

/// The actor that owns a pool. Reach it through a
/// [`Switchboard`](crate::Switchboard) handle.
pub struct Manager {
    shared: Arc<Shared>,
    /// Every decision about who gets which connection, shared with the
    /// pool's connection actors (see [`Ledger`]).
    state: Ledger,
    /// The emitter of every open connection; their actors' addresses are
    /// the ledger's ([`Ledger::lender`]).
    members: FastMap<ConnectionId, Arc<Emitter>>,
    /// Connections being opened: their emitter (shared by their attempts,
    /// so events read `Connecting(1) → ConnectFailed → Connecting(2)`) and
    /// who waits for the first attempt's outcome (warming up).
    slots: FastMap<ConnectionId, Slot>,
    /// Queued callers' reply channels; a caller that gave up has closed its
    /// receiver and is forgotten at the next arrival.
    waiters: FastMap<WaiterId, oneshot::Sender<Result<Grant>>>,
    /// Backoff timers of connect slots, cancelled on shutdown.
    backoffs: FastMap<ConnectionId, SpawnHandle>,
    /// Told when the drain is complete.
    drained: Vec<oneshot::Sender<()>>,
    /// The last connect failure, for callers turned away because of it.
    last_connect_error: Option<Error>,
}

/// A connection being opened.
struct Slot {
    emitter: Arc<Emitter>,
    notify: Option<oneshot::Sender<Result<()>>>,
    /// The delay chosen for the backoff under way, as its event said.
    delay: Duration,
}

impl Manager {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Manager {
            state: Ledger::new(PoolState::new(
                Limits::from_config(&shared.config)
                    .checking_every_lend(shared.hooks.checkout.is_some()),
            )),
            shared,
            members: FastMap::default(),
            slots: FastMap::default(),
            waiters: FastMap::default(),
            backoffs: FastMap::default(),
            drained: Vec::new(),
            last_connect_error: None,
        }
    }

    /// The pool's state, for its handles to lend free connections from.
    pub(crate) fn ledger(&self) -> Ledger {
        self.state.clone()
    }

    /// Admits connection `id`, opened, with its actor and emitter: lent
    /// from now on.
    fn admit(&mut self, id: ConnectionId, addr: Addr<ConnectionActor>, emitter: Arc<Emitter>) {
        self.state.enroll(id, Arc::new(addr));
        self.members.insert(id, emitter);
    }

    /// Dismisses connection `id`, closed or closing: never lent again.
    /// Returns its actor, if it was a member.
    fn dismiss(&mut self, id: ConnectionId) -> Option<Arc<Addr<ConnectionActor>>> {
        self.members.remove(&id);
        self.state.strike(id)
    }

    /// Carries out every action the pool decided on, then publishes the
    /// pool's sizes once.
    fn carry_out(&mut self, ctx: &mut Context<Self>) {
        loop {
            // The state is borrowed for this line only: carrying an action
            // out may feed it again.
            let Some(action) = self.state.get().next_action() else {
                break;
            };
            match action {
                Action::Grant {
                    waiter,
                    conn,
                    place,
                    since,
                } => self.deliver(waiter, conn, place, since),
                Action::Refuse { waiter, why } => {
                    if let Some(tx) = self.waiters.remove(&waiter) {
                        let err = match why {
                            Refusal::ShuttingDown => self.shutting_down(),
                            Refusal::ConnectFailed => self
                                .last_connect_error
                                .clone()
                                .unwrap_or_else(|| Error::ConnectionLost {
                                    message: "no connection could be opened".into(),
                                }),
                        };
                        // The caller may have given up; nobody else wants it.
                        let _ = tx.send(Err(err));
                    }
                }
                Action::Connect { id, attempt } => self.attempt_connect(id, attempt, ctx),
                Action::Backoff { id, .. } => self.back_off(id, ctx),
                Action::CancelBackoff { id } => {
                    if let Some(timer) = self.backoffs.remove(&id) {
                        ctx.cancel_future(timer);
                    }
                    self.slots.remove(&id);
                }
                Action::Ping { conn } => self.ping(conn, ctx),
                Action::Close { conn, reason } => self.close(conn, reason, ctx),
                Action::Drained => {
                    for tx in self.drained.drain(..) {
                        let _ = tx.send(());
                    }
                }
            }
        }
        self.publish_stats();
    }

    /// Hands a grant to a queued caller; one that gave up meanwhile sends
    /// the connection on to the next.
    fn deliver(&mut self, waiter: WaiterId, conn: ConnectionId, place: Place, since: Instant) {
        let delivered = match (self.waiters.remove(&waiter), self.grant(conn, since, place)) {
            (Some(tx), Some(grant)) => match tx.send(Ok(grant)) {
                Ok(()) => true,
                // That caller gave up; take the grant back without a release.
                Err(Ok(grant)) => {
                    grant.disarm();
                    false
                }
                Err(Err(_)) => false,
            },
            _ => false,
        };
        if !delivered {
            self.state.get().refused(conn, place, Instant::now());
        }
    }

    /// A grant of `conn` to a caller that has waited since `since`.
    fn grant(&self, conn: ConnectionId, since: Instant, place: Place) -> Option<Grant> {
        self.state.grant(conn, since, place)
    }

    /// Forgets queued callers that stopped waiting, so they do not hold up
    /// callers arriving behind them.
    fn prune_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let mut state = self.state.get();
        self.waiters.retain(|id, tx| {
            let waiting = !tx.is_closed();
            if !waiting {
                state.abandon(*id);
            }
            waiting
        });
    }

    fn publish_stats(&self) {
        publish_stats(&self.state.get(), &self.shared);
    }

    fn shutting_down(&self) -> Error {
        Error::ShuttingDown {
            pool: self.shared.pool.to_string(),
        }
    }

    fn status(&self) -> PoolStatus {
        let state = self.state.get();
        let mut connections: Vec<_> = self
            .members
            .iter()
            .map(|(id, emitter)| emitter.status(state.is_idle(*id)))
            .collect();
        connections.sort_by_key(|c| c.id);
        let open = state.open_count();
        let idle = state.idle_count();
        PoolStatus {
            pool: self.shared.pool.clone(),
            backend: self.shared.backend,
            min: self.shared.config.min_size,
            max: self.shared.config.max_size,
            open,
            idle,
            busy: open.saturating_sub(idle),
            waiting: self.waiters.values().filter(|tx| !tx.is_closed()).count(),
            connecting: state.connecting_count(),
            connections,
        }
    }
}

impl Actor for Manager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.state.run_by(ctx.address().downgrade());
        self.start_reaper(ctx);
        self.start_leak_reports(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.state.close_book();
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

/// Asks the manager to replace every connection; see
/// [`Switchboard::recycle`](crate::Switchboard::recycle).
#[derive(Debug, Clone, Copy, Default, Message)]
#[rtype(result = "Result<()>")]
pub struct Recycle;

impl Handler<Recycle> for Manager {
    type Result = Result<()>;

    fn handle(&mut self, _: Recycle, ctx: &mut Self::Context) -> Self::Result {
        let recycling = self.state.get().recycle();
        self.carry_out(ctx);
        if recycling {
            Ok(())
        } else {
            Err(self.shutting_down())
        }
    }
}

impl Handler<Released> for Manager {
    type Result = ();

    fn handle(&mut self, msg: Released, ctx: &mut Self::Context) {
        if msg.how == state::Release::Gone {
            // It closes itself; a connection the pool closed is no member.
            self.dismiss(msg.id);
        }
        self.state.get().released(msg.id, msg.how, Instant::now());
        self.carry_out(ctx);
    }
}
