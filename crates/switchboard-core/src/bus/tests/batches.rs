//! Closure pumps take what is queued as one batch: what is in hand still
//! counts as queued, a panic redelivers only the event it hit, and an
//! unsubscription ends the batch.

use super::*;

/// Holds a closure subscriber on chosen events until the test lets go (one
/// `send` on the returned sender releases one held event, dropping it
/// releases all), so that later events pile up and reach the pump as one
/// batch.
struct Hold {
    at: &'static [u64],
    release: crossbeam_channel::Receiver<()>,
    started_tx: crossbeam_channel::Sender<u64>,
    started: crossbeam_channel::Receiver<u64>,
}

impl Hold {
    fn new(at: &'static [u64]) -> (Self, crossbeam_channel::Sender<()>) {
        let (held, release) = crossbeam_channel::bounded(0);
        let (started_tx, started) = crossbeam_channel::unbounded();
        let hold = Hold {
            at,
            release,
            started_tx,
            started,
        };
        (hold, held)
    }

    /// What the subscriber calls first: reports `ev`, and waits if held.
    fn enter(&self) -> impl Fn(&Event) + Send + 'static {
        let at = self.at;
        let (release, started) = (self.release.clone(), self.started_tx.clone());
        move |ev| {
            started.send(ev.meta().seq).unwrap();
            if at.contains(&ev.meta().seq) {
                let _ = release.recv();
            }
        }
    }

    /// Waits until the subscriber started on `seq`.
    fn wait_for(&self, seq: u64) {
        while self.started.recv_timeout(Duration::from_secs(5)).unwrap() != seq {}
    }
}

#[test]
fn a_panic_in_the_middle_of_a_batch_redelivers_that_event_and_the_rest_follow_in_order() {
    let bus = Bus::new();
    let (hold, held) = Hold::new(&[1]);
    let enter = hold.enter();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let attempts_on_6 = Arc::new(AtomicU64::new(0));
    let (s, a) = (seen.clone(), attempts_on_6.clone());
    let panicked_on_4 = AtomicBool::new(false);
    let id = bus
        .subscribe_fn(
            "flaky",
            Filter::all(),
            Delivery::lossless(64),
            move |ev: Event| {
                enter(&ev);
                match ev.meta().seq {
                    4 if !panicked_on_4.swap(true, Ordering::SeqCst) => panic!("once on 4"),
                    6 => {
                        a.fetch_add(1, Ordering::SeqCst);
                        panic!("always on 6")
                    }
                    seq => s.lock().push(seq),
                }
            },
        )
        .unwrap();
    let em = emitter(&bus);
    em.emit(checked_in());
    hold.wait_for(1);
    for _ in 2..=8 {
        em.emit(checked_in());
    }
    drop(held); // 2..=8 are queued: the pump takes them as one batch
    runtime()
        .block_on(bus.flush(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(*seen.lock(), vec![1, 2, 3, 4, 5, 7, 8]);
    assert_eq!(
        attempts_on_6.load(Ordering::SeqCst),
        u64::from(pump::MAX_REDELIVERIES) + 1
    );
    let stats = bus.subscription_stats(id).unwrap();
    assert_eq!(stats.restarts, 1 + u64::from(pump::MAX_REDELIVERIES) + 1);
    assert_eq!((stats.delivered, stats.queued), (8, 0));
}

#[test]
fn a_lossless_flush_waits_for_a_batch_in_hand_and_sees_it_acknowledged_as_it_goes() {
    let bus = Bus::new();
    let (permit_tx, permits) = crossbeam_channel::unbounded::<()>();
    let (started_tx, started) = crossbeam_channel::unbounded();
    let id = bus
        .subscribe_fn(
            "stepped",
            Filter::all(),
            Delivery::lossless(2).with_deadline(Duration::from_millis(50)),
            move |ev: Event| {
                started_tx.send(ev.meta().seq).unwrap();
                permits.recv().unwrap();
            },
        )
        .unwrap();
    let sub = subscription(&bus, id);
    let next_started = || started.recv_timeout(Duration::from_secs(5)).unwrap();
    let queued = || bus.subscription_stats(id).unwrap().queued;
    let rt = runtime();
    let em = emitter(&bus);
    em.emit(checked_in());
    assert_eq!(next_started(), 1);
    for _ in 2..=5 {
        em.emit(checked_in());
    }
    assert_eq!(queued(), 5, "the event in hand counts as queued");
    permit_tx.send(()).unwrap();
    assert_eq!(next_started(), 2); // 2..=5 taken as one batch
    permit_tx.send(()).unwrap();
    assert_eq!(next_started(), 3);
    assert_eq!(queued(), 4, "delivered but unacknowledged events count");
    match rt.block_on(bus.flush(Duration::from_millis(50))) {
        Err(Error::Backpressure { queued, .. }) => assert_eq!(queued, 4),
        other => panic!("flush with a batch in hand: {other:?}"),
    }
    assert!(rt.block_on(bus.ready()).is_err(), "4 > capacity 2");

    std::thread::scope(|scope| {
        let flushing = scope.spawn(|| runtime().block_on(bus.flush(Duration::from_secs(5))));
        while !sub.queue.has_waiters() {
            std::thread::yield_now();
        }
        permit_tx.send(()).unwrap();
        assert_eq!(next_started(), 4);
        assert_eq!(
            queued(),
            2,
            "with a flusher waiting, each event is acknowledged"
        );
        permit_tx.send(()).unwrap();
        permit_tx.send(()).unwrap();
        flushing.join().unwrap().unwrap();
    });
    let stats = bus.subscription_stats(id).unwrap();
    assert_eq!((stats.delivered, stats.queued), (5, 0));
    rt.block_on(bus.ready()).unwrap();
}

#[test]
fn lossy_capacity_counts_the_events_a_pump_has_in_hand() {
    let bus = Bus::new();
    let (hold, held) = Hold::new(&[1]);
    let enter = hold.enter();
    let (tx, rx) = crossbeam_channel::unbounded();
    let id = bus
        .subscribe_fn(
            "slow",
            Filter::all(),
            Delivery::lossy(4),
            move |ev: Event| {
                enter(&ev);
                tx.send(ev).unwrap();
            },
        )
        .unwrap();
    let em = emitter(&bus);
    em.emit(checked_in());
    hold.wait_for(1);
    for _ in 2..=11 {
        em.emit(checked_in());
    }
    let stats = bus.subscription_stats(id).unwrap();
    assert_eq!(
        (stats.queued, stats.dropped),
        (4, 7),
        "1 in hand + 3 queued"
    );
    drop(held);
    hold.wait_for(4);
    while bus.subscription_stats(id).unwrap().queued > 0 {
        std::thread::yield_now();
    }
    em.emit(checked_in());
    let got: Vec<_> = (0..6)
        .map(|_| {
            let ev = rx.recv_timeout(Duration::from_secs(5)).unwrap();
            match ev.payload() {
                Payload::Lagged { dropped } => format!("lagged {dropped}"),
                _ => ev.meta().seq.to_string(),
            }
        })
        .collect();
    assert_eq!(got, ["1", "2", "3", "4", "lagged 7", "12"]);
    while bus.subscription_stats(id).unwrap().queued > 0 {
        std::thread::yield_now();
    }
    let stats = bus.subscription_stats(id).unwrap();
    assert_eq!(
        (stats.delivered, stats.dropped),
        (5, 7),
        "the notice is no event"
    );
}

#[test]
fn unsubscribing_ends_the_pump_in_the_middle_of_a_batch() {
    let bus = Bus::new();
    let (hold, held) = Hold::new(&[1, 2]);
    let enter = hold.enter();
    let (tx, rx) = crossbeam_channel::unbounded();
    let id = bus
        .subscribe_fn(
            "gone",
            Filter::all(),
            Delivery::lossless(64),
            move |ev: Event| {
                enter(&ev);
                tx.send(ev.meta().seq).unwrap();
            },
        )
        .unwrap();
    let em = emitter(&bus);
    em.emit(checked_in());
    hold.wait_for(1);
    for _ in 2..=5 {
        em.emit(checked_in());
    }
    held.send(()).unwrap();
    hold.wait_for(2); // 2..=5 in hand
    assert!(bus.unsubscribe(id));
    drop(held);
    // The channel disconnects when the pump's thread ends and drops `tx`.
    assert_eq!(rx.iter().collect::<Vec<_>>(), vec![1, 2]);
}
