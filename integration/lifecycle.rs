//! Pool lifecycle under faults: reconnect with backoff, invalidation of cut
//! connections, health checks, idle timeout and maximum lifetime. Faults go
//! through a TCP proxy; the shared servers are never stopped.

use std::net::ToSocketAddrs;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard::{
    Backoff, CloseReason, Error, Event, Execute, Filter, HealthCheck, Kind, Payload, Switchboard,
};

use switchboard_core::testing::eventually;

use crate::support::proxy::{Mode, Proxy};
use crate::support::{Db, counted, drain, observed, run_local, server_url, target};

/// A proxy in `mode` in front of the shared PostgreSQL, and the URL that
/// goes through it.
fn pg_behind_proxy(mode: Mode) -> Option<(Proxy, String)> {
    let url = server_url(Db::Postgres)?;
    let mut u = url::Url::parse(&url).unwrap();
    let upstream = (u.host_str().unwrap(), u.port().unwrap_or(5432))
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream, mode);
    u.set_port(Some(proxy.port())).unwrap();
    Some((proxy, u.to_string()))
}

/// A one-connection pool behind the proxy, never pinged, quick to
/// reconnect: a cut or stall shows on the next statement.
fn one_unchecked_connection(
    url: String,
    name: &str,
    bus: switchboard::Bus,
) -> switchboard::Builder {
    Switchboard::builder(url)
        .name(name)
        .bus(bus)
        .pool_size(1..=1)
        .health_check(HealthCheck::None)
        .backoff(fast_backoff())
}

fn fast_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

async fn settled(sb: &Switchboard, rx: &switchboard::EventReceiver) -> Vec<Event> {
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    drain(rx)
}

#[test]
fn starts_while_the_database_is_down_and_serves_once_it_is_back() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Reject) else {
        return;
    };
    run_local(async move {
        let (bus, rx) = observed("outage", Filter::all(), 4096);
        let sb = Switchboard::builder(url)
            .name("outage")
            .bus(bus)
            .pool_size(1..=2)
            .backoff(fast_backoff())
            .checkout_timeout(Duration::from_millis(400))
            .start()
            .await
            .expect("starts although the database is down");
        let err = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
        match &err {
            Error::Unreachable {
                attempts,
                retry_every,
                ..
            } => {
                assert!(*attempts >= 2, "{err}");
                assert!(*retry_every <= Duration::from_millis(200), "{err}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
        assert!(err.to_string().contains("retrying every"), "{err}");

        proxy.set_mode(Mode::Forward);
        let mut served = false;
        for _ in 0..50 {
            if sb.run(Execute::sql("SELECT 1")).await.is_ok() {
                served = true;
                break;
            }
        }
        assert!(served, "pool did not recover");
        let events = settled(&sb, &rx).await;
        // One slot's story: Connecting(1) → ConnectFailed → Connecting(2) → ... → Connected.
        let recovered = events
            .iter()
            .find(|e| e.kind() == Kind::Connected)
            .unwrap()
            .meta()
            .connection;
        let story: Vec<&Event> = events
            .iter()
            .filter(|e| e.meta().connection == recovered)
            .take_while(|e| e.kind() != Kind::CheckedOut)
            .collect();
        let mut expected_attempt = 1;
        for pair in story.chunks(2) {
            match (pair[0].payload(), pair.get(1).map(|e| e.payload())) {
                (
                    Payload::Connecting { attempt, .. },
                    Some(Payload::ConnectFailed {
                        attempt: a2,
                        retry_in,
                        ..
                    }),
                ) => {
                    assert_eq!((*attempt, *a2), (expected_attempt, expected_attempt));
                    assert!(retry_in.is_some());
                }
                (Payload::Connecting { attempt, .. }, Some(Payload::Connected { .. })) => {
                    assert_eq!(*attempt, expected_attempt);
                }
                other => panic!("unexpected {other:?}"),
            }
            expected_attempt += 1;
        }
        assert!(expected_attempt > 2, "no retries seen");
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn fail_fast_refuses_to_start_while_the_database_is_down() {
    let Some((_proxy, url)) = pg_behind_proxy(Mode::Reject) else {
        return;
    };
    run_local(async move {
        let err = Switchboard::builder(url)
            .fail_fast(true)
            .start()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    });
}

#[test]
fn cut_connections_are_invalidated_and_replaced() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Forward) else {
        return;
    };
    run_local(async move {
        let (bus, rx) = observed("cut", Filter::all(), 4096);
        let sb = one_unchecked_connection(url, "cut", bus)
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        proxy.cut();
        let err = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
        assert!(
            matches!(err, Error::ConnectionLost { .. }),
            "a cut connection answers ConnectionLost, got {err:?}"
        );
        // The next caller gets a fresh connection.
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let kinds: Vec<Kind> = settled(&sb, &rx).await.iter().map(|e| e.kind()).collect();
        let invalidated = kinds.iter().position(|k| *k == Kind::Invalidated).unwrap();
        assert!(
            kinds[invalidated..].starts_with(&[
                Kind::Invalidated,
                Kind::CheckedIn,
                Kind::Closing,
                Kind::Closed
            ]) || kinds[invalidated..].contains(&Kind::Closed),
            "{kinds:?}"
        );
        assert!(kinds[invalidated..].contains(&Kind::Connected), "{kinds:?}");
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn health_check_hides_a_cut_connection_from_the_caller() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Forward) else {
        return;
    };
    run_local(async move {
        let sb = Switchboard::builder(url)
            .name("ping")
            .pool_size(1..=1)
            .health_check(HealthCheck::PingIfIdle(Duration::ZERO))
            .backoff(fast_backoff())
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        proxy.cut();
        // The ping finds the connection broken; the caller gets a new one.
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn blackholed_statement_honours_its_timeout() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Forward) else {
        return;
    };
    run_local(async move {
        let sb = Switchboard::builder(url)
            .name("blackhole")
            .pool_size(1..=2)
            .health_check(HealthCheck::None)
            .connect_timeout(Duration::from_millis(300))
            .checkout_timeout(Duration::from_secs(2))
            .start()
            .await
            .unwrap();
        let lease = sb.checkout().await.unwrap();
        proxy.set_mode(Mode::Blackhole);
        // A new connection cannot be opened: the connect times out.
        let started = std::time::Instant::now();
        let err = sb
            .run(Execute::sql("SELECT 1").timeout(Duration::from_secs(5)))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(4), "{err:?}");
        assert!(
            matches!(err, Error::Connect { .. } | Error::Unreachable { .. }),
            "{err:?}"
        );
        drop(lease);
        proxy.set_mode(Mode::Forward);
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn idle_connections_close_down_to_the_minimum() {
    let t = target(Db::Sqlite, "idle").unwrap();
    run_local(async move {
        let (bus, rx) = observed("idle", Filter::kinds([Kind::Closing]), 64);
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=3)
            .idle_timeout(Some(Duration::from_millis(150)))
            .start()
            .await
            .unwrap();
        let leases = vec![
            sb.checkout().await.unwrap(),
            sb.checkout().await.unwrap(),
            sb.checkout().await.unwrap(),
        ];
        assert_eq!(sb.stats().open, 3);
        drop(leases);
        eventually(|| sb.stats().open == 1, Duration::from_secs(10)).await;
        assert_eq!(sb.stats().open, 1, "idle connections were not closed");
        let reasons: Vec<CloseReason> = settled(&sb, &rx)
            .await
            .iter()
            .filter_map(|e| match e.payload() {
                Payload::Closing { reason } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(reasons, [CloseReason::Idle, CloseReason::Idle]);
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn old_connections_are_replaced_at_their_lifetime() {
    let t = target(Db::Sqlite, "lifetime").unwrap();
    run_local(async move {
        let (bus, rx) = observed(
            "lifetime",
            Filter::kinds([Kind::Closing, Kind::Connected]),
            64,
        );
        let (closing, connected) = (counted(&bus, Kind::Closing), counted(&bus, Kind::Connected));
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=1)
            .max_lifetime(Some(Duration::from_millis(150)))
            .start()
            .await
            .unwrap();
        // Closed at its lifetime, and replaced.
        eventually(
            || closing.load(Ordering::Relaxed) >= 1 && connected.load(Ordering::Relaxed) >= 2,
            Duration::from_secs(10),
        )
        .await;
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let events = settled(&sb, &rx).await;
        assert!(
            events.iter().any(|e| matches!(
                e.payload(),
                Payload::Closing {
                    reason: CloseReason::Lifetime
                }
            )),
            "{events:?}"
        );
        let connected = events
            .iter()
            .filter(|e| e.kind() == Kind::Connected)
            .count();
        assert!(connected >= 2, "not replaced: {events:?}");
        // One slot: open, or (its lifetime just ran out again) reopening.
        let stats = sb.stats();
        assert_eq!(stats.open + stats.connecting, 1, "{stats:?}");
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn only_statements_marked_retryable_are_sent_again() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Forward) else {
        return;
    };
    run_local(async move {
        let (bus, rx) = observed("retry", Filter::kinds([Kind::Executing]), 256);
        let sb = one_unchecked_connection(url, "retry", bus)
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();

        // Not marked: the caller sees the lost connection.
        proxy.cut();
        let err = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
        assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");

        // Marked: sent again on a fresh connection, its attempt on the labels.
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        // Everything published so far, delivered first: a late `Executing`
        // of this statement would pass for an attempt.
        settled(&sb, &rx).await;
        proxy.cut();
        let rows: Vec<i32> = sb
            .run(
                switchboard::Load::new(diesel::select(diesel::dsl::sql::<
                    diesel::sql_types::Integer,
                >("7")))
                .retryable(2)
                .label("request_id", "r1"),
            )
            .await
            .unwrap();
        assert_eq!(rows, [7]);
        let attempts: Vec<Option<String>> = settled(&sb, &rx)
            .await
            .iter()
            .map(|e| e.meta().labels.get("attempt").map(str::to_owned))
            .collect();
        assert_eq!(attempts, [None, Some("2".to_owned())]);
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn statement_on_a_blackholed_connection_times_out_and_the_connection_is_replaced() {
    let Some((proxy, url)) = pg_behind_proxy(Mode::Forward) else {
        return;
    };
    run_local(async move {
        let (bus, rx) = observed("stall", Filter::kinds([Kind::Invalidated]), 64);
        let invalidated = counted(&bus, Kind::Invalidated);
        let sb = one_unchecked_connection(url, "stall", bus)
            // Its replacement's first connect may still meet the blackhole.
            .connect_timeout(Duration::from_millis(300))
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        // The network goes silent under the connection, and new connections
        // (the cancel request's too) are swallowed.
        proxy.stall(true);
        proxy.set_mode(Mode::Blackhole);
        let started = std::time::Instant::now();
        let err = sb
            .run(Execute::sql("SELECT 1").timeout(Duration::from_millis(300)))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        // The cancel cannot get through: after its grace the connection is
        // given up, never handed on mid-statement.
        eventually(
            || invalidated.load(Ordering::Relaxed) >= 1,
            Duration::from_secs(10),
        )
        .await;
        proxy.set_mode(Mode::Forward);
        proxy.stall(false);
        let mut served = false;
        for _ in 0..40 {
            if sb
                .run(Execute::sql("SELECT 1").timeout(Duration::from_secs(1)))
                .await
                .is_ok()
            {
                served = true;
                break;
            }
        }
        assert!(served, "the pool did not recover");
        assert_eq!(
            settled(&sb, &rx).await.len(),
            1,
            "the stalled connection was not invalidated"
        );
        proxy.stall(false);
        sb.shutdown().await.unwrap();
    });
}
