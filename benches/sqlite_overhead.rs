//! What Switchboard adds to a statement on in-memory SQLite, where the
//! database is fast enough for that to show.
//!
//! The statements and concurrency of `pg_roundtrip` (`SELECT 1`, a
//! one-row primary-key read; 1, 8 and 32 client tasks), each run by:
//!
//! - `raw`: one `SyncConnectionWrapper<SqliteConnection>` per task, on a
//!   named shared-cache in-memory database with the pragmas Switchboard
//!   sets (the kind of database `sqlite::memory:` opens);
//! - `switchboard`: a `sqlite::memory:` pool of as many connections, no
//!   subscribers;
//! - `switchboard_subs`: the same with a `TracingLogger` (into `io::sink`),
//!   a Batched `AuditLog` and a `RuleEngine` guard (20 rules).
//!
//! The summary reports the microseconds each statement gains over `raw`:
//! `1/throughput` differences (wall time per statement) and p50
//! differences (from a pass timing statements one by one).
//!
//! `cargo bench --bench sqlite_overhead` (add `-- --quick` for a short run).

mod support;

use criterion::Throughput;
use diesel::sql_types::Integer;
use diesel::{IntoSql, QueryDsl, SqliteConnection};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::join_all;
use support::{
    Client, Figures, PER_ITER, Stmt, Subscribers, measure, measure_with_subscribers, micros,
    on_system, rate, sb_bench_rows,
};
use switchboard::{DbConnection, Interact, Switchboard};

const CONCURRENCY: [usize; 3] = [1, 8, 32];

/// The table and its rows.
const SETUP: &str = "CREATE TABLE sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000)
    INSERT INTO sb_bench_rows (id, name) SELECT x, 'row ' || x FROM g;";

/// What Switchboard's SQLite backend runs on each new connection.
const PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// A raw connection, as diesel-async wraps SQLite.
struct Raw(SyncConnectionWrapper<SqliteConnection>);

impl Client for Raw {
    async fn exec(&mut self, stmt: Stmt, key: i32) {
        match stmt {
            Stmt::Select1 => {
                let q = diesel::select(1.into_sql::<Integer>());
                let one: Vec<i32> = RunQueryDsl::load(q, &mut self.0).await.expect("SELECT 1");
                assert_eq!(one, [1]);
            }
            Stmt::ReadPk => {
                let q = sb_bench_rows::table.find(key);
                let rows: Vec<(i32, String)> = RunQueryDsl::load(q, &mut self.0)
                    .await
                    .expect("a primary-key read");
                assert_eq!(rows.len(), 1);
            }
        }
    }
}

async fn raw_connection(target: &str) -> Raw {
    let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(target)
        .await
        .expect("a raw SQLite connection");
    conn.batch_execute(PRAGMAS).await.expect("pragmas");
    Raw(conn)
}

/// A pool of `n` on its own in-memory database, with the table filled.
async fn pool(
    n: usize,
    subscribers: Option<(switchboard::Bus, switchboard_rules::RuleEngine)>,
) -> Switchboard {
    let builder = Switchboard::builder("sqlite::memory:")
        .name("bench")
        .pool_size(n..=n);
    let builder = match subscribers {
        Some((bus, rules)) => builder.bus(bus).guard(rules),
        None => builder,
    };
    let sb = builder.start().await.expect("a switchboard pool");
    sb.run(Interact::new(async |conn: &mut DbConnection| {
        conn.batch_execute(SETUP).await
    }))
    .await
    .expect("the table");
    sb
}

fn main() {
    // Listed by cargo nextest or `cargo test --benches`: nothing to list.
    // A bench's measured run is never part of the test suite.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let system = actix::System::new();
    let mut c = support::criterion();
    let mut figures: Vec<Figures> = Vec::new();
    for stmt in Stmt::ALL {
        let mut group = c.benchmark_group(format!("sqlite_{}", stmt.name()));
        group.throughput(Throughput::Elements(PER_ITER));
        for n in CONCURRENCY {
            // Each raw round gets a database of its own; the first connection
            // creates the table, and the database lives while one is open.
            let target = format!(
                "file:sb-bench-raw-{}-{}-{n}?mode=memory&cache=shared",
                std::process::id(),
                stmt.name()
            );
            let conns = system.block_on(async {
                let mut first = raw_connection(&target).await;
                first.0.batch_execute(SETUP).await.expect("the table");
                let mut conns = join_all((1..n).map(|_| raw_connection(&target))).await;
                conns.insert(0, first);
                conns
            });
            let (conns, f) = measure(&mut group, "raw", stmt, conns, on_system(&system, stmt));
            figures.extend(f);
            drop(conns);

            let sb = system.block_on(pool(n, None));
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

            let (subscribers, bus, rules) = Subscribers::new("sqlite");
            let sb = system.block_on(pool(n, Some((bus, rules))));
            figures.extend(measure_with_subscribers(
                &mut group,
                &system,
                stmt,
                n,
                sb,
                subscribers,
            ));
        }
        group.finish();
    }
    c.final_summary();
    print_summary(&figures);
}

fn print_summary(figures: &[Figures]) {
    let get = |bench, variant| support::find(figures, bench, variant);
    println!();
    println!("## sqlite_overhead summary (statements/s; µs added per statement over raw)");
    println!();
    println!(
        "| statement | conc | raw/s | switchboard/s | +subs/s | added µs (1/tput) | +subs added µs | raw p50 | sb p50 | +subs p50 | added µs (p50) | +subs added µs (p50) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let benches = support::benches(figures);
    for bench in benches {
        let (Some(a), Some(c), Some(d)) = (
            get(bench, "raw"),
            get(bench, "switchboard"),
            get(bench, "switchboard_subs"),
        ) else {
            continue;
        };
        let wall = |f: &Figures| 1e6 / f.per_second;
        let (stmt, conc) = bench.split_once("/c").unwrap_or((bench, "?"));
        println!(
            "| {stmt} | {conc} | {} | {} | {} | {:.1} | {:.1} | {} | {} | {} | {:.1} | {:.1} |",
            rate(a.per_second),
            rate(c.per_second),
            rate(d.per_second),
            wall(c) - wall(a),
            wall(d) - wall(a),
            micros(a.p50),
            micros(c.p50),
            micros(d.p50),
            (c.p50.as_secs_f64() - a.p50.as_secs_f64()) * 1e6,
            (d.p50.as_secs_f64() - a.p50.as_secs_f64()) * 1e6,
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
            micros(f.p50),
            micros(f.p99),
            micros(f.cpu_per_statement),
            f.others
        );
    }
}
