//! Observability: a SQLite pool (no server) with the TracingLogger, and
//! the operations console serving Prometheus metrics and the pool's JSON
//! status on one port, under a mixed workload (reads, writes, a failing
//! statement, a slow one, one a guard denies, a transaction, and a lease
//! held past the leak threshold).
//!
//! Run it with `cargo run --example observability`, then look at:
//!
//! - the log on stdout: one line per statement at INFO (`LOG=debug` adds
//!   each statement's SQL; `LOG=trace` checkouts too);
//! - `curl http://127.0.0.1:9000/metrics`: Prometheus text format, recorded
//!   by switchboard-observe's `Metrics` inside the console;
//! - `curl http://127.0.0.1:9000/api/pools/shop`: the pool and its
//!   connections (`/api/pools/shop/activity` for denials and the slowest
//!   statements, `/api/events` for the live stream, `/` for the page).
//!
//! `CONSOLE_ADDR` and `RUN_FOR` (seconds, default 30) change the address
//! and how long the workload runs.

use std::time::{Duration, Instant};

use diesel::sql_types::{Integer, Text};
use switchboard::guard::Subject;
use switchboard::{Bus, Check, DbConnection, Execute, Guard, Ruling, Switchboard, Transaction};
use switchboard_console::Console;
use switchboard_observe::TracingLogger;
use tracing_subscriber::filter::LevelFilter;

/// Denies `DROP`: the workload tries one, to show a denial.
struct NoDrops;

impl Guard for NoDrops {
    fn name(&self) -> &str {
        "no-drops"
    }
    fn check(&self, check: &Check) -> Ruling {
        match &check.subject {
            Subject::Statement(s) if s.sql.trim_start().starts_with("DROP") => {
                Ruling::deny("DROP is not allowed here")
            }
            _ => Ruling::allow(),
        }
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let level = std::env::var("LOG")
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::fmt().with_max_level(level).init();
    actix::System::new().block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let bus = Bus::new();
    // Attached before the pool starts, so it sees its first connects.
    let _log = TracingLogger::new()
        .slow_threshold(Duration::from_millis(20))
        .attach(&bus)?;
    // One connection: every `sqlite::memory:` connection is a database of
    // its own, and the workload needs its table.
    let sb = Switchboard::builder("sqlite::memory:")
        .name("shop")
        .pool_size(1..=1)
        .leak_detection(Duration::from_millis(300))
        .guard(NoDrops)
        .bus(bus)
        .start()
        .await?;
    // The console records the metrics itself (switchboard-observe's
    // Metrics, into a recorder of its own) and serves them beside the API.
    let console = Console::builder()
        .listen(env_or("CONSOLE_ADDR", "127.0.0.1:9000"))
        .watch(&sb)
        .start()?;
    let url = console.url();
    println!("\nmetrics: curl {url}metrics\nstatus:  curl {url}api/pools/shop\npage:    {url}\n");

    sb.run(Execute::sql(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total INTEGER NOT NULL)",
    ))
    .await?;

    let run_for = Duration::from_secs(env_or("RUN_FOR", "30").parse().unwrap_or(30));
    let started = Instant::now();
    let mut round = 0;
    while started.elapsed() < run_for {
        round += 1;
        workload(&sb, round).await;
        actix_rt::time::sleep(Duration::from_millis(500)).await;
    }

    println!("\nthe last scrape, Switchboard's statement counters:");
    for line in console.render_metrics().unwrap_or_default().lines() {
        if line.starts_with("switchboard_statements_total") {
            println!("  {line}");
        }
    }
    console.stop().await;
    sb.shutdown().await?;
    Ok(())
}

/// One round of mixed work; failures are part of it (they show in the log
/// and the metrics), so results are not checked.
async fn workload(sb: &Switchboard, round: i32) {
    let customer = format!("customer-{}", round % 7);
    let _ = sb
        .run(
            Execute::sql("INSERT INTO orders (customer, total) VALUES (?, ?)")
                .bind::<Text, _>(customer)
                .bind::<Integer, _>(round * 10)
                .label("request_id", format!("req-{round}")),
        )
        .await;
    let _ = sb
        .run(
            Execute::sql("UPDATE orders SET total = total + 1 WHERE id = ?")
                .bind::<Integer, _>(round),
        )
        .await;
    let _ = sb
        .run(Execute::sql("SELECT * FROM orders WHERE total > 50"))
        .await;
    let _ = sb
        .run(Transaction::new(async |conn: &mut DbConnection| {
            conn.execute(Execute::sql(
                "UPDATE orders SET total = total - 1 WHERE id = 1",
            ))
            .await
        }))
        .await;
    match round % 5 {
        // A statement that fails in the database.
        1 => {
            let _ = sb.run(Execute::sql("SELECT * FROM no_such_table")).await;
        }
        // A slow one: past the logger's 20 ms threshold, logged at WARN.
        2 => {
            let _ = sb
                .run(Execute::sql(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) \
                     SELECT count(*) FROM c",
                ))
                .await;
        }
        // One the guard denies: it never reaches the database.
        3 => {
            let _ = sb.run(Execute::sql("DROP TABLE orders")).await;
        }
        // A lease held past the leak threshold (300 ms).
        4 => {
            if let Ok(lease) = sb.checkout().await {
                actix_rt::time::sleep(Duration::from_millis(400)).await;
                drop(lease);
            }
        }
        _ => {}
    }
}
