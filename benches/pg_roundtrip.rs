//! Statement round trips on PostgreSQL, Switchboard against its peers, in
//! one run.
//!
//! Two statements (`SELECT 1`, a one-row primary-key read), at concurrency
//! 1, 8 and 32 (one client task per unit of concurrency), each run by:
//!
//! - `raw`: one `AsyncPgConnection` per task;
//! - `deadpool`: deadpool + diesel-async, `RecyclingMethod::Fast`, as many
//!   connections as tasks, on the same single-thread runtime as the rest;
//! - `deadpool_mt`: the same pool on a 2-worker multi-thread tokio runtime;
//!   the peer figure (b) is the better of the two;
//! - `switchboard`: a pool of as many connections, no subscribers;
//! - `switchboard_subs`: the same with a `TracingLogger` (formatting into
//!   `io::sink`), a Batched `AuditLog` (temp dir) and a `RuleEngine` guard
//!   (20 rules);
//! - `pgbench -M prepared` with the same statement and clients, when found.
//!
//! Criterion reports statements/s per row; percentiles come from a second
//! pass that times statements one by one. The summary at the end prints
//! the table with the ratios c/b and d/b.
//!
//! `cargo bench --bench pg_roundtrip` (add `-- --quick` for a short run).
//! `SWITCHBOARD_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without a server the bench says so and stops, or fails under
//! `SWITCHBOARD_REQUIRE_SERVICES=1`.

mod support;

use std::path::PathBuf;
use std::process::Command;

use criterion::Throughput;
use diesel::sql_types::Integer;
use diesel::{IntoSql, QueryDsl};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::join_all;
use support::subscribers::TempDir;
use support::{
    Client, Figures, PER_ITER, Round, Stmt, Subscribers, drive, measure, measure_with_subscribers,
    on_system, rate, sb_bench_rows, selected,
};

const CONCURRENCY: [usize; 3] = [1, 8, 32];
const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

impl Client for AsyncPgConnection {
    async fn exec(&mut self, stmt: Stmt, key: i32) {
        match stmt {
            Stmt::Select1 => {
                let q = diesel::select(1.into_sql::<Integer>());
                let one: Vec<i32> = RunQueryDsl::load(q, self).await.expect("SELECT 1");
                assert_eq!(one, [1]);
            }
            Stmt::ReadPk => {
                let q = sb_bench_rows::table.find(key);
                let rows: Vec<(i32, String)> = RunQueryDsl::load(q, self)
                    .await
                    .expect("a primary-key read");
                assert_eq!(rows.len(), 1);
            }
        }
    }
}

/// A deadpool client: a checkout per statement, as a web handler does.
#[derive(Clone)]
struct Deadpool(Pool<AsyncPgConnection>);

impl Client for Deadpool {
    async fn exec(&mut self, stmt: Stmt, key: i32) {
        let mut conn = self.0.get().await.expect("a pooled connection");
        Client::exec(&mut *conn, stmt, key).await;
    }
}

fn deadpool(url: &str, size: usize) -> Deadpool {
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    let pool = Pool::builder(manager)
        .max_size(size)
        .build()
        .expect("a deadpool pool");
    Deadpool(pool)
}

/// Opens every connection of the pool before measuring.
async fn warm(pool: &Deadpool, size: usize) {
    let conns: Result<Vec<_>, _> = join_all((0..size).map(|_| pool.0.get()))
        .await
        .into_iter()
        .collect();
    drop(conns.expect("pooled connections"));
}

/// A round on the multi-thread runtime: each client a `tokio::spawn`ed task.
fn round_mt(
    rt: &tokio::runtime::Runtime,
    clients: Vec<Deadpool>,
    stmt: Stmt,
    per_client: u64,
    timed: bool,
) -> Round<Deadpool> {
    rt.block_on(async {
        let started = std::time::Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| tokio::spawn(drive(c, i, stmt, per_client, timed)))
            .collect();
        let mut round = Round {
            clients: Vec::new(),
            elapsed: Default::default(),
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
    })
}

/// The table of keys, created once (kept between runs; same rows every time).
async fn prepare(url: &str) -> Result<(), String> {
    let mut conn = AsyncPgConnection::establish(url)
        .await
        .map_err(|e| e.to_string())?;
    conn.batch_execute(
        "CREATE TABLE IF NOT EXISTS sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO sb_bench_rows (id, name)
           SELECT g, 'row ' || g FROM generate_series(1, 1000) g
           ON CONFLICT (id) DO NOTHING;",
    )
    .await
    .map_err(|e| e.to_string())
}

fn pgbench_binary() -> Option<PathBuf> {
    let on_path = Command::new("pgbench").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Some("pgbench".into());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pgbench"))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

/// `pgbench -n -M prepared` running the statement from `clients`
/// connections for `secs`; its tps (without connection time).
fn pgbench(bin: &PathBuf, url: &str, stmt: Stmt, clients: usize, secs: u32) -> Option<f64> {
    let dir = TempDir::new("pgbench");
    let script = dir.0.join("script.sql");
    let text = match stmt {
        Stmt::Select1 => "SELECT 1;\n",
        Stmt::ReadPk => {
            "\\set id random(1, 1000)\nSELECT id, name FROM sb_bench_rows WHERE id = :id;\n"
        }
    };
    std::fs::write(&script, text).expect("a pgbench script");
    let output = Command::new(bin)
        .args(["-n", "-M", "prepared", "-f"])
        .arg(&script)
        .args(["-c", &clients.to_string()])
        .args(["-j", &clients.min(2).to_string()])
        .args(["-T", &secs.to_string()])
        .arg(url)
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprintln!(
            "  pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn main() {
    // Listed by cargo nextest or `cargo test --benches`: nothing to list.
    // A bench's measured run is never part of the test suite.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let url = std::env::var("SWITCHBOARD_PG_URL").unwrap_or_else(|_| PG_DEFAULT.to_owned());
    let shown = switchboard_core::DatabaseUrl::parse(&url)
        .map(|u| u.redacted().to_owned())
        .unwrap_or_else(|_| "(unparsable URL)".into());
    let system = actix::System::new();
    if let Err(e) = system.block_on(prepare(&url)) {
        let message = format!("pg_roundtrip: PostgreSQL not reachable at {shown}: {e}");
        if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("{message}");
        }
        eprintln!("SKIPPED {message}");
        return;
    }
    let pgbench_bin = pgbench_binary();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime");
    let mut c = support::criterion();
    let mut figures: Vec<Figures> = Vec::new();
    let mut pgbench_tps: Vec<(String, f64)> = Vec::new();
    for stmt in Stmt::ALL {
        let mut group = c.benchmark_group(format!("pg_{}", stmt.name()));
        group.throughput(Throughput::Elements(PER_ITER));
        for n in CONCURRENCY {
            let conns =
                system.block_on(join_all((0..n).map(|_| AsyncPgConnection::establish(&url))));
            let conns: Vec<_> = conns
                .into_iter()
                .map(|c| c.expect("a raw connection"))
                .collect();
            let (conns, f) = measure(&mut group, "raw", stmt, conns, on_system(&system, stmt));
            figures.extend(f);
            drop(conns);

            let pool = deadpool(&url, n);
            system.block_on(warm(&pool, n));
            let (clients, f) = measure(
                &mut group,
                "deadpool",
                stmt,
                vec![pool; n],
                on_system(&system, stmt),
            );
            figures.extend(f);
            drop(clients);

            let pool = deadpool(&url, n);
            mt.block_on(warm(&pool, n));
            let (clients, f) = measure(
                &mut group,
                "deadpool_mt",
                stmt,
                vec![pool; n],
                |cs, per, timed| round_mt(&mt, cs, stmt, per, timed),
            );
            figures.extend(f);
            drop(clients);

            let sb = system.block_on(async {
                support::bench_pool(&url, n)
                    .start()
                    .await
                    .expect("a switchboard pool")
            });
            let (clients, f) = measure(
                &mut group,
                "switchboard",
                stmt,
                vec![sb.clone(); n],
                on_system(&system, stmt),
            );
            figures.extend(f);
            drop(clients);
            system.block_on(sb.shutdown()).expect("shut down");

            let (subscribers, bus, rules) = Subscribers::new("pg");
            let sb = system.block_on(async {
                support::bench_pool(&url, n)
                    .bus(bus)
                    .guard(rules)
                    .start()
                    .await
                    .expect("a switchboard pool with subscribers")
            });
            figures.extend(measure_with_subscribers(
                &mut group,
                &system,
                stmt,
                n,
                sb,
                subscribers,
            ));

            if let Some(bin) = pgbench_bin
                .as_ref()
                .filter(|_| support::benching() && selected(stmt, "pgbench", n))
                && let Some(tps) = pgbench(bin, &url, stmt, n, 5)
            {
                eprintln!("  {}/c{n}/pgbench {:>10.0} tps", stmt.name(), tps);
                pgbench_tps.push((format!("{}/c{n}", stmt.name()), tps));
            }
        }
        group.finish();
    }
    c.final_summary();
    print_summary(&figures, &pgbench_tps, pgbench_bin.is_some());
}

fn print_summary(figures: &[Figures], pgbench: &[(String, f64)], have_pgbench: bool) {
    println!();
    println!(
        "## pg_roundtrip summary (statements/s, mean of the criterion rounds; p50/p99 from the timed pass)"
    );
    println!();
    println!(
        "| statement | conc | raw (a) | deadpool | deadpool_mt | peer (b) | switchboard (c) | +subs (d) | pgbench | c/b | d/b | c/pgbench |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let benches = support::benches(figures);
    for bench in &benches {
        let get = |v| support::find(figures, bench, v).map_or(0.0, |f| f.per_second);
        let (a, b1, b2, c, d) = (
            get("raw"),
            get("deadpool"),
            get("deadpool_mt"),
            get("switchboard"),
            get("switchboard_subs"),
        );
        let b = b1.max(b2);
        let pgb = pgbench.iter().find(|(k, _)| k == bench).map(|(_, t)| *t);
        let (stmt, conc) = bench.split_once("/c").unwrap_or((bench, "?"));
        println!(
            "| {stmt} | {conc} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} |",
            rate(a),
            rate(b1),
            rate(b2),
            rate(b),
            rate(c),
            rate(d),
            pgb.map_or("-".into(), rate),
            c / b,
            d / b,
            pgb.map_or("-".into(), |p| format!("{:.2}", c / p)),
        );
    }
    println!();
    println!(
        "| statement | conc | variant | p50 µs | p99 µs | client CPU µs/statement | other processes (cores) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for f in figures {
        let (stmt, conc) = f.bench.split_once("/c").unwrap_or((&f.bench, "?"));
        println!(
            "| {stmt} | {conc} | {} | {} | {} | {} | {:.2} |",
            f.variant,
            support::micros(f.p50),
            support::micros(f.p99),
            support::micros(f.cpu_per_statement),
            f.others
        );
    }
    if !have_pgbench {
        println!("\n(pgbench not found: no pgbench column)");
    }
}
