//! Pumps: what moves events from a subscription's queue to its subscriber.
//!
//! - an actix `Recipient<Event>`: a task on the subscribing arbiter awaits
//!   each `send`, so an event is acknowledged only once the handler ran;
//! - a supervised actor (in `supervise`): the bus starts the actor on its
//!   own arbiter and feeds it through a stream in its context;
//! - a closure on a dedicated thread (used for `listen` and for crossbeam
//!   channels), which takes everything queued under one lock, delivers it
//!   in order and acknowledges it in one go, with panics caught and the
//!   event redelivered.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix::Recipient;
use std::future::poll_fn;

use super::{Bus, Delivery, Entry, SubscriptionId};
use crate::error::{Error, Result};
use crate::event::Event;
use crate::filter::Filter;

/// Events a `Recipient` pump sends before it waits for the actor.
const RUN: usize = 32;

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
    ///
    /// Events reach the actor as mailbox messages. The pump takes what is
    /// queued and sends it in runs of up to 32: all but the last without
    /// waiting for a reply, the last awaited. The mailbox keeps its order,
    /// so that reply means the handler ran for the whole run, and only
    /// then is the run acknowledged. actix allocates per message the
    /// envelope and the mailbox's queue node (and, for the awaited one, a
    /// reply channel): two allocations per event on top of the event's
    /// own (`cargo bench --bench bus_alloc`). A `Recipient` offers no way
    /// to deliver without them; [`Bus::subscribe_actor`] starts an actor
    /// fed without them, and [`Bus::subscribe_supervised`] one that is
    /// also restarted when it dies: neither allocates per event.
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
        // Ends when the queue closes (unsubscribe, or the bus closed and
        // everything was delivered) or the recipient is gone; the recipient
        // goes with it.
        actix::spawn(async move {
            // Taken from the queue, delivered from here; swapped with the
            // queue's buffer on every take.
            let mut hand = VecDeque::new();
            while poll_fn(|cx| sub.queue.poll_take(0, &mut hand, cx)).await {
                while !hand.is_empty() {
                    let run = hand.len().min(RUN);
                    let mut events = hand.drain(..run);
                    let last = events.next_back();
                    // Not waited for: the mailbox holds at most a run more
                    // than its capacity, since the last of the run is.
                    events.for_each(|event| recipient.do_send(event));
                    let sent = match last {
                        Some(event) => recipient.send(event).await.is_ok(),
                        None => true,
                    };
                    if !sent {
                        tracing::warn!(
                            subscriber = %sub.name,
                            queued = sub.queue.len(),
                            "subscriber actor stopped; its subscription ends"
                        );
                        sub.queue.ack_taken(run);
                        bus.remove_dead(sub.id);
                        return;
                    }
                    sub.queue.ack_taken(run);
                }
            }
            bus.remove_dead(sub.id);
        });
        id
    }

    /// Subscribes a closure that runs on a thread of its own, so a slow or
    /// blocking closure never stalls an arbiter. A panic in the closure is
    /// caught and logged, and the event is redelivered (at most
    /// [`MAX_REDELIVERIES`] times). Returning [`Flow::Stop`] unsubscribes.
    ///
    /// The thread takes what is queued in batches, and naps between them
    /// while events keep coming instead of being woken for each: an event
    /// of a steady stream reaches the closure up to a millisecond after it
    /// was published; the first after a quiet spell, at once.
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
        // Ends when the queue closes (unsubscribe, or the bus closed and
        // everything was delivered) or the closure says Stop; the closure
        // (a channel's sender) is dropped with it.
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
    /// subscription. The channel disconnects once the subscription ends
    /// ([`Bus::unsubscribe`], or the bus [closed](Bus::close) and every
    /// event queued before was sent), so `for event in rx.iter()` ends.
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

fn run_closure<F, R>(bus: &Bus, sub: &Entry, f: &mut F)
where
    F: FnMut(Event) -> R,
    R: Into<Flow>,
{
    // The slots taken from the queue, delivered from here; swapped with the
    // queue's buffer on every take, so it never needs allocating afresh.
    let mut hand = VecDeque::new();
    let mut nap = Nap::new(sub.delivery.capacity());
    while sub.queue.take(&mut hand, &nap.naps()) {
        nap.after_batch(hand.len());
        // Taken slots delivered (or skipped) and not yet acknowledged.
        let mut done = 0;
        while let Some(event) = hand.pop_front() {
            if sub.queue.is_closed() {
                return;
            }
            let flow = deliver(sub, f, &event);
            bus.recycle(event);
            if flow == Flow::Stop {
                bus.remove_dead(sub.id);
                return;
            }
            done += 1;
            // Someone waits for room or for a flush: let them see progress
            // now rather than at the end of the batch.
            if sub.queue.has_waiters() {
                sub.queue.ack_taken(std::mem::take(&mut done));
            }
        }
        sub.queue.ack_taken(done);
    }
    bus.remove_dead(sub.id);
}

/// Delivers one event, again after a panic, at most [`MAX_REDELIVERIES`]
/// times more; then it is skipped (and the skip logged).
fn deliver<F, R>(sub: &Entry, f: &mut F, event: &Event) -> Flow
where
    F: FnMut(Event) -> R,
    R: Into<Flow>,
{
    let mut failures = 0u32;
    loop {
        match catch_unwind(AssertUnwindSafe(|| f(event.clone()).into())) {
            Ok(flow) => return flow,
            Err(_) => {
                failures += 1;
                sub.restarts.fetch_add(1, Ordering::Relaxed);
                if failures > MAX_REDELIVERIES {
                    tracing::error!(subscriber = %sub.name, "subscriber panicked on the same event {failures} times; skipping it");
                    return Flow::Continue;
                }
                tracing::warn!(subscriber = %sub.name, "subscriber panicked; redelivering the event");
            }
        }
    }
}

/// How long a subscriber thread whose queue ran empty waits before it looks
/// again (see `Queue::take`). Under a steady stream it finds the events of
/// the nap waiting as one batch, and publishers never pay for waking it.
/// The nap follows the stream: it doubles while the batches it brings are
/// small (fewer wake-ups of many subscriber threads on few CPUs), and
/// halves when they reach a quarter of the queue's capacity (the queue
/// itself wakes the thread early at half). When a nap brings nothing, the
/// thread lingers for one longest nap before it parks until the next push,
/// so that a publisher's short pause (waiting for a slower lossless
/// subscriber) does not cost it a wake-up of every subscriber thread after.
struct Nap {
    now: Duration,
    /// Batches this small lengthen the nap.
    small: usize,
    /// Batches this large shorten it.
    large: usize,
}

impl Nap {
    /// The shortest nap: below this, a thread's wake-ups cost more than the
    /// events it finds.
    const MIN: Duration = Duration::from_micros(50);
    /// The longest: how late an event of a thin stream may be delivered.
    const MAX: Duration = Duration::from_millis(1);

    fn new(capacity: usize) -> Self {
        Nap {
            now: Self::MIN,
            small: capacity / 8,
            large: (capacity / 4).max(1),
        }
    }

    /// The naps to take, in turn, while the queue stays empty.
    fn naps(&self) -> [Duration; 2] {
        [self.now, Self::MAX]
    }

    fn after_batch(&mut self, slots: usize) {
        if slots >= self.large {
            self.now = (self.now / 2).max(Self::MIN);
        } else if slots < self.small {
            self.now = (self.now * 2).min(Self::MAX);
        }
    }
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
