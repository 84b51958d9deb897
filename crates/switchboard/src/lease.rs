//! Grants and leases: who may use a connection, and giving it back.

use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, WeakAddr};
use switchboard_core::{ActorRole, ConnectionId, Error, Labels, Phase, Result};

use crate::connection::{ConnectionActor, Deadline, Mode, Released, Return, Task};
use crate::messages::{Request, Work};
use crate::pool::Manager;
use crate::pool::state::{Place, Release};

/// The manager's permission to use one connection. If dropped unused (the
/// caller gave up between grant and use), it tells the manager the
/// connection is free again, so a cancelled caller never leaks one.
///
/// Made for every statement, so it holds shared handles: cloning an actix
/// `Addr` or making a `Recipient` allocates.
pub(crate) struct Grant {
    pub(crate) id: ConnectionId,
    pub(crate) addr: Arc<Addr<ConnectionActor>>,
    manager: WeakAddr<Manager>,
    waited: Duration,
    /// The whole connection, or a place among its pipelined statements.
    pub(crate) place: Place,
    armed: bool,
}

impl Grant {
    pub(crate) fn new(
        id: ConnectionId,
        addr: Arc<Addr<ConnectionActor>>,
        manager: WeakAddr<Manager>,
        waited: Duration,
        place: Place,
    ) -> Self {
        Grant {
            id,
            addr,
            manager,
            waited,
            place,
            armed: true,
        }
    }

    /// The connection actor took the grant over; returns how long the caller
    /// waited for it.
    pub(crate) fn disarm(mut self) -> Duration {
        self.armed = false;
        self.waited
    }
}

impl Drop for Grant {
    fn drop(&mut self) {
        if self.armed
            && let Some(manager) = self.manager.upgrade()
        {
            let how = match self.place {
                Place::Whole => Release::Free,
                Place::Pipelined => Release::PlaceFreed,
            };
            manager.do_send(Released { id: self.id, how });
        }
    }
}

/// One connection lent to you until this is dropped: messages sent through
/// it run on that connection, one after another (a session, e.g. with
/// temporary tables or `SET` state). Dropping it returns the connection.
#[must_use = "dropping a lease returns its connection at once"]
pub struct Lease {
    id: ConnectionId,
    addr: Addr<ConnectionActor>,
    labels: Labels,
    /// Throw the connection away when the lease ends.
    discard: bool,
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("connection", &self.id)
            .finish()
    }
}

impl Lease {
    pub(crate) fn new(id: ConnectionId, addr: Addr<ConnectionActor>, labels: Labels) -> Self {
        Lease {
            id,
            addr,
            labels,
            discard: false,
        }
    }

    /// Ends the lease and throws its connection away instead of returning
    /// it (`Invalidated`, `CheckedIn`, `Closing`, `Closed`; the pool opens
    /// another as needed): for a session tainted in a way no reset covers.
    pub fn invalidate(mut self) {
        self.discard = true;
    }

    /// The leased connection.
    pub fn connection_id(&self) -> ConnectionId {
        self.id
    }

    /// Runs a message on the leased connection. Labels of the message add to
    /// the lease's own.
    pub async fn send<R: Request>(&self, request: R) -> Result<R::Output> {
        let (Work(job), opts) = request.into_work();
        let labels = opts
            .labels
            .iter()
            .fold(self.labels.clone(), |l, (k, v)| l.with(k, v));
        let deadline = Deadline::of(std::time::Instant::now(), opts.timeout);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.addr
            .do_send(Task::new(job, Mode::Lease, labels, deadline).answering(tx));
        let gone = || Error::Gone(ActorRole::Connection);
        match opts.timeout {
            Some(after) => tokio::time::timeout(after, rx)
                .await
                .map_err(|_| Error::Timeout {
                    after,
                    phase: Phase::Request,
                })?
                .unwrap_or_else(|_| Err(gone())),
            None => rx.await.unwrap_or_else(|_| Err(gone())),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.addr.do_send(Return {
            discard: self.discard,
        });
    }
}
