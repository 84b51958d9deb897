//! The load every fault test runs: 32 callers, each call recorded with its
//! duration and result; and the helpers that read the event stream.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use switchboard::{Bus, Error, Event, Execute, Filter, SubscriptionId, Switchboard};

use crate::support::observed;

/// Every caller's message timeout: no call may take longer, plus `SLACK`.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Scheduling slack on top of any bound (2 cores, other tests running).
pub(super) const SLACK: Duration = Duration::from_secs(1);
/// Concurrent callers in every load.
pub(super) const CALLERS: usize = 32;

/// One call of a load: when it started, how long it took, what it returned.
pub(super) struct Call {
    pub(super) at: Instant,
    pub(super) took: Duration,
    pub(super) result: switchboard::Result<usize>,
}

/// `CALLERS` tasks, each running `sql` with `timeout` while `more(i)` says
/// so for its `i`-th call, or until the pool says it is shutting down.
pub(super) async fn hammer(
    sb: &Switchboard,
    sql: &'static str,
    timeout: Duration,
    more: &dyn Fn(usize) -> bool,
) -> Vec<Call> {
    let callers = (0..CALLERS).map(|c| async move {
        let mut calls = Vec::new();
        let mut i = 0;
        while more(i) {
            let at = Instant::now();
            let result = sb
                .run(
                    Execute::sql(sql)
                        .label("caller", c.to_string())
                        .timeout(timeout),
                )
                .await;
            let done = matches!(result, Err(Error::ShuttingDown { .. }));
            calls.push(Call {
                at,
                took: at.elapsed(),
                result,
            });
            if done {
                break;
            }
            i += 1;
        }
        calls
    });
    join_all(callers).await.into_iter().flatten().collect()
}

/// Fails with the offenders if any call outlived its timeout (plus slack).
pub(super) fn assert_none_hung(calls: &[Call], timeout: Duration) {
    let hung: Vec<_> = calls
        .iter()
        .filter(|c| c.took > timeout + SLACK)
        .map(|c| (c.took, c.result.as_ref().err().map(Error::to_string)))
        .collect();
    assert!(
        hung.is_empty(),
        "{} of {} calls took longer than {timeout:?} + {SLACK:?}: {:?}",
        hung.len(),
        calls.len(),
        &hung[..hung.len().min(5)]
    );
}

/// Runs blocking work (stopping or starting the server) off the arbiter,
/// so the pool's actors and the callers' timers keep running meanwhile.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// A lossless channel on its own bus, drained by a plain thread so that
/// reading never holds statements back.
pub(super) struct Recorder {
    /// The bus the pool under test publishes on.
    pub(super) bus: Bus,
    id: SubscriptionId,
    /// Collects every event until the subscription ends.
    reader: JoinHandle<Vec<Event>>,
}

impl Recorder {
    pub(super) fn start(name: &str) -> Recorder {
        let (bus, rx) = observed(name, Filter::all(), 1 << 16);
        let id = rx.id();
        // Ends when the subscription does (`finish`).
        let reader = std::thread::spawn(move || rx.iter().collect());
        Recorder { bus, id, reader }
    }

    /// Every event, once the pool has shut down (which flushes lossless
    /// subscribers).
    pub(super) fn finish(self) -> Vec<Event> {
        self.bus.unsubscribe(self.id);
        self.reader.join().unwrap()
    }
}

/// Each connection's events, in order.
pub(super) fn stories(events: &[Event]) -> BTreeMap<u64, Vec<&Event>> {
    let mut by_conn = BTreeMap::<u64, Vec<&Event>>::new();
    // The pool's own events (no connection) tell no connection's story.
    for e in events {
        let Some(conn) = e.meta().connection else {
            continue;
        };
        by_conn.entry(conn).or_default().push(e);
    }
    by_conn
}
