//! Where a statement goes: reads known to be fast share pipelines, writes
//! spread over idle connections, statements not known to be fast get a
//! connection to themselves, and nothing joins a pipeline stalled behind a
//! slow statement.

use super::super::lend::STALLED_AFTER;
use super::*;

/// A pool of `n` open connections, pipelining up to `depth` statements.
fn pool(n: usize, depth: usize, now: Instant) -> (PoolState, Vec<ConnectionId>) {
    let mut pool = PoolState::new(Limits {
        pipeline: depth,
        ..limits(n, n)
    });
    pool.warm();
    let conns = connect_all(&mut pool, now);
    assert_eq!(conns.len(), n);
    (pool, conns)
}

fn placed(arrival: Arrival) -> (ConnectionId, Place) {
    match arrival {
        Arrival::Now { conn, place } => (conn, place),
        other => panic!("expected a place at once, got {other:?}"),
    }
}

#[test]
fn fast_reads_share_a_pipeline_while_connections_are_idle() {
    let now = Instant::now();
    let (mut pool, _) = pool(4, 8, now);
    let (first, place) = placed(pool.arrive(Want::Read, now));
    assert_eq!(place, Place::Pipelined);
    for _ in 0..7 {
        assert_eq!(
            placed(pool.arrive(Want::Read, now)),
            (first, Place::Pipelined)
        );
    }
    assert_eq!(pool.idle_count(), 3);
    // Full: the next starts pipelining on an idle connection.
    let (second, _) = placed(pool.arrive(Want::Read, now));
    assert_ne!(second, first);
}

/// With the default configuration, 32 concurrent fast reads share one
/// connection, as on one shared tokio-postgres client (benches/README.md,
/// ninth pass: four connections of eight each gave three quarters of
/// that).
#[test]
fn by_default_thirty_two_fast_reads_share_one_connection() {
    let now = Instant::now();
    let config = crate::config::PoolConfig {
        min_size: 32,
        max_size: 32,
        ..Default::default()
    };
    let mut pool = PoolState::new(Limits::from_config(&config));
    pool.warm();
    assert_eq!(connect_all(&mut pool, now).len(), 32);
    let used: std::collections::HashSet<_> = (0..32)
        .map(|_| placed(pool.arrive(Want::Read, now)).0)
        .collect();
    assert_eq!(used.len(), 1, "32 fast reads on {} connections", used.len());
    assert_eq!(pool.idle_count(), 31);
}

#[test]
fn a_read_joins_the_pipeline_with_the_fewest_statements() {
    let now = Instant::now();
    let (mut pool, _) = pool(2, 4, now);
    let (a, _) = placed(pool.arrive(Want::Read, now));
    for _ in 0..3 {
        assert_eq!(placed(pool.arrive(Want::Read, now)).0, a);
    }
    let (b, _) = placed(pool.arrive(Want::Read, now));
    assert_ne!(a, b, "a was full");
    pool.released(a, Release::PlaceFreed, now);
    pool.released(a, Release::PlaceFreed, now);
    // a carries 2, b 1.
    assert_eq!(placed(pool.arrive(Want::Read, now)).0, b);
    pool.released(a, Release::PlaceFreed, now);
    // a carries 1, b 2.
    assert_eq!(placed(pool.arrive(Want::Read, now)).0, a);
}

#[test]
fn fast_writes_spread_over_idle_connections_before_sharing_one() {
    let now = Instant::now();
    let (mut pool, conns) = pool(3, 8, now);
    let spread: std::collections::HashSet<_> = (0..3)
        .map(|_| placed(pool.arrive(Want::Write, now)).0)
        .collect();
    assert_eq!(spread.len(), 3, "each write on a connection of its own");
    // None idle: the fourth shares one.
    let (conn, place) = placed(pool.arrive(Want::Write, now));
    assert_eq!(place, Place::Pipelined);
    assert!(conns.contains(&conn));
}

#[test]
fn a_statement_not_known_fast_gets_a_connection_to_itself() {
    let now = Instant::now();
    let (mut pool, _) = pool(2, 8, now);
    let (piped, _) = placed(pool.arrive(Want::Read, now));
    let (alone, place) = placed(pool.arrive(Want::Whole, now));
    assert_eq!(place, Place::Whole);
    assert_ne!(alone, piped, "not behind the pipelined read");
    // And nothing joins it: the next read shares the pipeline.
    assert_eq!(placed(pool.arrive(Want::Read, now)).0, piped);
    // With no connection free, it waits for a whole one rather than join.
    assert!(matches!(pool.arrive(Want::Whole, now), Arrival::Queued(_)));
}

#[test]
fn nothing_joins_a_pipeline_stalled_behind_a_slow_statement() {
    let start = Instant::now();
    let (mut pool, _) = pool(2, 8, start);
    let (slow, _) = placed(pool.arrive(Want::Read, start));
    let later = start + STALLED_AFTER;
    // Its head has run for the threshold: the next read takes the idle one.
    let (other, _) = placed(pool.arrive(Want::Read, later));
    assert_ne!(other, slow);
    // That one stalls too: nothing left, the caller waits for a place.
    let much_later = later + STALLED_AFTER;
    let Arrival::Queued(waiter) = pool.arrive(Want::Read, much_later) else {
        panic!("no pipeline to join");
    };
    assert!(actions(&mut pool).is_empty(), "at the maximum: no connect");
    // The slow statement is answered: its connection is free again, and
    // the waiter gets a place on it.
    pool.released(slow, Release::PlaceFreed, much_later);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(waiter, slow, Place::Pipelined)]
    );
}

#[test]
fn a_pipeline_is_joined_again_once_its_slow_head_is_answered() {
    let start = Instant::now();
    let (mut pool, _) = pool(1, 8, start);
    let (conn, _) = placed(pool.arrive(Want::Read, start));
    placed(pool.arrive(Want::Read, start));
    let later = start + 3 * STALLED_AFTER;
    assert!(matches!(pool.arrive(Want::Read, later), Arrival::Queued(_)));
    // The head is answered; the statement behind it is the head now, just
    // started. The queued caller got its place, and a new one joins too.
    pool.released(conn, Release::PlaceFreed, later);
    assert_eq!(granted(&actions(&mut pool)).len(), 1);
    assert_eq!(
        placed(pool.arrive(Want::Read, later)),
        (conn, Place::Pipelined)
    );
}

#[test]
fn fast_statements_do_not_queue_behind_a_caller_waiting_for_a_whole_connection() {
    let now = Instant::now();
    let (mut pool, _) = pool(2, 8, now);
    let (a, _) = placed(pool.arrive(Want::Write, now));
    let (b, _) = placed(pool.arrive(Want::Write, now));
    assert_ne!(a, b);
    // No connection is free: a slow statement waits for a whole one, and
    // one pipeline (the first with the fewest statements) is left to drain
    // for it.
    let Arrival::Queued(slow) = pool.arrive(Want::Whole, now) else {
        panic!("no connection is free for the slow statement");
    };
    pool.check_invariants().unwrap();
    // Fast statements after it share the other pipeline at once, and never
    // the one draining.
    let (joined, place) = placed(pool.arrive(Want::Read, now));
    assert_eq!(place, Place::Pipelined);
    let (again, _) = placed(pool.arrive(Want::Write, now));
    assert_eq!(joined, again);
    let draining = if joined == a { b } else { a };
    // The draining pipeline's statement ends: the slow statement gets
    // that connection, whole.
    pool.released(draining, Release::PlaceFreed, now);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(slow, draining, Place::Whole)]
    );
    pool.check_invariants().unwrap();
    // Nobody waits any more: reads join the open pipeline as before.
    assert_eq!(placed(pool.arrive(Want::Read, now)).0, joined);
}

#[test]
fn behind_a_whole_caller_a_statement_with_no_other_pipeline_waits_its_turn() {
    let now = Instant::now();
    let (mut pool, _) = pool(1, 8, now);
    let (conn, _) = placed(pool.arrive(Want::Read, now));
    let Arrival::Queued(lease) = pool.arrive(Want::Whole, now) else {
        panic!("the lease waits for the pipeline");
    };
    // The only pipeline drains for the lease: the read behind it queues
    // instead of keeping it busy.
    let Arrival::Queued(read) = pool.arrive(Want::Read, now) else {
        panic!("the read waits behind the lease");
    };
    pool.released(conn, Release::PlaceFreed, now);
    assert_eq!(granted(&actions(&mut pool)), [(lease, conn, Place::Whole)]);
    pool.released(conn, Release::Free, now);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(read, conn, Place::Pipelined)]
    );
    pool.check_invariants().unwrap();
}

#[test]
fn a_freed_place_goes_to_a_queued_read_past_a_caller_waiting_for_a_whole_connection() {
    let now = Instant::now();
    let (mut pool, _) = pool(2, 2, now);
    let (a, _) = placed(pool.arrive(Want::Write, now));
    let (b, _) = placed(pool.arrive(Want::Write, now));
    placed(pool.arrive(Want::Read, now));
    placed(pool.arrive(Want::Read, now));
    // Both pipelines are full: a lease queues, and so does a read after it.
    let Arrival::Queued(lease) = pool.arrive(Want::Whole, now) else {
        panic!("no connection is free for the lease");
    };
    let Arrival::Queued(read) = pool.arrive(Want::Read, now) else {
        panic!("no pipeline has room for the read");
    };
    let draining = pool.reserved.expect("a pipeline drains for the lease");
    let other = if draining == a { b } else { a };
    // A place frees on the other pipeline: the read takes it at once
    // instead of waiting for the lease to be served.
    pool.released(other, Release::PlaceFreed, now);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(read, other, Place::Pipelined)]
    );
    // The draining one empties: the lease gets it.
    pool.released(draining, Release::PlaceFreed, now);
    assert!(granted(&actions(&mut pool)).is_empty());
    pool.released(draining, Release::PlaceFreed, now);
    assert_eq!(
        granted(&actions(&mut pool)),
        [(lease, draining, Place::Whole)]
    );
    pool.check_invariants().unwrap();
}
