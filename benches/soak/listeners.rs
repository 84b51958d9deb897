//! The soak's three subscribers, and the reconciliation of what they saw.
//!
//! - `faulty`: lossless and supervised; it panics on every Nth delivery,
//!   before recording the event, so the bus must restart it and redeliver
//!   that event. It checks that every connection's `seq` runs 1, 2, 3, ...
//!   with no gap or repeat, and that no event id comes twice.
//! - `reference`: lossless, never fails; counts what the bus published.
//! - `sleepy`: lossy; stalls now and then, so it misses events and must be
//!   told exactly how many (`Lagged`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use parking_lot::Mutex;
use switchboard::{Backend, Bus, Delivery, Event, Filter, Kind, Payload};

use super::Plan;

/// The three subscriptions' counters, shared with their threads and actors.
pub struct Listeners {
    /// What `faulty` recorded; outside the actor so restarts keep it.
    tally: Arc<Mutex<Tally>>,
    /// Deliveries to `faulty`, across restarts (each Nth one panics).
    deliveries: Arc<AtomicU64>,
    /// Instances of `faulty` made: its first, and one per restart (counted
    /// here, as the bus's own count ends with the pool's subscriptions).
    starts: Arc<AtomicU64>,
    fault_every: u64,
    /// Connection events `reference` received.
    published: Arc<AtomicU64>,
    sleepy_seen: Arc<AtomicU64>,
    /// The sum of the `Lagged` notices `sleepy` received.
    sleepy_dropped: Arc<AtomicU64>,
}

/// What the listeners saw, once settled.
pub struct Seen {
    pub published: u64,
    pub delivered: u64,
    pub connections: usize,
    pub restarts: u64,
    pub sleepy_seen: u64,
    pub sleepy_dropped: u64,
    /// Everything that contradicts exactly-once delivery or exact loss
    /// reports; empty when both held.
    pub problems: Vec<String>,
}

impl Listeners {
    /// Subscribes all three to `bus` (call inside an actix System, before
    /// the pool starts so that they see its connects too).
    pub fn attach(bus: &Bus, plan: &Plan) -> Self {
        quiet_injected_panics();
        let listeners = Listeners {
            tally: Arc::new(Mutex::new(Tally::with_room_for(plan.statements * 5))),
            deliveries: Arc::default(),
            starts: Arc::default(),
            fault_every: plan.fault_every,
            published: Arc::default(),
            sleepy_seen: Arc::default(),
            sleepy_dropped: Arc::default(),
        };
        let lossless = Delivery::lossless(4096).with_deadline(Duration::from_secs(60));
        let (tally, deliveries, starts, every) = (
            listeners.tally.clone(),
            listeners.deliveries.clone(),
            listeners.starts.clone(),
            plan.fault_every,
        );
        bus.subscribe_supervised(
            "faulty",
            move || {
                starts.fetch_add(1, Ordering::Relaxed);
                Faulty {
                    tally: tally.clone(),
                    deliveries: deliveries.clone(),
                    every,
                }
            },
            Filter::all(),
            lossless,
        );
        let published = listeners.published.clone();
        bus.subscribe_fn("reference", Filter::all(), lossless, move |e: Event| {
            // Not the Lagged probe meant for the lossy subscriber.
            if e.kind() != Kind::Lagged {
                published.fetch_add(1, Ordering::Relaxed);
            }
        })
        .expect("a subscriber thread");
        let (seen, dropped, stall_every, stall) = (
            listeners.sleepy_seen.clone(),
            listeners.sleepy_dropped.clone(),
            plan.stall_every,
            plan.stall,
        );
        bus.subscribe_fn(
            "sleepy",
            Filter::all(),
            Delivery::lossy(1024),
            move |e: Event| match e.payload() {
                Payload::Lagged { dropped: n } => {
                    dropped.fetch_add(*n, Ordering::Relaxed);
                }
                _ => {
                    if (seen.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(stall_every) {
                        std::thread::sleep(stall);
                    }
                }
            },
        )
        .expect("a subscriber thread");
        listeners
    }

    /// After shutdown: waits for everything to be delivered and reconciles
    /// the three. `statements` ran (each with its `Executing`), `failed` of
    /// them failed.
    pub async fn settle(&self, bus: &Bus, statements: u64, failed: u64) -> Seen {
        let flush = async || {
            bus.flush(Duration::from_secs(60))
                .await
                .expect("lossless subscribers catch up")
        };
        flush().await;
        self.settle_sleepy(bus).await;
        // The probe went to the lossless subscribers too.
        flush().await;
        let published = self.published.load(Ordering::Relaxed);
        let (sleepy_seen, sleepy_dropped) = (
            self.sleepy_seen.load(Ordering::Relaxed),
            self.sleepy_dropped.load(Ordering::Relaxed),
        );
        let restarts = self.starts.load(Ordering::Relaxed).saturating_sub(1);
        let faults = self.deliveries.load(Ordering::Relaxed) / self.fault_every;
        let tally = self.tally.lock();
        let mut problems = tally.problems(published, statements, failed);
        if sleepy_seen + sleepy_dropped != published {
            problems.push(format!(
                "sleepy saw {sleepy_seen} and was told of {sleepy_dropped} dropped, of {published}"
            ));
        }
        if restarts != faults {
            problems.push(format!("{restarts} restarts for {faults} injected faults"));
        }
        Seen {
            published,
            delivered: tally.events,
            connections: tally.connections.len(),
            restarts,
            sleepy_seen,
            sleepy_dropped,
            problems,
        }
    }

    /// Lets `sleepy` drain its queue, then publishes a zero-count `Lagged`
    /// probe so that a pending notice of what it missed is delivered; waits
    /// (at most 60 s) until what it saw and was told of accounts for every
    /// published event.
    async fn settle_sleepy(&self, bus: &Bus) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let queued = || {
            bus.stats()
                .iter()
                .find(|s| s.name == "sleepy")
                .map_or(0, |s| s.queued)
        };
        while queued() > 0 && Instant::now() < deadline {
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
        bus.publish(&Event::lagged("probe".into(), Backend::Sqlite, 0));
        let accounted = || {
            self.sleepy_seen.load(Ordering::Relaxed) + self.sleepy_dropped.load(Ordering::Relaxed)
        };
        while accounted() != self.published.load(Ordering::Relaxed) && Instant::now() < deadline {
            actix::clock::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// What `faulty` has seen.
#[derive(Default)]
struct Tally {
    /// Per connection: events so far (= the last seq) and whether `Closed`
    /// came.
    connections: HashMap<u64, (u64, bool)>,
    /// One bit per event id seen (ids are process-wide, from 1).
    ids: Vec<u64>,
    events: u64,
    executing: u64,
    executed: u64,
    problems: Vec<String>,
}

impl Tally {
    fn with_room_for(events: u64) -> Self {
        let mut ids = vec![0u64; (events / 64 + 1) as usize];
        // Touch every page now (the allocation is lazily zeroed), so that
        // the bitmap is resident from the start instead of showing as
        // growth in the memory curve.
        for word in ids.iter_mut().step_by(512) {
            *std::hint::black_box(word) = 0;
        }
        Tally {
            ids,
            ..Tally::default()
        }
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 20 {
            self.problems.push(p);
        }
    }

    fn record(&mut self, e: &Event) {
        let meta = e.meta();
        if e.kind() == Kind::Lagged {
            return; // a notice meant for the lossy subscriber
        }
        // The pool's own events (no connection) count their own sequence.
        let conn = meta.connection.unwrap_or(0);
        let (word, bit) = ((meta.id / 64) as usize, meta.id % 64);
        if word >= self.ids.len() {
            self.ids.resize((word + 1) * 2, 0);
        }
        if self.ids[word] & (1 << bit) != 0 {
            self.problem(format!("event id {} delivered twice", meta.id));
        }
        self.ids[word] |= 1 << bit;
        let (seen, closed) = *self.connections.get(&conn).unwrap_or(&(0, false));
        if closed {
            self.problem(format!(
                "connection {conn}: event seq {} after Closed",
                meta.seq
            ));
        }
        if meta.seq != seen + 1 {
            self.problem(format!("connection {conn}: seq {} after {seen}", meta.seq));
        }
        self.connections.insert(
            conn,
            (meta.seq.max(seen), closed || e.kind() == Kind::Closed),
        );
        self.events += 1;
        match e.kind() {
            Kind::Executing => self.executing += 1,
            Kind::Executed => self.executed += 1,
            _ => {}
        }
    }

    /// What contradicts exactly-once delivery: problems met on the way,
    /// and totals that disagree with the `reference` count, the emitters'
    /// own counts (each connection's last seq, that of its `Closed`), and
    /// the statements run.
    fn problems(&self, published: u64, statements: u64, failed: u64) -> Vec<String> {
        let mut problems = self.problems.clone();
        let emitted: u64 = self.connections.values().map(|(seq, _)| seq).sum();
        if self.events != published || emitted != published {
            problems.push(format!(
                "faulty recorded {} events, the emitters' last seqs sum to {emitted}, reference got {published}",
                self.events
            ));
        }
        for (conn, (seq, closed)) in &self.connections {
            if !closed && *conn != 0 {
                problems.push(format!("connection {conn}: no Closed after {seq} events"));
            }
        }
        if self.executing != statements || self.executed + failed != statements {
            problems.push(format!(
                "{statements} statements ({failed} failed): {} Executing, {} Executed",
                self.executing, self.executed
            ));
        }
        problems
    }
}

/// The lossless subscriber that fails on purpose.
struct Faulty {
    tally: Arc<Mutex<Tally>>,
    /// Deliveries so far, across restarts.
    deliveries: Arc<AtomicU64>,
    every: u64,
}

impl Actor for Faulty {
    type Context = Context<Self>;
}

/// The payload of the injected panics, which [`quiet_injected_panics`]
/// keeps off stderr.
const INJECTED: &str = "injected subscriber fault";

impl Handler<Event> for Faulty {
    type Result = ();
    fn handle(&mut self, e: Event, _: &mut Self::Context) {
        if (self.deliveries.fetch_add(1, Ordering::Relaxed) + 1).is_multiple_of(self.every) {
            std::panic::panic_any(INJECTED);
        }
        self.tally.lock().record(&e);
    }
}

/// Installs a panic hook that stays silent for the injected faults and
/// passes every other panic to the hook it replaces.
fn quiet_injected_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&INJECTED) {
                previous(info);
            }
        }));
    });
}
