//! Event allocations kept for reuse: only from a last holder, and reused
//! with the new event's contents.

use std::sync::Arc;
use std::time::Duration;

use super::*;

fn meta(seq: u64) -> Meta {
    Meta {
        id: seq,
        at: chrono::Utc::now(),
        pool: Arc::from("spares"),
        connection: Some(1),
        seq,
        backend: Backend::Sqlite,
        labels: crate::Labels::new(),
    }
}

fn executed(query_id: u64) -> Payload {
    Payload::Executed {
        query_id,
        took: Duration::from_micros(3),
        rows: Some(1),
    }
}

#[test]
fn a_recycled_event_lends_its_allocation_to_the_next() {
    let bus = Bus::new();
    let first = bus.make(meta(1), executed(1));
    let at = first.meta() as *const Meta;
    bus.recycle(first);
    let second = bus.make(meta(2), checked_in());
    assert!(std::ptr::eq(second.meta(), at), "the allocation is reused");
    assert_eq!(second.meta().seq, 2);
    assert_eq!(second.kind(), Kind::CheckedIn);
}

#[test]
fn an_event_someone_still_holds_is_not_recycled() {
    let bus = Bus::new();
    let first = bus.make(meta(1), executed(7));
    let kept = first.clone();
    bus.recycle(first);
    let second = bus.make(meta(2), checked_in());
    assert!(!std::ptr::eq(second.meta(), kept.meta()));
    // The holder still reads what it was given.
    assert_eq!(kept.meta().seq, 1);
    assert!(matches!(
        kept.payload(),
        Payload::Executed { query_id: 7, .. }
    ));
}

#[test]
fn subscribers_hand_back_what_they_were_last_to_hold() {
    let bus = Bus::new();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let (seen, seen_rx) = std::sync::mpsc::channel();
    bus.subscribe_fn(
        "noter",
        Filter::all(),
        Delivery::lossless(64),
        move |e: Event| {
            // Held until the publisher let go of its copy, so that the
            // subscriber's thread is the last holder.
            let _ = gate_rx.recv_timeout(Duration::from_secs(5));
            let _ = seen.send(e.meta().seq);
        },
    )
    .unwrap();
    let em = emitter(&bus);
    let spares = |bus: &Bus| bus.inner.spares.len();
    for seq in 1..=3 {
        drop(em.publish(checked_in()));
        // The second and third events took the spare the one before left.
        assert_eq!(spares(&bus), 0, "event {seq}");
        gate.send(()).unwrap();
        assert_eq!(seen_rx.recv_timeout(Duration::from_secs(5)), Ok(seq));
        // The thread lets go of the event just after the closure returns.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while spares(&bus) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(spares(&bus), 1, "event {seq}'s allocation is kept");
    }
}

#[test]
fn a_kept_allocation_holds_no_statement_text_or_labels() {
    let bus = Bus::new();
    let sql: Arc<str> = Arc::from("SELECT secret FROM vault WHERE id = $1");
    let mut m = meta(1);
    m.labels = crate::Labels::new().with("tenant", "acme");
    let event = bus.make(
        m,
        Payload::Executing {
            query_id: 1,
            sql: sql.clone(),
            params: crate::Params::none(),
            class: crate::StatementClass::Read,
            origin: crate::Origin::Load,
        },
    );
    assert_eq!(Arc::strong_count(&sql), 2);
    bus.recycle(event);
    assert_eq!(bus.inner.spares.len(), 1);
    // The kept allocation let go of the SQL text (and labels) at once.
    assert_eq!(Arc::strong_count(&sql), 1);
}

#[test]
fn spares_are_bounded() {
    let bus = Bus::new();
    let events: Vec<Event> = (0..SPARES as u64 + 10)
        .map(|i| bus.make(meta(i), checked_in()))
        .collect();
    for e in events {
        bus.recycle(e);
    }
    assert_eq!(bus.inner.spares.len(), SPARES);
}
