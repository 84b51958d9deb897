//! Pumps: what moves events from a subscription's queue to its subscriber.
//!
//! - an actix `Recipient<Event>`: a task on the subscribing arbiter awaits
//!   each `send`, so an event is acknowledged only once the handler ran;
//! - a supervised actor: the same, but the bus starts the actor on its own
//!   arbiter from a factory and starts a fresh one when the old one dies
//!   (a panicking handler kills the actor), redelivering the unacknowledged
//!   event;
//! - a closure on a dedicated thread (used for `listen` and for crossbeam
//!   channels), with panics caught and the event redelivered.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{Actor, Arbiter, Context, Handler, Recipient};

use super::queue::{Queue, Slot};
use super::{Bus, Delivery, Subscription, SubscriptionId};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::filter::Filter;

/// How often one event is redelivered to a subscriber that keeps panicking on
/// it before it is skipped (and the skip logged), so one poisoned event
/// cannot wedge a lossless subscription forever.
pub const MAX_REDELIVERIES: u32 = 3;

/// What a closure subscriber tells its pump after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep delivering.
    Continue,
    /// Unsubscribe.
    Stop,
}

impl From<()> for Flow {
    fn from((): ()) -> Self {
        Flow::Continue
    }
}

impl Bus {
    /// Subscribes an actix actor. Its pump runs on the current arbiter (call
    /// from inside an actix `System`); if the actor stops, the subscription
    /// ends. Use [`Bus::subscribe_supervised`] for a subscriber that must be
    /// restarted when it panics.
    pub fn subscribe(
        &self,
        name: &str,
        recipient: Recipient<Event>,
        filter: Filter,
        delivery: Delivery,
    ) -> SubscriptionId {
        let sub = self.add(name, filter, delivery);
        let id = sub.id;
        let bus = self.clone();
        // Ends when the queue closes (unsubscribe) or the recipient is gone.
        actix::spawn(async move {
            while let Some(slot) = sub.queue.peek().await {
                if recipient.send(slot.into_event()).await.is_err() {
                    tracing::warn!(
                        subscriber = %sub.name,
                        queued = sub.queue.len(),
                        "subscriber actor stopped; its subscription ends"
                    );
                    bus.remove_dead(sub.id);
                    return;
                }
                sub.queue.ack();
            }
        });
        id
    }

    /// Subscribes an actor that the bus starts from `factory` on an arbiter
    /// (thread) of its own, and starts again from `factory` whenever it dies
    /// (a panic in a handler stops an actix actor). The event it was handling
    /// is redelivered to the new instance (at most [`MAX_REDELIVERIES`]
    /// times), so a lossless subscriber loses nothing across a restart.
    pub fn subscribe_supervised<A, F>(
        &self,
        name: &str,
        factory: F,
        filter: Filter,
        delivery: Delivery,
    ) -> SubscriptionId
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let sub = self.add(name, filter, delivery);
        let id = sub.id;
        let factory = Arc::new(factory);
        let arbiter = Arbiter::new();
        let handle = arbiter.handle();
        let start = move || {
            let factory = factory.clone();
            A::start_in_arbiter(&handle, move |_| factory())
        };
        // Ends when the queue closes (unsubscribe); stops the arbiter then.
        actix::spawn(async move {
            let mut addr = start();
            let mut failures = 0u32;
            while let Some(slot) = sub.queue.peek().await {
                match addr.send(slot.into_event()).await {
                    Ok(()) => {
                        failures = 0;
                        sub.queue.ack();
                    }
                    Err(_) => {
                        failures += 1;
                        sub.restarts.fetch_add(1, Ordering::Relaxed);
                        if failures > MAX_REDELIVERIES {
                            tracing::error!(
                                subscriber = %sub.name,
                                "subscriber died on the same event {failures} times; skipping it"
                            );
                            failures = 0;
                            sub.queue.ack();
                        } else {
                            tracing::warn!(subscriber = %sub.name, "subscriber died; restarting it");
                        }
                        addr = start();
                    }
                }
            }
            arbiter.stop();
        });
        id
    }

    /// Subscribes a closure that runs on a thread of its own, so a slow or
    /// blocking closure never stalls an arbiter. A panic in the closure is
    /// caught and logged, and the event is redelivered (at most
    /// [`MAX_REDELIVERIES`] times). Returning [`Flow::Stop`] unsubscribes.
    pub fn subscribe_fn<F, R>(
        &self,
        name: &str,
        filter: Filter,
        delivery: Delivery,
        mut f: F,
    ) -> Result<SubscriptionId>
    where
        F: FnMut(Event) -> R + Send + 'static,
        R: Into<Flow>,
    {
        let sub = self.add(name, filter, delivery);
        let id = sub.id;
        let bus = self.clone();
        let thread_sub = sub.clone();
        // Ends when the queue closes (unsubscribe) or the closure says Stop.
        let spawned = std::thread::Builder::new()
            .name(format!("sb-sub-{name}"))
            .spawn(move || run_closure(&bus, &thread_sub, &mut f));
        if let Err(e) = spawned {
            self.unsubscribe(id);
            return Err(Error::Config(format!(
                "could not start a thread for subscriber {name:?}: {e}"
            )));
        }
        Ok(id)
    }

    /// Subscribes a crossbeam channel, for code that lives on plain threads.
    /// The channel holds up to the contract's capacity; the contract applies
    /// to the bus-side queue in front of it. Dropping the receiver ends the
    /// subscription.
    pub fn subscribe_channel(
        &self,
        name: &str,
        filter: Filter,
        delivery: Delivery,
    ) -> Result<EventReceiver> {
        let (tx, rx) = crossbeam_channel::bounded(delivery.capacity().max(1));
        let id = self.subscribe_fn(name, filter, delivery, move |event| match tx.send(event) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        })?;
        Ok(EventReceiver { id, rx })
    }
}

fn run_closure<F, R>(bus: &Bus, sub: &Subscription, f: &mut F)
where
    F: FnMut(Event) -> R,
    R: Into<Flow>,
{
    let mut failures = 0u32;
    while let Some(slot) = next_slot(&sub.queue) {
        let event = slot.into_event();
        match catch_unwind(AssertUnwindSafe(|| f(event).into())) {
            Ok(Flow::Continue) => {
                failures = 0;
                sub.queue.ack();
            }
            Ok(Flow::Stop) => {
                bus.remove_dead(sub.id);
                return;
            }
            Err(_) => {
                failures += 1;
                sub.restarts.fetch_add(1, Ordering::Relaxed);
                if failures > MAX_REDELIVERIES {
                    tracing::error!(subscriber = %sub.name, "subscriber panicked on the same event {failures} times; skipping it");
                    failures = 0;
                    sub.queue.ack();
                } else {
                    tracing::warn!(subscriber = %sub.name, "subscriber panicked; redelivering the event");
                }
            }
        }
    }
}

/// How often a subscriber thread that found its queue empty yields before it
/// parks: under a steady stream the next event usually arrives within a few
/// yields, and parking and being woken (a futex call on each side) costs
/// more than the event itself.
const YIELDS_BEFORE_PARKING: u32 = 16;

/// The next slot for a subscriber thread, or `None` once the queue closed.
fn next_slot(queue: &Queue) -> Option<Slot> {
    for _ in 0..YIELDS_BEFORE_PARKING {
        match queue.try_peek() {
            Ok(Some(slot)) => return Some(slot),
            Ok(None) => std::thread::yield_now(),
            Err(()) => return None,
        }
    }
    futures_executor::block_on(queue.peek())
}

/// The receiving end of a channel subscription.
#[derive(Debug)]
pub struct EventReceiver {
    id: SubscriptionId,
    rx: crossbeam_channel::Receiver<Event>,
}

impl EventReceiver {
    /// The subscription, for [`Bus::unsubscribe`].
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The crossbeam receiver itself (for `select!`, iterators, timeouts).
    pub fn receiver(&self) -> &crossbeam_channel::Receiver<Event> {
        &self.rx
    }

    /// Blocks for the next event; `Err` once the subscription ended and the
    /// channel is empty.
    pub fn recv(&self) -> std::result::Result<Event, crossbeam_channel::RecvError> {
        self.rx.recv()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> std::result::Result<Event, crossbeam_channel::TryRecvError> {
        self.rx.try_recv()
    }

    /// Blocks for the next event, at most `timeout`.
    pub fn recv_timeout(
        &self,
        timeout: std::time::Duration,
    ) -> std::result::Result<Event, crossbeam_channel::RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }
}

impl std::ops::Deref for EventReceiver {
    type Target = crossbeam_channel::Receiver<Event>;
    fn deref(&self) -> &Self::Target {
        &self.rx
    }
}
