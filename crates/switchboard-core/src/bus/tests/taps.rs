//! Taps: called on the publishing thread, for what their filter takes,
//! with no event made when nothing else takes it; a panicking tap costs
//! the statement nothing.

use parking_lot::Mutex;

use super::*;
use crate::event::Meta;

/// Kind, pool, connection and sequence number of an event a tap saw.
type Stamp = (Kind, String, Option<u64>, u64);

/// Records the stamp of what it is called with.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Stamp>>>);

impl Tap for Seen {
    fn record(&self, meta: &Meta, payload: &Payload) {
        self.0.lock().push((
            payload.kind(),
            meta.pool.to_string(),
            meta.connection,
            meta.seq,
        ));
    }
}

impl Seen {
    fn take(&self) -> Vec<Stamp> {
        std::mem::take(&mut *self.0.lock())
    }
}

fn checked_out() -> Payload {
    Payload::CheckedOut {
        waited: Duration::ZERO,
    }
}

fn executed() -> Payload {
    Payload::Executed {
        query_id: 1,
        took: Duration::ZERO,
        rows: None,
    }
}

#[test]
fn a_tap_sees_what_its_filter_takes_on_the_publishing_thread_and_no_event_is_made() {
    let bus = Bus::new();
    let mine = Emitter::new(bus.clone(), Arc::from("p"), Backend::Sqlite, 1);
    let other_conn = Emitter::new(bus.clone(), Arc::from("p"), Backend::Sqlite, 2);
    let other_pool = Emitter::new(bus.clone(), Arc::from("q"), Backend::Sqlite, 1);
    let all = Seen::default();
    let outcomes = Seen::default();
    let connection_one = Seen::default();
    bus.tap("all", Filter::all().pool("p"), all.clone());
    bus.tap(
        "outcomes",
        Filter::kinds([Kind::Executed]),
        outcomes.clone(),
    );
    bus.tap(
        "connection one",
        Filter::all().pool("p").connection(1),
        connection_one.clone(),
    );
    assert!(bus.hears(Kind::CheckedOut) && !bus.is_empty());

    for e in [&mine, &other_conn, &other_pool] {
        e.emit(checked_out());
        e.emit(executed());
    }
    // Called before emit returned: nothing to wait for.
    assert_eq!(
        all.take(),
        [
            (Kind::CheckedOut, "p".into(), Some(1), 1),
            (Kind::Executed, "p".into(), Some(1), 2),
            (Kind::CheckedOut, "p".into(), Some(2), 1),
            (Kind::Executed, "p".into(), Some(2), 2),
        ]
    );
    assert_eq!(
        outcomes.take(),
        [
            (Kind::Executed, "p".into(), Some(1), 2),
            (Kind::Executed, "p".into(), Some(2), 2),
            (Kind::Executed, "q".into(), Some(1), 2),
        ]
    );
    assert_eq!(
        connection_one.take(),
        [
            (Kind::CheckedOut, "p".into(), Some(1), 1),
            (Kind::Executed, "p".into(), Some(1), 2),
        ]
    );
    // Only taps took them: none was made (a made event is kept as a spare
    // once its emitter lets go of it).
    assert_eq!(
        bus.inner.spares.len(),
        0,
        "an event only taps take was made"
    );

    // With a subscription too, the event is made, queued and tapped, with
    // the same stamp.
    let (_, rx) = crate::testing::stamps(&bus, Filter::kinds([Kind::Executed]));
    mine.emit(executed());
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok((Kind::Executed, 3))
    );
    assert_eq!(all.take(), [(Kind::Executed, "p".into(), Some(1), 3)]);
    // Events published whole (not through an emitter) are tapped too.
    bus.publish(&Event::new(
        Meta {
            id: crate::event::next_event_id(),
            at: chrono::Utc::now(),
            pool: Arc::from("p"),
            connection: Some(9),
            seq: 1,
            backend: Backend::Sqlite,
            labels: crate::Labels::new(),
        },
        executed(),
    ));
    assert_eq!(all.take(), [(Kind::Executed, "p".into(), Some(9), 1)]);
}

#[test]
fn a_tap_removed_is_called_no_more_and_its_kinds_are_no_longer_made() {
    let bus = Bus::new();
    let e = emitter(&bus);
    let seen = Seen::default();
    let id = bus.tap("t", Filter::kinds([Kind::CheckedOut]), seen.clone());
    e.emit(checked_out());
    assert_eq!(seen.take().len(), 1);
    let stats = bus.subscription_stats(id).expect("the tap's stats");
    assert_eq!((stats.name.as_str(), stats.delivered), ("t", 1));
    assert!(bus.unsubscribe(id));
    assert!(!bus.unsubscribe(id), "removed twice");
    e.emit(checked_out());
    assert_eq!(seen.take(), []);
    assert!(!bus.hears(Kind::CheckedOut) && bus.is_empty());
}

struct Panics;

impl Tap for Panics {
    fn record(&self, _: &Meta, payload: &Payload) {
        if payload.kind() == Kind::CheckedOut {
            panic!("a tap's bug");
        }
    }
}

#[test]
fn a_panicking_tap_costs_the_publisher_nothing_and_is_counted() {
    let bus = Bus::new();
    let e = emitter(&bus);
    let id = bus.tap("panics", Filter::all(), Panics);
    let seen = Seen::default();
    bus.tap("after it", Filter::all(), seen.clone());
    e.emit(checked_out());
    e.emit(executed());
    // The next tap was still called for both, and the numbering held.
    let kinds: Vec<_> = seen.take().into_iter().map(|(k, .., s)| (k, s)).collect();
    assert_eq!(kinds, [(Kind::CheckedOut, 1), (Kind::Executed, 2)]);
    let stats = bus.subscription_stats(id).expect("the tap's stats");
    assert_eq!((stats.delivered, stats.restarts), (2, 1));
}
