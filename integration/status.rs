//! The `Status` snapshot and leak warnings, checked against states built by
//! holding leases.

use std::time::Duration;

use switchboard::{Checkout, ConnectionState, Error, Execute, Filter, Kind, Payload, Switchboard};

use crate::support::{Db, Target, drain, observed, run_local, server_url, target};

fn sqlite(test: &str) -> Target {
    target(Db::Sqlite, test).unwrap()
}

/// Waits until the manager counts `n` waiting callers.
async fn until_waiting(sb: &Switchboard, n: usize) {
    for _ in 0..500 {
        if sb.status().await.unwrap().waiting == n {
            return;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never saw {n} waiting callers");
}

#[test]
fn status_matches_idle_busy_and_waiting() {
    let t = sqlite("status");
    run_local(async move {
        let sb = t.builder().pool_size(3..=3).start().await.unwrap();
        let status = sb.status().await.unwrap();
        assert_eq!(
            (status.open, status.idle, status.busy, status.waiting),
            (3, 3, 0, 0)
        );
        assert_eq!((status.min, status.max), (3, 3));
        assert!(
            status
                .connections
                .iter()
                .all(|c| c.state == ConnectionState::Idle)
        );

        let a = sb
            .run_checkout(Checkout::new().label("request_id", "req-a"))
            .await
            .unwrap();
        let b = sb.checkout().await.unwrap();
        let status = sb.status().await.unwrap();
        assert_eq!(
            (status.open, status.idle, status.busy, status.waiting),
            (3, 1, 2, 0)
        );
        let held = status
            .connections
            .iter()
            .find(|c| c.id == a.connection_id())
            .unwrap();
        assert_eq!(held.state, ConnectionState::Lent);
        assert_eq!(held.holder.get("request_id"), Some("req-a"));
        assert!(held.lent_for.is_some());

        let c = sb.checkout().await.unwrap();
        // Two callers queue behind the three leases.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let sb = sb.clone();
                actix_rt::spawn(async move { sb.run(Execute::sql("SELECT 1")).await })
            })
            .collect();
        until_waiting(&sb, 2).await;
        let status = sb.status().await.unwrap();
        assert_eq!(
            (status.open, status.idle, status.busy, status.waiting),
            (3, 0, 3, 2)
        );

        // A failed statement shows up as the connection's last error.
        let err = a.send(Execute::sql("SELECT * FROM no_such_table_x")).await;
        assert!(err.is_err());
        let status = sb.status().await.unwrap();
        let held = status
            .connections
            .iter()
            .find(|c| c.id == a.connection_id())
            .unwrap();
        assert_eq!((held.statements, held.failures), (1, 1));
        assert!(
            held.last_error
                .as_ref()
                .unwrap()
                .message
                .contains("no_such_table_x")
        );

        drop((a, b, c));
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        let json = serde_json::to_string(&sb.status().await.unwrap()).unwrap();
        assert!(json.contains("\"connections\""), "{json}");
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn status_shows_the_running_statement() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    run_local(async move {
        let sb = Switchboard::builder(url)
            .name("status_running")
            .pool_size(1..=1)
            .start()
            .await
            .unwrap();
        let sleeper = {
            let sb = sb.clone();
            actix_rt::spawn(async move { sb.run(Execute::sql("SELECT pg_sleep(0.5)")).await })
        };
        let mut seen = None;
        for _ in 0..100 {
            let status = sb.status().await.unwrap();
            if let Some(c) = status.connections.iter().find(|c| c.current.is_some()) {
                seen = Some(c.clone());
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        let c = seen.expect("a running statement in the status");
        assert_eq!(c.state, ConnectionState::Running);
        assert_eq!(&*c.current.unwrap().sql, "SELECT pg_sleep(0.5)");
        sleeper.await.unwrap().unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn leak_warning_fires_past_the_threshold_and_not_before() {
    let t = sqlite("leak");
    run_local(async move {
        let (bus, rx) = observed("leaks", Filter::kinds([Kind::LeakSuspected]), 64);
        let sb = t
            .builder()
            .bus(bus)
            .leak_detection(Duration::from_millis(300))
            .start()
            .await
            .unwrap();
        // A quick loan is never reported.
        let lease = sb.checkout().await.unwrap();
        lease.send(Execute::sql("SELECT 1")).await.unwrap();
        drop(lease);
        let lease = sb
            .run_checkout(Checkout::new().label("request_id", "req-leaky"))
            .await
            .unwrap();
        actix_rt::time::sleep(Duration::from_millis(150)).await;
        sb.bus().flush(Duration::from_secs(1)).await.unwrap();
        assert!(drain(&rx).is_empty(), "reported before the threshold");
        actix_rt::time::sleep(Duration::from_millis(400)).await;
        sb.bus().flush(Duration::from_secs(1)).await.unwrap();
        let events = drain(&rx);
        assert_eq!(events.len(), 1, "one report per loan: {events:?}");
        let e = &events[0];
        assert_eq!(e.meta().connection, Some(lease.connection_id()));
        assert_eq!(e.meta().labels.get("request_id"), Some("req-leaky"));
        match e.payload() {
            Payload::LeakSuspected { held } => assert!(*held >= Duration::from_millis(300)),
            other => panic!("{other:?}"),
        }
        drop(lease);
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn zero_leak_threshold_is_a_config_error() {
    let t = sqlite("leak_zero");
    run_local(async move {
        let err = t
            .builder()
            .leak_detection(Duration::ZERO)
            .start()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    });
}
