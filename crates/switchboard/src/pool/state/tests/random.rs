//! Thousands of random input sequences, with the invariants checked after
//! every step: no connection lent twice, no more than the maximum open or
//! opening, every caller answered exactly once, nobody queued while
//! nothing is under way to serve them, and every drain completes.

use std::collections::{HashMap, HashSet};

use super::super::lend::STALLED_AFTER;
use super::*;

/// A small deterministic generator (xorshift), so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        (!items.is_empty()).then(|| items[self.below(items.len())])
    }
}

/// The world around the pool: what the manager and the callers would see.
struct World {
    pool: PoolState,
    limits: Limits,
    now: Instant,
    connects: Vec<ConnectionId>,
    backoffs: Vec<ConnectionId>,
    pings: Vec<ConnectionId>,
    closes: Vec<ConnectionId>,
    /// Connections lent whole, and places held on pipelining ones.
    whole: HashSet<ConnectionId>,
    places: HashMap<ConnectionId, usize>,
    /// Queued callers: still waiting (`true`) or gone without the pool
    /// knowing yet (`false`).
    queued: HashMap<WaiterId, bool>,
    answers: HashMap<WaiterId, u32>,
    drained: bool,
    /// Inputs and actions so far, shown when a sequence fails.
    trace: Vec<String>,
}

impl World {
    fn new(limits: Limits) -> Self {
        World {
            pool: PoolState::new(limits),
            limits,
            now: Instant::now(),
            connects: Vec::new(),
            backoffs: Vec::new(),
            pings: Vec::new(),
            closes: Vec::new(),
            whole: HashSet::new(),
            places: HashMap::new(),
            queued: HashMap::new(),
            answers: HashMap::new(),
            drained: false,
            trace: Vec::new(),
        }
    }

    fn hold(&mut self, conn: ConnectionId, place: Place) -> Result<(), String> {
        if self.whole.contains(&conn) {
            return Err(format!("{conn} lent while lent whole"));
        }
        match place {
            Place::Whole => {
                if self.places.get(&conn).is_some_and(|n| *n > 0) {
                    return Err(format!("{conn} lent whole while pipelining"));
                }
                self.whole.insert(conn);
            }
            Place::Pipelined => {
                let n = self.places.entry(conn).or_default();
                *n += 1;
                if *n > self.limits.pipeline {
                    return Err(format!("{conn} carries {n} pipelined statements"));
                }
            }
        }
        if self.pings.contains(&conn) || self.closes.contains(&conn) {
            return Err(format!("{conn} lent while pinged or closing"));
        }
        Ok(())
    }

    fn answer(&mut self, waiter: WaiterId) -> Result<bool, String> {
        let n = self.answers.entry(waiter).or_default();
        *n += 1;
        if *n > 1 {
            return Err(format!("waiter {waiter} answered {n} times"));
        }
        Ok(self.queued.remove(&waiter).unwrap_or(false))
    }

    /// Carries out every action the pool decided on.
    fn act(&mut self) -> Result<(), String> {
        while let Some(action) = self.pool.next_action() {
            self.trace.push(format!("  -> {action:?}"));
            match action {
                Action::Grant {
                    waiter,
                    conn,
                    place,
                    ..
                } => {
                    if self.answer(waiter)? {
                        self.hold(conn, place)?;
                    } else {
                        self.trace.push(format!("refused {:?} {:?}", conn, place));
                        self.pool.refused(conn, place, self.now);
                    }
                }
                Action::Refuse { waiter, .. } => {
                    self.answer(waiter)?;
                }
                Action::Connect { id, .. } => self.connects.push(id),
                Action::Backoff { id, .. } => self.backoffs.push(id),
                Action::CancelBackoff { id } => self.backoffs.retain(|b| *b != id),
                Action::Ping { conn } => {
                    if self.whole.contains(&conn) || self.places.contains_key(&conn) {
                        return Err(format!("{conn} pinged while lent"));
                    }
                    self.pings.push(conn);
                }
                Action::Close { conn, .. } => {
                    if self.whole.contains(&conn) || self.places.contains_key(&conn) {
                        return Err(format!("{conn} closed while lent"));
                    }
                    self.closes.push(conn);
                }
                Action::Drained => self.drained = true,
            }
        }
        self.pool.check_invariants()?;
        // Nobody waits for nothing: a live caller is queued only while
        // something is under way that will serve or turn it away.
        if self.queued.values().any(|alive| *alive)
            && self.pool.connecting_count() == 0
            && self.pings.is_empty()
            && self.whole.is_empty()
            && self.places.is_empty()
        {
            return Err("callers wait, and nothing is under way to serve them".into());
        }
        Ok(())
    }

    /// The placement policy: a statement not known fast gets a connection
    /// to itself; nothing joins a stalled pipeline; a write joins one only
    /// when no connection is idle.
    fn check_placement(
        &self,
        want: Want,
        conn: ConnectionId,
        place: Place,
        before: &HashMap<ConnectionId, Use>,
        idle_free: bool,
    ) -> Result<(), String> {
        if want == Want::Whole && place != Place::Whole {
            return Err(format!("{want:?} placed {place:?} on {conn}"));
        }
        if let Some(Use::Pipelined { head_since, .. }) = before.get(&conn) {
            if self.now.saturating_duration_since(*head_since) >= STALLED_AFTER {
                return Err(format!(
                    "{want:?} joined {conn}, stalled since {head_since:?}"
                ));
            }
            if want == Want::Write && idle_free {
                return Err(format!("a write joined {conn} while a connection was idle"));
            }
        }
        Ok(())
    }

    fn release(&mut self, rng: &mut Rng) {
        let whole: Vec<_> = self.whole.iter().copied().collect();
        let piped: Vec<_> = self.places.keys().copied().collect();
        let gone = rng.chance(10);
        if rng.chance(50)
            && let Some(conn) = rng.pick(&whole)
        {
            self.whole.remove(&conn);
            let how = if gone { Release::Gone } else { Release::Free };
            self.trace.push(format!("released {:?} {:?}", conn, how));
            self.pool.released(conn, how, self.now);
        } else if let Some(conn) = rng.pick(&piped) {
            if gone {
                // Every statement on it fails; their releases say so.
                self.places.remove(&conn);
                self.trace
                    .push(format!("released {:?} {:?}", conn, Release::Gone));
                self.pool.released(conn, Release::Gone, self.now);
            } else {
                let n = self.places.get_mut(&conn).expect("held");
                *n -= 1;
                if *n == 0 {
                    self.places.remove(&conn);
                }
                self.trace
                    .push(format!("released {:?} {:?}", conn, Release::PlaceFreed));
                self.pool.released(conn, Release::PlaceFreed, self.now);
            }
        }
    }

    fn step(&mut self, rng: &mut Rng) -> Result<(), String> {
        match rng.below(9) {
            0 | 1 => {
                // Callers that gave up are forgotten before one arrives.
                let gone: Vec<_> = self
                    .queued
                    .iter()
                    .filter(|(_, alive)| !**alive)
                    .map(|(w, _)| *w)
                    .collect();
                for w in gone {
                    if rng.chance(70) {
                        self.queued.remove(&w);
                        self.trace.push(format!("abandon {:?}", w));
                        self.pool.abandon(w);
                    }
                }
                let want = [Want::Whole, Want::Read, Want::Write][rng.below(3)];
                let states: HashMap<ConnectionId, Use> =
                    self.pool.open.iter().map(|(c, o)| (*c, o.state)).collect();
                let idle_free = self
                    .pool
                    .idle
                    .last()
                    .is_some_and(|(_, since)| !self.pool.needs_ping(*since, self.now));
                // Half the callers first try to serve themselves, as a
                // statement sent through the handle does (`Ledger::lend_now`);
                // on `None` nothing may have changed, and they arrive at
                // the manager.
                if rng.chance(50) {
                    let before = (
                        self.pool.idle.clone(),
                        self.pool.waiting(),
                        self.pool.settled(),
                    );
                    let lent = self.pool.lend_now(want, self.now);
                    self.trace.push(format!("lend_now {want:?}: {lent:?}"));
                    match lent {
                        Some((conn, place)) => {
                            if !self.pool.settled() {
                                return Err("lend_now left the manager an action".into());
                            }
                            self.check_placement(want, conn, place, &states, idle_free)?;
                            return self.hold(conn, place).and_then(|()| self.act());
                        }
                        None => {
                            let after = (
                                self.pool.idle.clone(),
                                self.pool.waiting(),
                                self.pool.settled(),
                            );
                            if before != after {
                                return Err("lend_now changed the state and lent nothing".into());
                            }
                        }
                    }
                }
                let arrival = self.pool.arrive(want, self.now);
                self.trace.push(format!("arrive {want:?}: {arrival:?}"));
                match arrival {
                    Arrival::Now { conn, place } => {
                        self.check_placement(want, conn, place, &states, idle_free)?;
                        self.hold(conn, place)?
                    }
                    Arrival::Queued(w) => {
                        self.queued.insert(w, true);
                    }
                    Arrival::ShuttingDown => {}
                }
            }
            2 => {
                let alive: Vec<_> = self
                    .queued
                    .iter()
                    .filter(|(_, a)| **a)
                    .map(|(w, _)| *w)
                    .collect();
                if let Some(w) = rng.pick(&alive) {
                    self.queued.insert(w, false);
                }
            }
            3 | 4 => self.release(rng),
            5 => {
                if !self.connects.is_empty() {
                    let id = self.connects.swap_remove(rng.below(self.connects.len()));
                    if rng.chance(75) {
                        self.trace.push(format!("connected {:?}", id));
                        self.pool.connected(id, self.now);
                    } else {
                        self.trace.push(format!("connect_failed {:?}", id));
                        self.pool.connect_failed(id, rng.chance(80));
                    }
                }
            }
            6 => {
                if !self.backoffs.is_empty() {
                    let id = self.backoffs.swap_remove(rng.below(self.backoffs.len()));
                    self.trace.push(format!("retry_due {:?}", id));
                    self.pool.retry_due(id);
                }
                if !self.closes.is_empty() {
                    self.closes.swap_remove(rng.below(self.closes.len()));
                    self.trace.push("closed".into());
                    self.pool.closed();
                }
            }
            7 => {
                if !self.pings.is_empty() {
                    let conn = self.pings.swap_remove(rng.below(self.pings.len()));
                    self.trace.push(format!("pinged {:?}", conn));
                    self.pool.pinged(conn, rng.chance(80), self.now);
                }
            }
            _ => {
                // Now and then long enough for idle timeouts and pings,
                // mostly about as long as pipelined statements take.
                self.now += if rng.chance(30) {
                    Duration::from_millis(rng.below(4000) as u64)
                } else {
                    Duration::from_micros(rng.below(1500) as u64)
                };
                self.trace.push("reap".into());
                self.pool.reap(self.now);
            }
        }
        self.act()
    }

    /// Shuts down and lets everything under way finish.
    fn drain(&mut self, rng: &mut Rng) -> Result<(), String> {
        self.trace.push("shutdown".into());
        self.pool.shutdown();
        self.act()?;
        for _ in 0..10_000 {
            if self.drained {
                break;
            }
            if !self.whole.is_empty() || !self.places.is_empty() {
                self.release(rng);
            } else if let Some(id) = self.connects.pop() {
                if rng.chance(50) {
                    self.trace.push(format!("connected {:?}", id));
                    self.pool.connected(id, self.now);
                } else {
                    self.trace
                        .push(format!("connect_failed {:?} {:?}", id, true));
                    self.pool.connect_failed(id, true);
                }
            } else if let Some(conn) = self.pings.pop() {
                self.trace.push(format!("pinged {:?}", conn));
                self.pool.pinged(conn, rng.chance(50), self.now);
            } else if self.closes.pop().is_some() {
                self.trace.push("closed".into());
                self.pool.closed();
            } else if let Some(id) = self.backoffs.pop() {
                self.trace.push(format!("retry_due {:?}", id));
                self.pool.retry_due(id);
            }
            self.act()?;
        }
        if !self.drained {
            return Err("the drain never completed".into());
        }
        if let Some((w, _)) = self.queued.iter().find(|(_, alive)| **alive) {
            return Err(format!("waiter {w} was never answered"));
        }
        Ok(())
    }
}

#[test]
fn random_input_sequences_keep_the_books_straight() {
    for seed in 1..=3000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let limits = Limits {
            min: rng.below(3),
            max: 1 + rng.below(4),
            pipeline: 1 + rng.below(4),
            ping_after: rng.chance(50).then(|| Duration::from_secs(5)),
            check_every_lend: rng.chance(20),
            idle_timeout: rng.chance(50).then(|| Duration::from_secs(8)),
            max_lifetime: rng.chance(30).then(|| Duration::from_secs(20)),
        };
        let limits = Limits {
            max: limits.max.max(limits.min),
            ..limits
        };
        let mut world = World::new(limits);
        world.pool.warm();
        let outcome = world.act().and_then(|()| {
            for _ in 0..200 {
                world.step(&mut rng)?;
            }
            world.drain(&mut rng)
        });
        if let Err(e) = outcome {
            let skip = world.trace.len().saturating_sub(60);
            let trace = world.trace[skip..].join("\n");
            panic!("seed {seed} ({limits:?}): {e}\n{trace}\n{:#?}", world.pool);
        }
    }
}
