//! What clean hand-back costs: lease round trips on PostgreSQL at
//! concurrency 8 (8 tasks, a pool of 8), each a checkout, one statement
//! and the return, in one run:
//!
//! - `clean`: the statement is `SELECT 1`, which leaves nothing behind: no
//!   reset runs;
//! - `rollback`: the statement is `SET app.tenant = ...`, and the pool's
//!   `ResetPolicy::Rollback` pays for it with a `ROLLBACK`;
//! - `session`: the same statement under the default `ResetPolicy::Session`
//!   (`DISCARD ALL` less `DEALLOCATE ALL`, in one round trip).
//!
//! `cargo bench --bench handback` (`-- --quick` for a short run);
//! `SWITCHBOARD_PG_URL` as for the other benches.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use futures_util::future::join_all;
use switchboard::{Execute, ResetPolicy, Switchboard};

const TASKS: usize = 8;
const PER_TASK: u64 = 64;
const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// `iters` rounds of `TASKS` tasks, each running `PER_TASK` lease round
/// trips with `sql`.
async fn round_trips(sb: &Switchboard, sql: &'static str, iters: u64) -> Duration {
    let started = Instant::now();
    for _ in 0..iters {
        join_all((0..TASKS).map(|_| async {
            for _ in 0..PER_TASK {
                let lease = sb.checkout().await.expect("a lease");
                lease.send(Execute::sql(sql)).await.expect("the statement");
                drop(lease);
            }
        }))
        .await;
    }
    started.elapsed()
}

fn bench(c: &mut Criterion, url: &str) {
    let rows: [(&str, &'static str, ResetPolicy); 3] = [
        ("clean", "SELECT 1", ResetPolicy::Session),
        (
            "rollback",
            "SET app.tenant = 'bench'",
            ResetPolicy::Rollback,
        ),
        ("session", "SET app.tenant = 'bench'", ResetPolicy::Session),
    ];
    let mut group = c.benchmark_group("handback/postgres/c8");
    group.throughput(Throughput::Elements(TASKS as u64 * PER_TASK));
    for (name, sql, policy) in rows {
        let system = actix::System::new();
        let sb = system.block_on(async {
            Switchboard::builder(url)
                .name(format!("handback-{name}"))
                .pool_size(TASKS..=TASKS)
                .pipeline(1)
                .reset_on_return(policy)
                .start()
                .await
                .expect("a PostgreSQL pool")
        });
        group.bench_function(name, |b| {
            b.iter_custom(|iters| system.block_on(round_trips(&sb, sql, iters)))
        });
        system.block_on(async { sb.shutdown().await.expect("shutdown") });
    }
    group.finish();
}

fn main() {
    let url = std::env::var("SWITCHBOARD_PG_URL").unwrap_or_else(|_| PG_DEFAULT.into());
    let reachable = url::Url::parse(&url)
        .ok()
        .and_then(|u| Some((u.host_str()?.to_owned(), u.port().unwrap_or(5432))))
        .is_some_and(|(h, p)| std::net::TcpStream::connect((h.as_str(), p)).is_ok());
    if !reachable {
        let msg = format!("handback bench: no PostgreSQL at {url}");
        if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("{msg}; skipped");
        return;
    }
    // Short: each figure is read against the others of the same run.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    bench(&mut c, &url);
    c.final_summary();
}
