//! Helpers for tests and benchmarks (the `testing` feature): traffic
//! published as a connection publishes it, and waiting for a condition
//! instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Bus, Delivery, SubscriptionId};
use crate::class::StatementClass;
use crate::emitter::Emitter;
use crate::event::{Event, Kind, Origin, Params, Payload};
use crate::filter::Filter;

/// The kind and sequence number of every event a lossless subscription
/// (capacity 8, a closure on a thread of its own) with `filter` on `bus`
/// gets from now on, and the subscription's id.
///
/// # Panics
///
/// When the subscriber's thread cannot start.
pub fn stamps(
    bus: &Bus,
    filter: Filter,
) -> (SubscriptionId, std::sync::mpsc::Receiver<(Kind, u64)>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let id = bus
        .subscribe_fn("stamps", filter, Delivery::lossless(8), move |ev: Event| {
            let _ = tx.send((ev.kind(), ev.meta().seq));
        })
        .expect("a subscription");
    (id, rx)
}

/// Publishes one statement as a connection does: its `Executing` (with no
/// parameters), then an `Executed` that took 20 µs and returned one row.
pub fn emit_statement(
    emitter: &Emitter,
    query_id: u64,
    sql: &Arc<str>,
    class: StatementClass,
    origin: Origin,
) {
    emitter.emit(Payload::Executing {
        query_id,
        sql: sql.clone(),
        params: Params::none(),
        class,
        origin,
    });
    emitter.emit(Payload::Executed {
        query_id,
        took: Duration::from_micros(20),
        rows: Some(1),
    });
}

/// How often [`eventually`] and [`eventually_blocking`] look again.
const POLL: Duration = Duration::from_millis(2);

/// Resolves once `condition` holds, looking every 2 ms (and awaiting in
/// between, so actors on the current arbiter keep running), for at most
/// `timeout`; panics at the caller's line if it never does.
///
/// Tests wait with this instead of sleeping: a fixed sleep before an exact
/// assertion is too short on a loaded machine and too long everywhere else.
/// Needs a tokio time driver (actix's runtime has one).
#[track_caller]
pub fn eventually(
    mut condition: impl FnMut() -> bool,
    timeout: Duration,
) -> impl std::future::Future<Output = ()> {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = tokio::time::Instant::now() + timeout;
        while !condition() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition at {caller} not met within {timeout:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

/// [`eventually`] for plain threads: blocks between looks.
#[track_caller]
pub fn eventually_blocking(mut condition: impl FnMut() -> bool, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "condition at {} not met within {timeout:?}",
            std::panic::Location::caller()
        );
        std::thread::sleep(POLL);
    }
}
