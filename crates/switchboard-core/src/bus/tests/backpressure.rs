//! Lossless back-pressure: publishers held back resume at half the
//! capacity, and the deadline is judged against the capacity itself.

use super::*;

/// A subscriber that handles one event per permit the test sends (all of
/// them once the sender is dropped).
fn stepped(bus: &Bus, delivery: Delivery) -> (SubscriptionId, crossbeam_channel::Sender<()>) {
    let (permit, permits) = crossbeam_channel::unbounded::<()>();
    let id = bus
        .subscribe_fn("stepped", Filter::all(), delivery, move |_: Event| {
            let _ = permits.recv();
        })
        .unwrap();
    (id, permit)
}

/// Runs `bus.ready()` on a thread of its own once the subscription's queue
/// holds more than its capacity; returns its outcome's receiver after the
/// waiter registered.
fn ready_on_thread(bus: &Bus, id: SubscriptionId) -> crossbeam_channel::Receiver<Result<()>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let waiting = bus.clone();
    std::thread::spawn(move || tx.send(runtime().block_on(waiting.ready())).unwrap());
    let sub = subscription(bus, id);
    while !sub.queue.has_waiters() {
        std::thread::yield_now();
    }
    rx
}

#[test]
fn publishers_held_back_resume_once_the_queue_is_down_to_half_its_capacity() {
    let bus = Bus::new();
    let (id, permit) = stepped(&bus, Delivery::lossless(8));
    let em = emitter(&bus);
    for _ in 0..12 {
        em.emit(checked_in());
    }
    let queued = || bus.subscription_stats(id).unwrap().queued;
    let ready = ready_on_thread(&bus, id);
    for _ in 0..4 {
        permit.send(()).unwrap();
    }
    while queued() > 8 {
        std::thread::yield_now();
    }
    assert!(
        ready.recv_timeout(Duration::from_millis(100)).is_err(),
        "back within capacity, but not yet woken"
    );
    for _ in 0..4 {
        permit.send(()).unwrap();
    }
    within_5s(&ready).unwrap();
    assert_eq!(queued(), 4);
}

#[test]
fn at_the_deadline_a_queue_back_within_capacity_lets_the_statement_run() {
    let bus = Bus::new();
    let deadline = Duration::from_millis(500);
    let (id, permit) = stepped(&bus, Delivery::lossless(8).with_deadline(deadline));
    let em = emitter(&bus);
    for _ in 0..12 {
        em.emit(checked_in());
    }
    let ready = ready_on_thread(&bus, id);
    for _ in 0..5 {
        permit.send(()).unwrap();
    }
    // 7 queued: within the capacity of 8, above the half that wakes.
    within_5s(&ready).unwrap();
    assert_eq!(bus.subscription_stats(id).unwrap().queued, 7);
}
