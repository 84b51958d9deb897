//! Supervised actor subscribers: the bus starts the actor from a factory on
//! an arbiter of its own, feeds it from the subscription's queue through a
//! stream in the actor's own context, and starts a new one when it dies.
//!
//! Events reach the actor through a [`Feed`] (see `feed`), so an event
//! costs the actor nothing but the event itself.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use actix::{Actor, Arbiter, AsyncContext, Context, Handler};
use tokio::sync::oneshot;

use super::feed::{End, Feed};
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
    let (tx, ended) = oneshot::channel();
    let feed = Feed::new(sub.clone(), End::Supervisor(tx));
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
