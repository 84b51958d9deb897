//! Heap allocations per published event, counted by a counting global
//! allocator (`stats_alloc` wrapping the system allocator), for 1, 4 and 16
//! subscribers, Lossy and Lossless, with closure subscribers (a thread
//! each, as `TracingLogger`, `AuditLog` and channels use), with actor
//! subscribers (`Recipient<Event>`, pumped on the arbiter), with actors
//! started by `subscribe_actor` (on the arbiter, fed through a stream in
//! their context) and with supervised actor subscribers
//! (`subscribe_supervised`: each actor on an arbiter of its own, fed the
//! same way).
//!
//! The count covers the whole process between the first event and the
//! last subscriber having seen the last one: publishing (the emitter, the
//! queues), the pumps, and the subscribers' own handling (which does
//! nothing here but note the event's sequence number).
//!
//! `cargo bench --bench bus_alloc` (a plain program: it prints a table).

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actix::{Actor, Context, Handler};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchboard::{Backend, Bus, Delivery, Event, Filter, Origin, Payload, StatementClass};
use switchboard_core::Emitter;
use switchboard_core::testing::emit_statement;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const EVENTS: u64 = 100_000;
const WARM_UP: u64 = 10_000;
const CAPACITY: usize = 1024;

/// The highest sequence number a subscriber has seen.
type Seen = Arc<AtomicU64>;

/// An actor subscriber that notes what it saw.
struct Noter(Seen);

impl Actor for Noter {
    type Context = Context<Self>;
}

impl Handler<Event> for Noter {
    type Result = ();
    fn handle(&mut self, event: Event, _: &mut Self::Context) {
        self.0.fetch_max(event.meta().seq, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Closure,
    Actor,
    PlainActor,
    Supervised,
}

/// Publishes `events` events as statements, yielding between statements
/// so that pumps on the same thread (actor subscribers) get to run.
async fn publish(emitter: &Emitter, bus: &Bus, sql: &Arc<str>, events: u64) {
    for query_id in 0..events / 2 {
        bus.ready().await.expect("room for the statement");
        emit_statement(emitter, query_id, sql, StatementClass::Read, Origin::Load);
        tokio::task::yield_now().await;
    }
}

/// Publishes a last event once the queues have had time to drain (so a
/// lossy queue has room for it), and waits until every subscriber saw it.
async fn settle(emitter: &Emitter, seen: &[Seen]) {
    tokio::time::sleep(Duration::from_millis(100)).await;
    emitter.emit(Payload::CheckedIn {
        held: Duration::ZERO,
    });
    let last = emitter.published();
    while seen.iter().any(|s| s.load(Ordering::Relaxed) < last) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

struct Row {
    kind: Kind,
    contract: &'static str,
    subscribers: usize,
    allocations: f64,
    reallocations: f64,
    bytes: f64,
    dropped: u64,
}

fn count(system: &actix::SystemRunner, kind: Kind, contract: &'static str, n: usize) -> Row {
    let delivery = match contract {
        "lossy" => Delivery::lossy(CAPACITY),
        _ => Delivery::lossless(CAPACITY),
    };
    system.block_on(async {
        let bus = Bus::new();
        let seen: Vec<Seen> = (0..n).map(|_| Seen::default()).collect();
        for (i, s) in seen.iter().enumerate() {
            let s = s.clone();
            let name = format!("sub{i}");
            match kind {
                Kind::Closure => {
                    bus.subscribe_fn(&name, Filter::all(), delivery, move |e| {
                        s.fetch_max(e.meta().seq, Ordering::Relaxed);
                    })
                    .expect("a subscription");
                }
                Kind::Actor => {
                    let addr = Noter(s).start();
                    bus.subscribe(&name, addr.recipient(), Filter::all(), delivery);
                }
                Kind::PlainActor => {
                    bus.subscribe_actor(&name, Noter(s), Filter::all(), delivery);
                }
                Kind::Supervised => {
                    bus.subscribe_supervised(
                        &name,
                        move || Noter(s.clone()),
                        Filter::all(),
                        delivery,
                    );
                }
            }
        }
        let emitter = Emitter::new(bus.clone(), Arc::from("bench"), Backend::Postgres, 1);
        let sql: Arc<str> = Arc::from("SELECT id, name FROM users WHERE id = $1");
        // Threads started, queues grown to their working size.
        publish(&emitter, &bus, &sql, WARM_UP).await;
        settle(&emitter, &seen).await;

        let before = emitter.published();
        let region = Region::new(GLOBAL);
        publish(&emitter, &bus, &sql, EVENTS).await;
        settle(&emitter, &seen).await;
        let change = region.change();
        let events = (emitter.published() - before) as f64;

        let stats = bus.stats();
        for s in &stats {
            bus.unsubscribe(s.id);
        }
        Row {
            kind,
            contract,
            subscribers: n,
            allocations: change.allocations as f64 / events,
            reallocations: change.reallocations as f64 / events,
            bytes: change.bytes_allocated as f64 / events,
            dropped: stats.iter().map(|s| s.dropped).sum(),
        }
    })
}

fn main() {
    // Listed by cargo nextest or `cargo test --benches`: nothing to list.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // Only under `cargo bench` (which passes `--bench`): test runners start
    // bench targets too, to smoke-run them.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("bus_alloc: a benchmark; run it with `cargo bench --bench bus_alloc`");
        return;
    }
    let system = actix::System::new();
    let mut rows = Vec::new();
    for kind in [
        Kind::Closure,
        Kind::Actor,
        Kind::PlainActor,
        Kind::Supervised,
    ] {
        for contract in ["lossy", "lossless"] {
            for n in [1, 4, 16] {
                let row = count(&system, kind, contract, n);
                eprintln!(
                    "  {:?}/{}/{}: {:.3} allocations per event",
                    row.kind, row.contract, row.subscribers, row.allocations
                );
                rows.push(row);
            }
        }
    }
    println!();
    println!("## bus_alloc summary (per published event, whole process, {EVENTS} events)");
    println!();
    println!(
        "| subscriber | contract | subscribers | allocations | reallocations | bytes allocated | dropped (lossy) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {:?} | {} | {} | {:.3} | {:.3} | {:.0} | {} |",
            r.kind, r.contract, r.subscribers, r.allocations, r.reallocations, r.bytes, r.dropped
        );
    }
}
