//! Delivery contracts under load: lossless gets everything, lossy never
//! slows statements and reports exactly what it missed, a panicking
//! subscriber is restarted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use actix::{Actor, Context, Handler};
use futures_util::future::join_all;
use parking_lot::Mutex;
use switchboard::{Bus, Delivery, Event, Execute, Filter, Kind, Payload};
use switchboard_core::testing::eventually;

use crate::each_backend;
use crate::support::{Target, drain};

/// 16 callers run `per_caller` statements each.
async fn load(sb: &switchboard::Switchboard, callers: usize, per_caller: usize) {
    let tasks = (0..callers).map(|c| {
        let sb = sb.clone();
        async move {
            for i in 0..per_caller {
                sb.run(Execute::sql("SELECT 1").label("caller", format!("{c}-{i}")))
                    .await
                    .unwrap();
            }
        }
    });
    join_all(tasks).await;
}

async fn lossless_gets_every_event(t: Target) {
    let (bus, rx) = crate::support::observed("audit-like", Filter::all(), 256);
    // Drain on a plain thread, as code outside actix would.
    let reader = std::thread::spawn(move || {
        let mut events = Vec::new();
        while let Ok(e) = rx.recv_timeout(Duration::from_secs(20)) {
            let done = e.kind() == Kind::Closed;
            events.push(e);
            if done && events.iter().filter(|e| e.kind() == Kind::Closed).count() == 8 {
                break;
            }
        }
        events
    });
    let sb = t.builder().pool_size(8..=8).bus(bus).start().await.unwrap();
    load(&sb, 16, 625).await; // 10,000 statements
    sb.shutdown().await.unwrap();
    let events = reader.join().unwrap();

    let executed = events.iter().filter(|e| e.kind() == Kind::Executed).count();
    assert_eq!(executed, 10_000);
    let executing = events
        .iter()
        .filter(|e| e.kind() == Kind::Executing)
        .count();
    assert_eq!(executing, 10_000);
    // 4 events per statement, plus connect and close of 8 connections, plus
    // the pool's PoolStarted (the reader stops at the last Closed, before
    // PoolStopped).
    assert_eq!(events.len(), 4 * 10_000 + 4 * 8 + 1);
    assert_eq!(crate::support::assert_gap_free(&events), 8);
    let mut ids: Vec<u64> = events.iter().map(|e| e.meta().id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "no event twice");
}
each_backend!(lossless_gets_every_event);

async fn lossy_never_slows_and_counts_drops(t: Target) {
    let bus = Bus::new();
    // A subscriber that sleeps 5 ms per event, with room for 16.
    let seen = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    let (s, l) = (seen.clone(), lagged.clone());
    bus.subscribe_fn(
        "sleepy",
        Filter::all(),
        Delivery::lossy(16),
        move |e: Event| {
            match e.payload() {
                Payload::Lagged { dropped } => {
                    l.fetch_add(*dropped, Ordering::SeqCst);
                }
                _ => {
                    s.fetch_add(1, Ordering::SeqCst);
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        },
    )
    .unwrap();
    // A lossless counter for the exact total.
    let rx = bus
        .subscribe_channel("counter", Filter::all(), Delivery::lossless(100_000))
        .unwrap();
    let sb = t
        .builder()
        .pool_size(4..=4)
        .bus(bus.clone())
        .start()
        .await
        .unwrap();
    load(&sb, 8, 250).await; // 2,000 statements, 8,000+ events
    // Statements finished long before the sleeper could have seen their
    // events: it did not hold them back.
    let seen_when_done = seen.load(Ordering::SeqCst);
    assert!(
        seen_when_done < 1_000,
        "sleeper saw {seen_when_done} events already"
    );
    sb.shutdown().await.unwrap();
    let total = drain(&rx).len() as u64;
    // With the pool's PoolStarted and PoolStopped.
    assert_eq!(total, 4 * 2_000 + 4 * 4 + 2);
    // The pool is gone: the sleeper gets what it holds, then one last
    // Lagged notice with the exact count of the rest, and its subscription
    // ends.
    eventually(
        || bus.stats().iter().all(|s| s.name != "sleepy"),
        Duration::from_secs(30),
    )
    .await;
    let (seen, lagged) = (seen.load(Ordering::SeqCst), lagged.load(Ordering::SeqCst));
    assert_eq!(seen + lagged, total, "seen {seen} + lagged {lagged}");
    assert!(lagged > 0);
}
each_backend!(lossy_never_slows_and_counts_drops);

/// Panics on the 50th statement it sees, once.
struct Fragile {
    executed: Arc<Mutex<Vec<u64>>>,
    panicked: Arc<AtomicBool>,
}

impl Actor for Fragile {
    type Context = Context<Self>;
}

impl Handler<Event> for Fragile {
    type Result = ();
    fn handle(&mut self, e: Event, _: &mut Self::Context) {
        if let Payload::Executed { query_id, .. } = e.payload() {
            if self.executed.lock().len() == 50 && !self.panicked.swap(true, Ordering::SeqCst) {
                panic!("subscriber bug on purpose");
            }
            self.executed.lock().push(*query_id);
        }
    }
}

async fn panicking_subscriber_is_restarted(t: Target) {
    let executed = Arc::new(Mutex::new(Vec::new()));
    let panicked = Arc::new(AtomicBool::new(false));
    // Instances made: the first and one per restart (the bus's own count
    // ends with the pool's subscriptions at shutdown).
    let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (e, p, n) = (executed.clone(), panicked.clone(), starts.clone());
    let bus = Bus::new();
    bus.subscribe_supervised(
        "fragile",
        move || {
            n.fetch_add(1, Ordering::SeqCst);
            Fragile {
                executed: e.clone(),
                panicked: p.clone(),
            }
        },
        Filter::kinds([Kind::Executed]),
        Delivery::lossless(1024),
    );
    let sb = t.builder().pool_size(2..=2).bus(bus).start().await.unwrap();
    load(&sb, 4, 50).await; // every statement succeeds meanwhile
    sb.shutdown().await.unwrap();
    assert!(panicked.load(Ordering::SeqCst));
    let mut got = executed.lock().clone();
    assert_eq!(got.len(), 200, "nothing lost across the restart");
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 200, "nothing delivered twice");
    assert_eq!(starts.load(Ordering::SeqCst) - 1, 1, "one restart");
}
each_backend!(panicking_subscriber_is_restarted);

async fn listen_by_sqlalchemy_name(t: Target) {
    let sb = t.builder().start().await.unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    sb.bus()
        .listen_named("after_execute", move |e: Event| {
            let _ = tx.send(e);
        })
        .unwrap();
    assert!(
        sb.bus()
            .listen_named("after_lunch", |_e: Event| {})
            .is_err()
    );
    sb.run(Execute::sql("SELECT 1").label("who", "listener"))
        .await
        .unwrap();
    let e = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(e.kind(), Kind::Executed);
    assert_eq!(e.meta().labels.get("who"), Some("listener"));
    sb.shutdown().await.unwrap();
}
each_backend!(listen_by_sqlalchemy_name);
