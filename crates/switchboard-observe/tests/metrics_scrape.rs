//! The Prometheus endpoint, scraped over HTTP while a real SQLite pool
//! works: histogram counts equal the statements run, per outcome, and the
//! pool gauges match the pool.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::{caught_up, http_get, sample};
use switchboard::guard::Subject;
use switchboard::{Bus, Check, Error, Execute, Guard, Ruling, Switchboard};
use switchboard_core::testing::eventually;
use switchboard_observe::metrics::names;
use switchboard_observe::{Exporter, Metrics};

/// Denies every `DELETE`, so the workload has denials.
struct NoDeletes;

impl Guard for NoDeletes {
    fn name(&self) -> &str {
        "no-deletes"
    }
    fn check(&self, check: &Check) -> Ruling {
        match &check.subject {
            Subject::Statement(s) if s.sql.starts_with("DELETE") => Ruling::deny("no deletes"),
            _ => Ruling::allow(),
        }
    }
}

const OK: usize = 40;
const FAILED: usize = 7;
const DENIED: usize = 4;

#[test]
fn histogram_counts_equal_the_statements_run_per_outcome() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let addr = exporter.local_addr();
        let bus = Bus::new();
        let metrics = Metrics::new()
            .recorder(exporter.recorder())
            .attach(&bus)
            .expect("metrics");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("scrape")
            .pool_size(1..=1)
            .guard(NoDeletes)
            .bus(bus)
            .start()
            .await
            .expect("pool");
        metrics.watch(&sb);

        // A scraper on its own thread, all through the workload: one scrape
        // before it starts, then as fast as it can until it ends.
        let running = Arc::new(AtomicBool::new(true));
        let (first, scraped) = std::sync::mpsc::sync_channel::<()>(1);
        let scraper = {
            let running = running.clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                loop {
                    let body = http_get(addr, "/metrics");
                    seen.push(sample(&body, names::STATEMENTS, &[("pool", "scrape")]));
                    let _ = first.try_send(());
                    if !running.load(Ordering::Relaxed) {
                        return seen;
                    }
                }
            })
        };
        scraped.recv().expect("a first scrape");

        for i in 0..OK {
            sb.run(Execute::sql(format!("SELECT {i}")))
                .await
                .expect("ok statement");
        }
        for _ in 0..FAILED {
            let err = sb.run(Execute::sql("SELECT * FROM no_such_table")).await;
            assert!(err.is_err());
        }
        for _ in 0..DENIED {
            let err = sb.run(Execute::sql("DELETE FROM no_such_table")).await;
            assert!(matches!(err, Err(Error::Denied { .. })), "{err:?}");
        }
        running.store(false, Ordering::Relaxed);
        let seen = scraper.join().expect("scraper");
        assert!(seen.len() >= 2, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");

        caught_up(metrics.subscription());
        let body = http_get(addr, "/metrics");
        let count = |outcome| {
            sample(
                &body,
                &format!("{}_count", names::STATEMENT_DURATION),
                &[
                    ("pool", "scrape"),
                    ("backend", "sqlite"),
                    ("outcome", outcome),
                ],
            )
        };
        assert_eq!(count("ok"), OK as f64, "{body}");
        assert_eq!(count("error"), FAILED as f64, "{body}");
        let total = |outcome| {
            sample(
                &body,
                names::STATEMENTS,
                &[("pool", "scrape"), ("outcome", outcome)],
            )
        };
        assert_eq!(total("ok"), OK as f64, "{body}");
        assert_eq!(total("error"), FAILED as f64, "{body}");
        assert_eq!(total("denied"), DENIED as f64, "{body}");
        assert_eq!(
            sample(
                &body,
                names::STATEMENTS,
                &[("class", "read"), ("outcome", "ok")]
            ),
            OK as f64
        );
        assert_eq!(
            sample(&body, names::DENIALS, &[("guard", "no-deletes")]),
            DENIED as f64
        );
        assert_eq!(sample(&body, names::CONNECTS, &[("pool", "scrape")]), 1.0);
        assert_eq!(
            sample(&body, &format!("{}_count", names::CONNECT_DURATION), &[]),
            1.0
        );
        // Every statement checked a connection out.
        assert!(
            sample(&body, &format!("{}_count", names::CHECKOUT_WAIT), &[])
                >= (OK + FAILED + DENIED) as f64
        );
        assert!(body.contains("# TYPE switchboard_statement_duration_seconds histogram"));

        sb.shutdown().await.expect("shutdown");
    });
}

#[test]
fn gauges_match_the_pool() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let bus = Bus::new();
        let metrics = Metrics::new()
            .recorder(exporter.recorder())
            .attach(&bus)
            .expect("metrics");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("gauges")
            .pool_size(2..=2)
            .bus(bus)
            .start()
            .await
            .expect("pool");
        metrics.watch(&sb);
        let gauges = |body: &str| {
            [
                names::POOL_OPEN,
                names::POOL_IDLE,
                names::POOL_BUSY,
                names::POOL_WAITING,
                names::POOL_MAX,
            ]
            .map(|name| sample(body, name, &[("pool", "gauges"), ("backend", "sqlite")]))
        };
        let body = http_get(exporter.local_addr(), "/metrics");
        assert_eq!(gauges(&body), [2.0, 2.0, 0.0, 0.0, 2.0], "{body}");

        let a = sb.checkout().await.expect("lease a");
        let b = sb.checkout().await.expect("lease b");
        // A third caller waits behind the two leases.
        let waiter = {
            let sb = sb.clone();
            actix_rt::spawn(async move { sb.run(Execute::sql("SELECT 1")).await })
        };
        for _ in 0..1000 {
            if sb.stats().waiting == 1 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        metrics.sample();
        let body = http_get(exporter.local_addr(), "/metrics");
        assert_eq!(gauges(&body), [2.0, 0.0, 2.0, 1.0, 2.0], "{body}");

        drop((a, b));
        waiter.await.expect("join").expect("waiter ran");
        for _ in 0..1000 {
            if sb.stats().idle == 2 {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        metrics.sample();
        let body = http_get(exporter.local_addr(), "/metrics");
        assert_eq!(gauges(&body), [2.0, 2.0, 0.0, 0.0, 2.0], "{body}");
        sb.shutdown().await.expect("shutdown");
    });
}

/// Threads of this process whose name starts with `prefix` (Linux names
/// are cut to 15 bytes).
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Attached through the pool's `attach` (the `Subscriber` contract),
/// metrics record the pool's statements; their sampler thread ends once
/// the pool's shutdown has ended the subscription, handle still held.
#[test]
fn metrics_attached_through_the_pool_record_it_and_end_with_it() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("attached")
            .start()
            .await
            .expect("pool");
        let subscription = sb
            .attach(
                Metrics::new()
                    .recorder(exporter.recorder())
                    .sample_every(Duration::from_millis(10)),
            )
            .expect("metrics");
        // A thread names itself once it runs: wait for it.
        eventually(
            || threads_named("sb-metrics-samp") == 1,
            Duration::from_secs(10),
        )
        .await;
        for i in 0..3 {
            sb.run(Execute::sql(format!("SELECT {i}")))
                .await
                .expect("ok statement");
        }
        caught_up(&subscription);
        let body = http_get(exporter.local_addr(), "/metrics");
        let ok = sample(
            &body,
            names::STATEMENTS,
            &[("pool", "attached"), ("outcome", "ok")],
        );
        assert_eq!(ok, 3.0, "{body}");

        sb.shutdown().await.expect("shutdown");
        eventually(
            || threads_named("sb-metrics-samp") == 0,
            Duration::from_secs(10),
        )
        .await;
        assert!(subscription.stats().is_none());
    });
}

/// Attached through the pool's builder, the subscription belongs to the
/// pool: the sampler runs while the pool does (its handle was let go at
/// start), and ends with the pool's shutdown.
#[test]
fn metrics_attached_through_the_builder_sample_until_the_pool_shuts_down() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("built")
            .attach(
                Metrics::new()
                    .recorder(exporter.recorder())
                    .sample_every(Duration::from_millis(10)),
            )
            .start()
            .await
            .expect("pool");
        eventually(
            || threads_named("sb-metrics-samp") == 1,
            Duration::from_secs(10),
        )
        .await;
        for i in 0..3 {
            sb.run(Execute::sql(format!("SELECT {i}")))
                .await
                .expect("ok statement");
        }
        let ok = || {
            let body = http_get(exporter.local_addr(), "/metrics");
            sample(
                &body,
                names::STATEMENTS,
                &[("pool", "built"), ("outcome", "ok")],
            )
        };
        eventually(|| ok() == 3.0, Duration::from_secs(10)).await;
        assert_eq!(
            threads_named("sb-metrics-samp"),
            1,
            "the sampler stopped while the pool runs"
        );

        sb.shutdown().await.expect("shutdown");
        eventually(
            || threads_named("sb-metrics-samp") == 0,
            Duration::from_secs(10),
        )
        .await;
    });
}
