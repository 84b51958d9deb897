//! Draining and recycling: what a shutdown and `recycle()` do to the
//! queue, idle and lent connections, and pending retries.

use super::*;

#[test]
fn a_drain_refuses_the_queue_closes_idle_and_waits_for_the_rest() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(1, 2));
    pool.warm();
    let lent = connect_all(&mut pool, now)[0];
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Now { .. }));
    let Arrival::Queued(waiter) = pool.arrive(Want::Whole, now) else {
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
    assert_eq!(pool.arrive(Want::Whole, now), Arrival::ShuttingDown);
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
    assert!(closes.iter().all(
        |a| matches!(a, Action::Close { conn, reason: CloseReason::Shutdown } if ids.contains(conn))
    ));
    pool.closed();
    pool.closed();
    assert_eq!(actions(&mut pool), [Action::Drained]);
}

#[test]
fn recycle_replaces_idle_connections_now_and_lent_ones_when_they_come_back() {
    let now = Instant::now();
    let mut pool = PoolState::new(limits(2, 2));
    pool.warm();
    let ids = connect_all(&mut pool, now);
    let Arrival::Now { conn: lent, .. } = pool.arrive(Want::Whole, now) else {
        panic!("idle");
    };
    let idle = *ids.iter().find(|c| **c != lent).expect("two connections");
    assert!(pool.recycle());
    let [
        Action::Close {
            conn,
            reason: CloseReason::Recycled,
        },
        Action::Connect { id: first, .. },
    ] = actions(&mut pool)[..]
    else {
        panic!("the idle one closes and a replacement opens");
    };
    assert_eq!(conn, idle);
    pool.closed();
    pool.connected(first, now);
    pool.released(lent, Release::Free, now);
    let [
        Action::Close {
            conn,
            reason: CloseReason::Recycled,
        },
        Action::Connect { id: second, .. },
    ] = actions(&mut pool)[..]
    else {
        panic!("the lent one closes when it comes back");
    };
    assert_eq!(conn, lent);
    pool.closed();
    pool.connected(second, now);
    // The replacements are not doomed: lent and back, they stay.
    let Arrival::Now { conn, .. } = pool.arrive(Want::Whole, now) else {
        panic!("a replacement is idle");
    };
    assert!(conn == first || conn == second);
    pool.released(conn, Release::Free, now);
    assert!(actions(&mut pool).is_empty());
}

#[test]
fn recycle_during_a_drain_does_nothing() {
    let mut pool = PoolState::new(limits(1, 1));
    pool.warm();
    connect_all(&mut pool, Instant::now());
    pool.shutdown();
    actions(&mut pool);
    assert!(!pool.recycle());
    assert!(actions(&mut pool).is_empty());
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
