//! Supervised actor subscribers: the bus starts the actor from a factory on
//! an arbiter of its own, feeds it from the subscription's queue through a
//! stream in the actor's own context, and starts a new one when it dies.
//!
//! The stream, a [`Feed`], is what makes an event cost the actor nothing
//! but the event itself: there is no mailbox message per event (no
//! envelope, no reply channel, no queue node), the feed takes what is
//! queued in batches under one lock, and the actor's task waits for the
//! next push with its waker, which the queue keeps without allocating.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::Stream;
use actix::{Actor, Arbiter, AsyncContext, Context, Handler};
use tokio::sync::oneshot;

use super::pump::MAX_REDELIVERIES;
use super::{Bus, Delivery, Entry, SubscriptionId};
use crate::event::Event;
use crate::filter::Filter;

impl Bus {
    /// Subscribes an actor that the bus starts from `factory` on an arbiter
    /// (thread) of its own, and starts again from `factory` whenever it dies
    /// (a panic in a handler stops an actix actor, and so does
    /// `ctx.stop()`). The event it was handling when it panicked is
    /// redelivered to the new instance (at most [`MAX_REDELIVERIES`] times,
    /// then skipped and the skip logged), so a lossless subscriber loses
    /// nothing across a restart. Call from inside an actix `System`: the
    /// supervisor runs on the current arbiter.
    ///
    /// Events reach the actor through a stream in its context, not through
    /// its mailbox, so a subscriber costs no allocation per event. An
    /// event is acknowledged once `handle` returned for it (and any future
    /// the handler made the actor wait for, as with `ctx.wait` or an
    /// `AtomicResponse`): a handler that returns a `ResponseFuture` or
    /// `ResponseActFuture` has its event acknowledged when it returns, not
    /// when that future completes. The actor handles at most 32 events in
    /// a row before its mailbox and its other futures get a turn.
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
        // The actor's thread; stopped by the supervisor when the
        // subscription ends.
        let arbiter = Arbiter::new();
        // Started now, so that events flow even before this arbiter gets
        // to run the supervisor.
        let ended = start(&sub, &factory, &arbiter);
        // Ends when the queue closes (unsubscribe, or the bus closed and
        // everything was delivered); stops the arbiter then.
        actix::spawn(supervise(self.clone(), sub, factory, arbiter, ended));
        id
    }
}

/// Starts an actor from `factory` on `arbiter`, fed from `sub`'s queue;
/// the receiver learns when its feed ends, and whether it acknowledged
/// anything.
fn start<A, F>(sub: &Arc<Entry>, factory: &Arc<F>, arbiter: &Arbiter) -> oneshot::Receiver<bool>
where
    A: Actor<Context = Context<A>> + Handler<Event>,
    F: Fn() -> A + Send + Sync + 'static,
{
    let (feed, ended) = Feed::new(sub.clone());
    let factory = factory.clone();
    A::start_in_arbiter(&arbiter.handle(), move |ctx| {
        ctx.add_message_stream(feed);
        factory()
    });
    ended
}

/// Starts a new actor each time the one started before dies, until the
/// subscription ends; then stops the arbiter (and the actor on it).
async fn supervise<A, F>(
    bus: Bus,
    sub: Arc<Entry>,
    factory: Arc<F>,
    arbiter: Arbiter,
    mut ended: oneshot::Receiver<bool>,
) where
    A: Actor<Context = Context<A>> + Handler<Event>,
    F: Fn() -> A + Send + Sync + 'static,
{
    // Deaths in a row with no event handled in between: how often the
    // event at the front of the queue was tried in vain.
    let mut failures = 0u32;
    loop {
        // The feed reports when it is dropped: its actor stopped or died,
        // or the arbiter dropped it unstarted.
        let handled = ended.await.unwrap_or(false);
        if sub.queue.is_closed() {
            break;
        }
        sub.restarts.fetch_add(1, Ordering::Relaxed);
        failures = if handled { 1 } else { failures + 1 };
        if failures <= MAX_REDELIVERIES {
            tracing::warn!(subscriber = %sub.name, "subscriber died; restarting it");
            ended = start(&sub, &factory, &arbiter);
            continue;
        }
        if sub.queue.ack() {
            tracing::error!(
                subscriber = %sub.name,
                "subscriber died on the same event {failures} times; skipping it"
            );
        } else {
            // It dies with nothing to handle: start the next one only once
            // there is an event, rather than in a loop.
            tracing::error!(
                subscriber = %sub.name,
                "subscriber died {failures} times in a row; restarting it at the next event"
            );
            if sub.queue.peek().await.is_none() {
                break;
            }
        }
        failures = 0;
        ended = start(&sub, &factory, &arbiter);
    }
    arbiter.stop();
    bus.remove_dead(sub.id);
}

/// How many events a feed hands its actor in a row before it lets the
/// actor's mailbox and other futures run (actix polls a message stream
/// until it has nothing more).
const RUN: usize = 32;

/// A supervised actor's events: a stream over its subscription's queue,
/// polled in the actor's context, which calls the actor's handler with
/// each item and polls again once the handler returned. So being polled
/// again acknowledges the event handed out before.
struct Feed {
    sub: Arc<Entry>,
    /// Slots taken from the queue and not yet acknowledged, in order; the
    /// first `handled` of them were handled. Swapped with the queue's
    /// buffer on every take, so it never needs allocating afresh.
    hand: VecDeque<Event>,
    handled: usize,
    /// Whether `hand[handled]` was handed out and its handler may not have
    /// returned yet.
    out: bool,
    /// Events handed out since the actor last had a turn for other work.
    run: usize,
    /// Whether this feed acknowledged any event, for the supervisor.
    acked: bool,
    /// Tells the supervisor that the feed ended, and whether it
    /// acknowledged anything.
    ended: Option<oneshot::Sender<bool>>,
}

impl Feed {
    fn new(sub: Arc<Entry>) -> (Self, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        let feed = Feed {
            sub,
            hand: VecDeque::new(),
            handled: 0,
            out: false,
            run: 0,
            acked: false,
            ended: Some(tx),
        };
        (feed, rx)
    }

    /// Acknowledges the handled slots at the front of the hand.
    fn ack_handled(&mut self) {
        let handled = std::mem::take(&mut self.handled);
        self.sub.queue.ack_taken(handled);
        self.hand.drain(..handled);
        self.acked |= handled > 0;
    }
}

impl Stream for Feed {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Event>> {
        let feed = self.get_mut();
        if std::mem::take(&mut feed.out) {
            feed.handled += 1;
        }
        if feed.handled == feed.hand.len() {
            let handled = std::mem::take(&mut feed.handled);
            feed.hand.clear();
            feed.acked |= handled > 0;
            match feed.sub.queue.poll_take(handled, &mut feed.hand, cx) {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(None),
                Poll::Pending => {
                    feed.run = 0;
                    return Poll::Pending;
                }
            }
        } else if feed.sub.queue.is_closed() {
            return Poll::Ready(None);
        } else if feed.sub.queue.has_waiters() {
            // Someone waits for room or for a flush: let them see progress
            // now rather than at the end of the batch.
            feed.ack_handled();
        }
        if feed.run == RUN {
            feed.run = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        feed.run += 1;
        feed.out = true;
        Poll::Ready(Some(feed.hand[feed.handled].clone()))
    }
}

impl Drop for Feed {
    /// The actor stopped, died or was never started. Dropped while the
    /// thread unwinds, the feed goes with an actor whose handler panicked
    /// on the event handed out last: that event is given back with the rest
    /// of the hand, to be redelivered. Dropped otherwise, the handler
    /// returned (the actor stopped itself in it): the event is acknowledged.
    fn drop(&mut self) {
        if self.out && !std::thread::panicking() {
            self.handled += 1;
        }
        self.acked |= self.handled > 0;
        self.sub.queue.give_back(self.handled, &mut self.hand);
        if let Some(ended) = self.ended.take() {
            // Fails only if the supervisor is gone, with its system.
            let _ = ended.send(self.acked);
        }
    }
}
