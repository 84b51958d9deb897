//! The pool's decisions, tested without actix or a database: each test
//! feeds inputs and reads the actions, as the manager would.

use std::time::Duration;

use super::*;

fn limits(min: usize, max: usize) -> Limits {
    Limits {
        min,
        max,
        pipeline: 1,
        ping_after: None,
        check_every_lend: false,
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
        pool.arrive(Want::Whole, now),
        Arrival::Now {
            conn,
            place: Place::Whole
        }
    );
    assert_eq!(pool.idle_count(), 0);
}

/// A caller takes a free connection without the manager (`lend_now`) only
/// where `arrive` would serve it at once, and on `None` nothing has changed
/// and nothing is left for the manager: it then goes to the manager, which
/// queues it. Tried where a caller must not be served: behind a queue (it
/// would jump it), during a drain, and when the idle connection needs a
/// ping first.
#[test]
fn a_caller_serves_itself_only_where_arriving_would_serve_it_at_once() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(2, 2));
    pool.warm();
    let ids = connect_all(&mut pool, now);
    assert_eq!(ids.len(), 2);
    let Some((a, Place::Whole)) = pool.lend_now(Want::Whole, now) else {
        panic!("an idle connection is free");
    };
    assert!(pool.settled(), "lending now leaves the manager nothing");
    assert_eq!(pool.idle_count(), 1);
    // The other one, then nothing: the caller goes to the manager.
    let Some((b, Place::Whole)) = pool.lend_now(Want::Whole, now) else {
        panic!("the second connection is free");
    };
    assert_ne!(a, b);
    assert_eq!(pool.lend_now(Want::Whole, now), None);
    assert!(pool.settled() && pool.waiting() == 0);
    // Both come back. A caller queued before this one (its connection
    // still to be granted, or its ping under way): this one must not jump
    // it, though a connection is idle.
    pool.released(a, Release::Free, now);
    pool.released(b, Release::Free, now);
    assert_eq!(pool.idle_count(), 2);
    pool.waiters.push_back(Waiter {
        id: 99,
        since: now,
        want: Want::Whole,
    });
    assert_eq!(pool.lend_now(Want::Whole, now), None);
    assert_eq!(pool.lend_now(Want::Read, now), None);
    assert_eq!((pool.idle_count(), pool.waiting()), (2, 1));
    assert!(pool.settled());
    pool.abandon(99);
    // A connection idle past `ping_after` is pinged first: the manager's.
    let mut pinged = PoolState::new(Limits {
        ping_after: Some(Duration::from_secs(30)),
        ..limits(1, 1)
    });
    pinged.warm();
    connect_all(&mut pinged, now);
    assert_eq!(
        pinged.lend_now(Want::Whole, now + Duration::from_secs(31)),
        None
    );
    assert!(pinged.settled() && pinged.idle_count() == 1);
    // Draining: nothing is lent.
    pool.shutdown();
    actions(&mut pool);
    assert_eq!(pool.lend_now(Want::Whole, now), None);
}

#[test]
fn callers_are_served_in_arrival_order() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Now { .. }));
    let queued: Vec<_> = (0..3)
        .map(|_| match pool.arrive(Want::Whole, now) {
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

/// A connection records its own return and wakes the manager only when
/// the state is not `settled` afterwards: a queued caller, a connection to
/// close, a drain that ended must each leave it unsettled.
#[test]
fn a_return_is_settled_only_when_it_leaves_nothing_to_do() {
    let now = Instant::now();
    let mut pool = PoolState::new(Limits {
        max_lifetime: Some(Duration::from_secs(60)),
        ..limits(1, 1)
    });
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    assert!(pool.settled());
    // Nobody waiting: settled.
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Now { .. }));
    pool.released(conn, Release::Free, now);
    assert!(pool.settled());
    // A caller queued meanwhile: its grant is the manager's to deliver.
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Now { .. }));
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Queued(_)));
    assert!(actions(&mut pool).is_empty());
    pool.released(conn, Release::Free, now);
    assert!(!pool.settled());
    assert_eq!(granted(&actions(&mut pool)).len(), 1);
    assert!(pool.settled());
    // Past its lifetime: the close is the manager's.
    pool.released(conn, Release::Free, now + Duration::from_secs(61));
    assert!(!pool.settled());
    actions(&mut pool);
    // Draining: the last return ends the drain, which the manager reports.
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    let conn = connect_all(&mut pool, now)[0];
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Now { .. }));
    pool.shutdown();
    actions(&mut pool);
    pool.released(conn, Release::Free, now);
    assert!(!pool.settled());
}

#[test]
fn a_caller_arriving_behind_a_queue_waits_its_turn() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 1));
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Queued(_)));
    let conn = connect_all(&mut pool, now);
    assert_eq!(conn.len(), 1);
    // The queued caller got it; a second caller queues even though the
    // first may give it back at once.
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Queued(_)));
}

#[test]
fn the_pool_grows_for_callers_up_to_its_maximum() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(0, 2));
    for _ in 0..5 {
        pool.arrive(Want::Whole, now);
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
    let Arrival::Now { conn, .. } = pool.arrive(Want::Whole, now) else {
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
    let Arrival::Queued(waiter) = pool.arrive(Want::Whole, now) else {
        panic!("nothing open: the caller queues");
    };
    let [Action::Connect { id, attempt: 1 }] = actions(&mut pool)[..] else {
        panic!("one connect expected");
    };
    assert!(pool.connect_failed(id, true));
    assert_eq!(actions(&mut pool), [Action::Backoff { id, attempt: 2 }]);
    // Still counted: a second caller starts no attempt of its own.
    assert_eq!(pool.connecting_count(), 1);
    pool.arrive(Want::Whole, now);
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
    let Arrival::Queued(waiter) = pool.arrive(Want::Whole, now) else {
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
    let Arrival::Queued(w1) = pool.arrive(Want::Whole, now) else {
        panic!("queued");
    };
    let Arrival::Queued(w2) = pool.arrive(Want::Whole, now) else {
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
fn a_caller_counting_on_a_connect_that_fails_for_good_gets_an_idle_connection() {
    let start = Instant::now();
    let mut pool = PoolState::new(Limits {
        ping_after: Some(Duration::from_secs(30)),
        ..limits(2, 2)
    });
    let [a, b] = pool.warm()[..] else {
        panic!("two connects");
    };
    actions(&mut pool);
    pool.connected(a, start);
    let later = start + Duration::from_secs(31);
    // `a` needs a ping, and `b`'s connect is on its way for the caller.
    assert!(matches!(
        pool.arrive(Want::Whole, later),
        Arrival::Queued(_)
    ));
    assert!(actions(&mut pool).is_empty());
    assert!(!pool.connect_failed(b, false));
    assert_eq!(actions(&mut pool), [Action::Ping { conn: a }]);
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
    let Arrival::Queued(waiter) = pool.arrive(Want::Whole, later) else {
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
    let Arrival::Queued(waiter) = pool.arrive(Want::Whole, later) else {
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
            pool.arrive(Want::Read, now),
            Arrival::Now {
                conn,
                place: Place::Pipelined
            }
        );
    }
    let Arrival::Queued(fourth) = pool.arrive(Want::Read, now) else {
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
    pool.arrive(Want::Read, now);
    pool.arrive(Want::Read, now);
    let Arrival::Queued(lease) = pool.arrive(Want::Whole, now) else {
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
    pool.arrive(Want::Whole, now);
    let Arrival::Queued(gone) = pool.arrive(Want::Whole, now) else {
        panic!("queued");
    };
    let Arrival::Queued(next) = pool.arrive(Want::Whole, now) else {
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
    pool.arrive(Want::Whole, start);
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
    pool.arrive(Want::Whole, start);
    pool.arrive(Want::Whole, start);
    pool.arrive(Want::Whole, start);
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

mod drain;
mod placement;
mod random;
