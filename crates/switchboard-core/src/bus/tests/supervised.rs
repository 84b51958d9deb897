//! Supervised actor subscribers, fed through a stream in their context:
//! order, acknowledgement, restarts, skips, unsubscribing and wake-ups.

use std::cell::RefCell;

use actix::{ActorContext, Context};
use crossbeam_channel::{Receiver, Sender, unbounded};

use super::*;
use crate::bus::pump::MAX_REDELIVERIES;
use crate::bus::queue::PumpState;

type OnEvent = Arc<dyn Fn(&Event, &mut Context<Probe>) + Send + Sync>;

/// A supervised subscriber under test: does what the test says with each
/// event.
struct Probe(OnEvent);

impl actix::Actor for Probe {
    type Context = Context<Self>;
}

impl actix::Handler<Event> for Probe {
    type Result = ();
    fn handle(&mut self, event: Event, ctx: &mut Context<Self>) {
        (self.0)(&event, ctx);
    }
}

fn supervised(
    bus: &Bus,
    delivery: Delivery,
    on_event: impl Fn(&Event, &mut Context<Probe>) + Send + Sync + 'static,
) -> SubscriptionId {
    let on_event: OnEvent = Arc::new(on_event);
    bus.subscribe_supervised(
        "probe",
        move || Probe(on_event.clone()),
        Filter::all(),
        delivery,
    )
}

/// Sequence numbers, in the order something saw them.
type Seqs = Arc<parking_lot::Mutex<Vec<u64>>>;

/// A handler's first event holds it until the test lets go: the test
/// learns when it started, and sends (or drops) the returned sender to
/// release it.
struct Hold {
    entered: Sender<u64>,
    release: Receiver<()>,
}

impl Hold {
    fn new() -> (Self, Receiver<u64>, Sender<()>) {
        let (entered, entered_rx) = unbounded();
        let (release_tx, release) = unbounded();
        (Hold { entered, release }, entered_rx, release_tx)
    }

    fn wait(&self, seq: u64) {
        let _ = self.entered.send(seq);
        let _ = self.release.recv_timeout(Duration::from_secs(5));
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
        let id = supervised(&bus, Delivery::lossless(64), move |ev, _| {
            s.lock().push(ev.meta().seq);
        });
        let em = emitter(&bus);
        for _ in 0..EVENTS {
            bus.ready().await.unwrap();
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!((stats.delivered, stats.queued), (EVENTS, 0));
        assert_eq!(stats.restarts, 0);
    });
    assert!(*seen.lock() == (1..=EVENTS).collect::<Vec<_>>());
}

#[test]
fn an_event_is_acknowledged_only_after_its_handler_ran() {
    let (hold, entered, release) = Hold::new();
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossless(8), move |ev, _| {
            hold.wait(ev.meta().seq);
        });
        emitter(&bus).emit(checked_in());
        assert_eq!(within_5s(&entered), 1);
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!(
            (stats.delivered, stats.queued),
            (0, 1),
            "acknowledged early"
        );
        assert!(bus.flush(Duration::from_millis(50)).await.is_err());

        release.send(()).unwrap();
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!((stats.delivered, stats.queued), (1, 0));
    });
}

#[test]
fn the_event_a_handler_panicked_on_and_the_rest_of_its_batch_go_to_the_next_actor() {
    let (hold, entered, release) = Hold::new();
    let (seen, attempts) = (Seqs::default(), Seqs::default());
    let (s, a) = (seen.clone(), attempts.clone());
    let panicked = Arc::new(AtomicBool::new(false));
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossless(64), move |ev, _| {
            let seq = ev.meta().seq;
            if seq == 1 {
                hold.wait(seq);
            }
            a.lock().push(seq);
            if seq == 3 && !panicked.swap(true, Ordering::SeqCst) {
                panic!("subscriber bug on 3");
            }
            s.lock().push(seq);
        });
        let em = emitter(&bus);
        em.emit(checked_in());
        assert_eq!(within_5s(&entered), 1);
        for _ in 2..=6 {
            em.emit(checked_in());
        }
        drop(release); // 2..=6 are queued: the feed takes them as one batch
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        assert_eq!((stats.restarts, stats.delivered, stats.queued), (1, 6, 0));
    });
    assert_eq!(*seen.lock(), vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(*attempts.lock(), vec![1, 2, 3, 3, 4, 5, 6]);
}

#[test]
fn an_event_its_handler_always_panics_on_is_skipped_after_max_redeliveries() {
    let (seen, attempts) = (Seqs::default(), Seqs::default());
    let (s, a) = (seen.clone(), attempts.clone());
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossless(64), move |ev, _| {
            let seq = ev.meta().seq;
            a.lock().push(seq);
            if seq == 4 {
                panic!("subscriber bug on 4");
            }
            s.lock().push(seq);
        });
        let em = emitter(&bus);
        for _ in 1..=6 {
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let stats = bus.subscription_stats(id).unwrap();
        let tries = 1 + u64::from(MAX_REDELIVERIES);
        assert_eq!(
            (stats.restarts, stats.delivered, stats.queued),
            (tries, 6, 0)
        );
    });
    assert_eq!(*seen.lock(), vec![1, 2, 3, 5, 6]);
    let on_4 = attempts.lock().iter().filter(|&&seq| seq == 4).count();
    assert_eq!(on_4 as u64, 1 + u64::from(MAX_REDELIVERIES));
}

#[test]
fn an_actor_that_stops_itself_in_its_handler_is_restarted_without_a_redelivery() {
    let seen = Seqs::default();
    let s = seen.clone();
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossless(64), move |ev, ctx| {
            s.lock().push(ev.meta().seq);
            if ev.meta().seq == 2 {
                ctx.stop();
            }
        });
        let em = emitter(&bus);
        em.emit(checked_in());
        em.emit(checked_in());
        bus.flush(Duration::from_secs(5)).await.unwrap();
        // After the restart: the new actor gets what comes next.
        for _ in 3..=5 {
            em.emit(checked_in());
        }
        bus.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(bus.subscription_stats(id).unwrap().restarts, 1);
    });
    assert_eq!(*seen.lock(), vec![1, 2, 3, 4, 5]);
}

/// Tells the test when the thread that runs a handler exits.
struct OnExit(Sender<()>);

impl Drop for OnExit {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static ON_EXIT: RefCell<Option<OnExit>> = const { RefCell::new(None) };
}

#[test]
fn unsubscribing_stops_the_actor_and_its_arbiter() {
    let (exit_tx, exited) = unbounded();
    let (seen_tx, seen) = unbounded();
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossy(16), move |ev, _| {
            ON_EXIT.with(|on_exit| *on_exit.borrow_mut() = Some(OnExit(exit_tx.clone())));
            let _ = seen_tx.send(ev.meta().seq);
        });
        let em = emitter(&bus);
        em.emit(checked_in());
        assert_eq!(within_5s(&seen), 1);
        assert!(bus.unsubscribe(id));
        // The supervisor learns of the end on this arbiter.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while exited.try_recv().is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the arbiter's thread did not exit"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        em.emit(checked_in());
        assert!(seen.recv_timeout(Duration::from_millis(100)).is_err());
        assert!(bus.is_empty());
    });
}

#[test]
fn a_waiting_actor_is_woken_by_the_next_event() {
    let (seen_tx, seen) = unbounded();
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossy(16), move |ev, _| {
            let _ = seen_tx.send(ev.meta().seq);
        });
        let sub = subscription(&bus, id);
        let em = emitter(&bus);
        for seq in 1..=20 {
            // The queue ran empty and the actor's task sleeps: only this
            // event's push can wake it.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while sub.queue.pump_state() != PumpState::Waiting || sub.queue.len() > 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the feed never waited"
                );
                std::thread::yield_now();
            }
            em.emit(checked_in());
            assert_eq!(within_5s(&seen), seq);
        }
    });
}

#[test]
fn a_lossy_actor_gets_a_lagged_notice_with_the_exact_count() {
    let (hold, entered, release) = Hold::new();
    let (seen, lagged) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, l) = (seen.clone(), lagged.clone());
    run(async move {
        let bus = Bus::new();
        let id = supervised(&bus, Delivery::lossy(4), move |ev, _| {
            if ev.meta().seq == 1 {
                hold.wait(1);
            }
            match ev.payload() {
                Payload::Lagged { dropped } => l.fetch_add(*dropped, Ordering::SeqCst),
                _ => s.fetch_add(1, Ordering::SeqCst),
            };
        });
        let em = emitter(&bus);
        em.emit(checked_in());
        assert_eq!(within_5s(&entered), 1);
        for _ in 2..=100 {
            em.emit(checked_in());
        }
        drop(release);
        let sub = subscription(&bus, id);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sub.queue.len() > 0 {
            assert!(std::time::Instant::now() < deadline, "never drained");
            std::thread::yield_now();
        }
        em.emit(checked_in()); // lands after the drops: a Lagged precedes it
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while seen.load(Ordering::SeqCst) + lagged.load(Ordering::SeqCst) < 101 {
            assert!(
                std::time::Instant::now() < deadline,
                "the notice never came"
            );
            std::thread::yield_now();
        }
        let stats = bus.subscription_stats(id).unwrap();
        // 1 held, 3 queued behind it, 96 dropped, then the last one.
        assert_eq!(seen.load(Ordering::SeqCst), 5);
        assert_eq!(lagged.load(Ordering::SeqCst), 96);
        assert_eq!(stats.dropped, 96);
    });
}
