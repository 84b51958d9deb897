use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::*;
use crate::emitter::Emitter;
use crate::event::{Backend, Kind, Payload};
use crate::testing::eventually_blocking;

fn emitter(bus: &Bus) -> Emitter {
    Emitter::new(bus.clone(), Arc::from("test"), Backend::Sqlite, 1)
}

fn checked_in() -> Payload {
    Payload::CheckedIn {
        held: Duration::from_millis(1),
    }
}

#[test]
fn lossy_channel_drops_with_exact_lagged_count() {
    let bus = Bus::new();
    // Capacity 4 in the queue and 4 in the channel; nobody reads yet.
    let rx = bus
        .subscribe_channel("slow", Filter::all(), Delivery::lossy(4))
        .unwrap();
    let em = emitter(&bus);
    for _ in 0..100 {
        em.emit(checked_in());
    }
    let mut seen = 0u64;
    let mut dropped = 0u64;
    let mut last_seq = 0;
    let mut receive = |ev: Event| match ev.payload() {
        Payload::Lagged { dropped: d } => dropped += d,
        _ => {
            seen += 1;
            last_seq = ev.meta().seq;
        }
    };
    // What got through (whenever the pump's thread started); the notice of
    // the rest waits for the next event that finds room.
    while let Ok(ev) = rx.recv_timeout(Duration::from_millis(200)) {
        receive(ev);
    }
    while bus.subscription_stats(rx.id()).unwrap().queued > 0 {
        std::thread::yield_now();
    }
    em.emit(checked_in()); // lands after the drops: a Lagged precedes it
    while let Ok(ev) = rx.recv_timeout(Duration::from_millis(500)) {
        receive(ev);
    }
    assert_eq!(seen + dropped, 101, "seen {seen} dropped {dropped}");
    assert!(dropped > 0);
    assert_eq!(last_seq, 101);
    let stats = bus.subscription_stats(rx.id()).unwrap();
    assert_eq!(stats.dropped, dropped);
}

#[test]
fn filter_selects_kinds() {
    let bus = Bus::new();
    let rx = bus
        .subscribe_channel(
            "only-closing",
            Filter::kinds([Kind::Closing]),
            Delivery::lossy(16),
        )
        .unwrap();
    let em = emitter(&bus);
    em.emit(checked_in());
    em.emit(Payload::Closing {
        reason: crate::event::CloseReason::Shutdown,
    });
    let ev = rx.recv_timeout(Duration::from_secs(1)).unwrap();
    assert_eq!(ev.kind(), Kind::Closing);
    assert_eq!(ev.meta().seq, 2);
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
}

#[test]
fn closure_panics_are_redelivered_and_nothing_is_lost() {
    let bus = Bus::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let panicked = Arc::new(AtomicU64::new(0));
    let (s, p) = (seen.clone(), panicked.clone());
    let id = bus
        .subscribe_fn(
            "flaky",
            Filter::all(),
            Delivery::lossless(8),
            move |ev: Event| {
                if ev.meta().seq == 5 && p.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("boom on 5");
                }
                s.lock().push(ev.meta().seq);
            },
        )
        .unwrap();
    let em = emitter(&bus);
    for _ in 0..10 {
        em.emit(checked_in());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(bus.flush(Duration::from_secs(5))).unwrap();
    assert_eq!(*seen.lock(), (1..=10).collect::<Vec<_>>());
    assert_eq!(bus.subscription_stats(id).unwrap().restarts, 1);
}

#[test]
fn lossless_backpressure_fails_after_deadline() {
    let bus = Bus::new();
    let gate = Arc::new(parking_lot::Mutex::new(()));
    let held = gate.lock();
    let g = gate.clone();
    bus.subscribe_fn(
        "stalled",
        Filter::all(),
        Delivery::lossless(2).with_deadline(Duration::from_millis(50)),
        move |_ev: Event| {
            let _wait = g.lock();
        },
    )
    .unwrap();
    let em = emitter(&bus);
    for _ in 0..5 {
        em.emit(checked_in());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let err = rt.block_on(bus.ready()).unwrap_err();
    assert!(matches!(err, Error::Backpressure { .. }), "{err}");
    drop(held);
    rt.block_on(bus.flush(Duration::from_secs(5))).unwrap();
    rt.block_on(bus.ready()).unwrap();
}

#[test]
fn unsubscribe_stops_delivery() {
    let bus = Bus::new();
    let rx = bus
        .subscribe_channel("gone", Filter::all(), Delivery::lossy(16))
        .unwrap();
    assert!(bus.unsubscribe(rx.id()));
    assert!(!bus.unsubscribe(rx.id()));
    emitter(&bus).emit(checked_in());
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    assert!(bus.is_empty());
}

/// Records sequence numbers; panics once on the event with seq 3.
struct Flaky {
    seen: Arc<parking_lot::Mutex<Vec<u64>>>,
    panicked: Arc<AtomicU64>,
}

impl actix::Actor for Flaky {
    type Context = actix::Context<Self>;
}

impl actix::Handler<Event> for Flaky {
    type Result = ();
    fn handle(&mut self, ev: Event, _: &mut Self::Context) {
        if ev.meta().seq == 3
            && self
                .panicked
                .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            panic!("subscriber bug");
        }
        self.seen.lock().push(ev.meta().seq);
    }
}

#[test]
fn supervised_actor_is_restarted_and_loses_nothing() {
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let panicked = Arc::new(AtomicU64::new(0));
    let (s, p) = (seen.clone(), panicked.clone());
    let sys = actix::System::new();
    sys.block_on(async move {
        let bus = Bus::new();
        let id = bus.subscribe_supervised(
            "flaky-actor",
            move || Flaky {
                seen: s.clone(),
                panicked: p.clone(),
            },
            Filter::all(),
            Delivery::lossless(64),
        );
        let em = emitter(&bus);
        for _ in 0..6 {
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(bus.subscription_stats(id).unwrap().restarts, 1);
        bus.unsubscribe(id);
    });
    assert_eq!(*seen.lock(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(panicked.load(Ordering::SeqCst), 1);
}

#[test]
fn lossy_accounting_is_exact_with_concurrent_publishers() {
    let bus = Bus::new();
    let seen = Arc::new(AtomicU64::new(0));
    let lagged = Arc::new(AtomicU64::new(0));
    let (s, l) = (seen.clone(), lagged.clone());
    let id = bus
        .subscribe_fn(
            "sleepy",
            Filter::all(),
            Delivery::lossy(16),
            move |e: Event| {
                match e.payload() {
                    Payload::Lagged { dropped } => l.fetch_add(*dropped, Ordering::SeqCst),
                    _ => s.fetch_add(1, Ordering::SeqCst),
                };
                std::thread::sleep(Duration::from_millis(2));
            },
        )
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|c| {
            let bus = bus.clone();
            std::thread::spawn(move || {
                let em = Emitter::new(bus, Arc::from("t"), Backend::Sqlite, c);
                for _ in 0..2000 {
                    em.emit(checked_in());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // The queue drained, the drops not yet reported are owed; the next
    // event carries them.
    let queued = || bus.subscription_stats(id).map_or(0, |s| s.queued);
    eventually_blocking(|| queued() == 0, Duration::from_secs(10));
    bus.publish(&Event::lagged(Arc::from("t"), Backend::Sqlite, 0));
    let total = || seen.load(Ordering::SeqCst) + lagged.load(Ordering::SeqCst);
    eventually_blocking(|| total() >= 8000, Duration::from_secs(10));
    assert_eq!(
        seen.load(Ordering::SeqCst) + lagged.load(Ordering::SeqCst),
        8000
    );
}

/// Holds events of even sequence numbers; passes them or refuses.
struct EvenGate {
    refuse: bool,
    asked: AtomicU64,
}

impl Gate for EvenGate {
    fn name(&self) -> &str {
        "even"
    }
    fn holds(&self, event: &Event) -> bool {
        event.meta().seq.is_multiple_of(2)
    }
    fn pass(
        &self,
        _: &Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'static>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let refuse = self.refuse;
        Box::pin(async move {
            if refuse {
                Err(Error::NotDurable {
                    gate: "even".into(),
                    reason: "disk full".into(),
                })
            } else {
                Ok(())
            }
        })
    }
}

#[actix::test]
async fn gates_are_asked_only_for_what_they_hold_and_can_refuse() {
    let bus = Bus::new();
    let em = emitter(&bus);
    let odd = em.publish(checked_in());
    let even = em.publish(checked_in());
    assert!(bus.pass_gates(&even).await.is_ok(), "no gates: free");

    let gate = Arc::new(EvenGate {
        refuse: true,
        asked: AtomicU64::new(0),
    });
    let dyn_gate: Arc<dyn Gate> = gate.clone();
    bus.add_gate(dyn_gate.clone());
    assert!(bus.pass_gates(&odd).await.is_ok());
    let err = bus.pass_gates(&even).await.unwrap_err();
    assert!(matches!(err, Error::NotDurable { .. }), "{err:?}");
    assert_eq!(gate.asked.load(Ordering::SeqCst), 1);

    bus.remove_gate(&dyn_gate);
    assert!(bus.pass_gates(&even).await.is_ok());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn subscription(bus: &Bus, id: SubscriptionId) -> Arc<Entry> {
    let subs = bus.inner.subs.load();
    subs.iter().find(|s| s.id == id).unwrap().clone()
}

fn within_5s<T>(rx: &crossbeam_channel::Receiver<T>) -> T {
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the pump did not wake")
}

mod actor;
mod backpressure;
mod batches;
mod close;
mod recipient;
mod spares;
mod supervised;
mod taps;
mod wakeups;

#[test]
fn the_bus_hears_the_kinds_its_subscriptions_take() {
    let bus = Bus::new();
    assert!(!bus.hears(Kind::Executed));
    let denials = bus
        .subscribe_fn(
            "denials",
            Filter::kinds([Kind::Denied]),
            Delivery::lossy(8),
            |_: Event| {},
        )
        .unwrap();
    assert!(bus.hears(Kind::Denied));
    assert!(!bus.hears(Kind::Executed) && !bus.hears(Kind::CheckedOut));
    // A filter on a pool still takes the kind, for that pool.
    let pooled = bus
        .subscribe_fn(
            "pooled",
            Filter::kinds([Kind::Executed]).pool("other"),
            Delivery::lossy(8),
            |_: Event| {},
        )
        .unwrap();
    assert!(bus.hears(Kind::Executed));
    bus.unsubscribe(pooled);
    assert!(!bus.hears(Kind::Executed));
    let all = bus
        .subscribe_fn("all", Filter::all(), Delivery::lossy(8), |_: Event| {})
        .unwrap();
    assert!(bus.hears(Kind::Executed) && bus.hears(Kind::CheckedOut));
    bus.unsubscribe(all);
    bus.unsubscribe(denials);
    assert!(!bus.hears(Kind::Denied));
}

#[test]
fn an_event_of_a_kind_no_subscription_takes_is_not_made() {
    let bus = Bus::new();
    let (_, rx) = crate::testing::stamps(&bus, Filter::kinds([Kind::Executed]));
    let em = emitter(&bus);
    // Made and delivered to nobody, an event would be kept as a spare
    // once the emitter let go of it.
    em.emit(Payload::CheckedOut {
        waited: Duration::ZERO,
    });
    assert_eq!(
        bus.inner.spares.len(),
        0,
        "a CheckedOut nobody takes was made"
    );
    em.emit(Payload::Executed {
        query_id: 1,
        took: Duration::ZERO,
        rows: None,
    });
    // The connection's numbering went on through the event not made.
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok((Kind::Executed, 2))
    );
}
