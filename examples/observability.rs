//! Observability: a SQLite pool (no server) with the TracingLogger and the
//! Metrics subscriber, a Prometheus endpoint and a JSON status page, under
//! a mixed workload (reads, writes, a failing statement, a slow one, one a
//! guard denies, a transaction, and a lease held past the leak threshold).
//!
//! Run it with `cargo run --example observability`, then look at:
//!
//! - the log on stdout: one line per statement at INFO (`LOG=debug` adds
//!   each statement's SQL; `LOG=trace` checkouts too);
//! - `curl http://127.0.0.1:9000/metrics`: Prometheus text format
//!   (metrics-exporter-prometheus answers every path there, so the JSON
//!   status cannot share its port);
//! - `curl http://127.0.0.1:9001/status`: the pool and its connections.
//!
//! `METRICS_ADDR`, `STATUS_ADDR` and `RUN_FOR` (seconds, default 30)
//! change the addresses and how long the workload runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use diesel::sql_types::{Integer, Text};
use switchboard::guard::Subject;
use switchboard::{Bus, Check, DbConnection, Execute, Guard, Ruling, Switchboard, Transaction};
use switchboard_observe::{Exporter, Metrics, TracingLogger};
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
    // The exporter becomes the global `metrics` recorder.
    let exporter = Exporter::builder()
        .listen(env_or("METRICS_ADDR", "127.0.0.1:9000"))
        .install()?;
    let bus = Bus::new();
    // Both attach before the pool starts, so they see its first connects.
    let _log = TracingLogger::new()
        .slow_threshold(Duration::from_millis(20))
        .attach(&bus)?;
    let metrics = Metrics::new().attach(&bus)?;
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
    metrics.watch(&sb);
    let status_addr = serve_status(&env_or("STATUS_ADDR", "127.0.0.1:9001"), sb.clone())?;

    println!(
        "\nmetrics: curl http://{}/metrics\nstatus:  curl http://{status_addr}/status\n",
        exporter.local_addr()
    );

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
    for line in exporter.render().lines() {
        if line.starts_with("switchboard_statements_total") {
            println!("  {line}");
        }
    }
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

/// Serves `GET /status` (the pool's status as JSON) on a thread of its own:
/// a minimal HTTP/1.1 responder, one request per connection, enough for an
/// example. Returns the address it listens on.
fn serve_status(addr: &str, sb: Switchboard) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    // Asks the manager from outside its arbiter; lives as long as the thread.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    // Ends with the process.
    std::thread::Builder::new()
        .name("status-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &sb, &runtime);
            }
        })?;
    Ok(local)
}

fn answer(
    mut stream: TcpStream,
    sb: &Switchboard,
    runtime: &tokio::runtime::Runtime,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request_line = String::new();
    BufReader::new(&stream)
        .take(8192)
        .read_line(&mut request_line)?;
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = if path == "/status" {
        match runtime.block_on(sb.status()) {
            Ok(s) => (
                "200 OK",
                serde_json::to_string_pretty(&s).unwrap_or_default(),
            ),
            Err(e) => (
                "503 Service Unavailable",
                format!("{{\"error\": {:?}}}", e.to_string()),
            ),
        }
    } else {
        ("404 Not Found", "{\"error\": \"try /status\"}".to_owned())
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}
