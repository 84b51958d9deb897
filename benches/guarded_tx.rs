//! What guarding a closure's statements costs: a `Transaction` with two
//! statements (two one-row primary-key reads through `conn.load`), on
//! in-memory SQLite and on PostgreSQL, with 1 and 8 client tasks, each run
//! by:
//!
//! - `tx_no_guards`: a pool without guards;
//! - `tx_guarded`: the same pool with the benches' `RuleEngine` (20 rules,
//!   `support::subscribers::RULES`) as its guard, asked about both
//!   statements of every transaction.
//!
//! The file builds against the main branch too, where closure statements
//! were reported but never guarded: its `tx_guarded` row is "today's
//! unguarded transaction" with the same guard registered. Figures are
//! transactions per second (each: BEGIN, two reads, COMMIT); the summary
//! gives the guarded row's cost over the unguarded one.
//!
//! `cargo bench --bench guarded_tx` (add `-- --quick` for a short run).
//!
//! On a shared machine wall-clock figures swing with the other processes.
//! `SB_BENCH_FIXED=<sqlite|pg>/<variant>/<count>` runs `count` transactions
//! with one client and exits, for counting instructions under valgrind
//! (`valgrind --tool=callgrind`), which the neighbours do not move: the
//! difference between two counts over the difference in transactions is
//! the instructions of one transaction, setup left out.
//! `SWITCHBOARD_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`);
//! without a server the PostgreSQL rows are skipped, loudly, or fail under
//! `SWITCHBOARD_REQUIRE_SERVICES=1`.

mod support;

use criterion::Throughput;
use diesel::QueryDsl;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use support::{Client, Figures, PER_ITER, ROWS, Stmt, measure, micros, on_system, sb_bench_rows};
use switchboard::{DbConnection, Interact, Switchboard, Transaction};
use switchboard_rules::RuleEngine;

const CONCURRENCY: [usize; 2] = [1, 8];
const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The table and its rows, on SQLite.
const SQLITE_SETUP: &str =
    "CREATE TABLE sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000)
    INSERT INTO sb_bench_rows (id, name) SELECT x, 'row ' || x FROM g;";

/// A client running one transaction of two reads per "statement".
#[derive(Clone)]
struct Tx(Switchboard);

impl Client for Tx {
    async fn exec(&mut self, _: Stmt, key: i32) {
        let other = key % ROWS as i32 + 1;
        let rows = self
            .0
            .run(Transaction::new(async move |conn: &mut DbConnection| {
                let a: Vec<(i32, String)> = conn.load(sb_bench_rows::table.find(key)).await?;
                let b: Vec<(i32, String)> = conn.load(sb_bench_rows::table.find(other)).await?;
                Ok(a.len() + b.len())
            }))
            .await
            .expect("a transaction of two reads");
        assert_eq!(rows, 2);
    }
}

async fn pool(url: &str, n: usize, guarded: bool) -> Switchboard {
    let builder = Switchboard::builder(url).name("bench").pool_size(n..=n);
    let builder = match guarded {
        true => builder
            .guard(RuleEngine::from_toml(support::subscribers::RULES).expect("the bench rules")),
        false => builder,
    };
    let sb = builder.start().await.expect("a switchboard pool");
    if url.starts_with("sqlite") {
        sb.run(Interact::new(async |conn: &mut DbConnection| {
            conn.batch_execute(SQLITE_SETUP).await
        }))
        .await
        .expect("the table");
    }
    sb
}

/// The PostgreSQL table of keys, created once (as `pg_roundtrip` does).
async fn prepare_pg(url: &str) -> Result<(), String> {
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

/// `SB_BENCH_FIXED`'s run: `count` transactions, one client, no criterion.
fn fixed(spec: &str, pg_url: &str) {
    let mut parts = spec.split('/');
    let (Some(backend), Some(variant), Some(count)) = (parts.next(), parts.next(), parts.next())
    else {
        panic!("SB_BENCH_FIXED={spec}: expected <sqlite|pg>/<variant>/<count>");
    };
    let count: u64 = count.parse().expect("a transaction count");
    let url = match backend {
        "pg" => pg_url.to_owned(),
        _ => "sqlite::memory:".to_owned(),
    };
    let system = actix::System::new();
    system.block_on(async {
        if backend == "pg" {
            prepare_pg(&url).await.expect("the PostgreSQL table");
        }
        let sb = pool(&url, 1, variant == "tx_guarded").await;
        let mut client = Tx(sb.clone());
        for k in 0..count {
            client.exec(Stmt::ReadPk, support::key(0, k)).await;
        }
        sb.shutdown().await.expect("shut down");
    });
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(spec) = std::env::var("SB_BENCH_FIXED") {
        let pg_url = std::env::var("SWITCHBOARD_PG_URL").unwrap_or_else(|_| PG_DEFAULT.to_owned());
        return fixed(&spec, &pg_url);
    }
    let system = actix::System::new();
    let mut c = support::criterion();
    let mut figures: Vec<Figures> = Vec::new();
    let pg_url = std::env::var("SWITCHBOARD_PG_URL").unwrap_or_else(|_| PG_DEFAULT.to_owned());
    let pg = match system.block_on(prepare_pg(&pg_url)) {
        Ok(()) => Some(pg_url),
        Err(e) if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("PostgreSQL at {pg_url}: {e}")
        }
        Err(e) => {
            eprintln!("\n!!! SKIPPED the PostgreSQL rows: {pg_url}: {e}\n");
            None
        }
    };
    let backends = [("sqlite", Some("sqlite::memory:".to_owned())), ("pg", pg)];
    for (name, url) in backends {
        let Some(url) = url else { continue };
        let mut group = c.benchmark_group(format!("guarded_tx_{name}"));
        group.throughput(Throughput::Elements(PER_ITER));
        for n in CONCURRENCY {
            for (variant, guarded) in [("tx_no_guards", false), ("tx_guarded", true)] {
                let sb = system.block_on(pool(&url, n, guarded));
                let (clients, f) = measure(
                    &mut group,
                    variant,
                    Stmt::ReadPk,
                    vec![Tx(sb.clone()); n],
                    on_system(&system, Stmt::ReadPk),
                );
                figures.extend(f.map(|mut f| {
                    f.bench = format!("{name}/c{n}");
                    f
                }));
                drop(clients);
                system.block_on(sb.shutdown()).expect("shut down");
            }
        }
        group.finish();
    }
    c.final_summary();
    print_summary(&figures);
}

fn print_summary(figures: &[Figures]) {
    let get = |bench, variant| support::find(figures, bench, variant);
    println!();
    println!("## guarded_tx summary (transactions of two reads per second)");
    println!();
    println!(
        "| backend | conc | no guards/s | guarded/s | guarded cost (1/tput) | no guards p50 µs | guarded p50 µs |"
    );
    println!("|---|---|---|---|---|---|---|");
    let benches = support::benches(figures);
    for bench in benches {
        let (Some(a), Some(g)) = (get(bench, "tx_no_guards"), get(bench, "tx_guarded")) else {
            continue;
        };
        let (backend, conc) = bench.split_once("/c").unwrap_or((bench, "?"));
        println!(
            "| {backend} | {conc} | {:.0} | {:.0} | {:+.1}% | {} | {} |",
            a.per_second,
            g.per_second,
            (a.per_second / g.per_second - 1.0) * 100.0,
            micros(a.p50),
            micros(g.p50),
        );
    }
}
