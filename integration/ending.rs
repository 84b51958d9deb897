//! Subscriptions end with their pool: once `shutdown()` has drained it,
//! a channel reader's `for event in rx.iter()` finishes after the last
//! event, a `listen` closure is dropped, and an actor subscriber is let go;
//! unless the bus is shared with a pool still running.

use std::sync::mpsc::{Receiver, SyncSender as Sender, sync_channel};
use std::time::Duration;

use actix::{Actor, Context, Handler};
use switchboard::{Bus, Delivery, Event, Execute, Filter, Kind, Switchboard};
use switchboard_core::testing::eventually;

use crate::each_backend;
use crate::support::{Target, run_local};

/// Reads a channel subscription on a thread of its own, as a user would;
/// what it read, once the loop ended.
fn reader(rx: switchboard::EventReceiver) -> Receiver<Vec<Event>> {
    let (done, result) = sync_channel(1);
    std::thread::spawn(move || {
        let events: Vec<Event> = rx.iter().collect();
        let _ = done.send(events);
    });
    result
}

fn ended<T>(result: &Receiver<T>, what: &str) -> T {
    result
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not end within 10 s of shutdown"))
}

/// Tells when it is dropped.
struct OnDrop(Sender<()>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Says when it stops.
struct Watcher(Sender<()>);

impl Actor for Watcher {
    type Context = Context<Self>;
    fn stopped(&mut self, _: &mut Context<Self>) {
        let _ = self.0.send(());
    }
}

impl Handler<Event> for Watcher {
    type Result = ();
    fn handle(&mut self, _: Event, _: &mut Context<Self>) {}
}

async fn subscribers_end_when_their_pool_shuts_down(t: Target) {
    let sb = t.builder().start().await.unwrap();
    let rx = sb
        .bus()
        .subscribe_channel("reader", Filter::all(), Delivery::lossless(1024))
        .unwrap();
    let read = reader(rx);
    let (listen_dropped, listen_ended) = sync_channel(1);
    let guard = OnDrop(listen_dropped);
    sb.bus()
        .listen(Kind::Executed, move |_| {
            let _ = &guard;
        })
        .unwrap();
    let (stopped, watcher_stopped) = sync_channel(1);
    // The pool holds the watcher's only address.
    sb.bus().subscribe(
        "watcher",
        Watcher(stopped).start().recipient(),
        Filter::all(),
        Delivery::lossless(64),
    );
    sb.run(Execute::sql("SELECT 1")).await.unwrap();
    sb.shutdown().await.unwrap();
    // The handle is still held: the pool's end, not the handle's, ends them.
    let events = ended(&read, "the channel reader");
    let last: Vec<Kind> = events.iter().rev().take(2).rev().map(Event::kind).collect();
    assert_eq!(
        last,
        [Kind::Closed, Kind::PoolStopped],
        "the reader got every event up to the last connection's Closed, and the pool's end"
    );
    ended(&listen_ended, "the listen closure");
    // The actor subscriber stops (waiting without blocking the arbiter it
    // runs on).
    eventually(
        || watcher_stopped.try_recv().is_ok(),
        Duration::from_secs(10),
    )
    .await;
    assert!(sb.bus().stats().is_empty(), "{:?}", sb.bus().stats());
}
each_backend!(subscribers_end_when_their_pool_shuts_down);

/// Two pools on one bus: the first to shut down leaves the reader to the
/// other, whose shutdown ends it.
#[test]
fn a_bus_shared_with_a_running_pool_stays_open() {
    run_local(async {
        let bus = Bus::new();
        let rx = bus
            .subscribe_channel(
                "reader",
                Filter::kinds([Kind::Executed]),
                Delivery::lossless(64),
            )
            .unwrap();
        let read = reader(rx);
        let start = |name: &'static str| {
            Switchboard::builder("sqlite::memory:")
                .name(name)
                .bus(bus.clone())
                .start()
        };
        let (first, second) = (
            start("first").await.unwrap(),
            start("second").await.unwrap(),
        );
        first.shutdown().await.unwrap();
        second.run(Execute::sql("SELECT 1")).await.unwrap();
        assert!(
            read.try_recv().is_err(),
            "the reader ended with the first pool"
        );
        second.shutdown().await.unwrap();
        let events = ended(&read, "the channel reader");
        let pools: Vec<&str> = events.iter().map(|e| &*e.meta().pool).collect();
        assert!(pools.contains(&"second"), "{pools:?}");
    });
}
