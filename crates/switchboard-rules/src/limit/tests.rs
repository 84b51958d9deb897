use chrono::{Duration, TimeZone};

use super::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .single()
        .expect("valid date")
}

fn rate(per_second: f64, burst: u32, values: usize) -> RateLimit {
    RateLimit {
        label: "tenant".into(),
        per_second,
        burst: f64::from(burst),
        state: Buckets::new(NonZeroUsize::new(values).expect("values > 0")),
    }
}

fn concurrency(max: u32, values: usize) -> ConcurrencyLimit {
    ConcurrencyLimit {
        label: "tenant".into(),
        max,
        values,
        state: InFlight::new(),
    }
}

#[test]
fn a_bucket_starts_full_and_empties() {
    let r = rate(1.0, 3, 10);
    let taken = (0..5).filter(|_| r.take("acme", t0())).count();
    assert_eq!(taken, 3);
}

#[test]
fn a_bucket_refills_by_the_check_time() {
    let r = rate(2.0, 2, 10);
    assert!(r.take("acme", t0()));
    assert!(r.take("acme", t0()));
    assert!(!r.take("acme", t0()));
    assert!(
        !r.take("acme", t0() + Duration::milliseconds(400)),
        "0.8 tokens"
    );
    assert!(
        r.take("acme", t0() + Duration::milliseconds(500)),
        "1 token"
    );
    assert!(!r.take("acme", t0() + Duration::milliseconds(500)));
    // Long idle: refills to burst, not beyond.
    let later = t0() + Duration::hours(1);
    assert_eq!((0..5).filter(|_| r.take("acme", later)).count(), 2);
}

#[test]
fn time_going_backwards_refills_nothing() {
    let r = rate(1.0, 1, 10);
    let later = t0() + Duration::seconds(10);
    assert!(r.take("acme", later));
    assert!(!r.take("acme", t0()), "earlier check: no refill");
    assert!(!r.take("acme", later), "same time again: still empty");
    assert!(r.take("acme", later + Duration::seconds(1)));
}

#[test]
fn buckets_are_per_value() {
    let r = rate(1.0, 1, 10);
    assert!(r.take("acme", t0()));
    assert!(!r.take("acme", t0()));
    assert!(r.take("globex", t0()));
}

#[test]
fn the_least_recently_seen_value_is_forgotten_and_starts_full() {
    let r = rate(1.0, 1, 2);
    assert!(r.take("a", t0()));
    assert!(r.take("b", t0()));
    assert!(r.take("c", t0()), "evicts a");
    assert!(!r.take("b", t0()), "b is still tracked and empty");
    assert!(r.take("a", t0()), "a was forgotten: full again");
}

#[test]
fn peek_changes_nothing_and_give_back_refunds() {
    let r = rate(1.0, 1, 10);
    assert!(r.peek("acme", t0()));
    assert!(r.take("acme", t0()));
    assert!(!r.peek("acme", t0()));
    r.give_back("acme");
    assert!(r.peek("acme", t0()));
    r.give_back("acme");
    assert!(r.take("acme", t0()));
    assert!(!r.take("acme", t0()), "a refund never exceeds the burst");
}

#[test]
fn holds_count_statements_until_dropped() {
    let c = concurrency(2, 10);
    let Admission::Room(Some(a)) = c.admit("acme", Admit::Enforce) else {
        panic!("first statement admitted")
    };
    let Admission::Room(Some(b)) = c.admit("acme", Admit::Enforce) else {
        panic!("second statement admitted")
    };
    assert!(matches!(
        c.admit("acme", Admit::Enforce),
        Admission::Full(None)
    ));
    assert_eq!(c.in_flight("acme"), 2, "a refused statement is not counted");
    assert!(matches!(
        c.admit("globex", Admit::Enforce),
        Admission::Room(Some(_))
    ));
    drop(a);
    assert_eq!(c.in_flight("acme"), 1);
    assert!(matches!(
        c.admit("acme", Admit::Enforce),
        Admission::Room(Some(_))
    ));
    drop(b);
    assert_eq!(
        c.in_flight("acme"),
        0,
        "the admitted hold above was dropped at once"
    );
}

#[test]
fn shadow_counts_over_the_limit_and_releases_on_drop() {
    let c = concurrency(1, 10);
    let first = c.admit("acme", Admit::Shadow);
    let second = c.admit("acme", Admit::Shadow);
    assert!(matches!(first, Admission::Room(Some(_))));
    assert!(matches!(second, Admission::Full(Some(_))));
    assert_eq!(c.in_flight("acme"), 2);
    drop((first, second));
    assert_eq!(c.in_flight("acme"), 0);
}

#[test]
fn dry_runs_count_nothing() {
    let c = concurrency(1, 10);
    assert!(matches!(
        c.admit("acme", Admit::DryRun),
        Admission::Room(None)
    ));
    assert_eq!(c.tracked(), 0);
    let _held = c.admit("acme", Admit::Enforce);
    assert!(matches!(
        c.admit("acme", Admit::DryRun),
        Admission::Full(None)
    ));
}

#[test]
fn idle_values_are_swept_and_busy_ones_bound_the_map() {
    let c = concurrency(5, 2);
    let a = c.admit("a", Admit::Enforce);
    let b = c.admit("b", Admit::Enforce);
    assert!(matches!(c.admit("c", Admit::Enforce), Admission::Untracked));
    drop(a);
    assert!(matches!(
        c.admit("c", Admit::Enforce),
        Admission::Room(Some(_))
    ));
    assert_eq!(c.tracked(), 2, "a was swept out");
    drop(b);
}
