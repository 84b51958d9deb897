//! What the statement benches share: the statements, clients that run
//! them, rounds of concurrent clients with their timing, and formatting.
//!
//! - [`cpu`]: CPU per statement, and other processes' CPU meanwhile;
//! - [`subscribers`]: the three subscribers of the "with subscribers" rows.
//!
//! Each bench uses part of this module.
#![allow(dead_code)]

mod cpu;
pub mod subscribers;

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use switchboard::{Load, Switchboard};

use cpu::{Ticks, own_ticks_now};
pub use subscribers::Subscribers;

diesel::table! {
    /// 1,000 rows read by primary key.
    sb_bench_rows (id) {
        id -> Integer,
        name -> Text,
    }
}

/// Rows in `sb_bench_rows`; keys read are `1..=ROWS`.
pub const ROWS: u64 = 1000;

/// Statements per criterion iteration, split evenly between the clients.
pub const PER_ITER: u64 = 512;

/// Statements timed one by one for the percentiles, split between the
/// clients.
pub const TIMED: u64 = 12_800;

/// The statements measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stmt {
    /// `SELECT $1` bound to 1: diesel caches it as a prepared statement,
    /// so it is one round trip, as `SELECT 1` is in `pgbench -M prepared`.
    /// (`sql_query("SELECT 1")` is never cached by diesel: two round trips.)
    Select1,
    /// `SELECT id, name FROM sb_bench_rows WHERE id = $1`, one row.
    ReadPk,
}

impl Stmt {
    pub const ALL: [Stmt; 2] = [Stmt::Select1, Stmt::ReadPk];

    pub fn name(self) -> &'static str {
        match self {
            Stmt::Select1 => "select1",
            Stmt::ReadPk => "read_pk",
        }
    }
}

/// A client of the system under test: runs one statement at a time and
/// panics on any error (a bench that fails must not report a figure).
pub trait Client: 'static {
    fn exec(&mut self, stmt: Stmt, key: i32) -> impl Future<Output = ()>;
}

impl Client for Switchboard {
    async fn exec(&mut self, stmt: Stmt, key: i32) {
        match stmt {
            Stmt::Select1 => {
                let one: Vec<i32> = self
                    .run(Load::new(diesel::select(1.into_sql::<Integer>())))
                    .await
                    .expect("SELECT 1 through switchboard");
                assert_eq!(one, [1]);
            }
            Stmt::ReadPk => {
                let rows: Vec<(i32, String)> = self
                    .run(Load::new(sb_bench_rows::table.find(key)))
                    .await
                    .expect("a primary-key read through switchboard");
                assert_eq!(rows.len(), 1);
            }
        }
    }
}

/// The key client `i` reads at its `k`-th statement: spread over the rows.
pub fn key(client: usize, k: u64) -> i32 {
    ((client as u64 * 7919 + k) % ROWS) as i32 + 1
}

/// One client's share of a round: `count` statements, each timed when
/// `timed` (nanoseconds).
pub async fn drive<C: Client>(
    mut client: C,
    i: usize,
    stmt: Stmt,
    count: u64,
    timed: bool,
) -> (C, Vec<u64>) {
    let mut latencies = Vec::with_capacity(if timed { count as usize } else { 0 });
    for k in 0..count {
        if timed {
            let started = Instant::now();
            client.exec(stmt, key(i, k)).await;
            latencies.push(started.elapsed().as_nanos() as u64);
        } else {
            client.exec(stmt, key(i, k)).await;
        }
    }
    (client, latencies)
}

/// The outcome of every client running its share at once.
pub struct Round<C> {
    pub clients: Vec<C>,
    pub elapsed: Duration,
    /// Per statement, nanoseconds (empty unless timed).
    pub latencies: Vec<u64>,
    /// Statements the round counts in its throughput (in a mixed workload,
    /// the fast ones only).
    pub counted: u64,
}

/// Runs a round with each client in a task of its own on the current
/// arbiter (call inside `System::block_on`).
pub async fn round_local<C: Client>(
    clients: Vec<C>,
    stmt: Stmt,
    per_client: u64,
    timed: bool,
) -> Round<C> {
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, c)| actix_rt::spawn(drive(c, i, stmt, per_client, timed)))
        .collect();
    let mut round = Round {
        clients: Vec::with_capacity(tasks.len()),
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        counted: per_client * tasks.len() as u64,
    };
    for task in tasks {
        let (c, lat) = task.await.expect("a client task");
        round.clients.push(c);
        round.latencies.extend(lat);
    }
    round.elapsed = started.elapsed();
    round
}

/// Runs rounds with [`round_local`] on an actix system, for [`measure`].
pub fn on_system<C: Client>(
    system: &actix::SystemRunner,
    stmt: Stmt,
) -> impl FnMut(Vec<C>, u64, bool) -> Round<C> + '_ {
    move |clients, per_client, timed| system.block_on(round_local(clients, stmt, per_client, timed))
}

/// Measures `sb`, a pool with the three [`Subscribers`] attached, as the
/// `switchboard_subs` row; then reports each subscription's counts and shuts
/// the pool and the subscribers down.
pub fn measure_with_subscribers(
    group: &mut BenchmarkGroup<'_, WallTime>,
    system: &actix::SystemRunner,
    stmt: Stmt,
    n: usize,
    sb: Switchboard,
    subscribers: Subscribers,
) -> Option<Figures> {
    let (clients, figures) = measure(
        group,
        "switchboard_subs",
        stmt,
        vec![sb.clone(); n],
        on_system(system, stmt),
    );
    drop(clients);
    for s in sb.bus().stats() {
        eprintln!(
            "  {}: delivered {}, dropped {}",
            s.name, s.delivered, s.dropped
        );
    }
    system.block_on(async {
        sb.shutdown().await.expect("shut down");
        subscribers.close().await;
    });
    figures
}

/// What one row of a summary reports.
#[derive(Debug, Clone)]
pub struct Figures {
    pub bench: String,
    pub variant: String,
    pub concurrency: usize,
    /// Mean over every round criterion timed (warm-up included).
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    /// CPU time of the whole bench process (every thread: clients, pool,
    /// subscribers) per statement, over the criterion rounds. The server's
    /// CPU is not in it; on 2 cores it competes with this for the cores.
    pub cpu_per_statement: Duration,
    /// Cores used meanwhile by other processes than this one and
    /// PostgreSQL: above ~0.1 the row was measured on a busy machine.
    pub others: f64,
}

/// The row of `bench` measured as `variant`.
pub fn find<'a>(figures: &'a [Figures], bench: &str, variant: &str) -> Option<&'a Figures> {
    figures
        .iter()
        .find(|f| f.bench == bench && f.variant == variant)
}

/// The benches the figures cover, once each, in the order measured.
pub fn benches(figures: &[Figures]) -> Vec<&str> {
    let mut benches: Vec<&str> = figures.iter().map(|f| f.bench.as_str()).collect();
    benches.dedup();
    benches
}

/// The `p`-th percentile (0..=100) of nanosecond samples.
pub fn percentile(sorted: &[u64], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Duration::from_nanos(sorted[rank.min(sorted.len() - 1)])
}

/// Whether a row is measured: all of them, or with `SB_BENCH_ONLY` set
/// (to rerun or profile some rows), those whose
/// `statement/concurrency/variant` (`select1/8/deadpool`) contains its
/// value (`select1/8/`: every variant of one group).
pub fn selected(stmt: Stmt, variant: &str, n: usize) -> bool {
    selected_path(&format!("{}/{n}/{variant}", stmt.name()))
}

/// Whether the row named `path` (`statement/concurrency/variant`, or with
/// a backend first) is measured; see [`selected`].
pub fn selected_path(path: &str) -> bool {
    match std::env::var("SB_BENCH_ONLY") {
        Ok(only) => path.contains(&only),
        Err(_) => true,
    }
}

/// Benchmarks `clients` running `stmt` concurrently under criterion (as
/// statements per second, one iteration being [`PER_ITER`] statements),
/// then times [`TIMED`] statements one by one for the percentiles.
/// `run` runs one round on the variant's runtime; rows not
/// [`selected`] are skipped.
pub fn measure<C>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    variant: &str,
    stmt: Stmt,
    clients: Vec<C>,
    run: impl FnMut(Vec<C>, u64, bool) -> Round<C>,
) -> (Vec<C>, Option<Figures>) {
    let n = clients.len();
    if !selected(stmt, variant, n) {
        return (clients, None);
    }
    measure_as(
        group,
        &format!("{}/c{n}", stmt.name()),
        variant,
        clients,
        run,
    )
}

/// [`measure`] for a row named `bench` (`select1/c8`), whatever runs it;
/// the caller decides whether the row is selected.
pub fn measure_as<C>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    bench: &str,
    variant: &str,
    clients: Vec<C>,
    mut run: impl FnMut(Vec<C>, u64, bool) -> Round<C>,
) -> (Vec<C>, Option<Figures>) {
    let n = clients.len();
    let per_client = PER_ITER / n as u64;
    // One round first, counted nowhere: every statement criterion runs
    // counts (its warm-up too), and a pool's first statements (connections
    // used for the first time, server-side caches, the placement's first
    // measurements) would weigh on whichever variant a row runs first.
    let clients = run(clients, per_client, false).clients;
    let mut slot = Some(clients);
    let mut statements = 0u64;
    let mut spent = Duration::ZERO;
    let (mut own_ticks, mut other_ticks, mut wall_ticks) = (0u64, 0u64, 0u64);
    group.bench_function(BenchmarkId::new(variant, n), |b| {
        b.iter_custom(|iters| {
            let clients = slot.take().expect("clients between rounds");
            let before = Ticks::now();
            let own_before = own_ticks_now();
            let round = run(clients, per_client * iters, false);
            own_ticks += own_ticks_now().saturating_sub(own_before);
            let after = Ticks::now();
            let (other, wall) = after.others_since(&before);
            other_ticks += other;
            wall_ticks += wall;
            statements += round.counted;
            spent += round.elapsed;
            slot = Some(round.clients);
            round.elapsed
        });
    });
    let clients = slot.take().expect("clients after criterion");
    let timed = if benching() { TIMED / n as u64 } else { 8 };
    let mut round = run(clients, timed, true);
    round.latencies.sort_unstable();
    let figures = Figures {
        bench: bench.to_owned(),
        variant: variant.to_owned(),
        concurrency: n,
        per_second: statements as f64 / spent.as_secs_f64().max(1e-9),
        p50: percentile(&round.latencies, 50.0),
        p99: percentile(&round.latencies, 99.0),
        cpu_per_statement: Duration::from_secs_f64(
            own_ticks as f64 / 100.0 / statements.max(1) as f64,
        ),
        others: other_ticks as f64 / wall_ticks.max(1) as f64,
    };
    eprintln!(
        "  {:<28} {:>8.0} statements/s  p50 {:>8.1?}  p99 {:>8.1?}  cpu {:>6.1?}/statement  others {:.2} cores",
        format!("{}/{}", figures.bench, figures.variant),
        figures.per_second,
        figures.p50,
        figures.p99,
        figures.cpu_per_statement,
        figures.others
    );
    (round.clients, Some(figures))
}

/// Whether `cargo bench` started us (it passes `--bench`). Test runners
/// start bench targets without it (`cargo test --all-targets`): criterion
/// then runs each row once, and the timed pass and pgbench are cut short.
pub fn benching() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// Formats a rate with thousands separators.
pub fn rate(per_second: f64) -> String {
    let n = per_second.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Microseconds with one decimal.
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// The Criterion every statement bench uses: short, since each figure is
/// also a ratio within the same run.
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args()
}

/// The bench's pool of `n` connections at `url`, named `bench`, with the
/// pool's pipeline depth unless `SB_BENCH_PIPELINE` sets another (`1`
/// measures Switchboard without pipelining).
pub fn bench_pool(url: &str, n: usize) -> switchboard::Builder {
    let builder = Switchboard::builder(url).name("bench").pool_size(n..=n);
    match std::env::var("SB_BENCH_PIPELINE").map(|d| d.parse::<usize>()) {
        Ok(Ok(depth)) => builder.pipeline(depth),
        _ => builder,
    }
}
