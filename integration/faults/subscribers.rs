//! Subscribers that die or stall while 32 callers run statements.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use actix::{Actor, ActorContext, Context, Handler};
use actix_rt::time::sleep;
use futures_util::future::join;
use parking_lot::Mutex;
use switchboard::{Bus, Delivery, Error, Event, Execute, Filter, SubscriptionId, Switchboard};

use super::load::{CALL_TIMEOUT, CALLERS, Recorder, assert_none_hung, hammer};
use crate::support::private_pg::PrivatePg;
use crate::support::{assert_gap_free, run_local};

/// A lossless subscriber that dies now and then: on every `every`-th event
/// it handles, once per event, it either panics before recording the event
/// or records it and stops itself. Either way the supervisor starts a new
/// one, which must get the event it missed, and only that.
struct Mortal {
    every: usize,
    seen: Arc<Mutex<Vec<Event>>>,
    /// Ids of the events it died on.
    deaths: Arc<Mutex<Vec<u64>>>,
}

impl Actor for Mortal {
    type Context = Context<Self>;
}

impl Handler<Event> for Mortal {
    type Result = ();

    fn handle(&mut self, e: Event, ctx: &mut Self::Context) {
        let id = e.meta().id;
        let n = self.seen.lock().len();
        let mut deaths = self.deaths.lock();
        if n > 0 && n.is_multiple_of(self.every) && !deaths.contains(&id) {
            deaths.push(id);
            if deaths.len() % 2 == 1 {
                drop(deaths);
                panic!("subscriber killed on purpose at event {id}");
            }
            self.seen.lock().push(e);
            ctx.stop();
            return;
        }
        self.seen.lock().push(e);
    }
}

#[test]
fn killed_lossless_subscriber_gets_every_event_once() {
    let Some(pg) = PrivatePg::start("killed_subscriber") else {
        return;
    };
    run_local(async move {
        let recorder = Recorder::start("reference");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let deaths = Arc::new(Mutex::new(Vec::new()));
        // Instances made: the first, and one per restart (the bus's own
        // count ends with the pool's subscriptions at shutdown).
        let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let (s, d, n) = (seen.clone(), deaths.clone(), starts.clone());
        recorder.bus.subscribe_supervised(
            "mortal",
            move || {
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Mortal {
                    every: 500,
                    seen: s.clone(),
                    deaths: d.clone(),
                }
            },
            Filter::all(),
            Delivery::lossless(256),
        );
        let sb = Switchboard::builder(pg.url())
            .name("mortal")
            .bus(recorder.bus.clone())
            .pool_size(8..=8)
            .start()
            .await
            .unwrap();
        let calls = hammer(&sb, "SELECT 1", CALL_TIMEOUT, &|i| i < 60).await;
        let deaths_during_load = deaths.lock().len();
        assert!(calls.iter().all(|c| c.result.is_ok()), "a statement failed");
        assert_eq!(calls.len(), CALLERS * 60);
        assert!(
            deaths_during_load >= 4,
            "only {deaths_during_load} deaths during the load"
        );
        sb.shutdown().await.unwrap();
        let reference = recorder.finish();

        let seen = seen.lock().clone();
        let restarts = starts.load(std::sync::atomic::Ordering::SeqCst) - 1;
        assert_eq!(restarts, deaths.lock().len() as u64);
        let ids = |events: &[Event]| {
            let mut ids: Vec<u64> = events.iter().map(|e| e.meta().id).collect();
            ids.sort_unstable();
            ids
        };
        let (got, want) = (ids(&seen), ids(&reference));
        let mut unique = got.clone();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "an event was delivered twice");
        assert_eq!(got.len(), want.len(), "events lost across restarts");
        assert_eq!(got, want);
        // Redelivery keeps each connection's order.
        assert_gap_free(&seen);
    });
}

/// A closure subscriber that blocks on its first event until the returned
/// sender is dropped.
fn stalled(bus: &Bus, name: &str, delivery: Delivery) -> (SubscriptionId, mpsc::Sender<()>) {
    let (release, released) = mpsc::channel::<()>();
    let mut stalled = true;
    let id = bus
        .subscribe_fn(name, Filter::all(), delivery, move |_e: Event| {
            if stalled {
                // Returns once the sender is dropped.
                let _ = released.recv();
                stalled = false;
            }
        })
        .unwrap();
    (id, release)
}

#[test]
fn stalled_lossless_subscriber_fails_statements_with_backpressure() {
    let Some(pg) = PrivatePg::start("stalled_lossless") else {
        return;
    };
    run_local(async move {
        let bus = Bus::new();
        let deadline = Duration::from_millis(300);
        let (stalled_id, release) = stalled(
            &bus,
            "stalled-audit",
            Delivery::lossless(64).with_deadline(deadline),
        );
        let sb = Switchboard::builder(pg.url())
            .name("stalled-lossless")
            .bus(bus.clone())
            .pool_size(8..=8)
            .start()
            .await
            .unwrap();
        let stop = Cell::new(false);
        let stopper = async {
            sleep(Duration::from_millis(1500)).await;
            stop.set(true);
        };
        let (calls, ()) = join(
            hammer(&sb, "SELECT 1", CALL_TIMEOUT, &|_| !stop.get()),
            stopper,
        )
        .await;

        // Nothing hung: each call ended with success or backpressure,
        // and backpressure only after the full deadline.
        assert_none_hung(&calls, CALL_TIMEOUT);
        let mut refused = 0;
        for c in &calls {
            match &c.result {
                Ok(_) => {}
                Err(Error::Backpressure {
                    subscriber,
                    deadline: d,
                    ..
                }) => {
                    assert_eq!((subscriber.as_str(), *d), ("stalled-audit", deadline));
                    assert!(c.took >= deadline, "refused before the deadline");
                    refused += 1;
                }
                Err(e) => panic!("expected Backpressure, got {e:?}"),
            }
        }
        assert!(refused > 0, "the stalled subscriber held nothing back");
        let ok = calls.iter().filter(|c| c.result.is_ok()).count();
        assert!(ok < 200, "{ok} statements ran past a stalled audit trail");

        // Once the subscriber catches up, statements run again.
        drop(release);
        sb.run(Execute::sql("SELECT 1").timeout(CALL_TIMEOUT))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
        bus.unsubscribe(stalled_id);
    });
}

#[test]
fn stalled_lossy_subscriber_costs_nothing() {
    let Some(pg) = PrivatePg::start("stalled_lossy") else {
        return;
    };
    run_local(async move {
        let recorder = Recorder::start("counter");
        let capacity = 64;
        let (stalled_id, release) =
            stalled(&recorder.bus, "stalled-log", Delivery::lossy(capacity));
        let sb = Switchboard::builder(pg.url())
            .name("stalled-lossy")
            .bus(recorder.bus.clone())
            .pool_size(8..=8)
            .start()
            .await
            .unwrap();
        let per_caller = 50;
        let calls = hammer(&sb, "SELECT 1", CALL_TIMEOUT, &|i| i < per_caller).await;
        assert_none_hung(&calls, CALL_TIMEOUT);
        assert_eq!(
            calls.iter().filter(|c| c.result.is_ok()).count(),
            CALLERS * per_caller,
            "every statement runs although a lossy subscriber is stuck"
        );
        sb.shutdown().await.unwrap();

        // It holds its capacity, and has dropped everything else, counted;
        // the pool's end added the Lagged notice of the drops behind them.
        let stats = recorder.bus.subscription_stats(stalled_id).unwrap();
        let recorder_bus = recorder.bus.clone();
        let total = recorder.finish().len() as u64;
        assert_eq!(stats.delivered, 0);
        assert_eq!(stats.queued, capacity + 1);
        assert_eq!(stats.dropped, total - capacity as u64);
        drop(release);
        recorder_bus.unsubscribe(stalled_id);
    });
}
