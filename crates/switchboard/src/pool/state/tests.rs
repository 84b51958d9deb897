//! The pool's decisions, tested without actix or a database: each test
//! feeds inputs and reads the actions, as the manager would.

use std::collections::{HashMap, HashSet};

use super::*;

fn limits(min: usize, max: usize) -> Limits {
    Limits {
        min,
        max,
        pipeline: 1,
        ping_after: None,
        idle_timeout: None,
        max_lifetime: None,
    }
}

fn actions(pool: &mut PoolState) -> Vec<Action> {
    std::iter::from_fn(|| pool.next_action()).collect()
}

/// Connects every slot the pool asked for; returns their ids.
fn connect_all(pool: &mut PoolState, now: Instant) -> Vec<ConnectionId> {
    let mut ids = Vec::new();
    loop {
        let connects: Vec<_> = actions(pool)
            .into_iter()
            .filter_map(|a| match a {
                Action::Connect { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        if connects.is_empty() {
            return ids;
        }
        for id in connects {
            pool.connected(id, now);
            ids.push(id);
        }
    }
}

fn granted(actions: &[Action]) -> Vec<(WaiterId, ConnectionId, Place)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Grant {
                waiter,
                conn,
                place,
                ..
            } => Some((*waiter, *conn, *place)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_free_connection_is_lent_at_once() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let [conn] = connect_all(&mut pool, now)[..] else {
        panic!("one connection expected");
    };
    assert_eq!(
        pool.arrive(false, now),
        Arrival::Now {
            conn,
            place: Place::Whole
        }
    );
    assert_eq!(pool.idle_count(), 0);
}

#[test]
fn callers_are_served_in_arrival_order() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    assert!(matches!(pool.arrive(false, now), Arrival::Now { .. }));
    let queued: Vec<_> = (0..3)
        .map(|_| match pool.arrive(false, now) {
            Arrival::Queued(w) => w,
            other => panic!("expected to queue, got {other:?}"),
        })
        .collect();
    assert!(actions(&mut pool).is_empty(), "at the maximum: no connect");
    let mut served = Vec::new();
    for _ in 0..3 {
        pool.released(conn, Release::Free, now);
        let grants = granted(&actions(&mut pool));
        assert_eq!(grants.len(), 1);
        served.push(grants[0].0);
    }
    assert_eq!(served, queued);
}

#[test]
fn a_caller_arriving_behind_a_queue_waits_its_turn() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 1));
    assert!(matches!(pool.arrive(false, now), Arrival::Queued(_)));
    let conn = connect_all(&mut pool, now);
    assert_eq!(conn.len(), 1);
    // The queued caller got it; a second caller queues even though the
    // first may give it back at once.
    assert!(matches!(pool.arrive(false, now), Arrival::Queued(_)));
}

#[test]
fn the_pool_grows_for_callers_up_to_its_maximum() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 2));
    for _ in 0..5 {
        pool.arrive(false, now);
    }
    let connects = actions(&mut pool)
        .iter()
        .filter(|a| matches!(a, Action::Connect { .. }))
        .count();
    assert_eq!(connects, 2);
    assert_eq!(pool.connecting_count(), 2);
}

#[test]
fn the_minimum_is_refilled_without_callers() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(2, 4));
    pool.warm();
    let ids = connect_all(&mut pool, now);
    assert_eq!(ids.len(), 2);
    let Arrival::Now { conn, .. } = pool.arrive(false, now) else {
        panic!("a connection was idle");
    };
    pool.released(conn, Release::Gone, now);
    let refill = actions(&mut pool);
    assert!(
        matches!(refill[..], [Action::Connect { attempt: 1, .. }]),
        "{refill:?}"
    );
}

#[test]
fn a_failed_connect_is_retried_while_needed_and_counted_meanwhile() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 1));
    let Arrival::Queued(waiter) = pool.arrive(false, now) else {
        panic!("nothing open: the caller queues");
    };
    let [Action::Connect { id, attempt: 1 }] = actions(&mut pool)[..] else {
        panic!("one connect expected");
    };
    assert!(pool.connect_failed(id, true));
    assert_eq!(actions(&mut pool), [Action::Backoff { id, attempt: 2 }]);
    // Still counted: a second caller starts no attempt of its own.
    assert_eq!(pool.connecting_count(), 1);
    pool.arrive(false, now);
    assert!(actions(&mut pool).is_empty());
    pool.retry_due(id);
    assert_eq!(actions(&mut pool), [Action::Connect { id, attempt: 2 }]);
    pool.connected(id, now);
    assert_eq!(granted(&actions(&mut pool)), [(waiter, id, Place::Whole)]);
}

#[test]
fn a_retry_nobody_needs_any_more_is_dropped() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 1));
    let Arrival::Queued(waiter) = pool.arrive(false, now) else {
        panic!("queued");
    };
    let [Action::Connect { id, .. }] = actions(&mut pool)[..] else {
        panic!("one connect");
    };
    assert!(pool.connect_failed(id, true));
    actions(&mut pool);
    pool.abandon(waiter);
    pool.retry_due(id);
    assert!(actions(&mut pool).is_empty());
    assert_eq!(pool.connecting_count(), 0);
}

#[test]
fn a_permanent_connect_failure_turns_the_queue_away() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 1));
    let Arrival::Queued(w1) = pool.arrive(false, now) else {
        panic!("queued");
    };
    let Arrival::Queued(w2) = pool.arrive(false, now) else {
        panic!("queued");
    };
    let [Action::Connect { id, .. }] = actions(&mut pool)[..] else {
        panic!("one connect");
    };
    assert!(!pool.connect_failed(id, false));
    let refused = actions(&mut pool);
    assert_eq!(
        refused,
        [
            Action::Refuse {
                waiter: w1,
                why: Refusal::ConnectFailed
            },
            Action::Refuse {
                waiter: w2,
                why: Refusal::ConnectFailed
            }
        ]
    );
}

#[test]
fn a_connection_idle_too_long_is_pinged_before_it_is_lent() {
    let start = Instant::now();
    let mut pool = PoolState::new(Limits {
        ping_after: Some(Duration::from_secs(30)),
        ..limits(1, 1)
    });
    pool.warm();
    let conn = connect_all(&mut pool, start)[0];
    let later = start + Duration::from_secs(31);
    let Arrival::Queued(waiter) = pool.arrive(false, later) else {
        panic!("the idle connection needs a ping first");
    };
    assert_eq!(actions(&mut pool), [Action::Ping { conn }]);
    pool.pinged(conn, true, later);
    assert_eq!(granted(&actions(&mut pool)), [(waiter, conn, Place::Whole)]);
}

#[test]
fn a_connection_failing_its_ping_is_replaced() {
    let start = Instant::now();
    let mut pool = PoolState::new(Limits {
        ping_after: Some(Duration::from_secs(30)),
        ..limits(1, 1)
    });
    pool.warm();
    let conn = connect_all(&mut pool, start)[0];
    let later = start + Duration::from_secs(31);
    let Arrival::Queued(waiter) = pool.arrive(false, later) else {
        panic!("queued");
    };
    actions(&mut pool);
    pool.pinged(conn, false, later);
    let [Action::Connect { id, .. }] = actions(&mut pool)[..] else {
        panic!("a replacement is opened");
    };
    pool.connected(id, later);
    assert_eq!(granted(&actions(&mut pool)), [(waiter, id, Place::Whole)]);
}

#[test]
fn pipelinable_callers_share_a_connection_up_to_the_depth() {
    let now = Instant::now();
    let mut pool = PoolState::new(Limits {
        pipeline: 3,
        ..limits(1, 1)
    });
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    for _ in 0..3 {
        assert_eq!(
            pool.arrive(true, now),
            Arrival::Now {
                conn,
                place: Place::Pipelined
            }
        );
    }
    let Arrival::Queued(fourth) = pool.arrive(true, now) else {
        panic!("the pipeline is full");
    };
    pool.released(conn, Release::PlaceFreed, now);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(fourth, conn, Place::Pipelined)]
    );
}

#[test]
fn a_whole_connection_waits_for_its_pipeline_to_drain() {
    let now = Instant::now();
    let mut pool = PoolState::new(Limits {
        pipeline: 4,
        ..limits(1, 1)
    });
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    pool.arrive(true, now);
    pool.arrive(true, now);
    let Arrival::Queued(lease) = pool.arrive(false, now) else {
        panic!("a lease waits for the pipeline");
    };
    pool.released(conn, Release::PlaceFreed, now);
    assert!(granted(&actions(&mut pool)).is_empty());
    pool.released(conn, Release::PlaceFreed, now);
    assert_eq!(granted(&actions(&mut pool)), [(lease, conn, Place::Whole)]);
}

#[test]
fn a_grant_refused_by_a_caller_that_gave_up_goes_to_the_next() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    pool.arrive(false, now);
    let Arrival::Queued(gone) = pool.arrive(false, now) else {
        panic!("queued");
    };
    let Arrival::Queued(next) = pool.arrive(false, now) else {
        panic!("queued");
    };
    pool.released(conn, Release::Free, now);
    assert_eq!(granted(&actions(&mut pool)), [(gone, conn, Place::Whole)]);
    pool.refused(conn, Place::Whole, now);
    assert_eq!(granted(&actions(&mut pool)), [(next, conn, Place::Whole)]);
}

#[test]
fn a_connection_past_its_lifetime_is_closed_when_it_comes_back() {
    let start = Instant::now();
    let mut pool = PoolState::new(Limits {
        max_lifetime: Some(Duration::from_secs(60)),
        ..limits(1, 2)
    });
    pool.warm();
    let conn = connect_all(&mut pool, start)[0];
    pool.arrive(false, start);
    pool.released(conn, Release::Free, start + Duration::from_secs(61));
    let acts = actions(&mut pool);
    assert_eq!(
        acts[0],
        Action::Close {
            conn,
            reason: CloseReason::Lifetime
        }
    );
    assert!(matches!(acts[1], Action::Connect { .. }), "{acts:?}");
}

#[test]
fn idle_connections_above_the_minimum_are_reaped() {
    let start = Instant::now();
    let mut pool = PoolState::new(Limits {
        idle_timeout: Some(Duration::from_secs(10)),
        ..limits(1, 3)
    });
    pool.arrive(false, start);
    pool.arrive(false, start);
    pool.arrive(false, start);
    let ids = connect_all(&mut pool, start);
    assert_eq!(ids.len(), 3);
    for id in &ids {
        pool.released(*id, Release::Free, start);
    }
    pool.reap(start + Duration::from_secs(11));
    let closes = actions(&mut pool)
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Close {
                    reason: CloseReason::Idle,
                    ..
                }
            )
        })
        .count();
    assert_eq!(closes, 2, "the minimum of one stays");
}

#[test]
fn a_drain_refuses_the_queue_closes_idle_and_waits_for_the_rest() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 2));
    pool.warm();
    let lent = connect_all(&mut pool, now)[0];
    assert!(matches!(pool.arrive(false, now), Arrival::Now { .. }));
    let Arrival::Queued(waiter) = pool.arrive(false, now) else {
        panic!("queued");
    };
    let [Action::Connect { id: opening, .. }] = actions(&mut pool)[..] else {
        panic!("the pool grows for the waiter");
    };
    pool.shutdown();
    assert_eq!(
        actions(&mut pool),
        [Action::Refuse {
            waiter,
            why: Refusal::ShuttingDown
        }]
    );
    assert_eq!(pool.arrive(false, now), Arrival::ShuttingDown);
    // A connect finishing during the drain is closed at once.
    pool.connected(opening, now);
    assert_eq!(
        actions(&mut pool),
        [Action::Close {
            conn: opening,
            reason: CloseReason::Shutdown
        }]
    );
    pool.closed();
    assert!(actions(&mut pool).is_empty(), "one is still lent");
    pool.released(lent, Release::Free, now);
    assert_eq!(
        actions(&mut pool),
        [Action::Close {
            conn: lent,
            reason: CloseReason::Shutdown
        }]
    );
    pool.closed();
    assert_eq!(actions(&mut pool), [Action::Drained]);
}

#[test]
fn a_drain_closes_idle_connections_at_once() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(2, 2));
    pool.warm();
    let ids = connect_all(&mut pool, now);
    pool.shutdown();
    let closes = actions(&mut pool);
    assert_eq!(closes.len(), 2, "{closes:?}");
    assert!(closes.iter().all(|a| matches!(a, Action::Close { conn, reason: CloseReason::Shutdown } if ids.contains(conn))));
    pool.closed();
    pool.closed();
    assert_eq!(actions(&mut pool), [Action::Drained]);
}

#[test]
fn a_drain_cancels_backoffs() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let [Action::Connect { id, .. }] = actions(&mut pool)[..] else {
        panic!("one connect");
    };
    assert!(pool.connect_failed(id, true));
    actions(&mut pool);
    pool.shutdown();
    assert_eq!(
        actions(&mut pool),
        [Action::CancelBackoff { id }, Action::Drained]
    );
    let _ = now;
}

// ---- randomized: thousands of input sequences, invariants after each step ----

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
                self.trace.push(format!("released {:?} {:?}", conn, Release::Gone));
                self.pool.released(conn, Release::Gone, self.now);
            } else {
                let n = self.places.get_mut(&conn).expect("held");
                *n -= 1;
                if *n == 0 {
                    self.places.remove(&conn);
                }
                self.trace.push(format!("released {:?} {:?}", conn, Release::PlaceFreed));
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
                let arrival = self.pool.arrive(rng.chance(50), self.now);
                self.trace.push(format!("arrive: {arrival:?}"));
                match arrival {
                    Arrival::Now { conn, place } => self.hold(conn, place)?,
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
                    self.trace.push(format!("closed "));
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
                self.now += Duration::from_millis(rng.below(4000) as u64);
                self.trace.push(format!("reap "));
                self.pool.reap(self.now);
            }
        }
        self.act()
    }

    /// Shuts down and lets everything under way finish.
    fn drain(&mut self, rng: &mut Rng) -> Result<(), String> {
        self.trace.push(format!("shutdown "));
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
                    self.trace.push(format!("connect_failed {:?} {:?}", id, true));
                    self.pool.connect_failed(id, true);
                }
            } else if let Some(conn) = self.pings.pop() {
                self.trace.push(format!("pinged {:?}", conn));
                self.pool.pinged(conn, rng.chance(50), self.now);
            } else if self.closes.pop().is_some() {
                self.trace.push(format!("closed "));
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
