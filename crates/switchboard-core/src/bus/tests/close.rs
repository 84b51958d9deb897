//! Closing a bus: every kind of subscription gets what was queued for it,
//! then ends; pools attached to a bus close it when the last one leaves.

use actix::{Actor, Context, Handler};
use crossbeam_channel::{Sender, bounded};

use super::*;

/// Reads a channel subscription to its end on a thread; the events it
/// read, once the channel disconnected.
fn read_to_end(rx: EventReceiver) -> crossbeam_channel::Receiver<Vec<Event>> {
    let (done, result) = bounded(1);
    std::thread::spawn(move || {
        let events: Vec<Event> = rx.iter().collect();
        let _ = done.send(events);
    });
    result
}

#[test]
fn a_channel_ends_after_its_events_once_the_bus_closes() {
    let bus = Bus::new();
    let rx = bus
        .subscribe_channel("reader", Filter::all(), Delivery::lossless(4))
        .unwrap();
    let id = rx.id();
    let em = emitter(&bus);
    for _ in 0..50 {
        em.emit(checked_in());
    }
    bus.close();
    let events = within_5s(&read_to_end(rx));
    let seqs: Vec<u64> = events.iter().map(|e| e.meta().seq).collect();
    assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
    // The subscription left the bus; later events go nowhere.
    assert!(bus.subscription_stats(id).is_none());
    em.emit(checked_in());
}

#[test]
fn a_lossy_channel_hears_of_its_last_drops_before_it_ends() {
    let bus = Bus::new();
    // 4 in the queue, 4 in the channel, nobody reading.
    let rx = bus
        .subscribe_channel("slow", Filter::all(), Delivery::lossy(4))
        .unwrap();
    let em = emitter(&bus);
    for _ in 0..100 {
        em.emit(checked_in());
    }
    bus.close();
    let events = within_5s(&read_to_end(rx));
    let (mut seen, mut dropped) = (0, 0);
    for e in &events {
        match e.payload() {
            Payload::Lagged { dropped: d } => dropped += d,
            _ => seen += 1,
        }
    }
    assert!(dropped > 0, "{events:?}");
    assert_eq!(seen + dropped, 100);
}

/// Tells when it is dropped.
struct OnDrop(Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

#[test]
fn a_closure_thread_returns_and_drops_its_closure() {
    let bus = Bus::new();
    let (dropped_tx, dropped) = bounded(1);
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    let guard = OnDrop(dropped_tx);
    bus.subscribe_fn("fn", Filter::all(), Delivery::lossless(64), move |e| {
        let _ = &guard;
        let _ = seen_tx.send(e.meta().seq);
    })
    .unwrap();
    let em = emitter(&bus);
    for _ in 0..10 {
        em.emit(checked_in());
    }
    bus.close();
    within_5s(&dropped);
    assert_eq!(
        seen.try_iter().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(bus.stats().is_empty());
}

/// Notes each event, and says when it stops.
struct Watcher {
    seen: Sender<u64>,
    stopped: Sender<()>,
}

impl Actor for Watcher {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        let _ = self.stopped.send(());
    }
}

impl Handler<Event> for Watcher {
    type Result = ();
    fn handle(&mut self, event: Event, _: &mut Context<Self>) {
        let _ = self.seen.send(event.meta().seq);
    }
}

/// Waits, without blocking the arbiter, for `rx` to have something.
async fn eventually<T>(rx: &crossbeam_channel::Receiver<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(v) = rx.try_recv() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "nothing within 5 s");
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

#[actix::test]
async fn an_actor_subscriber_gets_its_events_then_is_let_go() {
    let bus = Bus::new();
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    let (stopped_tx, stopped) = bounded(1);
    let watcher = Watcher {
        seen: seen_tx,
        stopped: stopped_tx,
    };
    // The bus holds the only address: once it lets go, the actor stops.
    bus.subscribe(
        "watcher",
        watcher.start().recipient(),
        Filter::all(),
        Delivery::lossless(64),
    );
    let em = emitter(&bus);
    for _ in 0..10 {
        em.emit(checked_in());
    }
    bus.close();
    eventually(&stopped).await;
    assert_eq!(
        seen.try_iter().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    assert!(bus.stats().is_empty());
}

#[actix::test]
async fn a_supervised_subscriber_gets_its_events_then_stops() {
    let bus = Bus::new();
    let (seen_tx, seen) = crossbeam_channel::unbounded();
    let (stopped_tx, stopped) = bounded(1);
    bus.subscribe_supervised(
        "watcher",
        move || Watcher {
            seen: seen_tx.clone(),
            stopped: stopped_tx.clone(),
        },
        Filter::all(),
        Delivery::lossless(64),
    );
    let em = emitter(&bus);
    for _ in 0..10 {
        em.emit(checked_in());
    }
    bus.close();
    bus.flush(Duration::from_secs(5)).await.unwrap();
    eventually(&stopped).await;
    assert_eq!(
        seen.try_iter().collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !bus.stats().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{:?}", bus.stats());
        actix_rt::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Two pools on one bus: the first to drain leaves the subscriptions to the
/// other; the last closes the bus.
#[test]
fn the_last_pool_to_leave_closes_the_bus() {
    let bus = Bus::new();
    let rx = bus
        .subscribe_channel("reader", Filter::all(), Delivery::lossless(64))
        .unwrap();
    let first = bus.attach_pool();
    let second = bus.attach_pool();
    assert_eq!(bus.attached_pools(), 2);
    let em = emitter(&bus);
    em.emit(checked_in());
    first.release();
    first.release(); // counted once
    assert_eq!(bus.attached_pools(), 1);
    em.emit(checked_in());
    // Still open: both events arrive, and the subscription is listed.
    assert_eq!(within_5s(&rx).meta().seq, 1);
    assert_eq!(within_5s(&rx).meta().seq, 2);
    assert_eq!(bus.stats().len(), 1);
    drop(second); // a pool that is gone leaves too
    assert_eq!(bus.attached_pools(), 0);
    assert!(within_5s(&read_to_end(rx)).is_empty());
    drop(first);
    assert_eq!(bus.attached_pools(), 0);
}

#[test]
fn a_closed_bus_takes_new_subscriptions() {
    let bus = Bus::new();
    bus.close();
    let rx = bus
        .subscribe_channel("later", Filter::all(), Delivery::lossless(8))
        .unwrap();
    emitter(&bus).emit(checked_in());
    assert_eq!(within_5s(&rx).meta().seq, 1);
}
