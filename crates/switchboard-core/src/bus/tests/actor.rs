//! Plain actors subscribed with `subscribe_actor` (or `subscribe_in`),
//! fed through a stream in their own context: order, acknowledgement,
//! the subscription ending with the actor, and an actor that subscribes
//! itself.

use actix::{Actor, ActorContext, Context, Handler};

use super::*;

type Seqs = Arc<parking_lot::Mutex<Vec<u64>>>;

/// Notes each event's sequence number; stops itself on `stop_at`, and
/// holds its handler on `hold_at` until `release` is dropped.
struct Noter {
    seen: Seqs,
    stop_at: u64,
    hold: Option<(
        u64,
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    )>,
}

impl Noter {
    fn new(seen: &Seqs) -> Self {
        Noter {
            seen: seen.clone(),
            stop_at: 0,
            hold: None,
        }
    }
}

impl Actor for Noter {
    type Context = Context<Self>;
}

impl Handler<Event> for Noter {
    type Result = ();
    fn handle(&mut self, event: Event, ctx: &mut Context<Self>) {
        let seq = event.meta().seq;
        if let Some((at, entered, release)) = &self.hold
            && *at == seq
        {
            let _ = entered.send(());
            let _ = release.recv_timeout(Duration::from_secs(5));
        }
        self.seen.lock().push(seq);
        if seq == self.stop_at {
            ctx.stop();
        }
    }
}

fn run(test: impl std::future::Future<Output = ()>) {
    actix::System::new().block_on(test);
}

#[test]
fn lossless_delivery_is_in_order_with_nothing_lost() {
    const EVENTS: u64 = 20_000;
    let seen = Seqs::default();
    let s = seen.clone();
    run(async move {
        let bus = Bus::new();
        let (id, _addr) = bus.subscribe_actor(
            "noter",
            Noter::new(&s),
            Filter::all(),
            Delivery::lossless(64),
        );
        let em = emitter(&bus);
        for _ in 0..EVENTS {
            bus.ready().await.unwrap();
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!((stats.delivered, stats.queued), (EVENTS, 0));
    });
    assert!(*seen.lock() == (1..=EVENTS).collect::<Vec<_>>());
}

#[test]
fn an_event_is_acknowledged_only_after_its_handler_ran() {
    let seen = Seqs::default();
    let (entered_tx, entered) = crossbeam_channel::unbounded();
    let (release, release_rx) = crossbeam_channel::unbounded::<()>();
    let noter = Noter {
        hold: Some((1, entered_tx, release_rx)),
        ..Noter::new(&seen)
    };
    run(async move {
        // The actor runs on an arbiter of its own, so that its handler can
        // hold while this thread looks at the subscription.
        let arbiter = actix::Arbiter::new();
        let bus = Bus::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let b = bus.clone();
        arbiter.spawn(async move {
            let (id, _) = b.subscribe_actor("noter", noter, Filter::all(), Delivery::lossless(8));
            let _ = tx.send(id);
        });
        let id = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        emitter(&bus).emit(checked_in());
        entered.recv_timeout(Duration::from_secs(5)).unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!(
            (stats.delivered, stats.queued),
            (0, 1),
            "acknowledged early"
        );
        drop(release);
        bus.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(bus.subscription_stats(id).unwrap().delivered, 1);
        arbiter.stop();
    });
    assert_eq!(*seen.lock(), vec![1]);
}

#[test]
fn the_subscription_ends_when_the_actor_stops() {
    let seen = Seqs::default();
    let s = seen.clone();
    run(async move {
        let bus = Bus::new();
        let noter = Noter {
            stop_at: 2,
            ..Noter::new(&s)
        };
        let (id, addr) = bus.subscribe_actor("noter", noter, Filter::all(), Delivery::lossless(8));
        let em = emitter(&bus);
        for _ in 0..5 {
            em.emit(checked_in());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while bus.subscription_stats(id).is_some() {
            assert!(tokio::time::Instant::now() < deadline, "still subscribed");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(!addr.connected());
        // Nothing waits for a subscriber that is gone.
        em.emit(checked_in());
        bus.ready().await.unwrap();
    });
    assert_eq!(*seen.lock(), vec![1, 2]);
}

#[test]
fn unsubscribing_leaves_the_actor_running() {
    let seen = Seqs::default();
    let s = seen.clone();
    run(async move {
        let bus = Bus::new();
        let (id, addr) = bus.subscribe_actor(
            "noter",
            Noter::new(&s),
            Filter::all(),
            Delivery::lossless(8),
        );
        let em = emitter(&bus);
        em.emit(checked_in());
        bus.flush(Duration::from_secs(5)).await.unwrap();
        assert!(bus.unsubscribe(id));
        em.emit(checked_in());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(addr.connected(), "the actor stopped with its subscription");
    });
    assert_eq!(*seen.lock(), vec![1]);
}

/// Subscribes itself when it starts.
struct SelfSubscriber {
    bus: Bus,
    seen: Seqs,
}

impl Actor for SelfSubscriber {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let bus = self.bus.clone();
        bus.subscribe_in(ctx, "self", Filter::all(), Delivery::lossless(8));
    }
}

impl Handler<Event> for SelfSubscriber {
    type Result = ();
    fn handle(&mut self, event: Event, _: &mut Context<Self>) {
        self.seen.lock().push(event.meta().seq);
    }
}

#[test]
fn an_actor_may_subscribe_itself_when_it_starts() {
    let seen = Seqs::default();
    let s = seen.clone();
    run(async move {
        let bus = Bus::new();
        let addr = SelfSubscriber {
            bus: bus.clone(),
            seen: s,
        }
        .start();
        // `started` runs on the actor's first poll.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while bus.is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never subscribed");
            tokio::task::yield_now().await;
        }
        let em = emitter(&bus);
        for _ in 0..3 {
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        drop(addr);
    });
    assert_eq!(*seen.lock(), vec![1, 2, 3]);
}
