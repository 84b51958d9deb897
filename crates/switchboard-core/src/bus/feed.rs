//! Actor subscribers fed through a stream in their own context, and the
//! way to subscribe a plain actor so: [`Bus::subscribe_actor`].
//!
//! The stream, a [`Feed`], is what makes an event cost the actor nothing
//! but the event itself: there is no mailbox message per event (no
//! envelope, no reply channel, no queue node), the feed takes what is
//! queued in batches under one lock, and the actor's task waits for the
//! next push with its waker, which the queue keeps without allocating.
//! Supervised subscribers (`supervise`) are fed the same way.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::Stream;
use actix::{Actor, Addr, AsyncContext, Context, Handler};
use tokio::sync::oneshot;

use super::{Bus, Delivery, Entry, SubscriptionId};
use crate::event::Event;
use crate::filter::Filter;

impl Bus {
    /// Starts `actor` on the current arbiter (call from inside an actix
    /// `System`) with a subscription: the way to subscribe an actor of your
    /// own. Returns the subscription and the actor's address.
    ///
    /// Events reach the actor through a stream in its own context, not
    /// through its mailbox, so a subscriber costs no allocation per event
    /// (a `Recipient` costs three: see [`Bus::subscribe`]). An event is
    /// acknowledged once `handle` returned for it (and any future the
    /// handler made the actor wait for, as with `ctx.wait` or an
    /// `AtomicResponse`). The actor handles at most 32 events in a row
    /// before its mailbox and its other futures get a turn. When the actor
    /// stops (or panics), the subscription ends; use
    /// [`Bus::subscribe_supervised`] for one that must be restarted.
    pub fn subscribe_actor<A>(
        &self,
        name: &str,
        actor: A,
        filter: Filter,
        delivery: Delivery,
    ) -> (SubscriptionId, Addr<A>)
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
    {
        let mut id = None;
        let addr = A::create(|ctx| {
            id = Some(self.subscribe_in(ctx, name, filter, delivery));
            actor
        });
        let id = id.unwrap_or_else(|| unreachable!("`create` calls its closure at once"));
        (id, addr)
    }

    /// Subscribes the actor whose context this is, fed as
    /// [`Bus::subscribe_actor`] feeds it: for an actor that subscribes
    /// itself, from `Actor::started` or inside `Actor::create`. The
    /// subscription ends when the actor stops.
    pub fn subscribe_in<A>(
        &self,
        ctx: &mut Context<A>,
        name: &str,
        filter: Filter,
        delivery: Delivery,
    ) -> SubscriptionId
    where
        A: Actor<Context = Context<A>> + Handler<Event>,
    {
        let sub = self.add(name, filter, delivery);
        let id = sub.id;
        ctx.add_message_stream(Feed::new(sub, End::Unsubscribe(self.clone())));
        id
    }
}

/// How many events a feed hands its actor in a row before it lets the
/// actor's mailbox and other futures run (actix polls a message stream
/// until it has nothing more).
pub(super) const RUN: usize = 32;

/// A supervised actor's events: a stream over its subscription's queue,
/// polled in the actor's context, which calls the actor's handler with
/// each item and polls again once the handler returned. So being polled
/// again acknowledges the event handed out before.
pub(super) struct Feed {
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
    /// What happens when the feed ends (its actor stopped or died).
    end: Option<End>,
}

/// What a feed's end means.
pub(super) enum End {
    /// A supervisor starts the next actor: it learns that the feed ended,
    /// and whether it acknowledged anything.
    Supervisor(oneshot::Sender<bool>),
    /// The subscription ends with its actor.
    Unsubscribe(Bus),
}

impl Feed {
    pub(super) fn new(sub: Arc<Entry>, end: End) -> Self {
        Feed {
            sub,
            hand: VecDeque::new(),
            handled: 0,
            out: false,
            run: 0,
            acked: false,
            end: Some(end),
        }
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
        match self.end.take() {
            Some(End::Supervisor(ended)) => {
                // Fails only if the supervisor is gone, with its system.
                let _ = ended.send(self.acked);
            }
            // Unsubscribed already: the actor outlived its subscription.
            Some(End::Unsubscribe(bus)) if !self.sub.queue.is_closed() => {
                tracing::warn!(
                    subscriber = %self.sub.name,
                    queued = self.sub.queue.len(),
                    "subscriber actor stopped; its subscription ends"
                );
                bus.remove_dead(self.sub.id);
            }
            Some(End::Unsubscribe(_)) | None => {}
        }
    }
}
