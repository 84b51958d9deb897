//! Shutdown while the database is down keeps its deadline, with idle
//! connections, with waiting callers, and with a connect retry pending.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_rt::time::sleep;
use futures_util::future::join;
use switchboard::{Backoff, Error, Execute, Switchboard};

use super::load::{SLACK, assert_none_hung, blocking, hammer};
use crate::support::private_pg::{PrivatePg, Stop};
use crate::support::run_local;

/// Stops the server under a warm pool of 4, lets callers (if any) wait on
/// it for `down_for` while the pool retries with `backoff`, then shuts down
/// with a 2 s deadline.
fn shutdown_while_database_down(test: &str, callers: bool, backoff: Backoff, down_for: Duration) {
    let Some(pg) = PrivatePg::start(test) else {
        return;
    };
    let pg = Arc::new(pg);
    let shutdown_timeout = Duration::from_secs(2);
    run_local(async move {
        let sb = Switchboard::builder(pg.url())
            .name(test)
            .pool_size(4..=4)
            .backoff(backoff)
            .shutdown_timeout(shutdown_timeout)
            .checkout_timeout(Duration::from_secs(10))
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let p = pg.clone();
        blocking(move || p.stop(Stop::Immediate)).await;

        let call_timeout = Duration::from_secs(10);
        let load = async {
            if callers {
                hammer(&sb, "SELECT 1", call_timeout, &|_| true).await
            } else {
                Vec::new()
            }
        };
        let shutdown = async {
            sleep(down_for).await;
            let started = Instant::now();
            let result = sb.shutdown().await;
            (started, started.elapsed(), result)
        };
        let (calls, (started, took, result)) = join(load, shutdown).await;
        assert!(
            took <= shutdown_timeout + SLACK,
            "shutdown took {took:?}: {result:?}"
        );
        result.expect("shutdown completes while the database is down");
        assert_none_hung(&calls, call_timeout);
        for c in &calls {
            let ended = c.at + c.took;
            assert!(
                ended <= started + shutdown_timeout + SLACK,
                "a caller outlived the shutdown: {:?}",
                c.result
            );
            match &c.result {
                Err(Error::ShuttingDown { .. } | Error::ConnectionLost { .. }) => {}
                other => panic!("a caller got {other:?} while the database was down"),
            }
        }
        if callers {
            assert!(
                calls
                    .iter()
                    .any(|c| matches!(c.result, Err(Error::ShuttingDown { .. }))),
                "no caller was waiting at shutdown"
            );
        }
    });
}

#[test]
fn shutdown_while_database_down_with_idle_connections() {
    shutdown_while_database_down(
        "shutdown_idle",
        false,
        Backoff::default(),
        Duration::from_millis(500),
    );
}

#[test]
fn shutdown_while_database_down_with_waiting_callers() {
    let backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(200));
    shutdown_while_database_down("shutdown_waiting", true, backoff, Duration::from_secs(1));
}

/// The default backoff reaches 5 s; shutdown must not wait out a retry
/// that is due after its own deadline.
#[test]
fn shutdown_while_database_down_with_a_connect_retry_pending() {
    let backoff = Backoff::new(Duration::from_secs(8), Duration::from_secs(8));
    shutdown_while_database_down("shutdown_retry", true, backoff, Duration::from_secs(1));
}
