//! The server restarts in the middle of a 32-caller load.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_rt::time::sleep;
use futures_util::future::{join, join_all};
use switchboard::{Backoff, Checkout, CloseReason, Error, Execute, Kind, Payload, Switchboard};

use super::load::{CALL_TIMEOUT, Recorder, assert_none_hung, blocking, hammer, stories};
use crate::support::private_pg::{PrivatePg, Stop};
use crate::support::{assert_gap_free, run_local};

/// What a caller may see while the server restarts: each says what
/// happened and that a retry may succeed.
fn is_outage_error(e: &Error) -> bool {
    matches!(
        e,
        Error::ConnectionLost { .. }
            | Error::Unreachable { .. }
            | Error::PoolTimeout { .. }
            | Error::Timeout { .. }
    )
}

/// Checks out every connection of a pool of `size` at once and runs a
/// statement on each, until all answer or `deadline` passes.
async fn serves_at_full_size(sb: &Switchboard, size: usize, deadline: Instant) {
    loop {
        let leases = join_all(
            (0..size).map(|_| sb.run_checkout(Checkout::new().timeout(Duration::from_secs(1)))),
        )
        .await;
        let answers = join_all(leases.iter().map(|lease| async move {
            match lease {
                Ok(lease) => lease.send(Execute::sql("SELECT 1")).await.map(drop),
                Err(e) => Err(e.clone()),
            }
        }))
        .await;
        if answers.iter().all(Result::is_ok) {
            return;
        }
        drop(leases);
        assert!(
            Instant::now() < deadline,
            "the pool did not serve {size} callers at once in time: {:?}; {:?}",
            answers
                .iter()
                .filter_map(|a| a.as_ref().err())
                .collect::<Vec<_>>(),
            sb.status().await
        );
        sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn restart_mid_load() {
    let Some(pg) = PrivatePg::start("restart_mid_load") else {
        return;
    };
    let pg = Arc::new(pg);
    run_local(async move {
        let recorder = Recorder::start("restart");
        let sb = Switchboard::builder(pg.url())
            .name("restart")
            .bus(recorder.bus.clone())
            .pool_size(8..=8)
            .checkout_timeout(Duration::from_secs(1))
            .connect_timeout(Duration::from_secs(1))
            .backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(400),
            ))
            .start()
            .await
            .unwrap();

        let stop = Cell::new(false);
        let (down_at, back_at) = (Cell::new(None), Cell::new(None));
        let fault = async {
            sleep(Duration::from_secs(1)).await;
            down_at.set(Some(Instant::now()));
            let p = pg.clone();
            blocking(move || p.stop(Stop::Fast)).await;
            sleep(Duration::from_secs(1)).await;
            let p = pg.clone();
            blocking(move || p.start_again()).await;
            back_at.set(Some(Instant::now()));
            sleep(Duration::from_millis(1500)).await;
            stop.set(true);
        };
        let more = |_| !stop.get();
        let load = hammer(&sb, "SELECT pg_sleep(0.01)", CALL_TIMEOUT, &more);
        let (calls, ()) = join(load, fault).await;
        let (down_at, back_at) = (down_at.get().unwrap(), back_at.get().unwrap());

        // Every call ended on time, with success or a clear error.
        assert_none_hung(&calls, CALL_TIMEOUT);
        let unclear: Vec<&Error> = calls
            .iter()
            .filter_map(|c| c.result.as_ref().err())
            .filter(|e| !is_outage_error(e))
            .collect();
        assert!(
            unclear.is_empty(),
            "{} unclear errors: {:?}",
            unclear.len(),
            &unclear[..unclear.len().min(5)]
        );
        let failed = calls.iter().filter(|c| c.result.is_err()).count();
        assert!(failed > 0, "no call noticed the restart");
        let ok_before = calls
            .iter()
            .filter(|c| c.at < down_at && c.result.is_ok())
            .count();
        let ok_after = calls
            .iter()
            .filter(|c| c.at > back_at && c.result.is_ok())
            .count();
        assert!(ok_before > 0 && ok_after > 0, "{ok_before} / {ok_after}");

        // Whole again within 5 s of the server's return.
        serves_at_full_size(&sb, 8, back_at + Duration::from_secs(5)).await;
        assert_eq!(sb.status().await.unwrap().open, 8);
        sb.shutdown().await.unwrap();

        let events = recorder.finish();
        assert_gap_free(&events);
        let stories = stories(&events);
        // Connections the restart broke: Invalidated, then closed as such.
        let invalidated: Vec<_> = stories
            .values()
            .filter(|s| s.iter().any(|e| e.kind() == Kind::Invalidated))
            .collect();
        assert!(!invalidated.is_empty(), "no connection was invalidated");
        for story in &invalidated {
            let kinds: Vec<Kind> = story.iter().map(|e| e.kind()).collect();
            assert!(
                matches!(
                    story[story.len() - 2..]
                        .iter()
                        .map(|e| e.payload())
                        .collect::<Vec<_>>()[..],
                    [
                        Payload::Closing {
                            reason: CloseReason::Invalidated
                        },
                        Payload::Closed { .. }
                    ]
                ),
                "an invalidated connection must close as such: {kinds:?}"
            );
        }
        // Their replacements: Connecting(1) → (ConnectFailed(n) →
        // Connecting(n+1))* → Connected, retries keeping the slot's id.
        let mut retried = 0;
        for story in stories.values() {
            let connect: Vec<&Payload> = story
                .iter()
                .map(|e| e.payload())
                .take_while(|p| !matches!(p, Payload::CheckedOut { .. }))
                .collect();
            if !connect
                .iter()
                .any(|p| matches!(p, Payload::ConnectFailed { .. }))
            {
                continue;
            }
            retried += 1;
            let last = connect.len() - 1;
            for (i, p) in connect.iter().enumerate() {
                let attempt = (i / 2 + 1) as u32;
                let ok = match p {
                    Payload::Connecting { attempt: a, .. } => i % 2 == 0 && *a == attempt,
                    Payload::ConnectFailed {
                        attempt: a,
                        retry_in,
                        ..
                    } => i % 2 == 1 && *a == attempt && retry_in.is_some(),
                    Payload::Connected { .. } => i == last && i % 2 == 1,
                    _ => false,
                };
                assert!(ok, "connect story out of order at {i}: {connect:?}");
            }
            assert!(
                matches!(connect[last], Payload::Connected { .. }),
                "a slot gave up reconnecting: {connect:?}"
            );
        }
        assert!(retried > 0, "no slot retried a failed connect");
        let first = |k: Kind| events.iter().find(|e| e.kind() == k).unwrap().meta().id;
        assert!(first(Kind::Invalidated) < first(Kind::ConnectFailed));
    });
}
