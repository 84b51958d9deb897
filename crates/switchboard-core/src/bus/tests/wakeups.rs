//! When a pump sleeps and who wakes it: a parked pump on the next push, a
//! napping one only at half its capacity or when someone waits.

use super::*;
use crate::bus::queue::{PumpState, Queue};

#[test]
fn a_parked_subscriber_is_woken_by_the_next_event() {
    let bus = Bus::new();
    let rx = bus
        .subscribe_channel("idle", Filter::all(), Delivery::lossy(16))
        .unwrap();
    let sub = subscription(&bus, rx.id());
    let em = emitter(&bus);
    for seq in 1..=20 {
        wait_until(&sub.queue, PumpState::Parked);
        em.emit(checked_in());
        let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(ev.meta().seq, seq);
    }
}

/// Waits (at most 5 s) until the queue's pump is in `state`.
fn wait_until(queue: &Queue, state: PumpState) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while queue.pump_state() != state {
        assert!(std::time::Instant::now() < deadline, "pump never {state:?}");
        std::thread::yield_now();
    }
}

/// Takes from `queue` on a thread of its own, napping for `nap`, and
/// acknowledges what it took; the receiver gets how many slots that was,
/// or `None` if the queue closed.
fn take_on_thread(queue: &Arc<Queue>, nap: Duration) -> crossbeam_channel::Receiver<Option<usize>> {
    let queue = queue.clone();
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let mut hand = std::collections::VecDeque::new();
        let took = queue.take(&mut hand, &[nap]).then_some(hand.len());
        if let Some(slots) = took {
            queue.ack_taken(slots);
        }
        tx.send(took).unwrap();
    });
    rx
}

/// A nap longer than any test: only a wake-up ends it.
const FOREVER: Duration = Duration::from_secs(3600);

#[test]
fn a_napping_pump_is_woken_once_half_its_capacity_is_queued() {
    let queue = Arc::new(Queue::new(8, false));
    let em = emitter(&Bus::new());
    let taker = take_on_thread(&queue, FOREVER);
    wait_until(&queue, PumpState::Napping);
    for _ in 0..3 {
        queue.push(&em.publish(checked_in()));
    }
    assert_eq!(queue.pump_state(), PumpState::Napping, "3 of 8: no wake-up");
    queue.push(&em.publish(checked_in()));
    assert_eq!(within_5s(&taker), Some(4));
    assert_eq!(queue.counts(), (4, 0));
}

#[test]
fn a_flush_ends_the_nap_of_a_pump_with_events_queued() {
    let queue = Arc::new(Queue::new(8, true));
    let em = emitter(&Bus::new());
    let taker = take_on_thread(&queue, FOREVER);
    wait_until(&queue, PumpState::Napping);
    queue.push(&em.publish(checked_in()));
    queue.push(&em.publish(checked_in()));
    runtime()
        .block_on(queue.wait_len_at_most(0, Duration::from_secs(5)))
        .unwrap();
    assert_eq!(within_5s(&taker), Some(2));
}

#[test]
fn closing_wakes_a_parked_pump() {
    let queue = Arc::new(Queue::new(8, false));
    let taker = take_on_thread(&queue, Duration::from_millis(1));
    wait_until(&queue, PumpState::Parked);
    queue.close();
    assert_eq!(within_5s(&taker), None, "a closed queue ends the pump");
}
