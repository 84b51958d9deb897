//! Strict durability: the gate a connection passes before a strict
//! statement runs, and its handshake with the writer.
//!
//! The connection publishes the statement's `Executing` event and then
//! calls [`Gate::pass`]; the event's record reaches the writer through the
//! bus's subscriber thread and the pending batch, so either side may come
//! first. Both meet in [`Handshake`], keyed by the
//! event id:
//!
//! - the writer, after the fsync that made held records durable, wakes the
//!   waiter of each one, or (no waiter yet) leaves its id in `durable`;
//! - `pass` takes the id out of `durable` if it is there, or else leaves a
//!   waiter for the writer.
//!
//! Both look under one lock, so neither can miss the other. An id the
//! connection never asks for (a guard denied the statement first) leaves
//! `durable` when the log takes the statement's outcome, or its
//! connection's `Closed`.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_core::{Error, Event, Gate};
use tokio::sync::oneshot;

use crate::policy::Policy;

/// Why a record cannot be made durable now.
type Refusal = String;

#[derive(Default)]
struct State {
    /// Held events already durable whose connection has not asked yet.
    durable: HashSet<u64>,
    /// Connections waiting for their event to become durable.
    waiting: HashMap<u64, oneshot::Sender<Result<(), Refusal>>>,
    /// Set while the writer cannot write: new waits fail at once.
    broken: Option<Refusal>,
}

/// Where a connection and the writer meet over one held event.
#[derive(Default)]
pub(crate) struct Handshake {
    /// Held by both sides only to look up or change one entry.
    state: Mutex<State>,
}

enum Wait {
    Done(Result<(), Refusal>),
    Pending(oneshot::Receiver<Result<(), Refusal>>),
}

impl Handshake {
    fn wait(&self, id: u64) -> Wait {
        let mut st = self.state.lock();
        if st.durable.remove(&id) {
            return Wait::Done(Ok(()));
        }
        if let Some(reason) = &st.broken {
            return Wait::Done(Err(reason.clone()));
        }
        let (tx, rx) = oneshot::channel();
        st.waiting.insert(id, tx);
        Wait::Pending(rx)
    }

    /// The connection gave up waiting.
    fn cancel(&self, id: u64) {
        self.state.lock().waiting.remove(&id);
    }

    /// The records of these held events are on disk.
    pub(crate) fn made_durable(&self, ids: impl IntoIterator<Item = u64>) {
        let mut st = self.state.lock();
        for id in ids {
            match st.waiting.remove(&id) {
                // A receiver gone at the deadline changes nothing.
                Some(tx) => drop(tx.send(Ok(()))),
                None => {
                    st.durable.insert(id);
                }
            }
        }
    }

    /// The statement of this held event ended; its connection will not ask.
    pub(crate) fn forget(&self, id: u64) {
        self.state.lock().durable.remove(&id);
    }

    /// The writer cannot write: refuse every waiting and future statement
    /// until [`mend`](Self::mend).
    pub(crate) fn break_all(&self, reason: &str) {
        let mut st = self.state.lock();
        st.broken = Some(reason.to_owned());
        for (_, tx) in st.waiting.drain() {
            drop(tx.send(Err(reason.to_owned())));
        }
    }

    /// The writer can write again.
    pub(crate) fn mend(&self) {
        self.state.lock().broken = None;
    }

    #[cfg(test)]
    pub(crate) fn sizes(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.durable.len(), st.waiting.len())
    }
}

/// The gate an [`AuditLog`](crate::AuditLog) adds to a bus: holds a strict
/// statement until its `Executing` record is durable.
pub(crate) struct AuditGate {
    pub(crate) name: Arc<str>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) deadline: Duration,
}

impl Gate for AuditGate {
    fn name(&self) -> &str {
        &self.name
    }

    fn holds(&self, event: &Event) -> bool {
        self.policy.holds(event)
    }

    fn pass(
        &self,
        event: &Event,
    ) -> Pin<Box<dyn Future<Output = switchboard_core::Result<()>> + Send>> {
        let id = event.meta().id;
        let name = self.name.clone();
        let refused = move |reason: String| Error::NotDurable {
            gate: name.to_string(),
            reason,
        };
        match self.handshake.wait(id) {
            Wait::Done(done) => Box::pin(std::future::ready(done.map_err(refused))),
            Wait::Pending(rx) => {
                let handshake = self.handshake.clone();
                let deadline = self.deadline;
                Box::pin(async move {
                    match tokio::time::timeout(deadline, rx).await {
                        Ok(Ok(done)) => done.map_err(refused),
                        Ok(Err(_)) => Err(refused("the audit writer stopped".into())),
                        Err(_) => {
                            handshake.cancel(id);
                            Err(refused(format!(
                                "the record was not on disk within the strict deadline of {}ms",
                                deadline.as_millis()
                            )))
                        }
                    }
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now(w: Wait) -> Option<Result<(), Refusal>> {
        match w {
            Wait::Done(d) => Some(d),
            Wait::Pending(_) => None,
        }
    }

    #[test]
    fn the_writer_first_leaves_the_id_for_the_connection() {
        let h = Handshake::default();
        h.made_durable([7]);
        assert_eq!(now(h.wait(7)), Some(Ok(())));
        assert_eq!(h.sizes(), (0, 0));
    }

    #[test]
    fn the_connection_first_is_woken_by_the_writer() {
        let h = Handshake::default();
        let Wait::Pending(mut rx) = h.wait(7) else {
            panic!("nothing is durable yet")
        };
        assert!(rx.try_recv().is_err());
        h.made_durable([7]);
        assert_eq!(rx.try_recv(), Ok(Ok(())));
        assert_eq!(h.sizes(), (0, 0));
    }

    #[test]
    fn a_broken_writer_refuses_waiting_and_new_statements_but_not_durable_ones() {
        let h = Handshake::default();
        h.made_durable([1]);
        let Wait::Pending(mut rx) = h.wait(2) else {
            panic!()
        };
        h.break_all("disk full");
        assert_eq!(rx.try_recv(), Ok(Err("disk full".to_owned())));
        assert_eq!(now(h.wait(3)), Some(Err("disk full".to_owned())));
        assert_eq!(now(h.wait(1)), Some(Ok(())));
        h.mend();
        assert!(now(h.wait(4)).is_none());
    }

    #[test]
    fn forgotten_and_cancelled_ids_leave_nothing_behind() {
        let h = Handshake::default();
        h.made_durable([1]);
        h.forget(1);
        let _rx = h.wait(2);
        h.cancel(2);
        assert_eq!(h.sizes(), (0, 0));
    }
}
